//! This crate provides the media core of the softphone: everything between
//! "an RTP datagram arrived" and "20 ms of PCM go to the sound card", and
//! back, with no I/O of its own.
//!
//! # Principal types
//!
//! * [`g711`]: µ-law/A-law tables ([`g711::encode_ulaw`], [`g711::decode_alaw`],
//!   …) checked exhaustively against [`g711::reference`], a transcription of
//!   the ITU-T G.191 STL routines.
//! * [`rtp`]: [`rtp::RtpSender`] stamps sequence numbers and timestamps;
//!   [`rtp::RtpReceiver`] validates incoming packets (typed
//!   [`rtp::RtpDrop`] reasons) and extends sequence numbers (RFC 3550 A.1).
//! * [`rtcp`]: [`rtcp::ReceptionStats`] (loss and jitter per RFC 3550 A.3
//!   and A.8), SR/RR building and parsing.
//! * [`dtmf`]: RFC 4733 telephone-events: [`dtmf::DtmfSender`] (polled
//!   with `now`) and [`dtmf::DtmfReceiver`] (each digit exactly once).
//! * [`jitter`]: [`jitter::JitterBuffer`], an adaptive playout buffer:
//!   `insert(packet, arrival)`, `pull(now)` once per frame,
//!   `poll_timeout()`.
//! * [`plc`]: G.711 Appendix I style packet-loss concealment.
//! * [`opus`]: [`opus::OpusEncoder`]/[`opus::OpusDecoder`], a thin typed
//!   wrapper over libopus with PLC and FEC decoding.
//! * [`codec`]: [`codec::Codec`] and [`codec::negotiate`], choosing a codec
//!   from already-parsed `rtpmap`/`fmtp` attributes.
//! * [`tone`]: Goertzel tone detection and a sine generator for end-to-end
//!   tests.
//! * [`cadence`]: the tones a phone plays to its user (ringtone, ringback,
//!   busy, call waiting) in national plans, and [`cadence::segments`] /
//!   [`cadence::matches`] to check a recording's cadence.
//! * [`netem`]: seeded synthetic network traces and the replay harness that
//!   scores a jitter buffer against the best fixed delay in hindsight.
//!
//! # Key design decision: time is an argument
//!
//! Nothing here reads a clock, sleeps, spawns or touches a socket. Every
//! method that depends on time takes a [`Time`] (microseconds since an origin
//! the driver picks) and machines that need waking report it through a
//! `poll_timeout()`. This keeps the tokio driver in the softphone short and
//! makes every test here a deterministic replay: a 60-second network trace
//! runs through the jitter buffer in milliseconds, and a failing seed
//! reproduces exactly.
//!
//! # Panics and errors
//!
//! Bytes from the network never panic: parsers return typed errors and the
//! property tests feed them random input. The few `expect`s that remain state
//! the invariant that makes them unreachable.
//!
//! # What this crate deliberately won't do
//!
//! * No ICE, no SDP text parsing (see `bb-sip`), no sound devices. SRTP
//!   ([`srtp`]) wraps a library; its crypto is not written here.
//! * No resampling or mixing: the softphone runs one codec rate per call.
//! * The jitter buffer is codec-agnostic and frame-granular: it hands out
//!   payloads or "conceal" decisions and never time-stretches audio itself.
//!
//! # Example
//!
//! ```
//! use bb_media::{g711, jitter::{JitterBuffer, JitterConfig, Pulled, RtpPayload}, Time};
//!
//! let mut jb = JitterBuffer::new(JitterConfig::default()).expect("the default config is valid");
//! let pcm = [0i16; 160];
//! let mut payload = vec![0u8; 160];
//! g711::encode_ulaw(&pcm, &mut payload);
//! let pkt = RtpPayload { ssrc: 7, seq: 1, ts: 160, marker: true, payload };
//! jb.insert(pkt, Time::from_millis(100)).expect("first packet is accepted");
//! // Pull once per 20 ms; the first frame plays once the target delay passed.
//! let mut now = Time::from_millis(100);
//! loop {
//!     match jb.pull(now) {
//!         Pulled::Frame(f) => { assert_eq!(f.ts, 160); break; }
//!         _ => now = now + std::time::Duration::from_millis(20),
//!     }
//! }
//! ```

#![deny(missing_docs)]
#![warn(clippy::unwrap_used)]

pub mod cadence;
pub mod codec;
pub mod dtmf;
pub mod g711;
pub mod jitter;
pub mod netem;
pub mod opus;
pub mod plc;
pub mod rtcp;
pub mod rtp;
pub mod srtp;
pub mod tone;

mod time;

pub use time::Time;
