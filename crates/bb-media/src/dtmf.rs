//! RFC 4733 telephone-events for DTMF digits `0-9 * # A-D`.
//!
//! [`DtmfSender`] is a sans-IO generator: queue digits with
//! [`DtmfSender::send_digits`], then drain [`DtmfSender::poll`] whenever
//! [`DtmfSender::poll_timeout`] passes. Each event is a start packet (marker
//! set), updates every [`DtmfConfig::interval`] with the growing duration, and
//! [`DtmfConfig::end_packets`] end packets (E bit) carrying the final
//! duration. Give the packets to [`crate::rtp::RtpSender::packetize_event`],
//! which keeps one timestamp per event.
//!
//! [`DtmfReceiver`] turns received packets into digits, each event exactly
//! once, however many updates, duplicates and retransmitted end packets
//! arrive, and even when the start packet is lost.

use std::collections::VecDeque;
use std::time::Duration;

use crate::Time;
use crate::rtp::RtpHeaderInfo;

/// The RFC 4733 event code of a DTMF digit (`0-9 * # A-D`, case-insensitive).
pub fn digit_to_event(digit: char) -> Option<u8> {
    match digit {
        '0'..='9' => Some(digit as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(digit as u8 - b'A' + 12),
        'a'..='d' => Some(digit as u8 - b'a' + 12),
        _ => None,
    }
}

/// The digit for an RFC 4733 event code 0..=15.
pub fn event_to_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some((b'0' + event) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + event - 12) as char),
        _ => None,
    }
}

/// DTMF failures, on which value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DtmfError {
    /// A character that is not a DTMF digit.
    #[error("dtmf digit {ch:?} at position {pos} of {digits:?} is not one of 0-9 * # A-D")]
    InvalidDigit {
        /// The offending character.
        ch: char,
        /// Its character position.
        pos: usize,
        /// The whole input.
        digits: String,
    },
    /// The tone is too long for the 16-bit duration field at this clock rate.
    #[error(
        "dtmf tone of {tone_ms} ms is {units} timestamp units at {clock_rate} Hz, over the 65535 limit (shorten the tone)"
    )]
    ToneTooLong {
        /// Configured tone length.
        tone_ms: u128,
        /// It in timestamp units.
        units: u64,
        /// Clock rate.
        clock_rate: u32,
    },
    /// A zero clock rate or zero update interval.
    #[error("dtmf {what} must be positive")]
    Zero {
        /// Which setting.
        what: &'static str,
    },
    /// A telephone-event payload shorter than 4 bytes.
    #[error("telephone-event payload of {len} bytes is shorter than 4")]
    Short {
        /// Payload length.
        len: usize,
    },
}

/// Sender settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DtmfConfig {
    /// RTP clock rate of the telephone-event format (matches the audio codec).
    pub clock_rate: u32,
    /// Tone length of each digit.
    pub tone: Duration,
    /// Pause between digits.
    pub gap: Duration,
    /// Interval between update packets during a tone.
    pub interval: Duration,
    /// Number of end packets (RFC 4733 recommends 3).
    pub end_packets: u8,
    /// Spacing of the end packets (a burst loss then rarely takes all three).
    pub end_spacing: Duration,
    /// Power level, in -dBm0 (0..=63).
    pub volume: u8,
}

impl Default for DtmfConfig {
    fn default() -> Self {
        DtmfConfig {
            clock_rate: 8000,
            tone: Duration::from_millis(100),
            gap: Duration::from_millis(60),
            interval: Duration::from_millis(50),
            end_packets: 3,
            end_spacing: Duration::from_millis(20),
            volume: 10,
        }
    }
}

/// One telephone-event packet to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DtmfPacket {
    /// Event code.
    pub event: u8,
    /// First packet of the event (RTP marker bit).
    pub marker: bool,
    /// End packet (E bit).
    pub end: bool,
    /// Duration so far, in timestamp units.
    pub duration: u16,
    /// The 4-byte RFC 4733 payload.
    pub payload: [u8; 4],
}

impl DtmfPacket {
    fn new(event: u8, marker: bool, end: bool, volume: u8, duration: u16) -> DtmfPacket {
        let d = duration.to_be_bytes();
        DtmfPacket {
            event,
            marker,
            end,
            duration,
            payload: [event, (u8::from(end) << 7) | (volume & 0x3F), d[0], d[1]],
        }
    }
}

/// A parsed telephone-event payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (0..=15 are DTMF digits).
    pub event: u8,
    /// E bit.
    pub end: bool,
    /// Volume, -dBm0.
    pub volume: u8,
    /// Duration in timestamp units.
    pub duration: u16,
}

/// Parses a telephone-event payload (the first 4 bytes; RFC 4733 allows
/// redundancy only via RFC 2198, which we do not negotiate).
pub fn parse_event(payload: &[u8]) -> Result<TelephoneEvent, DtmfError> {
    match payload {
        [event, flags, d0, d1, ..] => Ok(TelephoneEvent {
            event: *event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([*d0, *d1]),
        }),
        _ => Err(DtmfError::Short { len: payload.len() }),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SendState {
    Idle,
    Tone {
        event: u8,
        start: Time,
        next: Time,
    },
    Ending {
        event: u8,
        sent: u8,
        next: Time,
        gap_until: Time,
    },
    Gap {
        until: Time,
    },
}

/// Generates the packet series for queued digits.
#[derive(Clone, Debug)]
pub struct DtmfSender {
    cfg: DtmfConfig,
    tone_units: u16,
    queue: VecDeque<u8>,
    state: SendState,
    ready_at: Time,
}

impl DtmfSender {
    /// A sender; fails if the tone does not fit the 16-bit duration field.
    pub fn new(cfg: DtmfConfig) -> Result<DtmfSender, DtmfError> {
        if cfg.clock_rate == 0 {
            return Err(DtmfError::Zero { what: "clock rate" });
        }
        if cfg.interval.is_zero() {
            return Err(DtmfError::Zero {
                what: "update interval",
            });
        }
        let units = (cfg.tone.as_micros() as u64).saturating_mul(cfg.clock_rate as u64) / 1_000_000;
        let tone_units = u16::try_from(units).map_err(|_| DtmfError::ToneTooLong {
            tone_ms: cfg.tone.as_millis(),
            units,
            clock_rate: cfg.clock_rate,
        })?;
        Ok(DtmfSender {
            cfg,
            tone_units,
            queue: VecDeque::new(),
            state: SendState::Idle,
            ready_at: Time::ZERO,
        })
    }

    /// Queues `digits`; nothing is queued if any character is invalid.
    pub fn send_digits(&mut self, digits: &str, now: Time) -> Result<(), DtmfError> {
        let events = digits
            .chars()
            .enumerate()
            .map(|(pos, ch)| {
                digit_to_event(ch).ok_or_else(|| DtmfError::InvalidDigit {
                    ch,
                    pos,
                    digits: digits.to_owned(),
                })
            })
            .collect::<Result<Vec<u8>, _>>()?;
        if self.queue.is_empty() && self.state == SendState::Idle {
            self.ready_at = now;
        }
        self.queue.extend(events);
        Ok(())
    }

    /// True when no digit is queued or being sent (audio may flow).
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.state == SendState::Idle
    }

    /// True while a tone's packets (including end packets) are being sent;
    /// the driver should not send audio then.
    pub fn in_event(&self) -> bool {
        matches!(
            self.state,
            SendState::Tone { .. } | SendState::Ending { .. }
        )
    }

    /// When [`DtmfSender::poll`] next has something to do.
    pub fn poll_timeout(&self) -> Option<Time> {
        match self.state {
            SendState::Idle if self.queue.is_empty() => None,
            SendState::Idle => Some(self.ready_at),
            SendState::Tone { start, next, .. } => Some(next.min(start + self.cfg.tone)),
            SendState::Ending { next, .. } => Some(next),
            SendState::Gap { until } => Some(until),
        }
    }

    fn units_since(&self, start: Time, now: Time) -> u16 {
        let us = now.saturating_duration_since(start).as_micros() as u64;
        let units = us.saturating_mul(self.cfg.clock_rate as u64) / 1_000_000;
        units.min(self.tone_units as u64) as u16
    }

    /// The next packet due at `now`, if any. Call repeatedly until `None`.
    pub fn poll(&mut self, now: Time) -> Option<DtmfPacket> {
        loop {
            match self.state {
                SendState::Idle => {
                    if now < self.ready_at {
                        return None;
                    }
                    let event = self.queue.pop_front()?;
                    self.state = SendState::Tone {
                        event,
                        start: now,
                        next: now + self.cfg.interval,
                    };
                    return Some(DtmfPacket::new(event, true, false, self.cfg.volume, 0));
                }
                SendState::Tone { event, start, next } => {
                    let end = start + self.cfg.tone;
                    if now >= end {
                        self.state = SendState::Ending {
                            event,
                            sent: 1,
                            next: now + self.cfg.end_spacing,
                            gap_until: end + self.cfg.gap,
                        };
                        return Some(DtmfPacket::new(
                            event,
                            false,
                            true,
                            self.cfg.volume,
                            self.tone_units,
                        ));
                    }
                    if now < next {
                        return None;
                    }
                    // Catch up after a late poll with one update, not a burst.
                    let mut n = next;
                    while n <= now {
                        n += self.cfg.interval;
                    }
                    self.state = SendState::Tone {
                        event,
                        start,
                        next: n,
                    };
                    let d = self.units_since(start, now);
                    return Some(DtmfPacket::new(event, false, false, self.cfg.volume, d));
                }
                SendState::Ending {
                    event,
                    sent,
                    next,
                    gap_until,
                } => {
                    if sent >= self.cfg.end_packets {
                        self.state = SendState::Gap {
                            until: gap_until.max(now),
                        };
                        continue;
                    }
                    if now < next {
                        return None;
                    }
                    self.state = SendState::Ending {
                        event,
                        sent: sent + 1,
                        next: now + self.cfg.end_spacing,
                        gap_until,
                    };
                    return Some(DtmfPacket::new(
                        event,
                        false,
                        true,
                        self.cfg.volume,
                        self.tone_units,
                    ));
                }
                SendState::Gap { until } => {
                    if now < until {
                        return None;
                    }
                    self.state = SendState::Idle;
                    self.ready_at = until;
                }
            }
        }
    }
}

/// A digit recognised from received telephone-events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DtmfDigit {
    /// The digit.
    pub digit: char,
    /// Its event code.
    pub event: u8,
    /// RTP timestamp of the event.
    pub ts: u32,
}

#[derive(Clone, Copy, Debug)]
struct SeenEvent {
    ts: u32,
    event: u8,
    ended: bool,
    max_duration: u16,
}

/// Turns telephone-event packets into digits, each event exactly once.
///
/// An event is identified by its RTP timestamp. The receiver remembers the
/// last 16 events, so duplicates, updates and retransmitted end packets of
/// any of them are ignored, and a lost start packet does not lose the digit.
/// A packet without marker whose timestamp continues an unfinished event of
/// the same digit that had reached a long duration (RFC 4733 §2.5.1.5
/// long-duration events, segmented near the 16-bit limit) is treated as part
/// of that event; two ordinary presses of the same digit stay two digits even
/// if the first one's end packets were all lost.
#[derive(Clone, Debug, Default)]
pub struct DtmfReceiver {
    seen: VecDeque<SeenEvent>,
}

const SEEN_EVENTS: usize = 16;
/// Durations from which a sender may start a new segment (RFC 4733 §2.5.1.5).
const LONG_EVENT: u16 = 0x8000;
/// One update interval at 48 kHz: a lost last update before a segment switch.
const CONTINUATION_SLACK: u32 = 2400;

impl DtmfReceiver {
    /// A receiver with no history.
    pub fn new() -> DtmfReceiver {
        DtmfReceiver::default()
    }

    /// Feeds one telephone-event packet; returns the digit the first time an
    /// event is seen. Non-DTMF events (codes above 15) return `Ok(None)`.
    pub fn on_packet(
        &mut self,
        header: &RtpHeaderInfo,
        payload: &[u8],
    ) -> Result<Option<DtmfDigit>, DtmfError> {
        let ev = parse_event(payload)?;
        let Some(digit) = event_to_digit(ev.event) else {
            return Ok(None);
        };
        if let Some(s) = self
            .seen
            .iter_mut()
            .find(|s| s.ts == header.ts && s.event == ev.event)
        {
            s.ended |= ev.end;
            s.max_duration = s.max_duration.max(ev.duration);
            return Ok(None);
        }
        let this = SeenEvent {
            ts: header.ts,
            event: ev.event,
            ended: ev.end,
            max_duration: ev.duration,
        };
        if let Some(last) = self.seen.back() {
            let step = header.ts.wrapping_sub(last.ts);
            let long = last.max_duration >= LONG_EVENT;
            if !header.marker
                && !last.ended
                && long
                && last.event == ev.event
                && step > 0
                && step <= last.max_duration as u32 + CONTINUATION_SLACK
            {
                // Continuation of a long event under a new timestamp.
                self.remember(this);
                return Ok(None);
            }
        }
        self.remember(this);
        Ok(Some(DtmfDigit {
            digit,
            event: ev.event,
            ts: header.ts,
        }))
    }

    fn remember(&mut self, e: SeenEvent) {
        if self.seen.len() == SEEN_EVENTS {
            self.seen.pop_front();
        }
        self.seen.push_back(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::{self, RtpSender};
    use proptest::prelude::*;

    /// Runs a sender for `digits` in 10 ms steps, packetising through an
    /// `RtpSender` that also advances 160 samples per 20 ms of "audio".
    fn generate(digits: &str, cfg: DtmfConfig) -> Vec<(Time, RtpHeaderInfo, DtmfPacket)> {
        let mut tx = DtmfSender::new(cfg).expect("valid config");
        let mut rtp = RtpSender::new(5, 100, 1000);
        tx.send_digits(digits, Time::from_millis(0))
            .expect("valid digits");
        let mut out = Vec::new();
        let mut buf = Vec::new();
        let mut now = Time::ZERO;
        while !tx.is_idle() {
            while let Some(p) = tx.poll(now) {
                let h = rtp.packetize_event(101, &p, &mut buf).expect("fits");
                out.push((now, h, p));
            }
            if now.as_micros().is_multiple_of(20_000) {
                rtp.skip(160);
            }
            if tx.is_idle() {
                break;
            }
            let next = tx.poll_timeout().expect("busy sender has a timeout");
            assert!(next >= now, "timeout in the past");
            now += Duration::from_millis(10);
            assert!(now < Time::from_millis(10_000), "sender did not finish");
        }
        out
    }

    #[test]
    fn digit_mapping_covers_all_sixteen() {
        let all = "0123456789*#ABCD";
        for (i, ch) in all.chars().enumerate() {
            assert_eq!(digit_to_event(ch), Some(i as u8));
            assert_eq!(event_to_digit(i as u8), Some(ch));
        }
        assert_eq!(digit_to_event('b'), Some(13));
        assert_eq!(digit_to_event('E'), None);
        assert_eq!(event_to_digit(16), None);
    }

    #[test]
    fn sender_produces_rfc4733_series() {
        let pkts = generate("1#", DtmfConfig::default());
        // Per digit: start, 1 update (50 ms), end x3 = 5 packets.
        assert_eq!(pkts.len(), 10, "{pkts:#?}");
        for (i, ev) in [(0usize, 1u8), (5, 11)] {
            let group = &pkts[i..i + 5];
            let ts = group[0].1.ts;
            assert!(group[0].1.marker && group[0].2.marker);
            assert!(group[1..].iter().all(|(_, h, _)| !h.marker && h.ts == ts));
            assert!(
                group
                    .iter()
                    .all(|(_, _, p)| p.event == ev && p.payload[0] == ev)
            );
            let durations: Vec<u16> = group.iter().map(|(_, _, p)| p.duration).collect();
            assert_eq!(durations, vec![0, 400, 800, 800, 800]);
            let ends: Vec<bool> = group.iter().map(|(_, _, p)| p.end).collect();
            assert_eq!(ends, vec![false, false, true, true, true]);
            assert_eq!(group[2].2.payload, [ev, 0x80 | 10, 0x03, 0x20]);
            // End packets spaced by 20 ms.
            assert_eq!(group[3].0.micros_since(group[2].0), 20_000);
        }
        // The second event starts after tone + gap, with a later timestamp.
        assert_eq!(pkts[5].0, Time::from_millis(160));
        assert!(pkts[5].1.ts > pkts[0].1.ts);
        // Sequence numbers are consecutive.
        assert!(
            pkts.windows(2)
                .all(|w| w[1].1.seq == w[0].1.seq.wrapping_add(1))
        );
    }

    #[test]
    fn sender_validates_input_and_config() {
        let mut tx = DtmfSender::new(DtmfConfig::default()).expect("default is valid");
        let e = tx
            .send_digits("12x3", Time::ZERO)
            .expect_err("x is not a digit");
        assert_eq!(
            e.to_string(),
            "dtmf digit 'x' at position 2 of \"12x3\" is not one of 0-9 * # A-D"
        );
        assert!(tx.is_idle(), "nothing queued after an error");
        let cfg = DtmfConfig {
            clock_rate: 48_000,
            tone: Duration::from_secs(2),
            ..DtmfConfig::default()
        };
        assert!(matches!(
            DtmfSender::new(cfg),
            Err(DtmfError::ToneTooLong { units: 96_000, .. })
        ));
        assert!(
            DtmfSender::new(DtmfConfig {
                clock_rate: 0,
                ..DtmfConfig::default()
            })
            .is_err()
        );
    }

    #[test]
    fn late_poll_catches_up_without_a_burst() {
        let mut tx = DtmfSender::new(DtmfConfig::default()).expect("valid");
        tx.send_digits("5", Time::ZERO).expect("valid");
        assert!(tx.poll(Time::ZERO).expect("start").marker);
        assert_eq!(tx.poll(Time::ZERO), None);
        // Polled 90 ms late: one update with the elapsed duration.
        let p = tx.poll(Time::from_millis(90)).expect("update");
        assert_eq!((p.duration, p.end), (720, false));
        assert_eq!(tx.poll(Time::from_millis(90)), None);
        assert_eq!(tx.poll_timeout(), Some(Time::from_millis(100)));
    }

    fn feed(rx: &mut DtmfReceiver, pkts: &[(Time, RtpHeaderInfo, DtmfPacket)]) -> String {
        let mut s = String::new();
        for (_, h, p) in pkts {
            if let Some(d) = rx.on_packet(h, &p.payload).expect("valid payload") {
                s.push(d.digit);
            }
        }
        s
    }

    #[test]
    fn receiver_reports_each_event_once() {
        let pkts = generate("0123456789*#ABCD", DtmfConfig::default());
        let mut rx = DtmfReceiver::new();
        assert_eq!(feed(&mut rx, &pkts), "0123456789*#ABCD");
        // Everything again (duplicates, retransmissions): nothing new.
        assert_eq!(feed(&mut rx, &pkts[pkts.len() - 20..]), "");
    }

    #[test]
    fn receiver_survives_lost_start_and_reordering() {
        let pkts = generate("77", DtmfConfig::default());
        // Drop both start packets; reverse the rest.
        let mut kept: Vec<_> = pkts.iter().filter(|(_, _, p)| !p.marker).cloned().collect();
        kept.reverse();
        let mut rx = DtmfReceiver::new();
        assert_eq!(feed(&mut rx, &kept), "77");
    }

    #[test]
    fn receiver_joins_long_event_continuations() {
        let mut rx = DtmfReceiver::new();
        let h = |ts, marker| RtpHeaderInfo {
            pt: 101,
            seq: 0,
            ts,
            ssrc: 1,
            marker,
        };
        let mk = |end, dur| DtmfPacket::new(3, false, end, 10, dur).payload;
        assert_eq!(
            rx.on_packet(&h(1000, true), &mk(false, 0))
                .map(|d| d.map(|d| d.digit)),
            Ok(Some('3'))
        );
        assert_eq!(rx.on_packet(&h(1000, false), &mk(false, 0xFFFF)), Ok(None));
        // RFC 4733 §2.5.1.5: a new segment at ts + 0xFFFF, no marker.
        assert_eq!(
            rx.on_packet(&h(1000 + 0xFFFF, false), &mk(false, 800)),
            Ok(None)
        );
        assert_eq!(
            rx.on_packet(&h(1000 + 0xFFFF, false), &mk(true, 1600)),
            Ok(None)
        );
        // After the end, the same digit again is a new press.
        assert!(
            rx.on_packet(&h(1000 + 0xFFFF + 2000, true), &mk(false, 0))
                .expect("valid")
                .is_some()
        );
        assert_eq!(
            rx.on_packet(&h(5, false), &[1, 2]),
            Err(DtmfError::Short { len: 2 })
        );
        assert_eq!(rx.on_packet(&h(7, true), &[16, 0, 0, 0]), Ok(None));
    }

    proptest! {
        #[test]
        fn random_payloads_never_panic(pkts in proptest::collection::vec((any::<u32>(), any::<bool>(), proptest::collection::vec(any::<u8>(), 0..8)), 0..50)) {
            let mut rx = DtmfReceiver::new();
            for (ts, marker, payload) in pkts {
                let h = RtpHeaderInfo { pt: 101, seq: 0, ts, ssrc: 1, marker };
                let _ = rx.on_packet(&h, &payload);
                let _ = rtp::parse(&payload);
            }
        }

        /// Duplicating, dropping (but never all of an event) and locally
        /// reordering packets yields the digits exactly once, in order.
        #[test]
        fn impaired_series_yields_digits_once(digits in "[0-9*#A-D]{1,6}", seed in any::<u64>()) {
            let pkts = generate(&digits, DtmfConfig::default());
            let mut rng = crate::netem::Rng::new(seed);
            let mut impaired = Vec::new();
            for group in pkts.chunk_by(|a, b| a.1.ts == b.1.ts) {
                let keep = rng.below(group.len() as u64) as usize; // always keep one
                for (i, p) in group.iter().enumerate() {
                    if i == keep || rng.chance(0.6) {
                        impaired.push(*p);
                        if rng.chance(0.3) {
                            impaired.push(*p);
                        }
                    }
                }
            }
            // Swap neighbours within an event.
            for i in 1..impaired.len() {
                if impaired[i].1.ts == impaired[i - 1].1.ts && rng.chance(0.3) {
                    impaired.swap(i, i - 1);
                }
            }
            let mut rx = DtmfReceiver::new();
            prop_assert_eq!(feed(&mut rx, &impaired), digits);
        }
    }
}
