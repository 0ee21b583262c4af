//! Normalisation of dialled numbers (UI-4), shared by paste, URIs, the
//! command line and the control socket.
//!
//! There is exactly one function, [`normalize_number`], and one result type,
//! [`DialNumber`]; every entry point goes through it, so `03-1234-5678` pasted
//! into the window, `callto:03%201234%205678` clicked in a browser and
//! `bbclient call "03 (1234) 5678"` all dial the same `0312345678`.
//!
//! # Rules
//!
//! 1. Surrounding whitespace (including tabs and line breaks that come along
//!    with a paste) is trimmed.
//! 2. These separators are removed wherever they are:
//!    * hyphen `-` and the dash forms `－ ‐ ‑ ‒ – — ― − ー ｰ`
//!      (U+FF0D, U+2010…U+2015, U+2212, U+30FC, U+FF70);
//!    * spaces: ASCII space, NBSP (U+00A0), the typographic spaces
//!      U+2000…U+200A, U+202F, U+205F and the ideographic space U+3000;
//!    * dots `.` and `．` (U+FF0E);
//!    * brackets `( ) [ ]` and `（ ）［ ］`.
//! 3. Full-width digits `０`…`９` become `0`…`9`; `＊ ＃ ＋` become `* # +`.
//! 4. `0-9`, `*` and `#` are kept. `+` is kept only as the first kept symbol
//!    (an international number); anywhere else it is refused.
//! 5. Anything else is refused, naming the first offending character and
//!    its position (counted in characters from 0 in the input as given).
//! 6. At least one of `0-9*#` must remain, and at most [`MAX_NUMBER_LEN`].
//!
//! The output therefore always matches `^\+?[0-9*#]{1,32}$`, and
//! normalising an output again returns it unchanged.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::text::{Quoted, QuotedChar, excerpt};

/// The most symbols (`0-9*#`, not counting a leading `+`) a number may have.
///
/// E.164 numbers have at most 15 digits; 32 leaves room for a caller-ID
/// prefix (ACD-4), an outside-line prefix and feature codes, while still
/// catching the usual paste accident (two numbers, or a whole table row).
pub const MAX_NUMBER_LEN: usize = 32;

/// A dialable number: `^\+?[0-9*#]{1,32}$`, produced only by
/// [`normalize_number`].
///
/// It serialises as a plain JSON string; deserialising runs
/// [`normalize_number`], so a control client may send `"03-1234-5678"`.
///
/// Numbers are personal data: log them through the softphone's PII wrapper,
/// not with `{:?}`/`{}` directly.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DialNumber(String);

impl DialNumber {
    /// The normalised number, e.g. `0312345678` or `+81312345678`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when the number starts with `+`.
    pub fn is_international(&self) -> bool {
        self.0.starts_with('+')
    }
}

impl fmt::Display for DialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for DialNumber {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<DialNumber> for String {
    fn from(n: DialNumber) -> String {
        n.0
    }
}

impl FromStr for DialNumber {
    type Err = NumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        normalize_number(s)
    }
}

impl TryFrom<String> for DialNumber {
    type Error = NumberError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        normalize_number(&s)
    }
}

impl TryFrom<&str> for DialNumber {
    type Error = NumberError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        normalize_number(s)
    }
}

/// Why [`normalize_number`] refused its input.
///
/// `input` fields hold the input as given, cut to 80 characters.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    /// A character that is neither kept nor removed.
    #[error(
        "number refused: {} at position {position} in {} is not a digit \
         (allowed: digits, a leading +, * and #; hyphens, spaces, dots and brackets are removed)",
        QuotedChar(*ch), Quoted(input)
    )]
    Refused {
        /// The offending character.
        ch: char,
        /// Its position in the input, in characters, counted from 0.
        position: usize,
        /// The input.
        input: String,
    },
    /// A `+` (or `＋`) after the first digit.
    #[error(
        "number refused: {} at position {position} in {} is only allowed at the start \
         (write an international number as +81312345678)",
        QuotedChar(*ch), Quoted(input)
    )]
    MisplacedPlus {
        /// The plus as written (`+` or `＋`).
        ch: char,
        /// Its position in the input, in characters, counted from 0.
        position: usize,
        /// The input.
        input: String,
    },
    /// Nothing dialable was left after removing separators.
    #[error(
        "number refused: {} has no digits (enter a number such as 0312345678)",
        Quoted(input)
    )]
    Empty {
        /// The input.
        input: String,
    },
    /// More than [`MAX_NUMBER_LEN`] digits.
    #[error(
        "number refused: {} has more than {MAX_NUMBER_LEN} digits \
         (check that only one number was pasted)",
        Quoted(input)
    )]
    TooLong {
        /// The input.
        input: String,
    },
}

/// What one input character does.
enum Class {
    /// Kept, as this ASCII character.
    Keep(char),
    /// A plus sign, kept only at the start.
    Plus,
    /// Removed.
    Separator,
    /// Refused.
    Refused,
}

fn classify(c: char) -> Class {
    match c {
        '0'..='9' | '*' | '#' => Class::Keep(c),
        // Full-width digits: the offset is below 10, so the cast is exact.
        '０'..='９' => Class::Keep(char::from(b'0' + (u32::from(c) - u32::from('０')) as u8)),
        '＊' => Class::Keep('*'),
        '＃' => Class::Keep('#'),
        '+' | '＋' => Class::Plus,
        // Hyphen and dash forms.
        '-' | '\u{FF0D}' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{30FC}' | '\u{FF70}' => {
            Class::Separator
        }
        // Spaces.
        ' ' | '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => {
            Class::Separator
        }
        // Dots and brackets.
        '.' | '．' | '(' | ')' | '[' | ']' | '（' | '）' | '［' | '］' => Class::Separator,
        _ => Class::Refused,
    }
}

/// Normalises a dialled number; see the [module documentation](self) for
/// the rules.
///
/// ```
/// use bb_verbs::normalize_number;
/// assert_eq!(normalize_number("03-1234-5678").unwrap().as_str(), "0312345678");
/// assert_eq!(normalize_number("＋８１ (3) 1234.5678").unwrap().as_str(), "+81312345678");
/// assert_eq!(
///     normalize_number("0312x45").unwrap_err().to_string(),
///     "number refused: 'x' at position 4 in '0312x45' is not a digit \
///      (allowed: digits, a leading +, * and #; hyphens, spaces, dots and brackets are removed)"
/// );
/// ```
pub fn normalize_number(input: &str) -> Result<DialNumber, NumberError> {
    let body = input.trim();
    let leading = input.len() - input.trim_start().len();
    let offset = input[..leading].chars().count();
    let mut out = String::with_capacity(body.len().min(MAX_NUMBER_LEN + 1));
    let mut symbols = 0usize;
    for (i, c) in body.chars().enumerate() {
        match classify(c) {
            Class::Keep(k) => {
                symbols += 1;
                if symbols > MAX_NUMBER_LEN {
                    return Err(NumberError::TooLong {
                        input: excerpt(input),
                    });
                }
                out.push(k);
            }
            Class::Plus if out.is_empty() => out.push('+'),
            Class::Plus => {
                return Err(NumberError::MisplacedPlus {
                    ch: c,
                    position: offset + i,
                    input: excerpt(input),
                });
            }
            Class::Separator => {}
            Class::Refused => {
                return Err(NumberError::Refused {
                    ch: c,
                    position: offset + i,
                    input: excerpt(input),
                });
            }
        }
    }
    if symbols == 0 {
        return Err(NumberError::Empty {
            input: excerpt(input),
        });
    }
    Ok(DialNumber(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(s: &str) -> String {
        match normalize_number(s) {
            Ok(n) => n.0,
            Err(e) => panic!("{s:?} should normalise, got: {e}"),
        }
    }

    fn err(s: &str) -> String {
        match normalize_number(s) {
            Ok(n) => panic!("{s:?} should be refused, got {n}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn guide_examples_and_plain_numbers() {
        assert_eq!(ok("1330"), "1330");
        assert_eq!(ok("1303"), "1303");
        assert_eq!(ok("03-1234-5678"), "0312345678");
        assert_eq!(ok("090-1234-5678"), "09012345678");
    }

    #[test]
    fn removes_every_documented_separator() {
        for sep in [
            "-", " ", "\u{3000}", "\u{00A0}", "\u{2009}", "\u{202F}", ".", "．", "(", ")", "[",
            "]", "（", "）", "［", "］", "－", "‐", "―", "ー", "‑", "–", "‒", "—", "−", "ｰ",
        ] {
            assert_eq!(
                ok(&format!("03{sep}1234{sep}5678")),
                "0312345678",
                "{sep:?}"
            );
        }
    }

    #[test]
    fn full_width_forms_become_ascii() {
        assert_eq!(ok("０３－１２３４－５６７８"), "0312345678");
        assert_eq!(ok("＋８１３１２３４５６７８"), "+81312345678");
        assert_eq!(ok("＊６７＃"), "*67#");
        assert_eq!(ok("（０３）１２３４\u{3000}５６７８"), "0312345678");
    }

    #[test]
    fn keeps_leading_plus_star_and_hash() {
        assert_eq!(ok("+81 3 1234 5678"), "+81312345678");
        assert_eq!(ok("(+81) 3-1234-5678"), "+81312345678");
        assert_eq!(ok("*67#"), "*67#");
        assert_eq!(ok("#"), "#");
        assert_eq!(ok("9*1330"), "9*1330");
    }

    #[test]
    fn trims_paste_whitespace_but_refuses_inner_controls() {
        assert_eq!(ok("  0312345678\r\n"), "0312345678");
        assert_eq!(ok("\t1330\t"), "1330");
        assert_eq!(
            err("13\t30"),
            "number refused: '\\u{9}' at position 2 in '13\\u{9}30' is not a digit \
             (allowed: digits, a leading +, * and #; hyphens, spaces, dots and brackets are removed)"
        );
    }

    #[test]
    fn refusal_names_the_first_offending_character_and_its_position() {
        assert_eq!(
            err("0312x45"),
            "number refused: 'x' at position 4 in '0312x45' is not a digit \
             (allowed: digits, a leading +, * and #; hyphens, spaces, dots and brackets are removed)"
        );
        // Position counts characters of the input as given, separators and
        // leading whitespace included.
        assert!(err("  03-1a").contains("'a' at position 6 in '  03-1a'"));
        assert!(err("０３ａ").contains("'ａ' at position 2"));
        assert!(err("03/1234").contains("'/' at position 2"));
        assert!(err("1330;ext=1").contains("';' at position 4"));
        assert!(err("\u{200B}1330").contains("'\\u{200b}' at position 0"));
        assert!(err("١٢٣").contains("'١' at position 0"));
    }

    #[test]
    fn plus_is_refused_unless_it_leads() {
        assert_eq!(
            err("03+12"),
            "number refused: '+' at position 2 in '03+12' is only allowed at the start \
             (write an international number as +81312345678)"
        );
        assert!(err("++81").contains("'+' at position 1"));
        assert!(err("81＋").contains("'＋' at position 2"));
    }

    #[test]
    fn empty_after_normalisation_is_refused() {
        assert_eq!(
            err(""),
            "number refused: '' has no digits (enter a number such as 0312345678)"
        );
        assert!(err(" - ( ) ").starts_with("number refused: ' - ( ) ' has no digits"));
        assert!(err("+").starts_with("number refused: '+' has no digits"));
    }

    #[test]
    fn length_is_capped_at_32_symbols() {
        let max = "1".repeat(MAX_NUMBER_LEN);
        assert_eq!(ok(&format!("+{max}")), format!("+{max}"));
        assert_eq!(ok(&format!("{max}----")), max);
        let too_long = "1".repeat(MAX_NUMBER_LEN + 1);
        assert_eq!(
            err(&too_long),
            format!(
                "number refused: '{too_long}' has more than 32 digits \
                 (check that only one number was pasted)"
            )
        );
        // A huge paste is refused and its excerpt stays short.
        let huge = "9".repeat(1_000_000);
        assert!(err(&huge).len() < 200);
    }

    #[test]
    fn serde_normalises_on_the_way_in() {
        let n: DialNumber = serde_json::from_str("\"03-1234-5678\"").unwrap();
        assert_eq!(n.as_str(), "0312345678");
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"0312345678\"");
        let e = serde_json::from_str::<DialNumber>("\"12x\"").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("number refused: 'x' at position 2")
        );
    }

    #[test]
    fn conversions() {
        let n: DialNumber = "+81-3".parse().unwrap();
        assert!(n.is_international());
        assert_eq!(n.to_string(), "+813");
        assert_eq!(String::from(n.clone()), "+813");
        assert_eq!(DialNumber::try_from("+813").unwrap(), n);
        assert_eq!(DialNumber::try_from(String::from("+813")).unwrap(), n);
        assert!(!DialNumber::try_from("1330").unwrap().is_international());
    }

    const SEPARATORS: &[char] = &[
        '-', ' ', '.', '(', ')', '[', ']', '\u{00A0}', '\u{3000}', '\u{FF0D}', '\u{2010}',
        '\u{2011}', '\u{2012}', '\u{2013}', '\u{2014}', '\u{2015}', '\u{2212}', '\u{30FC}', '（',
        '）', '［', '］', '．',
    ];

    fn full_width(c: char) -> char {
        match c {
            '0'..='9' => {
                char::from_u32(u32::from(c) - u32::from('0') + u32::from('０')).unwrap_or(c)
            }
            '*' => '＊',
            '#' => '＃',
            '+' => '＋',
            other => other,
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_unicode(s in crate::text::any_text()) {
            let _ = normalize_number(&s);
        }

        #[test]
        fn output_is_canonical_and_idempotent(s in prop_oneof![crate::text::any_text(), any::<String>()]) {
            if let Ok(n) = normalize_number(&s) {
                let body = n.as_str().strip_prefix('+').unwrap_or(n.as_str());
                prop_assert!(!body.is_empty() && body.len() <= MAX_NUMBER_LEN);
                prop_assert!(body.chars().all(|c| c.is_ascii_digit() || c == '*' || c == '#'));
                prop_assert_eq!(normalize_number(n.as_str()), Ok(n.clone()));
            }
        }

        #[test]
        fn mostly_valid_inputs_are_canonical_and_idempotent(s in "[+＋0-9０-９*#() .\\-ー－x]{0,40}") {
            if let Ok(n) = normalize_number(&s) {
                prop_assert_eq!(normalize_number(n.as_str()), Ok(n.clone()));
            }
        }

        #[test]
        fn separators_anywhere_change_nothing(
            number in "\\+?[0-9*#]{1,32}",
            inserts in proptest::collection::vec((any::<prop::sample::Index>(), prop::sample::select(SEPARATORS)), 0..10),
        ) {
            let mut chars: Vec<char> = number.chars().collect();
            for (at, sep) in inserts {
                chars.insert(at.index(chars.len() + 1), sep);
            }
            let noisy: String = chars.into_iter().collect();
            prop_assert_eq!(normalize_number(&noisy).map(String::from), Ok(number));
        }

        #[test]
        fn full_width_and_ascii_are_equivalent(
            number in "\\+?[0-9*#]{1,32}",
            mask in proptest::collection::vec(any::<bool>(), 33),
        ) {
            let mixed: String = number
                .chars()
                .zip(mask)
                .map(|(c, wide)| if wide { full_width(c) } else { c })
                .collect();
            prop_assert_eq!(normalize_number(&mixed), normalize_number(&number));
        }
    }
}
