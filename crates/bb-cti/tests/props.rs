//! Property tests: splitting, rendering, encoding and engine ordering.

use std::time::{Duration, Instant};

use bb_cti::call::{CallEvent, CallValues, HangupCause};
use bb_cti::command::{CommandLine, Platform, is_safe_char, split_posix, split_windows};
use bb_cti::engine::{Action, Engine, EngineConfig, HookKind, HookOutcome};
use bb_cti::params::ParamLines;
use bb_cti::redact::Secret;
use bb_cti::request::{CrmUrl, HttpMethod, build_popup};
use bb_cti::response::{decode_body, html_to_text, to_display_text};
use bb_cti::template::Template;
use proptest::prelude::*;

/// Quotes words for a POSIX shell: '…' with ' written as '\''.
fn quote_posix(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Quotes an argument so that CommandLineToArgvW gives it back ("Everyone
/// quotes command line arguments the wrong way", D. Colascione).
fn quote_windows(arg: &str) -> String {
    let mut out = String::from("\"");
    let chars: Vec<char> = arg.chars().collect();
    let mut i = 0;
    loop {
        let mut backslashes = 0;
        while i < chars.len() && chars[i] == '\\' {
            backslashes += 1;
            i += 1;
        }
        if i == chars.len() {
            out.extend(std::iter::repeat_n('\\', backslashes * 2));
            break;
        } else if chars[i] == '"' {
            out.extend(std::iter::repeat_n('\\', backslashes * 2 + 1));
            out.push('"');
        } else {
            out.extend(std::iter::repeat_n('\\', backslashes));
            out.push(chars[i]);
        }
        i += 1;
    }
    out.push('"');
    out
}

fn word() -> impl Strategy<Value = String> {
    // Mostly the characters that matter to the splitters, plus anything.
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(vec![
                ' ', '\t', '"', '\'', '\\', '$', '`', '%', '&', '|', ';', '#', '*', '-', 'a', '1', '\n'
            ]),
            1 => any::<char>().prop_filter("no NUL", |c| *c != '\0'),
        ],
        0..12,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => word(),
        1 => any::<String>(),
        1 => prop::collection::vec(prop::sample::select(vec![
            "%CallerNumber%", "%OpPW%", "%", "%%", "%Foo%", "=", "&", "+", " ", "\n", "あ", "%E3", "-", "\0"
        ]), 0..8).prop_map(|v| v.concat()),
    ]
}

fn values(caller: String, exten: String, outline: String, call_id: String) -> CallValues {
    CallValues {
        caller_number: caller,
        exten,
        outline_number: outline,
        call_id,
        op_id: "op".into(),
        op_pw: Secret::new("p&=w d".into()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn posix_split_round_trips(words in prop::collection::vec(word(), 0..6)) {
        let line = words.iter().map(|w| quote_posix(w)).collect::<Vec<_>>().join(" ");
        prop_assert_eq!(split_posix(&line).unwrap(), words);
    }

    #[test]
    fn windows_split_round_trips(
        program in "[A-Za-z0-9 :\\\\._()-]{1,20}",
        args in prop::collection::vec(word(), 0..6),
    ) {
        let mut line = format!("\"{program}\"");
        for a in &args {
            line.push(' ');
            line.push_str(&quote_windows(a));
        }
        let mut want = vec![program];
        want.extend(args);
        prop_assert_eq!(split_windows(&line), want);
    }

    #[test]
    fn splitters_never_panic(line in any_text()) {
        let _ = split_posix(&line);
        let _ = split_windows(&line);
        let _ = CommandLine::parse(&line, Platform::Posix);
        let _ = CommandLine::parse(&line, Platform::Windows);
    }

    #[test]
    fn rendering_never_changes_argument_count(
        caller in any_text(), exten in any_text(), outline in any_text(), call_id in any_text(),
    ) {
        let c = CommandLine::parse(
            "crm %CallerNumber% a%Exten%b \"%OutLineNumber% %CallId%\" --pw=%OpPW%",
            Platform::Posix,
        ).unwrap();
        let r = c.render(&values(caller, exten, outline, call_id));
        prop_assert_eq!(r.argv.args.len(), 4);
        prop_assert!(r.argv.args[0].chars().all(is_safe_char));
        prop_assert!(!r.argv.args[0].starts_with('-'));
        let mid = r.argv.args[1].strip_prefix('a').and_then(|s| s.strip_suffix('b'));
        prop_assert!(mid.is_some_and(|m| m.chars().all(is_safe_char)));
        prop_assert_eq!(r.argv.args[2].matches(' ').count(), 1);
        prop_assert_eq!(&r.argv.args[3], "--pw=p&=w d");
        prop_assert!(!r.for_log.contains("p&=w"));
    }

    #[test]
    fn requests_round_trip_any_values(
        caller in any_text(), exten in any_text(), outline in any_text(), call_id in any_text(),
        post in any::<bool>(),
    ) {
        let params = ParamLines::parse(
            "n=%CallerNumber%\ne=%Exten%\no=%OutLineNumber%\n%CallId%=c\npw=%OpPW%",
        ).unwrap();
        let v = values(caller, exten, outline, call_id);
        let url = CrmUrl::parse("popup url", "https://crm.test/in?a=1").unwrap();
        let method = if post { HttpMethod::Post } else { HttpMethod::Get };
        let r = build_popup(method, &url, &params, &v);
        let parsed = url::Url::parse(&r.url).unwrap();
        let pairs: Vec<(String, String)> = if post {
            url::form_urlencoded::parse(r.body.as_deref().unwrap_or_default())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        } else {
            parsed.query_pairs().skip(1).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
        };
        let want = vec![
            ("n".to_owned(), v.caller_number.clone()),
            ("e".to_owned(), v.exten.clone()),
            ("o".to_owned(), v.outline_number.clone()),
            (v.call_id.clone(), "c".to_owned()),
            ("pw".to_owned(), "p&=w d".to_owned()),
        ];
        prop_assert_eq!(pairs, want);
        prop_assert!(r.for_log.ends_with("pw=***"));
    }

    #[test]
    fn template_parse_is_lossless(text in any_text()) {
        prop_assert_eq!(Template::parse(&text).source(), text);
    }

    #[test]
    fn param_parsing_accepts_exactly_lines_with_names(text in any_text()) {
        let result = ParamLines::parse(&text);
        let normalized = text.replace("\r\n", "\n");
        let lines: Vec<&str> = normalized
            .split(['\n', '\r'])
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let all_ok = lines.iter().all(|l| l.split_once('=').is_some_and(|(n, _)| !n.trim().is_empty()));
        prop_assert_eq!(result.is_ok(), all_ok);
        if let Ok(p) = result {
            prop_assert_eq!(p.lines().len(), lines.len());
        }
    }

    #[test]
    fn decoding_never_panics_and_shows_no_controls(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        ct in prop::option::of(prop::sample::select(vec![
            "text/html", "text/plain; charset=shift_jis", "text/html; charset=\"utf-8\"",
            "text/html; charset=bogus", "application/json",
        ])),
        limit in 0usize..400,
    ) {
        let d = decode_body(&bytes, ct, limit);
        prop_assert_eq!(d.truncated, bytes.len() > limit);
        let text = to_display_text(&d);
        prop_assert!(text.chars().all(|c| c == '\n' || !c.is_control()));
        let html = html_to_text(&String::from_utf8_lossy(&bytes));
        prop_assert!(html.chars().all(|c| c == '\n' || !c.is_control()));
    }

    /// Any interleaving of events for a few calls: per call, starts come in
    /// ring < answer < hang-up order, a hang-up or answer start always has a
    /// ring start before it, and each phase starts at most once.
    #[test]
    fn engine_starts_in_call_order(
        events in prop::collection::vec((0u8..3, 0u8..4, 0u64..20_000, any::<bool>()), 0..40),
    ) {
        let cmd = |l: &str| Some(CommandLine::parse(l, Platform::Posix).unwrap());
        let mut e = Engine::new(EngineConfig {
            on_ring: cmd("crm ring"),
            on_answer: cmd("crm answer"),
            on_hangup: cmd("crm hangup"),
            ..EngineConfig::default()
        });
        let t0 = Instant::now();
        let mut now = t0;
        let mut seen: Vec<(String, HookKind)> = Vec::new();
        let mut running = Vec::new();
        for (call, what, dt, finish) in events {
            now += Duration::from_millis(dt);
            // The driver's timer: fire when the armed deadline has passed.
            if e.poll_timeout().is_some_and(|t| t <= now) {
                e.handle_timeout(now);
            }
            let call_id = format!("c{call}");
            let event = match what {
                0 => CallEvent::Ringing(CallValues { call_id: call_id.clone(), ..CallValues::default() }),
                1 => CallEvent::Answered { call_id: call_id.clone() },
                2 => CallEvent::HungUp { call_id: call_id.clone(), cause: HangupCause::Remote, duration: Duration::ZERO },
                _ => {
                    e.handle_timeout(now);
                    CallEvent::Answered { call_id: "never-rang".into() }
                }
            };
            e.handle_call_event(event, now);
            if finish && let Some(id) = running.pop() {
                e.handle_hook_done(id, HookOutcome::Exited { code: Some(0) }, now);
            }
            while let Some(a) = e.poll_action() {
                if let Action::StartCommand { id, call_id, kind, deadline, .. } = a {
                    prop_assert_eq!(deadline, now + Duration::from_secs(30));
                    seen.push((call_id, kind));
                    running.push(id);
                }
            }
            if let Some(t) = e.poll_timeout() {
                prop_assert!(t > now, "an expired hook is still armed");
            }
        }
        for call in ["c0", "c1", "c2"] {
            let order: Vec<HookKind> = seen.iter().filter(|(c, _)| c == call).map(|(_, k)| *k).collect();
            let rank = |k: &HookKind| match k {
                HookKind::RingCommand => 0,
                HookKind::AnswerCommand => 1,
                _ => 2,
            };
            prop_assert!(order.windows(2).all(|w| rank(&w[0]) < rank(&w[1])), "{call}: {order:?}");
            if !order.is_empty() {
                prop_assert_eq!(order[0], HookKind::RingCommand);
            }
        }
        prop_assert!(seen.iter().all(|(c, _)| c != "never-rang"));
    }
}
