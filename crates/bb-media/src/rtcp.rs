//! RTCP: receiver statistics (RFC 3550 A.3 and A.8) and SR/RR packets
//! (built and parsed with `rtcp-types`).
//!
//! Per remote source, feed each accepted RTP packet to
//! [`ReceptionStats::on_rtp`] (audio only: telephone-events reuse a
//! timestamp and would distort the jitter). Every few seconds
//! ([`RtcpTimer`]) build a report with [`build_sr`] (if we send media) or
//! [`build_rr`], each with one [`ReportBlock`] from
//! [`ReceptionStats::report_block`]. Parse the peer's reports with
//! [`parse`] to read its view of our stream: fraction and cumulative loss,
//! jitter, and round-trip time via [`ReportBlock::round_trip`].
//!
//! Wall-clock time is an argument too: the driver converts its system clock
//! into an [`NtpTime`].

use std::time::Duration;

use rtcp_types::{
    Compound, CompoundBuilder, Packet, ReceiverReport, ReportBlockBuilder, RtcpPacketWriterExt,
    RtcpParseError, RtcpWriteError, SdesBuilder, SdesChunk, SdesItem, SenderReport,
};

use crate::Time;

/// A 64-bit NTP timestamp (32.32 fixed point seconds since 1900).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NtpTime(pub u64);

/// Seconds from 1900-01-01 to 1970-01-01.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

impl NtpTime {
    /// From time since the Unix epoch (what `SystemTime` gives the driver).
    pub fn from_unix(since_epoch: Duration) -> NtpTime {
        let secs = since_epoch.as_secs().wrapping_add(NTP_UNIX_OFFSET);
        let frac = ((since_epoch.subsec_nanos() as u64) << 32) / 1_000_000_000;
        NtpTime((secs << 32) | frac)
    }

    /// The middle 32 bits (16.16), as used in LSR/DLSR.
    pub fn middle32(self) -> u32 {
        (self.0 >> 16) as u32
    }
}

/// RTCP failures.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RtcpError {
    /// The peer's packet does not parse.
    #[error("malformed rtcp ({len} bytes): {source}")]
    Parse {
        /// Datagram length.
        len: usize,
        /// The parser's reason.
        source: RtcpParseError,
    },
    /// We could not build a packet.
    #[error("cannot build rtcp: {0}")]
    Write(#[from] RtcpWriteError),
    /// A CNAME longer than SDES allows.
    #[error("rtcp cname of {len} bytes exceeds 255")]
    Cname {
        /// Its length.
        len: usize,
    },
}

/// One RFC 3550 report block, decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReportBlock {
    /// Source the block reports on.
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed; negative with duplicates).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub ext_highest_seq: u32,
    /// Interarrival jitter, timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the last SR's NTP time (0: none yet).
    pub lsr: u32,
    /// Delay since that SR, 1/65536 s.
    pub dlsr: u32,
}

impl ReportBlock {
    /// Fraction lost as a number in `0..1`.
    pub fn loss_fraction(&self) -> f64 {
        self.fraction_lost as f64 / 256.0
    }

    /// Jitter as a duration at `clock_rate`.
    pub fn jitter_duration(&self, clock_rate: u32) -> Duration {
        Duration::from_micros(self.jitter as u64 * 1_000_000 / clock_rate.max(1) as u64)
    }

    /// Round-trip time, given the NTP time this block arrived (RFC 3550
    /// §6.4.1); `None` when the peer has not seen an SR of ours yet.
    pub fn round_trip(&self, arrival: NtpTime) -> Option<Duration> {
        if self.lsr == 0 {
            return None;
        }
        let rtt = arrival
            .middle32()
            .wrapping_sub(self.lsr)
            .wrapping_sub(self.dlsr);
        // A negative result (clock trouble) wraps to a huge value: reject.
        (rtt < 0x8000_0000).then(|| Duration::from_micros(rtt as u64 * 1_000_000 / 65_536))
    }

    fn builder(&self) -> ReportBlockBuilder {
        rtcp_types::ReportBlock::builder(self.ssrc)
            .fraction_lost(self.fraction_lost)
            .cumulative_lost((self.cumulative_lost as u32) & 0x00FF_FFFF)
            .extended_sequence_number(self.ext_highest_seq)
            .interarrival_jitter(self.jitter)
            .last_sender_report_timestamp(self.lsr)
            .delay_since_last_sender_report_timestamp(self.dlsr)
    }

    fn from_parsed(b: &rtcp_types::ReportBlock<'_>) -> ReportBlock {
        let raw = b.cumulative_lost() & 0x00FF_FFFF;
        // Sign-extend the 24-bit field.
        let cumulative_lost = ((raw << 8) as i32) >> 8;
        ReportBlock {
            ssrc: b.ssrc(),
            fraction_lost: b.fraction_lost(),
            cumulative_lost,
            ext_highest_seq: b.extended_sequence_number(),
            jitter: b.interarrival_jitter(),
            lsr: b.last_sender_report_timestamp(),
            dlsr: b.delay_since_last_sender_report_timestamp(),
        }
    }
}

/// Receive-side statistics for one source (RFC 3550 A.3 and A.8).
#[derive(Clone, Debug)]
pub struct ReceptionStats {
    ssrc: u32,
    clock_rate: u32,
    base_ext: Option<i64>,
    max_ext: i64,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    /// Jitter in timestamp units, times 16 (the A.8 integer form).
    jitter_x16: u32,
    transit: Option<u32>,
    last_sr: Option<(u32, Time)>,
}

impl ReceptionStats {
    /// Statistics for `ssrc` with an RTP clock of `clock_rate`.
    pub fn new(ssrc: u32, clock_rate: u32) -> ReceptionStats {
        ReceptionStats {
            ssrc,
            clock_rate: clock_rate.max(1),
            base_ext: None,
            max_ext: 0,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            jitter_x16: 0,
            transit: None,
            last_sr: None,
        }
    }

    /// The source reported on.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Starts over for a new source (SSRC change or resync).
    pub fn reset(&mut self, ssrc: u32) {
        *self = ReceptionStats::new(ssrc, self.clock_rate);
    }

    /// Records an accepted RTP packet: its extended sequence number (from
    /// [`crate::rtp::RtpReceiver`]), timestamp and arrival time.
    pub fn on_rtp(&mut self, ext_seq: i64, rtp_ts: u32, arrival: Time) {
        match self.base_ext {
            None => {
                self.base_ext = Some(ext_seq);
                self.max_ext = ext_seq;
            }
            Some(base) => {
                self.max_ext = self.max_ext.max(ext_seq);
                if ext_seq < base {
                    self.base_ext = Some(ext_seq);
                }
            }
        }
        self.received += 1;
        // A.8: transit in timestamp units, modulo 2^32.
        let arrival_units =
            (arrival.as_micros() as u128 * self.clock_rate as u128 / 1_000_000) as u32;
        let transit = arrival_units.wrapping_sub(rtp_ts);
        if let Some(prev) = self.transit {
            let d = (transit.wrapping_sub(prev) as i32).unsigned_abs();
            let j = self.jitter_x16 as i64 + d as i64 - ((self.jitter_x16 as i64 + 8) >> 4);
            self.jitter_x16 = j.clamp(0, u32::MAX as i64) as u32;
        }
        self.transit = Some(transit);
    }

    /// Records the peer's SR (for LSR/DLSR in our next report).
    pub fn on_sender_report(&mut self, ntp: NtpTime, arrival: Time) {
        self.last_sr = Some((ntp.middle32(), arrival));
    }

    /// Packets expected (A.3): highest minus first extended sequence + 1.
    pub fn expected(&self) -> u64 {
        self.base_ext
            .map_or(0, |b| (self.max_ext - b + 1).max(0) as u64)
    }

    /// Packets received, duplicates included (as A.3 counts them).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Cumulative lost (A.3), which duplicates can make negative.
    pub fn cumulative_lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }

    /// Interarrival jitter in timestamp units.
    pub fn jitter_units(&self) -> u32 {
        self.jitter_x16 >> 4
    }

    /// Interarrival jitter as a duration.
    pub fn jitter(&self) -> Duration {
        Duration::from_micros(self.jitter_units() as u64 * 1_000_000 / self.clock_rate as u64)
    }

    /// The report block for our next SR/RR. Starts a new interval for the
    /// fraction lost.
    pub fn report_block(&mut self, now: Time) -> ReportBlock {
        let expected = self.expected();
        let expected_interval = expected.saturating_sub(self.expected_prior);
        let received_interval = self.received.saturating_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        };
        let (lsr, dlsr) = match self.last_sr {
            Some((lsr, at)) => {
                let d = now.saturating_duration_since(at);
                (
                    lsr,
                    (d.as_micros() * 65_536 / 1_000_000).min(u32::MAX as u128) as u32,
                )
            }
            None => (0, 0),
        };
        ReportBlock {
            ssrc: self.ssrc,
            fraction_lost,
            cumulative_lost: self.cumulative_lost().clamp(-0x80_0000, 0x7F_FFFF) as i32,
            ext_highest_seq: self.max_ext as u32,
            jitter: self.jitter_units(),
            lsr,
            dlsr,
        }
    }
}

/// Sender information of an SR.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SenderInfo {
    /// Wall-clock time of the report.
    pub ntp: NtpTime,
    /// RTP timestamp corresponding to `ntp`.
    pub rtp_ts: u32,
    /// Packets sent.
    pub packets: u32,
    /// Payload octets sent.
    pub octets: u32,
}

/// A parsed RTCP packet, reduced to what the softphone uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RtcpReport {
    /// Sender report.
    Sender {
        /// Reporter.
        ssrc: u32,
        /// Its sending figures.
        info: SenderInfo,
        /// Its reception reports.
        blocks: Vec<ReportBlock>,
    },
    /// Receiver report.
    Receiver {
        /// Reporter.
        ssrc: u32,
        /// Its reception reports.
        blocks: Vec<ReportBlock>,
    },
    /// The sources are leaving.
    Bye {
        /// Sources.
        ssrcs: Vec<u32>,
    },
    /// SDES, APP, feedback, XR: not used.
    Other {
        /// RTCP packet type.
        packet_type: u8,
    },
}

fn sdes<'a>(ssrc: u32, cname: &'a str) -> Result<SdesBuilder<'a>, RtcpError> {
    if cname.len() > 255 {
        return Err(RtcpError::Cname { len: cname.len() });
    }
    Ok(SdesBuilder::default()
        .add_chunk(SdesChunk::builder(ssrc).add_item(SdesItem::builder(SdesItem::CNAME, cname))))
}

fn finish(b: CompoundBuilder<'_>) -> Result<Vec<u8>, RtcpError> {
    let size = rtcp_types::RtcpPacketWriter::calculate_size(&b)?;
    let mut out = vec![0u8; size];
    let n = b.write_into(&mut out)?;
    out.truncate(n);
    Ok(out)
}

/// Builds a compound SR + SDES(CNAME) packet.
pub fn build_sr(
    ssrc: u32,
    info: &SenderInfo,
    blocks: &[ReportBlock],
    cname: &str,
) -> Result<Vec<u8>, RtcpError> {
    let mut sr = SenderReport::builder(ssrc)
        .ntp_timestamp(info.ntp.0)
        .rtp_timestamp(info.rtp_ts)
        .packet_count(info.packets)
        .octet_count(info.octets);
    for b in blocks {
        sr = sr.add_report_block(b.builder());
    }
    finish(
        Compound::builder()
            .add_packet(sr)
            .add_packet(sdes(ssrc, cname)?),
    )
}

/// Builds a compound RR + SDES(CNAME) packet.
pub fn build_rr(ssrc: u32, blocks: &[ReportBlock], cname: &str) -> Result<Vec<u8>, RtcpError> {
    let mut rr = ReceiverReport::builder(ssrc);
    for b in blocks {
        rr = rr.add_report_block(b.builder());
    }
    finish(
        Compound::builder()
            .add_packet(rr)
            .add_packet(sdes(ssrc, cname)?),
    )
}

/// Builds a compound RR + SDES + BYE packet for hang-up.
pub fn build_bye(ssrc: u32, cname: &str) -> Result<Vec<u8>, RtcpError> {
    let bye = rtcp_types::Bye::builder().add_source(ssrc);
    finish(
        Compound::builder()
            .add_packet(ReceiverReport::builder(ssrc))
            .add_packet(sdes(ssrc, cname)?)
            .add_packet(bye),
    )
}

/// Parses a (compound) RTCP datagram. Never panics, whatever the bytes.
pub fn parse(buf: &[u8]) -> Result<Vec<RtcpReport>, RtcpError> {
    let err = |source| RtcpError::Parse {
        len: buf.len(),
        source,
    };
    let compound = Compound::parse(buf).map_err(err)?;
    let mut out = Vec::new();
    for p in compound {
        let report = match p.map_err(err)? {
            Packet::Sr(sr) => RtcpReport::Sender {
                ssrc: sr.ssrc(),
                info: SenderInfo {
                    ntp: NtpTime(sr.ntp_timestamp()),
                    rtp_ts: sr.rtp_timestamp(),
                    packets: sr.packet_count(),
                    octets: sr.octet_count(),
                },
                blocks: sr
                    .report_blocks()
                    .map(|b| ReportBlock::from_parsed(&b))
                    .collect(),
            },
            Packet::Rr(rr) => RtcpReport::Receiver {
                ssrc: rr.ssrc(),
                blocks: rr
                    .report_blocks()
                    .map(|b| ReportBlock::from_parsed(&b))
                    .collect(),
            },
            Packet::Bye(bye) => RtcpReport::Bye {
                ssrcs: bye.ssrcs().collect(),
            },
            other => RtcpReport::Other {
                packet_type: rtcp_types::RtcpPacketParserExt::type_(&other),
            },
        };
        out.push(report);
    }
    Ok(out)
}

/// RFC 5761 demultiplexing: true if a datagram on a shared RTP/RTCP port is
/// RTCP (packet types 192–223 in the second byte).
pub fn is_rtcp(buf: &[u8]) -> bool {
    matches!(buf, [b0, b1, ..] if b0 >> 6 == 2 && (192..=223).contains(b1))
}

/// The report schedule: one report every `interval` (RFC 3550 suggests 5 s
/// with randomisation; the driver may pass a jittered interval).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtcpTimer {
    interval: Duration,
    next: Time,
}

impl RtcpTimer {
    /// First report due at `first`, then every `interval`.
    pub fn new(first: Time, interval: Duration) -> RtcpTimer {
        RtcpTimer {
            interval,
            next: first,
        }
    }

    /// When the next report is due.
    pub fn poll_timeout(&self) -> Time {
        self.next
    }

    /// True if a report is due at `now`; schedules the following one.
    pub fn handle_timeout(&mut self, now: Time) -> bool {
        if now < self.next {
            return false;
        }
        self.next = now + self.interval;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ntp_conversion() {
        let t = NtpTime::from_unix(Duration::new(1, 500_000_000));
        assert_eq!(t.0 >> 32, NTP_UNIX_OFFSET + 1);
        assert_eq!(t.0 as u32, 0x8000_0000);
        assert_eq!(
            t.middle32(),
            (((NTP_UNIX_OFFSET + 1) as u32) << 16) | 0x8000
        );
    }

    #[test]
    fn loss_and_fraction_per_a3() {
        let mut s = ReceptionStats::new(7, 8000);
        // 100 packets expected, seqs 10 and 20..=24 lost.
        for seq in 0..100i64 {
            if seq == 10 || (20..25).contains(&seq) {
                continue;
            }
            s.on_rtp(
                1000 + seq,
                seq as u32 * 160,
                Time::from_millis(seq as u64 * 20),
            );
        }
        assert_eq!(
            (s.expected(), s.received(), s.cumulative_lost()),
            (100, 94, 6)
        );
        let b = s.report_block(Time::from_millis(5000));
        assert_eq!(b.fraction_lost, (6 * 256 / 100) as u8);
        assert_eq!(b.cumulative_lost, 6);
        assert_eq!(b.ext_highest_seq, 1099);
        // Next interval: 50 more, none lost, plus 2 duplicates.
        for seq in 100..150i64 {
            s.on_rtp(
                1000 + seq,
                seq as u32 * 160,
                Time::from_millis(seq as u64 * 20),
            );
        }
        s.on_rtp(1149, 149 * 160, Time::from_millis(3000));
        s.on_rtp(1148, 148 * 160, Time::from_millis(3000));
        let b = s.report_block(Time::from_millis(10_000));
        assert_eq!(b.fraction_lost, 0);
        assert_eq!(b.cumulative_lost, 4, "duplicates offset losses");
    }

    #[test]
    fn jitter_per_a8() {
        // Perfectly paced: zero jitter.
        let mut s = ReceptionStats::new(1, 8000);
        for i in 0..100u64 {
            s.on_rtp(i as i64, 5000 + i as u32 * 160, Time::from_millis(i * 20));
        }
        assert_eq!(s.jitter_units(), 0);
        // Alternating ±4 ms: |D| = 8 ms = 64 units; J converges to 64.
        let mut s = ReceptionStats::new(1, 8000);
        for i in 0..400u64 {
            let off = if i % 2 == 0 { 0 } else { 8 };
            s.on_rtp(i as i64, i as u32 * 160, Time::from_millis(i * 20 + off));
        }
        assert!(
            (62..=64).contains(&s.jitter_units()),
            "{}",
            s.jitter_units()
        );
        assert_eq!(
            s.jitter(),
            Duration::from_micros(s.jitter_units() as u64 * 125)
        );
    }

    #[test]
    fn sr_and_rr_round_trip() {
        let mut stats = ReceptionStats::new(0xAAAA, 8000);
        for seq in 0..10 {
            if seq != 5 {
                stats.on_rtp(seq, seq as u32 * 160, Time::from_millis(seq as u64 * 20));
            }
        }
        let peer_sr_ntp = NtpTime::from_unix(Duration::from_secs(1_700_000_000));
        stats.on_sender_report(peer_sr_ntp, Time::from_millis(100));
        let block = stats.report_block(Time::from_millis(600));
        assert_eq!(block.dlsr, 32_768, "500 ms in 1/65536 s");
        let info = SenderInfo {
            ntp: NtpTime::from_unix(Duration::from_secs(1_700_000_001)),
            rtp_ts: 123_456,
            packets: 250,
            octets: 40_000,
        };
        let sr = build_sr(0xBBBB, &info, &[block], "bb@example.invalid").expect("valid");
        assert!(is_rtcp(&sr));
        let parsed = parse(&sr).expect("parses");
        assert_eq!(parsed.len(), 2);
        assert_eq!(
            parsed[0],
            RtcpReport::Sender {
                ssrc: 0xBBBB,
                info,
                blocks: vec![block]
            }
        );
        assert_eq!(parsed[1], RtcpReport::Other { packet_type: 202 });

        let neg = ReportBlock {
            cumulative_lost: -3,
            ..block
        };
        let rr = build_rr(0xBBBB, &[neg], "x").expect("valid");
        match &parse(&rr).expect("parses")[0] {
            RtcpReport::Receiver { ssrc, blocks } => {
                assert_eq!(*ssrc, 0xBBBB);
                assert_eq!(blocks[0].cumulative_lost, -3);
                assert_eq!(
                    blocks[0].loss_fraction(),
                    block.fraction_lost as f64 / 256.0
                );
            }
            other => panic!("{other:?}"),
        }
        let bye = parse(&build_bye(9, "x").expect("valid")).expect("parses");
        assert_eq!(bye[2], RtcpReport::Bye { ssrcs: vec![9] });
        assert!(matches!(
            build_rr(1, &[], &"x".repeat(300)),
            Err(RtcpError::Cname { len: 300 })
        ));
    }

    #[test]
    fn round_trip_time() {
        let sent = NtpTime::from_unix(Duration::from_secs(1000));
        let b = ReportBlock {
            lsr: sent.middle32(),
            dlsr: 65_536 / 2, // peer held it 500 ms
            ..ReportBlock::default()
        };
        let back = NtpTime::from_unix(Duration::from_millis(1_000_620));
        let rtt = b.round_trip(back).expect("has lsr");
        assert!((rtt.as_micros() as i64 - 120_000).abs() < 100, "{rtt:?}");
        assert_eq!(ReportBlock::default().round_trip(back), None);
    }

    #[test]
    fn timer_and_demux() {
        let mut t = RtcpTimer::new(Time::from_millis(1000), Duration::from_secs(5));
        assert!(!t.handle_timeout(Time::from_millis(999)));
        assert!(t.handle_timeout(Time::from_millis(1000)));
        assert_eq!(t.poll_timeout(), Time::from_millis(6000));
        assert!(!is_rtcp(&[0x80, 0x00, 0, 0]));
        assert!(!is_rtcp(&[0x80]));
        assert!(is_rtcp(&[0x81, 201]));
    }

    #[test]
    fn malformed_rtcp_is_an_error() {
        assert!(matches!(parse(&[]), Err(RtcpError::Parse { len: 0, .. })));
        let mut sr = build_rr(1, &[ReportBlock::default()], "x").expect("valid");
        sr[3] += 10; // length beyond the datagram
        let e = parse(&sr).expect_err("truncated");
        assert!(e.to_string().starts_with("malformed rtcp ("), "{e}");
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&buf);
            let _ = is_rtcp(&buf);
        }

        #[test]
        fn mutated_reports_never_panic(idx in 0usize..200, byte in any::<u8>(), cut in 0usize..200) {
            let b = ReportBlock { ssrc: 5, fraction_lost: 3, cumulative_lost: 7, ext_highest_seq: 9, jitter: 11, lsr: 13, dlsr: 15 };
            let mut sr = build_sr(1, &SenderInfo::default(), &[b, b], "cname").expect("valid");
            let i = idx % sr.len();
            sr[i] = byte;
            sr.truncate(cut.max(1).min(sr.len()));
            let _ = parse(&sr);
        }
    }
}
