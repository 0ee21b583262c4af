//! Responses we send ourselves, built the way RFC 3261 section 8.2.6 says: the
//! Via values in order, From, Call-ID and CSeq copied, To copied with a tag
//! added when it has none, and a reason phrase that names the defect.

use sha2::{Digest as _, Sha256};

use super::scan::{Class, Defect, Header, Parsed};
use super::{Policy, Reply, rules};

/// The header fields a response cannot be formed without.
const NEEDED: [(Header, &str); 5] = [
    (Header::Via, "Via"),
    (Header::From, "From"),
    (Header::To, "To"),
    (Header::CallId, "Call-ID"),
    (Header::CSeq, "CSeq"),
];

/// The longest reason phrase we write, in octets.
const MAX_PHRASE: usize = 200;

/// Which of Via, From, To, Call-ID and CSeq are missing or empty.
pub(crate) fn missing_for_reply(p: &Parsed<'_>) -> Vec<&'static str> {
    NEEDED
        .iter()
        .filter(|(h, _)| p.first(*h).is_none_or(|f| f.value.is_empty()))
        .map(|(_, name)| *name)
        .collect()
}

/// The response to a request with defect `d`. The caller has checked that
/// [`missing_for_reply`] is empty; a missing field is simply left out.
pub(crate) fn build(p: &Parsed<'_>, d: &Defect, policy: &Policy) -> Reply {
    let status = d.class.status();
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(format!("SIP/2.0 {status} ").as_bytes());
    out.extend_from_slice(&reason_phrase(status, &d.text));
    out.extend_from_slice(b"\r\n");
    for via in p.all(Header::Via) {
        line(&mut out, "Via", &via.value);
    }
    if let Some(from) = p.first(Header::From) {
        line(&mut out, "From", &from.value);
    }
    if let Some(to) = p.first(Header::To) {
        let mut value = to.value.to_vec();
        if rules::tag_of(&to.value).is_none() {
            value.extend_from_slice(b";tag=");
            value.extend_from_slice(to_tag(p).as_bytes());
        }
        line(&mut out, "To", &value);
    }
    if let Some(call_id) = p.first(Header::CallId) {
        line(&mut out, "Call-ID", &call_id.value);
    }
    if let Some(cseq) = p.first(Header::CSeq) {
        line(&mut out, "CSeq", &cseq.value);
    }
    match d.class {
        Class::Extension => line(&mut out, "Unsupported", d.unsupported.join(", ").as_bytes()),
        Class::MediaType => line(
            &mut out,
            "Accept",
            policy.session_body_types.join(", ").as_bytes(),
        ),
        _ => {}
    }
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    Reply {
        status,
        defect: d.clone(),
        bytes: out,
    }
}

/// Writes `name: value CRLF`; a stray CR or LF in the value becomes SP so a
/// copied value can never start a new header line.
pub(crate) fn line(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend(
        value
            .iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\r\n");
}

/// A To tag that is the same for every retransmission of the request, so a
/// stateless answer is stable: a hash of Call-ID, From, CSeq and the top Via.
pub(crate) fn to_tag(p: &Parsed<'_>) -> String {
    let mut h = Sha256::new();
    for header in [Header::CallId, Header::From, Header::CSeq, Header::Via] {
        if let Some(f) = p.first(header) {
            h.update(&f.value);
        }
        h.update(b"\n");
    }
    let digest = h.finalize();
    format!("bb{}", hex::encode(&digest[..8]))
}

/// The standard phrase, then `: ` and the defect, with every octet that RFC
/// 3261's `Reason-Phrase` does not allow %-escaped, cut to 200 octets.
pub(crate) fn reason_phrase(status: u16, text: &str) -> Vec<u8> {
    let standard = match status {
        400 => "Bad Request",
        406 => "Not Acceptable",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        501 => "Not Implemented",
        505 => "Version Not Supported",
        _ => "Error",
    };
    let mut out = standard.as_bytes().to_vec();
    out.extend_from_slice(b": ");
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let mut piece = Vec::new();
        if c.is_ascii() {
            let b = c as u8;
            // '%' stays when it already starts an escape ("%3C" in a URI).
            let escape = b == b'%'
                && chars
                    .get(i + 1..i + 3)
                    .is_some_and(|h| h.iter().all(char::is_ascii_hexdigit));
            let allowed =
                escape || b.is_ascii_alphanumeric() || b" -_.!~*'();/?:@&=+$,".contains(&b);
            if allowed {
                piece.push(b);
            } else {
                piece.extend_from_slice(format!("%{b:02X}").as_bytes());
            }
        } else if c.is_control() || c == '\u{FFFD}' {
            piece.push(b'?');
        } else {
            let mut buf = [0u8; 4];
            piece.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
        if out.len() + piece.len() > MAX_PHRASE {
            out.extend_from_slice(b"...");
            break;
        }
        out.extend_from_slice(&piece);
    }
    out
}
