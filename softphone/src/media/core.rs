//! One call's media as a sans-IO state machine: [`MediaCore`].
//!
//! It assembles bb-media's pieces — [`RtpSender`]/[`RtpReceiver`], the
//! [`JitterBuffer`], G.711 with [`Plc`] or Opus (PLC and FEC), RFC 4733
//! [`DtmfSender`]/[`DtmfReceiver`], RTCP [`ReceptionStats`] and reports —
//! and owns the decisions that are ours: where to send (symmetric RTP),
//! which packets to believe, when each frame is due.
//!
//! # Contract
//!
//! * Inputs: [`MediaCore::handle_rtp`] and [`MediaCore::handle_rtcp`] for
//!   each datagram (with its source and arrival time),
//!   [`MediaCore::handle_timeout`] when [`MediaCore::poll_timeout`] passes,
//!   [`MediaCore::update`] after a re-INVITE, [`MediaCore::send_dtmf`] and
//!   [`MediaCore::close`].
//! * Outputs, drained after every input, in this order:
//!   [`MediaCore::poll_transmit`] (datagrams to send),
//!   [`MediaCore::poll_event`] (things to log or publish), then
//!   [`MediaCore::poll_timeout`] (when to call `handle_timeout` next).
//! * Time is an argument: `now` (monotonic [`Time`]) and, where RTCP needs
//!   it, the wall clock as an [`NtpTime`]. Nothing here reads a clock,
//!   sleeps or touches a socket. Sound comes through the [`AudioSource`] and
//!   [`AudioSink`] passed to `handle_timeout`, which never block.
//!
//! # Timers
//!
//! Four named deadlines ([`Timer`]): the send tick (one frame captured,
//! encoded and sent every send ptime), the playout tick (one frame pulled
//! from the jitter buffer, decoded and played every receive ptime), the
//! next RTCP report (every [`RTCP_INTERVAL`]) and the next DTMF packet.
//! Ticks run on a fixed grid from the start, so frame `n` of the source is
//! captured at `start + n × ptime` and a driver that wakes late catches up
//! frame by frame (a stall longer than [`MAX_CATCH_UP`] is skipped, with
//! the RTP clock advanced, rather than sent as a burst).
//!
//! # Decisions
//!
//! * **Symmetric RTP**: we latch on the first plausible packet (well-formed,
//!   negotiated payload type) from any address and send there; until then
//!   to the SDP address. Packets from another address are dropped as
//!   unexpected while the latched source is alive; after it has been quiet
//!   for [`RELATCH_AFTER`] the next plausible source is latched instead
//!   (a PBX moving media without a re-INVITE). RTCP follows the source of
//!   the peer's RTCP, else goes to the SDP port + 1.
//! * **RTCP on port + 1** (RFC 3550): our SDP model carries no
//!   `a=rtcp-mux`, so we never offer it; RTCP that arrives on the RTP port
//!   anyway is recognised (RFC 5761 demultiplexing) and answered there.
//! * **Direction** follows the negotiation: we send only when both SDPs
//!   allow it (`send`), play only when they allow receiving (`recv`). When
//!   we hold the peer (`muted`) the packets carry silence, never the
//!   microphone.
//! * **Receive ptime** is what we asked for, until three consecutive packets
//!   say otherwise (10 or 20 ms): then the jitter buffer and decoder are
//!   rebuilt for the peer's real framing.
//! * **Chunked playout for G.711**: PCMU/PCMA play in [`PLAYOUT_CHUNK`]
//!   steps ([`JitterBuffer::pull_chunk`]), so the jitter buffer sheds or
//!   adds delay one chunk at a time (a frame's last chunk dropped, with a
//!   cross-fade at the cut, or a chunk of pitch-repeated concealment
//!   inserted) instead of a whole frame; the playout tick is then one
//!   chunk. Opus plays whole frames ([`JitterBuffer::pull`]).
//! * Every dropped datagram is counted by reason ([`MediaStats`]); the first
//!   of each kind is reported as an event. Nothing a datagram holds can stall
//!   playout or panic: the playout tick produces a frame whatever arrived.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use bb_media::codec::Codec;
use bb_media::dtmf::{DtmfConfig, DtmfReceiver, DtmfSender};
use bb_media::jitter::{ChunkPulled, JitterBuffer, JitterConfig, Pulled, RtpPayload};
use bb_media::opus::{FrameDuration, OpusDecoder, OpusEncoder, OpusEncoderConfig};
use bb_media::plc::Plc;
use bb_media::rtcp::{self, NtpTime, ReceptionStats, RtcpReport, RtcpTimer, SenderInfo};
use bb_media::rtp::{self, RtpDrop, RtpReceiver, RtpReceiverConfig, RtpSender, SourceEvent};
use bb_media::srtp::{self, SrtpKeys, SrtpStream};
use bb_media::{Time, g711};

use super::audio::{AudioSink, AudioSource};

/// Interval between our RTCP reports (RFC 3550's minimum).
pub const RTCP_INTERVAL: Duration = Duration::from_secs(5);
/// A latched RTP source quiet this long may be replaced by another.
pub const RELATCH_AFTER: Duration = Duration::from_millis(500);
/// Playout step of sample-based codecs (G.711): the jitter buffer's delay
/// moves by this much at a time, and the playout tick is this long.
pub const PLAYOUT_CHUNK: Duration = Duration::from_millis(5);
/// Longest stall caught up frame by frame; beyond it frames are skipped.
pub const MAX_CATCH_UP: Duration = Duration::from_millis(1000);

/// What the media of one call runs with, from the offer/answer.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamParams {
    /// Audio codec (Opus options already merged with the peer's).
    pub codec: Codec,
    /// Payload type we send audio with (the peer's number).
    pub send_pt: u8,
    /// Payload types accepted as audio.
    pub recv_pts: Vec<u8>,
    /// Telephone-event payload type to send DTMF with, if negotiated.
    pub dtmf_send_pt: Option<u8>,
    /// Payload types accepted as telephone-events.
    pub dtmf_recv_pts: Vec<u8>,
    /// The peer's RTP address from SDP (`None`: port 0 or `0.0.0.0`).
    pub remote_rtp: Option<SocketAddr>,
    /// The peer's RTCP address (RTP port + 1).
    pub remote_rtcp: Option<SocketAddr>,
    /// Both SDPs let us send.
    pub send: bool,
    /// Both SDPs let us receive.
    pub recv: bool,
    /// Frame length we send.
    pub send_ptime: FrameDuration,
    /// Frame length we expect (adapted to what arrives).
    pub recv_ptime: FrameDuration,
    /// We hold the peer: send silence.
    pub muted: bool,
    /// Opus target bitrate.
    pub opus_bitrate: u32,
    /// SRTP keys (SDES), when the call is encrypted.
    pub srtp: Option<SrtpKeys>,
}

/// Which socket a datagram leaves from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Socket {
    /// The RTP port.
    Rtp,
    /// The RTCP port (RTP + 1).
    Rtcp,
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// From which socket.
    pub socket: Socket,
    /// To whom.
    pub to: SocketAddr,
    /// The bytes.
    pub data: Vec<u8>,
}

/// The peer's view of our stream, from its last report block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RemoteReport {
    /// Fraction of our packets it lost in its last interval, percent.
    pub loss_percent: f64,
    /// Cumulative packets of ours it lost.
    pub cumulative_lost: i32,
    /// Interarrival jitter it measured.
    pub jitter: Duration,
    /// Round-trip time, once it has seen an SR of ours.
    pub rtt: Option<Duration>,
}

/// Something the driver should log or publish.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    /// We now send RTP to `addr` (the source of the peer's packets).
    SourceLatched {
        /// The peer's RTP source.
        addr: SocketAddr,
    },
    /// The peer's SSRC changed (transfer, re-INVITE, restart).
    SsrcChanged {
        /// The old SSRC.
        from: u32,
        /// The new SSRC.
        to: u32,
    },
    /// The peer's packets carry a different frame length than expected.
    FrameChanged {
        /// The frame length now used for playout, ms.
        ms: u32,
    },
    /// A DTMF digit arrived as RFC 4733 events (each event once).
    Dtmf {
        /// The digit.
        digit: char,
    },
    /// The peer reported on our stream.
    RemoteReport(RemoteReport),
    /// The peer sent RTCP BYE.
    RemoteBye,
    /// The first datagram dropped for this reason (later ones only count).
    FirstDrop {
        /// Why, in words.
        reason: String,
    },
    /// The first codec failure of a kind (later ones only count).
    CodecError {
        /// What failed.
        what: String,
    },
}

/// The named deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// Capture, encode and send one frame.
    Send,
    /// Pull, decode and play one frame (one [`PLAYOUT_CHUNK`] of it for
    /// G.711).
    Playout,
    /// Send an RTCP report.
    Rtcp,
    /// Send the next telephone-event packet.
    Dtmf,
}

/// Why DTMF cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DtmfRefused {
    /// The peer did not accept telephone-events.
    #[error("the peer did not negotiate RFC 4733 telephone-events, so DTMF cannot be sent")]
    NotNegotiated,
    /// We may not send now (held, inactive, no address).
    #[error("the call is not sending audio now (on hold or inactive)")]
    NotSending,
    /// Not DTMF digits.
    #[error("{0}")]
    Invalid(String),
}

/// The session cannot run with these parameters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("media for {codec}: {reason}")]
pub struct MediaError {
    codec: String,
    reason: String,
}

/// Counters and current figures, for `status`, logs and tests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaStats {
    /// `PCMU/8000`, `opus/48000/2`, …
    pub codec: String,
    /// Sending now.
    pub sending: bool,
    /// Receiving now.
    pub receiving: bool,
    /// Where RTP goes.
    pub remote: Option<SocketAddr>,
    /// RTP packets sent (audio and DTMF).
    pub packets_sent: u64,
    /// Payload octets sent.
    pub octets_sent: u64,
    /// RTP packets accepted.
    pub packets_received: u64,
    /// Dropped: not RTP.
    pub dropped_malformed: u64,
    /// Dropped: too large.
    pub dropped_oversized: u64,
    /// Dropped: payload type not negotiated.
    pub dropped_wrong_pt: u64,
    /// Dropped: from an address other than the latched source.
    pub dropped_unexpected_source: u64,
    /// Dropped: from a replaced SSRC.
    pub dropped_stale_ssrc: u64,
    /// Dropped: sequence or timestamp jumps awaiting confirmation, probation.
    pub dropped_other: u64,
    /// Dropped: SRTP or SRTCP that did not authenticate, or a replay.
    pub dropped_srtp: u64,
    /// The SRTP suite in force (`AES_CM_128_HMAC_SHA1_80`), when encrypted.
    pub srtp: Option<String>,
    /// Packets lost (RFC 3550 A.3, current source).
    pub lost: i64,
    /// Loss in the last report interval, percent.
    pub loss_percent: f64,
    /// Interarrival jitter (RFC 3550 A.8), ms.
    pub jitter_ms: f64,
    /// Jitter buffer target delay, ms.
    pub target_delay_ms: f64,
    /// Mean time a played frame waited in the jitter buffer, ms.
    pub playout_delay_ms: f64,
    /// Frames played from packets.
    pub played: u64,
    /// Frames concealed (loss, late, expand).
    pub concealed: u64,
    /// Packets that came after their playout slot.
    pub late: u64,
    /// SSRC changes seen.
    pub ssrc_changes: u64,
    /// RTCP reports sent.
    pub rtcp_sent: u64,
    /// RTCP packets received.
    pub rtcp_received: u64,
    /// RTCP datagrams that did not parse.
    pub rtcp_malformed: u64,
    /// The peer's last report on our stream.
    pub remote_report: Option<RemoteReport>,
    /// DTMF digits sent.
    pub dtmf_sent: u64,
    /// DTMF digits received.
    pub dtmf_received: u64,
    /// Frames that failed to encode or decode.
    pub codec_errors: u64,
    /// Wall-clock time of the first send and playout tick, µs since the
    /// Unix epoch (set by the driver): source sample `k` was captured
    /// during the frame before `started_unix_us + k / rate`, sink sample `k`
    /// is heard at `started_unix_us + k / rate`.
    pub started_unix_us: Option<u64>,
}

impl MediaStats {
    /// All RTP datagrams dropped.
    pub fn dropped(&self) -> u64 {
        self.dropped_malformed
            + self.dropped_oversized
            + self.dropped_wrong_pt
            + self.dropped_unexpected_source
            + self.dropped_stale_ssrc
            + self.dropped_other
            + self.dropped_srtp
    }
}

impl fmt::Display for MediaStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} sent {} pkts, received {} pkts (dropped {}), lost {} ({:.1} %), jitter {:.1} ms, \
             playout delay {:.1} ms (target {:.0} ms), concealed {}, late {}",
            self.codec,
            self.packets_sent,
            self.packets_received,
            self.dropped(),
            self.lost,
            self.loss_percent,
            self.jitter_ms,
            self.playout_delay_ms,
            self.target_delay_ms,
            self.concealed,
            self.late,
        )?;
        if let Some(r) = &self.remote_report {
            write!(
                f,
                "; peer reports loss {:.1} % (cumulative {}), jitter {:.1} ms",
                r.loss_percent,
                r.cumulative_lost,
                r.jitter.as_secs_f64() * 1000.0
            )?;
            if let Some(rtt) = r.rtt {
                write!(f, ", rtt {:.1} ms", rtt.as_secs_f64() * 1000.0)?;
            }
        }
        Ok(())
    }
}

enum Encoder {
    Pcmu,
    Pcma,
    Opus(Box<OpusEncoder>),
}

enum Decoder {
    G711 { alaw: bool, plc: Box<Plc> },
    Opus(Box<OpusDecoder>),
}

/// Samples in one `frame` at `rate`.
fn samples(rate: u32, frame: FrameDuration) -> usize {
    frame.samples(rate)
}

fn frame_duration(frame: FrameDuration) -> Duration {
    Duration::from_millis(frame.millis() as u64)
}

/// Three consecutive packets agreeing on a 10 or 20 ms frame.
#[derive(Debug, Default)]
struct FrameProbe {
    last: Option<(u16, u32)>,
    candidate: Option<(u32, u8)>,
}

impl FrameProbe {
    fn observe(&mut self, seq: u16, ts: u32, clock_rate: u32) -> Option<u32> {
        let prev = self.last.replace((seq, ts));
        let (pseq, pts) = prev?;
        if seq.wrapping_sub(pseq) != 1 {
            return None;
        }
        let ms = (ts.wrapping_sub(pts) as u64 * 1000 / clock_rate.max(1) as u64) as u32;
        if ms != 10 && ms != 20 {
            self.candidate = None;
            return None;
        }
        let count = match self.candidate {
            Some((m, c)) if m == ms => c.saturating_add(1),
            _ => 1,
        };
        self.candidate = Some((ms, count));
        (count >= 3).then_some(ms)
    }
}

/// One call's media. See the [module docs](self).
pub struct MediaCore {
    p: StreamParams,
    cname: String,
    // Send side.
    sender: RtpSender,
    encoder: Encoder,
    dtmf_tx: Option<DtmfSender>,
    send_tick: Time,
    send_frame: Vec<i16>,
    marker_next: bool,
    enc_buf: Vec<u8>,
    pkt: Vec<u8>,
    sent_since_report: bool,
    // Receive side.
    receiver: RtpReceiver,
    jitter: JitterBuffer,
    decoder: Decoder,
    rx_stats: Option<ReceptionStats>,
    dtmf_rx: DtmfReceiver,
    play_tick: Time,
    play_frame: Vec<i16>,
    /// Chunked playout: samples per chunk (0: whole frames).
    chunk_len: usize,
    /// Chunked playout: samples of `play_frame` already played.
    play_pos: usize,
    /// Chunked playout: a stretch's concealment, or the cut tail of a
    /// frame to cross-fade from.
    chunk_buf: Vec<i16>,
    dec_buf: Vec<i16>,
    recv_ptime: FrameDuration,
    probe: FrameProbe,
    /// Timestamp and arrival of the last audio packet.
    last_audio: Option<(u32, Time)>,
    latch: Option<(SocketAddr, Time)>,
    rtcp_peer: Option<SocketAddr>,
    rtcp_mux: bool,
    /// Encryption, when the call has SRTP keys.
    srtp: Option<SrtpStream>,
    // RTCP.
    rtcp_timer: RtcpTimer,
    // Outputs and figures.
    transmits: VecDeque<Transmit>,
    events: VecDeque<MediaEvent>,
    stats: MediaStats,
    reported_drops: Vec<&'static str>,
    closed: bool,
}

impl fmt::Debug for MediaCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaCore")
            .field("params", &self.p)
            .field("ssrc", &self.sender.ssrc())
            .finish()
    }
}

fn err(codec: &Codec, reason: impl fmt::Display) -> MediaError {
    MediaError {
        codec: codec.rtpmap(),
        reason: reason.to_string(),
    }
}

fn new_encoder(p: &StreamParams) -> Result<Encoder, MediaError> {
    Ok(match p.codec {
        Codec::Pcmu => Encoder::Pcmu,
        Codec::Pcma => Encoder::Pcma,
        Codec::Opus { fec, dtx, .. } => {
            let cfg = OpusEncoderConfig {
                sample_rate: p.codec.sample_rate(),
                frame: p.send_ptime,
                bitrate: p.opus_bitrate,
                fec,
                expected_loss_percent: if fec { 10 } else { 0 },
                dtx,
                complexity: 5,
            };
            Encoder::Opus(Box::new(
                OpusEncoder::new(cfg).map_err(|e| err(&p.codec, e))?,
            ))
        }
        Codec::TelephoneEvent { .. } => {
            return Err(err(&p.codec, "telephone-event is not an audio codec"));
        }
    })
}

fn new_decoder(codec: &Codec, frame: FrameDuration) -> Result<Decoder, MediaError> {
    Ok(match codec {
        Codec::Pcmu | Codec::Pcma => Decoder::G711 {
            alaw: *codec == Codec::Pcma,
            plc: Box::new(Plc::new(8000)),
        },
        Codec::Opus { .. } => Decoder::Opus(Box::new(
            OpusDecoder::new(codec.sample_rate(), frame).map_err(|e| err(codec, e))?,
        )),
        Codec::TelephoneEvent { .. } => {
            return Err(err(codec, "telephone-event is not an audio codec"));
        }
    })
}

fn new_jitter(codec: &Codec, frame: FrameDuration) -> Result<JitterBuffer, MediaError> {
    let mut jitter = JitterBuffer::new(JitterConfig::for_stream(
        codec.clock_rate(),
        frame_duration(frame),
    ))
    .map_err(|e| err(codec, e))?;
    if matches!(codec, Codec::Pcmu | Codec::Pcma) {
        jitter.set_chunk(PLAYOUT_CHUNK).map_err(|e| err(codec, e))?;
    }
    Ok(jitter)
}

/// Samples in one playout chunk (0: whole frames).
fn chunk_len(jitter: &JitterBuffer, rate: u32) -> usize {
    jitter
        .chunk()
        .map_or(0, |c| (c.as_micros() * rate as u128 / 1_000_000) as usize)
}

fn new_receiver(p: &StreamParams) -> RtpReceiver {
    let mut pts = p.recv_pts.clone();
    pts.extend(&p.dtmf_recv_pts);
    RtpReceiver::new(RtpReceiverConfig::new(&pts, p.codec.clock_rate()))
}

impl MediaCore {
    /// A session starting at `now`. `seed` supplies the SSRC and the
    /// initial sequence number and timestamp (RFC 3550 wants them random;
    /// the driver draws it).
    pub fn new(p: StreamParams, now: Time, seed: u64) -> Result<MediaCore, MediaError> {
        let ssrc = (seed >> 32) as u32 | 1;
        let rate = p.codec.sample_rate();
        // The first report after half an interval, spread by the seed.
        let first_rtcp = now + RTCP_INTERVAL / 2 + Duration::from_millis(seed % 1000);
        let jitter = new_jitter(&p.codec, p.recv_ptime)?;
        let chunk = chunk_len(&jitter, rate);
        let frame_len = samples(rate, p.recv_ptime);
        Ok(MediaCore {
            cname: format!("bbclient-{ssrc:08x}"),
            sender: RtpSender::new(ssrc, (seed >> 16) as u16, seed as u32),
            encoder: new_encoder(&p)?,
            dtmf_tx: None,
            send_tick: now,
            send_frame: vec![0; samples(rate, p.send_ptime)],
            marker_next: true,
            enc_buf: vec![0; 1500],
            pkt: Vec::with_capacity(1500),
            sent_since_report: false,
            receiver: new_receiver(&p),
            jitter,
            decoder: new_decoder(&p.codec, p.recv_ptime)?,
            rx_stats: None,
            dtmf_rx: DtmfReceiver::new(),
            play_tick: now,
            play_frame: vec![0; frame_len],
            chunk_len: chunk,
            play_pos: frame_len,
            chunk_buf: vec![0; chunk],
            dec_buf: vec![0; samples(rate, FrameDuration::Ms20) * 6],
            recv_ptime: p.recv_ptime,
            probe: FrameProbe::default(),
            last_audio: None,
            latch: None,
            rtcp_peer: None,
            rtcp_mux: false,
            srtp: p
                .srtp
                .as_ref()
                .map(SrtpStream::new)
                .transpose()
                .map_err(|e| err(&p.codec, e))?,
            rtcp_timer: RtcpTimer::new(first_rtcp, RTCP_INTERVAL),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: MediaStats {
                codec: p.codec.rtpmap(),
                ..MediaStats::default()
            },
            reported_drops: Vec::new(),
            closed: false,
            p,
        })
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.sender.ssrc()
    }

    /// The parameters in force.
    pub fn params(&self) -> &StreamParams {
        &self.p
    }

    /// The rate audio frames are exchanged at with the source and sink.
    pub fn sample_rate(&self) -> u32 {
        self.p.codec.sample_rate()
    }

    /// The send frame length.
    pub fn send_ptime(&self) -> FrameDuration {
        self.p.send_ptime
    }

    /// Counters and current figures.
    pub fn stats(&self) -> MediaStats {
        let mut s = self.stats.clone();
        let r = self.receiver.stats();
        s.packets_received = r.accepted;
        s.dropped_malformed = r.malformed;
        s.dropped_oversized = r.oversized;
        s.dropped_wrong_pt = r.wrong_pt;
        s.dropped_stale_ssrc = r.stale_ssrc;
        s.dropped_other = r.probation + r.seq_jump + r.ts_jump;
        if let Some(rx) = &self.rx_stats {
            s.lost = rx.cumulative_lost();
            s.jitter_ms = rx.jitter().as_secs_f64() * 1000.0;
        }
        let j = self.jitter.stats();
        s.target_delay_ms = j.target_delay.as_secs_f64() * 1000.0;
        s.playout_delay_ms = j.mean_playout_delay().as_secs_f64() * 1000.0;
        s.played += j.played;
        s.concealed += j.concealed;
        s.late += j.late;
        s.sending = self.p.send && !self.closed;
        s.receiving = self.p.recv && !self.closed;
        s.remote = self.rtp_dest();
        s.srtp = self
            .srtp
            .as_ref()
            .map(|x| x.suite().sdes_name().to_string());
        s
    }

    /// The earliest deadline and which timer it is.
    pub fn next_timer(&self) -> (Timer, Time) {
        let mut best = (Timer::Send, self.send_tick);
        let mut consider = |t: Timer, at: Time| {
            if at < best.1 {
                best = (t, at);
            }
        };
        consider(Timer::Playout, self.play_tick);
        consider(Timer::Rtcp, self.rtcp_timer.poll_timeout());
        if let Some(at) = self.dtmf_tx.as_ref().and_then(DtmfSender::poll_timeout) {
            consider(Timer::Dtmf, at);
        }
        best
    }

    /// When [`MediaCore::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Time {
        self.next_timer().1
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    fn rtp_dest(&self) -> Option<SocketAddr> {
        self.latch.map(|(a, _)| a).or(self.p.remote_rtp)
    }

    fn rtcp_dest(&self) -> Option<(Socket, SocketAddr)> {
        if self.rtcp_mux {
            return self.rtp_dest().map(|a| (Socket::Rtp, a));
        }
        self.rtcp_peer
            .or(self.p.remote_rtcp)
            .map(|a| (Socket::Rtcp, a))
    }

    /// Queues a datagram, encrypted first when the call has SRTP.
    fn transmit(&mut self, socket: Socket, to: SocketAddr, data: Vec<u8>, rtcp: bool) {
        match srtp::seal(self.srtp.as_mut(), data, rtcp) {
            Ok(data) => self.transmits.push_back(Transmit { socket, to, data }),
            Err(e) => self.codec_error("srtp", e.to_string()),
        }
    }

    /// A received datagram made clear (SRTP), or `None` when it does not
    /// authenticate: then counted and, the first time, reported.
    fn open<'a>(
        &mut self,
        buf: &'a [u8],
        from: SocketAddr,
        rtcp: bool,
    ) -> Option<std::borrow::Cow<'a, [u8]>> {
        match srtp::open(self.srtp.as_mut(), buf, rtcp) {
            Ok(clear) => Some(clear),
            Err(e) => {
                self.stats.dropped_srtp += 1;
                let kind = if rtcp { "srtcp" } else { "srtp" };
                self.first_drop(kind, format!("{e} ({} octets from {from})", buf.len()));
                None
            }
        }
    }

    fn first_drop(&mut self, kind: &'static str, reason: String) {
        if !self.reported_drops.contains(&kind) {
            self.reported_drops.push(kind);
            self.events.push_back(MediaEvent::FirstDrop { reason });
        }
    }

    fn codec_error(&mut self, kind: &'static str, what: String) {
        self.stats.codec_errors += 1;
        if !self.reported_drops.contains(&kind) {
            self.reported_drops.push(kind);
            self.events.push_back(MediaEvent::CodecError { what });
        }
    }

    /// Applies new parameters (a re-INVITE or its answer).
    pub fn update(&mut self, p: StreamParams, now: Time) -> Result<(), MediaError> {
        if p.codec != self.p.codec || p.send_ptime != self.p.send_ptime {
            self.encoder = new_encoder(&p)?;
            self.send_frame = vec![0; samples(p.codec.sample_rate(), p.send_ptime)];
            self.marker_next = true;
        }
        if p.codec != self.p.codec {
            self.recv_ptime = p.recv_ptime;
            self.rebuild_playout(&p.codec, p.recv_ptime)?;
            self.rx_stats = None;
            self.dtmf_tx = None;
            self.stats.codec = p.codec.rtpmap();
        }
        if p.codec != self.p.codec
            || p.recv_pts != self.p.recv_pts
            || p.dtmf_recv_pts != self.p.dtmf_recv_pts
        {
            self.receiver = new_receiver(&p);
        }
        if p.remote_rtp != self.p.remote_rtp {
            self.latch = None;
            self.rtcp_peer = None;
            self.rtcp_mux = false;
        }
        if p.srtp != self.p.srtp {
            // New keys from a re-INVITE: only the changed direction restarts.
            srtp::apply(&mut self.srtp, p.srtp.as_ref()).map_err(|e| err(&p.codec, e))?;
        }
        if p.dtmf_send_pt.is_none() {
            self.dtmf_tx = None;
        }
        if p.send && !self.p.send {
            self.marker_next = true;
        }
        // Keep the tick grids; a new ptime starts at the next tick.
        let _ = now;
        self.p = p;
        Ok(())
    }

    fn rebuild_playout(&mut self, codec: &Codec, frame: FrameDuration) -> Result<(), MediaError> {
        self.jitter = new_jitter(codec, frame)?;
        self.decoder = new_decoder(codec, frame)?;
        self.play_frame = vec![0; samples(codec.sample_rate(), frame)];
        self.chunk_len = chunk_len(&self.jitter, codec.sample_rate());
        self.play_pos = self.play_frame.len();
        self.chunk_buf = vec![0; self.chunk_len];
        self.probe = FrameProbe::default();
        Ok(())
    }

    /// Queues DTMF `digits` as RFC 4733 events.
    pub fn send_dtmf(&mut self, digits: &str, now: Time) -> Result<(), DtmfRefused> {
        if self.p.dtmf_send_pt.is_none() {
            return Err(DtmfRefused::NotNegotiated);
        }
        if !self.p.send || self.rtp_dest().is_none() || self.closed {
            return Err(DtmfRefused::NotSending);
        }
        let tx = match &mut self.dtmf_tx {
            Some(tx) => tx,
            slot => {
                let cfg = DtmfConfig {
                    clock_rate: self.p.codec.clock_rate(),
                    ..DtmfConfig::default()
                };
                slot.insert(DtmfSender::new(cfg).map_err(|e| DtmfRefused::Invalid(e.to_string()))?)
            }
        };
        tx.send_digits(digits, now)
            .map_err(|e| DtmfRefused::Invalid(e.to_string()))?;
        self.stats.dtmf_sent += digits.chars().count() as u64;
        Ok(())
    }

    /// Decides whether a datagram from `from` may be processed; latches the
    /// source when appropriate.
    fn source_ok(&mut self, now: Time, from: SocketAddr, buf: &[u8]) -> bool {
        match self.latch {
            Some((addr, _)) if addr == from => {
                self.latch = Some((from, now));
                true
            }
            Some((_, last)) if now.saturating_duration_since(last) < RELATCH_AFTER => false,
            _ => {
                let plausible = rtp::parse(buf).is_ok_and(|pkt| {
                    self.p.recv_pts.contains(&pkt.header.pt)
                        || self.p.dtmf_recv_pts.contains(&pkt.header.pt)
                });
                if plausible {
                    self.latch = Some((from, now));
                    self.events
                        .push_back(MediaEvent::SourceLatched { addr: from });
                }
                // Implausible datagrams go on to the receiver, which says why.
                true
            }
        }
    }

    /// One datagram from the RTP socket, arrived at `now` (`wall` is the
    /// same instant on the wall clock, for RTCP arriving multiplexed).
    pub fn handle_rtp(&mut self, now: Time, wall: NtpTime, from: SocketAddr, buf: &[u8]) {
        if self.closed {
            return;
        }
        if rtcp::is_rtcp(buf) {
            if !self.rtcp_mux {
                self.rtcp_mux = true;
            }
            self.handle_rtcp(now, wall, from, buf);
            return;
        }
        // SRTP: only what authenticates goes further (and may move the latch).
        let Some(clear) = self.open(buf, from, false) else {
            return;
        };
        let buf = &clear[..];
        if !self.source_ok(now, from, buf) {
            self.stats.dropped_unexpected_source += 1;
            self.first_drop(
                "source",
                format!(
                    "rtp from {from}, which is not the call's source {}",
                    self.latch.map(|(a, _)| a.to_string()).unwrap_or_default()
                ),
            );
            return;
        }
        let accepted = match self.receiver.receive(buf) {
            Ok(a) => a,
            Err(drop) => {
                let kind = match drop {
                    RtpDrop::Malformed(_) => "malformed",
                    RtpDrop::Oversized { .. } => "oversized",
                    RtpDrop::WrongPayloadType { .. } => "pt",
                    RtpDrop::StaleSsrc { .. } => "stale",
                    RtpDrop::Probation { .. }
                    | RtpDrop::SequenceJump { .. }
                    | RtpDrop::TimestampJump { .. } => "jump",
                };
                self.first_drop(kind, format!("{drop} (from {from})"));
                return;
            }
        };
        let h = accepted.header;
        match accepted.event {
            Some(SourceEvent::NewSource) => {
                self.rx_stats = Some(ReceptionStats::new(h.ssrc, self.p.codec.clock_rate()));
            }
            Some(SourceEvent::SsrcChanged { from: old }) => {
                self.stats.ssrc_changes += 1;
                self.jitter.resync();
                self.last_audio = None;
                self.rx_stats = Some(ReceptionStats::new(h.ssrc, self.p.codec.clock_rate()));
                self.probe = FrameProbe::default();
                self.events.push_back(MediaEvent::SsrcChanged {
                    from: old,
                    to: h.ssrc,
                });
            }
            Some(SourceEvent::SequenceResync | SourceEvent::TimestampResync) => {
                self.jitter.resync();
                self.last_audio = None;
                if let Some(rx) = self.rx_stats.as_mut() {
                    rx.reset(h.ssrc);
                }
                self.probe = FrameProbe::default();
            }
            None => {}
        }
        if self.p.dtmf_recv_pts.contains(&h.pt) {
            // Telephone-events share the sequence space (so they count for
            // loss) but repeat one timestamp, which would read as jitter:
            // they are recorded at the timestamp audio would carry now.
            if let (Some(rx), Some((ts, at))) = (self.rx_stats.as_mut(), self.last_audio) {
                let units = now.saturating_duration_since(at).as_micros() as u64
                    * self.p.codec.clock_rate() as u64
                    / 1_000_000;
                rx.on_rtp(accepted.ext_seq, ts.wrapping_add(units as u32), now);
            }
            match self.dtmf_rx.on_packet(&h, accepted.payload) {
                Ok(Some(d)) => {
                    self.stats.dtmf_received += 1;
                    self.events.push_back(MediaEvent::Dtmf { digit: d.digit });
                }
                Ok(None) => {}
                Err(e) => self.first_drop("dtmf", format!("telephone-event from {from}: {e}")),
            }
            return;
        }
        if let Some(rx) = self.rx_stats.as_mut() {
            rx.on_rtp(accepted.ext_seq, h.ts, now);
        }
        self.last_audio = Some((h.ts, now));
        if let Some(ms) = self.probe.observe(h.seq, h.ts, self.p.codec.clock_rate())
            && ms != self.recv_ptime.millis()
        {
            let frame = if ms == 10 {
                FrameDuration::Ms10
            } else {
                FrameDuration::Ms20
            };
            let codec = self.p.codec;
            if self.rebuild_playout(&codec, frame).is_ok() {
                self.recv_ptime = frame;
                self.events.push_back(MediaEvent::FrameChanged { ms });
            }
        }
        if !self.p.recv {
            return;
        }
        // A buffer the jitter buffer hands back after playout: no
        // allocation per packet once the call is running.
        let mut buf = self.jitter.take_buffer();
        buf.extend_from_slice(accepted.payload);
        let payload = RtpPayload {
            ssrc: h.ssrc,
            seq: h.seq,
            ts: h.ts,
            marker: h.marker,
            payload: buf,
        };
        // Rejections (late, duplicate, overflow) are counted by the buffer.
        let _ = self.jitter.insert(payload, now);
    }

    /// One datagram from the RTCP socket.
    pub fn handle_rtcp(&mut self, now: Time, wall: NtpTime, from: SocketAddr, buf: &[u8]) {
        if self.closed {
            return;
        }
        let Some(clear) = self.open(buf, from, true) else {
            return;
        };
        let buf = &clear[..];
        let reports = match rtcp::parse(buf) {
            Ok(r) => r,
            Err(e) => {
                self.stats.rtcp_malformed += 1;
                self.first_drop("rtcp", format!("{e} (from {from})"));
                return;
            }
        };
        self.stats.rtcp_received += 1;
        if !self.rtcp_mux {
            self.rtcp_peer = Some(from);
        }
        let ours = self.sender.ssrc();
        let theirs = self.receiver.ssrc();
        for r in reports {
            let blocks = match r {
                RtcpReport::Sender { ssrc, info, blocks } => {
                    if Some(ssrc) == theirs
                        && let Some(rx) = self.rx_stats.as_mut()
                    {
                        rx.on_sender_report(info.ntp, now);
                    }
                    blocks
                }
                RtcpReport::Receiver { blocks, .. } => blocks,
                RtcpReport::Bye { ssrcs } => {
                    if theirs.is_some_and(|t| ssrcs.contains(&t)) {
                        self.events.push_back(MediaEvent::RemoteBye);
                    }
                    continue;
                }
                RtcpReport::Other { .. } => continue,
            };
            if let Some(b) = blocks.iter().find(|b| b.ssrc == ours) {
                let report = RemoteReport {
                    loss_percent: b.loss_fraction() * 100.0,
                    cumulative_lost: b.cumulative_lost,
                    jitter: b.jitter_duration(self.p.codec.clock_rate()),
                    rtt: b.round_trip(wall),
                };
                self.stats.remote_report = Some(report);
                self.events.push_back(MediaEvent::RemoteReport(report));
            }
        }
    }

    /// Runs every deadline up to `now`: DTMF packets, send ticks (reading
    /// `source`), playout ticks (writing `sink`) and the RTCP report.
    pub fn handle_timeout(
        &mut self,
        now: Time,
        wall: NtpTime,
        source: &mut dyn AudioSource,
        sink: &mut dyn AudioSink,
    ) {
        if self.closed {
            return;
        }
        self.poll_dtmf(now);
        let send_step = frame_duration(self.p.send_ptime);
        while self.send_tick <= now {
            let behind = now.saturating_duration_since(self.send_tick);
            if behind > MAX_CATCH_UP {
                // Skip the stall instead of sending it as a burst.
                let frames = (behind.as_micros() / send_step.as_micros()) as u32;
                let ts_step = self.ts_per_frame();
                self.sender.skip(ts_step.wrapping_mul(frames));
                self.send_tick += send_step * frames;
                self.marker_next = true;
                continue;
            }
            self.send_one(source);
            self.send_tick += send_step;
        }
        while self.play_tick <= now {
            let tick = self.play_tick;
            let step = if self.chunk_len > 0 {
                self.play_chunk(tick, sink);
                PLAYOUT_CHUNK
            } else {
                self.play_one(tick, sink);
                frame_duration(self.recv_ptime)
            };
            self.play_tick += step;
        }
        if self.rtcp_timer.handle_timeout(now) {
            self.report(now, wall);
        }
    }

    fn ts_per_frame(&self) -> u32 {
        self.p.codec.clock_rate() / 1000 * self.p.send_ptime.millis()
    }

    fn poll_dtmf(&mut self, now: Time) {
        let (Some(pt), Some(dest)) = (self.p.dtmf_send_pt, self.rtp_dest()) else {
            return;
        };
        while let Some(pkt) = self.dtmf_tx.as_mut().and_then(|tx| tx.poll(now)) {
            match self.sender.packetize_event(pt, &pkt, &mut self.pkt) {
                Ok(_) => {
                    self.stats.packets_sent += 1;
                    self.stats.octets_sent += pkt.payload.len() as u64;
                    self.sent_since_report = true;
                    self.transmit(Socket::Rtp, dest, self.pkt.clone(), false);
                }
                Err(e) => {
                    self.stats.codec_errors += 1;
                    self.events.push_back(MediaEvent::CodecError {
                        what: format!("telephone-event: {e}"),
                    });
                }
            }
            self.marker_next = true;
        }
    }

    fn send_one(&mut self, source: &mut dyn AudioSource) {
        let rate = self.p.codec.sample_rate();
        source.read(rate, &mut self.send_frame);
        if self.p.muted {
            self.send_frame.fill(0);
        }
        let ts_step = self.ts_per_frame();
        let in_dtmf = self.dtmf_tx.as_ref().is_some_and(DtmfSender::in_event);
        let dest = self.rtp_dest();
        let Some(dest) = dest.filter(|_| self.p.send && !in_dtmf) else {
            self.sender.skip(ts_step);
            self.marker_next = true;
            return;
        };
        let n = match &mut self.encoder {
            Encoder::Pcmu => g711::encode_ulaw(&self.send_frame, &mut self.enc_buf),
            Encoder::Pcma => g711::encode_alaw(&self.send_frame, &mut self.enc_buf),
            Encoder::Opus(enc) => match enc.encode(&self.send_frame, &mut self.enc_buf) {
                Ok(n) => n,
                Err(e) => {
                    self.sender.skip(ts_step);
                    self.codec_error("encode", format!("opus encode: {e}"));
                    return;
                }
            },
        };
        if n <= 2 && matches!(self.encoder, Encoder::Opus(_)) {
            // An Opus DTX frame: nothing worth sending.
            self.sender.skip(ts_step);
            self.marker_next = true;
            return;
        }
        let marker = std::mem::take(&mut self.marker_next);
        match self.sender.packetize(
            self.p.send_pt,
            ts_step,
            marker,
            &self.enc_buf[..n],
            &mut self.pkt,
        ) {
            Ok(_) => {
                self.stats.packets_sent += 1;
                self.stats.octets_sent += n as u64;
                self.sent_since_report = true;
                self.transmit(Socket::Rtp, dest, self.pkt.clone(), false);
            }
            Err(e) => {
                self.sender.skip(ts_step);
                self.codec_error("packetize", format!("rtp: {e}"));
            }
        }
    }

    fn play_one(&mut self, tick: Time, sink: &mut dyn AudioSink) {
        let rate = self.p.codec.sample_rate();
        let pulled = self.jitter.pull(tick);
        let mut failure = None;
        match pulled {
            Pulled::Frame(f) => {
                match &mut self.decoder {
                    Decoder::G711 { alaw, plc } => {
                        let n = f.payload.len().min(self.dec_buf.len());
                        if *alaw {
                            g711::decode_alaw(&f.payload[..n], &mut self.dec_buf[..n]);
                        } else {
                            g711::decode_ulaw(&f.payload[..n], &mut self.dec_buf[..n]);
                        }
                        let m = n.min(self.play_frame.len());
                        self.play_frame[..m].copy_from_slice(&self.dec_buf[..m]);
                        self.play_frame[m..].fill(0);
                        plc.good_frame(&mut self.play_frame);
                    }
                    Decoder::Opus(dec) => match dec.decode(&f.payload, &mut self.dec_buf) {
                        Ok(n) => {
                            let m = n.min(self.play_frame.len());
                            self.play_frame[..m].copy_from_slice(&self.dec_buf[..m]);
                            self.play_frame[m..].fill(0);
                        }
                        Err(e) => {
                            failure = Some(format!("opus decode: {e}"));
                            if dec.decode_lost(&mut self.play_frame).is_err() {
                                self.play_frame.fill(0);
                            }
                        }
                    },
                }
                self.jitter.recycle(f.payload);
            }
            Pulled::Conceal(c) => match &mut self.decoder {
                Decoder::G711 { plc, .. } => plc.conceal(&mut self.play_frame),
                Decoder::Opus(dec) => {
                    let fec = matches!(self.p.codec, Codec::Opus { fec: true, .. });
                    let next = if fec && c.next_available {
                        self.jitter.peek_next().filter(|p| !p.is_empty())
                    } else {
                        None
                    };
                    let r = match next {
                        Some(next) => dec.decode_fec(next, &mut self.play_frame),
                        None => dec.decode_lost(&mut self.play_frame),
                    };
                    if let Err(e) = r {
                        failure = Some(format!("opus concealment: {e}"));
                        self.play_frame.fill(0);
                    }
                }
            },
            Pulled::Empty | Pulled::NotStarted => self.play_frame.fill(0),
        }
        if let Some(what) = failure {
            self.codec_error("decode", what);
        }
        sink.write(rate, &self.play_frame);
    }

    /// One chunk of chunked playout (G.711): a new frame is decoded or
    /// concealed whole into `play_frame` and played a chunk per tick; a
    /// frame that starts early cuts the previous one's unplayed tail,
    /// cross-faded over the new frame's first chunk; a stretch plays one
    /// chunk of concealment (the next good frame fades out of it).
    fn play_chunk(&mut self, tick: Time, sink: &mut dyn AudioSink) {
        let rate = self.p.codec.sample_rate();
        let n = self.chunk_len;
        let len = self.play_frame.len();
        let pulled = self.jitter.pull_chunk(tick);
        let Decoder::G711 { alaw, plc } = &mut self.decoder else {
            // Chunked playout is only set up for G.711 (see `new_jitter`).
            self.chunk_buf.fill(0);
            sink.write(rate, &self.chunk_buf);
            return;
        };
        let starts = matches!(
            pulled,
            ChunkPulled::Frame(_) | ChunkPulled::Conceal(_) | ChunkPulled::Empty
        );
        // The tail a new frame cuts short, to cross-fade from.
        let mut fade = 0;
        if starts && self.play_pos < len {
            fade = n.min(len - self.play_pos);
            self.chunk_buf[..fade]
                .copy_from_slice(&self.play_frame[self.play_pos..self.play_pos + fade]);
        }
        match pulled {
            ChunkPulled::Frame(f) => {
                let m = f.payload.len().min(self.dec_buf.len()).min(len);
                if *alaw {
                    g711::decode_alaw(&f.payload[..m], &mut self.play_frame[..m]);
                } else {
                    g711::decode_ulaw(&f.payload[..m], &mut self.play_frame[..m]);
                }
                self.play_frame[m..].fill(0);
                plc.good_frame(&mut self.play_frame);
                self.jitter.recycle(f.payload);
                self.play_pos = 0;
            }
            ChunkPulled::Conceal(_) => {
                plc.conceal(&mut self.play_frame);
                self.play_pos = 0;
            }
            ChunkPulled::Empty => {
                self.play_frame.fill(0);
                self.play_pos = 0;
            }
            ChunkPulled::Continue => {
                if self.play_pos >= len {
                    // Nothing left of the frame (not expected): conceal
                    // rather than repeat or stall.
                    plc.conceal(&mut self.play_frame);
                    self.play_pos = 0;
                }
            }
            ChunkPulled::Stretch { .. } => {
                plc.conceal(&mut self.chunk_buf);
                sink.write(rate, &self.chunk_buf);
                self.play_pos = len;
                return;
            }
            ChunkPulled::NotStarted => {
                self.chunk_buf.fill(0);
                sink.write(rate, &self.chunk_buf);
                self.play_pos = len;
                return;
            }
        }
        let end = (self.play_pos + n).min(len);
        let out = &mut self.play_frame[self.play_pos..end];
        // Linear cross-fade from the cut tail into the new frame.
        let steps = fade as i32 + 1;
        for (i, (o, &t)) in out.iter_mut().zip(&self.chunk_buf[..fade]).enumerate() {
            let w = i as i32 + 1;
            *o = ((*o as i32 * w + t as i32 * (steps - w)) / steps) as i16;
        }
        sink.write(rate, out);
        self.play_pos = end;
    }

    fn rtp_ts_at(&self, now: Time) -> u32 {
        // The next frame (media_ts) holds the audio captured in the frame
        // before the next send tick.
        let start = self.send_tick - frame_duration(self.p.send_ptime);
        let us = now.micros_since(start);
        let units = us * self.p.codec.clock_rate() as i64 / 1_000_000;
        self.sender.media_ts().wrapping_add(units as i32 as u32)
    }

    fn report(&mut self, now: Time, wall: NtpTime) {
        let Some((socket, to)) = self.rtcp_dest() else {
            return;
        };
        let mut blocks = Vec::new();
        if let Some(rx) = self.rx_stats.as_mut().filter(|r| r.received() > 0) {
            let b = rx.report_block(now);
            self.stats.loss_percent = b.loss_fraction() * 100.0;
            blocks.push(b);
        }
        let ssrc = self.sender.ssrc();
        let built = if self.sent_since_report {
            let info = SenderInfo {
                ntp: wall,
                rtp_ts: self.rtp_ts_at(now),
                packets: self.sender.packets_sent(),
                octets: self.sender.octets_sent(),
            };
            rtcp::build_sr(ssrc, &info, &blocks, &self.cname)
        } else {
            rtcp::build_rr(ssrc, &blocks, &self.cname)
        };
        self.sent_since_report = false;
        match built {
            Ok(data) => {
                self.stats.rtcp_sent += 1;
                self.transmit(socket, to, data, true);
            }
            Err(e) => self.codec_error("rtcp", format!("rtcp report: {e}")),
        }
    }

    /// Ends the session: queues an RTCP BYE; later inputs are ignored.
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        if let Some((socket, to)) = self.rtcp_dest()
            && let Ok(data) = rtcp::build_bye(self.sender.ssrc(), &self.cname)
        {
            self.transmit(socket, to, data, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bb_media::netem::Rng;
    use bb_media::tone::{SineGenerator, detect};

    const A: &str = "10.0.0.1:4000";
    const B: &str = "10.0.0.2:5000";

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("literal address")
    }

    fn rtcp_of(a: SocketAddr) -> SocketAddr {
        SocketAddr::new(a.ip(), a.port() + 1)
    }

    struct Tone(SineGenerator, u32);
    impl AudioSource for Tone {
        fn read(&mut self, rate: u32, frame: &mut [i16]) {
            if rate != self.1 {
                self.0 = SineGenerator::new(0.0, rate, 0.0);
            }
            self.0.fill(frame);
        }
        fn describe(&self) -> String {
            "tone".into()
        }
    }

    #[derive(Default)]
    struct Record(Vec<i16>, u32);
    impl AudioSink for Record {
        fn write(&mut self, rate: u32, frame: &[i16]) {
            self.1 = rate;
            self.0.extend_from_slice(frame);
        }
        fn describe(&self) -> String {
            "record".into()
        }
    }

    fn params(codec: Codec, remote: &str) -> StreamParams {
        let pt = codec.static_payload_type().unwrap_or(96);
        StreamParams {
            codec,
            send_pt: pt,
            recv_pts: vec![pt],
            dtmf_send_pt: Some(101),
            dtmf_recv_pts: vec![101],
            remote_rtp: Some(addr(remote)),
            remote_rtcp: Some(rtcp_of(addr(remote))),
            send: true,
            recv: true,
            send_ptime: FrameDuration::Ms20,
            recv_ptime: FrameDuration::Ms20,
            muted: false,
            opus_bitrate: 24_000,
            srtp: None,
        }
    }

    fn key(b: u8) -> bb_media::srtp::MasterKey {
        bb_media::srtp::MasterKey::from_bytes(&[b; bb_media::srtp::MASTER_LEN]).expect("30")
    }

    /// Params for both sides sharing SRTP keys (`a`'s key, `b`'s key).
    fn srtp_pair(ka: u8, kb: u8) -> (StreamParams, StreamParams) {
        use bb_media::srtp::{SrtpKeys, Suite};
        let mut pa = params(Codec::Pcmu, B);
        let mut pb = params(Codec::Pcmu, A);
        pa.srtp = Some(SrtpKeys {
            suite: Suite::AesCm128HmacSha1_80,
            local: key(ka),
            remote: key(kb),
        });
        pb.srtp = Some(SrtpKeys {
            suite: Suite::AesCm128HmacSha1_80,
            local: key(kb),
            remote: key(ka),
        });
        (pa, pb)
    }

    struct Side {
        core: MediaCore,
        at: SocketAddr,
        src: Tone,
        sink: Record,
    }

    struct InFlight {
        due: Time,
        to_a: bool,
        socket: Socket,
        from: SocketAddr,
        data: Vec<u8>,
    }

    /// Two cores on a seeded in-memory link, in virtual time.
    struct Rig {
        a: Side,
        b: Side,
        now: Time,
        link: Vec<InFlight>,
        rng: Rng,
        latency: Duration,
        jitter_ms: f64,
        loss: f64,
        /// Drop everything (an outage) until this time.
        outage_until: Time,
    }

    fn wall(t: Time) -> NtpTime {
        NtpTime::from_unix(
            Duration::from_secs(1_800_000_000) + Duration::from_micros(t.as_micros()),
        )
    }

    impl Rig {
        fn new(pa: StreamParams, pb: StreamParams, fa: f64, fb: f64) -> Rig {
            let rate = pa.codec.sample_rate();
            let side = |p: StreamParams, at: &str, f: f64, seed: u64| Side {
                core: MediaCore::new(p, Time::ZERO, seed).expect("valid params"),
                at: addr(at),
                src: Tone(SineGenerator::new(f, rate, 10_000.0), rate),
                sink: Record::default(),
            };
            Rig {
                a: side(pa, A, fa, 0x1111_2222_3333_4444),
                b: side(pb, B, fb, 0x5555_6666_7777_8888),
                now: Time::ZERO,
                link: Vec::new(),
                rng: Rng::new(7),
                latency: Duration::from_millis(20),
                jitter_ms: 0.0,
                loss: 0.0,
                outage_until: Time::ZERO,
            }
        }

        fn collect(&mut self) {
            for to_a in [false, true] {
                let dest_side = if to_a { self.a.at } else { self.b.at };
                let side = if to_a { &mut self.b } else { &mut self.a };
                let from_ip = side.at;
                while let Some(t) = side.core.poll_transmit() {
                    let from = match t.socket {
                        Socket::Rtp => from_ip,
                        Socket::Rtcp => rtcp_of(from_ip),
                    };
                    let lost = self.now < self.outage_until || self.rng.chance(self.loss);
                    // Only datagrams addressed to the other side's ports arrive.
                    if lost || t.to.ip() != dest_side.ip() {
                        continue;
                    }
                    let extra = self.rng.range(0.0, self.jitter_ms);
                    self.link.push(InFlight {
                        due: self.now
                            + self.latency
                            + Duration::from_micros((extra * 1000.0) as u64),
                        to_a,
                        socket: if t.to.port() == dest_side.port() {
                            Socket::Rtp
                        } else {
                            Socket::Rtcp
                        },
                        from,
                        data: t.data,
                    });
                }
            }
        }

        fn inject(&mut self, to_a: bool, from: SocketAddr, data: Vec<u8>) {
            self.link.push(InFlight {
                due: self.now,
                to_a,
                socket: Socket::Rtp,
                from,
                data,
            });
        }

        fn run_until(&mut self, end: Time) {
            loop {
                let next_packet = self.link.iter().map(|p| p.due).min();
                let next = [
                    Some(self.a.core.poll_timeout()),
                    Some(self.b.core.poll_timeout()),
                    next_packet,
                ]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(end);
                if next > end {
                    self.now = end;
                    break;
                }
                self.now = self.now.max(next);
                let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.link)
                    .into_iter()
                    .partition(|p| p.due <= self.now);
                self.link = rest;
                for p in due {
                    let side = if p.to_a { &mut self.a } else { &mut self.b };
                    match p.socket {
                        Socket::Rtp => {
                            side.core
                                .handle_rtp(self.now, wall(self.now), p.from, &p.data)
                        }
                        Socket::Rtcp => {
                            side.core
                                .handle_rtcp(self.now, wall(self.now), p.from, &p.data)
                        }
                    }
                }
                for side in [&mut self.a, &mut self.b] {
                    side.core.handle_timeout(
                        self.now,
                        wall(self.now),
                        &mut side.src,
                        &mut side.sink,
                    );
                }
                self.collect();
            }
        }
    }

    fn events(core: &mut MediaCore) -> Vec<MediaEvent> {
        std::iter::from_fn(|| core.poll_event()).collect()
    }

    /// Share of the power at `f` in the last `secs` of a recording, the
    /// mean over 50 ms blocks (a concealed frame may shift the phase, which
    /// one long Goertzel window would count as a loss of the tone).
    fn tone_ratio(rec: &Record, f: f64, secs: f64) -> f64 {
        let n = (rec.1 as f64 * secs) as usize;
        let tail = &rec.0[rec.0.len().saturating_sub(n)..];
        let block = rec.1 as usize / 20;
        let ratios: Vec<f64> = tail
            .chunks_exact(block)
            .map(|b| detect(b, rec.1, f).ratio)
            .collect();
        ratios.iter().sum::<f64>() / ratios.len().max(1) as f64
    }

    #[test]
    fn pcmu_tones_cross_both_ways_with_rtcp_figures() {
        let mut rig = Rig::new(
            params(Codec::Pcmu, B),
            params(Codec::Pcmu, A),
            1000.0,
            700.0,
        );
        rig.jitter_ms = 10.0;
        rig.run_until(Time::from_millis(12_000));
        assert!(tone_ratio(&rig.b.sink, 1000.0, 5.0) > 0.95);
        assert!(tone_ratio(&rig.a.sink, 700.0, 5.0) > 0.95);
        assert!(
            tone_ratio(&rig.a.sink, 1000.0, 5.0) < 0.01,
            "directions are kept apart"
        );
        // The sinks get one frame per tick, whatever arrived.
        assert_eq!(
            rig.b.sink.0.len(),
            8000 * 12 + 40,
            "12 s and the 5 ms chunk due at the end"
        );
        let s = rig.b.core.stats();
        assert!(s.packets_received >= 595, "{s}");
        assert_eq!((s.lost, s.dropped()), (0, 0), "{s}");
        assert!(s.jitter_ms > 0.5 && s.jitter_ms < 10.0, "{s}");
        // Reports went both ways: the peer's view of our stream, with an RTT
        // of twice the 20 ms latency plus the jitter.
        let r = rig.a.core.stats().remote_report.expect("a report from b");
        assert_eq!(r.cumulative_lost, 0);
        let rtt = r.rtt.expect("b saw an SR of a").as_millis();
        assert!((40..=60).contains(&rtt), "{rtt}");
        assert!(rig.a.core.stats().rtcp_sent >= 2);
    }

    #[test]
    fn srtp_carries_tones_both_ways_rekeys_and_drops_strangers() {
        let (pa, pb) = srtp_pair(1, 2);
        let mut rig = Rig::new(pa.clone(), pb.clone(), 1000.0, 700.0);
        rig.run_until(Time::from_millis(6_000));
        assert!(tone_ratio(&rig.b.sink, 1000.0, 3.0) > 0.95);
        assert!(tone_ratio(&rig.a.sink, 700.0, 3.0) > 0.95);
        let s = rig.b.core.stats();
        assert_eq!(s.srtp.as_deref(), Some("AES_CM_128_HMAC_SHA1_80"));
        assert_eq!(s.dropped(), 0, "{s}");
        assert!(s.rtcp_received >= 1, "SRTCP authenticated: {s}");
        // A re-INVITE brings a new key of a's: both sides take it, audio
        // goes on.
        let (mut pa2, mut pb2) = (pa.clone(), pb.clone());
        if let (Some(ka), Some(kb)) = (pa2.srtp.as_mut(), pb2.srtp.as_mut()) {
            ka.local = key(3);
            kb.remote = key(3);
        }
        rig.a.core.update(pa2, rig.now).expect("rekey a");
        rig.b.core.update(pb2, rig.now).expect("rekey b");
        let before = rig.b.core.stats().packets_received;
        rig.run_until(Time::from_millis(10_000));
        let s = rig.b.core.stats();
        assert!(s.packets_received > before + 150, "{s}");
        assert!(tone_ratio(&rig.b.sink, 1000.0, 2.0) > 0.95);
        // Plain RTP and a stranger's SRTP are dropped and counted, never
        // played, and cannot move the latch.
        let plain = [0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 0xff, 0xff];
        rig.inject(false, addr("10.9.9.9:4000"), plain.to_vec());
        let mut stranger = MediaCore::new(srtp_pair(7, 8).0, rig.now, 3).expect("params");
        let mut src = Tone(SineGenerator::new(300.0, 8000, 10_000.0), 8000);
        stranger.handle_timeout(
            rig.now + Duration::from_millis(40),
            wall(rig.now),
            &mut src,
            &mut Record::default(),
        );
        while let Some(t) = stranger.poll_transmit() {
            rig.inject(false, addr("10.9.9.9:4000"), t.data);
        }
        rig.run_until(Time::from_millis(11_000));
        let s = rig.b.core.stats();
        assert!(s.dropped_srtp >= 3, "{s:?}");
        assert_eq!(s.remote, Some(addr(A)), "the latch stays on a");
        assert!(tone_ratio(&rig.b.sink, 300.0, 1.0) < 0.01);
    }

    #[test]
    fn opus_with_loss_conceals_and_still_carries_the_tone() {
        let mut rig = Rig::new(
            params(Codec::OPUS, B),
            params(Codec::OPUS, A),
            1000.0,
            700.0,
        );
        rig.jitter_ms = 15.0;
        rig.run_until(Time::from_millis(3000));
        assert!(tone_ratio(&rig.b.sink, 1000.0, 2.0) > 0.99);
        assert!(tone_ratio(&rig.a.sink, 700.0, 2.0) > 0.99);
        rig.loss = 0.05;
        rig.run_until(Time::from_millis(11_000));
        assert_eq!(rig.b.sink.1, 48_000);
        // Opus conceals a pure tone with a few frames of phase and level
        // wobble after each loss (about 0.4 of a 50 ms block's purity); the
        // loss-free seconds above stay above 0.99.
        assert!(tone_ratio(&rig.b.sink, 1000.0, 4.0) > 0.75);
        assert!(tone_ratio(&rig.a.sink, 700.0, 4.0) > 0.75);
        assert!(tone_ratio(&rig.b.sink, 700.0, 4.0) < 0.05);
        assert_eq!(rig.b.core.jitter.chunk(), None, "opus plays whole frames");
        assert_eq!(rig.b.core.chunk_len, 0);
        let s = rig.b.core.stats();
        assert!(s.lost > 5 && s.concealed > 5, "{s}");
        let r = rig.a.core.stats().remote_report.expect("a report from b");
        assert!(r.cumulative_lost > 0, "{r:?}");
    }

    #[test]
    fn survives_an_outage_and_an_ssrc_change() {
        let mut rig = Rig::new(
            params(Codec::Pcmu, B),
            params(Codec::Pcmu, A),
            1000.0,
            700.0,
        );
        rig.run_until(Time::from_millis(2000));
        // Two seconds of nothing in either direction.
        rig.outage_until = Time::from_millis(4000);
        rig.run_until(Time::from_millis(4000));
        rig.run_until(Time::from_millis(6000));
        assert!(tone_ratio(&rig.a.sink, 700.0, 1.5) > 0.95);
        // b restarts its media (a PBX re-routing): new SSRC, sequence, timestamps.
        let pb = params(Codec::Pcmu, A);
        rig.b.core = MediaCore::new(pb, rig.now, 0x9999_aaaa_bbbb_cccc).expect("valid");
        rig.b.src = Tone(SineGenerator::new(500.0, 8000, 10_000.0), 8000);
        let _ = events(&mut rig.a.core);
        rig.run_until(Time::from_millis(9000));
        assert!(tone_ratio(&rig.a.sink, 500.0, 2.0) > 0.95);
        let ev = events(&mut rig.a.core);
        assert!(
            ev.iter()
                .any(|e| matches!(e, MediaEvent::SsrcChanged { .. })),
            "{ev:?}"
        );
        assert_eq!(rig.a.core.stats().ssrc_changes, 1);
        assert_eq!(rig.a.sink.0.len(), 8000 * 9 + 40, "playout never stalled");
    }

    #[test]
    fn bad_datagrams_are_counted_and_dropped_without_stalling() {
        let mut rig = Rig::new(
            params(Codec::Pcmu, B),
            params(Codec::Pcmu, A),
            1000.0,
            700.0,
        );
        rig.run_until(Time::from_millis(1000));
        let good = |pt: u8, len: usize| {
            let mut out = Vec::new();
            let h = rtp::RtpHeaderInfo {
                pt,
                seq: 1,
                ts: 0,
                ssrc: 42,
                marker: false,
            };
            rtp::write(&h, &vec![0xFF; len], &mut out).expect("valid");
            out
        };
        let b = addr(B);
        for i in 0..20u16 {
            rig.inject(true, b, vec![0x80, 0x00, 0x00]); // truncated
            rig.inject(true, b, good(8, 160)); // PCMA: not negotiated
            let mut big = good(0, 1400);
            big.extend(vec![0u8; 200]);
            rig.inject(true, b, big); // oversized
            rig.inject(true, addr("10.0.0.66:7000"), good(0, 160)); // another source
            rig.inject(true, b, vec![0xFF; (i as usize % 40) + 1]); // noise
            rig.run_until(rig.now + Duration::from_millis(50));
        }
        rig.run_until(Time::from_millis(3000));
        let s = rig.a.core.stats();
        assert_eq!(s.dropped_wrong_pt, 20, "{s:?}");
        assert_eq!(s.dropped_oversized, 20, "{s:?}");
        assert_eq!(s.dropped_unexpected_source, 20, "{s:?}");
        assert!(s.dropped_malformed >= 20, "{s:?}");
        assert!(tone_ratio(&rig.a.sink, 700.0, 1.0) > 0.95);
        assert_eq!(rig.a.sink.0.len(), 8000 * 3 + 40);
        let ev = events(&mut rig.a.core);
        let firsts = ev
            .iter()
            .filter(|e| matches!(e, MediaEvent::FirstDrop { .. }))
            .count();
        assert_eq!(firsts, 4, "one event per kind: {ev:?}");
    }

    #[test]
    fn absurd_timestamps_are_counted_and_dropped_without_stalling() {
        let mut rig = Rig::new(
            params(Codec::Pcmu, B),
            params(Codec::Pcmu, A),
            1000.0,
            700.0,
        );
        rig.run_until(Time::from_millis(1000));
        let before = rig.a.core.stats();
        let b = addr(B);
        for i in 0..20u32 {
            // The packet B has in flight to A, copied as its successor with
            // a timestamp half the clock away (or wild in other ways).
            let Some(h) = rig
                .link
                .iter()
                .filter(|p| p.to_a && p.socket == Socket::Rtp)
                .find_map(|p| rtp::parse(&p.data).ok().map(|pkt| pkt.header))
            else {
                panic!("B has a packet in flight to A");
            };
            let ts = match i % 3 {
                0 => h.ts ^ 0x8000_0000,
                1 => h.ts.wrapping_sub(8000 * 3600),
                _ => h.ts.wrapping_add(0x4000_0000 + i * 7919),
            };
            let forged = rtp::RtpHeaderInfo {
                pt: h.pt,
                seq: h.seq.wrapping_add(1),
                ts,
                ssrc: h.ssrc,
                marker: false,
            };
            let mut out = Vec::new();
            rtp::write(&forged, &[0xFF; 160], &mut out).expect("valid");
            rig.inject(true, b, out);
            rig.run_until(rig.now + Duration::from_millis(50));
        }
        rig.run_until(Time::from_millis(3000));
        let s = rig.a.core.stats();
        assert_eq!(s.dropped_other - before.dropped_other, 20, "{s:?}");
        assert_eq!(s.ssrc_changes, 0, "{s:?}");
        assert_eq!(rig.a.core.jitter.stats().resyncs, 0, "timeline kept");
        assert_eq!(s.concealed, before.concealed, "nothing lost: {s:?}");
        assert!(tone_ratio(&rig.a.sink, 700.0, 1.0) > 0.95);
        assert_eq!(rig.a.sink.0.len(), 8000 * 3 + 40, "playout never stalled");
    }

    #[test]
    fn dtmf_arrives_once_per_digit_in_order() {
        let mut rig = Rig::new(
            params(Codec::Pcmu, B),
            params(Codec::Pcmu, A),
            1000.0,
            700.0,
        );
        rig.run_until(Time::from_millis(500));
        rig.a.core.send_dtmf("123#", rig.now).expect("negotiated");
        rig.run_until(Time::from_millis(2000));
        let digits: String = events(&mut rig.b.core)
            .into_iter()
            .filter_map(|e| match e {
                MediaEvent::Dtmf { digit } => Some(digit),
                _ => None,
            })
            .collect();
        assert_eq!(digits, "123#");
        // The events' packets are not counted as lost, nor as jitter.
        rig.run_until(Time::from_millis(6000));
        let s = rig.b.core.stats();
        assert_eq!((s.lost, s.jitter_ms), (0, 0.0), "{s}");
        assert_eq!(rig.b.core.stats().dtmf_received, 4);
        // No audio is sent during the events, and it resumes after them.
        assert!(tone_ratio(&rig.b.sink, 1000.0, 0.3) > 0.95);
        assert_eq!(
            rig.a.core.send_dtmf("12x", rig.now),
            Err(DtmfRefused::Invalid(
                "dtmf digit 'x' at position 2 of \"12x\" is not one of 0-9 * # A-D".into()
            ))
        );
        let mut p = params(Codec::Pcmu, B);
        p.dtmf_send_pt = None;
        rig.a.core.update(p, rig.now).expect("valid");
        assert_eq!(
            rig.a.core.send_dtmf("1", rig.now),
            Err(DtmfRefused::NotNegotiated)
        );
    }

    #[test]
    fn directions_are_followed_and_holding_sends_silence() {
        let mut rig = Rig::new(
            params(Codec::Pcmu, B),
            params(Codec::Pcmu, A),
            1000.0,
            700.0,
        );
        rig.run_until(Time::from_millis(1000));
        // a holds b: a sends silence (sendonly), b sends nothing (recvonly).
        let mut pa = params(Codec::Pcmu, B);
        pa.muted = true;
        pa.recv = false;
        let mut pb = params(Codec::Pcmu, A);
        pb.send = false;
        rig.a.core.update(pa, rig.now).expect("valid");
        rig.b.core.update(pb, rig.now).expect("valid");
        let before = rig.b.core.stats().packets_sent;
        rig.run_until(Time::from_millis(3000));
        assert_eq!(rig.b.core.stats().packets_sent, before, "b sends nothing");
        assert!(rig.b.core.stats().packets_received > 140, "a still sends");
        let tail = &rig.b.sink.0[rig.b.sink.0.len() - 8000..];
        assert!(
            tail.iter().all(|&s| s.abs() < 64),
            "silence, not the microphone"
        );
        assert_eq!(rig.a.core.send_dtmf("1", rig.now), Ok(()));
        // Resume.
        rig.a
            .core
            .update(params(Codec::Pcmu, B), rig.now)
            .expect("valid");
        rig.b
            .core
            .update(params(Codec::Pcmu, A), rig.now)
            .expect("valid");
        rig.run_until(Time::from_millis(5000));
        assert!(tone_ratio(&rig.b.sink, 1000.0, 1.0) > 0.95);
        assert!(tone_ratio(&rig.a.sink, 700.0, 1.0) > 0.95);
        let mut inactive = params(Codec::Pcmu, B);
        inactive.send = false;
        rig.a.core.update(inactive, rig.now).expect("valid");
        assert_eq!(
            rig.a.core.send_dtmf("1", rig.now),
            Err(DtmfRefused::NotSending)
        );
    }

    #[test]
    fn symmetric_rtp_answers_where_the_packets_come_from() {
        // a's SDP names a stale address for b; b's packets reveal the real one.
        let mut rig = Rig::new(
            params(Codec::Pcmu, "10.0.0.9:6000"),
            params(Codec::Pcmu, A),
            1000.0,
            700.0,
        );
        rig.run_until(Time::from_millis(3000));
        let ev = events(&mut rig.a.core);
        assert!(
            ev.contains(&MediaEvent::SourceLatched { addr: addr(B) }),
            "{ev:?}"
        );
        assert_eq!(rig.a.core.stats().remote, Some(addr(B)));
        assert!(tone_ratio(&rig.b.sink, 1000.0, 2.0) > 0.95);
        // RTCP follows the source of b's RTCP too.
        assert!(rig.b.core.stats().rtcp_received > 0);
    }

    #[test]
    fn the_playout_frame_follows_what_the_peer_sends() {
        let mut pa = params(Codec::Pcmu, B);
        pa.send_ptime = FrameDuration::Ms10;
        let mut rig = Rig::new(pa, params(Codec::Pcmu, A), 1000.0, 700.0);
        rig.run_until(Time::from_millis(3000));
        let ev = events(&mut rig.b.core);
        assert!(ev.contains(&MediaEvent::FrameChanged { ms: 10 }), "{ev:?}");
        assert!(tone_ratio(&rig.b.sink, 1000.0, 2.0) > 0.95);
        assert_eq!(rig.b.core.stats().late, 0);
    }

    /// Plays a PCMU stream from a peer whose clock runs `drift` fast
    /// (negative: slow), with 0..`jitter_ms` of random network delay, from
    /// `from` to `to` (sender frame index), into `core`.
    struct Peer {
        tone: SineGenerator,
        rng: Rng,
        seq: u16,
        ts: u32,
        /// Send time of the next frame, µs on the receiver's clock.
        send_us: f64,
        in_flight: Vec<(Time, Vec<u8>)>,
    }

    impl Peer {
        fn run(&mut self, core: &mut MediaCore, sink: &mut Record, end: Time, drift: f64) {
            let period_us = 20_000.0 / (1.0 + drift);
            let mut pcm = [0i16; 160];
            let mut ulaw = [0u8; 160];
            loop {
                // Frames sent before `end`, in flight with their delay.
                while self.send_us < end.as_micros() as f64 {
                    self.tone.fill(&mut pcm);
                    let n = g711::encode_ulaw(&pcm, &mut ulaw);
                    let info = rtp::RtpHeaderInfo {
                        pt: 0,
                        seq: self.seq,
                        ts: self.ts,
                        ssrc: 0xfeed,
                        marker: false,
                    };
                    let mut out = Vec::new();
                    rtp::write(&info, &ulaw[..n], &mut out).expect("valid header");
                    let delay = 20_000.0 + self.rng.range(0.0, 10_000.0);
                    let due = Time::from_micros((self.send_us + delay) as u64);
                    self.in_flight.push((due, out));
                    self.seq = self.seq.wrapping_add(1);
                    self.ts = self.ts.wrapping_add(160);
                    self.send_us += period_us;
                }
                let next_pkt = self.in_flight.iter().map(|p| p.0).min();
                let next = next_pkt.map_or(core.poll_timeout(), |t| t.min(core.poll_timeout()));
                if next > end {
                    return;
                }
                let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.in_flight)
                    .into_iter()
                    .partition(|p| p.0 <= next);
                self.in_flight = rest;
                for (_, data) in due {
                    core.handle_rtp(next, wall(next), addr(B), &data);
                }
                let mut silent = Tone(SineGenerator::new(0.0, 8000, 0.0), 8000);
                core.handle_timeout(next, wall(next), &mut silent, sink);
                while core.poll_transmit().is_some() {}
            }
        }
    }

    /// Longest run of samples quieter than `floor` in `x`.
    fn longest_quiet(x: &[i16], floor: i16) -> usize {
        let (mut best, mut run) = (0, 0);
        for &v in x {
            run = if v.unsigned_abs() < floor as u16 {
                run + 1
            } else {
                0
            };
            best = best.max(run);
        }
        best
    }

    #[test]
    fn g711_under_drift_and_jitter_moves_the_delay_a_chunk_at_a_time() {
        let mut core = MediaCore::new(params(Codec::Pcmu, B), Time::ZERO, 9).expect("valid");
        assert_eq!(core.jitter.chunk(), Some(PLAYOUT_CHUNK));
        assert_eq!(core.chunk_len, 40);
        let mut sink = Record::default();
        let mut peer = Peer {
            tone: SineGenerator::new(700.0, 8000, 10_000.0),
            rng: Rng::new(11),
            seq: 100,
            ts: 1_000,
            send_us: 0.0,
            in_flight: Vec::new(),
        };
        // The peer's clock runs 0.5 % slow, then 0.5 % fast: the buffer
        // drains (stretches), then fills (drops), 40 ms each way.
        peer.run(&mut core, &mut sink, Time::from_millis(8_000), -0.005);
        let slow = core.jitter.stats();
        peer.run(&mut core, &mut sink, Time::from_millis(16_000), 0.005);
        let fast = core.jitter.stats();
        assert!(slow.chunk_expands >= 4, "stretched a slow peer: {slow:?}");
        assert!(
            fast.chunk_drops - slow.chunk_drops >= 4,
            "shed a fast peer's surplus: {fast:?}"
        );
        // One 5 ms chunk per tick, none skipped: 16 s and the chunk due at
        // the end.
        assert_eq!(sink.0.len(), 8000 * 16 + 40);
        // Continuous audio from the first sample of the tone on: no gap of
        // 1 ms or more (a 700 Hz tone crosses zero for a sample or two),
        // and the tone stays pure across the stretches and cuts.
        let start = sink.0.iter().position(|&v| v != 0).expect("audio played");
        assert!(start < 8000 / 5, "playout started within 200 ms: {start}");
        let quiet = longest_quiet(&sink.0[start..], 300);
        assert!(quiet < 8, "a gap of {quiet} samples in the playout");
        assert!(tone_ratio(&sink, 700.0, 15.0) > 0.9);
        let s = core.stats();
        // Wholesale frame moves (a frame of concealment) stay rare: the
        // drift is taken up a chunk at a time.
        assert!(
            fast.expands + fast.accelerates <= 2,
            "whole-frame moves: {fast:?}"
        );
        assert_eq!(s.codec_errors, 0, "{s:?}");
    }

    #[test]
    fn a_late_driver_catches_up_but_a_stall_is_skipped() {
        let mut core = MediaCore::new(params(Codec::Pcmu, B), Time::ZERO, 3).expect("valid");
        let (mut src, mut sink) = (
            Tone(SineGenerator::new(1000.0, 8000, 1000.0), 8000),
            Record::default(),
        );
        core.handle_timeout(
            Time::from_millis(300),
            wall(Time::ZERO),
            &mut src,
            &mut sink,
        );
        let sent = std::iter::from_fn(|| core.poll_transmit())
            .filter(|t| t.socket == Socket::Rtp)
            .count();
        assert_eq!(sent, 16, "frames 0..=15 of 20 ms");
        core.handle_timeout(
            Time::from_millis(5300),
            wall(Time::ZERO),
            &mut src,
            &mut sink,
        );
        let burst = std::iter::from_fn(|| core.poll_transmit())
            .filter(|t| t.socket == Socket::Rtp)
            .count();
        assert!(burst <= 52, "a 5 s stall is not replayed: {burst}");
        // The RTP clock kept real time across the skip.
        assert_eq!(core.params().codec, Codec::Pcmu);
        assert_eq!(core.send_tick, Time::from_millis(5320));
        // G.711 plays in 5 ms chunks: the next playout chunk is due first.
        assert_eq!(core.next_timer(), (Timer::Playout, Time::from_millis(5305)));
    }
}
