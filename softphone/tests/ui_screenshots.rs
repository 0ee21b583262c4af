//! Screenshots of the window in Japanese, English and Chinese, rendered
//! headless with wgpu (a software adapter such as Mesa's lavapipe does; no
//! display), and compared with the images in `docs/screenshots/`.
//!
//! The images are the documentation and the snapshot at once: a change to
//! the window that moves a pixel fails here until the images are renewed
//! with `UPDATE_SNAPSHOTS=force cargo test -p softphone --test
//! ui_screenshots` (then look at them). The render fails (kittest panics)
//! on any character no installed font can draw, so these images cannot
//! hold tofu; that needs a CJK font (`fonts-noto-cjk`), which this test
//! requires.
//!
//! Times are fixed (TZ=JST-9, fixed history rows) so the images do not
//! depend on the clock.

mod ui_fake;

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use eframe::egui;
use egui_kittest::SnapshotOptions;
use egui_kittest::kittest::Queryable as _;

use bb_verbs::wire::{Direction, Event, EventKind};
use softphone::config::{Detail, Popup, RawSettings};
use softphone::history::{CallResult, HistoryRow};
use softphone::ui::i18n::Lang;
use softphone::ui::settings_form::Tab;
use softphone::ui::window::{MAIN_HEIGHT, MAIN_WIDTH, OperatorWindow, PAD_WIDTH};

fn out_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots")
}

fn options() -> SnapshotOptions {
    SnapshotOptions::new().output_path(out_dir())
}

/// Settings as in the vendor guide's example (WEB-3, CMD-6).
fn guide_settings() -> RawSettings {
    let mut raw = ui_fake::settings();
    raw.operator.login_id = "op1910".into();
    raw.operator.password = "op-secret".into();
    raw.web.popup = Some(Popup {
        method: "GET".into(),
        url: "https://crm.test.com/softphone/popup/in?".into(),
        params: "number=%CallerNumber%\noutline=%OutLineNumber%\ncampaignid=1234\nuser_name=test_user\nuser_password=test_pass".into(),
    });
    raw.web.detail = Some(Detail {
        method: "GET".into(),
        url: "https://crm.test.com/softphone/detail".into(),
        params: "number=%CallerNumber%\ncallid=%CallId%".into(),
        open_browser_on_ring: true,
        browser: String::new(),
    });
    raw.command.on_ring = "/opt/testcrm/crm %CallerNumber% %OutLineNumber%".into();
    raw
}

fn check_font() {
    assert!(
        softphone::ui::fonts::load().is_some(),
        "the screenshots need a CJK font: install fonts-noto-cjk (or set BBCLIENT_CJK_FONT)"
    );
}

fn main_window(lang: Lang, results: &mut egui_kittest::SnapshotResults) {
    let (w, core, cjk) = ui_fake::parts(lang, guide_settings());
    let mut h = ui_fake::builder(lang, cjk.clone(), [MAIN_WIDTH, MAIN_HEIGHT])
        .wgpu()
        .with_render_cursor(false)
        .build_ui_state(|ui, w: &mut OperatorWindow| w.frame(ui), w);
    h.run();
    results.add(h.try_snapshot_options(format!("main_{}", lang.code()), &options()));

    // Dial pad open, a number pasted, a call ringing.
    h.state_mut().press_key('0');
    h.event(egui::Event::Paste("03-1234-5678".into()));
    h.run();
    core.emit(
        Event::new(EventKind::Ringing {
            direction: Direction::Incoming,
            remote_number: Some("0501234567".into()),
        })
        .with_call("shot-ring"),
    );
    h.run();
    let toggle = softphone::ui::i18n::Tr::new(lang).t("btn-dialpad");
    h.get_by_label(&toggle).click();
    h.run();
    h.remove_cursor();
    h.run();
    assert!(h.state().pad_open());
    h.set_size(egui::vec2(MAIN_WIDTH + PAD_WIDTH, MAIN_HEIGHT));
    h.run();
    results
        .add(h.try_snapshot_options(format!("main-dialpad-ringing_{}", lang.code()), &options()));
}

fn settings_windows(lang: Lang, results: &mut egui_kittest::SnapshotResults) {
    for (tab, name) in [
        (Tab::Account, "account"),
        (Tab::Web, "web"),
        (Tab::Command, "command"),
        (Tab::Other, "other"),
    ] {
        let (mut w, _core, cjk) = ui_fake::parts(lang, guide_settings());
        w.show_settings(tab);
        let mut h = ui_fake::builder(lang, cjk, [640.0, 760.0])
            .wgpu()
            .with_render_cursor(false)
            .build_ui_state(
                |ui, w: &mut OperatorWindow| {
                    w.pump();
                    egui::CentralPanel::default().show(ui, |ui| w.settings_ui(ui));
                },
                w,
            );
        h.run();
        results.add(h.try_snapshot_options(format!("settings-{name}_{}", lang.code()), &options()));
    }
}

fn popup_window(lang: Lang, results: &mut egui_kittest::SnapshotResults) {
    let (w, core, cjk) = ui_fake::parts(lang, guide_settings());
    for (id, number, text) in [
        ("c1", "0312345678", "Sato Hanako / customer 7781"),
        (
            "c2",
            "0501234567",
            "山田 太郎 様\n顧客ID: 42\n前回対応: 2024-05-01 請求書の再発行\n優先度: 高",
        ),
    ] {
        core.emit(
            Event::new(EventKind::Ringing {
                direction: Direction::Incoming,
                remote_number: Some(number.into()),
            })
            .with_call(id),
        );
        core.emit(Event::new(EventKind::Popup { text: text.into() }).with_call(id));
    }
    let mut h = ui_fake::builder(lang, cjk, [440.0, 320.0])
        .wgpu()
        .with_render_cursor(false)
        .build_ui_state(
            |ui, w: &mut OperatorWindow| {
                w.pump();
                egui::CentralPanel::default().show(ui, |ui| w.popup_ui(ui));
            },
            w,
        );
    h.run();
    assert_eq!(h.state().popups().entries().len(), 2);
    results.add(h.try_snapshot_options(format!("popup_{}", lang.code()), &options()));
}

fn history_window(lang: Lang, results: &mut egui_kittest::SnapshotResults) {
    let (mut w, _core, cjk) = ui_fake::parts(lang, guide_settings());
    let t0 = UNIX_EPOCH + Duration::from_secs(1_717_200_000); // 2024-06-01 09:00 JST
    let ms = |d: Duration| {
        i64::try_from(
            (t0 + d)
                .duration_since(UNIX_EPOCH)
                .map(|x| x.as_millis())
                .unwrap_or(0),
        )
        .unwrap_or(0)
    };
    let rows = [
        (
            Direction::Incoming,
            "0312345678",
            Some("0501234567"),
            0,
            61_000,
            CallResult::Answered,
        ),
        (
            Direction::Incoming,
            "0120000000",
            Some("0501234567"),
            600,
            0,
            CallResult::Missed,
        ),
        (Direction::Outgoing, "1330", None, 1200, 0, CallResult::Busy),
        (
            Direction::Outgoing,
            "0668765432",
            None,
            1800,
            3_723_000,
            CallResult::Answered,
        ),
        (
            Direction::Incoming,
            "",
            Some("0501234568"),
            2400,
            12_000,
            CallResult::Transferred,
        ),
    ];
    for (direction, number, line, at, duration_ms, result) in rows {
        w.history_mut()
            .expect("history open")
            .insert(&HistoryRow {
                id: 0,
                call_id: format!("h{at}"),
                direction,
                number: number.into(),
                outside_line: line.map(str::to_owned),
                started_at_ms: ms(Duration::from_secs(at)),
                duration_ms,
                result,
            })
            .expect("insert");
    }
    w.show_history();
    let mut h = ui_fake::builder(lang, cjk, [600.0, 300.0])
        .wgpu()
        .with_render_cursor(false)
        .build_ui_state(
            |ui, w: &mut OperatorWindow| {
                w.pump();
                egui::CentralPanel::default().show(ui, |ui| w.history_ui(ui));
            },
            w,
        );
    h.run();
    assert_eq!(h.state().history_rows().len(), 5);
    results.add(h.try_snapshot_options(format!("history_{}", lang.code()), &options()));
}

#[test]
fn screenshots_in_every_language() {
    // SAFETY: this binary has this one test, which sets the variable before
    // any other thread or SQLite reads the time zone.
    unsafe { std::env::set_var("TZ", "JST-9") };
    check_font();
    let mut results = egui_kittest::SnapshotResults::new();
    for lang in Lang::ALL {
        main_window(lang, &mut results);
        settings_windows(lang, &mut results);
        popup_window(lang, &mut results);
        history_window(lang, &mut results);
    }
    if let Err(errors) = results.into_result() {
        panic!(
            "{} screenshot(s) differ from docs/screenshots",
            errors.into_inner().len()
        );
    }
}
