//! Steps about calls: the simulator, outside callers, the operator's verbs.

use conformance::world::BbWorld;
use cucumber::{given, then, when};
use serde_json::{Value, json};

#[given("the BlueBean simulator and a mock CRM are running")]
async fn servers(w: &mut BbWorld) -> Result<(), String> {
    w.start_servers().await
}

#[when(expr = "an outside caller {word} calls the outside line {word}")]
async fn outside_call(w: &mut BbWorld, from: String, to: String) -> Result<(), String> {
    let (status, v) = w
        .api_call("POST", "/api/calls", Some(json!({"from": from, "to": to})))
        .await?;
    if status != 201 {
        return Err(format!("the simulator refused the call ({status}): {v}"));
    }
    w.last_call = v["id"].as_u64();
    Ok(())
}

/// Waits until the simulator shows the last outside call in `state`.
pub async fn wait_call_state(w: &BbWorld, state: &str) -> Result<Value, String> {
    w.wait_for(&format!("the outside call to be {state}"), 10, || async {
        w.last_call_state()
            .await
            .ok()
            .filter(|c| c["state"] == state)
    })
    .await
}

#[then("the softphone rings")]
async fn rings(w: &mut BbWorld) -> Result<(), String> {
    wait_call_state(w, "ringing").await.map(|_| ())
}

#[when(expr = "the operator runs {string}")]
async fn operator_runs(w: &mut BbWorld, command: String) -> Result<(), String> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let (program, args) = words.split_first().ok_or("empty command")?;
    if *program != "bbclient" {
        return Err(format!(
            "only bbclient commands are supported, not '{program}'"
        ));
    }
    let ext = w.phones.keys().next().cloned().ok_or("no softphone")?;
    let (ok, out, err) = w.bbclient(&ext, args).await?;
    if !ok {
        return Err(format!(
            "'{command}' failed: {err}{out}\n{}",
            w.transcripts()
        ));
    }
    Ok(())
}

#[then(expr = "the outside caller is talking to extension {word}")]
async fn talking(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let call = wait_call_state(w, "answered").await?;
    if call["extension"] != ext.as_str() {
        return Err(format!(
            "the call is with extension {}, not {ext}",
            call["extension"]
        ));
    }
    Ok(())
}

#[when("the outside caller hangs up")]
async fn caller_hangs_up(w: &mut BbWorld) -> Result<(), String> {
    let id = w.last_call.ok_or("no outside call")?;
    let (status, v) = w
        .api_call("POST", &format!("/api/calls/{id}/hangup"), Some(json!({})))
        .await?;
    if status != 200 {
        return Err(format!("hang-up refused ({status}): {v}"));
    }
    Ok(())
}

#[then("the call has ended")]
async fn ended(w: &mut BbWorld) -> Result<(), String> {
    wait_call_state(w, "ended").await.map(|_| ())
}
