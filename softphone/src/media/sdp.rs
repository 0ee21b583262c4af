//! Offer/answer glue between the SDP model (`bb_sip::sdp`) and codec
//! negotiation (`bb_media::codec`): what we offer, what we answer, and the
//! [`StreamParams`] a call's media runs with once both descriptions are
//! known (SRTP keys are `bb_sip::sdes`'s and `sip_ua::leg_media`'s). Pure
//! functions; the SIP driver calls them.

use std::net::SocketAddr;

use bb_media::codec::{self, Codec, CodecError, Negotiated, RemoteFormat, Role};
use bb_media::opus::FrameDuration;
use bb_sip::sdp::{AudioSdp, Direction, Format};

use super::core::StreamParams;
use super::settings::AudioSettings;

fn format_of(pt: u8, c: &Codec) -> Format {
    let channels = matches!(c, Codec::Opus { .. }).then_some(2);
    Format::new(
        pt,
        c.encoding_name(),
        c.clock_rate(),
        channels,
        c.fmtp().as_deref(),
    )
}

/// The formats of our offer, in preference order, with payload types
/// assigned by [`codec::offer`].
pub fn offer_formats(settings: &AudioSettings) -> Vec<Format> {
    codec::offer(&settings.preferences())
        .iter()
        .map(|(pt, c)| format_of(*pt, c))
        .collect()
}

/// The peer's formats as negotiation reads them.
pub fn remote_formats(sdp: &AudioSdp) -> Vec<RemoteFormat> {
    sdp.formats
        .iter()
        .map(|f| {
            let rtpmap = match f.channels {
                Some(ch) => format!("{}/{}/{}", f.name, f.rate, ch),
                None => format!("{}/{}", f.name, f.rate),
            };
            RemoteFormat::new(f.pt, Some(&rtpmap), f.fmtp.as_deref())
        })
        .collect()
}

/// Negotiates against the peer's description.
pub fn negotiate(
    settings: &AudioSettings,
    remote: &AudioSdp,
    role: Role,
) -> Result<Negotiated, CodecError> {
    codec::negotiate(&settings.preferences(), &remote_formats(remote), role)
}

/// Our codec of the same kind as `c` (what we ask for in our own SDP).
fn ours_like(settings: &AudioSettings, c: &Codec) -> Codec {
    settings
        .codecs
        .iter()
        .find(|o| o.encoding_name() == c.encoding_name())
        .copied()
        .unwrap_or(*c)
}

/// The formats of our answer to `offer`: the negotiated codec under the
/// offerer's payload type (with our own fmtp), then telephone-event if both
/// sides have it.
pub fn answer_formats(settings: &AudioSettings, n: &Negotiated) -> Vec<Format> {
    let mut v = vec![format_of(n.audio_pt, &ours_like(settings, &n.audio))];
    if let Some(pt) = n.dtmf_pt {
        v.push(format_of(
            pt,
            &Codec::TelephoneEvent {
                clock_rate: n.audio.clock_rate(),
            },
        ));
    }
    v
}

/// Our own formats reduced to the negotiated codec and its
/// telephone-event, keeping our payload type numbers (for later offers, and
/// because the peer sends to us with the numbers of our offer).
pub fn narrow(ours: &[Format], n: &Negotiated) -> Vec<Format> {
    let rate = n.audio.clock_rate();
    let kept: Vec<Format> = ours
        .iter()
        .filter(|f| {
            (f.name.eq_ignore_ascii_case(n.audio.encoding_name()) && f.rate == rate)
                || (n.dtmf_pt.is_some()
                    && f.name.eq_ignore_ascii_case("telephone-event")
                    && f.rate == rate)
        })
        .cloned()
        .collect();
    if kept
        .iter()
        .any(|f| !f.name.eq_ignore_ascii_case("telephone-event"))
    {
        kept
    } else {
        ours.to_vec()
    }
}

/// The packet time a description asks for, if it is one we packetise.
fn ptime_of(sdp: &AudioSdp) -> Option<FrameDuration> {
    match sdp.ptime {
        Some(10) => Some(FrameDuration::Ms10),
        Some(20) => Some(FrameDuration::Ms20),
        _ => None,
    }
}

/// The payload type we advertised for a codec of `c`'s kind, if any.
fn our_pt(local: &[Format], c: &Codec) -> Option<u8> {
    local
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(c.encoding_name()) && f.rate == c.clock_rate())
        .map(|f| f.pt)
}

/// The media parameters once our last description (`local`, its formats
/// and direction) and the peer's (`remote`) are known.
///
/// We send when both directions allow it and the peer gave an address; we
/// receive when both allow it. `muted` (we hold the peer) sends silence,
/// never the microphone. RTCP goes to the peer's RTP port + 1 (RFC 3550; we
/// do not offer rtcp-mux, but accept RTCP arriving on the RTP port).
pub fn stream_params(
    settings: &AudioSettings,
    local_formats: &[Format],
    local_dir: Direction,
    remote: &AudioSdp,
    n: &Negotiated,
    muted: bool,
) -> StreamParams {
    let reachable = remote.port != 0 && !remote.addr.is_unspecified();
    let remote_rtp = reachable.then(|| SocketAddr::new(remote.addr, remote.port));
    let remote_rtcp =
        remote_rtp.and_then(|a| a.port().checked_add(1).map(|p| SocketAddr::new(a.ip(), p)));
    let mut recv_pts = vec![n.audio_pt];
    if let Some(pt) = our_pt(local_formats, &n.audio)
        && !recv_pts.contains(&pt)
    {
        recv_pts.push(pt);
    }
    let te = Codec::TelephoneEvent {
        clock_rate: n.audio.clock_rate(),
    };
    let mut dtmf_recv_pts: Vec<u8> = n.dtmf_pt.into_iter().collect();
    if let Some(pt) = our_pt(local_formats, &te)
        && !dtmf_recv_pts.contains(&pt)
    {
        dtmf_recv_pts.push(pt);
    }
    StreamParams {
        codec: n.audio,
        send_pt: n.audio_pt,
        recv_pts,
        dtmf_send_pt: n.dtmf_pt,
        dtmf_recv_pts,
        remote_rtp,
        remote_rtcp,
        send: local_dir.sends() && remote.direction.receives() && reachable,
        recv: local_dir.receives() && remote.direction.sends(),
        send_ptime: ptime_of(remote).unwrap_or(settings.ptime),
        recv_ptime: settings.ptime,
        muted,
        opus_bitrate: settings.opus_bitrate,
        srtp: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Audio;

    fn settings(codecs: &[&str]) -> AudioSettings {
        AudioSettings::from_raw(
            &Audio {
                codecs: codecs.iter().map(|s| s.to_string()).collect(),
                ..Audio::default()
            },
            std::path::Path::new("x.toml"),
        )
        .expect("valid")
    }

    fn sdp(formats: Vec<Format>, direction: Direction) -> AudioSdp {
        AudioSdp {
            addr: "127.0.0.1".parse().expect("literal"),
            port: 4000,
            formats,
            direction,
            ptime: None,
            secure: false,
            crypto: vec![],
        }
    }

    #[test]
    fn offer_lists_codecs_in_order_with_telephone_events() {
        let f = offer_formats(&settings(&["opus", "PCMU", "PCMA"]));
        let names: Vec<String> = f
            .iter()
            .map(|f| format!("{} {}/{}", f.pt, f.name, f.rate))
            .collect();
        assert_eq!(
            names,
            [
                "96 opus/48000",
                "0 PCMU/8000",
                "8 PCMA/8000",
                "101 telephone-event/48000",
                "97 telephone-event/8000"
            ]
        );
        assert_eq!(f[0].channels, Some(2));
        assert_eq!(f[0].fmtp.as_deref(), Some("minptime=10;useinbandfec=1"));
    }

    #[test]
    fn answer_follows_our_order_and_keeps_the_offerers_numbers() {
        let s = settings(&["PCMA", "PCMU"]);
        let offer = sdp(
            vec![
                Format::new(9, "G722", 8000, None, None),
                Format::new(0, "PCMU", 8000, None, None),
                Format::new(8, "PCMA", 8000, None, None),
                Format::new(96, "telephone-event", 8000, None, Some("0-15")),
            ],
            Direction::SendRecv,
        );
        let n = negotiate(&s, &offer, Role::Answerer).expect("shared codec");
        let a = answer_formats(&s, &n);
        assert_eq!((a[0].pt, a[0].name.as_str()), (8, "PCMA"));
        assert_eq!((a[1].pt, a[1].name.as_str()), (96, "telephone-event"));
        let p = stream_params(&s, &a, Direction::SendRecv, &offer, &n, false);
        assert_eq!((p.send_pt, p.dtmf_send_pt), (8, Some(96)));
        assert!(p.send && p.recv);
        assert_eq!(
            p.remote_rtcp,
            Some("127.0.0.1:4001".parse().expect("literal"))
        );
        let g722 = sdp(
            vec![Format::new(9, "G722", 8000, None, None)],
            Direction::SendRecv,
        );
        let e = negotiate(&s, &g722, Role::Answerer).expect_err("nothing shared");
        assert!(e.to_string().contains("9 G722/8000"), "{e}");
    }

    #[test]
    fn opus_answer_and_directions() {
        let s = settings(&["opus", "PCMU"]);
        let offer = sdp(
            vec![
                Format::new(
                    111,
                    "opus",
                    48_000,
                    Some(2),
                    Some("useinbandfec=1;usedtx=1"),
                ),
                Format::new(0, "PCMU", 8000, None, None),
                Format::new(110, "telephone-event", 48_000, None, None),
                Format::new(101, "telephone-event", 8000, None, None),
            ],
            Direction::SendOnly,
        );
        let n = negotiate(&s, &offer, Role::Answerer).expect("opus");
        assert!(matches!(
            n.audio,
            Codec::Opus {
                fec: true,
                dtx: false,
                ..
            }
        ));
        assert_eq!((n.audio_pt, n.dtmf_pt), (111, Some(110)));
        let a = answer_formats(&s, &n);
        assert_eq!(a[0].fmtp.as_deref(), Some("minptime=10;useinbandfec=1"));
        // They send only: we answer recvonly, receive and do not send.
        let p = stream_params(&s, &a, Direction::RecvOnly, &offer, &n, false);
        assert!(!p.send && p.recv);
        // A held peer at 0.0.0.0 gets nothing.
        let mut held = offer.clone();
        held.addr = "0.0.0.0".parse().expect("literal");
        held.direction = Direction::SendRecv;
        let p = stream_params(&s, &a, Direction::SendRecv, &held, &n, false);
        assert!(!p.send && p.remote_rtp.is_none());
    }

    #[test]
    fn offerer_reads_the_answer_and_accepts_both_numbers() {
        let s = settings(&["opus", "PCMU"]);
        let ours = offer_formats(&s);
        let answer = sdp(
            vec![
                Format::new(0, "PCMU", 8000, None, None),
                Format::new(100, "telephone-event", 8000, None, None),
            ],
            Direction::SendRecv,
        );
        let n = negotiate(&s, &answer, Role::Offerer).expect("PCMU");
        assert_eq!(n.audio, Codec::Pcmu);
        let ours = narrow(&ours, &n);
        let kept: Vec<(u8, &str)> = ours.iter().map(|f| (f.pt, f.name.as_str())).collect();
        assert_eq!(kept, [(0, "PCMU"), (97, "telephone-event")]);
        let p = stream_params(&s, &ours, Direction::SendRecv, &answer, &n, true);
        assert_eq!(p.dtmf_send_pt, Some(100));
        assert_eq!(p.dtmf_recv_pts, vec![100, 97]);
        assert!(p.muted);
    }
}
