//! The driver of [`super::Sounds`]: one [`TonePlayer`] for the ringer, one
//! per call for ringback and busy; call waiting goes to the call's own
//! media session through the closure the app loop gives.

use std::collections::BTreeMap;
use std::time::Duration;

use bb_media::cadence::{Cadence, CadenceGenerator, ToneKind};

use super::SoundAction;
use crate::media::AudioSettings;
use crate::media::audio::WavSource;
use crate::media::tones::{TonePlayer, ToneSource};
use crate::phone::{CallKey, call_label};

/// The tones playing now.
#[derive(Debug, Default)]
pub struct Players {
    ringer: Option<TonePlayer>,
    calls: BTreeMap<CallKey, TonePlayer>,
}

impl Players {
    /// Nothing playing.
    pub fn new() -> Players {
        Players::default()
    }

    /// Carries out `action` with the sound settings in force;
    /// `call_waiting(key, tone)` mixes a tone into call `key` (or stops it).
    pub fn apply(
        &mut self,
        action: SoundAction,
        audio: &AudioSettings,
        call_waiting: impl FnOnce(CallKey, Option<Cadence>),
    ) {
        match action {
            SoundAction::StartRinger => {
                let Some(output) = audio.effective_ring_output() else {
                    return;
                };
                self.ringer = Some(TonePlayer::start(
                    output,
                    "ringer".into(),
                    ringtone(audio),
                    None,
                ));
            }
            SoundAction::StopRinger => self.ringer = None,
            SoundAction::StartTone {
                key,
                kind,
                limit_ms,
            } => {
                let output = audio.effective_output();
                let label = format!("{}-{}", call_label(key), tone_name(kind));
                let source = builtin(audio, kind, audio.output_volume);
                self.calls.insert(
                    key,
                    TonePlayer::start(output, label, source, limit_ms.map(Duration::from_millis)),
                );
            }
            SoundAction::StopTone { key } => {
                self.calls.remove(&key);
            }
            SoundAction::CallWaiting { key, on } => {
                let tone = on.then(|| audio.tones.cadence(ToneKind::CallWaiting));
                call_waiting(key, tone);
            }
        }
    }
}

/// The operator's ringtone at its volume: the WAV file when one is set
/// (the built-in tone if it cannot be read), else the built-in tone.
pub fn ringtone(audio: &AudioSettings) -> ToneSource {
    match &audio.ringtone {
        Some(path) => match WavSource::open(path) {
            Ok(clip) => ToneSource::Clip(Box::new(clip), audio.ring_volume),
            Err(e) => {
                tracing::warn!("ringer: {e}; playing the built-in ringtone");
                builtin(audio, ToneKind::Ringtone, audio.ring_volume)
            }
        },
        None => builtin(audio, ToneKind::Ringtone, audio.ring_volume),
    }
}

fn builtin(audio: &AudioSettings, kind: ToneKind, volume: u8) -> ToneSource {
    let mut g = CadenceGenerator::new(audio.tones.cadence(kind));
    g.set_volume(volume);
    ToneSource::Cadence(g)
}

fn tone_name(kind: ToneKind) -> &'static str {
    match kind {
        ToneKind::Ringtone => "ringtone",
        ToneKind::Ringback => "ringback",
        ToneKind::Busy => "busy",
        ToneKind::CallWaiting => "waiting",
    }
}
