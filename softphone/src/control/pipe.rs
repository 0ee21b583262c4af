//! The control channel's transport on Windows: a named pipe per user and
//! instance, created with a protected DACL that grants the user's SID
//! alone, refusing remote clients. Each end checks the other's process
//! user too: the DACL keeps other users from opening the pipe, and the
//! client's check keeps it from talking to a pipe another user created
//! first under our name.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::windows::named_pipe::{
    ClientOptions, NamedPipeClient, NamedPipeServer, PipeMode, ServerOptions,
};
use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, ERROR_FILE_NOT_FOUND, ERROR_PIPE_BUSY, HANDLE,
};
use windows_sys::Win32::System::Pipes::{GetNamedPipeClientProcessId, GetNamedPipeServerProcessId};

use super::client::{BoxRead, BoxWrite, ClientError};
use super::paths::Untrusted;
use super::server::{Accept, Accepted, Conn};
use crate::platform::{OwnerOnly, process_user_sid, user_sid};

/// How long a client waits for a busy pipe (every instance taken for a
/// moment, between two accepts).
const BUSY_WAIT: Duration = Duration::from_secs(2);

/// The pipe being served: the instance waiting for the next client.
pub struct Listener {
    name: OsString,
    sid: String,
    security: OwnerOnly,
    next: NamedPipeServer,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("name", &self.name)
            .finish()
    }
}

fn create(name: &OsString, security: &OwnerOnly, first: bool) -> std::io::Result<NamedPipeServer> {
    let mut attrs = security.attributes();
    // SAFETY: the attributes and the descriptor they point to live until
    // the call returns (the pipe keeps its own copy of the DACL).
    unsafe {
        ServerOptions::new()
            .first_pipe_instance(first)
            .reject_remote_clients(true)
            .pipe_mode(PipeMode::Byte)
            .create_with_security_attributes_raw(
                name,
                (&mut attrs as *mut windows_sys::Win32::Security::SECURITY_ATTRIBUTES).cast(),
            )
    }
}

/// Creates the pipe named `path`; fails if another softphone (or anyone)
/// already serves that name.
pub async fn bind(path: &Path) -> anyhow::Result<Listener> {
    let name = path.as_os_str().to_owned();
    let sid = user_sid().map_err(|e| anyhow::anyhow!("control pipe {}: {e}", path.display()))?;
    let security = OwnerOnly::new(false)
        .map_err(|e| anyhow::anyhow!("control pipe {}: {e}", path.display()))?;
    let next = create(&name, &security, true).map_err(|e| {
        if e.raw_os_error() == Some(ERROR_ACCESS_DENIED as i32)
            || e.raw_os_error() == Some(ERROR_PIPE_BUSY as i32)
        {
            anyhow::anyhow!(
                "another softphone already runs with this instance ({}); use --instance NAME to run a second one",
                path.display()
            )
        } else {
            anyhow::anyhow!("cannot create the control pipe {}: {e}", path.display())
        }
    })?;
    Ok(Listener {
        name,
        sid,
        security,
        next,
    })
}

impl Accept for Listener {
    type Conn = NamedPipeServer;

    async fn accept(&mut self) -> std::io::Result<Accepted<NamedPipeServer>> {
        let connected = self.next.connect().await;
        // Whatever happened to this instance, the next client needs a
        // fresh one.
        let fresh = create(&self.name, &self.security, false)?;
        let conn = std::mem::replace(&mut self.next, fresh);
        connected?;
        let mut pid = 0u32;
        // SAFETY: a live pipe handle and a pointer to a local.
        let ok = unsafe { GetNamedPipeClientProcessId(raw(&conn), &mut pid) };
        let peer = if ok == 0 {
            Err(std::io::Error::last_os_error())
        } else {
            process_user_sid(pid)
        };
        Ok(match peer {
            Ok(sid) if sid == self.sid => Ok(conn),
            Ok(sid) => {
                tracing::warn!(peer = %sid, "refused a control connection from another user");
                let reason = format!(
                    "refused: this softphone belongs to {} and only its owner may control it (you are {sid})",
                    self.sid
                );
                Err((conn, reason))
            }
            Err(e) => {
                tracing::warn!(error = %e, "refused a control connection whose user cannot be read");
                Err((
                    conn,
                    "refused: the user of the connecting process cannot be read".into(),
                ))
            }
        })
    }
}

fn raw(pipe: &impl std::os::windows::io::AsRawHandle) -> HANDLE {
    pipe.as_raw_handle() as HANDLE
}

impl Conn for NamedPipeServer {
    type Read = ReadHalf<NamedPipeServer>;
    type Write = WriteHalf<NamedPipeServer>;

    fn split(self) -> (Self::Read, Self::Write) {
        tokio::io::split(self)
    }

    /// A pipe has no half-close: the end of the stream is the client
    /// closing its handle, so it has hung up already.
    async fn hung_up(_read: &Self::Read) {}
}

/// Opens the pipe named `path` and checks that the process serving it runs
/// as this user.
pub async fn connect(path: &Path) -> Result<(BoxRead, BoxWrite), ClientError> {
    let p = || path.to_path_buf();
    let deadline = tokio::time::Instant::now() + BUSY_WAIT;
    let pipe: NamedPipeClient = loop {
        match ClientOptions::new().open(path.as_os_str()) {
            Ok(c) => break c,
            Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY as i32) => {
                if tokio::time::Instant::now() >= deadline {
                    return Err(ClientError::Connect {
                        path: p(),
                        error: e,
                    });
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) if e.raw_os_error() == Some(ERROR_FILE_NOT_FOUND as i32) => {
                return Err(ClientError::NotRunning { path: p() });
            }
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(ClientError::PermissionDenied { path: p() });
            }
            Err(error) => return Err(ClientError::Connect { path: p(), error }),
        }
    };
    let mine = user_sid().map_err(|error| ClientError::Connect { path: p(), error })?;
    let mut pid = 0u32;
    // SAFETY: a live pipe handle and a pointer to a local.
    let ok = unsafe { GetNamedPipeServerProcessId(raw(&pipe), &mut pid) };
    let server = if ok == 0 {
        Err(std::io::Error::last_os_error())
    } else {
        process_user_sid(pid)
    };
    match server {
        Ok(sid) if sid == mine => {}
        Ok(sid) => {
            return Err(ClientError::Untrusted {
                path: p(),
                why: Untrusted::new(
                    path,
                    format!("is served by a process of {sid}, not of yours ({mine})"),
                    "stop that process and restart your softphone",
                ),
            });
        }
        Err(error) => return Err(ClientError::Connect { path: p(), error }),
    }
    let (read, write) = tokio::io::split(pipe);
    Ok((Box::new(read), Box::new(write)))
}
