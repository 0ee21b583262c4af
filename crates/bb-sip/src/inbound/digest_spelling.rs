//! RFC 7616 spells the SHA-256 digest algorithm `SHA-256` (and
//! `SHA-256-sess`); rsipstack 0.7.14 reads and writes only `SHA256`. So that
//! the softphone can register with a standards-conformant SHA-256 server, the
//! socket wrapper rewrites the token on its way in (challenges in
//! `WWW-Authenticate` / `Proxy-Authenticate` of responses) and back on its way
//! out (`Authorization` / `Proxy-Authorization` of requests). The token is
//! not part of the digest computation, so nothing else changes.

/// Which way a datagram goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// Received: a response's challenges get the stack's spelling.
    ToStack,
    /// Sent: a request's credentials get the RFC 7616 spelling.
    ToWire,
}

/// The datagram with the algorithm token respelled, or `None` when nothing
/// needs to change (the common case: no allocation).
pub fn respell(datagram: &[u8], way: Way) -> Option<Vec<u8>> {
    let is_response = datagram.starts_with(b"SIP/2.0 ");
    let (headers, from, to): (&[&str], &str, &str) = match way {
        Way::ToStack if is_response => (
            &["www-authenticate", "proxy-authenticate"],
            "sha-256",
            "SHA256",
        ),
        Way::ToWire if !is_response => (
            &["authorization", "proxy-authorization"],
            "sha256",
            "SHA-256",
        ),
        _ => return None,
    };
    // Headers end at the first empty line; the body is left alone.
    let head_end = find(datagram, b"\r\n\r\n").map_or(datagram.len(), |i| i + 2);
    let head = std::str::from_utf8(datagram.get(..head_end)?).ok()?;
    let mut out = String::with_capacity(head.len() + 8);
    let mut changed = false;
    for line in head.split_inclusive("\r\n") {
        let name = line.split(':').next().unwrap_or_default().trim();
        if headers.iter().any(|h| name.eq_ignore_ascii_case(h))
            && let Some(fixed) = respell_line(line, from, to)
        {
            out.push_str(&fixed);
            changed = true;
            continue;
        }
        out.push_str(line);
    }
    if !changed {
        return None;
    }
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(datagram.get(head_end..).unwrap_or_default());
    Some(bytes)
}

/// `algorithm=<from>` (any case, quoted or not, `-sess` kept) rewritten in
/// one header line.
fn respell_line(line: &str, from: &str, to: &str) -> Option<String> {
    let lower = line.to_ascii_lowercase();
    let mut out = String::with_capacity(line.len() + 2);
    let mut last = 0;
    let mut search = 0;
    while let Some(pos) = lower.get(search..)?.find("algorithm") {
        let at = search + pos;
        search = at + "algorithm".len();
        // `algorithm`, optional spaces, `=`, optional spaces and quote.
        let rest = lower.get(search..)?;
        let Some(after_eq) = rest.trim_start().strip_prefix('=') else {
            continue;
        };
        let value = after_eq.trim_start();
        let quote = usize::from(value.starts_with('"'));
        let start = lower.len() - value.len() + quote;
        let token_end = lower
            .get(start..)?
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .map_or(lower.len(), |n| start + n);
        let token = lower.get(start..token_end)?;
        let suffix = match token.strip_prefix(from) {
            Some("") => "",
            Some("-sess") => "-sess",
            _ => continue,
        };
        out.push_str(line.get(last..start)?);
        out.push_str(to);
        out.push_str(suffix);
        last = token_end;
        search = token_end;
    }
    if last == 0 {
        return None;
    }
    out.push_str(line.get(last..)?);
    Some(out)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(b: Option<Vec<u8>>) -> Option<String> {
        b.map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn a_challenge_is_respelled_for_the_stack() {
        let msg = "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
                   WWW-Authenticate: Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256, qop=\"auth\"\r\n\
                   WWW-Authenticate: Digest realm=\"r\", nonce=\"n\", algorithm=MD5, qop=\"auth\"\r\n\
                   Proxy-Authenticate: Digest realm=\"r\", algorithm = \"sha-256-sess\"\r\n\
                   Content-Length: 0\r\n\r\n";
        let got = s(respell(msg.as_bytes(), Way::ToStack)).unwrap();
        assert!(got.contains("nonce=\"n\", algorithm=SHA256, qop"), "{got}");
        assert!(got.contains("algorithm=MD5"), "{got}");
        assert!(got.contains("algorithm = \"SHA256-sess\""), "{got}");
        assert_eq!(got.len(), msg.len() - 2);
    }

    #[test]
    fn credentials_are_respelled_for_the_wire_and_the_body_is_untouched() {
        let msg = "REGISTER sip:h SIP/2.0\r\nAuthorization: Digest username=\"u\", \
                   response=\"x\", algorithm=SHA256, qop=auth\r\nContent-Length: 15\r\n\r\n\
                   algorithm=SHA256";
        let got = s(respell(msg.as_bytes(), Way::ToWire)).unwrap();
        assert!(
            got.contains("response=\"x\", algorithm=SHA-256, qop=auth\r\n"),
            "{got}"
        );
        assert!(got.ends_with("\r\n\r\nalgorithm=SHA256"), "{got}");
    }

    #[test]
    fn other_messages_and_spellings_are_left_alone() {
        let md5 = "SIP/2.0 401 Unauthorized\r\nWWW-Authenticate: Digest algorithm=MD5\r\n\r\n";
        assert_eq!(respell(md5.as_bytes(), Way::ToStack), None);
        // A request is never changed on the way in, a response never on the way out.
        let req = "REGISTER sip:h SIP/2.0\r\nAuthorization: Digest algorithm=SHA256\r\n\r\n";
        assert_eq!(respell(req.as_bytes(), Way::ToStack), None);
        let resp = "SIP/2.0 401 x\r\nWWW-Authenticate: Digest algorithm=SHA-256\r\n\r\n";
        assert_eq!(respell(resp.as_bytes(), Way::ToWire), None);
        // Not the token in other headers, nor a longer token, nor the word
        // without a value.
        let other = "SIP/2.0 200 OK\r\nX-Note: algorithm=SHA-256\r\n\
                     WWW-Authenticate: Digest nonce=\"algorithm\", algorithm=SHA-256-foo\r\n\r\n";
        assert_eq!(respell(other.as_bytes(), Way::ToStack), None);
        // Broken input gives None, never a panic.
        for junk in [
            &b"SIP/2.0 "[..],
            b"",
            b"\xff\xfe",
            b"SIP/2.0 401\r\nWWW-Authenticate: algorithm",
        ] {
            let _ = respell(junk, Way::ToStack);
            let _ = respell(junk, Way::ToWire);
        }
    }
}
