//! Real audio between two real `bbclient` processes registered to kamailio
//! (which relays the signalling only; RTP flows straight between the
//! phones). Each plays tone bursts from a WAV file — 1 kHz from 1910,
//! 700 Hz from 1330, so the directions cannot be confused — and records
//! what it hears to another. After a few seconds of talk (and DTMF from
//! the caller, which must arrive as RFC 4733 events) the callee hangs up,
//! and both recordings must carry the other side's tone. The measured
//! mouth-to-ear delay and the RTCP figures are printed, not asserted.

mod common;

use std::path::Path;
use std::process::Command;

use common::audio::two_phones_talk;
use common::{Running, free_udp_port, require, root, scratch};

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

fn call(name: &str, codecs: &str, rate: u32, expect_codec: &str) {
    let dir = scratch(name);
    let port = free_udp_port();
    let mut kam = kamailio(port, &dir);
    two_phones_talk(
        &dir,
        &format!("127.0.0.1:{port}"),
        name,
        codecs,
        rate,
        expect_codec,
    );
    kam.stop();
}

#[test]
fn pcmu_audio_crosses_both_ways_between_two_bbclients() {
    call("audio-kam-pcmu", "\"PCMU\"", 8000, "PCMU/8000");
}

#[test]
fn opus_audio_crosses_both_ways_between_two_bbclients() {
    call(
        "audio-kam-opus",
        "\"opus\", \"PCMU\"",
        48_000,
        "opus/48000/2",
    );
}
