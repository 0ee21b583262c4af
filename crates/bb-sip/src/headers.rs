//! Reading header values by name and the user part of SIP addresses.
//!
//! The CTI values (`%CallerNumber%`, `%OutLineNumber%`, …) come from the user
//! parts of `From`, `P-Asserted-Identity`, `P-Called-Party-ID`, `To` and the
//! Request-URI. This module reads them leniently: a value that cannot be read
//! gives `None`, never an error that would stop a call.

use rsipstack::sip::{Header, Headers};

/// The value of the first header called `name` (case-insensitive; compact
/// forms are resolved by rsipstack's parser before we see them).
pub fn first_value<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name().eq_ignore_ascii_case(name))
        .map(Header::value)
}

/// Whether an INVITE asks to be answered automatically, and after how many
/// ms: `Call-Info: <…>;answer-after=N` (N seconds), `Alert-Info:
/// <…>;info=alert-autoanswer` (also `info=auto-answer`), or `Answer-Mode:
/// Auto` (RFC 5373). `None` when it does not ask.
pub fn auto_answer_ms(headers: &Headers) -> Option<u64> {
    let values = |name: &'static str| {
        headers
            .iter()
            .filter(move |h| h.name().eq_ignore_ascii_case(name))
            .map(Header::value)
    };
    // The parameters after the URI: `;a=b;c` (quoted strings are not split).
    let params = |value: &str| -> Vec<(String, String)> {
        let after = match value.rfind('>') {
            Some(i) => &value[i + 1..],
            None => value,
        };
        after
            .split(';')
            .filter_map(|p| {
                let p = p.trim();
                if p.is_empty() {
                    return None;
                }
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                Some((
                    k.trim().to_ascii_lowercase(),
                    v.trim().trim_matches('"').to_ascii_lowercase(),
                ))
            })
            .collect()
    };
    for v in values("Call-Info") {
        for (k, v) in params(v) {
            if k == "answer-after"
                && let Ok(secs) = v.parse::<u64>()
            {
                return Some(secs.min(3600) * 1000);
            }
        }
    }
    for v in values("Alert-Info") {
        if params(v).iter().any(|(k, v)| {
            k == "info"
                && matches!(
                    v.as_str(),
                    "alert-autoanswer" | "auto-answer" | "autoanswer"
                )
        }) {
            return Some(0);
        }
    }
    for v in values("Answer-Mode") {
        let mode = v.split(';').next().unwrap_or("").trim();
        if mode.eq_ignore_ascii_case("auto") {
            return Some(0);
        }
    }
    None
}

/// Builds an arbitrary header by name (`P-Called-Party-ID`, `Replaces`, …).
pub fn make(name: &str, value: impl Into<String>) -> Header {
    rsipstack::sip::headers::make_header(name, value.into())
}

/// The URI inside a name-addr or addr-spec value:
/// `"Bob" <sip:0901@host>;tag=x` → `sip:0901@host`; `sip:0901@host;tag=x` → `sip:0901@host`.
pub fn addr_uri(value: &str) -> Option<&str> {
    let value = value.trim();
    // The first comma-separated value only (P-Asserted-Identity may hold two).
    if let Some(start) = find_unquoted(value, '<') {
        let rest = &value[start + 1..];
        let end = rest.find('>')?;
        return Some(rest[..end].trim());
    }
    let end = value.find([';', ',']).unwrap_or(value.len());
    let uri = value[..end].trim();
    (!uri.is_empty()).then_some(uri)
}

fn find_unquoted(s: &str, needle: char) -> Option<usize> {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            c if c == needle && !in_quotes => return Some(i),
            _ => {}
        }
    }
    None
}

/// The user part of a `sip:`, `sips:` or `tel:` URI, percent-decoded
/// (`sip:%2B8190@h` → `+8190`; `tel:+81-3-1234;phone-context=x` → `+81-3-1234`).
/// `None` when the URI has no user part.
pub fn uri_user(uri: &str) -> Option<String> {
    let uri = uri.trim();
    let (scheme, rest) = uri.split_once(':')?;
    let user = if scheme.eq_ignore_ascii_case("tel") {
        rest.split(';').next()?
    } else if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
        let at = rest.rfind('@')?;
        let userinfo = &rest[..at];
        // user;params:password — the user ends at ':' (password) but may hold ';'
        userinfo.split(':').next()?
    } else {
        return None;
    };
    if user.is_empty() {
        return None;
    }
    Some(percent_decode(user))
}

/// The user part of the first address in a header value (name-addr or addr-spec).
pub fn addr_user(value: &str) -> Option<String> {
    addr_uri(value).and_then(uri_user)
}

/// Decodes `%XX` escapes (as in a URI's user part); a `%` not followed by
/// two hex digits stays as it is, and bytes that are not UTF-8 become U+FFFD.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_auto_answer_forms_are_read() {
        let h = |name: &str, value: &str| -> Headers { vec![make(name, value)].into() };
        assert_eq!(
            auto_answer_ms(&h("Call-Info", "<sip:pbx.test>;answer-after=2")),
            Some(2000)
        );
        assert_eq!(
            auto_answer_ms(&h("Call-Info", "<sip:pbx.test>;answer-after=0")),
            Some(0)
        );
        assert_eq!(
            auto_answer_ms(&h(
                "Alert-Info",
                "<http://x.test/ring>;info=alert-autoanswer"
            )),
            Some(0)
        );
        assert_eq!(auto_answer_ms(&h("Answer-Mode", "Auto;require")), Some(0));
        assert_eq!(auto_answer_ms(&h("Answer-Mode", "Manual")), None);
        assert_eq!(
            auto_answer_ms(&h("Alert-Info", "<http://x.test/ring>")),
            None
        );
        assert_eq!(
            auto_answer_ms(&h("Call-Info", "<sip:pbx.test>;purpose=icon")),
            None
        );
        assert_eq!(auto_answer_ms(&Headers::default()), None);
    }

    #[test]
    fn user_parts_of_real_world_values() {
        let cases = [
            (
                "\"Bob\" <sip:09012345678@10.0.0.1>;tag=abc",
                Some("09012345678"),
            ),
            ("<sip:1910@127.0.0.1:5060>", Some("1910")),
            ("sip:1910@127.0.0.1;tag=1", Some("1910")),
            ("<tel:+81312345678>", Some("+81312345678")),
            ("\"a <b>\" <sip:7@h>", Some("7")),
            ("<sip:%2B8190@h>", Some("+8190")),
            ("<sip:h.example.com>", None),
            (
                "\"Anonymous\" <sip:anonymous@anonymous.invalid>",
                Some("anonymous"),
            ),
            ("garbage", None),
            ("", None),
            ("<sip:1@h>, <tel:+812>", Some("1")),
            ("<sip:%ZZ@h>", Some("%ZZ")),
            ("<sip:%4@h>", Some("%4")),
        ];
        for (value, want) in cases {
            assert_eq!(addr_user(value).as_deref(), want, "{value}");
        }
    }
}
