//! A corpus of hostile caller IDs through request building and command
//! rendering (Q-3).

use bb_cti::call::CallValues;
use bb_cti::command::{CommandLine, Platform, is_safe_char, split_posix, split_windows};
use bb_cti::params::ParamLines;
use bb_cti::redact::Secret;
use bb_cti::request::{CrmUrl, FORM_CONTENT_TYPE, HttpMethod, build_popup};
use url::Url;

fn corpus() -> Vec<String> {
    bb_testenv::hostile::caller_ids()
}

fn values_with(hostile: &str) -> CallValues {
    CallValues {
        caller_number: hostile.to_owned(),
        exten: hostile.to_owned(),
        outline_number: hostile.to_owned(),
        call_id: hostile.to_owned(),
        op_id: "op1".into(),
        op_pw: Secret::new("pw".into()),
    }
}

const PARAMS: &str = "number=%CallerNumber%\nexten=%Exten%\noutline=%OutLineNumber%\ncall=%CallId%\nmix=a%CallerNumber%b\n%CallerNumber%key=1\ncampaignid=1234";

/// Names expected after decoding, given the hostile value.
fn expected_pairs(h: &str) -> Vec<(String, String)> {
    vec![
        ("number".into(), h.into()),
        ("exten".into(), h.into()),
        ("outline".into(), h.into()),
        ("call".into(), h.into()),
        ("mix".into(), format!("a{h}b")),
        (format!("{h}key"), "1".into()),
        ("campaignid".into(), "1234".into()),
    ]
}

#[test]
fn requests_keep_their_parameters() {
    let params = ParamLines::parse(PARAMS).unwrap();
    let bases = [
        "https://crm.test.com/softphone/popup/in?",
        "https://crm.test.com/in?fixed=1",
        "https://crm.test.com/in?fixed=1#frag",
        "http://crm.test.com:8080/in",
    ];
    for base in bases {
        let url = CrmUrl::parse("popup url", base).unwrap();
        for h in corpus() {
            let values = values_with(&h);

            let get = build_popup(HttpMethod::Get, &url, &params, &values);
            let parsed =
                Url::parse(&get.url).unwrap_or_else(|e| panic!("{base} + {h:?}: {e}: {}", get.url));
            let pairs: Vec<(String, String)> = parsed
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .filter(|(k, _)| k != "fixed")
                .collect();
            assert_eq!(pairs, expected_pairs(&h), "GET {base} with {h:?}");
            let fragment = Url::parse(base).unwrap().fragment().map(str::to_owned);
            assert_eq!(parsed.fragment().map(str::to_owned), fragment);
            assert!(!get.url.contains("??") && !get.url.contains("&&") && !get.url.contains("?&"));
            assert!(get.url.is_ascii());

            let post = build_popup(HttpMethod::Post, &url, &params, &values);
            // Same URL, less an empty `?` that was only there for GET.
            let want = url.as_str().replacen("?#", "#", 1);
            let want = want.strip_suffix('?').unwrap_or(&want);
            assert_eq!(post.url, want);
            assert_eq!(post.content_type, Some(FORM_CONTENT_TYPE));
            let body = post.body.unwrap_or_default();
            assert!(body.is_ascii());
            let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            assert_eq!(pairs, expected_pairs(&h), "POST with {h:?}");
        }
    }
}

#[test]
fn commands_keep_their_arguments() {
    let lines = [
        (
            Platform::Windows,
            r#""C:\Program Files (x86)\testcrm\crm.exe" %CallerNumber% "x%OutLineNumber%y" --call=%CallId% %Exten%"#,
        ),
        (
            Platform::Posix,
            r#"'/opt/test crm/crm' %CallerNumber% "x%OutLineNumber%y" --call=%CallId% %Exten%"#,
        ),
    ];
    for (platform, line) in lines {
        let command = CommandLine::parse(line, platform).unwrap();
        for h in corpus() {
            let r = command.render(&values_with(&h));
            let args = &r.argv.args;
            assert_eq!(args.len(), 4, "{h:?} -> {args:?}");
            let safe = |s: &str| s.chars().all(is_safe_char) && !s.starts_with('-');
            assert!(safe(&args[0]), "{h:?} -> {:?}", args[0]);
            assert!(safe(&args[3]), "{h:?} -> {:?}", args[3]);
            let mid = args[1]
                .strip_prefix('x')
                .and_then(|s| s.strip_suffix('y'))
                .unwrap_or_else(|| panic!("{:?}", args[1]));
            assert!(safe(mid));
            let call = args[2]
                .strip_prefix("--call=")
                .unwrap_or_else(|| panic!("{:?}", args[2]));
            assert!(safe(call));
            assert!(args.iter().all(|a| a.chars().count() <= 256 + 10));
            let changed =
                h.chars().any(|c| !is_safe_char(c)) || h.starts_with('-') || h.len() > 256;
            assert_eq!(!r.dropped.is_empty(), changed, "{h:?}");
            // Written back on one line and split again, nothing moves.
            let rejoined = format!("crm {}", args.join(" "));
            let resplit = match platform {
                Platform::Windows => split_windows(&rejoined),
                Platform::Posix => split_posix(&rejoined).unwrap(),
            };
            let mut want = vec!["crm".to_owned()];
            want.extend(args.iter().filter(|a| !a.is_empty()).cloned());
            assert_eq!(resplit, want, "{h:?}");
            for d in &r.dropped {
                assert!(!d.to_string().contains('\n'));
                assert!(!d.to_string().contains('\0'));
            }
        }
    }
}

#[test]
fn hostile_settings_text_is_refused_or_literal() {
    // The command line itself comes from settings; control characters are
    // refused there.
    for bad in ["crm\n%CallerNumber%", "crm\0x", "crm\rx", "crm \u{7f}"] {
        assert!(CommandLine::parse(bad, Platform::Posix).is_err(), "{bad:?}");
        assert!(
            CommandLine::parse(bad, Platform::Windows).is_err(),
            "{bad:?}"
        );
    }
}
