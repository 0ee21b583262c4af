//! The operator's window against a fake core (UI-1…UI-7, WEB-1, WEB-4,
//! WEB-7, CALL-3, ACD-1, Q-4): clicks, typing, paste, key presses and tab
//! switches through egui_kittest, no display needed. Every check reads what
//! the window shows (its accessibility tree) or what it sent on the verb
//! channel.

mod ui_fake;

use eframe::egui;
use egui_kittest::kittest::{NodeT as _, Queryable as _};

use bb_verbs::normalize_number;
use bb_verbs::wire::{Direction, Event, EventKind, HangupCause, OperatorState, RequestBody};
use softphone::ui::i18n::Lang;
use softphone::ui::window::{MAIN_WIDTH, PAD_WIDTH};
use ui_fake::{FakeCore, window};

type H = egui_kittest::Harness<'static, softphone::ui::window::OperatorWindow>;

fn num(s: &str) -> bb_verbs::DialNumber {
    normalize_number(s).expect("test number")
}

fn has_text(h: &H, text: &str) -> bool {
    h.query_all_by_label_contains(text).next().is_some()
}

/// Focuses the `nth` node labelled `label` (optionally of `role`), then
/// types `text` into it, as a person clicking a field and typing would.
fn type_into(h: &mut H, label: &str, nth: usize, text: &str) {
    h.get_all_by_label(label)
        .filter(|n| {
            matches!(
                n.accesskit_node().role(),
                egui::accesskit::Role::TextInput
                    | egui::accesskit::Role::MultilineTextInput
                    | egui::accesskit::Role::PasswordInput
            )
        })
        .nth(nth)
        .unwrap_or_else(|| panic!("text field {label:?} #{nth}"))
        .focus();
    h.run();
    h.event(egui::Event::Text(text.into()));
    h.run();
}

fn field_value(h: &H, label: &str, nth: usize) -> Option<String> {
    h.get_all_by_label(label)
        .filter(|n| {
            matches!(
                n.accesskit_node().role(),
                egui::accesskit::Role::TextInput
                    | egui::accesskit::Role::MultilineTextInput
                    | egui::accesskit::Role::PasswordInput
            )
        })
        .nth(nth)
        .and_then(|n| n.value())
}

fn enabled(h: &H, label: &str) -> bool {
    !h.get_by_label(label).accesskit_node().is_disabled()
}

fn click(h: &mut H, label: &str) {
    h.get_by_label(label).click();
    h.run();
}

fn number_field(h: &H) -> String {
    h.state().number().text().to_owned()
}

fn talking(h: &mut H, core: &FakeCore, id: &str, number: &str) {
    core.ring_in(id, number);
    core.on(EventKind::Answered, id);
    h.run();
}

// ---------------------------------------------------------------------------
// UI-1: the status bar
// ---------------------------------------------------------------------------

#[test]
fn ui1_status_bar_shows_extension_and_line_state_from_events() {
    let (mut h, core) = window(Lang::Ja);
    assert!(has_text(&h, "1910"), "own extension shown");
    assert!(has_text(&h, "ダイヤルできます"));
    core.ring_in("c1", "0312345678");
    h.run();
    assert!(has_text(&h, "着信中 0312345678"));
    core.on(EventKind::Answered, "c1");
    h.run();
    assert!(has_text(&h, "通話中 0312345678"));
    core.on(EventKind::Held, "c1");
    h.run();
    assert!(has_text(&h, "保留中 0312345678"));
    core.on(
        EventKind::HungUp {
            cause: HangupCause::Remote,
            duration_ms: 1000,
        },
        "c1",
    );
    h.run();
    assert!(has_text(&h, "ダイヤルできます"));
    core.emit(Event::new(EventKind::Registration {
        state: bb_verbs::wire::RegistrationState::Failed,
        reason: Some("403 Forbidden".into()),
    }));
    h.run();
    assert!(has_text(&h, "登録できません: 403 Forbidden"));
}

#[test]
fn ui1_outgoing_call_shows_calling_then_talking() {
    let (mut h, core) = window(Lang::En);
    core.emit(Event::new(EventKind::Ringing {
        direction: Direction::Outgoing,
        remote_number: Some("1330".into()),
    }));
    h.run();
    assert!(has_text(&h, "Calling 1330"));
    core.on(EventKind::Answered, "out-1");
    h.run();
    assert!(has_text(&h, "Talking 1330"));
}

// ---------------------------------------------------------------------------
// UI-2: the dial pad
// ---------------------------------------------------------------------------

fn requested_width(h: &H) -> Option<f32> {
    let out = h.output();
    out.viewport_output
        .get(&egui::ViewportId::ROOT)
        .and_then(|v| {
            v.commands.iter().rev().find_map(|c| match c {
                egui::ViewportCommand::InnerSize(size) => Some(size.x),
                _ => None,
            })
        })
}

#[test]
fn ui2_dial_pad_toggles_on_the_right_and_the_window_grows() {
    let (mut h, mut core) = window(Lang::Ja);
    assert!(h.query_by_label("5").is_none(), "pad hidden at start");
    h.get_by_label("ダイヤルパッド").click();
    h.step();
    assert_eq!(requested_width(&h), Some(MAIN_WIDTH + PAD_WIDTH));
    h.run();
    assert!(h.state().pad_open());
    let five = h.get_by_label("5").rect();
    let call = h.get_by_label("通話").rect();
    assert!(
        five.left() > call.right(),
        "the pad is right of the buttons"
    );
    for key in ["0", "3", "5", "#"] {
        click(&mut h, key);
    }
    assert_eq!(number_field(&h), "035#");
    click(&mut h, "1文字削除");
    assert_eq!(number_field(&h), "035");
    h.get_by_label("ダイヤルパッド").click();
    h.step();
    assert_eq!(requested_width(&h), Some(MAIN_WIDTH));
    h.run();
    assert!(h.query_by_label("5").is_none(), "pressing again hides it");
    assert!(core.drain_ok().is_empty(), "keys only filled the field");
}

#[test]
fn ui2_pad_sends_dtmf_while_talking() {
    let (mut h, mut core) = window(Lang::En);
    talking(&mut h, &core, "c1", "0312345678");
    click(&mut h, "Dial pad");
    click(&mut h, "7");
    assert_eq!(
        core.drain_ok(),
        vec![RequestBody::Dtmf {
            digits: bb_verbs::DtmfDigits::parse("7").expect("digit")
        }]
    );
    assert_eq!(number_field(&h), "");
}

// ---------------------------------------------------------------------------
// UI-3: keyboard digits with the pad hidden
// ---------------------------------------------------------------------------

#[test]
fn ui3_keyboard_digits_dial_with_the_pad_hidden() {
    let (mut h, mut core) = window(Lang::Ja);
    assert!(!h.state().pad_open());
    h.event(egui::Event::Text("0312".into()));
    h.run();
    h.event(egui::Event::Text("x".into()));
    h.run();
    assert_eq!(number_field(&h), "0312", "letters are not dial keys");
    h.key_press(egui::Key::Backspace);
    h.run();
    assert_eq!(number_field(&h), "031");
    h.event(egui::Event::Text("2-3".into()));
    h.run();
    assert_eq!(number_field(&h), "03123");
    h.key_press(egui::Key::Enter);
    h.run();
    assert_eq!(
        core.drain_ok(),
        vec![RequestBody::Call {
            number: num("03123")
        }]
    );
    h.run();
    assert_eq!(
        number_field(&h),
        "",
        "cleared once the core accepted the call"
    );
}

// ---------------------------------------------------------------------------
// UI-4: paste and normalisation
// ---------------------------------------------------------------------------

#[test]
fn ui4_paste_into_the_field_removes_hyphens() {
    let (mut h, _core) = window(Lang::Ja);
    h.get_by_label("電話番号").focus();
    h.run();
    h.event(egui::Event::Paste("03-1234-5678".into()));
    h.run();
    assert_eq!(number_field(&h), "0312345678");
    assert_eq!(
        field_value(&h, "電話番号", 0).as_deref(),
        Some("0312345678")
    );
}

#[test]
fn ui4_typing_and_full_width_paste_are_normalised() {
    let (mut h, _core) = window(Lang::En);
    type_into(&mut h, "Number", 0, "090-1234-5678");
    h.run();
    assert_eq!(number_field(&h), "09012345678");
    // Paste with the field unfocused (Ctrl+V anywhere in the window).
    h.state_mut().press_key('#');
    h.get_by_label("Call").focus();
    h.run();
    h.event(egui::Event::Paste("（０３）１２３４－５６７８".into()));
    h.run();
    assert_eq!(number_field(&h), "0312345678");
}

#[test]
fn ui4_refusal_is_shown_beside_the_field_and_nothing_is_dialled() {
    let (mut h, mut core) = window(Lang::Ja);
    h.get_by_label("電話番号").focus();
    h.run();
    h.event(egui::Event::Paste("03x1".into()));
    h.run();
    assert_eq!(number_field(&h), "03x1");
    assert!(has_text(&h, "「x」(3文字目)は使えません"));
    assert!(!enabled(&h, "通話"));
    h.key_press(egui::Key::Enter);
    h.run();
    assert!(core.drain_ok().is_empty());
    // English says the same thing in English.
    let (mut h, _core) = window(Lang::En);
    type_into(&mut h, "Number", 0, "12;3");
    h.run();
    assert!(has_text(&h, "';' at position 3 cannot be dialled"));
}

// ---------------------------------------------------------------------------
// UI-5: the buttons
// ---------------------------------------------------------------------------

#[test]
fn ui5_idle_buttons_and_call() {
    let (mut h, mut core) = window(Lang::Ja);
    for b in ["通話", "保留", "転送", "切断"] {
        assert!(!enabled(&h, b), "{b} disabled when idle with no number");
    }
    assert!(enabled(&h, "設定") && enabled(&h, "履歴"));
    type_into(&mut h, "電話番号", 0, "1330");
    h.run();
    assert!(enabled(&h, "通話"));
    assert!(!enabled(&h, "保留") && !enabled(&h, "転送") && !enabled(&h, "切断"));
    click(&mut h, "通話");
    assert_eq!(
        core.drain_ok(),
        vec![RequestBody::Call {
            number: num("1330")
        }]
    );
}

#[test]
fn ui5_ringing_call_is_answered_by_call_and_rejected_by_hang_up() {
    let (mut h, mut core) = window(Lang::Ja);
    core.ring_in("c1", "0312345678");
    h.run();
    assert!(enabled(&h, "通話") && enabled(&h, "切断"));
    assert!(!enabled(&h, "保留"));
    click(&mut h, "通話");
    assert_eq!(core.drain_ok(), vec![RequestBody::Answer]);
    click(&mut h, "切断");
    assert_eq!(core.drain_ok(), vec![RequestBody::Hangup]);
}

#[test]
fn ui5_hold_resume_and_hang_up() {
    let (mut h, mut core) = window(Lang::Ja);
    talking(&mut h, &core, "c1", "0312345678");
    assert!(!enabled(&h, "通話"), "no second call while talking");
    click(&mut h, "保留");
    assert_eq!(core.drain_ok(), vec![RequestBody::Hold]);
    core.on(EventKind::Held, "c1");
    h.run();
    assert!(h.query_by_label("保留").is_none());
    click(&mut h, "保留解除");
    assert_eq!(core.drain_ok(), vec![RequestBody::Unhold]);
    core.on(EventKind::Unheld, "c1");
    h.run();
    click(&mut h, "切断");
    assert_eq!(core.drain_ok(), vec![RequestBody::Hangup]);
}

#[test]
fn ui5_held_transfer_then_complete() {
    let (mut h, mut core) = window(Lang::Ja);
    talking(&mut h, &core, "c1", "0312345678");
    assert!(!enabled(&h, "転送"), "transfer needs a number");
    type_into(&mut h, "電話番号", 0, "1303");
    h.run();
    click(&mut h, "転送");
    assert_eq!(
        core.drain_ok(),
        vec![RequestBody::Transfer {
            number: num("1303")
        }]
    );
    core.on(EventKind::Held, "c1");
    core.emit(Event::new(EventKind::Ringing {
        direction: Direction::Outgoing,
        remote_number: Some("1303".into()),
    }));
    core.on(EventKind::Answered, "consult");
    h.run();
    assert!(has_text(&h, "通話中 1303"));
    click(&mut h, "転送完了");
    assert_eq!(core.drain_ok(), vec![RequestBody::TransferComplete]);
    core.on(
        EventKind::Transferred {
            target: "1303".into(),
        },
        "c1",
    );
    h.run();
    assert!(has_text(&h, "1303 へ転送しました"));
}

#[test]
fn ui5_blind_transfer_from_the_menu_and_shift_click() {
    let (mut h, mut core) = window(Lang::En);
    talking(&mut h, &core, "c1", "0312345678");
    type_into(&mut h, "Number", 0, "1303");
    h.run();
    click(&mut h, "Transfer options");
    click(&mut h, "Blind transfer");
    assert_eq!(
        core.drain_ok(),
        vec![RequestBody::BlindTransfer {
            number: num("1303")
        }]
    );
    type_into(&mut h, "Number", 0, "1304");
    h.run();
    h.get_by_label("Transfer")
        .click_modifiers(egui::Modifiers::SHIFT);
    h.run();
    assert_eq!(
        core.drain_ok(),
        vec![RequestBody::BlindTransfer {
            number: num("1304")
        }]
    );
}

#[test]
fn ui5_core_refusal_is_shown() {
    let (mut h, mut core) = window(Lang::En);
    talking(&mut h, &core, "c1", "1");
    click(&mut h, "Hold");
    let cmd = core.next().expect("hold sent");
    assert_eq!(cmd.body, RequestBody::Hold);
    let _ = cmd
        .reply
        .send(Err("hold refused: the call is being transferred".into()));
    h.run();
    assert!(has_text(
        &h,
        "hold: hold refused: the call is being transferred"
    ));
}

// ---------------------------------------------------------------------------
// UI-6 / ACD-1: operator login and the language switch
// ---------------------------------------------------------------------------

#[test]
fn ui6_login_sends_the_verb_and_shows_the_reply() {
    let (mut h, mut core) = window(Lang::Ja);
    type_into(&mut h, "ログインID", 0, "op1");
    type_into(&mut h, "パスワード", 0, "op-secret");
    h.run();
    click(&mut h, "ログイン");
    let cmd = core.next().expect("login sent");
    match &cmd.body {
        RequestBody::Login {
            login_id: Some(id),
            password: Some(pw),
        } => {
            assert_eq!(id.as_str(), "op1");
            assert_eq!(pw.expose(), "op-secret");
        }
        other => panic!("expected login with id and password, got {other:?}"),
    }
    let _ = cmd.reply.send(Err(
        "'login' is not available in this version of bbclient yet".into(),
    ));
    h.run();
    assert!(has_text(
        &h,
        "'login' is not available in this version of bbclient yet"
    ));
    assert!(!enabled(&h, "ログアウト"));
    core.emit(Event::new(EventKind::Operator {
        state: OperatorState::LoggedIn,
        login_id: Some("op1".into()),
        reason: None,
    }));
    h.run();
    assert!(has_text(&h, "ログイン中: op1"));
    assert!(!enabled(&h, "ログイン"));
    click(&mut h, "ログアウト");
    assert_eq!(core.drain_ok(), vec![RequestBody::Logout]);
}

#[test]
fn ui6_bad_login_id_is_refused_beside_the_field() {
    let (mut h, mut core) = window(Lang::En);
    type_into(&mut h, "Login ID", 0, "op 1");
    h.run();
    click(&mut h, "Log in");
    assert!(core.drain_ok().is_empty());
    assert!(has_text(&h, "login id refused"));
}

#[test]
fn ui6_language_switch_changes_every_string_at_once() {
    let (mut h, core) = window(Lang::Ja);
    core.ring_in("c1", "1");
    h.run();
    for label in ["通話", "保留", "転送", "切断", "設定", "履歴", "ログイン"] {
        assert!(h.query_by_label(label).is_some(), "{label}");
    }
    click(&mut h, "English");
    for label in [
        "Call", "Hold", "Transfer", "Hang up", "Settings", "History", "Log in",
    ] {
        assert!(h.query_by_label(label).is_some(), "{label}");
    }
    assert!(has_text(&h, "Ringing 1"));
    assert!(h.query_by_label("通話").is_none());
    click(&mut h, "中文");
    for label in ["通话", "保持", "转接", "挂断", "设置", "历史记录", "登录"] {
        assert!(h.query_by_label(label).is_some(), "{label}");
    }
    assert!(has_text(&h, "来电 1"));
    assert_eq!(h.state().lang(), Lang::Zh);
    let prefs = std::fs::read_to_string(&core.prefs_path).expect("language saved");
    assert!(prefs.contains("language = \"zh\""), "{prefs}");
}

// ---------------------------------------------------------------------------
// UI-7, WEB-1…WEB-7, CMD-1…CMD-6, Q-4: settings
// ---------------------------------------------------------------------------

#[test]
fn ui7_four_tabs_switch() {
    let (mut h, _core) = window(Lang::Ja);
    click(&mut h, "設定");
    for tab in [
        "アカウント設定",
        "Web連携設定",
        "コマンド連携設定",
        "その他設定",
    ] {
        assert!(h.query_by_label(tab).is_some(), "{tab}");
    }
    assert!(h.query_by_label("サーバー").is_some());
    click(&mut h, "Web連携設定");
    assert!(has_text(&h, "ポップアップ情報設定"));
    assert!(has_text(&h, "詳細情報設定"));
    assert!(h.query_by_label("着信時ブラウザ起動").is_some());
    assert!(h.query_by_label("内線通話の場合に動作しない").is_some());
    click(&mut h, "コマンド連携設定");
    for l in ["着信時アクセス", "応答時アクセス", "切断時アクセス"] {
        assert!(field_value(&h, l, 0).is_some(), "{l}");
    }
    assert!(has_text(&h, "パラメータ選択"));
    click(&mut h, "その他設定");
    assert!(h.query_by_label("マイク").is_some());
    assert!(has_text(&h, "コーデック優先順位"));
    assert!(
        h.query_by_label("システム起動時にソフトフォンを開始する")
            .is_some()
    );
    assert!(h.query_by_label("保存").is_some() && h.query_by_label("キャンセル").is_some());
}

#[test]
fn ui7_cancel_discards_edits() {
    let (mut h, core) = window(Lang::Ja);
    let before = std::fs::read_to_string(&core.settings_path).expect("settings");
    click(&mut h, "設定");
    type_into(&mut h, "ユーザー(内線番号)", 0, "99");
    h.run();
    click(&mut h, "キャンセル");
    assert!(
        h.query_by_label("アカウント設定").is_none(),
        "window closed"
    );
    assert_eq!(
        std::fs::read_to_string(&core.settings_path).expect("settings"),
        before
    );
    assert_eq!(h.state().settings().account.user, "1910");
    click(&mut h, "設定");
    assert_eq!(
        field_value(&h, "ユーザー(内線番号)", 0).as_deref(),
        Some("1910"),
        "the edit was dropped"
    );
}

#[test]
fn web_settings_with_placeholders_are_saved_atomically_and_privately() {
    use std::os::unix::fs::PermissionsExt as _;
    let (mut h, core) = window(Lang::Ja);
    click(&mut h, "設定");
    click(&mut h, "Web連携設定");
    h.get_all_by_label("POST")
        .next()
        .expect("popup POST")
        .click();
    h.run();
    type_into(
        &mut h,
        "送信先URL",
        0,
        "https://crm.test.com/softphone/popup/in?",
    );
    type_into(
        &mut h,
        "送信先URL",
        1,
        "https://crm.test.com/softphone/detail",
    );
    const PARAMS: &str = "パラメータ (1パラメータ1行)";
    type_into(&mut h, PARAMS, 0, "number=");
    // The six buttons insert at the cursor of their own box.
    assert_eq!(h.get_all_by_label("相手番号").count(), 2, "one set per box");
    h.get_all_by_label("相手番号")
        .next()
        .expect("button")
        .click();
    h.run();
    type_into(&mut h, PARAMS, 0, "\noutline=");
    h.get_all_by_label("自社番号")
        .next()
        .expect("button")
        .click();
    h.run();
    type_into(&mut h, PARAMS, 1, "call=");
    h.get_all_by_label("コールID")
        .nth(1)
        .expect("button")
        .click();
    h.run();
    assert_eq!(
        field_value(&h, PARAMS, 0).as_deref(),
        Some("number=%CallerNumber%\noutline=%OutLineNumber%")
    );
    click(&mut h, "着信時ブラウザ起動");
    click(&mut h, "保存");
    assert!(
        h.query_by_label("Web連携設定").is_none(),
        "closed after saving"
    );
    let saved = softphone::config::Settings::load(&core.settings_path).expect("valid file");
    let popup = saved.raw.web.popup.expect("popup saved");
    assert_eq!(popup.method, "POST");
    assert_eq!(popup.url, "https://crm.test.com/softphone/popup/in?");
    assert_eq!(
        popup.params,
        "number=%CallerNumber%\noutline=%OutLineNumber%"
    );
    let detail = saved.raw.web.detail.expect("detail saved");
    assert_eq!(detail.method, "GET", "detail view is GET only (WEB-4)");
    assert_eq!(detail.params, "call=%CallId%");
    assert!(detail.open_browser_on_ring);
    assert_eq!(
        saved.raw.account.password, "sip-secret",
        "untouched fields kept"
    );
    let mode = std::fs::metadata(&core.settings_path)
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "Q-4");
    assert!(has_text(&h, "保存しました"));
}

#[test]
fn web_settings_errors_are_shown_beside_the_field_and_block_saving() {
    let (mut h, core) = window(Lang::En);
    let before = std::fs::read_to_string(&core.settings_path).expect("settings");
    click(&mut h, "Settings");
    click(&mut h, "Web integration");
    type_into(&mut h, "URL", 0, "https://crm.test.com/in");
    type_into(&mut h, "Parameters (one per line)", 0, "campaignid 1234");
    assert!(has_text(
        &h,
        "popup parameters, line 1: 'campaignid 1234' has no '=' (write name=value)"
    ));
    click(&mut h, "Save");
    assert!(has_text(&h, "Some entries are wrong"));
    assert!(
        h.query_by_label("Web integration (!)").is_some(),
        "tab marked"
    );
    assert_eq!(
        std::fs::read_to_string(&core.settings_path).expect("settings"),
        before
    );
}

#[test]
fn command_settings_insert_into_the_chosen_line() {
    let (mut h, core) = window(Lang::Ja);
    click(&mut h, "設定");
    click(&mut h, "コマンド連携設定");
    type_into(&mut h, "応答時アクセス", 0, "/opt/crm/answer ");
    click(&mut h, "相手番号");
    type_into(&mut h, "応答時アクセス", 0, " ");
    h.get_all_by_label("ログインID")
        .find(|n| n.accesskit_node().role() == egui::accesskit::Role::Button)
        .expect("placeholder button")
        .click();
    h.run();
    assert_eq!(
        field_value(&h, "応答時アクセス", 0).as_deref(),
        Some("/opt/crm/answer %CallerNumber% %OpId%")
    );
    type_into(&mut h, "切断時アクセス", 0, "'unterminated");
    assert!(
        has_text(&h, "command line"),
        "quoting error beside the field"
    );
    type_into(&mut h, "切断時アクセス", 0, "'");
    // The target radio picks the line the buttons insert into.
    type_into(&mut h, "着信時アクセス", 0, "/opt/crm/ring ");
    type_into(&mut h, "応答時アクセス", 0, "");
    h.get_all_by_label("着信時アクセス")
        .find(|n| n.accesskit_node().role() == egui::accesskit::Role::RadioButton)
        .expect("target radio")
        .click();
    h.run();
    click(&mut h, "コールID");
    assert_eq!(
        field_value(&h, "着信時アクセス", 0).as_deref(),
        Some("/opt/crm/ring %CallId%")
    );
    click(&mut h, "内線通話の場合に動作しない");
    click(&mut h, "保存");
    let saved = softphone::config::Settings::load(&core.settings_path).expect("valid file");
    assert_eq!(
        saved.raw.command.on_answer,
        "/opt/crm/answer %CallerNumber% %OpId%"
    );
    assert_eq!(saved.raw.command.on_hangup, "'unterminated'");
    assert_eq!(saved.raw.command.on_ring, "/opt/crm/ring %CallId%");
    assert!(
        !saved.raw.command.skip_internal,
        "checkbox toggled from the default"
    );
}

#[test]
fn account_errors_name_the_field() {
    let (mut h, core) = window(Lang::Ja);
    click(&mut h, "設定");
    type_into(&mut h, "ユーザー(内線番号)", 0, "");
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.key_press(egui::Key::Backspace);
    h.run();
    assert_eq!(
        field_value(&h, "ユーザー(内線番号)", 0).as_deref(),
        Some("")
    );
    assert!(has_text(&h, "入力してください"));
    click(&mut h, "保存");
    assert!(h.query_by_label("アカウント設定 (!)").is_some());
    assert_eq!(
        softphone::config::Settings::load(&core.settings_path)
            .expect("old file")
            .raw
            .account
            .user,
        "1910"
    );
}

#[test]
fn other_settings_audio_codecs_language_and_autostart_are_saved() {
    let (mut h, core) = window(Lang::Ja);
    click(&mut h, "設定");
    click(&mut h, "その他設定");
    type_into(&mut h, "マイク", 0, "USB Headset");
    // opus, PCMU, PCMA: move PCMU up, stop offering PCMA.
    h.get_all_by_label("上へ")
        .nth(1)
        .expect("up for PCMU")
        .click();
    h.run();
    click(&mut h, "PCMA");
    h.get_by_label("表示言語").click();
    h.run();
    click(&mut h, "English (en)");
    click(&mut h, "システム起動時にソフトフォンを開始する");
    click(&mut h, "保存");
    assert_eq!(h.state().lang(), Lang::En);
    assert!(h.query_by_label("Call").is_some());
    let saved = softphone::config::Settings::load(&core.settings_path).expect("valid file");
    assert_eq!(saved.raw.audio.input_device, "USB Headset");
    assert_eq!(saved.raw.audio.codecs, ["PCMU", "opus"]);
    let prefs = softphone::ui::prefs::UiPrefs::load(&core.prefs_path);
    assert_eq!(prefs.language, "en");
    assert!(prefs.start_with_system);
    let autostart = core
        .dir
        .path()
        .join("config/autostart/bbclient-test.desktop");
    let entry = std::fs::read_to_string(&autostart).expect("autostart entry written");
    assert!(entry.contains("--instance test --config"), "{entry}");
}

#[test]
fn no_codec_is_refused_beside_the_list() {
    let (mut h, core) = window(Lang::En);
    let before = std::fs::read_to_string(&core.settings_path).expect("settings");
    click(&mut h, "Settings");
    click(&mut h, "Other");
    for codec in ["opus", "PCMU", "PCMA"] {
        click(&mut h, codec);
    }
    assert!(has_text(&h, "Choose at least one codec"));
    click(&mut h, "Save");
    assert!(h.query_by_label("Other (!)").is_some());
    assert_eq!(
        std::fs::read_to_string(&core.settings_path).expect("settings"),
        before
    );
}

// ---------------------------------------------------------------------------
// WEB-1, WEB-4: the popup
// ---------------------------------------------------------------------------

#[test]
fn popup_shows_the_crm_answer_and_details_sends_the_verb() {
    let (mut h, mut core) = window(Lang::Ja);
    core.ring_in("c1", "0312345678");
    h.run();
    assert!(
        h.query_by_label("詳細情報").is_none(),
        "no popup before the CRM answers"
    );
    core.on(
        EventKind::Popup {
            text: "山田太郎様\n顧客ID 42".into(),
        },
        "c1",
    );
    h.run();
    assert!(has_text(&h, "0312345678 からの着信"));
    assert!(has_text(&h, "山田太郎様"));
    click(&mut h, "詳細情報");
    assert_eq!(core.drain_ok(), vec![RequestBody::Details]);
    click(&mut h, "閉じる");
    assert!(h.query_by_label("詳細情報").is_none());
}

#[test]
fn many_ringing_calls_share_one_capped_popup() {
    let (mut h, core) = window(Lang::En);
    for i in 0..7 {
        let id = format!("c{i}");
        core.ring_in(&id, &format!("03000000{i}"));
        core.on(
            EventKind::Popup {
                text: format!("customer {i}"),
            },
            &id,
        );
    }
    h.run();
    assert_eq!(
        h.state().popups().entries().len(),
        softphone::ui::popup::MAX_POPUPS
    );
    assert_eq!(h.get_all_by_label("Details").count(), 1, "one popup window");
    assert!(has_text(&h, "customer 6"), "the newest call is in front");
    assert!(enabled(&h, "Details"));
    click(&mut h, "030000004");
    assert!(has_text(&h, "customer 4"));
    assert!(
        !enabled(&h, "Details"),
        "details are for the latest call only"
    );
}

// ---------------------------------------------------------------------------
// CALL-3: history
// ---------------------------------------------------------------------------

#[test]
fn history_lists_calls_and_redials_on_click() {
    let (mut h, mut core) = window(Lang::Ja);
    talking(&mut h, &core, "c1", "0312345678");
    core.on(
        EventKind::HungUp {
            cause: HangupCause::Remote,
            duration_ms: 61_000,
        },
        "c1",
    );
    core.ring_in("c2", "0120000000");
    core.on(
        EventKind::HungUp {
            cause: HangupCause::Cancelled,
            duration_ms: 0,
        },
        "c2",
    );
    h.run();
    click(&mut h, "履歴");
    assert!(has_text(&h, "通話履歴") || h.state().history_open());
    for text in [
        "0312345678",
        "1:01",
        "応答",
        "0120000000",
        "不在着信",
        "着信",
    ] {
        assert!(has_text(&h, text), "{text}");
    }
    let rows = h.state().history_rows();
    assert_eq!(rows[0].number, "0120000000", "newest first");
    click(&mut h, "0312345678");
    assert_eq!(
        core.drain_ok(),
        vec![RequestBody::Call {
            number: num("0312345678")
        }]
    );
}

#[test]
fn call_encryption_is_chosen_on_the_account_tab_and_saved() {
    let (mut h, core) = window(Lang::Ja);
    click(&mut h, "設定");
    click(&mut h, "TLS");
    click(&mut h, "必須");
    click(&mut h, "保存");
    let saved = softphone::config::Settings::load(&core.settings_path).expect("valid file");
    assert_eq!(saved.raw.audio.srtp, "required");
    assert_eq!(saved.audio.srtp, bb_sip::sdes::Policy::Required);
    assert_eq!(saved.raw.account.transport, "tls");
    // Opened again, the window shows what the file says.
    click(&mut h, "設定");
    assert_eq!(
        h.get_by_label("必須").accesskit_node().toggled(),
        Some(egui::accesskit::Toggled::True),
        "the choice is not shown as saved"
    );
    assert_eq!(
        h.get_by_label("オフ").accesskit_node().toggled(),
        Some(egui::accesskit::Toggled::False)
    );
}
