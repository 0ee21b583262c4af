//! The tokio driver of one call's media: it owns the RTP and RTCP sockets
//! and the audio endpoints, feeds datagrams and deadlines to a
//! [`MediaCore`], sends what it asks, and logs what it reports. It decides
//! nothing.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bb_media::Time;
use bb_media::rtcp::NtpTime;
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::audio::{AudioSink, AudioSource, NullSink, NullSource, WavSink, WavSource};
use super::core::{MediaCore, MediaEvent, MediaStats, Socket, StreamParams};
use super::device::{DeviceSink, DeviceSource};
use super::settings::{AudioSettings, Input, Output};
use super::tones::{MutableSource, ToneMixSink};
use std::sync::atomic::{AtomicBool, AtomicU8};

/// What a call's media tells the rest of the softphone.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaNotice {
    /// A DTMF digit arrived (RFC 4733).
    Dtmf {
        /// The call (the SIP driver's key).
        key: u64,
        /// Its Call-ID (for the event stream; never logged here).
        call_id: String,
        /// The digit.
        digit: char,
    },
    /// The media of a call stopped; its final figures.
    Stopped {
        /// The call.
        key: u64,
        /// Its Call-ID.
        call_id: String,
        /// Counters at the end.
        stats: Box<MediaStats>,
    },
}

/// Which call a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRef {
    /// The SIP driver's key for the leg.
    pub key: u64,
    /// Its Call-ID (only in notices, never in logs).
    pub call_id: String,
    /// Its name in logs (`in-3`, `out-1`).
    pub label: String,
}

enum Command {
    Update(StreamParams),
    Dtmf(String),
    Tone(Option<bb_media::cadence::Cadence>),
}

/// A running media session. Dropping it stops the media (the task sends an
/// RTCP BYE, closes the WAV file and logs the call's figures).
#[derive(Debug)]
pub struct MediaSession {
    commands: mpsc::UnboundedSender<Command>,
    stats: Arc<Mutex<MediaStats>>,
    muted: Arc<AtomicBool>,
    cancel: CancellationToken,
    done: Option<tokio::task::JoinHandle<()>>,
}

/// The sockets of a call leg: RTP on an even port, RTCP on the next one.
#[derive(Debug, Clone)]
pub struct RtpPair {
    /// RTP.
    pub rtp: Arc<UdpSocket>,
    /// RTCP.
    pub rtcp: Arc<UdpSocket>,
}

impl RtpPair {
    /// Binds RTP on an even port of `ip` and RTCP on the port above it.
    pub async fn bind(ip: std::net::IpAddr) -> std::io::Result<RtpPair> {
        let mut last = None;
        for _ in 0..32 {
            let rtp = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
            let port = rtp.local_addr()?.port();
            if port % 2 != 0 || port == u16::MAX {
                continue;
            }
            match UdpSocket::bind(SocketAddr::new(ip, port + 1)).await {
                Ok(rtcp) => {
                    return Ok(RtpPair {
                        rtp: Arc::new(rtp),
                        rtcp: Arc::new(rtcp),
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("no free even/odd UDP port pair on {ip} after 32 tries"),
            )
        }))
    }

    /// The RTP address (what SDP announces).
    pub fn local(&self) -> std::io::Result<SocketAddr> {
        self.rtp.local_addr()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Who holds a recording path: a call, or a tone player (ringback, busy,
/// the ringer) that gives way to a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Holder {
    Call,
    Tone,
}

/// WAV paths being recorded, so that two calls at once never write the
/// same file: the second gets `NAME-LABEL.wav`.
static RECORDING: Mutex<Option<HashMap<PathBuf, Holder>>> = Mutex::new(None);

/// How long a call or a tone waits for a tone player to close the file it
/// wants (the ringback stops when the call is answered, a few ms later).
const TONE_GIVES_WAY: Duration = Duration::from_millis(500);

fn claim(path: &Path, tag: &str, holder: Holder) -> PathBuf {
    let deadline = Instant::now() + TONE_GIVES_WAY;
    loop {
        let mut guard = lock(&RECORDING);
        let map = guard.get_or_insert_with(HashMap::new);
        let held = map.get(path).copied();
        // A tone player gives way: to a call, and to the next tone of the
        // same call (ringback stops, busy starts).
        if held == Some(Holder::Tone) && Instant::now() < deadline {
            drop(guard);
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let chosen = if held.is_some() {
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            let name = format!("{}-{tag}.wav", stem.unwrap_or_else(|| "call".into()));
            path.with_file_name(name)
        } else {
            path.to_path_buf()
        };
        map.insert(chosen.clone(), holder);
        return chosen;
    }
}

/// Frees a path claimed by [`open_sink`] once its sink is closed.
pub(crate) fn release(path: &Path) {
    if let Some(map) = lock(&RECORDING).as_mut() {
        map.remove(path);
    }
}

/// The capture endpoint for `input`; a device that cannot be opened
/// becomes silence, with one warning naming it.
pub fn open_source(input: &Input, label: &str) -> Box<dyn AudioSource> {
    match input {
        Input::Null => Box::new(NullSource),
        Input::Wav(path) => match WavSource::open(path) {
            Ok(s) => Box::new(s),
            Err(e) => {
                tracing::warn!("media: call {label}: {e}; sending silence instead");
                Box::new(NullSource)
            }
        },
        Input::Device(name) => match DeviceSource::open(name.as_deref()) {
            Ok(s) => Box::new(s),
            Err(e) => {
                tracing::warn!("media: call {label}: {e}; sending silence instead (null device)");
                Box::new(NullSource)
            }
        },
    }
}

/// The playback endpoint for `output`, with the same fallback; a WAV
/// file is claimed for `holder` (see [`release`]). May block: a call
/// waits briefly for a tone player to give its file up.
pub(crate) fn open_sink(
    output: &Output,
    label: &str,
    holder: Holder,
) -> (Box<dyn AudioSink>, Option<PathBuf>) {
    match output {
        Output::Null => (Box::new(NullSink), None),
        Output::Wav(path) => {
            let chosen = claim(path, label, holder);
            (Box::new(WavSink::new(&chosen)), Some(chosen))
        }
        Output::Device(name) => match DeviceSink::open(name.as_deref()) {
            Ok(s) => (Box::new(s), None),
            Err(e) => {
                tracing::warn!(
                    "media: call {label}: {e}; discarding the peer's audio instead (null device)"
                );
                (Box::new(NullSink), None)
            }
        },
    }
}

/// Wall-clock microseconds since the Unix epoch at `at`.
fn unix_us(wall0: SystemTime, origin: Instant, at: Instant) -> u64 {
    let base = wall0.duration_since(UNIX_EPOCH).unwrap_or_default();
    (base + at.saturating_duration_since(origin)).as_micros() as u64
}

struct Task {
    key: u64,
    call_id: String,
    label: String,
    pair: RtpPair,
    params: StreamParams,
    audio: AudioSettings,
    commands: mpsc::UnboundedReceiver<Command>,
    stats: Arc<Mutex<MediaStats>>,
    muted: Arc<AtomicBool>,
    notices: Option<broadcast::Sender<MediaNotice>>,
    cancel: CancellationToken,
}

impl MediaSession {
    /// Starts the media of `call` on `pair` with `params`; the audio
    /// endpoints come from `audio`. `notices` receives DTMF and the final
    /// figures; `cancel` (a child of the softphone's) stops it too.
    pub fn start(
        call: CallRef,
        pair: RtpPair,
        params: StreamParams,
        audio: AudioSettings,
        notices: Option<broadcast::Sender<MediaNotice>>,
        cancel: CancellationToken,
    ) -> MediaSession {
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(Mutex::new(MediaStats {
            codec: params.codec.rtpmap(),
            ..MediaStats::default()
        }));
        let muted = Arc::new(AtomicBool::new(false));
        let task = Task {
            muted: muted.clone(),
            key: call.key,
            call_id: call.call_id,
            label: call.label,
            pair,
            params,
            audio,
            commands: rx,
            stats: stats.clone(),
            notices,
            cancel: cancel.clone(),
        };
        let done = tokio::spawn(task.run());
        MediaSession {
            commands: tx,
            muted,
            stats,
            cancel,
            done: Some(done),
        }
    }

    /// New parameters after a re-INVITE (direction, address, codec).
    pub fn update(&self, params: StreamParams) {
        let _ = self.commands.send(Command::Update(params));
    }

    /// Sends `digits` as RFC 4733 events; the outcome is logged.
    pub fn send_dtmf(&self, digits: &str) {
        let _ = self.commands.send(Command::Dtmf(digits.to_string()));
    }

    /// Mutes (`true`: silence is sent, RTP keeps flowing) or unmutes the
    /// microphone.
    pub fn set_muted(&self, muted: bool) {
        self.muted
            .store(muted, std::sync::atomic::Ordering::Relaxed);
    }

    /// Mixes a tone into what the operator hears (call waiting), or
    /// stops it (`None`).
    pub fn set_tone(&self, tone: Option<bb_media::cadence::Cadence>) {
        let _ = self.commands.send(Command::Tone(tone));
    }

    /// The latest figures (refreshed a few times a second).
    pub fn stats(&self) -> MediaStats {
        lock(&self.stats).clone()
    }

    /// Stops the media and waits until the WAV file is closed and the
    /// figures are logged.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
    }
}

impl Drop for MediaSession {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Task {
    async fn run(mut self) {
        let label = self.label.clone();
        let (input, output) = (self.audio.effective_input(), self.audio.effective_output());
        let rate = self.params.codec.sample_rate();
        let opened = tokio::task::spawn_blocking({
            let label = label.clone();
            move || {
                let mut source = open_source(&input, &label);
                // Converts a WAV file to the call's rate now, not on the
                // first tick.
                source.read(rate, &mut []);
                (source, open_sink(&output, &label, Holder::Call))
            }
        })
        .await;
        let Ok((source, (sink, recording))) = opened else {
            tracing::error!("media: call {label}: the audio endpoints could not be opened");
            return;
        };
        let mut source = MutableSource::new(
            source,
            self.muted.clone(),
            Arc::new(AtomicU8::new(self.audio.input_volume)),
        );
        let mut sink = ToneMixSink::new(sink, self.audio.output_volume);
        // Datagrams that queued while the endpoints opened are stale audio:
        // played now they would only add delay the jitter buffer then has to
        // shed frame by frame.
        let mut stale = 0u32;
        let mut scratch = [0u8; 2048];
        while self.pair.rtp.try_recv_from(&mut scratch).is_ok() && stale < 10_000 {
            stale += 1;
        }
        if stale > 0 {
            tracing::debug!(
                "media: call {label}: discarded {stale} datagrams that arrived before the audio was ready"
            );
        }
        let origin = Instant::now();
        let wall0 = SystemTime::now();
        let seed: u64 = rand::random();
        let mut core = match MediaCore::new(self.params.clone(), Time::ZERO, seed) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("media: call {label}: {e}; the call has no audio");
                return;
            }
        };
        let local = self.pair.local().map(|a| a.to_string()).unwrap_or_default();
        let t0 = unix_us(wall0, origin, origin);
        let ptime_us = core.send_ptime().millis() as u64 * 1000;
        tracing::info!(
            "media started: call {label}: {}{} at {} Hz, {} ms frames, RTP {local} -> {}, from {} to {}, mouth_t0_unix_us={} ear_t0_unix_us={t0}",
            self.params.codec.rtpmap(),
            self.params
                .srtp
                .as_ref()
                .map(|k| format!(" over SRTP {}", k.suite))
                .unwrap_or_default(),
            core.sample_rate(),
            core.send_ptime().millis(),
            self.params
                .remote_rtp
                .map(|a| a.to_string())
                .unwrap_or_else(|| "nowhere".into()),
            source.describe(),
            sink.describe(),
            t0.saturating_sub(ptime_us),
        );
        let now = |at: Instant| {
            Time::from_micros(at.saturating_duration_since(origin).as_micros() as u64)
        };
        let ntp =
            |at: Instant| NtpTime::from_unix(Duration::from_micros(unix_us(wall0, origin, at)));
        let started = Some(t0);
        let snapshot = |core: &MediaCore| MediaStats {
            started_unix_us: started,
            ..core.stats()
        };
        *lock(&self.stats) = snapshot(&core);
        let mut rtp_buf = vec![0u8; 2048];
        let mut rtcp_buf = vec![0u8; 2048];
        let (mut rtp_ok, mut rtcp_ok) = (true, true);
        let mut last_stats = origin;
        let rtp = self.pair.rtp.clone();
        let rtcp = self.pair.rtcp.clone();
        loop {
            let deadline = origin + Duration::from_micros(core.poll_timeout().as_micros());
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => break,
                cmd = self.commands.recv() => match cmd {
                    Some(Command::Update(p)) => {
                        if let Err(e) = core.update(p.clone(), now(Instant::now())) {
                            tracing::warn!("media: call {label}: {e}; keeping the previous settings");
                        } else {
                            tracing::info!(
                                "media updated: call {label}: {}, sending {}, receiving {}, to {}",
                                p.codec.rtpmap(),
                                if p.send { if p.muted { "silence" } else { "yes" } } else { "no" },
                                if p.recv { "yes" } else { "no" },
                                p.remote_rtp.map(|a| a.to_string()).unwrap_or_else(|| "nowhere".into()),
                            );
                        }
                    }
                    Some(Command::Tone(tone)) => sink.set_tone(tone),
                    Some(Command::Dtmf(digits)) => match core.send_dtmf(&digits, now(Instant::now())) {
                        Ok(()) => tracing::info!("media: call {label}: sending DTMF '{digits}' as RFC 4733 events"),
                        Err(e) => tracing::warn!("media: call {label}: DTMF '{digits}' not sent: {e}"),
                    },
                    None => break,
                },
                r = rtp.recv_from(&mut rtp_buf), if rtp_ok => match r {
                    Ok((n, from)) => {
                        let at = Instant::now();
                        core.handle_rtp(now(at), ntp(at), from, &rtp_buf[..n]);
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "media: call {label}: RTP receive failed");
                        rtp_ok = false;
                    }
                },
                r = rtcp.recv_from(&mut rtcp_buf), if rtcp_ok => match r {
                    Ok((n, from)) => {
                        let at = Instant::now();
                        core.handle_rtcp(now(at), ntp(at), from, &rtcp_buf[..n]);
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "media: call {label}: RTCP receive failed");
                        rtcp_ok = false;
                    }
                },
                _ = tokio::time::sleep_until(deadline.into()) => {
                    // A receive error pauses that socket until the next tick.
                    rtp_ok = true;
                    rtcp_ok = true;
                }
            }
            let at = Instant::now();
            core.handle_timeout(now(at), ntp(at), &mut source, &mut sink);
            self.flush(&mut core);
            if at.duration_since(last_stats) >= Duration::from_millis(250) {
                last_stats = at;
                *lock(&self.stats) = snapshot(&core);
            }
        }
        core.close();
        self.flush(&mut core);
        // Closing a WAV file or a device may block: not on this thread.
        let closed = tokio::task::spawn_blocking(move || {
            sink.finish();
            drop(sink);
            drop(source);
        })
        .await;
        if closed.is_err() {
            tracing::warn!("media: call {label}: closing the audio endpoints failed");
        }
        if let Some(path) = recording {
            release(&path);
        }
        let stats = snapshot(&core);
        *lock(&self.stats) = stats.clone();
        tracing::info!("media stopped: call {label}: {stats}");
        if let Some(n) = &self.notices {
            let _ = n.send(MediaNotice::Stopped {
                key: self.key,
                call_id: self.call_id.clone(),
                stats: Box::new(stats),
            });
        }
    }

    fn flush(&mut self, core: &mut MediaCore) {
        while let Some(t) = core.poll_transmit() {
            let socket = match t.socket {
                Socket::Rtp => &self.pair.rtp,
                Socket::Rtcp => &self.pair.rtcp,
            };
            if let Err(e) = socket.try_send_to(&t.data, t.to) {
                tracing::debug!(error = %e, to = %t.to, "media: call {}: send failed", self.label);
            }
        }
        while let Some(ev) = core.poll_event() {
            let label = &self.label;
            match ev {
                MediaEvent::SourceLatched { addr } => {
                    tracing::info!(
                        "media: call {label}: the peer's RTP comes from {addr}; sending there"
                    )
                }
                MediaEvent::SsrcChanged { from, to } => {
                    tracing::info!(
                        "media: call {label}: the peer's SSRC changed from {from:#010x} to {to:#010x}"
                    )
                }
                MediaEvent::FrameChanged { ms } => {
                    tracing::info!(
                        "media: call {label}: the peer sends {ms} ms frames; playing them so"
                    )
                }
                MediaEvent::Dtmf { digit } => {
                    tracing::info!("media: call {label}: received DTMF '{digit}'");
                    if let Some(n) = &self.notices {
                        let _ = n.send(MediaNotice::Dtmf {
                            key: self.key,
                            call_id: self.call_id.clone(),
                            digit,
                        });
                    }
                }
                MediaEvent::RemoteReport(r) => tracing::debug!(
                    "media: call {label}: the peer reports loss {:.1} % (cumulative {}), jitter {:?}, rtt {:?}",
                    r.loss_percent,
                    r.cumulative_lost,
                    r.jitter,
                    r.rtt
                ),
                MediaEvent::RemoteBye => {
                    tracing::debug!("media: call {label}: the peer sent RTCP BYE")
                }
                MediaEvent::FirstDrop { reason } => tracing::info!(
                    "media: call {label}: dropping {reason}; further drops are only counted"
                ),
                MediaEvent::CodecError { what } => {
                    tracing::warn!("media: call {label}: {what}; further failures are only counted")
                }
            }
        }
    }
}
