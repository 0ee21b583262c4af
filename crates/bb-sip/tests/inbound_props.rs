//! Property tests: whatever the bytes, `check_datagram` does not panic and
//! its verdicts keep their promises (a Pass is read whole by rsipstack, a
//! Rewrite is stable, a Reply is a well-formed response with only the fields
//! RFC 3261 section 8.2.6 copies). Needs no corpus: it mutates messages
//! written here.

use bb_sip::inbound::{check_datagram, parse_datagram};
use proptest::prelude::*;

mod common;

const SEEDS: [&str; 4] = [
    "INVITE sip:agent@192.0.2.1 SIP/2.0\r\n\
     Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-1;rport\r\n\
     From: \"Caller\" <sip:0312345678@192.0.2.9>;tag=a1\r\n\
     To: <sip:agent@192.0.2.1>\r\n\
     Call-ID: c1@192.0.2.9\r\n\
     CSeq: 1 INVITE\r\n\
     Max-Forwards: 70\r\n\
     Contact: <sip:0312345678@192.0.2.9:5060>\r\n\
     Content-Type: application/sdp\r\n\
     Content-Length: 12\r\n\r\n\
     v=0\r\ns=-\r\n\r\n",
    "OPTIONS sip:agent@192.0.2.1 SIP/2.0\r\n\
     v: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK-2\r\n\
     f: sip:pbx@192.0.2.9;tag=b2\r\n\
     t: sip:agent@192.0.2.1\r\n\
     i: c2\r\n\
     CSeq: 2 OPTIONS\r\n\
     l: 0\r\n\r\n",
    "SIP/2.0 200 OK\r\n\
     Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-3\r\n\
     From: <sip:agent@192.0.2.1>;tag=c3\r\n\
     To: <sip:pbx@192.0.2.9>;tag=d3\r\n\
     Call-ID: c3\r\n\
     CSeq: 3 REGISTER\r\n\
     Content-Length: 0\r\n\r\n",
    "BYE sip:agent@192.0.2.1 SIP/2.0\r\n\
     Via: SIP/2.0/UDP 192.0.2.9\r\n\
     From: Caller <sip:c@192.0.2.9>\r\n\
     To: sip:agent@192.0.2.1;tag=e4\r\n\
     Call-ID: c4\r\n\
     CSeq: 4 BYE\r\n\r\n",
];

fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (
        0..SEEDS.len(),
        prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..4), 1..8),
    )
        .prop_map(|(seed, edits)| {
            let mut v = SEEDS[seed].as_bytes().to_vec();
            for (pos, byte, op) in edits {
                let at = pos % (v.len() + 1);
                match op {
                    0 if at < v.len() => v[at] = byte,
                    1 => v.insert(at, byte),
                    2 if at < v.len() => {
                        v.remove(at);
                    }
                    _ => v.truncate(at),
                }
            }
            v
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_and_keep_the_promises(bytes in prop::collection::vec(any::<u8>(), 0..1500)) {
        let verdict = check_datagram(&bytes);
        common::verdict_invariants(&bytes, &verdict).map_err(TestCaseError::fail)?;
        let _ = parse_datagram(&bytes).summary();
    }

    #[test]
    fn sip_shaped_text_never_panics(text in "(INVITE|ACK|SIP/2\\.0|[A-Z]{1,8}) [ -~]{0,40} SIP/2\\.0\r\n([A-Za-z-]{1,12} ?: ?[ -~\t]{0,50}\r\n( [ -~]{0,20}\r\n)?){0,10}\r\n[ -~\r\n\x00]{0,100}") {
        let bytes = text.into_bytes();
        let verdict = check_datagram(&bytes);
        common::verdict_invariants(&bytes, &verdict).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn mutated_messages_keep_the_promises(bytes in mutated()) {
        let verdict = check_datagram(&bytes);
        common::verdict_invariants(&bytes, &verdict).map_err(TestCaseError::fail)?;
    }
}
