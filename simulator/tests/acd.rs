//! Operator login and ACD routing, predictive dialling and caller-ID
//! prefixes through the real SIP stack and the HTTP API.

mod common;

use common::{Mode, Phone, sim};
use serde_json::{Value, json};
use simulator::party::PartyScript;
use simulator::tenant::Tenant;

fn acd_tenant() -> Tenant {
    let mut t = Tenant::builtin();
    if let Some(q) = t.queues.get_mut("support") {
        q.offer_timeout_ms = 600;
        q.after_call_work_ms = 300;
        q.timeout_ms = 20_000;
    }
    t
}

fn op_state<'a>(ops: &'a Value, id: &str) -> &'a Value {
    ops.as_array()
        .and_then(|a| a.iter().find(|o| o["login_id"] == id))
        .map(|o| &o["state"])
        .unwrap_or(&Value::Null)
}

#[tokio::test]
async fn operator_login_contract() {
    let s = sim(acd_tenant()).await;
    let cases = [
        (
            json!({"login_id": "op1910", "password": "bad", "extension": "1910"}),
            401,
        ),
        (
            json!({"login_id": "nobody", "password": "x", "extension": "1910"}),
            401,
        ),
        (
            json!({"login_id": "op1910", "password": "op-secret", "extension": "9999"}),
            404,
        ),
        (json!({"login_id": "op1910", "password": "op-secret"}), 400),
        (
            json!({"login_id": "op1910", "password": "op-secret", "extension": "1910"}),
            200,
        ),
        (
            json!({"login_id": "op1911", "password": "op-secret", "extension": "1910"}),
            409,
        ),
    ];
    for (body, want) in cases {
        let (status, v) = s.send("POST", "/api/operators/login", body.clone()).await;
        assert_eq!(status, want, "{body} -> {v}");
        if want != 200 {
            assert!(v["error"].is_string(), "JSON error for {body}: {v}");
        } else {
            assert_eq!(v["operator"]["state"], "available");
            assert_eq!(v["operator"]["extension"], "1910");
        }
    }
    let (status, v) = s
        .send(
            "PUT",
            "/api/operators/op1910/state",
            json!({"state": "lunch"}),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    let (status, v) = s
        .send(
            "PUT",
            "/api/operators/op1911/state",
            json!({"state": "available"}),
        )
        .await;
    assert_eq!(status, 409, "not logged in: {v}");
    let (status, v) = s
        .send(
            "PUT",
            "/api/operators/ghost/state",
            json!({"state": "available"}),
        )
        .await;
    assert_eq!(status, 404, "{v}");
    let (status, v) = s
        .send(
            "PUT",
            "/api/operators/op1910/state",
            json!({"state": "not_available"}),
        )
        .await;
    assert_eq!(
        (status, &v["operator"]["state"]),
        (200, &json!("not_available"))
    );
    let (status, _) = s
        .send(
            "POST",
            "/api/operators/logout",
            json!({"login_id": "op1910", "password": "bad"}),
        )
        .await;
    assert_eq!(status, 401);
    let (status, v) = s
        .send(
            "POST",
            "/api/operators/logout",
            json!({"login_id": "op1910", "password": "op-secret"}),
        )
        .await;
    assert_eq!(
        (status, &v["operator"]["state"]),
        (200, &json!("logged_out"))
    );
    // Misuse of other endpoints is JSON too.
    let (status, v) = s.get("/api/calls/abc").await;
    assert_eq!(status, 400, "{v}");
    let (status, v) = s.get("/api/nothing").await;
    assert_eq!(status, 404, "{v}");
    let (status, v) = s.send("POST", "/api/calls", json!({"from": 1})).await;
    assert_eq!(status, 400, "{v}");
}

#[tokio::test]
async fn queue_routes_to_the_longest_idle_operator_and_reroutes_on_no_answer() {
    let s = sim(acd_tenant()).await;
    let mut a = Phone::start("1910", s.sip).await;
    let mut b = Phone::start("1911", s.sip).await;
    *a.mode.lock().expect("lock") = Mode::Ring; // op1910 will not answer
    for (id, ext) in [("op1910", "1910"), ("op1911", "1911")] {
        let (status, v) = s
            .send(
                "POST",
                "/api/operators/login",
                json!({"login_id": id, "password": "op-secret", "extension": ext}),
            )
            .await;
        assert_eq!(status, 200, "{v}");
    }
    let (status, v) = s
        .send(
            "POST",
            "/api/calls",
            json!({"from": "0455556666", "to": "0312345680"}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_u64().expect("id");
    assert_eq!(v["queue"], "support");
    // op1910 logged in first, so idled longest: it rings first.
    let (acid, from, _, called) = a.incoming().await;
    assert_eq!(from, "0455556666");
    assert_eq!(called.as_deref(), Some("0312345680"));
    // No answer within 600 ms: rerouted to op1911, whose phone answers.
    a.ended(&acid).await;
    let (bcid, ..) = b.incoming().await;
    b.up(&bcid).await;
    let c = s
        .wait_call(id, "answered by op1911", |c| c["state"] == "answered")
        .await;
    assert_eq!(c["operator"], "op1911");
    assert_eq!(c["extension"], "1911");
    let ops = s.get("/api/operators").await.1;
    assert_eq!(op_state(&ops, "op1911"), "busy");
    assert_eq!(
        op_state(&ops, "op1910"),
        "not_available",
        "redirected on no answer"
    );
    b.hangup(&bcid).await;
    s.wait("op1911 in after-call work", "/api/operators", |o| {
        op_state(o, "op1911") == "after_call_work"
    })
    .await;
    s.wait("op1911 available again", "/api/operators", |o| {
        op_state(o, "op1911") == "available"
    })
    .await;
    let q = s.get("/api/queues").await.1;
    let support = q
        .as_array()
        .and_then(|a| a.iter().find(|q| q["name"] == "support"))
        .expect("queue");
    assert_eq!(support["answered"], 1);
    let ev = s.get("/api/events?kind=queue_reroute").await.1;
    assert_eq!(ev.as_array().map(Vec::len), Some(1), "{ev}");
}

#[tokio::test]
async fn predictive_dialler_connects_answered_parties_to_the_operator() {
    let mut t = Tenant::builtin();
    t.parties = vec![
        PartyScript {
            number: Some("0800*".into()),
            answer_after_ms: Some(100),
            hangup_after_ms: Some(400),
            ..PartyScript::default()
        },
        PartyScript {
            number: Some("0801*".into()),
            ..PartyScript::default()
        },
        PartyScript {
            number: Some("0802*".into()),
            reject: Some(486),
            ..PartyScript::default()
        },
    ];
    if let Some(c) = t.campaigns.get_mut("demo") {
        c.numbers = [
            "0800000001",
            "0801000001",
            "0800000002",
            "0802000001",
            "0800000003",
        ]
        .map(String::from)
        .to_vec();
        c.initial_ratio = 1.0;
        c.ring_timeout_ms = 400;
        c.abandon_after_ms = 5_000;
    }
    if let Some(q) = t.queues.get_mut("support") {
        q.after_call_work_ms = 0;
    }
    let s = sim(t).await;
    let _a = Phone::start("1910", s.sip).await;
    let (status, _) = s
        .send(
            "POST",
            "/api/operators/login",
            json!({"login_id": "op1910", "password": "op-secret", "extension": "1910"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, v) = s.send("POST", "/api/campaigns/demo/start", json!({})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["state"], "running");
    let c = s
        .wait("the campaign to finish", "/api/campaigns/demo", |c| {
            c["state"] == "finished"
        })
        .await;
    assert_eq!(c["dialled"], 5, "{c}");
    assert_eq!(c["connects"], 3, "{c}");
    assert_eq!(c["no_answers"], 1, "{c}");
    assert_eq!(c["busy"], 1, "{c}");
    assert_eq!(c["abandons"], 0, "{c}");
    let (status, _) = s.send("POST", "/api/campaigns/nope/start", json!({})).await;
    assert_eq!(status, 404);
    // The campaign calls show the parties and the operator.
    let calls = s.get("/api/calls").await.1;
    let connected: Vec<&Value> = calls
        .as_array()
        .expect("list")
        .iter()
        .filter(|c| c["kind"] == "campaign" && c["operator"] == "op1910")
        .collect();
    assert_eq!(connected.len(), 3);
}

#[tokio::test]
async fn caller_id_prefix_chooses_the_outside_line_the_party_sees() {
    let s = sim(Tenant::builtin()).await;
    let mut a = Phone::start("1910", s.sip).await;
    let cid = a.call("700209012345678").await;
    a.up(&cid).await; // the default party answers after 500 ms
    let calls = s.get("/api/calls").await.1;
    let c = &calls[0];
    assert_eq!(c["kind"], "outbound");
    assert_eq!(c["outside_line"], "0312345679");
    assert_eq!(c["talking_to"], "09012345678");
    let id = c["id"].as_u64().expect("id");
    let m = s.get(&format!("/api/calls/{id}/media")).await.1;
    assert_eq!(m[0]["role"], "called");
    assert_eq!(m[0]["dialled"], "09012345678");
    assert_eq!(m[0]["caller_id_received"], "0312345679");
    // Without a prefix the extension's default caller ID is shown.
    a.hangup(&cid).await;
    let cid = a.call("09011112222").await;
    a.up(&cid).await;
    let calls = s.get("/api/calls?state=live").await.1;
    let id = calls[0]["id"].as_u64().expect("id");
    let m = s.get(&format!("/api/calls/{id}/media")).await.1;
    assert_eq!(m[0]["caller_id_received"], "0312345678");
    // The party sends DTMF on request; it is recorded on its own side.
    let (status, v) = s
        .send(
            "POST",
            &format!("/api/calls/{id}/dtmf"),
            json!({"digits": "12#"}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    s.wait("DTMF sent", &format!("/api/calls/{id}/media"), |m| {
        m[0]["media"]["dtmf_sent"] == "12#"
    })
    .await;
}

#[tokio::test]
async fn ring_group_rings_every_member_and_the_first_answer_wins() {
    let s = sim(Tenant::builtin()).await;
    let mut a = Phone::start("1303", s.sip).await;
    let mut b = Phone::start("1330", s.sip).await;
    *b.mode.lock().expect("lock") = Mode::Ring;
    let (status, v) = s
        .send(
            "POST",
            "/api/calls",
            json!({"from": "0455556666", "to": "0312345681"}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_u64().expect("id");
    let (acid, ..) = a.incoming().await;
    let (bcid, ..) = b.incoming().await;
    a.up(&acid).await;
    b.ended(&bcid).await; // cancelled: answered elsewhere
    let c = s
        .wait_call(id, "answered", |c| c["state"] == "answered")
        .await;
    assert_eq!(c["extension"], "1303");
    assert_eq!(c["target"], "ring_group sales");
}
