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
use std::os::fd::AsFd as _;
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::Interest;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::unix::OwnedReadHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;

use bb_verbs::wire::{Event, EventKind, MAX_LINE_LEN, Message, Reply, Request, RequestBody};

use super::ControlCommand;
use super::paths::{current_uid, ensure_private_dir};

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

/// Binds the control socket; fails if another instance already serves it.
pub async fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        ensure_private_dir(dir).map_err(anyhow::Error::msg)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if UnixStream::connect(path).await.is_ok() {
                anyhow::bail!(
                    "another softphone already runs with this instance ({}); use --instance NAME to run a second one",
                    path.display()
                );
            }
            // A stale socket from a crashed run.
            std::fs::remove_file(path)
                .with_context(|| format!("cannot remove the stale socket {}", path.display()))?;
        }
        Ok(_) => anyhow::bail!(
            "{} exists and is not a socket; refusing to replace it (remove it)",
            path.display()
        ),
        Err(_) => {}
    }
    let listener = UnixListener::bind(path).with_context(|| {
        format!(
            "cannot listen on {} (is another softphone with this instance starting?)",
            path.display()
        )
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot make {} private (0600)", path.display()))?;
    Ok(listener)
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
pub async fn serve(
    listener: UnixListener,
    commands: mpsc::Sender<ControlCommand>,
    events: EventFeed,
) {
    serve_within(listener, commands, events, LIMITS).await
}

async fn serve_within(
    listener: UnixListener,
    commands: mpsc::Sender<ControlCommand>,
    events: EventFeed,
    limits: Limits,
) {
    let uid = current_uid();
    let registry = Arc::new(Mutex::new(Registry {
        limits,
        next: 0,
        places: HashMap::new(),
    }));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "control socket: accept failed");
                // Out of file descriptors and the like: back off a little.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        match stream.peer_cred() {
            Ok(cred) if cred.uid() == uid => {}
            Ok(cred) => {
                tracing::warn!(
                    peer_uid = cred.uid(),
                    "refused a control connection from another user"
                );
                tokio::spawn(refuse(
                    stream,
                    format!(
                        "refused: this softphone belongs to uid {uid} and only its owner may control it \
                         (you are uid {})",
                        cred.uid()
                    ),
                ));
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "refused a control connection without peer credentials");
                tokio::spawn(refuse(
                    stream,
                    "refused: the credentials of the connecting process cannot be read".into(),
                ));
                continue;
            }
        }
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
async fn refuse(mut stream: UnixStream, reason: String) {
    let line = encode(&Message::Reply(Reply::err(0, reason)));
    let _ = tokio::time::timeout(LAST_WORDS, async {
        let _ = stream.write_all(line.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// Reads one line of at most [`MAX_LINE_LEN`] bytes (its `\n` included).
/// `Ok(None)` at the end of the stream; `Err` names what was wrong with the
/// line (too long, not UTF-8) or the I/O error.
async fn read_line(
    reader: &mut BufReader<OwnedReadHalf>,
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

/// Resolves when the peer has closed the connection entirely (both ways),
/// which a subscriber that only closed its sending side has not. Watches a
/// duplicate of the socket with its own registration, so that clearing its
/// readiness here cannot stall the writer; if that cannot be made, never
/// resolves (the next event's failed write still ends the connection).
async fn hung_up(stream: &UnixStream) {
    let watch = stream
        .as_fd()
        .try_clone_to_owned()
        .and_then(|fd| UnixStream::from_std(std::os::unix::net::UnixStream::from(fd)));
    let Ok(watch) = watch else {
        return std::future::pending().await;
    };
    loop {
        match watch.ready(Interest::WRITABLE).await {
            Ok(ready) if ready.is_write_closed() => return,
            // Writable, as it is until the peer goes: forget that, and wait
            // for the next change of state.
            Ok(_) => {
                let _ = watch.try_io(Interest::WRITABLE, || {
                    Err::<(), _>(std::io::ErrorKind::WouldBlock.into())
                });
            }
            Err(_) => return std::future::pending().await,
        }
    }
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

async fn client(
    stream: UnixStream,
    commands: mpsc::Sender<ControlCommand>,
    events: EventFeed,
    admission: Admission,
    evicted: oneshot::Receiver<()>,
    limits: Limits,
) -> anyhow::Result<()> {
    let (read, mut write) = stream.into_split();
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
                        () = hung_up(reader.get_ref().as_ref()) => {}
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt as _;
    use std::path::PathBuf;

    use bb_verbs::wire::RegistrationState;
    use tokio::io::Lines;
    use tokio::net::unix::OwnedWriteHalf;

    use crate::control::{Client, ClientError};

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "bbclient-control-unit-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("scratch dir is writable");
        d
    }

    /// A server within `limits` whose application answers every command at
    /// once, except `hold`, which it keeps unanswered (in `held`).
    async fn server(name: &str, limits: Limits) -> (PathBuf, Arc<Mutex<Vec<ControlCommand>>>) {
        let path = scratch(name).join("run/bbclient/t.sock");
        let listener = bind(&path).await.expect("bind");
        let (cmd_tx, mut cmd_rx) = mpsc::channel::<ControlCommand>(4);
        let (ev_tx, _) = broadcast::channel::<Event>(16);
        tokio::spawn(serve_within(
            listener,
            cmd_tx,
            EventFeed::new(ev_tx),
            limits,
        ));
        let held = Arc::new(Mutex::new(Vec::new()));
        let keep = held.clone();
        tokio::spawn(async move {
            while let Some(cmd) = cmd_rx.recv().await {
                if matches!(cmd.body, RequestBody::Hold) {
                    keep.lock().expect("not poisoned").push(cmd);
                } else {
                    let _ = cmd.reply.send(Ok(None));
                }
            }
        });
        (path, held)
    }

    /// A connection that speaks raw lines.
    struct Raw {
        lines: Lines<BufReader<OwnedReadHalf>>,
        write: OwnedWriteHalf,
    }

    impl Raw {
        async fn open(path: &Path) -> Raw {
            let (read, write) = UnixStream::connect(path)
                .await
                .expect("connect")
                .into_split();
            Raw {
                lines: BufReader::new(read).lines(),
                write,
            }
        }

        async fn send(&mut self, line: &str) {
            self.write.write_all(line.as_bytes()).await.expect("write");
        }

        async fn next(&mut self) -> Option<serde_json::Value> {
            let line = self.lines.next_line().await.expect("read")?;
            Some(serde_json::from_str(&line).expect("json"))
        }

        async fn ask(&mut self, line: &str) -> serde_json::Value {
            self.send(line).await;
            self.next().await.expect("a reply")
        }
    }

    fn error_of(v: &serde_json::Value) -> &str {
        v["error"].as_str().unwrap_or_default()
    }

    #[test]
    fn a_registration_sent_before_a_subscription_is_in_its_state() {
        // The control_events race: the softphone said "registered", the
        // script subscribed at once, and the event had been broadcast
        // before it subscribed but not yet seen by a tracking task.
        let (tx, _) = broadcast::channel::<Event>(4);
        let feed = EventFeed::new(tx);
        let registered = Event::new(EventKind::Registration {
            state: RegistrationState::Registered,
            reason: None,
        });
        feed.send(registered.clone());
        let (mut rx, state) = feed.subscribe();
        assert_eq!(state, Some(registered));
        let answered = Event::new(EventKind::Answered).with_call("abc@host");
        feed.send(answered.clone());
        assert_eq!(rx.try_recv().ok(), Some(answered));
    }

    #[tokio::test]
    async fn a_subscriber_gets_the_registration_state_then_events_in_order() {
        let d = scratch("serve");
        let path = d.join("run/bbclient/t.sock");
        let listener = bind(&path).await.expect("bind");
        let mode = std::fs::metadata(&path).expect("socket").mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (cmd_tx, mut cmd_rx) = mpsc::channel::<ControlCommand>(4);
        let (ev_tx, _) = broadcast::channel::<Event>(16);
        let feed = EventFeed::new(ev_tx);
        let server = serve(listener, cmd_tx, feed.clone());
        // Sent before the server task is even polled: it must not be lost.
        let registered = Event::new(EventKind::Registration {
            state: RegistrationState::Registered,
            reason: None,
        });
        feed.send(registered.clone());
        tokio::spawn(server);
        tokio::spawn(async move {
            while let Some(cmd) = cmd_rx.recv().await {
                let outcome = match cmd.body {
                    RequestBody::Hold => Err("no active call to hold".to_string()),
                    _ => Ok(Some(serde_json::json!({"seen": cmd.body.word()}))),
                };
                let _ = cmd.reply.send(outcome);
            }
        });

        let mut c = Client::connect(&path).await.expect("connect");
        let hold = c.request(RequestBody::Hold).await.expect("reply");
        assert!(!hold.ok);
        assert_eq!(hold.id, 1);
        assert_eq!(hold.error.as_deref(), Some("no active call to hold"));
        assert!(c.subscribe().await.expect("reply").ok);
        assert_eq!(c.next_event().await.expect("replayed"), registered);
        let answered = Event::new(EventKind::Answered).with_call("abc@host");
        feed.send(answered.clone());
        let status = c.request(RequestBody::Status).await.expect("reply");
        assert_eq!(status.data, Some(serde_json::json!({"seen": "status"})));
        assert_eq!(c.next_event().await.expect("event"), answered);
    }

    #[tokio::test]
    async fn bad_lines_get_a_reply_with_id_zero() {
        let d = scratch("bad-lines");
        let path = d.join("run/bbclient/t.sock");
        let listener = bind(&path).await.expect("bind");
        let (cmd_tx, _cmd_rx) = mpsc::channel::<ControlCommand>(4);
        let (ev_tx, _) = broadcast::channel::<Event>(16);
        tokio::spawn(serve(listener, cmd_tx, EventFeed::new(ev_tx)));
        let stream = UnixStream::connect(&path).await.expect("connect");
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let mut ask = async |line: &[u8]| -> serde_json::Value {
            write.write_all(line).await.expect("write");
            let l = lines.next_line().await.expect("read").expect("a line");
            serde_json::from_str(&l).expect("json")
        };
        let r = ask(b"{\"id\":7,\"cmd\":\"fly\"}\n").await;
        assert_eq!(
            (r["id"].as_u64(), r["ok"].as_bool()),
            (Some(0), Some(false)),
            "{r}"
        );
        let r = ask(b"{\"id\":8,\"cmd\":\"call\",\"number\":\"12ab\"}\n").await;
        let e = r["error"].as_str().unwrap_or_default();
        assert!(e.contains("number refused"), "{r}");
        let r = ask(b"\xff\xfe\n").await;
        assert_eq!(r["error"], "control line refused: not UTF-8");
        let mut long = vec![b'x'; MAX_LINE_LEN + 10];
        long.push(b'\n');
        let r = ask(&long).await;
        assert!(
            r["error"]
                .as_str()
                .unwrap_or_default()
                .contains("longer than"),
            "{r}"
        );
        assert!(
            lines.next_line().await.expect("read").is_none(),
            "closed after a long line"
        );
    }

    #[tokio::test]
    async fn silent_connections_beyond_the_limit_do_not_lock_a_verb_out() {
        let (path, _) = server("silent", LIMITS).await;
        let mut silent = Vec::new();
        for _ in 0..MAX_CLIENTS + 8 {
            silent.push(
                UnixStream::connect(&path)
                    .await
                    .expect("the kernel accepts"),
            );
        }
        let mut c = Client::connect(&path).await.expect("connect");
        let r = c.request(RequestBody::Status).await.expect("a reply");
        assert!(r.ok, "{r:?}");
        // The oldest silent one gave its place, and was told why.
        let mut first = BufReader::new(silent.remove(0));
        let mut line = String::new();
        first.read_line(&mut line).await.expect("read");
        assert!(
            line.contains("closed: all 64 control connections were taken"),
            "{line}"
        );
    }

    #[tokio::test]
    async fn connections_beyond_the_limit_are_refused_when_none_can_give_way() {
        let limits = Limits {
            clients: 4,
            subscribers: 2,
            idle: IDLE_TIMEOUT,
        };
        let (path, held) = server("limit", limits).await;
        // Two subscribers and two commands being carried out: nobody to
        // close for a newcomer.
        let mut subscribers = Vec::new();
        for _ in 0..2 {
            let mut s = Raw::open(&path).await;
            assert_eq!(
                s.ask("{\"id\":1,\"cmd\":\"subscribe\"}\n").await["ok"],
                true
            );
            subscribers.push(s);
        }
        let mut busy = Vec::new();
        for _ in 0..2 {
            let mut b = Raw::open(&path).await;
            b.send("{\"id\":1,\"cmd\":\"hold\"}\n").await;
            busy.push(b);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while held.lock().expect("not poisoned").len() < 2 {
            assert!(Instant::now() < deadline, "the holds did not arrive");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut extra = Client::connect(&path).await.expect("the kernel accepts");
        let r = extra.request(RequestBody::Status).await.expect("a refusal");
        assert_eq!((r.ok, r.id), (false, 0));
        let e = r.error.unwrap_or_default();
        assert!(
            e.contains("too many control connections (4 at most, 2 of them subscribed)"),
            "{e}"
        );
        // A command answered makes its connection one that can give way.
        for cmd in held.lock().expect("not poisoned").drain(..) {
            let _ = cmd.reply.send(Ok(None));
        }
        for b in &mut busy {
            assert_eq!(b.next().await.expect("the reply")["ok"], true);
        }
        let mut c = Client::connect(&path).await.expect("connect");
        assert!(c.request(RequestBody::Status).await.expect("reply").ok);
        let closed = busy[0].next().await.expect("told why");
        assert!(
            error_of(&closed).contains("had waited longest for a request"),
            "{closed}"
        );
        assert!(busy[0].next().await.is_none(), "and closed");
    }

    #[tokio::test]
    async fn a_connection_without_a_complete_line_is_closed_when_idle() {
        let limits = Limits {
            idle: Duration::from_millis(100),
            ..LIMITS
        };
        let (path, _) = server("idle", limits).await;
        // One that answers at once is served, then times out waiting for
        // the next line; one that never finishes its line likewise.
        let mut quick = Raw::open(&path).await;
        assert_eq!(
            quick.ask("{\"id\":1,\"cmd\":\"status\"}\n").await["ok"],
            true
        );
        let mut partial = Raw::open(&path).await;
        partial.send("{\"id\":1,\"cmd\":").await;
        for c in [&mut quick, &mut partial] {
            // Bounded only so that a server that never closes fails the
            // test instead of hanging it.
            let closed = tokio::time::timeout(Duration::from_secs(10), c.next())
                .await
                .expect("closed long after the 0.1 s limit")
                .expect("told why");
            assert_eq!(closed["id"], 0);
            assert!(
                error_of(&closed).contains("closed: no complete request line within 0.1 s"),
                "{closed}"
            );
            assert!(c.next().await.is_none(), "and closed");
        }
        // A subscriber is silent by nature, and is not timed out: it still
        // gets the answer to a request sent long after.
        let mut sub = Raw::open(&path).await;
        assert_eq!(
            sub.ask("{\"id\":1,\"cmd\":\"subscribe\"}\n").await["ok"],
            true
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let r = sub.ask("{\"id\":2,\"cmd\":\"status\"}\n").await;
        assert_eq!((r["id"].as_u64(), r["ok"].as_bool()), (Some(2), Some(true)));
    }

    #[tokio::test]
    async fn half_closed_subscribers_count_until_they_hang_up() {
        let limits = Limits {
            subscribers: 2,
            ..LIMITS
        };
        let (path, _) = server("subscribers", limits).await;
        let mut subscribers = Vec::new();
        for _ in 0..2 {
            let mut s = Raw::open(&path).await;
            assert_eq!(
                s.ask("{\"id\":1,\"cmd\":\"subscribe\"}\n").await["ok"],
                true
            );
            // As `socat` does at the end of its input.
            s.write.shutdown().await.expect("shutdown");
            subscribers.push(s);
        }
        let mut third = Raw::open(&path).await;
        let r = third.ask("{\"id\":1,\"cmd\":\"subscribe\"}\n").await;
        assert_eq!(
            (r["id"].as_u64(), r["ok"].as_bool()),
            (Some(1), Some(false))
        );
        assert!(
            error_of(&r).contains("refused: too many subscribers (2 at most)"),
            "{r}"
        );
        // Its connection still serves verbs.
        let r = third.ask("{\"id\":2,\"cmd\":\"status\"}\n").await;
        assert_eq!(r["ok"], true, "{r}");
        // One hangs up for good, with no event to write to it: noticed, and
        // its place is free again.
        drop(subscribers.remove(0));
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut s = Raw::open(&path).await;
            if s.ask("{\"id\":1,\"cmd\":\"subscribe\"}\n").await["ok"] == true {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "a subscriber that hung up still holds its place"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_second_instance_is_refused_and_a_stale_socket_replaced() {
        let d = scratch("second");
        let path = d.join("run/bbclient/t.sock");
        let first = bind(&path).await.expect("bind");
        let e = bind(&path).await.expect_err("in use").to_string();
        assert!(
            e.contains("another softphone already runs") && e.contains("--instance"),
            "{e}"
        );
        drop(first);
        // The socket file stays behind, as after a crash.
        assert!(path.exists());
        bind(&path).await.expect("a stale socket is replaced");
        let e = Client::connect(&d.join("run/bbclient/none.sock"))
            .await
            .err()
            .expect("nothing there");
        assert!(matches!(e, ClientError::NotRunning { .. }), "{e}");
        assert!(e.to_string().starts_with("no softphone is running"));
    }
}
