//! Two media sessions (the real tokio driver, real UDP on loopback) talk to
//! each other: each plays tone bursts from a WAV file (1 kHz on A, 700 Hz on
//! B) and records what it hears; the tones must cross both ways, for PCMU
//! and for Opus, with DTMF and the RTCP figures on the side. The WAVs are
//! at 16 kHz, so the rate conversion to 8 and 48 kHz is on the path too.

mod common;

use std::time::{Duration, Instant};

use bb_media::codec::Role;
use bb_sip::sdp::{AudioSdp, Direction};
use common::audio::{Bursts, assert_tone, median, mouth_to_ear_ms, read_wav, write_bursts};
use common::scratch;
use softphone::config::Audio;
use softphone::media::{self, AudioSettings, CallRef, MediaNotice, MediaSession, RtpPair};
use tokio_util::sync::CancellationToken;

fn settings(dir: &std::path::Path, who: &str, codecs: &[&str]) -> AudioSettings {
    let raw = Audio {
        codecs: codecs.iter().map(|c| c.to_string()).collect(),
        input_wav: format!("{who}-in.wav"),
        output_wav: format!("{who}-out.wav"),
        ..Audio::default()
    };
    AudioSettings::from_raw(&raw, &dir.join("settings.toml"))
        .unwrap_or_else(|(k, m)| panic!("{k}: {m}"))
}

fn call(key: u64, label: &str) -> CallRef {
    CallRef {
        key,
        call_id: format!("call-{label}"),
        label: label.into(),
    }
}

async fn talk(test: &str, codecs: &[&str], expect_rate: u32) {
    let dir = scratch(test);
    let (ba, bb) = (Bursts::new(1000.0), Bursts::new(700.0));
    write_bursts(&dir.join("a-in.wav"), 16_000, ba, 3.0);
    write_bursts(&dir.join("b-in.wav"), 16_000, bb, 3.0);
    let (sa, sb) = (settings(&dir, "a", codecs), settings(&dir, "b", codecs));
    let lo = "127.0.0.1".parse().expect("literal");
    let (pa, pb) = (
        RtpPair::bind(lo).await.expect("RTP ports"),
        RtpPair::bind(lo).await.expect("RTP ports"),
    );
    let (a_addr, b_addr) = (pa.local().expect("bound"), pb.local().expect("bound"));
    assert_eq!(a_addr.port() % 2, 0, "RTP on an even port");

    // A offers, B answers, A reads the answer: the SIP driver's steps.
    let offer = AudioSdp {
        addr: a_addr.ip(),
        port: a_addr.port(),
        formats: media::sdp::offer_formats(&sa),
        direction: Direction::SendRecv,
        ptime: Some(20),
        secure: false,
        crypto: vec![],
    };
    let nb = media::sdp::negotiate(&sb, &offer, Role::Answerer).expect("B accepts the offer");
    let answer = AudioSdp {
        addr: b_addr.ip(),
        port: b_addr.port(),
        formats: media::sdp::answer_formats(&sb, &nb),
        direction: Direction::SendRecv,
        ptime: Some(20),
        secure: false,
        crypto: vec![],
    };
    let na = media::sdp::negotiate(&sa, &answer, Role::Offerer).expect("A accepts the answer");
    let a_formats = media::sdp::narrow(&offer.formats, &na);
    let params_a =
        media::sdp::stream_params(&sa, &a_formats, Direction::SendRecv, &answer, &na, false);
    let params_b = media::sdp::stream_params(
        &sb,
        &answer.formats,
        Direction::SendRecv,
        &offer,
        &nb,
        false,
    );
    assert_eq!(params_a.codec.sample_rate(), expect_rate);

    let (notices, mut heard) = tokio::sync::broadcast::channel(16);
    let cancel = CancellationToken::new();
    let a = MediaSession::start(call(1, "a"), pa, params_a, sa, None, cancel.child_token());
    let b = MediaSession::start(
        call(2, "b"),
        pb,
        params_b,
        sb,
        Some(notices),
        cancel.child_token(),
    );

    // Talk until A's audio flows, send DTMF, then talk on until one RTCP
    // report has crossed each way (2.5–3.5 s in), polling with a deadline.
    let deadline = Instant::now() + Duration::from_secs(30);
    let poll = |what: &str, done: bool| {
        assert!(
            Instant::now() < deadline,
            "{test}: timed out waiting for {what}"
        );
        done
    };
    while !poll("audio at B", b.stats().packets_received >= 50) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.send_dtmf("19#");
    let mut digits = String::new();
    while !poll(
        "DTMF and RTCP both ways",
        a.stats().rtcp_received >= 1 && b.stats().rtcp_received >= 1 && digits.len() >= 3,
    ) {
        while let Ok(n) = heard.try_recv() {
            if let MediaNotice::Dtmf { digit, .. } = n {
                digits.push(digit);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (stats_a, stats_b) = (a.stats(), b.stats());
    a.stop().await;
    b.stop().await;

    assert_eq!(digits, "19#", "DTMF from A as RFC 4733 events at B");

    let (rx_b, rate_b) = read_wav(&dir.join("b-out.wav"));
    let (rx_a, rate_a) = read_wav(&dir.join("a-out.wav"));
    assert_eq!((rate_a, rate_b), (expect_rate, expect_rate));
    assert_tone(&format!("{test}: A to B"), &rx_b, rate_b, 1000.0, 700.0);
    assert_tone(&format!("{test}: B to A"), &rx_a, rate_a, 700.0, 1000.0);

    let ptime_us = 20_000;
    let t0 = |s: &media::MediaStats| s.started_unix_us.expect("the driver stamps its start");
    let ab = mouth_to_ear_ms(&rx_b, rate_b, t0(&stats_b), t0(&stats_a) - ptime_us, ba);
    let ba_ = mouth_to_ear_ms(&rx_a, rate_a, t0(&stats_a), t0(&stats_b) - ptime_us, bb);
    println!(
        "{test}: mouth-to-ear A->B {:.1} ms {ab:.1?}, B->A {:.1} ms {ba_:.1?}",
        median(&ab),
        median(&ba_)
    );
    println!("{test}: A {stats_a}");
    println!("{test}: B {stats_b}");
    for s in [&stats_a, &stats_b] {
        assert!(s.packets_received > 50, "{s}");
        assert_eq!(s.dropped(), 0, "{s}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pcmu_carries_tones_both_ways_over_loopback() {
    talk("session-pcmu", &["PCMU"], 8000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opus_carries_tones_both_ways_over_loopback() {
    talk("session-opus", &["opus", "PCMU"], 48_000).await;
}
