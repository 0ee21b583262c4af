//! SIP over TLS against `bluebean-sim --sip-tls` (issue 16): the simulator
//! makes a test CA at start and serves a certificate it signed for
//! `localhost` and its address. The phone has no TLS listener: it
//! registers on its own connection, and the simulator's INVITE comes back
//! on that same connection.
//!
//! - trusted through `[tls] ca_file`: registration, an incoming and an
//!   outgoing call with audio, each ended by the other side;
//! - trusted through `[tls] pin_sha256` alone;
//! - refused, with the reason in the registration's failure: an unknown CA
//!   (the system's store does not hold the test CA), a wrong host (the
//!   certificate does not carry `[tls] server_name`), a pin that does not
//!   match.

mod common;
mod operator_sim;

use std::process::Command;
use std::time::Instant;

use common::{Phone, Running, scratch};

/// A simulator serving TLS.
struct Sim {
    proc: Running,
    api: String,
    tls: String,
    ca: String,
    sha256: String,
}

fn field(line: &str, name: &str) -> String {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(name))
        .unwrap_or_else(|| panic!("no {name} in the ready line: {line}"))
        .to_string()
}

fn simulator(dir: &std::path::Path) -> Sim {
    let ca = dir.join("sim-ca.pem");
    let mut proc = Running::spawn(
        "bluebean-sim",
        Command::new(operator_sim::sim_bin())
            .args(["--sip", "127.0.0.1:0", "--api", "127.0.0.1:0"])
            .args(["--sip-tls", "127.0.0.1:0", "--tls-ca-out"])
            .arg(&ca)
            .env("BLUEBEAN_SIM_LOG", "warn"),
    );
    let ready = proc.expect_line("bluebean-sim ready", 30);
    Sim {
        api: field(&ready, "api=http://"),
        tls: field(&ready, "sips=tls:"),
        ca: field(&ready, "ca="),
        sha256: field(&ready, "cert_sha256="),
        proc,
    }
}

fn ctl(sim: &Sim, args: &[&str]) -> serde_json::Value {
    let out = Command::new(operator_sim::sim_bin())
        .args(["--api", &sim.api, "ctl"])
        .args(args)
        .output()
        .expect("bluebean-sim ctl runs");
    assert!(
        out.status.success(),
        "bluebean-sim ctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ctl prints JSON")
}

/// A phone on TLS to the simulator with `[tls]` lines `tls`.
fn phone(sim: &Sim, dir: &std::path::Path, name: &str, tls: &str) -> Phone {
    let wav = dir.join(format!("{name}-in.wav"));
    common::audio::write_bursts(&wav, 8000, common::audio::Bursts::new(1000.0), 5.0);
    let settings = format!(
        "[account]\nserver = \"{}\"\nuser = \"1910\"\npassword = \"pw1910\"\n\
         local_addr = \"127.0.0.1:0\"\ntransport = \"tls\"\n\n\
         [tls]\n{tls}\n\n\
         [audio]\ncodecs = [\"PCMU\"]\ninput_wav = \"{}\"\noutput_wav = \"{}\"\n",
        sim.tls,
        wav.display(),
        dir.join(format!("{name}-out.wav")).display(),
    );
    Phone::start(dir, name, &settings)
}

#[test]
fn over_tls_the_phone_registers_and_calls_both_ways_on_one_connection() {
    let dir = scratch("tls-calls");
    let mut sim = simulator(&dir);
    let started = Instant::now();
    let mut p = phone(
        &sim,
        &dir,
        "tls-calls",
        &format!("ca_file = \"{}\"", sim.ca),
    );
    p.proc.expect_line("registered as 1910", 20);
    println!(
        "registered over TLS {} ms after the start of bbclient",
        started.elapsed().as_millis()
    );
    let contact = ctl(&sim, &["registrations"]).to_string();
    assert!(
        contact.to_ascii_lowercase().contains("transport=tls"),
        "{contact}"
    );
    if let Some(l) = p.proc.seen.iter().find(|l| l.contains("TLS connection to")) {
        println!("{l}");
    }

    // Incoming: the INVITE comes on the phone's own connection.
    let placed = ctl(&sim, &["place", "09012345678", "0312345678"]);
    let id = placed
        .get("id")
        .and_then(|i| i.as_u64())
        .expect("a call id")
        .to_string();
    p.proc.expect_line("ringing: call from", 10);
    p.verb(&["answer"]);
    p.proc.expect_line("media started", 10);
    ctl(&sim, &["hangup", &id]);
    p.proc.expect_line("hung up: remote_hangup", 10);

    // Outgoing: an outside number answered by a simulated party.
    p.verb(&["call", "09011112222"]);
    p.proc.expect_line("media started", 15);
    p.verb(&["hangup"]);
    p.proc.expect_line("hung up: local_hangup", 10);
    assert!(
        !p.proc
            .seen
            .iter()
            .any(|l| l.contains("registration failed")),
        "{:#?}",
        p.proc.seen
    );
    p.proc.stop();
    sim.proc.stop();
}

#[test]
fn a_pinned_certificate_is_trusted_without_its_ca() {
    let dir = scratch("tls-pin");
    let mut sim = simulator(&dir);
    let pin = sim.sha256.clone();
    let mut p = phone(&sim, &dir, "tls-pin", &format!("pin_sha256 = \"{pin}\""));
    p.proc.expect_line("registered as 1910", 20);
    p.proc.stop();
    sim.proc.stop();
}

/// The phone's registration fails; the line that says so.
fn refused(name: &str, tls: &dyn Fn(&Sim) -> String) -> String {
    let dir = scratch(name);
    let mut sim = simulator(&dir);
    let mut p = phone(&sim, &dir, name, &tls(&sim));
    let line = p.proc.expect_line("registration failed", 20);
    println!("{name}: {line}");
    assert!(
        !p.proc.try_expect_line("registered as", 1),
        "{name}: registered after all"
    );
    p.proc.stop();
    sim.proc.stop();
    line
}

#[test]
fn an_unknown_ca_is_refused_and_named() {
    let line = refused("tls-unknown-ca", &|_| String::new());
    assert!(
        line.contains("unknown CA") && line.contains("ca_file"),
        "{line}"
    );
}

#[test]
fn a_wrong_host_is_refused_and_named() {
    let line = refused("tls-wrong-host", &|sim| {
        format!(
            "ca_file = \"{}\"\nserver_name = \"pbx.wrong.example\"",
            sim.ca
        )
    });
    assert!(
        line.contains("not valid for pbx.wrong.example") && line.contains("wrong host"),
        "{line}"
    );
}

#[test]
fn a_certificate_that_is_not_the_pinned_one_is_refused_and_named() {
    let line = refused("tls-wrong-pin", &|_| {
        format!("pin_sha256 = \"{}\"", "00".repeat(32))
    });
    assert!(line.contains("not the pinned one"), "{line}");
}
