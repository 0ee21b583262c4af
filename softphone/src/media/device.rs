//! Sound devices through cpal, behind the [`AudioSource`]/[`AudioSink`]
//! traits.
//!
//! Each open device lives on its own thread (`bb-audio-in`/`bb-audio-out`),
//! which finds the device, builds and starts the stream, reports the outcome
//! and then keeps the stream alive until the endpoint is dropped. The
//! stream's callback and the media task meet in a small ring buffer
//! ([`RING`] of audio, oldest dropped on overflow, silence on underflow),
//! so neither side ever waits for the other. Rate and channel conversion
//! happen on the media task's side of the ring.
//!
//! # ALSA's own messages
//!
//! alsa-lib prints configuration and open errors (`ALSA lib confmisc.c:855:
//! (parse_card) cannot find card '0'` …) straight to stderr, through its
//! error handler. cpal exposes nothing for it, but the `alsa` crate installs
//! a *thread-local* handler that collects the messages in a buffer
//! (`alsa::Output::local_error_handler`, alsa-lib's
//! `snd_lib_error_set_local`). Every cpal call that can reach alsa-lib —
//! enumeration, default configs, opening streams — runs on the device
//! thread after installing it, and what ALSA said is logged at debug level
//! instead. (Rust cannot define the variadic function the global
//! `snd_lib_error_set_handler` wants; the thread-local hook takes a
//! `va_list`.) The stream threads cpal spawns itself do not use the error
//! handler in normal operation.
//!
//! # Choosing a device
//!
//! A configured name matches a device's id (`alsa:hw:CARD=0,DEV=0`, with or
//! without the `alsa:` prefix) or its display name, case-insensitively; no
//! name means the host's default device. When nothing matches, the error
//! lists the names that would have.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample};

use super::audio::{AudioSink, AudioSource};
use super::resample::{Resampler, to_f32, to_i16};

/// Audio held between a stream callback and the media task.
pub const RING: Duration = Duration::from_millis(200);
/// How long opening a device may take before we give up on it.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

/// A device that cannot be used, and why (one line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audio {direction} device '{name}' {reason}")]
pub struct DeviceError {
    direction: &'static str,
    name: String,
    reason: String,
}

impl DeviceError {
    fn new(input: bool, name: Option<&str>, reason: impl Into<String>) -> DeviceError {
        DeviceError {
            direction: if input { "input" } else { "output" },
            name: name.unwrap_or("default").to_string(),
            reason: reason.into(),
        }
    }
}

#[derive(Debug)]
struct Ring {
    buf: VecDeque<f32>,
    cap: usize,
    overflows: u64,
    underflows: u64,
    /// The stream failed (the device went away): why.
    failed: Option<String>,
}

impl Ring {
    fn new(rate: u32) -> Arc<Mutex<Ring>> {
        let cap = (rate as u128 * RING.as_millis() / 1000) as usize;
        Arc::new(Mutex::new(Ring {
            buf: VecDeque::with_capacity(cap),
            cap,
            overflows: 0,
            underflows: 0,
            failed: None,
        }))
    }

    fn push(&mut self, samples: impl IntoIterator<Item = f32>) {
        self.buf.extend(samples);
        if self.buf.len() > self.cap {
            let extra = self.buf.len() - self.cap;
            self.buf.drain(..extra);
            self.overflows += 1;
        }
    }
}

fn lock(ring: &Mutex<Ring>) -> std::sync::MutexGuard<'_, Ring> {
    ring.lock().unwrap_or_else(|p| p.into_inner())
}

/// Keeps the device thread (and so the stream) alive; dropping it stops it.
#[derive(Debug)]
struct Keeper {
    stop: Option<mpsc::Sender<()>>,
}

impl Drop for Keeper {
    fn drop(&mut self) {
        // The thread drops the stream as soon as the channel closes.
        self.stop.take();
    }
}

/// What a device thread found.
struct Opened {
    name: String,
    rate: u32,
    channels: u16,
}

/// Runs `open` on a new thread with ALSA's messages captured, and keeps
/// what it returns (the stream) alive there until the [`Keeper`] drops.
fn on_device_thread<S: 'static>(
    thread: &str,
    input: bool,
    name: Option<&str>,
    open: impl FnOnce() -> Result<(S, Opened), String> + Send + 'static,
) -> Result<(Opened, Keeper), DeviceError> {
    let (result_tx, result_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name(thread.to_string())
        .spawn(move || {
            let alsa_said = alsa_noise::Capture::start();
            let outcome = open();
            if let Some(text) = alsa_said.said()
                && !text.trim().is_empty()
            {
                tracing::debug!(alsa = %text.trim().replace('\n', "; "), "media: ALSA messages while opening a device");
            }
            match outcome {
                Ok((stream, opened)) => {
                    let _ = result_tx.send(Ok(opened));
                    // Hold the stream until the endpoint is dropped.
                    let _ = stop_rx.recv();
                    drop(stream);
                }
                Err(e) => {
                    let _ = result_tx.send(Err(e));
                }
            }
        });
    if let Err(e) = spawned {
        return Err(DeviceError::new(
            input,
            name,
            format!("cannot be opened: no thread for it ({e})"),
        ));
    }
    match result_rx.recv_timeout(OPEN_TIMEOUT) {
        Ok(Ok(opened)) => Ok((
            opened,
            Keeper {
                stop: Some(stop_tx),
            },
        )),
        Ok(Err(reason)) => Err(DeviceError::new(input, name, reason)),
        Err(_) => Err(DeviceError::new(
            input,
            name,
            format!("did not open within {} s", OPEN_TIMEOUT.as_secs()),
        )),
    }
}

fn host() -> Result<cpal::Host, String> {
    let id = cpal::available_hosts()
        .into_iter()
        .next()
        .ok_or("is not available: this system has no audio host (ALSA)")?;
    cpal::host_from_id(id).map_err(|e| format!("is not available: {e}"))
}

/// A device's id without the host prefix (`hw:CARD=0,DEV=0`).
fn short_id(d: &cpal::Device) -> Option<String> {
    d.id().ok().map(|id| id.id().to_string())
}

fn label(d: &cpal::Device) -> String {
    match short_id(d) {
        Some(id) => format!("\"{id}\" ({d})"),
        None => format!("\"{d}\""),
    }
}

/// What the settings take for a device listed as `"id" (name)`: the id
/// (the whole text when it is not in that form).
pub fn setting_value(label: &str) -> String {
    label
        .strip_prefix('"')
        .and_then(|rest| rest.split_once('"'))
        .map(|(id, _)| id.to_string())
        .unwrap_or_else(|| label.trim().to_string())
}

/// The devices that can capture (`input`) or play, as `"id" (name)`.
fn names_on(host: &cpal::Host, input: bool) -> Vec<String> {
    let Ok(devices) = host.devices() else {
        return Vec::new();
    };
    devices
        .filter(|d| {
            if input {
                d.supports_input()
            } else {
                d.supports_output()
            }
        })
        .map(|d| label(&d))
        .collect()
}

/// Finds the device called `name` (or the default), else says what exists.
fn find(host: &cpal::Host, name: Option<&str>, input: bool) -> Result<cpal::Device, String> {
    let Some(name) = name else {
        let d = if input {
            host.default_input_device()
        } else {
            host.default_output_device()
        };
        return d.ok_or_else(|| {
            format!(
                "is not available: the system has no default device (available: {})",
                list(&names_on(host, input))
            )
        });
    };
    let wanted = name.trim().to_ascii_lowercase();
    let wanted = wanted.strip_prefix("alsa:").unwrap_or(&wanted).to_string();
    let found = host.devices().ok().and_then(|mut ds| {
        ds.find(|d| {
            short_id(d).is_some_and(|id| id.to_ascii_lowercase() == wanted)
                || d.to_string().to_ascii_lowercase() == wanted
        })
    });
    found.ok_or_else(|| {
        format!(
            "is not present (available: {}; set audio.{}_device to one of them)",
            list(&names_on(host, input)),
            if input { "input" } else { "output" }
        )
    })
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// The names of the devices that can capture and play, for logs.
pub fn device_names() -> (Vec<String>, Vec<String>) {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("bb-audio-list".into())
        .spawn(move || {
            let _alsa = alsa_noise::Capture::start();
            let names = host()
                .map(|h| (names_on(&h, true), names_on(&h, false)))
                .unwrap_or_default();
            let _ = tx.send(names);
        });
    if spawned.is_err() {
        return (Vec::new(), Vec::new());
    }
    rx.recv_timeout(OPEN_TIMEOUT).unwrap_or_default()
}

/// Checks that a device exists and has a default configuration, without
/// opening a stream (what `bbclient run` does at start).
pub fn probe(name: Option<&str>, input: bool) -> Result<String, DeviceError> {
    let owned = name.map(str::to_string);
    let thread = if input {
        "bb-audio-probe-in"
    } else {
        "bb-audio-probe-out"
    };
    on_device_thread(thread, input, name, move || {
        let host = host()?;
        let device = find(&host, owned.as_deref(), input)?;
        let config = if input {
            device.default_input_config()
        } else {
            device.default_output_config()
        };
        let config = config.map_err(|e| {
            format!(
                "is not available: {e} (available: {})",
                list(&names_on(&host, input))
            )
        })?;
        Ok((
            (),
            Opened {
                name: device.to_string(),
                rate: config.sample_rate(),
                channels: config.channels(),
            },
        ))
    })
    .map(|(opened, _)| opened.name)
}

/// The stream's error callback: records the first error in the ring, where
/// the endpoint reports it ([`AudioSink::failed`]) and the call moves on
/// to the null device.
fn stream_error(ring: Arc<Mutex<Ring>>) -> impl FnMut(cpal::Error) + Send + 'static {
    move |e| {
        let mut r = lock(&ring);
        if r.failed.is_none() {
            r.failed = Some(e.to_string());
        }
    }
}

fn build_input<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    ring: Arc<Mutex<Ring>>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let channels = config.channels.max(1) as usize;
    let errors = ring.clone();
    device.build_input_stream::<T, _, _>(
        config,
        move |data: &[T], _| {
            let mono = data
                .chunks(channels)
                .map(|c| c.iter().map(|&s| f32::from_sample_(s)).sum::<f32>() / c.len() as f32);
            lock(&ring).push(mono);
        },
        stream_error(errors),
        None,
    )
}

fn build_output<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    ring: Arc<Mutex<Ring>>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + FromSample<f32>,
{
    let channels = config.channels.max(1) as usize;
    let errors = ring.clone();
    device.build_output_stream::<T, _, _>(
        config,
        move |data: &mut [T], _| {
            let mut r = lock(&ring);
            let mut short = false;
            for frame in data.chunks_mut(channels) {
                let s = r.buf.pop_front().unwrap_or_else(|| {
                    short = true;
                    0.0
                });
                frame.fill(T::from_sample_(s));
            }
            if short {
                r.underflows += 1;
            }
        },
        stream_error(errors),
        None,
    )
}

/// Opens a stream on `name` (or the default device) in the device's
/// default format, feeding or draining `ring` (created at its rate).
fn open_stream(
    name: Option<String>,
    input: bool,
    ring_slot: Arc<Mutex<Option<Arc<Mutex<Ring>>>>>,
) -> Result<(cpal::Stream, Opened), String> {
    let host = host()?;
    let device = find(&host, name.as_deref(), input)?;
    let supported = if input {
        device.default_input_config()
    } else {
        device.default_output_config()
    }
    .map_err(|e| {
        format!(
            "is not available: {e} (available: {})",
            list(&names_on(&host, input))
        )
    })?;
    let config = supported.config();
    let ring = Ring::new(config.sample_rate);
    *ring_slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(ring.clone());
    let format = supported.sample_format();
    let built = match (input, format) {
        (true, SampleFormat::F32) => build_input::<f32>(&device, config, ring),
        (true, SampleFormat::I16) => build_input::<i16>(&device, config, ring),
        (true, SampleFormat::I32) => build_input::<i32>(&device, config, ring),
        (true, SampleFormat::U16) => build_input::<u16>(&device, config, ring),
        (false, SampleFormat::F32) => build_output::<f32>(&device, config, ring),
        (false, SampleFormat::I16) => build_output::<i16>(&device, config, ring),
        (false, SampleFormat::I32) => build_output::<i32>(&device, config, ring),
        (false, SampleFormat::U16) => build_output::<u16>(&device, config, ring),
        (_, other) => {
            return Err(format!(
                "uses the sample format {other}, which bbclient does not handle"
            ));
        }
    };
    let stream = built.map_err(|e| {
        format!(
            "cannot be opened: {e} (available: {})",
            list(&names_on(&host, input))
        )
    })?;
    stream
        .play()
        .map_err(|e| format!("cannot be started: {e}"))?;
    Ok((
        stream,
        Opened {
            name: device.to_string(),
            rate: config.sample_rate,
            channels: config.channels,
        },
    ))
}

fn open(
    name: Option<&str>,
    input: bool,
) -> Result<(Arc<Mutex<Ring>>, Opened, Keeper), DeviceError> {
    let slot: Arc<Mutex<Option<Arc<Mutex<Ring>>>>> = Arc::new(Mutex::new(None));
    let owned = name.map(str::to_string);
    let thread_slot = slot.clone();
    let thread = if input { "bb-audio-in" } else { "bb-audio-out" };
    let (opened, keeper) = on_device_thread(thread, input, name, move || {
        open_stream(owned, input, thread_slot)
    })?;
    let ring = slot
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .ok_or_else(|| DeviceError::new(input, name, "opened without a buffer"))?;
    Ok((ring, opened, keeper))
}

/// A capture device.
#[derive(Debug)]
pub struct DeviceSource {
    ring: Arc<Mutex<Ring>>,
    name: String,
    device_rate: u32,
    convert: Option<Resampler>,
    pending: VecDeque<f32>,
    scratch: Vec<f32>,
    _keeper: Keeper,
}

impl DeviceSource {
    /// Opens `name` (or the default capture device).
    pub fn open(name: Option<&str>) -> Result<DeviceSource, DeviceError> {
        let (ring, opened, keeper) = open(name, true)?;
        tracing::debug!(device = %opened.name, rate = opened.rate, channels = opened.channels, "media: capture device open");
        Ok(DeviceSource {
            ring,
            name: opened.name,
            device_rate: opened.rate,
            convert: None,
            pending: VecDeque::new(),
            scratch: Vec::new(),
            _keeper: keeper,
        })
    }
}

impl AudioSource for DeviceSource {
    fn read(&mut self, rate: u32, frame: &mut [i16]) {
        let conv = match &mut self.convert {
            Some(c) if c.out_rate() == rate => c,
            slot => {
                self.pending.clear();
                slot.insert(Resampler::new(self.device_rate, rate))
            }
        };
        while self.pending.len() < frame.len() {
            let missing = frame.len() - self.pending.len();
            let want = (missing as u64 * self.device_rate as u64 / rate.max(1) as u64) as usize + 1;
            let chunk: Vec<f32> = {
                let mut r = lock(&self.ring);
                let n = want.min(r.buf.len());
                if n == 0 {
                    r.underflows += 1;
                }
                r.buf.drain(..n).collect()
            };
            if chunk.is_empty() {
                break;
            }
            self.scratch.clear();
            conv.process(&chunk, &mut self.scratch);
            self.pending.extend(self.scratch.iter());
        }
        for s in frame.iter_mut() {
            *s = self.pending.pop_front().map_or(0, to_i16);
        }
    }

    fn describe(&self) -> String {
        format!("device:{}", self.name)
    }

    fn failed(&self) -> Option<String> {
        lock(&self.ring)
            .failed
            .as_ref()
            .map(|e| format!("audio input device '{}' failed: {e}", self.name))
    }
}

/// A playback device.
#[derive(Debug)]
pub struct DeviceSink {
    ring: Arc<Mutex<Ring>>,
    name: String,
    device_rate: u32,
    convert: Option<Resampler>,
    scratch: Vec<f32>,
    _keeper: Keeper,
}

impl DeviceSink {
    /// Opens `name` (or the default playback device).
    pub fn open(name: Option<&str>) -> Result<DeviceSink, DeviceError> {
        let (ring, opened, keeper) = open(name, false)?;
        tracing::debug!(device = %opened.name, rate = opened.rate, channels = opened.channels, "media: playback device open");
        Ok(DeviceSink {
            ring,
            name: opened.name,
            device_rate: opened.rate,
            convert: None,
            scratch: Vec::new(),
            _keeper: keeper,
        })
    }
}

impl AudioSink for DeviceSink {
    fn write(&mut self, rate: u32, frame: &[i16]) {
        let conv = match &mut self.convert {
            Some(c) if c.in_rate() == rate => c,
            slot => slot.insert(Resampler::new(rate, self.device_rate)),
        };
        let input: Vec<f32> = frame.iter().map(|&s| to_f32(s)).collect();
        self.scratch.clear();
        conv.process(&input, &mut self.scratch);
        lock(&self.ring).push(self.scratch.iter().copied());
    }

    fn describe(&self) -> String {
        format!("device:{}", self.name)
    }

    fn failed(&self) -> Option<String> {
        lock(&self.ring)
            .failed
            .as_ref()
            .map(|e| format!("audio output device '{}' failed: {e}", self.name))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_listed_device_gives_its_id_to_the_settings() {
        use super::setting_value;
        assert_eq!(
            setting_value("\"hw:CARD=0,DEV=0\" (USB Headset)"),
            "hw:CARD=0,DEV=0"
        );
        assert_eq!(setting_value(" pulse "), "pulse");
        assert_eq!(setting_value("\"unterminated"), "\"unterminated");
    }
}

/// alsa-lib's messages, captured on the calling thread while a [`Capture`]
/// lives (Linux only: elsewhere cpal does not use ALSA and there is
/// nothing to capture).
///
/// [`Capture`]: alsa_noise::Capture
#[cfg(target_os = "linux")]
mod alsa_noise {
    use std::cell::RefCell;
    use std::rc::Rc;

    pub struct Capture(Option<Rc<RefCell<alsa::Output>>>);

    impl Capture {
        pub fn start() -> Capture {
            Capture(alsa::Output::local_error_handler().ok())
        }

        pub fn said(&self) -> Option<String> {
            self.0.as_ref().map(|o| o.borrow().to_string())
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod alsa_noise {
    pub struct Capture;

    impl Capture {
        pub fn start() -> Capture {
            Capture
        }

        pub fn said(&self) -> Option<String> {
            None
        }
    }
}
