//! The `[audio]` section, validated once at load: codecs become
//! [`bb_media::codec::Codec`]s, devices and WAV files become [`Input`] and
//! [`Output`] choices, and every bad value is reported with its key.

use std::path::{Path, PathBuf};

use bb_media::cadence::TonePlan;
use bb_media::codec::Codec;
use bb_media::opus::FrameDuration;

use crate::config::Audio;

/// Where a call's outgoing sound comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A capture device; `None` is the system default.
    Device(Option<String>),
    /// Silence.
    Null,
    /// A WAV file, played in a loop.
    Wav(PathBuf),
}

/// Where a call's incoming sound goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A playback device; `None` is the system default.
    Device(Option<String>),
    /// Nowhere.
    Null,
    /// A WAV file (16-bit mono at the call's codec rate).
    Wav(PathBuf),
}

/// What happens when a configured device cannot be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Warn once and use the null device: calls connect, silently.
    Null,
    /// Refuse to start (`bbclient run` fails with the reason).
    Error,
}

/// Validated audio settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioSettings {
    /// Capture side.
    pub input: Input,
    /// Playback side.
    pub output: Output,
    /// Missing-device policy.
    pub fallback: Fallback,
    /// Audio codecs in preference order (Opus carries its options).
    pub codecs: Vec<Codec>,
    /// Packetisation time we ask for and send.
    pub ptime: FrameDuration,
    /// Offer and accept telephone-events.
    pub dtmf: bool,
    /// Opus target bitrate, bit/s.
    pub opus_bitrate: u32,
    /// Set by `bbclient run --headless`: devices left at the system default
    /// become the null device (WAV files and named devices are kept).
    pub headless: bool,
    /// Where the ringtone plays; `None` when the phone does not ring out
    /// loud (`ring = false`).
    pub ring_output: Option<Output>,
    /// The operator's ringtone file; `None` for the built-in one.
    pub ringtone: Option<PathBuf>,
    /// Ringtone volume, percent.
    pub ring_volume: u8,
    /// Microphone and speaker volumes, percent.
    pub input_volume: u8,
    /// Speaker volume, percent.
    pub output_volume: u8,
    /// The national call-progress tones.
    pub tones: TonePlan,
    /// SRTP for call audio.
    pub srtp: bb_sip::sdes::Policy,
}

impl Default for AudioSettings {
    fn default() -> Self {
        let raw = Audio::default();
        // The defaults are valid by construction (checked in the tests).
        AudioSettings::from_raw(&raw, Path::new("")).unwrap_or(AudioSettings {
            input: Input::Device(None),
            output: Output::Device(None),
            fallback: Fallback::Null,
            codecs: vec![Codec::Pcmu],
            ptime: FrameDuration::Ms20,
            dtmf: true,
            opus_bitrate: 24_000,
            headless: false,
            ring_output: Some(Output::Device(None)),
            ringtone: None,
            ring_volume: 80,
            input_volume: 100,
            output_volume: 100,
            tones: TonePlan::Jp,
            srtp: bb_sip::sdes::Policy::Off,
        })
    }
}

impl AudioSettings {
    /// Validates `[audio]`; relative WAV paths are taken from the directory
    /// of `settings_path`. Errors are `(key, message)`.
    pub fn from_raw(raw: &Audio, settings_path: &Path) -> Result<AudioSettings, (String, String)> {
        let err = |key: &str, message: String| (format!("audio.{key}"), message);
        let fallback = match raw.fallback.trim().to_ascii_lowercase().as_str() {
            "null" => Fallback::Null,
            "error" => Fallback::Error,
            other => {
                return Err(err(
                    "fallback",
                    format!("'{other}' is not supported (write \"null\" or \"error\")"),
                ));
            }
        };
        let ptime = match raw.ptime_ms {
            10 => FrameDuration::Ms10,
            20 => FrameDuration::Ms20,
            other => {
                return Err(err(
                    "ptime_ms",
                    format!("{other} is not supported (write 10 or 20)"),
                ));
            }
        };
        let o = &raw.opus;
        if !(6000..=510_000).contains(&o.bitrate) {
            return Err(err(
                "opus.bitrate",
                format!(
                    "{} is out of range (6000 to 510000 bit/s; the default is 24000)",
                    o.bitrate
                ),
            ));
        }
        if !matches!(o.max_playback_rate, 8000 | 16_000 | 48_000) {
            return Err(err(
                "opus.max_playback_rate",
                format!(
                    "{} is not supported (write 8000, 16000 or 48000)",
                    o.max_playback_rate
                ),
            ));
        }
        if raw.codecs.is_empty() {
            return Err(err(
                "codecs",
                "is empty (list at least one of \"opus\", \"PCMU\", \"PCMA\")".into(),
            ));
        }
        let mut codecs: Vec<Codec> = Vec::new();
        for name in &raw.codecs {
            let codec = match name.trim().to_ascii_lowercase().as_str() {
                "pcmu" => Codec::Pcmu,
                "pcma" => Codec::Pcma,
                "opus" => Codec::Opus {
                    fec: o.fec,
                    dtx: o.dtx,
                    max_playback_rate: o.max_playback_rate,
                },
                _ => {
                    return Err(err(
                        "codecs",
                        format!("'{name}' is not supported (use \"opus\", \"PCMU\" or \"PCMA\")"),
                    ));
                }
            };
            if codecs
                .iter()
                .any(|c| c.encoding_name() == codec.encoding_name())
            {
                return Err(err("codecs", format!("'{name}' is listed twice")));
            }
            codecs.push(codec);
        }
        let base = settings_path.parent().unwrap_or(Path::new(""));
        let resolve = |p: &str| {
            let p = Path::new(p.trim());
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let input = if !raw.input_wav.trim().is_empty() {
            let path = resolve(&raw.input_wav);
            super::audio::check_wav(&path).map_err(|m| err("input_wav", m))?;
            Input::Wav(path)
        } else {
            match raw.input_device.trim() {
                "" => Input::Device(None),
                "null" => Input::Null,
                name => Input::Device(Some(name.to_string())),
            }
        };
        let output = if !raw.output_wav.trim().is_empty() {
            let path = resolve(&raw.output_wav);
            check_dir(&path).map_err(|m| err("output_wav", m))?;
            Output::Wav(path)
        } else {
            match raw.output_device.trim() {
                "" => Output::Device(None),
                "null" => Output::Null,
                name => Output::Device(Some(name.to_string())),
            }
        };
        for (key, v) in [
            ("ring_volume", raw.ring_volume),
            ("input_volume", raw.input_volume),
            ("output_volume", raw.output_volume),
        ] {
            if v > 100 {
                return Err(err(key, format!("{v} is out of range (0 to 100 percent)")));
            }
        }
        let tones = TonePlan::parse(&raw.tones).ok_or_else(|| {
            err(
                "tones",
                format!(
                    "'{}' is not a tone plan (write \"jp\", \"us\" or \"eu\")",
                    raw.tones.trim()
                ),
            )
        })?;
        let srtp = bb_sip::sdes::Policy::parse(&raw.srtp).ok_or_else(|| {
            err(
                "srtp",
                format!(
                    "'{}' is not supported (write \"off\", \"optional\" or \"required\")",
                    raw.srtp.trim()
                ),
            )
        })?;
        let ringtone = match raw.ringtone.trim() {
            "" => None,
            p => {
                let path = resolve(p);
                super::audio::check_wav(&path).map_err(|m| err("ringtone", m))?;
                Some(path)
            }
        };
        let ring_output = if !raw.ring {
            None
        } else if !raw.ring_output_wav.trim().is_empty() {
            let path = resolve(&raw.ring_output_wav);
            check_dir(&path).map_err(|m| err("ring_output_wav", m))?;
            Some(Output::Wav(path))
        } else {
            Some(match raw.ring_device.trim() {
                // The speaker the calls use, when that is a device; a WAV
                // recording of the call is no place for the ringtone.
                "" => match &output {
                    Output::Device(name) => Output::Device(name.clone()),
                    Output::Null | Output::Wav(_) => Output::Null,
                },
                "null" => Output::Null,
                name => Output::Device(Some(name.to_string())),
            })
        };
        Ok(AudioSettings {
            input,
            output,
            fallback,
            codecs,
            ptime,
            dtmf: raw.dtmf,
            opus_bitrate: o.bitrate,
            headless: false,
            ring_output,
            ringtone,
            ring_volume: raw.ring_volume,
            input_volume: raw.input_volume,
            output_volume: raw.output_volume,
            tones,
            srtp,
        })
    }

    /// The ring device after the headless rule (`None`: no ringing).
    pub fn effective_ring_output(&self) -> Option<Output> {
        match &self.ring_output {
            Some(Output::Device(None)) if self.headless => Some(Output::Null),
            other => other.clone(),
        }
    }

    /// The capture side after the headless rule.
    pub fn effective_input(&self) -> Input {
        match &self.input {
            Input::Device(None) if self.headless => Input::Null,
            other => other.clone(),
        }
    }

    /// The playback side after the headless rule.
    pub fn effective_output(&self) -> Output {
        match &self.output {
            Output::Device(None) if self.headless => Output::Null,
            other => other.clone(),
        }
    }

    /// Our offer list: the audio codecs, then a telephone-event format for
    /// each clock rate among them (when DTMF is on).
    pub fn preferences(&self) -> Vec<Codec> {
        let mut prefs = self.codecs.clone();
        if self.dtmf {
            let mut rates: Vec<u32> = Vec::new();
            for c in &self.codecs {
                if !rates.contains(&c.clock_rate()) {
                    rates.push(c.clock_rate());
                }
            }
            prefs.extend(
                rates
                    .into_iter()
                    .map(|clock_rate| Codec::TelephoneEvent { clock_rate }),
            );
        }
        prefs
    }
}

/// Checks that the directory a WAV file is to be written in exists.
fn check_dir(path: &Path) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if dir.is_dir() {
        Ok(())
    } else {
        Err(format!(
            "the directory '{}' does not exist (create it or write another path)",
            dir.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OpusOptions;

    fn check(raw: Audio) -> Result<AudioSettings, (String, String)> {
        AudioSettings::from_raw(&raw, Path::new("/tmp/settings.toml"))
    }

    #[test]
    fn defaults_are_valid() {
        let s = check(Audio::default()).expect("defaults");
        assert_eq!(s, AudioSettings::default());
        assert_eq!(s.codecs.len(), 3);
        assert!(matches!(
            s.codecs[0],
            Codec::Opus {
                fec: true,
                dtx: false,
                max_playback_rate: 48_000
            }
        ));
        assert_eq!(s.input, Input::Device(None));
        assert_eq!(s.fallback, Fallback::Null);
        assert_eq!(
            s.preferences()[3..],
            [
                Codec::TelephoneEvent { clock_rate: 48_000 },
                Codec::TelephoneEvent { clock_rate: 8000 }
            ]
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases: Vec<(Audio, &str, &str)> = vec![
            (
                Audio {
                    fallback: "maybe".into(),
                    ..Audio::default()
                },
                "audio.fallback",
                "'maybe'",
            ),
            (
                Audio {
                    ptime_ms: 30,
                    ..Audio::default()
                },
                "audio.ptime_ms",
                "30",
            ),
            (
                Audio {
                    codecs: vec!["G729".into()],
                    ..Audio::default()
                },
                "audio.codecs",
                "'G729' is not supported",
            ),
            (
                Audio {
                    codecs: vec!["pcmu".into(), "PCMU".into()],
                    ..Audio::default()
                },
                "audio.codecs",
                "twice",
            ),
            (
                Audio {
                    codecs: vec![],
                    ..Audio::default()
                },
                "audio.codecs",
                "empty",
            ),
            (
                Audio {
                    opus: OpusOptions {
                        bitrate: 100,
                        ..OpusOptions::default()
                    },
                    ..Audio::default()
                },
                "audio.opus.bitrate",
                "100",
            ),
            (
                Audio {
                    opus: OpusOptions {
                        max_playback_rate: 44_100,
                        ..OpusOptions::default()
                    },
                    ..Audio::default()
                },
                "audio.opus.max_playback_rate",
                "44100",
            ),
            (
                Audio {
                    input_wav: "/nonexistent/in.wav".into(),
                    ..Audio::default()
                },
                "audio.input_wav",
                "/nonexistent/in.wav",
            ),
            (
                Audio {
                    output_wav: "/nonexistent/out.wav".into(),
                    ..Audio::default()
                },
                "audio.output_wav",
                "'/nonexistent'",
            ),
        ];
        for (raw, key, needle) in cases {
            let (k, m) = check(raw).expect_err(key);
            assert_eq!(k, key);
            assert!(m.contains(needle), "{key}: {m}");
            assert!(!m.contains('\n'), "{m}");
        }
    }

    #[test]
    fn headless_turns_default_devices_into_null_only() {
        let mut s = check(Audio {
            output_device: "USB Headset".into(),
            ..Audio::default()
        })
        .expect("valid");
        s.headless = true;
        assert_eq!(s.effective_input(), Input::Null);
        assert_eq!(
            s.effective_output(),
            Output::Device(Some("USB Headset".into()))
        );
        let s = check(Audio {
            input_device: "null".into(),
            codecs: vec!["PCMA".into()],
            dtmf: false,
            ..Audio::default()
        })
        .expect("valid");
        assert_eq!(s.effective_input(), Input::Null);
        assert_eq!(s.effective_output(), Output::Device(None));
        assert_eq!(s.preferences(), vec![Codec::Pcma]);
    }
}
