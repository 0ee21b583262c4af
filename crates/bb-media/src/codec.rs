//! Codec identities for SDP negotiation.
//!
//! [`Codec`] knows its static payload type, clock rate and the `rtpmap` /
//! `fmtp` strings we offer. [`offer`] assigns payload types to our
//! preference list; [`negotiate`] picks the audio codec and the matching
//! telephone-event format from the remote side's formats, already parsed
//! from SDP by the caller (this module never sees SDP text).

use std::fmt;

/// A payload format we can send or receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, static PT 0.
    Pcmu,
    /// G.711 A-law, static PT 8.
    Pcma,
    /// Opus (RFC 7587), always `opus/48000/2` in SDP.
    Opus {
        /// Use in-band FEC (we send it / the peer may).
        fec: bool,
        /// Use DTX.
        dtx: bool,
        /// Highest useful sample rate (`maxplaybackrate`).
        max_playback_rate: u32,
    },
    /// RFC 4733 telephone-events at a clock rate matching the audio codec.
    TelephoneEvent {
        /// Clock rate (8000 with G.711, 48000 with Opus).
        clock_rate: u32,
    },
}

impl Codec {
    /// Opus with FEC, no DTX, full band.
    pub const OPUS: Codec = Codec::Opus {
        fec: true,
        dtx: false,
        max_playback_rate: 48_000,
    };

    /// The static payload type, if the codec has one.
    pub fn static_payload_type(&self) -> Option<u8> {
        match self {
            Codec::Pcmu => Some(0),
            Codec::Pcma => Some(8),
            _ => None,
        }
    }

    /// Encoding name as in `rtpmap`.
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::Opus { .. } => "opus",
            Codec::TelephoneEvent { .. } => "telephone-event",
        }
    }

    /// RTP clock rate.
    pub fn clock_rate(&self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma => 8000,
            Codec::Opus { .. } => 48_000,
            Codec::TelephoneEvent { clock_rate } => *clock_rate,
        }
    }

    /// Rate the audio is actually coded at (Opus: `maxplaybackrate` rounded
    /// down to 8, 16 or 48 kHz).
    pub fn sample_rate(&self) -> u32 {
        match self {
            Codec::Opus {
                max_playback_rate, ..
            } => match max_playback_rate {
                0..16_000 => 8000,
                16_000..48_000 => 16_000,
                _ => 48_000,
            },
            other => other.clock_rate(),
        }
    }

    /// True for audio codecs (not telephone-event).
    pub fn is_audio(&self) -> bool {
        !matches!(self, Codec::TelephoneEvent { .. })
    }

    /// The `rtpmap` value after the payload type, e.g. `opus/48000/2`.
    pub fn rtpmap(&self) -> String {
        match self {
            Codec::Opus { .. } => "opus/48000/2".to_owned(),
            c => format!("{}/{}", c.encoding_name(), c.clock_rate()),
        }
    }

    /// The `fmtp` value we offer, if any.
    pub fn fmtp(&self) -> Option<String> {
        match self {
            Codec::Pcmu | Codec::Pcma => None,
            Codec::Opus {
                fec,
                dtx,
                max_playback_rate,
            } => {
                let mut s = format!("minptime=10;useinbandfec={}", u8::from(*fec));
                if *dtx {
                    s.push_str(";usedtx=1");
                }
                if *max_playback_rate < 48_000 {
                    s.push_str(&format!(";maxplaybackrate={max_playback_rate}"));
                }
                Some(s)
            }
            Codec::TelephoneEvent { .. } => Some("0-16".to_owned()),
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rtpmap())
    }
}

/// Negotiation and parsing failures.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// An `rtpmap` value that is not `name/rate[/channels]`.
    #[error("rtpmap {0:?} is not name/rate[/channels]")]
    BadRtpMap(String),
    /// No audio format in common.
    #[error("no common audio codec: we support {ours}, the peer offered {theirs}")]
    NoCommonCodec {
        /// Our list.
        ours: String,
        /// Their list.
        theirs: String,
    },
}

/// A parsed `a=rtpmap` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpMap {
    /// Encoding name as written.
    pub encoding: String,
    /// Clock rate.
    pub clock_rate: u32,
    /// Channel count, if given.
    pub channels: Option<u8>,
}

impl RtpMap {
    /// Parses `PCMU/8000`, `opus/48000/2` and the like.
    pub fn parse(s: &str) -> Result<RtpMap, CodecError> {
        let bad = || CodecError::BadRtpMap(s.to_owned());
        let mut it = s.trim().split('/');
        let encoding = it.next().filter(|e| !e.is_empty()).ok_or_else(bad)?;
        let clock_rate = it.next().and_then(|r| r.parse().ok()).ok_or_else(bad)?;
        let channels = match it.next() {
            Some(c) => Some(c.parse().map_err(|_| bad())?),
            None => None,
        };
        if it.next().is_some() {
            return Err(bad());
        }
        Ok(RtpMap {
            encoding: encoding.to_owned(),
            clock_rate,
            channels,
        })
    }
}

/// One format from the remote SDP: payload type, and its `rtpmap` and
/// `fmtp` values when present.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteFormat {
    /// Payload type.
    pub pt: u8,
    /// Parsed `rtpmap` (absent for static types is fine).
    pub rtpmap: Option<RtpMap>,
    /// Raw `fmtp` parameters.
    pub fmtp: Option<String>,
}

impl RemoteFormat {
    /// Convenience constructor from strings; an unparsable `rtpmap` is
    /// treated as absent.
    pub fn new(pt: u8, rtpmap: Option<&str>, fmtp: Option<&str>) -> RemoteFormat {
        RemoteFormat {
            pt,
            rtpmap: rtpmap.and_then(|r| RtpMap::parse(r).ok()),
            fmtp: fmtp.map(str::to_owned),
        }
    }
}

/// Which side's order decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We received an offer and answer it: our preference order decides.
    Answerer,
    /// We sent the offer and read the answer: the answerer's order decides.
    Offerer,
}

/// The outcome of negotiation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// Audio codec (Opus parameters merged from both sides).
    pub audio: Codec,
    /// Its payload type (the remote's number).
    pub audio_pt: u8,
    /// Telephone-event payload type at the audio clock rate, if the peer
    /// supports DTMF digits 0-15.
    pub dtmf_pt: Option<u8>,
}

/// Assigns payload types to `prefs` for an offer: static types for G.711,
/// 101 for the first telephone-event (the usual number), 96 upwards for the
/// rest.
pub fn offer(prefs: &[Codec]) -> Vec<(u8, Codec)> {
    let mut used: Vec<u8> = prefs
        .iter()
        .filter_map(Codec::static_payload_type)
        .collect();
    let mut out = Vec::new();
    for c in prefs {
        let pt = match c.static_payload_type() {
            Some(pt) => pt,
            None => {
                let wanted = matches!(c, Codec::TelephoneEvent { .. }) && !used.contains(&101);
                let pt = if wanted {
                    101
                } else {
                    (96..=127u8)
                        .find(|p| !used.contains(p) && *p != 101)
                        .unwrap_or(127)
                };
                used.push(pt);
                pt
            }
        };
        out.push((pt, *c));
    }
    out
}

fn fmtp_param<'a>(fmtp: &'a str, key: &str) -> Option<&'a str> {
    fmtp.split(';').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        k.trim().eq_ignore_ascii_case(key).then(|| v.trim())
    })
}

/// True if an RFC 4733 event list (`0-15,16`) covers all DTMF digits.
fn covers_dtmf(events: Option<&str>) -> bool {
    let Some(list) = events else {
        return true; // RFC 4733: absent fmtp means 0-15
    };
    let mut have = [false; 16];
    for part in list.split(',') {
        let part = part.trim();
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u8>(), b.trim().parse::<u8>()),
            None => (part.parse::<u8>(), part.parse::<u8>()),
        };
        if let (Ok(lo), Ok(hi)) = (lo, hi) {
            for e in lo..=hi.min(15) {
                have[e as usize] = true;
            }
        }
    }
    have.iter().all(|&h| h)
}

/// What the remote format is, if we know it.
fn identify(f: &RemoteFormat) -> Option<Codec> {
    match &f.rtpmap {
        None => match f.pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        },
        Some(m) => {
            let name = m.encoding.to_ascii_lowercase();
            match (name.as_str(), m.clock_rate, m.channels) {
                ("pcmu", 8000, None | Some(1)) => Some(Codec::Pcmu),
                ("pcma", 8000, None | Some(1)) => Some(Codec::Pcma),
                ("opus", 48_000, Some(2)) => {
                    let p = |k| f.fmtp.as_deref().and_then(|s| fmtp_param(s, k));
                    Some(Codec::Opus {
                        fec: p("useinbandfec") == Some("1"),
                        dtx: p("usedtx") == Some("1"),
                        max_playback_rate: p("maxplaybackrate")
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(48_000),
                    })
                }
                ("telephone-event", rate, _) if covers_dtmf(f.fmtp.as_deref()) => {
                    Some(Codec::TelephoneEvent { clock_rate: rate })
                }
                _ => None,
            }
        }
    }
}

fn same_kind(a: &Codec, b: &Codec) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// Chooses the audio codec and DTMF format from the remote formats.
///
/// Opus parameters are merged: FEC and DTX only if both sides want them,
/// the lower `maxplaybackrate`. Telephone-event must match the chosen audio
/// clock rate and cover digits 0-15.
pub fn negotiate(
    prefs: &[Codec],
    remote: &[RemoteFormat],
    role: Role,
) -> Result<Negotiated, CodecError> {
    let theirs: Vec<(u8, Codec)> = remote
        .iter()
        .filter_map(|f| identify(f).map(|c| (f.pt, c)))
        .collect();
    let ours_audio: Vec<&Codec> = prefs.iter().filter(|c| c.is_audio()).collect();
    let pick = match role {
        Role::Answerer => ours_audio.iter().find_map(|o| {
            theirs
                .iter()
                .find(|(_, t)| same_kind(o, t))
                .map(|(pt, t)| (*pt, **o, *t))
        }),
        Role::Offerer => theirs
            .iter()
            .filter(|(_, t)| t.is_audio())
            .find_map(|(pt, t)| {
                ours_audio
                    .iter()
                    .find(|o| same_kind(o, t))
                    .map(|o| (*pt, **o, *t))
            }),
    };
    let Some((audio_pt, ours, theirs_codec)) = pick else {
        let list = |v: Vec<String>| {
            if v.is_empty() {
                "nothing".to_owned()
            } else {
                v.join(", ")
            }
        };
        return Err(CodecError::NoCommonCodec {
            ours: list(ours_audio.iter().map(|c| c.rtpmap()).collect()),
            theirs: list(
                remote
                    .iter()
                    .map(|f| match &f.rtpmap {
                        Some(m) => format!("{} {}/{}", f.pt, m.encoding, m.clock_rate),
                        None => f.pt.to_string(),
                    })
                    .collect(),
            ),
        });
    };
    let audio = match (ours, theirs_codec) {
        (
            Codec::Opus {
                fec: f1,
                dtx: d1,
                max_playback_rate: m1,
            },
            Codec::Opus {
                fec: f2,
                dtx: d2,
                max_playback_rate: m2,
            },
        ) => Codec::Opus {
            fec: f1 && f2,
            dtx: d1 && d2,
            max_playback_rate: m1.min(m2),
        },
        (o, _) => o,
    };
    let want_dtmf = prefs
        .iter()
        .any(|c| matches!(c, Codec::TelephoneEvent { .. }));
    let dtmf_pt = want_dtmf
        .then(|| {
            theirs.iter().find_map(|(pt, t)| match t {
                Codec::TelephoneEvent { clock_rate } if *clock_rate == audio.clock_rate() => {
                    Some(*pt)
                }
                _ => None,
            })
        })
        .flatten();
    Ok(Negotiated {
        audio,
        audio_pt,
        dtmf_pt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TE8: Codec = Codec::TelephoneEvent { clock_rate: 8000 };
    const TE48: Codec = Codec::TelephoneEvent { clock_rate: 48_000 };

    #[test]
    fn sdp_strings() {
        assert_eq!(Codec::Pcmu.rtpmap(), "PCMU/8000");
        assert_eq!(Codec::Pcma.rtpmap(), "PCMA/8000");
        assert_eq!(Codec::OPUS.rtpmap(), "opus/48000/2");
        assert_eq!(TE8.rtpmap(), "telephone-event/8000");
        assert_eq!(TE8.fmtp().as_deref(), Some("0-16"));
        assert_eq!(
            Codec::OPUS.fmtp().as_deref(),
            Some("minptime=10;useinbandfec=1")
        );
        let narrow = Codec::Opus {
            fec: false,
            dtx: true,
            max_playback_rate: 16_000,
        };
        assert_eq!(
            narrow.fmtp().as_deref(),
            Some("minptime=10;useinbandfec=0;usedtx=1;maxplaybackrate=16000")
        );
        assert_eq!(narrow.sample_rate(), 16_000);
        assert_eq!(Codec::Pcmu.fmtp(), None);
        assert_eq!(
            (
                Codec::Pcmu.static_payload_type(),
                Codec::Pcma.static_payload_type()
            ),
            (Some(0), Some(8))
        );
        assert_eq!(Codec::OPUS.clock_rate(), 48_000);
    }

    #[test]
    fn offer_assigns_payload_types() {
        let o = offer(&[Codec::OPUS, Codec::Pcmu, Codec::Pcma, TE48, TE8]);
        let pts: Vec<u8> = o.iter().map(|(pt, _)| *pt).collect();
        assert_eq!(pts, vec![96, 0, 8, 101, 97]);
    }

    #[test]
    fn rtpmap_parsing() {
        assert_eq!(
            RtpMap::parse("opus/48000/2"),
            Ok(RtpMap {
                encoding: "opus".into(),
                clock_rate: 48_000,
                channels: Some(2)
            })
        );
        assert!(RtpMap::parse("PCMU").is_err());
        assert!(RtpMap::parse("PCMU/abc").is_err());
        assert!(RtpMap::parse("/8000").is_err());
        assert!(RtpMap::parse("a/1/2/3").is_err());
    }

    #[test]
    fn answerer_uses_our_order() {
        let remote = [
            RemoteFormat::new(0, None, None),
            RemoteFormat::new(8, None, None),
            RemoteFormat::new(
                111,
                Some("opus/48000/2"),
                Some("minptime=10; useinbandfec=1; maxplaybackrate=16000"),
            ),
            RemoteFormat::new(101, Some("telephone-event/8000"), Some("0-15")),
            RemoteFormat::new(110, Some("telephone-event/48000"), Some("0-16")),
        ];
        let n = negotiate(&[Codec::Pcma, Codec::Pcmu, TE8], &remote, Role::Answerer)
            .expect("common codec");
        assert_eq!(
            (n.audio, n.audio_pt, n.dtmf_pt),
            (Codec::Pcma, 8, Some(101))
        );
        let n = negotiate(
            &[Codec::OPUS, Codec::Pcmu, TE8, TE48],
            &remote,
            Role::Answerer,
        )
        .expect("common codec");
        assert_eq!(
            n.audio,
            Codec::Opus {
                fec: true,
                dtx: false,
                max_playback_rate: 16_000
            }
        );
        assert_eq!((n.audio_pt, n.dtmf_pt), (111, Some(110)));
        // We did not ask for DTMF: none.
        let n = negotiate(&[Codec::Pcmu], &remote, Role::Answerer).expect("common codec");
        assert_eq!(n.dtmf_pt, None);
    }

    #[test]
    fn offerer_follows_the_answer_order() {
        let answer = [
            RemoteFormat::new(8, Some("PCMA/8000"), None),
            RemoteFormat::new(0, Some("pcmu/8000"), None),
            RemoteFormat::new(96, Some("telephone-event/8000"), None),
        ];
        let n = negotiate(&[Codec::Pcmu, Codec::Pcma, TE8], &answer, Role::Offerer)
            .expect("common codec");
        assert_eq!((n.audio, n.audio_pt, n.dtmf_pt), (Codec::Pcma, 8, Some(96)));
    }

    #[test]
    fn dtmf_needs_matching_rate_and_digits() {
        let remote = [
            RemoteFormat::new(111, Some("opus/48000/2"), None),
            RemoteFormat::new(101, Some("telephone-event/8000"), None),
        ];
        let n = negotiate(&[Codec::OPUS, TE8, TE48], &remote, Role::Answerer).expect("opus");
        assert_eq!(n.dtmf_pt, None, "8 kHz events cannot ride a 48 kHz stream");
        assert_eq!(
            n.audio,
            Codec::Opus {
                fec: false,
                dtx: false,
                max_playback_rate: 48_000
            }
        );
        let remote = [
            RemoteFormat::new(0, None, None),
            RemoteFormat::new(101, Some("telephone-event/8000"), Some("0-11")),
        ];
        let n = negotiate(&[Codec::Pcmu, TE8], &remote, Role::Answerer).expect("pcmu");
        assert_eq!(n.dtmf_pt, None, "A-D missing");
        assert!(covers_dtmf(Some("0-9,10,11,12-15,16")));
        assert!(!covers_dtmf(Some("junk")));
    }

    #[test]
    fn no_common_codec_names_both_sides() {
        let remote = [
            RemoteFormat::new(18, None, None),
            RemoteFormat::new(97, Some("iLBC/8000"), None),
            RemoteFormat::new(98, Some("opus/48000/1"), None),
        ];
        let e = negotiate(&[Codec::Pcmu, Codec::OPUS], &remote, Role::Answerer)
            .expect_err("nothing in common");
        assert_eq!(
            e.to_string(),
            "no common audio codec: we support PCMU/8000, opus/48000/2, the peer offered 18, 97 iLBC/8000, 98 opus/48000"
        );
    }
}
