//! The normalised copy handed to the stack when it cannot read the original
//! ([`super::Verdict::Rewrite`]). Only used for messages without defects, so
//! nothing here changes what the message means:
//!
//! - folding undone, compact names written in full, the SIP-Version written
//!   `SIP/2.0`, leading CRLFs and bytes after the body left out;
//! - in Via, From, To, Contact, Route, Record-Route and CSeq, whitespace around
//!   `;`, `=`, `,` (and `/` and the sent-by `:` in Via) removed and other runs
//!   made one SP, outside quoted strings and `<>` (RFC 3261 treats them as
//!   equal; rsipstack does not read `tag = x` or `host : 5060`);
//! - in those address fields, an addr-spec whose header parameters hold a
//!   quoted string written as a name-addr (`sip:a@b;x="c@d"` becomes
//!   `<sip:a@b>;x="c@d"`, the same by RFC 3261 section 20.10; rsipstack reads
//!   an '@' or '<' inside the quoted string as part of the URI);
//! - a header value or reason phrase that is not UTF-8 re-encoded as if it were
//!   Latin-1 (every byte becomes the code point of the same number, so the
//!   original bytes can be recovered; rsipstack stops reading headers at the
//!   first non-UTF-8 line);
//! - Content-Length written from the framed body (rsipstack keeps no body when
//!   Content-Length is absent, which UDP allows);
//! - a From without a tag (RFC 2543 clients) given one that is a hash of the
//!   Call-ID and the From value, so every request of that call gets the same
//!   tag (rsipstack cannot key a transaction without it).

use std::borrow::Cow;

use sha2::{Digest as _, Sha256};

use super::rules;
use super::scan::{Header, Parsed, StartLine, is_lws};

pub(crate) fn normalise(p: &Parsed<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        p.start_line.len()
            + p.fields
                .iter()
                .map(|f| f.name.len() + 2 * f.value.len() + 24)
                .sum::<usize>()
            + p.body.len()
            + 64,
    );
    let is_request = match p.start {
        Some(StartLine::Request { method, uri, .. }) => {
            out.extend_from_slice(method);
            out.push(b' ');
            out.extend_from_slice(uri);
            out.extend_from_slice(b" SIP/2.0\r\n");
            true
        }
        Some(StartLine::Response { code, reason, .. }) => {
            out.extend_from_slice(b"SIP/2.0 ");
            out.extend_from_slice(code);
            out.push(b' ');
            out.extend_from_slice(&latin1_if_needed(reason));
            out.extend_from_slice(b"\r\n");
            false
        }
        None => return Vec::new(),
    };
    for f in &p.fields {
        if f.known == Some(Header::ContentLength) {
            continue;
        }
        let name = f.known.map_or(f.name, |h| h.canonical().as_bytes());
        let value: Cow<'_, [u8]> = match f.known {
            Some(Header::Via) => Cow::Owned(squeeze(&f.value, true)),
            Some(
                Header::From | Header::To | Header::Contact | Header::Route | Header::RecordRoute,
            ) => Cow::Owned(bracket_addr_specs(&squeeze(&f.value, false))),
            Some(Header::CSeq) => Cow::Owned(squeeze(&f.value, false)),
            _ => Cow::Borrowed(&f.value),
        };
        let mut value = latin1_if_needed(&value).into_owned();
        if is_request && f.known == Some(Header::From) && rules::tag_of(&value).is_none() {
            value.extend_from_slice(b";tag=");
            value.extend_from_slice(from_tag(p).as_bytes());
        }
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(&value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", p.body.len()).as_bytes());
    out.extend_from_slice(p.body);
    out
}

/// Removes whitespace next to the delimiters and shortens other runs to one
/// SP, outside quoted strings and `<>`. In a Via (`via`), `/` and `:` are
/// delimiters too (RFC 3261's SLASH and COLON; outside quoted strings a Via
/// has ':' only in sent-by and in addresses, which hold no whitespace).
fn squeeze(v: &[u8], via: bool) -> Vec<u8> {
    let is_delim = |b: u8| matches!(b, b';' | b'=' | b',') || (via && matches!(b, b'/' | b':'));
    let mut out = Vec::with_capacity(v.len());
    let (mut in_quotes, mut in_angle, mut escaped) = (false, false, false);
    let mut i = 0;
    while i < v.len() {
        let b = v[i];
        if in_quotes {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quotes = false;
            }
            i += 1;
            continue;
        }
        if in_angle {
            out.push(b);
            in_angle = b != b'>';
            i += 1;
            continue;
        }
        if is_lws(b) {
            let start = i;
            while i < v.len() && is_lws(v[i]) {
                i += 1;
            }
            let before = start.checked_sub(1).map(|j| v[j]);
            let after = v.get(i).copied();
            let keep = before.is_some_and(|b| !is_delim(b)) && after.is_some_and(|b| !is_delim(b));
            if keep {
                out.push(b' ');
            }
            continue;
        }
        match b {
            b'"' => in_quotes = true,
            b'<' => in_angle = true,
            _ => {}
        }
        out.push(b);
        i += 1;
    }
    out
}

/// Puts `<>` around each addr-spec (an element without a quoted display
/// name whose first `<`, if any, comes after its first `;`) that has a quoted
/// string among its header parameters. Elements are split at `,` outside
/// quoted strings and `<>`; the value has been squeezed.
fn bracket_addr_specs(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() + 8);
    let (mut in_quotes, mut in_angle, mut escaped) = (false, false, false);
    let mut start = 0;
    for i in 0..=v.len() {
        let b = v.get(i).copied();
        if escaped && b.is_some() {
            escaped = false;
            continue;
        }
        match b {
            Some(b'\\') if in_quotes => escaped = true,
            Some(b'"') => in_quotes = !in_quotes,
            Some(b'<') if !in_quotes => in_angle = true,
            Some(b'>') if !in_quotes => in_angle = false,
            Some(b',') if !in_quotes && !in_angle => {
                bracket_one(&v[start..i], &mut out);
                out.push(b',');
                start = i + 1;
            }
            None => bracket_one(&v[start..], &mut out),
            _ => {}
        }
    }
    out
}

fn bracket_one(element: &[u8], out: &mut Vec<u8>) {
    let lead = element.iter().take_while(|&&b| is_lws(b)).count();
    let body = &element[lead..];
    let semi = body.iter().position(|&b| b == b';');
    let lt = body.iter().position(|&b| b == b'<');
    let addr_spec = !body.starts_with(b"\"") && semi.is_some_and(|s| lt.is_none_or(|l| s < l));
    match semi {
        Some(s) if addr_spec && body[s..].contains(&b'"') => {
            out.extend_from_slice(&element[..lead]);
            out.push(b'<');
            out.extend_from_slice(&body[..s]);
            out.push(b'>');
            out.extend_from_slice(&body[s..]);
        }
        _ => out.extend_from_slice(element),
    }
}

fn latin1_if_needed(v: &[u8]) -> Cow<'_, [u8]> {
    if std::str::from_utf8(v).is_ok() {
        return Cow::Borrowed(v);
    }
    let text: String = v.iter().map(|&b| char::from(b)).collect();
    Cow::Owned(text.into_bytes())
}

/// The tag given to a From without one: the same for every request that
/// carries the same Call-ID and From value.
fn from_tag(p: &Parsed<'_>) -> String {
    let mut h = Sha256::new();
    if let Some(f) = p.first(Header::CallId) {
        h.update(&f.value);
    }
    h.update(b"\n");
    if let Some(f) = p.first(Header::From) {
        h.update(&f.value);
    }
    let digest = h.finalize();
    format!("bb2543{}", hex::encode(&digest[..6]))
}
