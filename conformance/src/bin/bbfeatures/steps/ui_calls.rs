//! Steps about calls in the operator's window and what the simulator saw
//! of them (UI-4, UI-5, CALL-2), and the call history window (CALL-3).

use std::time::Duration;

use conformance::world::BbWorld;
use cucumber::gherkin::Step;
use cucumber::{then, when};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use serde_json::Value;

use softphone::ui::window::OperatorWindow;

use super::ui::{is_field, session, session_ref, settle, shown, text_of, until};

// ---------------------------------------------------------------------------
// History (CALL-3)
// ---------------------------------------------------------------------------

/// A history row as the window shows it: the number button, and the labels
/// in the same row, left to right.
fn history_rows(
    h: &Harness<'static, OperatorWindow>,
    numbers: &[String],
) -> Vec<(f32, Vec<String>)> {
    let mut rows = Vec::new();
    // Only the window that lists the calls (the main window's labels are
    // in the same tree).
    for window in h.query_all_by(|n| n.role() == Role::Window) {
        for number in numbers {
            for b in window.query_all_by_role_and_label(Role::Button, number) {
                let r = b.rect();
                let mut cells: Vec<(f32, String)> = window
                    .query_all_by(|n| n.role() == Role::Label)
                    .filter(|n| {
                        let c = n.rect().center().y;
                        c > r.top() && c < r.bottom()
                    })
                    .map(|n| (n.rect().left(), text_of(&n.accesskit_node())))
                    .collect();
                cells.push((r.left(), number.clone()));
                cells.sort_by(|a, b| a.0.total_cmp(&b.0));
                rows.push((r.top(), cells.into_iter().map(|c| c.1).collect()));
            }
        }
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    rows
}

/// Checks that the call history window lists the calls of the data table, newest first,
/// and no other rows for their numbers.
/// Columns: `direction`, `number`, `result` and, optionally, `outside line` (an empty
/// cell is not checked). Each row must also show a date and time and a duration. Waits up
/// to 15 s.
#[then("the history lists, newest first")]
async fn history_lists(w: &mut BbWorld, step: &Step) -> Result<(), String> {
    let table = step.table.as_ref().ok_or("the step needs a table")?;
    let header = table.rows.first().ok_or("empty table")?.clone();
    let want: Vec<Vec<String>> = table.rows.iter().skip(1).cloned().collect();
    let col = |name: &str| header.iter().position(|h| h == name);
    let (dir_c, num_c, line_c, res_c) = (
        col("direction").ok_or("no direction column")?,
        col("number").ok_or("no number column")?,
        col("outside line"),
        col("result").ok_or("no result column")?,
    );
    let numbers: Vec<String> = want.iter().map(|r| r[num_c].clone()).collect();
    let time = |s: &str| {
        // "YYYY-MM-DD HH:MM:SS" in local time.
        s.len() == 19 && s.as_bytes()[4] == b'-' && s.as_bytes()[13] == b':'
    };
    let duration = |s: &str| {
        let parts: Vec<&str> = s.split(':').collect();
        (2..=3).contains(&parts.len())
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    };
    let result = until(w, "the history to list the calls", 15, |s| {
        let rows = history_rows(&s.harness, &numbers);
        if rows.len() != want.len() {
            return None;
        }
        for ((_, got), row) in rows.iter().zip(&want) {
            let ok = got.first() == Some(&row[dir_c])
                && got.get(1) == Some(&row[num_c])
                && got.iter().any(|c| time(c))
                && got.iter().filter(|c| duration(c)).count() >= 1
                && got.last() == Some(&row[res_c])
                && line_c.is_none_or(|i| row[i].is_empty() || got.contains(&row[i]));
            if !ok {
                return None;
            }
        }
        Some(rows)
    })
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) => {
            let s = session_ref(w)?;
            Err(format!(
                "{e}\nrows found: {:?}",
                history_rows(&s.harness, &numbers)
            ))
        }
    }
}

// ---------------------------------------------------------------------------
// The simulator's view (operator login)
// ---------------------------------------------------------------------------

/// Checks that the simulator shows the current outside call ended, either hung up by the
/// called side or by a BYE from extension `ext`.
/// Waits up to 10 s.
#[then(expr = "the simulator sees the call ended by extension {word}")]
async fn ended_by(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let c = super::calls::wait_call_state(w, "ended").await?;
    let leg_bye = c["legs"].as_array().is_some_and(|legs| {
        legs.iter()
            .any(|l| l["endpoint"]["number"] == ext.as_str() && l["end_reason"] == "bye")
    });
    if c["end_reason"] == "callee_hangup" || leg_bye {
        Ok(())
    } else {
        Err(format!(
            "the call did not end with a BYE from extension {ext}: {c}"
        ))
    }
}

/// Checks, at once, that the simulator has seen no call from extension `ext` in this
/// scenario.
/// Put it after a step that proves the softphone would have dialled by then.
#[then(expr = "the simulator sees no call from extension {word}")]
async fn no_call_from(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let (_, calls) = w.api_call("GET", "/api/calls", None).await?;
    let from: Vec<&Value> = calls
        .as_array()
        .map(|a| a.iter().filter(|c| c["from"] == ext.as_str()).collect())
        .unwrap_or_default();
    if from.is_empty() {
        Ok(())
    } else {
        Err(format!("the simulator saw calls from {ext}: {from:?}"))
    }
}

/// Waits up to 10 s until the simulator's party `number` has answered the newest call to
/// it, and makes that call the current outside call.
/// The party answers by its own rule ("the simulator's number … answers …"); this step
/// only waits. Fails at once if nobody called `number` yet.
#[when(expr = "the simulator's party {word} answers")]
async fn party_answers(w: &mut BbWorld, number: String) -> Result<(), String> {
    let (_, calls) = w.api_call("GET", "/api/calls", None).await?;
    let id = calls
        .as_array()
        .and_then(|a| a.iter().rev().find(|c| c["to"] == number.as_str()))
        .and_then(|c| c["id"].as_u64())
        .ok_or_else(|| format!("no call to {number}"))?;
    w.last_call = Some(id);
    super::calls::wait_call_state(w, "answered")
        .await
        .map(|_| ())
}

/// Simply waits `secs` seconds, so the call has some talk time for the history to
/// measure.
/// Checks nothing.
#[when(expr = "the outside caller stays on the line for {int} seconds")]
async fn stays(_w: &mut BbWorld, secs: u64) -> Result<(), String> {
    // Talk time for the history to measure; nothing is asserted about speed.
    tokio::time::sleep(Duration::from_secs(secs)).await;
    Ok(())
}

/// Checks that the history window shows, for the call from `number`, the talk time the
/// simulator measured between answer and end, to within a second.
/// Waits up to 10 s for the row; fails if the simulator measured no talk time.
#[then(
    expr = "the history shows the talk time of the call from {word} that the simulator measured"
)]
async fn history_duration(w: &mut BbWorld, number: String) -> Result<(), String> {
    let (_, calls) = w.api_call("GET", "/api/calls", None).await?;
    let call = calls
        .as_array()
        .and_then(|a| a.iter().find(|c| c["from"] == number.as_str()))
        .cloned()
        .ok_or_else(|| format!("the simulator saw no call from {number}"))?;
    let (Some(answered), Some(ended)) = (call["answered_ms"].as_u64(), call["ended_ms"].as_u64())
    else {
        return Err(format!(
            "the call from {number} was not answered and ended: {call}"
        ));
    };
    let sim_secs = ended.saturating_sub(answered) / 1000;
    let numbers = vec![number.clone()];
    let shown_secs = until(w, "the history row", 10, |s| {
        let rows = history_rows(&s.harness, &numbers);
        let cells = &rows.first()?.1;
        let d = cells.iter().rev().find(|c| {
            let p: Vec<&str> = c.split(':').collect();
            (2..=3).contains(&p.len()) && p.iter().all(|x| x.parse::<u64>().is_ok())
        })?;
        d.split(':')
            .map(|x| x.parse::<u64>().ok())
            .try_fold(0u64, |acc, x| Some(acc * 60 + x?))
    })
    .await?;
    if sim_secs == 0 {
        return Err(format!("the simulator measured no talk time: {call}"));
    }
    if shown_secs.abs_diff(sim_secs) > 1 {
        return Err(format!(
            "the history shows {shown_secs} s for the call from {number}; the simulator measured {sim_secs} s"
        ));
    }
    println!("CALL-3: history {shown_secs} s, simulator {sim_secs} s for the call from {number}");
    Ok(())
}

/// Checks that the outside party of the current outside call received exactly the DTMF
/// digits `digits`, as the simulator reports them.
/// Waits up to 10 s; on failure shows the simulator's media report.
#[then(expr = "the outside caller receives the DTMF digits {string}")]
async fn caller_gets_dtmf(w: &mut BbWorld, digits: String) -> Result<(), String> {
    let id = w.last_call.ok_or("no outside call was placed")?;
    let last = std::sync::Mutex::new(Value::Null);
    let got = w
        .wait_for(
            &format!("the outside caller to receive {digits}"),
            10,
            || async {
                let (_, media) = w
                    .api_call("GET", &format!("/api/calls/{id}/media"), None)
                    .await
                    .ok()?;
                if let Ok(mut l) = last.lock() {
                    *l = media.clone();
                }
                media
                    .as_array()?
                    .iter()
                    .any(|p| p["media"]["dtmf_received"] == digits.as_str())
                    .then_some(())
            },
        )
        .await;
    got.map_err(|e| {
        format!(
            "{e}\nthe simulator's media report: {}",
            last.lock().map(|l| l.to_string()).unwrap_or_default()
        )
    })
}

// ---------------------------------------------------------------------------
// Paste (UI-4)
// ---------------------------------------------------------------------------

/// Pastes `text` into the first text field labelled `label` in the operator's window, as
/// Ctrl+V with `text` on the clipboard does.
/// Fails if there is no such field.
#[when(expr = "the operator pastes {string} into the window's {string} field")]
async fn paste_into(w: &mut BbWorld, text: String, label: String) -> Result<(), String> {
    let s = session(w)?;
    let node = s
        .harness
        .query_all_by_label(&label)
        .find(|n| is_field(n.accesskit_node().role()))
        .ok_or_else(|| {
            format!(
                "no text field labelled '{label}'; the window shows:\n{}",
                shown(&s.harness)
            )
        })?;
    node.focus();
    s.harness.run_ok();
    s.harness.event(egui::Event::Paste(text));
    settle(s);
    Ok(())
}

/// Pastes `text` while no text field has the keyboard, as Ctrl+V with `text` on the
/// clipboard does (the window's own paste).
/// Fails if a text field has the keyboard.
#[when(expr = "the operator pastes {string} with no field selected")]
async fn paste_unfocused(w: &mut BbWorld, text: String) -> Result<(), String> {
    let s = session(w)?;
    settle(s);
    if s.harness.ctx.text_edit_focused() {
        return Err("a text field has the keyboard".into());
    }
    s.harness.event(egui::Event::Paste(text));
    settle(s);
    Ok(())
}

// ---------------------------------------------------------------------------
// Transfers as the simulator saw them (CALL-2)
// ---------------------------------------------------------------------------

/// Every transfer the simulator recorded, on any call: `kind by→target
/// (outcome)`, with the JSON for messages.
async fn transfers(w: &BbWorld) -> Result<Vec<Value>, String> {
    let (status, calls) = w.api_call("GET", "/api/calls", None).await?;
    if status != 200 {
        return Err(format!(
            "the simulator's call list answered {status}: {calls}"
        ));
    }
    Ok(calls
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["transfers"].as_array().cloned().unwrap_or_default())
        .collect())
}

/// Checks that the simulator completed a `kind` transfer (`blind` or `attended`) that
/// extension `by` asked for with a REFER to `target`.
/// Completed: the transferred caller was connected to the target. Waits up to 10 s; on
/// failure lists the transfers the simulator recorded.
#[then(
    expr = "the simulator completed a/an {word} transfer that extension {word} asked for with a REFER to {word}"
)]
async fn refer_seen(
    w: &mut BbWorld,
    kind: String,
    by: String,
    target: String,
) -> Result<(), String> {
    let found = w
        .wait_for(
            &format!("the simulator to complete a {kind} transfer by {by} to {target}"),
            10,
            || async {
                transfers(w)
                    .await
                    .ok()?
                    .iter()
                    .any(|t| {
                        t["kind"] == kind.as_str()
                            && t["by"] == by.as_str()
                            && t["target"] == target.as_str()
                            && t["outcome"] == "completed"
                    })
                    .then_some(())
            },
        )
        .await;
    match found {
        Ok(()) => Ok(()),
        Err(e) => Err(format!(
            "{e}\ntransfers the simulator recorded: {:?}",
            transfers(w).await.unwrap_or_default()
        )),
    }
}
