//! The operator's window in egui: the main window, the dial pad, the
//! settings, the popup and the history. This is the thin part: it draws
//! what the plain state machines ([`LineModel`], [`NumberField`],
//! [`SettingsForm`], [`PopupBoard`], [`History`]) say, and turns clicks and
//! keys into verbs on the same channel as the control socket.
//!
//! [`OperatorWindow::frame`] draws one frame into a root [`egui::Ui`]; the
//! eframe app and the kittest tests both call it. Settings, history and the
//! popup are immediate viewports: separate OS windows under eframe,
//! embedded windows in tests.
//!
//! Talking to the core: [`OperatorWindow::send`] puts a
//! [`ControlCommand`] on the channel without waiting and keeps its reply
//! receiver; each frame drains the events and the replies that arrived.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use eframe::egui::{self, Color32, RichText, ViewportBuilder, ViewportClass, ViewportId};
use tokio::sync::{broadcast, mpsc, oneshot};

use bb_verbs::wire::{Direction, Event, EventKind, HookKind, HookOutcome, RequestBody};
use bb_verbs::{DtmfDigits, LoginId, Password};

use super::fonts::{self, CjkFont};
use super::i18n::{Lang, Tr};
use super::line::{
    Buttons, CallButton, HoldButton, LineModel, LineState, Notice, Operator, TransferButton,
};
use super::number::{self, NumberField, PAD_KEYS, is_dial_char};
use super::popup::PopupBoard;
use super::prefs::UiPrefs;
use super::settings_form::SettingsForm;
use crate::app::{Applied, SettingsUpdate};
use crate::config::RawSettings;
use crate::control::ControlCommand;
use crate::history::{CallResult, History, HistoryRow, format_duration};

mod settings;

pub use settings::{placeholder_message, settings_notice};

/// The main window's width without the dial pad (points).
pub const MAIN_WIDTH: f32 = 420.0;
/// The main window's height (points).
pub const MAIN_HEIGHT: f32 = 360.0;
/// The dial pad's width: the window grows by this much to the right.
pub const PAD_WIDTH: f32 = 190.0;
/// How many calls the history window lists.
pub const HISTORY_ROWS: usize = 200;

/// The window's width for a dial pad state (UI-2).
pub fn window_width(pad_open: bool) -> f32 {
    if pad_open {
        MAIN_WIDTH + PAD_WIDTH
    } else {
        MAIN_WIDTH
    }
}

/// The channels to the running core.
pub struct CoreLink {
    /// Verbs to the app loop, with a way back for the reply.
    pub commands: mpsc::Sender<ControlCommand>,
    /// The event stream.
    pub events: broadcast::Receiver<Event>,
    /// Saved settings to the app loop ([`crate::app::Core::settings`]);
    /// `None`: the core cannot take them (the window then says that the
    /// changes apply after a restart).
    pub settings: Option<mpsc::Sender<SettingsUpdate>>,
}

/// What the window needs besides the core.
pub struct WindowSetup {
    /// The settings file (saved by the settings window).
    pub settings_path: PathBuf,
    /// The settings as loaded.
    pub settings: RawSettings,
    /// The window's preferences file (`ui.toml`).
    pub prefs_path: PathBuf,
    /// The preferences as loaded.
    pub prefs: UiPrefs,
    /// The starting language.
    pub lang: Lang,
    /// The call history; `Err` holds why it could not be opened.
    pub history: Result<History, String>,
    /// The CJK font, when one was found.
    pub cjk: Option<CjkFont>,
    /// The instance name (for the autostart and URI handler entries).
    pub instance: String,
    /// `$XDG_CONFIG_HOME`, for the autostart entry; `None` disables it.
    pub config_home: Option<PathBuf>,
}

/// What a reply answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Asked {
    Status,
    Login,
    Verb(&'static str),
}

struct Waiting {
    asked: Asked,
    reply: oneshot::Receiver<Result<Option<serde_json::Value>, String>>,
}

/// The whole window's state.
pub struct OperatorWindow {
    tr: Tr,
    core: CoreLink,
    waiting: Vec<Waiting>,
    line: LineModel,
    number: NumberField,
    pad_open: bool,
    settings_path: PathBuf,
    settings: RawSettings,
    prefs_path: PathBuf,
    prefs: UiPrefs,
    form: Option<SettingsForm>,
    form_message: Option<(bool, String)>,
    history: Option<History>,
    history_error: Option<String>,
    history_rows: Vec<(HistoryRow, String)>,
    history_open: bool,
    popups: PopupBoard,
    login_id: String,
    login_password: String,
    login_error: Option<String>,
    login_reply: Option<String>,
    notice: Option<String>,
    cjk: Option<CjkFont>,
    fonts_installed: Option<Lang>,
    instance: String,
    config_home: Option<PathBuf>,
    /// The core's answer to the last Save, until it comes.
    applying: Option<oneshot::Receiver<Applied>>,
    /// What the last Save said before the core answered ("Saved: PATH").
    saved_message: Option<String>,
    devices: DeviceList,
    started: Instant,
}

/// The sound devices for the Other tab's pickers, listed once, in the
/// background (listing can take seconds), when a picker is first opened.
#[derive(Default)]
struct DeviceList {
    pending: Option<std::sync::mpsc::Receiver<(Vec<String>, Vec<String>)>>,
    names: Option<(Vec<String>, Vec<String>)>,
}

impl DeviceList {
    fn start(&mut self) {
        if self.pending.is_some() || self.names.is_some() {
            return;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("bbclient-ui-devices".into())
            .spawn(move || {
                let _ = tx.send(crate::media::device::device_names());
            });
        if spawned.is_ok() {
            self.pending = Some(rx);
        }
    }

    /// The (capture, playback) names once listed.
    fn names(&mut self) -> Option<&(Vec<String>, Vec<String>)> {
        if let Some(rx) = &self.pending
            && let Ok(names) = rx.try_recv()
        {
            self.names = Some(names);
            self.pending = None;
        }
        self.names.as_ref()
    }
}

impl OperatorWindow {
    /// A window talking to `core`; asks the core for its status at once.
    pub fn new(core: CoreLink, setup: WindowSetup) -> OperatorWindow {
        let (history, history_error) = match setup.history {
            Ok(h) => (Some(h), None),
            Err(e) => (None, Some(e)),
        };
        let mut w = OperatorWindow {
            tr: Tr::new(setup.lang),
            core,
            waiting: Vec::new(),
            line: LineModel::new(setup.settings.account.user.clone()),
            number: NumberField::new(),
            pad_open: false,
            settings_path: setup.settings_path,
            login_id: setup.settings.operator.login_id.clone(),
            login_password: setup.settings.operator.password.clone(),
            settings: setup.settings,
            prefs_path: setup.prefs_path,
            prefs: setup.prefs,
            form: None,
            form_message: None,
            history,
            history_error,
            history_rows: Vec::new(),
            history_open: false,
            popups: PopupBoard::new(),
            login_error: None,
            login_reply: None,
            notice: None,
            cjk: setup.cjk,
            fonts_installed: None,
            instance: setup.instance,
            config_home: setup.config_home,
            applying: None,
            saved_message: None,
            devices: DeviceList::default(),
            started: Instant::now(),
        };
        w.ask(Asked::Status, RequestBody::Status);
        w
    }

    // ----------------------------------------------------------------------
    // State, for tests and the eframe glue
    // ----------------------------------------------------------------------

    /// The current language.
    pub fn lang(&self) -> Lang {
        self.tr.lang()
    }

    /// The line model.
    pub fn line(&self) -> &LineModel {
        &self.line
    }

    /// The number field.
    pub fn number(&self) -> &NumberField {
        &self.number
    }

    /// True while the dial pad is shown.
    pub fn pad_open(&self) -> bool {
        self.pad_open
    }

    /// The settings as last saved (or loaded).
    pub fn settings(&self) -> &RawSettings {
        &self.settings
    }

    /// The settings form, while the settings window is open.
    pub fn settings_form(&self) -> Option<&SettingsForm> {
        self.form.as_ref()
    }

    /// The popup tabs.
    pub fn popups(&self) -> &PopupBoard {
        &self.popups
    }

    /// The preferences as last saved.
    pub fn prefs(&self) -> &UiPrefs {
        &self.prefs
    }

    /// The last notice line.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// The history rows shown.
    pub fn history_rows(&self) -> Vec<&HistoryRow> {
        self.history_rows.iter().map(|(r, _)| r).collect()
    }

    /// The call history store, when it could be opened.
    pub fn history_mut(&mut self) -> Option<&mut History> {
        self.history.as_mut()
    }

    /// Whether the history window is open.
    pub fn history_open(&self) -> bool {
        self.history_open
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    // ----------------------------------------------------------------------
    // Talking to the core
    // ----------------------------------------------------------------------

    /// Sends a verb to the core without waiting; the reply is read on a
    /// later frame.
    pub fn send(&mut self, body: RequestBody) {
        let word = body.word();
        let asked = match &body {
            RequestBody::Login { .. } | RequestBody::Logout => Asked::Login,
            RequestBody::Status => Asked::Status,
            _ => Asked::Verb(word),
        };
        self.ask(asked, body);
    }

    fn ask(&mut self, asked: Asked, body: RequestBody) {
        let (tx, rx) = oneshot::channel();
        match self
            .core
            .commands
            .try_send(ControlCommand { body, reply: tx })
        {
            Ok(()) => self.waiting.push(Waiting { asked, reply: rx }),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.notice = Some(self.tr.t("notice-core-busy"));
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.notice = Some(self.tr.t("notice-core-gone"));
            }
        }
    }

    /// Reads the events and replies that arrived.
    pub fn pump(&mut self) {
        loop {
            match self.core.events.try_recv() {
                Ok(ev) => self.on_event(&ev),
                Err(broadcast::error::TryRecvError::Lagged(n)) => {
                    tracing::warn!("ui: {n} events were dropped; the window may be behind");
                    self.line.events_lost();
                    self.ask(Asked::Status, RequestBody::Status);
                }
                Err(_) => break,
            }
        }
        let mut still = Vec::new();
        for mut w in std::mem::take(&mut self.waiting) {
            match w.reply.try_recv() {
                Ok(outcome) => self.on_reply(w.asked, outcome),
                Err(oneshot::error::TryRecvError::Empty) => still.push(w),
                Err(oneshot::error::TryRecvError::Closed) => {
                    self.notice = Some(self.tr.t("notice-core-gone"));
                }
            }
        }
        self.waiting = still;
        if let Some(rx) = self.applying.as_mut() {
            match rx.try_recv() {
                Ok(applied) => {
                    self.applying = None;
                    self.follow_history(applied.history_path.as_deref());
                }
                Err(oneshot::error::TryRecvError::Empty) => {}
                Err(oneshot::error::TryRecvError::Closed) => {
                    self.applying = None;
                    self.notice = Some(self.tr.t("notice-core-gone"));
                }
            }
        }
    }

    /// Reads the history the core records into from now on (saved
    /// settings may have moved it or turned it off).
    fn follow_history(&mut self, path: Option<&Path>) {
        let viewer = self.history.as_ref().is_none_or(History::is_viewer);
        let current = self.history.as_ref().map(|h| h.path().to_path_buf());
        if !viewer || current.as_deref() == path {
            return;
        }
        match path {
            Some(p) => match History::open_viewer(p) {
                Ok(h) => {
                    self.history = Some(h);
                    self.history_error = None;
                }
                Err(e) => {
                    self.history = None;
                    self.history_error = Some(e.to_string());
                }
            },
            None => {
                self.history = None;
                self.history_error = Some(self.tr.t("history-off"));
            }
        }
        self.history_rows.clear();
        self.refresh_history();
    }

    fn on_event(&mut self, ev: &Event) {
        let now = self.now_ms();
        self.line.apply(ev, now);
        self.popups.apply(ev);
        for n in self.line.take_notices() {
            self.notice = Some(match n {
                Notice::Transferred(target) => self.tr.t1("notice-transferred", "target", target),
                Notice::TransferFailed { target, reason } => self.tr.t_args(
                    "notice-transfer-failed",
                    &[("target", target), ("reason", reason)],
                ),
                Notice::Settings {
                    applied,
                    after_restart,
                    failed,
                } => {
                    // The extension may have changed: read it back.
                    self.ask(Asked::Status, RequestBody::Status);
                    let saved = self
                        .saved_message
                        .take()
                        .unwrap_or_else(|| self.tr.t("settings-saved-plain"));
                    settings_notice(&self.tr, saved, &applied, &after_restart, &failed)
                }
            });
        }
        if let EventKind::Hook {
            kind,
            outcome: HookOutcome::Failed | HookOutcome::TimedOut,
            detail,
        } = &ev.event
            && *kind != HookKind::Popup
        {
            let kind = serde_json::to_value(kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            self.notice = Some(self.tr.t_args(
                "notice-hook-failed",
                &[
                    ("kind", kind),
                    ("detail", detail.clone().unwrap_or_default()),
                ],
            ));
        }
        if self.history.as_ref().is_some_and(History::is_viewer) {
            // The core records the call (before it publishes `hung_up`);
            // the window reads the rows back.
            if matches!(ev.event, EventKind::HungUp { .. }) {
                self.refresh_history();
            }
        } else if let Some(h) = self.history.as_mut() {
            // A history of the window's own (tests, or no core-side file).
            match h.record(ev, SystemTime::now()) {
                Ok(Some(row)) => {
                    let local = h.local_time(row.started_at_ms);
                    self.history_rows.insert(0, (row, local));
                    self.history_rows.truncate(HISTORY_ROWS);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!("ui: {e}");
                    self.history_error = Some(e.to_string());
                }
            }
        }
    }

    fn on_reply(&mut self, asked: Asked, outcome: Result<Option<serde_json::Value>, String>) {
        match (asked, outcome) {
            (Asked::Status, Ok(Some(data))) => self.line.apply_status(&data),
            (Asked::Status, _) => {}
            (Asked::Login, Ok(_)) => self.login_reply = None,
            (Asked::Login, Err(e)) => self.login_reply = Some(e),
            (Asked::Verb(word), Ok(_)) => {
                if matches!(word, "call" | "transfer" | "blindtransfer") {
                    self.number.clear();
                }
            }
            (Asked::Verb(word), Err(e)) => {
                self.notice = Some(self.tr.t_args(
                    "notice-reply-error",
                    &[("verb", word.to_owned()), ("error", e)],
                ));
            }
        }
    }

    // ----------------------------------------------------------------------
    // Actions
    // ----------------------------------------------------------------------

    fn buttons(&self) -> Buttons {
        self.line.buttons(self.number.number().as_ref())
    }

    /// Call (通話): answer the ringing call, or dial the number.
    pub fn press_call(&mut self) {
        match self.buttons().call {
            Some(CallButton::Answer) => self.send(RequestBody::Answer),
            Some(CallButton::Dial(number)) => self.send(RequestBody::Call { number }),
            None => {
                if !self.line.line_state().in_call() {
                    // Say why nothing happened (an empty or refused field).
                    let _ = self.number.require();
                }
            }
        }
    }

    fn press_hold(&mut self) {
        match self.buttons().hold {
            Some(HoldButton::Hold) => self.send(RequestBody::Hold),
            Some(HoldButton::Unhold) => self.send(RequestBody::Unhold),
            None => {}
        }
    }

    fn press_transfer(&mut self, blind: bool) {
        let b = self.buttons();
        if blind {
            if let Some(number) = b.blind_transfer {
                self.send(RequestBody::BlindTransfer { number });
            }
            return;
        }
        match b.transfer {
            Some(TransferButton::Held(number)) => self.send(RequestBody::Transfer { number }),
            Some(TransferButton::Complete) => self.send(RequestBody::TransferComplete),
            None => {
                if self.line.timed_call().is_some() {
                    let _ = self.number.require();
                }
            }
        }
    }

    fn press_hangup(&mut self) {
        if self.buttons().hangup {
            self.send(RequestBody::Hangup);
        }
    }

    /// Mute or unmute the call being talked on (beyond the guide).
    pub fn press_mute(&mut self) {
        match self.line.talking_muted() {
            Some(false) => self.send(RequestBody::Mute),
            Some(true) => self.send(RequestBody::Unmute),
            None => {}
        }
    }

    /// Do not disturb on or off (beyond the guide).
    pub fn press_dnd(&mut self) {
        let on = !self.line.dnd();
        self.send(RequestBody::Dnd { on });
    }

    /// A dial-pad key or a keyboard digit: DTMF while talking, else into
    /// the number field.
    pub fn press_key(&mut self, c: char) {
        if self.buttons().dtmf {
            let ascii = match c {
                '０'..='９' => char::from_u32(u32::from(c) - u32::from('０') + u32::from('0')),
                '＊' => Some('*'),
                '＃' => Some('#'),
                other => Some(other),
            };
            if let Some(Ok(digits)) = ascii.map(|a| DtmfDigits::parse(&a.to_string())) {
                self.send(RequestBody::Dtmf { digits });
            }
        } else {
            self.number.push(c);
        }
    }

    fn toggle_pad(&mut self, ctx: &egui::Context) {
        self.pad_open = !self.pad_open;
        let height = ctx
            .input(|i| i.viewport().inner_rect.map(|r| r.height()))
            .unwrap_or(MAIN_HEIGHT);
        ctx.send_viewport_cmd(egui::ViewportCommand::InnerSize(egui::vec2(
            window_width(self.pad_open),
            height,
        )));
    }

    fn set_lang(&mut self, lang: Lang) {
        if lang == self.tr.lang() {
            return;
        }
        if lang.needs_cjk() && self.cjk.is_none() {
            tracing::warn!(
                "ui: no CJK font is installed; {} text will show as boxes (install fonts-noto-cjk)",
                lang.ascii_name()
            );
        }
        self.tr.set_lang(lang);
        self.prefs.language = lang.code().to_owned();
        if let Err(e) = crate::settings_store::save_toml(&self.prefs_path, &self.prefs) {
            tracing::warn!("ui: {e}");
        }
    }

    fn press_login(&mut self) {
        self.login_error = None;
        let login_id = if self.login_id.trim().is_empty() {
            None
        } else {
            match LoginId::parse(&self.login_id) {
                Ok(id) => Some(id),
                Err(e) => {
                    self.login_error = Some(e.to_string());
                    return;
                }
            }
        };
        let password = Some(self.login_password.clone())
            .filter(|p| !p.is_empty())
            .map(Password::new);
        self.login_reply = Some(self.tr.t("op-sent"));
        self.send(RequestBody::Login { login_id, password });
    }

    fn open_history(&mut self) {
        self.history_open = true;
        self.refresh_history();
    }

    /// Re-reads the latest rows from the history file.
    fn refresh_history(&mut self) {
        if let Some(h) = &self.history {
            match h.recent(HISTORY_ROWS) {
                Ok(rows) => {
                    self.history_rows = rows
                        .into_iter()
                        .map(|r| {
                            let local = h.local_time(r.started_at_ms);
                            (r, local)
                        })
                        .collect();
                }
                Err(e) => self.history_error = Some(e.to_string()),
            }
        }
    }

    /// Redial from the history: dial at once when the line is free, else
    /// put the number in the field.
    pub fn redial(&mut self, number: &str) {
        self.number.set_text(number);
        if let Some(CallButton::Dial(n)) = self.line.buttons(self.number.number().as_ref()).call {
            self.send(RequestBody::Call { number: n });
        }
    }

    // ----------------------------------------------------------------------
    // Drawing
    // ----------------------------------------------------------------------

    /// Draws one frame of everything into the root `ui`.
    pub fn frame(&mut self, ui: &mut egui::Ui) {
        self.pump();
        let ctx = ui.ctx().clone();
        if self.fonts_installed != Some(self.tr.lang()) {
            fonts::install(&ctx, self.cjk.as_ref(), self.tr.lang());
            self.fonts_installed = Some(self.tr.lang());
        }
        self.keyboard(&ctx);
        if self.pad_open {
            egui::Panel::right("bb-dialpad")
                .resizable(false)
                .exact_size(PAD_WIDTH)
                .show(ui, |ui| self.dial_pad(ui));
        }
        egui::CentralPanel::default().show(ui, |ui| self.main(ui));
        self.settings_window(&ctx);
        self.history_window(&ctx);
        self.popup_window(&ctx);
        if !self.waiting.is_empty() || self.devices.pending.is_some() {
            ctx.request_repaint_after(std::time::Duration::from_millis(50));
        } else if self.line.timed_call().is_some() {
            ctx.request_repaint_after(std::time::Duration::from_millis(500));
        }
    }

    /// UI-3: digit keys dial when no text field has the keyboard.
    fn keyboard(&mut self, ctx: &egui::Context) {
        if ctx.text_edit_focused() {
            return;
        }
        let events = ctx.input(|i| i.events.clone());
        for e in events {
            match e {
                egui::Event::Text(text) => {
                    for c in text.chars().filter(|c| is_dial_char(*c)) {
                        self.press_key(c);
                    }
                }
                egui::Event::Paste(text) => self.number.set_text(&text),
                egui::Event::Key {
                    key: egui::Key::Backspace,
                    pressed: true,
                    ..
                } => self.number.backspace(),
                egui::Event::Key {
                    key: egui::Key::Enter,
                    pressed: true,
                    ..
                } => self.press_call(),
                _ => {}
            }
        }
    }

    fn main(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        // Title row: product name, Settings (設定), History (履歴).
        ui.horizontal(|ui| {
            ui.heading(RichText::new(self.tr.t("app-title")).strong());
            ui.label(RichText::new(self.tr.t("app-subtitle")).weak());
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if ui.button(self.tr.t("btn-history")).clicked() {
                    self.open_history();
                }
                if ui.button(self.tr.t("btn-settings")).clicked() {
                    self.open_settings();
                }
            });
        });
        ui.add_space(4.0);
        self.status_bar(ui, &ctx);
        ui.add_space(6.0);
        self.number_row(ui);
        ui.add_space(6.0);
        self.call_buttons(ui);
        if let Some(n) = &self.notice {
            ui.add_space(4.0);
            ui.label(RichText::new(n).color(Color32::from_rgb(200, 120, 0)));
        }
        ui.add_space(8.0);
        self.operator_panel(ui);
    }

    /// UI-1: extension and line state; the dial-pad toggle on the right (UI-2).
    fn status_bar(&mut self, ui: &mut egui::Ui, ctx: &egui::Context) {
        let state = self.line.line_state();
        let fill = match &state {
            LineState::Ready => Color32::from_rgb(46, 139, 87),
            LineState::Ringing(_) => Color32::from_rgb(214, 120, 20),
            LineState::Talking(_) | LineState::Calling(_) => Color32::from_rgb(30, 110, 180),
            LineState::OnHold(_) => Color32::from_rgb(120, 90, 160),
            LineState::Connecting => Color32::from_rgb(110, 110, 110),
            LineState::RegistrationFailed(_) | LineState::NotRegistered => {
                Color32::from_rgb(170, 40, 40)
            }
        };
        let text = self.state_text(&state);
        let timer = self
            .line
            .timed_call()
            .map(|c| format_duration(self.now_ms().saturating_sub(c.since_ms)));
        egui::Frame::new()
            .fill(fill)
            .corner_radius(4.0)
            .inner_margin(egui::Margin::symmetric(8, 6))
            .show(ui, |ui| {
                ui.set_width(ui.available_width());
                ui.horizontal(|ui| {
                    ui.label(
                        RichText::new(self.tr.t1("extension", "ext", self.line.extension()))
                            .color(Color32::WHITE)
                            .strong(),
                    );
                    ui.label(RichText::new(text).color(Color32::WHITE));
                    if let Some(t) = timer {
                        ui.label(RichText::new(t).color(Color32::WHITE).monospace());
                    }
                    if self.line.talking_muted() == Some(true) {
                        ui.label(
                            RichText::new(self.tr.t("status-muted"))
                                .color(Color32::YELLOW)
                                .strong(),
                        );
                    }
                    if self.line.dnd() {
                        ui.label(
                            RichText::new(self.tr.t("status-dnd"))
                                .color(Color32::YELLOW)
                                .strong(),
                        );
                    }
                    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                        // Only glyphs every font has: the window must also work
                        // without a CJK font (see `fonts`).
                        let arrow = if self.pad_open { "<<" } else { ">>" };
                        let text = RichText::new(format!("{} {arrow}", self.tr.t("btn-dialpad")))
                            .color(Color32::WHITE);
                        let pad = ui.selectable_label(self.pad_open, text);
                        let label = self.tr.t("btn-dialpad");
                        pad.widget_info(|| {
                            egui::WidgetInfo::selected(
                                egui::Role::Button,
                                true,
                                self.pad_open,
                                label.clone(),
                            )
                        });
                        if pad.clicked() {
                            self.toggle_pad(ctx);
                        }
                    });
                });
            });
    }

    fn state_text(&self, state: &LineState) -> String {
        let num = |n: &String| {
            if n.is_empty() {
                self.tr.t("unknown-number")
            } else {
                n.clone()
            }
        };
        match state {
            LineState::Ringing(n)
            | LineState::Calling(n)
            | LineState::Talking(n)
            | LineState::OnHold(n) => self.tr.t1(state.message_id(), "number", num(n)),
            LineState::RegistrationFailed(r) => self.tr.t1(state.message_id(), "reason", r),
            _ => self.tr.t(state.message_id()),
        }
    }

    /// UI-4: the number field, with the refusal beside it.
    fn number_row(&mut self, ui: &mut egui::Ui) {
        let id = egui::Id::unique("bb-number");
        ui.horizontal(|ui| {
            let label = ui.label(self.tr.t("number-field"));
            let out = egui::TextEdit::singleline(self.number.text_mut())
                .id(id)
                .hint_text(self.tr.t("number-hint"))
                .desired_width(ui.available_width())
                .font(egui::TextStyle::Heading)
                .show(ui);
            let response = out.response.response.clone().labelled_by(label.id);
            if response.changed() {
                let before = self.number.text().to_owned();
                self.number.after_edit();
                if self.number.text() != before {
                    // Normalised under the cursor: put the cursor at the end.
                    let mut state = out.state.clone();
                    let end = egui::text::CCursor::new(self.number.text().chars().count());
                    state
                        .cursor
                        .set_char_range(Some(egui::text::CCursorRange::one(end)));
                    state.store(ui.ctx(), id);
                }
            }
            if response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                self.press_call();
            }
        });
        if let Some(e) = self.number.error() {
            ui.label(
                RichText::new(number::error_message(&self.tr, e))
                    .color(Color32::from_rgb(200, 40, 40))
                    .small(),
            );
        }
    }

    /// UI-5: Call, Hold, Transfer (with the menu for blind transfer and
    /// Complete), Hang up.
    fn call_buttons(&mut self, ui: &mut egui::Ui) {
        let b = self.buttons();
        let size = egui::vec2(72.0, 34.0);
        ui.horizontal(|ui| {
            let call_hint = match b.call {
                Some(CallButton::Answer) => self.tr.t("hint-call-answer"),
                _ => self.tr.t("hint-call-dial"),
            };
            if ui
                .add_enabled(
                    b.call.is_some(),
                    egui::Button::new(self.tr.t("btn-call")).min_size(size),
                )
                .on_hover_text(call_hint)
                .clicked()
            {
                self.press_call();
            }
            let hold_label = match b.hold {
                Some(HoldButton::Unhold) => self.tr.t("btn-unhold"),
                _ => self.tr.t("btn-hold"),
            };
            if ui
                .add_enabled(
                    b.hold.is_some(),
                    egui::Button::new(hold_label).min_size(size),
                )
                .clicked()
            {
                self.press_hold();
            }
            let (transfer_label, transfer_hint) = match b.transfer {
                Some(TransferButton::Complete) => (
                    self.tr.t("btn-transfer-complete"),
                    self.tr.t("hint-transfer-complete"),
                ),
                _ => (self.tr.t("btn-transfer"), self.tr.t("hint-transfer")),
            };
            let enabled = b.transfer.is_some() || b.blind_transfer.is_some();
            let transfer = ui
                .add_enabled(enabled, egui::Button::new(transfer_label).min_size(size))
                .on_hover_text(transfer_hint);
            if transfer.clicked() {
                let shift = ui.input(|i| i.modifiers.shift);
                self.press_transfer(shift && b.blind_transfer.is_some());
            }
            ui.add_enabled_ui(enabled, |ui| {
                let menu_label = self.tr.t("btn-transfer-menu");
                let menu = ui.menu_button("…", |ui| {
                    if ui
                        .add_enabled(
                            b.blind_transfer.is_some(),
                            egui::Button::new(self.tr.t("btn-blind-transfer")),
                        )
                        .on_hover_text(self.tr.t("hint-blind-transfer"))
                        .clicked()
                    {
                        self.press_transfer(true);
                        ui.close();
                    }
                    if ui
                        .add_enabled(
                            b.transfer == Some(TransferButton::Complete),
                            egui::Button::new(self.tr.t("btn-transfer-complete")),
                        )
                        .clicked()
                    {
                        self.press_transfer(false);
                        ui.close();
                    }
                });
                let menu_label2 = menu_label.clone();
                menu.response.widget_info(move || {
                    egui::WidgetInfo::labeled(egui::Role::Button, true, menu_label2.clone())
                });
                menu.response.on_hover_text(menu_label);
            });
            if ui
                .add_enabled(
                    b.hangup,
                    egui::Button::new(RichText::new(self.tr.t("btn-hangup")).strong())
                        .min_size(size),
                )
                .clicked()
            {
                self.press_hangup();
            }
        });
        // Beyond the guide's buttons: a row of their own, so the guide's
        // row keeps its layout.
        ui.horizontal(|ui| {
            let muted = self.line.talking_muted();
            let mute_label = if muted == Some(true) {
                self.tr.t("btn-unmute")
            } else {
                self.tr.t("btn-mute")
            };
            if ui
                .add_enabled(
                    muted.is_some(),
                    egui::Button::new(mute_label)
                        .selected(muted == Some(true))
                        .min_size(size),
                )
                .on_hover_text(self.tr.t("hint-mute"))
                .clicked()
            {
                self.press_mute();
            }
            let dnd = self.line.dnd();
            if ui
                .add(
                    egui::Button::new(self.tr.t("btn-dnd"))
                        .selected(dnd)
                        .min_size(size),
                )
                .on_hover_text(self.tr.t("hint-dnd"))
                .clicked()
            {
                self.press_dnd();
            }
        });
    }

    /// UI-6: operator login and the language switch.
    fn operator_panel(&mut self, ui: &mut egui::Ui) {
        let dark = Color32::from_rgb(20, 70, 45);
        egui::Frame::new()
            .fill(dark)
            .corner_radius(4.0)
            .inner_margin(egui::Margin::same(8))
            .show(ui, |ui| {
                ui.set_width(ui.available_width());
                ui.horizontal(|ui| {
                    ui.label(
                        RichText::new(self.tr.t("op-panel"))
                            .color(Color32::WHITE)
                            .strong(),
                    );
                    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                        // Right to left: 中文 | English | 日本語 reads left to right.
                        for (i, lang) in Lang::ALL.iter().rev().enumerate() {
                            if i > 0 {
                                ui.label(RichText::new("|").color(Color32::LIGHT_GRAY));
                            }
                            let name = if self.cjk.is_some() || !lang.needs_cjk() {
                                lang.native_name()
                            } else {
                                lang.ascii_name()
                            };
                            let selected = self.tr.lang() == *lang;
                            let text = RichText::new(name).color(if selected {
                                Color32::WHITE
                            } else {
                                Color32::from_rgb(170, 210, 190)
                            });
                            if ui.selectable_label(selected, text).clicked() {
                                self.set_lang(*lang);
                            }
                        }
                    });
                });
                let white = |s: String| RichText::new(s).color(Color32::WHITE);
                egui::Grid::new("bb-login").num_columns(2).show(ui, |ui| {
                    let l = ui.label(white(self.tr.t("op-login-id")));
                    ui.add(egui::TextEdit::singleline(&mut self.login_id).desired_width(160.0))
                        .labelled_by(l.id);
                    ui.end_row();
                    let l = ui.label(white(self.tr.t("op-password")));
                    ui.add(
                        egui::TextEdit::singleline(&mut self.login_password)
                            .password(true)
                            .desired_width(160.0),
                    )
                    .labelled_by(l.id);
                    ui.end_row();
                });
                let logged_in = matches!(self.line.operator(), Operator::LoggedIn(_));
                ui.horizontal(|ui| {
                    if ui
                        .add_enabled(!logged_in, egui::Button::new(self.tr.t("op-login")))
                        .clicked()
                    {
                        self.press_login();
                    }
                    if ui
                        .add_enabled(logged_in, egui::Button::new(self.tr.t("op-logout")))
                        .clicked()
                    {
                        self.login_reply = Some(self.tr.t("op-sent"));
                        self.send(RequestBody::Logout);
                    }
                    let state = match self.line.operator() {
                        Operator::LoggedIn(id) => self.tr.t1("op-state-logged-in", "id", id),
                        Operator::LoggedOut => self.tr.t("op-state-logged-out"),
                        Operator::LoginFailed(r) => {
                            self.tr.t1("op-state-login-failed", "reason", r)
                        }
                    };
                    ui.label(RichText::new(state).color(Color32::LIGHT_GRAY));
                });
                for line in [&self.login_error, &self.login_reply].into_iter().flatten() {
                    ui.label(
                        RichText::new(line)
                            .color(Color32::from_rgb(255, 210, 120))
                            .small(),
                    );
                }
            });
    }

    /// UI-2: the dial pad, shown to the right.
    fn dial_pad(&mut self, ui: &mut egui::Ui) {
        ui.add_space(12.0);
        egui::Grid::new("bb-pad")
            .spacing(egui::vec2(6.0, 6.0))
            .show(ui, |ui| {
                for row in PAD_KEYS {
                    for key in row {
                        let b = egui::Button::new(RichText::new(key.to_string()).size(22.0))
                            .min_size(egui::vec2(52.0, 44.0));
                        if ui.add(b).clicked() {
                            self.press_key(key);
                        }
                    }
                    ui.end_row();
                }
            });
        ui.add_space(6.0);
        let back =
            ui.add(egui::Button::new(self.tr.t("btn-backspace")).min_size(egui::vec2(168.0, 32.0)));
        if back.clicked() {
            self.number.backspace();
        }
    }

    // ----------------------------------------------------------------------
    // History (CALL-3)
    // ----------------------------------------------------------------------

    fn history_window(&mut self, ctx: &egui::Context) {
        if !self.history_open {
            return;
        }
        let builder = beside_main(ctx, ViewportBuilder::default())
            .with_title(self.tr.t("history-title"))
            .with_inner_size([600.0, 380.0]);
        ctx.show_viewport_immediate(
            ViewportId::from_hash_of("bb-history"),
            builder,
            |ui, class| {
                if ui.input(|i| i.viewport().close_requested()) {
                    self.history_open = false;
                    return;
                }
                if class == ViewportClass::EmbeddedWindow {
                    self.history_ui(ui);
                } else {
                    egui::CentralPanel::default().show(ui, |ui| self.history_ui(ui));
                }
            },
        );
    }

    /// The history window's content (public for screenshots).
    pub fn history_ui(&mut self, ui: &mut egui::Ui) {
        if let Some(e) = &self.history_error {
            ui.colored_label(
                Color32::from_rgb(200, 40, 40),
                self.tr.t1("history-unavailable", "error", e),
            );
        }
        let mut redial = None;
        if self.history_rows.is_empty() {
            ui.label(self.tr.t("history-empty"));
        } else {
            egui::ScrollArea::vertical()
                .max_height((ui.available_height() - 40.0).max(100.0))
                .show(ui, |ui| {
                    egui::Grid::new("bb-history-grid")
                        .striped(true)
                        .num_columns(6)
                        .show(ui, |ui| {
                            for h in [
                                "history-direction",
                                "history-number",
                                "history-outside-line",
                                "history-start",
                                "history-duration",
                                "history-result",
                            ] {
                                ui.label(RichText::new(self.tr.t(h)).strong());
                            }
                            ui.end_row();
                            for (row, local) in &self.history_rows {
                                ui.label(match row.direction {
                                    Direction::Incoming => self.tr.t("history-incoming"),
                                    Direction::Outgoing => self.tr.t("history-outgoing"),
                                });
                                let shown = if row.number.is_empty() {
                                    self.tr.t("unknown-number")
                                } else {
                                    row.number.clone()
                                };
                                let link = ui.add_enabled(
                                    !row.number.is_empty(),
                                    egui::Button::new(shown).small(),
                                );
                                if link.on_hover_text(self.tr.t("history-redial")).clicked() {
                                    redial = Some(row.number.clone());
                                }
                                ui.label(row.outside_line.clone().unwrap_or_default());
                                ui.label(local);
                                ui.label(format_duration(row.duration_ms));
                                ui.label(self.tr.t(result_message(row.result)));
                                ui.end_row();
                            }
                        });
                });
        }
        ui.separator();
        if ui.button(self.tr.t("history-close")).clicked() {
            self.history_open = false;
        }
        if let Some(n) = redial {
            self.redial(&n);
        }
    }

    // ----------------------------------------------------------------------
    // Popup (WEB-1, WEB-4)
    // ----------------------------------------------------------------------

    fn popup_window(&mut self, ctx: &egui::Context) {
        if !self.popups.is_open() {
            return;
        }
        let id = ViewportId::from_hash_of("bb-popup");
        let builder = beside_main(ctx, ViewportBuilder::default())
            .with_title(self.tr.t("popup-title"))
            .with_inner_size([440.0, 320.0]);
        if ctx.embed_viewports() {
            // No separate OS window (kittest, backends without viewports):
            // egui would place the embedded window over the call buttons,
            // so that Call (answer) would hit the popup instead. Place it
            // right of the main window and its dial pad.
            egui::Window::from_viewport(id, builder)
                .default_pos(egui::pos2(window_width(true) + 8.0, 8.0))
                .collapsible(false)
                .show(ctx, |ui| self.popup_ui(ui));
            return;
        }
        ctx.show_viewport_immediate(id, builder, |ui, class| {
            if ui.input(|i| i.viewport().close_requested()) {
                let ids: Vec<String> = self
                    .popups
                    .entries()
                    .iter()
                    .map(|e| e.call_id.clone())
                    .collect();
                for id in ids {
                    self.popups.dismiss(&id);
                }
                return;
            }
            if class == ViewportClass::EmbeddedWindow {
                self.popup_ui(ui);
            } else {
                egui::CentralPanel::default().show(ui, |ui| self.popup_ui(ui));
            }
        });
    }

    /// The popup window's content (public for screenshots).
    pub fn popup_ui(&mut self, ui: &mut egui::Ui) {
        let entries = self.popups.entries().to_vec();
        let selected = self.popups.selected().map(|e| e.call_id.clone());
        if entries.len() > 1 {
            ui.horizontal_wrapped(|ui| {
                for e in entries.iter().rev() {
                    let mut title = if e.number.is_empty() {
                        self.tr.t("unknown-number")
                    } else {
                        e.number.clone()
                    };
                    if e.ended {
                        title = format!("{title} ({})", self.tr.t("popup-ended"));
                    }
                    if ui
                        .selectable_label(selected.as_deref() == Some(&e.call_id), title)
                        .clicked()
                    {
                        self.popups.select(&e.call_id);
                    }
                }
            });
            ui.separator();
        }
        let Some(entry) = self.popups.selected().cloned() else {
            return;
        };
        let number = if entry.number.is_empty() {
            self.tr.t("unknown-number")
        } else {
            entry.number.clone()
        };
        ui.heading(self.tr.t1("popup-from", "number", number));
        if entry.ended {
            ui.label(RichText::new(self.tr.t("popup-ended")).weak());
        }
        ui.separator();
        egui::ScrollArea::vertical()
            .max_height((ui.available_height() - 44.0).max(80.0))
            .auto_shrink([false, true])
            .show(ui, |ui| {
                if let Some(f) = &entry.failure {
                    ui.colored_label(
                        Color32::from_rgb(200, 40, 40),
                        self.tr.t1("popup-failed", "detail", f),
                    );
                }
                match &entry.text {
                    Some(t) => {
                        ui.label(t);
                    }
                    None if entry.failure.is_none() => {
                        ui.label(RichText::new(self.tr.t("popup-waiting")).weak());
                    }
                    None => {}
                }
            });
        ui.separator();
        ui.horizontal(|ui| {
            let enabled = self.popups.details_enabled(&entry.call_id);
            let details = ui
                .add_enabled(enabled, egui::Button::new(self.tr.t("popup-details")))
                .on_disabled_hover_text(self.tr.t("popup-details-latest-only"));
            if details.clicked() {
                self.send(RequestBody::Details);
            }
            if ui.button(self.tr.t("popup-close")).clicked() {
                self.popups.dismiss(&entry.call_id);
            }
        });
    }

    /// Opens the history window (for screenshots and tests).
    pub fn show_history(&mut self) {
        self.open_history();
    }

    /// Records that `ctx` already has the fonts for `lang` (installed
    /// before the first frame).
    pub fn fonts_installed(&mut self, lang: Lang) {
        self.fonts_installed = Some(lang);
    }

    /// The settings file path.
    pub fn settings_path(&self) -> &Path {
        &self.settings_path
    }
}

impl eframe::App for OperatorWindow {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame(ui);
    }
}

/// Places a new window just right of the main window (where the dial pad
/// would be), so it does not cover the call buttons; the window manager may
/// still decide otherwise.
fn beside_main(ctx: &egui::Context, builder: ViewportBuilder) -> ViewportBuilder {
    match ctx.input(|i| i.viewport().outer_rect) {
        Some(r) => builder.with_position(r.right_top() + egui::vec2(8.0, 0.0)),
        None => builder,
    }
}

/// The fluent message ID of a history result.
pub fn result_message(r: CallResult) -> &'static str {
    match r {
        CallResult::Answered => "result-answered",
        CallResult::Missed => "result-missed",
        CallResult::Busy => "result-busy",
        CallResult::NoAnswer => "result-no-answer",
        CallResult::Rejected => "result-rejected",
        CallResult::Cancelled => "result-cancelled",
        CallResult::Transferred => "result-transferred",
        CallResult::Failed => "result-failed",
    }
}
