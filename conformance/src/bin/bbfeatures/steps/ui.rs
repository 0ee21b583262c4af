//! The operator's window under test: opening it over a real core, reading
//! it, clicking and typing in it (UI-1…UI-7). The steps of its parts are
//! beside this module: `ui_settings` (the settings window and file: UI-7,
//! WEB-7, Q-4), `ui_calls` (calls, transfers, paste and history: UI-4,
//! UI-5, CALL-2, CALL-3) and `ui_popup` (the popup window: WEB-1, WEB-4).
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

use std::path::PathBuf;
use std::time::Duration;

use conformance::world::BbWorld;
use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use egui::accesskit::Role;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use egui_kittest::{Harness, Node};

use softphone::ui::fonts;
use softphone::ui::i18n::Lang;
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
    pub locked: Option<super::ui_settings::LockedDir>,
    /// The simulator's contact of the window's extension when a step
    /// noted it (to prove later that the core was not restarted).
    pub noted_contact: Option<std::net::SocketAddr>,
}

impl Drop for UiSession {
    fn drop(&mut self) {
        if let Some(core) = &self.core {
            core.cancel.cancel();
        }
    }
}

pub(super) fn session(w: &mut BbWorld) -> Result<&mut UiSession, String> {
    w.ui.as_mut()
        .and_then(|b| b.downcast_mut::<UiSession>())
        .ok_or_else(|| "the operator's window is not open".to_string())
}

pub(super) fn session_ref(w: &BbWorld) -> Result<&UiSession, String> {
    w.ui.as_ref()
        .and_then(|b| b.downcast_ref::<UiSession>())
        .ok_or_else(|| "the operator's window is not open".to_string())
}

pub(super) fn lang_named(name: &str) -> Result<Lang, String> {
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
    // Without a CJK font the ja/zh labels would be tofu and the language
    // buttons fall back to English names: a broken set-up, not a skip.
    let cjk = Some(fonts::load().ok_or(
        "no CJK font: the window's scenarios need fonts-noto-cjk (`cargo xtask setup` installs it)",
    )?);
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
    };
    let mut window = OperatorWindow::new(
        CoreLink {
            commands: core.commands.clone(),
            events: core.events.subscribe(),
            settings: Some(core.settings.clone()),
        },
        setup,
    );
    window.fonts_installed(lang);
    let builder = Harness::builder()
        .with_size([1100.0, 900.0])
        .with_context_setup(move |ctx| fonts::install(ctx, cjk.as_ref(), lang));
    let harness = builder.build_ui_state(|ui, w: &mut OperatorWindow| w.frame(ui), window);
    w.ui = Some(Box::new(UiSession {
        harness,
        core: Some(core),
        ext: ext.to_string(),
        settings_path,
        settings_before: None,
        locked: None,
        noted_contact: None,
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
pub(super) fn shown(h: &Harness<'static, OperatorWindow>) -> String {
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
pub(super) fn text_of(n: &egui_kittest::kittest::AccessKitNode<'_>) -> String {
    n.label()
        .filter(|l| !l.is_empty())
        .or_else(|| n.value())
        .unwrap_or_default()
}

pub(super) fn has_text(h: &Harness<'static, OperatorWindow>, text: &str) -> bool {
    h.query_all_by(|n| n.role() != Role::TextRun && text_of(n).contains(text))
        .next()
        .is_some()
}

pub(super) fn is_field(role: Role) -> bool {
    matches!(
        role,
        Role::TextInput | Role::MultilineTextInput | Role::PasswordInput
    )
}

/// The clickable node labelled exactly `label` (a button, tab, checkbox,
/// radio button…), not a text field.
pub(super) fn control<'h>(
    h: &'h Harness<'static, OperatorWindow>,
    label: &'h str,
) -> Option<Node<'h>> {
    h.query_all_by_label(label)
        .find(|n| !is_field(n.accesskit_node().role()) && n.accesskit_node().role() != Role::Label)
        .or_else(|| h.query_all_by_label(label).next())
}

/// Runs frames, then `f`, until `f` gives `Some` or `secs` pass.
pub(super) async fn until<T>(
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
pub(super) fn settle(s: &mut UiSession) {
    for _ in 0..3 {
        s.harness.run_ok();
    }
}

pub(super) fn list(words: &str) -> Vec<String> {
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

/// Opens the operator's window for extension `ext` in the language `lang` (`Japanese`,
/// `English` or `Chinese`), over a softphone core started in the test.
/// Waits until the simulator lists the registration (up to 15 s) and the window shows the
/// line ready (up to 10 s). Needs a CJK font (fonts-noto-cjk).
#[given(expr = "the operator's window for extension {word} is open in {word}")]
async fn window_open(w: &mut BbWorld, ext: String, lang: String) -> Result<(), String> {
    let lang = lang_named(&lang)?;
    open_window(w, &ext, lang, &format!("pw{ext}"), "", true).await
}

/// Opens the operator's window for extension `ext` in the language `lang`, as "the
/// operator's window for extension … is open in …", with the settings in the doc string
/// added to its settings file.
/// Only `{crm}` (the mock CRM's base URL) and `{recorder:NAME}` (an argument recorder)
/// are replaced; `{dir}` is not.
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

/// Replaces `{crm}` (the mock CRM's base URL) and `{recorder:NAME}` (an
/// argv recorder linked at `{dir}/bin/NAME`, logging to
/// `{dir}/bin/NAME.jsonl`, where `steps::cti` reads it) in settings.
pub(super) fn expand_settings(w: &BbWorld, text: &str) -> Result<String, String> {
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
            let recorder = conformance::procs::recorder_bin()?;
            std::os::unix::fs::symlink(&recorder, &path).map_err(|e| {
                format!(
                    "cannot link {} to {}: {e}",
                    path.display(),
                    recorder.display()
                )
            })?;
        }
        out.replace_range(start..=end, &path.to_string_lossy());
    }
    Ok(out)
}

/// Opens the operator's window for extension `ext` in the language `lang` with a wrong
/// SIP password.
/// Does not wait for the registration, which is expected to fail.
#[given(
    expr = "the operator's window for extension {word} is open in {word} with a wrong SIP password"
)]
async fn window_open_wrong(w: &mut BbWorld, ext: String, lang: String) -> Result<(), String> {
    let lang = lang_named(&lang)?;
    open_window(w, &ext, lang, "not-the-password", "", false).await
}

/// Closes the operator's window: stops its softphone core and waits up to 10 s until the
/// simulator no longer lists the extension as registered.
/// The window's settings file stays for the steps that follow.
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

/// Clicks the control (button, tab, checkbox…) labelled `label` in the operator's window.
/// First waits up to 10 s until it is enabled, as a person waits for a greyed-out button.
#[when(expr = "the operator clicks {string} in the window")]
async fn click(w: &mut BbWorld, label: String) -> Result<(), String> {
    click_control(w, &label, true).await
}

/// Checks that the control labelled `label` in the operator's window is greyed out, then
/// clicks it anyway.
/// Fails if it is enabled or missing. Follow it with a check that nothing happened.
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

pub(super) fn type_into(
    s: &mut UiSession,
    label: &str,
    nth: usize,
    text: &str,
) -> Result<(), String> {
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
pub(super) fn clear_focused(s: &mut UiSession) {
    s.harness
        .key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    s.harness.key_press(egui::Key::Delete);
    settle(s);
}

/// Types `text` into the first text field labelled `label` in the operator's window.
/// The field is not emptied first; use "the operator replaces the window's … field with
/// …" for that.
#[when(expr = "the operator types {string} into the window's {string} field")]
async fn type_field(w: &mut BbWorld, text: String, label: String) -> Result<(), String> {
    let s = session(w)?;
    type_into(s, &label, 0, &text)
}

/// Empties the first text field labelled `label` in the operator's window and types
/// `text` into it.
/// `{crm}` in `text` stands for the mock CRM's base URL and `{recorder:NAME}` for an
/// argument recorder.
#[when(expr = "the operator replaces the window's {string} field with {string}")]
async fn replace_field(w: &mut BbWorld, label: String, text: String) -> Result<(), String> {
    let text = expand_settings(w, &text)?;
    let s = session(w)?;
    replace_text(s, &label, &text)
}

/// Empties the first text field labelled `label` and types `text` into it.
pub(super) fn replace_text(s: &mut UiSession, label: &str, text: &str) -> Result<(), String> {
    type_into(s, label, 0, "")?;
    clear_focused(s);
    type_into(s, label, 0, text)
}

/// Types the lines of the doc string into the first text field labelled `label` in the
/// operator's window.
/// The field is not emptied first, and nothing in the doc string is replaced.
#[when(expr = "the operator types into the window's {string} field the lines")]
async fn type_field_lines(w: &mut BbWorld, step: &Step, label: String) -> Result<(), String> {
    let text = super::docstring(step)?;
    let s = session(w)?;
    type_into(s, &label, 0, &text)
}

/// Clicks an empty spot of the operator's window so that no text field has the keyboard,
/// then types `text` key by key.
/// Tests the window's own keyboard handling. Fails if a text field keeps the keyboard.
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

/// Presses the key `key` in the operator's window.
/// `key` by its name in the window toolkit (egui), e.g. `Enter`, `Escape`, `Backspace`.
#[when(expr = "the operator presses {word} on the keyboard")]
async fn press_key(w: &mut BbWorld, key: String) -> Result<(), String> {
    let key = egui::Key::from_name(&key).ok_or_else(|| format!("unknown key '{key}'"))?;
    let s = session(w)?;
    s.harness.key_press(key);
    settle(s);
    Ok(())
}

/// Clicks the dial-pad button of each character of `keys` in turn, e.g. "03*#"; spaces
/// are skipped.
/// Fails if a character has no button.
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

/// Checks that a label, button or field of the operator's window shows a text containing
/// `text`.
/// Waits up to 10 s; on failure lists everything the window shows.
#[then(expr = "the window shows {string}")]
async fn shows(w: &mut BbWorld, text: String) -> Result<(), String> {
    let what = format!("the window to show '{text}'");
    until(w, &what, 10, |s| has_text(&s.harness, &text).then_some(())).await
}

/// Checks, at once, that nothing in the operator's window shows a text containing `text`.
/// On failure lists everything the window shows.
#[then(expr = "the window does not show {string}")]
async fn not_shows(w: &mut BbWorld, text: String) -> Result<(), String> {
    let s = session(w)?;
    settle(s);
    if has_text(&s.harness, &text) {
        return Err(format!("the window shows '{text}':\n{}", shown(&s.harness)));
    }
    Ok(())
}

/// Checks that the operator's window shows every text of the list `texts`.
/// `texts`: separated by commas or "and", e.g. "Call, Hold and Hang up". Waits up to
/// 10 s.
#[then(expr = "the window shows the texts {string}")]
async fn shows_all(w: &mut BbWorld, texts: String) -> Result<(), String> {
    let texts = list(&texts);
    let what = format!("the window to show {texts:?}");
    until(w, &what, 10, |s| {
        texts.iter().all(|t| has_text(&s.harness, t)).then_some(())
    })
    .await
}

/// Checks that the status bar shows the extension `ext` and, to its right on the same
/// line, a line state starting with `state`.
/// The status bar must be above the number field. Waits up to 15 s.
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

/// Checks that every control named in `labels` is enabled.
/// `labels`: separated by commas or "and". Waits up to 10 s.
#[then(expr = "the window's controls {string} are enabled")]
async fn enabled(w: &mut BbWorld, labels: String) -> Result<(), String> {
    check_enabled(w, &labels, true).await
}

/// Checks that every control named in `labels` is greyed out.
/// `labels`: separated by commas or "and". Waits up to 10 s.
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

/// Checks, at once, that the operator's window has a text field for every label in
/// `labels`.
/// `labels`: separated by commas or "and".
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

/// Checks that a text field labelled `label` in the operator's window holds exactly
/// `want`.
/// Waits up to 10 s.
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

/// Checks, at once, that the field labelled `label` hides what is typed, like a password
/// field.
/// On failure lists everything the window shows.
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

/// Checks that the dial pad is hidden: the window has no buttons `1`, `5`, `9`, `*` or
/// `#`.
/// Waits up to 10 s.
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

/// Checks that all twelve dial-pad keys are shown to the right of the button labelled
/// `button`.
/// Waits up to 10 s.
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

/// Checks, at once, that every text of the operator's window is in the language `lang`
/// (`Japanese`, `English` or `Chinese`).
/// English: no kana or kanji; Chinese: no kana; Japanese: no text in Latin letters only,
/// except names starting "BlueBean". The language names on the language switch do not
/// count.
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
