//! Malformed SIP: the RFC 4475/5118 torture corpus (shared fixtures) and
//! garbage go to the simulator's UDP port; invalid requests get a 4xx/5xx,
//! and the simulator keeps serving.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Phone, sim};
use simulator::tenant::Tenant;
use tokio::net::UdpSocket;

fn corpus() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/sip-torture");
    let alt = PathBuf::from("/work/shared/fixtures/sip-torture");
    [dir, alt]
        .into_iter()
        .find(|d| d.join("MANIFEST.tsv").is_file())
}

/// Messages that lack what any response must copy (`insuf` has no Call-ID,
/// From or To): `bb_sip::inbound` drops them, as nothing could match a reply.
const UNANSWERABLE: &[&str] = &["insuf"];

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

#[tokio::test]
async fn torture_requests_are_answered_and_the_server_keeps_serving() {
    let s = sim(Tenant::builtin()).await;
    let Some(dir) = corpus() else {
        panic!("the shared SIP torture corpus is missing (shared/fixtures/sip-torture)");
    };
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("manifest");
    let mut checked = 0;
    let mut failures = Vec::new();
    for line in manifest.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let [file, _, _, name, expected, action, liberal, _, _, kind, ..] = cols[..] else {
            continue;
        };
        let bytes = std::fs::read(dir.join(file)).expect("fixture");
        // A fresh socket per message, so answers cannot be mixed up.
        let sock = UdpSocket::bind("127.0.0.1:0").await.expect("socket");
        let strict = kind == "request"
            && expected == "invalid"
            && liberal == "no"
            && action.starts_with("re")
            && !UNANSWERABLE.contains(&name);
        let wait = if strict {
            2000
        } else if kind == "request" {
            300
        } else {
            0
        };
        let got = exchange(&sock, s.sip, &bytes, wait).await;
        if strict {
            checked += 1;
            match got {
                Some(code) if code >= 400 => {}
                other => failures.push(format!(
                    "{name}: wanted a 4xx/5xx ({action}), got {other:?}"
                )),
            }
        }
    }
    assert!(checked >= 8, "only {checked} strict cases in the manifest");
    assert!(failures.is_empty(), "{failures:#?}");
    // Garbage and a truncated request.
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("socket");
    for junk in [
        &b"\x00\x01\x02 not sip at all"[..],
        b"INVITE sip:1910@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\n",
    ] {
        let _ = exchange(&sock, s.sip, junk, 200).await;
    }
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
        stats["inbound_guarded_datagrams"].as_u64().unwrap_or(0) >= 8,
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
