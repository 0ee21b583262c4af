//! ACD-1 end to end: `bbclient login` / `logout` against the real
//! `bluebean-sim` operator API, the `operator` events, `status`, the hooks'
//! `%OpId%`/`%OpPW%`, and the errors (wrong credentials, no API, an API
//! that does not answer). The password never reaches the softphone's
//! output.

mod common;
mod operator_sim;

use std::time::Duration;

use common::scratch;
use operator_sim::{Bb, Sim, settings};

#[test]
fn login_status_hooks_and_logout_against_the_simulator() {
    let dir = scratch("op-login");
    let sim = Sim::start();
    let extra = format!(
        "[command]\non_ring = \"touch {}/ring-%OpId%-%OpPW%\"\nskip_internal = false\n",
        dir.display()
    );
    let mut bb = Bb::start(&dir, "op", &settings(&sim, "1910", &extra));
    let mut events = bb.subscribe();

    // Before any login: logged out, and status says so.
    let out = bb.ok(&["status"], None);
    assert!(
        out.contains("operator cfg-id: logged out") || out.contains("operator: logged out"),
        "{out}"
    );

    // A wrong password: exit 1, the server's reason, a login_failed event.
    let o = bb.verb(
        &["login", "op1910", "--password-stdin"],
        Some("not-the-password\n"),
    );
    let line = o.one_line_error(
        1,
        &["HTTP 401", "login ID 'op1910' or its password is wrong"],
    );
    assert!(
        line.contains("login as 'op1910' refused by the BlueBean server"),
        "{line}"
    );
    let ev = events.event("operator");
    assert_eq!(ev["state"], "login_failed", "{ev}");
    assert_eq!(ev["login_id"], "op1910");
    assert!(
        ev["reason"].as_str().unwrap_or("").contains("HTTP 401"),
        "{ev}"
    );
    let st: serde_json::Value =
        serde_json::from_str(&bb.ok(&["status", "--json"], None)).expect("json");
    assert_eq!(st["operator"]["state"], "login_failed", "{st}");
    assert_eq!(sim.get("/api/operators/op1910")["state"], "logged_out");

    // The right one, from stdin.
    let out = bb.ok(
        &["login", "op1910", "--password-stdin"],
        Some("op-secret\n"),
    );
    assert_eq!(out.trim(), "operator op1910: logged in (available at 1910)");
    let ev = events.event("operator");
    assert_eq!(ev["state"], "logged_in", "{ev}");
    assert_eq!(ev["login_id"], "op1910");
    assert!(ev.get("call_id").is_none());
    let op = sim.get("/api/operators/op1910");
    assert_eq!(op["state"], "available", "{op}");
    assert_eq!(op["extension"], "1910", "{op}");

    // status, for people and as JSON, with the server's state of the operator.
    let out = bb.ok(&["status"], None);
    assert!(
        out.contains("operator op1910: logged in (available at 1910)"),
        "{out}"
    );
    sim.http(
        "PUT",
        "/api/operators/op1910/state",
        Some(r#"{"state":"not_available"}"#),
    );
    let st: serde_json::Value =
        serde_json::from_str(&bb.ok(&["status", "--json"], None)).expect("json");
    assert_eq!(st["operator"]["state"], "logged_in", "{st}");
    assert_eq!(st["operator"]["login_id"], "op1910", "{st}");
    assert_eq!(st["operator"]["server_state"], "not_available", "{st}");
    sim.http(
        "PUT",
        "/api/operators/op1910/state",
        Some(r#"{"state":"available"}"#),
    );

    // A call rings: the hook's %OpId%/%OpPW% are the logged-in operator's.
    let call = sim.call_in("09012345678", "0312345678");
    events.event("ringing");
    let file = dir.join("ring-op1910-op-secret");
    common::wait_until("the on_ring command with the operator's login", 20, || {
        file.exists()
    });
    assert!(!dir.join("ring-cfg-id-cfg-pw").exists());
    sim.http("POST", &format!("/api/calls/{call}/hangup"), None);
    events.event("hung_up");

    // Logout.
    let out = bb.ok(&["logout"], None);
    assert_eq!(out.trim(), "operator op1910: logged out");
    let ev = events.event("operator");
    assert_eq!(ev["state"], "logged_out", "{ev}");
    assert_eq!(sim.get("/api/operators/op1910")["state"], "logged_out");
    bb.verb(&["logout"], None)
        .one_line_error(1, &["no operator is logged in on this softphone"]);

    // After logout the hooks use the configured login again.
    let call = sim.call_in("09012345678", "0312345678");
    events.event("ringing");
    let file = dir.join("ring-cfg-id-cfg-pw");
    common::wait_until("the on_ring command with the configured login", 20, || {
        file.exists()
    });
    sim.http("POST", &format!("/api/calls/{call}/hangup"), None);
    events.event("hung_up");

    // Login without arguments uses the settings ([operator] login_id and
    // password), which this tenant refuses.
    bb.verb(&["login"], None)
        .one_line_error(1, &["login as 'cfg-id' refused", "HTTP 401"]);

    // Nothing printed the passwords (debug logs included).
    assert!(bb.signal_and_wait("TERM"));
    let lines = bb.drain();
    for secret in ["op-secret", "not-the-password", "cfg-pw"] {
        let leaks: Vec<_> = lines.iter().filter(|l| l.contains(secret)).collect();
        assert!(leaks.is_empty(), "'{secret}' leaked: {leaks:#?}");
    }
    for ev in &events.seen {
        for secret in ["op-secret", "not-the-password", "cfg-pw"] {
            assert!(!ev.to_string().contains(secret), "'{secret}' in {ev}");
        }
    }
}

#[test]
fn no_api_an_unreachable_api_and_a_silent_api_each_say_why() {
    let dir = scratch("op-errors");
    let sim = Sim::start();
    let base = settings(&sim, "1911", "");

    // No [operator] api_url.
    let no_api: String = base
        .lines()
        .filter(|l| !l.starts_with("api_url"))
        .map(|l| format!("{l}\n"))
        .collect();
    let a = Bb::start(&dir, "noapi", &no_api);
    let line = a
        .verb(
            &["login", "op1911", "--password-stdin"],
            Some("op-secret\n"),
        )
        .one_line_error(
            1,
            &["operator login is not available: no operator API configured: set [operator] api_url in"],
        );
    assert!(line.contains("noapi.toml"), "{line}");
    assert!(
        a.ok(&["status"], None)
            .contains("operator: login off (no [operator] api_url)")
    );

    // An address where nothing listens.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let refused = base.replace(&sim.api_url(), &format!("http://127.0.0.1:{closed}"));
    let b = Bb::start(&dir, "refused", &refused);
    b.verb(&["login", "op1911", "--password-stdin"], Some("op-secret\n"))
        .one_line_error(
            1,
            &[
                &format!("cannot reach the BlueBean operator API at http://127.0.0.1:{closed}/api/operators/login"),
                "check [operator] api_url",
            ],
        );

    // A server that accepts and never answers: the configured time limit.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = silent.local_addr().expect("addr").port();
    let held = std::thread::spawn(move || {
        // Keep the connections open, say nothing.
        let mut kept = Vec::new();
        silent.set_nonblocking(false).ok();
        for _ in 0..2 {
            if let Ok((s, _)) = silent.accept() {
                kept.push(s);
            }
        }
        std::thread::sleep(Duration::from_secs(5));
    });
    let slow = base
        .replace(&sim.api_url(), &format!("http://127.0.0.1:{port}"))
        .replace("[sip]", "timeout_ms = 400\n\n[sip]");
    let c = Bb::start(&dir, "silent", &slow);
    // Bounded by the limit, not by the listener (which would close the
    // connection after 5 s and give another message).
    c.verb(
        &["login", "op1911", "--password-stdin"],
        Some("op-secret\n"),
    )
    .one_line_error(
        1,
        &[
            "no answer within 400 ms",
            &format!("http://127.0.0.1:{port}"),
        ],
    );
    // The softphone still serves verbs.
    assert!(c.ok(&["status"], None).contains("registered"));
    drop(held);

    // A bad api_url is refused at start with the key and the fix.
    let cfg = dir.join("bad.toml");
    common::write_settings(&cfg, &base.replace(&sim.api_url(), "ftp://127.0.0.1:1"));
    let o = common::outcome(
        Bb::command(&dir, "bad")
            .args(["run", "--headless", "--config"])
            .arg(&cfg),
    );
    o.one_line_error(
        2,
        &[
            "operator.api_url: 'ftp://127.0.0.1:1' is not an http:// or https:// URL",
            "api_url = \"http://127.0.0.1:8080\"",
        ],
    );
}
