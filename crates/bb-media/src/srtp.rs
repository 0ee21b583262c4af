//! SRTP and SRTCP (RFC 3711) for one call's stream, keyed by SDES
//! (RFC 4568): the two AES counter-mode suites every SIP phone offers.
//!
//! The crypto is webrtc-rs's `rtc-srtp` on AWS-LC (the provider rustls
//! already uses here); this module only chooses the suite, holds the
//! master keys and gives the media core four calls: protect and unprotect,
//! for RTP and RTCP. Each direction has its own context — ours encrypts
//! with our key, the peer's decrypts with the key it announced — and the
//! receiving side keeps RFC 3711's replay window (64 packets for SRTP, as
//! libsrtp, and for SRTCP).
//!
//! Keys never leave this module in a printable form: [`MasterKey`]'s
//! `Debug` says only its length, and its bytes are wiped on drop. The
//! base64 text of SDP (`inline:`) is the SDP layer's business.

use std::borrow::Cow;
use std::fmt;

use rtc_crypto::RTCRandom;
use rtc_crypto::providers::{AwsLcRsCrypto, AwsLcRsRandom};
use rtc_srtp::context::Context;
use rtc_srtp::option::{srtcp_replay_protection, srtp_replay_protection};
use rtc_srtp::protection_profile::ProtectionProfile;
use zeroize::Zeroizing;

/// Length of an SDES master key and salt together (16 + 14 octets).
pub const MASTER_LEN: usize = 30;
/// Replay window, in packets (libsrtp's default).
pub const REPLAY_WINDOW: usize = 64;
/// SRTCP's authentication tag, the same 80 bits for both suites.
const SRTCP_TAG_LEN: usize = 10;

/// The crypto suites we speak (RFC 4568 section 6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suite {
    /// `AES_CM_128_HMAC_SHA1_80`: the default, 80-bit tag.
    AesCm128HmacSha1_80,
    /// `AES_CM_128_HMAC_SHA1_32`: 32-bit tag on RTP (SRTCP keeps 80 bits).
    AesCm128HmacSha1_32,
}

impl Suite {
    /// In our order of preference.
    pub const ALL: [Suite; 2] = [Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32];

    /// The name SDP writes.
    pub fn sdes_name(self) -> &'static str {
        match self {
            Suite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Suite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    /// The suite SDP names (case as written by the standard), if ours.
    pub fn from_sdes_name(name: &str) -> Option<Suite> {
        Suite::ALL.into_iter().find(|s| s.sdes_name() == name)
    }

    /// Octets SRTP adds to each RTP packet (the tag).
    pub fn rtp_overhead(self) -> usize {
        self.profile().rtp_auth_tag_len()
    }

    fn profile(self) -> ProtectionProfile {
        match self {
            Suite::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
            Suite::AesCm128HmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
        }
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sdes_name())
    }
}

/// A master key and salt (30 octets), wiped on drop, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey(Zeroizing<[u8; MASTER_LEN]>);

impl MasterKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<MasterKey, SrtpError> {
        let mut k = Zeroizing::new([0u8; MASTER_LEN]);
        AwsLcRsRandom
            .fill(k.as_mut_slice())
            .map_err(|e| SrtpError::Key(format!("no random source for a master key: {e}")))?;
        Ok(MasterKey(k))
    }

    /// A key from its 30 octets (as decoded from SDP).
    pub fn from_bytes(bytes: &[u8]) -> Result<MasterKey, SrtpError> {
        let mut k = Zeroizing::new([0u8; MASTER_LEN]);
        if bytes.len() != MASTER_LEN {
            return Err(SrtpError::Key(format!(
                "a master key and salt are {MASTER_LEN} octets, this one has {}",
                bytes.len()
            )));
        }
        k.copy_from_slice(bytes);
        Ok(MasterKey(k))
    }

    /// The 30 octets, for the SDP layer to encode.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_slice()
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(<{MASTER_LEN} octets, not shown>)")
    }
}

/// What can go wrong. The texts never hold key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SrtpError {
    /// A key could not be made or used.
    #[error("SRTP key: {0}")]
    Key(String),
    /// A packet failed authentication (wrong key, altered, or not SRTP).
    #[error("SRTP {what} did not authenticate: {why}")]
    Auth {
        /// `rtp` or `rtcp`.
        what: &'static str,
        /// The library's reason.
        why: String,
    },
    /// A packet was seen before (RFC 3711 section 3.3.2).
    #[error("SRTP {what} replayed: {why}")]
    Replay {
        /// `rtp` or `rtcp`.
        what: &'static str,
        /// The library's reason.
        why: String,
    },
    /// Our own packet could not be protected.
    #[error("SRTP could not protect our {what}: {why}")]
    Protect {
        /// `rtp` or `rtcp`.
        what: &'static str,
        /// The library's reason.
        why: String,
    },
}

/// The keys of one stream: the suite both sides agreed, ours (we encrypt
/// with it) and the peer's (we decrypt with it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtpKeys {
    /// The agreed suite.
    pub suite: Suite,
    /// The key we announced.
    pub local: MasterKey,
    /// The key the peer announced.
    pub remote: MasterKey,
}

impl SrtpKeys {
    /// The keys SDES agreed: the suite as SDP names it, and the octets of
    /// both announced keys.
    pub fn from_sdes(suite: &str, local: &[u8], remote: &[u8]) -> Result<SrtpKeys, SrtpError> {
        Ok(SrtpKeys {
            suite: Suite::from_sdes_name(suite)
                .ok_or_else(|| SrtpError::Key(format!("{suite} is not a suite we speak")))?,
            local: MasterKey::from_bytes(local)?,
            remote: MasterKey::from_bytes(remote)?,
        })
    }
}

/// Both directions of one SRTP stream.
pub struct SrtpStream {
    keys: SrtpKeys,
    tx: Context,
    rx: Context,
}

impl fmt::Debug for SrtpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpStream")
            .field("suite", &self.keys.suite)
            .finish_non_exhaustive()
    }
}

fn context(suite: Suite, key: &MasterKey, replay: bool) -> Result<Context, SrtpError> {
    let (k, salt) = key.as_bytes().split_at(16);
    let (srtp, srtcp) = if replay {
        (
            Some(srtp_replay_protection(REPLAY_WINDOW)),
            Some(srtcp_replay_protection(REPLAY_WINDOW)),
        )
    } else {
        (None, None)
    };
    Context::new(k, salt, suite.profile(), srtp, srtcp, &AwsLcRsCrypto)
        .map_err(|e| SrtpError::Key(format!("{suite} context: {e}")))
}

fn rx_error(what: &'static str, e: impl fmt::Display) -> SrtpError {
    let why = e.to_string();
    if why.contains("duplicated") || why.contains("replay") {
        SrtpError::Replay { what, why }
    } else {
        SrtpError::Auth { what, why }
    }
}

impl SrtpStream {
    /// The contexts for `keys`.
    pub fn new(keys: &SrtpKeys) -> Result<SrtpStream, SrtpError> {
        Ok(SrtpStream {
            keys: keys.clone(),
            tx: context(keys.suite, &keys.local, false)?,
            rx: context(keys.suite, &keys.remote, true)?,
        })
    }

    /// New keys (a re-INVITE): only the direction whose key changed starts
    /// afresh. Our sending context is kept while our key stays, so its
    /// packet index never restarts under the same key (RFC 3711 section 9.2:
    /// a key stream must not be used twice).
    pub fn rekey(&mut self, keys: &SrtpKeys) -> Result<(), SrtpError> {
        if keys.suite != self.keys.suite || keys.local != self.keys.local {
            self.tx = context(keys.suite, &keys.local, false)?;
        }
        if keys.suite != self.keys.suite || keys.remote != self.keys.remote {
            self.rx = context(keys.suite, &keys.remote, true)?;
        }
        self.keys = keys.clone();
        Ok(())
    }

    /// The keys in force.
    pub fn keys(&self) -> &SrtpKeys {
        &self.keys
    }

    /// The suite in force.
    pub fn suite(&self) -> Suite {
        self.keys.suite
    }

    /// Our RTP packet, encrypted and tagged.
    pub fn protect_rtp(&mut self, rtp: &[u8]) -> Result<Vec<u8>, SrtpError> {
        self.tx
            .encrypt_rtp(rtp)
            .map(Vec::from)
            .map_err(|e| SrtpError::Protect {
                what: "rtp",
                why: e.to_string(),
            })
    }

    /// Our RTCP compound packet, encrypted, indexed and tagged.
    pub fn protect_rtcp(&mut self, rtcp: &[u8]) -> Result<Vec<u8>, SrtpError> {
        self.tx
            .encrypt_rtcp(rtcp)
            .map(Vec::from)
            .map_err(|e| SrtpError::Protect {
                what: "rtcp",
                why: e.to_string(),
            })
    }

    /// The peer's SRTP packet, authenticated and decrypted.
    pub fn unprotect_rtp(&mut self, srtp: &[u8]) -> Result<Vec<u8>, SrtpError> {
        self.rx
            .decrypt_rtp(srtp)
            .map(Vec::from)
            .map_err(|e| rx_error("rtp", e))
    }

    /// The peer's SRTCP packet, authenticated and decrypted.
    ///
    /// A packet whose E flag says "not encrypted" is refused: we never
    /// agree to `UNENCRYPTED_SRTCP`, and rtc-srtp 0.21.1 returns such a
    /// packet without checking its tag, so an attacker could inject
    /// reports or a BYE with it.
    pub fn unprotect_rtcp(&mut self, srtcp: &[u8]) -> Result<Vec<u8>, SrtpError> {
        let flag_at = srtcp.len().checked_sub(SRTCP_TAG_LEN + 4);
        if flag_at.is_some_and(|i| i >= 8 && srtcp[i] & 0x80 == 0) {
            return Err(SrtpError::Auth {
                what: "rtcp",
                why: "its E flag says unencrypted, which was not agreed".into(),
            });
        }
        self.rx
            .decrypt_rtcp(srtcp)
            .map(Vec::from)
            .map_err(|e| rx_error("rtcp", e))
    }
}

/// Puts `keys` into a call's stream slot: a new stream, new keys for the
/// one there (only the changed direction restarts, see
/// [`SrtpStream::rekey`]), or none (plain RTP).
pub fn apply(slot: &mut Option<SrtpStream>, keys: Option<&SrtpKeys>) -> Result<(), SrtpError> {
    match (slot.as_mut(), keys) {
        (Some(s), Some(k)) => s.rekey(k),
        (None, Some(k)) => {
            *slot = Some(SrtpStream::new(k)?);
            Ok(())
        }
        (_, None) => {
            *slot = None;
            Ok(())
        }
    }
}

/// A received datagram made clear: as it is when the call has no SRTP,
/// else authenticated and decrypted as RTP or (`rtcp`) RTCP.
pub fn open<'a>(
    srtp: Option<&mut SrtpStream>,
    datagram: &'a [u8],
    rtcp: bool,
) -> Result<Cow<'a, [u8]>, SrtpError> {
    match srtp {
        None => Ok(Cow::Borrowed(datagram)),
        Some(s) if rtcp => s.unprotect_rtcp(datagram).map(Cow::Owned),
        Some(s) => s.unprotect_rtp(datagram).map(Cow::Owned),
    }
}

/// A datagram to send: as it is when the call has no SRTP, else protected
/// as RTP or (`rtcp`) RTCP.
pub fn seal(
    srtp: Option<&mut SrtpStream>,
    datagram: Vec<u8>,
    rtcp: bool,
) -> Result<Vec<u8>, SrtpError> {
    match srtp {
        None => Ok(datagram),
        Some(s) if rtcp => s.protect_rtcp(&datagram),
        Some(s) => s.protect_rtp(&datagram),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(seq: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, 0, 0, 0, 0, 0, 0x03, 0x20, 0xca, 0xfe, 0xba, 0xbe];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    fn pair(suite: Suite) -> (SrtpStream, SrtpStream) {
        let (a, b) = (
            MasterKey::generate().expect("random"),
            MasterKey::generate().expect("random"),
        );
        let ka = SrtpKeys {
            suite,
            local: a.clone(),
            remote: b.clone(),
        };
        let kb = SrtpKeys {
            suite,
            local: b,
            remote: a,
        };
        (
            SrtpStream::new(&ka).expect("keys"),
            SrtpStream::new(&kb).expect("keys"),
        )
    }

    // libsrtp's own known answer (test/srtp_driver.c, `srtp_validate`):
    // the same key, packet and SRTCP packet give the same octets, so what we
    // send is what libsrtp-based phones (baresip, Asterisk, …) expect.
    #[test]
    fn matches_libsrtp_known_answers() {
        let key = MasterKey::from_bytes(&[
            0xe1, 0xf9, 0x7a, 0x0d, 0x3e, 0x01, 0x8b, 0xe0, 0xd6, 0x4f, 0xa3, 0x2c, 0x06, 0xde,
            0x41, 0x39, 0x0e, 0xc6, 0x75, 0xad, 0x49, 0x8a, 0xfe, 0xeb, 0xb6, 0x96, 0x0b, 0x3a,
            0xab, 0xe6,
        ])
        .expect("30 octets");
        let keys = SrtpKeys {
            suite: Suite::AesCm128HmacSha1_80,
            local: key.clone(),
            remote: key,
        };
        let mut s = SrtpStream::new(&keys).expect("keys");
        let mut clear = vec![0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad];
        clear.extend([0xca, 0xfe, 0xba, 0xbe]);
        clear.extend([0xab; 16]);
        let expected: [u8; 38] = [
            0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe, 0x4e, 0x55,
            0xdc, 0x4c, 0xe7, 0x99, 0x78, 0xd8, 0x8c, 0xa4, 0xd2, 0x15, 0x94, 0x9d, 0x24, 0x02,
            0xb7, 0x8d, 0x6a, 0xcc, 0x99, 0xea, 0x17, 0x9b, 0x8d, 0xbb,
        ];
        assert_eq!(s.protect_rtp(&clear).expect("protect"), expected);
        assert_eq!(s.unprotect_rtp(&expected).expect("authentic"), clear);
        let srtcp: [u8; 38] = [
            0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe, 0x71, 0x28, 0x03, 0x5b, 0xe4, 0x87,
            0xb9, 0xbd, 0xbe, 0xf8, 0x90, 0x41, 0xf9, 0x77, 0xa5, 0xa8, 0x80, 0x00, 0x00, 0x01,
            0x99, 0x3e, 0x08, 0xcd, 0x54, 0xd6, 0xc1, 0x23, 0x07, 0x98,
        ];
        let mut rtcp = vec![0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe];
        rtcp.extend([0xab; 16]);
        assert_eq!(s.unprotect_rtcp(&srtcp).expect("authentic"), rtcp);
        assert_eq!(s.protect_rtcp(&rtcp).expect("protect"), srtcp);
    }

    #[test]
    fn both_suites_round_trip_and_hide_the_payload() {
        for suite in Suite::ALL {
            let (mut a, mut b) = pair(suite);
            let payload = [0x55u8; 160];
            let clear = rtp(1, &payload);
            let sealed = a.protect_rtp(&clear).expect("protect");
            assert_eq!(sealed.len(), clear.len() + suite.rtp_overhead());
            assert_eq!(&sealed[..12], &clear[..12], "the header stays clear");
            assert_ne!(&sealed[12..172], &payload[..], "the payload is encrypted");
            assert_eq!(b.unprotect_rtp(&sealed).expect("authentic"), clear);
        }
    }

    #[test]
    fn replays_tampering_and_wrong_keys_are_refused() {
        let (mut a, mut b) = pair(Suite::AesCm128HmacSha1_80);
        let sealed = a.protect_rtp(&rtp(7, b"hello")).expect("protect");
        assert!(b.unprotect_rtp(&sealed).is_ok());
        assert!(matches!(
            b.unprotect_rtp(&sealed),
            Err(SrtpError::Replay { .. })
        ));
        let mut altered = a.protect_rtp(&rtp(8, b"hello")).expect("protect");
        altered[13] ^= 1;
        assert!(matches!(
            b.unprotect_rtp(&altered),
            Err(SrtpError::Auth { .. })
        ));
        let (_, mut stranger) = pair(Suite::AesCm128HmacSha1_80);
        let fresh = a.protect_rtp(&rtp(9, b"hello")).expect("protect");
        assert!(matches!(
            stranger.unprotect_rtp(&fresh),
            Err(SrtpError::Auth { .. })
        ));
        // Short and junk datagrams are errors, not panics.
        for junk in [&[][..], &[0x80][..], &[0x80; 13][..], &[0xff; 40][..]] {
            assert!(b.unprotect_rtp(junk).is_err());
            assert!(b.unprotect_rtcp(junk).is_err());
        }
    }

    #[test]
    fn srtcp_round_trips_and_refuses_replays() {
        let (mut a, mut b) = pair(Suite::AesCm128HmacSha1_32);
        // An RR with no blocks: V=2, PT=201, length 1, SSRC.
        let rr = [0x80, 201, 0, 1, 0xca, 0xfe, 0xba, 0xbe];
        let sealed = a.protect_rtcp(&rr).expect("protect");
        // E flag + 31-bit index, then the 80-bit tag even for _32.
        assert_eq!(sealed.len(), rr.len() + 4 + 10);
        assert_eq!(b.unprotect_rtcp(&sealed).expect("authentic"), rr);
        assert!(matches!(
            b.unprotect_rtcp(&sealed),
            Err(SrtpError::Replay { .. })
        ));
    }

    #[test]
    fn rekeying_restarts_only_the_changed_direction() {
        let (mut a, mut b) = pair(Suite::AesCm128HmacSha1_80);
        for seq in 1..=3 {
            let p = a.protect_rtp(&rtp(seq, b"before")).expect("protect");
            b.unprotect_rtp(&p).expect("authentic");
        }
        // A announces a new key: B's receiving side takes it, B's sending
        // side (and A's receiving side) carry on.
        let fresh = MasterKey::generate().expect("random");
        let mut ka = a.keys.clone();
        ka.local = fresh.clone();
        a.rekey(&ka).expect("keys");
        let mut kb = b.keys.clone();
        kb.remote = fresh;
        b.rekey(&kb).expect("keys");
        let p = a.protect_rtp(&rtp(4, b"after")).expect("protect");
        assert_eq!(b.unprotect_rtp(&p).expect("new key"), rtp(4, b"after"));
        let back = b.protect_rtp(&rtp(100, b"reply")).expect("protect");
        assert!(a.unprotect_rtp(&back).is_ok());
    }

    #[test]
    fn unencrypted_srtcp_is_refused_even_with_a_valid_looking_trailer() {
        let (mut a, mut b) = pair(Suite::AesCm128HmacSha1_80);
        let rr = [0x80, 201, 0, 1, 0xca, 0xfe, 0xba, 0xbe];
        let mut forged = a.protect_rtcp(&rr).expect("protect");
        // Clear the E flag: the library would hand back the first octets
        // without checking the tag.
        let i = forged.len() - 14;
        forged[i] &= 0x7f;
        assert!(matches!(
            b.unprotect_rtcp(&forged),
            Err(SrtpError::Auth { .. })
        ));
        let mut bye = vec![0x81, 203, 0, 1, 0xca, 0xfe, 0xba, 0xbe];
        bye.extend([0, 0, 0, 1]);
        bye.extend([0; 10]);
        assert!(b.unprotect_rtcp(&bye).is_err(), "a forged BYE");
    }

    #[test]
    fn keys_do_not_print() {
        let k = MasterKey::from_bytes(&[0x41; MASTER_LEN]).expect("30 octets");
        let keys = SrtpKeys {
            suite: Suite::AesCm128HmacSha1_80,
            local: k.clone(),
            remote: k,
        };
        let shown = format!("{keys:?}");
        assert!(!shown.contains("65") && !shown.contains("41"), "{shown}");
        assert!(MasterKey::from_bytes(&[0; 29]).is_err());
    }
}
