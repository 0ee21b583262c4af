//! The simulator as a server under attack, over real loopback sockets: a
//! captured REGISTER replayed with another Contact, a digest made for another
//! Request-URI, garbage `Authorization` headers sent in another desk's name
//! to lock it out, and web pages driving the control API (cross-origin
//! requests, DNS rebinding, TOML bodies). Each test shows the attack and the
//! sign that it failed. The sans-IO parts (nonce counts, table bounds under
//! 100k failures, URI comparison, Host/Origin rules) are unit-tested in
//! `src/registrar.rs` and `src/api.rs`.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::{Phone, Sim, sim};
use serde_json::{Value, json};
use simulator::tenant::Tenant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;

/// A final response: status and the raw text.
struct Answer {
    code: u16,
    text: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Waits for the final response on any of `socks` (a guard of 5 s, not a
/// timing assertion: no answer at all is a failure).
async fn final_response(socks: &[&UdpSocket]) -> Answer {
    let mut buf = vec![0u8; 65_535];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let recv = async {
            if let [one] = socks {
                one.recv_from(&mut buf).await.map(|(n, _)| n)
            } else {
                let (a, b) = (socks[0], socks[1]);
                let mut other = vec![0u8; 65_535];
                tokio::select! {
                    r = a.recv_from(&mut buf) => r.map(|(n, _)| n),
                    r = b.recv_from(&mut other) => r.map(|(n, _)| {
                        buf[..n].copy_from_slice(&other[..n]);
                        n
                    }),
                }
            }
        };
        let n = tokio::time::timeout_at(deadline, recv)
            .await
            .expect("an answer from the simulator within 5 s")
            .expect("recv");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let code: u16 = text
            .strip_prefix("SIP/2.0 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        if code >= 200 {
            return Answer { code, text };
        }
    }
}

/// A REGISTER for `ext` with `contact`, from a socket whose Via says `via`.
fn register(
    server: SocketAddr,
    via: &str,
    ext: &str,
    contact: &str,
    cseq: u32,
    auth: Option<&str>,
) -> String {
    let branch: u64 = rand::random();
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!(
        "REGISTER sip:{server} SIP/2.0\r\nVia: SIP/2.0/UDP {via};branch=z9hG4bK{branch:x}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:{ext}@{server}>;tag=r{cseq}\r\nTo: <sip:{ext}@{server}>\r\n\
         Call-ID: reg-{ext}-{branch:x}\r\nCSeq: {cseq} REGISTER\r\nContact: <{contact}>\r\nExpires: 300\r\n\
         {auth}Content-Length: 0\r\n\r\n"
    )
}

/// A parameter of a challenge.
fn param(www: &str, name: &str) -> Option<String> {
    let i = www.find(&format!("{name}="))? + name.len() + 1;
    let rest = &www[i..];
    Some(match rest.strip_prefix('"') {
        Some(q) => q.split('"').next()?.to_string(),
        None => rest.split(',').next()?.trim().to_string(),
    })
}

/// An MD5 `qop=auth` answer to `www` made for `uri`.
fn digest(www: &str, ext: &str, password: &str, uri: &str, nc: &str) -> String {
    let realm = param(www, "realm").expect("realm");
    let nonce = param(www, "nonce").expect("nonce");
    let response = bb_sip::digest::response(
        bb_sip::digest::Algorithm::Md5,
        ext,
        &realm,
        password,
        "REGISTER",
        uri,
        &nonce,
        Some((nc, "raw-cnonce")),
    );
    format!(
        "Digest username=\"{ext}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm=MD5, qop=auth, nc={nc}, cnonce=\"raw-cnonce\""
    )
}

fn md5_tenant() -> Tenant {
    let mut t = Tenant::builtin();
    t.sip.auth_algorithms = vec!["MD5".into()];
    t
}

/// The contacts the simulator lists for `ext`.
async fn contacts(s: &Sim, ext: &str) -> Vec<String> {
    let (_, regs) = s.get("/api/registrations").await;
    regs.as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["extension"] == ext)
        .flat_map(|r| r["contacts"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["contact"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn a_replayed_register_with_another_contact_is_refused_and_the_binding_stays() {
    let s = sim(md5_tenant()).await;
    let desk = UdpSocket::bind("127.0.0.1:0").await.expect("socket");
    let me = desk.local_addr().expect("addr");
    let contact = format!("sip:1910@{me}");
    let uri = format!("sip:{}", s.sip);
    desk.send_to(
        register(s.sip, &me.to_string(), "1910", &contact, 1, None).as_bytes(),
        s.sip,
    )
    .await
    .expect("send");
    let challenge = final_response(&[&desk]).await;
    assert_eq!(challenge.code, 401, "{}", challenge.text);
    let www = challenge.header("WWW-Authenticate").expect("a challenge");
    let auth = digest(www, "1910", "pw1910", &uri, "00000001");
    let ok = register(s.sip, &me.to_string(), "1910", &contact, 2, Some(&auth));
    desk.send_to(ok.as_bytes(), s.sip).await.expect("send");
    let ok = final_response(&[&desk]).await;
    assert_eq!(ok.code, 200, "{}", ok.text);
    assert_eq!(contacts(&s, "1910").await, vec![contact.clone()]);

    // The attacker captured that REGISTER and sends it again, from the same
    // address (behind the same NAT, or spoofed), with its own Contact.
    let attacker = UdpSocket::bind("127.0.0.1:0").await.expect("socket");
    let evil = attacker.local_addr().expect("addr");
    let replay = register(
        s.sip,
        &evil.to_string(),
        "1910",
        &format!("sip:1910@{evil}"),
        3,
        Some(&auth),
    );
    attacker
        .send_to(replay.as_bytes(), s.sip)
        .await
        .expect("send");
    let refused = final_response(&[&attacker]).await;
    assert_eq!(refused.code, 401, "replay accepted: {}", refused.text);
    assert!(
        refused
            .header("WWW-Authenticate")
            .is_some_and(|w| w.contains("stale=true")),
        "{}",
        refused.text
    );
    assert_eq!(contacts(&s, "1910").await, vec![contact.clone()]);

    // A digest made for another Request-URI (here an INVITE's) is refused
    // with 403 and a Warning, even with a fresh nonce and the right password.
    attacker
        .send_to(
            register(s.sip, &evil.to_string(), "1910", &contact, 4, None).as_bytes(),
            s.sip,
        )
        .await
        .expect("send");
    let fresh = final_response(&[&attacker]).await;
    let www = fresh.header("WWW-Authenticate").expect("a challenge");
    let other_uri = format!("sip:1303@{}", s.sip);
    let wrong_uri = digest(www, "1910", "pw1910", &other_uri, "00000001");
    attacker
        .send_to(
            register(
                s.sip,
                &evil.to_string(),
                "1910",
                &format!("sip:1910@{evil}"),
                5,
                Some(&wrong_uri),
            )
            .as_bytes(),
            s.sip,
        )
        .await
        .expect("send");
    let refused = final_response(&[&attacker]).await;
    assert_eq!(refused.code, 403, "{}", refused.text);
    assert!(
        refused
            .header("Warning")
            .is_some_and(|w| w.contains("digest uri is not the Request-URI")),
        "{}",
        refused.text
    );
    assert_eq!(contacts(&s, "1910").await, vec![contact]);
}

/// A sender on `src` and a catcher on 127.0.0.1 with the same port (where
/// the simulator answers a Via that claims `received=127.0.0.1`).
async fn spoofing_pair(src: Ipv4Addr) -> (UdpSocket, UdpSocket) {
    for _ in 0..50 {
        let sender = UdpSocket::bind((src, 0)).await.expect("a 127/8 address");
        let port = sender.local_addr().expect("addr").port();
        if let Ok(catcher) = UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).await {
            return (sender, catcher);
        }
    }
    panic!("no port free on both {src} and 127.0.0.1");
}

#[tokio::test]
async fn spoofed_garbage_authorization_from_many_sources_does_not_lock_out_the_real_desk() {
    let s = sim(Tenant::builtin()).await;
    let garbage = [
        "garbage".to_string(),
        "Digest username=\"1910\"".to_string(),
        format!(
            "Digest username=\"1910\", realm=\"bluebean\", nonce=\"x\", uri=\"sip:{}\", response=\"00\"",
            s.sip
        ),
        "Basic MTkxMDpwdzE5MTA=".to_string(),
    ];
    // Six hosts each send more than MAX_FAILURES garbage REGISTERs for 1910,
    // their Via claiming the real desk's address (127.0.0.1) — the trick
    // rsipstack lets through when the sent-by is the sender's own address.
    for host in 2..8u8 {
        let src = Ipv4Addr::new(127, 0, 0, host);
        let (sender, catcher) = spoofing_pair(src).await;
        let me = sender.local_addr().expect("addr");
        let via = format!("{me};received=127.0.0.1");
        for i in 0..simulator::registrar::MAX_FAILURES + 1 {
            let auth = &garbage[i as usize % garbage.len()];
            let text = register(
                s.sip,
                &via,
                "1910",
                &format!("sip:1910@{me}"),
                i + 1,
                Some(auth),
            );
            sender.send_to(text.as_bytes(), s.sip).await.expect("send");
            let answer = final_response(&[&sender, &catcher]).await;
            assert_eq!(answer.code, 401, "{auth}: {}", answer.text);
        }
    }
    // The real desk still registers.
    let desk = Phone::start_with("1910", "pw1910", s.sip, false).await;
    assert_eq!(desk.register(60).await, 200);
    let ev = s.get("/api/events?kind=register_failed").await.1;
    assert_eq!(ev, json!([]), "garbage counted as failures");
    assert_eq!(
        s.state.read(|p, _| p.registrar.tracked_failures()),
        0,
        "the lock-out table grew"
    );
}

/// One raw HTTP/1.1 request; returns the status and the JSON body.
async fn raw_http(api: &str, head: &str, body: &str) -> (u16, Value) {
    let addr = api.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "{head}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn web_pages_cannot_drive_the_api() {
    let s = sim(Tenant::builtin()).await;
    let host = s.api.trim_start_matches("http://").to_string();
    let campaign_state = || async { s.get("/api/campaigns/demo").await.1["state"].clone() };
    assert_eq!(campaign_state().await, "idle");

    // A page on another site POSTs to the API: a "simple" request, sent by
    // the browser without a preflight. No body is needed to start a campaign.
    let (status, v) = raw_http(
        &s.api,
        &format!(
            "POST /api/campaigns/demo/start HTTP/1.1\r\nHost: {host}\r\nOrigin: http://evil.example\r\nContent-Type: text/plain"
        ),
        "",
    )
    .await;
    assert_eq!(status, 403, "{v}");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("requests from web pages are refused")),
        "{v}"
    );
    assert_eq!(campaign_state().await, "idle");

    // DNS rebinding: the page's own name now points at this machine.
    let (status, v) = raw_http(
        &s.api,
        "POST /api/campaigns/demo/start HTTP/1.1\r\nHost: rebound.example:8080",
        "",
    )
    .await;
    assert_eq!(status, 403, "{v}");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("DNS rebinding")),
        "{v}"
    );
    assert_eq!(campaign_state().await, "idle");

    // A scenario as TOML (what a form or a text/plain fetch can send).
    let toml = "[[step]]\naction = \"campaign_start\"\ncampaign = \"demo\"\n";
    for content_type in [
        "text/plain",
        "application/toml",
        "application/x-www-form-urlencoded",
    ] {
        let (status, v) = raw_http(
            &s.api,
            &format!(
                "POST /api/scenarios HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}"
            ),
            toml,
        )
        .await;
        assert_eq!(status, 415, "{content_type}: {v}");
        assert!(
            v["error"]
                .as_str()
                .is_some_and(|e| e.contains("Content-Type: application/json")),
            "{v}"
        );
    }
    let (status, v) = raw_http(
        &s.api,
        &format!("POST /api/scenarios HTTP/1.1\r\nHost: {host}"),
        toml,
    )
    .await;
    assert_eq!(status, 415, "no Content-Type: {v}");
    assert_eq!(s.get("/api/scenarios").await.1, json!([]));
    assert_eq!(campaign_state().await, "idle");

    // Our own tools (no Origin, or the API's own) still work, JSON only.
    let (status, v) = raw_http(
        &s.api,
        &format!(
            "POST /api/scenarios HTTP/1.1\r\nHost: {host}\r\nOrigin: {}\r\nContent-Type: application/json",
            s.api
        ),
        &json!({"step": [{"action": "campaign_start", "campaign": "demo"}]}).to_string(),
    )
    .await;
    assert_eq!(status, 202, "{v}");
    s.wait("the campaign to start", "/api/campaigns/demo", |c| {
        c["state"] != "idle"
    })
    .await;
}
