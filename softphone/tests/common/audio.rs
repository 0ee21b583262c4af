//! Audio helpers for the media tests: tone-burst WAV files, reading
//! recordings back, tone detection per block (`bb_media::tone`), onset
//! timing and the mouth-to-ear delay.

use std::path::Path;

use super::Phone;

use bb_media::tone::{SineGenerator, detect};

/// Tone bursts: `on_ms` of tone then silence, every `period_ms`.
#[derive(Debug, Clone, Copy)]
pub struct Bursts {
    pub freq: f64,
    pub period_ms: u64,
    pub on_ms: u64,
}

impl Bursts {
    pub fn new(freq: f64) -> Bursts {
        Bursts {
            freq,
            period_ms: 1000,
            on_ms: 500,
        }
    }
}

/// Writes `secs` of `b` at `rate` as 16-bit mono (amplitude 10000, about
/// -10 dBFS); the first burst starts at sample 0.
pub fn write_bursts(path: &Path, rate: u32, b: Bursts, secs: f64) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    let mut g = SineGenerator::new(b.freq, rate, 10_000.0);
    let period = rate as u64 * b.period_ms / 1000;
    let on = rate as u64 * b.on_ms / 1000;
    for i in 0..(rate as f64 * secs) as u64 {
        let s = g.next_sample();
        let v = if i % period < on { s } else { 0 };
        w.write_sample(v).expect("test WAV is writable");
    }
    w.finalize().expect("test WAV is writable");
}

/// The first channel of a WAV file and its rate.
pub fn read_wav(path: &Path) -> (Vec<i16>, u32) {
    let r = hound::WavReader::open(path)
        .unwrap_or_else(|e| panic!("the recording {} is not a WAV file: {e}", path.display()));
    let spec = r.spec();
    let ch = spec.channels.max(1) as usize;
    let all: Vec<i16> = match spec.sample_format {
        hound::SampleFormat::Int => r
            .into_samples::<i16>()
            .collect::<Result<_, _>>()
            .expect("16-bit samples"),
        hound::SampleFormat::Float => r
            .into_samples::<f32>()
            .map(|s| s.map(|v| (v * 32767.0) as i16))
            .collect::<Result<_, _>>()
            .expect("float samples"),
    };
    (all.into_iter().step_by(ch).collect(), spec.sample_rate)
}

/// What [`tone_report`] found.
#[derive(Debug, Clone, Copy)]
pub struct ToneFound {
    /// 50 ms blocks above -40 dBFS.
    pub voiced_blocks: usize,
    /// Median share of those blocks' power at the frequency.
    pub median_ratio: f64,
    /// Blocks whose share is above 0.9.
    pub clean_blocks: usize,
    /// Median level of the frequency in voiced blocks, dBFS.
    pub level_dbfs: f64,
}

/// Goertzel at `freq` over the 50 ms blocks of `x` that carry sound.
pub fn tone_report(x: &[i16], rate: u32, freq: f64) -> ToneFound {
    let block = rate as usize / 20;
    let mut ratios = Vec::new();
    let mut levels = Vec::new();
    for b in x.chunks_exact(block) {
        let r = detect(b, rate, freq);
        let total_db = 10.0 * (r.total / (32767.0f64 * 32767.0 / 2.0)).log10();
        if total_db > -40.0 {
            ratios.push(r.ratio);
            levels.push(r.level_dbfs);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let clean_blocks = ratios.iter().filter(|&&r| r > 0.9).count();
    ToneFound {
        voiced_blocks: ratios.len(),
        median_ratio: median(&mut ratios),
        clean_blocks,
        level_dbfs: median(&mut levels),
    }
}

/// Asserts that `x` carries `freq` (and not `other`), with a message that
/// says which direction failed.
pub fn assert_tone(what: &str, x: &[i16], rate: u32, freq: f64, other: f64) -> ToneFound {
    let found = tone_report(x, rate, freq);
    let wrong = tone_report(x, rate, other);
    println!(
        "{what}: {freq} Hz in {}/{} voiced 50 ms blocks (median share {:.3}, level {:.1} dBFS); {other} Hz median share {:.3}",
        found.clean_blocks,
        found.voiced_blocks,
        found.median_ratio,
        found.level_dbfs,
        wrong.median_ratio
    );
    // At least 400 ms of clean tone, and mostly tone where there is sound:
    // a loaded machine may starve the media tasks (the figures printed above
    // show the quality), but it cannot make the tone appear from nowhere.
    assert!(
        found.clean_blocks >= 8 && found.median_ratio > 0.5,
        "{what}: the {freq} Hz tone did not arrive: {found:?}"
    );
    assert!(
        wrong.median_ratio < 0.1,
        "{what}: the recording carries {other} Hz, the wrong direction: {wrong:?}"
    );
    found
}

/// Sample indexes where a burst starts: the first sample above 5 % of the
/// recording's peak after at least 150 ms below it, provided the rise goes
/// on to half the peak (a codec may ramp a tone in over tens of ms). The
/// first one is dropped (it may be the start of audio mid-burst).
pub fn onsets(x: &[i16], rate: u32) -> Vec<usize> {
    let mut mags: Vec<i32> = x.iter().map(|&s| (s as i32).abs()).collect();
    mags.sort_unstable();
    let peak = mags.get(mags.len() * 99 / 100).copied().unwrap_or(0).max(1);
    let quiet_needed = rate as usize * 150 / 1000;
    let (mut quiet_run, mut rise) = (0usize, None);
    let mut out = Vec::new();
    for (i, &s) in x.iter().enumerate() {
        let a = (s as i32).abs();
        if a * 20 < peak {
            quiet_run += 1;
            if quiet_run > rate as usize / 50 {
                rise = None; // a blip, not a burst
            }
            continue;
        }
        if quiet_run >= quiet_needed {
            rise = Some(i);
        }
        quiet_run = 0;
        if a * 2 > peak
            && let Some(start) = rise.take()
        {
            out.push(start);
        }
    }
    if !out.is_empty() {
        out.remove(0);
    }
    out
}

/// Mouth-to-ear delays in ms: for each burst onset in the recording `rx`
/// (whose sample 0 is heard at `ear_t0_us`), the time since the burst it
/// belongs to left the sender's mouth (bursts start at `mouth_t0_us` +
/// k × period).
pub fn mouth_to_ear_ms(
    rx: &[i16],
    rate: u32,
    ear_t0_us: u64,
    mouth_t0_us: u64,
    b: Bursts,
) -> Vec<f64> {
    let period_us = b.period_ms as i64 * 1000;
    onsets(rx, rate)
        .into_iter()
        .map(|i| {
            let ear = ear_t0_us as i64 + (i as i64 * 1_000_000 / rate as i64);
            (ear - mouth_t0_us as i64).rem_euclid(period_us) as f64 / 1000.0
        })
        .collect()
}

/// The median of `v` (NaN when empty).
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// `(mouth_t0_unix_us, ear_t0_unix_us)` from a softphone's
/// `media started:` log line.
pub fn media_t0(line: &str) -> (u64, u64) {
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.trim_matches(|c: char| !c.is_ascii_digit()).parse().ok())
            .unwrap_or_else(|| panic!("no {name} in: {line}"))
    };
    (field("mouth_t0_unix_us="), field("ear_t0_unix_us="))
}

/// A line containing `needle` that `r` printed already or prints within
/// `secs` (stdout and stderr interleave in no fixed order).
pub fn line(r: &mut super::Running, needle: &str, secs: u64) -> String {
    match r.seen.iter().find(|l| l.contains(needle)) {
        Some(l) => l.clone(),
        None => r.expect_line(needle, secs),
    }
}

/// Waits until the WAV recording at `path` holds `secs` of audio (the
/// softphone keeps its header current about once a second).
pub fn wait_recorded(path: &Path, secs: f64, deadline_secs: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(deadline_secs);
    loop {
        if let Ok(r) = hound::WavReader::open(path)
            && r.duration() as f64 >= secs * r.spec().sample_rate as f64
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} did not record {secs} s within {deadline_secs} s",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

pub fn phone_settings(ext: &str, server: &str, codecs: &str, dir: &Path) -> String {
    format!(
        "[account]\nserver = \"{server}\"\nuser = \"{ext}\"\npassword = \"pw{ext}\"\nlocal_addr = \"127.0.0.1:0\"\n\n\
         [sip]\nt1_ms = 50\n\n\
         [audio]\ncodecs = [{codecs}]\ninput_wav = \"{in_}\"\noutput_wav = \"{out}\"\n",
        in_ = dir.join(format!("{ext}-in.wav")).display(),
        out = dir.join(format!("{ext}-out.wav")).display(),
    )
}

/// Two real `bbclient` processes, 1910 and 1330, registered at `server`
/// (a SIP registrar and proxy or B2BUA that knows both with passwords
/// `pw1910`/`pw1330`): 1910 calls 1330, each plays tone bursts from a WAV
/// file — 1 kHz from 1910, 700 Hz from 1330, so the directions cannot be
/// confused — and records what it hears; DTMF goes from the caller. Both
/// recordings must carry the other side's tone; the mouth-to-ear delay and
/// the RTCP figures are printed.
pub fn two_phones_talk(
    dir: &Path,
    server: &str,
    name: &str,
    codecs: &str,
    rate: u32,
    expect_codec: &str,
) {
    let dir = dir.to_path_buf();
    let (b1910, b1330) = (Bursts::new(1000.0), Bursts::new(700.0));
    write_bursts(&dir.join("1910-in.wav"), rate, b1910, 3.0);
    write_bursts(&dir.join("1330-in.wav"), rate, b1330, 3.0);
    let mut a = Phone::start(
        &dir,
        &format!("{name}-1910"),
        &phone_settings("1910", server, codecs, &dir),
    );
    let mut b = Phone::start(
        &dir,
        &format!("{name}-1330"),
        &phone_settings("1330", server, codecs, &dir),
    );
    a.proc.expect_line("registered as 1910", 15);
    b.proc.expect_line("registered as 1330", 15);

    a.verb(&["call", "1330"]);
    b.proc.expect_line("ringing: call from", 10);
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
}
