//! CALL-3 end to end: a headless softphone records real calls through
//! `bluebean-sim` into its SQLite history (direction, number, outside
//! line, start, talk time, result), in the instance's own file under the
//! data directory; received DTMF arrives as events and the media figures
//! are in `status --json` while the call runs.

mod common;
mod operator_sim;

use common::scratch;
use operator_sim::{Bb, Sim, settings};
use softphone::history::{CallResult, History};

#[test]
fn a_headless_phone_records_every_call() {
    let dir = scratch("history-calls");
    let sim = Sim::start();
    let mut bb = Bb::start(&dir, "hist", &settings(&sim, "1910", ""));
    // The instance's own file under XDG_DATA_HOME.
    let path = dir.join("data/bbclient/history-hist.sqlite3");
    let lines = bb.drain();
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("call history {}", path.display()))),
        "{lines:#?}"
    );
    assert!(path.is_file());
    let mut events = bb.subscribe();

    // 1. Incoming, answered, DTMF from the caller, hung up by the caller.
    let call = sim.call_in("09012345678", "0312345678");
    let ring = events.event("ringing");
    assert_eq!(ring["direction"], "incoming");
    let answered_id = ring["call_id"].as_str().expect("call_id").to_string();
    bb.ok(&["answer"], None);
    events.event("answered");
    common::wait_until("media packets in status", 20, || {
        let st: serde_json::Value =
            serde_json::from_str(&bb.ok(&["status", "--json"], None)).expect("json");
        let c = &st["calls"][0];
        c["call_id"] == answered_id.as_str()
            && c["media"]["codec"].as_str().is_some_and(|s| !s.is_empty())
            && c["media"]["packets_received"].as_u64().unwrap_or(0) > 0
            && c["media"]["packets_sent"].as_u64().unwrap_or(0) > 0
    });
    let (status, v) = sim.http(
        "POST",
        &format!("/api/calls/{call}/dtmf"),
        Some(r#"{"digits":"42#"}"#),
    );
    assert!(status < 300, "{status} {v}");
    let mut digits = String::new();
    while digits.len() < 3 {
        let ev = events.event("dtmf");
        assert_eq!(ev["direction"], "incoming", "{ev}");
        assert_eq!(ev["call_id"], answered_id.as_str(), "{ev}");
        digits.push_str(ev["digits"].as_str().unwrap_or(""));
    }
    assert_eq!(digits, "42#");
    sim.http("POST", &format!("/api/calls/{call}/hangup"), None);
    let end = events.event("hung_up");
    assert_eq!(end["cause"], "remote");

    // 2. Incoming, never answered: the caller gives up.
    let call = sim.call_in("0801234567", "0312345678");
    let ring = events.event("ringing");
    let missed_id = ring["call_id"].as_str().expect("call_id").to_string();
    sim.http("POST", &format!("/api/calls/{call}/hangup"), None);
    events.event("hung_up");

    // 3. Outgoing to an outside number that answers; we hang up.
    bb.ok(&["call", "09011112222"], None);
    let ring = events.event("ringing");
    assert_eq!(ring["direction"], "outgoing");
    let answered = events.event("answered");
    let out_id = answered["call_id"].as_str().expect("call_id").to_string();
    bb.ok(&["hangup"], None);
    let end = events.event("hung_up");
    assert_eq!(end["cause"], "local");

    // The rows are stored by the time hung_up is published.
    let h = History::open_viewer(&path).expect("the history opens");
    let rows = h.recent(10).expect("rows");
    assert_eq!(rows.len(), 3, "{rows:#?}");
    let (out, missed, first) = (&rows[0], &rows[1], &rows[2]);

    assert_eq!(out.direction, bb_verbs::wire::Direction::Outgoing);
    assert_eq!(out.number, "09011112222");
    assert_eq!(out.call_id, out_id);
    assert_eq!(out.result, CallResult::Answered);
    assert_eq!(out.outside_line, None);

    assert_eq!(missed.direction, bb_verbs::wire::Direction::Incoming);
    assert_eq!(missed.number, "0801234567");
    assert_eq!(missed.call_id, missed_id);
    assert_eq!(missed.result, CallResult::Missed);
    assert_eq!(missed.duration_ms, 0);
    assert_eq!(missed.outside_line.as_deref(), Some("0312345678"));

    assert_eq!(first.direction, bb_verbs::wire::Direction::Incoming);
    assert_eq!(first.number, "09012345678");
    assert_eq!(first.call_id, answered_id);
    assert_eq!(first.result, CallResult::Answered);
    assert!(first.duration_ms > 0, "{first:?}");
    assert_eq!(first.outside_line.as_deref(), Some("0312345678"));

    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    for r in &rows {
        assert!(
            r.started_at_ms > now_ms - 600_000 && r.started_at_ms <= now_ms,
            "{r:?}"
        );
    }
    assert!(first.started_at_ms <= missed.started_at_ms);
    assert!(missed.started_at_ms <= out.started_at_ms);

    // The terminal said so too, one line per call.
    let lines = bb.drain();
    assert_eq!(
        lines.iter().filter(|l| l.contains("history: ")).count(),
        3,
        "{lines:#?}"
    );
    assert!(bb.signal_and_wait("TERM"));
}

#[test]
fn the_history_file_is_configurable_and_the_environment_wins() {
    let dir = scratch("history-paths");
    let sim = Sim::start();
    // [history] path, relative to the settings file.
    let mut a = Bb::start(
        &dir,
        "cfg",
        &settings(&sim, "1911", "[history]\npath = \"calls/mine.sqlite3\"\n"),
    );
    let lines = a.drain();
    let want = dir.join("calls/mine.sqlite3");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("call history {}", want.display()))),
        "{lines:#?}"
    );
    assert!(want.is_file());
    assert!(a.signal_and_wait("TERM"));

    // $BBCLIENT_HISTORY over [history] path.
    let env_path = dir.join("env.sqlite3");
    let mut b = Bb::start_with(
        &dir,
        "env",
        &settings(
            &sim,
            "1912",
            "[history]\npath = \"calls/not-this.sqlite3\"\n",
        ),
        &["--headless"],
        |c| {
            c.env("BBCLIENT_HISTORY", &env_path);
        },
        true,
    );
    assert!(env_path.is_file());
    assert!(!dir.join("calls/not-this.sqlite3").exists());
    assert!(b.signal_and_wait("TERM"));

    // Off.
    let mut c = Bb::start(
        &dir,
        "off",
        &settings(&sim, "1303", "[history]\nenabled = false\n"),
    );
    let lines = c.drain();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("call history off ([history] enabled = false)")),
        "{lines:#?}"
    );
    assert!(!dir.join("data/bbclient/history-off.sqlite3").exists());
    assert!(c.signal_and_wait("TERM"));
}

#[test]
fn headless_means_no_sound_device_is_needed() {
    // `[audio]` left at the system's default devices, and a missing device
    // refused: `run --headless` uses the null device instead of probing, so
    // it starts (on a machine without a sound card, the windowed run would
    // refuse), and its calls connect and are recorded.
    let dir = scratch("history-headless");
    let sim = Sim::start();
    let text = settings(&sim, "1911", "")
        .replace("input_device = \"null\"\n", "")
        .replace("output_device = \"null\"\n", "fallback = \"error\"\n");
    assert!(text.contains("fallback = \"error\"") && !text.contains("_device"));
    let mut bb = Bb::start(&dir, "nodev", &text);
    let mut events = bb.subscribe();
    let call = sim.call_in("09012345678", "0312345679");
    events.event("ringing");
    bb.ok(&["answer"], None);
    events.event("answered");
    common::wait_until("media both ways", 20, || {
        let st: serde_json::Value =
            serde_json::from_str(&bb.ok(&["status", "--json"], None)).expect("json");
        st["calls"][0]["media"]["packets_received"]
            .as_u64()
            .unwrap_or(0)
            > 0
            && st["calls"][0]["media"]["packets_sent"]
                .as_u64()
                .unwrap_or(0)
                > 0
    });
    sim.http("POST", &format!("/api/calls/{call}/hangup"), None);
    events.event("hung_up");
    let h = History::open_viewer(&dir.join("data/bbclient/history-nodev.sqlite3"))
        .expect("the history opens");
    let rows = h.recent(10).expect("rows");
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].outside_line.as_deref(), Some("0312345679"));
    assert!(bb.signal_and_wait("TERM"));
}
