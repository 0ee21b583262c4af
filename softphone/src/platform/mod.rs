//! What differs between Unix and Windows, each behind one small interface:
//! private files and directories, whether a process is gone, starting a
//! detached process, containing a command's process tree so that its time
//! limit ends all of it, and the signals that ask for a clean shutdown.
//!
//! The rest of the crate calls these and never tests `cfg(unix)` or
//! `cfg(windows)` itself (the control channel's transport and the URI
//! handlers have their own platform modules, in `control` and `handlers`).
//!
//! | piece | Unix | Windows |
//! |---|---|---|
//! | private directory / file | mode 0700 / 0600 | a protected DACL granting the user's SID alone |
//! | process gone | `kill(pid, 0)` fails with `ESRCH` | `OpenProcess` refused as invalid, or an exit code |
//! | detached start | its own process group | its own process group, no console window |
//! | a command's tree | its own process group, `SIGKILL` to the group | started suspended, put in a job object, resumed; `TerminateJobObject` |
//! | shutdown | `SIGTERM`, `SIGINT` | Ctrl-C, Ctrl-Break, the console closing |
//! | bytes a TCP connection received (the keep-alive's pong check) | `TCP_INFO`'s `tcpi_bytes_received` on a duplicate of the socket (Linux; other Unixes: unknown) | unknown (the kernel's TCP keep-alive still ends a dead connection) |

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::*;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::*;
