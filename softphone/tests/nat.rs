//! Calls that cross a real NAT (issue 16): `bluebean-sim` on the internet,
//! `bbclient` behind a masquerading router whose UDP bindings expire after
//! [`NAT_TIMEOUT_S`] and whose outside ports are random (see
//! `common::netns`).
//!
//! - The phone learns its public address from the REGISTER's response
//!   (`received`/`rport`) and registers it as its Contact, so the
//!   simulator's INVITE goes to the router's outside address.
//! - Its keep-alives hold the binding open: a call still rings after three
//!   NAT timeouts. Without them (`keepalive_s = 0`) the same call never
//!   reaches it: that test proves that the first one can fail.
//! - Audio crosses both ways: the simulated caller's 440 Hz tone is heard
//!   by the phone, the phone's 1 kHz tone by the caller. The phone's SDP
//!   names the router's address but a port the router did not choose, so
//!   only symmetric RTP (the simulator sends where the phone's RTP comes
//!   from) brings the phone's audio home.
//! - Two phones behind the same NAT, on the same private port, are each
//!   reachable.
//! - Over TLS with SRTP required (a hosted PBX's settings), the INVITE
//!   comes on the phone's own connection and the audio crosses both ways
//!   encrypted: the caller decrypts the phone's tone with the key the phone
//!   announced inside TLS, the phone the caller's.

mod common;
mod operator_sim;

use std::path::Path;
use std::time::Duration;

use common::audio::{Bursts, assert_tone, read_wav, wait_recorded, write_bursts};
use common::netns::{NAT_TIMEOUT_S, Nat, PUBLIC_IP, WAN_IP, lan_ip};
use common::{Phone, Running, scratch};

/// The simulator on the internet host; returns it and its API address.
fn simulator(nat: &Nat) -> (Running, String) {
    let mut sim = Running::spawn(
        "bluebean-sim",
        nat.command(&nat.wan(), operator_sim::sim_bin())
            .args(["--sip", &format!("{WAN_IP}:5060")])
            .args(["--api", &format!("{WAN_IP}:0")])
            .env("BLUEBEAN_SIM_LOG", "warn"),
    );
    let ready = sim.expect_line("bluebean-sim ready", 30);
    let api = ready
        .split_whitespace()
        .find_map(|w| w.strip_prefix("api=http://"))
        .unwrap_or_else(|| panic!("no API address in the ready line: {ready}"))
        .to_string();
    (sim, api)
}

/// `bluebean-sim ctl ARGS` against the simulator's API, from the internet
/// host (the API is only there); its JSON answer.
fn ctl(nat: &Nat, api: &str, args: &[&str]) -> serde_json::Value {
    let out = nat
        .command(&nat.wan(), operator_sim::sim_bin())
        .args(["--api", api, "ctl"])
        .args(args)
        .output()
        .expect("bluebean-sim ctl runs");
    assert!(
        out.status.success(),
        "bluebean-sim ctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bluebean-sim ctl {args:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A phone behind the NAT (host `lan`), registered as `ext` with a long
/// expiry (so no re-registration refreshes the binding during the test),
/// playing a steady 1 kHz tone and recording what it hears.
fn phone_behind(nat: &Nat, lan: usize, dir: &Path, ext: &str, keepalive_s: u64) -> Phone {
    phone_behind_with(nat, lan, dir, ext, keepalive_s, "")
}

/// [`phone_behind`] with more `[sip]` lines.
fn phone_behind_with(
    nat: &Nat,
    lan: usize,
    dir: &Path,
    ext: &str,
    keepalive_s: u64,
    sip_extra: &str,
) -> Phone {
    let instance = format!("nat-{ext}");
    let settings = format!(
        "[account]\nserver = \"{WAN_IP}:5060\"\nuser = \"{ext}\"\npassword = \"pw{ext}\"\n\
         local_addr = \"{ip}:5062\"\nexpires = 3600\n\n\
         [sip]\nkeepalive_s = {keepalive_s}\n{sip_extra}\n\n\
         [audio]\ncodecs = [\"PCMU\"]\ninput_wav = \"{in_}\"\noutput_wav = \"{out}\"\n",
        ip = lan_ip(lan),
        in_ = dir.join(format!("{ext}-in.wav")).display(),
        out = dir.join(format!("{ext}-out.wav")).display(),
    );
    let tone = Bursts {
        freq: 1000.0,
        period_ms: 1000,
        on_ms: 1000,
    };
    write_bursts(&dir.join(format!("{ext}-in.wav")), 8000, tone, 30.0);
    let cfg = dir.join(format!("{instance}.toml"));
    common::write_settings(&cfg, &settings);
    let proc = Running::spawn(
        &format!("bbclient {instance}"),
        nat.command(&nat.lan(lan), env!("CARGO_BIN_EXE_bbclient"))
            .env("XDG_RUNTIME_DIR", dir.join("run"))
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("BBCLIENT_LOG", "info,rsipstack=warn")
            .args(["--instance", &instance, "run", "--headless", "--config"])
            .arg(&cfg),
    );
    Phone {
        proc,
        dir: dir.to_path_buf(),
        instance,
    }
}

/// The contact the simulator holds for `ext`.
fn contact_of(nat: &Nat, api: &str, ext: &str) -> String {
    let regs = ctl(nat, api, &["registrations"]);
    regs.as_array()
        .into_iter()
        .flatten()
        .filter(|r| r.get("extension").and_then(|e| e.as_str()) == Some(ext))
        .flat_map(|r| {
            r.get("contacts")
                .and_then(|c| c.as_array())
                .into_iter()
                .flatten()
        })
        .find_map(|c| {
            c.get("contact")
                .and_then(|c| c.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| panic!("the simulator holds no contact for {ext}: {regs}"))
}

/// The call id of a `ctl place` answer.
fn call_id(placed: &serde_json::Value) -> String {
    placed
        .get("id")
        .and_then(|i| i.as_u64())
        .unwrap_or_else(|| panic!("no call id in: {placed}"))
        .to_string()
}

/// Registers a phone behind the NAT, waits three NAT timeouts, has an
/// outside caller call it; whether it rang. When it rang, the call is
/// answered and audio checked both ways.
/// `None`: skipped (no namespaces here; said so).
fn call_after_nat_timeouts(name: &str, keepalive_s: u64) -> Option<bool> {
    let nat = Nat::build(1)?;
    let dir = scratch(name);
    let (mut sim, api) = simulator(&nat);
    let mut phone = phone_behind(&nat, 0, &dir, "1910", keepalive_s);
    phone.proc.expect_line("registered as 1910", 20);
    let contact = contact_of(&nat, &api, "1910");
    assert!(
        contact.contains(PUBLIC_IP),
        "the registered Contact is not the NAT's public address {PUBLIC_IP}: {contact}"
    );
    println!("{name}: registered contact {contact}");
    std::thread::sleep(Duration::from_secs(3 * NAT_TIMEOUT_S + 5));
    println!("{name}: the router's bindings now:\n{}", nat.bindings());
    let placed = ctl(&nat, &api, &["place", "09012345678", "0312345678"]);
    let id = call_id(&placed);
    if !phone.proc.try_expect_line("ringing: call from", 20) {
        sim.stop();
        return Some(false);
    }
    phone.verb(&["answer"]);
    phone.proc.expect_line("media started", 10);
    wait_recorded(&dir.join("1910-out.wav"), 2.0, 15);
    let media = ctl(&nat, &api, &["media", &id]);
    // The caller hangs up: its BYE must find the phone through the NAT.
    ctl(&nat, &api, &["hangup", &id]);
    phone.proc.expect_line("hung up: remote_hangup", 10);
    phone.proc.expect_line("media stopped", 10);
    let (heard, rate) = read_wav(&dir.join("1910-out.wav"));
    assert_tone(
        &format!("{name}: outside caller to the phone"),
        &heard,
        rate,
        440.0,
        1000.0,
    );
    // What the outside caller heard (the dominant tone of its last second).
    let party = media
        .as_array()
        .and_then(|a| a.first())
        .unwrap_or_else(|| panic!("no simulated party in: {media}"));
    let tone = party.get("tone_hz").and_then(|t| t.as_f64());
    let share = party.get("tone_share").and_then(|t| t.as_f64());
    println!(
        "{name}: the outside caller heard {tone:?} Hz (share {share:?}); its media: {}",
        party
            .get("media")
            .map(|m| m.to_string())
            .unwrap_or_default()
    );
    assert!(
        tone.is_some_and(|f| (f - 1000.0).abs() < 20.0) && share.is_some_and(|s| s > 0.5),
        "{name}: the phone's 1 kHz tone did not reach the outside caller: {party}"
    );
    phone.proc.stop();
    sim.stop();
    Some(true)
}

#[test]
fn a_phone_behind_a_nat_still_rings_after_three_nat_timeouts_and_talks_both_ways() {
    assert_ne!(
        call_after_nat_timeouts("nat-keepalive", 5),
        Some(false),
        "the call did not reach the phone behind the NAT although it sent keep-alives"
    );
}

#[test]
fn without_keepalives_the_nat_forgets_the_phone_and_the_call_never_rings() {
    assert_ne!(
        call_after_nat_timeouts("nat-no-keepalive", 0),
        Some(true),
        "the call reached the phone without keep-alives: the NAT did not expire its binding, \
         so the keep-alive test proves nothing"
    );
}

#[test]
fn two_phones_behind_one_nat_on_the_same_port_are_each_reachable() {
    let Some(nat) = Nat::build(2) else {
        return;
    };
    let dir = scratch("nat-two-phones");
    let (mut sim, api) = simulator(&nat);
    let mut a = phone_behind(&nat, 0, &dir, "1910", 5);
    let mut b = phone_behind(&nat, 1, &dir, "1911", 5);
    a.proc.expect_line("registered as 1910", 20);
    b.proc.expect_line("registered as 1911", 20);
    let (ca, cb) = (
        contact_of(&nat, &api, "1910"),
        contact_of(&nat, &api, "1911"),
    );
    println!("contacts: 1910 {ca}, 1911 {cb}");
    assert!(
        ca.contains(PUBLIC_IP) && cb.contains(PUBLIC_IP),
        "{ca} {cb}"
    );
    assert_ne!(
        ca, cb,
        "both phones registered the same public address and port"
    );
    let mut phones = [a, b];
    for (line, ring) in [("0312345678", 0), ("0312345679", 1)] {
        let placed = ctl(&nat, &api, &["place", "09012345678", line]);
        phones[ring].proc.expect_line("ringing: call from", 20);
        assert!(
            !phones[1 - ring]
                .proc
                .try_expect_line("ringing: call from", 1),
            "the call to {line} rang the other phone"
        );
        // Answered, then ended by the caller: the simulator's ACK and BYE
        // go to the Contact of the phone's 200, which must be public too.
        phones[ring].verb(&["answer"]);
        phones[ring].proc.expect_line("media started", 10);
        ctl(&nat, &api, &["hangup", &call_id(&placed)]);
        phones[ring].proc.expect_line("hung up: remote_hangup", 10);
    }
    for p in &mut phones {
        p.proc.stop();
    }
    sim.stop();
}

#[test]
fn over_tls_with_srtp_a_phone_behind_the_nat_is_rung_on_its_own_connection_and_talks_both_ways() {
    let Some(nat) = Nat::build(1) else {
        return;
    };
    let dir = scratch("nat-tls");
    write_bursts(
        &dir.join("tls-in.wav"),
        8000,
        Bursts {
            freq: 1000.0,
            period_ms: 1000,
            on_ms: 1000,
        },
        30.0,
    );
    let ca = dir.join("sim-ca.pem");
    let mut sim = Running::spawn(
        "bluebean-sim",
        nat.command(&nat.wan(), operator_sim::sim_bin())
            .args(["--sip", &format!("{WAN_IP}:5060")])
            .args(["--api", &format!("{WAN_IP}:0")])
            .args(["--sip-tls", &format!("{WAN_IP}:5061"), "--tls-ca-out"])
            .arg(&ca)
            .env("BLUEBEAN_SIM_LOG", "warn"),
    );
    let ready = sim.expect_line("bluebean-sim ready", 30);
    let api = ready
        .split_whitespace()
        .find_map(|w| w.strip_prefix("api=http://"))
        .unwrap_or_else(|| panic!("no API address in the ready line: {ready}"))
        .to_string();
    let settings = format!(
        "[account]\nserver = \"{WAN_IP}:5061\"\nuser = \"1910\"\npassword = \"pw1910\"\n\
         local_addr = \"{ip}:5062\"\ntransport = \"tls\"\n\n\
         [tls]\nca_file = \"{ca}\"\n\n\
         [audio]\nsrtp = \"required\"\ncodecs = [\"PCMU\"]\n\
         input_wav = \"{in_}\"\noutput_wav = \"{out}\"\n",
        ip = lan_ip(0),
        ca = ca.display(),
        in_ = dir.join("tls-in.wav").display(),
        out = dir.join("tls-out.wav").display(),
    );
    let cfg = dir.join("nat-tls.toml");
    common::write_settings(&cfg, &settings);
    let mut phone = Phone {
        proc: Running::spawn(
            "bbclient nat-tls",
            nat.command(&nat.lan(0), env!("CARGO_BIN_EXE_bbclient"))
                .env("XDG_RUNTIME_DIR", dir.join("run"))
                .env("XDG_DATA_HOME", dir.join("data"))
                .env("BBCLIENT_LOG", "info,rsipstack=warn")
                .args(["--instance", "nat-tls", "run", "--headless", "--config"])
                .arg(&cfg),
        ),
        dir: dir.clone(),
        instance: "nat-tls".into(),
    };
    phone.proc.expect_line("registered as 1910", 20);
    let contact = contact_of(&nat, &api, "1910");
    println!("registered contact over TLS: {contact}");
    assert!(contact.contains(PUBLIC_IP), "{contact}");
    // The router lets nothing in from outside that does not answer a
    // connection made from inside: the INVITE can only come on the phone's.
    let placed = ctl(
        &nat,
        &api,
        &["place", "09012345678", "0312345678", "--srtp", "required"],
    );
    let id = call_id(&placed);
    phone.proc.expect_line("ringing: call from", 20);
    phone.verb(&["answer"]);
    phone.proc.expect_line("media started", 10);
    wait_recorded(&dir.join("tls-out.wav"), 2.0, 15);
    let status = phone.verb(&["status", "--json"]);
    let media = ctl(&nat, &api, &["media", &id]);
    ctl(&nat, &api, &["hangup", &id]);
    phone.proc.expect_line("hung up: remote_hangup", 10);
    let (heard, rate) = read_wav(&dir.join("tls-out.wav"));
    assert_tone("TLS+SRTP: caller to the phone", &heard, rate, 440.0, 1000.0);
    assert!(
        status.contains("\"srtp\":\"AES_CM_128_HMAC_SHA1_80\""),
        "the phone does not report SRTP: {status}"
    );
    let party = media
        .as_array()
        .and_then(|a| a.first())
        .unwrap_or_else(|| panic!("no simulated party in: {media}"));
    println!("TLS+SRTP: the caller's media: {party}");
    assert_eq!(
        party["media"]["srtp"], "AES_CM_128_HMAC_SHA1_80",
        "the caller does not report SRTP: {party}"
    );
    let tone = party["tone_hz"].as_f64();
    assert!(
        tone.is_some_and(|f| (f - 1000.0).abs() < 20.0)
            && party["tone_share"].as_f64().is_some_and(|s| s > 0.5),
        "the phone's 1 kHz tone did not reach the caller through SRTP: {party}"
    );
    phone.proc.stop();
    sim.stop();
}

#[test]
fn with_stun_the_sdp_names_the_address_the_stun_server_saw() {
    let Some(nat) = Nat::build(1) else {
        return;
    };
    let dir = scratch("nat-stun");
    let (mut sim, api) = simulator(&nat);
    // The simulator answers STUN on its SIP port.
    let stun = format!("stun_server = \"{WAN_IP}:5060\"");
    let mut phone = phone_behind_with(&nat, 0, &dir, "1910", 5, &stun);
    phone.proc.expect_line("registered as 1910", 20);
    let placed = ctl(&nat, &api, &["place", "09012345678", "0312345678"]);
    let id = call_id(&placed);
    phone.proc.expect_line("ringing: call from", 20);
    phone.verb(&["answer"]);
    phone.proc.expect_line("media started", 10);
    wait_recorded(&dir.join("1910-out.wav"), 2.0, 15);
    let media = ctl(&nat, &api, &["media", &id]);
    ctl(&nat, &api, &["hangup", &id]);
    phone.proc.expect_line("hung up: remote_hangup", 10);
    let party = media
        .as_array()
        .and_then(|a| a.first())
        .unwrap_or_else(|| panic!("no simulated party in: {media}"));
    let m = &party["media"];
    println!("the outside caller's media: {m}");
    // What the STUN server told the phone is what its SDP named. (This
    // router maps each destination to another random port — a symmetric
    // NAT, where STUN's answer holds for the STUN server only — so the
    // outside caller still latches onto where the RTP really comes from.)
    let learned = phone
        .proc
        .seen
        .iter()
        .find_map(|l| l.split(" is seen at ").nth(1))
        .and_then(|r| r.split(';').next())
        .map(str::to_string)
        .unwrap_or_else(|| {
            panic!(
                "the phone did not say what STUN told it: {:#?}",
                phone.proc.seen
            )
        });
    println!("STUN told the phone: {learned}");
    assert!(learned.starts_with(PUBLIC_IP), "{learned}");
    assert_eq!(
        m["remote"].as_str(),
        Some(learned.as_str()),
        "the SDP does not name what STUN said: {m}"
    );
    assert!(
        party["tone_hz"]
            .as_f64()
            .is_some_and(|f| (f - 1000.0).abs() < 20.0),
        "the phone's tone did not reach the outside caller: {party}"
    );
    let (heard, rate) = read_wav(&dir.join("1910-out.wav"));
    assert_tone(
        "nat-stun: outside caller to the phone",
        &heard,
        rate,
        440.0,
        1000.0,
    );
    phone.proc.stop();
    sim.stop();
}
