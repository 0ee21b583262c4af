//! What the softphone says about its hooks, read from its `bbclient: hook:`
//! lines, and the barriers built on them.
//!
//! A check that something did *not* happen (a second run of a command, a
//! second CRM request) waits for a later positive event that proves the
//! softphone got past the point where the wrong action would have been
//! taken: the softphone's own report that the hook in question *ended*.
//! The engine starts all of a phase's hooks in one pass and the driver
//! performs a pass's actions before it reads the next message, so by the
//! time a hook's end is reported every start of the same pass — a
//! duplicate included — has been performed (commands are spawned in order
//! by one thread; the recorder writes its line as it starts).
//!
//! Lines are read from the softphones the World started (their stdout) and
//! from the log of a softphone that `bbclient call` started on demand
//! (`RUNTIME_DIR/autoEXT.log`).

use std::path::PathBuf;

use conformance::world::BbWorld;
use cucumber::gherkin::Step;
use cucumber::then;

use super::cti::{call_id, events, first_ext, recorder_path, runs};
use super::docstring;

/// One `bbclient: hook: call 'CID': KIND #N …` line.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct HookLine {
    /// The call, as printed.
    pub call: String,
    /// `ring command`, `popup request`, `detail view`, …
    pub kind: String,
    /// The hook's number.
    pub id: u64,
    /// What was started (`["/path/prog", "arg"]`, `GET http://…`), for a
    /// start line; `None` for an end line.
    pub started: Option<String>,
}

/// Reads a hook start or end line; `None` for any other line.
pub(super) fn parse_hook_line(line: &str) -> Option<HookLine> {
    let rest = line.strip_prefix("bbclient: hook: call '")?;
    let (call, rest) = rest.split_once("': ")?;
    let hash = rest.find(" #")?;
    let kind = &rest[..hash];
    let after = &rest[hash + 2..];
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    let id = digits.parse().ok()?;
    let tail = &after[digits.len()..];
    let started = if let Some(what) = tail.strip_prefix(" started: ") {
        Some(what.to_string())
    } else if [" finished in ", " failed in ", " timed out after "]
        .iter()
        .any(|p| tail.starts_with(p))
    {
        None
    } else {
        return None;
    };
    Some(HookLine {
        call: call.to_string(),
        kind: kind.to_string(),
        id,
        started,
    })
}

/// The log of the softphone for `ext` that `bbclient call` started on
/// demand as instance `autoEXT`.
pub(super) fn autostarted_log(w: &BbWorld, ext: &str) -> PathBuf {
    w.dir.join("run/bbclient").join(format!("auto{ext}.log"))
}

/// Reads a log file as lines split at `\n` only (a `\r` stays), invalid
/// UTF-8 as U+FFFD.
pub(super) fn file_lines(path: &std::path::Path) -> Vec<String> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    let mut lines: Vec<String> = bytes
        .split(|b| *b == b'\n')
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    if lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines
}

/// Every line the softphone for `ext` printed: the World's process (stderr
/// lines marked `(stderr) `), else the log of the one started on demand.
pub(super) fn lines_of(w: &BbWorld, ext: &str) -> Vec<String> {
    match w.phones.get(ext) {
        Some(p) => p.proc.output.lock().map(|o| o.clone()).unwrap_or_default(),
        None => file_lines(&autostarted_log(w, ext)),
    }
}

/// Every softphone whose lines can be read: the World's, then those
/// started on demand.
pub(super) fn phones(w: &BbWorld) -> Vec<String> {
    let mut all: Vec<String> = w.phones.keys().cloned().collect();
    if let Ok(dir) = std::fs::read_dir(w.dir.join("run/bbclient")) {
        let mut auto: Vec<String> = dir
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_prefix("auto")?
                    .strip_suffix(".log")
                    .map(String::from)
            })
            .collect();
        auto.sort();
        all.extend(auto);
    }
    all
}

/// The hook lines of one softphone.
fn hook_lines(w: &BbWorld, ext: &str) -> Vec<HookLine> {
    lines_of(w, ext)
        .iter()
        .filter_map(|l| parse_hook_line(l))
        .collect()
}

/// True when every hook of `ext` that `pick` selects among the started ones
/// has an end line; `None` when `pick` selects none.
fn all_ended(lines: &[HookLine], pick: impl Fn(&HookLine) -> bool) -> Option<bool> {
    let started: Vec<u64> = lines
        .iter()
        .filter(|h| h.started.is_some() && pick(h))
        .map(|h| h.id)
        .collect();
    if started.is_empty() {
        return None;
    }
    Some(
        started
            .iter()
            .all(|id| lines.iter().any(|h| h.started.is_none() && h.id == *id)),
    )
}

/// True when the process `pid` is gone (or a zombie waiting to be reaped).
pub(super) fn process_ended(pid: u64) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit_once(") ").and_then(|(_, r)| r.chars().next());
    stat.is_empty() || state == Some('Z')
}

/// The barrier of "run once": waits until the softphone reported the end
/// of every hook that ran the recorder `name` — the command hooks whose
/// start line names its path, else (the browser is named in no start
/// line) the detail-view hooks. Where no softphone's lines can be read (the
/// window's in-process core), it waits for the recorded processes to end
/// instead, which proves less; the feature's earlier steps are then the
/// barrier. At most 40 s: every hook ends within its time limit.
pub(super) async fn runs_of_ended(w: &BbWorld, name: &str) -> Result<(), String> {
    let path = recorder_path(w, name);
    let named = format!("[{:?}", path.to_string_lossy());
    let exts = phones(w);
    if exts.is_empty() {
        let what = format!("the runs of '{name}' to end");
        return w
            .wait_for(&what, 40, || async {
                runs(w, name)
                    .iter()
                    .all(|r| process_ended(r.pid))
                    .then_some(())
            })
            .await;
    }
    let what = format!("the softphone to report the end of the hooks that ran '{name}'");
    w.wait_for(&what, 40, || async {
        let mut any = false;
        for ext in &exts {
            let lines = hook_lines(w, ext);
            let commands = all_ended(&lines, |h| {
                h.started.as_deref().is_some_and(|s| s.starts_with(&named))
            });
            let ended = match commands {
                Some(e) => Some(e),
                None => all_ended(&lines, |h| h.kind == "detail view"),
            };
            match ended {
                Some(false) => return None,
                Some(true) => any = true,
                None => {}
            }
        }
        any.then_some(())
    })
    .await
}

/// The barrier of "exactly one CRM request": every popup request the
/// softphones started has ended (answered, failed or given up at its time
/// limit), and every browser that fetches (`--rec-fetch`) has exited.
pub(super) async fn crm_requests_done(w: &BbWorld) -> Result<(), String> {
    let exts = phones(w);
    let fetchers: Vec<String> = std::fs::read_dir(w.dir.join("bin"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.strip_suffix(".jsonl").map(String::from)
                })
                .collect()
        })
        .unwrap_or_default();
    w.wait_for(
        "the popup requests and fetching browsers to end",
        40,
        || async {
            for ext in &exts {
                if all_ended(&hook_lines(w, ext), |h| h.kind == "popup request") == Some(false) {
                    return None;
                }
            }
            for name in &fetchers {
                let busy = runs(w, name).iter().any(|r| {
                    r.args.first().is_some_and(|a| a == "--rec-fetch") && !process_ended(r.pid)
                });
                if busy {
                    return None;
                }
            }
            Some(())
        },
    )
    .await
}

/// Index of the first output line with `kind` (`ring command`) `#N started`.
fn started_at(lines: &[String], kind: &str) -> Option<usize> {
    lines
        .iter()
        .position(|l| parse_hook_line(l).is_some_and(|h| h.kind == kind && h.started.is_some()))
}

/// Index of the first output line saying a `kind` hook ended.
fn ended_at(lines: &[String], kind: &str) -> Option<usize> {
    lines
        .iter()
        .position(|l| parse_hook_line(l).is_some_and(|h| h.kind == kind && h.started.is_none()))
}

/// The softphone's output once some line satisfies `wanted`, waiting up to
/// 10 s: its stdout is read by another thread than its events, so a line
/// printed for an event already seen may still be in the pipe.
pub(super) async fn transcript_once(
    w: &BbWorld,
    ext: &str,
    what: &str,
    wanted: impl Fn(&str) -> bool,
) -> Result<Vec<String>, String> {
    w.wait_for(what, 10, || async {
        let lines = lines_of(w, ext);
        lines.iter().any(|l| wanted(l)).then_some(lines)
    })
    .await
}

/// Checks that the softphone with the lowest extension number started its hooks in the
/// order the doc string lists them, one per line.
/// Name the hooks as the softphone prints them: `popup request`, `detail view`,
/// `ring command`, `answer command`, `hang-up command`. Waits up to 10 s for the last one
/// to start.
#[then("the hooks started in this order")]
async fn hooks_in_order(w: &mut BbWorld, step: &Step) -> Result<(), String> {
    let kinds: Vec<String> = docstring(step)?
        .lines()
        .map(|l| l.trim().to_string())
        .collect();
    let ext = first_ext(w)?;
    let last = kinds.last().cloned().unwrap_or_default();
    w.wait_for(&format!("the {last} to start"), 10, || async {
        started_at(&lines_of(w, &ext), &last)
    })
    .await?;
    let lines = lines_of(w, &ext);
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

/// Checks that the hook `kind` of the softphone with the lowest extension number started
/// before the call ended and had not ended by then, so it did not hold up the call.
/// `kind` as the softphone prints it, e.g. "ring command", "popup request". Waits up to
/// 10 s for the softphone to say the call ended.
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

/// Checks that within `secs` seconds the softphone with the lowest extension number gives
/// up the popup request of the current call at its time limit of `limit` seconds.
/// The hook must end as timed out or failed with no answer, and its log line must show it
/// gave up no earlier than the limit (50 ms tolerance).
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
