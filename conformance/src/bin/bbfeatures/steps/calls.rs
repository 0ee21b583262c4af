//! Steps about calls: the simulator, outside callers, the operator's verbs.

use conformance::world::BbWorld;
use cucumber::{given, then, when};
use serde_json::{Value, json};

/// Starts the BlueBean simulator (the fake PBX, with its built-in tenant) and a mock CRM
/// on free local ports.
/// The built-in tenant has the extensions 1910, 1911, 1912, 1303 and 1330 (SIP password
/// `pwEXT`); the outside line 0312345678 rings 1910 and 0312345679 rings 1911.
#[given("the BlueBean simulator and a mock CRM are running")]
async fn servers(w: &mut BbWorld) -> Result<(), String> {
    w.start_servers().await
}

/// Has the simulator place a call from the outside number `from` to the outside line
/// `to`.
/// It becomes the scenario's current outside call, which later steps check. It does not
/// wait for anything to ring: follow it with e.g. "the softphone rings". Fails at once if
/// the simulator refuses the call.
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

/// Checks that the current outside call is ringing at an extension, as the simulator sees
/// it.
/// It does not check which extension rings. Waits up to 10 s.
#[then("the softphone rings")]
async fn rings(w: &mut BbWorld) -> Result<(), String> {
    wait_call_state(w, "ringing").await.map(|_| ())
}

/// Runs a `bbclient` command at the softphone with the lowest extension number and checks
/// that it succeeds.
/// `command`: the whole command line, e.g. "bbclient answer", split at spaces (no
/// quoting); only `bbclient` commands are accepted. Fails with the command's output and
/// every process's output if it exits with an error.
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

/// Checks that the current outside call is answered and connected to extension `ext`, as
/// the simulator sees it.
/// Waits up to 10 s for the answer; fails if another extension answered.
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

/// The outside caller of the current outside call hangs up: the simulator ends the call
/// from its side.
/// Does not wait for the call to end; follow it with "the call has ended".
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

/// Checks that the current outside call has ended, as the simulator sees it.
/// Waits up to 10 s.
#[then("the call has ended")]
async fn ended(w: &mut BbWorld) -> Result<(), String> {
    wait_call_state(w, "ended").await.map(|_| ())
}

// ---------------------------------------------------------------------------
// Early media and session timers (CALL-1)
// ---------------------------------------------------------------------------

/// Sets the simulator's session timers (RFC 4028) for this scenario.
async fn set_session_timer(w: &BbWorld, settings: Value) -> Result<(), String> {
    let (status, v) = w
        .api_call("POST", "/api/session_timer", Some(settings))
        .await?;
    if status != 200 {
        return Err(format!(
            "the simulator refused the session-timer settings ({status}): {v}"
        ));
    }
    Ok(())
}

/// Makes the simulator offer SIP session timers (RFC 4028) on the calls set up after this
/// step.
/// `secs`: the session interval in seconds; `who`: `extension` or `simulator`, the side
/// that must send the refreshes.
#[given(expr = "the simulator offers session timers of {int} s refreshed by the {word}")]
async fn session_timers(w: &mut BbWorld, secs: u32, who: String) -> Result<(), String> {
    if who != "extension" && who != "simulator" {
        return Err(format!(
            "'{who}' in the step: say the extension or the simulator"
        ));
    }
    set_session_timer(
        w,
        json!({"session_expires": secs, "refresher": who, "refresh": "normal"}),
    )
    .await
}

/// Makes the simulator offer session timers of `secs` seconds on the calls set up after
/// this step, with itself as the refresher, but never send a refresh.
/// The session then runs out unless the softphone ends the call itself.
#[given(expr = "the simulator offers session timers of {int} s but never refreshes them")]
async fn session_timers_never(w: &mut BbWorld, secs: u32) -> Result<(), String> {
    set_session_timer(
        w,
        json!({"session_expires": secs, "refresher": "simulator", "refresh": "never"}),
    )
    .await
}

/// The simulator's view of the call of `ext`: the last outside call placed,
/// else the newest call from `ext`.
async fn call_with(w: &BbWorld, ext: &str) -> Result<Value, String> {
    if w.last_call.is_some() {
        return w.last_call_state().await;
    }
    w.wait_for(&format!("a call from extension {ext}"), 10, || async {
        let (_, calls) = w.api_call("GET", "/api/calls", None).await.ok()?;
        calls
            .as_array()?
            .iter()
            .rev()
            .find(|c| c["from"] == ext)
            .cloned()
    })
    .await
}

/// The leg of `ext` in a call view.
fn leg_of(call: &Value, ext: &str) -> Option<Value> {
    call["legs"]
        .as_array()?
        .iter()
        .find(|l| l["endpoint"]["kind"] == "extension" && l["endpoint"]["number"] == ext)
        .cloned()
}

async fn call_id_of(w: &BbWorld, ext: &str) -> Result<u64, String> {
    call_with(w, ext)
        .await?
        .get("id")
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("the call of extension {ext} has no id"))
}

async fn call_view(w: &BbWorld, id: u64) -> Option<Value> {
    let (status, v) = w
        .api_call("GET", &format!("/api/calls/{id}"), None)
        .await
        .ok()?;
    (status == 200).then_some(v)
}

/// Checks, with `bbclient status --json`, that the softphone of extension `ext` lists a
/// call with `number` in the state `state`.
/// `state` as the status shows it: `ringing`, `answering`, `dialing`, `early`, `talking`,
/// `held` or `held_by_peer`. Waits up to 10 s; on failure shows the last status.
#[then(expr = "the softphone of extension {word} shows the call to {word} as {word}")]
async fn phone_shows_call(
    w: &mut BbWorld,
    ext: String,
    number: String,
    state: String,
) -> Result<(), String> {
    let last = std::sync::Mutex::new(String::new());
    let found = w
        .wait_for(
            &format!("extension {ext} to show its call to {number} as {state}"),
            10,
            || async {
                let (ok, out, err) = w.bbclient(&ext, &["status", "--json"]).await.ok()?;
                if let Ok(mut l) = last.lock() {
                    *l = format!("{out}{err}");
                }
                let v: Value = serde_json::from_str(out.trim()).ok()?;
                (ok && v["calls"]
                    .as_array()?
                    .iter()
                    .any(|c| c["number"] == number.as_str() && c["state"] == state.as_str()))
                .then_some(())
            },
        )
        .await;
    found.map_err(|e| {
        format!(
            "{e}\nlast status: {}",
            last.lock().map(|l| l.clone()).unwrap_or_default()
        )
    })
}

/// Checks that the simulator shows the call of extension `ext` as answered.
/// The call is the current outside call, or, if the scenario placed none, the newest call
/// that `ext` made. Waits up to 15 s.
#[then(expr = "the simulator shows the call of extension {word} answered")]
async fn sim_call_answered(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let id = call_id_of(w, &ext).await?;
    w.wait_for(&format!("call {id} to be answered"), 15, || async {
        call_view(w, id)
            .await
            .filter(|c| c["state"] == "answered")
            .map(|_| ())
    })
    .await
}

/// Checks that the simulator's leg to extension `ext` carries a session timer of `secs`
/// seconds refreshed by `who` (`extension` or `simulator`).
/// The call is the current outside call, else the newest call that `ext` made. Waits up
/// to 10 s; on failure shows the leg's session timer.
#[then(
    expr = "the call of extension {word} has a session timer of {int} s refreshed by the {word}"
)]
async fn call_has_timer(
    w: &mut BbWorld,
    ext: String,
    secs: u64,
    who: String,
) -> Result<(), String> {
    let want = match who.as_str() {
        "extension" => "peer",
        "simulator" => "simulator",
        other => return Err(format!("'{other}' in the step: say extension or simulator")),
    };
    let id = call_id_of(w, &ext).await?;
    let last = std::sync::Mutex::new(Value::Null);
    let found = w
        .wait_for(
            &format!("a session timer on extension {ext}'s leg of call {id}"),
            10,
            || async {
                let c = call_view(w, id).await?;
                let timer = leg_of(&c, &ext)?["session_timer"].clone();
                if let Ok(mut l) = last.lock() {
                    *l = timer.clone();
                }
                (timer["interval_s"].as_u64() == Some(secs) && timer["refresher"] == want)
                    .then_some(())
            },
        )
        .await;
    found.map_err(|e| {
        format!(
            "{e}\nthe leg's session timer: {}",
            last.lock().map(|l| l.to_string()).unwrap_or_default()
        )
    })
}

/// Checks that within `secs` seconds the simulator receives a session refresh from
/// extension `ext` on its call, and that the call is still answered afterwards.
/// Prints how many refreshes the simulator counted.
#[then(expr = "within {int} s the simulator counts a session refresh from extension {word}")]
async fn refresh_counted(w: &mut BbWorld, secs: u64, ext: String) -> Result<(), String> {
    let id = call_id_of(w, &ext).await?;
    let c = w
        .wait_for(
            &format!("a session refresh from extension {ext} on call {id}"),
            secs,
            || async {
                let c = call_view(w, id).await?;
                let n = leg_of(&c, &ext)?["session_timer"]["refreshes_received"].as_u64()?;
                (n >= 1).then_some(c)
            },
        )
        .await?;
    if c["state"] != "answered" {
        return Err(format!("the call is {} after the refresh: {c}", c["state"]));
    }
    println!(
        "CALL-1: the simulator counted {} session refresh(es) from extension {ext}",
        c["session_refreshes"]
    );
    Ok(())
}

/// Waits until `secs` seconds have passed since the call of extension `ext` was answered
/// (by the simulator's clock), then checks that the call is still answered.
/// Use it to prove that a session timer did not end the call early. Fails at once if the
/// call was never answered.
#[then(expr = "the call of extension {word} is still answered {int} s after its answer")]
async fn still_answered(w: &mut BbWorld, ext: String, secs: u64) -> Result<(), String> {
    let id = call_id_of(w, &ext).await?;
    let c = call_view(w, id)
        .await
        .ok_or_else(|| format!("no call {id}"))?;
    let answered = c["answered_ms"]
        .as_u64()
        .ok_or_else(|| format!("call {id} was never answered: {c}"))?;
    let until = answered + secs * 1000;
    // Wait on the simulator's own clock until that moment has passed.
    w.wait_for(
        &format!("the simulator's clock to pass {until} ms"),
        secs + 15,
        || async {
            let (_, stats) = w.api_call("GET", "/api/stats", None).await.ok()?;
            (stats["uptime_ms"].as_u64()? > until).then_some(())
        },
    )
    .await?;
    let c = call_view(w, id)
        .await
        .ok_or_else(|| format!("no call {id}"))?;
    if c["state"] != "answered" {
        return Err(format!(
            "call {id} is {} ({}) {secs} s after its answer: {c}",
            c["state"], c["end_reason"]
        ));
    }
    Ok(())
}

/// Checks that within `secs` seconds the call of extension `ext` ends because the
/// softphone sent a BYE, and that the softphone printed that it hung up.
/// A call that the simulator ended, e.g. because the session expired there, fails the
/// step.
#[then(expr = "within {int} s the softphone of extension {word} ends the call with BYE")]
async fn phone_ends_with_bye(w: &mut BbWorld, secs: u64, ext: String) -> Result<(), String> {
    let id = call_id_of(w, &ext).await?;
    let c = w
        .wait_for(
            &format!("extension {ext} to end call {id}"),
            secs,
            || async { call_view(w, id).await.filter(|c| c["state"] == "ended") },
        )
        .await?;
    let leg = leg_of(&c, &ext).ok_or_else(|| format!("no leg of {ext} in {c}"))?;
    // The extension's leg ended by the BYE it sent ("bye"), not by one the
    // simulator sent (that leg would end as "session_expired").
    if leg["end_reason"] != "bye" {
        return Err(format!(
            "extension {ext}'s leg ended as {}, not by its BYE: {c}",
            leg["end_reason"]
        ));
    }
    let said = w.phones.get(&ext).is_some_and(|p| {
        p.proc
            .output
            .lock()
            .map(|o| o.iter().any(|l| l.starts_with("bbclient: hung up")))
            .unwrap_or(false)
    });
    if !said {
        return Err(format!(
            "extension {ext} did not report the hang-up\n{}",
            w.transcripts()
        ));
    }
    println!(
        "CALL-1: extension {ext} ended call {id} with BYE ({}) after {} ms",
        c["end_reason"],
        c["ended_ms"].as_u64().unwrap_or(0) - c["answered_ms"].as_u64().unwrap_or(0)
    );
    Ok(())
}

/// Checks, at once, that the simulator has sent no session refresh on the call of
/// extension `ext`.
/// The call is the current outside call, else the newest call that `ext` made.
#[then(expr = "the simulator sent no session refresh on the call of extension {word}")]
async fn no_refresh_sent(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let id = call_id_of(w, &ext).await?;
    let c = call_view(w, id)
        .await
        .ok_or_else(|| format!("no call {id}"))?;
    match c["session_refreshes_sent"].as_u64() {
        Some(0) => Ok(()),
        other => Err(format!("the simulator sent {other:?} refreshes: {c}")),
    }
}
