//! What the softphone prints, logs and reports, checked against Q-3:
//! "nothing from the network reaches a log unescaped; passwords never
//! appear in logs".
//!
//! Every place a softphone writes text is read: the stdout and the stderr
//! (the tracing log, at `trace` in these scenarios: everything, rsipstack's
//! own logging included) of the softphones the World started, the log file
//! of a softphone that `bbclient call` started on demand (its stdout and
//! stderr, `RUNTIME_DIR/NAME.log`), the output of that `bbclient call` and
//! of a `bbclient status` run while a hostile call rings, and the event
//! stream of each softphone.
//!
//! Before reading, the checks wait until each softphone has printed the
//! line of every hook outcome it already reported as an event (the line is
//! printed before the event is sent; the harness reads the pipes on other
//! threads), so nothing printed up to the last reported hook is missed.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use conformance::procs::{Proc, addr_in, bin_dir};
use conformance::world::BbWorld;
use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use serde_json::Value;
use tokio::process::Command;

use super::cti::{caller_id, encode, events, expand, settings_file, state};
use super::cti_hooks::{autostarted_log, file_lines, lines_of, parse_hook_line, phones};
use super::docstring;

// ------------------------------------------------------------------ given

/// A TOML string literal.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Starts the BlueBean simulator and a mock CRM, extensions 1910 and 1911 having the SIP
/// password `password`.
/// The outside line 0312345678 rings 1910 and 0312345679 rings 1911; numbers starting
/// 0120486 answer busy. Softphones started afterwards "… with the settings" use that
/// password.
#[given(
    expr = "the BlueBean simulator, with the SIP password {string} for extensions 1910 and 1911, and a mock CRM are running"
)]
async fn servers_with_password(w: &mut BbWorld, password: String) -> Result<(), String> {
    // The built-in tenant's lines and the busy party, with these passwords.
    let pw = toml_string(&password);
    let tenant = format!(
        "[extensions.1910]\npassword = {pw}\n\n[extensions.1911]\npassword = {pw}\n\n\
         [outside_lines.0312345678]\nextension = \"1910\"\n\n\
         [outside_lines.0312345679]\nextension = \"1911\"\n\n\
         [[parties]]\nnumber = \"0120486*\"\nreject = 486\n"
    );
    let path = w.dir.join("tenant.toml");
    std::fs::write(&path, tenant).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let bin = bin_dir()?.join("bluebean-sim");
    let mut cmd = Command::new(&bin);
    cmd.args(["--sip", "127.0.0.1:0", "--api", "127.0.0.1:0", "--config"])
        .arg(&path);
    let (sim, line) = Proc::start("bluebean-sim", cmd, Some("bluebean-sim ready")).await?;
    w.sim = Some((sim, addr_in(&line, "sip=")?, addr_in(&line, "api=")?));
    let mut cmd = Command::new(&bin);
    cmd.args(["crm", "--listen", "127.0.0.1:0"]);
    let (crm, line) = Proc::start("mock CRM", cmd, Some("bluebean-sim crm ready")).await?;
    w.crm = Some((crm, addr_in(&line, "http=")?));
    state(w).lock().await.sip_password = Some(password);
    Ok(())
}

/// Softphones that `bbclient call` started are not the World's children: a
/// detached watcher stops each (SIGTERM) once the scenario's folder is
/// removed, or after ten minutes at most.
fn reap(w: &BbWorld, pid_file: &Path) -> Result<(), String> {
    let pid = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .ok_or_else(|| format!("no process id in {}", pid_file.display()))?;
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
    watcher
        .spawn()
        .map(|_| ())
        .map_err(|e| format!("cannot watch the started softphone: {e}"))
}

/// Runs `command` (a `bbclient call NUMBER`) with the doc string as its settings, and
/// checks that it started a softphone for extension `ext` on its own, logging everything.
/// That softphone is then watched like the others. Placeholders as in "a softphone … with
/// the settings". Waits up to 40 s for the command, then up to 15 s for the call it
/// placed to end.
#[given(
    expr = "a softphone for extension {word} that {string} started on demand, logging everything, with the settings"
)]
async fn started_on_demand(
    w: &mut BbWorld,
    step: &Step,
    ext: String,
    command: String,
) -> Result<(), String> {
    let args: Vec<String> = match command.split_whitespace().collect::<Vec<_>>().split_first() {
        Some((&"bbclient", rest)) if rest.first() == Some(&"call") => {
            rest.iter().map(|s| s.to_string()).collect()
        }
        _ => return Err(format!("expected 'bbclient call NUMBER', not '{command}'")),
    };
    let settings = expand(w, &docstring(step)?).await?;
    let config = settings_file(w, &ext, &settings).await?;
    let instance = format!("auto{ext}");
    let mut cmd = w.bbclient_cmd(&instance)?;
    cmd.env("BBCLIENT_LOG", "trace")
        .arg("--config")
        .arg(&config)
        .args(&args)
        .current_dir(&w.dir)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(40), cmd.output())
        .await
        .map_err(|_| format!("'{command}' did not finish within 40 s"))?
        .map_err(|e| format!("cannot run '{command}': {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let run = w.dir.join("run/bbclient");
    if run.join(format!("{instance}.pid")).exists() {
        reap(w, &run.join(format!("{instance}.pid")))?;
    }
    if !out.status.success() || !stderr.contains("no softphone was running; started one") {
        return Err(format!(
            "'{command}' did not start a softphone ({}):\nstdout: {stdout}\nstderr: {stderr}",
            out.status
        ));
    }
    let events = BbWorld::subscribe_events_at(&run.join(format!("{instance}.sock"))).await?;
    {
        let st = state(w);
        let mut st = st.lock().await;
        st.events.insert(ext.clone(), events);
        st.outputs
            .push((command.clone(), format!("{stdout}\n{stderr}")));
    }
    // The call it placed is over before the scenario goes on.
    let log = autostarted_log(w, &ext);
    w.wait_for(
        &format!("the call that '{command}' placed to end"),
        15,
        || async {
            file_lines(&log)
                .iter()
                .any(|l| l.starts_with("bbclient: hung up:"))
                .then_some(())
        },
    )
    .await
    .map(|_| ())
}

// ------------------------------------------------------------------- when

/// Runs `bbclient status` at the softphone of extension `ext` while a call rings there,
/// and checks that it shows the ringing call.
/// Its output is kept for the checks of what the softphones printed.
#[when(expr = "the operator asks extension {word} for its status while it rings")]
async fn status_while_ringing(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let (ok, out, err) = w.bbclient(&ext, &["status"]).await?;
    if !ok || !out.contains(": ringing") {
        return Err(format!(
            "'bbclient status' did not show a ringing call:\nstdout: {out}\nstderr: {err}"
        ));
    }
    state(w)
        .lock()
        .await
        .outputs
        .push(("bbclient status".into(), format!("{out}\n{err}")));
    Ok(())
}

// ------------------------------------------------------------------- then

/// One place the softphones wrote text to.
struct Source {
    what: String,
    lines: Vec<String>,
    /// A tracing log, which must show that `trace` was on.
    traced: bool,
}

/// Waits until every softphone has printed the line of each hook outcome it
/// reported as an event, on stdout and in its log (see the module docs).
async fn settled(w: &BbWorld) -> Result<(), String> {
    for ext in phones(w) {
        let reported = match events(w, &ext).await {
            Ok(evs) => evs
                .iter()
                .filter(|e| e["event"] == "hook" && e["outcome"] != "skipped")
                .count(),
            Err(_) => 0,
        };
        let what = format!("extension {ext} to print its {reported} hook outcome(s)");
        w.wait_for(&what, 10, || async {
            let lines = lines_of(w, &ext);
            let printed = |log: bool| {
                lines
                    .iter()
                    .filter(|l| match l.split_once(" INFO hook: ") {
                        Some((_, rest)) if log => {
                            parse_hook_line(&format!("bbclient: hook: {rest}"))
                                .is_some_and(|h| h.started.is_none())
                        }
                        _ => !log && parse_hook_line(l).is_some_and(|h| h.started.is_none()),
                    })
                    .count()
            };
            (printed(false) >= reported && printed(true) >= reported).then_some(())
        })
        .await?;
    }
    Ok(())
}

/// Everything the softphones wrote, by place.
async fn sources(w: &BbWorld) -> Result<Vec<Source>, String> {
    settled(w).await?;
    let mut all = Vec::new();
    for ext in phones(w) {
        if w.phones.contains_key(&ext) {
            let lines = lines_of(w, &ext);
            let (err, out): (Vec<String>, Vec<String>) =
                lines.into_iter().partition(|l| l.starts_with("(stderr) "));
            all.push(Source {
                what: format!("the stdout of the softphone for {ext}"),
                lines: out,
                traced: false,
            });
            all.push(Source {
                what: format!("the stderr (log) of the softphone for {ext}"),
                lines: err
                    .iter()
                    .map(|l| l.trim_start_matches("(stderr) ").to_string())
                    .collect(),
                traced: true,
            });
        } else {
            let log = autostarted_log(w, &ext);
            all.push(Source {
                what: format!(
                    "the log file {} of the softphone for {ext} that bbclient call started",
                    log.display()
                ),
                lines: file_lines(&log),
                traced: true,
            });
        }
    }
    for (command, output) in &state(w).lock().await.outputs {
        all.push(Source {
            what: format!("the output of '{command}'"),
            lines: output.split('\n').map(String::from).collect(),
            traced: false,
        });
    }
    for s in &all {
        if s.lines.iter().all(|l| l.trim().is_empty()) && !s.what.starts_with("the output of") {
            return Err(format!("{} is empty: nothing was checked", s.what));
        }
        if s.traced && !s.lines.iter().any(|l| l.contains(" TRACE ")) {
            return Err(format!(
                "{} holds no TRACE line: the softphone did not log at trace, so not everything was checked",
                s.what
            ));
        }
    }
    Ok(all)
}

/// Characters that end, break or reorder a line on a terminal or in a log
/// viewer: control characters other than TAB, U+2028/2029 and the
/// bidirectional controls.
fn breaks_a_line(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The texts a caller ID would put at the start of a line of its own: what
/// follows each of its line-breaking characters, up to the next one.
fn forged_line_starts(caller_id: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, c) in caller_id.char_indices() {
        if !breaks_a_line(c) {
            continue;
        }
        let rest = &caller_id[i + c.len_utf8()..];
        let seg: String = rest.chars().take_while(|c| !breaks_a_line(*c)).collect();
        if !seg.trim().is_empty() {
            out.push(seg);
        }
    }
    out
}

/// Checks that the current caller ID could not forge a line in anything the softphones
/// printed or logged, nor in the output of `bbclient call` or `bbclient status` steps.
/// No line may hold a raw line-breaking character, or start with text that follows a line
/// break in the caller ID. Needs softphones "logging everything"; first waits (up to 10 s
/// each) until they printed every hook outcome they reported.
#[then("no line that the softphones printed or logged was forged by the caller ID")]
async fn no_forged_lines(w: &mut BbWorld) -> Result<(), String> {
    let id = caller_id(w).await?;
    let starts = forged_line_starts(&id);
    for s in sources(w).await? {
        for line in &s.lines {
            if let Some(c) = line.chars().find(|c| breaks_a_line(*c)) {
                return Err(format!(
                    "{} holds a raw {} in the line {line:?}",
                    s.what,
                    c.escape_unicode()
                ));
            }
            // A line that begins with what follows a line break in the
            // caller ID (or, cut short, with its start) is the caller's.
            let forged = starts.iter().find(|seg| {
                line.starts_with(seg.as_str())
                    || (line.chars().count() >= 4 && seg.starts_with(line.as_str()))
            });
            if let Some(seg) = forged {
                return Err(format!(
                    "{} has a line forged by the caller ID (it starts with {seg:?}): {line:?}",
                    s.what
                ));
            }
        }
    }
    Ok(())
}

/// `%XX` with lower-case hex digits (the rest unchanged).
fn lower_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut left = 0;
    for c in encoded.chars() {
        if c == '%' {
            left = 2;
            out.push(c);
        } else if left > 0 {
            left -= 1;
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The forms a password takes in text: raw, percent-encoded with upper- and
/// lower-case hex, and form-encoded (`+` for a space) with either.
fn password_forms(pw: &str) -> Vec<String> {
    let pct = encode(pw);
    let plus = pct.replace("%20", "+");
    let mut forms = vec![pw.to_string(), lower_hex(&pct), lower_hex(&plus), pct, plus];
    forms.sort();
    forms.dedup();
    forms
}

/// Checks that neither `first` nor `second` appears, raw, percent-encoded or
/// form-encoded, in anything the softphones printed, logged or sent as events, nor in the
/// output of commands the scenario kept.
/// Needs softphones "logging everything" and at least one event from each.
#[then(
    expr = "the passwords {string} and {string} appear nowhere in what the softphones printed, logged or sent as events"
)]
async fn passwords_nowhere(w: &mut BbWorld, first: String, second: String) -> Result<(), String> {
    let mut forms = password_forms(&first);
    forms.extend(password_forms(&second));
    let found = |text: &str| forms.iter().find(|f| text.contains(f.as_str())).cloned();
    for s in sources(w).await? {
        for line in &s.lines {
            if let Some(f) = found(line) {
                return Err(format!("{} holds the password as {f:?}: {line}", s.what));
            }
        }
    }
    for ext in phones(w) {
        let evs = events(w, &ext).await?;
        if evs.is_empty() {
            return Err(format!(
                "no events were received from extension {ext}: nothing was checked"
            ));
        }
        for e in evs {
            let text = e.to_string();
            let strings = strings_of(&e);
            if let Some(f) = found(&text).or_else(|| strings.iter().find_map(|s| found(s))) {
                return Err(format!(
                    "an event of extension {ext} holds the password as {f:?}: {text}"
                ));
            }
        }
    }
    Ok(())
}

/// Every string inside a JSON value.
fn strings_of(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().flat_map(strings_of).collect(),
        Value::Object(o) => o.values().flat_map(strings_of).collect(),
        _ => Vec::new(),
    }
}
