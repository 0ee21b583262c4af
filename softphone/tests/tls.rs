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
//!   match, an expired certificate;
//! - through a TCP relay the test controls: when the connection is cut the
//!   phone dials again, registers again and is rung on the new connection;
//!   when the connection goes silent (the relay stops forwarding but keeps
//!   it open, as a dead NAT binding or a hung server would) the keep-alive
//!   finds no pong within 10 s, and the phone drops it and dials again.

mod common;
mod operator_sim;

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
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
    simulator_with(dir, &[])
}

fn simulator_with(dir: &std::path::Path, extra: &[&str]) -> Sim {
    let ca = dir.join("sim-ca.pem");
    let mut proc = Running::spawn(
        "bluebean-sim",
        Command::new(operator_sim::sim_bin())
            .args(["--sip", "127.0.0.1:0", "--api", "127.0.0.1:0"])
            .args(["--sip-tls", "127.0.0.1:0", "--tls-ca-out"])
            .arg(&ca)
            .args(extra)
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
    phone_at(&sim.tls, dir, name, tls, "")
}

/// A phone on TLS to `server` with `[tls]` lines `tls` and `[sip]` lines
/// `sip`.
fn phone_at(server: &str, dir: &std::path::Path, name: &str, tls: &str, sip: &str) -> Phone {
    let wav = dir.join(format!("{name}-in.wav"));
    common::audio::write_bursts(&wav, 8000, common::audio::Bursts::new(1000.0), 5.0);
    let settings = format!(
        "[account]\nserver = \"{}\"\nuser = \"1910\"\npassword = \"pw1910\"\n\
         local_addr = \"127.0.0.1:0\"\ntransport = \"tls\"\n\n\
         [tls]\n{tls}\n\n\
         [sip]\n{sip}\n\n\
         [audio]\ncodecs = [\"PCMU\"]\ninput_wav = \"{}\"\noutput_wav = \"{}\"\n",
        server,
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

#[test]
fn an_expired_certificate_is_refused_and_named() {
    let dir = scratch("tls-expired");
    let mut sim = simulator_with(&dir, &["--tls-expired"]);
    let mut p = phone(
        &sim,
        &dir,
        "tls-expired",
        &format!("ca_file = \"{}\"", sim.ca),
    );
    let line = p.proc.expect_line("registration failed", 20);
    println!("tls-expired: {line}");
    assert!(line.contains("expired"), "{line}");
    assert!(
        !p.proc.try_expect_line("registered as", 1),
        "registered after all"
    );
    p.proc.stop();
    sim.proc.stop();
}

/// A TCP relay on loopback in front of the simulator's TLS port: it
/// forwards each connection byte for byte, and can cut every connection
/// it carries, or stop forwarding on them while keeping them open.
struct Relay {
    addr: String,
    conns: Arc<Mutex<Vec<Carried>>>,
}

/// One carried connection: the phone's side, the simulator's side, and
/// whether it still forwards.
type Carried = (TcpStream, TcpStream, Arc<AtomicBool>);

impl Relay {
    fn start(to: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = listener.local_addr().expect("bound").to_string();
        let conns: Arc<Mutex<Vec<Carried>>> = Arc::new(Mutex::new(Vec::new()));
        let (to, list) = (to.to_string(), conns.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let Ok(server) = TcpStream::connect(&to) else {
                    continue;
                };
                let open = Arc::new(AtomicBool::new(true));
                for (mut from, mut into) in [
                    (client.try_clone(), server.try_clone()),
                    (server.try_clone(), client.try_clone()),
                ]
                .into_iter()
                .filter_map(|(a, b)| Some((a.ok()?, b.ok()?)))
                {
                    let open = open.clone();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 4096];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 {
                                break;
                            }
                            // Silenced: what arrives is swallowed.
                            if open.load(Ordering::SeqCst) && into.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = into.shutdown(Shutdown::Both);
                    });
                }
                if let Ok(mut l) = list.lock() {
                    l.push((client, server, open));
                }
            }
        });
        Relay { addr, conns }
    }

    /// How many connections it has carried.
    fn count(&self) -> usize {
        self.conns.lock().map(|l| l.len()).unwrap_or(0)
    }

    /// Cuts every connection (both ends see the TCP connection close).
    fn cut(&self) {
        for (c, s, _) in self.conns.lock().expect("relay list").iter() {
            let _ = c.shutdown(Shutdown::Both);
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Stops forwarding on every connection it has now, keeping them open.
    fn silence(&self) {
        for (_, _, open) in self.conns.lock().expect("relay list").iter() {
            open.store(false, Ordering::SeqCst);
        }
    }
}

/// A phone through a relay, registered; rung once to show the connection
/// works. Returns both, and the simulator.
fn through_relay(name: &str) -> (Sim, Relay, Phone) {
    let dir = scratch(name);
    let sim = simulator(&dir);
    let relay = Relay::start(&sim.tls);
    let mut p = phone_at(
        &relay.addr,
        &dir,
        name,
        &format!("ca_file = \"{}\"", sim.ca),
        "keepalive_s = 2",
    );
    p.proc.expect_line("registered as 1910", 20);
    assert_eq!(relay.count(), 1);
    (sim, relay, p)
}

/// The phone is rung over its (new) connection and the call ends.
fn rung(sim: &Sim, p: &mut Phone) {
    let placed = ctl(sim, &["place", "09012345678", "0312345678"]);
    let id = placed["id"].as_u64().expect("a call id").to_string();
    p.proc.expect_line("ringing: call from", 10);
    ctl(sim, &["hangup", &id]);
    p.proc.expect_line("hung up", 10);
}

#[test]
fn a_cut_tls_connection_is_dialled_again_and_carries_calls() {
    let (mut sim, relay, mut p) = through_relay("tls-cut");
    let cut = Instant::now();
    relay.cut();
    p.proc.expect_line("TLS connection to", 20); // the second one
    p.proc.expect_line("registered as 1910", 20);
    println!(
        "tls-cut: connected and registered again {} ms after the cut",
        cut.elapsed().as_millis()
    );
    assert_eq!(relay.count(), 2, "one new connection");
    rung(&sim, &mut p);
    p.proc.stop();
    sim.proc.stop();
}

#[test]
fn a_silent_tls_connection_is_found_dead_by_the_keepalive_and_replaced() {
    let (mut sim, relay, mut p) = through_relay("tls-silent");
    let silenced = Instant::now();
    relay.silence();
    let line = p.proc.expect_line("no answer to the keep-alive", 30);
    println!(
        "tls-silent: {} ms after the silence: {line}",
        silenced.elapsed().as_millis()
    );
    p.proc.expect_line("registered as 1910", 30);
    assert_eq!(relay.count(), 2, "one new connection");
    rung(&sim, &mut p);
    p.proc.stop();
    sim.proc.stop();
}
