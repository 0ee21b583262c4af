//! Jitter-buffer behaviour per network scenario, replayed in virtual time.
//!
//! Each test generates seeded traces, plays them through the adaptive buffer
//! and through the best fixed delay in hindsight, and checks the behaviour
//! the scenario is about. Bounds are looser than the bench target (ratio
//! ≤ 1.15 at ≤ 1 % late) where the bench table shows borderline seeds; they
//! are tight enough that a buffer that does not adapt, or adapts the wrong
//! way, fails them.

use std::time::Duration;

use bb_media::jitter::JitterConfig;
use bb_media::netem::{QualityReport, Trace, TraceConfig, TraceKind, best_fixed, replay_adaptive};

struct Outcome {
    adaptive: QualityReport,
    fixed: QualityReport,
    fixed_delay: Duration,
}

impl Outcome {
    fn ratio(&self) -> f64 {
        self.adaptive.mean_added_delay.as_secs_f64()
            / self.fixed.mean_added_delay.as_secs_f64().max(1e-6)
    }
}

fn run_cfg(cfg: TraceConfig) -> Outcome {
    let trace = Trace::generate(cfg);
    let phase = Duration::from_micros(3_000 + (cfg.seed * 7_919) % 14_000);
    let adaptive =
        replay_adaptive(&trace, JitterConfig::default(), phase).expect("default config is valid");
    let (fixed_delay, fixed) = best_fixed(&trace, phase, 0.01);
    Outcome {
        adaptive,
        fixed,
        fixed_delay,
    }
}

fn run(kind: TraceKind, seed: u64) -> Outcome {
    run_cfg(TraceConfig::new(kind, seed))
}

#[test]
fn steady_path_adds_almost_nothing() {
    for seed in 1..=3 {
        let o = run(TraceKind::Steady, seed);
        let a = &o.adaptive;
        assert_eq!(a.late_loss, 0.0, "seed {seed}: {a:?}");
        assert!(a.concealment < 0.002, "seed {seed}: {a:?}");
        // Same pull-grid level as the oracle: within 1 ms of it.
        let extra =
            a.mean_added_delay.as_micros() as i64 - o.fixed.mean_added_delay.as_micros() as i64;
        assert!(extra < 1000, "seed {seed}: {extra} µs over the oracle");
        assert!(a.accelerates <= 2, "only the start-up hand-over: {a:?}");
    }
}

#[test]
fn random_jitter_is_covered_at_the_oracle_delay() {
    for kind in [TraceKind::JitterLow, TraceKind::JitterHigh] {
        for seed in 1..=3 {
            let o = run(kind, seed);
            let a = &o.adaptive;
            assert!(a.late_loss <= 0.012, "{kind:?} seed {seed}: {a:?}");
            assert!(
                o.ratio() <= 1.2,
                "{kind:?} seed {seed}: ratio {:.2}",
                o.ratio()
            );
        }
    }
    // The high-jitter buffer sits far above the low-jitter one.
    let low = run(TraceKind::JitterLow, 1).adaptive.mean_added_delay;
    let high = run(TraceKind::JitterHigh, 1).adaptive.mean_added_delay;
    assert!(high > low * 2, "{low:?} vs {high:?}");
}

#[test]
fn reordering_within_depth_loses_nothing() {
    for seed in 1..=3 {
        let o = run(TraceKind::Reorder, seed);
        let a = &o.adaptive;
        // Overtaken packets (20–60 ms) all make it once the buffer learned.
        assert!(a.late_loss <= 0.004, "seed {seed}: {a:?}");
        assert!(a.dropped <= 0.004, "seed {seed}: {a:?}");
        assert!(o.ratio() <= 1.1, "seed {seed}: ratio {:.2}", o.ratio());
        // Duplicates are not double-played.
        assert!(a.played <= a.delivered);
    }
}

#[test]
fn loss_is_concealed_without_adding_delay() {
    for kind in [TraceKind::LossRandom, TraceKind::LossBursty] {
        for seed in 1..=3 {
            let t = Trace::generate(TraceConfig::new(kind, seed));
            let loss = 1.0 - t.deliveries.len() as f64 / t.packets.len() as f64;
            let o = run(kind, seed);
            let a = &o.adaptive;
            assert!(
                (a.concealment - loss).abs() < 0.01,
                "{kind:?} seed {seed}: loss {loss} {a:?}"
            );
            assert!(a.late_loss <= 0.01, "{kind:?} seed {seed}: {a:?}");
            assert!(
                o.ratio() <= 1.15,
                "{kind:?} seed {seed}: ratio {:.2}",
                o.ratio()
            );
        }
    }
}

#[test]
fn clock_drift_is_absorbed_by_accelerate_and_expand() {
    for (kind, sign) in [(TraceKind::DriftFast, -1.0), (TraceKind::DriftSlow, 1.0)] {
        let cfg = TraceConfig {
            duration: Duration::from_secs(180),
            ..TraceConfig::new(kind, 1)
        };
        let o = run_cfg(cfg);
        let a = &o.adaptive;
        // The minimum transit falls (fast sender) or rises (slow) by 400 ppm.
        assert!((a.drift_ppm - sign * 400.0).abs() < 60.0, "{kind:?}: {a:?}");
        match kind {
            // 180 s × 400 ppm = 72 ms: at least three frames shed or added
            // beyond the start-up hand-over.
            TraceKind::DriftFast => assert!(a.accelerates >= 5, "{a:?}"),
            _ => assert!(a.expands >= 3, "{a:?}"),
        }
        // Bounded delay, close to the oracle that knows the sender's clock.
        assert!(
            a.mean_added_delay < Duration::from_millis(30),
            "{kind:?}: {a:?}"
        );
        assert!(o.ratio() <= 1.15, "{kind:?}: ratio {:.2}", o.ratio());
        assert!(a.late_loss <= 0.01, "{kind:?}: {a:?}");
    }
}

#[test]
fn clock_drift_is_found_within_seconds_and_costs_little_delay() {
    for (kind, sign) in [(TraceKind::DriftFast, -1.0), (TraceKind::DriftSlow, 1.0)] {
        // A 10 s call: the drift shows within about four seconds.
        let cfg = TraceConfig {
            duration: Duration::from_secs(10),
            ..TraceConfig::new(kind, 3)
        };
        let a = run_cfg(cfg).adaptive;
        assert!((a.drift_ppm - sign * 400.0).abs() < 60.0, "{kind:?}: {a:?}");
        // 60 s calls: the bench target on at least 8 seeds of 10 (6 and 7
        // before drift was found early; the misses are a few hundredths
        // over, decided by where the frame phase starts and where the trace
        // ends).
        let met = (1..=10)
            .filter(|&seed| {
                let o = run(kind, seed);
                o.ratio() <= 1.15 && o.adaptive.late_loss <= 0.01
            })
            .count();
        assert!(met >= 8, "{kind:?}: {met} of 10 seeds meet the target");
    }
}

#[test]
fn repeated_bursts_raise_the_delay() {
    for seed in 1..=3 {
        let o = run(TraceKind::Bursts, seed);
        let a = &o.adaptive;
        // Holds of 100–300 ms every few seconds: the buffer must grow to
        // cover most of them, like the oracle (which needs > 100 ms).
        assert!(
            o.fixed_delay > Duration::from_millis(100),
            "seed {seed}: {:?}",
            o.fixed_delay
        );
        // Far above what the 2 ms jitter between holds needs.
        assert!(
            a.mean_added_delay > Duration::from_millis(80),
            "seed {seed}: {a:?}"
        );
        assert!(a.late_loss <= 0.01, "seed {seed}: {a:?}");
        // Held stalls are bridged and shed again by dropping frames: late
        // plus dropped stays near the oracle's late loss.
        assert!(a.late_loss + a.dropped <= 0.015, "seed {seed}: {a:?}");
        assert!(
            (0.8..=1.15).contains(&o.ratio()),
            "seed {seed}: ratio {:.2}",
            o.ratio()
        );
    }
}

#[test]
fn an_isolated_spike_does_not_raise_the_delay() {
    for seed in 1..=3 {
        let o = run(TraceKind::DelaySpike, seed);
        let a = &o.adaptive;
        // The spike's packets are absorbed as late loss, not as a minute
        // of extra delay.
        assert!(a.peaks_ignored > 0, "seed {seed}: {a:?}");
        assert!(
            a.mean_added_delay < Duration::from_millis(40),
            "seed {seed}: {a:?}"
        );
        assert!(o.ratio() <= 1.1, "seed {seed}: ratio {:.2}", o.ratio());
        assert!(a.late_loss <= 0.012, "seed {seed}: {a:?}");
    }
}

#[test]
fn sender_restart_resyncs_and_keeps_playing() {
    for seed in 1..=3 {
        let o = run(TraceKind::SsrcRestart, seed);
        let a = &o.adaptive;
        assert_eq!(a.resyncs, 1, "seed {seed}: {a:?}");
        assert!(
            a.played as f64 >= 0.995 * a.delivered as f64,
            "seed {seed}: {a:?}"
        );
        assert!(a.concealment < 0.01, "seed {seed}: {a:?}");
    }
}

#[test]
fn ten_millisecond_frames_work_too() {
    let cfg = TraceConfig {
        frame: Duration::from_millis(10),
        ..TraceConfig::new(TraceKind::JitterLow, 2)
    };
    let trace = Trace::generate(cfg);
    assert_eq!(trace.packets.len(), 6000);
    let phase = Duration::from_millis(4);
    let jb = JitterConfig::for_stream(8000, Duration::from_millis(10));
    let a = replay_adaptive(&trace, jb, phase).expect("valid");
    let (_, f) = best_fixed(&trace, phase, 0.01);
    assert!(a.late_loss <= 0.012, "{a:?}");
    let ratio = a.mean_added_delay.as_secs_f64() / f.mean_added_delay.as_secs_f64();
    assert!(ratio <= 1.2, "{ratio:.2}: {a:?} vs {f:?}");
}
