//! Calls through the real SIP stack on loopback: the simulator in-process,
//! rsipstack phones as extensions, simulated outside parties with RTP.

mod common;

use bb_sip::sdp::Direction;
use common::{Mode, Phone, PhoneEvent, sim};
use serde_json::{Value, json};
use simulator::tenant::Tenant;

fn tenant() -> Tenant {
    Tenant::builtin()
}

async fn place(s: &common::Sim, from: &str, to: &str, script: Value) -> u64 {
    let (status, v) = s
        .send(
            "POST",
            "/api/calls",
            json!({"from": from, "to": to, "script": script}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    v["id"].as_u64().expect("id")
}

#[tokio::test]
async fn outside_call_rings_answers_carries_audio_and_hangs_up() {
    let s = sim(tenant()).await;
    let mut p = Phone::start("1910", s.sip).await;
    *p.mode.lock().expect("lock") = Mode::Ring;
    s.wait("1910 registered", "/api/registrations", |v| {
        v.as_array()
            .is_some_and(|a| a.iter().any(|r| r["extension"] == "1910"))
    })
    .await;
    let id = place(&s, "09012345678", "0312345678", json!({"play": "tone:440"})).await;
    let (cid, from, pai, called) = p.incoming().await;
    assert_eq!(from, "09012345678");
    assert_eq!(pai.as_deref(), Some("09012345678"));
    assert_eq!(called.as_deref(), Some("0312345678"));
    s.wait_call(id, "ringing", |c| c["state"] == "ringing")
        .await;
    p.answer(&cid);
    let c = s
        .wait_call(id, "answered", |c| c["state"] == "answered")
        .await;
    assert_eq!(c["extension"], "1910");
    assert_eq!(c["call_id"], cid.as_str());
    // The phone's tone reaches the party.
    let tone = f64::from(p.tone);
    let media = s
        .wait(
            "the party to hear the phone's tone",
            &format!("/api/calls/{id}/media"),
            |m| {
                m[0]["tone_hz"]
                    .as_f64()
                    .is_some_and(|f| (f - tone).abs() < 2.0)
                    && m[0]["media"]["recorded_seconds"].as_f64().unwrap_or(0.0) >= 0.5
            },
        )
        .await;
    assert!(media[0]["media"]["packets_sent"].as_u64().unwrap_or(0) > 0);
    let wav = s
        .http
        .get(format!("{}/api/calls/{id}/recording.wav", s.api))
        .send()
        .await
        .expect("wav")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(&wav[..4], b"RIFF");
    assert!(
        wav.len() >= 44 + 2 * 4000,
        "half a second or more was recorded"
    );
    let (status, _) = s
        .send("POST", &format!("/api/calls/{id}/hangup"), json!({}))
        .await;
    assert_eq!(status, 200);
    p.ended(&cid).await;
    let c = s.wait_call(id, "ended", |c| c["state"] == "ended").await;
    assert_eq!(c["end_reason"], "caller_hangup");
    assert!(c["rtp_received"].as_u64().unwrap_or(0) > 0);
}

#[tokio::test]
async fn internal_call_is_authenticated_and_has_no_called_party() {
    let s = sim(tenant()).await;
    let a = Phone::start("1910", s.sip).await;
    let mut b = Phone::start("1303", s.sip).await;
    let cid = a.call("1303").await;
    let (bcid, from, _pai, called) = b.incoming().await;
    assert_eq!(from, "1910");
    assert_eq!(called, None, "internal calls carry no P-Called-Party-ID");
    let mut a = a;
    a.up(&cid).await;
    let calls = s.get("/api/calls").await.1;
    let c = &calls.as_array().expect("list")[0];
    assert_eq!(c["kind"], "internal");
    assert_eq!(c["extension"], "1303");
    assert_eq!(c["state"], "answered");
    b.hangup(&bcid).await;
    a.ended(&cid).await;
    let id = c["id"].as_u64().expect("id");
    let c = s.wait_call(id, "ended", |c| c["state"] == "ended").await;
    assert_eq!(c["end_reason"], "callee_hangup");
}

#[tokio::test]
async fn wrong_password_is_refused_and_busy_is_relayed() {
    let s = sim(tenant()).await;
    let bad = Phone::start_with("1911", "nope", s.sip, false).await;
    assert_eq!(bad.register(60).await, 403);
    let b = Phone::start("1910", s.sip).await;
    *b.mode.lock().expect("lock") = Mode::Reject(486);
    let id = place(&s, "0311112222", "0312345678", json!({})).await;
    let c = s.wait_call(id, "ended", |c| c["state"] == "ended").await;
    assert_eq!(c["end_reason"], "rejected 486");
    // Calling an unregistered extension's line is refused up front.
    let (status, v) = s
        .send(
            "POST",
            "/api/calls",
            json!({"from": "0311112222", "to": "0312345679"}),
        )
        .await;
    assert_eq!(status, 409, "{v}");
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("1911")),
        "{v}"
    );
}

#[tokio::test]
async fn caller_cancel_reaches_the_ringing_phone() {
    let s = sim(tenant()).await;
    let mut a = Phone::start("1910", s.sip).await;
    let mut b = Phone::start("1303", s.sip).await;
    *b.mode.lock().expect("lock") = Mode::Ring;
    let cid = a.call("1303").await;
    let (bcid, ..) = b.incoming().await;
    let calls = s
        .wait("a ringing call", "/api/calls", |v| {
            v[0]["state"] == "ringing"
        })
        .await;
    let id = calls[0]["id"].as_u64().expect("id");
    a.hangup(&cid).await; // CANCEL while early
    b.ended(&bcid).await;
    let c = s.wait_call(id, "ended", |c| c["state"] == "ended").await;
    assert_eq!(c["end_reason"], "caller_hangup");
    let _ = a
        .expect("the caller's INVITE to end", |e| {
            matches!(e, PhoneEvent::Ended { .. } | PhoneEvent::Failed { .. })
        })
        .await;
}

#[tokio::test]
async fn hold_reaches_the_outside_party_and_unhold_resumes() {
    let s = sim(tenant()).await;
    let mut p = Phone::start("1910", s.sip).await;
    let id = place(&s, "09012345678", "0312345678", json!({})).await;
    let (cid, ..) = p.incoming().await;
    p.up(&cid).await;
    s.wait(
        "the party to send",
        &format!("/api/calls/{id}/media"),
        |m| m[0]["media"]["sending"] == true,
    )
    .await;
    assert_eq!(p.reinvite(&cid, Direction::SendOnly).await, 200);
    let c = s.wait_call(id, "held", |c| c["held"] == true).await;
    assert_eq!(c["state"], "answered");
    s.wait(
        "the party to stop sending",
        &format!("/api/calls/{id}/media"),
        |m| m[0]["media"]["sending"] == false,
    )
    .await;
    assert_eq!(p.reinvite(&cid, Direction::SendRecv).await, 200);
    s.wait_call(id, "resumed", |c| c["held"] == false).await;
    s.wait(
        "the party to send again",
        &format!("/api/calls/{id}/media"),
        |m| m[0]["media"]["sending"] == true,
    )
    .await;
}

#[tokio::test]
async fn sha256_tenant_registers_and_authenticates_invites() {
    let mut t = tenant();
    // rsipstack 0.7.14 clients only parse the token spelled SHA256.
    t.sip.auth_algorithms = vec!["SHA256".into()];
    let s = sim(t).await;
    let mut a = Phone::start("1910", s.sip).await;
    let mut b = Phone::start("1303", s.sip).await;
    let cid = a.call("1303").await;
    let (bcid, ..) = b.incoming().await;
    a.up(&cid).await;
    a.hangup(&cid).await;
    b.ended(&bcid).await;
    let ev = s.get("/api/events?kind=registered").await.1;
    assert_eq!(ev.as_array().map(Vec::len), Some(2), "{ev}");
}
