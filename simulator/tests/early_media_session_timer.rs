//! Early media and session timers (RFC 4028) over real UDP: a hand-written
//! user agent on a raw socket talks to the in-process simulator, so every
//! status line, header and SDP byte the simulator sends can be checked.
//!
//! - An outside party with `early_media_ms` answers the extension's INVITE
//!   with 183 + SDP, plays its early tone on that media, then 200 with the
//!   very same SDP and To-tag, and its normal tone.
//! - With session timers on, the simulator's 2xx states them, its refresh
//!   answers carry them, refreshes are counted in the call view, bad
//!   `Session-Expires` values get 400/422 (never a panic), and when it is
//!   the refresher it refreshes an extension it called.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::sim;
use serde_json::{Value, json};
use simulator::media::{dominant_tone, ulaw_decode};
use simulator::tenant::Tenant;
use tokio::net::UdpSocket;

/// One SIP message as text.
#[derive(Debug, Clone)]
struct Msg {
    first: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Msg {
    fn parse(bytes: &[u8]) -> Option<Msg> {
        let text = String::from_utf8_lossy(bytes);
        let (head, body) = text.split_once("\r\n\r\n")?;
        let mut lines = head.split("\r\n");
        let first = lines.next()?.to_string();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        Some(Msg {
            first,
            headers,
            body: body.as_bytes().to_vec(),
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn code(&self) -> Option<u16> {
        self.first.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
    }

    fn method(&self) -> Option<&str> {
        (!self.first.starts_with("SIP/2.0")).then(|| self.first.split(' ').next())?
    }

    fn cseq_method(&self) -> String {
        self.header("CSeq")
            .and_then(|c| c.split_whitespace().nth(1))
            .unwrap_or_default()
            .to_string()
    }

    fn tag(&self, header: &str) -> Option<String> {
        self.header(header)?
            .split(';')
            .find_map(|p| p.trim().strip_prefix("tag="))
            .map(str::to_string)
    }

    /// The URI inside `<...>` of a header.
    fn uri(&self, header: &str) -> Option<String> {
        let v = self.header(header)?;
        let start = v.find('<')? + 1;
        let end = v[start..].find('>')? + start;
        Some(v[start..end].to_string())
    }
}

/// A user agent on a raw UDP socket.
struct RawUa {
    sock: UdpSocket,
    me: SocketAddr,
    server: SocketAddr,
    rtp: UdpSocket,
    branch: u32,
}

impl RawUa {
    async fn new(server: SocketAddr) -> RawUa {
        let sock = UdpSocket::bind("127.0.0.1:0").await.expect("SIP socket");
        let rtp = UdpSocket::bind("127.0.0.1:0").await.expect("RTP socket");
        let me = sock.local_addr().expect("addr");
        RawUa {
            sock,
            me,
            server,
            rtp,
            branch: 0,
        }
    }

    fn sdp(&self) -> String {
        let port = self.rtp.local_addr().expect("rtp addr").port();
        format!(
            "v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
        )
    }

    fn via(&mut self) -> String {
        self.branch += 1;
        format!(
            "Via: SIP/2.0/UDP {};branch=z9hG4bKraw{}x{};rport",
            self.me,
            self.branch,
            self.me.port()
        )
    }

    async fn send(&self, text: &str) {
        self.sock
            .send_to(text.as_bytes(), self.server)
            .await
            .expect("send");
    }

    /// The next message that `pred` accepts (others are dropped), within 10 s.
    async fn next(&self, what: &str, pred: impl Fn(&Msg) -> bool) -> Msg {
        self.next_within(what, Duration::from_secs(10), pred)
            .await
            .unwrap_or_else(|| panic!("no {what} within the time limit"))
    }

    async fn next_within(
        &self,
        _what: &str,
        limit: Duration,
        pred: impl Fn(&Msg) -> bool,
    ) -> Option<Msg> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut buf = vec![0u8; 65_535];
        loop {
            let (n, _) = tokio::time::timeout_at(deadline, self.sock.recv_from(&mut buf))
                .await
                .ok()?
                .ok()?;
            if let Some(m) = Msg::parse(&buf[..n])
                && pred(&m)
            {
                return Some(m);
            }
        }
    }

    /// A final response to our request `method` of `call_id`.
    async fn final_response(&self, call_id: &str, method: &str) -> Msg {
        self.next(&format!("a final response to {method}"), |m| {
            m.code().is_some_and(|c| c >= 200)
                && m.header("Call-ID") == Some(call_id)
                && m.cseq_method() == method
        })
        .await
    }

    /// Sends an INVITE from extension 1910 to `to` with `extra` headers.
    async fn invite(&mut self, call_id: &str, to: &str, extra: &str) {
        let sdp = self.sdp();
        let via = self.via();
        let text = format!(
            "INVITE sip:{to}@{server} SIP/2.0\r\n{via}\r\nMax-Forwards: 70\r\nFrom: <sip:1910@{me}>;tag=raw1\r\nTo: <sip:{to}@{server}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:1910@{me}>\r\n{extra}Content-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
            server = self.server,
            me = self.me,
            len = sdp.len()
        );
        self.send(&text).await;
    }

    /// An in-dialog request (`ACK`, `UPDATE`, `BYE`) after the 200 `ok`.
    async fn in_dialog(&mut self, ok: &Msg, method: &str, cseq: u32, extra: &str) {
        let target = ok.uri("Contact").expect("a Contact in the 200");
        let to = ok.header("To").expect("To").to_string();
        let call_id = ok.header("Call-ID").expect("Call-ID").to_string();
        let via = self.via();
        let text = format!(
            "{method} {target} SIP/2.0\r\n{via}\r\nMax-Forwards: 70\r\nFrom: <sip:1910@{me}>;tag=raw1\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContact: <sip:1910@{me}>\r\n{extra}Content-Length: 0\r\n\r\n",
            me = self.me
        );
        self.send(&text).await;
    }

    /// Reads RTP (PCMU) until the last second holds `hz` as its dominant
    /// tone (within 15 Hz, more than half the energy), or 10 s pass.
    async fn hears(&self, hz: f32) -> Result<f32, String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut samples: Vec<i16> = Vec::new();
        let mut buf = vec![0u8; 2048];
        let mut last = None;
        loop {
            let Ok(Ok((n, _))) =
                tokio::time::timeout_at(deadline, self.rtp.recv_from(&mut buf)).await
            else {
                return Err(format!("no {hz} Hz heard; last dominant tone {last:?}"));
            };
            if n <= 12 || buf[1] & 0x7f != 0 {
                continue;
            }
            samples.extend(buf[12..n].iter().map(|b| ulaw_decode(*b)));
            if samples.len() >= 8000 {
                let tail = &samples[samples.len() - 8000..];
                last = dominant_tone(tail);
                if let Some((f, share)) = last
                    && (f - hz).abs() <= 15.0
                    && share > 0.5
                {
                    return Ok(share);
                }
            }
        }
    }
}

fn tenant() -> Tenant {
    let mut t = Tenant::builtin();
    // The raw UA does not do digest: extensions' INVITEs go unchallenged.
    t.sip.challenge_invites = false;
    t
}

async fn add_party(s: &common::Sim, rule: Value) {
    let (status, v) = s.send("POST", "/api/parties", rule).await;
    assert_eq!(status, 201, "{v}");
}

async fn call_by_sip_id(s: &common::Sim, call_id: &str) -> Value {
    let calls = s.get("/api/calls").await.1;
    calls
        .as_array()
        .and_then(|a| a.iter().find(|c| c["call_id"] == call_id).cloned())
        .unwrap_or_else(|| panic!("no call with Call-ID {call_id}: {calls}"))
}

#[tokio::test]
async fn early_media_is_a_183_with_sdp_then_a_200_with_the_same_sdp() {
    let s = sim(tenant()).await;
    add_party(
        &s,
        json!({"number": "0311112222", "early_media_ms": 1500, "early_play": "tone:620", "play": "tone:440"}),
    )
    .await;
    let mut ua = RawUa::new(s.sip).await;
    ua.invite("early-1", "0311112222", "").await;
    let first = ua
        .next("the first answer with a body or a final status", |m| {
            m.header("Call-ID") == Some("early-1")
                && m.code()
                    .is_some_and(|c| c >= 180 && (c >= 200 || !m.body.is_empty()))
        })
        .await;
    assert_eq!(first.code(), Some(183), "{first:?}");
    assert_eq!(first.header("Content-Type"), Some("application/sdp"));
    let early_tag = first.tag("To").expect("a To-tag on the 183");
    let early_sdp = first.body.clone();
    assert!(
        String::from_utf8_lossy(&early_sdp).contains("m=audio "),
        "{first:?}"
    );
    let call = call_by_sip_id(&s, "early-1").await;
    assert_eq!(call["state"], "ringing", "{call}");
    // The early tone is on the media before the answer (the party plays
    // 620 Hz only until it answers).
    let share = ua.hears(620.0).await.expect("the early tone");
    assert!(share > 0.5);
    let ok = ua.final_response("early-1", "INVITE").await;
    assert_eq!(ok.code(), Some(200), "{ok:?}");
    assert_eq!(ok.tag("To").as_deref(), Some(early_tag.as_str()));
    assert_eq!(ok.body, early_sdp, "the 200 repeats the 183's SDP");
    ua.in_dialog(&ok, "ACK", 1, "").await;
    ua.hears(440.0).await.expect("the answered tone");
    let id = call["id"].as_u64().expect("id");
    let c = s
        .wait_call(id, "answered", |c| c["state"] == "answered")
        .await;
    assert_eq!(c["talking_to"], "0311112222");
    let events = s
        .get(&format!("/api/events?call={id}&kind=early_media"))
        .await
        .1;
    assert_eq!(events.as_array().map(Vec::len), Some(1), "{events}");
    // Headers are not session timers here: they are off by default.
    assert_eq!(ok.header("Session-Expires"), None);
    ua.in_dialog(&ok, "BYE", 2, "").await;
    let bye_ok = ua.final_response("early-1", "BYE").await;
    assert_eq!(bye_ok.code(), Some(200));
    s.wait_call(id, "ended", |c| c["state"] == "ended").await;
}

#[tokio::test]
async fn session_timers_are_stated_refreshes_counted_and_bad_values_refused() {
    let s = sim(tenant()).await;
    let (status, v) = s
        .send(
            "POST",
            "/api/session_timer",
            json!({"session_expires": 90, "refresher": "extension", "refresh": "normal"}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = s
        .send("POST", "/api/session_timer", json!({"session_expires": 30}))
        .await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("30 s")),
        "{v}"
    );
    assert_eq!(s.get("/api/session_timer").await.1["session_expires"], 90);
    add_party(&s, json!({"number": "0311112222", "answer_after_ms": 100})).await;

    let mut ua = RawUa::new(s.sip).await;
    ua.invite(
        "timer-1",
        "0311112222",
        "Supported: timer\r\nAllow: INVITE, ACK, BYE, CANCEL, UPDATE\r\n",
    )
    .await;
    let ok = ua.final_response("timer-1", "INVITE").await;
    assert_eq!(ok.code(), Some(200), "{ok:?}");
    assert_eq!(ok.header("Session-Expires"), Some("90;refresher=uac"));
    assert_eq!(ok.header("Require"), Some("timer"));
    assert!(ok.header("Allow").is_some_and(|a| a.contains("UPDATE")));
    ua.in_dialog(&ok, "ACK", 1, "").await;
    let id = call_by_sip_id(&s, "timer-1").await["id"]
        .as_u64()
        .expect("id");
    s.wait_call(id, "answered", |c| c["state"] == "answered")
        .await;

    // A refresh by UPDATE, as the phone sends it.
    ua.in_dialog(
        &ok,
        "UPDATE",
        2,
        "Session-Expires: 90;refresher=uac\r\nSupported: timer\r\n",
    )
    .await;
    let r = ua.final_response("timer-1", "UPDATE").await;
    assert_eq!(r.code(), Some(200), "{r:?}");
    assert_eq!(r.header("Session-Expires"), Some("90;refresher=uac"));
    let c = s.get(&format!("/api/calls/{id}")).await.1;
    assert_eq!(c["session_refreshes"], 1, "{c}");
    let ext_leg = c["legs"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["endpoint"]["kind"] == "extension"))
        .cloned()
        .expect("the extension's leg");
    assert_eq!(ext_leg["session_timer"]["interval_s"], 90);
    assert_eq!(ext_leg["session_timer"]["refresher"], "peer");

    // Bad values: a clean 400 or 422 each, nothing counted, still serving.
    let bad = [
        ("soon", 400),
        ("99999999999999999999", 400),
        ("9 0;refresher=uac", 400),
        ("", 400),
        ("30", 422),
    ];
    for (cseq, (value, code)) in (3..).zip(bad) {
        ua.in_dialog(
            &ok,
            "UPDATE",
            cseq,
            &format!("Session-Expires: {value}\r\nSupported: timer\r\n"),
        )
        .await;
        let r = ua.final_response("timer-1", "UPDATE").await;
        assert_eq!(r.code(), Some(code), "Session-Expires {value:?}: {r:?}");
        if code == 422 {
            assert_eq!(r.header("Min-SE"), Some("90"));
        } else {
            assert!(
                r.header("Warning")
                    .is_some_and(|w| w.contains("Session-Expires")),
                "{r:?}"
            );
        }
    }
    let c = s.get(&format!("/api/calls/{id}")).await.1;
    assert_eq!(
        (c["state"].as_str(), c["session_refreshes"].as_u64()),
        (Some("answered"), Some(1))
    );

    // New INVITEs with bad intervals: 422 with Min-SE, 400 for garbage.
    let mut other = RawUa::new(s.sip).await;
    other
        .invite(
            "timer-small",
            "0311112222",
            "Supported: timer\r\nSession-Expires: 30\r\n",
        )
        .await;
    let r = other.final_response("timer-small", "INVITE").await;
    assert_eq!(r.code(), Some(422), "{r:?}");
    assert_eq!(r.header("Min-SE"), Some("90"));
    other
        .invite(
            "timer-garbage",
            "0311112222",
            "Supported: timer\r\nSession-Expires: ninety\r\n",
        )
        .await;
    let r = other.final_response("timer-garbage", "INVITE").await;
    assert_eq!(r.code(), Some(400), "{r:?}");

    ua.in_dialog(&ok, "BYE", 20, "").await;
    assert_eq!(ua.final_response("timer-1", "BYE").await.code(), Some(200));
    s.wait_call(id, "ended", |c| c["state"] == "ended").await;
}

/// Registers `ext` from the raw socket (digest MD5, `qop=auth` when offered).
async fn register(ua: &mut RawUa, ext: &str, password: &str) {
    let contact = format!("<sip:{ext}@{}>", ua.me);
    let send = |ua: &mut RawUa, cseq: u32, auth: String| {
        let via = ua.via();
        format!(
            "REGISTER sip:{server} SIP/2.0\r\n{via}\r\nMax-Forwards: 70\r\nFrom: <sip:{ext}@{server}>;tag=reg1\r\nTo: <sip:{ext}@{server}>\r\nCall-ID: reg-{ext}\r\nCSeq: {cseq} REGISTER\r\nContact: {contact}\r\nExpires: 300\r\n{auth}Content-Length: 0\r\n\r\n",
            server = ua.server
        )
    };
    let text = send(ua, 1, String::new());
    ua.send(&text).await;
    let challenge = ua.final_response(&format!("reg-{ext}"), "REGISTER").await;
    assert_eq!(challenge.code(), Some(401), "{challenge:?}");
    let www = challenge
        .header("WWW-Authenticate")
        .expect("a challenge")
        .to_string();
    let param = |name: &str| -> Option<String> {
        let i = www.find(&format!("{name}="))? + name.len() + 1;
        let rest = &www[i..];
        Some(if let Some(q) = rest.strip_prefix('"') {
            q.split('"').next()?.to_string()
        } else {
            rest.split(',').next()?.trim().to_string()
        })
    };
    let (realm, nonce) = (
        param("realm").expect("realm"),
        param("nonce").expect("nonce"),
    );
    let uri = format!("sip:{}", ua.server);
    let qop = param("qop").is_some();
    let alg = bb_sip::digest::Algorithm::parse("MD5").expect("MD5");
    let response = bb_sip::digest::response(
        alg,
        ext,
        &realm,
        password,
        "REGISTER",
        &uri,
        &nonce,
        qop.then_some(("00000001", "rawcnonce")),
    );
    let qop_part = if qop {
        ", qop=auth, nc=00000001, cnonce=\"rawcnonce\""
    } else {
        ""
    };
    let auth = format!(
        "Authorization: Digest username=\"{ext}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", algorithm=MD5{qop_part}\r\n"
    );
    let text = send(ua, 2, auth);
    ua.send(&text).await;
    let ok = ua.final_response(&format!("reg-{ext}"), "REGISTER").await;
    assert_eq!(ok.code(), Some(200), "{ok:?}");
}

/// The simulator calls an extension offering session timers as the
/// refresher, then refreshes at half the interval (45 s of real time: the
/// RFC's minimum interval is 90 s).
#[tokio::test]
async fn the_simulator_offers_timers_to_an_extension_and_refreshes_them() {
    let s = sim(tenant()).await;
    let (status, v) = s
        .send(
            "POST",
            "/api/session_timer",
            json!({"session_expires": 90, "refresher": "simulator"}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let mut ua = RawUa::new(s.sip).await;
    register(&mut ua, "1910", "pw1910").await;
    let (status, v) = s
        .send(
            "POST",
            "/api/calls",
            json!({"from": "09012345678", "to": "0312345678"}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_u64().expect("id");
    let inv = ua
        .next("the simulator's INVITE", |m| m.method() == Some("INVITE"))
        .await;
    assert_eq!(inv.header("Supported"), Some("timer"), "{inv:?}");
    assert_eq!(inv.header("Session-Expires"), Some("90;refresher=uac"));
    assert_eq!(inv.header("Min-SE"), Some("90"));
    assert!(inv.header("Allow").is_some_and(|a| a.contains("UPDATE")));
    // Answer it: 200 with the timer (the simulator refreshes), allowing UPDATE.
    let mut copied: HashMap<&str, String> = HashMap::new();
    for h in ["Via", "From", "Call-ID", "CSeq"] {
        copied.insert(h, inv.header(h).expect("header").to_string());
    }
    let to = format!("{};tag=rawans", inv.header("To").expect("To"));
    let sdp = ua.sdp();
    let ok = format!(
        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <sip:1910@{}>\r\nSupported: timer\r\nRequire: timer\r\nSession-Expires: 90;refresher=uac\r\nAllow: INVITE, ACK, BYE, CANCEL, UPDATE\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        copied["Via"],
        copied["From"],
        copied["Call-ID"],
        copied["CSeq"],
        ua.me,
        sdp.len()
    );
    ua.send(&ok).await;
    ua.next("the ACK", |m| m.method() == Some("ACK")).await;
    let c = s
        .wait_call(id, "answered", |c| c["state"] == "answered")
        .await;
    let leg = c["legs"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["endpoint"]["kind"] == "extension"))
        .cloned()
        .expect("the extension's leg");
    assert_eq!(leg["session_timer"]["refresher"], "simulator", "{leg}");
    // The refresh comes at half the interval, as an UPDATE.
    let update = ua
        .next_within("the simulator's refresh", Duration::from_secs(60), |m| {
            m.method() == Some("UPDATE")
        })
        .await
        .expect("the simulator refreshes within 60 s");
    assert_eq!(update.header("Session-Expires"), Some("90;refresher=uac"));
    let reply = format!(
        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {}\r\nSession-Expires: 90;refresher=uac\r\nRequire: timer\r\nContent-Length: 0\r\n\r\n",
        update.header("Via").expect("Via"),
        update.header("From").expect("From"),
        update.header("To").expect("To"),
        update.header("Call-ID").expect("Call-ID"),
        update.header("CSeq").expect("CSeq"),
    );
    ua.send(&reply).await;
    let c = s
        .wait_call(id, "one refresh sent", |c| c["session_refreshes_sent"] == 1)
        .await;
    assert_eq!(c["state"], "answered");
    let (status, _) = s
        .send("POST", &format!("/api/calls/{id}/hangup"), json!({}))
        .await;
    assert_eq!(status, 200);
}
