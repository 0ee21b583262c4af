//! Opus encode and decode of one 20 ms frame at 8, 16 and 48 kHz: our
//! wrapper (`bb_media::opus`) against direct calls into the `opus` crate
//! with identical settings, in the same run. Target: overhead ≤ 2 %.

use std::hint::black_box;
use std::time::Duration;

use bb_media::netem::Rng;
use bb_media::opus::{FrameDuration, OpusDecoder, OpusEncoder, OpusEncoderConfig};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};

const FRAMES: usize = 50;

/// One second of a speech-like signal, as 20 ms frames.
fn frames(rate: u32) -> Vec<Vec<i16>> {
    let mut rng = Rng::new(rate as u64);
    let n = rate as usize / 50;
    (0..FRAMES)
        .map(|k| {
            (0..n)
                .map(|i| {
                    let t = (k * n + i) as f64 / rate as f64;
                    let env = 0.6 + 0.4 * (std::f64::consts::TAU * 3.0 * t).sin();
                    let v = env
                        * (8000.0 * (std::f64::consts::TAU * 180.0 * t).sin()
                            + 3000.0 * (std::f64::consts::TAU * 900.0 * t).sin())
                        + rng.range(-800.0, 800.0);
                    v as i16
                })
                .collect()
        })
        .collect()
}

fn config(rate: u32) -> OpusEncoderConfig {
    OpusEncoderConfig::voip(rate)
}

fn direct_encoder(rate: u32) -> opus::Encoder {
    let cfg = config(rate);
    let build = || -> Result<opus::Encoder, opus::Error> {
        let mut e = opus::Encoder::new(rate, opus::Channels::Mono, opus::Application::Voip)?;
        e.set_bitrate(opus::Bitrate::Bits(cfg.bitrate as i32))?;
        e.set_inband_fec(cfg.fec)?;
        e.set_packet_loss_perc(cfg.expected_loss_percent as i32)?;
        e.set_dtx(cfg.dtx)?;
        e.set_complexity(cfg.complexity as i32)?;
        Ok(e)
    };
    match build() {
        Ok(e) => e,
        Err(e) => panic!("libopus encoder at {rate} Hz: {e}"),
    }
}

fn ours_encoder(rate: u32) -> OpusEncoder {
    match OpusEncoder::new(config(rate)) {
        Ok(e) => e,
        Err(e) => panic!("{e}"),
    }
}

fn packets(rate: u32, pcm: &[Vec<i16>]) -> Vec<Vec<u8>> {
    let mut enc = ours_encoder(rate);
    pcm.iter()
        .map(|f| {
            let mut p = vec![0u8; 1500];
            match enc.encode(f, &mut p) {
                Ok(n) => p.truncate(n),
                Err(e) => panic!("{e}"),
            }
            p
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("opus_encode_20ms");
    g.throughput(Throughput::Elements(1));
    for rate in [8000u32, 16_000, 48_000] {
        let pcm = frames(rate);
        let mut out = [0u8; 1500];
        let mut ours = ours_encoder(rate);
        let mut i = 0;
        g.bench_function(BenchmarkId::new("ours", rate), |b| {
            b.iter(|| {
                i = (i + 1) % FRAMES;
                black_box(ours.encode(black_box(&pcm[i]), &mut out).ok())
            })
        });
        let mut direct = direct_encoder(rate);
        let mut i = 0;
        g.bench_function(BenchmarkId::new("direct", rate), |b| {
            b.iter(|| {
                i = (i + 1) % FRAMES;
                black_box(direct.encode(black_box(&pcm[i]), &mut out).ok())
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("opus_decode_20ms");
    g.throughput(Throughput::Elements(1));
    for rate in [8000u32, 16_000, 48_000] {
        let pkts = packets(rate, &frames(rate));
        let mut out = vec![0i16; rate as usize / 50];
        let mut ours = match OpusDecoder::new(rate, FrameDuration::Ms20) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        let mut i = 0;
        g.bench_function(BenchmarkId::new("ours", rate), |b| {
            b.iter(|| {
                i = (i + 1) % FRAMES;
                black_box(ours.decode(black_box(&pkts[i]), &mut out).ok())
            })
        });
        let mut direct = match opus::Decoder::new(rate, opus::Channels::Mono) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        let mut i = 0;
        g.bench_function(BenchmarkId::new("direct", rate), |b| {
            b.iter(|| {
                i = (i + 1) % FRAMES;
                black_box(direct.decode(black_box(&pkts[i]), &mut out, false).ok())
            })
        });
    }
    g.finish();
}

/// The overheads we report: wrapper and direct calls interleaved, each on
/// its own encoder/decoder fed the same frames.
fn summary() {
    let mut rows = Vec::new();
    for rate in [8000u32, 16_000, 48_000] {
        let pcm = frames(rate);
        let mut out = [0u8; 1500];
        let mut out2 = [0u8; 1500];
        let mut ours = ours_encoder(rate);
        let mut direct = direct_encoder(rate);
        let (mut i, mut j) = (0, 0);
        rows.push(bb_benches::paired(
            &format!("encode 20 ms @ {rate} Hz"),
            50,
            40,
            || {
                i = (i + 1) % FRAMES;
                black_box(ours.encode(black_box(&pcm[i]), &mut out).ok());
            },
            || {
                j = (j + 1) % FRAMES;
                black_box(direct.encode(black_box(&pcm[j]), &mut out2).ok());
            },
        ));
    }
    for rate in [8000u32, 16_000, 48_000] {
        let pkts = packets(rate, &frames(rate));
        let mut out = vec![0i16; rate as usize / 50];
        let mut out2 = out.clone();
        let mut ours = match OpusDecoder::new(rate, FrameDuration::Ms20) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        let mut direct = match opus::Decoder::new(rate, opus::Channels::Mono) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        let (mut i, mut j) = (0, 0);
        rows.push(bb_benches::paired(
            &format!("decode 20 ms @ {rate} Hz"),
            200,
            40,
            || {
                i = (i + 1) % FRAMES;
                black_box(ours.decode(black_box(&pkts[i]), &mut out).ok());
            },
            || {
                j = (j + 1) % FRAMES;
                black_box(direct.decode(black_box(&pkts[j]), &mut out2, false).ok());
            },
        ));
    }
    bb_benches::print_paired(
        "Opus wrapper vs direct opus crate calls (target: ours/base <= 1.02)",
        &rows,
    );
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
