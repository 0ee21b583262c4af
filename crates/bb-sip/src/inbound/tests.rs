//! Unit tests on hand-written messages; the RFC 4475/5118 corpus is in
//! `tests/torture.rs`.

use std::sync::{Arc, Mutex};

use super::*;

/// An OPTIONS with `extra` header lines inserted before Content-Length and
/// `line` as the Request-Line.
fn options_with(line: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "{line}\r\n\
         Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-a\r\n\
         Via: SIP/2.0/UDP 192.0.2.8;branch=z9hG4bK-b\r\n\
         From: \"PBX\" <sip:pbx@192.0.2.9>;tag=f1\r\n\
         To: <sip:agent@192.0.2.1>\r\n\
         Call-ID: u1@192.0.2.9\r\n\
         CSeq: 7 OPTIONS\r\n\
         {extra}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn options(extra: &str) -> Vec<u8> {
    options_with("OPTIONS sip:agent@192.0.2.1 SIP/2.0", extra, "")
}

fn reply(v: Verdict) -> Reply {
    match v {
        Verdict::Reply(r) => r,
        other => panic!("expected a reply, got {other:?}"),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_clean_request_passes() {
    assert_eq!(check_datagram(&options("")), Verdict::Pass);
}

#[test]
fn a_reply_copies_the_request_as_rfc_3261_8_2_6_says() {
    let bytes = options("Max-Forwards: 300\r\n");
    let r = reply(check_datagram(&bytes));
    assert_eq!(r.status, 400);
    let t = text(&r.bytes);
    let lines: Vec<&str> = t.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "SIP/2.0 400 Bad Request: Max-Forwards on line 8: expected an integer from 0 to 255 \
         (1*DIGIT), found '300'"
    );
    assert_eq!(lines[1], "Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-a");
    assert_eq!(lines[2], "Via: SIP/2.0/UDP 192.0.2.8;branch=z9hG4bK-b");
    assert_eq!(lines[3], "From: \"PBX\" <sip:pbx@192.0.2.9>;tag=f1");
    assert!(
        lines[4].starts_with("To: <sip:agent@192.0.2.1>;tag=bb"),
        "{t}"
    );
    assert_eq!(lines[5], "Call-ID: u1@192.0.2.9");
    assert_eq!(lines[6], "CSeq: 7 OPTIONS");
    assert_eq!(lines[7], "Content-Length: 0");
    assert_eq!(&lines[8..], ["", ""]);
    // Stateless but stable: a retransmission gets the same bytes.
    assert_eq!(reply(check_datagram(&bytes)).bytes, r.bytes);
}

#[test]
fn a_to_tag_that_is_there_is_kept() {
    let bytes = options_with(
        "OPTIONS sip:agent@192.0.2.1 SIP/2.0",
        "Require: timer\r\n",
        "",
    );
    let bytes = text(&bytes).replace(
        "To: <sip:agent@192.0.2.1>",
        "To: <sip:agent@192.0.2.1>;tag=mine",
    );
    let t = text(&reply(check_datagram(bytes.as_bytes())).bytes);
    assert!(
        t.contains("\r\nTo: <sip:agent@192.0.2.1>;tag=mine\r\n"),
        "{t}"
    );
    assert!(t.contains("\r\nUnsupported: timer\r\n"), "{t}");
}

#[test]
fn each_defect_class_gets_its_status() {
    let cases: [(Vec<u8>, u16); 10] = [
        (
            options_with("OPTIONS sip:agent@192.0.2.1 SIP/3.0", "", ""),
            505,
        ),
        (
            options_with("FROB sip:agent@192.0.2.1 SIP/2.0", "", ""),
            501,
        ),
        // Method names are case-sensitive; rsipstack would read this as OPTIONS.
        (
            options_with("options sip:agent@192.0.2.1 SIP/2.0", "", ""),
            501,
        ),
        (options_with("OPTIONS mailto:a@b SIP/2.0", "", ""), 416),
        (options("Require: 100rel, foo\r\n"), 420),
        (
            options_with(
                "OPTIONS sip:agent@192.0.2.1 SIP/2.0",
                "CSeq: 8 OPTIONS\r\n",
                "",
            ),
            400,
        ),
        (
            options_with("OPTIONS sip:agent@[::1:5060 SIP/2.0", "", ""),
            400,
        ),
        (options("Call-ID: second\r\n"), 400),
        (
            options_with("OPTIONS sip:agent@192.0.2.1 SIP/2.0", "", "hello"),
            400, // a body without Content-Type
        ),
        (options("Contact: <sip:a@b>;;x\r\n"), 400),
    ];
    for (bytes, status) in cases {
        let v = check_datagram(&bytes);
        assert!(
            matches!(&v, Verdict::Reply(r) if r.status == status),
            "{}\n=> {v:?}",
            text(&bytes)
        );
    }
}

#[test]
fn version_ranks_before_syntax_and_method_before_cseq_mismatch() {
    let bytes = options_with("OPTIONS  sip:agent@192.0.2.1 SIP/7.0", "", "");
    assert_eq!(reply(check_datagram(&bytes)).status, 505);
    let bytes = text(&options_with("FROB sip:agent@192.0.2.1 SIP/2.0", "", ""))
        .replace("CSeq: 7 OPTIONS", "CSeq: 7 INVITE");
    assert_eq!(reply(check_datagram(bytes.as_bytes())).status, 501);
}

#[test]
fn invite_body_type_and_accept_follow_the_policy() {
    let invite = |ct: &str, accept: &str| {
        options_with(
            "INVITE sip:agent@192.0.2.1 SIP/2.0",
            &format!("Content-Type: {ct}\r\n{accept}"),
            "v=0\r\n",
        )
        .to_vec()
    };
    let fix = |b: Vec<u8>| text(&b).replace("CSeq: 7 OPTIONS", "CSeq: 7 INVITE");
    let r = reply(check_datagram(fix(invite("text/plain", "")).as_bytes()));
    assert_eq!(r.status, 415);
    assert!(
        text(&r.bytes)
            .contains("\r\nAccept: application/sdp, multipart/mixed, multipart/alternative\r\n")
    );
    let ok = fix(invite(
        "application/SDP; charset=x",
        "Accept: application/*\r\n",
    ));
    assert_eq!(check_datagram(ok.as_bytes()), Verdict::Pass);
    let no = fix(invite("application/sdp", "Accept: text/plain\r\n"));
    assert_eq!(reply(check_datagram(no.as_bytes())).status, 406);
    let policy = Policy {
        reject_inacceptable_accept: false,
        ..Policy::default()
    };
    assert_eq!(check_datagram_with(no.as_bytes(), &policy), Verdict::Pass);
}

#[test]
fn ack_and_unanswerable_requests_are_dropped() {
    let ack = options_with("ACK sip:agent@192.0.2.1 SIP/2.0", "Max-Forwards: x\r\n", "");
    let ack = text(&ack).replace("CSeq: 7 OPTIONS", "CSeq: 7 ACK");
    assert!(matches!(
        check_datagram(ack.as_bytes()),
        Verdict::Drop(DropReason::BadAck(_))
    ));
    let no_call_id =
        text(&options("Content-Length: x\r\n")).replace("Call-ID: u1@192.0.2.9\r\n", "");
    match check_datagram(no_call_id.as_bytes()) {
        Verdict::Drop(DropReason::Unanswerable { missing, defect }) => {
            assert_eq!(missing, ["Call-ID"]);
            assert!(defect.is_some());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn responses_are_passed_or_dropped_never_answered() {
    let ok = b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-r\r\n\
               From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: r1\r\n\
               CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(check_datagram(ok), Verdict::Pass);
    let two_vias = text(ok).replace(
        "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-r",
        "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-r, SIP/2.0/UDP 192.0.2.7",
    );
    assert!(matches!(
        check_datagram(two_vias.as_bytes()),
        Verdict::Drop(DropReason::BadResponse(_))
    ));
    let proxy = Policy {
        discard_multi_via_responses: false,
        ..Policy::default()
    };
    assert_eq!(
        check_datagram_with(two_vias.as_bytes(), &proxy),
        Verdict::Pass
    );
    let big = text(ok).replace("180 Ringing", "1800 Ringing");
    assert!(matches!(
        check_datagram(big.as_bytes()),
        Verdict::Drop(DropReason::BadResponse(_))
    ));
}

#[test]
fn keepalives_pass_and_junk_is_dropped() {
    assert_eq!(check_datagram(b"\r\n\r\n"), Verdict::Pass);
    assert_eq!(check_datagram(b""), Verdict::Pass);
    for junk in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"\x00\x01\x00\x08\x21\x12\xa4\x42", // a STUN header
        b"SIP",
    ] {
        assert!(matches!(check_datagram(junk), Verdict::Drop(_)), "{junk:?}");
    }
    let huge = vec![b'a'; MAX_DATAGRAM + 1];
    assert_eq!(
        check_datagram(&huge),
        Verdict::Drop(DropReason::TooLarge(MAX_DATAGRAM + 1))
    );
}

#[test]
fn a_latin1_display_name_is_repaired_not_rejected() {
    let mut bytes = options("");
    let at = text(&bytes).find("\"PBX\"").unwrap_or_default() + 2;
    bytes[at] = 0xE9; // "PéX" in Latin-1
    // The stack alone stops reading headers at the From line.
    let alone = stack_outcome(&bytes);
    assert!(
        matches!(alone, StackOutcome::Delivered { headers, .. } if headers < 7)
            || matches!(alone, StackOutcome::Dropped { .. }),
        "{alone:?}"
    );
    let Verdict::Rewrite(rw) = check_datagram(&bytes) else {
        panic!("expected a rewrite");
    };
    assert!(text(&rw.bytes).contains("From: \"P\u{e9}X\" <sip:pbx@192.0.2.9>;tag=f1\r\n"));
    assert!(matches!(
        stack_outcome(&rw.bytes),
        StackOutcome::Delivered { headers: 7, .. }
    ));
}

#[test]
fn a_udp_body_without_content_length_is_kept() {
    let bytes = b"MESSAGE sip:agent@192.0.2.1 SIP/2.0\r\n\
                  Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK-m\r\n\
                  From: <sip:pbx@192.0.2.9>;tag=m1\r\nTo: <sip:agent@192.0.2.1>\r\n\
                  Call-ID: m1\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n\r\n\
                  hi\x00there";
    let Verdict::Rewrite(rw) = check_datagram(bytes) else {
        panic!("expected a rewrite");
    };
    assert!(rw.bytes.ends_with(b"Content-Length: 8\r\n\r\nhi\x00there"));
}

#[test]
fn a_binary_body_is_framed_by_content_length_and_the_tail_ignored() {
    let body = b"\x00\x01\n\xff\r\n";
    let mut bytes = options_with(
        "MESSAGE sip:agent@192.0.2.1 SIP/2.0",
        "Content-Type: application/octet-stream\r\n",
        "",
    );
    let head = text(&bytes)
        .replace("CSeq: 7 OPTIONS", "CSeq: 7 MESSAGE")
        .replace("Content-Length: 0", "Content-Length: 6");
    bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes.extend_from_slice(b"INVITE sip:x SIP/2.0\r\n");
    let p = parse_datagram(&bytes);
    assert_eq!(p.body, body);
    assert_eq!(p.ignored_tail, b"INVITE sip:x SIP/2.0\r\n");
    assert!(p.defects().is_empty(), "{:?}", p.defects());
    assert_eq!(check_datagram(&bytes), Verdict::Pass);
}

#[test]
fn folding_compact_names_and_leading_zeros_are_read() {
    let bytes = b"OPTIONS sip:agent@192.0.2.1 SIP/2.0\r\n\
                  v: SIP / 2.0 / UDP\r\n 192.0.2.9 ; branch = z9hG4bK-f\r\n\
                  f: <sip:pbx@192.0.2.9>\r\n ;tag=f9\r\nt: sip:agent@192.0.2.1\r\n\
                  i: fold1\r\ncseq: 007\r\n\tOPTIONS\r\nl: 0\r\n\r\n";
    let p = parse_datagram(bytes);
    assert!(p.defects().is_empty(), "{:?}", p.defects());
    let s = p.summary().unwrap_or_else(|| panic!("no summary"));
    assert_eq!(s.call_ids, ["fold1"]);
    assert_eq!(s.cseqs[0].number, "7");
    assert_eq!(s.cseqs[0].method, "OPTIONS");
    // rsipstack cannot read "branch = x" or "tag" after a fold: repaired.
    let v = check_datagram(bytes);
    assert!(matches!(v, Verdict::Pass | Verdict::Rewrite(_)), "{v:?}");
}

#[test]
fn what_rsipstack_misreads_in_valid_vias_and_addr_specs_is_repaired() {
    // RFC 3261 COLON allows SWS around the sent-by ':'; an '@' or '<' in a
    // quoted header parameter of an addr-spec From is not part of its URI
    // (section 20.10). rsipstack 0.7.14 cannot read either as written.
    let fixed = text(&options(""))
        .replace("192.0.2.9:5060;branch", "192.0.2.9 :\t5060;branch")
        .replace(
            "From: \"PBX\" <sip:pbx@192.0.2.9>;tag=f1",
            "From: sip:pbx@192.0.2.9;tag=f1;x=\"a@b<c\"",
        );
    assert!(parse_datagram(fixed.as_bytes()).defects().is_empty());
    let Verdict::Rewrite(rw) = check_datagram(fixed.as_bytes()) else {
        panic!("expected a rewrite");
    };
    let t = text(&rw.bytes);
    assert!(
        t.contains("\r\nVia: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-a\r\n"),
        "{t}"
    );
    assert!(
        t.contains("\r\nFrom: <sip:pbx@192.0.2.9>;tag=f1;x=\"a@b<c\"\r\n"),
        "{t}"
    );
    // A name-addr, and an addr-spec without quoted parameters, stay as they are.
    let plain = text(&options("")).replace(
        "To: <sip:agent@192.0.2.1>",
        "To: sip:agent@192.0.2.1;user=phone",
    );
    let repaired = text(&repair::normalise(&parse_datagram(plain.as_bytes())));
    assert!(
        repaired.contains("\r\nTo: sip:agent@192.0.2.1;user=phone\r\n"),
        "{repaired}"
    );
    assert!(
        repaired.contains("\r\nFrom: \"PBX\" <sip:pbx@192.0.2.9>;tag=f1\r\n"),
        "{repaired}"
    );
}

#[test]
fn the_reason_phrase_escapes_what_rfc_3261_does_not_allow() {
    let p = reply::reason_phrase(400, "To 'a\"b<c>' has 100% of %41 \u{e9}\u{7}");
    assert_eq!(
        text(&p),
        "Bad Request: To 'a%22b%3Cc%3E' has 100%25 of %41 \u{e9}%07"
    );
    let long = reply::reason_phrase(400, &"x".repeat(1000));
    assert!(long.len() <= 203 && long.ends_with(b"..."));
}

#[test]
fn a_stray_cr_in_a_copied_value_cannot_start_a_header() {
    let bytes = text(&options("")).replace("Call-ID: u1@192.0.2.9", "Call-ID: u1\rX-Evil: 1");
    let r = reply(check_datagram(bytes.as_bytes()));
    assert!(!text(&r.bytes).contains("\r\nX-Evil"), "{}", text(&r.bytes));
}

#[test]
fn leading_crlfs_are_ignored() {
    let mut bytes = b"\r\n\r\n".to_vec();
    bytes.extend_from_slice(&options(""));
    let v = check_datagram(&bytes);
    assert!(matches!(v, Verdict::Rewrite(_)), "{v:?}");
}

/// An in-memory socket: `recv_from` pops queued datagrams, `send_to` records.
#[derive(Default)]
struct FakeSocket {
    inbox: Mutex<Vec<Vec<u8>>>,
    sent: Mutex<Vec<(Vec<u8>, std::net::SocketAddr)>>,
}

const PEER: ([u8; 4], u16) = ([192, 0, 2, 9], 5060);

#[async_trait::async_trait]
impl rsipstack::platform::net::UdpSocket for FakeSocket {
    async fn recv_from(&self, buf: &mut [u8]) -> rsipstack::Result<(usize, std::net::SocketAddr)> {
        let next = self.inbox.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match next {
            Some(d) => {
                let n = d.len().min(buf.len());
                buf[..n].copy_from_slice(&d[..n]);
                Ok((n, PEER.into()))
            }
            None => Err(rsipstack::Error::Error("inbox empty".into())),
        }
    }
    async fn send_to(&self, buf: &[u8], addr: std::net::SocketAddr) -> rsipstack::Result<usize> {
        self.sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((buf.to_vec(), addr));
        Ok(buf.len())
    }
    fn local_addr(&self) -> rsipstack::Result<std::net::SocketAddr> {
        Ok(([192, 0, 2, 1], 5060).into())
    }
}

#[tokio::test]
async fn the_guarded_socket_answers_repairs_drops_and_passes() {
    use rsipstack::platform::net::UdpSocket as _;
    let fake = Arc::new(FakeSocket::default());
    let good = options("");
    let bad = options("Max-Forwards: 300\r\n");
    let no_tag = text(&options("")).replace(";tag=f1", "").into_bytes();
    // Popped from the end: junk, bad, good, no_tag.
    *fake.inbox.lock().unwrap_or_else(|p| p.into_inner()) =
        vec![no_tag.clone(), good.clone(), bad, b"junk".to_vec()];
    let seen: Arc<Mutex<Vec<u16>>> = Arc::default();
    let log = seen.clone();
    let guard = GuardedUdpSocket::new(fake.clone()).with_observer(Arc::new(move |_, v| {
        let code = match v {
            Verdict::Reply(r) => r.status,
            Verdict::Drop(_) => 0,
            Verdict::Rewrite(_) => 1,
            Verdict::Pass => 2,
        };
        log.lock().unwrap_or_else(|p| p.into_inner()).push(code);
    }));
    let mut buf = vec![0u8; 8192];
    let (n, from) = guard
        .recv_from(&mut buf)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(&buf[..n], &good[..]);
    assert_eq!(from, PEER.into());
    let sent = fake.sent.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].0.starts_with(b"SIP/2.0 400 "));
    assert_eq!(sent[0].1, PEER.into());
    let (n, _) = guard
        .recv_from(&mut buf)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        text(&buf[..n]).contains(";tag=bb2543"),
        "{}",
        text(&buf[..n])
    );
    // A repaired copy that does not fit the stack's buffer is dropped.
    *fake.inbox.lock().unwrap_or_else(|p| p.into_inner()) = vec![no_tag.clone()];
    let mut small = vec![0u8; no_tag.len()];
    assert!(guard.recv_from(&mut small).await.is_err()); // inbox empty after the drop
    assert_eq!(
        *seen.lock().unwrap_or_else(|p| p.into_inner()),
        [0, 400, 1, 1]
    );
}

#[test]
fn oddities_outside_rfc_3261s_grammar_are_refused_and_name_their_header() {
    // '_' is not in a host name and '=' not in a Call-ID word; RFC 4475 names
    // neither as tolerable. (The corpus's own base64 Call-ID, mpart01, uses
    // '.' for padding.)
    let cases = [
        (
            text(&options_with(
                "OPTIONS sip:agent@pbx_1.local:5060 SIP/2.0",
                "",
                "",
            )),
            "Request-URI 'sip:agent@pbx_1.local:5060': expected a host name",
        ),
        (
            text(&options("")).replace("Call-ID: u1@192.0.2.9", "Call-ID: ZjE2MmRiYjk=@pbx"),
            "Call-ID on line 6: expected Call-ID characters",
        ),
        (
            text(&options("")).replace("192.0.2.8;branch", "media_gw.local;branch"),
            "Via on line 3: expected a host name, IPv4 address or [IPv6] reference, \
             found 'media_gw.local'",
        ),
        (
            text(&options("")).replace("Call-ID: u1@192.0.2.9", "Call-ID: u1 @192.0.2.9"),
            "Call-ID on line 6: expected Call-ID characters (word [\"@\" word]), found ' @192.0.2.9'",
        ),
    ];
    for (bytes, want) in cases {
        let r = reply(check_datagram(bytes.as_bytes()));
        assert_eq!(r.status, 400, "{bytes}");
        assert!(
            r.defect.text.starts_with(want),
            "{}\n{bytes}",
            r.defect.text
        );
    }
}

#[test]
fn the_call_id_of_a_180_is_found_and_nothing_else_matches() {
    let ringing = "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK-a\r\nTo: <sip:a@b>;tag=x\r\nCall-ID:  abc@h \r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(ringing_call_id(ringing.as_bytes()), Some("abc@h"));
    let compact = ringing.replace("Call-ID:", "i:");
    assert_eq!(ringing_call_id(compact.as_bytes()), Some("abc@h"));
    let lower = ringing.replace("Call-ID:", "call-id:");
    assert_eq!(ringing_call_id(lower.as_bytes()), Some("abc@h"));
    // Other responses and requests, a Call-ID only in the body, junk.
    assert_eq!(
        ringing_call_id(
            ringing
                .replace("180 Ringing", "183 Session Progress")
                .as_bytes()
        ),
        None
    );
    assert_eq!(ringing_call_id(&options("")), None);
    let in_body = "SIP/2.0 180 Ringing\r\nCSeq: 1 INVITE\r\n\r\nCall-ID: body@h\r\n";
    assert_eq!(ringing_call_id(in_body.as_bytes()), None);
    assert_eq!(ringing_call_id(b"SIP/2.0 180 \xff\xfe"), None);
    assert_eq!(ringing_call_id(b""), None);
}

#[tokio::test]
async fn the_sent_observer_sees_what_the_stack_sent_after_it_went_out() {
    use rsipstack::platform::net::UdpSocket as _;
    let fake = Arc::new(FakeSocket::default());
    // (datagram, how many the inner socket had taken when we were told)
    type Seen = Arc<Mutex<Vec<(Vec<u8>, usize)>>>;
    let seen: Seen = Arc::default();
    let (log, inner) = (seen.clone(), fake.clone());
    let guard = GuardedUdpSocket::new(fake.clone()).with_sent_observer(Arc::new(move |bytes| {
        // How many datagrams the inner socket had taken when we were told.
        let on_wire = inner.sent.lock().unwrap_or_else(|p| p.into_inner()).len();
        log.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((bytes.to_vec(), on_wire));
    }));
    let ringing = b"SIP/2.0 180 Ringing\r\nCall-ID: c1@h\r\nCSeq: 1 INVITE\r\n\r\n";
    guard
        .send_to(ringing, PEER.into())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let seen = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert_eq!(seen, vec![(ringing.to_vec(), 1)]);
}
