//! The RFC 4475 / RFC 5118 torture corpus sent over UDP to a running
//! `bbclient`: each message gets the manifest's `ua_action` as a peer sees it
//! on the wire, and the phone keeps serving calls afterwards.
//!
//! The corpus is read from `$BB_SIP_TORTURE_DIR`, else
//! `../shared/fixtures/sip-torture` beside the workspace, else
//! `fixtures/sip-torture` inside it. When it is missing, the run fails under
//! `CI=true`; elsewhere the test says `SKIPPED` and is counted as skipped
//! (`bb_testenv::torture_corpus`). It runs without libtest so that nothing
//! reports it as passed.
//!
//! What a peer can observe for one datagram, from its own fresh socket:
//! - silence for 600 ms: *drop* (our guard dropped it, or the stack discarded a
//!   stray response);
//! - a response whose status is one the inbound guard gives (400, 406, 415,
//!   416, 420, 501, 505): *reject/respond N*;
//! - any other response (100/180 for an INVITE, 200 for OPTIONS, 405 for
//!   REGISTER or MESSAGE at a softphone, 481 for a BYE outside a dialog, 488
//!   for an SDP it cannot use): *process* (the stack and the application had
//!   it).
//!
//! The manifest's `ua_action` is read the same way as `crates/bb-sip/tests/torture.rs`
//! reads it (first choice plus the alternatives the RFC allows).

mod common;

use common::{Phone, Running, free_udp_port, require, root, scratch};
use std::fmt;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const TEST: &str = "torture_udp::every_torture_message_gets_the_manifest_action_over_udp";

struct Row {
    file: String,
    short: String,
    ua_action: String,
    liberal_ok: bool,
    kind: String,
    call_id: String,
    bytes: Vec<u8>,
}

fn load(dir: &Path) -> Vec<Row> {
    let path = dir.join("MANIFEST.tsv");
    let manifest = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut lines = manifest.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("{} has no column '{name}'", path.display()))
    };
    let (c_file, c_short, c_act, c_lib, c_kind, c_cid) = (
        col("file"),
        col("short_name"),
        col("ua_action"),
        col("liberal_ok"),
        col("kind"),
        col("call_id"),
    );
    lines
        .filter(|l| !l.is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let get = |i: usize| f.get(i).copied().unwrap_or_default().to_string();
            let file = get(c_file);
            let bytes = std::fs::read(dir.join(&file))
                .unwrap_or_else(|e| panic!("cannot read corpus file {file}: {e}"));
            Row {
                short: get(c_short),
                ua_action: get(c_act),
                liberal_ok: get(c_lib) == "yes",
                kind: get(c_kind),
                call_id: get(c_cid),
                file,
                bytes,
            }
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Process,
    Drop,
    Reply(u16),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Process => write!(f, "process"),
            Outcome::Drop => write!(f, "drop"),
            Outcome::Reply(n) => write!(f, "{n}"),
        }
    }
}

#[derive(Default)]
struct Expect {
    first: Option<Outcome>,
    process: bool,
    drop: bool,
    statuses: Vec<u16>,
}

/// Reads `ua_action` as `crates/bb-sip/tests/torture.rs` does: response codes
/// are the numbers after "reject", "respond" or "or", or before "also
/// acceptable"; numbers after a role ("proxy: 483", "registrar: 200") are what
/// another role sends.
fn expectation(r: &Row) -> Expect {
    let a = r.ua_action.as_str();
    let mut e = Expect::default();
    let words: Vec<&str> = a
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| "(),;".contains(c)))
        .collect();
    for (i, w) in words.iter().enumerate() {
        let Ok(n) = w.parse::<u16>() else { continue };
        if !(400..=699).contains(&n) {
            continue;
        }
        let before = i.checked_sub(1).and_then(|j| words.get(j)).copied();
        let after = words.get(i + 1).copied();
        if matches!(before, Some("reject" | "respond" | "or")) || after == Some("also") {
            e.statuses.push(n);
        }
    }
    if r.kind == "response" {
        // Responses are never answered: on the wire, passing a stray one to
        // the stack and dropping it look the same.
        e.process = true;
        e.drop = true;
        e.first = Some(Outcome::Drop);
        return e;
    }
    if a.starts_with("process") {
        e.process = true;
        e.first = Some(Outcome::Process);
    } else if a.starts_with("drop") {
        e.drop = true;
        e.first = Some(Outcome::Drop);
    } else if let Some(&n) = e.statuses.first() {
        e.first = Some(Outcome::Reply(n));
    }
    if a.contains("registrar") || a.contains("proxy: process") || a.contains("fall back") {
        e.process = true;
    }
    if r.liberal_ok {
        e.process = true;
    }
    if r.call_id == "-" {
        e.drop = true;
    }
    e
}

/// The statuses the inbound guard answers with.
const GUARD_STATUSES: [u16; 7] = [400, 406, 415, 416, 420, 501, 505];

/// Sends `bytes` from a fresh socket and says what came back.
fn observe(to: SocketAddr, bytes: &[u8]) -> (Outcome, String) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("a UDP socket on loopback");
    sock.send_to(bytes, to)
        .expect("send a datagram to bbclient");
    let deadline = Instant::now() + Duration::from_millis(600);
    let mut buf = vec![0u8; 65536];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (Outcome::Drop, String::new());
        }
        sock.set_read_timeout(Some(left)).expect("read timeout");
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            return (Outcome::Drop, String::new());
        };
        let text = String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned();
        let line = text.lines().next().unwrap_or_default().to_string();
        let status = line
            .strip_prefix("SIP/2.0 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse::<u16>().ok());
        match status {
            Some(s) if GUARD_STATUSES.contains(&s) => return (Outcome::Reply(s), line),
            Some(_) => return (Outcome::Process, line),
            // Not a response (a request from the phone to this port would be
            // odd); keep listening.
            None => continue,
        }
    }
}

fn settings(server_port: u16) -> String {
    // No registrar listens on the server port: incoming calls reach the phone
    // all the same.
    format!(
        "[account]\nserver = \"127.0.0.1:{server_port}\"\nuser = \"1910\"\npassword = \"pw1910\"\nlocal_addr = \"127.0.0.1:0\"\n\n[sip]\nt1_ms = 50\n"
    )
}

fn sip_addr(phone: &mut Phone) -> SocketAddr {
    let line = phone.proc.expect_line("(SIP 127.0.0.1:", 10);
    line.split("(SIP ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no SIP address in {line:?}"))
}

/// Rejects every call the corpus left ringing.
fn clear_calls(phone: &Phone) {
    for _ in 0..64 {
        let status = phone.verb(&["status", "--json"]);
        if status.contains("\"calls\":[]") {
            return;
        }
        let _ = Command::new(env!("CARGO_BIN_EXE_bbclient"))
            .env("XDG_RUNTIME_DIR", phone.dir.join("run"))
            .args(["--instance", &phone.instance, "hangup"])
            .output();
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = phone.verb(&["status", "--json"]);
    assert!(
        status.contains("\"calls\":[]"),
        "the corpus calls could not be cleared: {status}"
    );
}

fn sipp_calls_us(dir: &Path, addr: SocketAddr) -> Running {
    let sipp = require("sipp", "sip-tester");
    let scenario = root().join("fixtures/sipp/uac_calls_us.xml");
    Running::spawn(
        "sipp uac_calls_us.xml",
        Command::new(sipp)
            .current_dir(dir)
            .arg("-sf")
            .arg(&scenario)
            .args(["-i", "127.0.0.1", "-p", &free_udp_port().to_string()])
            .args(["-m", "1", "-timeout", "30s", "-timeout_error", "-nostdin"])
            .args(["-s", "1910", &addr.to_string()]),
    )
}

/// Runs without libtest (`harness = false` in Cargo.toml), so that a missing
/// corpus is reported as not run rather than as a passed test.
fn main() {
    every_torture_message_gets_the_manifest_action_over_udp();
}

fn every_torture_message_gets_the_manifest_action_over_udp() {
    // Missing corpus: a failure under CI=true, else SKIPPED and counted.
    let Some(corpus) = bb_testenv::torture_corpus() else {
        println!("{TEST}: 0 messages sent, the over-the-wire torture check did not run");
        return;
    };
    let rows = load(&corpus);
    let dir = scratch("torture-udp");
    let mut phone = Phone::start(&dir, "torture-udp", &settings(free_udp_port()));
    let addr = sip_addr(&mut phone);

    let mut matched = 0;
    let mut first_choice = 0;
    let mut differ = Vec::new();
    let mut drops_expected = 0;
    println!(
        "sip-torture corpus: {} ({} files)",
        corpus.display(),
        rows.len()
    );
    for r in &rows {
        let e = expectation(r);
        let (got, line) = observe(addr, &r.bytes);
        let allowed = match got {
            Outcome::Process => e.process,
            Outcome::Drop => e.drop,
            Outcome::Reply(n) => e.statuses.contains(&n),
        };
        if got == Outcome::Drop && r.kind == "request" {
            drops_expected += 1;
        }
        let mark = if Some(got) == e.first {
            first_choice += 1;
            matched += 1;
            "first"
        } else if allowed {
            matched += 1;
            "alt"
        } else {
            differ.push(format!(
                "{} (got {got} '{line}', manifest '{}')",
                r.short, r.ua_action
            ));
            "DIFFERS"
        };
        println!("  {:<40} {:<8} {mark:<7} {line}", r.file, got.to_string());
    }
    println!(
        "torture over UDP: {} files, {matched} match the manifest's ua_action ({first_choice} first choice), {} differ",
        rows.len(),
        differ.len()
    );

    // The guard counted what it dropped (requests with no Call-ID/From/To…).
    if drops_expected > 0 {
        phone.proc.expect_line("sip: dropped a datagram", 5);
    }

    // The phone still serves calls: clear what the corpus left ringing, then
    // a real call from sipp is rung, answered and hung up by the peer.
    clear_calls(&phone);
    let mut sipp = sipp_calls_us(&dir, addr);
    phone
        .proc
        .expect_line("ringing: call from 09012345678 to 0312345678", 10);
    phone.verb(&["answer"]);
    phone.proc.expect_line("answered", 10);
    phone.proc.expect_line("hung up: remote_hangup", 15);
    assert_eq!(
        sipp.wait_exit(15),
        Some(true),
        "sipp's call after the corpus failed:\n{}",
        sipp.seen.join("\n")
    );
    let alive = phone.proc.wait_exit(0);
    assert_eq!(alive, None, "bbclient exited during the corpus");
    assert!(
        !phone.proc.seen.iter().any(|l| l.contains("panicked")),
        "bbclient panicked:\n{}",
        phone.proc.seen.join("\n")
    );
    phone.proc.stop();
    assert!(
        differ.is_empty(),
        "{} of {} torture messages did not get the manifest's ua_action over UDP:\n  {}",
        differ.len(),
        rows.len(),
        differ.join("\n  ")
    );
}
