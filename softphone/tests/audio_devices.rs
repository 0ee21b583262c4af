//! Sound devices that are not there. This machine class has no sound card,
//! so cpal's ALSA host finds none: a missing device must give one clear
//! line naming it and the devices that exist, then the configured fallback
//! — refuse to start (`fallback = "error"`) or carry the call with the null
//! device (`"null"`) — never a panic, and none of alsa-lib's own chatter on
//! the user's stderr. A named device that exists nowhere makes these
//! checks the same on machines that do have a card.

mod common;

use std::process::Command;

use common::audio::{Bursts, line, read_wav, wait_recorded, write_bursts};
use common::{Phone, Running, free_udp_port, require, root, scratch};
use softphone::config::Audio;
use softphone::media::{self, AudioSettings, AudioSink, AudioSource};

fn audio(input: &str, output: &str, fallback: &str) -> AudioSettings {
    let raw = Audio {
        input_device: input.into(),
        output_device: output.into(),
        fallback: fallback.into(),
        ..Audio::default()
    };
    AudioSettings::from_raw(&raw, std::path::Path::new("x.toml"))
        .unwrap_or_else(|(k, m)| panic!("{k}: {m}"))
}

#[test]
fn a_missing_device_is_one_line_naming_it_and_what_exists() {
    let e = media::check_devices(&audio("no-such-card", "null", "error"))
        .expect_err("the device does not exist");
    assert!(
        e.starts_with("audio input device 'no-such-card' is not present (available: "),
        "{e}"
    );
    assert!(
        e.contains("audio.fallback = \"null\""),
        "the fix is named: {e}"
    );
    assert!(!e.contains('\n'), "{e}");
    let warnings =
        media::check_devices(&audio("null", "no-such-speaker", "null")).expect("null falls back");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("audio output device 'no-such-speaker' is not present"),
        "{warnings:?}"
    );
    assert!(warnings[0].contains("null device"), "{warnings:?}");
    // A ring device of its own is checked too, under its own key.
    let mut ring = audio("null", "null", "error");
    ring.ring_output = Some(media::Output::Device(Some("no-such-bell".into())));
    let e = media::check_devices(&ring).expect_err("the ring device does not exist");
    assert!(
        e.starts_with("audio output device 'no-such-bell' is not present"),
        "{e}"
    );
    assert!(e.contains("audio.ring_device"), "{e}");
    // Headless with default devices probes nothing.
    let mut quiet = audio("", "", "error");
    quiet.headless = true;
    assert_eq!(media::check_devices(&quiet), Ok(vec![]));
}

#[test]
fn alsas_null_pcm_works_through_cpal() {
    // ALSA's "null" PCM (alsa-lib's standard configuration) is a device
    // even without a card: the cpal path opens, converts rates and closes.
    let names = media::device::device_names();
    println!("devices: input {:?}, output {:?}", names.0, names.1);
    let mut sink = media::device::DeviceSink::open(Some("null")).expect("ALSA's null PCM opens");
    let mut source =
        media::device::DeviceSource::open(Some("alsa:null")).expect("ALSA's null PCM opens");
    let mut frame = vec![0i16; 160];
    for _ in 0..5 {
        sink.write(8000, &frame);
        source.read(8000, &mut frame);
    }
    assert!(frame.iter().all(|&s| s == 0), "the null capture is silence");
    assert!(
        sink.describe().starts_with("device:"),
        "{}",
        sink.describe()
    );
}

fn kamailio(port: u16, dir: &std::path::Path) -> Running {
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

fn account(ext: &str, port: u16) -> String {
    format!(
        "[account]\nserver = \"127.0.0.1:{port}\"\nuser = \"{ext}\"\npassword = \"pw{ext}\"\nlocal_addr = \"127.0.0.1:0\"\n\n[sip]\nt1_ms = 50\n\n"
    )
}

fn assert_clean_stderr(p: &Running) {
    for l in &p.seen {
        assert!(!l.contains("ALSA lib"), "alsa-lib wrote to stderr: {l}");
        assert!(!l.contains("panicked"), "{}", p.seen.join("\n"));
    }
}

#[test]
fn fallback_error_refuses_to_start_with_one_line() {
    let dir = scratch("audio-fallback-error");
    let settings = format!(
        "{}[audio]\ninput_device = \"no-such-card\"\nfallback = \"error\"\n",
        account("1910", free_udp_port())
    );
    let mut p = Phone::start(&dir, "fallback-error", &settings);
    assert_eq!(
        p.proc.wait_exit(15),
        Some(false),
        "bbclient must refuse to start"
    );
    let errors: Vec<&String> = p
        .proc
        .seen
        .iter()
        .filter(|l| l.starts_with("(stderr) bbclient: ") && !l.contains("window"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {:?}", p.proc.seen);
    assert!(
        errors[0].contains("audio input device 'no-such-card' is not present (available: "),
        "{}",
        errors[0]
    );
    assert_clean_stderr(&p.proc);
}

#[test]
fn fallback_null_carries_the_call_silently() {
    let dir = scratch("audio-fallback-null");
    let port = free_udp_port();
    let mut kam = kamailio(port, &dir);
    write_bursts(&dir.join("1330-in.wav"), 8000, Bursts::new(700.0), 2.0);
    let with_devices = format!(
        "{}[audio]\ncodecs = [\"PCMU\"]\ninput_device = \"no-such-card\"\noutput_device = \"no-such-speaker\"\n",
        account("1910", port)
    );
    let with_wavs = format!(
        "{}[audio]\ncodecs = [\"PCMU\"]\ninput_wav = \"{}\"\noutput_wav = \"{}\"\n",
        account("1330", port),
        dir.join("1330-in.wav").display(),
        dir.join("1330-out.wav").display()
    );
    let mut a = Phone::start(&dir, "fallback-null-1910", &with_devices);
    let mut b = Phone::start(&dir, "fallback-null-1330", &with_wavs);
    // Said once at start, for each side.
    line(
        &mut a.proc,
        "audio input device 'no-such-card' is not present",
        15,
    );
    line(
        &mut a.proc,
        "audio output device 'no-such-speaker' is not present",
        15,
    );
    a.proc.expect_line("registered as 1910", 15);
    b.proc.expect_line("registered as 1330", 15);

    a.verb(&["call", "1330"]);
    b.proc.expect_line("ringing: call from 1910", 10);
    b.verb(&["answer"]);
    line(&mut a.proc, "sending silence instead (null device)", 10);
    line(
        &mut a.proc,
        "discarding the peer's audio instead (null device)",
        10,
    );
    let started = line(&mut a.proc, "media started", 10);
    assert!(started.contains("from null to null"), "{started}");
    // The call carries audio: 1330 records what 1910's null device sends,
    // 1910 receives 1330's tone (and discards it).
    wait_recorded(&dir.join("1330-out.wav"), 1.5, 10);
    a.verb(&["hangup"]);
    let stopped = line(&mut a.proc, "media stopped", 10);
    line(&mut b.proc, "media stopped", 10);
    let received: u64 = stopped
        .split("received ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(received > 30, "1910 received 1330's audio: {stopped}");
    let (heard, _) = read_wav(&dir.join("1330-out.wav"));
    assert!(
        heard.iter().all(|&s| s.abs() < 64),
        "1330 hears silence from the null device"
    );
    assert_clean_stderr(&a.proc);
    a.proc.stop();
    b.proc.stop();
    kam.stop();
}

#[test]
fn bbclient_devices_lists_what_cpal_finds() {
    // Run as an operator would: the real binary, no settings needed.
    let out = Command::new(env!("CARGO_BIN_EXE_bbclient"))
        .arg("devices")
        .output()
        .expect("bbclient runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("input devices ([audio] input_device):"),
        "{text}"
    );
    assert!(
        text.contains("ring devices ([audio] ring_device):"),
        "{text}"
    );
    // ALSA's null PCM is a device on every machine with alsa-lib.
    let (inputs, outputs) = media::device::device_names();
    for name in inputs.iter().chain(&outputs) {
        // Descriptions may span lines; the list keeps each on one.
        let name: String = name.chars().filter(|c| !c.is_control()).collect();
        assert!(
            text.contains(&format!("  {name}\n")),
            "{name:?} missing from:\n{text:?}"
        );
    }
    assert!(!String::from_utf8_lossy(&out.stderr).contains("ALSA lib"));
}
