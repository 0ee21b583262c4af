//! RTP packing, unpacking and receive-side validation.
//!
//! The wire format is read and written by the `rtp-rs` crate; this module
//! adds our own header type ([`RtpHeaderInfo`]), a sender that stamps
//! sequence numbers and timestamps ([`RtpSender`]) and a receiver-side
//! validator ([`RtpReceiver`]) that drops bad packets with a typed reason
//! ([`RtpDrop`]) and extends sequence numbers per RFC 3550 appendix A.1.
//!
//! Deliberate differences from RFC 3550 A.1:
//!
//! * Probation (the number of in-sequence packets a new source needs before
//!   it is accepted) defaults to 0, not 2: our sources are announced in SDP,
//!   and dropping the first 40 ms of every call and every transfer is worse
//!   than the risk A.1 guards against. Set
//!   [`RtpReceiverConfig::probation`] to 2 for the RFC behaviour.
//! * A new SSRC replaces the current one immediately (PBXs change SSRC on
//!   transfer and re-INVITE); packets from the replaced SSRC are then dropped
//!   as [`RtpDrop::StaleSsrc`] rather than flapping back.
//! * Timestamps are validated too: a jump of more than
//!   [`RtpReceiverConfig::max_ts_jump`] is dropped unless the next packet
//!   confirms the new timeline, the same two-packet rule A.1 uses for
//!   sequence jumps.

use rtp_rs::{RtpPacketBuilder, RtpReader, RtpReaderError, Seq};
use std::fmt;

use crate::dtmf::DtmfPacket;

/// Largest packet we send or accept (an Ethernet MTU; we never fragment).
pub const MAX_PACKET_SIZE: usize = 1500;

/// RFC 3550 A.1: the largest forward jump still treated as in-sequence.
pub const MAX_DROPOUT: u16 = 3000;
/// RFC 3550 A.1: the largest backward step treated as reordering.
pub const MAX_MISORDER: u16 = 100;

/// The RTP header fields the softphone cares about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RtpHeaderInfo {
    /// Payload type (0..=127).
    pub pt: u8,
    /// Sequence number.
    pub seq: u16,
    /// Media timestamp.
    pub ts: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Marker bit (start of talk spurt; start of a DTMF event).
    pub marker: bool,
}

/// A parsed RTP packet borrowing its payload from the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpPacketRef<'a> {
    /// Header fields.
    pub header: RtpHeaderInfo,
    /// Payload with CSRCs, extension and padding removed.
    pub payload: &'a [u8],
}

/// Why a datagram is not a well-formed RTP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// Fewer than the 12 bytes of a fixed header.
    #[error("rtp packet of {len} bytes is shorter than the 12-byte header")]
    TooShort {
        /// Datagram length.
        len: usize,
    },
    /// Version field other than 2.
    #[error("rtp version {version} is not supported (expected 2)")]
    Version {
        /// The version found.
        version: u8,
    },
    /// CSRC list or header extension runs past the end of the datagram.
    #[error("rtp headers need {header_len} bytes but the datagram has {len}")]
    Truncated {
        /// Bytes the headers claim.
        header_len: usize,
        /// Datagram length.
        len: usize,
    },
    /// Padding length of zero or longer than the payload.
    #[error("rtp padding length {pad} is invalid")]
    Padding {
        /// The padding count byte.
        pad: u8,
    },
}

impl From<RtpReaderError> for Malformed {
    fn from(e: RtpReaderError) -> Self {
        match e {
            RtpReaderError::BufferTooShort(len) => Malformed::TooShort { len },
            RtpReaderError::UnsupportedVersion(version) => Malformed::Version { version },
            RtpReaderError::HeadersTruncated {
                header_len,
                buffer_len,
            } => Malformed::Truncated {
                header_len,
                len: buffer_len,
            },
            RtpReaderError::PaddingLengthInvalid(pad) => Malformed::Padding { pad },
        }
    }
}

/// Parses an RTP datagram (no validation beyond well-formedness).
pub fn parse(buf: &[u8]) -> Result<RtpPacketRef<'_>, Malformed> {
    let r = RtpReader::new(buf)?;
    Ok(RtpPacketRef {
        header: RtpHeaderInfo {
            pt: r.payload_type(),
            seq: u16::from(r.sequence_number()),
            ts: r.timestamp(),
            ssrc: r.ssrc(),
            marker: r.mark(),
        },
        payload: r.payload(),
    })
}

/// Why a packet could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RtpWriteError {
    /// Payload type above 127.
    #[error("rtp payload type {pt} is out of range (0..=127)")]
    PayloadType {
        /// The payload type given.
        pt: u8,
    },
    /// The packet would exceed [`MAX_PACKET_SIZE`].
    #[error("rtp packet of {len} bytes exceeds the {max}-byte limit (lower the bitrate or ptime)")]
    TooLarge {
        /// The packet length that would result.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// Writes `header` and `payload` as one RTP packet into `out` (cleared
/// first) and returns its length.
pub fn write(
    header: &RtpHeaderInfo,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Result<usize, RtpWriteError> {
    if header.pt > 127 {
        return Err(RtpWriteError::PayloadType { pt: header.pt });
    }
    let builder = RtpPacketBuilder::new()
        .payload_type(header.pt)
        .ssrc(header.ssrc)
        .sequence(Seq::from(header.seq))
        .timestamp(header.ts)
        .marked(header.marker)
        .payload(payload);
    let len = builder.target_length();
    if len > MAX_PACKET_SIZE {
        return Err(RtpWriteError::TooLarge {
            len,
            max: MAX_PACKET_SIZE,
        });
    }
    out.clear();
    out.resize(len, 0);
    // The buffer has exactly target_length() bytes and the payload type was
    // checked above, so the builder's only failure modes cannot occur.
    match builder.build_into(out) {
        Ok(n) => Ok(n),
        Err(_) => Err(RtpWriteError::PayloadType { pt: header.pt }),
    }
}

/// Stamps outgoing packets with one SSRC, consecutive sequence numbers and
/// media timestamps.
///
/// Initial values are arguments (RFC 3550 wants them random; the caller draws
/// them) so the sender stays deterministic. Media packets advance the
/// timestamp by the samples they carry; DTMF packets reuse the timestamp
/// latched at the start of their event. When audio is not sent for a frame
/// (DTX, or during a DTMF event), call [`RtpSender::skip`] so the media clock
/// keeps pace with real time.
#[derive(Clone, Debug)]
pub struct RtpSender {
    ssrc: u32,
    seq: u16,
    ts: u32,
    event_ts: Option<u32>,
    last_ts: u32,
    packets: u32,
    octets: u32,
}

impl RtpSender {
    /// A sender whose first packet carries `initial_seq` and `initial_ts`.
    pub fn new(ssrc: u32, initial_seq: u16, initial_ts: u32) -> RtpSender {
        RtpSender {
            ssrc,
            seq: initial_seq,
            ts: initial_ts,
            event_ts: None,
            last_ts: initial_ts,
            packets: 0,
            octets: 0,
        }
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Timestamp the next media packet will carry.
    pub fn media_ts(&self) -> u32 {
        self.ts
    }

    /// Timestamp of the last packet sent (for the SR's RTP timestamp).
    pub fn last_ts(&self) -> u32 {
        self.last_ts
    }

    /// Sequence number the next packet will carry.
    pub fn next_seq(&self) -> u16 {
        self.seq
    }

    /// Packets sent so far (RTCP SR "sender's packet count", wrapping).
    pub fn packets_sent(&self) -> u32 {
        self.packets
    }

    /// Payload octets sent so far (RTCP SR "sender's octet count", wrapping).
    pub fn octets_sent(&self) -> u32 {
        self.octets
    }

    /// Advances the media clock by `samples` without sending (DTX, muted
    /// frames, frames replaced by DTMF).
    pub fn skip(&mut self, samples: u32) {
        self.ts = self.ts.wrapping_add(samples);
    }

    /// Header for the next media packet carrying `samples` samples, then
    /// advances sequence number and media clock.
    pub fn next_media_header(&mut self, pt: u8, samples: u32, marker: bool) -> RtpHeaderInfo {
        let h = self.header_at(pt, self.ts, marker);
        self.ts = self.ts.wrapping_add(samples);
        h
    }

    /// Header with an explicit timestamp; consumes one sequence number.
    pub fn header_at(&mut self, pt: u8, ts: u32, marker: bool) -> RtpHeaderInfo {
        let h = RtpHeaderInfo {
            pt,
            seq: self.seq,
            ts,
            ssrc: self.ssrc,
            marker,
        };
        self.seq = self.seq.wrapping_add(1);
        self.last_ts = ts;
        h
    }

    /// Builds the next media packet into `out`.
    pub fn packetize(
        &mut self,
        pt: u8,
        samples: u32,
        marker: bool,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<RtpHeaderInfo, RtpWriteError> {
        let mut probe = self.clone();
        let h = probe.next_media_header(pt, samples, marker);
        write(&h, payload, out)?;
        *self = probe;
        self.count(payload.len());
        Ok(h)
    }

    /// Builds an RFC 4733 telephone-event packet from a [`DtmfPacket`].
    ///
    /// The first packet of an event (marker set) latches the current media
    /// timestamp; every later packet of the event repeats it.
    pub fn packetize_event(
        &mut self,
        pt: u8,
        event: &DtmfPacket,
        out: &mut Vec<u8>,
    ) -> Result<RtpHeaderInfo, RtpWriteError> {
        let ts = match (event.marker, self.event_ts) {
            (false, Some(ts)) => ts,
            _ => self.ts,
        };
        let mut probe = self.clone();
        let h = probe.header_at(pt, ts, event.marker);
        write(&h, &event.payload, out)?;
        *self = probe;
        self.event_ts = Some(ts);
        self.count(event.payload.len());
        Ok(h)
    }

    fn count(&mut self, payload_len: usize) {
        self.packets = self.packets.wrapping_add(1);
        self.octets = self.octets.wrapping_add(payload_len as u32);
    }
}

/// Receive-side validation settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpReceiverConfig {
    /// Payload types we negotiated (audio and telephone-event). Empty means
    /// accept any.
    pub payload_types: Vec<u8>,
    /// Largest datagram accepted.
    pub max_packet_size: usize,
    /// Largest timestamp step (in timestamp units, either direction) accepted
    /// between consecutive packets without confirmation.
    pub max_ts_jump: u32,
    /// In-sequence packets a new source needs before it is accepted
    /// (RFC 3550 `MIN_SEQUENTIAL`; 0 accepts the first packet).
    pub probation: u8,
}

impl RtpReceiverConfig {
    /// Accepts `payload_types` at `clock_rate`, with a 30-second timestamp
    /// jump limit and no probation.
    pub fn new(payload_types: &[u8], clock_rate: u32) -> RtpReceiverConfig {
        RtpReceiverConfig {
            payload_types: payload_types.to_vec(),
            max_packet_size: MAX_PACKET_SIZE,
            max_ts_jump: clock_rate.saturating_mul(30),
            probation: 0,
        }
    }
}

/// Why an incoming datagram was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RtpDrop {
    /// Not a well-formed RTP packet.
    #[error("malformed rtp: {0}")]
    Malformed(#[from] Malformed),
    /// Larger than [`RtpReceiverConfig::max_packet_size`].
    #[error("rtp datagram of {len} bytes exceeds the {max}-byte limit")]
    Oversized {
        /// Datagram length.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// A payload type we did not negotiate.
    #[error("rtp payload type {pt} was not negotiated")]
    WrongPayloadType {
        /// The payload type found.
        pt: u8,
    },
    /// From an SSRC that was replaced by a newer one.
    #[error("rtp from ssrc {ssrc:#010x}, which was replaced by a newer source")]
    StaleSsrc {
        /// The stale SSRC.
        ssrc: u32,
    },
    /// A new source still on probation.
    #[error("rtp from new ssrc {ssrc:#010x} is on probation (seq {seq})")]
    Probation {
        /// The candidate SSRC.
        ssrc: u32,
        /// Its sequence number.
        seq: u16,
    },
    /// A sequence number far outside the window; accepted if the next packet
    /// follows it.
    #[error("rtp sequence number {seq} jumps too far from {max_seq}; waiting for confirmation")]
    SequenceJump {
        /// The sequence number found.
        seq: u16,
        /// Highest sequence number seen.
        max_seq: u16,
    },
    /// A timestamp far from the previous one; accepted if the next packet
    /// confirms the new timeline.
    #[error(
        "rtp timestamp {ts} jumps {delta} units from the previous packet; waiting for confirmation"
    )]
    TimestampJump {
        /// The timestamp found.
        ts: u32,
        /// Signed distance from the previous accepted timestamp.
        delta: i64,
    },
}

/// A change of timeline the consumer (jitter buffer, statistics) must
/// follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceEvent {
    /// First packet from the first source.
    NewSource,
    /// The SSRC changed.
    SsrcChanged {
        /// The SSRC it replaced.
        from: u32,
    },
    /// Sequence numbers re-synchronised after a large jump (A.1 `bad_seq`).
    SequenceResync,
    /// Timestamps re-synchronised after a confirmed jump.
    TimestampResync,
}

/// A packet that passed validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted<'a> {
    /// Header fields.
    pub header: RtpHeaderInfo,
    /// Extended sequence number (`cycles * 65536 + seq`); negative for a
    /// packet reordered before the first one received.
    pub ext_seq: i64,
    /// Payload.
    pub payload: &'a [u8],
    /// Set when this packet starts a new timeline.
    pub event: Option<SourceEvent>,
}

/// Counts of accepted and dropped packets, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RtpReceiverStats {
    /// Packets accepted.
    pub accepted: u64,
    /// [`RtpDrop::Malformed`].
    pub malformed: u64,
    /// [`RtpDrop::Oversized`].
    pub oversized: u64,
    /// [`RtpDrop::WrongPayloadType`].
    pub wrong_pt: u64,
    /// [`RtpDrop::StaleSsrc`].
    pub stale_ssrc: u64,
    /// [`RtpDrop::Probation`].
    pub probation: u64,
    /// [`RtpDrop::SequenceJump`].
    pub seq_jump: u64,
    /// [`RtpDrop::TimestampJump`].
    pub ts_jump: u64,
    /// Timeline changes reported ([`SourceEvent`] other than `NewSource`).
    pub resyncs: u64,
}

impl RtpReceiverStats {
    /// Total packets dropped.
    pub fn dropped(&self) -> u64 {
        self.malformed
            + self.oversized
            + self.wrong_pt
            + self.stale_ssrc
            + self.probation
            + self.seq_jump
            + self.ts_jump
    }
}

/// RFC 3550 A.1 sequence state for one source.
#[derive(Clone, Copy, Debug)]
struct SeqState {
    max_seq: u16,
    /// Wrap count times 65536.
    cycles: i64,
    /// `seq + 1` of the last out-of-window packet, if any.
    bad_seq: Option<u16>,
    probation: u8,
}

enum SeqOutcome {
    Accept { ext: i64, resync: bool },
    Probation,
    Jump,
}

impl SeqState {
    fn new(seq: u16, probation: u8) -> SeqState {
        SeqState {
            max_seq: seq,
            cycles: 0,
            bad_seq: None,
            probation,
        }
    }

    fn update(&mut self, seq: u16) -> SeqOutcome {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    *self = SeqState::new(seq, 0);
                    return SeqOutcome::Accept {
                        ext: seq as i64,
                        resync: false,
                    };
                }
            } else {
                self.max_seq = seq;
            }
            return SeqOutcome::Probation;
        }
        if udelta < MAX_DROPOUT {
            // In order, with a permissible gap.
            if seq < self.max_seq {
                self.cycles += 1 << 16;
            }
            self.max_seq = seq;
            SeqOutcome::Accept {
                ext: self.cycles + seq as i64,
                resync: false,
            }
        } else if udelta <= u16::MAX - MAX_MISORDER {
            // A very large jump.
            if self.bad_seq == Some(seq) {
                // Two sequential packets: the source restarted its numbering.
                *self = SeqState::new(seq, 0);
                SeqOutcome::Accept {
                    ext: seq as i64,
                    resync: true,
                }
            } else {
                self.bad_seq = Some(seq.wrapping_add(1));
                SeqOutcome::Jump
            }
        } else {
            // Duplicate or reordered packet: place it just below max_seq.
            let back = (u16::MAX - udelta) as i64 + 1;
            SeqOutcome::Accept {
                ext: self.cycles + self.max_seq as i64 - back,
                resync: false,
            }
        }
    }

    fn ext_max(&self) -> i64 {
        self.cycles + self.max_seq as i64
    }
}

#[derive(Clone, Copy, Debug)]
struct Source {
    ssrc: u32,
    seq: SeqState,
    last_ts: u32,
    /// `(seq, ts)` of a dropped packet whose timestamp jumped.
    ts_candidate: Option<(u16, u32)>,
}

/// Validates incoming RTP and tracks the current source.
#[derive(Clone, Debug)]
pub struct RtpReceiver {
    cfg: RtpReceiverConfig,
    source: Option<Source>,
    candidate: Option<(u32, SeqState)>,
    retired: [Option<u32>; 4],
    stats: RtpReceiverStats,
}

impl RtpReceiver {
    /// A receiver with no source yet.
    pub fn new(cfg: RtpReceiverConfig) -> RtpReceiver {
        RtpReceiver {
            cfg,
            source: None,
            candidate: None,
            retired: [None; 4],
            stats: RtpReceiverStats::default(),
        }
    }

    /// The current source's SSRC.
    pub fn ssrc(&self) -> Option<u32> {
        self.source.map(|s| s.ssrc)
    }

    /// Highest extended sequence number of the current source.
    pub fn ext_max_seq(&self) -> Option<i64> {
        self.source.map(|s| s.seq.ext_max())
    }

    /// Counters.
    pub fn stats(&self) -> &RtpReceiverStats {
        &self.stats
    }

    /// Validates one datagram. Never panics, whatever the bytes.
    pub fn receive<'a>(&mut self, buf: &'a [u8]) -> Result<Accepted<'a>, RtpDrop> {
        let r = self.receive_inner(buf);
        match &r {
            Ok(a) => {
                self.stats.accepted += 1;
                if matches!(a.event, Some(e) if e != SourceEvent::NewSource) {
                    self.stats.resyncs += 1;
                }
            }
            Err(d) => {
                let c = match d {
                    RtpDrop::Malformed(_) => &mut self.stats.malformed,
                    RtpDrop::Oversized { .. } => &mut self.stats.oversized,
                    RtpDrop::WrongPayloadType { .. } => &mut self.stats.wrong_pt,
                    RtpDrop::StaleSsrc { .. } => &mut self.stats.stale_ssrc,
                    RtpDrop::Probation { .. } => &mut self.stats.probation,
                    RtpDrop::SequenceJump { .. } => &mut self.stats.seq_jump,
                    RtpDrop::TimestampJump { .. } => &mut self.stats.ts_jump,
                };
                *c += 1;
            }
        }
        r
    }

    fn receive_inner<'a>(&mut self, buf: &'a [u8]) -> Result<Accepted<'a>, RtpDrop> {
        if buf.len() > self.cfg.max_packet_size {
            return Err(RtpDrop::Oversized {
                len: buf.len(),
                max: self.cfg.max_packet_size,
            });
        }
        let p = parse(buf)?;
        let h = p.header;
        if !self.cfg.payload_types.is_empty() && !self.cfg.payload_types.contains(&h.pt) {
            return Err(RtpDrop::WrongPayloadType { pt: h.pt });
        }
        if self.retired.contains(&Some(h.ssrc)) {
            return Err(RtpDrop::StaleSsrc { ssrc: h.ssrc });
        }
        let accepted = |ext_seq: i64, event: Option<SourceEvent>| Accepted {
            header: h,
            ext_seq,
            payload: p.payload,
            event,
        };

        let Some(src) = self.source.as_mut().filter(|s| s.ssrc == h.ssrc) else {
            // A new source: the first one, or a replacement.
            let mut seq = match self.candidate {
                Some((ssrc, st)) if ssrc == h.ssrc => st,
                _ => SeqState::new(h.seq.wrapping_sub(1), self.cfg.probation),
            };
            if seq.probation > 0 {
                match seq.update(h.seq) {
                    SeqOutcome::Accept { .. } => {}
                    _ => {
                        self.candidate = Some((h.ssrc, seq));
                        return Err(RtpDrop::Probation {
                            ssrc: h.ssrc,
                            seq: h.seq,
                        });
                    }
                }
            }
            self.candidate = None;
            let event = match self.source {
                Some(old) => {
                    self.retired.rotate_right(1);
                    self.retired[0] = Some(old.ssrc);
                    SourceEvent::SsrcChanged { from: old.ssrc }
                }
                None => SourceEvent::NewSource,
            };
            self.source = Some(Source {
                ssrc: h.ssrc,
                seq: SeqState::new(h.seq, 0),
                last_ts: h.ts,
                ts_candidate: None,
            });
            return Ok(accepted(h.seq as i64, Some(event)));
        };

        // Timestamp plausibility, checked before the sequence state moves.
        let delta = h.ts.wrapping_sub(src.last_ts) as i32 as i64;
        let mut ts_resync = false;
        if delta.unsigned_abs() > self.cfg.max_ts_jump as u64 {
            let confirmed = matches!(src.ts_candidate, Some((cs, cts))
                if h.seq == cs.wrapping_add(1)
                    && (h.ts.wrapping_sub(cts) as i32 as i64).unsigned_abs() <= self.cfg.max_ts_jump as u64);
            if !confirmed {
                src.ts_candidate = Some((h.seq, h.ts));
                return Err(RtpDrop::TimestampJump { ts: h.ts, delta });
            }
            ts_resync = true;
        }

        match src.seq.update(h.seq) {
            SeqOutcome::Accept { ext, resync } => {
                src.ts_candidate = None;
                if ext >= src.seq.ext_max() || ts_resync || resync {
                    src.last_ts = h.ts;
                }
                let event = if resync {
                    Some(SourceEvent::SequenceResync)
                } else if ts_resync {
                    Some(SourceEvent::TimestampResync)
                } else {
                    None
                };
                Ok(accepted(ext, event))
            }
            SeqOutcome::Probation => Err(RtpDrop::Probation {
                ssrc: h.ssrc,
                seq: h.seq,
            }),
            SeqOutcome::Jump => Err(RtpDrop::SequenceJump {
                seq: h.seq,
                max_seq: src.seq.max_seq,
            }),
        }
    }
}

impl fmt::Display for RtpHeaderInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pt={} seq={} ts={} ssrc={:#010x}{}",
            self.pt,
            self.seq,
            self.ts,
            self.ssrc,
            if self.marker { " M" } else { "" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pkt(pt: u8, seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
        let mut out = Vec::new();
        write(
            &RtpHeaderInfo {
                pt,
                seq,
                ts,
                ssrc,
                marker: false,
            },
            &[1, 2, 3],
            &mut out,
        )
        .expect("valid header");
        out
    }

    #[test]
    fn write_then_parse_round_trips() {
        let h = RtpHeaderInfo {
            pt: 8,
            seq: 65535,
            ts: 0xDEAD_BEEF,
            ssrc: 0x1234_5678,
            marker: true,
        };
        let mut out = Vec::new();
        assert_eq!(write(&h, &[9; 160], &mut out), Ok(172));
        assert_eq!(&out[..4], &[0x80, 0x88, 0xFF, 0xFF]);
        let p = parse(&out).expect("just written");
        assert_eq!(p.header, h);
        assert_eq!(p.payload, &[9; 160][..]);
    }

    #[test]
    fn write_rejects_bad_pt_and_oversize() {
        let mut h = RtpHeaderInfo {
            pt: 128,
            seq: 0,
            ts: 0,
            ssrc: 0,
            marker: false,
        };
        let mut out = Vec::new();
        assert_eq!(
            write(&h, &[], &mut out),
            Err(RtpWriteError::PayloadType { pt: 128 })
        );
        h.pt = 0;
        assert_eq!(
            write(&h, &[0; 1489], &mut out),
            Err(RtpWriteError::TooLarge {
                len: 1501,
                max: 1500
            })
        );
        assert_eq!(write(&h, &[0; 1488], &mut out), Ok(1500));
    }

    #[test]
    fn parse_reports_malformed_reasons() {
        assert_eq!(parse(&[0x80; 5]), Err(Malformed::TooShort { len: 5 }));
        let mut p = pkt(0, 1, 2, 3);
        p[0] = 0x40;
        assert_eq!(parse(&p), Err(Malformed::Version { version: 1 }));
        p[0] = 0x8F; // 15 CSRCs that are not there
        assert!(matches!(parse(&p), Err(Malformed::Truncated { .. })));
        p[0] = 0xA0; // padding bit, last byte (3) within bounds
        assert_eq!(parse(&p).expect("padding of 3").payload, &[] as &[u8]);
        let last = p.len() - 1;
        p[last] = 0;
        assert_eq!(parse(&p), Err(Malformed::Padding { pad: 0 }));
    }

    #[test]
    fn sender_stamps_media_and_events() {
        let mut s = RtpSender::new(42, 65534, u32::MAX - 159);
        let mut out = Vec::new();
        let h1 = s
            .packetize(0, 160, true, &[0; 160], &mut out)
            .expect("fits");
        assert_eq!((h1.seq, h1.ts, h1.marker), (65534, u32::MAX - 159, true));
        let h2 = s
            .packetize(0, 160, false, &[0; 160], &mut out)
            .expect("fits");
        assert_eq!((h2.seq, h2.ts), (65535, 0));
        s.skip(160);
        let ev = |marker, end| DtmfPacket {
            event: 1,
            marker,
            end,
            duration: 400,
            payload: [1, 0x0A, 0x01, 0x90],
        };
        let e1 = s
            .packetize_event(101, &ev(true, false), &mut out)
            .expect("fits");
        assert_eq!((e1.seq, e1.ts, e1.marker), (0, 320, true));
        s.skip(160);
        let e2 = s
            .packetize_event(101, &ev(false, true), &mut out)
            .expect("fits");
        assert_eq!((e2.seq, e2.ts, e2.marker), (1, 320, false));
        assert_eq!(s.packets_sent(), 4);
        assert_eq!(s.octets_sent(), 328);
        assert_eq!(s.media_ts(), 480);
        // A failed write consumes nothing.
        assert!(s.packetize(200, 160, false, &[], &mut out).is_err());
        assert_eq!(s.next_seq(), 2);
    }

    #[test]
    fn receiver_filters_pt_size_and_malformed() {
        let mut r = RtpReceiver::new(RtpReceiverConfig::new(&[0, 101], 8000));
        assert_eq!(
            r.receive(&pkt(8, 1, 0, 7)),
            Err(RtpDrop::WrongPayloadType { pt: 8 })
        );
        assert_eq!(
            r.receive(&[0x80; 1501]),
            Err(RtpDrop::Oversized {
                len: 1501,
                max: 1500
            })
        );
        assert!(matches!(r.receive(&[1, 2, 3]), Err(RtpDrop::Malformed(_))));
        let buf = pkt(0, 1, 0, 7);
        let a = r.receive(&buf).expect("valid");
        assert_eq!(a.event, Some(SourceEvent::NewSource));
        assert_eq!(a.payload, &[1, 2, 3]);
        let s = r.stats();
        assert_eq!(
            (
                s.accepted,
                s.wrong_pt,
                s.oversized,
                s.malformed,
                s.dropped()
            ),
            (1, 1, 1, 1, 3)
        );
    }

    #[test]
    fn extended_sequence_numbers_survive_wrap_and_reordering() {
        let mut r = RtpReceiver::new(RtpReceiverConfig::new(&[], 8000));
        let mut exts = Vec::new();
        for seq in [65533u16, 65534, 65535, 1, 0, 2, 3] {
            let ts = 160 * seq.wrapping_sub(65533) as u32;
            exts.push(r.receive(&pkt(0, seq, ts, 9)).expect("in window").ext_seq);
        }
        assert_eq!(exts, vec![65533, 65534, 65535, 65537, 65536, 65538, 65539]);
        assert_eq!(r.ext_max_seq(), Some(65539));
    }

    #[test]
    fn large_sequence_jump_needs_two_packets() {
        let mut r = RtpReceiver::new(RtpReceiverConfig::new(&[], 8000));
        r.receive(&pkt(0, 100, 0, 9)).expect("first");
        assert_eq!(
            r.receive(&pkt(0, 20000, 160, 9)),
            Err(RtpDrop::SequenceJump {
                seq: 20000,
                max_seq: 100
            })
        );
        let buf = pkt(0, 20001, 320, 9);
        let a = r.receive(&buf).expect("confirmed jump");
        assert_eq!(a.event, Some(SourceEvent::SequenceResync));
        assert_eq!(a.ext_seq, 20001);
        // Within MAX_DROPOUT is just loss.
        assert!(
            r.receive(&pkt(0, 22000, 480, 9))
                .expect("gap")
                .event
                .is_none()
        );
    }

    #[test]
    fn timestamp_jump_needs_confirmation() {
        let mut r = RtpReceiver::new(RtpReceiverConfig::new(&[], 8000));
        r.receive(&pkt(0, 1, 1000, 9)).expect("first");
        r.receive(&pkt(0, 2, 1160, 9)).expect("second");
        let far = 1160 + 8000 * 31;
        assert!(matches!(
            r.receive(&pkt(0, 3, far, 9)),
            Err(RtpDrop::TimestampJump { .. })
        ));
        // A stray that is not confirmed: next packet is back on the old timeline.
        assert!(
            r.receive(&pkt(0, 4, 1480, 9))
                .expect("old timeline")
                .event
                .is_none()
        );
        // A real jump: two consecutive packets on the new timeline.
        assert!(matches!(
            r.receive(&pkt(0, 5, far, 9)),
            Err(RtpDrop::TimestampJump { .. })
        ));
        let buf = pkt(0, 6, far + 160, 9);
        let a = r.receive(&buf).expect("confirmed");
        assert_eq!(a.event, Some(SourceEvent::TimestampResync));
        assert!(
            r.receive(&pkt(0, 7, far + 320, 9))
                .expect("new timeline")
                .event
                .is_none()
        );
        assert_eq!(r.stats().ts_jump, 2);
    }

    #[test]
    fn ssrc_change_resyncs_and_old_source_is_stale() {
        let mut r = RtpReceiver::new(RtpReceiverConfig::new(&[], 8000));
        r.receive(&pkt(0, 10, 0, 1)).expect("first");
        let buf = pkt(0, 5000, 999_999, 2);
        let a = r.receive(&buf).expect("new source");
        assert_eq!(a.event, Some(SourceEvent::SsrcChanged { from: 1 }));
        assert_eq!(r.ssrc(), Some(2));
        assert_eq!(
            r.receive(&pkt(0, 11, 160, 1)),
            Err(RtpDrop::StaleSsrc { ssrc: 1 })
        );
        assert!(r.receive(&pkt(0, 5001, 1_000_159, 2)).is_ok());
    }

    #[test]
    fn probation_delays_new_sources() {
        let mut cfg = RtpReceiverConfig::new(&[], 8000);
        cfg.probation = 2;
        let mut r = RtpReceiver::new(cfg);
        assert_eq!(
            r.receive(&pkt(0, 7, 0, 1)),
            Err(RtpDrop::Probation { ssrc: 1, seq: 7 })
        );
        assert_eq!(
            r.receive(&pkt(0, 9, 0, 1)),
            Err(RtpDrop::Probation { ssrc: 1, seq: 9 })
        );
        assert_eq!(
            r.receive(&pkt(0, 10, 0, 1)).map(|a| a.event),
            Ok(Some(SourceEvent::NewSource))
        );
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bufs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..20)) {
            let mut r = RtpReceiver::new(RtpReceiverConfig::new(&[0, 8, 101], 8000));
            for b in &bufs {
                let _ = parse(b);
                let _ = r.receive(b);
            }
        }

        #[test]
        fn random_headers_never_panic(hdrs in proptest::collection::vec((0u8..4, any::<u16>(), any::<u32>(), 0u32..3), 1..60)) {
            let mut r = RtpReceiver::new(RtpReceiverConfig::new(&[], 8000));
            for (pt, seq, ts, ssrc) in hdrs {
                let _ = r.receive(&pkt(pt, seq, ts, ssrc));
            }
            let s = r.stats();
            prop_assert!(s.accepted + s.dropped() > 0);
        }
    }
}
