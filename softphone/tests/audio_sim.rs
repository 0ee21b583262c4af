//! Real audio between two real `bbclient` processes through `bluebean-sim`,
//! the simulated BlueBean PBX: both register to it (built-in tenant,
//! extensions 1910 and 1330), 1910 dials 1330 and the simulator's B2BUA
//! bridges the two legs, relaying each side's SDP (RTP flows straight
//! between the phones). A 1 kHz tone from 1910's WAV file must arrive as a
//! 1 kHz tone at 1330 and 700 Hz the other way, for PCMU and for Opus; DTMF
//! crosses as RFC 4733 events. The mouth-to-ear delay and the RTCP figures
//! are printed, not asserted.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::audio::two_phones_talk;
use common::{Running, root, scratch};

/// The `bluebean-sim` binary beside this test's `bbclient`, built first
/// (`cargo test` builds only this package's binaries).
fn simulator_bin() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root())
        .args([
            "build",
            "--quiet",
            "-p",
            "simulator",
            "--bin",
            "bluebean-sim",
        ])
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build bluebean-sim: {e}"));
    assert!(status.success(), "building bluebean-sim failed ({status})");
    let bbclient = PathBuf::from(env!("CARGO_BIN_EXE_bbclient"));
    let bin = bbclient.with_file_name("bluebean-sim");
    assert!(
        bin.is_file(),
        "bluebean-sim is not at {} after building it",
        bin.display()
    );
    bin
}

/// Starts the simulator on a free port; returns it and its SIP address.
fn simulator() -> (Running, String) {
    let mut sim = Running::spawn(
        "bluebean-sim",
        Command::new(simulator_bin())
            .args(["--sip", "127.0.0.1:0", "--api", "127.0.0.1:0"])
            .env("BLUEBEAN_SIM_LOG", "warn"),
    );
    // Exactly: bluebean-sim ready sip=udp:ADDR api=http://ADDR
    let ready = sim.expect_line("bluebean-sim ready sip=udp:", 30);
    let sip = ready
        .split_whitespace()
        .find_map(|w| w.strip_prefix("sip=udp:"))
        .unwrap_or_else(|| panic!("no SIP address in the ready line: {ready}"))
        .to_string();
    (sim, sip)
}

fn call(name: &str, codecs: &str, rate: u32, expect_codec: &str) {
    let dir = scratch(name);
    let (mut sim, sip) = simulator();
    two_phones_talk(&dir, &sip, name, codecs, rate, expect_codec);
    sim.stop();
}

#[test]
fn pcmu_audio_crosses_both_ways_through_the_simulator() {
    call("audio-sim-pcmu", "\"PCMU\"", 8000, "PCMU/8000");
}

#[test]
fn opus_audio_crosses_both_ways_through_the_simulator() {
    call(
        "audio-sim-opus",
        "\"opus\", \"PCMU\"",
        48_000,
        "opus/48000/2",
    );
}
