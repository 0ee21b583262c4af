//! The per-user local control socket: how `bbclient VERB`, a link opened by
//! the OS and any local script reach the softphone that is already running.
//!
//! This module provides both ends. The server side ([`bind`], [`serve`])
//! runs inside `bbclient run`; it speaks the line-delimited JSON of
//! [`bb_verbs::wire`] (commands with replies, and a subscribable event
//! stream), and hands each command to the application loop as a
//! [`ControlCommand`]. The client side ([`Client`]) is what the command line
//! uses; [`find_settings`] and [`Launch`] start a softphone on demand when a
//! `call` finds none running. The protocol, with examples of every command
//! and event, is in `docs/control-protocol.md`.
//!
//! # Key decision: the socket belongs to one user
//!
//! A verb can place calls and hang them up, so only the user who started the
//! softphone may send one. Three locks, each enough on its own:
//!
//! * the socket lives in a directory that only its owner can enter (0700),
//!   `$XDG_RUNTIME_DIR/bbclient` or else `/tmp/bbclient-UID`; the softphone
//!   refuses a directory that is a symbolic link or belongs to someone else,
//!   so another user cannot plant one in `/tmp` first;
//! * the socket itself is 0600;
//! * every connection's peer credentials (`SO_PEERCRED`) are checked, and a
//!   process of another user gets one refusal line and is disconnected.
//!
//! # What it won't do
//!
//! It decides nothing about calls: whether `hold` makes sense now is the call
//! model's answer, carried back in the reply. It listens on a Unix socket
//! only (no TCP, no Windows named pipe yet).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::ErrorKind;
use std::os::unix::fs::{
    DirBuilderExt as _, FileTypeExt as _, MetadataExt as _, OpenOptionsExt as _,
    PermissionsExt as _,
};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, broadcast, mpsc, oneshot};

use bb_verbs::wire::{
    Event, EventKind, MAX_LINE_LEN, Message, RegistrationState, Reply, Request, RequestBody,
};

/// The most control connections served at once; more are refused.
pub const MAX_CLIENTS: usize = 64;

/// A command from a control client, with the way back.
pub struct ControlCommand {
    /// What was asked.
    pub body: RequestBody,
    /// Where the outcome goes: `Ok(data)` or `Err(reason)`.
    pub reply: oneshot::Sender<Result<Option<serde_json::Value>, String>>,
}

// ---------------------------------------------------------------------------
// Where things are
// ---------------------------------------------------------------------------

/// The private directory of this user's sockets: `$XDG_RUNTIME_DIR/bbclient`
/// when that variable holds an absolute path, else `/tmp/bbclient-UID`.
pub fn runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d).join("bbclient"),
        _ => PathBuf::from(format!("/tmp/bbclient-{}", current_uid())),
    }
}

/// The socket path for an instance: `RUNTIME_DIR/NAME.sock` (see
/// [`runtime_dir`]).
pub fn socket_path(instance: &str) -> PathBuf {
    runtime_dir().join(format!("{instance}.sock"))
}

/// Where a softphone started on demand writes its output: `NAME.log` beside
/// the socket.
pub fn log_path(instance: &str) -> PathBuf {
    runtime_dir().join(format!("{instance}.log"))
}

/// Where the process id of a softphone started on demand is written:
/// `NAME.pid` beside the socket.
pub fn pid_path(instance: &str) -> PathBuf {
    runtime_dir().join(format!("{instance}.pid"))
}

/// The real user id of this process, read from `/proc/self/status`; when
/// that cannot be read, the owner of `/proc/self`; when neither can,
/// `u32::MAX`, which matches no peer (the check fails closed).
pub fn current_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .or_else(|| std::fs::metadata("/proc/self").ok().map(|m| m.uid()))
        .unwrap_or(u32::MAX)
}

/// Checks an instance name: letters, digits, `-`, `_`, `.`; at most 64; not
/// starting with `.`.
pub fn check_instance(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 64
        || name.starts_with('.')
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "instance name '{}' is not allowed (use letters, digits, '-', '_' and '.', at most 64)",
            name.escape_debug()
        ));
    }
    Ok(())
}

/// Makes sure `dir` exists, is a real directory (not a symbolic link) owned
/// by this user, and is 0700; creates it 0700 when missing.
pub fn ensure_private_dir(dir: &Path) -> Result<(), String> {
    let uid = current_uid();
    for _ in 0..2 {
        match std::fs::symlink_metadata(dir) {
            Ok(meta) => {
                if meta.file_type().is_symlink() {
                    return Err(format!(
                        "control directory {} is a symbolic link; refusing to use it (remove it)",
                        dir.display()
                    ));
                }
                if !meta.is_dir() {
                    return Err(format!(
                        "control directory {} is not a directory (remove it)",
                        dir.display()
                    ));
                }
                if meta.uid() != uid {
                    return Err(format!(
                        "control directory {} belongs to uid {}, not to you (uid {uid}); refusing to use it \
                         (remove it, or set XDG_RUNTIME_DIR to a directory of yours)",
                        dir.display(),
                        meta.uid()
                    ));
                }
                if meta.mode() & 0o777 != 0o700 {
                    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(
                        |e| format!("cannot make {} private (0700): {e}", dir.display()),
                    )?;
                }
                return Ok(());
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                if let Some(parent) = dir.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
                }
                match std::fs::DirBuilder::new().mode(0o700).create(dir) {
                    // Check what we made (the umask may have narrowed it).
                    Ok(()) => continue,
                    // Someone made it in between: check theirs.
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
                }
            }
            Err(e) => return Err(format!("cannot inspect {}: {e}", dir.display())),
        }
    }
    Err(format!(
        "control directory {} keeps changing under us; refusing to use it",
        dir.display()
    ))
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

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

/// Serves control clients until the listener fails. Events reach them
/// through `events`, which every publisher of the softphone's events uses.
pub async fn serve(
    listener: UnixListener,
    commands: mpsc::Sender<ControlCommand>,
    events: EventFeed,
) {
    let uid = current_uid();
    let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
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
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tokio::spawn(refuse(
                stream,
                format!(
                    "refused: too many control connections ({MAX_CLIENTS} at most); close some and retry"
                ),
            ));
            continue;
        };
        let commands = commands.clone();
        let events = events.clone();
        tokio::spawn(async move {
            if let Err(e) = client(stream, commands, events, permit).await {
                tracing::debug!(error = %e, "control client ended");
            }
        });
    }
}

/// Sends one refusal reply (id 0) and closes.
async fn refuse(mut stream: UnixStream, reason: String) {
    let line = encode(&Message::Reply(Reply::err(0, reason)));
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
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

async fn client(
    stream: UnixStream,
    commands: mpsc::Sender<ControlCommand>,
    events: EventFeed,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> anyhow::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let (out_tx, mut out_rx) = mpsc::channel::<String>(256);
    let writer = tokio::spawn(async move {
        while let Some(line) = out_rx.recv().await {
            if write.write_all(line.as_bytes()).await.is_err() {
                break;
            }
        }
    });
    let send = |reply: Reply| {
        let out = out_tx.clone();
        async move { out.send(encode(&Message::Reply(reply))).await.is_ok() }
    };
    let mut forwarder: Option<tokio::task::JoinHandle<()>> = None;
    let mut buf = Vec::new();
    loop {
        let line = match read_line(&mut reader, &mut buf).await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(LineError::TooLong) => {
                send(Reply::err(
                    0,
                    format!(
                        "control line refused: longer than {MAX_LINE_LEN} bytes; the connection is closed"
                    ),
                ))
                .await;
                if let Some(f) = forwarder.take() {
                    f.abort();
                }
                break;
            }
            Err(LineError::NotUtf8) => {
                if !send(Reply::err(0, "control line refused: not UTF-8")).await {
                    break;
                }
                continue;
            }
            Err(LineError::Io(e)) => return Err(e.into()),
        };
        if line.trim().is_empty() {
            continue;
        }
        let request = match Request::from_line(&line) {
            Ok(r) => r,
            Err(e) => {
                if !send(Reply::err(0, e)).await {
                    break;
                }
                continue;
            }
        };
        if matches!(request.body, RequestBody::Subscribe) {
            if forwarder.is_some() {
                send(Reply::ok(request.id, None)).await;
                continue;
            }
            let (mut rx, snapshot) = events.subscribe();
            send(Reply::ok(request.id, None)).await;
            if let Some(ev) = snapshot {
                let _ = out_tx.send(encode(&Message::Event(ev))).await;
            }
            let out = out_tx.clone();
            forwarder = Some(tokio::spawn(async move {
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
            }));
            continue;
        }
        let (tx, rx) = oneshot::channel();
        let id = request.id;
        if commands
            .send(ControlCommand {
                body: request.body,
                reply: tx,
            })
            .await
            .is_err()
        {
            send(Reply::err(id, "the softphone is shutting down")).await;
            break;
        }
        let reply = match rx.await {
            Ok(Ok(data)) => Reply::ok(id, data),
            Ok(Err(reason)) => Reply::err(id, reason),
            Err(_) => Reply::err(id, "the softphone is shutting down"),
        };
        if !send(reply).await {
            break;
        }
    }
    // A subscriber that only closed its sending side keeps its events until
    // it closes the connection: the writer then fails, the forwarder's next
    // send fails, and everything ends. It no longer counts as a client.
    drop(permit);
    drop(out_tx);
    let _ = writer.await;
    Ok(())
}

fn encode(m: &Message) -> String {
    m.to_line().unwrap_or_else(|e| {
        let reason = serde_json::to_string(&e.to_string()).unwrap_or_else(|_| "\"\"".into());
        format!("{{\"type\":\"reply\",\"id\":0,\"ok\":false,\"error\":{reason}}}\n")
    })
}

// ---------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------

/// Why a control client could not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens on the socket.
    #[error("no softphone is running (nothing listens on {})", path.display())]
    NotRunning {
        /// The socket path.
        path: PathBuf,
    },
    /// The socket or its directory belongs to another user.
    #[error(
        "permission denied on {}: the softphone there belongs to another user \
         (run bbclient as the user who started it)",
        path.display()
    )]
    PermissionDenied {
        /// The socket path.
        path: PathBuf,
    },
    /// Another connection error.
    #[error("cannot connect to {}: {error}", path.display())]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// What the OS said.
        error: std::io::Error,
    },
    /// The softphone closed the connection.
    #[error("the softphone closed the connection without replying")]
    Closed,
    /// A line from the softphone was too long.
    #[error("the softphone sent a line longer than {MAX_LINE_LEN} bytes")]
    TooLong,
    /// Reading or writing failed.
    #[error("control connection failed: {0}")]
    Io(std::io::Error),
}

/// A connection to a running softphone.
///
/// Requests are numbered from 1; events that arrive while a reply is awaited
/// are kept for [`Client::next_event`]. Lines that are not a known message
/// (a newer softphone's event kinds) are skipped, as the protocol asks.
pub struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_id: u64,
    events: VecDeque<Event>,
    buf: Vec<u8>,
}

impl Client {
    /// Connects to the socket at `path`.
    pub async fn connect(path: &Path) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|error| match error.kind() {
                ErrorKind::NotFound | ErrorKind::ConnectionRefused => ClientError::NotRunning {
                    path: path.to_path_buf(),
                },
                ErrorKind::PermissionDenied => ClientError::PermissionDenied {
                    path: path.to_path_buf(),
                },
                _ => ClientError::Connect {
                    path: path.to_path_buf(),
                    error,
                },
            })?;
        let (read, writer) = stream.into_split();
        Ok(Client {
            reader: BufReader::new(read),
            writer,
            next_id: 1,
            events: VecDeque::new(),
            buf: Vec::new(),
        })
    }

    /// Sends one request and waits for its reply. A reply with id 0 (the
    /// softphone could not read the request, or refused the connection)
    /// answers it too.
    pub async fn request(&mut self, body: RequestBody) -> Result<Reply, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let line = Request::new(id, body)
            .to_line()
            .map_err(|e| ClientError::Io(std::io::Error::other(e.to_string())))?;
        if let Err(e) = self.writer.write_all(line.as_bytes()).await {
            // A softphone that refused us may have hung up before we wrote;
            // its refusal line is still there to read.
            if !matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) {
                return Err(ClientError::Io(e));
            }
        }
        loop {
            match self.read_message().await? {
                Some(Message::Reply(r)) if r.id == id || r.id == 0 => return Ok(r),
                Some(Message::Reply(_)) => continue,
                Some(Message::Event(ev)) => self.events.push_back(ev),
                None => return Err(ClientError::Closed),
            }
        }
    }

    /// Subscribes this connection to the event stream.
    pub async fn subscribe(&mut self) -> Result<Reply, ClientError> {
        self.request(RequestBody::Subscribe).await
    }

    /// The next event (after [`Client::subscribe`]); [`ClientError::Closed`]
    /// when the softphone went away.
    pub async fn next_event(&mut self) -> Result<Event, ClientError> {
        if let Some(ev) = self.events.pop_front() {
            return Ok(ev);
        }
        loop {
            match self.read_message().await? {
                Some(Message::Event(ev)) => return Ok(ev),
                Some(Message::Reply(_)) => continue,
                None => return Err(ClientError::Closed),
            }
        }
    }

    /// The next known message; `None` at the end of the stream.
    async fn read_message(&mut self) -> Result<Option<Message>, ClientError> {
        loop {
            self.buf.clear();
            let n = (&mut self.reader)
                .take(MAX_LINE_LEN as u64 + 1)
                .read_until(b'\n', &mut self.buf)
                .await
                .map_err(ClientError::Io)?;
            if n == 0 {
                return Ok(None);
            }
            if self.buf.len() > MAX_LINE_LEN {
                return Err(ClientError::TooLong);
            }
            let Ok(line) = std::str::from_utf8(&self.buf) else {
                continue;
            };
            if let Ok(m) = Message::from_line(line) {
                return Ok(Some(m));
            }
        }
    }
}

/// Sends one request to a running instance and waits for its reply.
pub async fn request(path: &Path, body: RequestBody) -> Result<Reply, String> {
    let mut client = Client::connect(path).await.map_err(|e| e.to_string())?;
    client.request(body).await.map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------
// Starting a softphone on demand
// ---------------------------------------------------------------------------

/// Finds the settings file for a softphone started without `--config`:
/// `explicit` (from `--config`) if given, else `$BBCLIENT_CONFIG`, else
/// `$XDG_CONFIG_HOME/bbclient/bbclient.toml` (`XDG_CONFIG_HOME` defaults to
/// `~/.config`). The file must exist. `env` reads an environment variable.
pub fn find_settings(
    explicit: Option<&Path>,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<PathBuf, String> {
    let non_empty = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(path) = explicit {
        return existing(path, "--config");
    }
    if let Some(path) = non_empty("BBCLIENT_CONFIG") {
        return existing(Path::new(&path), "BBCLIENT_CONFIG");
    }
    let config_home = match non_empty("XDG_CONFIG_HOME") {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d),
        _ => match non_empty("HOME") {
            Some(home) => PathBuf::from(home).join(".config"),
            None => {
                return Err(
                    "no settings file: --config is not given, BBCLIENT_CONFIG is not set, and \
                     neither XDG_CONFIG_HOME nor HOME is set (pass --config FILE)"
                        .into(),
                );
            }
        },
    };
    let path = config_home.join("bbclient").join("bbclient.toml");
    if path.is_file() {
        return Ok(path);
    }
    Err(format!(
        "no settings file: --config is not given, BBCLIENT_CONFIG is not set, and {} does not exist \
         (write one there, see fixtures/config/example.toml, or pass --config FILE)",
        path.display()
    ))
}

fn existing(path: &Path, from: &str) -> Result<PathBuf, String> {
    if path.is_file() {
        Ok(path.to_path_buf())
    } else {
        Err(format!(
            "settings file '{}' (from {from}) does not exist or is not a file",
            path.display()
        ))
    }
}

/// A softphone being started on demand: `bbclient --instance NAME --config
/// FILE run --headless`, detached in its own process group, its output in
/// [`log_path`], its id in [`pid_path`].
pub struct Launch {
    child: std::process::Child,
    /// The instance.
    pub instance: String,
    /// The settings file it runs with.
    pub settings: PathBuf,
    /// Its output.
    pub log: PathBuf,
    /// Its process id.
    pub pid: u32,
}

/// How long [`Launch::wait_ready`] waits for the socket.
pub const SOCKET_WAIT: Duration = Duration::from_secs(10);
/// How long [`Launch::wait_ready`] waits for the registration.
pub const REGISTRATION_WAIT: Duration = Duration::from_secs(20);

impl Launch {
    /// Starts `exe` (this program) for `instance` with `settings`.
    pub fn start(exe: &Path, instance: &str, settings: &Path) -> Result<Launch, String> {
        let dir = runtime_dir();
        ensure_private_dir(&dir)?;
        let log = log_path(instance);
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&log)
            .map_err(|e| format!("cannot open the log {}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("cannot open the log {}: {e}", log.display()))?;
        let settings = std::path::absolute(settings).unwrap_or_else(|_| settings.to_path_buf());
        let mut cmd = std::process::Command::new(exe);
        cmd.arg("--instance")
            .arg(instance)
            .arg("--config")
            .arg(&settings)
            .args(["run", "--headless"])
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err);
        // Its own process group: Ctrl-C in this terminal, or the browser
        // that launched us exiting, does not stop the softphone.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let pid = child.id();
        // Informational (scripts, tests): nothing reads it back, so a
        // failure to write it is not worth refusing the call for.
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(pid_path(instance))
            .and_then(|mut f| std::io::Write::write_all(&mut f, format!("{pid}\n").as_bytes()));
        Ok(Launch {
            child,
            instance: instance.to_string(),
            settings,
            log,
            pid,
        })
    }

    /// Waits (bounded by [`SOCKET_WAIT`] and [`REGISTRATION_WAIT`]) until the
    /// softphone listens on `socket` and is registered; returns a client
    /// connected to it.
    pub async fn wait_ready(&mut self, socket: &Path) -> Result<Client, String> {
        let deadline = tokio::time::Instant::now() + SOCKET_WAIT;
        let mut client = loop {
            match Client::connect(socket).await {
                Ok(c) => break c,
                Err(ClientError::NotRunning { .. }) => {}
                Err(e) => return Err(e.to_string()),
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // It may have lost a race with another one started at the
                // same moment, which then serves the socket.
                if let Ok(c) = Client::connect(socket).await {
                    break c;
                }
                return Err(format!(
                    "the softphone could not start ({status}): {} (log: {})",
                    last_line(&self.log).unwrap_or_else(|| "it printed nothing".into()),
                    self.log.display()
                ));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "the softphone started (pid {}) but its control socket {} did not appear within {} s (log: {})",
                    self.pid,
                    socket.display(),
                    SOCKET_WAIT.as_secs(),
                    self.log.display()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let reply = client.subscribe().await.map_err(|e| e.to_string())?;
        if !reply.ok {
            return Err(reply
                .error
                .unwrap_or_else(|| "the softphone refused to report its events".into()));
        }
        let wait = async {
            loop {
                let ev = client.next_event().await.map_err(|e| e.to_string())?;
                if let EventKind::Registration { state, reason } = ev.event {
                    match state {
                        RegistrationState::Registered => return Ok(()),
                        RegistrationState::Failed => {
                            return Err(format!(
                                "the softphone started (pid {}) but could not register: {}; it keeps retrying \
                                 (log: {})",
                                self.pid,
                                reason.unwrap_or_else(|| "no reason given".into()),
                                self.log.display()
                            ));
                        }
                        RegistrationState::Unregistered => {}
                    }
                }
            }
        };
        match tokio::time::timeout(REGISTRATION_WAIT, wait).await {
            Ok(Ok(())) => Ok(client),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!(
                "the softphone started (pid {}) but did not register within {} s; it keeps trying (log: {})",
                self.pid,
                REGISTRATION_WAIT.as_secs(),
                self.log.display()
            )),
        }
    }
}

/// The last non-empty line of a file.
fn last_line(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> + use<> {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "bbclient-control-unit-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("scratch dir is writable");
        d
    }

    #[test]
    fn instance_names() {
        for ok in ["default", "ext1910", "a.b-c_d", &"x".repeat(64)] {
            assert!(check_instance(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".hidden", "a/b", "../x", "a b", &"x".repeat(65), "é"] {
            let e = check_instance(bad).expect_err(bad);
            assert!(e.starts_with("instance name '"), "{e}");
        }
    }

    #[test]
    fn settings_come_from_the_flag_then_the_variable_then_xdg() {
        let d = scratch("settings");
        let flag = d.join("flag.toml");
        let var = d.join("var.toml");
        let xdg = d.join("xdg/bbclient/bbclient.toml");
        let home = d.join("home/.config/bbclient/bbclient.toml");
        for f in [&flag, &var, &xdg, &home] {
            std::fs::create_dir_all(f.parent().expect("has a parent")).expect("mkdir");
            std::fs::write(f, "").expect("write");
        }
        let all = env_of(&[
            ("BBCLIENT_CONFIG", var.to_str().expect("utf-8")),
            ("XDG_CONFIG_HOME", d.join("xdg").to_str().expect("utf-8")),
            ("HOME", d.join("home").to_str().expect("utf-8")),
        ]);
        assert_eq!(find_settings(Some(&flag), &all), Ok(flag.clone()));
        assert_eq!(find_settings(None, &all), Ok(var.clone()));
        let no_var = env_of(&[
            ("BBCLIENT_CONFIG", ""),
            ("XDG_CONFIG_HOME", d.join("xdg").to_str().expect("utf-8")),
            ("HOME", d.join("home").to_str().expect("utf-8")),
        ]);
        assert_eq!(find_settings(None, &no_var), Ok(xdg));
        let home_only = env_of(&[
            ("XDG_CONFIG_HOME", "relative/is/ignored"),
            ("HOME", d.join("home").to_str().expect("utf-8")),
        ]);
        assert_eq!(find_settings(None, &home_only), Ok(home));
    }

    #[test]
    fn missing_settings_name_where_they_were_looked_for() {
        let d = scratch("no-settings");
        let e = find_settings(Some(&d.join("nope.toml")), &env_of(&[])).expect_err("missing");
        assert!(e.contains("nope.toml") && e.contains("--config"), "{e}");
        let e = find_settings(None, &env_of(&[("BBCLIENT_CONFIG", "/nonexistent/x.toml")]))
            .expect_err("missing");
        assert!(
            e.contains("/nonexistent/x.toml") && e.contains("BBCLIENT_CONFIG"),
            "{e}"
        );
        let home = d.to_str().expect("utf-8");
        let e = find_settings(None, &env_of(&[("HOME", home)])).expect_err("missing");
        assert!(
            e.contains(".config/bbclient/bbclient.toml") && e.contains("--config FILE"),
            "{e}"
        );
        let e = find_settings(None, &env_of(&[])).expect_err("missing");
        assert!(e.contains("HOME"), "{e}");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn private_dir_is_created_0700_and_tightened() {
        let d = scratch("private");
        let dir = d.join("a/bbclient");
        ensure_private_dir(&dir).expect("created");
        let mode = std::fs::metadata(&dir).expect("exists").mode() & 0o777;
        assert_eq!(mode, 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        ensure_private_dir(&dir).expect("tightened");
        let mode = std::fs::metadata(&dir).expect("exists").mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn private_dir_refuses_symlinks_and_files() {
        let d = scratch("symlink");
        let target = d.join("elsewhere");
        std::fs::create_dir_all(&target).expect("mkdir");
        let link = d.join("bbclient");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let e = ensure_private_dir(&link).expect_err("a symlink is refused");
        assert!(e.contains("symbolic link"), "{e}");
        let file = d.join("file");
        std::fs::write(&file, "").expect("write");
        let e = ensure_private_dir(&file).expect_err("a file is refused");
        assert!(e.contains("not a directory"), "{e}");
    }

    #[test]
    fn last_line_skips_blank_lines() {
        let d = scratch("last-line");
        let f = d.join("log");
        std::fs::write(&f, "one\nbbclient: settings file 'x': bad\n\n").expect("write");
        assert_eq!(
            last_line(&f).as_deref(),
            Some("bbclient: settings file 'x': bad")
        );
        assert_eq!(last_line(&d.join("missing")), None);
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
    async fn connections_beyond_the_limit_are_refused_with_a_reason() {
        let d = scratch("limit");
        let path = d.join("run/bbclient/t.sock");
        let listener = bind(&path).await.expect("bind");
        let (cmd_tx, mut cmd_rx) = mpsc::channel::<ControlCommand>(4);
        let (ev_tx, _) = broadcast::channel::<Event>(16);
        tokio::spawn(serve(listener, cmd_tx, EventFeed::new(ev_tx)));
        tokio::spawn(async move {
            while let Some(cmd) = cmd_rx.recv().await {
                let _ = cmd.reply.send(Ok(None));
            }
        });
        let mut held = Vec::new();
        for _ in 0..MAX_CLIENTS {
            let mut c = Client::connect(&path).await.expect("connect");
            assert!(c.request(RequestBody::Status).await.expect("reply").ok);
            held.push(c);
        }
        let mut extra = Client::connect(&path).await.expect("the kernel accepts");
        let r = extra.request(RequestBody::Status).await.expect("a refusal");
        assert!(!r.ok);
        assert_eq!(r.id, 0);
        let e = r.error.unwrap_or_default();
        assert!(
            e.contains("too many control connections (64 at most)"),
            "{e}"
        );
        // Closing one makes room again.
        drop(held.pop());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let mut c = Client::connect(&path).await.expect("connect");
            if c.request(RequestBody::Status)
                .await
                .map(|r| r.ok)
                .unwrap_or(false)
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no room after a client left"
            );
            tokio::task::yield_now().await;
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
