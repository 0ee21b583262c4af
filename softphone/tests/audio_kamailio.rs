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

use common::audio::{
    Bursts, assert_tone, line, media_t0, median, mouth_to_ear_ms, read_wav, wait_recorded,
    write_bursts,
};
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

fn settings(ext: &str, port: u16, codecs: &str, dir: &Path) -> String {
    format!(
        "[account]\nserver = \"127.0.0.1:{port}\"\nuser = \"{ext}\"\npassword = \"pw{ext}\"\nlocal_addr = \"127.0.0.1:0\"\n\n\
         [sip]\nt1_ms = 50\n\n\
         [audio]\ncodecs = [{codecs}]\ninput_wav = \"{in_}\"\noutput_wav = \"{out}\"\n",
        in_ = dir.join(format!("{ext}-in.wav")).display(),
        out = dir.join(format!("{ext}-out.wav")).display(),
    )
}

fn call(name: &str, codecs: &str, rate: u32, expect_codec: &str) {
    let dir = scratch(name);
    let (b1910, b1330) = (Bursts::new(1000.0), Bursts::new(700.0));
    write_bursts(&dir.join("1910-in.wav"), rate, b1910, 3.0);
    write_bursts(&dir.join("1330-in.wav"), rate, b1330, 3.0);
    let port = free_udp_port();
    let mut kam = kamailio(port, &dir);
    let mut a = Phone::start(
        &dir,
        &format!("{name}-1910"),
        &settings("1910", port, codecs, &dir),
    );
    let mut b = Phone::start(
        &dir,
        &format!("{name}-1330"),
        &settings("1330", port, codecs, &dir),
    );
    a.proc.expect_line("registered as 1910", 15);
    b.proc.expect_line("registered as 1330", 15);

    a.verb(&["call", "1330"]);
    b.proc.expect_line("ringing: call from 1910", 10);
    b.verb(&["answer"]);
    let started_b = line(&mut b.proc, "media started", 10);
    let started_a = line(&mut a.proc, "media started", 10);
    assert!(started_a.contains(expect_codec), "{started_a}");
    assert!(started_b.contains(expect_codec), "{started_b}");

    wait_recorded(&dir.join("1330-out.wav"), 2.0, 15);
    a.verb(&["dtmf", "123#"]);
    for d in ['1', '2', '3', '#'] {
        line(&mut b.proc, &format!("received DTMF '{d}'"), 10);
    }
    wait_recorded(&dir.join("1330-out.wav"), 4.5, 15);

    b.verb(&["hangup"]);
    line(&mut b.proc, "hung up: local_hangup", 10);
    line(&mut a.proc, "hung up: remote_hangup", 10);
    let stopped_b = line(&mut b.proc, "media stopped", 10);
    let stopped_a = line(&mut a.proc, "media stopped", 10);

    let (heard_b, rate_b) = read_wav(&dir.join("1330-out.wav"));
    let (heard_a, rate_a) = read_wav(&dir.join("1910-out.wav"));
    assert_eq!((rate_a, rate_b), (rate, rate));
    assert_tone(
        &format!("{name}: 1910 to 1330"),
        &heard_b,
        rate,
        1000.0,
        700.0,
    );
    assert_tone(
        &format!("{name}: 1330 to 1910"),
        &heard_a,
        rate,
        700.0,
        1000.0,
    );

    let (mouth_a, ear_a) = media_t0(&started_a);
    let (mouth_b, ear_b) = media_t0(&started_b);
    let ab = mouth_to_ear_ms(&heard_b, rate, ear_b, mouth_a, b1910);
    let ba = mouth_to_ear_ms(&heard_a, rate, ear_a, mouth_b, b1330);
    println!(
        "{name}: mouth-to-ear 1910->1330 median {:.1} ms {ab:.1?}; 1330->1910 median {:.1} ms {ba:.1?}",
        median(&ab),
        median(&ba)
    );
    println!(
        "{name}: 1910 {}",
        stopped_a
            .split("media stopped: ")
            .nth(1)
            .unwrap_or(&stopped_a)
    );
    println!(
        "{name}: 1330 {}",
        stopped_b
            .split("media stopped: ")
            .nth(1)
            .unwrap_or(&stopped_b)
    );
    a.proc.stop();
    b.proc.stop();
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
