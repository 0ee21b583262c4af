//! Real audio against baresip 1.0 as the peer (configs in
//! `fixtures/baresip/`): both register to kamailio; a call each way, and in
//! each the tone crosses both ways — 1 kHz bursts from `bbclient`, 700 Hz
//! from baresip (its `aufile` source). baresip is driven over `ctrl_tcp`
//! (netstring-framed JSON) and records what it decodes with `sndfile`.
//! bbclient calls baresip with Opus; baresip calls bbclient with PCMU.
//! With SRTP (baresip's `srtp.so`, libsrtp underneath), both ways: bbclient
//! with `srtp = "required"` calls baresip with `mediaenc=srtp-mand`, and
//! baresip with `mediaenc=srtp` (keys in RTP/AVP) calls bbclient with
//! `srtp = "optional"`; each side hears the other's tone only if it
//! decrypted it, and bbclient names the suite in its media lines.

mod common;

use std::io::{BufReader, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use common::audio::{Bursts, assert_tone, line, read_wav, wait_recorded, write_bursts};
use common::{Phone, Running, free_udp_port, require, root, scratch};

fn kamailio(port: u16, dir: &Path) -> Running {
    let bin = require("kamailio", "kamailio");
    let mut k = Running::spawn(
        "kamailio",
        Command::new(bin)
            .current_dir(dir)
            .arg("-f")
            .arg(root().join("fixtures/kamailio/kamailio.cfg"))
            .args(["-DD", "-E", "-l", &format!("udp:127.0.0.1:{port}"), "-Y"])
            .arg(dir),
    );
    k.expect_line(&format!("udp: 127.0.0.1 [127.0.0.1]:{port}"), 10);
    k
}

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
    dir: PathBuf,
}

impl Baresip {
    fn start(dir: &Path, kamailio_port: u16, rate: u32, codec: &str, mediaenc: &str) -> Baresip {
        let bin = require("baresip", "baresip");
        let home = dir.join("baresip");
        std::fs::create_dir_all(&home).expect("scratch dir is writable");
        let (sip, ctrl_port) = (free_udp_port(), free_tcp_port());
        let fill = |name: &str| {
            let text = std::fs::read_to_string(root().join("fixtures/baresip").join(name))
                .unwrap_or_else(|e| panic!("fixtures/baresip/{name}: {e}"));
            let text = text
                .replace("@SIP_PORT@", &sip.to_string())
                .replace("@CTRL_PORT@", &ctrl_port.to_string())
                .replace("@DIR@", &home.display().to_string())
                .replace("@RATE@", &rate.to_string())
                .replace("@KAMAILIO_PORT@", &kamailio_port.to_string())
                .replace("@AUDIO@", &format!("audio_codecs={codec}"))
                .replace(
                    "@MEDIAENC@",
                    &if mediaenc.is_empty() {
                        String::new()
                    } else {
                        format!(";mediaenc={mediaenc}")
                    },
                );
            std::fs::write(home.join(name), text).expect("scratch dir is writable");
        };
        fill("config");
        fill("accounts");
        write_bursts(&home.join("baresip-in.wav"), rate, Bursts::new(700.0), 20.0);
        let mut proc = Running::spawn("baresip", Command::new(bin).arg("-f").arg(&home));
        proc.expect_line("baresip is ready", 10);
        proc.expect_line("200 OK", 10); // registered at kamailio
        let deadline = Instant::now() + Duration::from_secs(5);
        let ctrl = loop {
            match TcpStream::connect(("127.0.0.1", ctrl_port)) {
                Ok(s) => break s,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
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
            dir: home,
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

    /// Waits for an event of `kind` (`CALL_INCOMING`, `CALL_ESTABLISHED`, …).
    fn expect_event(&mut self, kind: &str, secs: u64) -> serde_json::Value {
        if let Some(v) = self.seen.iter().find(|v| v["type"] == kind) {
            return v.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if v["type"] == kind {
                        return v;
                    }
                }
                Err(_) => panic!(
                    "baresip sent no {kind} event within {secs} s; events: {:?}; output:\n{}",
                    self.seen,
                    self.proc.seen.join("\n")
                ),
            }
        }
    }

    /// What baresip decoded during the call (sndfile's `dump-*-dec.wav`).
    fn heard(&self) -> (Vec<i16>, u32) {
        let dump = std::fs::read_dir(&self.dir)
            .expect("baresip dir")
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .unwrap_or_else(|| panic!("baresip recorded nothing in {}", self.dir.display()));
        read_wav(&dump)
    }
}

fn bbclient_settings(port: u16, codecs: &str, dir: &Path) -> String {
    bbclient_settings_srtp(port, codecs, dir, "off")
}

fn bbclient_settings_srtp(port: u16, codecs: &str, dir: &Path, srtp: &str) -> String {
    format!(
        "[account]\nserver = \"127.0.0.1:{port}\"\nuser = \"1910\"\npassword = \"pw1910\"\nlocal_addr = \"127.0.0.1:0\"\n\n\
         [sip]\nt1_ms = 50\n\n\
         [audio]\nsrtp = \"{srtp}\"\ncodecs = [{codecs}]\ninput_wav = \"{}\"\noutput_wav = \"{}\"\n",
        dir.join("1910-in.wav").display(),
        dir.join("1910-out.wav").display(),
    )
}

/// SRTCP crossed both ways: baresip's reports on our stream reached us and
/// authenticated (the "peer reports" part of the media line), and at most
/// one datagram failed: baresip sends one short packet (16 octets) to the
/// RTCP port before its SRTP is set up, which we drop as not authentic.
fn srtcp_both_ways(name: &str, status: &str, stopped: &str) {
    assert!(
        stopped.contains("peer reports loss"),
        "{name}: no SRTCP report from baresip authenticated: {stopped}"
    );
    let dropped: serde_json::Value = serde_json::from_str(status.trim()).expect("status JSON");
    let n = dropped["calls"][0]["media"]["srtp_dropped"].as_u64();
    assert!(
        n.is_some_and(|n| n <= 1),
        "{name}: SRTP drops {n:?}: {status}"
    );
}

fn check_both_ways(name: &str, dir: &Path, bs: &Baresip, rate: u32) {
    let (heard_b, rate_b) = bs.heard();
    let (heard_a, rate_a) = read_wav(&dir.join("1910-out.wav"));
    assert_eq!(rate_a, rate);
    assert_tone(
        &format!("{name}: bbclient to baresip"),
        &heard_b,
        rate_b,
        1000.0,
        700.0,
    );
    assert_tone(
        &format!("{name}: baresip to bbclient"),
        &heard_a,
        rate_a,
        700.0,
        1000.0,
    );
}

#[test]
fn bbclient_calls_baresip_with_opus() {
    let name = "audio-baresip-opus";
    let dir = scratch(name);
    write_bursts(&dir.join("1910-in.wav"), 48_000, Bursts::new(1000.0), 3.0);
    let port = free_udp_port();
    let mut kam = kamailio(port, &dir);
    let mut bs = Baresip::start(&dir, port, 48_000, "opus/48000/2", "");
    let mut a = Phone::start(
        &dir,
        name,
        &bbclient_settings(port, "\"opus\", \"PCMU\"", &dir),
    );
    a.proc.expect_line("registered as 1910", 15);

    a.verb(&["call", "1330"]);
    bs.expect_event("CALL_INCOMING", 10);
    bs.command("accept", "");
    a.proc.expect_line("answered", 10);
    let started = line(&mut a.proc, "media started", 10);
    assert!(started.contains("opus/48000/2"), "{started}");
    wait_recorded(&dir.join("1910-out.wav"), 4.0, 15);
    a.verb(&["hangup"]);
    bs.expect_event("CALL_CLOSED", 10);
    let stopped = line(&mut a.proc, "media stopped", 10);
    println!(
        "{name}: {}",
        stopped.split("media stopped: ").nth(1).unwrap_or(&stopped)
    );
    check_both_ways(name, &dir, &bs, 48_000);
    a.proc.stop();
    bs.proc.stop();
    kam.stop();
}

#[test]
fn baresip_calls_bbclient_with_pcmu() {
    let name = "audio-baresip-pcmu";
    let dir = scratch(name);
    write_bursts(&dir.join("1910-in.wav"), 8000, Bursts::new(1000.0), 3.0);
    let port = free_udp_port();
    let mut kam = kamailio(port, &dir);
    let mut bs = Baresip::start(&dir, port, 8000, "PCMU/8000", "");
    let mut a = Phone::start(&dir, name, &bbclient_settings(port, "\"PCMU\"", &dir));
    a.proc.expect_line("registered as 1910", 15);

    bs.command("dial", &format!("sip:1910@127.0.0.1:{port}"));
    a.proc.expect_line("ringing: call from 1330", 10);
    a.verb(&["answer"]);
    bs.expect_event("CALL_ESTABLISHED", 10);
    let started = line(&mut a.proc, "media started", 10);
    assert!(started.contains("PCMU/8000"), "{started}");
    wait_recorded(&dir.join("1910-out.wav"), 4.0, 15);
    bs.command("hangup", "");
    bs.expect_event("CALL_CLOSED", 10); // its recording is complete
    line(&mut a.proc, "hung up: remote_hangup", 10);
    let stopped = line(&mut a.proc, "media stopped", 10);
    println!(
        "{name}: {}",
        stopped.split("media stopped: ").nth(1).unwrap_or(&stopped)
    );
    check_both_ways(name, &dir, &bs, 8000);
    a.proc.stop();
    bs.proc.stop();
    kam.stop();
}

/// An SRTP call between bbclient (`srtp`) and baresip (`mediaenc`), placed
/// by bbclient when `bbclient_calls`, else by baresip; tones and SRTCP are
/// checked both ways, and bbclient names the suite.
fn srtp_call(name: &str, bbclient_calls: bool, srtp: &str, mediaenc: &str) {
    let dir = scratch(name);
    write_bursts(&dir.join("1910-in.wav"), 8000, Bursts::new(1000.0), 3.0);
    let port = free_udp_port();
    let mut kam = kamailio(port, &dir);
    let mut bs = Baresip::start(&dir, port, 8000, "PCMU/8000", mediaenc);
    let mut a = Phone::start(
        &dir,
        name,
        &bbclient_settings_srtp(port, "\"PCMU\"", &dir, srtp),
    );
    a.proc.expect_line("registered as 1910", 15);
    if bbclient_calls {
        a.verb(&["call", "1330"]);
        bs.expect_event("CALL_INCOMING", 10);
        bs.command("accept", "");
        a.proc.expect_line("answered", 10);
    } else {
        bs.command("dial", &format!("sip:1910@127.0.0.1:{port}"));
        a.proc.expect_line("ringing: call from 1330", 10);
        a.verb(&["answer"]);
        bs.expect_event("CALL_ESTABLISHED", 10);
    }
    let started = line(&mut a.proc, "media started", 10);
    assert!(
        started.contains("PCMU/8000 over SRTP AES_CM_128_HMAC_SHA1_"),
        "{started}"
    );
    // Long enough for baresip's first SRTCP report (every 5 s).
    wait_recorded(&dir.join("1910-out.wav"), 7.0, 20);
    let status = a.verb(&["status", "--json"]);
    if bbclient_calls {
        a.verb(&["hangup"]);
        bs.expect_event("CALL_CLOSED", 10);
    } else {
        bs.command("hangup", "");
        bs.expect_event("CALL_CLOSED", 10);
        line(&mut a.proc, "hung up: remote_hangup", 10);
    }
    let stopped = line(&mut a.proc, "media stopped", 10);
    println!(
        "{name}: {started}\n{name}: {}",
        stopped.split("media stopped: ").nth(1).unwrap_or(&stopped)
    );
    srtcp_both_ways(name, &status, &stopped);
    check_both_ways(name, &dir, &bs, 8000);
    a.proc.stop();
    bs.proc.stop();
    kam.stop();
}

#[test]
fn bbclient_requiring_srtp_calls_baresip_with_mandatory_srtp() {
    srtp_call("audio-baresip-srtp-out", true, "required", "srtp-mand");
}

#[test]
fn baresip_offering_srtp_calls_bbclient_with_optional_srtp() {
    srtp_call("audio-baresip-srtp-in", false, "optional", "srtp");
}
