//! This crate provides `bluebean-sim`, a fake BlueBean PBX for tests, demos and
//! QA, and the mock CRM that stands in for a customer's web system.
//!
//! Principal parts: the [`tenant`] (who exists), the [`registrar`] (a plain
//! state machine: digest challenges, bindings, rate limit), the SIP driver
//! ([`sip`]) that feeds it from an rsipstack endpoint, the simulated
//! [`outside`] callers, the JSON control [`api`], and the mock [`crm`].
//!
//! Key decision: the logic we own (registrar; later the ACD and the dialler)
//! is sans-IO and tested without sockets; the drivers around it are thin and
//! make no decisions.
//!
//! It deliberately is not a general PBX: no media mixing, no SIP proxying of
//! foreign domains, no persistence across restarts.

pub mod api;
pub mod crm;
pub mod outside;
pub mod registrar;
pub mod sip;
pub mod state;
pub mod tenant;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

/// The addresses of a running simulator.
#[derive(Debug, Clone, Copy)]
pub struct Running {
    /// SIP over UDP.
    pub sip: SocketAddr,
    /// The HTTP control API.
    pub api: SocketAddr,
}

/// Starts the simulator (SIP and API) in the background of the current tokio runtime.
pub async fn start(
    tenant: tenant::Tenant,
    sip_bind: SocketAddr,
    api_bind: SocketAddr,
    cancel: CancellationToken,
) -> anyhow::Result<(Running, Arc<state::SimState>)> {
    let registrar = registrar::Registrar::new(bb_sip::digest::Algorithm::Md5);
    let state = state::SimState::new(tenant, registrar);
    let sip = sip::SipServer::start(sip_bind, state.clone(), cancel.clone()).await?;
    let outside = outside::OutsideCalls::new(sip.clone());
    let listener = tokio::net::TcpListener::bind(api_bind)
        .await
        .map_err(|e| anyhow::anyhow!("cannot bind the control API on {api_bind}: {e}"))?;
    let api = listener.local_addr()?;
    let router = api::router(state.clone(), outside);
    tokio::spawn(async move {
        let shutdown = async move { cancel.cancelled().await };
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "control API stopped");
        }
    });
    Ok((
        Running {
            sip: sip.local,
            api,
        },
        state,
    ))
}
