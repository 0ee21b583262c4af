//! Steps about the window's popup window (WEB-1, WEB-4): the CRM's answer
//! in tabs, one per call, and its Details button.

use conformance::world::BbWorld;
use cucumber::gherkin::Step;
use cucumber::{then, when};
use egui::accesskit::{Role, Toggled};
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use egui_kittest::{Harness, Node};

use softphone::ui::i18n::Tr;
use softphone::ui::popup::MAX_POPUPS;
use softphone::ui::window::OperatorWindow;

use super::ui::{UiSession, is_field, list, session, settle, shown, text_of, until};

// ---------------------------------------------------------------------------
// The popup window (WEB-1, WEB-4)
// ---------------------------------------------------------------------------

/// The popup window's title in the window's current language.
fn popup_title(s: &UiSession) -> String {
    Tr::new(s.harness.state().lang()).t("popup-title")
}

/// The popup windows that are open (the window keeps at most one).
fn popup_windows<'h>(h: &'h Harness<'static, OperatorWindow>, title: &'h str) -> Vec<Node<'h>> {
    h.query_all_by_role_and_label(Role::Window, title).collect()
}

/// The popup's tabs, by their text, and whether each is the one in front:
/// the toggle buttons of its tab row.
fn popup_tabs(window: &Node<'_>) -> Vec<(String, bool)> {
    window
        .query_all_by(|n| n.role() == Role::Button && n.toggled().is_some())
        .map(|n| {
            let a = n.accesskit_node();
            (text_of(&a), a.toggled() == Some(Toggled::True))
        })
        .collect()
}

/// The control labelled exactly `label` in the popup window.
fn popup_control<'h>(window: &Node<'h>, label: &'h str) -> Option<Node<'h>> {
    window.query_all_by_label(label).find(|n| {
        let role = n.accesskit_node().role();
        !is_field(role) && role != Role::Label && role != Role::Window
    })
}

/// Whether the popup window shows `text` (in any label, button or title).
fn popup_has_text(window: &Node<'_>, text: &str) -> bool {
    window
        .query_all_by(|n| n.role() != Role::TextRun && text_of(n).contains(text))
        .next()
        .is_some()
}

/// Checks, at once, that the operator's window has no popup window open.
/// On failure lists everything the window shows.
#[then("the window has no popup window")]
async fn no_popup(w: &mut BbWorld) -> Result<(), String> {
    let s = session(w)?;
    settle(s);
    let title = popup_title(s);
    let open = popup_windows(&s.harness, &title).len();
    if open != 0 || s.harness.state().popups().is_open() {
        return Err(format!(
            "a popup window is open; the window shows:\n{}",
            shown(&s.harness)
        ));
    }
    Ok(())
}

/// Checks that the popup window shows a text containing `text` in a label, button or
/// title.
/// Waits up to 10 s.
#[then(expr = "the popup window shows {string}")]
async fn popup_window_shows(w: &mut BbWorld, text: String) -> Result<(), String> {
    until(w, &format!("the popup window to show '{text}'"), 10, |s| {
        let title = popup_title(s);
        popup_windows(&s.harness, &title)
            .iter()
            .any(|win| popup_has_text(win, &text))
            .then_some(())
    })
    .await
}

/// Clicks `label` in the popup window; when `enabled`, first waits (up to
/// 10 s) until it is enabled.
async fn click_in_popup(w: &mut BbWorld, label: &str, enabled: bool) -> Result<(), String> {
    let what = if enabled {
        format!("an enabled control labelled '{label}' in the popup window")
    } else {
        format!("a control labelled '{label}' in the popup window")
    };
    until(w, &what, 10, |s| {
        let title = popup_title(s);
        let windows = popup_windows(&s.harness, &title);
        let node = windows.iter().find_map(|win| popup_control(win, label))?;
        if enabled && node.accesskit_node().is_disabled() {
            return None;
        }
        node.click();
        Some(())
    })
    .await?;
    settle(session(w)?);
    Ok(())
}

/// Clicks the control labelled `label` in the popup window.
/// First waits up to 10 s until it is enabled.
#[when(expr = "the operator clicks {string} in the popup window")]
async fn click_popup(w: &mut BbWorld, label: String) -> Result<(), String> {
    click_in_popup(w, &label, true).await
}

/// Checks that the control labelled `label` in the popup window is greyed out, then
/// clicks it anyway.
/// Fails if it is enabled or missing. Follow it with a check that nothing happened.
#[when(expr = "the operator tries to click the greyed-out {string} in the popup window")]
async fn click_popup_disabled(w: &mut BbWorld, label: String) -> Result<(), String> {
    let s = session(w)?;
    settle(s);
    let title = popup_title(s);
    let windows = popup_windows(&s.harness, &title);
    match windows.iter().find_map(|win| popup_control(win, &label)) {
        Some(n) if n.accesskit_node().is_disabled() => {}
        Some(_) => return Err(format!("'{label}' in the popup window is not greyed out")),
        None => {
            return Err(format!(
                "no control labelled '{label}' in the popup window; the window shows:\n{}",
                shown(&s.harness)
            ));
        }
    }
    click_in_popup(w, &label, false).await
}

async fn popup_control_state(w: &mut BbWorld, label: &str, disabled: bool) -> Result<(), String> {
    let want = if disabled { "greyed out" } else { "enabled" };
    until(
        w,
        &format!("'{label}' in the popup window to be {want}"),
        10,
        |s| {
            let title = popup_title(s);
            let windows = popup_windows(&s.harness, &title);
            let node = windows.iter().find_map(|win| popup_control(win, label))?;
            (node.accesskit_node().is_disabled() == disabled).then_some(())
        },
    )
    .await
}

/// Checks that the control labelled `label` in the popup window is greyed out.
/// Waits up to 10 s.
#[then(expr = "the popup window's {string} is greyed out")]
async fn popup_greyed(w: &mut BbWorld, label: String) -> Result<(), String> {
    popup_control_state(w, &label, true).await
}

/// Checks that the control labelled `label` in the popup window is enabled.
/// Waits up to 10 s.
#[then(expr = "the popup window's {string} is enabled")]
async fn popup_enabled(w: &mut BbWorld, label: String) -> Result<(), String> {
    popup_control_state(w, &label, false).await
}

/// Has each outside caller of the data table call the outside line `line` in turn, so
/// that the popup's tabs are in the calls' order.
/// The table has a header row; callers are in its first column. Before the next call,
/// waits until the simulator shows this one ringing (10 s) and the window has the CRM's
/// answer or failure for it (10 s). The calls keep ringing.
#[when(
    expr = "these outside callers call the outside line {word} one after another, each one's popup shown before the next"
)]
async fn callers_one_after_another(
    w: &mut BbWorld,
    step: &Step,
    line: String,
) -> Result<(), String> {
    let table = step
        .table
        .as_ref()
        .ok_or("the step needs a table of callers")?;
    let callers: Vec<String> = table
        .rows
        .iter()
        .skip(1)
        .filter_map(|r| r.first().cloned())
        .collect();
    if callers.is_empty() {
        return Err("the table lists no caller".into());
    }
    for caller in callers {
        let (status, v) = w
            .api_call(
                "POST",
                "/api/calls",
                Some(serde_json::json!({"from": caller, "to": line})),
            )
            .await?;
        if status != 201 {
            return Err(format!(
                "the simulator refused the call from {caller} ({status}): {v}"
            ));
        }
        w.last_call = v["id"].as_u64();
        super::calls::wait_call_state(w, "ringing").await?;
        until(
            w,
            &format!("the window to have the CRM's answer for the call from {caller}"),
            10,
            |s| {
                s.harness
                    .state()
                    .popups()
                    .entries()
                    .iter()
                    .any(|e| e.number == caller && (e.text.is_some() || e.failure.is_some()))
                    .then_some(())
            },
        )
        .await?;
    }
    Ok(())
}

/// Checks, at once, that exactly one popup window is open, with `tabs` tabs and exactly
/// one of them in front.
/// `tabs` must be the window's built-in maximum; the step fails if the product's maximum
/// is another number.
#[then(expr = "there is one popup window with {int} tabs, the most it keeps")]
async fn popup_capped(w: &mut BbWorld, tabs: usize) -> Result<(), String> {
    if tabs != MAX_POPUPS {
        return Err(format!(
            "the feature says the popup window keeps {tabs} tabs, but softphone::ui::popup::MAX_POPUPS is {MAX_POPUPS}"
        ));
    }
    let s = session(w)?;
    settle(s);
    let title = popup_title(s);
    let windows = popup_windows(&s.harness, &title);
    if windows.len() != 1 {
        return Err(format!(
            "{} popup windows are open, not one; the window shows:\n{}",
            windows.len(),
            shown(&s.harness)
        ));
    }
    let got = popup_tabs(&windows[0]);
    if got.len() != tabs {
        return Err(format!(
            "the popup window has {} tabs, not {tabs}: {got:?}",
            got.len()
        ));
    }
    if got.iter().filter(|(_, front)| *front).count() != 1 {
        return Err(format!("not exactly one tab is in front: {got:?}"));
    }
    println!("WEB-1: one popup window, {} tabs: {got:?}", got.len());
    Ok(())
}

fn tab_texts(w: &mut BbWorld) -> Result<Vec<String>, String> {
    let s = session(w)?;
    settle(s);
    let title = popup_title(s);
    let windows = popup_windows(&s.harness, &title);
    let win = windows.first().ok_or_else(|| {
        format!(
            "no popup window is open; the window shows:\n{}",
            shown(&s.harness)
        )
    })?;
    Ok(popup_tabs(win).into_iter().map(|(t, _)| t).collect())
}

/// Checks, at once, that the popup window has a tab for each caller number in `numbers`
/// (a tab's text starts with the number).
/// `numbers`: separated by commas or "and".
#[then(expr = "the popup window has tabs for {string}")]
async fn popup_has_tabs(w: &mut BbWorld, numbers: String) -> Result<(), String> {
    let tabs = tab_texts(w)?;
    let missing: Vec<String> = list(&numbers)
        .into_iter()
        .filter(|n| !tabs.iter().any(|t| t.starts_with(n.as_str())))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the popup window has no tab for {missing:?}; its tabs: {tabs:?}"
        ))
    }
}

/// Checks, at once, that the popup window has no tab for any caller number in `numbers`.
/// `numbers`: separated by commas or "and". Fails if no popup window is open.
#[then(expr = "the popup window has no tab for {string}")]
async fn popup_has_no_tab(w: &mut BbWorld, numbers: String) -> Result<(), String> {
    let tabs = tab_texts(w)?;
    let there: Vec<String> = list(&numbers)
        .into_iter()
        .filter(|n| tabs.iter().any(|t| t.starts_with(n.as_str())))
        .collect();
    if there.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the popup window still has tabs for {there:?}; its tabs: {tabs:?}"
        ))
    }
}
