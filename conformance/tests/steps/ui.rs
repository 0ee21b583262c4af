//! Steps about the operator's window (UI-1, UI-2, UI-3, UI-5, UI-6, UI-7,
//! CALL-3, Q-4) and its popup window (WEB-1, WEB-4).
//!
//! The window is the real `softphone::ui::window::OperatorWindow`, driven
//! through `egui_kittest` the way an operator drives it: clicks on labelled
//! buttons, typing into labelled fields, key presses. It is wired to a real
//! softphone core started in this process (`softphone::app::start`, the
//! same call `bbclient run` makes before it opens the window), which
//! registers with the real `bluebean-sim` over UDP. What the window shows
//! is read from its accessibility tree; what the softphone did is read from
//! the simulator's API (`steps::calls`, `steps::control`) and from the
//! settings file on disk.
//!
//! No renderer is needed: kittest runs egui frames and reads the
//! accessibility tree; nothing is drawn to pixels.

use std::path::{Path, PathBuf};
use std::time::Duration;

use conformance::world::BbWorld;
use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use egui::accesskit::{Role, Toggled};
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use egui_kittest::{Harness, Node};
use serde_json::Value;

use softphone::ui::fonts;
use softphone::ui::i18n::{Lang, Tr};
use softphone::ui::popup::MAX_POPUPS;
use softphone::ui::prefs::UiPrefs;
use softphone::ui::window::{CoreLink, OperatorWindow, WindowSetup};

/// The window under test, its core and its files.
pub struct UiSession {
    /// The window in its kittest harness.
    pub harness: Harness<'static, OperatorWindow>,
    /// The in-process softphone core the window talks to.
    core: Option<softphone::app::Core>,
    /// The extension.
    pub ext: String,
    /// The settings file the window loads and saves.
    pub settings_path: PathBuf,
    /// The settings file's bytes when a step last looked.
    pub settings_before: Option<Vec<u8>>,
    /// A directory made unwritable by a step; made writable again on drop.
    locked: Option<LockedDir>,
}

impl Drop for UiSession {
    fn drop(&mut self) {
        if let Some(core) = &self.core {
            core.cancel.cancel();
        }
    }
}

/// A directory nobody can create files in (even root: `chattr +i` when
/// running as root, `chmod 0555` otherwise), restored on drop.
struct LockedDir {
    dir: PathBuf,
    immutable: bool,
}

impl LockedDir {
    fn lock(dir: &Path) -> Result<LockedDir, String> {
        if softphone::control::current_uid() == 0 {
            let ok = std::process::Command::new("chattr")
                .arg("+i")
                .arg(dir)
                .status()
                .map_err(|e| format!("cannot run chattr: {e}"))?
                .success();
            if !ok {
                return Err(format!(
                    "chattr +i {} failed: running as root without CAP_LINUX_IMMUTABLE",
                    dir.display()
                ));
            }
            Ok(LockedDir {
                dir: dir.to_path_buf(),
                immutable: true,
            })
        } else {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555))
                .map_err(|e| format!("cannot chmod {}: {e}", dir.display()))?;
            Ok(LockedDir {
                dir: dir.to_path_buf(),
                immutable: false,
            })
        }
    }
}

impl Drop for LockedDir {
    fn drop(&mut self) {
        if self.immutable {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(&self.dir)
                .status();
        } else {
            use std::os::unix::fs::PermissionsExt as _;
            let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700));
        }
    }
}

fn session(w: &mut BbWorld) -> Result<&mut UiSession, String> {
    w.ui.as_mut()
        .and_then(|b| b.downcast_mut::<UiSession>())
        .ok_or_else(|| "the operator's window is not open".to_string())
}

fn session_ref(w: &BbWorld) -> Result<&UiSession, String> {
    w.ui.as_ref()
        .and_then(|b| b.downcast_ref::<UiSession>())
        .ok_or_else(|| "the operator's window is not open".to_string())
}

fn lang_named(name: &str) -> Result<Lang, String> {
    match name {
        "Japanese" => Ok(Lang::Ja),
        "English" => Ok(Lang::En),
        "Chinese" => Ok(Lang::Zh),
        other => Err(format!(
            "unknown language '{other}' (write Japanese, English or Chinese)"
        )),
    }
}

/// Opens the window for `ext` over a freshly started core. `password`:
/// the SIP password; `extra`: more settings; `wait`: wait until the
/// simulator lists the registration.
async fn open_window(
    w: &mut BbWorld,
    ext: &str,
    lang: Lang,
    password: &str,
    extra: &str,
    wait: bool,
) -> Result<(), String> {
    let tag = w
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().replace("bb-conformance-", ""))
        .unwrap_or_default();
    let instance = format!("ui{ext}-{tag}");
    let dir = w.dir.join(format!("window-{ext}"));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let settings_path = dir.join(format!("bbclient-{ext}.toml"));
    let history = w.dir.join(format!("history-{ext}.sqlite3"));
    let text = format!(
        "[account]\nserver = \"{}\"\nuser = \"{ext}\"\npassword = \"{password}\"\n\n\
         [operator]\napi_url = \"{}\"\n\n[history]\npath = \"{}\"\n\n{extra}\n",
        w.sip()?,
        w.api()?,
        history.display()
    );
    std::fs::write(&settings_path, text)
        .map_err(|e| format!("cannot write {}: {e}", settings_path.display()))?;
    let settings = softphone::config::Settings::load(&settings_path)
        .map_err(|e| format!("the window's settings are refused: {e}"))?;
    let raw = settings.raw.clone();
    let core = softphone::app::start(softphone::app::RunOptions {
        settings,
        instance: instance.clone(),
    })
    .await
    .map_err(|e| format!("the softphone core did not start: {e:#}"))?;
    let cjk = fonts::load();
    let setup = WindowSetup {
        settings_path: settings_path.clone(),
        settings: raw,
        prefs_path: w.dir.join(format!("ui-{ext}.toml")),
        prefs: UiPrefs::default(),
        lang,
        history: softphone::history::History::open_viewer(&history).map_err(|e| e.to_string()),
        cjk: cjk.clone(),
        instance: instance.clone(),
        config_home: Some(w.dir.join("config")),
        on_saved: None,
    };
    let mut window = OperatorWindow::new(
        CoreLink {
            commands: core.commands.clone(),
            events: core.events.subscribe(),
        },
        setup,
    );
    window.fonts_installed(lang);
    let has_cjk = cjk.is_some();
    let mut builder = Harness::builder()
        .with_size([1100.0, 900.0])
        .with_context_setup(move |ctx| fonts::install(ctx, cjk.as_ref(), lang));
    if !has_cjk {
        // Without a CJK font the labels are still there to be read.
        builder = builder.allow_missing_glyphs();
    }
    let harness = builder.build_ui_state(|ui, w: &mut OperatorWindow| w.frame(ui), window);
    w.ui = Some(Box::new(UiSession {
        harness,
        core: Some(core),
        ext: ext.to_string(),
        settings_path,
        settings_before: None,
        locked: None,
    }));
    if wait {
        w.contact_of(ext).await?;
        // The simulator lists the registration before the core has read
        // the 200 OK: wait until the window has heard of it too.
        until(
            w,
            "the window to learn that the line is registered",
            10,
            |s| {
                (s.harness.state().line().line_state() == softphone::ui::line::LineState::Ready)
                    .then_some(())
            },
        )
        .await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Reading the window
// ---------------------------------------------------------------------------

/// Every label and value the window shows, one per line (for messages).
fn shown(h: &Harness<'static, OperatorWindow>) -> String {
    let mut out = Vec::new();
    for n in h.query_all_by(|_| true) {
        let a = n.accesskit_node();
        let label = a.label().unwrap_or_default();
        let value = a.value().unwrap_or_default();
        if label.is_empty() && value.is_empty() {
            continue;
        }
        let mut line = format!("{:?} {label:?}", a.role());
        if !value.is_empty() {
            line.push_str(&format!(" = {value:?}"));
        }
        if a.is_disabled() {
            line.push_str(" (disabled)");
        }
        out.push(line);
    }
    out.join("\n")
}

/// The text a node shows: its label, or for plain labels its value.
fn text_of(n: &egui_kittest::kittest::AccessKitNode<'_>) -> String {
    n.label()
        .filter(|l| !l.is_empty())
        .or_else(|| n.value())
        .unwrap_or_default()
}

fn has_text(h: &Harness<'static, OperatorWindow>, text: &str) -> bool {
    h.query_all_by(|n| n.role() != Role::TextRun && text_of(n).contains(text))
        .next()
        .is_some()
}

fn is_field(role: Role) -> bool {
    matches!(
        role,
        Role::TextInput | Role::MultilineTextInput | Role::PasswordInput
    )
}

/// The clickable node labelled exactly `label` (a button, tab, checkbox,
/// radio button…), not a text field.
fn control<'h>(h: &'h Harness<'static, OperatorWindow>, label: &'h str) -> Option<Node<'h>> {
    h.query_all_by_label(label)
        .find(|n| !is_field(n.accesskit_node().role()) && n.accesskit_node().role() != Role::Label)
        .or_else(|| h.query_all_by_label(label).next())
}

/// Runs frames, then `f`, until `f` gives `Some` or `secs` pass.
async fn until<T>(
    w: &mut BbWorld,
    what: &str,
    secs: u64,
    mut f: impl FnMut(&mut UiSession) -> Option<T>,
) -> Result<T, String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        {
            let s = session(w)?;
            s.harness.run_ok();
            if let Some(v) = f(s) {
                return Ok(v);
            }
        }
        if tokio::time::Instant::now() > deadline {
            let s = session_ref(w)?;
            return Err(format!(
                "timed out after {secs} s waiting for {what}; the window shows:\n{}\n{}",
                shown(&s.harness),
                w.transcripts()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Lets the window process what arrived, for a few frames.
fn settle(s: &mut UiSession) {
    for _ in 0..3 {
        s.harness.run_ok();
    }
}

fn list(words: &str) -> Vec<String> {
    words
        .split(',')
        .flat_map(|p| p.split(" and "))
        .map(|s| s.trim().trim_matches('"').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

// ---------------------------------------------------------------------------
// Opening the window
// ---------------------------------------------------------------------------

#[given(expr = "the operator's window for extension {word} is open in {word}")]
async fn window_open(w: &mut BbWorld, ext: String, lang: String) -> Result<(), String> {
    let lang = lang_named(&lang)?;
    open_window(w, &ext, lang, &format!("pw{ext}"), "", true).await
}

#[given(expr = "the operator's window for extension {word} is open in {word} with the settings")]
async fn window_open_with(
    w: &mut BbWorld,
    step: &Step,
    ext: String,
    lang: String,
) -> Result<(), String> {
    let lang = lang_named(&lang)?;
    let extra = expand_settings(w, &super::docstring(step)?)?;
    open_window(w, &ext, lang, &format!("pw{ext}"), &extra, true).await
}

/// The argv recorder built with this test (the same one `steps::cti`
/// links; its `"NAME" is run …` steps read the log written here).
const RECORDER: &str = env!("CARGO_BIN_EXE_argv-recorder");

/// Replaces `{crm}` (the mock CRM's base URL) and `{recorder:NAME}` (an
/// argv recorder linked at `{dir}/bin/NAME`, logging to
/// `{dir}/bin/NAME.jsonl`, where `steps::cti` reads it) in settings.
fn expand_settings(w: &BbWorld, text: &str) -> Result<String, String> {
    let mut out = text.to_string();
    if out.contains("{crm}") {
        out = out.replace("{crm}", &w.crm()?);
    }
    while let Some(start) = out.find("{recorder:") {
        let end = out[start..]
            .find('}')
            .map(|e| start + e)
            .ok_or("unclosed {recorder:NAME} in the settings")?;
        let name = out[start + "{recorder:".len()..end].to_string();
        if name.is_empty() || name.contains('/') {
            return Err(format!(
                "{{recorder:{name}}}: write a plain name such as {{recorder:browser}}"
            ));
        }
        let bin = w.dir.join("bin");
        let path = bin.join(&name);
        if !path.exists() {
            std::fs::create_dir_all(&bin)
                .map_err(|e| format!("cannot create {}: {e}", bin.display()))?;
            std::os::unix::fs::symlink(RECORDER, &path)
                .map_err(|e| format!("cannot link {} to {RECORDER}: {e}", path.display()))?;
        }
        out.replace_range(start..=end, &path.to_string_lossy());
    }
    Ok(out)
}

#[given(
    expr = "the operator's window for extension {word} is open in {word} with a wrong SIP password"
)]
async fn window_open_wrong(w: &mut BbWorld, ext: String, lang: String) -> Result<(), String> {
    let lang = lang_named(&lang)?;
    open_window(w, &ext, lang, "not-the-password", "", false).await
}

#[when("the operator's window is closed")]
async fn window_closed(w: &mut BbWorld) -> Result<(), String> {
    let s = session(w)?;
    let ext = s.ext.clone();
    if let Some(core) = s.core.take() {
        core.cancel.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), core.task).await;
    }
    // The session (and its settings file) stays for the steps that follow.
    // The core unregisters on its way out.
    w.wait_for(&format!("extension {ext} to unregister"), 10, || async {
        let (_, regs) = w.api_call("GET", "/api/registrations", None).await.ok()?;
        (!regs.as_array()?.iter().any(|r| {
            r["extension"] == ext.as_str()
                && r["contacts"].as_array().is_some_and(|c| !c.is_empty())
        }))
        .then_some(())
    })
    .await
}

// ---------------------------------------------------------------------------
// Doing things in the window
// ---------------------------------------------------------------------------

/// Clicks the control labelled `label`; when `enabled`, first waits (up to
/// 10 s) until it is enabled, as a person waits for a greyed-out button.
async fn click_control(w: &mut BbWorld, label: &str, enabled: bool) -> Result<(), String> {
    let what = if enabled {
        format!("an enabled control labelled '{label}'")
    } else {
        format!("a control labelled '{label}'")
    };
    until(w, &what, 10, |s| {
        let node = control(&s.harness, label)?;
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

#[when(expr = "the operator clicks {string} in the window")]
async fn click(w: &mut BbWorld, label: String) -> Result<(), String> {
    click_control(w, &label, true).await
}

#[when(expr = "the operator tries to click the greyed-out {string} in the window")]
async fn click_disabled(w: &mut BbWorld, label: String) -> Result<(), String> {
    let s = session(w)?;
    settle(s);
    match control(&s.harness, &label) {
        Some(n) if n.accesskit_node().is_disabled() => {}
        Some(_) => return Err(format!("'{label}' is not greyed out")),
        None => return Err(format!("no control labelled '{label}'")),
    }
    click_control(w, &label, false).await
}

fn type_into(s: &mut UiSession, label: &str, nth: usize, text: &str) -> Result<(), String> {
    let node = s
        .harness
        .query_all_by_label(label)
        .filter(|n| is_field(n.accesskit_node().role()))
        .nth(nth)
        .ok_or_else(|| {
            format!(
                "no text field #{} labelled '{label}'; the window shows:\n{}",
                nth + 1,
                shown(&s.harness)
            )
        })?;
    node.focus();
    s.harness.run_ok();
    s.harness.event(egui::Event::Text(text.into()));
    settle(s);
    Ok(())
}

/// Empties the focused field (select all, delete).
fn clear_focused(s: &mut UiSession) {
    s.harness
        .key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    s.harness.key_press(egui::Key::Delete);
    settle(s);
}

#[when(expr = "the operator types {string} into the window's {string} field")]
async fn type_field(w: &mut BbWorld, text: String, label: String) -> Result<(), String> {
    let s = session(w)?;
    type_into(s, &label, 0, &text)
}

#[when(expr = "the operator replaces the window's {string} field with {string}")]
async fn replace_field(w: &mut BbWorld, label: String, text: String) -> Result<(), String> {
    let s = session(w)?;
    type_into(s, &label, 0, "")?;
    clear_focused(s);
    type_into(s, &label, 0, &text)
}

#[when(expr = "the operator types into the window's {string} field the lines")]
async fn type_field_lines(w: &mut BbWorld, step: &Step, label: String) -> Result<(), String> {
    let text = super::docstring(step)?;
    let s = session(w)?;
    type_into(s, &label, 0, &text)
}

#[when(expr = "the operator types {string} on the keyboard with no field selected")]
async fn type_keyboard(w: &mut BbWorld, text: String) -> Result<(), String> {
    let s = session(w)?;
    // Click the status bar's empty space: no text field keeps the focus.
    s.harness.event(egui::Event::PointerButton {
        pos: egui::pos2(1050.0, 880.0),
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: egui::Modifiers::NONE,
    });
    s.harness.event(egui::Event::PointerButton {
        pos: egui::pos2(1050.0, 880.0),
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: egui::Modifiers::NONE,
    });
    settle(s);
    if s.harness.ctx.text_edit_focused() {
        return Err("a text field still has the keyboard".into());
    }
    for c in text.chars() {
        s.harness.event(egui::Event::Text(c.to_string()));
        s.harness.run_ok();
    }
    settle(s);
    Ok(())
}

#[when(expr = "the operator presses {word} on the keyboard")]
async fn press_key(w: &mut BbWorld, key: String) -> Result<(), String> {
    let key = egui::Key::from_name(&key).ok_or_else(|| format!("unknown key '{key}'"))?;
    let s = session(w)?;
    s.harness.key_press(key);
    settle(s);
    Ok(())
}

#[when(expr = "the operator presses {string} on the dial pad")]
async fn press_pad(w: &mut BbWorld, keys: String) -> Result<(), String> {
    let s = session(w)?;
    for k in keys.chars().filter(|c| !c.is_whitespace()) {
        let label = k.to_string();
        let node = s
            .harness
            .query_all_by_role_and_label(Role::Button, &label)
            .next()
            .ok_or_else(|| {
                format!(
                    "no dial-pad key '{label}'; the window shows:\n{}",
                    shown(&s.harness)
                )
            })?;
        node.click();
        settle(s);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// What the window shows
// ---------------------------------------------------------------------------

#[then(expr = "the window shows {string}")]
async fn shows(w: &mut BbWorld, text: String) -> Result<(), String> {
    let what = format!("the window to show '{text}'");
    until(w, &what, 10, |s| has_text(&s.harness, &text).then_some(())).await
}

#[then(expr = "the window does not show {string}")]
async fn not_shows(w: &mut BbWorld, text: String) -> Result<(), String> {
    let s = session(w)?;
    settle(s);
    if has_text(&s.harness, &text) {
        return Err(format!("the window shows '{text}':\n{}", shown(&s.harness)));
    }
    Ok(())
}

#[then(expr = "the window shows the texts {string}")]
async fn shows_all(w: &mut BbWorld, texts: String) -> Result<(), String> {
    let texts = list(&texts);
    let what = format!("the window to show {texts:?}");
    until(w, &what, 10, |s| {
        texts.iter().all(|t| has_text(&s.harness, t)).then_some(())
    })
    .await
}

/// The status bar: the extension and the line state side by side, in one
/// horizontal band at the top of the window.
#[then(expr = "the status bar shows {string} and {string}")]
async fn status_bar(w: &mut BbWorld, ext: String, state: String) -> Result<(), String> {
    let what = format!("the status bar to show '{ext}' and '{state}'");
    until(w, &what, 15, |s| {
        let h = &s.harness;
        let a = h
            .query_all_by(|n| n.role() == Role::Label && text_of(n) == ext)
            .next()?
            .rect();
        let b = h
            .query_all_by(|n| n.role() == Role::Label && text_of(n).starts_with(state.as_str()))
            .next()?
            .rect();
        let number = h
            .query_all_by(|n| is_field(n.role()))
            .next()
            .map(|n| n.rect().top())
            .unwrap_or(f32::MAX);
        let same_band = a.top() < b.bottom() && b.top() < a.bottom();
        (same_band && a.left() < b.left() && a.bottom() <= number).then_some(())
    })
    .await
}

#[then(expr = "the window's controls {string} are enabled")]
async fn enabled(w: &mut BbWorld, labels: String) -> Result<(), String> {
    check_enabled(w, &labels, true).await
}

#[then(expr = "the window's controls {string} are disabled")]
async fn disabled(w: &mut BbWorld, labels: String) -> Result<(), String> {
    check_enabled(w, &labels, false).await
}

async fn check_enabled(w: &mut BbWorld, labels: &str, want: bool) -> Result<(), String> {
    let labels = list(labels);
    let word = if want { "enabled" } else { "disabled" };
    let what = format!("{labels:?} to be {word}");
    until(w, &what, 10, |s| {
        labels
            .iter()
            .all(|l| {
                control(&s.harness, l).is_some_and(|n| n.accesskit_node().is_disabled() != want)
            })
            .then_some(())
    })
    .await
}

#[then(expr = "the window has the text fields {string}")]
async fn has_fields(w: &mut BbWorld, labels: String) -> Result<(), String> {
    let labels = list(&labels);
    let s = session(w)?;
    settle(s);
    for l in &labels {
        if !s
            .harness
            .query_all_by_label(l)
            .any(|n| is_field(n.accesskit_node().role()))
        {
            return Err(format!(
                "no text field labelled '{l}'; the window shows:\n{}",
                shown(&s.harness)
            ));
        }
    }
    Ok(())
}

#[then(expr = "the window's {string} field holds {string}")]
async fn field_holds(w: &mut BbWorld, label: String, want: String) -> Result<(), String> {
    let what = format!("the '{label}' field to hold '{want}'");
    until(w, &what, 10, |s| {
        s.harness
            .query_all_by_label(&label)
            .filter(|n| is_field(n.accesskit_node().role()))
            .any(|n| n.value().as_deref() == Some(want.as_str()))
            .then_some(())
    })
    .await
}

#[then(expr = "the window's {string} field is hidden like a password")]
async fn field_is_password(w: &mut BbWorld, label: String) -> Result<(), String> {
    let s = session(w)?;
    settle(s);
    if s.harness
        .query_all_by_label(&label)
        .any(|n| n.accesskit_node().role() == Role::PasswordInput)
    {
        Ok(())
    } else {
        Err(format!(
            "'{label}' is not a password field; the window shows:\n{}",
            shown(&s.harness)
        ))
    }
}

#[then("the dial pad is hidden")]
async fn pad_hidden(w: &mut BbWorld) -> Result<(), String> {
    until(w, "the dial pad to be hidden", 10, |s| {
        let keys = ["1", "5", "9", "*", "#"];
        keys.iter()
            .all(|k| {
                s.harness
                    .query_all_by_role_and_label(Role::Button, k)
                    .next()
                    .is_none()
            })
            .then_some(())
    })
    .await
}

#[then(expr = "the dial pad is shown to the right of the {string} button")]
async fn pad_shown(w: &mut BbWorld, button: String) -> Result<(), String> {
    until(w, "the dial pad to show", 10, |s| {
        let h = &s.harness;
        let right_of = control(h, &button)?.rect().right();
        let keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];
        keys.iter()
            .all(|k| {
                h.query_all_by_role_and_label(Role::Button, k)
                    .next()
                    .is_some_and(|n| n.rect().left() > right_of)
            })
            .then_some(())
    })
    .await
}

/// Every text of the window is in `lang`: no kana for English or Chinese;
/// no Japanese or Chinese for English. The names of the other languages on
/// the switch itself are the exception.
#[then(expr = "no text in the window is in another language than {word}")]
async fn all_in(w: &mut BbWorld, lang: String) -> Result<(), String> {
    let lang = lang_named(&lang)?;
    let s = session(w)?;
    settle(s);
    let kana = |c: char| ('\u{3040}'..='\u{30ff}').contains(&c);
    let han = |c: char| ('\u{4e00}'..='\u{9fff}').contains(&c);
    let mut wrong = Vec::new();
    for n in s.harness.query_all_by(|_| true) {
        let a = n.accesskit_node();
        let label = text_of(&a);
        if label.is_empty() || a.role() == Role::TextRun {
            continue;
        }
        if ["日本語", "English", "中文"].contains(&label.as_str()) {
            continue;
        }
        let bad = match lang {
            Lang::En => label.chars().any(|c| kana(c) || han(c)),
            Lang::Zh => label.chars().any(kana),
            Lang::Ja => {
                label.chars().any(|c| c.is_ascii_alphabetic())
                    && !label.chars().any(|c| kana(c) || han(c))
                    && !label.starts_with("BlueBean")
            }
        };
        if bad {
            wrong.push(label);
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "texts in another language: {wrong:?}; the window shows:\n{}",
            shown(&s.harness)
        ))
    }
}

// ---------------------------------------------------------------------------
// The settings file (UI-7, Q-4)
// ---------------------------------------------------------------------------

#[given("the settings file is noted as it is now")]
#[when("the settings file is noted as it is now")]
async fn note_settings(w: &mut BbWorld) -> Result<(), String> {
    let s = session(w)?;
    let bytes = std::fs::read(&s.settings_path)
        .map_err(|e| format!("cannot read {}: {e}", s.settings_path.display()))?;
    s.settings_before = Some(bytes);
    Ok(())
}

#[given("the settings file is readable by everyone")]
async fn settings_world_readable(w: &mut BbWorld) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let s = session(w)?;
    std::fs::set_permissions(&s.settings_path, std::fs::Permissions::from_mode(0o644))
        .map_err(|e| format!("cannot chmod {}: {e}", s.settings_path.display()))
}

#[then("the settings file is unchanged")]
async fn settings_unchanged(w: &mut BbWorld) -> Result<(), String> {
    let s = session(w)?;
    let before = s
        .settings_before
        .as_ref()
        .ok_or("no step noted the settings file before")?;
    let now = std::fs::read(&s.settings_path)
        .map_err(|e| format!("cannot read {}: {e}", s.settings_path.display()))?;
    if &now != before {
        return Err(format!(
            "the settings file changed:\n--- before\n{}\n--- now\n{}",
            String::from_utf8_lossy(before),
            String::from_utf8_lossy(&now)
        ));
    }
    Ok(())
}

/// `key.path = value` as TOML reads it from the settings file.
#[then(expr = "the settings file has {word} = {string}")]
async fn settings_has(w: &mut BbWorld, key: String, want: String) -> Result<(), String> {
    let s = session(w)?;
    let text = std::fs::read_to_string(&s.settings_path)
        .map_err(|e| format!("cannot read {}: {e}", s.settings_path.display()))?;
    let doc: toml::Table = toml::from_str(&text)
        .map_err(|e| format!("the settings file is not TOML any more: {e}\n{text}"))?;
    let mut v = toml::Value::Table(doc);
    for part in key.split('.') {
        v = v
            .get(part)
            .cloned()
            .ok_or_else(|| format!("the settings file has no {key}:\n{text}"))?;
    }
    let got = match &v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if got != want {
        return Err(format!(
            "the settings file has {key} = {got:?}, not {want:?}:\n{text}"
        ));
    }
    Ok(())
}

#[then("the settings file can be read and written by its owner alone")]
async fn settings_private(w: &mut BbWorld) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let s = session(w)?;
    let mode = std::fs::metadata(&s.settings_path)
        .map_err(|e| format!("cannot stat {}: {e}", s.settings_path.display()))?
        .permissions()
        .mode();
    if mode & 0o777 != 0o600 {
        return Err(format!(
            "the settings file has mode {:o}, not 600",
            mode & 0o777
        ));
    }
    Ok(())
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(".tmp-"))
                .collect()
        })
        .unwrap_or_default()
}

#[then("no temporary file of the save is left beside the settings file")]
async fn no_temp(w: &mut BbWorld) -> Result<(), String> {
    let s = session(w)?;
    let dir = s.settings_path.parent().ok_or("no directory")?;
    let left: Vec<String> = temp_files(dir)
        .into_iter()
        .filter(|n| !n.contains("crashed"))
        .collect();
    if left.is_empty() {
        Ok(())
    } else {
        Err(format!("temporary files left: {left:?}"))
    }
}

/// What a process killed between writing its temporary file and renaming
/// it leaves behind: a private, half-written file beside the settings.
#[given("an earlier save was killed before its rename, leaving a half-written temporary file")]
async fn crashed_save(w: &mut BbWorld) -> Result<(), String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let s = session(w)?;
    let dir = s.settings_path.parent().ok_or("no directory")?;
    let name = s
        .settings_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-99999-0-crashed0"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    f.write_all(b"[account]\nserver = \"127.0.0.1:5")
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))
}

#[given("the settings file's folder cannot be written to")]
async fn lock_folder(w: &mut BbWorld) -> Result<(), String> {
    let s = session(w)?;
    let dir = s
        .settings_path
        .parent()
        .ok_or("no directory")?
        .to_path_buf();
    s.locked = Some(LockedDir::lock(&dir)?);
    Ok(())
}

#[then("the settings file's folder can be written to again")]
async fn unlock_folder(w: &mut BbWorld) -> Result<(), String> {
    let s = session(w)?;
    s.locked = None;
    Ok(())
}

#[when(expr = "a softphone for extension {word} is started from the window's settings file")]
async fn phone_from_saved(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let path = session_ref(w)?.settings_path.clone();
    w.start_phone_from(&ext, &path).await
}

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

#[when(expr = "the outside caller stays on the line for {int} seconds")]
async fn stays(_w: &mut BbWorld, secs: u64) -> Result<(), String> {
    // Talk time for the history to measure; nothing is asserted about speed.
    tokio::time::sleep(Duration::from_secs(secs)).await;
    Ok(())
}

/// The history's duration of the call with `number` matches the talk time
/// the simulator measured for it (to the second, rounded either way).
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

#[when(expr = "the operator clicks {string} in the popup window")]
async fn click_popup(w: &mut BbWorld, label: String) -> Result<(), String> {
    click_in_popup(w, &label, true).await
}

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

#[then(expr = "the popup window's {string} is greyed out")]
async fn popup_greyed(w: &mut BbWorld, label: String) -> Result<(), String> {
    popup_control_state(w, &label, true).await
}

#[then(expr = "the popup window's {string} is enabled")]
async fn popup_enabled(w: &mut BbWorld, label: String) -> Result<(), String> {
    popup_control_state(w, &label, false).await
}

/// Each caller calls in turn; the next call is placed once the simulator
/// shows this one ringing and the window has the CRM's answer for it (so
/// the tabs' order is the calls' order). Every call keeps ringing.
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
