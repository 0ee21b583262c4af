//! This crate provides the one check every fuzz driver runs on an input:
//! [`check_one`] classifies the bytes with `bb_sip::inbound::check_datagram`
//! and asserts (by panicking) that the verdict keeps its promises.
//!
//! Two drivers call it: the cargo-fuzz target `inbound_datagram` (libFuzzer,
//! nightly) and the `replay` binary (a seeded mutation loop that runs for a
//! bounded time on stable, for CI). See `fuzz/README.md`.
//!
//! The promises checked:
//! - `Pass`: rsipstack's own UDP path (parse, Via update, transaction key)
//!   delivers the bytes, or ignores them as a keep-alive;
//! - `Rewrite`: the stack delivers the rewritten bytes, and `check_datagram`
//!   passes them unchanged (a rewrite is stable);
//! - `Reply`: the response is framed `SIP/2.0 <status> ...` to
//!   `Content-Length: 0`, parses as a response, and carries only the fields
//!   RFC 3261 section 8.2.6 copies (a request cannot inject a header into it).
//!
//! It deliberately does not fail on what rsipstack does with bytes we never
//! hand it: [`stack_panics`] reports that separately, as a finding.

use bb_sip::inbound::{
    Kind, StackOutcome, StackStage, Verdict, check_datagram, parse_datagram, stack_outcome,
};

/// Which verdict an input got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Seen {
    /// `Verdict::Pass`.
    Pass,
    /// `Verdict::Rewrite`.
    Rewrite,
    /// `Verdict::Reply`.
    Reply,
    /// `Verdict::Drop`.
    Drop,
}

const REPLY_FIELDS: [&str; 8] = [
    "Via",
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Unsupported",
    "Accept",
    "Content-Length",
];

/// Classifies `data` and panics if the verdict breaks a promise.
pub fn check_one(data: &[u8]) -> Seen {
    let verdict = check_datagram(data);
    match &verdict {
        Verdict::Pass => {
            let outcome = stack_outcome(data);
            assert!(
                matches!(
                    outcome,
                    StackOutcome::Delivered { .. } | StackOutcome::Ignored
                ),
                "Pass, but rsipstack gives {outcome:?}"
            );
            Seen::Pass
        }
        Verdict::Rewrite(rw) => {
            let outcome = stack_outcome(&rw.bytes);
            assert!(
                matches!(outcome, StackOutcome::Delivered { .. }),
                "Rewrite, but rsipstack gives {outcome:?} for the rewrite"
            );
            let again = check_datagram(&rw.bytes);
            assert_eq!(again, Verdict::Pass, "a Rewrite is not stable");
            Seen::Rewrite
        }
        Verdict::Reply(reply) => {
            let head = format!("SIP/2.0 {} ", reply.status);
            assert!(
                reply.bytes.starts_with(head.as_bytes())
                    && reply.bytes.ends_with(b"Content-Length: 0\r\n\r\n"),
                "Reply is not framed as a response: {:?}",
                String::from_utf8_lossy(&reply.bytes)
            );
            let parsed = parse_datagram(&reply.bytes);
            assert_eq!(
                parsed.kind(),
                Some(Kind::Response),
                "Reply is not a response"
            );
            for f in &parsed.fields {
                assert!(
                    REPLY_FIELDS
                        .iter()
                        .any(|n| f.name.eq_ignore_ascii_case(n.as_bytes())),
                    "Reply carries {:?}",
                    String::from_utf8_lossy(f.name)
                );
            }
            Seen::Reply
        }
        Verdict::Drop(_) => Seen::Drop,
    }
}

/// `Some(message)` when rsipstack's UDP path panics on `data` as it arrives
/// (before our classifier): the real stack's receive task would die. The
/// classifier never passes such input on (a panicking stack run is never a
/// clean delivery), so this is a finding about rsipstack, not a failure here.
pub fn stack_panics(data: &[u8]) -> Option<String> {
    match stack_outcome(data) {
        StackOutcome::Dropped {
            stage: StackStage::Panic,
            error,
        } => Some(error),
        _ => None,
    }
}
