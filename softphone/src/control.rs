//! The per-user local control socket: line-delimited JSON commands with
//! replies, and a subscribable event stream (`docs/control-protocol.md`).
//!
//! The socket lives in a directory only the user can enter (0700) and is
//! itself 0600; each connection's peer credentials are checked as well, so
//! another user cannot drive the phone even if permissions were loosened.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot};

use bb_verbs::wire::{Message, Reply, Request, RequestBody};

/// A command from a control client, with the way back.
pub struct ControlCommand {
    /// What was asked.
    pub body: RequestBody,
    /// Where the outcome goes: `Ok(data)` or `Err(reason)`.
    pub reply: oneshot::Sender<Result<Option<serde_json::Value>, String>>,
}

/// The socket path for an instance: `$XDG_RUNTIME_DIR/bbclient/NAME.sock`,
/// else `/tmp/bbclient-UID/NAME.sock`.
pub fn socket_path(instance: &str) -> PathBuf {
    let dir = match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("bbclient"),
        _ => PathBuf::from(format!("/tmp/bbclient-{}", current_uid())),
    };
    dir.join(format!("{instance}.sock"))
}

/// The real user id of this process.
pub fn current_uid() -> u32 {
    // SAFETY-free: read from /proc, falling back to the owner of our home.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Checks an instance name: letters, digits, `-`, `_`, `.`; at most 64.
pub fn check_instance(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 64
        || name.starts_with('.')
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "instance name '{name}' is not allowed (use letters, digits, '-', '_' and '.', at most 64)"
        ));
    }
    Ok(())
}

fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make {} private", dir.display()))?;
    Ok(())
}

/// Binds the control socket; fails if another instance already serves it.
pub async fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        prepare_dir(dir)?;
    }
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            anyhow::bail!(
                "another softphone already runs with this instance ({}); use --instance NAME to run a second one",
                path.display()
            );
        }
        // A stale socket from a crashed run.
        let _ = std::fs::remove_file(path);
    }
    let listener =
        UnixListener::bind(path).with_context(|| format!("cannot listen on {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves control clients until the listener fails.
pub async fn serve(
    listener: UnixListener,
    commands: mpsc::Sender<ControlCommand>,
    events: broadcast::Sender<bb_verbs::wire::Event>,
) {
    let uid = current_uid();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        match stream.peer_cred() {
            Ok(cred) if cred.uid() == uid => {}
            Ok(cred) => {
                tracing::warn!(
                    peer_uid = cred.uid(),
                    "refused a control connection from another user"
                );
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "refused a control connection without peer credentials");
                continue;
            }
        }
        let commands = commands.clone();
        let events = events.clone();
        tokio::spawn(async move {
            if let Err(e) = client(stream, commands, events).await {
                tracing::debug!(error = %e, "control client ended");
            }
        });
    }
}

const MAX_LINE: usize = 64 * 1024;

async fn client(
    stream: UnixStream,
    commands: mpsc::Sender<ControlCommand>,
    events: broadcast::Sender<bb_verbs::wire::Event>,
) -> anyhow::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let (out_tx, mut out_rx) = mpsc::channel::<String>(256);
    let writer = tokio::spawn(async move {
        while let Some(line) = out_rx.recv().await {
            if write.write_all(line.as_bytes()).await.is_err() {
                break;
            }
        }
    });
    let mut line = String::new();
    loop {
        line.clear();
        let n = (&mut lines)
            .take(MAX_LINE as u64)
            .read_line(&mut line)
            .await?;
        if n == 0 {
            break;
        }
        if !line.ends_with('\n') && n >= MAX_LINE {
            let _ = out_tx
                .send(encode(&Message::Reply(Reply::err(
                    0,
                    "request line too long (64 KiB at most)",
                ))))
                .await;
            break;
        }
        let request: Request = match serde_json::from_str(line.trim()) {
            Ok(r) => r,
            Err(e) => {
                let _ = out_tx
                    .send(encode(&Message::Reply(Reply::err(
                        0,
                        format!("malformed request: {e}"),
                    ))))
                    .await;
                continue;
            }
        };
        if matches!(request.body, RequestBody::Subscribe) {
            let mut rx = events.subscribe();
            let out = out_tx.clone();
            let _ = out
                .send(encode(&Message::Reply(Reply::ok(request.id, None))))
                .await;
            tokio::spawn(async move {
                loop {
                    match rx.recv().await {
                        Ok(ev) => {
                            if out.send(encode(&Message::Event(ev))).await.is_err() {
                                break;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => break,
                    }
                }
            });
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
            break;
        }
        let reply = match rx.await {
            Ok(Ok(data)) => Reply::ok(id, data),
            Ok(Err(reason)) => Reply::err(id, reason),
            Err(_) => Reply::err(id, "the softphone is shutting down"),
        };
        if out_tx.send(encode(&Message::Reply(reply))).await.is_err() {
            break;
        }
    }
    drop(out_tx);
    let _ = writer.await;
    Ok(())
}

fn encode(m: &Message) -> String {
    let mut s = serde_json::to_string(m).unwrap_or_else(|e| {
        format!("{{\"type\":\"reply\",\"id\":0,\"ok\":false,\"error\":\"cannot encode: {e}\"}}")
    });
    s.push('\n');
    s
}

/// Sends one request to a running instance and waits for its reply.
pub async fn request(path: &Path, body: RequestBody) -> Result<Reply, String> {
    let stream = UnixStream::connect(path).await.map_err(|_| {
        format!(
            "no softphone is running (nothing listens on {})",
            path.display()
        )
    })?;
    let (read, mut write) = stream.into_split();
    let req = Request::new(1, body);
    let mut line = serde_json::to_string(&req).map_err(|e| e.to_string())?;
    line.push('\n');
    write
        .write_all(line.as_bytes())
        .await
        .map_err(|e| format!("cannot send: {e}"))?;
    let mut lines = BufReader::new(read).lines();
    while let Some(l) = lines
        .next_line()
        .await
        .map_err(|e| format!("cannot read reply: {e}"))?
    {
        if let Ok(Message::Reply(r)) = serde_json::from_str::<Message>(&l)
            && r.id == 1
        {
            return Ok(r);
        }
    }
    Err("the softphone closed the connection without replying".to_string())
}
