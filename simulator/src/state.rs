//! The simulator's shared state: tenant, registrar, outside calls and the
//! event log that the control API exposes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde::Serialize;
use tokio::sync::Notify;

use crate::registrar::{Millis, Registrar};
use crate::tenant::Tenant;

/// One event in the simulator's log (readable at `GET /api/events`).
#[derive(Debug, Clone, Serialize)]
pub struct SimEvent {
    /// Position in the log, from 1.
    pub seq: u64,
    /// Milliseconds since the simulator started.
    pub at_ms: Millis,
    /// What happened (`registered`, `call_ringing`, …).
    pub kind: String,
    /// The simulator's call id, when the event is about a call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<u64>,
    /// Free-form details.
    pub detail: serde_json::Value,
}

/// The state of a simulated outside call, as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// INVITE sent, nothing back yet.
    Calling,
    /// 180/183 received.
    Ringing,
    /// 200 received and acknowledged.
    Answered,
    /// Over (see `end_reason`).
    Ended,
}

/// A simulated outside call as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CallView {
    /// The simulator's id for the call.
    pub id: u64,
    /// The SIP Call-ID of the leg towards the extension.
    pub call_id: String,
    /// The outside caller's number.
    pub from: String,
    /// The outside line that was called.
    pub to: String,
    /// The extension that rang.
    pub extension: String,
    /// Where the call is.
    pub state: CallState,
    /// Why it ended (`caller_hangup`, `callee_hangup`, `rejected 486`, …).
    pub end_reason: Option<String>,
    /// RTP packets the outside party received from the softphone.
    pub rtp_received: u64,
}

/// Everything the drivers share.
pub struct SimState {
    /// The tenant.
    pub tenant: Tenant,
    /// Registrar logic.
    pub registrar: Mutex<Registrar>,
    /// Calls by id.
    pub calls: Mutex<BTreeMap<u64, CallView>>,
    events: Mutex<Vec<SimEvent>>,
    /// Woken whenever an event is added.
    pub event_added: Notify,
    started: Instant,
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it
/// (the simulator keeps serving; the state is plain data).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poison| poison.into_inner())
}

impl SimState {
    /// Fresh state for a tenant.
    pub fn new(tenant: Tenant, registrar: Registrar) -> Arc<SimState> {
        Arc::new(SimState {
            tenant,
            registrar: Mutex::new(registrar),
            calls: Mutex::new(BTreeMap::new()),
            events: Mutex::new(Vec::new()),
            event_added: Notify::new(),
            started: Instant::now(),
        })
    }

    /// Milliseconds since start.
    pub fn now(&self) -> Millis {
        self.started.elapsed().as_millis() as Millis
    }

    /// Appends an event and prints it as one line on stdout.
    pub fn event(&self, kind: &str, call: Option<u64>, detail: serde_json::Value) {
        let mut events = lock(&self.events);
        let e = SimEvent {
            seq: events.len() as u64 + 1,
            at_ms: self.now(),
            kind: kind.to_string(),
            call,
            detail,
        };
        tracing::info!(target: "bluebean_sim::event", kind = %e.kind, call = ?e.call, detail = %e.detail);
        events.push(e);
        drop(events);
        self.event_added.notify_waiters();
    }

    /// Events after `since` (a `seq`).
    pub fn events_since(&self, since: u64) -> Vec<SimEvent> {
        lock(&self.events)
            .iter()
            .filter(|e| e.seq > since)
            .cloned()
            .collect()
    }

    /// Updates one call's view.
    pub fn update_call(&self, id: u64, f: impl FnOnce(&mut CallView)) {
        if let Some(c) = lock(&self.calls).get_mut(&id) {
            f(c);
        }
    }
}
