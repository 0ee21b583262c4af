//! Steps about operator login and the ACD (ACD-1…ACD-4): the simulator runs
//! a tenant file from `fixtures/sim/tenants/`, real `bbclient` softphones
//! (one `--instance` per extension) sit at its extensions, operators log in
//! from the softphone (`bbclient login`, which posts to the simulator's
//! operator API named by `[operator] api_url`), and what happened is read
//! from the softphones' output and the simulator's API.
//!
//! Checks that an extension does *not* ring look at once, at the
//! simulator's complete record (its `queue_offer` events) and the
//! softphone's lines, after the barrier step the feature puts before them: a
//! later positive event that proves the simulator already took the routing
//! decision that would have rung it — the call shown waiting in its queue
//! (the ACD offers a call in the same step that queues it), another
//! extension ringing with it, or the campaign's start answered (the dialler
//! paces in the same step).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use conformance::procs::bin_dir;
use conformance::world::BbWorld;
use cucumber::{given, then, when};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;
use tokio::process::Command;

/// The last `bbclient login`/`logout` run of each scenario (keyed by the
/// World's scratch folder, which is unique per scenario).
static LAST: LazyLock<Mutex<HashMap<PathBuf, Outcome>>> = LazyLock::new(Default::default);

#[derive(Debug, Clone)]
struct Outcome {
    what: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn show(&self) -> String {
        format!(
            "{} exited with {:?}\nstdout: {}\nstderr: {}",
            self.what, self.code, self.stdout, self.stderr
        )
    }
}

fn record(w: &BbWorld, o: Outcome) {
    let mut all = LAST.lock().unwrap_or_else(|e| e.into_inner());
    all.retain(|dir, _| dir.exists());
    all.insert(w.dir.clone(), o);
}

fn last(w: &BbWorld) -> Result<Outcome, String> {
    LAST.lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&w.dir)
        .cloned()
        .ok_or_else(|| "no bbclient login or logout was run in this scenario".into())
}

/// The password of an operator of `fixtures/sim/tenants/acd.toml`.
fn password_of(op: &str) -> String {
    format!("{op}-pw")
}

/// Every line the softphone of `ext` printed.
fn output_of(w: &BbWorld, ext: &str) -> Vec<String> {
    w.phones
        .get(ext)
        .and_then(|p| p.proc.output.lock().ok().map(|o| o.clone()))
        .unwrap_or_default()
}

/// The softphone's "ringing" lines (`bbclient: ringing: call from N to L …`).
fn ring_lines(w: &BbWorld, ext: &str) -> Vec<String> {
    output_of(w, ext)
        .into_iter()
        .filter(|l| l.starts_with("bbclient: ringing: call from "))
        .collect()
}

/// `bbclient --instance ext<EXT> ARGS…`, with `stdin_line` typed on stdin.
async fn run_bbclient(
    w: &BbWorld,
    ext: &str,
    args: &[&str],
    stdin_line: Option<&str>,
) -> Result<Outcome, String> {
    let instance = w
        .phones
        .get(ext)
        .map(|p| p.instance.clone())
        .ok_or_else(|| format!("no softphone for extension {ext}"))?;
    let mut cmd = Command::new(bin_dir()?.join("bbclient"));
    cmd.env("XDG_RUNTIME_DIR", w.dir.join("run"))
        .env("BBCLIENT_LOG", "info,rsipstack=warn")
        .env_remove("BBCLIENT_CONFIG")
        .args(["--instance", &instance])
        .args(args)
        .stdin(if stdin_line.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let what = format!("bbclient --instance {instance} {}", args.join(" "));
    let mut child = cmd.spawn().map_err(|e| format!("cannot run {what}: {e}"))?;
    if let (Some(line), Some(mut stdin)) = (stdin_line, child.stdin.take()) {
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .map_err(|e| format!("cannot type the password into {what}: {e}"))?;
        drop(stdin);
    }
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .map_err(|_| format!("{what} did not finish within 30 s"))?
        .map_err(|e| format!("{what}: {e}"))?;
    let o = Outcome {
        what,
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    record(w, o.clone());
    Ok(o)
}

/// The operator as the simulator shows it.
async fn operator(w: &BbWorld, op: &str) -> Result<Value, String> {
    let (status, v) = w
        .api_call("GET", &format!("/api/operators/{op}"), None)
        .await?;
    if status != 200 {
        return Err(format!(
            "the simulator has no operator {op} ({status}): {v}"
        ));
    }
    Ok(v)
}

/// Starts a softphone for `ext` whose `[operator]` section names the
/// simulator's operator API, and the login ID and password when given.
async fn phone_with_operator(
    w: &mut BbWorld,
    ext: &str,
    login: Option<(&str, &str)>,
) -> Result<(), String> {
    phone_with_operator_and(w, ext, login, "").await
}

/// [`phone_with_operator`] with `more` settings appended.
async fn phone_with_operator_and(
    w: &mut BbWorld,
    ext: &str,
    login: Option<(&str, &str)>,
    more: &str,
) -> Result<(), String> {
    let mut extra = format!("[operator]\napi_url = \"{}\"\n", w.api()?);
    if let Some((id, pw)) = login {
        extra.push_str(&format!("login_id = \"{id}\"\npassword = \"{pw}\"\n"));
    }
    extra.push_str("\n[sip]\nt1_ms = 100\n");
    extra.push_str(more);
    w.start_phone(ext, &extra).await
}

/// Starts a softphone for extension `ext` whose operator settings point at the
/// simulator and which answers a call by itself when the INVITE asks for it
/// (`[call] auto_answer = "server"`; the queue of the tenant must ask, as
/// `auto_answer = "call-info"` does), and waits until it registered (up to 15 s).
#[given(expr = "the softphone of extension {word} answers by itself when the server asks")]
async fn phone_auto_answers(w: &mut BbWorld, ext: String) -> Result<(), String> {
    phone_with_operator_and(w, &ext, None, "\n[call]\nauto_answer = \"server\"\n").await
}

/// Logs `op` in on `ext` from the softphone of `ext` (started if needed),
/// as the operator does: `bbclient login OP --password-stdin`.
async fn log_in(w: &mut BbWorld, op: &str, ext: &str) -> Result<(), String> {
    if !w.phones.contains_key(ext) {
        phone_with_operator(w, ext, None).await?;
    }
    let pw = password_of(op);
    let o = run_bbclient(w, ext, &["login", op, "--password-stdin"], Some(&pw)).await?;
    if o.code != Some(0) {
        return Err(format!(
            "the login failed: {}\n{}",
            o.show(),
            w.transcripts()
        ));
    }
    wait_operator(w, op, "logged_in", Some(ext)).await
}

/// Waits until the simulator shows `op` in `state` (on `ext`, when given).
pub(crate) async fn wait_operator(
    w: &BbWorld,
    op: &str,
    state: &str,
    ext: Option<&str>,
) -> Result<(), String> {
    let what = match ext {
        Some(e) => format!("operator {op} to be {state} on extension {e}"),
        None => format!("operator {op} to be {state}"),
    };
    let found = w
        .wait_for(&what, 10, || async {
            let v = operator(w, op).await.ok()?;
            let op = &v["operator"];
            let view = if op.is_object() { op } else { &v };
            let ext_ok = ext.is_none_or(|e| view["extension"] == e);
            // "logged_in": any state but logged_out (a waiting call may be
            // offered at once).
            let state_ok = match state {
                "logged_in" => view["state"].as_str().is_some_and(|s| s != "logged_out"),
                _ => view["state"] == state,
            };
            (state_ok && ext_ok).then_some(())
        })
        .await;
    match found {
        Ok(()) => Ok(()),
        Err(e) => Err(format!(
            "{e}\nthe simulator shows: {:?}",
            operator(w, op).await
        )),
    }
}

async fn set_state(w: &BbWorld, op: &str, state: &str) -> Result<(), String> {
    let url = format!("{}/api/operators/{op}/state", w.api()?);
    let resp = w
        .http
        .put(&url)
        .json(&json!({ "state": state }))
        .send()
        .await
        .map_err(|e| format!("PUT {url}: {e}"))?;
    let status = resp.status().as_u16();
    if status != 200 {
        let body = resp.text().await.unwrap_or_default();
        return Err(format!("PUT {url} {state}: {status} {body}"));
    }
    wait_operator(w, op, state, None).await
}

// ------------------------------------------------------------------ given

/// Starts a headless softphone for extension `ext` whose `[operator]` settings name the
/// simulator's operator API, with no login ID or password, and waits until it registered
/// (up to 15 s).
/// Its SIP password is `pwEXT`, as in the tenant files.
#[given(expr = "a softphone for extension {word} whose operator settings point at the simulator")]
async fn phone_pointing(w: &mut BbWorld, ext: String) -> Result<(), String> {
    phone_with_operator(w, &ext, None).await
}

/// Starts a headless softphone for extension `ext` whose `[operator]` settings name the
/// simulator's operator API, the login ID `op` and the password `pw`.
/// Waits until it registered (up to 15 s). Nobody is logged in yet.
#[given(
    expr = "a softphone for extension {word} with the operator login {word} and the password {string}"
)]
async fn phone_with_login(
    w: &mut BbWorld,
    ext: String,
    op: String,
    pw: String,
) -> Result<(), String> {
    phone_with_operator(w, &ext, Some((&op, &pw))).await
}

/// Logs operator `op` in on extension `ext` with `bbclient login OP --password-stdin`,
/// typing the tenant's password `OP-pw`, and waits up to 10 s until the simulator shows
/// it logged in there.
/// Starts a softphone for `ext` first if none runs. Fails with the command's output if
/// the login fails.
#[given(expr = "operator {word} is logged in on extension {word}")]
async fn logged_in(w: &mut BbWorld, op: String, ext: String) -> Result<(), String> {
    log_in(w, &op, &ext).await
}

/// Logs operator `op` in on extension `ext`: the same actions and checks as the Given
/// "operator … is logged in on extension …".
/// Types the tenant's password `OP-pw`; waits up to 10 s until the simulator shows the
/// operator logged in on `ext`.
#[when(expr = "operator {word} logs in on extension {word}")]
async fn logs_in(w: &mut BbWorld, op: String, ext: String) -> Result<(), String> {
    log_in(w, &op, &ext).await
}

/// Sets operator `op` to not available through the simulator's operator API.
/// Waits up to 10 s until the simulator shows it so.
#[given(expr = "operator {word} is not available")]
async fn not_available(w: &mut BbWorld, op: String) -> Result<(), String> {
    set_state(w, &op, "not_available").await
}

/// Sets operator `op` to available through the simulator's operator API, so that the ACD
/// can offer it calls.
/// Waits up to 10 s until the simulator shows it so.
#[when(expr = "operator {word} becomes available")]
async fn becomes_available(w: &mut BbWorld, op: String) -> Result<(), String> {
    set_state(w, &op, "available").await
}

// ------------------------------------------------------------------- when

/// Runs `bbclient login OP --password-stdin` at the softphone of extension `ext`, typing
/// the password `pw` on its standard input.
/// Does not check the outcome: follow it with "the login succeeds" or "the login is
/// refused". Gives up after 30 s.
#[when(expr = "the operator at extension {word} logs in as {word} typing the password {string}")]
async fn login_typing(w: &mut BbWorld, ext: String, op: String, pw: String) -> Result<(), String> {
    run_bbclient(w, &ext, &["login", &op, "--password-stdin"], Some(&pw))
        .await
        .map(|_| ())
}

/// Logs in at the softphone of extension `ext` as operator `op`, typing the password `pw`
/// (`bbclient login OP --password-stdin`).
/// Fails with the command's output if the login fails; then waits up to 10 s until the
/// simulator shows the operator logged in on `ext`.
#[given(expr = "the operator at extension {word} logged in as {word} typing the password {string}")]
async fn logged_in_typing(
    w: &mut BbWorld,
    ext: String,
    op: String,
    pw: String,
) -> Result<(), String> {
    let o = run_bbclient(w, &ext, &["login", &op, "--password-stdin"], Some(&pw)).await?;
    if o.code != Some(0) {
        return Err(format!(
            "the login failed: {}\n{}",
            o.show(),
            w.transcripts()
        ));
    }
    wait_operator(w, &op, "logged_in", Some(&ext)).await
}

/// Runs `bbclient login` with no arguments at the softphone of extension `ext`, so it
/// logs in with the login ID and password of its settings.
/// Does not check the outcome: follow it with "the login succeeds" or "the login is
/// refused".
#[when(
    expr = "the operator at extension {word} logs in with the login ID and password of the settings"
)]
async fn login_from_settings(w: &mut BbWorld, ext: String) -> Result<(), String> {
    run_bbclient(w, &ext, &["login"], None).await.map(|_| ())
}

/// Runs `bbclient logout` at the softphone of extension `ext`.
/// Does not check the outcome: "the login succeeds" checks that this command exited with
/// 0, and "the simulator shows operator … logged out" what it did.
#[when(expr = "the operator at extension {word} logs out")]
async fn logs_out(w: &mut BbWorld, ext: String) -> Result<(), String> {
    run_bbclient(w, &ext, &["logout"], None).await.map(|_| ())
}

/// Starts the simulator's predictive-dialler campaign `name` (from the tenant file) and
/// checks that it is running.
/// The simulator answers once the dialler has taken its first decision, so the next step
/// can check what was dialled or not.
#[when(expr = "the campaign {word} is started")]
async fn campaign_started(w: &mut BbWorld, name: String) -> Result<(), String> {
    let (status, v) = w
        .api_call(
            "POST",
            &format!("/api/campaigns/{name}/start"),
            Some(json!({})),
        )
        .await?;
    if status != 200 || v["state"] != "running" {
        return Err(format!("the campaign did not start ({status}): {v}"));
    }
    Ok(())
}

// ------------------------------------------------------------------- then

/// Checks that the last `bbclient login` or `bbclient logout` run by an operator step
/// exited with 0.
/// Despite its name it also checks a logout. Fails with the command's output and every
/// process's output.
#[then("the login succeeds")]
async fn login_succeeds(w: &mut BbWorld) -> Result<(), String> {
    let o = last(w)?;
    if o.code != Some(0) {
        return Err(format!("{}\n{}", o.show(), w.transcripts()));
    }
    Ok(())
}

/// Checks that the last `bbclient login` (or logout) was refused: exit code 1 and exactly
/// one line on stderr, starting `bbclient: `.
/// Blank lines are not counted.
#[then("the login is refused")]
async fn login_refused(w: &mut BbWorld) -> Result<(), String> {
    let o = last(w)?;
    // Exit code 1: the softphone (here: the server behind it) refused, and
    // the reason is one line on stderr.
    let lines: Vec<&str> = o.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    if o.code != Some(1) || lines.len() != 1 || !lines[0].starts_with("bbclient: ") {
        return Err(format!(
            "expected exit code 1 and one line 'bbclient: …' on stderr\n{}",
            o.show()
        ));
    }
    Ok(())
}

/// Checks that the simulator shows operator `op` available on extension `ext`.
/// Waits up to 10 s; on failure shows the simulator's view of the operator.
#[then(expr = "the simulator shows operator {word} available on extension {word}")]
async fn shows_available(w: &mut BbWorld, op: String, ext: String) -> Result<(), String> {
    wait_operator(w, &op, "available", Some(&ext)).await
}

/// Checks that the simulator shows operator `op` logged out.
/// Waits up to 10 s; on failure shows the simulator's view of the operator.
#[then(expr = "the simulator shows operator {word} logged out")]
async fn shows_logged_out(w: &mut BbWorld, op: String) -> Result<(), String> {
    wait_operator(w, &op, "logged_out", None).await
}

/// Checks, at once, that the text `pw` is in no line the softphone of extension `ext`
/// printed so far, nor in the output of the last `bbclient login` or `logout`.
/// Only the exact text is looked for, not encoded forms of it.
#[then(
    expr = "the password {string} appears nowhere in the output of the softphone of extension {word}"
)]
async fn password_nowhere(w: &mut BbWorld, pw: String, ext: String) -> Result<(), String> {
    let mut seen: Vec<String> = output_of(w, &ext)
        .into_iter()
        .filter(|l| l.contains(&pw))
        .collect();
    if let Ok(o) = last(w)
        && (o.stdout.contains(&pw) || o.stderr.contains(&pw))
    {
        seen.push(o.show());
    }
    if seen.is_empty() {
        Ok(())
    } else {
        Err(format!("the password was shown: {seen:?}"))
    }
}

/// Checks that the softphone of extension `ext` printed that it rings with a call from
/// `from`.
/// Waits up to 15 s.
#[then(expr = "extension {word} rings with a call from {word}")]
async fn rings_with(w: &mut BbWorld, ext: String, from: String) -> Result<(), String> {
    let prefix = format!("bbclient: ringing: call from {from} ");
    w.wait_for(
        &format!("extension {ext} to ring with a call from {from}"),
        15,
        || async {
            ring_lines(w, &ext)
                .iter()
                .any(|l| l.starts_with(&prefix))
                .then_some(())
        },
    )
    .await
}

/// Checks, at once, that extension `ext` has not rung: its softphone printed no ringing
/// line and the simulator's ACD offered it no call.
/// Put a barrier step before it that proves the simulator already routed the call, e.g.
/// "the call waits in the queue …" or another extension ringing.
#[then(expr = "extension {word} does not ring")]
async fn does_not_ring(w: &mut BbWorld, ext: String) -> Result<(), String> {
    if !w.phones.contains_key(&ext) {
        return Err(format!("no softphone for extension {ext}"));
    }
    let rang = ring_lines(w, &ext);
    if !rang.is_empty() {
        return Err(format!("extension {ext} rang: {rang:?}"));
    }
    // The simulator offered it nothing either.
    let offers = offers_to(w, &ext).await?;
    if !offers.is_empty() {
        return Err(format!(
            "the simulator offered extension {ext} a call: {offers:?}"
        ));
    }
    Ok(())
}

/// Checks, at once, that the softphone of extension `ext` rang exactly once and that the
/// simulator's ACD offered it exactly one call.
/// For calls routed through an ACD queue or campaign.
#[then(expr = "extension {word} rang only once")]
async fn rang_once(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let rang = ring_lines(w, &ext);
    if rang.len() != 1 {
        return Err(format!(
            "extension {ext} rang {} times: {rang:?}",
            rang.len()
        ));
    }
    let offers = offers_to(w, &ext).await?;
    if offers.len() != 1 {
        return Err(format!(
            "the simulator offered extension {ext} {} calls: {offers:?}",
            offers.len()
        ));
    }
    Ok(())
}

/// The simulator's `queue_offer` events for `ext`.
async fn offers_to(w: &BbWorld, ext: &str) -> Result<Vec<Value>, String> {
    let (status, ev) = w
        .api_call("GET", "/api/events?kind=queue_offer", None)
        .await?;
    let list = ev
        .as_array()
        .ok_or_else(|| format!("the simulator's events ({status}) are not a list: {ev}"))?;
    Ok(list
        .iter()
        .filter(|e| e["detail"]["extension"] == ext)
        .cloned()
        .collect())
}

/// Checks that the current outside call is waiting in the simulator's ACD queue `queue`.
/// Waits up to 10 s.
#[then(expr = "the call waits in the queue {word}")]
async fn waits_in_queue(w: &mut BbWorld, queue: String) -> Result<(), String> {
    let id = w.last_call.ok_or("no outside call was placed")?;
    w.wait_for(
        &format!("call {id} to wait in the queue {queue}"),
        10,
        || async {
            let (_, qs) = w.api_call("GET", "/api/queues", None).await.ok()?;
            qs.as_array()?
                .iter()
                .find(|q| q["name"] == queue.as_str())?["waiting"]
                .as_array()?
                .iter()
                .any(|c| c.as_u64() == Some(id))
                .then_some(())
        },
    )
    .await
}

/// The campaign as the simulator shows it.
async fn campaign(w: &BbWorld, name: &str) -> Result<Value, String> {
    let (status, v) = w
        .api_call("GET", &format!("/api/campaigns/{name}"), None)
        .await?;
    if status != 200 {
        return Err(format!("no campaign {name} ({status}): {v}"));
    }
    Ok(v)
}

/// Checks that the simulator's campaign `name` counts exactly `connects` connected calls
/// and `abandons` abandoned calls.
/// Waits up to 15 s; on failure shows the campaign.
#[then(expr = "the campaign {word} counts {int} connect(s) and {int} abandon(s)")]
async fn campaign_counts(
    w: &mut BbWorld,
    name: String,
    connects: u64,
    abandons: u64,
) -> Result<(), String> {
    let found = w
        .wait_for(
            &format!("campaign {name} to count {connects} connects and {abandons} abandons"),
            15,
            || async {
                let v = campaign(w, &name).await.ok()?;
                (v["connects"].as_u64() == Some(connects)
                    && v["abandons"].as_u64() == Some(abandons))
                .then_some(())
            },
        )
        .await;
    match found {
        Ok(()) => Ok(()),
        Err(e) => Err(format!("{e}\nthe campaign: {:?}", campaign(w, &name).await)),
    }
}

/// Checks, at once, that the campaign `name` is running and has dialled no number (e.g.
/// because no operator is available).
/// Put it right after "the campaign … is started", which returns once the dialler took
/// its first decision.
#[then(expr = "the campaign {word} has dialled no number")]
async fn dialled_nothing(w: &mut BbWorld, name: String) -> Result<(), String> {
    // The start was answered after the dialler's first pacing (same step).
    let v = campaign(w, &name).await?;
    if v["state"] != "running" || v["dialled"].as_u64() != Some(0) {
        return Err(format!(
            "expected a running campaign that dialled nothing: {v}"
        ));
    }
    Ok(())
}

/// Checks that a live call to the outside number `number` (e.g. one a campaign dialled)
/// is answered and connected to extension `ext`.
/// Waits up to 10 s.
#[then(expr = "the called party {word} is talking to extension {word}")]
async fn party_talking(w: &mut BbWorld, number: String, ext: String) -> Result<(), String> {
    w.wait_for(
        &format!("the called party {number} to talk to extension {ext}"),
        10,
        || async {
            let (_, calls) = w
                .api_call("GET", "/api/calls?state=live", None)
                .await
                .ok()?;
            calls
                .as_array()?
                .iter()
                .any(|c| {
                    c["to"] == number.as_str()
                        && c["state"] == "answered"
                        && c["talking_to"] == ext.as_str()
                })
                .then_some(())
        },
    )
    .await
}

/// The simulated outside party that was dialled as `number`, from the
/// media view of every call (`dialled`, `caller_id_received`).
async fn dialled_party(w: &BbWorld, number: &str) -> Option<(Value, Value)> {
    let (_, calls) = w.api_call("GET", "/api/calls", None).await.ok()?;
    for c in calls.as_array()? {
        let id = c["id"].as_u64()?;
        let (_, media) = w
            .api_call("GET", &format!("/api/calls/{id}/media"), None)
            .await
            .ok()?;
        if let Some(p) = media
            .as_array()
            .and_then(|m| m.iter().find(|p| p["dialled"] == number))
        {
            return Some((c.clone(), p.clone()));
        }
    }
    None
}

/// Checks that the simulator's outside party `number` was called from extension `ext` and
/// received the caller ID `shown`.
/// Waits up to 15 s for the call; fails if the call is not an outgoing call of `ext`.
#[then(expr = "the outside party {word} is called from extension {word} with the caller ID {word}")]
async fn party_sees(
    w: &mut BbWorld,
    number: String,
    ext: String,
    shown: String,
) -> Result<(), String> {
    let (call, party) = w
        .wait_for(
            &format!("the outside party {number} to be called"),
            15,
            || dialled_party(w, &number),
        )
        .await?;
    if call["extension"] != ext.as_str() || call["kind"] != "outbound" {
        return Err(format!(
            "the call to {number} is not extension {ext}'s: {call}"
        ));
    }
    if party["caller_id_received"] != shown.as_str() {
        return Err(format!(
            "the outside party {number} saw the caller ID {}, not {shown}: {party}",
            party["caller_id_received"]
        ));
    }
    Ok(())
}
