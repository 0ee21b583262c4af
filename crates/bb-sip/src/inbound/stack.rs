//! What rsipstack 0.7.14 does with a datagram on its UDP path, found by running
//! the same steps it runs: `UdpConnection::serve_loop` (keep-alive check,
//! `SipMessage::try_from`, `SipConnection::update_msg_received`) and then
//! `Endpoint::on_received_message` (`TransactionKey::from_request` /
//! `from_response`, plus the ACK dialog id and the response Via count that
//! `on_received_message` computes). A failure at any step means the stack
//! drops the datagram with a log line and no answer; a panic would end its
//! receive task.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use rsipstack::sip::{SipMessage, Transport};
use rsipstack::transaction::key::{TransactionKey, TransactionRole};
use rsipstack::transport::SipConnection;

use super::scan::{Kind, Parsed};

/// The step of the stack's UDP path where a datagram stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackStage {
    /// `SipMessage::try_from(&[u8])`.
    Parse,
    /// Adding `received`/`rport` to the top Via (requests only).
    ViaUpdate,
    /// Building the transaction key (Via branch, From tag, Call-ID, CSeq).
    TransactionKey,
    /// One of the above panicked; the real stack's receive task would die.
    Panic,
}

impl fmt::Display for StackStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StackStage::Parse => "parse",
            StackStage::ViaUpdate => "Via update",
            StackStage::TransactionKey => "transaction key",
            StackStage::Panic => "panic",
        })
    }
}

/// What the stack's UDP path does with one datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackOutcome {
    /// A keep-alive or blank datagram: answered with CRLF or ignored.
    Ignored,
    /// Handed to the transaction layer.
    Delivered {
        /// Request or response.
        kind: Kind,
        /// The method or status code as the stack renders it.
        method_or_status: String,
        /// The Call-ID value the stack read, if any.
        call_id: Option<String>,
        /// The CSeq value the stack read, if any.
        cseq: Option<String>,
        /// How many header fields the stack read.
        headers: usize,
        /// How many body octets the stack kept.
        body: usize,
    },
    /// Dropped without an answer.
    Dropped {
        /// Where.
        stage: StackStage,
        /// The stack's error text.
        error: String,
    },
}

/// Runs the stack's UDP receive steps over `bytes`. A panic inside rsipstack is
/// caught and reported as [`StackStage::Panic`].
pub fn stack_outcome(bytes: &[u8]) -> StackOutcome {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return StackOutcome::Ignored;
    }
    match catch_unwind(AssertUnwindSafe(|| run(bytes))) {
        Ok(outcome) => outcome,
        Err(payload) => {
            let error = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic without a message".into());
            StackOutcome::Dropped {
                stage: StackStage::Panic,
                error,
            }
        }
    }
}

fn run(bytes: &[u8]) -> StackOutcome {
    use rsipstack::sip::prelude::{HasHeaders, HeadersExt};
    let dropped = |stage, error: &dyn fmt::Display| StackOutcome::Dropped {
        stage,
        error: error.to_string(),
    };
    let msg = match SipMessage::try_from(bytes) {
        Ok(m) => m,
        Err(e) => return dropped(StackStage::Parse, &e),
    };
    let source = std::net::SocketAddr::from(([192, 0, 2, 1], 5060));
    let msg = match SipConnection::update_msg_received(msg, source, Transport::Udp) {
        Ok(m) => m,
        Err(e) => return dropped(StackStage::ViaUpdate, &e),
    };
    let (kind, method_or_status, key) = match &msg {
        SipMessage::Request(r) => (
            Kind::Request,
            r.method.to_string(),
            TransactionKey::from_request(r, TransactionRole::Server),
        ),
        SipMessage::Response(r) => (
            Kind::Response,
            r.status_code.code().to_string(),
            TransactionKey::from_response(r, TransactionRole::Client),
        ),
    };
    if let Err(e) = key {
        return dropped(StackStage::TransactionKey, &e);
    }
    // Also on the receive path, and only evaluated, never decisive for a
    // delivery: an ACK's dialog id, and a response's Via count (checked when
    // the response matches a finished transaction). Run here so that a panic
    // in either is caught before the real stack meets the datagram.
    match &msg {
        SipMessage::Request(r) if r.method == rsipstack::sip::Method::Ack => {
            let _ = rsipstack::dialog::DialogId::try_from((r, TransactionRole::Server));
        }
        SipMessage::Response(r) => {
            let _ = r.has_multiple_vias();
        }
        SipMessage::Request(_) => {}
    }
    let (headers, body, call_id, cseq) = match &msg {
        SipMessage::Request(r) => (
            r.headers().iter().count(),
            r.body.len(),
            r.call_id_header().ok().map(|h| h.value().to_string()),
            r.cseq_header().ok().map(|h| h.value().to_string()),
        ),
        SipMessage::Response(r) => (
            r.headers().iter().count(),
            r.body.len(),
            r.call_id_header().ok().map(|h| h.value().to_string()),
            r.cseq_header().ok().map(|h| h.value().to_string()),
        ),
    };
    StackOutcome::Delivered {
        kind,
        method_or_status,
        call_id,
        cseq,
        headers,
        body,
    }
}

/// `Ok` when the stack delivers the message with every header field and body
/// octet that [`parse_datagram`](super::parse_datagram) found; otherwise what
/// it loses or where it stops.
pub(crate) fn fidelity(bytes: &[u8], parsed: &Parsed<'_>) -> Result<(), String> {
    match stack_outcome(bytes) {
        StackOutcome::Ignored => Err("the SIP stack ignores it as a keep-alive".into()),
        StackOutcome::Dropped { stage, error } => Err(format!("{stage}: {error}")),
        StackOutcome::Delivered {
            kind,
            headers,
            body,
            ..
        } => {
            if Some(kind) != parsed.kind() {
                return Err(format!("the SIP stack reads it as a {kind:?}"));
            }
            if headers != parsed.fields.len() {
                return Err(format!(
                    "the SIP stack reads {headers} of {} header fields",
                    parsed.fields.len()
                ));
            }
            if body != parsed.body.len() {
                return Err(format!(
                    "the SIP stack keeps {body} of {} body octets",
                    parsed.body.len()
                ));
            }
            Ok(())
        }
    }
}
