//! The operator's window (UI-1…UI-7): the main window with the status bar,
//! number field, call buttons, dial pad and operator login; the settings
//! window with its four tabs; the popup window for the CRM's answers; the
//! call history.
//!
//! The window is one more entry point of the verb model, beside the URIs,
//! the command line and the control socket: every button becomes a
//! [`bb_verbs::wire::RequestBody`] sent to the app loop as a
//! [`crate::control::ControlCommand`], and everything it shows is rebuilt
//! from the app loop's [`bb_verbs::wire::Event`] stream. It never touches
//! the call model directly, so a call the window places is exactly a
//! `bbclient call N`.
//!
//! # Parts
//!
//! The decisions are plain state machines tested on their own:
//! [`line`] (line state and which buttons are enabled, from events),
//! [`number`] (the number field and UI-4 normalisation), [`settings_form`]
//! (the edited settings, checked with `bb-cti`'s validators), [`popup`]
//! (the popup tabs), [`prefs`] (the window's own preferences), [`i18n`]
//! (fluent, three languages) and [`crate::history`]. [`window`] is the thin
//! egui layer over them, and [`fonts`] finds a CJK font.
//!
//! # Wiring
//!
//! [`run`] opens the window and returns when the operator closes it. It
//! must be called on the **main thread** (winit's rule); the tokio runtime
//! with the app loop runs on other threads and is reached only through the
//! channels in [`UiLink`]. A helper thread waits on the event stream only
//! to wake the window when something happens.
//!
//! # Decisions where the guide is silent
//!
//! * **Call (通話)** answers the oldest ringing incoming call when one rings,
//!   else dials the number field; Enter does the same.
//! * **Transfer (転送)** with a live call is the held transfer
//!   (`transfer N`, the number from the field); while a held call has a
//!   consultation call it becomes **Complete (転送完了)**
//!   (`transfer_complete`). **Blind transfer** is in the menu beside it
//!   (`…`) and on Shift+click.
//! * **Digits** (dial pad or keyboard with no text field focused, UI-3) go
//!   into the number field when idle and out as DTMF while talking; to type
//!   a transfer target during a call, click the field first. Ctrl+V with no
//!   field focused replaces the number.
//! * **Popups**: one window, one tab per call, at most
//!   [`popup::MAX_POPUPS`]; Details only on the latest incoming call (the
//!   `details` verb has no Call-ID).
//! * **History**: the core records the calls (headless or not); the window
//!   opens the same file read-only ([`crate::history::History::open_viewer`])
//!   and re-reads it when a call hangs up. Clicking a number dials it when
//!   the line is free, else fills the field.
//! * **Other tab**: audio devices and codecs are the core's `[audio]`
//!   settings; the language and autostart are the window's `ui.toml`.
//!   Without a CJK font the window starts in English.
//! * **Save** runs the core's own validation (which resolves the server's
//!   name, on the UI thread), writes the file atomically, 0600, and hands
//!   the validated settings to the running core ([`UiLink::settings`]),
//!   which puts them in force for the next call (see [`crate::reload`]);
//!   the core's `settings` event becomes the status line ("Saved: PATH; in
//!   force for the next call", naming anything that waits for a restart).
//!   Without a core to take them the window says the changes apply after a
//!   restart.

pub mod fonts;
pub mod i18n;
pub mod line;
pub mod number;
pub mod popup;
pub mod prefs;
pub mod settings_form;
pub mod window;

use std::path::PathBuf;

use eframe::egui;
use tokio::sync::{broadcast, mpsc};

use bb_verbs::wire::Event;

use crate::app::SettingsUpdate;
use crate::config::RawSettings;
use crate::control::ControlCommand;
use crate::history::History;
use i18n::Lang;
use prefs::UiPrefs;
use window::{CoreLink, MAIN_HEIGHT, MAIN_WIDTH, OperatorWindow, WindowSetup};

/// Everything the window needs from the rest of the softphone.
pub struct UiLink {
    /// Verbs to the app loop (the same channel the control socket uses).
    pub commands: mpsc::Sender<ControlCommand>,
    /// The app loop's event stream.
    pub events: broadcast::Receiver<Event>,
    /// The settings file the window saves to.
    pub settings_path: PathBuf,
    /// The settings as loaded.
    pub settings: RawSettings,
    /// The call history; `Err` holds why it could not be opened (the window
    /// then says so in the history window and works without it).
    pub history: Result<History, String>,
    /// The window's preferences file; `None`: [`prefs::default_path`].
    pub prefs_path: Option<PathBuf>,
    /// The instance name.
    pub instance: String,
    /// Where Save hands the new settings to the running core
    /// ([`crate::app::Core::settings`]).
    pub settings_tx: Option<mpsc::Sender<SettingsUpdate>>,
}

/// Opens the window and runs it until it is closed. Call on the main thread.
pub fn run(link: UiLink) -> anyhow::Result<()> {
    let prefs_path = link
        .prefs_path
        .clone()
        .or_else(prefs::default_path)
        .unwrap_or_else(|| link.settings_path.with_file_name("ui.toml"));
    let prefs = UiPrefs::load(&prefs_path);
    let cjk = fonts::load();
    let env = |k: &str| std::env::var(k).ok();
    let mut lang = prefs.lang().unwrap_or_else(|| Lang::from_env(&env));
    if cjk.is_none() && lang.needs_cjk() {
        lang = Lang::En;
    }
    let config_home = crate::handlers::Layout::from_env(&|k| std::env::var_os(k))
        .ok()
        .map(|l| l.config_home);
    let mut waker = link.events.resubscribe();
    let core = CoreLink {
        commands: link.commands,
        events: link.events,
        settings: link.settings_tx,
    };
    let setup = WindowSetup {
        settings_path: link.settings_path,
        settings: link.settings,
        prefs_path,
        prefs,
        lang,
        history: link.history,
        cjk,
        instance: link.instance,
        config_home,
    };
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("BlueBean")
            .with_app_id("bbclient")
            .with_inner_size([MAIN_WIDTH, MAIN_HEIGHT])
            .with_min_inner_size([MAIN_WIDTH, 320.0]),
        ..Default::default()
    };
    eframe::run_native(
        "BlueBean",
        options,
        Box::new(move |cc| {
            let ctx = cc.egui_ctx.clone();
            let lang = setup.lang;
            fonts::install(&ctx, setup.cjk.as_ref(), lang);
            // Wake the window for each event; the window reads its own
            // receiver. Ends when the app loop drops the sender.
            std::thread::Builder::new()
                .name("bbclient-ui-waker".into())
                .spawn(move || {
                    while !matches!(
                        waker.blocking_recv(),
                        Err(broadcast::error::RecvError::Closed)
                    ) {
                        ctx.request_repaint();
                    }
                })?;
            let mut window = OperatorWindow::new(core, setup);
            window.fonts_installed(lang);
            Ok(Box::new(window))
        }),
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "cannot open the window: {e} (run with --headless on a machine without a display)"
        )
    })
}
