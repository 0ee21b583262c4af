//! Unix: file modes, process groups, signals.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

/// Creates `dir` and its missing parents, the new ones 0700.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Options that create files 0600 (add `write`, `create`… to them).
pub fn private_file_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.mode(0o600);
    o
}

/// [`private_file_options`] that also refuse to open a symbolic link
/// (`O_NOFOLLOW`; `create_new` already refuses an existing link, this is
/// belt and braces).
pub fn private_new_file_options() -> OpenOptions {
    let mut o = private_file_options();
    #[cfg(target_os = "linux")]
    o.custom_flags(0o400000);
    o
}

/// Makes `path` readable and writable by its owner alone (0600; 0700 for a
/// directory).
pub fn make_private(path: &Path) -> io::Result<()> {
    let mode = if path.is_dir() { 0o700 } else { 0o600 };
    std::fs::set_permissions(path, Permissions::from_mode(mode))
}

/// Whether process `pid` is gone (it cannot be signalled because it does
/// not exist; one of another user still exists).
pub fn process_gone(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 sends nothing; it only checks the pid.
    let r = unsafe { libc::kill(pid, 0) };
    r == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// Starts `cmd` detached from this terminal: in its own process group, so
/// that Ctrl-C here, or the browser that launched us exiting, does not
/// stop it.
pub fn detach(cmd: &mut std::process::Command) {
    std::os::unix::process::CommandExt::process_group(cmd, 0);
}

/// Opens `url` with the desktop's default browser (`xdg-open URL`), without
/// waiting for it (it is reaped in the background). Call inside a tokio
/// runtime.
pub fn open_url(url: &str) -> Result<(), String> {
    let mut child = tokio::process::Command::new("xdg-open")
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the browser 'xdg-open': {e}"))?;
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    Ok(())
}

/// Prepares a hook command so that [`ProcessTree::contain`] can end all of
/// it: its own process group.
pub fn prepare_tree(cmd: &mut tokio::process::Command) {
    cmd.process_group(0);
}

/// A command's whole process tree (its process group), killed when dropped
/// before [`ProcessTree::ended`].
pub struct ProcessTree {
    pgid: Option<i32>,
}

impl ProcessTree {
    /// Takes charge of `child`'s tree (started with [`prepare_tree`]).
    pub fn contain(child: &tokio::process::Child) -> io::Result<ProcessTree> {
        Ok(ProcessTree {
            pgid: child.id().and_then(|id| i32::try_from(id).ok()),
        })
    }

    /// The command ended by itself: leave what it started alone (a
    /// launcher may start a CRM window that is meant to stay).
    pub fn ended(&mut self) {
        self.pgid = None;
    }
}

impl Drop for ProcessTree {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid.filter(|p| *p > 1) {
            // SAFETY: kill only reads its arguments; a group that is gone
            // makes it fail with ESRCH, which is fine.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

/// SIGTERM and SIGINT (Ctrl-C), caught from the moment they are
/// installed: the default action (ending the process at once, without
/// unregistering) no longer applies. Install them before starting the
/// core, so that no window is left where a signal kills the softphone.
pub struct ShutdownSignals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignals {
    /// Installs the handlers (inside a tokio runtime). One that cannot be
    /// installed is logged; `recv` then falls back to `ctrl_c`.
    pub fn install() -> ShutdownSignals {
        use tokio::signal::unix::{SignalKind, signal};
        let one = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(
                    "cannot catch {name}: {e}; it will end bbclient without unregistering"
                );
                None
            }
        };
        ShutdownSignals {
            term: one(SignalKind::terminate(), "SIGTERM"),
            int: one(SignalKind::interrupt(), "SIGINT"),
        }
    }

    /// Resolves on the next SIGTERM or SIGINT.
    pub async fn recv(&mut self) {
        let term = async {
            match self.term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let int = async {
            match self.int.as_mut() {
                Some(i) => {
                    i.recv().await;
                }
                None => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        };
        tokio::select! {
            _ = term => {}
            _ = int => {}
        }
    }
}

/// Watches how many bytes a TCP connection has received, on a duplicate of
/// its socket (the connection itself belongs to rsipstack). Drop it when
/// the connection ends: the duplicate keeps the socket open.
#[derive(Debug)]
pub struct InboundWatch(std::os::fd::OwnedFd);

impl InboundWatch {
    /// A watch on `tcp`'s socket, when it can be duplicated.
    pub fn new(tcp: &tokio::net::TcpStream) -> Option<InboundWatch> {
        use std::os::fd::AsFd as _;
        tcp.as_fd().try_clone_to_owned().ok().map(InboundWatch)
    }

    /// Bytes received so far (`None` where the system does not say).
    #[cfg(target_os = "linux")]
    pub fn bytes_received(&self) -> Option<u64> {
        use std::os::fd::AsRawFd as _;
        // SAFETY: `tcp_info` is plain old data; getsockopt writes at most
        // `len` bytes into it and the descriptor is ours (a duplicate).
        let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let r = unsafe {
            libc::getsockopt(
                self.0.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&raw mut info).cast(),
                &mut len,
            )
        };
        // Kernels before 4.1 stop before `tcpi_bytes_received`.
        let needed = std::mem::offset_of!(libc::tcp_info, tcpi_bytes_received) + 8;
        (r == 0 && len as usize >= needed).then_some(info.tcpi_bytes_received)
    }

    /// Bytes received so far (`None` where the system does not say).
    #[cfg(not(target_os = "linux"))]
    pub fn bytes_received(&self) -> Option<u64> {
        None
    }
}
