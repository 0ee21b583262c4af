//! Jitter buffer cost per packet (one insert and one pull), our adaptive
//! buffer against a naive fixed-delay `BTreeMap` buffer in the same run,
//! both replaying the same 10 s trace with small jitter, reordering and
//! duplicates. Each packet's 160-byte payload is allocated on insert, as it
//! would be when read off the socket.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use bb_media::Time;
use bb_media::jitter::{JitterBuffer, JitterConfig, Pulled, RtpPayload};
use bb_media::netem::{Trace, TraceConfig, TraceKind};
use criterion::{Criterion, Throughput, criterion_group};

#[derive(Clone, Copy)]
enum Event {
    /// Index into the trace's packets, arrival.
    Insert(usize, Time),
    Pull(Time),
}

fn trace() -> Trace {
    let mut cfg = TraceConfig::new(TraceKind::Reorder, 5);
    cfg.duration = Duration::from_secs(10);
    Trace::generate(cfg)
}

/// Inserts in arrival order interleaved with pulls every 20 ms.
fn events(trace: &Trace) -> Vec<Event> {
    let mut ev = Vec::new();
    let mut di = 0;
    let end = trace.deliveries.last().map_or(0, |d| d.arrival.as_micros()) + 500_000;
    let mut now = 7_000u64;
    while now <= end {
        while let Some(d) = trace
            .deliveries
            .get(di)
            .filter(|d| d.arrival.as_micros() <= now)
        {
            ev.push(Event::Insert(d.packet, d.arrival));
            di += 1;
        }
        ev.push(Event::Pull(Time::from_micros(now)));
        now += 20_000;
    }
    ev
}

fn packet(trace: &Trace, i: usize) -> RtpPayload {
    let p = trace.packets[i];
    RtpPayload {
        ssrc: p.ssrc,
        seq: p.seq,
        ts: p.ts,
        marker: false,
        payload: vec![0x55; 160],
    }
}

/// The baseline: fixed 60 ms delay, `BTreeMap` keyed by timestamp, no
/// statistics, no adaptation, no wrap or resync handling.
struct NaiveBuffer {
    slots: BTreeMap<u32, Vec<u8>>,
    first: Option<(u32, Time)>,
    next_ts: u32,
}

impl NaiveBuffer {
    const DELAY_US: u64 = 60_000;

    fn insert(&mut self, p: RtpPayload, arrival: Time) {
        if self.first.is_none() {
            self.first = Some((p.ts, arrival));
            self.next_ts = p.ts;
        }
        if p.ts >= self.next_ts {
            self.slots.insert(p.ts, p.payload);
        }
    }

    fn pull(&mut self, now: Time) -> Option<Vec<u8>> {
        let (ts0, t0) = self.first?;
        let due = t0.as_micros() + (self.next_ts - ts0) as u64 * 125 + Self::DELAY_US;
        if now.as_micros() < due {
            return None;
        }
        let out = self.slots.remove(&self.next_ts);
        self.next_ts += 160;
        out
    }
}

fn run_ours(trace: &Trace, ev: &[Event]) -> u32 {
    let mut jb = match JitterBuffer::new(JitterConfig::default()) {
        Ok(jb) => jb,
        Err(e) => panic!("default config rejected: {e}"),
    };
    let mut bytes = 0u32;
    for &e in ev {
        match e {
            Event::Insert(i, t) => {
                let _ = jb.insert(packet(trace, i), t);
            }
            Event::Pull(t) => {
                if let Pulled::Frame(f) = jb.pull(t) {
                    bytes += f.payload.len() as u32;
                }
            }
        }
    }
    bytes
}

/// Ours as the media driver uses it: payload buffers taken from the
/// buffer's pool and handed back after playout, so nothing is allocated
/// per packet once it runs.
fn run_ours_recycling(trace: &Trace, ev: &[Event]) -> u32 {
    let mut jb = match JitterBuffer::new(JitterConfig::default()) {
        Ok(jb) => jb,
        Err(e) => panic!("default config rejected: {e}"),
    };
    let mut bytes = 0u32;
    for &e in ev {
        match e {
            Event::Insert(i, t) => {
                let p = trace.packets[i];
                let mut payload = jb.take_buffer();
                payload.extend_from_slice(&[0x55; 160]);
                let pkt = RtpPayload {
                    ssrc: p.ssrc,
                    seq: p.seq,
                    ts: p.ts,
                    marker: false,
                    payload,
                };
                let _ = jb.insert(pkt, t);
            }
            Event::Pull(t) => {
                if let Pulled::Frame(f) = jb.pull(t) {
                    bytes += f.payload.len() as u32;
                    jb.recycle(f.payload);
                }
            }
        }
    }
    bytes
}

fn run_naive(trace: &Trace, ev: &[Event]) -> u32 {
    let mut jb = NaiveBuffer {
        slots: BTreeMap::new(),
        first: None,
        next_ts: 0,
    };
    let mut bytes = 0u32;
    for &e in ev {
        match e {
            Event::Insert(i, t) => jb.insert(packet(trace, i), t),
            Event::Pull(t) => {
                if let Some(f) = jb.pull(t) {
                    bytes += f.len() as u32;
                }
            }
        }
    }
    bytes
}

fn bench(c: &mut Criterion) {
    let trace = trace();
    let ev = events(&trace);
    let n = trace.deliveries.len() as u64;
    let mut g = c.benchmark_group("jitter_insert_pull_10s_trace");
    g.throughput(Throughput::Elements(n));
    g.bench_function("ours_adaptive", |b| {
        b.iter(|| black_box(run_ours(&trace, black_box(&ev))))
    });
    g.bench_function("ours_adaptive_recycling", |b| {
        b.iter(|| black_box(run_ours_recycling(&trace, black_box(&ev))))
    });
    g.bench_function("naive_fixed_btreemap", |b| {
        b.iter(|| black_box(run_naive(&trace, black_box(&ev))))
    });
    g.finish();
}

fn summary() {
    let trace = trace();
    let ev = events(&trace);
    let n = trace.deliveries.len() as f64;
    let mut p = bb_benches::paired(
        "jitter insert+pull, per packet",
        20,
        100,
        || {
            black_box(run_ours(&trace, black_box(&ev)));
        },
        || {
            black_box(run_naive(&trace, black_box(&ev)));
        },
    );
    p.ours_ns /= n;
    p.base_ns /= n;
    let mut r = bb_benches::paired(
        "jitter insert+pull, recycling buffers",
        20,
        100,
        || {
            black_box(run_ours_recycling(&trace, black_box(&ev)));
        },
        || {
            black_box(run_naive(&trace, black_box(&ev)));
        },
    );
    r.ours_ns /= n;
    r.base_ns /= n;
    bb_benches::print_paired(
        "Adaptive jitter buffer vs naive fixed-delay BTreeMap buffer",
        &[p, r],
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
