//! The media of a simulated outside party: what it sends (a tone, a WAV file,
//! silence, an echo, RFC 4733 DTMF) and what it hears (packet counts, the
//! decoded audio for the recording, DTMF digits, the dominant tone).
//!
//! [`MediaEngine`] is sans-IO: the driver feeds it datagrams with
//! [`MediaEngine::receive`] and asks it for the packets of each 20 ms tick
//! with [`MediaEngine::tick`]. G.711 (µ-law and A-law) is written out here
//! (ITU-T G.711 segment arithmetic) to keep the simulator free of the media
//! crate's codec dependencies; [`dominant_tone`] is a Goertzel sweep, good
//! to ±1 Hz on a clean tone. SRTP, when the call agreed keys, is the media
//! crate's (`bb_media::srtp`, the same as the softphone's).

use std::collections::VecDeque;
use std::io::Cursor;
use std::net::SocketAddr;

use bb_media::srtp::{SrtpError, SrtpKeys, SrtpStream};
use bb_sip::sdes::StreamKeys;
use bb_sip::sdp::{AudioSdp, Direction, Format};
use serde::Serialize;

use crate::party::{Play, dtmf_digit, dtmf_event};

/// Samples per second.
pub const RATE: u32 = 8000;
/// Samples per 20 ms packet.
pub const FRAME: usize = 160;
/// The longest recording kept (samples): 5 minutes.
pub const MAX_RECORDING: usize = 5 * 60 * RATE as usize;

/// Encodes one linear sample as µ-law.
pub fn ulaw_encode(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32635;
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(CLIP) + BIAS;
    let mut exponent = 7;
    let mut mask = 0x4000;
    while exponent > 0 && s & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (s >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) | mantissa) as u8
}

/// Decodes one µ-law byte.
pub fn ulaw_decode(code: u8) -> i16 {
    let c = !code;
    let sign = c & 0x80;
    let exponent = i32::from((c >> 4) & 0x07);
    let mantissa = i32::from(c & 0x0f);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    if sign != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// Encodes one linear sample as A-law.
pub fn alaw_encode(sample: i16) -> u8 {
    let mut s = i32::from(sample) >> 3; // 13-bit magnitude
    let sign = if s >= 0 {
        0xd5
    } else {
        s = -s - 1;
        0x55
    };
    let s = s.min(0x0fff);
    let code = if s < 32 {
        (s >> 1) as u8
    } else {
        let mut seg = 1u8;
        let mut v = s >> 5;
        while v > 1 {
            seg += 1;
            v >>= 1;
        }
        (seg << 4) | ((s >> seg) & 0x0f) as u8
    };
    code ^ sign
}

/// Decodes one A-law byte.
pub fn alaw_decode(code: u8) -> i16 {
    let c = code ^ 0x55;
    let seg = i32::from((c & 0x70) >> 4);
    let mut v = (i32::from(c & 0x0f) << 4) + 8;
    if seg > 0 {
        v += 0x100;
    }
    if seg > 1 {
        v <<= seg - 1;
    }
    if c & 0x80 != 0 { v as i16 } else { -v as i16 }
}

/// The dominant frequency of `samples` (8 kHz) and its share of the energy
/// (0..1), when one tone stands out (share above 0.3).
pub fn dominant_tone(samples: &[i16]) -> Option<(f32, f32)> {
    if samples.len() < 800 {
        return None;
    }
    let x: Vec<f32> = samples.iter().map(|s| f32::from(*s)).collect();
    let energy = |w: &[f32]| w.iter().map(|v| v * v).sum::<f32>();
    let share = |w: &[f32], f: f32| {
        let e = energy(w);
        if e <= 0.0 {
            0.0
        } else {
            2.0 * goertzel(w, f) / (w.len() as f32 * e)
        }
    };
    // Coarse: 100 ms window, 10 Hz steps (main lobe ~20 Hz wide).
    let coarse = &x[x.len() - 800..];
    let mut best = (0.0f32, 0.0f32);
    let mut f = 50.0;
    while f < 3950.0 {
        let p = share(coarse, f);
        if p > best.1 {
            best = (f, p);
        }
        f += 10.0;
    }
    // Fine: up to 1 s, 1 Hz steps around the coarse peak.
    let fine = &x[x.len().saturating_sub(RATE as usize)..];
    let mut top = (best.0, 0.0f32);
    let mut f = best.0 - 12.0;
    while f <= best.0 + 12.0 {
        let p = share(fine, f);
        if p > top.1 {
            top = (f, p);
        }
        f += 1.0;
    }
    (top.1 > 0.3).then_some(top)
}

fn goertzel(x: &[f32], freq: f32) -> f32 {
    let w = 2.0 * std::f32::consts::PI * freq / RATE as f32;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for v in x {
        let s0 = v + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// The codec of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Codec {
    /// G.711 µ-law, payload type 0.
    #[serde(rename = "PCMU")]
    Pcmu,
    /// G.711 A-law, payload type 8.
    #[serde(rename = "PCMA")]
    Pcma,
}

impl Codec {
    fn pt(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }
    fn from_name(name: &str) -> Option<Codec> {
        if name.eq_ignore_ascii_case("PCMU") {
            Some(Codec::Pcmu)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Some(Codec::Pcma)
        } else {
            None
        }
    }
}

/// Where and how to send, read from the far end's SDP.
#[derive(Debug, Clone, PartialEq)]
pub struct Remote {
    /// RTP destination.
    pub addr: SocketAddr,
    /// The codec (the first G.711 format of the far end).
    pub codec: Codec,
    /// The far end's telephone-event payload type.
    pub dtmf_pt: Option<u8>,
    /// Whether we may send (the far end receives).
    pub send: bool,
}

impl Remote {
    /// Reads the far end's SDP; `None` when it has no G.711 or no address.
    pub fn from_sdp(body: &[u8]) -> Option<Remote> {
        let sdp = AudioSdp::parse(body).ok()?;
        let codec = sdp.formats.iter().find_map(|f| Codec::from_name(&f.name))?;
        let dtmf_pt = sdp
            .formats
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case("telephone-event"))
            .map(|f| f.pt);
        Some(Remote {
            addr: SocketAddr::new(sdp.addr, sdp.port),
            codec,
            dtmf_pt,
            send: sdp.direction.receives() && !sdp.addr.is_unspecified() && sdp.port != 0,
        })
    }
}

/// Our SDP for a party at `addr` preferring `first` (PCMU or PCMA), in
/// `dir`, with `keys`.
pub fn party_sdp(
    addr: SocketAddr,
    first: &str,
    dir: Direction,
    keys: &StreamKeys,
    session: u64,
    version: u64,
) -> Vec<u8> {
    let mut formats = vec![
        Format::new(0, "PCMU", 8000, None, None),
        Format::new(8, "PCMA", 8000, None, None),
    ];
    if first.eq_ignore_ascii_case("PCMA") {
        formats.swap(0, 1);
    }
    formats.push(Format::new(
        101,
        "telephone-event",
        8000,
        None,
        Some("0-16"),
    ));
    AudioSdp {
        addr: addr.ip(),
        port: addr.port(),
        formats,
        direction: dir,
        ptime: Some(20),
        secure: keys.secure,
        crypto: keys.crypto.clone(),
    }
    .render(session, version)
    .into_bytes()
}

/// What a party heard and sent, as the API shows it.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct MediaStats {
    /// RTP packets received (any payload).
    pub packets_received: u64,
    /// Audio packets received (G.711).
    pub audio_packets_received: u64,
    /// RTP packets sent.
    pub packets_sent: u64,
    /// Datagrams that were not RTP.
    pub malformed: u64,
    /// The codec last received.
    pub codec_received: Option<Codec>,
    /// The codec we send.
    pub codec_sent: Option<Codec>,
    /// DTMF digits received (RFC 4733).
    pub dtmf_received: String,
    /// DTMF digits sent.
    pub dtmf_sent: String,
    /// Seconds of audio recorded.
    pub recorded_seconds: f64,
    /// Where we send.
    pub remote: Option<String>,
    /// Where the far end's RTP comes from, when that is not where its SDP
    /// said (a NAT): we send there instead (symmetric RTP).
    pub latched: Option<String>,
    /// Whether we are sending now (not on hold).
    pub sending: bool,
    /// The SRTP suite in force, when the call's audio is encrypted.
    pub srtp: Option<String>,
    /// Datagrams that did not authenticate as SRTP (or were replays).
    pub srtp_dropped: u64,
    /// Times our own SRTP key changed during the call (re-keying).
    pub srtp_rekeys: u64,
}

/// A party's media, sans-IO.
#[derive(Debug)]
pub struct MediaEngine {
    play: Play,
    wav: Vec<i16>,
    wav_pos: usize,
    phase: Vec<f64>,
    remote: Option<Remote>,
    /// The source of the far end's RTP (symmetric RTP).
    latched: Option<SocketAddr>,
    ssrc: u32,
    seq: u16,
    ts: u32,
    marker: bool,
    record: bool,
    recording: Vec<i16>,
    echo: VecDeque<i16>,
    dtmf_out: VecDeque<(u8, u32, u16, bool, bool)>,
    dtmf_pending: VecDeque<char>,
    last_dtmf_ts: Option<u32>,
    srtp: Option<SrtpStream>,
    stats: MediaStats,
}

impl MediaEngine {
    /// An engine that plays `play` (with `wav` samples for WAV files, already
    /// at 8 kHz mono) and records when `record`.
    pub fn new(play: Play, wav: Vec<i16>, record: bool, ssrc: u32) -> MediaEngine {
        let tones = match &play {
            Play::Tone(f) => f.len(),
            _ => 0,
        };
        MediaEngine {
            play,
            wav,
            wav_pos: 0,
            phase: vec![0.0; tones],
            remote: None,
            latched: None,
            ssrc,
            seq: (ssrc & 0x7fff) as u16,
            ts: ssrc.rotate_left(7),
            marker: true,
            record,
            recording: Vec::new(),
            echo: VecDeque::new(),
            dtmf_out: VecDeque::new(),
            dtmf_pending: VecDeque::new(),
            last_dtmf_ts: None,
            srtp: None,
            stats: MediaStats::default(),
        }
    }

    /// Changes what the party plays from the next packet on (early media
    /// → the answered script, or → silence), keeping the RTP stream.
    pub fn set_play(&mut self, play: Play, wav: Vec<i16>) {
        self.phase = match &play {
            Play::Tone(f) => vec![0.0; f.len()],
            _ => Vec::new(),
        };
        self.play = play;
        self.wav = wav;
        self.wav_pos = 0;
    }

    /// Sets (or changes, on re-INVITE) where to send.
    pub fn set_remote(&mut self, remote: Option<Remote>) {
        self.stats.remote = remote.as_ref().map(|r| r.addr.to_string());
        self.stats.codec_sent = remote.as_ref().map(|r| r.codec);
        self.stats.sending = remote.as_ref().is_some_and(|r| r.send);
        if self.remote.as_ref().map(|r| r.addr) != remote.as_ref().map(|r| r.addr) {
            self.marker = true;
        }
        self.remote = remote;
    }

    /// Sets (or changes, on re-INVITE) the SRTP keys; `None`: plain RTP.
    /// Only the direction whose key changed starts afresh.
    pub fn set_srtp(&mut self, keys: Option<&SrtpKeys>) -> Result<(), SrtpError> {
        if let (Some(s), Some(k)) = (&self.srtp, keys)
            && s.keys().local != k.local
        {
            self.stats.srtp_rekeys += 1;
        }
        bb_media::srtp::apply(&mut self.srtp, keys)?;
        self.stats.srtp = keys.map(|k| k.suite.sdes_name().to_string());
        Ok(())
    }

    /// Where to send, when sending: where the far end's RTP comes from
    /// once it has come (symmetric RTP: behind a NAT, the SDP's address is
    /// a private one or names the wrong port), else the SDP's address.
    pub fn destination(&self) -> Option<SocketAddr> {
        self.remote
            .as_ref()
            .filter(|r| r.send)
            .map(|r| self.latched.unwrap_or(r.addr))
    }

    /// One datagram from the far end, from `from`: an RTP packet's source
    /// becomes where we send.
    pub fn receive_from(&mut self, data: &[u8], from: SocketAddr) {
        let Ok(clear) = bb_media::srtp::open(self.srtp.as_mut(), data, false) else {
            // Plain RTP, a wrong key, a replay: not heard, and it does not
            // move where we send.
            self.stats.srtp_dropped += 1;
            return;
        };
        let data = &clear[..];
        let before = self.stats.packets_received;
        self.receive(data);
        if self.stats.packets_received > before && self.latched != Some(from) {
            let sdp = self.remote.as_ref().map(|r| r.addr);
            self.latched = (sdp != Some(from)).then_some(from);
            self.stats.latched = self.latched.map(|a| a.to_string());
        }
    }

    /// Queues DTMF digits (invalid characters are skipped).
    pub fn send_dtmf(&mut self, digits: &str) {
        self.dtmf_pending
            .extend(digits.chars().filter(|c| dtmf_event(*c).is_some()));
    }

    fn next_samples(&mut self) -> [i16; FRAME] {
        let mut out = [0i16; FRAME];
        match &self.play {
            Play::Silence => {}
            Play::Tone(freqs) => {
                let amp = 8000.0 / freqs.len().max(1) as f64;
                for s in out.iter_mut() {
                    let mut v = 0.0;
                    for (i, f) in freqs.iter().enumerate() {
                        v += amp * self.phase[i].sin();
                        self.phase[i] +=
                            2.0 * std::f64::consts::PI * f64::from(*f) / f64::from(RATE);
                        if self.phase[i] > 2.0 * std::f64::consts::PI {
                            self.phase[i] -= 2.0 * std::f64::consts::PI;
                        }
                    }
                    *s = v as i16;
                }
            }
            Play::Wav(_) => {
                if !self.wav.is_empty() {
                    for s in out.iter_mut() {
                        *s = self.wav[self.wav_pos % self.wav.len()];
                        self.wav_pos += 1;
                    }
                }
            }
            Play::Echo => {
                for s in out.iter_mut() {
                    *s = self.echo.pop_front().unwrap_or(0);
                }
            }
        }
        out
    }

    fn header(&mut self, pt: u8, marker: bool, ts: u32) -> Vec<u8> {
        let mut p = Vec::with_capacity(12 + FRAME);
        p.push(0x80);
        p.push(if marker { 0x80 | pt } else { pt });
        p.extend_from_slice(&self.seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&self.ssrc.to_be_bytes());
        self.seq = self.seq.wrapping_add(1);
        p
    }

    fn queue_digit(&mut self, digit: char) {
        let Some(event) = dtmf_event(digit) else {
            return;
        };
        let start = self.ts;
        // 100 ms of tone in 20 ms steps, then three end packets (RFC 4733 2.5.1.4).
        for i in 1..=5u16 {
            self.dtmf_out
                .push_back((event, start, i * FRAME as u16, false, i == 1));
        }
        for _ in 0..3 {
            self.dtmf_out
                .push_back((event, start, 5 * FRAME as u16, true, false));
        }
        self.stats.dtmf_sent.push(digit);
    }

    /// The packets of the next 20 ms (empty while on hold or without a remote).
    pub fn tick(&mut self) -> Vec<Vec<u8>> {
        let samples = self.next_samples();
        let Some(remote) = self.remote.clone().filter(|r| r.send) else {
            self.ts = self.ts.wrapping_add(FRAME as u32);
            return Vec::new();
        };
        if self.dtmf_out.is_empty()
            && remote.dtmf_pt.is_some()
            && let Some(d) = self.dtmf_pending.pop_front()
        {
            self.queue_digit(d);
        }
        let mut out = Vec::new();
        if let (Some(pt), false) = (remote.dtmf_pt, self.dtmf_out.is_empty()) {
            // Send the end packet three times: the three end entries each go
            // out on their own tick.
            if let Some((event, start, duration, end, marker)) = self.dtmf_out.pop_front() {
                let mut p = self.header(pt, marker, start);
                p.push(event);
                p.push(if end { 0x80 | 10 } else { 10 });
                p.extend_from_slice(&duration.to_be_bytes());
                out.push(p);
            }
            self.ts = self.ts.wrapping_add(FRAME as u32);
        } else {
            let marker = std::mem::take(&mut self.marker);
            let ts = self.ts;
            let mut p = self.header(remote.codec.pt(), marker, ts);
            match remote.codec {
                Codec::Pcmu => p.extend(samples.iter().map(|s| ulaw_encode(*s))),
                Codec::Pcma => p.extend(samples.iter().map(|s| alaw_encode(*s))),
            }
            self.ts = self.ts.wrapping_add(FRAME as u32);
            out.push(p);
        }
        out = out
            .into_iter()
            .filter_map(|p| bb_media::srtp::seal(self.srtp.as_mut(), p, false).ok())
            .collect();
        self.stats.packets_sent += out.len() as u64;
        out
    }

    /// One datagram from the far end.
    pub fn receive(&mut self, data: &[u8]) {
        if data.len() < 12 || data[0] >> 6 != 2 {
            self.stats.malformed += 1;
            return;
        }
        let cc = usize::from(data[0] & 0x0f);
        let mut off = 12 + 4 * cc;
        if data[0] & 0x10 != 0 {
            if data.len() < off + 4 {
                self.stats.malformed += 1;
                return;
            }
            let words = usize::from(u16::from_be_bytes([data[off + 2], data[off + 3]]));
            off += 4 + 4 * words;
        }
        let mut end = data.len();
        if data[0] & 0x20 != 0 && end > off {
            end = end.saturating_sub(usize::from(data[end - 1]));
        }
        if off > end {
            self.stats.malformed += 1;
            return;
        }
        let payload = &data[off..end];
        let pt = data[1] & 0x7f;
        let ts = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
        self.stats.packets_received += 1;
        match pt {
            0 | 8 => {
                let codec = if pt == 0 { Codec::Pcmu } else { Codec::Pcma };
                self.stats.audio_packets_received += 1;
                self.stats.codec_received = Some(codec);
                let decode = if pt == 0 { ulaw_decode } else { alaw_decode };
                for b in payload {
                    let s = decode(*b);
                    if self.record && self.recording.len() < MAX_RECORDING {
                        self.recording.push(s);
                    }
                    if matches!(self.play, Play::Echo) && self.echo.len() < 8 * FRAME {
                        self.echo.push_back(s);
                    }
                }
                self.stats.recorded_seconds = self.recording.len() as f64 / f64::from(RATE);
            }
            96..=127 if payload.len() >= 4 => {
                // Any dynamic type with a 4-byte event body: telephone-event.
                let event = payload[0];
                if self.last_dtmf_ts != Some(ts)
                    && let Some(d) = dtmf_digit(event)
                {
                    self.last_dtmf_ts = Some(ts);
                    self.stats.dtmf_received.push(d);
                }
            }
            _ => {}
        }
    }

    /// The stats.
    pub fn stats(&self) -> &MediaStats {
        &self.stats
    }

    /// The recorded samples.
    pub fn recording(&self) -> &[i16] {
        &self.recording
    }

    /// The dominant tone in the last second heard.
    pub fn heard_tone(&self) -> Option<(f32, f32)> {
        let tail = &self.recording[self.recording.len().saturating_sub(RATE as usize)..];
        dominant_tone(tail)
    }
}

/// The recording as a WAV file (8 kHz, 16-bit, mono).
pub fn wav_bytes(samples: &[i16]) -> Result<Vec<u8>, hound::Error> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cursor = Cursor::new(Vec::new());
    {
        let mut w = hound::WavWriter::new(&mut cursor, spec)?;
        for s in samples {
            w.write_sample(*s)?;
        }
        w.finalize()?;
    }
    Ok(cursor.into_inner())
}

/// Reads a WAV file as 8 kHz mono samples (first channel, nearest-sample
/// resampling: good enough for prompts and test signals).
pub fn read_wav(path: &std::path::Path) -> Result<Vec<i16>, String> {
    let mut r = hound::WavReader::open(path)
        .map_err(|e| format!("cannot read WAV file '{}': {e}", path.display()))?;
    let spec = r.spec();
    let channels = usize::from(spec.channels.max(1));
    let raw: Vec<i32> = match spec.sample_format {
        hound::SampleFormat::Int => r
            .samples::<i32>()
            .collect::<Result<_, _>>()
            .map_err(|e| format!("WAV file '{}': {e}", path.display()))?,
        hound::SampleFormat::Float => r
            .samples::<f32>()
            .map(|s| s.map(|v| (v * 32767.0) as i32))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("WAV file '{}': {e}", path.display()))?,
    };
    let shift = i32::from(spec.bits_per_sample).saturating_sub(16);
    let mono: Vec<i16> = raw
        .chunks(channels)
        .map(|c| {
            let v = if shift > 0 {
                c[0] >> shift
            } else if spec.sample_format == hound::SampleFormat::Int {
                c[0] << (-shift)
            } else {
                c[0]
            };
            v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
        })
        .collect();
    if spec.sample_rate == RATE || spec.sample_rate == 0 {
        return Ok(mono);
    }
    let n = (mono.len() as u64 * u64::from(RATE) / u64::from(spec.sample_rate)) as usize;
    Ok((0..n)
        .map(|i| {
            let src = (i as u64 * u64::from(spec.sample_rate) / u64::from(RATE)) as usize;
            mono[src.min(mono.len().saturating_sub(1))]
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g711_round_trips_within_quantisation() {
        for x in (-32768i32..=32767).step_by(7) {
            let x = x as i16;
            let u = ulaw_decode(ulaw_encode(x));
            let a = alaw_decode(alaw_encode(x));
            let tol = (i32::from(x).abs() / 16).max(16);
            assert!(
                (i32::from(u) - i32::from(x)).abs() <= tol * 2,
                "ulaw {x} -> {u}"
            );
            assert!(
                (i32::from(a) - i32::from(x)).abs() <= tol * 2,
                "alaw {x} -> {a}"
            );
        }
        // Known codes: silence and full scale.
        assert_eq!(ulaw_encode(0), 0xff);
        assert_eq!(alaw_encode(0), 0xd5);
        assert_eq!(ulaw_decode(0xff), 0);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(alaw_decode(0xd5), 8);
    }

    fn engine(play: Play) -> MediaEngine {
        let mut e = MediaEngine::new(play, Vec::new(), true, 0x1234_5678);
        e.set_remote(Some(Remote {
            addr: "127.0.0.1:4000".parse().expect("addr"),
            codec: Codec::Pcmu,
            dtmf_pt: Some(101),
            send: true,
        }));
        e
    }

    #[test]
    fn rtp_from_elsewhere_than_the_sdp_moves_where_we_send() {
        let mut tx = engine(Play::Tone(vec![440.0]));
        let mut rx = engine(Play::Silence);
        let sdp: SocketAddr = "127.0.0.1:4000".parse().expect("addr");
        let nat: SocketAddr = "198.51.100.1:40123".parse().expect("addr");
        assert_eq!(rx.destination(), Some(sdp));
        // Garbage from anywhere moves nothing.
        rx.receive_from(b"hello", "192.0.2.9:9".parse().expect("addr"));
        assert_eq!(rx.destination(), Some(sdp));
        for p in tx.tick() {
            rx.receive_from(&p, nat);
        }
        assert_eq!(rx.destination(), Some(nat));
        assert_eq!(rx.stats().latched.as_deref(), Some("198.51.100.1:40123"));
        // Back to the SDP's address: no latch to report.
        for p in tx.tick() {
            rx.receive_from(&p, sdp);
        }
        assert_eq!(rx.destination(), Some(sdp));
        assert_eq!(rx.stats().latched, None);
    }

    #[test]
    fn a_tone_crosses_and_is_detected() {
        let mut tx = engine(Play::Tone(vec![440.0]));
        let mut rx = engine(Play::Silence);
        for _ in 0..60 {
            for p in tx.tick() {
                rx.receive(&p);
            }
        }
        assert_eq!(rx.stats().audio_packets_received, 60);
        let (f, share) = rx.heard_tone().expect("a tone");
        assert!((f - 440.0).abs() <= 1.0 && share > 0.8, "{f} {share}");
        let wav = wav_bytes(rx.recording()).expect("wav");
        assert_eq!(&wav[..4], b"RIFF");
        assert_eq!(wav.len(), 44 + 60 * FRAME * 2);
        assert!(engine(Play::Silence).heard_tone().is_none());
    }

    #[test]
    fn switching_the_play_keeps_one_stream_and_changes_the_tone() {
        let mut tx = engine(Play::Tone(vec![620.0]));
        let mut rx = engine(Play::Silence);
        for _ in 0..60 {
            for p in tx.tick() {
                rx.receive(&p);
            }
        }
        let (f, _) = rx.heard_tone().expect("the early tone");
        assert!((f - 620.0).abs() <= 1.0, "{f}");
        let seq_before = tx.seq;
        tx.set_play(Play::Tone(vec![440.0]), Vec::new());
        for _ in 0..60 {
            for p in tx.tick() {
                rx.receive(&p);
            }
        }
        assert_eq!(tx.seq, seq_before.wrapping_add(60), "one RTP stream");
        let (f, _) = rx.heard_tone().expect("the answered tone");
        assert!((f - 440.0).abs() <= 1.0, "{f}");
        tx.set_play(Play::Silence, Vec::new());
        for _ in 0..60 {
            for p in tx.tick() {
                rx.receive(&p);
            }
        }
        assert!(rx.heard_tone().is_none());
    }

    #[test]
    fn dual_tone_gives_one_of_its_frequencies() {
        let mut tx = engine(Play::Tone(vec![620.0, 1209.0]));
        let mut rx = engine(Play::Silence);
        for _ in 0..60 {
            for p in tx.tick() {
                rx.receive(&p);
            }
        }
        let (f, _) = rx.heard_tone().expect("a tone");
        assert!((f - 620.0).abs() <= 1.0 || (f - 1209.0).abs() <= 1.0, "{f}");
    }

    #[test]
    fn dtmf_digits_are_sent_once_each_and_audio_pauses() {
        let mut tx = engine(Play::Tone(vec![440.0]));
        let mut rx = engine(Play::Silence);
        tx.send_dtmf("12#x");
        let mut dtmf_packets = 0;
        for _ in 0..40 {
            for p in tx.tick() {
                if p[1] & 0x7f == 101 {
                    dtmf_packets += 1;
                }
                rx.receive(&p);
            }
        }
        assert_eq!(rx.stats().dtmf_received, "12#");
        assert_eq!(tx.stats().dtmf_sent, "12#");
        assert_eq!(dtmf_packets, 3 * 8);
    }

    #[test]
    fn hold_stops_sending_and_garbage_is_counted() {
        let mut e = engine(Play::Silence);
        assert_eq!(e.tick().len(), 1);
        e.set_remote(Some(Remote {
            addr: "127.0.0.1:4000".parse().expect("addr"),
            codec: Codec::Pcma,
            dtmf_pt: None,
            send: false,
        }));
        assert!(e.tick().is_empty());
        e.receive(b"hello");
        e.receive(&[0x80, 0, 0]);
        let bad_ext = vec![0x90u8, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0xff, 0xff];
        e.receive(&bad_ext);
        // Padding longer than the payload.
        e.receive(&[0xa0u8, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 9]);
        assert_eq!(e.stats().malformed, 4);
    }

    #[test]
    fn remote_from_sdp() {
        let body = party_sdp(
            "127.0.0.1:5000".parse().expect("addr"),
            "PCMA",
            Direction::SendOnly,
            &StreamKeys::default(),
            1,
            1,
        );
        let r = Remote::from_sdp(&body).expect("remote");
        assert_eq!(r.codec, Codec::Pcma);
        assert_eq!(r.dtmf_pt, Some(101));
        assert!(!r.send, "a sendonly peer does not receive");
    }

    #[test]
    fn wav_files_are_read_as_8khz_mono() {
        let dir = std::env::temp_dir().join(format!("bbsim-wav-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("stereo16k.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).expect("create");
        for i in 0..16_000i32 {
            let v = ((f64::from(i) * 2.0 * std::f64::consts::PI * 500.0 / 16_000.0).sin() * 8000.0)
                as i16;
            w.write_sample(v).expect("left");
            w.write_sample(0i16).expect("right");
        }
        w.finalize().expect("finalize");
        let samples = read_wav(&path).expect("read");
        assert_eq!(samples.len(), 8000, "one second at 8 kHz");
        let (f, _) = dominant_tone(&samples).expect("tone");
        assert!((f - 500.0).abs() <= 1.0, "{f}");
        assert!(
            read_wav(&dir.join("missing.wav"))
                .unwrap_err()
                .contains("missing.wav")
        );
    }
}
