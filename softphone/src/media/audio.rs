//! The audio endpoints of a call, behind two traits: an [`AudioSource`]
//! hands out one frame of samples per send tick, an [`AudioSink`] takes one
//! per playout tick. Neither may block: devices sit behind ring buffers
//! ([`super::device`]), files are read whole up front and written by a
//! thread of their own.
//!
//! Implementations here: [`NullSource`] (silence), [`NullSink`] (discard),
//! [`WavSource`] (a WAV file, looping, converted to the asked rate) and
//! [`WavSink`] (16-bit mono WAV at the call's rate, its header kept valid
//! while it grows). The frame rate is an argument of every call, so one
//! endpoint survives a codec change mid-call.

use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::resample::{self, Resampler, to_f32, to_i16};

/// Where outgoing samples come from.
pub trait AudioSource: Send {
    /// Fills `frame` with the next `frame.len()` samples at `rate` Hz.
    fn read(&mut self, rate: u32, frame: &mut [i16]);
    /// A name for logs (`null`, the file, the device).
    fn describe(&self) -> String;
    /// Why the endpoint stopped working (a device that went away), once it
    /// has; the call then carries on without it.
    fn failed(&self) -> Option<String> {
        None
    }
}

/// Where incoming samples go.
pub trait AudioSink: Send {
    /// Takes the next frame of samples at `rate` Hz.
    fn write(&mut self, rate: u32, frame: &[i16]);
    /// Flushes and closes (a WAV file gets its final header).
    fn finish(&mut self) {}
    /// A name for logs.
    fn describe(&self) -> String;
    /// Why the endpoint stopped working, once it has (see
    /// [`AudioSource::failed`]).
    fn failed(&self) -> Option<String> {
        None
    }
}

/// Silence.
#[derive(Debug, Default)]
pub struct NullSource;

impl AudioSource for NullSource {
    fn read(&mut self, _rate: u32, frame: &mut [i16]) {
        frame.fill(0);
    }
    fn describe(&self) -> String {
        "null".into()
    }
}

/// Discards everything.
#[derive(Debug, Default)]
pub struct NullSink;

impl AudioSink for NullSink {
    fn write(&mut self, _rate: u32, _frame: &[i16]) {}
    fn describe(&self) -> String {
        "null".into()
    }
}

/// Checks that `path` is a WAV file we can play; the error says why not.
pub fn check_wav(path: &Path) -> Result<(), String> {
    read_wav(path).map(|_| ())
}

/// Reads a whole WAV file as mono `f32` (channels averaged) and its rate.
fn read_wav(path: &Path) -> Result<(Vec<f32>, u32), String> {
    let reader = hound::WavReader::open(path)
        .map_err(|e| format!("cannot read WAV file '{}': {e}", path.display()))?;
    let spec = reader.spec();
    let channels = spec.channels.max(1) as usize;
    let bad = |e: hound::Error| format!("WAV file '{}' is damaged: {e}", path.display());
    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => reader
            .into_samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(bad)?,
        (hound::SampleFormat::Int, bits @ 8..=32) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(bad)?
        }
        (format, bits) => {
            return Err(format!(
                "WAV file '{}' holds {bits}-bit {format:?} samples (use 16-bit PCM)",
                path.display()
            ));
        }
    };
    let mono = interleaved
        .chunks(channels)
        .map(|c| c.iter().sum::<f32>() / c.len() as f32)
        .collect();
    Ok((mono, spec.sample_rate))
}

/// A WAV file played in a loop, converted to whatever rate is asked.
#[derive(Debug)]
pub struct WavSource {
    path: PathBuf,
    clip: Vec<f32>,
    clip_rate: u32,
    /// The clip at `rate`, converted on first use of that rate.
    at_rate: Vec<i16>,
    rate: u32,
    pos: usize,
}

impl WavSource {
    /// Reads the file; fails with a one-line reason naming it.
    pub fn open(path: &Path) -> Result<WavSource, String> {
        let (clip, clip_rate) = read_wav(path)?;
        Ok(WavSource {
            path: path.to_path_buf(),
            clip,
            clip_rate,
            at_rate: Vec::new(),
            rate: 0,
            pos: 0,
        })
    }
}

impl AudioSource for WavSource {
    fn read(&mut self, rate: u32, frame: &mut [i16]) {
        if rate != self.rate {
            // Keep the position in time across a rate change.
            let t = if self.rate > 0 {
                self.pos as f64 / self.rate as f64
            } else {
                0.0
            };
            self.at_rate = resample::resample_all(&self.clip, self.clip_rate, rate)
                .into_iter()
                .map(to_i16)
                .collect();
            self.rate = rate;
            self.pos = ((t * rate as f64) as usize)
                .checked_rem(self.at_rate.len())
                .unwrap_or(0);
        }
        if self.at_rate.is_empty() {
            frame.fill(0);
            return;
        }
        for s in frame.iter_mut() {
            *s = self.at_rate[self.pos];
            self.pos = (self.pos + 1) % self.at_rate.len();
        }
    }

    fn describe(&self) -> String {
        format!("wav:{}", self.path.display())
    }
}

/// Records 16-bit mono at the rate of the first frame written; later
/// frames at another rate are converted to it.
///
/// The file is written by a thread of its own (`bb-wav`), fed through a
/// channel, so a slow disk never holds up the playout tick; `finish` waits
/// for it to close the file.
pub struct WavSink {
    path: PathBuf,
    frames: Option<std::sync::mpsc::Sender<(u32, Vec<i16>)>>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for WavSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavSink").field("path", &self.path).finish()
    }
}

/// The writing side of a [`WavSink`].
struct WavWriter {
    path: PathBuf,
    writer: Option<hound::WavWriter<BufWriter<std::fs::File>>>,
    rate: u32,
    convert: Option<Resampler>,
    scratch: Vec<f32>,
    since_flush: usize,
    failed: bool,
}

impl WavWriter {
    fn fail(&mut self, what: &str, e: hound::Error) {
        if !self.failed {
            tracing::error!(
                "media: cannot {what} WAV file '{}': {e}; the rest of the call is not recorded",
                self.path.display()
            );
        }
        self.failed = true;
        self.writer = None;
    }

    fn write(&mut self, rate: u32, frame: &[i16]) {
        if self.failed {
            return;
        }
        if self.writer.is_none() {
            let spec = hound::WavSpec {
                channels: 1,
                sample_rate: rate,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            };
            match hound::WavWriter::create(&self.path, spec) {
                Ok(w) => {
                    self.writer = Some(w);
                    self.rate = rate;
                }
                Err(e) => return self.fail("create", e),
            }
        }
        let samples: Vec<i16> = if rate == self.rate {
            self.convert = None;
            frame.to_vec()
        } else {
            let conv = match &mut self.convert {
                Some(c) if c.in_rate() == rate => c,
                slot => slot.insert(Resampler::new(rate, self.rate)),
            };
            let input: Vec<f32> = frame.iter().map(|&s| to_f32(s)).collect();
            self.scratch.clear();
            conv.process(&input, &mut self.scratch);
            self.scratch.iter().map(|&s| to_i16(s)).collect()
        };
        let Some(w) = self.writer.as_mut() else {
            return;
        };
        if let Err(e) = samples.iter().try_for_each(|&s| w.write_sample(s)) {
            return self.fail("write", e);
        }
        // Keep the header valid about once a second, so a reader (or a
        // crash) sees a playable file.
        self.since_flush += samples.len();
        if self.since_flush >= self.rate as usize {
            self.since_flush = 0;
            if let Some(w) = self.writer.as_mut()
                && let Err(e) = w.flush()
            {
                self.fail("write", e);
            }
        }
    }

    fn finish(&mut self) {
        if let Some(w) = self.writer.take()
            && let Err(e) = w.finalize()
        {
            self.fail("finish", e);
        }
    }
}

impl WavSink {
    /// A sink that creates (or truncates) `path` on its first frame.
    pub fn new(path: &Path) -> WavSink {
        let (tx, rx) = std::sync::mpsc::channel::<(u32, Vec<i16>)>();
        let mut w = WavWriter {
            path: path.to_path_buf(),
            writer: None,
            rate: 0,
            convert: None,
            scratch: Vec::new(),
            since_flush: 0,
            failed: false,
        };
        let spawned = std::thread::Builder::new()
            .name("bb-wav".into())
            .spawn(move || {
                for (rate, frame) in rx {
                    w.write(rate, &frame);
                }
                w.finish();
            });
        let (frames, writer) = match spawned {
            Ok(handle) => (Some(tx), Some(handle)),
            Err(e) => {
                tracing::error!(
                    "media: cannot record to '{}': no thread for it ({e})",
                    path.display()
                );
                (None, None)
            }
        };
        WavSink {
            path: path.to_path_buf(),
            frames,
            writer,
        }
    }
}

impl AudioSink for WavSink {
    fn write(&mut self, rate: u32, frame: &[i16]) {
        if let Some(tx) = &self.frames
            && tx.send((rate, frame.to_vec())).is_err()
        {
            self.frames = None;
        }
    }

    /// Closes the channel and waits for the file to be finalised.
    fn finish(&mut self) {
        self.frames = None;
        if let Some(handle) = self.writer.take() {
            let _ = handle.join();
        }
    }

    fn describe(&self) -> String {
        format!("wav:{}", self.path.display())
    }
}

impl Drop for WavSink {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bb_media::tone::{SineGenerator, detect};

    fn write_tone(path: &Path, rate: u32, channels: u16, secs: f64) {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).expect("temp file");
        let mut g = SineGenerator::new(1000.0, rate, 10_000.0);
        for _ in 0..(rate as f64 * secs) as usize {
            let s = g.next_sample();
            for _ in 0..channels {
                w.write_sample(s).expect("temp file");
            }
        }
        w.finalize().expect("temp file");
    }

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("bb-audio-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        d.join(name)
    }

    #[test]
    fn wav_source_loops_and_converts() {
        let p = temp("stereo48k.wav");
        write_tone(&p, 48_000, 2, 0.25);
        let mut src = WavSource::open(&p).expect("readable");
        let mut frame = vec![0i16; 160];
        let mut all = Vec::new();
        for _ in 0..25 {
            // 0.5 s at 8 kHz: twice round the 0.25 s clip.
            src.read(8000, &mut frame);
            all.extend_from_slice(&frame);
        }
        let r = detect(&all[400..3600], 8000, 1000.0);
        assert!(r.ratio > 0.95, "{r:?}");
        assert!(src.describe().contains("stereo48k.wav"));
    }

    #[test]
    fn wav_sink_writes_a_valid_file_at_the_first_rate() {
        let p = temp("out.wav");
        let mut sink = WavSink::new(&p);
        let mut g = SineGenerator::new(1000.0, 8000, 8000.0);
        let mut frame = vec![0i16; 160];
        for _ in 0..50 {
            g.fill(&mut frame);
            sink.write(8000, &frame);
        }
        // Readable before the end (the header is flushed as it grows, by
        // the writer thread: poll for it).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            if let Ok(mid) = hound::WavReader::open(&p)
                && mid.duration() >= 8000
            {
                assert_eq!(mid.spec().sample_rate, 8000);
                break;
            }
            assert!(std::time::Instant::now() < deadline, "no header flush");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // A frame at another rate is converted to the file's rate.
        let mut g48 = SineGenerator::new(1000.0, 48_000, 8000.0);
        let mut frame48 = vec![0i16; 960];
        for _ in 0..50 {
            g48.fill(&mut frame48);
            sink.write(48_000, &frame48);
        }
        sink.finish();
        let r = hound::WavReader::open(&p).expect("valid");
        let samples: Vec<i16> = r.into_samples().collect::<Result<_, _>>().expect("samples");
        assert!(
            samples.len() > 15_900 && samples.len() <= 16_000,
            "{}",
            samples.len()
        );
        let tail = detect(&samples[9000..15_000], 8000, 1000.0);
        assert!(tail.ratio > 0.95, "{tail:?}");
    }

    #[test]
    fn unreadable_wavs_are_one_line_errors_naming_the_file() {
        let p = temp("not-a-wav.wav");
        std::fs::write(&p, b"hello").expect("temp file");
        let e = check_wav(&p).expect_err("not a WAV");
        assert!(e.contains("not-a-wav.wav") && !e.contains('\n'), "{e}");
        let e = check_wav(Path::new("/nonexistent.wav")).expect_err("missing");
        assert!(e.contains("/nonexistent.wav"), "{e}");
    }
}
