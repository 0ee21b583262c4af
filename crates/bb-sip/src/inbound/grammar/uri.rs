//! URIs and hosts (RFC 3261 section 25.1 and 19.1.1; IPv6 references per
//! RFC 5954): `SIP-URI`, `SIPS-URI`, `absoluteURI`, `host`, `port`.

use std::net::Ipv6Addr;

use super::{Bad, Cur, is_unreserved};
use crate::inbound::scan::{Decimal, parse_decimal};

/// What a well-formed Request-URI is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestUri<'a> {
    /// `sip:` or `sips:`; `headers` is the `?…` part, which a Request-URI may
    /// not carry (RFC 3261 section 19.1.5).
    Sip { headers: Option<&'a [u8]> },
    /// `tel:` (an absoluteURI).
    Tel,
    /// Any other scheme (an absoluteURI): 416, not 400.
    Other { scheme: &'a [u8] },
}

/// `Request-URI = SIP-URI / SIPS-URI / absoluteURI`.
pub(crate) fn request_uri(uri: &[u8]) -> Result<RequestUri<'_>, Bad> {
    let Some(scheme) = scheme_of(uri) else {
        return Err(Bad::new(
            uri,
            "a URI that starts with a scheme such as 'sip:'",
        ));
    };
    if is_sip(scheme) {
        sip_uri(uri, scheme.len() + 1).map(|headers| RequestUri::Sip { headers })
    } else {
        absolute_uri(uri, scheme.len() + 1)?;
        Ok(if scheme.eq_ignore_ascii_case(b"tel") {
            RequestUri::Tel
        } else {
            RequestUri::Other { scheme }
        })
    }
}

/// `addr-spec = SIP-URI / SIPS-URI / absoluteURI` (inside `<>`, or the whole
/// address when there are none).
pub(crate) fn addr_spec(uri: &[u8]) -> Result<(), Bad> {
    let Some(scheme) = scheme_of(uri) else {
        return Err(Bad::new(
            uri,
            "a URI that starts with a scheme such as 'sip:'",
        ));
    };
    if is_sip(scheme) {
        sip_uri(uri, scheme.len() + 1).map(|_| ())
    } else {
        absolute_uri(uri, scheme.len() + 1)
    }
}

/// `scheme ":"` at the start of a URI: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
pub(crate) fn scheme_of(uri: &[u8]) -> Option<&[u8]> {
    let colon = uri.iter().position(|&b| b == b':')?;
    let scheme = &uri[..colon];
    let ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    ok.then_some(scheme)
}

fn is_sip(scheme: &[u8]) -> bool {
    scheme.eq_ignore_ascii_case(b"sip") || scheme.eq_ignore_ascii_case(b"sips")
}

/// `"sip:" [ userinfo ] hostport uri-parameters [ headers ]`, from `from`
/// (just after the scheme's ':'). Returns the `?headers` part, if any.
fn sip_uri(uri: &[u8], from: usize) -> Result<Option<&[u8]>, Bad> {
    let mut c = Cur::at(uri, from);
    // No part after the userinfo may hold a raw '@', so one in the URI ends it.
    if uri[from..].contains(&b'@') {
        let user = escaped_run(&mut c, is_user_char)?;
        if user.is_empty() {
            return Err(c.bad("a user part before '@'"));
        }
        if c.eat(b':') {
            escaped_run(&mut c, is_password_char)?;
        }
        if !c.eat(b'@') {
            return Err(
                c.bad("'@' after the user part (user: unreserved, %HH or &=+$,;?/ characters)")
            );
        }
    }
    host(&mut c)?;
    if c.eat(b':') {
        port(&mut c)?;
    }
    while c.eat(b';') {
        if escaped_run(&mut c, is_param_char)?.is_empty() {
            return Err(c.bad("a URI parameter name after ';'"));
        }
        if c.eat(b'=') && escaped_run(&mut c, is_param_char)?.is_empty() {
            return Err(c.bad("a URI parameter value after '='"));
        }
    }
    let headers_at = c.i;
    if c.eat(b'?') {
        loop {
            if escaped_run(&mut c, is_hnv_char)?.is_empty() {
                return Err(c.bad("a URI header name after '?' or '&'"));
            }
            if !c.eat(b'=') {
                return Err(c.bad("'=' after the URI header name"));
            }
            escaped_run(&mut c, is_hnv_char)?;
            if !c.eat(b'&') {
                break;
            }
        }
    }
    if !c.at_end() {
        return Err(c.bad("the end of the SIP URI (after host, port, ;parameters and ?headers)"));
    }
    Ok((c.i > headers_at).then(|| &uri[headers_at..]))
}

/// `absoluteURI` (RFC 2396 via RFC 3261): after the scheme, one or more
/// `uric` (reserved, unreserved or escaped).
fn absolute_uri(uri: &[u8], from: usize) -> Result<(), Bad> {
    let mut c = Cur::at(uri, from);
    let rest = escaped_run(&mut c, |b| is_unreserved(b) || is_reserved(b))?;
    if rest.is_empty() || !c.at_end() {
        return Err(c.bad("URI characters (reserved, unreserved or %HH) after the scheme"));
    }
    Ok(())
}

/// `host = hostname / IPv4address / IPv6reference` at the cursor. The run
/// read as the host ends at `:` `;` `?` `,` `>` or whitespace, so a bad
/// character shows up inside the host it spoils.
pub(crate) fn host(c: &mut Cur<'_>) -> Result<(), Bad> {
    const EXPECTED: &str = "a host name, IPv4 address or [IPv6] reference";
    if c.peek() == Some(b'[') {
        let rest = c.rest();
        let Some(close) = rest.iter().position(|&b| b == b']') else {
            return Err(c.bad("an IPv6 reference closed by ']'"));
        };
        if !is_ipv6(&rest[1..close]) {
            return Err(Bad::new(&rest[..=close], "an IPv6 address inside '[ ]'"));
        }
        c.i += close + 1;
        return Ok(());
    }
    let start = c.i;
    let run = c.take(|b| !matches!(b, b':' | b';' | b'?' | b',' | b'>' | b' ' | b'\t'));
    if run.is_empty() {
        c.i = start;
        return Err(c.bad(EXPECTED));
    }
    if is_ipv4(run) || is_hostname(run) {
        Ok(())
    } else {
        Err(Bad::new(run, EXPECTED))
    }
}

/// `port = 1*DIGIT`, at most 65535.
pub(crate) fn port(c: &mut Cur<'_>) -> Result<(), Bad> {
    let start = c.i;
    let digits = c.take(|b| b.is_ascii_digit());
    let ok = (1..=5).contains(&digits.len())
        && matches!(parse_decimal(digits), Decimal::Value(n) if n <= 65_535);
    if ok {
        Ok(())
    } else {
        c.i = start;
        Err(c.bad("a port number from 0 to 65535 after ':'"))
    }
}

/// `IPv4address`: four dotted numbers of 1 to 3 digits, each at most 255
/// (RFC 5954 section 4.1 narrows RFC 3261's `1*3DIGIT` to `dec-octet`).
pub(crate) fn is_ipv4(h: &[u8]) -> bool {
    let parts: Vec<&[u8]> = h.split(|&b| b == b'.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            (1..=3).contains(&p.len()) && matches!(parse_decimal(p), Decimal::Value(n) if n <= 255)
        })
}

/// `IPv6address` (RFC 5954's corrected grammar, which the standard
/// library's parser follows: no three-colon forms).
pub(crate) fn is_ipv6(h: &[u8]) -> bool {
    std::str::from_utf8(h)
        .ok()
        .and_then(|s| s.parse::<Ipv6Addr>().ok())
        .is_some()
}

/// `hostname = *( domainlabel "." ) toplabel [ "." ]`; a label is
/// alphanumerics and inner hyphens, and the top label starts with a letter.
fn is_hostname(h: &[u8]) -> bool {
    let h = h.strip_suffix(b".").unwrap_or(h);
    let label_ok = |l: &[u8]| {
        l.first().is_some_and(u8::is_ascii_alphanumeric)
            && l.last().is_some_and(u8::is_ascii_alphanumeric)
            && l.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let top = h.rsplit(|&b| b == b'.').next().unwrap_or_default();
    !h.is_empty()
        && h.split(|&b| b == b'.').all(label_ok)
        && top.first().is_some_and(u8::is_ascii_alphabetic)
}

/// Reads `*( allowed / escaped )`; a '%' must start an escape.
pub(crate) fn escaped_run<'a>(c: &mut Cur<'a>, allowed: fn(u8) -> bool) -> Result<&'a [u8], Bad> {
    let start = c.i;
    loop {
        match c.peek() {
            Some(b'%') => {
                let hex = c.rest().get(1..3);
                if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                    return Err(c.bad("'%' followed by two hex digits"));
                }
                c.i += 3;
            }
            Some(b) if allowed(b) => c.i += 1,
            _ => return Ok(&c.s[start..c.i]),
        }
    }
}

/// `reserved = ";" / "/" / "?" / ":" / "@" / "&" / "=" / "+" / "$" / ","`.
fn is_reserved(b: u8) -> bool {
    matches!(
        b,
        b';' | b'/' | b'?' | b':' | b'@' | b'&' | b'=' | b'+' | b'$' | b','
    )
}

/// `user = 1*( unreserved / escaped / user-unreserved )`.
fn is_user_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/')
}

/// `password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )`.
fn is_password_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',')
}

/// `paramchar = param-unreserved / unreserved / escaped`.
fn is_param_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$')
}

/// `hname` / `hvalue` characters: `hnv-unreserved / unreserved / escaped`.
fn is_hnv_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$')
}
