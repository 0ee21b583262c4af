//! The simulator's shared runtime state: the [`Pbx`] core behind one mutex,
//! the event log the control API exposes, and the glue that hands the core's
//! actions to the drivers ([`crate::sip`] for SIP legs, [`crate::parties`]
//! for simulated outside parties).
//!
//! Every input goes through [`SimState::with`]: lock the core, feed it the
//! input with the current time, drain its actions and events, unlock, log the
//! events, execute the actions, and re-arm the core's timer when its earliest
//! deadline moved. The lock is never held across an `await`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::parties::Parties;
use crate::pbx::{Action, Pbx};
use crate::registrar::Millis;
use crate::sip::SipDriver;
use crate::tenant::Tenant;

pub use crate::pbx::{CallState, CallView};

/// Events kept for `GET /api/events` (older ones are dropped).
pub const MAX_EVENTS: usize = 100_000;

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

struct EventLog {
    first_seq: u64,
    events: VecDeque<SimEvent>,
}

/// Everything the drivers share.
pub struct SimState {
    /// The tenant.
    pub tenant: Arc<Tenant>,
    core: Mutex<Pbx>,
    log: Mutex<EventLog>,
    /// Woken whenever an event is added.
    pub event_added: Notify,
    started: Instant,
    timer: Notify,
    armed: AtomicU64,
    sip: OnceLock<SipDriver>,
    /// The simulated outside parties.
    pub parties: Parties,
    /// Scenario runs.
    pub scenarios: crate::scenario::Scenarios,
    /// Cancelled when the simulator stops.
    pub cancel: CancellationToken,
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it
/// (the simulator keeps serving; the state is plain data).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poison| poison.into_inner())
}

impl SimState {
    /// Fresh state for a tenant.
    pub fn new(tenant: Tenant, cancel: CancellationToken) -> Arc<SimState> {
        let tenant = Arc::new(tenant);
        let session_base = u64::from(rand::random::<u32>()) << 16;
        Arc::new(SimState {
            core: Mutex::new(Pbx::new(tenant.clone(), session_base)),
            tenant,
            log: Mutex::new(EventLog {
                first_seq: 1,
                events: VecDeque::new(),
            }),
            event_added: Notify::new(),
            started: Instant::now(),
            timer: Notify::new(),
            armed: AtomicU64::new(u64::MAX),
            sip: OnceLock::new(),
            parties: Parties::default(),
            scenarios: Default::default(),
            cancel,
        })
    }

    /// Milliseconds since start.
    pub fn now(&self) -> Millis {
        self.started.elapsed().as_millis() as Millis
    }

    /// The SIP driver (set once at start).
    pub fn sip(&self) -> Option<&SipDriver> {
        self.sip.get()
    }

    /// Installs the SIP driver (once).
    pub fn set_sip(&self, driver: SipDriver) {
        let _ = self.sip.set(driver);
    }

    /// Feeds the core one input and executes what it asks for.
    pub fn with<R>(self: &Arc<Self>, f: impl FnOnce(&mut Pbx, Millis) -> R) -> R {
        let (r, actions) = self.with_deferred(f);
        self.execute(actions);
        r
    }

    /// Like [`SimState::with`], but returns the actions for the caller to
    /// execute once it has set up what they refer to (a new dialog, a party).
    pub fn with_deferred<R>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Pbx, Millis) -> R,
    ) -> (R, Vec<Action>) {
        let (r, actions, events, next) = {
            let mut core = lock(&self.core);
            let now = self.now();
            let r = f(&mut core, now);
            let actions: Vec<Action> = std::iter::from_fn(|| core.poll_action()).collect();
            let events: Vec<_> = std::iter::from_fn(|| core.poll_event()).collect();
            (r, actions, events, core.poll_timeout())
        };
        if !events.is_empty() {
            let at = self.now();
            for e in events {
                self.push_event(e.kind, e.call, e.detail, at);
            }
        }
        if let Some(next) = next
            && next < self.armed.load(Ordering::Relaxed)
        {
            self.timer.notify_one();
        }
        (r, actions)
    }

    /// Reads the core without feeding it anything.
    pub fn read<R>(&self, f: impl FnOnce(&Pbx, Millis) -> R) -> R {
        let core = lock(&self.core);
        f(&core, self.now())
    }

    /// Hands actions to the drivers, in order.
    pub fn execute(self: &Arc<Self>, actions: Vec<Action>) {
        for a in actions {
            let party = match &a {
                Action::CallParty { .. } => true,
                Action::Invite { .. } => false,
                Action::Ring { leg, .. }
                | Action::Answer { leg, .. }
                | Action::Reject { leg, .. }
                | Action::Cancel { leg }
                | Action::Bye { leg }
                | Action::ReInvite { leg, .. }
                | Action::Respond { leg, .. }
                | Action::Refresh { leg, .. }
                | Action::Notify { leg, .. } => self.parties.has(*leg),
            };
            if party {
                self.parties.execute(self, a);
            } else if let Some(sip) = self.sip() {
                sip.execute(self, a);
            }
        }
    }

    /// Runs the core's timers until `cancel`.
    pub fn spawn_timer(self: &Arc<Self>) {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let next = me.read(|p, _| p.poll_timeout());
                let now = me.now();
                let wait = match next {
                    Some(at) if at <= now => Duration::ZERO,
                    Some(at) => Duration::from_millis(at - now),
                    None => Duration::from_secs(3600),
                };
                me.armed.store(next.unwrap_or(u64::MAX), Ordering::Relaxed);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = me.timer.notified() => continue,
                    _ = me.cancel.cancelled() => return,
                }
                // Check expiry against the clock, not only the sleep.
                let due = me.read(|p, now| p.poll_timeout().is_some_and(|at| at <= now));
                if due {
                    me.with(|p, now| p.handle_timeout(now));
                }
            }
        });
    }

    /// Appends an event to the log.
    pub fn event(&self, kind: &str, call: Option<u64>, detail: serde_json::Value) {
        self.push_event(kind, call, detail, self.now());
    }

    fn push_event(&self, kind: &str, call: Option<u64>, detail: serde_json::Value, at: Millis) {
        let mut log = lock(&self.log);
        let seq = log.first_seq + log.events.len() as u64;
        tracing::info!(target: "bluebean_sim::event", seq, kind, call = ?call, detail = %detail);
        log.events.push_back(SimEvent {
            seq,
            at_ms: at,
            kind: kind.to_string(),
            call,
            detail,
        });
        if log.events.len() > MAX_EVENTS {
            log.events.pop_front();
            log.first_seq += 1;
        }
        drop(log);
        self.event_added.notify_waiters();
    }

    /// Events after `since` (a `seq`), at most `limit`.
    pub fn events_since(&self, since: u64, limit: usize) -> Vec<SimEvent> {
        let log = lock(&self.log);
        let skip = since.saturating_sub(log.first_seq - 1) as usize;
        log.events.iter().skip(skip).take(limit).cloned().collect()
    }

    /// The last event's `seq` (0 when none).
    pub fn last_seq(&self) -> u64 {
        let log = lock(&self.log);
        log.first_seq + log.events.len() as u64 - 1
    }
}
