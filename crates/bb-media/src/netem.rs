//! Seeded synthetic network traces, and the replay harness that scores a
//! jitter buffer on them.
//!
//! A [`Trace`] is what a sender emitted ([`SentPacket`], one 20 ms frame
//! each, with its send instant on the receiver's clock) and what reached the
//! receiver ([`Delivery`], sorted by arrival; a packet may be delivered zero
//! times (lost) or twice (duplicated)). [`TraceKind`] lists the scenarios,
//! modelled on pjproject's jitter-buffer test sessions and the NetEq test
//! set; every trace is a pure function of its [`TraceConfig`], seed included.
//!
//! [`replay_adaptive`] plays a trace through [`JitterBuffer`] on a pull grid
//! (one pull per frame at `phase + k * frame`), [`replay_fixed`] plays it
//! through an idealised fixed-delay buffer on the same grid, and
//! [`best_fixed`] finds the smallest fixed delay whose late loss is within a
//! bound: the best fixed delay *in hindsight*, the yardstick for the
//! adaptive buffer. [`replay_adaptive_chunked`] plays it through the
//! buffer's chunked playout (sub-frame accelerate and expand, ticking
//! every chunk on the same phase) against the same frame-grid yardstick.
//!
//! "Added delay" of a played frame is `pull time − (send time + the trace's
//! minimum one-way delay)`: what the buffer adds on top of the fastest path,
//! measured identically for both buffers.

use std::collections::HashMap;
use std::time::Duration;

use crate::Time;
use crate::jitter::{
    ChunkPulled, JitterBuffer, JitterConfig, JitterConfigError, Pulled, Rejected, RtpPayload,
};

/// A small, fast, seeded PRNG (SplitMix64). Not cryptographic.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[0, n)` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            ((self.next_u64() as u128 * n as u128) >> 64) as u64
        }
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Exponentially distributed with mean `mean`.
    pub fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }
}

/// The network scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TraceKind {
    /// Constant delay, sub-millisecond jitter.
    Steady,
    /// Exponential jitter, mean 4 ms.
    JitterLow,
    /// Exponential jitter, mean 20 ms (reorders often).
    JitterHigh,
    /// Every 3–6 s the path stalls 100–300 ms, then releases the held
    /// packets back to back.
    Bursts,
    /// 5 % of packets overtaken (delayed 20–60 ms), 1 % duplicated.
    Reorder,
    /// 5 % independent loss.
    LossRandom,
    /// Gilbert–Elliott bursty loss (about 4 % overall, in runs).
    LossBursty,
    /// Sender clock 400 ppm fast, mild jitter.
    DriftFast,
    /// Sender clock 400 ppm slow, mild jitter.
    DriftSlow,
    /// One route flap: delay jumps 200–400 ms for 200 ms, then the backlog
    /// drains.
    DelaySpike,
    /// Halfway through, the sender restarts: new SSRC, sequence number and
    /// timestamp.
    SsrcRestart,
}

impl TraceKind {
    /// Every kind, in table order.
    pub const ALL: [TraceKind; 11] = [
        TraceKind::Steady,
        TraceKind::JitterLow,
        TraceKind::JitterHigh,
        TraceKind::Bursts,
        TraceKind::Reorder,
        TraceKind::LossRandom,
        TraceKind::LossBursty,
        TraceKind::DriftFast,
        TraceKind::DriftSlow,
        TraceKind::DelaySpike,
        TraceKind::SsrcRestart,
    ];

    /// Short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            TraceKind::Steady => "steady",
            TraceKind::JitterLow => "jitter-low",
            TraceKind::JitterHigh => "jitter-high",
            TraceKind::Bursts => "bursts",
            TraceKind::Reorder => "reorder",
            TraceKind::LossRandom => "loss-random",
            TraceKind::LossBursty => "loss-bursty",
            TraceKind::DriftFast => "drift+400ppm",
            TraceKind::DriftSlow => "drift-400ppm",
            TraceKind::DelaySpike => "delay-spike",
            TraceKind::SsrcRestart => "ssrc-restart",
        }
    }
}

/// Parameters of a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceConfig {
    /// Scenario.
    pub kind: TraceKind,
    /// Seed: same seed, same trace.
    pub seed: u64,
    /// Length of the send schedule.
    pub duration: Duration,
    /// Frame (packet) period on the sender's clock.
    pub frame: Duration,
    /// RTP clock rate.
    pub clock_rate: u32,
    /// One-way delay floor.
    pub base_delay: Duration,
}

impl TraceConfig {
    /// 60 s of 20 ms G.711 frames over a 40 ms path.
    pub fn new(kind: TraceKind, seed: u64) -> TraceConfig {
        TraceConfig {
            kind,
            seed,
            duration: Duration::from_secs(60),
            frame: Duration::from_millis(20),
            clock_rate: 8000,
            base_delay: Duration::from_millis(40),
        }
    }
}

/// One packet as sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SentPacket {
    /// SSRC.
    pub ssrc: u32,
    /// Sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub ts: u32,
    /// Send instant, on the receiver's clock.
    pub send: Time,
}

/// One packet reaching the receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Index into [`Trace::packets`].
    pub packet: usize,
    /// Arrival instant.
    pub arrival: Time,
}

/// A generated trace.
#[derive(Clone, Debug)]
pub struct Trace {
    /// What generated it.
    pub config: TraceConfig,
    /// Sent packets, in send order.
    pub packets: Vec<SentPacket>,
    /// Deliveries sorted by arrival (ties keep send order).
    pub deliveries: Vec<Delivery>,
}

impl Trace {
    /// Generates the trace for `cfg`.
    pub fn generate(cfg: TraceConfig) -> Trace {
        let mut rng = Rng::new(cfg.seed.wrapping_mul(31).wrapping_add(cfg.kind as u64));
        let frame_us = cfg.frame.as_micros() as f64;
        let spf = (cfg.clock_rate as u64 * cfg.frame.as_micros() as u64 / 1_000_000) as u32;
        let n = (cfg.duration.as_micros() / cfg.frame.as_micros().max(1)) as usize;
        let ppm = match cfg.kind {
            TraceKind::DriftFast => 400.0,
            TraceKind::DriftSlow => -400.0,
            _ => 0.0,
        };
        // A fast sender emits frames more often in receiver time.
        let period_us = frame_us / (1.0 + ppm * 1e-6);
        let start_us = 1_000_000.0 + rng.range(0.0, frame_us);
        let base = cfg.base_delay.as_micros() as f64;

        let mut ssrc = rng.next_u64() as u32;
        let mut seq = rng.next_u64() as u16;
        let mut ts = rng.next_u64() as u32;
        let restart_at = n / 2;

        // Scenario state.
        let mut next_burst = start_us + rng.range(3e6, 6e6);
        let mut burst_end = 0.0f64;
        let mut burst_start = 0.0f64;
        let spike_start = start_us + rng.range(15e6, 45e6);
        let spike_amp = rng.range(200e3, 400e3);
        let spike_hold = 200e3;
        let mut ge_bad = false;

        let mut packets = Vec::with_capacity(n);
        let mut deliveries = Vec::with_capacity(n + n / 50);
        for i in 0..n {
            if cfg.kind == TraceKind::SsrcRestart && i == restart_at {
                ssrc = rng.next_u64() as u32;
                seq = rng.next_u64() as u16;
                ts = rng.next_u64() as u32;
            }
            let send = start_us + i as f64 * period_us;
            packets.push(SentPacket {
                ssrc,
                seq,
                ts,
                send: Time::from_micros(send as u64),
            });
            seq = seq.wrapping_add(1);
            ts = ts.wrapping_add(spf);

            let mut lost = false;
            let mut dup = false;
            let delay = match cfg.kind {
                TraceKind::Steady => rng.range(0.0, 1e3),
                TraceKind::JitterLow => rng.exp(4e3).min(80e3),
                TraceKind::JitterHigh => rng.exp(20e3).min(400e3),
                TraceKind::Bursts => {
                    if send >= next_burst {
                        burst_start = next_burst;
                        burst_end = next_burst + rng.range(100e3, 300e3);
                        next_burst += rng.range(3e6, 6e6);
                    }
                    let jitter = rng.range(0.0, 2e3);
                    if send < burst_end && send >= burst_start {
                        // Held until the stall ends, then released 0.2 ms apart.
                        let k = ((send - burst_start) / period_us).floor();
                        burst_end - send + k * 200.0 + jitter
                    } else {
                        jitter
                    }
                }
                TraceKind::Reorder => {
                    dup = rng.chance(0.01);
                    let jitter = rng.range(0.0, 2e3);
                    if rng.chance(0.05) {
                        jitter + rng.range(20e3, 60e3)
                    } else {
                        jitter
                    }
                }
                TraceKind::LossRandom => {
                    lost = rng.chance(0.05);
                    rng.range(0.0, 2e3) + rng.exp(2e3)
                }
                TraceKind::LossBursty => {
                    ge_bad = if ge_bad {
                        !rng.chance(0.25)
                    } else {
                        rng.chance(0.015)
                    };
                    lost = rng.chance(if ge_bad { 0.7 } else { 0.005 });
                    rng.range(0.0, 2e3) + rng.exp(2e3)
                }
                TraceKind::DriftFast | TraceKind::DriftSlow => rng.exp(3e3).min(60e3),
                TraceKind::DelaySpike => {
                    let jitter = rng.exp(2e3).min(40e3);
                    let t = send - spike_start;
                    let extra = if t < 0.0 {
                        0.0
                    } else if t < spike_hold {
                        spike_amp
                    } else {
                        // The backlog drains at link speed: extra delay falls
                        // one-for-one with time.
                        (spike_amp - (t - spike_hold)).max(0.0)
                    };
                    jitter + extra
                }
                TraceKind::SsrcRestart => rng.exp(3e3).min(60e3),
            };
            if !lost {
                let arrival = send + base + delay;
                deliveries.push(Delivery {
                    packet: i,
                    arrival: Time::from_micros(arrival as u64),
                });
                if dup {
                    deliveries.push(Delivery {
                        packet: i,
                        arrival: Time::from_micros((arrival + rng.range(0.0, 10e3)) as u64),
                    });
                }
            }
        }
        deliveries.sort_by_key(|d| (d.arrival, d.packet));
        Trace {
            config: cfg,
            packets,
            deliveries,
        }
    }

    /// Smallest one-way delay over all deliveries (the path's floor).
    pub fn min_delay(&self) -> Duration {
        let us = self
            .deliveries
            .iter()
            .map(|d| d.arrival.micros_since(self.packets[d.packet].send))
            .min()
            .unwrap_or(0);
        Duration::from_micros(us.max(0) as u64)
    }

    /// First arrival of each delivered packet (`None` if lost).
    fn first_arrivals(&self) -> Vec<Option<Time>> {
        let mut first = vec![None; self.packets.len()];
        for d in &self.deliveries {
            let f: &mut Option<Time> = &mut first[d.packet];
            if f.is_none_or(|t| d.arrival < t) {
                *f = Some(d.arrival);
            }
        }
        first
    }
}

/// How a buffer fared on a trace.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct QualityReport {
    /// Distinct packets delivered (the denominator of the rates).
    pub delivered: u64,
    /// Frames played.
    pub played: u64,
    /// Mean added delay of played frames (see the module docs).
    pub mean_added_delay: Duration,
    /// Delivered packets that arrived after their playout slot.
    pub late_loss: f64,
    /// Delivered packets dropped for another reason (accelerate, flush,
    /// drift).
    pub dropped: f64,
    /// Concealed frames over frames output after playout started.
    pub concealment: f64,
    /// Expand decisions.
    pub expands: u64,
    /// Accelerate decisions.
    pub accelerates: u64,
    /// Timeline restarts.
    pub resyncs: u64,
    /// Peak samples the buffer left out of its statistics.
    pub peaks_ignored: u64,
    /// The buffer's final clock-drift estimate, ppm.
    pub drift_ppm: f64,
}

fn rate(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Instants `phase + k * period` covering the trace (`phase` taken modulo
/// the frame, so a chunk grid contains the frame grid).
fn tick_grid(
    trace: &Trace,
    phase: Duration,
    period: Duration,
) -> impl Iterator<Item = Time> + use<> {
    let frame = trace.config.frame.as_micros() as u64;
    let period = (period.as_micros() as u64).max(1);
    let end = trace.deliveries.last().map_or(0, |d| d.arrival.as_micros()) + 2_000_000;
    let phase = phase.as_micros() as u64 % frame.max(1);
    (0..)
        .map(move |k| Time::from_micros(phase + k * period))
        .take_while(move |t| t.as_micros() <= end)
}

/// Plays `trace` through a [`JitterBuffer`] with `cfg`, pulling on the grid
/// `phase + k * frame`.
pub fn replay_adaptive(
    trace: &Trace,
    cfg: JitterConfig,
    phase: Duration,
) -> Result<QualityReport, JitterConfigError> {
    let mut jb = JitterBuffer::new(cfg)?;
    replay(trace, &mut jb, phase)
}

/// Plays `trace` through a [`JitterBuffer`] with `cfg` in chunked playout
/// ([`JitterBuffer::set_chunk`]), ticking [`JitterBuffer::pull_chunk`] on
/// the grid `phase + k * chunk`. A frame's added delay is measured at the
/// tick it starts on; [`ChunkPulled::Stretch`] chunks count as expands,
/// cut frames as accelerates.
pub fn replay_adaptive_chunked(
    trace: &Trace,
    cfg: JitterConfig,
    chunk: Duration,
    phase: Duration,
) -> Result<QualityReport, JitterConfigError> {
    let mut jb = JitterBuffer::new(cfg)?;
    jb.set_chunk(chunk)?;
    replay(trace, &mut jb, phase)
}

/// The replay loop: [`JitterBuffer::pull`] on the frame grid, or
/// [`JitterBuffer::pull_chunk`] on the chunk grid once chunks are set.
fn replay(
    trace: &Trace,
    jb: &mut JitterBuffer,
    phase: Duration,
) -> Result<QualityReport, JitterConfigError> {
    let chunk = jb.chunk();
    let floor = trace.min_delay().as_micros() as i64;
    let n = trace.packets.len();
    let mut played = vec![false; n];
    let mut late = vec![false; n];
    let mut delivered = vec![false; n];
    let mut added_sum = 0i64;
    let mut frames = 0u64;
    let mut concealed = 0u64;
    let mut pending_conceal = 0u64;
    let mut counted_frames = 0u64;
    let mut di = 0;
    let period = chunk.unwrap_or(trace.config.frame);
    for now in tick_grid(trace, phase, period) {
        while let Some(d) = trace.deliveries.get(di).filter(|d| d.arrival <= now) {
            let p = trace.packets[d.packet];
            delivered[d.packet] = true;
            let pkt = RtpPayload {
                ssrc: p.ssrc,
                seq: p.seq,
                ts: p.ts,
                marker: false,
                payload: (d.packet as u32).to_le_bytes().to_vec(),
            };
            if let Err(Rejected::TooLate { .. }) = jb.insert(pkt, d.arrival) {
                late[d.packet] = true;
            }
            di += 1;
        }
        let pulled = match chunk {
            None => jb.pull(now),
            Some(_) => match jb.pull_chunk(now) {
                ChunkPulled::Frame(f) => Pulled::Frame(f),
                ChunkPulled::Conceal(c) => Pulled::Conceal(c),
                ChunkPulled::NotStarted
                | ChunkPulled::Stretch { .. }
                | ChunkPulled::Continue
                | ChunkPulled::Empty => Pulled::NotStarted,
            },
        };
        match pulled {
            Pulled::Frame(f) => {
                let idx = match f.payload.as_slice() {
                    [a, b, c, d] => u32::from_le_bytes([*a, *b, *c, *d]) as usize,
                    _ => continue,
                };
                if let Some(p) = trace.packets.get(idx) {
                    played[idx] = true;
                    frames += 1;
                    added_sum += now.micros_since(p.send) - floor;
                }
            }
            Pulled::Conceal(_) => pending_conceal += 1,
            Pulled::NotStarted | Pulled::Empty => {}
        }
        if frames > counted_frames {
            // Concealment between played frames counts; after the last
            // frame of the trace it is just the stream ending.
            concealed += pending_conceal;
            pending_conceal = 0;
            counted_frames = frames;
        }
    }
    let stats = jb.stats();
    let delivered_n = delivered.iter().filter(|&&d| d).count() as u64;
    let late_n = (0..n).filter(|&i| late[i] && !played[i]).count() as u64;
    let dropped_n =
        delivered_n - frames.min(delivered_n) - late_n.min(delivered_n - frames.min(delivered_n));
    Ok(QualityReport {
        delivered: delivered_n,
        played: frames,
        mean_added_delay: Duration::from_micros(
            (added_sum.max(0) as u64).checked_div(frames).unwrap_or(0),
        ),
        late_loss: rate(late_n, delivered_n),
        dropped: rate(dropped_n, delivered_n),
        concealment: rate(concealed, concealed + frames),
        expands: stats.expands + stats.chunk_expands,
        accelerates: stats.accelerates + stats.chunk_drops,
        resyncs: stats.resyncs,
        peaks_ignored: stats.peaks_ignored,
        drift_ppm: stats.drift_ppm,
    })
}

/// Plays `trace` through an idealised fixed-delay buffer: frame `i` is due
/// at `send_i + floor + delay` and plays at the first pull at or after that,
/// if it has arrived by then. It knows the trace's floor and the sender's
/// clock (so drift costs it nothing but the rare frame that two due times
/// map to one pull), which is what makes it the hindsight yardstick.
pub fn replay_fixed(trace: &Trace, delay: Duration, phase: Duration) -> QualityReport {
    let frame = trace.config.frame.as_micros() as i64;
    let phase = phase.as_micros() as i64 % frame.max(1);
    let floor = trace.min_delay().as_micros() as i64;
    let d = delay.as_micros() as i64;
    let first = trace.first_arrivals();
    // Pull index each delivered packet would play at.
    let mut slots: HashMap<i64, usize> = HashMap::new();
    let mut late_n = 0u64;
    let mut dropped_n = 0u64;
    let mut delivered = 0u64;
    for (i, p) in trace.packets.iter().enumerate() {
        let Some(arrival) = first[i] else { continue };
        delivered += 1;
        let due = p.send.as_micros() as i64 + floor + d;
        let k = (due - phase + frame - 1).div_euclid(frame);
        let play = phase + k * frame;
        if (arrival.as_micros() as i64) > play {
            late_n += 1;
            continue;
        }
        if slots.insert(k, i).is_some() {
            // Two frames due in one pull (fast sender): the older is dropped.
            dropped_n += 1;
        }
    }
    let played = slots.len() as u64;
    let mut added_sum = 0i64;
    for (&k, &i) in &slots {
        added_sum += phase + k * frame - trace.packets[i].send.as_micros() as i64 - floor;
    }
    let (lo, hi) = (slots.keys().min().copied(), slots.keys().max().copied());
    let span = match (lo, hi) {
        (Some(a), Some(b)) => (b - a + 1) as u64,
        _ => 0,
    };
    QualityReport {
        delivered,
        played,
        mean_added_delay: Duration::from_micros(
            (added_sum.max(0) as u64).checked_div(played).unwrap_or(0),
        ),
        late_loss: rate(late_n, delivered),
        dropped: rate(dropped_n, delivered),
        concealment: rate(span - played.min(span), span),
        ..QualityReport::default()
    }
}

/// The smallest fixed delay (to 0.1 ms) whose late loss is at most
/// `max_late`, with its report. Late loss falls monotonically with the
/// delay, so a bisection finds it.
pub fn best_fixed(trace: &Trace, phase: Duration, max_late: f64) -> (Duration, QualityReport) {
    let (mut lo, mut hi) = (0u64, 2_000_000u64);
    while hi - lo > 100 {
        let mid = (lo + hi) / 2;
        if replay_fixed(trace, Duration::from_micros(mid), phase).late_loss <= max_late {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let d = Duration::from_micros(hi);
    (d, replay_fixed(trace, d, phase))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic_and_roughly_uniform() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(Rng::new(8).next_u64(), xs[0]);
        let mut r = Rng::new(1);
        let mean = (0..10_000).map(|_| r.unit()).sum::<f64>() / 10_000.0;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
        let e = (0..10_000).map(|_| r.exp(5.0)).sum::<f64>() / 10_000.0;
        assert!((e - 5.0).abs() < 0.3, "{e}");
        assert!((0..1000).all(|_| r.below(10) < 10));
    }

    #[test]
    fn traces_are_deterministic_and_shaped_as_named() {
        for kind in TraceKind::ALL {
            let cfg = TraceConfig::new(kind, 42);
            let t = Trace::generate(cfg);
            let again = Trace::generate(cfg);
            assert_eq!(t.packets, again.packets, "{kind:?}");
            assert_eq!(t.deliveries, again.deliveries, "{kind:?}");
            assert_eq!(t.packets.len(), 3000, "{kind:?}");
            assert!(
                t.deliveries
                    .windows(2)
                    .all(|w| w[0].arrival <= w[1].arrival)
            );
            let floor = t.min_delay();
            assert!(
                floor >= Duration::from_millis(40) && floor < Duration::from_millis(42),
                "{kind:?} floor {floor:?}"
            );
            let lost = t.packets.len() - t.first_arrivals().iter().filter(|a| a.is_some()).count();
            let loss = lost as f64 / t.packets.len() as f64;
            match kind {
                TraceKind::LossRandom => assert!((0.035..0.065).contains(&loss), "{loss}"),
                TraceKind::LossBursty => assert!((0.01..0.08).contains(&loss), "{loss}"),
                _ => assert_eq!(lost, 0, "{kind:?}"),
            }
        }
        let restart = Trace::generate(TraceConfig::new(TraceKind::SsrcRestart, 1));
        assert_ne!(restart.packets[0].ssrc, restart.packets[2999].ssrc);
        let reorder = Trace::generate(TraceConfig::new(TraceKind::Reorder, 1));
        assert!(reorder.deliveries.len() > 3010, "duplicates present");
        // Drift: the send period differs from 20 ms by 400 ppm.
        let fast = Trace::generate(TraceConfig::new(TraceKind::DriftFast, 1));
        let span = fast.packets[2999].send.micros_since(fast.packets[0].send);
        let shortfall = 2999.0 * 20_000.0 - span as f64;
        assert!((shortfall - 23_982.4).abs() < 5.0, "{span}");
    }

    #[test]
    fn fixed_replay_late_loss_falls_with_delay() {
        let t = Trace::generate(TraceConfig::new(TraceKind::JitterHigh, 3));
        let phase = Duration::from_millis(7);
        let mut prev = 1.0;
        for ms in [0, 10, 30, 60, 100, 200] {
            let r = replay_fixed(&t, Duration::from_millis(ms), phase);
            assert!(r.late_loss <= prev, "{ms} ms: {} > {prev}", r.late_loss);
            prev = r.late_loss;
        }
        let (d, r) = best_fixed(&t, phase, 0.01);
        assert!(r.late_loss <= 0.01);
        let just_below = replay_fixed(&t, d - Duration::from_micros(200), phase);
        assert!(just_below.late_loss > 0.01 || just_below.mean_added_delay == r.mean_added_delay);
        // Exponential jitter with mean 20 ms: the 99th percentile is ~92 ms.
        assert!((75..110).contains(&d.as_millis()), "{d:?}");
    }
}
