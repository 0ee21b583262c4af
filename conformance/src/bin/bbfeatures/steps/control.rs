//! Steps about the control surface (URI-1…URI-3, CLI-1, UI-4): CRM links
//! opened through the desktop (`xdg-open` and the handler that
//! `bbclient install-handlers` registers), the command line, the control
//! socket as a script sees it, and numbers as people write them.
//!
//! Everything goes through the real doors: `xdg-open` in a desktop of the
//! scenario's own (temporary HOME and XDG directories, `DISPLAY` set so that
//! xdg-utils' generic mode consults mimeapps.list, no desktop session, no
//! `BROWSER`), the `bbclient` binary, and raw JSON lines on the socket.
//!
//! The World runs each softphone as `--instance ext<EXT>` so several can run
//! in one scenario; the command-line steps add that option the way an
//! operator with two softphones would. A softphone that `bbclient call`
//! starts by itself uses the default instance and is stopped when the
//! scenario's directory goes (see [`reap`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use conformance::procs::bin_dir;
use conformance::world::BbWorld;
use cucumber::{given, then, when};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::Command;

/// What a command run by a step left behind.
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

type Events = Arc<Mutex<Vec<Value>>>;

/// Per-scenario state the World has no field for, keyed by the scenario's
/// scratch directory.
#[derive(Default)]
struct Scratch {
    last: BTreeMap<PathBuf, Outcome>,
    subscriptions: BTreeMap<(PathBuf, String), Events>,
    reaped: BTreeSet<PathBuf>,
    /// What each softphone's state was just before the last command or
    /// link, for "did nothing".
    before: BTreeMap<(PathBuf, String), Snapshot>,
}

static SCRATCH: Mutex<Option<Scratch>> = Mutex::new(None);

fn with_scratch<T>(f: impl FnOnce(&mut Scratch) -> T) -> T {
    let mut guard = SCRATCH.lock().unwrap_or_else(|p| p.into_inner());
    f(guard.get_or_insert_with(Scratch::default))
}

fn record(w: &BbWorld, o: Outcome) {
    with_scratch(|s| s.last.insert(w.dir.clone(), o));
}

fn last(w: &BbWorld) -> Result<Outcome, String> {
    with_scratch(|s| s.last.get(&w.dir).cloned())
        .ok_or_else(|| "no command was run in this scenario".to_string())
}

/// The scenario's desktop directories.
pub(crate) fn xdg(w: &BbWorld, which: &str) -> PathBuf {
    w.dir.join("xdg").join(which)
}

/// The instance a step talks to for `ext`: the World's softphone, else the
/// default instance (a softphone the operator started without naming one).
fn instance_of(w: &BbWorld, ext: &str) -> String {
    w.phones
        .get(ext)
        .map(|p| p.instance.clone())
        .unwrap_or_else(|| "default".into())
}

/// `bbclient` as the operator's shell runs it: the scenario's runtime and
/// config directories, no settings from the harness's environment.
fn bbclient(w: &BbWorld) -> Result<Command, String> {
    let mut cmd = Command::new(bin_dir()?.join("bbclient"));
    cmd.env("XDG_RUNTIME_DIR", w.dir.join("run"))
        .env("XDG_CONFIG_HOME", xdg(w, "config"))
        .env("XDG_DATA_HOME", xdg(w, "data"))
        .env("HOME", xdg(w, "home"))
        .env_remove("BBCLIENT_CONFIG")
        .env("BBCLIENT_LOG", "info,rsipstack=warn")
        .stdin(Stdio::null());
    Ok(cmd)
}

/// A program run in the scenario's desktop: a cleared environment with the
/// scenario's HOME and XDG directories and a display name. xdg-utils'
/// generic mode reads mimeapps.list and desktop files only when `DISPLAY` or
/// `WAYLAND_DISPLAY` is set (nothing connects to it); without
/// `XDG_CURRENT_DESKTOP`, `DESKTOP_SESSION`, a D-Bus session or `BROWSER`,
/// no desktop's own opener or browser gets in the way.
pub(crate) fn desktop(w: &BbWorld, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", xdg(w, "home"))
        .env("XDG_DATA_HOME", xdg(w, "data"))
        .env("XDG_CONFIG_HOME", xdg(w, "config"))
        .env("XDG_DATA_DIRS", xdg(w, "sys-data"))
        .env("XDG_CONFIG_DIRS", xdg(w, "sys-config"))
        .env("XDG_RUNTIME_DIR", w.dir.join("run"))
        .env("DISPLAY", ":bbclient-conformance")
        .stdin(Stdio::null());
    cmd
}

async fn run(w: &BbWorld, what: String, mut cmd: Command) -> Result<Outcome, String> {
    for d in ["home", "data", "config", "sys-data", "sys-config"] {
        let _ = std::fs::create_dir_all(xdg(w, d));
    }
    let out = tokio::time::timeout(Duration::from_secs(40), cmd.kill_on_drop(true).output())
        .await
        .map_err(|_| format!("{what} did not finish within 40 s"))?
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    let o = Outcome {
        what,
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    reap(w);
    record(w, o.clone());
    Ok(o)
}

/// Softphones that `bbclient call` started by itself are not the World's
/// children: a small detached watcher stops each one (SIGTERM) once the
/// scenario's directory is removed (the World is dropped), or after ten
/// minutes at most.
fn reap(w: &BbWorld) {
    let Ok(entries) = std::fs::read_dir(w.dir.join("run/bbclient")) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().and_then(|x| x.to_str()) != Some("pid")
            || !with_scratch(|s| s.reaped.insert(path.clone()))
        {
            continue;
        }
        let Some(pid) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
        else {
            continue;
        };
        let mut watcher = std::process::Command::new("sh");
        watcher
            .args([
                "-c",
                "n=0; while [ -d \"$1\" ] && kill -0 \"$2\" 2>/dev/null && [ $n -lt 3000 ]; \
                 do sleep 0.2; n=$((n+1)); done; kill \"$2\" 2>/dev/null",
                "bbclient-reaper",
            ])
            .arg(&w.dir)
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut watcher, 0);
        let _ = watcher.spawn();
    }
}

/// Splits `bbclient ARGS…` as written in a step (no quoting inside).
fn words(command: &str) -> Result<Vec<String>, String> {
    let words: Vec<String> = command.split_whitespace().map(String::from).collect();
    match words.split_first() {
        Some((p, rest)) if p == "bbclient" => Ok(rest.to_vec()),
        _ => Err(format!(
            "only bbclient commands are supported, not '{command}'"
        )),
    }
}

async fn run_bbclient(w: &BbWorld, ext: Option<&str>, command: &str) -> Result<Outcome, String> {
    let args = words(command)?;
    let mut cmd = bbclient(w)?;
    if let Some(ext) = ext {
        cmd.args(["--instance", &instance_of(w, ext)]);
    }
    cmd.args(&args);
    run(w, format!("'{command}'"), cmd).await
}

fn ok_or_show(w: &BbWorld, o: &Outcome) -> Result<(), String> {
    if o.code == Some(0) {
        Ok(())
    } else {
        Err(format!("{}\n{}", o.show(), w.transcripts()))
    }
}

// ---------------------------------------------------------------------------
// Softphones and the desktop
// ---------------------------------------------------------------------------

/// Starts a headless softphone for extension `ext` of the built-in tenant and waits until
/// it registered (up to 15 s).
/// Its operator login (login ID `opEXT`) is in its settings but nobody is logged in, so a
/// command or link that wrongly logs in or out shows at the simulator.
#[given(expr = "a softphone for extension {word} is running")]
async fn phone_running(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let extra = format!(
        "[sip]\nt1_ms = 100\n\n[operator]\nlogin_id = \"op{ext}\"\npassword = \"op-secret\"\napi_url = \"{}\"\n",
        w.api()?
    );
    w.start_phone(&ext, &extra).await
}

/// Logs the operator in at extension `ext` with `bbclient login` (the login ID and
/// password of its settings) and checks that the simulator shows operator `opEXT`
/// available.
/// For a softphone started with "a softphone for extension … is running". Also waits up
/// to 10 s for the softphone's own line saying it logged in.
#[given(expr = "the operator at extension {word} is logged in")]
async fn operator_logged_in(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let o = run_bbclient(w, Some(&ext), "bbclient login").await?;
    ok_or_show(w, &o)?;
    operator_state_is(w, &ext, "available").await?;
    // Its own line about it is out, before anything a later step counts.
    let line = format!("bbclient: operator op{ext} logged in");
    wait_line(w, &ext, &format!("extension {ext} to say {line}"), &line).await
}

/// Checks, at once, that the simulator shows operator `opEXT` of extension `ext` logged
/// out.
/// It logs nobody out: it states the starting point, e.g. in a Scenario Outline beside "…
/// is logged in".
#[given(expr = "the operator at extension {word} is logged out")]
async fn operator_logged_out(w: &mut BbWorld, ext: String) -> Result<(), String> {
    operator_state_is(w, &ext, "logged_out").await
}

/// The simulator shows operator `op<EXT>` in `state`.
async fn operator_state_is(w: &BbWorld, ext: &str, state: &str) -> Result<(), String> {
    let (status, op) = w
        .api_call("GET", &format!("/api/operators/op{ext}"), None)
        .await?;
    if status == 200 && op["state"] == state {
        Ok(())
    } else {
        Err(format!(
            "the simulator shows operator op{ext} as {op} ({status}), expected {state}"
        ))
    }
}

/// Runs `bbclient install-handlers` in the scenario's own desktop for the softphone of
/// extension `ext`, then checks that `callto:`, `bbclient:`, `tel:` and `sip:` links go
/// to `bbclient.desktop`.
/// Fails if the command fails, its desktop file is not validated, or `xdg-mime` names
/// another handler for a scheme.
#[given(
    expr = "the desktop hands callto:, bbclient:, tel: and sip: links to the softphone of extension {word}"
)]
async fn handlers_installed(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let mut cmd = desktop(w, bin_dir()?.join("bbclient"));
    cmd.args(["--instance", &instance_of(w, &ext), "install-handlers"]);
    let o = run(w, "'bbclient install-handlers'".into(), cmd).await?;
    ok_or_show(w, &o)?;
    if !o.stdout.contains("desktop-file-validate: ok") {
        return Err(format!("the desktop file was not validated: {}", o.show()));
    }
    for scheme in ["callto", "bbclient", "tel", "sip"] {
        let mut q = desktop(w, "xdg-mime");
        q.args(["query", "default", &format!("x-scheme-handler/{scheme}")]);
        let o = run(
            w,
            format!("xdg-mime query default x-scheme-handler/{scheme}"),
            q,
        )
        .await?;
        if o.stdout.trim() != "bbclient.desktop" {
            return Err(format!(
                "{scheme}: links do not go to bbclient: {}",
                o.show()
            ));
        }
    }
    Ok(())
}

/// Opens the link `uri` (e.g. `callto:0311112222`) with `xdg-open` in the scenario's
/// desktop, as a click on a CRM page does.
/// First notes every softphone's state for a later "did nothing". Does not check the
/// outcome: follow it with "it succeeds", "the link is refused …" or a check of what the
/// softphone did.
#[when(expr = "the CRM page's link {word} is opened")]
async fn link_opened(w: &mut BbWorld, uri: String) -> Result<(), String> {
    remember_before(w).await?;
    let mut cmd = desktop(w, "xdg-open");
    cmd.arg(&uri);
    run(w, format!("xdg-open '{uri}'"), cmd).await.map(|_| ())
}

/// Runs `bbclient URI` with the link `uri`, as the registered link handler does, at the
/// softphone with the lowest extension number (or the default one if none runs).
/// First notes every softphone's state for a later "did nothing". Does not check the
/// outcome.
#[when(expr = "the OS hands the link {word} to bbclient")]
async fn link_handed(w: &mut BbWorld, uri: String) -> Result<(), String> {
    remember_before(w).await?;
    // What the desktop file's Exec line runs: bbclient --instance NAME URI.
    let ext = w.phones.keys().next().cloned();
    let mut cmd = bbclient(w)?;
    if let Some(ext) = ext {
        cmd.args(["--instance", &instance_of(w, &ext)]);
    }
    cmd.arg(&uri);
    run(w, format!("bbclient '{uri}'"), cmd).await.map(|_| ())
}

/// Runs the `bbclient` command `command` at the softphone of extension `ext` and checks
/// that it exits with 0.
/// `command` is split at spaces (no quoting). Fails with its exit code and output
/// otherwise. Unlike "the command line … is run at extension …", it notes no state for
/// "did nothing".
#[when(expr = "the operator at extension {word} runs {string}")]
async fn operator_at_runs(w: &mut BbWorld, ext: String, command: String) -> Result<(), String> {
    let o = run_bbclient(w, Some(&ext), &command).await?;
    ok_or_show(w, &o)
}

/// Runs the `bbclient` command `command` at the softphone of extension `ext`, as an
/// operator's shell would, without checking its outcome.
/// `command` is split at spaces (no quoting). First notes every softphone's state for a
/// later "did nothing"; follow it with "it succeeds" or "it fails with exit code …".
/// Gives up after 40 s.
#[when(expr = "the command line {string} is run at extension {word}")]
async fn run_at(w: &mut BbWorld, command: String, ext: String) -> Result<(), String> {
    remember_before(w).await?;
    run_bbclient(w, Some(&ext), &command).await.map(|_| ())
}

/// Runs the `bbclient` command `command` as typed, without naming a softphone, so it
/// talks to the default one (or, for `bbclient call`, starts it).
/// First notes every softphone's state for a later "did nothing". Does not check the
/// outcome; follow it with "it succeeds" or "it fails with exit code …". Gives up after
/// 40 s.
#[when(expr = "the command line {string} is run")]
async fn run_plain(w: &mut BbWorld, command: String) -> Result<(), String> {
    remember_before(w).await?;
    run_bbclient(w, None, &command).await.map(|_| ())
}

/// Runs `bbclient call` at the softphone of extension `ext` with `written` as one
/// argument, as a shell passes a quoted number.
/// `written`: the number as the operator wrote it (spaces, dashes, full-width digits…).
/// First notes every softphone's state for a later "did nothing"; does not check the
/// outcome.
#[when(expr = "the operator at extension {word} dials {string} from the command line")]
async fn dials_from_cli(w: &mut BbWorld, ext: String, written: String) -> Result<(), String> {
    remember_before(w).await?;
    // One argument, as a shell passes a quoted number.
    let mut cmd = bbclient(w)?;
    cmd.args(["--instance", &instance_of(w, &ext), "call", &written]);
    run(w, format!("bbclient call '{written}'"), cmd)
        .await
        .map(|_| ())
}

/// Percent-encodes what a browser would not pass raw in a link: everything
/// but ASCII letters, digits and `-._~+*` (so `#` is `%23`, a space `%20`,
/// a full-width digit its UTF-8 bytes).
fn link_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~+*".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Opens a `bbclient:call:` link for the number `written` with `xdg-open` in the
/// scenario's desktop, the number percent-encoded as a browser does (`#` as `%23`, a
/// space as `%20`).
/// Extension `ext` must have a running softphone. First notes every softphone's state for
/// a later "did nothing"; does not check the outcome.
#[when(expr = "the operator at extension {word} dials {string} through a bbclient:call link")]
async fn dials_from_link(w: &mut BbWorld, ext: String, written: String) -> Result<(), String> {
    if !w.phones.contains_key(&ext) {
        return Err(format!("no softphone for extension {ext}"));
    }
    remember_before(w).await?;
    let uri = format!("bbclient:call:{}", link_encode(&written));
    let mut cmd = desktop(w, "xdg-open");
    cmd.arg(&uri);
    run(w, format!("xdg-open '{uri}'"), cmd).await.map(|_| ())
}

/// Checks that the last command or link run by a command-line or link step of this
/// scenario exited with 0.
/// Fails with its exit code, stdout and stderr.
#[then("it succeeds")]
async fn it_succeeds(w: &mut BbWorld) -> Result<(), String> {
    let o = last(w)?;
    ok_or_show(w, &o)
}

/// Exactly one non-empty line on stderr, `bbclient: …`, holding `needle`.
fn one_line(o: &Outcome, needle: &str) -> Result<(), String> {
    let lines: Vec<&str> = o.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    match lines.as_slice() {
        [line] if line.starts_with("bbclient: ") && line.contains(needle) => Ok(()),
        _ => Err(format!(
            "expected one line 'bbclient: …{needle}…' on stderr\n{}",
            o.show()
        )),
    }
}

/// Checks that the last command or link exited with the code `code` and printed exactly
/// one line on stderr, starting `bbclient: ` and containing `needle`.
/// `needle` may be any part of the line. Blank lines are not counted.
#[then(expr = "it fails with exit code {int} and the one line {string}")]
async fn fails_with(w: &mut BbWorld, code: i32, needle: String) -> Result<(), String> {
    let o = last(w)?;
    if o.code != Some(code) {
        return Err(format!("expected exit code {code}\n{}", o.show()));
    }
    one_line(&o, &needle)
}

/// Checks that the last link (or command) failed, with any exit code but 0, and printed
/// exactly one line on stderr, starting `bbclient: ` and containing `needle`.
/// `needle` may be any part of the line. Blank lines are not counted.
#[then(expr = "the link is refused with the one line {string}")]
async fn link_refused(w: &mut BbWorld, needle: String) -> Result<(), String> {
    let o = last(w)?;
    if o.code == Some(0) {
        return Err(format!("the link was not refused\n{}", o.show()));
    }
    one_line(&o, &needle)
}

// ---------------------------------------------------------------------------
// What the softphone did
// ---------------------------------------------------------------------------

/// Every line the softphone of `ext` printed: the World's process, or the
/// log of a softphone that `bbclient call` started.
pub(crate) fn output_of(w: &BbWorld, ext: &str) -> Vec<String> {
    match w.phones.get(ext) {
        Some(p) => p.proc.output.lock().map(|o| o.clone()).unwrap_or_default(),
        None => std::fs::read_to_string(w.dir.join("run/bbclient/default.log"))
            .map(|t| t.lines().map(String::from).collect())
            .unwrap_or_default(),
    }
}

async fn wait_line(w: &BbWorld, ext: &str, what: &str, line: &str) -> Result<(), String> {
    let found = w
        .wait_for(what, 10, || async {
            output_of(w, ext).iter().any(|l| l == line).then_some(())
        })
        .await;
    found.map_err(|e| match last(w) {
        Ok(o) => format!("{e}\nthe last command: {}", o.show()),
        Err(_) => e,
    })
}

/// Checks that the softphone of extension `ext` called exactly `number`: the simulator
/// received its INVITE for that number, whether it could route it or not.
/// Every INVITE that `ext` sent in this scenario must be for `number`. Waits up to 10 s
/// for the first one.
#[then(expr = "the softphone of extension {word} dials {word}")]
async fn dials(w: &mut BbWorld, ext: String, number: String) -> Result<(), String> {
    let what = format!("the simulator to receive extension {ext}'s INVITE for {number}");
    let got = w
        .wait_for(&what, 10, || async {
            invites_from(w, &ext).await.ok().filter(|i| !i.is_empty())
        })
        .await
        .map_err(|e| match last(w) {
            Ok(o) => format!("{e}\nthe last command: {}", o.show()),
            Err(_) => e,
        })?;
    if got.iter().all(|n| *n == number) {
        Ok(())
    } else {
        Err(format!(
            "the simulator received INVITEs from extension {ext} for {got:?}, expected only {number}\n{}",
            w.transcripts()
        ))
    }
}

/// The numbers of the INVITEs the simulator received from extension `ext`
/// (new dialogs, not re-INVITEs), in order; one refused for its
/// credentials shows as `(refused: REASON)`.
async fn invites_from(w: &BbWorld, ext: &str) -> Result<Vec<String>, String> {
    let (status, events) = w.api_call("GET", "/api/events", None).await?;
    if status != 200 {
        return Err(format!(
            "the simulator's event log answered {status}: {events}"
        ));
    }
    Ok(events
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| {
            matches!(e["kind"].as_str(), Some("call_placed" | "invite_refused"))
                && e["detail"]["from"] == ext
                && e["detail"]["kind"] != "inbound"
        })
        .map(|e| match e["detail"]["to"].as_str() {
            Some(to) => to.to_string(),
            None => format!(
                "(refused: {})",
                e["detail"]["reason"].as_str().unwrap_or("no reason")
            ),
        })
        .collect())
}

/// Checks that the softphone of extension `ext` printed that it rings with a call from
/// `from`.
/// Also reads the log of a softphone that `bbclient call` started on its own. Waits up to
/// 10 s.
#[then(expr = "the softphone of extension {word} rings with a call from {word}")]
async fn rings_from(w: &mut BbWorld, ext: String, from: String) -> Result<(), String> {
    let prefix = format!("bbclient: ringing: call from {from} ");
    w.wait_for(
        &format!("extension {ext} to ring with a call from {from}"),
        10,
        || async {
            output_of(w, &ext)
                .iter()
                .any(|l| l.starts_with(&prefix))
                .then_some(())
        },
    )
    .await
}

// ---------------------------------------------------------------------------
// What a softphone left unchanged
// ---------------------------------------------------------------------------

/// What a command or link could wrongly change, for one softphone.
#[derive(Debug, Clone)]
struct Snapshot {
    /// The settings file and its bytes (`None`: it does not exist).
    settings: (PathBuf, Option<Vec<u8>>),
    /// `bbclient status --json`'s `operator` part.
    operator: Value,
    /// `bbclient status --json`'s `calls` (without the media counters).
    calls: Value,
    /// The simulator's operators (without the idle time, which runs on).
    operators: Value,
    /// The INVITEs the simulator received from the extension.
    invites: Vec<String>,
    /// How many lines the softphone had printed.
    printed: usize,
}

/// The settings file the softphone of `ext` was started from.
fn settings_file(w: &BbWorld, ext: &str) -> PathBuf {
    w.phones
        .get(ext)
        .map(|p| p.config.clone())
        .unwrap_or_else(|| xdg(w, "config").join("bbclient/bbclient.toml"))
}

/// `bbclient status --json` of the softphone of `ext`. The app loop serves
/// the control socket's requests one after the other, so its answer also
/// proves that every request sent before it was handled.
pub(crate) async fn status_of(w: &BbWorld, ext: &str) -> Result<Value, String> {
    let mut cmd = bbclient(w)?;
    cmd.args(["--instance", &instance_of(w, ext), "status", "--json"]);
    let out = tokio::time::timeout(Duration::from_secs(15), cmd.kill_on_drop(true).output())
        .await
        .map_err(|_| {
            format!("'bbclient status --json' at extension {ext} did not answer within 15 s")
        })?
        .map_err(|e| format!("cannot run 'bbclient status --json': {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "'bbclient status --json' at extension {ext} failed ({}): {text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_str(text.trim())
        .map_err(|e| format!("'bbclient status --json' printed no JSON ({e}): {text}"))
}

async fn snapshot(w: &BbWorld, ext: &str) -> Result<Snapshot, String> {
    let status = status_of(w, ext).await?;
    let mut calls = status["calls"].clone();
    for c in calls.as_array_mut().into_iter().flatten() {
        if let Some(c) = c.as_object_mut() {
            c.remove("media");
        }
    }
    let (code, mut operators) = w.api_call("GET", "/api/operators", None).await?;
    if code != 200 {
        return Err(format!(
            "the simulator's operators answered {code}: {operators}"
        ));
    }
    for o in operators.as_array_mut().into_iter().flatten() {
        if let Some(o) = o.as_object_mut() {
            o.remove("idle_ms");
        }
    }
    let path = settings_file(w, ext);
    let bytes = std::fs::read(&path).ok();
    let printed = output_of(w, ext).len();
    Ok(Snapshot {
        printed,
        settings: (path, bytes),
        operator: status["operator"].clone(),
        calls,
        operators,
        invites: invites_from(w, ext).await?,
    })
}

/// Remembers every softphone's state before a command or link that a
/// "did nothing" step may follow.
async fn remember_before(w: &BbWorld) -> Result<(), String> {
    for ext in w.phones.keys() {
        let s = snapshot(w, ext).await?;
        with_scratch(|sc| sc.before.insert((w.dir.clone(), ext.clone()), s));
    }
    Ok(())
}

/// What changed between two snapshots, one line each.
fn changes(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    if before.settings != after.settings {
        let show = |b: &Option<Vec<u8>>| match b {
            Some(b) => String::from_utf8_lossy(b).into_owned(),
            None => "(no file)".into(),
        };
        out.push(format!(
            "the settings file {} changed from\n{}\nto\n{}",
            before.settings.0.display(),
            show(&before.settings.1),
            show(&after.settings.1)
        ));
    }
    if before.operator != after.operator {
        out.push(format!(
            "the softphone's operator session changed from {} to {}",
            before.operator, after.operator
        ));
    }
    if before.calls != after.calls {
        out.push(format!(
            "the softphone's calls changed from {} to {}",
            before.calls, after.calls
        ));
    }
    let ops = |v: &Value| -> BTreeMap<String, Value> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|o| (o["login_id"].as_str().unwrap_or("?").to_string(), o.clone()))
            .collect()
    };
    let (was, is) = (ops(&before.operators), ops(&after.operators));
    for id in was.keys().chain(is.keys()).collect::<BTreeSet<_>>() {
        if was.get(id) != is.get(id) {
            out.push(format!(
                "the simulator's operator {id} changed from {} to {}",
                was.get(id).unwrap_or(&Value::Null),
                is.get(id).unwrap_or(&Value::Null)
            ));
        }
    }
    if before.invites != after.invites {
        out.push(format!(
            "the simulator received INVITEs for {:?}",
            &after.invites[before.invites.len().min(after.invites.len())..]
        ));
    }
    out
}

/// Checks that the last command or link changed nothing at the softphone of extension
/// `ext`.
/// Its settings file, operator session and calls, the simulator's operators and the
/// INVITEs it received must be as the command or link step noted them, and the softphone
/// must have printed no line saying it dialled, held, resumed, transferred, hung up,
/// answered or logged in or out.
#[then(expr = "the softphone of extension {word} did nothing")]
async fn did_nothing(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let before = with_scratch(|s| s.before.get(&(w.dir.clone(), ext.clone())).cloned())
        .ok_or_else(|| {
            format!("no snapshot of extension {ext} was taken before the last command")
        })?;
    let after = snapshot(w, &ext).await?;
    let mut changed = changes(&before, &after);
    let acts = [
        "dialing",
        "on hold",
        "resumed",
        "transferred",
        "hung up",
        "answered",
        "operator",
    ];
    let done: Vec<String> = output_of(w, &ext)
        .into_iter()
        .skip(before.printed)
        .filter(|l| {
            acts.iter()
                .any(|a| l.starts_with(&format!("bbclient: {a}")))
        })
        .collect();
    if !done.is_empty() {
        changed.push(format!("it printed {done:?}"));
    }
    if changed.is_empty() {
        Ok(())
    } else {
        let last = last(w).map(|o| o.show()).unwrap_or_default();
        Err(format!(
            "extension {ext} acted on the last command:\n{}\nthe last command: {last}",
            changed.join("\n")
        ))
    }
}

/// Checks that the softphone of extension `ext` printed that the call is `state`: `held`,
/// `resumed`, `answered` or `ended`.
/// Any such line since the softphone started counts, not only one after the previous
/// step. Waits up to 10 s.
#[then(expr = "the softphone of extension {word} reports the call {word}")]
async fn reports(w: &mut BbWorld, ext: String, state: String) -> Result<(), String> {
    let prefix = match state.as_str() {
        "held" => "bbclient: on hold",
        "resumed" => "bbclient: resumed",
        "answered" => "bbclient: answered",
        "ended" => "bbclient: hung up",
        other => return Err(format!("unknown call state '{other}' in the step")),
    };
    let what = format!("extension {ext} to report the call {state}");
    w.wait_for(&what, 10, || async {
        output_of(w, &ext)
            .iter()
            .any(|l| l.starts_with(prefix))
            .then_some(())
    })
    .await
}

/// Checks that the softphone of extension `ext` printed the line
/// `bbclient: transferred to TARGET` for the transfer target `target`.
/// Waits up to 10 s.
#[then(expr = "the softphone of extension {word} reports the call transferred to {word}")]
async fn reports_transfer(w: &mut BbWorld, ext: String, target: String) -> Result<(), String> {
    let line = format!("bbclient: transferred to {target}");
    wait_line(
        w,
        &ext,
        &format!("extension {ext} to transfer to {target}"),
        &line,
    )
    .await
}

// ---------------------------------------------------------------------------
// Calls, as the simulator sees them
// ---------------------------------------------------------------------------

/// The outside line that rings each extension in the built-in tenant.
fn line_of(ext: &str) -> Result<&'static str, String> {
    match ext {
        "1910" => Ok("0312345678"),
        "1911" => Ok("0312345679"),
        _ => Err(format!(
            "no outside line of the built-in tenant rings extension {ext} directly"
        )),
    }
}

/// Sets up an answered call: the outside number `from` calls the outside line of
/// extension `ext` and its softphone answers with `bbclient answer`.
/// Only extensions 1910 and 1911 of the built-in tenant have a line of their own. The
/// call becomes the current outside call. Waits up to 10 s each for the ringing and the
/// answer.
#[given(expr = "an outside caller {word} is talking to extension {word}")]
async fn outside_talking(w: &mut BbWorld, from: String, ext: String) -> Result<(), String> {
    answered_outside_call(w, &from, &ext, None).await
}

/// An outside call from `from` to the line of extension `ext`, with the caller's
/// `script` (the simulator's default when `None`), answered with `bbclient answer`;
/// it becomes the current outside call.
pub(crate) async fn answered_outside_call(
    w: &mut BbWorld,
    from: &str,
    ext: &str,
    script: Option<Value>,
) -> Result<(), String> {
    let to = line_of(ext)?;
    let mut call = json!({"from": from, "to": to});
    if let Some(script) = script {
        call["script"] = script;
    }
    let (status, v) = w.api_call("POST", "/api/calls", Some(call)).await?;
    if status != 201 {
        return Err(format!("the simulator refused the call ({status}): {v}"));
    }
    w.last_call = v["id"].as_u64();
    super::calls::wait_call_state(w, "ringing").await?;
    let o = run_bbclient(w, Some(ext), "bbclient answer").await?;
    ok_or_show(w, &o)?;
    super::calls::wait_call_state(w, "answered")
        .await
        .map(|_| ())
}

/// Checks that the current outside call is answered and the outside caller is connected
/// to extension `ext`, e.g. after a transfer.
/// Waits up to 15 s.
#[then(expr = "the outside caller ends up talking to extension {word}")]
async fn ends_up_with(w: &mut BbWorld, ext: String) -> Result<(), String> {
    w.wait_for(
        &format!("the outside caller to talk to extension {ext}"),
        15,
        || async {
            let c = w.last_call_state().await.ok()?;
            let with = c["talking_to"].as_str().unwrap_or(c["extension"].as_str()?);
            (c["state"] == "answered" && with == ext).then_some(())
        },
    )
    .await
}

/// Checks that the simulator has a call from extension `ext` to `number`, in any state.
/// Waits up to 10 s.
#[then(expr = "the simulator sees extension {word} calling {word}")]
async fn sim_sees_call(w: &mut BbWorld, ext: String, number: String) -> Result<(), String> {
    w.wait_for(
        &format!("the simulator to see {ext} calling {number}"),
        10,
        || async {
            let (_, calls) = w.api_call("GET", "/api/calls", None).await.ok()?;
            calls
                .as_array()?
                .iter()
                .any(|c| c["from"] == ext.as_str() && c["to"] == number.as_str())
                .then_some(())
        },
    )
    .await
}

/// Checks that the simulator shows the current outside call as `state`: `held`, or
/// `resumed` (not held).
/// Waits up to 10 s.
#[then(expr = "the simulator sees the call {word}")]
async fn sim_sees_state(w: &mut BbWorld, state: String) -> Result<(), String> {
    let want_held = match state.as_str() {
        "held" => true,
        "resumed" => false,
        other => return Err(format!("unknown state '{other}' in the step")),
    };
    w.wait_for(
        &format!("the simulator to see the call {state}"),
        10,
        || async {
            let c = w.last_call_state().await.ok()?;
            (c["held"].as_bool()? == want_held).then_some(())
        },
    )
    .await
}

// ---------------------------------------------------------------------------
// A softphone started by `call`
// ---------------------------------------------------------------------------

/// Checks that no softphone runs, then writes the account of extension `ext` (server,
/// user, password `pwEXT`) to the default settings file of the scenario's desktop.
/// For a `bbclient call` that has to start a softphone by itself.
#[given(
    expr = "no softphone is running, and the settings of extension {word} are in the default settings file"
)]
async fn settings_in_default_file(w: &mut BbWorld, ext: String) -> Result<(), String> {
    no_phone(w).await?;
    let file = xdg(w, "config").join("bbclient/bbclient.toml");
    let dir = file.parent().ok_or("no parent")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let text = format!(
        "[account]\nserver = \"{}\"\nuser = \"{ext}\"\npassword = \"pw{ext}\"\n",
        w.sip()?
    );
    std::fs::write(&file, text).map_err(|e| format!("cannot write {}: {e}", file.display()))
}

/// Checks that this scenario has started no softphone and that no default softphone is
/// listening.
/// Changes nothing.
#[given("no softphone is running")]
async fn no_phone(w: &mut BbWorld) -> Result<(), String> {
    if w.phones.is_empty() && !w.dir.join("run/bbclient/default.sock").exists() {
        Ok(())
    } else {
        Err("a softphone is running in this scenario".into())
    }
}

/// Checks that the last command said it started a softphone, that extension `ext` is
/// registered at the simulator, and that the started softphone registered before it
/// dialled.
/// Looks at once, at the command's stderr, the simulator and the started softphone's log.
#[then(expr = "a softphone for extension {word} has been started and registered before it dialled")]
async fn started_and_registered(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let o = last(w)?;
    if !o.stderr.contains("no softphone was running; started one") {
        return Err(format!(
            "bbclient did not say it started a softphone\n{}",
            o.show()
        ));
    }
    let regs = w.api_call("GET", "/api/registrations", None).await?.1;
    let registered = regs
        .as_array()
        .is_some_and(|r| r.iter().any(|r| r["extension"] == ext.as_str()));
    if !registered {
        return Err(format!(
            "extension {ext} is not registered at the simulator: {regs}"
        ));
    }
    let log = output_of(w, &ext);
    let at = |needle: &str| log.iter().position(|l| l.contains(needle));
    match (at(&format!("registered as {ext}")), at("dialing")) {
        (Some(r), Some(d)) if r < d => Ok(()),
        _ => Err(format!(
            "the started softphone did not register, then dial:\n{}",
            log.join("\n")
        )),
    }
}

// ---------------------------------------------------------------------------
// The control socket, as a script uses it
// ---------------------------------------------------------------------------

/// Connects to the control socket of the softphone of extension `ext` as a script would,
/// and subscribes to its events.
/// Fails unless the softphone accepts within 5 s. The "the script sees …" steps read the
/// events received.
#[given(expr = "a script is subscribed to the events of the softphone of extension {word}")]
async fn script_subscribed(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let path = w
        .dir
        .join("run/bbclient")
        .join(format!("{}.sock", instance_of(w, &ext)));
    let stream = tokio::net::UnixStream::connect(&path)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", path.display()))?;
    let (read, mut write) = stream.into_split();
    write
        .write_all(b"{\"id\":1,\"cmd\":\"subscribe\"}\n")
        .await
        .map_err(|e| format!("cannot write to {}: {e}", path.display()))?;
    let mut lines = BufReader::new(read).lines();
    let first = tokio::time::timeout(Duration::from_secs(5), lines.next_line())
        .await
        .map_err(|_| "no reply to subscribe within 5 s".to_string())?
        .map_err(|e| format!("reading the reply: {e}"))?
        .ok_or("the softphone closed the connection")?;
    let reply: Value = serde_json::from_str(&first).map_err(|e| format!("'{first}': {e}"))?;
    if reply != json!({"type": "reply", "id": 1, "ok": true}) {
        return Err(format!("unexpected reply to subscribe: {first}"));
    }
    let events: Events = Arc::default();
    let sink = events.clone();
    tokio::spawn(async move {
        let _keep_open = write;
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && let Ok(mut e) = sink.lock()
            {
                e.push(v);
            }
        }
    });
    with_scratch(|s| s.subscriptions.insert((w.dir.clone(), ext), events));
    Ok(())
}

fn seen(w: &BbWorld) -> Result<Vec<Value>, String> {
    let events = with_scratch(|s| {
        s.subscriptions
            .iter()
            .find(|((dir, _), _)| dir == &w.dir)
            .map(|(_, e)| e.clone())
    })
    .ok_or("no script is subscribed in this scenario")?;
    Ok(events.lock().map(|e| e.clone()).unwrap_or_default())
}

/// Checks that the subscribed script received a `registration` event with the state
/// `state` (e.g. `registered`).
/// Waits up to 10 s.
#[then(expr = "the script sees the registration state {word}")]
async fn script_sees_registration(w: &mut BbWorld, state: String) -> Result<(), String> {
    let r = w
        .wait_for(&format!("a registration event '{state}'"), 10, || async {
            seen(w)
                .ok()?
                .into_iter()
                .find(|e| e["event"] == "registration" && e["state"] == state.as_str())
        })
        .await;
    r.map(|_| ())
}

/// Checks that the subscribed script received exactly the listed call events, in this
/// order, for the Call-ID the simulator shows for the current outside call.
/// `names`: event names separated by commas, spaces or "and", among `ringing`,
/// `answered`, `held`, `unheld`, `transferred`, `transfer_failed` and `hung_up`; hook and
/// popup events between them are ignored. Waits up to 10 s.
#[then(
    regex = r"^the script sees the events (.+), in this order, each with the Call-ID the simulator gave the call$"
)]
async fn script_sees_events(w: &mut BbWorld, names: String) -> Result<(), String> {
    let names: Vec<String> = names
        .split([',', ' '])
        .filter(|n| !n.is_empty() && *n != "and")
        .map(String::from)
        .collect();
    let call_id = w.last_call_state().await?["call_id"]
        .as_str()
        .filter(|c| !c.is_empty())
        .ok_or("the simulator shows no Call-ID for the call")?
        .to_string();
    // The call's own progress; hook and popup events may come between.
    const CALL_EVENTS: [&str; 7] = [
        "ringing",
        "answered",
        "held",
        "unheld",
        "transferred",
        "transfer_failed",
        "hung_up",
    ];
    let matching = |events: &[Value]| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["type"] == "event" && e["call_id"] == call_id.as_str())
            .filter_map(|e| e["event"].as_str().map(String::from))
            .filter(|k| CALL_EVENTS.contains(&k.as_str()))
            .collect()
    };
    let got = w
        .wait_for(
            &format!("the events {names:?} for Call-ID {call_id}"),
            10,
            || async {
                let m = matching(&seen(w).ok()?);
                (m.len() >= names.len()).then_some(m)
            },
        )
        .await
        .map_err(|e| {
            let all = seen(w).unwrap_or_default();
            format!(
                "{e}\nevents seen: {}",
                all.iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })?;
    if got != names {
        return Err(format!(
            "for Call-ID {call_id} the script saw {got:?}, expected {names:?}"
        ));
    }
    Ok(())
}

/// Makes the simulator leave the transferor's call legs up after an attended transfer
/// until the transferor's softphone ends them with its own BYE.
/// Then "the simulator keeps no leg of extension … up" proves the softphone hung up, not
/// the simulator. (Blind transfers always wait for that BYE.)
#[given("the simulator waits for the transferor to hang up after a transfer")]
async fn transferor_hangs_up(w: &mut BbWorld) -> Result<(), String> {
    let (status, v) = w
        .api_call(
            "POST",
            "/api/transfers",
            Some(json!({"transferor_hangs_up": true})),
        )
        .await?;
    if status == 200 {
        Ok(())
    } else {
        Err(format!(
            "the simulator refused the transfer settings ({status}): {v}"
        ))
    }
}

/// The legs of extension `ext` that the simulator still keeps up, as
/// `call id/leg id (state, purpose)`.
async fn live_legs_of(w: &BbWorld, ext: &str) -> Result<Vec<String>, String> {
    let (status, calls) = w.api_call("GET", "/api/calls", None).await?;
    if status != 200 {
        return Err(format!(
            "the simulator's call list answered {status}: {calls}"
        ));
    }
    let mut live = Vec::new();
    for c in calls.as_array().into_iter().flatten() {
        for l in c["legs"].as_array().into_iter().flatten() {
            if l["endpoint"]["kind"] == "extension"
                && l["endpoint"]["number"] == ext
                && l["state"] != "ended"
            {
                live.push(format!(
                    "call {}/leg {} ({}, {})",
                    c["id"], l["id"], l["state"], l["purpose"]
                ));
            }
        }
    }
    Ok(live)
}

/// Checks that the simulator keeps no call leg of extension `ext` up, e.g. that after a
/// transfer the operator is out of the call (neither the held original nor the
/// consultation call).
/// Waits up to 10 s; on failure lists the legs still up.
#[then(expr = "the simulator keeps no leg of extension {word} up")]
async fn no_live_leg(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let waited = w
        .wait_for(
            &format!("the simulator to end every leg of extension {ext}"),
            10,
            || async { live_legs_of(w, &ext).await.ok().filter(Vec::is_empty) },
        )
        .await;
    match waited {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "still up: {:?}\n{e}",
            live_legs_of(w, &ext).await.unwrap_or_default()
        )),
    }
}
