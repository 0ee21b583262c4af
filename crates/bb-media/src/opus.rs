//! A thin, typed wrapper over libopus (via the `opus` crate): mono encoder
//! and decoder at 8, 16 or 48 kHz (12 and 24 kHz work too), 10 or 20 ms
//! frames, with FEC, DTX and bitrate settings, and the decoder's own loss
//! concealment ([`OpusDecoder::decode_lost`]) and in-band FEC recovery
//! ([`OpusDecoder::decode_fec`]).
//!
//! The wrapper adds only length checks and typed errors; the benches show
//! its overhead against direct calls is within noise. Garbage packets are
//! reported as [`OpusError::Codec`], never a panic.

use std::fmt;

use opus::{Application, Bitrate, Channels, ErrorCode};

/// Frame durations we packetise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameDuration {
    /// 10 ms.
    Ms10,
    /// 20 ms.
    Ms20,
}

impl FrameDuration {
    /// Milliseconds.
    pub fn millis(self) -> u32 {
        match self {
            FrameDuration::Ms10 => 10,
            FrameDuration::Ms20 => 20,
        }
    }

    /// Samples per frame at `sample_rate`.
    pub fn samples(self, sample_rate: u32) -> usize {
        (sample_rate / 1000 * self.millis()) as usize
    }
}

/// Opus failures, naming the operation and the value.
#[derive(Debug, thiserror::Error)]
pub enum OpusError {
    /// A setting outside what libopus accepts.
    #[error("opus {what} {value} is not supported (allowed: {allowed})")]
    Config {
        /// The setting.
        what: &'static str,
        /// The value given.
        value: i64,
        /// What is allowed.
        allowed: &'static str,
    },
    /// A PCM or output buffer of the wrong length.
    #[error("opus {op}: buffer holds {got} samples, expected {expected}")]
    FrameLength {
        /// Operation.
        op: &'static str,
        /// Samples expected.
        expected: usize,
        /// Samples given.
        got: usize,
    },
    /// An empty packet handed to `decode` (use `decode_lost` for a loss).
    #[error("opus decode: empty packet (call decode_lost for a lost frame)")]
    EmptyPacket,
    /// libopus refused.
    #[error("opus {op} failed on a {len}-byte input: {source}")]
    Codec {
        /// Operation.
        op: &'static str,
        /// Input length (bytes or samples).
        len: usize,
        /// The libopus error.
        source: opus::Error,
    },
}

impl OpusError {
    /// The libopus error code, for codec errors.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            OpusError::Codec { source, .. } => Some(source.code()),
            _ => None,
        }
    }
}

fn codec(op: &'static str, len: usize) -> impl FnOnce(opus::Error) -> OpusError {
    move |source| OpusError::Codec { op, len, source }
}

fn check_rate(sample_rate: u32) -> Result<(), OpusError> {
    match sample_rate {
        8000 | 12_000 | 16_000 | 24_000 | 48_000 => Ok(()),
        _ => Err(OpusError::Config {
            what: "sample rate",
            value: sample_rate as i64,
            allowed: "8000, 12000, 16000, 24000, 48000",
        }),
    }
}

/// Encoder settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpusEncoderConfig {
    /// Input sample rate.
    pub sample_rate: u32,
    /// Frame duration.
    pub frame: FrameDuration,
    /// Target bitrate, bits per second (6000..=510000).
    pub bitrate: u32,
    /// In-band forward error correction.
    pub fec: bool,
    /// Expected packet loss, percent (tunes FEC).
    pub expected_loss_percent: u8,
    /// Discontinuous transmission (1–2 byte packets in silence).
    pub dtx: bool,
    /// Complexity 0..=10.
    pub complexity: u8,
}

impl OpusEncoderConfig {
    /// VoIP defaults for `sample_rate`: 20 ms frames, 24 kbit/s, FEC on
    /// (10 % expected loss), DTX off, complexity 5.
    pub fn voip(sample_rate: u32) -> OpusEncoderConfig {
        OpusEncoderConfig {
            sample_rate,
            frame: FrameDuration::Ms20,
            bitrate: 24_000,
            fec: true,
            expected_loss_percent: 10,
            dtx: false,
            complexity: 5,
        }
    }
}

/// A mono Opus encoder.
pub struct OpusEncoder {
    inner: opus::Encoder,
    cfg: OpusEncoderConfig,
    frame_samples: usize,
}

impl fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("cfg", &self.cfg)
            .finish()
    }
}

impl OpusEncoder {
    /// An encoder with `cfg`.
    pub fn new(cfg: OpusEncoderConfig) -> Result<OpusEncoder, OpusError> {
        check_rate(cfg.sample_rate)?;
        if cfg.complexity > 10 {
            return Err(OpusError::Config {
                what: "complexity",
                value: cfg.complexity as i64,
                allowed: "0..=10",
            });
        }
        let inner = opus::Encoder::new(cfg.sample_rate, Channels::Mono, Application::Voip)
            .map_err(codec("encoder create", 0))?;
        let mut e = OpusEncoder {
            inner,
            cfg,
            frame_samples: cfg.frame.samples(cfg.sample_rate),
        };
        e.set_bitrate(cfg.bitrate)?;
        e.set_fec(cfg.fec, cfg.expected_loss_percent)?;
        e.set_dtx(cfg.dtx)?;
        e.inner
            .set_complexity(cfg.complexity as i32)
            .map_err(codec("set complexity", 0))?;
        Ok(e)
    }

    /// The current settings.
    pub fn config(&self) -> &OpusEncoderConfig {
        &self.cfg
    }

    /// Samples per frame (input length for [`OpusEncoder::encode`]).
    pub fn frame_samples(&self) -> usize {
        self.frame_samples
    }

    /// Sets the target bitrate.
    pub fn set_bitrate(&mut self, bps: u32) -> Result<(), OpusError> {
        if !(6000..=510_000).contains(&bps) {
            return Err(OpusError::Config {
                what: "bitrate",
                value: bps as i64,
                allowed: "6000..=510000 bit/s",
            });
        }
        self.inner
            .set_bitrate(Bitrate::Bits(bps as i32))
            .map_err(codec("set bitrate", 0))?;
        self.cfg.bitrate = bps;
        Ok(())
    }

    /// Turns in-band FEC on or off, with the loss rate it should plan for.
    pub fn set_fec(&mut self, on: bool, expected_loss_percent: u8) -> Result<(), OpusError> {
        if expected_loss_percent > 100 {
            return Err(OpusError::Config {
                what: "expected loss",
                value: expected_loss_percent as i64,
                allowed: "0..=100 percent",
            });
        }
        self.inner.set_inband_fec(on).map_err(codec("set fec", 0))?;
        self.inner
            .set_packet_loss_perc(expected_loss_percent as i32)
            .map_err(codec("set packet loss", 0))?;
        self.cfg.fec = on;
        self.cfg.expected_loss_percent = expected_loss_percent;
        Ok(())
    }

    /// Turns DTX on or off.
    pub fn set_dtx(&mut self, on: bool) -> Result<(), OpusError> {
        self.inner.set_dtx(on).map_err(codec("set dtx", 0))?;
        self.cfg.dtx = on;
        Ok(())
    }

    /// Encodes exactly one frame of `pcm` into `out`; returns the packet
    /// length (1–2 bytes is a DTX frame that need not be sent).
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, OpusError> {
        if pcm.len() != self.frame_samples {
            return Err(OpusError::FrameLength {
                op: "encode",
                expected: self.frame_samples,
                got: pcm.len(),
            });
        }
        self.inner
            .encode(pcm, out)
            .map_err(codec("encode", pcm.len()))
    }
}

/// A mono Opus decoder.
pub struct OpusDecoder {
    inner: opus::Decoder,
    sample_rate: u32,
    frame_samples: usize,
}

impl fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpusDecoder")
            .field("sample_rate", &self.sample_rate)
            .field("frame_samples", &self.frame_samples)
            .finish()
    }
}

impl OpusDecoder {
    /// A decoder producing `sample_rate` audio in `frame` units.
    pub fn new(sample_rate: u32, frame: FrameDuration) -> Result<OpusDecoder, OpusError> {
        check_rate(sample_rate)?;
        let inner =
            opus::Decoder::new(sample_rate, Channels::Mono).map_err(codec("decoder create", 0))?;
        Ok(OpusDecoder {
            inner,
            sample_rate,
            frame_samples: frame.samples(sample_rate),
        })
    }

    /// Output sample rate.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Samples per frame.
    pub fn frame_samples(&self) -> usize {
        self.frame_samples
    }

    /// Decodes `packet` into `out`; returns samples written. `out` must hold
    /// the packet's duration (120 ms covers any packet).
    pub fn decode(&mut self, packet: &[u8], out: &mut [i16]) -> Result<usize, OpusError> {
        if packet.is_empty() {
            return Err(OpusError::EmptyPacket);
        }
        self.inner
            .decode(packet, out, false)
            .map_err(codec("decode", packet.len()))
    }

    /// Conceals one lost frame with the decoder's PLC; `out` must be one
    /// frame long.
    pub fn decode_lost(&mut self, out: &mut [i16]) -> Result<usize, OpusError> {
        self.check_frame("decode_lost", out.len())?;
        self.inner
            .decode(&[], out, false)
            .map_err(codec("decode_lost", 0))
    }

    /// Recovers the lost frame *before* `next_packet` from its in-band FEC
    /// (falls back to PLC inside libopus when it carries none); `out` must be
    /// one frame long.
    pub fn decode_fec(&mut self, next_packet: &[u8], out: &mut [i16]) -> Result<usize, OpusError> {
        self.check_frame("decode_fec", out.len())?;
        if next_packet.is_empty() {
            return Err(OpusError::EmptyPacket);
        }
        self.inner
            .decode(next_packet, out, true)
            .map_err(codec("decode_fec", next_packet.len()))
    }

    fn check_frame(&self, op: &'static str, got: usize) -> Result<(), OpusError> {
        if got == self.frame_samples {
            Ok(())
        } else {
            Err(OpusError::FrameLength {
                op,
                expected: self.frame_samples,
                got,
            })
        }
    }
}

/// The libopus version string.
pub fn version() -> &'static str {
    opus::version()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netem::Rng;
    use crate::tone::{SineGenerator, detect};

    fn sine_frames(rate: u32, frames: usize, frame: FrameDuration) -> Vec<Vec<i16>> {
        let mut g = SineGenerator::new(1000.0, rate, 8000.0);
        (0..frames)
            .map(|_| {
                let mut f = vec![0i16; frame.samples(rate)];
                g.fill(&mut f);
                f
            })
            .collect()
    }

    #[test]
    fn a_1khz_tone_survives_every_rate_and_frame() {
        for rate in [8000, 16_000, 48_000] {
            for frame in [FrameDuration::Ms10, FrameDuration::Ms20] {
                let mut enc = OpusEncoder::new(OpusEncoderConfig {
                    frame,
                    ..OpusEncoderConfig::voip(rate)
                })
                .expect("valid");
                let mut dec = OpusDecoder::new(rate, frame).expect("valid");
                let mut pkt = [0u8; 1500];
                let mut pcm = vec![0i16; dec.frame_samples()];
                let mut decoded = Vec::new();
                for f in sine_frames(rate, 50, frame) {
                    let n = enc.encode(&f, &mut pkt).expect("encodes");
                    assert!(n > 2 && n < 400, "{rate} Hz {frame:?}: {n} bytes");
                    let m = dec.decode(&pkt[..n], &mut pcm).expect("decodes");
                    assert_eq!(m, pcm.len());
                    decoded.extend_from_slice(&pcm);
                }
                let tail = &decoded[decoded.len() / 2..];
                let r = detect(tail, rate, 1000.0);
                assert!(r.ratio > 0.9, "{rate} Hz {frame:?}: tone ratio {}", r.ratio);
            }
        }
    }

    #[test]
    fn configuration_errors_are_typed() {
        let e = OpusEncoder::new(OpusEncoderConfig::voip(44_100)).expect_err("44.1 kHz");
        assert_eq!(
            e.to_string(),
            "opus sample rate 44100 is not supported (allowed: 8000, 12000, 16000, 24000, 48000)"
        );
        let mut enc = OpusEncoder::new(OpusEncoderConfig::voip(8000)).expect("valid");
        assert!(matches!(
            enc.set_bitrate(1000),
            Err(OpusError::Config {
                what: "bitrate",
                ..
            })
        ));
        assert!(matches!(
            enc.set_fec(true, 101),
            Err(OpusError::Config { .. })
        ));
        let e = enc
            .encode(&[0; 100], &mut [0; 100])
            .expect_err("short frame");
        assert_eq!(
            e.to_string(),
            "opus encode: buffer holds 100 samples, expected 160"
        );
        let mut dec = OpusDecoder::new(16_000, FrameDuration::Ms20).expect("valid");
        assert!(matches!(
            dec.decode(&[], &mut [0; 320]),
            Err(OpusError::EmptyPacket)
        ));
        assert!(matches!(
            dec.decode_lost(&mut [0; 100]),
            Err(OpusError::FrameLength { expected: 320, .. })
        ));
        assert!(OpusDecoder::new(22_050, FrameDuration::Ms10).is_err());
        assert!(version().contains("opus"), "{}", version());
    }

    #[test]
    fn garbage_never_panics() {
        let mut rng = Rng::new(99);
        let mut dec = OpusDecoder::new(48_000, FrameDuration::Ms20).expect("valid");
        let mut out = vec![0i16; 960];
        let mut errors = 0;
        for _ in 0..2000 {
            let len = 1 + rng.below(300) as usize;
            let pkt: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            match dec.decode(&pkt, &mut out) {
                Ok(n) => assert!(n <= out.len()),
                Err(e) => {
                    assert!(e.code().is_some(), "{e}");
                    errors += 1;
                }
            }
            let _ = dec.decode_fec(&pkt, &mut out);
        }
        assert!(errors > 0, "random bytes should not all be valid opus");
        // The decoder still works afterwards.
        assert_eq!(dec.decode_lost(&mut out).expect("plc"), 960);
    }

    #[test]
    fn fec_recovers_a_lost_frame_better_than_plc() {
        let rate = 16_000;
        let frames = sine_frames(rate, 40, FrameDuration::Ms20);
        let mut enc = OpusEncoder::new(OpusEncoderConfig {
            expected_loss_percent: 30,
            ..OpusEncoderConfig::voip(rate)
        })
        .expect("valid");
        let packets: Vec<Vec<u8>> = frames
            .iter()
            .map(|f| {
                let mut p = vec![0u8; 1500];
                let n = enc.encode(f, &mut p).expect("encodes");
                p.truncate(n);
                p
            })
            .collect();
        let run = |use_fec: bool| -> Vec<i16> {
            let mut dec = OpusDecoder::new(rate, FrameDuration::Ms20).expect("valid");
            let mut out = Vec::new();
            let mut pcm = vec![0i16; 320];
            for (i, p) in packets.iter().enumerate() {
                if i == 30 {
                    if use_fec {
                        dec.decode_fec(&packets[31], &mut pcm).expect("fec");
                    } else {
                        dec.decode_lost(&mut pcm).expect("plc");
                    }
                } else {
                    dec.decode(p, &mut pcm).expect("decodes");
                }
                out.extend_from_slice(&pcm);
            }
            out
        };
        let fec = run(true);
        let plc = run(false);
        let lost = 30 * 320..31 * 320;
        let fec_r = detect(&fec[lost.clone()], rate, 1000.0);
        let plc_r = detect(&plc[lost], rate, 1000.0);
        assert!(fec_r.ratio > 0.8, "fec {fec_r:?}");
        assert!(plc_r.power > 0.0, "plc produced silence");
        assert!(
            fec_r.power >= plc_r.power * 0.8,
            "fec {fec_r:?} plc {plc_r:?}"
        );
    }

    #[test]
    fn dtx_shrinks_silence() {
        let mut enc = OpusEncoder::new(OpusEncoderConfig {
            dtx: true,
            ..OpusEncoderConfig::voip(48_000)
        })
        .expect("valid");
        let silence = vec![0i16; 960];
        let mut pkt = [0u8; 1500];
        let sizes: Vec<usize> = (0..30)
            .map(|_| enc.encode(&silence, &mut pkt).expect("encodes"))
            .collect();
        assert!(sizes[20..].iter().all(|&n| n <= 2), "{sizes:?}");
        enc.set_dtx(false).expect("ctl");
        assert!(!enc.config().dtx);
    }
}
