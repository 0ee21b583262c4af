//! The automation protocol as a script sees it: plain line-delimited JSON on
//! the socket (no Rust types from this crate), a subscription, and the
//! events of a real call against sipp with its Call-ID.

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::{Phone, free_udp_port, scratch, start_sipp};
use serde_json::{Value, json};

/// A script's connection: write a line, read lines.
struct Script {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    seen: Vec<Value>,
    /// Read but not yet asked for: a reply and an event may arrive in either
    /// order (they travel different tasks), so neither wait may drop the other.
    pending: std::collections::VecDeque<Value>,
}

impl Script {
    fn connect(path: &std::path::Path) -> Script {
        let s = UnixStream::connect(path).expect("the control socket accepts");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        Script {
            reader: BufReader::new(s.try_clone().expect("clone")),
            writer: s,
            seen: Vec::new(),
            pending: std::collections::VecDeque::new(),
        }
    }

    fn send(&mut self, v: Value) {
        let mut line = v.to_string();
        line.push('\n');
        self.writer.write_all(line.as_bytes()).expect("write");
    }

    fn next(&mut self) -> Value {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).unwrap_or_else(|e| {
            panic!(
                "no line from the softphone within 10 s ({e}); seen: {:#?}",
                self.seen
            )
        });
        assert!(
            n > 0,
            "the softphone closed the connection; seen: {:#?}",
            self.seen
        );
        assert!(line.ends_with('\n'), "one message per line: {line:?}");
        let v: Value = serde_json::from_str(&line).expect("each line is one JSON object");
        self.seen.push(v.clone());
        v
    }

    /// The first message, already read or still to come, that `want` picks;
    /// the messages it passes over stay pending for later waits.
    fn take(&mut self, want: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.pending.iter().position(&want) {
            return self.pending.remove(i).unwrap_or(Value::Null);
        }
        loop {
            let v = self.next();
            if want(&v) {
                return v;
            }
            self.pending.push_back(v);
        }
    }

    /// The next event of this kind (other events are skipped).
    fn event(&mut self, kind: &str) -> Value {
        self.take(|v| v["type"] == "event" && v["event"] == kind)
    }

    /// The reply to `id` (events are kept for later `event` calls).
    fn reply(&mut self, id: u64) -> Value {
        self.take(|v| v["type"] == "reply" && v["id"] == id)
    }
}

#[test]
fn a_script_sees_the_events_of_a_call_with_its_call_id() {
    let dir = scratch("events-call");
    let port = free_udp_port();
    let mut sipp = start_sipp("registrar_uas_hold.xml", port, 2, &dir);
    let mut phone = Phone::start(
        &dir,
        "events",
        &format!(
            "[account]\nserver = \"127.0.0.1:{port}\"\nuser = \"1910\"\npassword = \"pw1910\"\nlocal_addr = \"127.0.0.1:0\"\n\n[sip]\nt1_ms = 50\n"
        ),
    );
    phone.proc.expect_line("registered as 1910", 15);
    let sock = dir.join("run/bbclient/events.sock");

    let mut s = Script::connect(&sock);
    s.send(json!({"id": 1, "cmd": "subscribe"}));
    assert_eq!(s.reply(1), json!({"type": "reply", "id": 1, "ok": true}));
    // The registration state comes right after the subscription, so a
    // script that subscribes late does not wait for the next refresh.
    let reg = s.event("registration");
    assert_eq!(reg["state"], "registered", "{reg}");
    assert!(reg.get("call_id").is_none(), "{reg}");

    // Commands go on the same connection as the events.
    s.send(json!({"id": 2, "cmd": "call", "number": "03-1234-5678"}));
    assert_eq!(s.reply(2)["ok"], true);
    let ringing = s.event("ringing");
    assert_eq!(ringing["direction"], "outgoing", "{ringing}");
    assert_eq!(
        ringing["remote_number"], "0312345678",
        "normalised: {ringing}"
    );
    let answered = s.event("answered");
    let call_id = answered["call_id"]
        .as_str()
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| panic!("answered carries the Call-ID: {answered}"))
        .to_string();
    // The outgoing ringing event already carried the INVITE's Call-ID.
    assert_eq!(ringing["call_id"], call_id.as_str(), "{ringing}");

    // A refusal is a reply, not an event, and says why.
    s.send(json!({"id": 3, "cmd": "transfer_complete"}));
    let r = s.reply(3);
    assert_eq!(r["ok"], false, "{r}");
    assert!(
        r["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("no transfer in progress"),
        "{r}"
    );

    s.send(json!({"id": 4, "cmd": "hold"}));
    assert_eq!(s.reply(4)["ok"], true);
    assert_eq!(s.event("held")["call_id"], call_id.as_str());
    s.send(json!({"id": 5, "cmd": "unhold"}));
    assert_eq!(s.reply(5)["ok"], true);
    assert_eq!(s.event("unheld")["call_id"], call_id.as_str());
    s.send(json!({"id": 6, "cmd": "hangup"}));
    assert_eq!(s.reply(6)["ok"], true);
    let hung_up = s.event("hung_up");
    assert_eq!(hung_up["call_id"], call_id.as_str(), "{hung_up}");
    assert_eq!(hung_up["cause"], "local", "{hung_up}");
    assert!(hung_up["duration_ms"].as_u64().is_some(), "{hung_up}");

    // A second subscriber on its own connection sees the same stream.
    let mut other = Script::connect(&sock);
    other.send(json!({"id": 9, "cmd": "status"}));
    let status = other.reply(9);
    assert_eq!(status["data"]["extension"], "1910", "{status}");
    other.send(json!({"id": 10, "cmd": "launch_missiles"}));
    let r = other.next();
    assert_eq!(
        (r["id"].as_u64(), r["ok"].as_bool()),
        (Some(0), Some(false)),
        "{r}"
    );
    assert!(
        r["error"]
            .as_str()
            .unwrap_or_default()
            .contains("launch_missiles"),
        "{r}"
    );

    assert_eq!(
        sipp.wait_exit(15),
        Some(true),
        "sipp: {}",
        sipp.seen.join("\n")
    );
    phone.proc.stop();
}
