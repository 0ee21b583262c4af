//! The number field (UI-3, UI-4): typed, pasted or keyed in from the dial
//! pad, normalised by [`bb_verbs::normalize_number`] — the one
//! normalisation every entry point uses — as soon as it changes.
//!
//! A paste such as `03-1234-5678` becomes `0312345678` at once. Text that
//! cannot become a number (`03x1`) is kept as typed and the refusal is shown
//! beside the field, in the UI language. Text with nothing dialable yet
//! (`+`, `(`) is kept without a message, so a number can be typed from its
//! start.

use bb_verbs::{DialNumber, MAX_NUMBER_LEN, NumberError, normalize_number};

use super::i18n::Tr;

/// The keys of the dial pad, row by row.
pub const PAD_KEYS: [[char; 3]; 4] = [
    ['1', '2', '3'],
    ['4', '5', '6'],
    ['7', '8', '9'],
    ['*', '0', '#'],
];

/// True for a character the keyboard may dial with the field unfocused
/// (UI-3): ASCII and full-width digits, `*`, `#` and `+`.
pub fn is_dial_char(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '*' | '#' | '+' | '０'..='９' | '＊' | '＃' | '＋')
}

/// The number field's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NumberField {
    text: String,
    error: Option<NumberError>,
}

impl NumberField {
    /// An empty field.
    pub fn new() -> NumberField {
        NumberField::default()
    }

    /// The text shown.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text, for the text editor; call [`NumberField::after_edit`] when
    /// it changed.
    pub fn text_mut(&mut self) -> &mut String {
        &mut self.text
    }

    /// Normalises the text after an edit or a paste (UI-4).
    pub fn after_edit(&mut self) {
        match normalize_number(&self.text) {
            Ok(n) => {
                if n.as_str() != self.text {
                    self.text = n.as_str().to_owned();
                }
                self.error = None;
            }
            Err(NumberError::Empty { .. }) => self.error = None,
            Err(e) => self.error = Some(e),
        }
    }

    /// Replaces the text, e.g. a number from the history.
    pub fn set_text(&mut self, text: &str) {
        self.text = text.to_owned();
        self.after_edit();
    }

    /// Appends a key from the dial pad or the keyboard (UI-2, UI-3).
    pub fn push(&mut self, c: char) {
        self.text.push(c);
        self.after_edit();
    }

    /// Removes the last character.
    pub fn backspace(&mut self) {
        self.text.pop();
        self.after_edit();
    }

    /// Empties the field.
    pub fn clear(&mut self) {
        self.text.clear();
        self.error = None;
    }

    /// The number, when the field holds one.
    pub fn number(&self) -> Option<DialNumber> {
        normalize_number(&self.text).ok()
    }

    /// The number, or the refusal (also kept for display), for an action
    /// that needs one.
    pub fn require(&mut self) -> Option<DialNumber> {
        match normalize_number(&self.text) {
            Ok(n) => Some(n),
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }

    /// Why the text is refused, if it is.
    pub fn error(&self) -> Option<&NumberError> {
        self.error.as_ref()
    }
}

/// The refusal in the UI language.
pub fn error_message(tr: &Tr, e: &NumberError) -> String {
    match e {
        NumberError::Refused { ch, position, .. } => tr.t_args(
            "number-refused",
            &[
                ("ch", visible(*ch)),
                ("position", (position + 1).to_string()),
            ],
        ),
        NumberError::MisplacedPlus { ch, position, .. } => tr.t_args(
            "number-misplaced-plus",
            &[
                ("ch", visible(*ch)),
                ("position", (position + 1).to_string()),
            ],
        ),
        NumberError::TooLong { .. } => tr.t1("number-too-long", "max", MAX_NUMBER_LEN),
        NumberError::Empty { .. } => tr.t("number-empty"),
    }
}

/// A character as shown in a message: controls and invisible characters
/// as `U+XXXX`.
fn visible(c: char) -> String {
    if c.is_control() || c.is_whitespace() || ('\u{200B}'..='\u{200F}').contains(&c) {
        format!("U+{:04X}", u32::from(c))
    } else {
        c.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::i18n::Lang;

    #[test]
    fn paste_is_normalised_at_once() {
        let mut f = NumberField::new();
        f.set_text("03-1234-5678");
        assert_eq!(f.text(), "0312345678");
        assert!(f.error().is_none());
        f.set_text("０３（１２３４）５６７８");
        assert_eq!(f.text(), "0312345678");
    }

    #[test]
    fn refused_text_is_kept_with_a_message() {
        let mut f = NumberField::new();
        f.set_text("03x1");
        assert_eq!(f.text(), "03x1");
        assert!(f.number().is_none());
        let tr = Tr::new(Lang::En);
        let msg = error_message(&tr, f.error().expect("refused"));
        assert!(
            msg.starts_with("'x' at position 3 cannot be dialled"),
            "{msg}"
        );
        let tr = Tr::new(Lang::Ja);
        let msg = error_message(&tr, f.error().expect("refused"));
        assert!(msg.starts_with("「x」(3文字目)は使えません"), "{msg}");
    }

    #[test]
    fn partial_input_has_no_message_until_required() {
        let mut f = NumberField::new();
        f.push('+');
        assert_eq!(f.text(), "+");
        assert!(f.error().is_none());
        assert!(f.require().is_none());
        assert!(matches!(f.error(), Some(NumberError::Empty { .. })));
        f.push('8');
        f.push('1');
        assert_eq!(f.number().map(String::from), Some("+81".to_string()));
        f.backspace();
        assert_eq!(f.text(), "+8");
    }

    #[test]
    fn dial_chars() {
        for c in "0123456789*#+０＊＃＋".chars() {
            assert!(is_dial_char(c), "{c}");
        }
        for c in "a-x ".chars() {
            assert!(!is_dial_char(c), "{c}");
        }
    }
}
