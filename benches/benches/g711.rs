//! G.711 encode + decode of one 20 ms frame (160 samples), our table-driven
//! codec against the STL-transcription baseline (`g711::reference`) in the
//! same run. Target: ≥ 10× faster.

use std::hint::black_box;
use std::time::Duration;

use bb_media::g711;
use bb_media::netem::Rng;
use criterion::{Criterion, Throughput, criterion_group};

/// A speech-like frame: two tones plus noise, spanning most segments.
fn frame() -> [i16; 160] {
    let mut rng = Rng::new(11);
    let mut f = [0i16; 160];
    for (i, s) in f.iter_mut().enumerate() {
        let t = i as f64 / 8000.0;
        let v = 9000.0 * (std::f64::consts::TAU * 220.0 * t).sin()
            + 4000.0 * (std::f64::consts::TAU * 1330.0 * t).sin()
            + rng.range(-1500.0, 1500.0);
        *s = v as i16;
    }
    f
}

fn bench(c: &mut Criterion) {
    let pcm = frame();
    let mut codes = [0u8; 160];
    let mut out = [0i16; 160];

    let mut g = c.benchmark_group("g711_pcmu_20ms");
    g.throughput(Throughput::Elements(160));
    g.bench_function("ours", |b| {
        b.iter(|| {
            g711::encode_ulaw(black_box(&pcm), &mut codes);
            g711::decode_ulaw(black_box(&codes), &mut out);
            black_box(&out);
        })
    });
    g.bench_function("reference", |b| {
        b.iter(|| {
            g711::reference::ulaw_compress(black_box(&pcm), &mut codes);
            g711::reference::ulaw_expand(black_box(&codes), &mut out);
            black_box(&out);
        })
    });
    g.finish();

    let mut g = c.benchmark_group("g711_pcma_20ms");
    g.throughput(Throughput::Elements(160));
    g.bench_function("ours", |b| {
        b.iter(|| {
            g711::encode_alaw(black_box(&pcm), &mut codes);
            g711::decode_alaw(black_box(&codes), &mut out);
            black_box(&out);
        })
    });
    g.bench_function("reference", |b| {
        b.iter(|| {
            g711::reference::alaw_compress(black_box(&pcm), &mut codes);
            g711::reference::alaw_expand(black_box(&codes), &mut out);
            black_box(&out);
        })
    });
    g.finish();
}

/// The ratios we report: ours and the reference interleaved.
fn summary() {
    let pcm = frame();
    let mut codes = [0u8; 160];
    let mut out = [0i16; 160];
    let mut codes2 = [0u8; 160];
    let mut out2 = [0i16; 160];
    let mut rows = Vec::new();
    rows.push(bb_benches::paired(
        "PCMU encode+decode 160 samples",
        2000,
        200,
        || {
            g711::encode_ulaw(black_box(&pcm), &mut codes);
            g711::decode_ulaw(black_box(&codes), &mut out);
            black_box(&out);
        },
        || {
            g711::reference::ulaw_compress(black_box(&pcm), &mut codes2);
            g711::reference::ulaw_expand(black_box(&codes2), &mut out2);
            black_box(&out2);
        },
    ));
    rows.push(bb_benches::paired(
        "PCMA encode+decode 160 samples",
        2000,
        200,
        || {
            g711::encode_alaw(black_box(&pcm), &mut codes);
            g711::decode_alaw(black_box(&codes), &mut out);
            black_box(&out);
        },
        || {
            g711::reference::alaw_compress(black_box(&pcm), &mut codes2);
            g711::reference::alaw_expand(black_box(&codes2), &mut out2);
            black_box(&out2);
        },
    ));
    bb_benches::print_paired("G.711 vs g711::reference (target: speed-up >= 10x)", &rows);
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
