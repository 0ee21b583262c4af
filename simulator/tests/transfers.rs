//! Blind and attended transfer, and INVITE with Replaces, through the real
//! SIP stack: the API must say who the outside caller talks to afterwards,
//! and the caller must hear the new extension's audio.

mod common;

use bb_sip::sdp::Direction;
use common::{Mode, Phone, PhoneEvent, sim};
use serde_json::json;
use simulator::tenant::Tenant;

async fn outside_call_to_1910(s: &common::Sim, a: &mut Phone) -> (u64, String) {
    let (status, v) = s
        .send(
            "POST",
            "/api/calls",
            json!({"from": "09012345678", "to": "0312345678", "script": {"play": "tone:440"}}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_u64().expect("id");
    let (cid, ..) = a.incoming().await;
    a.up(&cid).await;
    s.wait_call(id, "answered", |c| c["state"] == "answered")
        .await;
    (id, cid)
}

async fn party_hears(s: &common::Sim, id: u64, hz: f32) {
    let hz = f64::from(hz);
    s.wait(
        &format!("the outside party to hear {hz} Hz"),
        &format!("/api/calls/{id}/media"),
        |m| {
            m[0]["tone_hz"]
                .as_f64()
                .is_some_and(|f| (f - hz).abs() < 2.0)
        },
    )
    .await;
}

async fn notify(p: &mut Phone, cid: &str, code: &str) {
    let (c, code) = (cid.to_string(), code.to_string());
    p.expect(&format!("NOTIFY {code}"), move |e| {
        matches!(e, PhoneEvent::Notify { call_id, sipfrag } if *call_id == c && sipfrag.starts_with(&format!("SIP/2.0 {code}")))
    })
    .await;
}

#[tokio::test]
async fn blind_transfer_hands_the_outside_caller_to_1303() {
    let s = sim(Tenant::builtin()).await;
    let mut a = Phone::start("1910", s.sip).await;
    let mut b = Phone::start("1303", s.sip).await;
    let (id, cid) = outside_call_to_1910(&s, &mut a).await;
    party_hears(&s, id, a.tone).await;
    assert_eq!(
        a.reinvite(&cid, Direction::SendOnly).await,
        200,
        "hold first"
    );
    assert_eq!(a.refer(&cid, &format!("sip:1303@{}", s.sip)).await, 202);
    notify(&mut a, &cid, "100").await;
    let (bcid, from, _, called) = b.incoming().await;
    assert_eq!(from, "09012345678", "1303 sees the outside caller");
    assert_eq!(called.as_deref(), Some("0312345678"));
    b.up(&bcid).await;
    notify(&mut a, &cid, "200").await;
    a.hangup(&cid).await;
    let c = s
        .wait_call(id, "the transfer to complete", |c| {
            c["extension"] == "1303" && c["transfers"][0]["outcome"] == "completed"
        })
        .await;
    assert_eq!(c["state"], "answered");
    assert_eq!(c["talking_to"], "1303");
    assert_eq!(c["from"], "09012345678");
    assert_eq!(c["transfers"][0]["kind"], "blind");
    assert_eq!(c["transfers"][0]["by"], "1910");
    party_hears(&s, id, b.tone).await;
    // 1303 hangs up: the call is over.
    b.hangup(&bcid).await;
    let c = s.wait_call(id, "ended", |c| c["state"] == "ended").await;
    assert_eq!(c["end_reason"], "callee_hangup");
}

#[tokio::test]
async fn blind_transfer_to_a_busy_extension_is_reported_and_the_call_stays() {
    let s = sim(Tenant::builtin()).await;
    let mut a = Phone::start("1910", s.sip).await;
    let b = Phone::start("1303", s.sip).await;
    *b.mode.lock().expect("lock") = Mode::Reject(486);
    let (id, cid) = outside_call_to_1910(&s, &mut a).await;
    assert_eq!(a.refer(&cid, &format!("sip:1303@{}", s.sip)).await, 202);
    notify(&mut a, &cid, "486").await;
    let c = s
        .wait_call(id, "the failed transfer", |c| {
            c["transfers"][0]["outcome"] == "failed 486"
        })
        .await;
    assert_eq!(c["extension"], "1910");
    assert_eq!(c["state"], "answered");
}

#[tokio::test]
async fn attended_transfer_joins_the_held_caller_with_the_consulted_extension() {
    let s = sim(Tenant::builtin()).await;
    let mut a = Phone::start("1910", s.sip).await;
    let mut b = Phone::start("1303", s.sip).await;
    let (id, cid1) = outside_call_to_1910(&s, &mut a).await;
    assert_eq!(a.reinvite(&cid1, Direction::SendOnly).await, 200);
    // Consultation call 1910 -> 1303.
    let cid2 = a.call("1303").await;
    let (bcid, from, ..) = b.incoming().await;
    assert_eq!(from, "1910");
    a.up(&cid2).await;
    let (call_id, local, remote) = a.dialog_id(&cid2);
    let refer_to = format!(
        "sip:1303@{}?Replaces={call_id}%3Bto-tag%3D{remote}%3Bfrom-tag%3D{local}",
        s.sip
    );
    assert_eq!(a.refer(&cid1, &refer_to).await, 202);
    notify(&mut a, &cid1, "200").await;
    // The simulator ends both of the operator's legs.
    a.ended(&cid1).await;
    a.ended(&cid2).await;
    let c = s
        .wait_call(id, "the caller to talk to 1303", |c| {
            c["extension"] == "1303" && c["talking_to"] == "1303"
        })
        .await;
    assert_eq!(c["state"], "answered");
    assert_eq!(c["transfers"][0]["kind"], "attended");
    party_hears(&s, id, b.tone).await;
    // The consultation call was merged into the outside call.
    let calls = s.get("/api/calls").await.1;
    let consult = calls
        .as_array()
        .expect("list")
        .iter()
        .find(|c| c["id"].as_u64() != Some(id))
        .expect("the consultation call");
    assert_eq!(consult["merged_into"].as_u64(), Some(id));
    assert_eq!(consult["end_reason"], "transferred");
    // The outside caller hangs up: 1303's phone gets the BYE.
    s.send("POST", &format!("/api/calls/{id}/hangup"), json!({}))
        .await;
    b.ended(&bcid).await;
}

#[tokio::test]
async fn invite_with_replaces_picks_up_the_call() {
    let s = sim(Tenant::builtin()).await;
    let mut a = Phone::start("1910", s.sip).await;
    let mut c3 = Phone::start("1911", s.sip).await;
    let (id, cid) = outside_call_to_1910(&s, &mut a).await;
    // 1911 takes over 1910's dialog with the simulator.
    let (call_id, local, remote) = a.dialog_id(&cid);
    let new = c3
        .call_with(
            "1910",
            Some(format!("{call_id};to-tag={local};from-tag={remote}")),
        )
        .await;
    c3.up(&new).await;
    a.ended(&cid).await;
    let c = s
        .wait_call(id, "1911 to take the call", |c| c["extension"] == "1911")
        .await;
    assert_eq!(c["transfers"][0]["kind"], "replaces");
    party_hears(&s, id, c3.tone).await;
}

#[tokio::test]
async fn attended_transfer_completed_while_the_target_still_rings() {
    let s = sim(Tenant::builtin()).await;
    let mut a = Phone::start("1910", s.sip).await;
    let mut b = Phone::start("1303", s.sip).await;
    *b.mode.lock().expect("lock") = Mode::Ring;
    let (id, cid1) = outside_call_to_1910(&s, &mut a).await;
    assert_eq!(a.reinvite(&cid1, Direction::SendOnly).await, 200);
    let cid2 = a.call("1303").await;
    let (bcid, ..) = b.incoming().await;
    // Early dialog: (Call-ID, local tag, the simulator's tag from the 180).
    let (call_id, local, remote) = a.dialog_id(&cid2);
    let refer_to = format!(
        "sip:1303@{}?Replaces={call_id}%3Bto-tag%3D{remote}%3Bfrom-tag%3D{local}",
        s.sip
    );
    assert_eq!(a.refer(&cid1, &refer_to).await, 202);
    notify(&mut a, &cid1, "200").await;
    a.ended(&cid1).await;
    let c2 = cid2.clone();
    a.expect("the consultation INVITE to end", move |e| {
        matches!(e, PhoneEvent::Ended { call_id, .. } | PhoneEvent::Failed { call_id, .. } if *call_id == c2)
    })
    .await;
    b.answer(&bcid);
    let c = s
        .wait_call(id, "the caller to talk to 1303", |c| {
            c["talking_to"] == "1303" && c["state"] == "answered"
        })
        .await;
    assert_eq!(c["transfers"][0]["kind"], "attended");
    party_hears(&s, id, b.tone).await;
}
