//! A policy refusal (403, 486, …) built for a well-formed request, the
//! same way as the guard's own answers to malformed ones: Via, From, To
//! (with a stable tag), Call-ID and CSeq copied, no body. Drivers use it to
//! turn a request away before the SIP stack spends anything on it (a
//! stranger's INVITE: no transaction, no RTP port, no hook).

use super::reply::{line, to_tag};
use super::rules;
use super::scan::{Header, StartLine, parse_datagram};

/// What a request is, as far as a policy needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFacts {
    /// The method, as written (`INVITE`, `REFER`, …).
    pub method: String,
    /// Whether its To carries a tag (a request inside a dialog).
    pub in_dialog: bool,
}

/// The method and dialog state of a request datagram; `None` for a
/// response or anything that is not a readable request.
pub fn request_facts(datagram: &[u8]) -> Option<RequestFacts> {
    let parsed = parse_datagram(datagram);
    let Some(StartLine::Request { method, .. }) = &parsed.start else {
        return None;
    };
    let to = parsed.first(Header::To)?;
    Some(RequestFacts {
        method: String::from_utf8_lossy(method).into_owned(),
        in_dialog: rules::tag_of(&to.value).is_some(),
    })
}

/// The response `status phrase` to the request `datagram`, or `None` when
/// it is not a request, is an ACK (never answered), or lacks a field a
/// response needs. `phrase` is ours (a constant); CR and LF never reach the
/// wire.
pub fn refusal(datagram: &[u8], status: u16, phrase: &str) -> Option<Vec<u8>> {
    let parsed = parse_datagram(datagram);
    let Some(StartLine::Request { method, .. }) = &parsed.start else {
        return None;
    };
    if *method == b"ACK" {
        return None;
    }
    parsed.first(Header::Via)?;
    let (from, to, call_id, cseq) = (
        parsed.first(Header::From)?,
        parsed.first(Header::To)?,
        parsed.first(Header::CallId)?,
        parsed.first(Header::CSeq)?,
    );
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(format!("SIP/2.0 {status} ").as_bytes());
    out.extend(phrase.bytes().filter(|b| !b.is_ascii_control()));
    out.extend_from_slice(b"\r\n");
    for v in parsed.all(Header::Via) {
        line(&mut out, "Via", &v.value);
    }
    line(&mut out, "From", &from.value);
    let mut to_value = to.value.to_vec();
    if rules::tag_of(&to.value).is_none() {
        to_value.extend_from_slice(b";tag=");
        to_value.extend_from_slice(to_tag(&parsed).as_bytes());
    }
    line(&mut out, "To", &to_value);
    line(&mut out, "Call-ID", &call_id.value);
    line(&mut out, "CSeq", &cseq.value);
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:1910@127.0.0.1 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK1\r\n\
        From: <sip:0312345678@127.0.0.2>;tag=a\r\n\
        To: <sip:1910@127.0.0.1>\r\n\
        Call-ID: x1\r\n\
        CSeq: 1 INVITE\r\n\
        Max-Forwards: 70\r\n\
        Content-Length: 0\r\n\r\n";

    #[test]
    fn a_refusal_answers_the_request_it_refuses() {
        let facts = request_facts(INVITE);
        assert_eq!(
            facts,
            Some(RequestFacts {
                method: "INVITE".into(),
                in_dialog: false
            })
        );
        let out = refusal(INVITE, 403, "Forbidden").unwrap_or_default();
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("SIP/2.0 403 Forbidden\r\n"), "{text}");
        assert!(text.contains("Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK1\r\n"));
        assert!(text.contains("To: <sip:1910@127.0.0.1>;tag=bb"), "{text}");
        assert!(text.contains("CSeq: 1 INVITE\r\n"));
        // Parses as a response, so the sender's stack ends its transaction.
        assert!(matches!(
            parse_datagram(&out).start,
            Some(StartLine::Response { .. })
        ));
    }

    #[test]
    fn acks_and_responses_are_never_answered() {
        let ack = String::from_utf8_lossy(INVITE)
            .replace("INVITE sip", "ACK sip")
            .replace("1 INVITE", "1 ACK");
        assert!(refusal(ack.as_bytes(), 403, "Forbidden").is_none());
        assert!(refusal(b"SIP/2.0 200 OK\r\n\r\n", 403, "Forbidden").is_none());
        assert!(request_facts(b"garbage").is_none());
    }
}
