//! This crate provides `bluebean-sim`, a fake BlueBean PBX that QA teams and
//! the conformance harness run the real softphone against, and the mock CRM
//! that stands in for a customer's web system.
//!
//! # Principal parts
//!
//! The logic is sans-IO, each part a state machine fed with `now`:
//! - [`tenant`]: who exists (extensions, outside lines, ring groups,
//!   operators, queues, campaigns, caller-ID prefixes, party scripts), loaded
//!   from TOML and checked once;
//! - [`registrar`]: digest challenges (MD5/SHA-256), bindings, rate limit;
//! - [`pbx`]: the back-to-back user agent: calls as legs, routing
//!   ([`route`]), hold relay, blind and attended transfer, with the
//!   [`acd`] (operators and queues) and the [`dialler`] (predictive
//!   campaigns) inside;
//! - [`party`] and [`media`]: the scripted outside parties and their RTP
//!   (G.711, RFC 4733 DTMF, tone detection, recording).
//!
//! The drivers around them are thin: [`sip`] (rsipstack, UDP), [`parties`]
//! (one task per simulated party), [`api`] (HTTP JSON control API),
//! [`scenario`] (timed scripts), glued by [`state`]; the [`ctl`] command
//! line client of the API; plus the mock [`crm`].
//!
//! # Key decision
//!
//! Every call decision is made in [`pbx::Pbx`], which never touches a
//! socket or a clock; its tests replay whole transfers, queue reroutes and
//! campaigns in virtual time. The drivers only translate between rsipstack,
//! sockets and the core's inputs and [`pbx::Action`]s.
//!
//! # What it deliberately is not
//!
//! Not a general PBX: no media mixing or relaying between phones (SDP is
//! relayed so phones talk directly), no conferences, no voicemail, no SIP over
//! TCP/TLS, no persistence across restarts.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod acd;
pub mod api;
pub mod crm;
pub mod ctl;
pub mod dialler;
pub mod media;
pub mod parties;
pub mod party;
pub mod pbx;
pub mod registrar;
pub mod route;
pub mod scenario;
pub mod sdp_util;
pub mod sip;
pub mod state;
pub mod tenant;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

/// The addresses of a running simulator.
#[derive(Debug, Clone)]
pub struct Running {
    /// SIP over UDP.
    pub sip: SocketAddr,
    /// The HTTP control API.
    pub api: SocketAddr,
    /// SIP over TLS, when served: the address, the test CA's certificate
    /// file and the server certificate's SHA-256 (hex).
    pub tls: Option<(SocketAddr, std::path::PathBuf, String)>,
}

/// How to run a simulator.
#[derive(Debug, Clone)]
pub struct Options {
    /// SIP UDP address (port 0 picks a free one).
    pub sip: SocketAddr,
    /// Control API address.
    pub api: SocketAddr,
    /// SIP timers (tests shrink T1).
    pub timers: sip::Timers,
    /// Ended calls kept for the API.
    pub keep_calls: usize,
    /// SIP over TLS too, when set.
    pub tls: Option<tls::TlsOptions>,
}

impl Options {
    /// Loopback, free ports, default timers.
    pub fn loopback() -> Options {
        Options {
            sip: SocketAddr::from(([127, 0, 0, 1], 0)),
            api: SocketAddr::from(([127, 0, 0, 1], 0)),
            timers: sip::Timers::default(),
            keep_calls: pbx::DEFAULT_KEEP_ENDED,
            tls: None,
        }
    }
}

/// Starts the simulator (SIP and API) in the background of the current tokio runtime.
pub async fn start(
    tenant: tenant::Tenant,
    sip_bind: SocketAddr,
    api_bind: SocketAddr,
    cancel: CancellationToken,
) -> anyhow::Result<(Running, Arc<state::SimState>)> {
    let opts = Options {
        sip: sip_bind,
        api: api_bind,
        ..Options::loopback()
    };
    start_with(tenant, opts, cancel).await
}

/// Starts the simulator with `opts`.
pub async fn start_with(
    tenant: tenant::Tenant,
    opts: Options,
    cancel: CancellationToken,
) -> anyhow::Result<(Running, Arc<state::SimState>)> {
    let state = state::SimState::new(tenant, cancel.clone());
    state.with(|p, _| p.keep_ended_calls(opts.keep_calls));
    let (sip, tls) =
        sip::SipDriver::start(opts.sip, opts.tls.as_ref(), &state, opts.timers).await?;
    state.spawn_timer();
    let listener = tokio::net::TcpListener::bind(opts.api)
        .await
        .map_err(|e| anyhow::anyhow!("cannot bind the control API on {}: {e}", opts.api))?;
    let api = listener.local_addr()?;
    let router = api::router(state.clone(), api);
    tokio::spawn(async move {
        let shutdown = async move { cancel.cancelled().await };
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "control API stopped");
        }
    });
    Ok((Running { sip, api, tls }, state))
}
