//! Steps about internal calls (WEB-6, CMD-5): every call reaches the
//! softphone through the simulator's B2BUA as a real PBX delivers it (an
//! extension dialling with `bbclient call`, a consultation call, a transfer,
//! the ACD queue, the predictive dialler), and the verdict is read from the
//! softphone's control-socket events (`ringing`, then the `hook` events of
//! that Call-ID) and set beside what the simulator says it sent and what
//! kind of call it counts.
//!
//! The call under test is the ring at the watched extension from a given
//! caller: its Call-ID is the one in that extension's own `ringing` event,
//! never the simulator's idea of "the call", whose legs have Call-IDs of
//! their own.
//!
//! Checks that a hook did *not* run wait for the softphone's `skipped`
//! events of that call first: they prove it decided.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};

use conformance::world::BbWorld;
use cucumber::{then, when};
use serde_json::{Value, json};

/// The call under test.
#[derive(Clone, Debug)]
struct Ring {
    /// The extension that rang.
    ext: String,
    /// The caller number it showed.
    caller: String,
    /// The Call-ID of its `ringing` event.
    call_id: String,
}

/// The per-scenario state of these steps, keyed by the World's scratch
/// folder (unique per scenario).
#[derive(Default)]
struct Internal {
    events: HashMap<String, Arc<Mutex<Vec<Value>>>>,
    ring: Option<Ring>,
}

type Shared = Arc<Mutex<Internal>>;

static STATES: LazyLock<Mutex<HashMap<PathBuf, Shared>>> = LazyLock::new(Default::default);

fn state(w: &BbWorld) -> Shared {
    let mut all = STATES.lock().unwrap_or_else(|e| e.into_inner());
    all.retain(|dir, _| dir.exists());
    all.entry(w.dir.clone()).or_default().clone()
}

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Internal> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// Subscribes to the events of the softphone of `ext` (once per scenario).
async fn watch(w: &BbWorld, ext: &str) -> Result<(), String> {
    let st = state(w);
    if lock(&st).events.contains_key(ext) {
        return Ok(());
    }
    let events = w.subscribe_events(ext).await?;
    lock(&st).events.insert(ext.to_string(), events);
    Ok(())
}

fn events_of(w: &BbWorld, ext: &str) -> Vec<Value> {
    let st = state(w);
    let list = lock(&st).events.get(ext).cloned();
    list.and_then(|l| l.lock().ok().map(|e| e.clone()))
        .unwrap_or_default()
}

fn ring(w: &BbWorld) -> Result<Ring, String> {
    lock(&state(w))
        .ring
        .clone()
        .ok_or_else(|| "no call rang at a watched extension in this scenario".into())
}

/// Waits until `ext` rings with a call from `caller` (its own `ringing`
/// event) and makes that the call under test.
async fn rings_from(w: &BbWorld, ext: &str, caller: &str) -> Result<Ring, String> {
    let call_id = w
        .wait_for(
            &format!("extension {ext} to ring with a call from {caller}"),
            15,
            || async {
                events_of(w, ext).into_iter().find_map(|e| {
                    (e["event"] == "ringing"
                        && e["direction"] == "incoming"
                        && e["remote_number"] == caller)
                        .then(|| e["call_id"].as_str().map(str::to_string))
                        .flatten()
                })
            },
        )
        .await?;
    let r = Ring {
        ext: ext.to_string(),
        caller: caller.to_string(),
        call_id,
    };
    lock(&state(w)).ring = Some(r.clone());
    Ok(r)
}

/// Runs `bbclient ARGS` at `ext`; a refusal is an error with its reason.
async fn verb(w: &BbWorld, ext: &str, args: &[&str]) -> Result<(), String> {
    let (ok, out, err) = w.bbclient(ext, args).await?;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'bbclient {}' at extension {ext} failed: {err}{out}\n{}",
            args.join(" "),
            w.transcripts()
        ))
    }
}

/// Waits until the softphone of `ext` printed a line starting with `prefix`.
async fn said(w: &BbWorld, ext: &str, prefix: &str) -> Result<(), String> {
    w.wait_for(
        &format!("extension {ext} to say '{prefix}…'"),
        10,
        || async {
            w.phones
                .get(ext)?
                .proc
                .output
                .lock()
                .ok()?
                .iter()
                .any(|l| l.starts_with(prefix))
                .then_some(())
        },
    )
    .await
}

/// Every call the simulator keeps.
async fn sim_calls(w: &BbWorld) -> Result<Vec<Value>, String> {
    let (status, v) = w.api_call("GET", "/api/calls", None).await?;
    if status != 200 {
        return Err(format!("GET /api/calls answered {status}: {v}"));
    }
    Ok(v.as_array().cloned().unwrap_or_default())
}

/// The simulator's call holding the leg to `ring.ext` whose SIP Call-ID is
/// the ring's, and that leg.
async fn sim_call_of(w: &BbWorld, ring: &Ring) -> Result<(Value, Value), String> {
    let calls = sim_calls(w).await?;
    for c in &calls {
        let leg = c["legs"].as_array().and_then(|legs| {
            legs.iter().find(|l| {
                l["endpoint"]["kind"] == "extension"
                    && l["endpoint"]["number"] == ring.ext.as_str()
                    && l["sip_call_id"] == ring.call_id.as_str()
            })
        });
        if let Some(leg) = leg {
            return Ok((c.clone(), leg.clone()));
        }
    }
    Err(format!(
        "the simulator has no leg to extension {} with the Call-ID {}: {}",
        ring.ext,
        ring.call_id,
        Value::Array(calls)
    ))
}

/// The outside line that rings `ext` directly in internal_calls.toml.
fn line_of(ext: &str) -> Result<&'static str, String> {
    match ext {
        "1910" => Ok("0312345678"),
        "1911" => Ok("0312345679"),
        _ => Err(format!(
            "no outside line of internal_calls.toml rings extension {ext}"
        )),
    }
}

/// The queue's outside line in internal_calls.toml.
const QUEUE_LINE: &str = "0312345680";
/// The operator of internal_calls.toml (password `op1910-pw`).
const OPERATOR: &str = "op1910";
/// The desk that takes outside calls and transfers them.
const DESK: &str = "1911";

/// An outside caller `from` calls `line`; returns the simulator's call id.
async fn outside_call(w: &mut BbWorld, from: &str, line: &str) -> Result<u64, String> {
    let (status, v) = w
        .api_call(
            "POST",
            "/api/calls",
            Some(json!({"from": from, "to": line})),
        )
        .await?;
    if status != 201 {
        return Err(format!("the simulator refused the call ({status}): {v}"));
    }
    let id = v["id"].as_u64().ok_or(format!("no call id in {v}"))?;
    w.last_call = Some(id);
    Ok(id)
}

/// The outside caller `from` talks to the desk [`DESK`] (it called the
/// desk's line and the desk answered).
async fn desk_talks_to(w: &mut BbWorld, from: &str) -> Result<(), String> {
    watch(w, DESK).await?;
    outside_call(w, from, line_of(DESK)?).await?;
    rings_from(w, DESK, from).await?;
    verb(w, DESK, &["answer"]).await?;
    super::calls::wait_call_state(w, "answered")
        .await
        .map(|_| ())
}

/// Logs `op` in on `ext` through the simulator's operator API (what
/// `bbclient login` posts; the login itself is ACD-1's business).
async fn operator_login(w: &BbWorld, op: &str, ext: &str) -> Result<(), String> {
    let body = json!({"login_id": op, "password": format!("{op}-pw"), "extension": ext});
    let (status, v) = w
        .api_call("POST", "/api/operators/login", Some(body))
        .await?;
    if status != 200 {
        return Err(format!(
            "the simulator refused the login of {op} on {ext} ({status}): {v}"
        ));
    }
    w.wait_for(&format!("operator {op} to be available"), 10, || async {
        let (_, v) = w
            .api_call("GET", &format!("/api/operators/{op}"), None)
            .await
            .ok()?;
        let view = if v["operator"].is_object() {
            &v["operator"]
        } else {
            &v
        };
        (view["state"] == "available").then_some(())
    })
    .await
}

// ------------------------------------------------------------------ given

// ------------------------------------------------------------------- when

/// Extension `from` calls extension `to` with `bbclient call`, and the step waits up to
/// 15 s until the softphone of `to` reports it rings with a call from `from`.
/// That ring becomes the call under test of the "… of that call" steps. Both extensions
/// need a running softphone.
#[when(expr = "extension {word} calls extension {word}")]
async fn extension_calls(w: &mut BbWorld, from: String, to: String) -> Result<(), String> {
    watch(w, &to).await?;
    verb(w, &from, &["call", &to]).await?;
    rings_from(w, &to, &from).await.map(|_| ())
}

/// Rings `ext` from `caller` as `call` says: the call under test (internal_calls.toml).
/// `call`: "an extension dials it", "an extension dials its outside line", "a
/// consultation call before a transfer", "an outside caller dials its outside line", "an
/// extension blind-transfers an outside caller", "an extension holds an outside caller,
/// then transfers it", "an extension completes a transfer while it rings", "the ACD queue
/// offers a call", "the dialler connects a campaign call". Waits up to 15 s.
#[when(expr = "{string} rings extension {word} from {word}")]
async fn call_of_kind(
    w: &mut BbWorld,
    call: String,
    ext: String,
    caller: String,
) -> Result<(), String> {
    watch(w, &ext).await?;
    match call.as_str() {
        "an extension dials it" => verb(w, &caller, &["call", &ext]).await?,
        "an extension dials its outside line" => {
            verb(w, &caller, &["call", line_of(&ext)?]).await?;
        }
        "a consultation call before a transfer" => {
            if caller != DESK {
                return Err(format!("the consultation call comes from {DESK}"));
            }
            desk_talks_to(w, "09012345678").await?;
            verb(w, DESK, &["transfer", &ext]).await?;
        }
        "an outside caller dials its outside line" => {
            outside_call(w, &caller, line_of(&ext)?).await?;
        }
        "an extension blind-transfers an outside caller" => {
            desk_talks_to(w, &caller).await?;
            verb(w, DESK, &["blindtransfer", &ext]).await?;
        }
        "an extension holds an outside caller, then transfers it" => {
            desk_talks_to(w, &caller).await?;
            verb(w, DESK, &["hold"]).await?;
            said(w, DESK, "bbclient: on hold").await?;
            verb(w, DESK, &["blindtransfer", &ext]).await?;
        }
        "an extension completes a transfer while it rings" => {
            desk_talks_to(w, &caller).await?;
            verb(w, DESK, &["transfer", &ext]).await?;
            // The consultation call rings first (from the desk) …
            rings_from(w, &ext, DESK).await?;
            verb(w, DESK, &["transfer_complete"]).await?;
            // … then the outside caller, handed over by the desk.
        }
        "the ACD queue offers a call" => {
            operator_login(w, OPERATOR, &ext).await?;
            outside_call(w, &caller, QUEUE_LINE).await?;
        }
        "the dialler connects a campaign call" => {
            operator_login(w, OPERATOR, &ext).await?;
            let (status, v) = w
                .api_call("POST", "/api/campaigns/renewals/start", Some(json!({})))
                .await?;
            if status != 200 {
                return Err(format!("the campaign did not start ({status}): {v}"));
            }
        }
        other => return Err(format!("no such call in the step: '{other}'")),
    }
    rings_from(w, &ext, &caller).await.map(|_| ())
}

// ------------------------------------------------------------------- then

/// Waits for the `hook` event of kind `kind` for the call under test whose
/// outcome is `outcome`; an event of that kind with another outcome fails
/// at once.
async fn hook_outcome(
    w: &BbWorld,
    kind: &str,
    outcome: &str,
    detail: Option<&str>,
) -> Result<(), String> {
    let r = ring(w)?;
    let got = w
        .wait_for(
            &format!(
                "a {kind} hook event for the call from {} at extension {}",
                r.caller, r.ext
            ),
            10,
            || async {
                events_of(w, &r.ext).into_iter().find(|e| {
                    e["event"] == "hook" && e["kind"] == kind && e["call_id"] == r.call_id.as_str()
                })
            },
        )
        .await?;
    if got["outcome"] != outcome {
        return Err(format!(
            "the {kind} hook of the call from {} at extension {} ended '{}', not '{outcome}': {got}",
            r.caller,
            r.ext,
            got["outcome"].as_str().unwrap_or("?")
        ));
    }
    if let Some(d) = detail
        && !got["detail"].as_str().is_some_and(|x| x.contains(d))
    {
        return Err(format!("the {kind} hook event does not say '{d}': {got}"));
    }
    Ok(())
}

/// Checks that the softphone of extension `ext` reports the hook `kind` of the call under
/// test as ended with `outcome`.
/// `kind`: `popup`, `details`, `command_ring`, `command_answer` or `command_hangup`;
/// `outcome`: `ok`, `failed`, `timed_out` or `skipped`. `ext` must be the extension that
/// rang. Waits up to 10 s for the hook's event; another outcome fails at once.
#[then(expr = "the softphone of extension {word} reports the {word} hook of that call as {word}")]
async fn hook_reported(
    w: &mut BbWorld,
    ext: String,
    kind: String,
    outcome: String,
) -> Result<(), String> {
    same_ext(w, &ext)?;
    hook_outcome(w, &kind, &outcome, None).await
}

/// Checks that the softphone of extension `ext` reports the hook `kind` of the call under
/// test as `outcome`, with a detail containing `detail` (e.g. "internal call").
/// Otherwise as "… reports the … hook of that call as …": waits up to 10 s for the event.
#[then(
    expr = "the softphone of extension {word} reports the {word} hook of that call as {word} with {string}"
)]
async fn hook_reported_with(
    w: &mut BbWorld,
    ext: String,
    kind: String,
    outcome: String,
    detail: String,
) -> Result<(), String> {
    same_ext(w, &ext)?;
    hook_outcome(w, &kind, &outcome, Some(&detail)).await
}

fn same_ext(w: &BbWorld, ext: &str) -> Result<(), String> {
    let r = ring(w)?;
    if r.ext != ext {
        return Err(format!(
            "the call under test rang at extension {}, not {ext}",
            r.ext
        ));
    }
    Ok(())
}

/// The argv recorders' runs in this scenario (`{dir}/bin/*.jsonl`), as
/// argument lists.
fn recorder_runs(w: &BbWorld) -> Vec<Vec<String>> {
    let Ok(dir) = std::fs::read_dir(w.dir.join("bin")) else {
        return Vec::new();
    };
    let mut runs = Vec::new();
    for e in dir.flatten() {
        if e.path().extension().and_then(|x| x.to_str()) != Some("jsonl") {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        for line in text.lines() {
            if let Ok(v) = serde_json::from_str::<Value>(line) {
                let args = v["args"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|x| x.as_str().unwrap_or("").to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                runs.push(args);
            }
        }
    }
    runs
}

/// The CRM's requests whose query or body carries `number=CALLER`.
async fn crm_requests_from(w: &BbWorld, caller: &str) -> Result<Vec<Value>, String> {
    let needle = format!("number={caller}");
    Ok(w.crm_requests()
        .await?
        .into_iter()
        .filter(|r| {
            [&r["query"], &r["body"]].iter().any(|v| {
                v.as_str()
                    .is_some_and(|s| s.split('&').any(|p| p == needle))
            })
        })
        .collect())
}

/// Checks that extension `ext` runs or skips the popup and ring-command hooks of the call
/// under test, as `verdict` (`runs` or `skips`) says.
/// `runs`: both hooks ended `ok`, the CRM got exactly one request with `number=CALLER`
/// and a command ran with the caller's number. `skips`: both were reported skipped as an
/// "internal call", no CRM request and no command for that caller. Waits up to 10 s per
/// hook event.
#[then(expr = "extension {word} {word} the hooks of that call")]
async fn hooks_of_that_call(w: &mut BbWorld, ext: String, verdict: String) -> Result<(), String> {
    same_ext(w, &ext)?;
    let r = ring(w)?;
    match verdict.as_str() {
        "runs" => {
            hook_outcome(w, "popup", "ok", None).await?;
            hook_outcome(w, "command_ring", "ok", None).await?;
            let sent = crm_requests_from(w, &r.caller).await?;
            if sent.len() != 1 {
                return Err(format!(
                    "the CRM received {} popup requests for the caller {}, expected 1: {sent:?}",
                    sent.len(),
                    r.caller
                ));
            }
            if !recorder_runs(w).iter().any(|a| a.contains(&r.caller)) {
                return Err(format!(
                    "no command ran with the caller {}: {:?}",
                    r.caller,
                    recorder_runs(w)
                ));
            }
            Ok(())
        }
        "skips" => {
            // The skipped events are the softphone's decision: after them a
            // wrongly started hook would already be on its way.
            hook_outcome(w, "popup", "skipped", Some("internal call")).await?;
            hook_outcome(w, "command_ring", "skipped", Some("internal call")).await?;
            let sent = crm_requests_from(w, &r.caller).await?;
            if !sent.is_empty() {
                return Err(format!(
                    "the CRM received a request for the internal call from {}: {sent:?}",
                    r.caller
                ));
            }
            let ran: Vec<_> = recorder_runs(w)
                .into_iter()
                .filter(|a| a.contains(&r.caller))
                .collect();
            if !ran.is_empty() {
                return Err(format!(
                    "a command ran for the internal call from {}: {ran:?}",
                    r.caller
                ));
            }
            Ok(())
        }
        other => Err(format!("'{other}': write 'runs' or 'skips'")),
    }
}

/// Checks, at once, that the simulator told extension `ext` which outside line the call
/// under test came in on: its P-Called-Party-ID was `line`.
/// `ext` must be the extension that rang.
#[then(expr = "the simulator named the outside line {word} to extension {word}")]
async fn line_named(w: &mut BbWorld, line: String, ext: String) -> Result<(), String> {
    same_ext(w, &ext)?;
    let r = ring(w)?;
    let (_, leg) = sim_call_of(w, &r).await?;
    let named = leg["presented"]["called_party"].as_str().unwrap_or("none");
    if named != line {
        return Err(format!(
            "the simulator sent P-Called-Party-ID {named} to extension {ext}, expected {line}: {leg}"
        ));
    }
    Ok(())
}

/// Checks, at once, that the simulator counts the call under test as `kind` (e.g.
/// `internal`, `inbound`), and that the example's `verdict` agrees with the rule.
/// The rule: `skips` for an `internal` call, `runs` for any other. Fails if the example
/// says otherwise.
#[then(expr = "the simulator counts that call as {word}, which the softphone {word}")]
async fn sim_kind(w: &mut BbWorld, kind: String, verdict: String) -> Result<(), String> {
    let r = ring(w)?;
    let (call, _) = sim_call_of(w, &r).await?;
    if call["kind"] != kind.as_str() {
        return Err(format!(
            "the simulator counts the call from {} at extension {} as {}, not {kind}: {call}",
            r.caller, r.ext, call["kind"]
        ));
    }
    // The rule and the simulator must agree: an internal call is exactly
    // one whose hooks are skipped.
    let expected = if kind == "internal" { "skips" } else { "runs" };
    if verdict != expected {
        return Err(format!(
            "the example disagrees with the simulator: a call of kind {kind} is one whose hooks the softphone {expected}, not {verdict}"
        ));
    }
    Ok(())
}
