//! The server end, inside `bbclient run`: binds the socket, checks who
//! connects, and serves line-delimited JSON requests and the event stream.
//!
//! # Connections are bounded
//!
//! At most [`MAX_CLIENTS`] connections are served at once, subscribers
//! included, and at most [`MAX_SUBSCRIBERS`] of them subscribed. A
//! connection that has not subscribed must send each request line within
//! [`IDLE_TIMEOUT`], or it is closed. When every place is taken, a newcomer
//! takes the place of the connection that has waited longest for a line
//! (never a subscriber, never one whose command is being carried out), so
//! silent connections cannot lock the owner out. A subscriber that closed
//! its sending side keeps its place until it closes the connection, which is
//! noticed at once (the kernel's hang-up on the socket), not at the next
//! event.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{
    AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, BufReader,
};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;

use bb_verbs::wire::{Event, EventKind, MAX_LINE_LEN, Message, Reply, Request, RequestBody};

use super::ControlCommand;
use super::transport::Listener;

/// The most control connections served at once, subscribers included.
pub const MAX_CLIENTS: usize = 64;
/// The most subscribed connections at once (they count in [`MAX_CLIENTS`]
/// too).
pub const MAX_SUBSCRIBERS: usize = 16;
/// How long a connection that has not subscribed may take to send each
/// complete request line (from its opening, then from its last reply).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a connection being closed is given to take its last line.
const LAST_WORDS: Duration = Duration::from_secs(1);

/// One accepted connection, whatever carries it (a Unix socket, a named
/// pipe): the platform's transport implements this.
pub(super) trait Conn: Send + 'static {
    /// The receiving half.
    type Read: AsyncRead + Send + Unpin + 'static;
    /// The sending half.
    type Write: AsyncWrite + Send + Unpin + 'static;
    /// Splits the connection.
    fn split(self) -> (Self::Read, Self::Write);
    /// Resolves when the peer has closed the connection entirely (both
    /// ways), which a subscriber that only closed its sending side has
    /// not; never resolves when that cannot be watched.
    fn hung_up(read: &Self::Read) -> impl Future<Output = ()> + Send;
}

/// An accepted connection to serve, or one to refuse with one line (the
/// reason: another user's, say).
pub(super) type Accepted<C> = Result<C, (C, String)>;

/// The listening end, as the platform's transport provides it.
pub(super) trait Accept: Send + 'static {
    /// What it accepts.
    type Conn: Conn;
    /// The next connection.
    fn accept(&mut self) -> impl Future<Output = std::io::Result<Accepted<Self::Conn>>> + Send;
}

/// The event stream as the control socket serves it: the broadcast, and
/// the latest registration event, stored *before* it is broadcast. A new
/// subscriber takes its receiver first and the stored state second, so the
/// registration it is told about can be older than no event it then gets:
/// sent before it subscribed, the event is in the store; after, in its
/// receiver (at worst both, the same state twice).
#[derive(Clone)]
pub struct EventFeed {
    events: broadcast::Sender<Event>,
    registration: Arc<Mutex<Option<Event>>>,
}

impl EventFeed {
    /// A feed over `events`.
    pub fn new(events: broadcast::Sender<Event>) -> EventFeed {
        EventFeed {
            events,
            registration: Arc::new(Mutex::new(None)),
        }
    }

    /// Publishes `event` to every subscriber (and to the control socket's
    /// late subscribers, when it is a registration state).
    pub fn send(&self, event: Event) {
        if matches!(event.event, EventKind::Registration { .. })
            && let Ok(mut slot) = self.registration.lock()
        {
            *slot = Some(event.clone());
        }
        let _ = self.events.send(event);
    }

    /// A receiver of what is sent from now on, and the registration state
    /// as last sent.
    fn subscribe(&self) -> (broadcast::Receiver<Event>, Option<Event>) {
        let rx = self.events.subscribe();
        let state = self.registration.lock().ok().and_then(|s| s.clone());
        (rx, state)
    }
}

/// The bounds a server keeps (the constants above; smaller in tests).
#[derive(Debug, Clone, Copy)]
struct Limits {
    clients: usize,
    subscribers: usize,
    idle: Duration,
}

const LIMITS: Limits = Limits {
    clients: MAX_CLIENTS,
    subscribers: MAX_SUBSCRIBERS,
    idle: IDLE_TIMEOUT,
};

/// What a connection is doing, for the choice of whom to close when full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a request line, or writing a reply: may be closed.
    Waiting,
    /// Its command is being carried out.
    Busy,
    /// Subscribed to the events.
    Subscribed,
}

struct Place {
    phase: Phase,
    since: Instant,
    /// Fires when the place is taken from it.
    evict: oneshot::Sender<()>,
}

/// The connections being served.
struct Registry {
    limits: Limits,
    next: u64,
    places: HashMap<u64, Place>,
}

enum SubscribeRefused {
    Full,
    Evicted,
}

impl Registry {
    /// A place for a new connection, taken from the longest-waiting one
    /// when all are taken; `None` when no place can be freed.
    fn admit(&mut self) -> Option<(u64, oneshot::Receiver<()>)> {
        if self.places.len() >= self.limits.clients {
            let oldest = self
                .places
                .iter()
                .filter(|(_, p)| p.phase == Phase::Waiting)
                .min_by_key(|(_, p)| p.since)
                .map(|(id, _)| *id)?;
            if let Some(place) = self.places.remove(&oldest) {
                let _ = place.evict.send(());
            }
        }
        let id = self.next;
        self.next += 1;
        let (evict, evicted) = oneshot::channel();
        self.places.insert(
            id,
            Place {
                phase: Phase::Waiting,
                since: Instant::now(),
                evict,
            },
        );
        Some((id, evicted))
    }

    /// Moves a connection to `phase`; false when it has lost its place.
    fn set(&mut self, id: u64, phase: Phase) -> bool {
        match self.places.get_mut(&id) {
            Some(p) => {
                p.phase = phase;
                p.since = Instant::now();
                true
            }
            None => false,
        }
    }

    fn subscribe(&mut self, id: u64) -> Result<(), SubscribeRefused> {
        let subscribed = self
            .places
            .values()
            .filter(|p| p.phase == Phase::Subscribed)
            .count();
        if !self.places.contains_key(&id) {
            return Err(SubscribeRefused::Evicted);
        }
        if subscribed >= self.limits.subscribers {
            return Err(SubscribeRefused::Full);
        }
        self.set(id, Phase::Subscribed);
        Ok(())
    }
}

/// A connection's place; given back when dropped.
struct Admission {
    registry: Arc<Mutex<Registry>>,
    id: u64,
}

impl Admission {
    fn with<T>(&self, f: impl FnOnce(&mut Registry) -> T) -> T {
        f(&mut self.registry.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn set(&self, phase: Phase) -> bool {
        self.with(|r| r.set(self.id, phase))
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let id = self.id;
        self.with(|r| r.places.remove(&id));
    }
}

/// Serves control clients until the listener fails. Events reach them
/// through `events`, which every publisher of the softphone's events uses.
pub async fn serve(listener: Listener, commands: mpsc::Sender<ControlCommand>, events: EventFeed) {
    serve_within(listener, commands, events, LIMITS).await
}

async fn serve_within<L: Accept>(
    mut listener: L,
    commands: mpsc::Sender<ControlCommand>,
    events: EventFeed,
    limits: Limits,
) {
    let registry = Arc::new(Mutex::new(Registry {
        limits,
        next: 0,
        places: HashMap::new(),
    }));
    loop {
        let stream = match listener.accept().await {
            Ok(Ok(stream)) => stream,
            Ok(Err((stream, reason))) => {
                tokio::spawn(refuse(stream, reason));
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "control socket: accept failed");
                // Out of file descriptors and the like: back off a little.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let admitted = registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .admit();
        let Some((id, evicted)) = admitted else {
            tokio::spawn(refuse(
                stream,
                format!(
                    "refused: too many control connections ({} at most, {} of them subscribed); \
                     close some and retry",
                    limits.clients, limits.subscribers
                ),
            ));
            continue;
        };
        let admission = Admission {
            registry: registry.clone(),
            id,
        };
        let commands = commands.clone();
        let events = events.clone();
        tokio::spawn(async move {
            if let Err(e) = client(stream, commands, events, admission, evicted, limits).await {
                tracing::debug!(error = %e, "control client ended");
            }
        });
    }
}

/// Sends one refusal reply (id 0) and closes.
pub(super) async fn refuse<C: Conn>(stream: C, reason: String) {
    let line = encode(&Message::Reply(Reply::err(0, reason)));
    let (_read, mut write) = stream.split();
    let _ = tokio::time::timeout(LAST_WORDS, async {
        let _ = write.write_all(line.as_bytes()).await;
        let _ = write.shutdown().await;
    })
    .await;
}

/// Reads one line of at most [`MAX_LINE_LEN`] bytes (its `\n` included).
/// `Ok(None)` at the end of the stream; `Err` names what was wrong with the
/// line (too long, not UTF-8) or the I/O error.
async fn read_line<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    buf: &mut Vec<u8>,
) -> Result<Option<String>, LineError> {
    buf.clear();
    let n = reader
        .take(MAX_LINE_LEN as u64 + 1)
        .read_until(b'\n', buf)
        .await
        .map_err(LineError::Io)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.len() > MAX_LINE_LEN {
        return Err(LineError::TooLong);
    }
    String::from_utf8(std::mem::take(buf))
        .map(Some)
        .map_err(|_| LineError::NotUtf8)
}

enum LineError {
    TooLong,
    NotUtf8,
    Io(std::io::Error),
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How a connection's conversation ended.
enum End {
    /// The peer closed, or its line could not be read.
    Done,
    /// Nothing complete within the idle timeout.
    Idle,
    /// Its place went to a newcomer.
    Evicted,
}

async fn client<C: Conn>(
    stream: C,
    commands: mpsc::Sender<ControlCommand>,
    events: EventFeed,
    admission: Admission,
    evicted: oneshot::Receiver<()>,
    limits: Limits,
) -> anyhow::Result<()> {
    let (read, mut write) = stream.split();
    let mut reader = BufReader::new(read);
    let (out_tx, mut out_rx) = mpsc::channel::<String>(256);
    let mut writer = tokio::spawn(async move {
        while let Some(line) = out_rx.recv().await {
            if write.write_all(line.as_bytes()).await.is_err() {
                break;
            }
        }
    });
    let mut forwarder: Option<AbortOnDrop> = None;
    let mut writer_done = false;
    let conversation = async {
        let send = |reply: Reply| {
            let out = out_tx.clone();
            async move { out.send(encode(&Message::Reply(reply))).await.is_ok() }
        };
        let mut buf = Vec::new();
        loop {
            let subscribed = forwarder.is_some();
            let line = if subscribed {
                read_line(&mut reader, &mut buf).await
            } else {
                match tokio::time::timeout(limits.idle, read_line(&mut reader, &mut buf)).await {
                    Ok(line) => line,
                    Err(_) => return Ok(End::Idle),
                }
            };
            let line = match line {
                Ok(Some(line)) => line,
                Ok(None) if subscribed => {
                    // Half-closed: it keeps its events, and its place,
                    // until it hangs up or a write to it fails.
                    tokio::select! {
                        () = C::hung_up(reader.get_ref()) => {}
                        _ = &mut writer => writer_done = true,
                    }
                    return Ok(End::Done);
                }
                Ok(None) => return Ok(End::Done),
                Err(LineError::TooLong) => {
                    send(Reply::err(
                        0,
                        format!(
                            "control line refused: longer than {MAX_LINE_LEN} bytes; the connection is closed"
                        ),
                    ))
                    .await;
                    return Ok(End::Done);
                }
                Err(LineError::NotUtf8) => {
                    if !send(Reply::err(0, "control line refused: not UTF-8")).await {
                        return Ok(End::Done);
                    }
                    continue;
                }
                Err(LineError::Io(e)) => return Err(anyhow::Error::from(e)),
            };
            if line.trim().is_empty() {
                continue;
            }
            let request = match Request::from_line(&line) {
                Ok(r) => r,
                Err(e) => {
                    if !send(Reply::err(0, e)).await {
                        return Ok(End::Done);
                    }
                    continue;
                }
            };
            if matches!(request.body, RequestBody::Subscribe) {
                if subscribed {
                    send(Reply::ok(request.id, None)).await;
                    continue;
                }
                match admission.with(|r| r.subscribe(admission.id)) {
                    Ok(()) => {}
                    Err(SubscribeRefused::Evicted) => return Ok(End::Evicted),
                    Err(SubscribeRefused::Full) => {
                        let refusal = Reply::err(
                            request.id,
                            format!(
                                "refused: too many subscribers ({} at most); close one and retry",
                                limits.subscribers
                            ),
                        );
                        if !send(refusal).await {
                            return Ok(End::Done);
                        }
                        continue;
                    }
                }
                let (mut rx, snapshot) = events.subscribe();
                send(Reply::ok(request.id, None)).await;
                if let Some(ev) = snapshot {
                    let _ = out_tx.send(encode(&Message::Event(ev))).await;
                }
                let out = out_tx.clone();
                forwarder = Some(AbortOnDrop(tokio::spawn(async move {
                    loop {
                        match rx.recv().await {
                            Ok(ev) => {
                                if out.send(encode(&Message::Event(ev))).await.is_err() {
                                    break;
                                }
                            }
                            Err(broadcast::error::RecvError::Lagged(n)) => {
                                tracing::warn!(
                                    missed = n,
                                    "a control subscriber is too slow; events were dropped"
                                );
                            }
                            Err(broadcast::error::RecvError::Closed) => break,
                        }
                    }
                })));
                continue;
            }
            // Once its place is gone, a connection starts nothing more.
            if !subscribed && !admission.set(Phase::Busy) {
                return Ok(End::Evicted);
            }
            let (tx, rx) = oneshot::channel();
            let id = request.id;
            let sent = commands
                .send(ControlCommand {
                    body: request.body,
                    reply: tx,
                })
                .await;
            let reply = match sent {
                Err(_) => {
                    send(Reply::err(id, "the softphone is shutting down")).await;
                    return Ok(End::Done);
                }
                Ok(()) => match rx.await {
                    Ok(Ok(data)) => Reply::ok(id, data),
                    Ok(Err(reason)) => Reply::err(id, reason),
                    Err(_) => Reply::err(id, "the softphone is shutting down"),
                },
            };
            if !subscribed {
                admission.set(Phase::Waiting);
            }
            if !send(reply).await {
                return Ok(End::Done);
            }
        }
    };
    let end = tokio::select! {
        end = conversation => end,
        _ = evicted => Ok(End::Evicted),
    };
    drop(forwarder);
    drop(admission);
    let last = match &end {
        Ok(End::Idle) => Some(format!(
            "closed: no complete request line within {} s; send each request at once, or subscribe",
            limits.idle.as_secs_f64()
        )),
        Ok(End::Evicted) => Some(format!(
            "closed: all {} control connections were taken and this one had waited longest for a \
             request; reconnect and send the request at once",
            limits.clients
        )),
        _ => None,
    };
    if let Some(reason) = last {
        tracing::debug!(reason, "control connection closed");
        let _ = out_tx.try_send(encode(&Message::Reply(Reply::err(0, reason))));
    }
    drop(out_tx);
    if !writer_done && tokio::time::timeout(LAST_WORDS, &mut writer).await.is_err() {
        writer.abort();
    }
    end.map(|_| ())
}

fn encode(m: &Message) -> String {
    m.to_line().unwrap_or_else(|e| {
        let reason = serde_json::to_string(&e.to_string()).unwrap_or_else(|_| "\"\"".into());
        format!("{{\"type\":\"reply\",\"id\":0,\"ok\":false,\"error\":{reason}}}\n")
    })
}

#[cfg(all(test, unix))]
#[path = "server_tests.rs"]
mod tests;
