//! A fake core for the window tests: the test holds the other ends of the
//! window's channels, reads the verbs the window sends and feeds it events.

#![allow(dead_code)]

use std::path::PathBuf;

use egui_kittest::{Harness, HarnessBuilder};
use tokio::sync::{broadcast, mpsc};

use bb_verbs::wire::{Direction, Event, EventKind, RegistrationState, RequestBody};
use softphone::config::{Account, RawSettings};
use softphone::control::ControlCommand;
use softphone::history::History;
use softphone::ui::fonts;
use softphone::ui::i18n::Lang;
use softphone::ui::prefs::UiPrefs;
use softphone::ui::window::{CoreLink, OperatorWindow, WindowSetup};

/// The test's end of the window's channels, and its files.
pub struct FakeCore {
    pub commands: mpsc::Receiver<ControlCommand>,
    pub events: broadcast::Sender<Event>,
    pub dir: tempfile::TempDir,
    pub settings_path: PathBuf,
    pub prefs_path: PathBuf,
}

impl FakeCore {
    /// The next verb the window sent, answered `ok`.
    pub fn next_ok(&mut self) -> Option<RequestBody> {
        let cmd = self.commands.try_recv().ok()?;
        let body = cmd.body.clone();
        let _ = cmd.reply.send(Ok(None));
        Some(body)
    }

    /// The next verb, left for the test to answer.
    pub fn next(&mut self) -> Option<ControlCommand> {
        self.commands.try_recv().ok()
    }

    /// Every verb sent so far, answered `ok`.
    pub fn drain_ok(&mut self) -> Vec<RequestBody> {
        std::iter::from_fn(|| self.next_ok()).collect()
    }

    /// Sends an event to the window.
    pub fn emit(&self, ev: Event) {
        self.events.send(ev).expect("the window listens");
    }

    pub fn ring_in(&self, id: &str, number: &str) {
        self.emit(
            Event::new(EventKind::Ringing {
                direction: Direction::Incoming,
                remote_number: Some(number.into()),
            })
            .with_call(id),
        );
    }

    pub fn on(&self, kind: EventKind, id: &str) {
        self.emit(Event::new(kind).with_call(id));
    }
}

pub fn settings() -> RawSettings {
    RawSettings {
        account: Account {
            server: "127.0.0.1:5060".into(),
            user: "1910".into(),
            password: "sip-secret".into(),
            local_addr: None,
            expires: 300,
            transport: "udp".into(),
            outbound_proxy: None,
        },
        ..RawSettings::default()
    }
}

/// A registered window in `lang`, with the status request answered.
pub fn window(lang: Lang) -> (Harness<'static, OperatorWindow>, FakeCore) {
    window_with(lang, settings())
}

pub fn window_with(lang: Lang, raw: RawSettings) -> (Harness<'static, OperatorWindow>, FakeCore) {
    let (w, core, cjk) = parts(lang, raw);
    let mut harness = builder(lang, cjk, [1100.0, 900.0])
        .build_ui_state(|ui, w: &mut OperatorWindow| w.frame(ui), w);
    harness.run();
    core.emit(Event::new(EventKind::Registration {
        state: RegistrationState::Registered,
        reason: None,
    }));
    harness.run();
    (harness, core)
}

/// A harness builder of `size` with the fonts for `lang` installed before
/// the first frame. A CJK font is required (fonts-noto-cjk, installed by
/// `cargo xtask setup`): without one the Japanese and Chinese labels would
/// be tofu and the language buttons fall back to English names.
pub fn builder(
    lang: Lang,
    cjk: Option<fonts::CjkFont>,
    size: [f32; 2],
) -> HarnessBuilder<OperatorWindow> {
    let cjk = Some(cjk.unwrap_or_else(|| {
        panic!(
            "{}",
            bb_testenv::missing_program("a CJK font", "fonts-noto-cjk")
        )
    }));
    Harness::builder()
        .with_size(size)
        .with_context_setup(move |ctx| fonts::install(ctx, cjk.as_ref(), lang))
}

/// A window in `lang` over a fake core whose status request is answered
/// (registered as 1910), and the CJK font used.
pub fn parts(lang: Lang, raw: RawSettings) -> (OperatorWindow, FakeCore, Option<fonts::CjkFont>) {
    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    let (ev_tx, ev_rx) = broadcast::channel(256);
    let dir = tempfile::tempdir().expect("temp dir");
    let settings_path = dir.path().join("bbclient.toml");
    softphone::settings_store::save(&settings_path, &raw).expect("seed settings");
    let prefs_path = dir.path().join("ui.toml");
    let cjk = fonts::load();
    let setup = WindowSetup {
        settings_path: settings_path.clone(),
        settings: raw,
        prefs_path: prefs_path.clone(),
        prefs: UiPrefs::default(),
        lang,
        history: History::open_in_memory().map_err(|e| e.to_string()),
        cjk: cjk.clone(),
        instance: "test".into(),
        config_home: Some(dir.path().join("config")),
    };
    let mut w = OperatorWindow::new(
        CoreLink {
            commands: cmd_tx,
            events: ev_rx,
            settings: None,
        },
        setup,
    );
    w.fonts_installed(lang);
    let mut core = FakeCore {
        commands: cmd_rx,
        events: ev_tx,
        dir,
        settings_path,
        prefs_path,
    };
    let status = core.next().expect("the window asks for the status first");
    assert_eq!(status.body, RequestBody::Status);
    let _ = status.reply.send(Ok(Some(serde_json::json!({
        "extension": "1910",
        "registration": {"state": "registered"},
        "calls": [],
    }))));
    (w, core, cjk)
}
