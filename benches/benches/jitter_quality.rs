//! Jitter-buffer quality: every trace kind through the adaptive buffer,
//! beside the best fixed delay chosen in hindsight.
//!
//! `cargo bench -p bb-benches --bench jitter_quality` prints one row per
//! trace kind (and per seed with `-- --seeds N`; trace length with
//! `-- --duration SECS`, default 60; chunked playout, the delay moving in
//! steps of MS instead of whole frames, with `-- --chunk MS`, e.g. 5 for
//! G.711's sub-frame accelerate and expand). "Added delay" is playout time
//! minus (send time + the trace's minimum one-way delay), averaged over
//! played frames, identical for both buffers; "late" is the share of
//! delivered packets that arrived after their slot; "drop" the share the
//! adaptive buffer discarded to shed delay (accelerate) or on a restart;
//! "conceal" the share of output frames concealed. The hindsight-best fixed
//! delay is the smallest delay whose late loss is at most 1 %; the ratio is
//! adaptive ÷ fixed added delay, target ≤ 1.15 with late ≤ 1 %. Because
//! a stall the buffer bridges turns would-be late packets into frames it
//! later drops to shed the delay, the stricter "discard" check (late + drop
//! ≤ 1 %) is counted beside the target.

use std::time::Duration;

use bb_media::jitter::JitterConfig;
use bb_media::netem::{
    QualityReport, Trace, TraceConfig, TraceKind, best_fixed, replay_adaptive,
    replay_adaptive_chunked,
};

const MAX_LATE: f64 = 0.01;
const TARGET_RATIO: f64 = 1.15;

fn pct(x: f64) -> String {
    format!("{:5.2}%", x * 100.0)
}

fn ms(d: Duration) -> f64 {
    d.as_micros() as f64 / 1000.0
}

/// Per trace kind, for each seed: ratio, late loss, met the target,
/// late + drop, met the stricter check.
type KindRows = Vec<(TraceKind, Vec<(f64, f64, bool, f64, bool)>)>;

struct Row {
    kind: TraceKind,
    adaptive: QualityReport,
    fixed_delay: Duration,
    fixed: QualityReport,
}

fn run(kind: TraceKind, seed: u64, duration: Duration, chunk: Option<Duration>) -> Row {
    let tc = TraceConfig {
        duration,
        ..TraceConfig::new(kind, seed)
    };
    let trace = Trace::generate(tc);
    // Pull-grid phase: seeded, so it is not aligned with the send grid.
    let phase = Duration::from_micros(3_000 + (seed * 7_919) % 14_000);
    let replayed = match chunk {
        None => replay_adaptive(&trace, JitterConfig::default(), phase),
        Some(c) => replay_adaptive_chunked(&trace, JitterConfig::default(), c, phase),
    };
    let adaptive = match replayed {
        Ok(r) => r,
        Err(e) => panic!("default jitter config or chunk {chunk:?} rejected: {e}"),
    };
    let (fixed_delay, fixed) = best_fixed(&trace, phase, MAX_LATE);
    Row {
        kind,
        adaptive,
        fixed_delay,
        fixed,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str, default: u64| -> u64 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    // In test mode (`cargo test --benches`, unoptimised) one short pass
    // checks the run works; the figures come from `cargo bench`.
    let quick = bb_benches::quick_mode();
    let seeds = flag("--seeds", 1);
    let duration = Duration::from_secs(flag("--duration", if quick { 10 } else { 60 }));
    let chunk_us = flag("--chunk-us", flag("--chunk", 0) * 1000);
    let chunk = (chunk_us > 0).then(|| Duration::from_micros(chunk_us));
    println!(
        "jitter buffer quality: adaptive vs best fixed delay in hindsight (late ≤ 1 %), {} s traces, {}",
        duration.as_secs(),
        match chunk {
            Some(c) => format!(
                "chunked playout ({} ms chunks)",
                c.as_micros() as f64 / 1000.0
            ),
            None => "whole-frame playout".to_owned(),
        }
    );
    println!(
        "{:<13} {:>4} | {:>8} {:>7} {:>6} {:>7} {:>4} {:>4} | {:>7} {:>8} {:>7} {:>7} | {:>5} verdict",
        "trace",
        "seed",
        "adapt ms",
        "late",
        "drop",
        "conceal",
        "exp",
        "acc",
        "fixed D",
        "fixed ms",
        "late",
        "conceal",
        "ratio",
    );
    let mut misses = 0;
    let mut discard_misses = 0;
    let mut per_kind: KindRows = TraceKind::ALL.iter().map(|&k| (k, Vec::new())).collect();
    for seed in 1..=seeds {
        for kind in TraceKind::ALL {
            let r = run(kind, seed, duration, chunk);
            let ratio = ms(r.adaptive.mean_added_delay) / ms(r.fixed.mean_added_delay).max(0.001);
            let ok = ratio <= TARGET_RATIO && r.adaptive.late_loss <= MAX_LATE;
            if !ok {
                misses += 1;
            }
            let discard = r.adaptive.late_loss + r.adaptive.dropped;
            let strict = ratio <= TARGET_RATIO && discard <= MAX_LATE;
            if !strict {
                discard_misses += 1;
            }
            if let Some((_, v)) = per_kind.iter_mut().find(|(k, _)| *k == kind) {
                v.push((ratio, r.adaptive.late_loss, ok, discard, strict));
            }
            println!(
                "{:<13} {:>4} | {:>8.1} {:>7} {:>6} {:>7} {:>4} {:>4} | {:>7.1} {:>8.1} {:>7} {:>7} | {:>5.2} {}",
                r.kind.name(),
                seed,
                ms(r.adaptive.mean_added_delay),
                pct(r.adaptive.late_loss),
                pct(r.adaptive.dropped),
                pct(r.adaptive.concealment),
                r.adaptive.expands,
                r.adaptive.accelerates,
                ms(r.fixed_delay),
                ms(r.fixed.mean_added_delay),
                pct(r.fixed.late_loss),
                pct(r.fixed.concealment),
                ratio,
                if ok { "ok" } else { "MISS" }
            );
        }
    }
    println!(
        "{misses} of {} rows miss the target (ratio ≤ {TARGET_RATIO}, late ≤ 1 %)",
        seeds * TraceKind::ALL.len() as u64
    );
    println!(
        "{discard_misses} of {} rows miss the stricter check (ratio ≤ {TARGET_RATIO}, late + drop ≤ 1 %)",
        seeds * TraceKind::ALL.len() as u64
    );
    if seeds > 1 {
        println!("\nper trace kind over {seeds} seeds:");
        println!(
            "{:<13} {:>6} {:>12} {:>11} {:>10} | {:>6} {:>10}",
            "trace", "ok", "median ratio", "worst ratio", "worst late", "strict", "worst l+d"
        );
        for (kind, v) in &per_kind {
            let mut ratios: Vec<f64> = v.iter().map(|x| x.0).collect();
            ratios.sort_by(f64::total_cmp);
            let worst_late = v.iter().map(|x| x.1).fold(0.0, f64::max);
            let worst_discard = v.iter().map(|x| x.3).fold(0.0, f64::max);
            println!(
                "{:<13} {:>3}/{:<2} {:>12.2} {:>11.2} {:>10} | {:>3}/{:<2} {:>10}",
                kind.name(),
                v.iter().filter(|x| x.2).count(),
                v.len(),
                ratios.get(ratios.len() / 2).copied().unwrap_or(f64::NAN),
                ratios.last().copied().unwrap_or(f64::NAN),
                pct(worst_late),
                v.iter().filter(|x| x.4).count(),
                v.len(),
                pct(worst_discard)
            );
        }
    }
}
