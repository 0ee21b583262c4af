//! Q-1, "the 180 goes first": for every call that rings, its 180 Ringing is on
//! the wire before its CRM popup request starts.
//!
//! One process plays both sides: a raw UDP SIP peer that sends a burst of
//! INVITEs to the real `bbclient`, and the stand-in CRM (a TCP listener).
//! Nothing here looks at a clock. When the CRM has read a popup request's
//! head, it drains the peer's SIP socket (without blocking): the 180 of that
//! request's call must already be there. The softphone sends the 180 (a
//! loopback datagram, queued at the peer when `sendto` returns) before it
//! even opens the connection the request comes on, so with the ordering in
//! place this holds for every call; without it, the requests of a burst
//! race their 180s.
//!
//! The second call rejected busy, retransmissions and internal calls are
//! covered by the features; this test is about order only.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::time::Duration;

use common::{Phone, free_udp_port, scratch};

/// Calls in the burst.
const CALLS: usize = 30;

fn settings(server_port: u16, crm: SocketAddr) -> String {
    // No registrar listens on the server port: calls reach the phone all the
    // same. The popup carries the Call-ID, so each request names its call.
    // The burst rings 30 calls at once: above the default max_ringing.
    format!(
        "[account]\nserver = \"127.0.0.1:{server_port}\"\nuser = \"1910\"\npassword = \"pw1910\"\nlocal_addr = \"127.0.0.1:0\"\n\n\
         [sip]\nmax_ringing = 32\n\n\
         [web]\nskip_internal = false\n\n[web.popup]\nmethod = \"GET\"\nurl = \"http://{crm}/popup\"\nparams = '''\ncid=%CallId%\n'''\n"
    )
}

fn sip_addr(phone: &mut Phone) -> SocketAddr {
    let line = phone.proc.expect_line("(SIP 127.0.0.1:", 10);
    line.split("(SIP ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no SIP address in {line:?}"))
}

fn invite(peer: SocketAddr, call_id: &str, i: usize) -> String {
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    format!(
        "INVITE sip:1910@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {peer};branch=z9hG4bK-order-{i};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:0901000{i:04}@127.0.0.1>;tag=f{i}\r\n\
         To: <sip:1910@127.0.0.1>\r\n\
         P-Called-Party-ID: <sip:0312345678@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@{peer}>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// The status code and Call-ID of a response datagram.
fn status_and_call_id(datagram: &[u8]) -> Option<(u16, String)> {
    let text = String::from_utf8_lossy(datagram);
    let mut lines = text.split("\r\n");
    let status = lines
        .next()?
        .strip_prefix("SIP/2.0 ")?
        .get(..3)?
        .parse()
        .ok()?;
    let call_id = lines.take_while(|l| !l.is_empty()).find_map(|l| {
        let (name, value) = l.split_once(':')?;
        let name = name.trim();
        (name.eq_ignore_ascii_case("call-id") || name.eq_ignore_ascii_case("i"))
            .then(|| value.trim().to_string())
    })?;
    Some((status, call_id))
}

/// Reads every datagram already queued on `sock`; notes the Call-IDs of
/// 180s.
fn drain(sock: &UdpSocket, rang: &mut HashSet<String>) {
    let mut buf = vec![0u8; 65536];
    sock.set_nonblocking(true).expect("non-blocking socket");
    while let Ok((n, _)) = sock.recv_from(&mut buf) {
        if let Some((180, id)) = status_and_call_id(&buf[..n]) {
            rang.insert(id);
        }
    }
    sock.set_nonblocking(false).expect("blocking socket");
}

/// Reads one HTTP request head; returns the Call-ID of its `cid=` parameter.
fn popup_call_id(conn: &mut std::net::TcpStream) -> Option<String> {
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head);
    let target = text.lines().next()?.split(' ').nth(1)?;
    let query = target.split_once('?')?.1;
    query
        .split('&')
        .find_map(|p| p.strip_prefix("cid="))
        .map(|v| v.replace("%40", "@"))
}

#[test]
fn every_calls_180_is_on_the_wire_before_its_crm_request_starts() {
    let dir = scratch("cti-ring-order");
    let crm = TcpListener::bind("127.0.0.1:0").expect("a CRM port");
    let crm_addr = crm.local_addr().expect("CRM address");
    let mut phone = Phone::start(&dir, "ring-order", &settings(free_udp_port(), crm_addr));
    let target = sip_addr(&mut phone);
    let peer = UdpSocket::bind("127.0.0.1:0").expect("a SIP port");
    let peer_addr = peer.local_addr().expect("SIP address");

    let ids: Vec<String> = (0..CALLS).map(|i| format!("order-{i}@test")).collect();
    for (i, id) in ids.iter().enumerate() {
        peer.send_to(invite(peer_addr, id, i).as_bytes(), target)
            .expect("INVITE sent");
    }

    let mut rang = HashSet::new();
    let mut early = Vec::new();
    let mut requested: HashMap<String, usize> = HashMap::new();
    // One request per call; a keep-alive connection may carry several.
    let (tx, rx) = std::sync::mpsc::channel::<std::net::TcpStream>();
    let listener = crm.try_clone().expect("listener clone");
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            if tx.send(conn).is_err() {
                break;
            }
        }
    });
    let (req_tx, req_rx) = std::sync::mpsc::channel::<Option<String>>();
    // Each connection is read on its own thread; a request is checked on
    // this thread, in the order the heads were read.
    // Not a timing assertion: only so that a lost request fails the test
    // instead of hanging it (a burst of 30 takes milliseconds).
    let give_up = std::time::Instant::now() + Duration::from_secs(30);
    let mut seen = 0;
    while seen < CALLS {
        while let Ok(conn) = rx.try_recv() {
            let req_tx = req_tx.clone();
            std::thread::spawn(move || {
                let mut conn = conn;
                loop {
                    let id = popup_call_id(&mut conn);
                    let done = id.is_none();
                    if req_tx.send(id).is_err() || done {
                        break;
                    }
                    let body = "<p>card</p>";
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if conn.write_all(answer.as_bytes()).is_err() {
                        break;
                    }
                }
            });
        }
        match req_rx.recv_timeout(Duration::from_millis(50)) {
            Ok(Some(id)) => {
                // The request's head is read: its call's 180 must be queued
                // at the peer already.
                drain(&peer, &mut rang);
                if !rang.contains(&id) {
                    early.push(id.clone());
                }
                *requested.entry(id).or_default() += 1;
                seen += 1;
            }
            Ok(None) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                assert!(
                    phone.proc.child.try_wait().ok().flatten().is_none(),
                    "bbclient exited"
                );
            }
            Err(e) => panic!("{e}"),
        }
        if seen < CALLS {
            assert!(
                std::time::Instant::now() < give_up,
                "only {} of {CALLS} popup requests arrived: {:?}",
                requested.len(),
                requested.keys().collect::<Vec<_>>()
            );
        }
    }
    drain(&peer, &mut rang);
    assert!(
        early.is_empty(),
        "the CRM request of {} call(s) started before their 180 was on the wire: {early:?}",
        early.len()
    );
    let ids: HashSet<String> = ids.into_iter().collect();
    let got: HashSet<String> = requested.keys().cloned().collect();
    assert_eq!(got, ids, "one popup request per call");
    assert!(
        requested.values().all(|n| *n == 1),
        "a call's popup was requested twice: {requested:?}"
    );
    assert_eq!(rang, ids, "every call rang");
}
