//! Keeping passwords and network text out of logs unescaped.
//!
//! [`Secret`] wraps a password so that `{:?}` and `{}` print `***`; the value
//! is only reachable through the explicit [`Secret::expose`]. [`redact_secret`]
//! scrubs a password out of text that was built from it (a URL, a body, a
//! client error message that quotes the URL), and [`log_safe`] escapes text
//! that came from the network before it goes into a log line.

use std::fmt;

use crate::request::encode_component;

/// What a redacted value prints as.
pub const REDACTED: &str = "***";

/// A value that must never be printed: `Debug` and `Display` show `***`.
///
/// Used for `%OpPW%` and any other password. Read the value with
/// [`Secret::expose`], which makes every use greppable.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The wrapped value. Call this only where the value is really needed
    /// (building the request or the argument list), never for logging.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl Secret<String> {
    /// True when the secret is the empty string (for example when no operator
    /// is logged in).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Secret(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Returns a copy of `text` for logs in which every occurrence of the secret,
/// written raw or percent-encoded the way [`crate::request`] encodes it
/// (with upper- or lower-case hex digits, and with `+` for a space as in a
/// form body), is replaced by `***`.
///
/// This is the fallback for text this crate did not build itself, such as an
/// HTTP client's error message quoting the request URL. It prefers hiding too
/// much: with a short password, unrelated text that happens to contain the
/// same characters is hidden as well. Requests and argument lists built by this
/// crate carry an exact log copy instead (`CrmRequest::for_log`,
/// `RenderedCommand::for_log`). An empty secret changes nothing.
pub fn redact_secret(text: &str, secret: &Secret<String>) -> String {
    let raw = secret.expose();
    if raw.is_empty() {
        return text.to_owned();
    }
    let mut out = text.replace(raw.as_str(), REDACTED);
    let encoded = encode_component(raw);
    let plus = encoded.replace("%20", "+");
    // Some clients print lower-case hex escapes (only the escapes: the
    // password's own letters keep their case).
    for form in [lower_hex(&encoded), lower_hex(&plus), encoded, plus] {
        if form != *raw {
            out = out.replace(form.as_str(), REDACTED);
        }
    }
    out
}

/// `text` with the hex digits of its `%XX` escapes in lower case.
fn lower_hex(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut escape = 0;
    for c in text.chars() {
        if c == '%' {
            escape = 2;
            out.push(c);
        } else if escape > 0 {
            escape -= 1;
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Words that make a parameter or key a secret when its name contains one
/// (compared without case): `user_password`, `pwd`, `api_token`, `X-Auth`…
const SECRET_WORDS: &[&str] = &[
    "pass",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "auth",
    "credential",
];

/// Whether a parameter or key named `name` holds a secret by its name.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| n.contains(w))
}

/// A URL for a log line: the user-info (`user:pass@`) and the value of every
/// query parameter whose name says it is a secret are written as `***`.
/// Anything that is not a URL is handled as `name=value&…`.
pub fn redact_url(text: &str) -> String {
    let (head, rest) = match text.find("://") {
        Some(i) => {
            let after = &text[i + 3..];
            let end = after.find(['/', '?', '#']).unwrap_or(after.len());
            let authority = &after[..end];
            let host = match authority.rfind('@') {
                Some(at) => format!("{REDACTED}@{}", &authority[at + 1..]),
                None => authority.to_string(),
            };
            (format!("{}{host}", &text[..i + 3]), &after[end..])
        }
        None => (String::new(), text),
    };
    let (path, query) = match rest.find('?') {
        Some(q) => (&rest[..=q], &rest[q + 1..]),
        None if head.is_empty() => ("", rest),
        None => (rest, ""),
    };
    let (query, fragment) = match query.find('#') {
        Some(f) => (&query[..f], &query[f..]),
        None => (query, ""),
    };
    format!("{head}{path}{}{fragment}", redact_pairs(query))
}

/// `name=value&…` with the values of secret-named parameters as `***`.
pub fn redact_pairs(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret_name(&decode_name(name)) => {
                format!("{name}={REDACTED}")
            }
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A parameter name with its `%XX` escapes and `+` decoded (lossy).
fn decode_name(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(name.get(i + 1..i + 3).unwrap_or(""), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One command-line argument for a log line: `--password=x` and
/// `user_password=x` show `***` after the `=`; a URL is shown as
/// [`redact_url`] shows it.
pub fn redact_arg(arg: &str) -> String {
    if arg.contains("://") {
        return redact_url(arg);
    }
    match arg.split_once('=') {
        Some((name, _)) if is_secret_name(name.trim_start_matches('-')) => {
            format!("{name}={REDACTED}")
        }
        _ => arg.to_string(),
    }
}

/// Longest piece of network text [`log_safe`] keeps, in characters.
pub const LOG_SAFE_MAX_CHARS: usize = 200;

/// Escapes text from the network for a log line: control characters,
/// quotes, backslashes and bidirectional-override characters are written as
/// Rust escapes (`\n`, `\u{202e}`), so a caller ID cannot forge a log line or
/// reorder what a reader sees. Text longer than [`LOG_SAFE_MAX_CHARS`] is cut
/// and marked with `…(N chars)`.
pub fn log_safe(text: &str) -> String {
    let count = text.chars().count();
    let mut out = String::with_capacity(text.len().min(LOG_SAFE_MAX_CHARS * 2));
    for c in text.chars().take(LOG_SAFE_MAX_CHARS) {
        if is_bidi_control(c) {
            out.extend(c.escape_unicode());
        } else {
            out.extend(c.escape_debug());
        }
    }
    if count > LOG_SAFE_MAX_CHARS {
        out.push_str(&format!("…({count} chars)"));
    }
    out
}

/// Makes `text` safe to print as one line: control characters other than
/// TAB (`\n`, `\r`, NUL, ESC, DEL, the C1 controls), the Unicode line and
/// paragraph separators and the bidirectional controls are written as Rust
/// escapes (`\n`, `\u{1b}`, `\u{202e}`); everything else, quotes and
/// backslashes included, is left as it is, and nothing is cut.
///
/// This is the last guard before a line reaches a terminal or a log file
/// (the softphone's terminal lines and every field of its tracing output go
/// through it), so that no text from the network can start a line of its
/// own or move the cursor, whatever the code that built the line forgot.
/// Values from the network should still go through [`log_safe`] where they
/// are put into a line, which also escapes quotes and backslashes and
/// bounds the length.
pub fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char =
        |c: char| (c.is_control() && c != '\t') || is_bidi_control(c) || is_line_separator(c);
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if !unsafe_char(c) {
            out.push(c);
        } else if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.extend(c.escape_unicode());
        }
    }
    std::borrow::Cow::Owned(out)
}

/// U+2028 and U+2029, which some viewers break lines at.
fn is_line_separator(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}')
}

/// Characters that change the display order of text (Trojan Source).
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_user_info_and_secret_parameters_for_logs() {
        assert_eq!(
            redact_url("https://user:pa55@crm.test/in?user_password=test_pass&n=0312&tok%65n=x#f"),
            "https://***@crm.test/in?user_password=***&n=0312&tok%65n=***#f"
        );
        assert_eq!(redact_url("http://crm.test/in"), "http://crm.test/in");
        assert_eq!(redact_url("http://crm.test"), "http://crm.test");
        assert_eq!(redact_pairs("a=1&PWD=2&b"), "a=1&PWD=***&b");
        assert_eq!(redact_arg("--password=hunter2"), "--password=***");
        assert_eq!(redact_arg("user_password=test_pass"), "user_password=***");
        assert_eq!(redact_arg("--caller=0312"), "--caller=0312");
        assert_eq!(redact_arg("https://u:p@h/x"), "https://***@h/x");
        assert!(is_secret_name("X-Api-Token") && !is_secret_name("caller"));
    }

    #[test]
    fn secret_prints_stars() {
        let s = Secret::new("hunter2".to_owned());
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn redact_secret_raw_and_encoded() {
        let s = Secret::new("p@ss word+1".to_owned());
        let text = "https://x.test/?pw=p%40ss%20word%2B1 and p@ss word+1 and p%40ss%20word%2b1";
        let out = redact_secret(text, &s);
        assert_eq!(out, "https://x.test/?pw=*** and *** and ***");
    }

    #[test]
    fn redact_secret_in_every_encoded_form() {
        let s = Secret::new("Zq8!pw x&yé".to_owned());
        for form in [
            "Zq8!pw x&yé",
            "Zq8%21pw%20x%26y%C3%A9",
            "Zq8%21pw%20x%26y%c3%a9",
            "Zq8%21pw+x%26y%C3%A9",
            "Zq8%21pw+x%26y%c3%a9",
        ] {
            assert_eq!(redact_secret(&format!("pw={form}&x=1"), &s), "pw=***&x=1");
        }
        // The letters of the password keep their case: another word stays.
        assert_eq!(
            redact_secret("zq8%21pw%20x%26y%c3%a9", &s),
            "zq8%21pw%20x%26y%c3%a9"
        );
    }

    #[test]
    fn redact_empty_secret_is_identity() {
        let s = Secret::new(String::new());
        assert_eq!(redact_secret("abc", &s), "abc");
    }

    #[test]
    fn one_line_escapes_what_breaks_or_disguises_a_line() {
        assert_eq!(one_line("0901\nbbclient: x"), "0901\\nbbclient: x");
        assert_eq!(
            one_line("a\r\nb\0c\u{1b}[2Jd\u{7f}"),
            "a\\r\\nb\\0c\\u{1b}[2Jd\\u{7f}"
        );
        assert_eq!(
            one_line("\u{85}\u{2028}\u{202e}x"),
            "\\u{85}\\u{2028}\\u{202e}x"
        );
        // TAB, quotes, backslashes and non-ASCII text stay as they are.
        assert_eq!(one_line("a\tb \"c\" \\d 山田"), "a\tb \"c\" \\d 山田");
        assert!(matches!(one_line("plain"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn log_safe_escapes_controls_and_bidi() {
        assert_eq!(log_safe("a\nb"), "a\\nb");
        assert_eq!(log_safe("\u{202e}x"), "\\u{202e}x");
        assert_eq!(log_safe("\0"), "\\0");
        assert_eq!(log_safe("090"), "090");
        let long = "9".repeat(1000);
        let out = log_safe(&long);
        assert!(out.ends_with("…(1000 chars)"));
        assert!(out.len() < 300);
    }
}
