//! What the operator hears from the phone itself: the ringtone on the ring
//! device, ringback and busy in the earpiece before a call has media of
//! its own, and the call-waiting tone mixed into a connected call.
//!
//! * [`TonePlayer`] plays a [`ToneSource`] into an [`Output`] (a device, a
//!   WAV file, or nothing) on a task of its own, in real time, until it is
//!   dropped or its time limit passes. The sink opens on a blocking
//!   thread, like a call's.
//! * [`ToneMixSink`] wraps a call's sink and mixes a tone into what the
//!   peer says (call waiting); [`MutableSource`] wraps a call's source and
//!   sends silence while muted. Both carry a volume.
//!
//! Which tone plays when is decided elsewhere ([`crate::sounds`]); this
//! module only makes the sound.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

use bb_media::cadence::{Cadence, CadenceGenerator};
use tokio_util::sync::CancellationToken;

use super::audio::{AudioSink, AudioSource, NullSink, NullSource, WavSource};
use super::session::{Holder, open_sink, release};
use super::settings::Output;

/// The rate tones are generated at (devices and files convert it).
const RATE: u32 = 16_000;
/// One tick of a player.
const TICK: Duration = Duration::from_millis(20);

/// What a [`TonePlayer`] plays.
pub enum ToneSource {
    /// A generated tone.
    Cadence(CadenceGenerator),
    /// A WAV file in a loop (the operator's own ringtone), at a volume
    /// in percent.
    Clip(Box<WavSource>, u8),
}

impl ToneSource {
    fn fill(&mut self, frame: &mut [i16]) {
        match self {
            ToneSource::Cadence(g) => g.fill(RATE, frame),
            ToneSource::Clip(clip, volume) => {
                clip.read(RATE, frame);
                scale(frame, *volume);
            }
        }
    }
}

/// Scales samples by `percent` (0 to 100).
fn scale(frame: &mut [i16], percent: u8) {
    if percent >= 100 {
        return;
    }
    let g = i32::from(percent);
    for s in frame {
        *s = (i32::from(*s) * g / 100) as i16;
    }
}

/// A tone playing on its own task; dropping it stops the tone at once.
#[derive(Debug)]
pub struct TonePlayer {
    cancel: CancellationToken,
}

impl TonePlayer {
    /// Plays `source` into `output` until dropped, or for `limit`. `label`
    /// names it in logs (`ringer`, `out-1 ringback`).
    pub fn start(
        output: Output,
        label: String,
        mut source: ToneSource,
        limit: Option<Duration>,
    ) -> TonePlayer {
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        tokio::spawn(async move {
            let opened = tokio::task::spawn_blocking({
                let label = label.clone();
                move || open_sink(&output, &label, Holder::Tone)
            })
            .await;
            let Ok((mut sink, recording)) = opened else {
                tracing::warn!("media: {label}: the sound device could not be opened");
                return;
            };
            tracing::debug!("media: {label}: playing on {}", sink.describe());
            let mut frame = vec![0i16; (RATE as u64 * TICK.as_millis() as u64 / 1000) as usize];
            let mut ticks = tokio::time::interval(TICK);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let until = limit.map(|l| tokio::time::Instant::now() + l);
            loop {
                tokio::select! {
                    biased;
                    _ = stop.cancelled() => break,
                    at = ticks.tick() => {
                        if until.is_some_and(|u| at >= u) {
                            break;
                        }
                        source.fill(&mut frame);
                        sink.write(RATE, &frame);
                    }
                }
            }
            let closed = tokio::task::spawn_blocking(move || {
                sink.finish();
                drop(sink);
            })
            .await;
            if closed.is_err() {
                tracing::warn!("media: {label}: closing the sound device failed");
            }
            if let Some(path) = recording {
                release(&path);
            }
            tracing::debug!("media: {label}: stopped");
        });
        TonePlayer { cancel }
    }
}

/// Plays `source` into `output` for `length` on a thread of its own (the
/// settings window's test button: no runtime needed).
pub fn play_test(output: Output, mut source: ToneSource, length: Duration) {
    let spawned = std::thread::Builder::new()
        .name("bb-test-tone".into())
        .spawn(move || {
            let (mut sink, recording) = open_sink(&output, "test", Holder::Tone);
            let mut frame = vec![0i16; (RATE as u64 * TICK.as_millis() as u64 / 1000) as usize];
            let start = std::time::Instant::now();
            let mut next = start;
            while next.duration_since(start) < length {
                source.fill(&mut frame);
                sink.write(RATE, &frame);
                next += TICK;
                std::thread::sleep(next.saturating_duration_since(std::time::Instant::now()));
            }
            sink.finish();
            drop(sink);
            if let Some(path) = recording {
                release(&path);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("media: no thread for the test tone: {e}");
    }
}

impl Drop for TonePlayer {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// A call's source that sends silence while muted (RTP keeps flowing, so
/// NATs and the far end's media timers stay content) and scales the
/// microphone by a volume.
pub struct MutableSource {
    inner: Box<dyn AudioSource>,
    muted: Arc<AtomicBool>,
    volume: Arc<AtomicU8>,
}

impl MutableSource {
    /// Wraps `inner`; `muted` and `volume` (percent) are shared with the
    /// session's command handler.
    pub fn new(
        inner: Box<dyn AudioSource>,
        muted: Arc<AtomicBool>,
        volume: Arc<AtomicU8>,
    ) -> MutableSource {
        MutableSource {
            inner,
            muted,
            volume,
        }
    }
}

impl AudioSource for MutableSource {
    fn read(&mut self, rate: u32, frame: &mut [i16]) {
        if let Some(why) = self.inner.failed() {
            tracing::warn!("media: {why}; the call continues, sending silence (null device)");
            self.inner = Box::new(NullSource);
        }
        // Read even while muted: a device's ring buffer must not fill with
        // stale audio that would play out on unmute.
        self.inner.read(rate, frame);
        if self.muted.load(Ordering::Relaxed) {
            frame.fill(0);
        } else {
            scale(frame, self.volume.load(Ordering::Relaxed));
        }
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// A call's sink with a tone mixed in (call waiting) and a volume.
pub struct ToneMixSink {
    inner: Box<dyn AudioSink>,
    tone: Option<CadenceGenerator>,
    volume: u8,
    mixed: Vec<i16>,
    tone_buf: Vec<i16>,
}

impl ToneMixSink {
    /// Wraps `inner` at `volume` percent.
    pub fn new(inner: Box<dyn AudioSink>, volume: u8) -> ToneMixSink {
        ToneMixSink {
            inner,
            tone: None,
            volume,
            mixed: Vec::new(),
            tone_buf: Vec::new(),
        }
    }

    /// Starts (`Some`) or stops mixing a tone.
    pub fn set_tone(&mut self, cadence: Option<Cadence>) {
        self.tone = cadence.map(CadenceGenerator::new);
    }
}

impl AudioSink for ToneMixSink {
    fn write(&mut self, rate: u32, frame: &[i16]) {
        if let Some(why) = self.inner.failed() {
            tracing::warn!(
                "media: {why}; the call continues, the peer's audio is discarded (null device)"
            );
            self.inner = Box::new(NullSink);
        }
        if self.tone.is_none() && self.volume >= 100 {
            return self.inner.write(rate, frame);
        }
        self.mixed.clear();
        self.mixed.extend_from_slice(frame);
        scale(&mut self.mixed, self.volume);
        if let Some(g) = &mut self.tone {
            self.tone_buf.resize(frame.len(), 0);
            g.fill(rate, &mut self.tone_buf);
            for (m, t) in self.mixed.iter_mut().zip(&self.tone_buf) {
                *m = m.saturating_add(*t);
            }
        }
        self.inner.write(rate, &self.mixed);
    }
    fn finish(&mut self) {
        self.inner.finish();
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bb_media::cadence::{ToneKind, TonePlan, segments};

    struct Record(Arc<std::sync::Mutex<Vec<i16>>>);
    impl AudioSink for Record {
        fn write(&mut self, _rate: u32, frame: &[i16]) {
            if let Ok(mut v) = self.0.lock() {
                v.extend_from_slice(frame);
            }
        }
        fn describe(&self) -> String {
            "record".into()
        }
    }

    struct Loud;
    impl AudioSource for Loud {
        fn read(&mut self, _rate: u32, frame: &mut [i16]) {
            frame.fill(1000);
        }
        fn describe(&self) -> String {
            "loud".into()
        }
    }

    #[test]
    fn mute_sends_silence_and_volume_scales() {
        let muted = Arc::new(AtomicBool::new(false));
        let volume = Arc::new(AtomicU8::new(50));
        let mut s = MutableSource::new(Box::new(Loud), muted.clone(), volume);
        let mut frame = [0i16; 160];
        s.read(8000, &mut frame);
        assert!(frame.iter().all(|&x| x == 500));
        muted.store(true, Ordering::Relaxed);
        s.read(8000, &mut frame);
        assert!(frame.iter().all(|&x| x == 0));
    }

    /// A device that goes away after `after` frames.
    struct Vanishing {
        after: usize,
        frames: Arc<std::sync::Mutex<usize>>,
    }
    impl AudioSink for Vanishing {
        fn write(&mut self, _rate: u32, _frame: &[i16]) {
            if let Ok(mut n) = self.frames.lock() {
                *n += 1;
            }
        }
        fn describe(&self) -> String {
            "vanishing".into()
        }
        fn failed(&self) -> Option<String> {
            let n = self.frames.lock().map(|n| *n).unwrap_or(0);
            (n >= self.after).then(|| "audio output device 'usb' failed: gone".into())
        }
    }

    #[test]
    fn a_device_that_goes_away_is_replaced_by_the_null_device() {
        let frames = Arc::new(std::sync::Mutex::new(0));
        let mut sink = ToneMixSink::new(
            Box::new(Vanishing {
                after: 3,
                frames: frames.clone(),
            }),
            100,
        );
        for _ in 0..10 {
            sink.write(8000, &[0; 160]);
        }
        assert_eq!(
            *frames.lock().unwrap(),
            3,
            "nothing more reached the dead device"
        );
        assert_eq!(sink.describe(), "null");
    }

    #[test]
    fn call_waiting_is_mixed_into_the_call_and_stops() {
        let heard = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut sink = ToneMixSink::new(Box::new(Record(heard.clone())), 100);
        let cw = TonePlan::Jp.cadence(ToneKind::CallWaiting);
        sink.set_tone(Some(cw.clone()));
        let silence = [0i16; 160];
        for _ in 0..(8000 * 7 / 160) {
            sink.write(8000, &silence);
        }
        sink.set_tone(None);
        for _ in 0..50 {
            sink.write(8000, &silence);
        }
        let heard = heard.lock().map(|v| v.clone()).unwrap_or_default();
        let runs = segments(&heard[..8000 * 7], 8000, 400.0);
        bb_media::cadence::matches(&runs, &cw, 1, 40).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            heard[8000 * 7..].iter().all(|&x| x == 0),
            "the tone stopped"
        );
    }
}
