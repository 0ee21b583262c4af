//! The media side of one leg: our RTP/RTCP ports, the SDP state (formats,
//! direction, the peer's description, the agreed codec), the SRTP keys of
//! SDES, and, once the call is answered, the running media session.
//!
//! The driver (`sip_ua`) calls [`LegMedia::sdp`] for each description it
//! sends and [`LegMedia::params`] to start or update the media. SRTP follows
//! `[audio] srtp` through `bb_sip::sdes`: [`LegMedia::offering`] puts keys
//! in our offer, [`LegMedia::answer_keys`] answers a peer's offer (a first
//! INVITE or a re-INVITE, which may bring new keys), [`LegMedia::take_answer`]
//! reads the answer to ours. An encrypted call never falls back to plain
//! RTP: a re-offer without keys is refused, and keys that cannot be used
//! leave the call without media rather than in clear.

use std::net::SocketAddr;

use bb_media::codec::Negotiated;
use bb_media::srtp::SrtpKeys;
use bb_sip::sdes::{Policy, Refusal, StreamKeys};
use bb_sip::sdp::{AudioSdp, Direction, Format};

use crate::media::{self, AudioSettings, MediaSession, RtpPair, StreamParams};

/// The media side of one leg.
#[derive(Debug)]
pub(super) struct LegMedia {
    /// RTP on an even port, RTCP on the next; the media session uses them.
    pub pair: RtpPair,
    pub local: SocketAddr,
    session_id: u64,
    version: u64,
    /// Formats we offer or answered with, in preference order.
    pub formats: Vec<Format>,
    /// The direction of our last SDP (offer or answer).
    pub local_dir: Direction,
    /// What the peer last described.
    pub remote: Option<AudioSdp>,
    /// The codec agreed with the peer, once both SDPs are known.
    pub negotiated: Option<Negotiated>,
    /// The running media (from the answer on).
    pub session: Option<MediaSession>,
    /// The SRTP keys our SDP carries and what SDES agreed.
    keys: StreamKeys,
}

impl LegMedia {
    /// A leg that answers (its keys come with [`LegMedia::answer_keys`]).
    pub fn new(pair: RtpPair, local: SocketAddr, formats: Vec<Format>) -> LegMedia {
        LegMedia {
            pair,
            local,
            session_id: u64::from(rand::random::<u32>()),
            version: 0,
            formats,
            local_dir: Direction::SendRecv,
            remote: None,
            negotiated: None,
            session: None,
            keys: StreamKeys::default(),
        }
    }

    /// A leg that offers, with keys when `policy` says so.
    pub fn offering(
        pair: RtpPair,
        local: SocketAddr,
        formats: Vec<Format>,
        policy: Policy,
    ) -> LegMedia {
        let mut m = LegMedia::new(pair, local, formats);
        m.keys = StreamKeys::offering(policy);
        m
    }

    /// Our next description, in `direction`.
    pub fn sdp(&mut self, direction: Direction, ptime: u32) -> Vec<u8> {
        self.version += 1;
        self.local_dir = direction;
        AudioSdp {
            addr: self.local.ip(),
            port: self.local.port(),
            formats: self.formats.clone(),
            direction,
            ptime: Some(ptime),
            secure: self.keys.secure,
            crypto: self.keys.crypto.clone(),
        }
        .render(self.session_id, self.version)
        .into_bytes()
    }

    /// Answers the keys of the peer's `offer` (before [`LegMedia::sdp`]
    /// writes the answer). On a refusal nothing changes.
    pub fn answer_keys(&mut self, policy: Policy, offer: &AudioSdp) -> Result<(), Refusal> {
        self.keys.answer(policy, &offer.crypto, offer.secure, true)
    }

    /// Reads the keys of the peer's `answer` to our offer. An encrypted
    /// call answered without keys is refused (it stays as it was).
    pub fn take_answer(&mut self, policy: Policy, answer: &AudioSdp) -> Result<(), Refusal> {
        self.keys.take_answer(policy, &answer.crypto)
    }

    /// The media parameters for the current SDP state, if complete.
    pub fn params(&self, audio: &AudioSettings, muted: bool) -> Option<StreamParams> {
        let (remote, n) = (self.remote.as_ref()?, self.negotiated.as_ref()?);
        let mut p =
            media::sdp::stream_params(audio, &self.formats, self.local_dir, remote, n, muted);
        if let Some(a) = &self.keys.agreed {
            match SrtpKeys::from_sdes(a.suite, a.local.octets(), a.remote.octets()) {
                Ok(k) => p.srtp = Some(k),
                Err(e) => {
                    // No media rather than media in clear.
                    tracing::warn!(
                        "media: the SRTP keys cannot be used ({e}); the call stays silent"
                    );
                    return None;
                }
            }
        }
        Some(p)
    }
}
