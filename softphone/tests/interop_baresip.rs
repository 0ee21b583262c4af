//! Signalling interoperability with baresip 1.0 (Debian) as a real peer,
//! peer to peer on loopback with no registrar (configs in
//! `fixtures/baresip-sip/`): baresip calls `bbclient` and `bbclient` calls
//! baresip; hang-up from each side; CANCEL from each side; hold from each
//! side. baresip is driven over `ctrl_tcp` (netstring-framed JSON commands,
//! events back the same way); `bbclient` over its control verbs. What each
//! side reports (baresip's events, bbclient's lines and `status --json`) is
//! what is checked.

mod common;

use std::io::{BufReader, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use common::audio::{Bursts, write_bursts};
use common::{Phone, Running, free_udp_port, require, root, scratch, wait_until};

/// A free TCP port on loopback (closed again before returning).
fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free TCP port")
        .port()
}

/// baresip with the fixture configuration, and its ctrl_tcp connection.
struct Baresip {
    proc: Running,
    ctrl: TcpStream,
    events: Receiver<serde_json::Value>,
    seen: Vec<serde_json::Value>,
    sip: SocketAddr,
}

impl Baresip {
    fn start(dir: &Path) -> Baresip {
        let bin = require("baresip", "baresip");
        let home = dir.join("baresip");
        std::fs::create_dir_all(&home).expect("scratch dir is writable");
        let (sip, ctrl_port) = (free_udp_port(), free_tcp_port());
        for name in ["config", "accounts"] {
            let text = std::fs::read_to_string(root().join("fixtures/baresip-sip").join(name))
                .unwrap_or_else(|e| panic!("fixtures/baresip-sip/{name}: {e}"));
            let text = text
                .replace("@SIP_PORT@", &sip.to_string())
                .replace("@CTRL_PORT@", &ctrl_port.to_string())
                .replace("@DIR@", &home.display().to_string());
            std::fs::write(home.join(name), text).expect("scratch dir is writable");
        }
        // baresip's microphone: long enough for every call of a test.
        write_bursts(&home.join("baresip-in.wav"), 8000, Bursts::new(700.0), 60.0);
        let mut proc = Running::spawn("baresip", Command::new(bin).arg("-f").arg(&home));
        proc.expect_line("baresip is ready", 10);
        let deadline = Instant::now() + Duration::from_secs(5);
        let ctrl = loop {
            match TcpStream::connect(("127.0.0.1", ctrl_port)) {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("baresip's ctrl_tcp on port {ctrl_port} does not answer: {e}"),
            }
        };
        let (tx, events) = channel();
        let mut reader = BufReader::new(ctrl.try_clone().expect("socket clone"));
        std::thread::spawn(move || common::forward_netstrings(&mut reader, &tx));
        Baresip {
            proc,
            ctrl,
            events,
            seen: Vec::new(),
            sip: SocketAddr::from(([127, 0, 0, 1], sip)),
        }
    }

    fn command(&mut self, command: &str, params: &str) {
        let body =
            serde_json::json!({"command": command, "params": params, "token": command}).to_string();
        let frame = format!("{}:{body},", body.len());
        self.ctrl
            .write_all(frame.as_bytes())
            .unwrap_or_else(|e| panic!("cannot send '{command}' to baresip: {e}"));
    }

    /// Waits for an event of `kind` (`CALL_INCOMING`, `CALL_ESTABLISHED`, …)
    /// not seen before; returns it.
    fn expect_event(&mut self, kind: &str, secs: u64) -> serde_json::Value {
        if let Some(i) = self.seen.iter().position(|v| v["type"] == kind) {
            return self.seen.remove(i);
        }
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(v) if v["type"] == kind => return v,
                Ok(v) => self.seen.push(v),
                Err(_) => panic!(
                    "baresip sent no {kind} event within {secs} s; events: {:?}; output:\n{}",
                    self.seen,
                    self.proc.seen.join("\n")
                ),
            }
        }
    }
}

/// bbclient whose SIP server is `server` (baresip itself when bbclient
/// calls; a port nobody answers when only baresip calls).
fn bbclient(dir: &Path, name: &str, server: SocketAddr) -> Phone {
    let settings = format!(
        "[account]\nserver = \"{server}\"\nuser = \"1910\"\npassword = \"pw1910\"\nlocal_addr = \"127.0.0.1:0\"\n\n\
         [sip]\nt1_ms = 50\n\n[audio]\ncodecs = [\"PCMU\"]\n"
    );
    Phone::start(dir, name, &settings)
}

fn sip_addr(phone: &mut Phone) -> String {
    let line = phone.proc.expect_line("(SIP 127.0.0.1:", 10);
    line.split("(SIP ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .unwrap_or_else(|| panic!("no SIP address in {line:?}"))
        .to_string()
}

fn status(phone: &Phone) -> String {
    phone.verb(&["status", "--json"])
}

fn nobody() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_udp_port()))
}

#[test]
fn baresip_calls_bbclient_which_holds_and_baresip_hangs_up() {
    let dir = scratch("baresip-calls-us");
    let mut bs = Baresip::start(&dir);
    let mut phone = bbclient(&dir, "baresip-calls-us", nobody());
    let addr = sip_addr(&mut phone);

    bs.command("dial", &format!("sip:1910@{addr}"));
    phone.proc.expect_line("ringing: call from 1330", 10);
    phone.verb(&["answer"]);
    bs.expect_event("CALL_ESTABLISHED", 10);
    phone.proc.expect_line("answered", 10);

    // bbclient holds baresip (sendonly re-INVITE) and resumes.
    phone.verb(&["hold"]);
    phone.proc.expect_line("on hold", 10);
    assert!(status(&phone).contains("\"held\""), "{}", status(&phone));
    phone.verb(&["unhold"]);
    phone.proc.expect_line("resumed", 10);
    assert!(status(&phone).contains("\"talking\""), "{}", status(&phone));

    bs.command("hangup", "");
    bs.expect_event("CALL_CLOSED", 10);
    phone.proc.expect_line("hung up: remote_hangup", 10);
    assert!(
        status(&phone).contains("\"calls\":[]"),
        "{}",
        status(&phone)
    );
    phone.proc.stop();
    bs.proc.stop();
}

#[test]
fn bbclient_calls_baresip_which_holds_and_bbclient_hangs_up() {
    let dir = scratch("baresip-called");
    let mut bs = Baresip::start(&dir);
    let mut phone = bbclient(&dir, "baresip-called", bs.sip);
    let _ = sip_addr(&mut phone);

    phone.verb(&["call", "1330"]);
    let incoming = bs.expect_event("CALL_INCOMING", 10);
    assert!(
        incoming["peeruri"]
            .as_str()
            .is_some_and(|u| u.contains("1910")),
        "baresip sees the call from 1910: {incoming}"
    );
    bs.command("accept", "");
    phone.proc.expect_line("answered", 10);
    bs.expect_event("CALL_ESTABLISHED", 10);

    // baresip holds bbclient and resumes: bbclient answers both re-INVITEs
    // and shows the peer's hold.
    bs.command("hold", "");
    wait_until("bbclient shows the peer's hold", 10, || {
        status(&phone).contains("\"held_by_peer\"")
    });
    bs.command("resume", "");
    wait_until("bbclient shows the call resumed", 10, || {
        status(&phone).contains("\"talking\"")
    });

    phone.verb(&["hangup"]);
    phone.proc.expect_line("hung up: local_hangup", 10);
    bs.expect_event("CALL_CLOSED", 10);
    phone.proc.stop();
    bs.proc.stop();
}

#[test]
fn cancel_both_ways_with_baresip() {
    let dir = scratch("baresip-cancel");
    let mut bs = Baresip::start(&dir);
    let mut phone = bbclient(&dir, "baresip-cancel", bs.sip);
    let addr = sip_addr(&mut phone);

    // bbclient gives up while baresip rings: CANCEL, baresip closes the call.
    phone.verb(&["call", "1330"]);
    bs.expect_event("CALL_INCOMING", 10);
    phone.proc.expect_line("dialing 1330", 10);
    std::thread::sleep(Duration::from_millis(300));
    phone.verb(&["hangup"]);
    phone.proc.expect_line("hung up: local_hangup", 10);
    bs.expect_event("CALL_CLOSED", 10);

    // baresip gives up while bbclient rings.
    bs.command("dial", &format!("sip:1910@{addr}"));
    phone.proc.expect_line("ringing: call from 1330", 10);
    bs.command("hangup", "");
    phone.proc.expect_line("hung up: caller_cancelled", 10);
    bs.expect_event("CALL_CLOSED", 10);

    // bbclient declines a call: baresip sees it closed.
    bs.command("dial", &format!("sip:1910@{addr}"));
    phone.proc.expect_line("ringing: call from 1330", 10);
    phone.verb(&["hangup"]);
    bs.expect_event("CALL_CLOSED", 10);
    assert!(
        status(&phone).contains("\"calls\":[]"),
        "{}",
        status(&phone)
    );
    phone.proc.stop();
    bs.proc.stop();
}
