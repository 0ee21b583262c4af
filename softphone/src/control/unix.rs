//! The control channel's transport on Unix: a 0600 socket in a 0700
//! directory, and each peer's credentials (`SO_PEERCRED`) checked both
//! ways.

use std::io::ErrorKind;
use std::os::fd::AsFd as _;
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::path::Path;

use anyhow::Context as _;
use tokio::io::Interest;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};

use super::client::{BoxRead, BoxWrite, ClientError};
use super::paths::{
    SocketCheck, Untrusted, check_socket, current_uid, ensure_private_dir, who, you,
};
use super::server::{Accept, Accepted, Conn};

/// The bound control socket.
#[derive(Debug)]
pub struct Listener {
    listener: UnixListener,
    uid: u32,
}

/// Binds the control socket; fails if another instance already serves it.
pub async fn bind(path: &Path) -> anyhow::Result<Listener> {
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
    Ok(Listener {
        listener,
        uid: current_uid(),
    })
}

impl Accept for Listener {
    type Conn = UnixStream;

    async fn accept(&mut self) -> std::io::Result<Accepted<UnixStream>> {
        let (stream, _) = self.listener.accept().await?;
        let uid = self.uid;
        Ok(match stream.peer_cred() {
            Ok(cred) if cred.uid() == uid => Ok(stream),
            Ok(cred) => {
                tracing::warn!(
                    peer_uid = cred.uid(),
                    "refused a control connection from another user"
                );
                let reason = format!(
                    "refused: this softphone belongs to uid {uid} and only its owner may control it \
                     (you are uid {})",
                    cred.uid()
                );
                Err((stream, reason))
            }
            Err(e) => {
                tracing::warn!(error = %e, "refused a control connection without peer credentials");
                Err((
                    stream,
                    "refused: the credentials of the connecting process cannot be read".into(),
                ))
            }
        })
    }
}

impl Conn for UnixStream {
    type Read = OwnedReadHalf;
    type Write = OwnedWriteHalf;

    fn split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        self.into_split()
    }

    /// Watches a duplicate of the socket with its own registration, so that
    /// clearing its readiness here cannot stall the writer.
    async fn hung_up(read: &OwnedReadHalf) {
        let watch = read
            .as_ref()
            .as_fd()
            .try_clone_to_owned()
            .and_then(|fd| UnixStream::from_std(std::os::unix::net::UnixStream::from(fd)));
        let Ok(watch) = watch else {
            return std::future::pending().await;
        };
        loop {
            match watch.ready(Interest::WRITABLE).await {
                Ok(ready) if ready.is_write_closed() => return,
                // Writable, as it is until the peer goes: forget that, and
                // wait for the next change of state.
                Ok(_) => {
                    let _ = watch.try_io(Interest::WRITABLE, || {
                        Err::<(), _>(std::io::ErrorKind::WouldBlock.into())
                    });
                }
                Err(_) => return std::future::pending().await,
            }
        }
    }
}

/// Connects to the socket at `path`, once it and its directory are found to
/// be this user's, and checks that the process listening runs as this user
/// too.
pub async fn connect(path: &Path) -> Result<(BoxRead, BoxWrite), ClientError> {
    let p = || path.to_path_buf();
    match check_socket(path) {
        SocketCheck::Trusted => {}
        SocketCheck::Missing => return Err(ClientError::NotRunning { path: p() }),
        SocketCheck::Untrusted(why) => return Err(ClientError::Untrusted { path: p(), why }),
        SocketCheck::Io(e) if e.kind() == ErrorKind::PermissionDenied => {
            return Err(ClientError::PermissionDenied { path: p() });
        }
        SocketCheck::Io(error) => return Err(ClientError::Connect { path: p(), error }),
    }
    let stream = UnixStream::connect(path)
        .await
        .map_err(|error| match error.kind() {
            ErrorKind::NotFound | ErrorKind::ConnectionRefused => {
                ClientError::NotRunning { path: p() }
            }
            ErrorKind::PermissionDenied => ClientError::PermissionDenied { path: p() },
            _ => ClientError::Connect { path: p(), error },
        })?;
    // The path was ours a moment ago; the listener is who counts.
    let uid = current_uid();
    let peer = stream
        .peer_cred()
        .map_err(|error| ClientError::Connect { path: p(), error })?
        .uid();
    if peer != uid {
        return Err(ClientError::Untrusted {
            path: p(),
            why: Untrusted {
                path: p(),
                problem: format!(
                    "is served by a process of {}, not of yours ({})",
                    who(peer),
                    you(uid)
                ),
                fix: format!(
                    "stop that process, remove {} and restart your softphone, or set \
                     XDG_RUNTIME_DIR to a private directory of yours",
                    path.display()
                ),
            },
        });
    }
    let (read, write) = stream.into_split();
    Ok((Box::new(read), Box::new(write)))
}
