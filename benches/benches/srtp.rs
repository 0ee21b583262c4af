//! SRTP's CPU cost per call against plain RTP, measured in the same run.
//!
//! One unit of work is one 20 ms PCMU packet of a call in both directions
//! as the media core handles it: encode 160 samples, packetise, (protect),
//! then on the other side (unprotect with its replay check), parse, decode.
//! A call is 50 such packets a second each way, so a second of call costs
//! 50 units; the summary prints that as the share of one core. SRTCP (one
//! report per 5 s) is left out: it is 1 % of the packets.
//!
//! The baseline is the same work without SRTP ("plain RTP"); the ratio
//! SRTP/plain is what docs/BENCHMARKS.md reports.

use std::hint::black_box;
use std::time::Duration;

use bb_media::g711;
use bb_media::netem::Rng;
use bb_media::rtp::{self, RtpSender};
use bb_media::srtp::{MasterKey, SrtpKeys, SrtpStream, Suite};
use criterion::{Criterion, Throughput, criterion_group};

fn frame() -> [i16; 160] {
    let mut rng = Rng::new(5);
    let mut f = [0i16; 160];
    for (i, s) in f.iter_mut().enumerate() {
        let t = i as f64 / 8000.0;
        *s = (9000.0 * (std::f64::consts::TAU * 440.0 * t).sin() + rng.range(-800.0, 800.0)) as i16;
    }
    f
}

/// One side's sender and the other side's SRTP context.
struct Leg {
    sender: RtpSender,
    tx: Option<SrtpStream>,
    rx: Option<SrtpStream>,
    codes: [u8; 160],
    pkt: Vec<u8>,
    out: [i16; 160],
}

impl Leg {
    fn new(suite: Option<Suite>) -> Leg {
        let streams = suite.map(|suite| {
            let (a, b) = (
                MasterKey::generate().expect("random"),
                MasterKey::generate().expect("random"),
            );
            let tx = SrtpKeys {
                suite,
                local: a.clone(),
                remote: b.clone(),
            };
            let rx = SrtpKeys {
                suite,
                local: b,
                remote: a,
            };
            (
                SrtpStream::new(&tx).expect("keys"),
                SrtpStream::new(&rx).expect("keys"),
            )
        });
        let (tx, rx) = match streams {
            Some((t, r)) => (Some(t), Some(r)),
            None => (None, None),
        };
        Leg {
            sender: RtpSender::new(0x1234_5678, 1, 1),
            tx,
            rx,
            codes: [0; 160],
            pkt: Vec::with_capacity(200),
            out: [0; 160],
        }
    }

    /// One packet from encode to decode.
    fn packet(&mut self, pcm: &[i16; 160]) {
        g711::encode_ulaw(pcm, &mut self.codes);
        if self
            .sender
            .packetize(0, 160, false, &self.codes, &mut self.pkt)
            .is_err()
        {
            return;
        }
        let wire = match &mut self.tx {
            Some(s) => s.protect_rtp(&self.pkt).unwrap_or_default(),
            None => self.pkt.clone(),
        };
        let clear = match &mut self.rx {
            Some(s) => s.unprotect_rtp(&wire).unwrap_or_default(),
            None => wire,
        };
        if let Ok(p) = rtp::parse(&clear) {
            g711::decode_ulaw(p.payload, &mut self.out);
        }
        black_box(&self.out);
    }
}

fn bench(c: &mut Criterion) {
    let pcm = frame();
    let mut g = c.benchmark_group("rtp_packet_both_ends_pcmu");
    g.throughput(Throughput::Elements(1));
    for (name, suite) in [
        ("plain", None),
        ("srtp_80", Some(Suite::AesCm128HmacSha1_80)),
        ("srtp_32", Some(Suite::AesCm128HmacSha1_32)),
    ] {
        let mut leg = Leg::new(suite);
        g.bench_function(name, |b| b.iter(|| leg.packet(black_box(&pcm))));
    }
    g.finish();
}

/// The ratio we report: SRTP against plain RTP, interleaved.
fn summary() {
    let pcm = frame();
    let mut rows = Vec::new();
    for (label, suite) in [
        ("PCMU packet, SRTP _80 vs plain", Suite::AesCm128HmacSha1_80),
        ("PCMU packet, SRTP _32 vs plain", Suite::AesCm128HmacSha1_32),
    ] {
        let (mut srtp, mut plain) = (Leg::new(Some(suite)), Leg::new(None));
        rows.push(bb_benches::paired(
            label,
            2000,
            200,
            || srtp.packet(black_box(&pcm)),
            || plain.packet(black_box(&pcm)),
        ));
    }
    bb_benches::print_paired(
        "SRTP vs plain RTP (ours = SRTP; a call = 100 packets/s)",
        &rows,
    );
    for p in &rows {
        // 50 packets a second each way; a packet's unit already holds both ends.
        let per_call_s = p.ours_ns * 50.0 / 1e9;
        let plain_s = p.base_ns * 50.0 / 1e9;
        println!(
            "{}: {:.4} % of a core per call with SRTP, {:.4} % plain (+{:.4} points)",
            p.label,
            per_call_s * 100.0,
            plain_s * 100.0,
            (per_call_s - plain_s) * 100.0
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
