//! Helpers for putting untrusted text into one-line error messages.

use std::fmt;

/// How many characters of an input an error message repeats.
const EXCERPT_CHARS: usize = 80;

/// Returns `s` cut to [`EXCERPT_CHARS`] characters, with `…` when cut.
///
/// Errors store this excerpt rather than the whole input, so a pasted
/// megabyte does not travel inside an error value.
pub(crate) fn excerpt(s: &str) -> String {
    match s.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

/// True for characters that must never be echoed raw into a message or log:
/// C0/C1 controls, and the invisible format characters (zero-width spaces
/// and joiners, bidirectional overrides, the BOM, soft hyphen) that can hide
/// or reorder text.
pub(crate) fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// Displays a string between single quotes, hidden characters escaped as
/// `\u{…}`, so an error message always stays on one visible line.
pub(crate) struct Quoted<'a>(pub(crate) &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("'")?;
        for c in self.0.chars() {
            if is_hidden(c) {
                write!(f, "{}", c.escape_unicode())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        f.write_str("'")
    }
}

/// Displays one character between single quotes, escaped like [`Quoted`].
pub(crate) struct QuotedChar(pub(crate) char);

impl fmt::Display for QuotedChar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 4];
        Quoted(self.0.encode_utf8(&mut buf)).fmt(f)
    }
}

/// Test strategy: any Unicode text, controls and line breaks included
/// (proptest's `any::<String>()` leaves control characters out).
#[cfg(test)]
pub(crate) fn any_text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    proptest::collection::vec(any::<char>(), 0..48).prop_map(String::from_iter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_cuts_long_text_on_a_char_boundary() {
        let long = "０".repeat(200);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(excerpt("1330"), "1330");
    }

    #[test]
    fn quoted_escapes_controls_and_invisible_characters() {
        assert_eq!(Quoted("a\nb").to_string(), "'a\\u{a}b'");
        assert_eq!(Quoted("1\u{202E}2").to_string(), "'1\\u{202e}2'");
        assert_eq!(QuotedChar('\u{200B}').to_string(), "'\\u{200b}'");
        assert_eq!(QuotedChar('x').to_string(), "'x'");
    }
}
