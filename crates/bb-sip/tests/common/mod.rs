//! Properties every verdict must have, shared by the corpus mutations
//! (`torture.rs`) and the arbitrary-bytes proptests (`inbound_props.rs`).

use bb_sip::inbound::{Kind, StackOutcome, Verdict, check_datagram, parse_datagram, stack_outcome};

/// Header fields a reply of ours may carry.
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

/// `Err` says which property `verdict` (for `bytes`) breaks.
pub fn verdict_invariants(bytes: &[u8], verdict: &Verdict) -> Result<(), String> {
    match verdict {
        Verdict::Pass => match stack_outcome(bytes) {
            StackOutcome::Delivered { .. } | StackOutcome::Ignored => Ok(()),
            other => Err(format!("Pass, but the stack gives {other:?}")),
        },
        Verdict::Rewrite(rw) => {
            match stack_outcome(&rw.bytes) {
                StackOutcome::Delivered { .. } => {}
                other => return Err(format!("Rewrite, but the stack gives {other:?} for it")),
            }
            match check_datagram(&rw.bytes) {
                Verdict::Pass => Ok(()),
                other => Err(format!("Rewrite is not stable: the rewrite gets {other:?}")),
            }
        }
        Verdict::Reply(reply) => {
            if !matches!(reply.status, 400 | 406 | 415 | 416 | 420 | 501 | 505) {
                return Err(format!("Reply with status {}", reply.status));
            }
            let head = format!("SIP/2.0 {} ", reply.status);
            if !reply.bytes.starts_with(head.as_bytes())
                || !reply.bytes.ends_with(b"Content-Length: 0\r\n\r\n")
            {
                return Err(format!(
                    "Reply is not framed as a response: {:?}",
                    String::from_utf8_lossy(&reply.bytes)
                ));
            }
            let parsed = parse_datagram(&reply.bytes);
            if parsed.kind() != Some(Kind::Response) {
                return Err("Reply does not parse as a response".into());
            }
            if let Some(f) = parsed.fields.iter().find(|f| {
                !REPLY_FIELDS
                    .iter()
                    .any(|n| f.name.eq_ignore_ascii_case(n.as_bytes()))
            }) {
                return Err(format!(
                    "Reply carries a header field it should not: {:?}",
                    String::from_utf8_lossy(f.name)
                ));
            }
            Ok(())
        }
        Verdict::Drop(_) => Ok(()),
    }
}
