//! The audio-only SDP that the softphone and the simulator exchange
//! (RFC 3264 offer/answer, RFC 4566 syntax), parsed and written with the `sdp`
//! crate.
//!
//! [`AudioSdp`] holds what a telephony leg needs: where to send RTP, which
//! payload formats in which order, and the direction (hold is `sendonly` or
//! `inactive`, or the old `c=0.0.0.0` form, RFC 3264 section 8.4), and the
//! SRTP keys of SDES (`RTP/SAVP` and `a=crypto`, see [`crate::sdes`]).

use std::io::Cursor;
use std::net::IpAddr;

use sdp::description::common::{Address, Attribute, ConnectionInformation};
use sdp::description::media::{MediaDescription, MediaName, RangedPort};
use sdp::description::session::{Origin, SessionDescription, TimeDescription, Timing};

use crate::sdes::Crypto;

/// Media direction attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `a=sendrecv` (the default)
    SendRecv,
    /// `a=sendonly`
    SendOnly,
    /// `a=recvonly`
    RecvOnly,
    /// `a=inactive`
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction an answerer uses for an offer with `self` (RFC 3264 section 6.1).
    pub fn answer_to(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }

    /// Whether this side sends media in this direction.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether this side receives media in this direction.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
}

/// One payload format of the audio m-line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    /// RTP payload type.
    pub pt: u8,
    /// Encoding name as written (`PCMU`, `opus`, `telephone-event`).
    pub name: String,
    /// Clock rate in Hz.
    pub rate: u32,
    /// Channels, when given (`opus/48000/2`).
    pub channels: Option<u8>,
    /// The `a=fmtp` parameters, when given.
    pub fmtp: Option<String>,
}

impl Format {
    /// A static or dynamic format.
    pub fn new(pt: u8, name: &str, rate: u32, channels: Option<u8>, fmtp: Option<&str>) -> Self {
        Format {
            pt,
            name: name.to_string(),
            rate,
            channels,
            fmtp: fmtp.map(str::to_string),
        }
    }

    fn static_pt(pt: u8) -> Option<Format> {
        match pt {
            0 => Some(Format::new(0, "PCMU", 8000, None, None)),
            8 => Some(Format::new(8, "PCMA", 8000, None, None)),
            9 => Some(Format::new(9, "G722", 8000, None, None)),
            18 => Some(Format::new(18, "G729", 8000, None, None)),
            _ => None,
        }
    }
}

/// An audio session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioSdp {
    /// Connection address for RTP.
    pub addr: IpAddr,
    /// RTP port (0 means the stream is rejected).
    pub port: u16,
    /// Formats in preference order.
    pub formats: Vec<Format>,
    /// Direction of the audio stream.
    pub direction: Direction,
    /// Packetisation time in ms, when given.
    pub ptime: Option<u32>,
    /// The m-line's profile is `RTP/SAVP` (SRTP only), not `RTP/AVP`.
    pub secure: bool,
    /// SDES keys (`a=crypto`) in the order written; lines that do not parse
    /// are left out.
    pub crypto: Vec<Crypto>,
}

/// Why an SDP body could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// The body is not SDP at all.
    #[error("SDP does not parse: {0}")]
    Syntax(String),
    /// There is no `m=audio` line.
    #[error("SDP has no audio stream (m=audio)")]
    NoAudio,
    /// No usable connection address.
    #[error("SDP audio stream has no usable connection address (c=)")]
    NoAddress,
    /// The port is out of range.
    #[error("SDP audio port '{0}' is out of range")]
    BadPort(isize),
}

impl AudioSdp {
    /// Parses the first audio stream of an SDP body.
    pub fn parse(body: &[u8]) -> Result<AudioSdp, SdpError> {
        let mut cursor = Cursor::new(body);
        let sd = SessionDescription::unmarshal(&mut cursor)
            .map_err(|e| SdpError::Syntax(e.to_string()))?;
        let md = sd
            .media_descriptions
            .iter()
            .find(|m| m.media_name.media == "audio")
            .ok_or(SdpError::NoAudio)?;
        let conn = md
            .connection_information
            .as_ref()
            .or(sd.connection_information.as_ref())
            .and_then(|c| c.address.as_ref())
            .ok_or(SdpError::NoAddress)?;
        let addr: IpAddr = conn
            .address
            .split('/')
            .next()
            .and_then(|a| a.parse().ok())
            .ok_or(SdpError::NoAddress)?;
        let port = md.media_name.port.value;
        let port = u16::try_from(port).map_err(|_| SdpError::BadPort(port))?;

        let mut formats = Vec::new();
        for f in &md.media_name.formats {
            let Ok(pt) = f.parse::<u8>() else { continue };
            let rtpmap = md.attributes.iter().find_map(|a| {
                let v = a.value.as_deref()?;
                (a.key == "rtpmap")
                    .then(|| v.split_once(' '))
                    .flatten()
                    .filter(|(p, _)| p.trim() == f)
                    .map(|(_, enc)| enc.trim().to_string())
            });
            let fmtp = md.attributes.iter().find_map(|a| {
                let v = a.value.as_deref()?;
                (a.key == "fmtp")
                    .then(|| v.split_once(' '))
                    .flatten()
                    .filter(|(p, _)| p.trim() == f)
                    .map(|(_, params)| params.trim().to_string())
            });
            let format = match rtpmap {
                Some(enc) => {
                    let mut parts = enc.split('/');
                    let name = parts.next().unwrap_or_default().to_string();
                    let rate = parts.next().and_then(|r| r.parse().ok()).unwrap_or(8000);
                    let channels = parts.next().and_then(|c| c.parse().ok());
                    Some(Format {
                        pt,
                        name,
                        rate,
                        channels,
                        fmtp: None,
                    })
                }
                None => Format::static_pt(pt),
            };
            if let Some(mut format) = format {
                format.fmtp = fmtp;
                formats.push(format);
            }
        }

        let find_dir = |attrs: &[Attribute]| {
            attrs.iter().find_map(|a| match a.key.as_str() {
                "sendrecv" => Some(Direction::SendRecv),
                "sendonly" => Some(Direction::SendOnly),
                "recvonly" => Some(Direction::RecvOnly),
                "inactive" => Some(Direction::Inactive),
                _ => None,
            })
        };
        let mut direction = find_dir(&md.attributes)
            .or_else(|| find_dir(&sd.attributes))
            .unwrap_or(Direction::SendRecv);
        // RFC 2543 hold: c=0.0.0.0 means "do not send to me".
        if addr.is_unspecified() && direction == Direction::SendRecv {
            direction = Direction::SendOnly;
        }
        let ptime = md
            .attributes
            .iter()
            .find(|a| a.key == "ptime")
            .and_then(|a| a.value.as_deref())
            .and_then(|v| v.trim().parse().ok());
        let secure = md.media_name.protos.iter().any(|p| p == "SAVP");
        let crypto = md
            .attributes
            .iter()
            .filter(|a| a.key == "crypto")
            .filter_map(|a| Crypto::parse(a.value.as_deref()?))
            .collect();
        Ok(AudioSdp {
            addr,
            port,
            formats,
            direction,
            ptime,
            secure,
            crypto,
        })
    }

    /// Writes the description; `session_id` stays fixed for a call and
    /// `version` grows with each new offer or answer (RFC 3264 section 8).
    pub fn render(&self, session_id: u64, version: u64) -> String {
        let addr_type = if self.addr.is_ipv4() { "IP4" } else { "IP6" };
        let mut attributes = Vec::new();
        for f in &self.formats {
            let enc = match f.channels {
                Some(c) => format!("{} {}/{}/{}", f.pt, f.name, f.rate, c),
                None => format!("{} {}/{}", f.pt, f.name, f.rate),
            };
            attributes.push(Attribute {
                key: "rtpmap".into(),
                value: Some(enc),
            });
            if let Some(fmtp) = &f.fmtp {
                attributes.push(Attribute {
                    key: "fmtp".into(),
                    value: Some(format!("{} {}", f.pt, fmtp)),
                });
            }
        }
        if let Some(ptime) = self.ptime {
            attributes.push(Attribute {
                key: "ptime".into(),
                value: Some(ptime.to_string()),
            });
        }
        attributes.push(Attribute {
            key: self.direction.as_str().into(),
            value: None,
        });
        for c in &self.crypto {
            attributes.push(Attribute {
                key: "crypto".into(),
                value: Some(c.render()),
            });
        }
        let sd = SessionDescription {
            version: 0,
            origin: Origin {
                username: "-".into(),
                session_id,
                session_version: version,
                network_type: "IN".into(),
                address_type: addr_type.into(),
                unicast_address: self.addr.to_string(),
            },
            session_name: "bluebean".into(),
            connection_information: Some(ConnectionInformation {
                network_type: "IN".into(),
                address_type: addr_type.into(),
                address: Some(Address {
                    address: self.addr.to_string(),
                    ttl: None,
                    range: None,
                }),
            }),
            time_descriptions: vec![TimeDescription {
                timing: Timing {
                    start_time: 0,
                    stop_time: 0,
                },
                repeat_times: vec![],
            }],
            media_descriptions: vec![MediaDescription {
                media_name: MediaName {
                    media: "audio".into(),
                    port: RangedPort {
                        value: self.port as isize, // u16 always fits in isize
                        range: None,
                    },
                    protos: vec![
                        "RTP".into(),
                        if self.secure { "SAVP" } else { "AVP" }.into(),
                    ],
                    formats: self.formats.iter().map(|f| f.pt.to_string()).collect(),
                },
                media_title: None,
                connection_information: None,
                bandwidth: vec![],
                encryption_key: None,
                attributes,
            }],
            ..Default::default()
        };
        sd.marshal()
    }

    /// Whether this description puts the stream on hold as seen from its sender
    /// (it will not receive: `sendonly`, `inactive` or `c=0.0.0.0`).
    pub fn is_hold(&self) -> bool {
        !self.direction.receives()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AudioSdp {
        AudioSdp {
            addr: "127.0.0.1".parse().expect("literal"),
            port: 40000,
            formats: vec![
                Format::new(0, "PCMU", 8000, None, None),
                Format::new(111, "opus", 48000, Some(2), Some("useinbandfec=1")),
                Format::new(101, "telephone-event", 8000, None, Some("0-16")),
            ],
            direction: Direction::SendRecv,
            ptime: Some(20),
            secure: false,
            crypto: vec![],
        }
    }

    #[test]
    fn render_then_parse_round_trips() {
        let s = sample();
        let text = s.render(42, 1);
        assert!(
            text.contains("m=audio 40000 RTP/AVP 0 111 101\r\n"),
            "{text}"
        );
        assert!(text.contains("a=rtpmap:111 opus/48000/2\r\n"));
        assert!(text.contains("a=fmtp:101 0-16\r\n"));
        assert_eq!(AudioSdp::parse(text.as_bytes()).expect("parses"), s);
    }

    #[test]
    fn srtp_profile_and_keys_round_trip() {
        let mut s = sample();
        s.secure = true;
        s.crypto = vec![
            Crypto::new(
                1,
                "AES_CM_128_HMAC_SHA1_80",
                crate::sdes::SdesKey::new(&[7; 30]),
            ),
            Crypto::new(
                2,
                "AES_CM_128_HMAC_SHA1_32",
                crate::sdes::SdesKey::new(&[9; 30]),
            ),
        ];
        let text = s.render(42, 1);
        assert!(
            text.contains("m=audio 40000 RTP/SAVP 0 111 101\r\n"),
            "{text}"
        );
        assert!(
            text.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:BwcH"),
            "{text}"
        );
        assert_eq!(AudioSdp::parse(text.as_bytes()).expect("parses"), s);
        // A broken line is left out; the good one stays.
        let text = text.replace(
            "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:",
            "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:*",
        );
        let p = AudioSdp::parse(text.as_bytes()).expect("parses");
        assert_eq!(p.crypto.len(), 1);
    }

    #[test]
    fn static_payloads_without_rtpmap_and_old_style_hold() {
        let body = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8 0\r\n";
        let s = AudioSdp::parse(body.as_bytes()).expect("parses");
        assert_eq!(s.formats[0].name, "PCMA");
        assert_eq!(s.formats[1].name, "PCMU");
        assert!(s.is_hold());
    }

    #[test]
    fn errors_are_typed() {
        assert!(matches!(
            AudioSdp::parse(b"hello"),
            Err(SdpError::Syntax(_))
        ));
        let video = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=video 4000 RTP/AVP 96\r\n";
        assert_eq!(AudioSdp::parse(video.as_bytes()), Err(SdpError::NoAudio));
    }

    #[test]
    fn answer_directions() {
        assert_eq!(Direction::SendOnly.answer_to(), Direction::RecvOnly);
        assert_eq!(Direction::Inactive.answer_to(), Direction::Inactive);
    }
}
