//! Steps about CTI integration (WEB-*, CMD-*, Q-1…Q-3): softphones with
//! web and command settings, CRMs that misbehave, calls placed by the
//! simulator or by the test's own SIP user agent, and what the CRM, the
//! argument recorders, the control socket and the softphone's output saw.
//!
//! Settings doc strings may use these tokens:
//!
//! - `{crm}`: the mock CRM's base URL; `{dir}`: the scenario's scratch folder;
//! - `{recorder:NAME}`: the path of an argv recorder for NAME (created on
//!   first use as `{dir}/bin/NAME`; it logs to `{dir}/bin/NAME.jsonl`);
//! - `{sjis_crm}`, `{refused}`: addresses set up by earlier steps.
//!
//! Expected argument lists are JSON arrays and may use `{dir}`, `{call_id}`
//! and `{caller_id}`; expected requests may use `{call_id}` (encoded as the
//! softphone encodes values: RFC 3986 unreserved characters literal, all
//! else `%XX`).
//!
//! Checks that something does *not* happen never sleep: "is run once" and
//! "exactly one request" wait for the softphone's report that the hook
//! ended (see [`super::cti_hooks`]); "is not run" and "the CRM receives no
//! request" look at once, so the feature puts a barrier step before them —
//! a later positive event that proves the softphone got past the point
//! where the wrong action would have been taken (a hook reported as
//! `skipped`, the ring command's outcome, the popup shown).
//!
//! Softphones run with the scenario's folder as their working directory
//! (a command that a shell wrongly ran would leave its files there).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use conformance::procs::Proc;
use conformance::world::{BbWorld, Phone};
use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use serde_json::{Value, json};

use super::cti_hooks::{lines_of, runs_of_ended};
use super::docstring;

/// The per-scenario state of these steps (the World belongs to everyone;
/// it is keyed by the World's scratch folder, which is unique).
#[derive(Default)]
pub(super) struct Cti {
    /// Each softphone's event stream, by extension.
    pub events: HashMap<String, Arc<Mutex<Vec<Value>>>>,
    /// Addresses set up by earlier steps (`{sjis_crm}`, `{refused}`).
    pub tokens: HashMap<String, String>,
    caller_id: Option<String>,
    refused: Option<(Option<i32>, String, String)>,
    /// Test servers to stop with the scenario.
    pub servers: Vec<tokio::task::JoinHandle<()>>,
    /// The SIP password of the simulator's tenant, when a step set one.
    pub sip_password: Option<String>,
    /// Commands the scenario ran whose output is checked with the
    /// softphones' (Q-3): the command and its stdout and stderr.
    pub outputs: Vec<(String, String)>,
    /// What the stranger steps noted (Q-5).
    pub stranger: super::strangers::Stranger,
}

impl Drop for Cti {
    fn drop(&mut self) {
        for s in &self.servers {
            s.abort();
        }
    }
}

pub(super) type Shared = Arc<tokio::sync::Mutex<Cti>>;

static STATES: LazyLock<Mutex<HashMap<PathBuf, Shared>>> = LazyLock::new(Default::default);

pub(super) fn state(w: &BbWorld) -> Shared {
    let mut all = STATES.lock().unwrap_or_else(|e| e.into_inner());
    // Scenarios that ended removed their folder: forget their state.
    all.retain(|dir, _| dir.exists());
    all.entry(w.dir.clone()).or_default().clone()
}

// ---------------------------------------------------------------- helpers

/// Percent-encodes with RFC 3986's rule, as the softphone documents it:
/// unreserved characters stay, every other byte of the UTF-8 is `%XX`.
pub(super) fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Expands `<N:TEXT>` in an expected value written in a feature file: TEXT
/// repeated and cut to exactly N characters (for the 256-character cap of
/// CMD-6's filtered values).
fn expand_expected(written: &str) -> Result<String, String> {
    let mut s = written.to_string();
    while let Some(start) = s.find('<') {
        let Some(end) = s[start..].find('>').map(|e| start + e) else {
            break;
        };
        let Some((n, unit)) = s[start + 1..end].split_once(':') else {
            break;
        };
        let n: usize = n
            .parse()
            .map_err(|_| format!("'<{n}:{unit}>' needs a number of characters"))?;
        if unit.is_empty() {
            return Err("'<N:TEXT>' needs some TEXT".into());
        }
        let long: String = unit.chars().cycle().take(n).collect();
        s.replace_range(start..=end, &long);
    }
    Ok(s)
}

pub(super) fn recorder_path(w: &BbWorld, name: &str) -> PathBuf {
    if name.contains('/') {
        w.dir.join(name)
    } else {
        w.dir.join("bin").join(name)
    }
}

pub(super) fn install_recorder(path: &Path) -> Result<(), String> {
    if path.exists() {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let recorder = conformance::procs::recorder_bin()?;
    std::os::unix::fs::symlink(&recorder, path).map_err(|e| {
        format!(
            "cannot link {} to {}: {e}",
            path.display(),
            recorder.display()
        )
    })
}

/// Replaces the settings tokens (see the module docs).
pub(super) async fn expand(w: &BbWorld, text: &str) -> Result<String, String> {
    let st = state(w);
    let st = st.lock().await;
    let mut out = text.replace("{dir}", &w.dir.to_string_lossy());
    if out.contains("{crm}") {
        out = out.replace("{crm}", &w.crm()?);
    }
    for (k, v) in &st.tokens {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    while let Some(start) = out.find("{recorder:") {
        let end = out[start..]
            .find('}')
            .map(|e| start + e)
            .ok_or("unclosed {recorder:NAME}")?;
        let name = out[start + "{recorder:".len()..end].to_string();
        let path = recorder_path(w, &name);
        install_recorder(&path)?;
        out.replace_range(start..=end, &path.to_string_lossy());
    }
    Ok(out)
}

/// One run of an argv recorder.
#[derive(Debug, Clone)]
pub(super) struct Run {
    pub args: Vec<String>,
    pub pid: u64,
}

pub(super) fn runs(w: &BbWorld, name: &str) -> Vec<Run> {
    let log = PathBuf::from(format!("{}.jsonl", recorder_path(w, name).display()));
    let Ok(text) = std::fs::read_to_string(&log) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| Run {
            args: v["args"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|x| x.as_str().unwrap_or("").to_string())
                        .collect()
                })
                .unwrap_or_default(),
            pid: v["pid"].as_u64().unwrap_or(0),
        })
        .collect()
}

/// The Call-ID of the call under test: the simulator's last outside call.
pub(super) async fn call_id(w: &BbWorld) -> Result<String, String> {
    let v = match w.last_call_state().await {
        Ok(v) => v,
        // No outside call: the call a softphone placed, the newest the
        // simulator has.
        Err(_) if w.last_call.is_none() => {
            w.wait_for("the simulator to see a call", 10, || async {
                let (_, calls) = w.api_call("GET", "/api/calls", None).await.ok()?;
                calls.as_array().and_then(|a| a.last()).cloned()
            })
            .await?
        }
        Err(e) => return Err(e),
    };
    v["call_id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("the simulator's call has no call_id: {v}"))
}

/// The caller ID of the call under test: the one the test's user agent
/// sent, else the `from` of the simulator's last outside call.
pub(super) async fn caller_id(w: &BbWorld) -> Result<String, String> {
    if let Some(id) = &state(w).lock().await.caller_id {
        return Ok(id.clone());
    }
    let v = w.last_call_state().await?;
    v["from"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("the simulator's call has no from: {v}"))
}

pub(super) fn first_ext(w: &BbWorld) -> Result<String, String> {
    w.phones.keys().next().cloned().ok_or("no softphone".into())
}

pub(super) async fn events(w: &BbWorld, ext: &str) -> Result<Vec<Value>, String> {
    let st = state(w);
    let st = st.lock().await;
    let list = st
        .events
        .get(ext)
        .ok_or_else(|| format!("nobody subscribed to the events of extension {ext}"))?;
    Ok(list.lock().map(|l| l.clone()).unwrap_or_default())
}

/// Writes the settings file of extension `ext`: its `[account]` (the
/// simulator's address; the tenant's SIP password, `pw<EXT>` unless a step
/// set one) and then `settings`.
pub(super) async fn settings_file(
    w: &BbWorld,
    ext: &str,
    settings: &str,
) -> Result<PathBuf, String> {
    let password = state(w)
        .lock()
        .await
        .sip_password
        .clone()
        .unwrap_or_else(|| format!("pw{ext}"));
    let config = w.dir.join(format!("bbclient-{ext}.toml"));
    let text = format!(
        "[account]\nserver = \"{}\"\nuser = \"{ext}\"\npassword = {}\n\n{settings}\n",
        w.sip()?,
        toml::Value::String(password)
    );
    std::fs::write(&config, text).map_err(|e| format!("cannot write {}: {e}", config.display()))?;
    Ok(config)
}

async fn start_phone(
    w: &mut BbWorld,
    ext: &str,
    settings: &str,
    env: &[(&str, &str)],
) -> Result<(), String> {
    let settings = expand(w, settings).await?;
    let config = settings_file(w, ext, &settings).await?;
    start_phone_config(w, ext, config, env).await
}

/// Starts a headless softphone for `ext` from the settings file `config`,
/// waits until it registered and subscribes to its events.
pub(super) async fn start_phone_config(
    w: &mut BbWorld,
    ext: &str,
    config: PathBuf,
    env: &[(&str, &str)],
) -> Result<(), String> {
    let instance = format!("ext{ext}");
    let mut cmd = w.bbclient_cmd(&instance)?;
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(["run", "--headless", "--config"])
        .arg(&config)
        .current_dir(&w.dir);
    let (proc, _) = Proc::start(&format!("bbclient {ext}"), cmd, None).await?;
    w.phones.insert(
        ext.to_string(),
        Phone {
            proc,
            instance,
            config,
        },
    );
    w.contact_of(ext).await?;
    // This process registered (a restarted one may find its predecessor's
    // binding still at the simulator).
    w.wait_for(
        &format!("extension {ext} to say it registered"),
        15,
        || async {
            lines_of(w, ext)
                .iter()
                .any(|l| l.starts_with("bbclient: registered as"))
                .then_some(())
        },
    )
    .await?;
    let events = w.subscribe_events(ext).await?;
    state(w).lock().await.events.insert(ext.to_string(), events);
    Ok(())
}

/// Decodes a caller ID written in a feature file: Gherkin already turned
/// `\n`, `\|` and `\\` in table cells into the characters; these tokens add
/// the rest: `<CR>`, `<TAB>`, `<NUL>`, `<1KB:TEXT>` (TEXT repeated to 1024
/// bytes) and `{dir}`.
fn decode_caller_id(w: &BbWorld, written: &str) -> String {
    let mut s = written
        .replace("<CR>", "\r")
        .replace("<TAB>", "\t")
        .replace("<NUL>", "\0")
        .replace("{dir}", &w.dir.to_string_lossy());
    while let Some(start) = s.find("<1KB:") {
        let Some(end) = s[start..].find('>').map(|e| start + e) else {
            break;
        };
        let unit = s[start + 5..end].to_string();
        let mut long = String::new();
        while long.len() + unit.len() <= 1024 && !unit.is_empty() {
            long.push_str(&unit);
        }
        s.replace_range(start..=end, &long);
    }
    s
}

// ------------------------------------------------------------------ given

/// Starts a headless softphone for extension `ext` with the settings in the doc string
/// and waits until it registered with the simulator (up to 15 s).
/// The doc string is TOML added after `[account]`: `{crm}` becomes the mock CRM's base
/// URL, `{dir}` the scenario's folder (the softphone's working folder), `{recorder:NAME}`
/// the path of an argument recorder NAME, and `{sjis_crm}` and `{refused}` the addresses
/// set up by earlier steps.
#[given(expr = "a softphone for extension {word} with the settings")]
async fn phone_with_settings(w: &mut BbWorld, step: &Step, ext: String) -> Result<(), String> {
    let settings = docstring(step)?;
    start_phone(w, &ext, &settings, &[]).await
}

/// Same as "a softphone for extension … with the settings", with the softphone logging
/// everything (at `trace` level).
/// Needed by the checks of what the softphones print and log (forged lines, passwords).
#[given(expr = "a softphone for extension {word} logging everything, with the settings")]
async fn phone_logging_everything(w: &mut BbWorld, step: &Step, ext: String) -> Result<(), String> {
    let settings = docstring(step)?;
    start_phone(w, &ext, &settings, &[("BBCLIENT_LOG", "trace")]).await
}

/// Installs an argument recorder at the path `rel` inside the scenario's folder, standing
/// for a CRM program: it records the arguments of each run.
/// Name it in the settings as `{dir}/REL`; the "… is run …" steps find it by `rel`, e.g.
/// "Program Files (x86)/testcrm/crm.exe".
#[given(expr = "the CRM program is installed as {string}")]
async fn program_installed(w: &mut BbWorld, rel: String) -> Result<(), String> {
    install_recorder(&w.dir.join(rel))
}

// ------------------------------------------------------------------- when

/// Has the simulator ring extension `ext` on the outside line `line` from a caller with
/// the hostile caller ID `written`, and waits up to 10 s until it rings.
/// The simulator puts it in From and P-Asserted-Identity (and, up to 256 bytes, the
/// display name); it is kept for later checks. Write it without quotes: `<CR>`, `<TAB>`,
/// `<NUL>`, `<1KB:TEXT>` (TEXT repeated to 1024 bytes) and `{dir}` are decoded, and in a
/// table cell Gherkin decodes `\n`, `\|` and `\\`.
#[when(
    regex = r"^a caller whose caller ID is (?s)(.*) calls extension (\d+) on the outside line (\d+)$"
)]
async fn hostile_call(
    w: &mut BbWorld,
    written: String,
    ext: String,
    line: String,
) -> Result<(), String> {
    // The simulator places the call (POST /api/calls with a raw
    // `identity`): the caller ID is the user part of From and of
    // P-Asserted-Identity, percent-escaped, and (up to 256 bytes) the From
    // display name, a quoted string whose control characters the simulator
    // turns into spaces. The call's own number is a plain one; the
    // softphone sees only the identity.
    let id = decode_caller_id(w, &written);
    state(w).lock().await.caller_id = Some(id.clone());
    place_hostile_call(w, id, &ext, &line).await
}

/// The caller of the last "a caller whose caller ID is …" step calls again, now extension
/// `ext` on the outside line `line`, and the step waits up to 10 s until it rings.
/// Fails if no such caller called before.
#[when(expr = "the same caller calls extension {word} on the outside line {word}")]
async fn same_caller(w: &mut BbWorld, ext: String, line: String) -> Result<(), String> {
    let id = state(w)
        .lock()
        .await
        .caller_id
        .clone()
        .ok_or("no caller called before")?;
    place_hostile_call(w, id, &ext, &line).await
}

/// Has the simulator call `ext` on the outside `line` with the caller ID
/// `id`, and waits until it rings.
async fn place_hostile_call(
    w: &mut BbWorld,
    id: String,
    ext: &str,
    line: &str,
) -> Result<(), String> {
    w.contact_of(ext).await?;
    let display = if id.len() <= 256 {
        id.clone()
    } else {
        "Caller".into()
    };
    let body = json!({
        "from": "0900000000",
        "to": line,
        "identity": {"from_user": id, "from_display": display, "pai_user": id},
    });
    let (status, v) = w.api_call("POST", "/api/calls", Some(body)).await?;
    if status != 201 {
        return Err(format!("the simulator refused the call ({status}): {v}"));
    }
    w.last_call = v["id"].as_u64();
    let rang = w
        .wait_for("the softphone to ring", 10, || async {
            let c = w.last_call_state().await.ok()?;
            (c["state"] == "ringing" && c["extension"] == ext).then_some(())
        })
        .await;
    rang.map_err(|e| format!("the softphone did not ring: {e}"))
}

/// The caller of the current outside call hangs up before anyone answers, so the
/// softphone sees the call cancelled.
/// Waits up to 10 s until the simulator shows the call ended.
#[when("the caller gives up")]
async fn caller_gives_up(w: &mut BbWorld) -> Result<(), String> {
    // The simulator's outside caller hangs up while it rings: the
    // simulator CANCELs the INVITE to the softphone.
    let id = w.last_call.ok_or("no call to give up")?;
    let (status, v) = w
        .api_call("POST", &format!("/api/calls/{id}/hangup"), Some(json!({})))
        .await?;
    if status != 200 {
        return Err(format!("the simulator refused the hang-up ({status}): {v}"));
    }
    w.wait_for("the call to end", 10, || async {
        let c = w.last_call_state().await.ok()?;
        (c["state"] == "ended").then_some(())
    })
    .await
    .map(|_| ())
}

/// Starts a headless softphone for extension `ext` with the settings in the doc string,
/// expecting it to refuse them and stop by itself within 10 s.
/// Placeholders as in "a softphone for extension … with the settings". Its exit status
/// and stderr are kept for "it exits with status …". Fails if it keeps running.
#[when(expr = "the softphone for extension {word} is started with the settings")]
async fn started_expecting_refusal(
    w: &mut BbWorld,
    step: &Step,
    ext: String,
) -> Result<(), String> {
    let settings = expand(w, &docstring(step)?).await?;
    let result = w.run_phone_expecting_exit(&ext, &settings).await?;
    state(w).lock().await.refused = Some(result);
    Ok(())
}

// ------------------------------------------------------------------- then

async fn expected_args(w: &BbWorld, step: &Step) -> Result<Vec<String>, String> {
    let mut text = docstring(step)?.replace("{dir}", &w.dir.to_string_lossy());
    if text.contains("{crm}") {
        text = text.replace("{crm}", &w.crm()?);
    }
    if text.contains("{call_id") {
        let id = call_id(w).await?;
        text = text
            .replace("{call_id}", &id)
            .replace("{call_id_encoded}", &encode(&id));
    }
    serde_json::from_str(&text)
        .map_err(|e| format!("the expected arguments must be a JSON array of strings: {e}"))
}

/// Checks the runs of `name` once they are over (see
/// [`runs_of_ended`]): exactly one, with `want`.
async fn run_once(w: &BbWorld, name: &str, want: &[String]) -> Result<(), String> {
    w.wait_for(&format!("'{name}' to run"), 10, || async {
        (!runs(w, name).is_empty()).then_some(())
    })
    .await?;
    runs_of_ended(w, name).await?;
    let got = runs(w, name);
    if got.len() != 1 {
        return Err(format!("'{name}' ran {} times: {got:?}", got.len()));
    }
    if got[0].args != want {
        return Err(format!(
            "'{name}' ran with {:?}\nexpected        {want:?}",
            got[0].args
        ));
    }
    Ok(())
}

/// Checks that the program `name` ran exactly once, with exactly the arguments in the doc
/// string: a JSON array of strings.
/// `name`: the NAME of a `{recorder:NAME}`, or a path in the scenario's folder. In the
/// doc string `{dir}`, `{crm}`, `{call_id}` and `{call_id_encoded}` are replaced. Waits
/// up to 10 s for the run, then up to 40 s until the softphone reports the hooks that ran
/// it ended, so that a second run would show.
#[then(expr = "{string} is run once with the arguments")]
async fn run_once_with(w: &mut BbWorld, step: &Step, name: String) -> Result<(), String> {
    let want = expected_args(w, step).await?;
    run_once(w, &name, &want).await
}

/// Checks that the program `name` ran exactly once, with the single argument `argument`.
/// In `argument`, `<N:TEXT>` stands for TEXT repeated and cut to N characters. Waits as
/// "… is run once with the arguments" does.
#[then(expr = "{string} is run once with the single argument {string}")]
async fn run_once_single(w: &mut BbWorld, name: String, argument: String) -> Result<(), String> {
    let want = vec![expand_expected(&argument)?];
    run_once(w, &name, &want).await
}

/// Checks that the program `name` has started and that every run so far had exactly the
/// arguments in the doc string (a JSON array, placeholders as in "… is run once with the
/// arguments").
/// For a command that is still running, e.g. a hung one; says nothing about how many
/// runs. Waits up to 10 s for the first run.
#[then(expr = "{string} is started with the arguments")]
async fn started_with(w: &mut BbWorld, step: &Step, name: String) -> Result<(), String> {
    let want = expected_args(w, step).await?;
    let got = w
        .wait_for(&format!("'{name}' to run"), 10, || async {
            let r = runs(w, &name);
            (!r.is_empty()).then_some(r)
        })
        .await?;
    match got.iter().find(|r| r.args != want) {
        Some(r) => Err(format!(
            "'{name}' ran with {:?}\nexpected        {want:?}",
            r.args
        )),
        None => Ok(()),
    }
}

/// Checks, at once, that the program `name` has not run.
/// Put a barrier step before it, e.g. the hook reported as skipped, or an earlier hook of
/// the same call reported as ended.
#[then(expr = "{string} is not run")]
async fn not_run(w: &mut BbWorld, name: String) -> Result<(), String> {
    let got = runs(w, &name);
    if !got.is_empty() {
        return Err(format!("'{name}' ran: {got:?}"));
    }
    Ok(())
}

/// Checks, at once, that the file `rel` in the scenario's folder holds exactly `line` and
/// a line break, e.g. what a shell command wrote there.
/// `<N:TEXT>` in `line` stands for TEXT repeated to N characters. Put a step before it
/// that reports the hook which wrote the file as ended.
#[then(expr = "the file {string} holds the single line {string}")]
async fn file_holds_line(w: &mut BbWorld, rel: String, line: String) -> Result<(), String> {
    let path = w.dir.join(&rel);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let want = format!("{}\n", expand_expected(&line)?);
    if text != want {
        return Err(format!("{rel} holds {text:?}, expected {want:?}"));
    }
    Ok(())
}

/// Checks, at once, that there is no file `rel` in the scenario's folder, the softphones'
/// working folder.
/// A command that a shell wrongly ran would have left it there.
#[then(expr = "no file {string} exists")]
async fn no_file(w: &mut BbWorld, rel: String) -> Result<(), String> {
    let path = w.dir.join(&rel);
    if path.exists() {
        return Err(format!(
            "{} exists: something ran a command",
            path.display()
        ));
    }
    Ok(())
}

/// Checks that the softphone with the lowest extension number reports the hook `kind` of
/// the current outside call (else of the newest call the simulator has, e.g. one the
/// softphone placed) as ended with `outcome`.
/// `kind`: `popup`, `details`, `command_ring`, `command_answer`, `command_hangup` or
/// `command_dial`;
/// `outcome`: `ok`, `failed`, `timed_out` or `skipped`. For softphones started "… with
/// the settings". Waits up to 10 s.
#[then(expr = "the softphone reports the {word} hook as {word}")]
async fn hook_reported(w: &mut BbWorld, kind: String, outcome: String) -> Result<(), String> {
    let ext = first_ext(w)?;
    hook_event(w, &ext, &kind, &outcome, None, 10).await
}

/// Checks that the softphone of extension `ext` reports the hook `kind` of the current
/// outside call as ended with `outcome`.
/// Otherwise as "the softphone reports the … hook as …". Waits up to 10 s.
#[then(expr = "the softphone of extension {word} reports the {word} hook as {word}")]
async fn hook_reported_by(
    w: &mut BbWorld,
    ext: String,
    kind: String,
    outcome: String,
) -> Result<(), String> {
    hook_event(w, &ext, &kind, &outcome, None, 10).await
}

/// Checks that the softphone with the lowest extension number reports the hook `kind` of
/// the current outside call as `outcome`, with a detail containing `detail`.
/// E.g. `detail` "HTTP 500" or "exit code 3". Otherwise as "the softphone reports the …
/// hook as …". Waits up to 10 s.
#[then(expr = "the softphone reports the {word} hook as {word} with {string}")]
async fn hook_reported_with(
    w: &mut BbWorld,
    kind: String,
    outcome: String,
    detail: String,
) -> Result<(), String> {
    let ext = first_ext(w)?;
    hook_event(w, &ext, &kind, &outcome, Some(&detail), 10).await
}

/// Checks that within `secs` seconds the softphone with the lowest extension number
/// reports the hook `kind` of the current outside call as `outcome`.
/// For hooks that end only at their time limit; otherwise as "the softphone reports the …
/// hook as …".
#[then(expr = "within {int} s the softphone reports the {word} hook as {word}")]
async fn hook_reported_within(
    w: &mut BbWorld,
    secs: u64,
    kind: String,
    outcome: String,
) -> Result<(), String> {
    let ext = first_ext(w)?;
    hook_event(w, &ext, &kind, &outcome, None, secs).await
}

async fn hook_event(
    w: &BbWorld,
    ext: &str,
    kind: &str,
    outcome: &str,
    detail: Option<&str>,
    secs: u64,
) -> Result<(), String> {
    let call = call_id(w).await?;
    let result = w
        .wait_for(
            &format!("a {kind} hook event '{outcome}'"),
            secs,
            || async {
                events(w, ext).await.ok()?.into_iter().find(|e| {
                    e["event"] == "hook"
                        && e["kind"] == kind
                        && e["outcome"] == outcome
                        && e["call_id"] == call.as_str()
                        && detail
                            .is_none_or(|d| e["detail"].as_str().is_some_and(|x| x.contains(d)))
                })
            },
        )
        .await;
    let Err(timed_out) = result else {
        return Ok(());
    };
    // Say first what the softphone reported instead (e.g. "failed: the CRM
    // answered 500"), then the transcripts.
    let seen: Vec<String> = events(w, ext)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["event"] == "hook" && e["kind"] == kind && e["call_id"] == call.as_str())
        .map(|e| {
            format!(
                "{}{}",
                e["outcome"].as_str().unwrap_or("?"),
                e["detail"]
                    .as_str()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            )
        })
        .collect();
    if seen.is_empty() {
        Err(timed_out)
    } else {
        Err(format!(
            "the softphone reported the {kind} hook as {} instead of {outcome}\n{timed_out}",
            seen.join(", then ")
        ))
    }
}

/// Checks that the softphone with the lowest extension number printed or logged a line
/// containing `text`.
/// Waits up to 10 s.
#[then(expr = "the softphone's output says {string}")]
async fn output_says(w: &mut BbWorld, text: String) -> Result<(), String> {
    let ext = first_ext(w)?;
    w.wait_for(&format!("the softphone to say '{text}'"), 10, || async {
        lines_of(w, &ext)
            .iter()
            .any(|l| l.contains(&text))
            .then_some(())
    })
    .await
}

/// Checks that every process started as the program `name` has ended, e.g. that a
/// hung command (and what it started) was stopped at its time limit.
/// Waits up to 10 s; fails at once if `name` never ran.
#[then(expr = "the process of {string} is no longer running")]
async fn process_gone(w: &mut BbWorld, name: String) -> Result<(), String> {
    let pids: Vec<u64> = runs(w, &name).iter().map(|r| r.pid).collect();
    if pids.is_empty() {
        return Err(format!("'{name}' never ran"));
    }
    w.wait_for(
        &format!("processes {pids:?} ('{name}') to end"),
        10,
        || async {
            pids.iter()
                .all(|pid| {
                    let stat =
                        std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                    // Gone, or a zombie waiting to be reaped.
                    let state = stat.rsplit_once(") ").and_then(|(_, r)| r.chars().next());
                    stat.is_empty() || state == Some('Z')
                })
                .then_some(())
        },
    )
    .await
}

/// Checks the softphone that "the softphone for extension … is started with the settings"
/// started: it exited with status `code` and printed exactly one line on stderr
/// containing `what`.
/// `what` is typically the name of the setting it refused, e.g. "command.on_ring". Blank
/// lines are not counted.
#[then(expr = "it exits with status {int} and one line on stderr naming {string}")]
async fn exits_with(w: &mut BbWorld, code: i32, what: String) -> Result<(), String> {
    let (got, out, err) = state(w)
        .lock()
        .await
        .refused
        .clone()
        .ok_or("the softphone was not started with settings to refuse")?;
    if got != Some(code) {
        return Err(format!(
            "bbclient exited with {got:?}, not {code}\nstdout: {out}\nstderr: {err}"
        ));
    }
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.len() != 1 {
        return Err(format!(
            "expected one line on stderr, got {}:\n{err}",
            lines.len()
        ));
    }
    if !lines[0].contains(&what) {
        return Err(format!("the error does not name '{what}': {}", lines[0]));
    }
    Ok(())
}

/// Runs the `bbclient` command `command` at the softphone with the lowest extension
/// number and checks that it fails with `message` in its stderr.
/// `command` is split at spaces (no quoting).
#[then(expr = "running {string} fails with {string}")]
async fn running_fails(w: &mut BbWorld, command: String, message: String) -> Result<(), String> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let args = match words.split_first() {
        Some((&"bbclient", args)) => args,
        _ => {
            return Err(format!(
                "only bbclient commands are supported, not '{command}'"
            ));
        }
    };
    let ext = first_ext(w)?;
    let (ok, out, err) = w.bbclient(&ext, args).await?;
    if ok {
        return Err(format!("'{command}' succeeded: {out}"));
    }
    if !err.contains(&message) {
        return Err(format!("'{command}' failed with '{err}', not '{message}'"));
    }
    Ok(())
}
