//! Engine scenarios in virtual time: no sleeps, no IO.

use std::time::{Duration, Instant};

use bb_cti::call::{CallEvent, CallValues, HangupCause};
use bb_cti::command::{CommandLine, Platform};
use bb_cti::engine::{Action, Engine, EngineConfig, HookId, HookKind, HookLog, HookOutcome};
use bb_cti::redact::Secret;
use bb_cti::request::{DetailSettings, HttpMethod, PopupSettings};

const SECRET: &str = "S3cr#t pw";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn values(call_id: &str, caller: &str, outline: &str) -> CallValues {
    CallValues {
        caller_number: caller.into(),
        exten: "1910".into(),
        outline_number: outline.into(),
        call_id: call_id.into(),
        op_id: "op1".into(),
        op_pw: Secret::new(SECRET.into()),
    }
}

fn external(call_id: &str) -> CallValues {
    values(call_id, "09012345678", "0312345678")
}

fn cmd(line: &str) -> CommandLine {
    CommandLine::parse(line, Platform::Posix).unwrap()
}

fn full_config() -> EngineConfig {
    EngineConfig {
        popup: Some(
            PopupSettings::validate(
                HttpMethod::Get,
                "https://crm.test.com/softphone/popup/in?",
                "number=%CallerNumber%\noutline=%OutLineNumber%\nuser=%OpId%\npw=%OpPW%",
            )
            .unwrap(),
        ),
        detail: None,
        on_ring: Some(cmd("crm ring %CallerNumber% --pw=%OpPW%")),
        on_answer: Some(cmd("crm answer %CallerNumber%")),
        on_hangup: Some(cmd("crm hangup %CallerNumber%")),
        ..EngineConfig::default()
    }
}

fn drain(engine: &mut Engine) -> Vec<Action> {
    std::iter::from_fn(|| engine.poll_action()).collect()
}

/// The starts in `actions`, as (call, kind, id).
fn starts(actions: &[Action]) -> Vec<(String, HookKind, HookId)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::StartHttp {
                id, call_id, kind, ..
            }
            | Action::StartCommand {
                id, call_id, kind, ..
            } => Some((call_id.clone(), *kind, *id)),
            Action::OpenBrowser { id, call_id, .. } => {
                Some((call_id.clone(), HookKind::Detail, *id))
            }
            _ => None,
        })
        .collect()
}

fn kinds(actions: &[Action]) -> Vec<HookKind> {
    starts(actions).into_iter().map(|(_, k, _)| k).collect()
}

fn logs(actions: &[Action]) -> Vec<&HookLog> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Log(l) => Some(l),
            _ => None,
        })
        .collect()
}

fn id_of(actions: &[Action], kind: HookKind) -> HookId {
    starts(actions)
        .into_iter()
        .find(|(_, k, _)| *k == kind)
        .map(|(_, _, id)| id)
        .unwrap_or_else(|| panic!("no {kind} started in {actions:?}"))
}

#[test]
fn answer_and_hangup_start_while_ring_hook_still_runs() {
    let t0 = Instant::now();
    let mut e = Engine::new(full_config());
    e.handle_call_event(CallEvent::Ringing(external("c1")), t0);
    let ring = drain(&mut e);
    assert_eq!(kinds(&ring), [HookKind::Popup, HookKind::RingCommand]);
    let Some(Action::StartHttp {
        request, deadline, ..
    }) = ring.iter().find(|a| matches!(a, Action::StartHttp { .. }))
    else {
        panic!("no StartHttp in {ring:?}");
    };
    assert_eq!(
        request.url,
        "https://crm.test.com/softphone/popup/in?number=09012345678&outline=0312345678&user=op1&pw=S3cr%23t%20pw"
    );
    assert_eq!(*deadline, t0 + Duration::from_secs(5));
    let Some(Action::StartCommand { argv, deadline, .. }) = ring
        .iter()
        .find(|a| matches!(a, Action::StartCommand { .. }))
    else {
        panic!("no StartCommand in {ring:?}");
    };
    assert_eq!(argv.program, "crm");
    assert_eq!(argv.args, ["ring", "09012345678", "--pw=S3cr#t pw"]);
    assert_eq!(*deadline, t0 + Duration::from_secs(30));

    // The ring command is still running (slow): answer starts anyway.
    e.handle_call_event(
        CallEvent::Answered {
            call_id: "c1".into(),
        },
        t0 + ms(2000),
    );
    let answer = drain(&mut e);
    assert_eq!(kinds(&answer), [HookKind::AnswerCommand]);
    e.handle_call_event(
        CallEvent::HungUp {
            call_id: "c1".into(),
            cause: HangupCause::Remote,
            duration: ms(1000),
        },
        t0 + ms(3000),
    );
    let hangup = drain(&mut e);
    assert_eq!(kinds(&hangup), [HookKind::HangupCommand]);
    assert_eq!(e.running_hooks(), 4);

    // Ids grow in start order.
    let all: Vec<HookId> = [ring, answer, hangup]
        .iter()
        .flat_map(|a| starts(a))
        .map(|(_, _, id)| id)
        .collect();
    assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");
}

#[test]
fn deadlines_cancel_and_late_results_are_ignored() {
    let t0 = Instant::now();
    let mut e = Engine::new(full_config());
    assert_eq!(e.poll_timeout(), None);
    e.handle_call_event(CallEvent::Ringing(external("c1")), t0);
    let ring = drain(&mut e);
    let popup = id_of(&ring, HookKind::Popup);
    let command = id_of(&ring, HookKind::RingCommand);
    assert_eq!(e.poll_timeout(), Some(t0 + Duration::from_secs(5)));

    // Just before the deadline nothing happens.
    e.handle_timeout(t0 + ms(4999));
    assert!(drain(&mut e).is_empty());

    e.handle_timeout(t0 + ms(5000));
    let out = drain(&mut e);
    assert_eq!(out[0], Action::Cancel { id: popup });
    assert!(matches!(
        out[1],
        Action::Log(HookLog::TimedOut { id, kind: HookKind::Popup, limit, .. }) if id == popup && limit == Duration::from_secs(5)
    ));
    assert_eq!(out.len(), 2);
    assert_eq!(e.poll_timeout(), Some(t0 + Duration::from_secs(30)));

    // The aborted request reports late: ignored, no popup content.
    e.handle_hook_done(
        popup,
        HookOutcome::HttpResponse {
            status: 200,
            content_type: None,
            body: b"late".to_vec(),
        },
        t0 + ms(5001),
    );
    let out = drain(&mut e);
    assert!(
        matches!(out.as_slice(), [Action::Log(HookLog::Ignored { .. })]),
        "{out:?}"
    );

    // The command finishes in time.
    e.handle_hook_done(
        command,
        HookOutcome::Exited { code: Some(0) },
        t0 + ms(7250),
    );
    let out = drain(&mut e);
    assert!(
        matches!(
            out.as_slice(),
            [Action::Log(HookLog::Finished { ok: true, elapsed, kind: HookKind::RingCommand, .. })] if *elapsed == ms(7250)
        ),
        "{out:?}"
    );
    assert_eq!(e.poll_timeout(), None);
    assert_eq!(e.running_hooks(), 0);
}

#[test]
fn timeout_fires_for_several_hooks_at_once_in_id_order() {
    let t0 = Instant::now();
    let mut config = full_config();
    config.limits.http = Duration::from_secs(30);
    let mut e = Engine::new(config);
    e.handle_call_event(CallEvent::Ringing(external("c1")), t0);
    let ring = drain(&mut e);
    e.handle_timeout(t0 + Duration::from_secs(60));
    let cancels: Vec<Action> = drain(&mut e)
        .into_iter()
        .filter(|a| matches!(a, Action::Cancel { .. }))
        .collect();
    assert_eq!(
        cancels,
        [
            Action::Cancel {
                id: id_of(&ring, HookKind::Popup)
            },
            Action::Cancel {
                id: id_of(&ring, HookKind::RingCommand)
            }
        ]
    );
}

#[test]
fn caller_cancelled_runs_ring_and_hangup_only() {
    let t0 = Instant::now();
    let mut e = Engine::new(full_config());
    e.handle_call_event(CallEvent::Ringing(external("c1")), t0);
    e.handle_call_event(
        CallEvent::HungUp {
            call_id: "c1".into(),
            cause: HangupCause::CallerCancelled,
            duration: Duration::ZERO,
        },
        t0 + ms(10),
    );
    let out = drain(&mut e);
    assert_eq!(
        kinds(&out),
        [
            HookKind::Popup,
            HookKind::RingCommand,
            HookKind::HangupCommand
        ]
    );
    // An answer reported after the hang-up changes nothing.
    e.handle_call_event(
        CallEvent::Answered {
            call_id: "c1".into(),
        },
        t0 + ms(20),
    );
    let out = drain(&mut e);
    assert!(kinds(&out).is_empty());
    assert!(matches!(
        out.as_slice(),
        [Action::Log(HookLog::Ignored { .. })]
    ));
}

#[test]
fn unknown_and_duplicate_events_start_nothing() {
    let t0 = Instant::now();
    let mut e = Engine::new(full_config());
    e.handle_call_event(
        CallEvent::Answered {
            call_id: "ghost".into(),
        },
        t0,
    );
    e.handle_call_event(
        CallEvent::HungUp {
            call_id: "ghost".into(),
            cause: HangupCause::Remote,
            duration: ms(5),
        },
        t0,
    );
    let out = drain(&mut e);
    assert!(kinds(&out).is_empty(), "{out:?}");
    assert_eq!(logs(&out).len(), 2);

    e.handle_call_event(CallEvent::Ringing(external("c1")), t0);
    e.handle_call_event(CallEvent::Ringing(external("c1")), t0);
    e.handle_call_event(
        CallEvent::Answered {
            call_id: "c1".into(),
        },
        t0,
    );
    e.handle_call_event(
        CallEvent::Answered {
            call_id: "c1".into(),
        },
        t0,
    );
    for _ in 0..2 {
        e.handle_call_event(
            CallEvent::HungUp {
                call_id: "c1".into(),
                cause: HangupCause::Local,
                duration: ms(5),
            },
            t0,
        );
    }
    // A retransmitted INVITE after the end does not ring again.
    e.handle_call_event(CallEvent::Ringing(external("c1")), t0);
    let out = drain(&mut e);
    assert_eq!(
        kinds(&out),
        [
            HookKind::Popup,
            HookKind::RingCommand,
            HookKind::AnswerCommand,
            HookKind::HangupCommand
        ]
    );
    let ignored = logs(&out)
        .into_iter()
        .filter(|l| matches!(l, HookLog::Ignored { .. }))
        .count();
    assert_eq!(ignored, 4);
}

#[test]
fn skip_internal_web_only() {
    let t0 = Instant::now();
    let mut config = full_config();
    config.skip_internal_web = true;
    let mut e = Engine::new(config);
    e.handle_call_event(CallEvent::Ringing(values("i1", "1234", "")), t0);
    let out = drain(&mut e);
    assert_eq!(kinds(&out), [HookKind::RingCommand]);
    assert!(logs(&out).iter().any(|l| matches!(
        l,
        HookLog::SkippedInternal {
            kind: HookKind::Popup,
            ..
        }
    )));
    // An external call still gets everything.
    e.handle_call_event(CallEvent::Ringing(external("x1")), t0);
    assert_eq!(
        kinds(&drain(&mut e)),
        [HookKind::Popup, HookKind::RingCommand]
    );
}

#[test]
fn skip_internal_command_applies_to_every_phase() {
    let t0 = Instant::now();
    let mut config = full_config();
    config.skip_internal_command = true;
    let mut e = Engine::new(config);
    e.handle_call_event(CallEvent::Ringing(values("i1", "1234", "")), t0);
    e.handle_call_event(
        CallEvent::Answered {
            call_id: "i1".into(),
        },
        t0 + ms(1),
    );
    e.handle_call_event(
        CallEvent::HungUp {
            call_id: "i1".into(),
            cause: HangupCause::Local,
            duration: ms(1),
        },
        t0 + ms(2),
    );
    let out = drain(&mut e);
    assert_eq!(kinds(&out), [HookKind::Popup]);
    let skipped: Vec<HookKind> = logs(&out)
        .into_iter()
        .filter_map(|l| match l {
            HookLog::SkippedInternal { kind, .. } => Some(*kind),
            _ => None,
        })
        .collect();
    assert_eq!(
        skipped,
        [
            HookKind::RingCommand,
            HookKind::AnswerCommand,
            HookKind::HangupCommand
        ]
    );
}

#[test]
fn extension_calling_through_an_outside_line_is_not_internal() {
    let t0 = Instant::now();
    let mut config = full_config();
    config.skip_internal_web = true;
    config.skip_internal_command = true;
    let mut e = Engine::new(config);
    e.handle_call_event(CallEvent::Ringing(values("c", "1234", "0312345678")), t0);
    assert_eq!(
        kinds(&drain(&mut e)),
        [HookKind::Popup, HookKind::RingCommand]
    );
}

#[test]
fn popup_content_is_decoded_shift_jis_html() {
    let t0 = Instant::now();
    let mut e = Engine::new(full_config());
    e.handle_call_event(CallEvent::Ringing(external("c1")), t0);
    let popup = id_of(&drain(&mut e), HookKind::Popup);
    let body = shift_jis(
        "<html><body><h1>山田 太郎</h1><p>会員 &amp; VIP</p><script>x()</script></body></html>",
    );
    e.handle_hook_done(
        popup,
        HookOutcome::HttpResponse {
            status: 200,
            content_type: Some("text/html; charset=Shift_JIS".into()),
            body,
        },
        t0 + ms(120),
    );
    let out = drain(&mut e);
    assert!(
        out.contains(&Action::PopupContent {
            call_id: "c1".into(),
            status: 200,
            text: "山田 太郎\n会員 & VIP".into(),
            truncated: false,
        }),
        "{out:?}"
    );
}

fn shift_jis(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
    assert!(!unmappable);
    bytes.into_owned()
}

#[test]
fn password_never_reaches_logs() {
    let t0 = Instant::now();
    let mut config = full_config();
    config.detail = Some(
        DetailSettings::validate(HttpMethod::Get, "https://crm.test.com/d", "pw=%OpPW%", true)
            .unwrap(),
    );
    let mut e = Engine::new(config);
    e.handle_call_event(CallEvent::Ringing(external("c1")), t0);
    let ring = drain(&mut e);
    let popup = id_of(&ring, HookKind::Popup);
    let command = id_of(&ring, HookKind::RingCommand);
    e.handle_hook_done(
        popup,
        HookOutcome::Failed {
            error: "error sending request for url (https://crm.test.com/softphone/popup/in?pw=S3cr%23t%20pw): connection refused".into(),
        },
        t0 + ms(50),
    );
    e.handle_hook_done(
        command,
        HookOutcome::Failed {
            error: format!("No such file or directory: crm --pw={SECRET}"),
        },
        t0 + ms(60),
    );
    let mut all = ring;
    all.extend(drain(&mut e));
    for a in &all {
        let debug = format!("{a:?}");
        assert!(!debug.contains("S3cr"), "{debug}");
        if let Action::Log(l) = a {
            let line = l.to_string();
            assert!(!line.contains("S3cr"), "{line}");
        }
    }
    // ...while the requests themselves carry it.
    assert!(all.iter().any(|a| matches!(a, Action::OpenBrowser { request, .. } if request.url.ends_with("pw=S3cr%23t%20pw"))));
    let lines: Vec<String> = logs(&all).iter().map(|l| l.to_string()).collect();
    assert!(lines.iter().any(|l| l.contains("pw=***")), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("failed: error sending request") && l.contains("pw=***")),
        "{lines:#?}"
    );
}

#[test]
fn password_echoed_by_the_crm_is_not_shown() {
    let t0 = Instant::now();
    let mut e = Engine::new(full_config());
    e.handle_call_event(CallEvent::Ringing(external("c1")), t0);
    let popup = id_of(&drain(&mut e), HookKind::Popup);
    e.handle_hook_done(
        popup,
        HookOutcome::HttpResponse {
            status: 200,
            content_type: Some("text/html".into()),
            body: format!("<p>pw={SECRET}</p><p>query: pw=S3cr%23t%20pw</p>").into_bytes(),
        },
        t0 + ms(40),
    );
    let shown: Vec<String> = drain(&mut e)
        .into_iter()
        .filter_map(|a| match a {
            Action::PopupContent { text, .. } => Some(text),
            _ => None,
        })
        .collect();
    assert_eq!(shown, vec!["pw=***\nquery: pw=***".to_string()]);
}

#[test]
fn hostile_caller_id_is_filtered_and_logged_escaped() {
    let t0 = Instant::now();
    let mut e = Engine::new(full_config());
    let mut v = external("c1\n[INFO] forged");
    v.caller_number = "0901; rm -rf ~ `id`\n".into();
    e.handle_call_event(CallEvent::Ringing(v), t0);
    let out = drain(&mut e);
    let Some(Action::StartCommand { argv, .. }) = out
        .iter()
        .find(|a| matches!(a, Action::StartCommand { .. }))
    else {
        panic!("{out:?}");
    };
    assert_eq!(argv.args.len(), 3);
    assert_eq!(argv.args[1], "0901rm-rfid");
    assert!(logs(&out).iter().any(|l| matches!(
        l,
        HookLog::Warning {
            kind: Some(HookKind::RingCommand),
            ..
        }
    )));
    for l in logs(&out) {
        let line = l.to_string();
        assert!(!line.contains('\n'), "{line:?}");
    }
}

#[test]
fn detail_on_ring_and_after_hangup() {
    let t0 = Instant::now();
    let config = EngineConfig {
        detail: Some(
            DetailSettings::validate(
                HttpMethod::Get,
                "https://crm.test.com/detail#top",
                "tel=%CallerNumber%",
                true,
            )
            .unwrap(),
        ),
        ..EngineConfig::default()
    };
    let mut e = Engine::new(config);
    e.handle_call_event(CallEvent::Ringing(external("c1")), t0);
    let out = drain(&mut e);
    assert!(
        out.iter().any(|a| matches!(a, Action::OpenBrowser { request, .. } if request.url == "https://crm.test.com/detail?tel=09012345678#top")),
        "{out:?}"
    );
    let browser = id_of(&out, HookKind::Detail);
    e.handle_hook_done(browser, HookOutcome::Launched, t0 + ms(300));
    e.handle_call_event(
        CallEvent::HungUp {
            call_id: "c1".into(),
            cause: HangupCause::Remote,
            duration: ms(9),
        },
        t0 + ms(400),
    );
    drain(&mut e);
    // The popup's "Details" button after the call ended.
    assert!(e.open_detail("c1", t0 + ms(500)));
    assert_eq!(kinds(&drain(&mut e)), [HookKind::Detail]);
    assert!(!e.open_detail("nope", t0 + ms(500)));
    assert!(kinds(&drain(&mut e)).is_empty());
}

#[test]
fn older_now_does_not_move_time_back() {
    let t0 = Instant::now();
    let mut e = Engine::new(full_config());
    e.handle_timeout(t0 + Duration::from_secs(10));
    e.handle_call_event(CallEvent::Ringing(external("c1")), t0);
    let out = drain(&mut e);
    let Some(Action::StartHttp { deadline, .. }) =
        out.iter().find(|a| matches!(a, Action::StartHttp { .. }))
    else {
        panic!("{out:?}");
    };
    assert_eq!(*deadline, t0 + Duration::from_secs(15));
}

#[test]
fn no_hooks_configured_means_no_actions() {
    let t0 = Instant::now();
    let mut e = Engine::new(EngineConfig::default());
    e.handle_call_event(CallEvent::Ringing(external("c1")), t0);
    e.handle_call_event(
        CallEvent::Answered {
            call_id: "c1".into(),
        },
        t0,
    );
    assert!(drain(&mut e).is_empty());
    assert_eq!(e.poll_timeout(), None);
    assert!(e.call_values("c1").is_some());
}

#[test]
fn log_lines_read_well() {
    let t0 = Instant::now();
    let mut e = Engine::new(full_config());
    e.handle_call_event(CallEvent::Ringing(external("c1@pbx")), t0);
    let out = drain(&mut e);
    let lines: Vec<String> = logs(&out).iter().map(|l| l.to_string()).collect();
    assert_eq!(
        lines,
        [
            "call 'c1@pbx': popup request #1 started: GET https://crm.test.com/softphone/popup/in?number=09012345678&outline=0312345678&user=op1&pw=***",
            "call 'c1@pbx': ring command #2 started: [\"crm\", \"ring\", \"09012345678\", \"--pw=***\"]",
        ]
    );
}

#[test]
fn dialling_runs_only_the_dial_hooks_and_only_when_asked() {
    let t0 = Instant::now();
    let dialled = CallValues::outgoing(
        "0311112222",
        "1910",
        "out-1@pc",
        &bb_cti::OperatorLogin::default(),
    );
    assert_eq!(dialled.caller_number, "0311112222");
    assert_eq!(dialled.outline_number, "");
    // By default (no on_dial, popup_on_dial off) a placed call starts
    // nothing, not even the guide's answer and hang-up commands.
    let mut e = Engine::new(full_config());
    e.handle_call_event(CallEvent::Dialing(dialled.clone()), t0);
    e.handle_call_event(
        CallEvent::Answered {
            call_id: "out-1@pc".into(),
        },
        t0 + ms(10),
    );
    e.handle_call_event(
        CallEvent::HungUp {
            call_id: "out-1@pc".into(),
            cause: HangupCause::Local,
            duration: ms(100),
        },
        t0 + ms(20),
    );
    assert_eq!(kinds(&drain(&mut e)), vec![]);
    // Asked for: the popup, then the dial command, with the dialled number.
    let mut e = Engine::new(EngineConfig {
        on_dial: Some(cmd("crm dial %CallerNumber% %OutLineNumber%")),
        popup_on_dial: true,
        ..full_config()
    });
    e.handle_call_event(CallEvent::Dialing(dialled), t0);
    let a = drain(&mut e);
    assert_eq!(kinds(&a), vec![HookKind::Popup, HookKind::DialCommand]);
    let argv = a.iter().find_map(|a| match a {
        Action::StartCommand { argv, .. } => Some((argv.program.clone(), argv.args.clone())),
        _ => None,
    });
    // %OutLineNumber% is empty for a placed call; it stays an argument,
    // so a CRM program's argument positions are the same as on ring.
    assert_eq!(
        argv,
        Some((
            "crm".to_string(),
            vec!["dial".to_string(), "0311112222".into(), String::new()]
        ))
    );
}
