//! Bad input: garbage datagrams go to the simulator's UDP port and are
//! dropped (an invalid request gets 400) while it keeps serving; wrong
//! credentials get 403/401 and, repeated, a rate limit. (The RFC 4475/5118
//! torture corpus: tests/torture.rs.)

mod common;

use std::time::Duration;

use common::{Phone, sim};
use serde_json::json;
use simulator::tenant::Tenant;
use tokio::net::UdpSocket;

async fn exchange(
    sock: &UdpSocket,
    to: std::net::SocketAddr,
    bytes: &[u8],
    wait_ms: u64,
) -> Option<u16> {
    sock.send_to(bytes, to).await.ok()?;
    let mut buf = vec![0u8; 65_535];
    let deadline = tokio::time::Instant::now() + Duration::from_millis(wait_ms);
    loop {
        let (n, _) = tokio::time::timeout_at(deadline, sock.recv_from(&mut buf))
            .await
            .ok()?
            .ok()?;
        let text = String::from_utf8_lossy(&buf[..n]);
        let code: u16 = text
            .strip_prefix("SIP/2.0 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse().ok())?;
        if code >= 200 {
            return Some(code);
        }
    }
}

// The RFC 4475/5118 corpus is sent to the binary by tests/torture.rs.

#[tokio::test]
async fn garbage_is_dropped_and_the_server_keeps_serving() {
    let s = sim(Tenant::builtin()).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("socket");
    for junk in [
        &b"\x00\x01\x02 not sip at all"[..],
        b"INVITE sip:1910@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\n",
        b"SIP/2.0 200 OK\r\n\r\n",
        &[0xff; 1400][..],
    ] {
        assert_eq!(exchange(&sock, s.sip, junk, 200).await, None);
    }
    // A request the stack would drop gets a 400 from the guard.
    let bad = format!(
        "INVITE sip:1910@{0} SIP/2.0\r\nVia: SIP/2.0/UDP {1};branch=z9hG4bKbad1;rport\r\nMax-Forwards: 70\r\nFrom: <sip:x@{1}>;tag=b1\r\nTo: <sip:1910@{0}>\r\nCall-ID: bad-1\r\nCSeq: 99999999999 INVITE\r\nContent-Length: 0\r\n\r\n",
        s.sip,
        sock.local_addr().expect("addr")
    );
    assert_eq!(
        exchange(&sock, s.sip, bad.as_bytes(), 2000).await,
        Some(400)
    );
    // Still serving: OPTIONS and a registration work.
    let options = format!(
        "OPTIONS sip:{0} SIP/2.0\r\nVia: SIP/2.0/UDP {1};branch=z9hG4bKopt1;rport\r\nMax-Forwards: 70\r\nFrom: <sip:probe@{1}>;tag=p1\r\nTo: <sip:{0}>\r\nCall-ID: probe-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        s.sip,
        sock.local_addr().expect("addr")
    );
    assert_eq!(
        exchange(&sock, s.sip, options.as_bytes(), 2000).await,
        Some(200)
    );
    let p = Phone::start("1910", s.sip).await;
    assert_eq!(p.register(60).await, 200);
    let stats = s.get("/api/stats").await.1;
    assert!(
        stats["inbound_guarded_datagrams"].as_u64().unwrap_or(0) >= 1,
        "{stats}"
    );
}

#[tokio::test]
async fn repeated_wrong_passwords_are_rate_limited() {
    let s = sim(Tenant::builtin()).await;
    let bad = Phone::start_with("1912", "wrong", s.sip, false).await;
    for _ in 0..simulator::registrar::MAX_FAILURES {
        assert_eq!(bad.register(60).await, 403);
    }
    // Now even the right password is refused from this address for a while.
    let good = Phone::start_with("1912", "pw1912", s.sip, false).await;
    assert_eq!(good.register(60).await, 403);
    let ev = s.get("/api/events?kind=register_failed").await.1;
    let reasons: Vec<&str> = ev
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["detail"]["reason"].as_str())
        .collect();
    assert!(reasons.contains(&"rate limited"), "{reasons:?}");
    // Passwords never appear in the API's view of the tenant.
    let t = s.get("/api/tenant").await.1;
    assert_eq!(t["extensions"]["1912"]["password"], "***");
    assert!(!t.to_string().contains("pw1912"));
}

#[tokio::test]
async fn repeated_wrong_operator_passwords_get_401_then_429() {
    let s = sim(Tenant::builtin()).await;
    let login = |pw: &str| json!({"login_id": "op1911", "password": pw, "extension": "1911"});
    for _ in 0..simulator::acd::MAX_LOGIN_FAILURES {
        let (status, v) = s.send("POST", "/api/operators/login", login("wrong")).await;
        assert_eq!(status, 401, "{v}");
        // Not telling apart a wrong ID from a wrong password.
        assert_eq!(v["error"], "login ID 'op1911' or its password is wrong");
    }
    // Now even the right password is refused for a while…
    let (status, v) = s
        .send("POST", "/api/operators/login", login("op-secret"))
        .await;
    assert_eq!(status, 429, "{v}");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("too many failed logins for 'op1911'")),
        "{v}"
    );
    // …for that login ID only.
    let (status, v) = s
        .send(
            "POST",
            "/api/operators/login",
            json!({"login_id": "op1910", "password": "op-secret", "extension": "1910"}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["operator"]["state"], "available");
    // The password is never echoed, and every failure is an event.
    let ev = s.get("/api/events?kind=operator_login_failed").await.1;
    let n = ev.as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(n as u32, simulator::acd::MAX_LOGIN_FAILURES + 1, "{ev}");
    assert!(!ev.to_string().contains("op-secret"), "{ev}");
    assert!(!ev.to_string().contains("wrong\""), "{ev}");
}
