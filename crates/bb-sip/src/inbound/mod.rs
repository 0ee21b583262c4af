//! This module decides what happens to one inbound UDP datagram before
//! rsipstack sees it: hand it on, hand on a repaired copy, answer it ourselves,
//! or drop it.
//!
//! rsipstack 0.7.14 drops every request it cannot parse or key over UDP with a
//! log line and no answer, accepts several messages that RFC 3261 says must be
//! rejected (a Request-URI in `<>`, `SIP/7.0`, a CSeq method that does not match
//! the request, a Content-Length larger than the datagram, …), cannot represent
//! an unknown method at all (so it can never answer 501), and stops reading
//! headers at the first line that is not UTF-8. [`check_datagram`] closes that
//! gap: every request whose Via, From, To, Call-ID and CSeq can be read gets a
//! response from someone, either from the stack or from us.
//!
//! # Principal types
//!
//! - [`check_datagram`] / [`check_datagram_with`] take the datagram's bytes and
//!   return a [`Verdict`]: [`Verdict::Pass`] (give the original bytes to
//!   rsipstack), [`Verdict::Rewrite`] (give it these repaired bytes instead),
//!   [`Verdict::Reply`] (send this response to the datagram's source and give the
//!   stack nothing) or [`Verdict::Drop`] (say nothing; the [`DropReason`] says
//!   why).
//! - [`parse_datagram`] is the lenient parser underneath: it returns the
//!   message *and* the [`Defect`]s it found ([`Parsed`]), so a message with a bad
//!   Content-Length can still be answered 400. [`Parsed::summary`] gives the
//!   method or status, Call-ID and CSeq that the torture-corpus test compares.
//! - [`Policy`] holds the few choices a driver may change (option tags it
//!   supports, body types it takes in INVITE, whether to answer 406, whether
//!   to discard responses with more than one Via as a UAC must).
//! - [`stack_outcome`] runs rsipstack's own UDP receive steps over a datagram
//!   and says where it stops ([`StackOutcome`]); the corpus test prints it
//!   per file.
//! - [`GuardedUdpSocket`] wraps the socket handed to rsipstack's
//!   `UdpConnection::from_socket`, which is the only place where raw bytes are
//!   visible before the stack drops them.
//!
//! # Key decision: our own scanner first, the stack as a backstop
//!
//! The classifier is a byte-level scanner written against RFC 3261's grammar,
//! independent of rsipstack's parser, so it can find defects the stack ignores
//! and can build a response from a message the stack cannot parse. But a
//! message that is fine by the RFC can still trip the stack (`tag = x` with
//! spaces, a From without a tag from an RFC 2543 client, no Content-Length on
//! UDP, a Latin-1 display name). So a message without defects is also run
//! through the stack's own UDP path ([`stack_outcome`]: parse, Via update,
//! transaction key) and must come out with every header and body octet we saw.
//! If it does not, a normalised copy is tried ([`Verdict::Rewrite`]); if the
//! stack still refuses, we answer 400 with the stack's reason. The double parse
//! costs a few microseconds per datagram; silence costs a caller 32 seconds.
//!
//! Defects are ranked the way RFC 3261 section 8.2 orders a UAS's checks, and
//! the first-ranked one decides the response: SIP-Version (505), then syntax
//! (400), method (501), header semantics such as a CSeq/method mismatch (400),
//! Request-URI scheme (416), `Require` (420), body type (415) and `Accept` (406).
//!
//! # Liberal or strict
//!
//! Where RFC 4475 allows a liberal receiver to accept a broken message, this
//! module is strict about everything it or the stack interprets (the
//! Request-Line, the Request-URI, Via, From, To, Contact, Call-ID, CSeq,
//! Content-Length, Max-Forwards, Expires: each parsed by RFC 3261's grammar
//! in `grammar`, tolerating only what RFC 4475 and RFC 5118 call tolerable)
//! and answers 400, and liberal about headers nobody here reads (`Date` with
//! a non-GMT zone passes). Non-UTF-8 bytes in a quoted string are repaired,
//! not rejected: the line is re-encoded as if it were Latin-1, which keeps
//! every original byte recoverable, because rejecting a call for a legacy
//! display name is worse than showing it oddly. A Call-ID with `=` and a host
//! name with `_` are outside the grammar and get 400. A request line with
//! extra or trailing SP, a Request-URI in `<>` or with `?headers`, a
//! three-colon IPv6 reference, an unquoted display name with a comma, spaces
//! inside `<>` and an addr-spec Contact with `?` all get 400 (RFC 4475 allows
//! either; rsipstack would mis-read or drop most of them).
//!
//! # What it won't do
//!
//! It opens no socket, reads no clock and keeps no state: retransmissions of a
//! bad request get byte-identical answers (the To tag is a hash of the request).
//! It does not answer responses, never answers an ACK, and does not decide what
//! the application decides (405 for REGISTER at a softphone, 481 for a BYE
//! outside a dialog, registrar rules): those requests pass. It does not route
//! replies by Via `sent-by`: the caller sends a [`Verdict::Reply`] to the
//! datagram's source address, as RFC 3581 `rport` would. It handles datagrams,
//! not streams: over TCP a short body means "wait for more", not 400.

pub mod digest_spelling;
mod grammar;
mod refuse;
mod repair;
mod reply;
mod rules;
mod scan;
mod socket;
mod stack;

pub use refuse::{RequestFacts, refusal, request_facts};
pub use scan::{
    CSeqSummary, Class, Defect, Field, Header, Kind, MAX_DATAGRAM, MAX_HEADER_FIELDS, Parsed,
    StartLine, Summary, parse_datagram,
};
pub use socket::{
    GuardedUdpSocket, RECV_BUFFER, SentObserver, VerdictObserver, bind_udp, ringing_call_id,
};
pub use stack::{StackOutcome, StackStage, stack_outcome};

use std::fmt;

/// What to do with one inbound datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Hand the original bytes to rsipstack.
    Pass,
    /// Hand these bytes to rsipstack instead of the original: the same message,
    /// normalised so that the stack reads all of it.
    Rewrite(Rewrite),
    /// Send this response to the datagram's source address; the stack gets
    /// nothing.
    Reply(Reply),
    /// Send nothing and give the stack nothing.
    Drop(DropReason),
}

/// A repaired datagram and what was repaired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// The complete datagram to hand to the stack.
    pub bytes: Vec<u8>,
    /// Why the original could not be handed on as it was.
    pub why: String,
}

/// A response built by us, per RFC 3261 section 8.2.6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The status code (400, 415, 416, 420, 501, 505 or 406).
    pub status: u16,
    /// The defect that caused it.
    pub defect: Defect,
    /// The complete response datagram.
    pub bytes: Vec<u8>,
}

/// Why a datagram gets no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropReason {
    /// Larger than [`MAX_DATAGRAM`] octets.
    TooLarge(usize),
    /// The first line is neither a SIP Request-Line nor a Status-Line.
    NotSip(String),
    /// A response with a defect (responses are never answered).
    BadResponse(Defect),
    /// A response the stack cannot read, even repaired.
    StackRefusesResponse(String),
    /// A request whose Via, From, To, Call-ID or CSeq is missing or empty, so
    /// no response can be formed.
    Unanswerable {
        /// The header fields that are missing or empty.
        missing: Vec<&'static str>,
        /// The first-ranked defect, if any beside the missing fields.
        defect: Option<Defect>,
    },
    /// An ACK with a defect, or one the stack cannot read: ACKs get no response
    /// (RFC 3261 section 17.2.1).
    BadAck(String),
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::TooLarge(n) => write!(
                f,
                "datagram of {n} octets is larger than the {MAX_DATAGRAM}-octet limit"
            ),
            DropReason::NotSip(why) => write!(f, "not a SIP message: {why}"),
            DropReason::BadResponse(d) => write!(f, "response dropped: {d}"),
            DropReason::StackRefusesResponse(e) => {
                write!(f, "response dropped: the SIP stack cannot read it: {e}")
            }
            DropReason::Unanswerable { missing, defect } => {
                write!(
                    f,
                    "request cannot be answered: missing {}",
                    missing.join(", ")
                )?;
                if let Some(d) = defect {
                    write!(f, "; also {d}")?;
                }
                Ok(())
            }
            DropReason::BadAck(why) => write!(f, "ACK dropped: {why}"),
        }
    }
}

/// The choices a driver may change. [`Policy::default`] suits both the
/// softphone and the simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Option tags this UA supports; a `Require` naming any other tag gets 420
    /// (RFC 3261 section 8.2.2.3). Compared case-insensitively.
    pub supported: Vec<String>,
    /// Body types accepted in INVITE, UPDATE and PRACK; any other gets 415 with
    /// an `Accept` listing these. Empty disables the check.
    pub session_body_types: Vec<String>,
    /// Answer 406 to an INVITE whose `Accept` excludes `application/sdp`.
    pub reject_inacceptable_accept: bool,
    /// Drop responses with more than one Via value, as a UAC must (RFC 3261
    /// section 8.1.3.3). Set to `false` in a proxy.
    pub discard_multi_via_responses: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            // What rsipstack's dialog layer does itself (reliable provisionals)
            // and what the softphone reads itself (Replaces).
            supported: vec!["100rel".into(), "replaces".into()],
            session_body_types: vec![
                "application/sdp".into(),
                "multipart/mixed".into(),
                "multipart/alternative".into(),
            ],
            reject_inacceptable_accept: true,
            discard_multi_via_responses: true,
        }
    }
}

/// Classifies one inbound UDP datagram with [`Policy::default`].
///
/// Never panics, whatever the bytes; allocates at most a small multiple of the
/// datagram's length.
pub fn check_datagram(bytes: &[u8]) -> Verdict {
    check_datagram_with(bytes, &Policy::default())
}

/// Classifies one inbound UDP datagram.
pub fn check_datagram_with(bytes: &[u8], policy: &Policy) -> Verdict {
    if bytes.len() > MAX_DATAGRAM {
        return Verdict::Drop(DropReason::TooLarge(bytes.len()));
    }
    // Keep-alives (RFC 5626 CRLFCRLF, answered by the stack) and blank datagrams
    // (ignored by the stack).
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Verdict::Pass;
    }
    let mut parsed = parse_datagram(bytes);
    rules::check_policy(&mut parsed, policy);
    decide(bytes, &parsed, policy)
}

fn decide(bytes: &[u8], parsed: &Parsed<'_>, policy: &Policy) -> Verdict {
    let Some(start) = &parsed.start else {
        return Verdict::Drop(DropReason::NotSip(scan::describe_first_line(bytes)));
    };
    match start {
        StartLine::Response { .. } => {
            if let Some(d) = parsed.first_defect() {
                return Verdict::Drop(DropReason::BadResponse(d.clone()));
            }
            match backstop(bytes, parsed) {
                Ok(None) => Verdict::Pass,
                Ok(Some(rewrite)) => Verdict::Rewrite(rewrite),
                Err(e) => Verdict::Drop(DropReason::StackRefusesResponse(e)),
            }
        }
        StartLine::Request { method, .. } => {
            let is_ack = *method == b"ACK";
            let missing = reply::missing_for_reply(parsed);
            if !missing.is_empty() {
                return Verdict::Drop(DropReason::Unanswerable {
                    missing,
                    defect: parsed.first_defect().cloned(),
                });
            }
            if let Some(d) = parsed.first_defect() {
                if is_ack {
                    return Verdict::Drop(DropReason::BadAck(d.to_string()));
                }
                return Verdict::Reply(reply::build(parsed, d, policy));
            }
            match backstop(bytes, parsed) {
                Ok(None) => Verdict::Pass,
                Ok(Some(rewrite)) => Verdict::Rewrite(rewrite),
                Err(e) if is_ack => Verdict::Drop(DropReason::BadAck(format!(
                    "the SIP stack cannot read it: {e}"
                ))),
                Err(e) => {
                    let d = Defect::new(
                        Class::Syntax,
                        format!("the SIP stack cannot read this request: {e}"),
                    );
                    Verdict::Reply(reply::build(parsed, &d, policy))
                }
            }
        }
    }
}

/// Runs the stack's UDP path over a defect-free message. `Ok(None)`: the stack
/// reads all of it as it is. `Ok(Some(_))`: it reads all of a normalised copy.
/// `Err(_)`: it reads neither; the text says why, for the original.
fn backstop(bytes: &[u8], parsed: &Parsed<'_>) -> Result<Option<Rewrite>, String> {
    let original = match stack::fidelity(bytes, parsed) {
        Ok(()) => return Ok(None),
        Err(e) => e,
    };
    let repaired = repair::normalise(parsed);
    let reparsed = parse_datagram(&repaired);
    match stack::fidelity(&repaired, &reparsed) {
        Ok(()) => Ok(Some(Rewrite {
            bytes: repaired,
            why: original,
        })),
        Err(_) => Err(original),
    }
}

#[cfg(test)]
mod tests;
