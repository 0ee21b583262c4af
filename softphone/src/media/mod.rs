//! This module provides the softphone's call audio: RTP and RTCP on the
//! wire, codecs, the jitter buffer and the sound devices, for each call leg
//! the SIP driver sets up.
//!
//! # Principal types
//!
//! * [`MediaCore`] — one call's media as a sans-IO machine around bb-media:
//!   datagrams and deadlines in, datagrams, events and the next deadline
//!   out. Symmetric RTP, packet validation, direction, DTMF and RTCP are
//!   decided here ([`core`] documents the contract and the decisions).
//! * [`MediaSession`] — the thin tokio driver of one core: its sockets
//!   ([`RtpPair`], RTP on an even port, RTCP on the next), its timers, its
//!   audio endpoints. `start` on answer, `update` after a re-INVITE,
//!   `send_dtmf`, drop (or `stop`) on hang-up.
//! * [`AudioSource`] / [`AudioSink`] — where sound comes from and goes to:
//!   a sound device through cpal ([`device`]), the null device, or WAV files
//!   for headless runs and tests ([`audio`]).
//! * [`AudioSettings`] — the validated `[audio]` section: devices, fallback,
//!   codec order, ptime, Opus options; [`sdp`] turns it into offers and
//!   answers and, with the peer's SDP, into [`StreamParams`].
//!
//! # How the SIP driver uses it
//!
//! `sip_ua` binds an [`RtpPair`] per leg and builds its SDP with
//! [`sdp::offer_formats`] or [`sdp::negotiate`] + [`sdp::answer_formats`].
//! Once a call is answered it calls [`MediaSession::start`] with
//! [`sdp::stream_params`]; re-INVITEs in either direction lead to
//! [`MediaSession::update`]; the session is dropped with the leg.
//!
//! # Key decision: the core never blocks and never reads a clock
//!
//! The send and playout ticks run on a fixed grid in the core's own time,
//! fed by the driver; sound devices sit behind ring buffers on their own
//! threads, WAV files are read whole. A stall of the task therefore shows
//! up as catch-up work, never as drift between the RTP clock and the
//! audio, and the core's tests run two sessions against each other in
//! virtual time.
//!
//! # Missing devices
//!
//! `bbclient run` probes the configured devices ([`check_devices`]): with
//! `audio.fallback = "error"` a missing one stops the start with a one-line
//! reason naming it and the devices that exist; with `"null"` (the default)
//! it logs that once and calls run silent on that side. A device that
//! vanishes later falls back to the null device for that call, with a
//! warning. ALSA's own stderr chatter is captured (see [`device`]).
//!
//! # What it deliberately won't do
//!
//! No SRTP, ICE or rtcp-mux offer; no mixing (two calls at once each open
//! the device; the held one sends silence); no echo cancellation.

pub mod audio;
pub mod core;
pub mod device;
pub mod resample;
pub mod sdp;
pub mod session;
pub mod settings;
pub mod tones;

pub use audio::{AudioSink, AudioSource};
pub use core::{MediaCore, MediaEvent, MediaStats, StreamParams};
pub use session::{CallRef, MediaNotice, MediaSession, RtpPair};
pub use settings::{AudioSettings, Fallback, Input, Output};

/// Probes the devices `settings` will use (after the headless rule).
///
/// Returns the warnings to log when a device is missing and the fallback is
/// `null`, or the one-line reason to refuse to start when it is `error`.
pub fn check_devices(settings: &AudioSettings) -> Result<Vec<String>, String> {
    let mut warnings = Vec::new();
    let mut check = |name: Option<&str>, input: bool, key: &str| -> Result<(), String> {
        match device::probe(name, input) {
            Ok(_) => Ok(()),
            Err(e) => match settings.fallback {
                Fallback::Error => Err(format!(
                    "{e} (connect it, name another with audio.{key}, or set audio.fallback = \"null\")"
                )),
                Fallback::Null => {
                    warnings.push(format!(
                        "{e}; calls use the null device there (silence) until it is available"
                    ));
                    Ok(())
                }
            },
        }
    };
    if let Input::Device(name) = settings.effective_input() {
        check(name.as_deref(), true, "input_device")?;
    }
    let output = settings.effective_output();
    if let Output::Device(name) = &output {
        check(name.as_deref(), false, "output_device")?;
    }
    // The ring device, when it is not the output device just checked.
    if let Some(ring) = settings.effective_ring_output()
        && ring != output
        && let Output::Device(name) = &ring
    {
        check(name.as_deref(), false, "ring_device")?;
    }
    Ok(warnings)
}
