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
//! Where the socket lives and whether it can be trusted is in `paths`, the
//! server in `server`, the client in `client`, starting a softphone in
//! `launch`; everything the rest of the crate uses is re-exported here.
//!
//! # Key decision: the socket belongs to one user, both ways
//!
//! A verb can place calls and hang them up, so only the user who started the
//! softphone may send one. Three locks, each enough on its own:
//!
//! * the socket lives in a directory that only its owner can enter (0700),
//!   `$XDG_RUNTIME_DIR/bbclient` or else `/tmp/bbclient-UID`; the softphone
//!   refuses a directory that is a symbolic link, belongs to someone else or
//!   that others can write to, so another user cannot plant one in `/tmp`
//!   first;
//! * the socket itself is 0600;
//! * every connection's peer credentials (`SO_PEERCRED`) are checked, and a
//!   process of another user gets one refusal line and is disconnected.
//!
//! And a verb may carry a password (`bbclient login --password-stdin`), so
//! the client trusts the softphone no more than the softphone trusts it:
//! before it sends anything, the socket and its directory must be this
//! user's, not writable by anyone else and not symbolic links, and the
//! process listening must run as this user ([`Client::connect`]).
//!
//! # Key decision: silent connections cannot lock the owner out
//!
//! Connections are bounded ([`MAX_CLIENTS`], [`MAX_SUBSCRIBERS`]), idle ones
//! are closed ([`IDLE_TIMEOUT`]), and when all places are taken a newcomer
//! takes the place of the connection that has waited longest for a request;
//! see `server`.
//!
//! # What it won't do
//!
//! It decides nothing about calls: whether `hold` makes sense now is the call
//! model's answer, carried back in the reply. It listens on a Unix socket,
//! or on Windows a named pipe (`transport`), never on TCP.
//!
//! # On Windows
//!
//! The channel is the named pipe `\\.\pipe\bbclient-SID-NAME`, created with
//! a protected DACL that grants the user's SID alone, refusing remote
//! clients; the first instance is created with
//! `FILE_FLAG_FIRST_PIPE_INSTANCE`, so a second softphone (or another user
//! who squatted the name) is noticed. Each end checks the other: the server
//! that the client process runs as its user, the client that the server
//! process does. The protocol is the same line-delimited JSON.

mod client;
mod launch;
mod names;
#[cfg(unix)]
mod paths;
#[cfg(windows)]
#[path = "paths_windows.rs"]
mod paths;
mod server;
// The transport, one per platform behind the same small interface:
// `Listener`, `bind`, `connect`.
#[cfg(unix)]
#[path = "unix.rs"]
mod transport;
#[cfg(windows)]
#[path = "pipe.rs"]
mod transport;

use tokio::sync::oneshot;

use bb_verbs::wire::RequestBody;

pub use client::{Client, ClientError, request};
pub use launch::{Launch, REGISTRATION_WAIT, SOCKET_WAIT, find_settings};
pub use paths::{
    Untrusted, check_instance, current_uid, ensure_private_dir, log_path, pid_path, runtime_dir,
    socket_path,
};
pub use server::{EventFeed, IDLE_TIMEOUT, MAX_CLIENTS, MAX_SUBSCRIBERS, serve};
pub use transport::{Listener, bind};

/// A command from a control client, with the way back.
pub struct ControlCommand {
    /// What was asked.
    pub body: RequestBody,
    /// Where the outcome goes: `Ok(data)` or `Err(reason)`.
    pub reply: oneshot::Sender<Result<Option<serde_json::Value>, String>>,
}
