//! Hostile caller IDs placed by the simulator (`POST /api/calls` with an
//! `identity`): every byte of the From and P-Asserted-Identity user parts
//! arrives at the extension exactly (percent-escaped on the wire), the
//! display name arrives as a well-formed quoted string, and nothing can be
//! injected into the INVITE.

mod common;

use common::{Mode, Phone, PhoneEvent, sim};
use serde_json::json;
use simulator::tenant::Tenant;

/// The caller IDs sent, as the conformance feature's corpus has them.
fn corpus() -> Vec<String> {
    let mut v: Vec<String> = [
        "\"0901234567\" <sip:evil@example.com>",
        "090'1234'567",
        "0901;touch /tmp/pwned",
        "0901&number=1&touch /tmp/pwned",
        "0901|touch /tmp/pwned",
        "`touch /tmp/pwned`",
        "$(touch /tmp/pwned)",
        "${HOME}$PATH*?[a]~",
        "%41%2F%zz%",
        "0901 2345 6789",
        "\t 09012345678 \t",
        "0901\nbbclient: hook: FORGED",
        "0901\r\nX-Injected: 1",
        "0901\u{0}2345",
        "山田太郎０９０１",
        "\u{202e}1090\u{202c}",
        "0901\\\\x00\\n",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("9".repeat(1024));
    v.push("$(touch /tmp/pwned);".repeat(1024 / 20));
    v.push("田".repeat(1024 / 3));
    v
}

/// The display name a quoted string carries: `\"` and `\\` unescaped.
fn unquote(from: &str) -> Option<String> {
    let rest = from.trim_start().strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return Some(out),
            c => out.push(c),
        }
    }
    None
}

#[tokio::test]
async fn hostile_identities_arrive_exactly_and_inject_nothing() {
    let s = sim(Tenant::builtin()).await;
    let mut p = Phone::start("1910", s.sip).await;
    *p.mode.lock().expect("lock") = Mode::Reject(486);
    let mut matched = 0;
    for id in corpus() {
        let display = if id.len() <= 256 {
            id.clone()
        } else {
            "Caller".into()
        };
        let (status, v) = s
            .send(
                "POST",
                "/api/calls",
                json!({"from": "0900000000", "to": "0312345678",
                       "identity": {"from_user": id, "from_display": display, "pai_user": id}}),
            )
            .await;
        assert_eq!(status, 201, "{id:?}: {v}");
        let headers = p
            .expect("the INVITE's headers", |e| {
                matches!(e, PhoneEvent::InviteHeaders { .. })
            })
            .await;
        let PhoneEvent::InviteHeaders { from, pai, .. } = headers else {
            unreachable!("filtered")
        };
        let (_, from_user, pai_user, _) = p.incoming().await;
        assert_eq!(from_user, id, "From user of {id:?}: {from}");
        assert_eq!(
            pai_user.as_deref(),
            Some(id.as_str()),
            "PAI of {id:?}: {pai:?}"
        );
        // Only escaped text on the wire: no raw control characters.
        for h in std::iter::once(&from).chain(pai.iter()) {
            assert!(!h.chars().any(|c| c.is_control() && c != '\t'), "{h:?}");
        }
        // The display name is the caller ID with control characters other
        // than TAB as spaces.
        let want: String = display
            .chars()
            .map(|c| if c.is_control() && c != '\t' { ' ' } else { c })
            .collect();
        assert_eq!(unquote(&from).as_deref(), Some(want.as_str()), "{from}");
        matched += 1;
    }
    assert_eq!(matched, corpus().len());
    // Still serving plain calls afterwards.
    let (status, v) = s
        .send(
            "POST",
            "/api/calls",
            json!({"from": "09012345678", "to": "0312345678"}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let (_, from, pai, _) = p.incoming().await;
    assert_eq!(from, "09012345678");
    assert_eq!(pai.as_deref(), Some("09012345678"));
}

#[tokio::test]
async fn identity_misuse_gets_400_naming_the_field() {
    let s = sim(Tenant::builtin()).await;
    let cases = [
        (json!({"from_user": "x".repeat(2049)}), "identity.from_user"),
        (
            json!({"from_user": "1", "pai_user": "y".repeat(3000)}),
            "identity.pai_user",
        ),
        (json!({"from_user": ""}), "identity.from_user"),
        (json!({"from_user": "1", "evil": 1}), "evil"),
    ];
    for (identity, needle) in cases {
        let (status, v) = s
            .send(
                "POST",
                "/api/calls",
                json!({"from": "0900000000", "to": "0312345678", "identity": identity}),
            )
            .await;
        assert_eq!(status, 400, "{v}");
        assert!(
            v["error"].as_str().is_some_and(|e| e.contains(needle)),
            "{v}"
        );
    }
}
