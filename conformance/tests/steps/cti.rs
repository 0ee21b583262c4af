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
//! Checks that something does *not* happen wait for a barrier that proves
//! the softphone got that far (a hook that runs after it, a log line), then
//! allow [`GRACE`] for a wrong action to show up.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use conformance::uac::{Call, InviteSpec, Uac};
use conformance::world::BbWorld;
use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use serde_json::{Value, json};

use super::docstring;
use super::web::{exactly_one_request, render};

/// How long a wrong extra action is given to show up after a barrier.
const GRACE: Duration = Duration::from_millis(500);

/// The argv recorder built with this test.
const RECORDER: &str = env!("CARGO_BIN_EXE_argv-recorder");

/// The per-scenario state of these steps (the World belongs to everyone;
/// it is keyed by the World's scratch folder, which is unique).
#[derive(Default)]
struct Cti {
    events: HashMap<String, Arc<Mutex<Vec<Value>>>>,
    uac: Option<Uac>,
    call: Option<Call>,
    tokens: HashMap<String, String>,
    caller_id: Option<String>,
    refused: Option<(Option<i32>, String, String)>,
    servers: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Cti {
    fn drop(&mut self) {
        for s in &self.servers {
            s.abort();
        }
    }
}

type Shared = Arc<tokio::sync::Mutex<Cti>>;

static STATES: LazyLock<Mutex<HashMap<PathBuf, Shared>>> = LazyLock::new(Default::default);

fn state(w: &BbWorld) -> Shared {
    let mut all = STATES.lock().unwrap_or_else(|e| e.into_inner());
    // Scenarios that ended removed their folder: forget their state.
    all.retain(|dir, _| dir.exists());
    all.entry(w.dir.clone()).or_default().clone()
}

// ---------------------------------------------------------------- helpers

/// Percent-encodes like the softphone: unreserved characters stay.
fn encode(text: &str) -> String {
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

/// The safe alphabet of command arguments, written here independently of
/// bb-cti: keep `[A-Za-z0-9+*#._@-]`, drop leading `-`, at most 256 chars.
fn filtered(value: &str) -> String {
    let mut kept = String::new();
    for c in value.chars() {
        let safe = c.is_ascii_alphanumeric() || "+*#._@-".contains(c);
        if safe && !(c == '-' && kept.is_empty()) {
            kept.push(c);
        }
    }
    kept.chars().take(256).collect()
}

fn recorder_path(w: &BbWorld, name: &str) -> PathBuf {
    if name.contains('/') {
        w.dir.join(name)
    } else {
        w.dir.join("bin").join(name)
    }
}

fn install_recorder(path: &Path) -> Result<(), String> {
    if path.exists() {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::os::unix::fs::symlink(RECORDER, path)
        .map_err(|e| format!("cannot link {} to {RECORDER}: {e}", path.display()))
}

/// Replaces the settings tokens (see the module docs).
async fn expand(w: &BbWorld, text: &str) -> Result<String, String> {
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
struct Run {
    args: Vec<String>,
    pid: u64,
}

fn runs(w: &BbWorld, name: &str) -> Vec<Run> {
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

/// The Call-ID of the call under test: the test's own call, else the
/// simulator's last outside call.
async fn call_id(w: &BbWorld) -> Result<String, String> {
    if let Some(c) = &state(w).lock().await.call {
        return Ok(c.call_id.clone());
    }
    let v = w.last_call_state().await?;
    v["call_id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("the simulator's call has no call_id: {v}"))
}

/// The caller ID of the call under test: the one the test's user agent
/// sent, else the `from` of the simulator's last outside call.
async fn caller_id(w: &BbWorld) -> Result<String, String> {
    if let Some(id) = &state(w).lock().await.caller_id {
        return Ok(id.clone());
    }
    let v = w.last_call_state().await?;
    v["from"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("the simulator's call has no from: {v}"))
}

fn first_ext(w: &BbWorld) -> Result<String, String> {
    w.phones.keys().next().cloned().ok_or("no softphone".into())
}

fn transcript_lines(w: &BbWorld, ext: &str) -> Vec<String> {
    w.phones
        .get(ext)
        .and_then(|p| p.proc.output.lock().ok().map(|o| o.clone()))
        .unwrap_or_default()
}

/// The softphone's output once some line satisfies `wanted`, waiting up to
/// 10 s: its stdout is read by another thread than its events, so a line
/// printed for an event already seen may still be in the pipe.
async fn transcript_once(
    w: &BbWorld,
    ext: &str,
    what: &str,
    wanted: impl Fn(&str) -> bool,
) -> Result<Vec<String>, String> {
    w.wait_for(what, 10, || async {
        let lines = transcript_lines(w, ext);
        lines.iter().any(|l| wanted(l)).then_some(lines)
    })
    .await
}

async fn events(w: &BbWorld, ext: &str) -> Result<Vec<Value>, String> {
    let st = state(w);
    let st = st.lock().await;
    let list = st
        .events
        .get(ext)
        .ok_or_else(|| format!("nobody subscribed to the events of extension {ext}"))?;
    Ok(list.lock().map(|l| l.clone()).unwrap_or_default())
}

/// Waits for the CRM's first request, gives a wrong second one [`GRACE`],
/// and returns them all.
async fn crm_requests_settled(w: &BbWorld) -> Result<Vec<Value>, String> {
    w.wait_for("the CRM to receive a request", 10, || async {
        w.crm_requests().await.ok().filter(|r| !r.is_empty())
    })
    .await?;
    tokio::time::sleep(GRACE).await;
    w.crm_requests().await
}

async fn start_phone(
    w: &mut BbWorld,
    ext: &str,
    settings: &str,
    env: &[(&str, &str)],
) -> Result<(), String> {
    let settings = expand(w, settings).await?;
    w.start_phone_env(ext, &settings, env).await?;
    // This process registered (a restarted one may find its predecessor's
    // binding still at the simulator).
    w.wait_for(
        &format!("extension {ext} to say it registered"),
        15,
        || async {
            transcript_lines(w, ext)
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

#[given(expr = "a softphone for extension {word} with the settings")]
async fn phone_with_settings(w: &mut BbWorld, step: &Step, ext: String) -> Result<(), String> {
    let settings = docstring(step)?;
    start_phone(w, &ext, &settings, &[]).await
}

#[given(expr = "a softphone for extension {word} logging everything, with the settings")]
async fn phone_logging_everything(w: &mut BbWorld, step: &Step, ext: String) -> Result<(), String> {
    let settings = docstring(step)?;
    start_phone(w, &ext, &settings, &[("BBCLIENT_LOG", "debug")]).await
}

async fn crm_behaviour(w: &BbWorld, behaviour: Value) -> Result<(), String> {
    let url = format!("{}/__mock/behaviour", w.crm()?);
    let resp = w
        .http
        .post(&url)
        .json(&behaviour)
        .send()
        .await
        .map_err(|e| format!("POST {url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!(
            "the mock CRM refused {behaviour}: {}",
            resp.status()
        ));
    }
    Ok(())
}

#[given(expr = "the mock CRM answers with status {int}")]
async fn crm_status(w: &mut BbWorld, status: u16) -> Result<(), String> {
    crm_behaviour(w, json!({ "status": status })).await
}

#[given(expr = "the mock CRM answers only after {int} ms")]
async fn crm_delay(w: &mut BbWorld, ms: u64) -> Result<(), String> {
    crm_behaviour(w, json!({ "delay_ms": ms })).await
}

#[given(expr = "the mock CRM answers {string} as {string}")]
async fn crm_body(w: &mut BbWorld, body: String, content_type: String) -> Result<(), String> {
    crm_behaviour(w, json!({ "body": body, "content_type": content_type })).await
}

/// A one-answer HTTP server: every request gets `status`, `content_type`
/// and the raw `body` bytes, then the connection is closed.
async fn serve_bytes(
    status: u16,
    content_type: &str,
    body: Vec<u8>,
) -> Result<(String, tokio::task::JoinHandle<()>), String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot bind a test CRM: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("test CRM address: {e}"))?;
    let mut answer = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(&body);
    let task = tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = conn.write_all(&answer).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    Ok((format!("http://{addr}"), task))
}

#[given(expr = "a CRM that answers in Shift_JIS with {string}")]
async fn sjis_crm(w: &mut BbWorld, text: String) -> Result<(), String> {
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(&text);
    if unmappable {
        return Err(format!("'{text}' cannot be written in Shift_JIS"));
    }
    let (url, task) = serve_bytes(200, "text/html; charset=Shift_JIS", bytes.into_owned()).await?;
    let st = state(w);
    let mut st = st.lock().await;
    st.tokens.insert("sjis_crm".into(), url);
    st.servers.push(task);
    Ok(())
}

#[given(expr = "a CRM address that refuses connections")]
async fn refused_crm(w: &mut BbWorld) -> Result<(), String> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| format!("address: {e}"))?;
    drop(listener);
    state(w)
        .lock()
        .await
        .tokens
        .insert("refused".into(), format!("http://{addr}"));
    Ok(())
}

#[given(expr = "the CRM program is installed as {string}")]
async fn program_installed(w: &mut BbWorld, rel: String) -> Result<(), String> {
    install_recorder(&w.dir.join(rel))
}

// ------------------------------------------------------------------- when

async fn uac(w: &BbWorld) -> Result<(), String> {
    let st = state(w);
    let mut st = st.lock().await;
    if st.uac.is_none() {
        let ip = w.sip()?.ip();
        st.uac = Some(
            Uac::bind(ip, false)
                .await
                .map_err(|e| format!("cannot bind the test's SIP user agent: {e}"))?,
        );
    }
    Ok(())
}

/// Sends `spec` to the softphone of `ext` from the test's user agent and
/// waits for 180 Ringing.
async fn raw_call(w: &BbWorld, ext: &str, spec: InviteSpec) -> Result<(), String> {
    let target = w.contact_of(ext).await?;
    uac(w).await?;
    let st = state(w);
    let mut st = st.lock().await;
    let uac = st.uac.as_ref().ok_or("no user agent")?;
    let mut call = uac
        .invite(target, &spec)
        .await
        .map_err(|e| format!("cannot send the INVITE: {e}"))?;
    let rang = call.wait_status(180, Duration::from_secs(10)).await;
    st.call = Some(call);
    drop(st);
    rang.map(|_| ())
        .map_err(|e| format!("the softphone did not ring: {e}\n{}", w.transcripts()))
}

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
    w.contact_of(&ext).await?;
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
            (c["state"] == "ringing" && c["extension"] == ext.as_str()).then_some(())
        })
        .await;
    rang.map_err(|e| format!("the softphone did not ring: {e}"))
}

#[when("the caller gives up")]
async fn caller_gives_up(w: &mut BbWorld) -> Result<(), String> {
    let st = state(w);
    let mut st = st.lock().await;
    if let Some(call) = st.call.as_mut() {
        // The test's own user agent called: CANCEL.
        let code = call.cancel(Duration::from_secs(10)).await?;
        if code != 487 {
            return Err(format!("the INVITE ended with {code}, not 487"));
        }
        return Ok(());
    }
    drop(st);
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

#[then("the caller is answered")]
async fn caller_answered(w: &mut BbWorld) -> Result<(), String> {
    let st = state(w);
    let mut st = st.lock().await;
    let call = st
        .call
        .as_mut()
        .ok_or("no call from the test's user agent")?;
    call.wait_status(200, Duration::from_secs(10))
        .await
        .map(|_| ())
}

#[when("the caller hangs up")]
async fn caller_hangs_up(w: &mut BbWorld) -> Result<(), String> {
    let st = state(w);
    let mut st = st.lock().await;
    let call = st
        .call
        .as_mut()
        .ok_or("no call from the test's user agent")?;
    call.bye(Duration::from_secs(10)).await
}

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

#[when(expr = "the softphone for extension {word} is restarted with the settings")]
async fn restarted(w: &mut BbWorld, step: &Step, ext: String) -> Result<(), String> {
    // The restarted softphone binds the SIP address it had, as it would on
    // the operator's PC, so the simulator's binding stays valid even if the
    // stopped one did not unregister.
    let old = w.contact_of(&ext).await?;
    w.stop_phone(&ext).await;
    let settings = format!("local_addr = \"{old}\"\n{}", docstring(step)?);
    start_phone(w, &ext, &settings, &[]).await
}

#[when("the CRM's requests are cleared")]
async fn crm_cleared(w: &mut BbWorld) -> Result<(), String> {
    let url = format!("{}/__mock/requests", w.crm()?);
    w.http
        .delete(&url)
        .send()
        .await
        .map_err(|e| format!("DELETE {url}: {e}"))?;
    Ok(())
}

// ------------------------------------------------------------------- then

#[then("the CRM receives exactly this request for the call")]
async fn crm_receives_for_call(w: &mut BbWorld, step: &Step) -> Result<(), String> {
    let want = docstring(step)?.replace("{call_id}", &encode(&call_id(w).await?));
    let got = crm_requests_settled(w).await?;
    exactly_one_request(&got, &want)
}

#[then(expr = "the CRM's request matches the snapshot {string}")]
async fn crm_snapshot(w: &mut BbWorld, name: String) -> Result<(), String> {
    let got = crm_requests_settled(w).await?;
    let text = got.iter().map(render).collect::<Vec<_>>().join("\n---\n");
    let result = std::panic::catch_unwind(|| {
        insta::with_settings!({ prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!(name.as_str(), text);
        });
    });
    result.map_err(|_| format!("the CRM's request differs from snapshot '{name}':\n{text}"))
}

#[then("the CRM receives no request")]
async fn crm_nothing(w: &mut BbWorld) -> Result<(), String> {
    tokio::time::sleep(GRACE).await;
    let got = w.crm_requests().await?;
    if !got.is_empty() {
        return Err(format!(
            "the CRM received:\n{}",
            got.iter().map(render).collect::<Vec<_>>().join("\n---\n")
        ));
    }
    Ok(())
}

#[then(expr = "the CRM receives a request")]
async fn crm_some(w: &mut BbWorld) -> Result<(), String> {
    w.wait_for("the CRM to receive a request", 10, || async {
        w.crm_requests().await.ok().filter(|r| !r.is_empty())
    })
    .await
    .map(|_| ())
}

#[then(expr = "the popup shows {string}")]
async fn popup_shows(w: &mut BbWorld, text: String) -> Result<(), String> {
    let ext = first_ext(w)?;
    let call = call_id(w).await?;
    let ev = w
        .wait_for(&format!("a popup event showing '{text}'"), 10, || async {
            events(w, &ext)
                .await
                .ok()?
                .into_iter()
                .find(|e| e["event"] == "popup")
        })
        .await?;
    if ev["call_id"] != call.as_str() {
        return Err(format!(
            "the popup is for call {}, not {call}",
            ev["call_id"]
        ));
    }
    let shown = ev["text"].as_str().unwrap_or("");
    if !shown.contains(&text) {
        return Err(format!("the popup shows '{shown}', not '{text}'"));
    }
    // The headless softphone prints it too.
    transcript_once(w, &ext, "the softphone to print the popup line", |l| {
        l.starts_with("bbclient: popup for call") && l.contains("(CRM answered 200)")
    })
    .await
    .map(|_| ())
}

#[then(expr = "the popup text is exactly {string}")]
async fn popup_exact(w: &mut BbWorld, text: String) -> Result<(), String> {
    let ext = first_ext(w)?;
    let ev = w
        .wait_for("a popup event", 10, || async {
            events(w, &ext)
                .await
                .ok()?
                .into_iter()
                .find(|e| e["event"] == "popup")
        })
        .await?;
    let text = text.replace("\\n", "\n");
    if ev["text"] != text.as_str() {
        return Err(format!("the popup shows {}, not '{text}'", ev["text"]));
    }
    Ok(())
}

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

#[then(expr = "{string} is run once with the arguments")]
async fn run_once_with(w: &mut BbWorld, step: &Step, name: String) -> Result<(), String> {
    let want = expected_args(w, step).await?;
    w.wait_for(&format!("'{name}' to run"), 10, || async {
        (!runs(w, &name).is_empty()).then_some(())
    })
    .await?;
    tokio::time::sleep(GRACE).await;
    let got = runs(w, &name);
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

#[then(expr = "{string} is not run")]
async fn not_run(w: &mut BbWorld, name: String) -> Result<(), String> {
    tokio::time::sleep(GRACE).await;
    let got = runs(w, &name);
    if !got.is_empty() {
        return Err(format!("'{name}' ran: {got:?}"));
    }
    Ok(())
}

#[then(
    expr = "{string} is run with the caller ID filtered to the safe characters as its only argument"
)]
async fn run_with_filtered(w: &mut BbWorld, name: String) -> Result<(), String> {
    let id = caller_id(w).await?;
    let want = vec![filtered(id.trim())];
    w.wait_for(&format!("'{name}' to run"), 10, || async {
        (!runs(w, &name).is_empty()).then_some(())
    })
    .await?;
    tokio::time::sleep(GRACE).await;
    let got = runs(w, &name);
    if got.len() != 1 || got[0].args != want {
        return Err(format!("'{name}' ran {got:?}, expected once with {want:?}"));
    }
    Ok(())
}

#[then(expr = "the file {string} holds the caller ID filtered to the safe characters")]
async fn file_holds_filtered(w: &mut BbWorld, rel: String) -> Result<(), String> {
    let id = caller_id(w).await?;
    let path = w.dir.join(&rel);
    let text = w
        .wait_for(&format!("{rel} to be written"), 10, || async {
            std::fs::read_to_string(&path)
                .ok()
                .filter(|t| t.ends_with('\n'))
        })
        .await?;
    let want = format!("{}\n", filtered(id.trim()));
    if text != want {
        return Err(format!("{rel} holds {text:?}, expected {want:?}"));
    }
    Ok(())
}

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

#[then(
    expr = "the CRM receives one well-formed request whose parameters are exactly {string}, with the caller ID as {string}"
)]
async fn crm_well_formed(
    w: &mut BbWorld,
    names: String,
    number_param: String,
) -> Result<(), String> {
    let id = caller_id(w).await?;
    let got = crm_requests_settled(w).await?;
    if got.len() != 1 {
        return Err(format!("the CRM received {} requests: {got:?}", got.len()));
    }
    let query = got[0]["query"]
        .as_str()
        .ok_or_else(|| format!("the request has no query: {}", got[0]))?;
    // Well-formed: only unreserved characters, '%XX', '=' and '&'.
    let mut bytes = query.bytes().peekable();
    while let Some(b) = bytes.next() {
        let ok = b.is_ascii_alphanumeric() || b"-._~=&".contains(&b) || b == b'%';
        if !ok {
            return Err(format!(
                "the query holds a raw {:?}: {query}",
                char::from(b)
            ));
        }
        if b == b'%' {
            let h: Vec<u8> = bytes.by_ref().take(2).collect();
            if h.len() != 2 || !h.iter().all(u8::is_ascii_hexdigit) {
                return Err(format!("bad percent escape in {query}"));
            }
        }
    }
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let got_names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    let want_names: Vec<&str> = names.split(',').map(str::trim).collect();
    if got_names != want_names {
        return Err(format!(
            "the CRM got the parameters {got_names:?}, expected {want_names:?}; query: {query}"
        ));
    }
    let number = pairs
        .iter()
        .find(|(k, _)| *k == number_param)
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    if number != id.trim() {
        return Err(format!(
            "the CRM got {number_param}={number:?}, but the caller ID is {:?}",
            id.trim()
        ));
    }
    Ok(())
}

#[then("no line of the softphone's output was forged by the caller ID")]
async fn no_forged_lines(w: &mut BbWorld) -> Result<(), String> {
    let ext = first_ext(w)?;
    for line in transcript_lines(w, &ext) {
        let ok = match line.strip_prefix("(stderr) ") {
            // tracing lines start with the timestamp.
            Some(rest) => rest.starts_with(|c: char| c.is_ascii_digit()) || rest.is_empty(),
            None => line.starts_with("bbclient: "),
        };
        if !ok {
            return Err(format!(
                "a line of the softphone's output was forged: {line:?}"
            ));
        }
    }
    Ok(())
}

#[then(expr = "the softphone reports the {word} hook as {word}")]
async fn hook_reported(w: &mut BbWorld, kind: String, outcome: String) -> Result<(), String> {
    hook_event(w, &kind, &outcome, None, 10).await
}

#[then(expr = "the softphone reports the {word} hook as {word} with {string}")]
async fn hook_reported_with(
    w: &mut BbWorld,
    kind: String,
    outcome: String,
    detail: String,
) -> Result<(), String> {
    hook_event(w, &kind, &outcome, Some(&detail), 10).await
}

#[then(expr = "within {int} s the softphone reports the {word} hook as {word}")]
async fn hook_reported_within(
    w: &mut BbWorld,
    secs: u64,
    kind: String,
    outcome: String,
) -> Result<(), String> {
    hook_event(w, &kind, &outcome, None, secs).await
}

async fn hook_event(
    w: &BbWorld,
    kind: &str,
    outcome: &str,
    detail: Option<&str>,
    secs: u64,
) -> Result<(), String> {
    let ext = first_ext(w)?;
    let call = call_id(w).await?;
    w.wait_for(
        &format!("a {kind} hook event '{outcome}'"),
        secs,
        || async {
            events(w, &ext).await.ok()?.into_iter().find(|e| {
                e["event"] == "hook"
                    && e["kind"] == kind
                    && e["outcome"] == outcome
                    && e["call_id"] == call.as_str()
                    && detail.is_none_or(|d| e["detail"].as_str().is_some_and(|x| x.contains(d)))
            })
        },
    )
    .await
    .map(|_| ())
}

#[then(expr = "the softphone's output says {string}")]
async fn output_says(w: &mut BbWorld, text: String) -> Result<(), String> {
    let ext = first_ext(w)?;
    w.wait_for(&format!("the softphone to say '{text}'"), 10, || async {
        transcript_lines(w, &ext)
            .iter()
            .any(|l| l.contains(&text))
            .then_some(())
    })
    .await
}

/// Index of the first output line with `kind` (`ring command`) `#N started`.
fn started_at(lines: &[String], kind: &str) -> Option<usize> {
    lines.iter().position(|l| {
        l.starts_with("bbclient: hook:")
            && l.contains(&format!(": {kind} #"))
            && l.contains(" started: ")
    })
}

/// Index of the first output line saying a `kind` hook ended.
fn ended_at(lines: &[String], kind: &str) -> Option<usize> {
    lines.iter().position(|l| {
        l.starts_with("bbclient: hook:")
            && l.contains(&format!(": {kind} #"))
            && (l.contains(" finished in ")
                || l.contains(" failed in ")
                || l.contains(" timed out "))
    })
}

#[then("the hooks started in this order")]
async fn hooks_in_order(w: &mut BbWorld, step: &Step) -> Result<(), String> {
    let kinds: Vec<String> = docstring(step)?
        .lines()
        .map(|l| l.trim().to_string())
        .collect();
    let ext = first_ext(w)?;
    let last = kinds.last().cloned().unwrap_or_default();
    w.wait_for(&format!("the {last} to start"), 10, || async {
        started_at(&transcript_lines(w, &ext), &last)
    })
    .await?;
    let lines = transcript_lines(w, &ext);
    let mut prev = None;
    for k in &kinds {
        let at = started_at(&lines, k)
            .ok_or_else(|| format!("no {k} started:\n{}", lines.join("\n")))?;
        if prev.is_some_and(|p| at < p) {
            return Err(format!(
                "the {k} started out of order:\n{}",
                lines.join("\n")
            ));
        }
        prev = Some(at);
    }
    Ok(())
}

#[then(expr = "the {string} hook was still running when the call ended")]
async fn still_running(w: &mut BbWorld, kind: String) -> Result<(), String> {
    let ext = first_ext(w)?;
    let lines = transcript_once(w, &ext, "the softphone to say the call ended", |l| {
        l.starts_with("bbclient: hung up:")
    })
    .await?;
    let hung_up = lines
        .iter()
        .position(|l| l.starts_with("bbclient: hung up:"))
        .ok_or("the softphone never said the call ended")?;
    started_at(&lines, &kind)
        .filter(|s| *s < hung_up)
        .ok_or_else(|| format!("the {kind} did not start before the call ended"))?;
    if let Some(end) = ended_at(&lines, &kind)
        && end < hung_up
    {
        return Err(format!(
            "the {kind} ended before the call did, so it held up nothing worth proving:\n{}",
            lines.join("\n")
        ));
    }
    Ok(())
}

#[then(expr = "the process of {string} is no longer running")]
async fn process_gone(w: &mut BbWorld, name: String) -> Result<(), String> {
    let runs = runs(w, &name);
    let pid = runs
        .first()
        .map(|r| r.pid)
        .ok_or_else(|| format!("'{name}' never ran"))?;
    w.wait_for(&format!("process {pid} ('{name}') to end"), 10, || async {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Gone, or a zombie waiting to be reaped.
        let state = stat.rsplit_once(") ").and_then(|(_, r)| r.chars().next());
        (stat.is_empty() || state == Some('Z')).then_some(())
    })
    .await
}

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

#[then(expr = "the operator password {string} appears nowhere in the softphone's output or events")]
async fn password_nowhere(w: &mut BbWorld, pw: String) -> Result<(), String> {
    let ext = first_ext(w)?;
    let forms = [pw.clone(), encode(&pw), encode(&pw).to_ascii_lowercase()];
    let lines = transcript_lines(w, &ext);
    if lines.is_empty() {
        return Err("the softphone printed nothing: nothing was checked".into());
    }
    for l in &lines {
        if forms.iter().any(|f| l.contains(f.as_str())) {
            return Err(format!("the password is in the softphone's output: {l}"));
        }
    }
    let evs = events(w, &ext).await?;
    if evs.is_empty() {
        return Err("no events were received: nothing was checked".into());
    }
    for e in evs {
        let text = e.to_string();
        if forms.iter().any(|f| text.contains(f.as_str())) {
            return Err(format!("the password is in an event: {text}"));
        }
    }
    Ok(())
}

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

#[then(expr = "within {int} s the popup request is given up at its {int} s time limit")]
async fn popup_given_up(w: &mut BbWorld, secs: u64, limit: u64) -> Result<(), String> {
    // The engine's deadline reports `timed_out`; the driver's own HTTP
    // timeout, set to the same instant, may win the race and report
    // `failed: no answer within …` (see the report: both say the limit).
    let ext = first_ext(w)?;
    let call = call_id(w).await?;
    let ev = w
        .wait_for("the popup request to end", secs, || async {
            events(w, &ext).await.ok()?.into_iter().find(|e| {
                e["event"] == "hook" && e["kind"] == "popup" && e["call_id"] == call.as_str()
            })
        })
        .await?;
    let detail = ev["detail"].as_str().unwrap_or("");
    let at_limit = match ev["outcome"].as_str() {
        Some("timed_out") => detail == format!("time limit {} ms", limit * 1000),
        Some("failed") => detail.contains("no answer within"),
        _ => false,
    };
    if !at_limit {
        return Err(format!("the popup request ended otherwise: {ev}"));
    }
    let gives_up = |l: &str| {
        l.starts_with("bbclient: hook:")
            && l.contains(": popup request #")
            && (l.contains(" timed out after ") || l.contains(" failed in "))
    };
    let lines = transcript_once(
        w,
        &ext,
        "the log line that gives up the popup request",
        gives_up,
    )
    .await?;
    let logged = lines.iter().find(|l| gives_up(l));
    let elapsed: Option<u64> = logged.and_then(|l| {
        let rest = l
            .split(" timed out after ")
            .nth(1)
            .or_else(|| l.split(" failed in ").nth(1))?;
        rest.split(' ').next()?.parse().ok()
    });
    match elapsed {
        Some(ms) if ms + 50 >= limit * 1000 => Ok(()),
        _ => Err(format!(
            "no log line gives up the popup request at {limit} s:\n{}",
            lines.join("\n")
        )),
    }
}
