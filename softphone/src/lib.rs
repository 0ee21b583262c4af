//! This crate provides `bbclient`, the BlueBean softphone: SIP registration
//! and calls, CRM integration on incoming calls, and a control surface
//! (local socket, command line, URIs) for CRMs and scripts.
//!
//! Principal parts: [`config`] (settings, validated once), [`phone`] (the call
//! model, a sans-IO state machine), [`sip_ua`] (the SIP driver over
//! rsipstack), [`hooks`] (the driver that runs the CTI engine's HTTP requests
//! and commands), [`operator`] (the BlueBean operator login), [`history`]
//! (the call history), [`control`] (the per-user socket) and [`app`] (the
//! loop that routes between them).
//!
//! Key decision: decisions live in state machines that take `now` as an
//! argument (`phone` here, the hook engine in `bb-cti`); drivers do I/O only.
//!
//! It deliberately never passes anything from the network to a shell, and
//! never writes a password to a log.

pub mod admission;
pub mod app;
pub mod config;
pub mod control;
pub mod crm_http;
pub mod desktop_entry;
// The URI handlers: freedesktop on Unix, the registry on Windows.
#[cfg(unix)]
pub mod handlers;
#[cfg(windows)]
#[path = "handlers_windows.rs"]
pub mod handlers;
pub mod hooks;
pub mod logging;
pub mod media;
pub mod operator;
pub mod phone;
pub mod platform;
pub mod reload;
pub mod sip_tls;
pub mod sip_ua;
pub mod sounds;
// The operator's window and what it keeps (call history, atomic settings save).
pub mod history;
pub mod history_writer;
pub mod settings_store;
pub mod ui;
