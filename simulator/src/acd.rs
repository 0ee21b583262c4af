//! The ACD (automatic call distribution, ACD-1 and ACD-2): operators log in at
//! an extension, say whether they are available, and the calls waiting in a
//! queue are offered to them one at a time.
//!
//! [`Acd`] is a sans-IO state machine. Inputs: [`Acd::login`],
//! [`Acd::logout`], [`Acd::set_state`], [`Acd::call_arrived`],
//! [`Acd::offer_answered`], [`Acd::offer_failed`], [`Acd::call_ended`] and
//! [`Acd::handle_timeout`], each with `now`. Outputs: drain
//! [`Acd::poll_output`] after every input ([`AcdOutput::Offer`],
//! [`AcdOutput::Retract`], [`AcdOutput::Reroute`], [`AcdOutput::Overflow`],
//! [`AcdOutput::Queued`], [`AcdOutput::OperatorChanged`]), then arm a timer
//! for [`Acd::poll_timeout`]. It never reads a clock.
//!
//! Rules:
//! - an operator is offered a call only when logged in and `available`;
//!   while offered or talking the operator is not available;
//! - the oldest waiting call is served first, across queues;
//! - `longest_idle` picks the member available for the longest time,
//!   `round_robin` the next member after the one offered last (member order),
//!   `ring_all` offers the call to every available member at once;
//! - an offer that is not answered within the queue's `offer_timeout_ms`, or
//!   that the operator's phone refuses, is withdrawn, the operator is set
//!   `not_available` (redirect on no answer, as call-centre ACDs do; not for
//!   `ring_all`) and the call is offered to the next operator ([`AcdOutput::Reroute`]);
//! - a call still waiting after the queue's `timeout_ms` overflows to the
//!   queue's overflow target ([`AcdOutput::Overflow`]);
//! - after a call, the operator is in `after_call_work` for the queue's
//!   `after_call_work_ms`, then available again.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use crate::registrar::Millis;
use crate::tenant::{Queue, QueueStrategy, Target, Tenant};

/// The ACD's id of a call (the simulator's call id).
pub type CallRef = u64;

/// An operator's state as shown over the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpState {
    /// Not logged in.
    LoggedOut,
    /// Logged in, takes calls.
    Available,
    /// Logged in, takes no calls.
    NotAvailable,
    /// Wrapping up the last call; available again when it ends.
    AfterCallWork,
    /// A call is being offered (the phone rings).
    Offered,
    /// On a call.
    Busy,
}

/// States an operator can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    /// Take calls.
    Available,
    /// Take no calls.
    NotAvailable,
    /// Wrap up (until set available, or the queue's after-call work time when
    /// entered automatically).
    AfterCallWork,
}

/// Why an operator request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcdError {
    /// No such login ID.
    #[error("no operator with login ID '{0}'")]
    UnknownOperator(String),
    /// Wrong password.
    #[error("wrong password for operator '{0}'")]
    BadPassword(String),
    /// The extension does not exist.
    #[error("'{0}' is not an extension of this tenant")]
    UnknownExtension(String),
    /// Another operator sits at this extension.
    #[error("extension {extension} is taken by operator '{by}' (log that operator out first)")]
    ExtensionTaken {
        /// The extension.
        extension: String,
        /// Who sits there.
        by: String,
    },
    /// The operator is not logged in.
    #[error("operator '{0}' is not logged in")]
    NotLoggedIn(String),
    /// The operator is on a call or being offered one.
    #[error("operator '{0}' is on a call; the state changes when the call ends")]
    OnCall(String),
    /// Too many wrong passwords for this login ID lately.
    #[error(
        "too many failed logins for '{0}'; logins for it are refused for {secs} s",
        secs = LOGIN_PENALTY_MS / 1000
    )]
    RateLimited(String),
}

/// Wrong passwords for one login ID before its logins are refused for a
/// while (the registrar's limit for REGISTER, applied to operator logins).
pub const MAX_LOGIN_FAILURES: u32 = crate::registrar::MAX_FAILURES;
/// How long logins for a rate-limited login ID are refused (even with the
/// right password), counted from the last failure.
pub const LOGIN_PENALTY_MS: Millis = crate::registrar::PENALTY_MS;
/// Most login IDs whose failures are remembered (unknown IDs count too).
const MAX_FAILURE_ENTRIES: usize = 10_000;

/// What the ACD asks of the rest of the simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcdOutput {
    /// A call entered a queue.
    Queued {
        /// The call.
        call: CallRef,
        /// The queue.
        queue: String,
        /// 1-based position.
        position: usize,
    },
    /// Ring `extension` for `call` on behalf of `operator`.
    Offer {
        /// The call.
        call: CallRef,
        /// The operator's login ID.
        operator: String,
        /// Where the operator sits.
        extension: String,
    },
    /// Stop ringing `operator` for `call` (another took it, it timed out, the caller left).
    Retract {
        /// The call.
        call: CallRef,
        /// The operator.
        operator: String,
    },
    /// An offer failed; the call goes back to waiting (and is offered again).
    Reroute {
        /// The call.
        call: CallRef,
        /// The operator who did not take it.
        operator: String,
        /// `no_answer` or `refused <code>`.
        reason: String,
    },
    /// The call waited too long: route it to `target` (none: end it).
    Overflow {
        /// The call.
        call: CallRef,
        /// The queue it leaves.
        queue: String,
        /// The queue's overflow target.
        target: Option<Target>,
    },
    /// An operator's state changed.
    OperatorChanged {
        /// The operator.
        operator: String,
        /// The new state.
        state: OpState,
        /// The extension, when logged in.
        extension: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Status {
    LoggedOut,
    Available,
    NotAvailable,
    AfterCallWork { until: Option<Millis> },
    Offered { call: CallRef, until: Millis },
    Busy { call: CallRef, queue: String },
}

#[derive(Debug, Clone)]
struct Agent {
    password: String,
    name: String,
    extension: Option<String>,
    status: Status,
    /// When the operator last became available (longest-idle order).
    idle_since: Millis,
    calls_taken: u64,
    logged_in_at: Option<Millis>,
}

#[derive(Debug, Clone)]
struct Waiting {
    call: CallRef,
    since: Millis,
    deadline: Millis,
    /// Operators currently ringing for it.
    offered: Vec<String>,
}

#[derive(Debug, Clone)]
struct QueueState {
    cfg: Queue,
    waiting: VecDeque<Waiting>,
    rr_last: Option<String>,
    answered: u64,
    overflowed: u64,
    abandoned: u64,
}

/// An operator as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OperatorView {
    /// Login ID.
    pub login_id: String,
    /// Display name.
    pub name: String,
    /// State.
    pub state: OpState,
    /// The extension the operator sits at, when logged in.
    pub extension: Option<String>,
    /// The call being offered or talked on.
    pub call: Option<CallRef>,
    /// Milliseconds the operator has been available (0 when not).
    pub idle_ms: Millis,
    /// Calls answered since start.
    pub calls_taken: u64,
}

/// A queue as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QueueView {
    /// Name.
    pub name: String,
    /// Strategy.
    pub strategy: QueueStrategy,
    /// Waiting calls, oldest first.
    pub waiting: Vec<CallRef>,
    /// Members (login IDs); empty means every operator.
    pub members: Vec<String>,
    /// Members available now.
    pub available: usize,
    /// Calls answered by an operator.
    pub answered: u64,
    /// Calls that overflowed.
    pub overflowed: u64,
    /// Calls whose caller left while waiting.
    pub abandoned: u64,
}

/// The ACD state machine.
#[derive(Debug)]
pub struct Acd {
    agents: BTreeMap<String, Agent>,
    /// Failed logins per login ID: (count, time of the last).
    login_failures: BTreeMap<String, (u32, Millis)>,
    queues: BTreeMap<String, QueueState>,
    extensions: Vec<String>,
    out: VecDeque<AcdOutput>,
}

impl Acd {
    /// An ACD for the tenant's operators and queues; everybody logged out.
    pub fn new(tenant: &Tenant) -> Acd {
        Acd {
            login_failures: BTreeMap::new(),
            agents: tenant
                .operators
                .iter()
                .map(|(id, op)| {
                    (
                        id.clone(),
                        Agent {
                            password: op.password.clone(),
                            name: op.name.clone(),
                            extension: None,
                            status: Status::LoggedOut,
                            idle_since: 0,
                            calls_taken: 0,
                            logged_in_at: None,
                        },
                    )
                })
                .collect(),
            queues: tenant
                .queues
                .iter()
                .map(|(name, q)| {
                    (
                        name.clone(),
                        QueueState {
                            cfg: q.clone(),
                            waiting: VecDeque::new(),
                            rr_last: None,
                            answered: 0,
                            overflowed: 0,
                            abandoned: 0,
                        },
                    )
                })
                .collect(),
            extensions: tenant.extensions.keys().cloned().collect(),
            out: VecDeque::new(),
        }
    }

    fn changed(&mut self, id: &str) {
        if let Some(a) = self.agents.get(id) {
            self.out.push_back(AcdOutput::OperatorChanged {
                operator: id.to_string(),
                state: view_state(&a.status),
                extension: a.extension.clone(),
            });
        }
    }

    fn agent(&mut self, id: &str) -> Result<&mut Agent, AcdError> {
        self.agents
            .get_mut(id)
            .ok_or_else(|| AcdError::UnknownOperator(id.to_string()))
    }

    /// Checks an operator's password without logging in.
    pub fn check_password(&self, id: &str, password: &str) -> Result<(), AcdError> {
        let a = self
            .agents
            .get(id)
            .ok_or_else(|| AcdError::UnknownOperator(id.to_string()))?;
        if a.password != password {
            return Err(AcdError::BadPassword(id.to_string()));
        }
        Ok(())
    }

    /// Logs `id` in at `extension`; the operator becomes available. Logging in
    /// again (same or another extension) moves the operator and keeps a call.
    pub fn login(
        &mut self,
        id: &str,
        password: &str,
        extension: &str,
        now: Millis,
    ) -> Result<(), AcdError> {
        let recent =
            |(n, at): &(u32, Millis)| now.saturating_sub(*at) <= LOGIN_PENALTY_MS && *n > 0;
        if self
            .login_failures
            .get(id)
            .is_some_and(|f| recent(f) && f.0 >= MAX_LOGIN_FAILURES)
        {
            return Err(AcdError::RateLimited(id.to_string()));
        }
        if let Err(e) = self.check_password(id, password) {
            if self.login_failures.len() >= MAX_FAILURE_ENTRIES {
                self.login_failures.retain(|_, f| recent(f));
            }
            if self.login_failures.len() < MAX_FAILURE_ENTRIES {
                let f = self
                    .login_failures
                    .entry(id.to_string())
                    .or_insert((0, now));
                if !recent(f) {
                    *f = (0, now);
                }
                f.0 += 1;
                f.1 = now;
            }
            return Err(e);
        }
        self.login_failures.remove(id);
        if !self.extensions.iter().any(|e| e == extension) {
            return Err(AcdError::UnknownExtension(extension.to_string()));
        }
        if let Some((by, _)) = self
            .agents
            .iter()
            .find(|(other, a)| *other != id && a.extension.as_deref() == Some(extension))
        {
            return Err(AcdError::ExtensionTaken {
                extension: extension.to_string(),
                by: by.clone(),
            });
        }
        let a = self.agent(id)?;
        a.extension = Some(extension.to_string());
        if a.status == Status::LoggedOut {
            a.status = Status::Available;
            a.idle_since = now;
            a.logged_in_at = Some(now);
        }
        self.changed(id);
        self.dispatch(now);
        Ok(())
    }

    /// Logs `id` out; a ringing offer is withdrawn and the call re-offered.
    pub fn logout(&mut self, id: &str, now: Millis) -> Result<(), AcdError> {
        let a = self.agent(id)?;
        if a.status == Status::LoggedOut {
            return Err(AcdError::NotLoggedIn(id.to_string()));
        }
        let offered = match a.status {
            Status::Offered { call, .. } => Some(call),
            _ => None,
        };
        a.status = Status::LoggedOut;
        a.extension = None;
        a.logged_in_at = None;
        if let Some(call) = offered {
            self.withdraw_offer(call, id);
            self.out.push_back(AcdOutput::Retract {
                call,
                operator: id.to_string(),
            });
        }
        self.changed(id);
        self.dispatch(now);
        Ok(())
    }

    /// Sets `id`'s state.
    pub fn set_state(&mut self, id: &str, req: Requested, now: Millis) -> Result<(), AcdError> {
        let a = self.agent(id)?;
        match a.status {
            Status::LoggedOut => return Err(AcdError::NotLoggedIn(id.to_string())),
            Status::Offered { .. } | Status::Busy { .. } => {
                return Err(AcdError::OnCall(id.to_string()));
            }
            _ => {}
        }
        let was_available = a.status == Status::Available;
        a.status = match req {
            Requested::Available => Status::Available,
            Requested::NotAvailable => Status::NotAvailable,
            Requested::AfterCallWork => Status::AfterCallWork { until: None },
        };
        if req == Requested::Available && !was_available {
            a.idle_since = now;
        }
        self.changed(id);
        self.dispatch(now);
        Ok(())
    }

    /// A call arrives in `queue`; it overflows at `deadline` (default: the
    /// queue's `timeout_ms` from now).
    pub fn call_arrived(
        &mut self,
        call: CallRef,
        queue: &str,
        deadline: Option<Millis>,
        now: Millis,
    ) {
        let Some(q) = self.queues.get_mut(queue) else {
            self.out.push_back(AcdOutput::Overflow {
                call,
                queue: queue.to_string(),
                target: None,
            });
            return;
        };
        let deadline = deadline.unwrap_or(now + q.cfg.timeout_ms);
        q.waiting.push_back(Waiting {
            call,
            since: now,
            deadline,
            offered: Vec::new(),
        });
        let position = q.waiting.len();
        self.out.push_back(AcdOutput::Queued {
            call,
            queue: queue.to_string(),
            position,
        });
        self.dispatch(now);
    }

    /// `operator` answered the offer of `call`: the call leaves the queue.
    pub fn offer_answered(&mut self, call: CallRef, operator: &str, now: Millis) {
        let mut queue_name = None;
        let mut others = Vec::new();
        for (name, q) in self.queues.iter_mut() {
            if let Some(pos) = q.waiting.iter().position(|w| w.call == call) {
                if let Some(w) = q.waiting.remove(pos) {
                    others = w.offered.into_iter().filter(|o| o != operator).collect();
                }
                q.answered += 1;
                queue_name = Some(name.clone());
                break;
            }
        }
        for o in others {
            if let Some(a) = self.agents.get_mut(&o)
                && matches!(a.status, Status::Offered { call: c, .. } if c == call)
            {
                a.status = Status::Available;
                self.out.push_back(AcdOutput::Retract {
                    call,
                    operator: o.clone(),
                });
                self.changed(&o);
            }
        }
        if let Some(a) = self.agents.get_mut(operator) {
            a.status = Status::Busy {
                call,
                queue: queue_name.unwrap_or_default(),
            };
            a.calls_taken += 1;
            self.changed(operator);
        }
        self.dispatch(now);
    }

    /// The offer of `call` to `operator` failed (refused, unreachable, no answer).
    pub fn offer_failed(&mut self, call: CallRef, operator: &str, reason: &str, now: Millis) {
        let still_offered = self
            .agents
            .get(operator)
            .is_some_and(|a| matches!(a.status, Status::Offered { call: c, .. } if c == call));
        if !still_offered {
            return;
        }
        let ring_all = self.withdraw_offer(call, operator);
        if let Some(a) = self.agents.get_mut(operator) {
            if ring_all {
                a.status = Status::Available;
            } else {
                a.status = Status::NotAvailable;
            }
        }
        self.out.push_back(AcdOutput::Reroute {
            call,
            operator: operator.to_string(),
            reason: reason.to_string(),
        });
        self.changed(operator);
        self.dispatch(now);
    }

    /// Takes `operator` off the offer list of `call`; returns whether the
    /// call's queue rings all members (no penalty for the operator then).
    fn withdraw_offer(&mut self, call: CallRef, operator: &str) -> bool {
        for q in self.queues.values_mut() {
            if let Some(w) = q.waiting.iter_mut().find(|w| w.call == call) {
                w.offered.retain(|o| o != operator);
                return q.cfg.strategy == QueueStrategy::RingAll;
            }
        }
        false
    }

    /// `call` is over (caller hung up, or the call with an operator ended).
    pub fn call_ended(&mut self, call: CallRef, now: Millis) {
        for q in self.queues.values_mut() {
            if let Some(pos) = q.waiting.iter().position(|w| w.call == call) {
                q.abandoned += 1;
                if let Some(w) = q.waiting.remove(pos) {
                    for o in w.offered {
                        self.out.push_back(AcdOutput::Retract { call, operator: o });
                    }
                }
                break;
            }
        }
        let ids: Vec<String> = self
            .agents
            .iter()
            .filter(|(_, a)| {
                matches!(a.status, Status::Offered { call: c, .. } | Status::Busy { call: c, .. } if c == call)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            let acw = match self.agents.get(&id).map(|a| &a.status) {
                Some(Status::Busy { queue, .. }) => self
                    .queues
                    .get(queue)
                    .map(|q| q.cfg.after_call_work_ms)
                    .unwrap_or(0),
                _ => 0,
            };
            if let Some(a) = self.agents.get_mut(&id) {
                if acw > 0 {
                    a.status = Status::AfterCallWork {
                        until: Some(now + acw),
                    };
                } else {
                    a.status = Status::Available;
                    a.idle_since = now;
                }
            }
            self.changed(&id);
        }
        self.dispatch(now);
    }

    /// Advances time: offer no-answer, queue overflow, end of after-call work.
    pub fn handle_timeout(&mut self, now: Millis) {
        // After-call work ends.
        let done: Vec<String> = self
            .agents
            .iter()
            .filter(
                |(_, a)| matches!(a.status, Status::AfterCallWork { until: Some(u) } if u <= now),
            )
            .map(|(id, _)| id.clone())
            .collect();
        for id in done {
            if let Some(a) = self.agents.get_mut(&id) {
                a.status = Status::Available;
                a.idle_since = now;
            }
            self.changed(&id);
        }
        // Offers not answered in time.
        let expired: Vec<(String, CallRef)> = self
            .agents
            .iter()
            .filter_map(|(id, a)| match a.status {
                Status::Offered { call, until } if until <= now => Some((id.clone(), call)),
                _ => None,
            })
            .collect();
        for (id, call) in expired {
            self.out.push_back(AcdOutput::Retract {
                call,
                operator: id.clone(),
            });
            self.offer_failed(call, &id, "no_answer", now);
        }
        // Calls waiting too long.
        let mut overflow = Vec::new();
        for (name, q) in self.queues.iter_mut() {
            while let Some(pos) = q.waiting.iter().position(|w| w.deadline <= now) {
                if let Some(w) = q.waiting.remove(pos) {
                    q.overflowed += 1;
                    overflow.push((name.clone(), q.cfg.overflow.clone(), w));
                }
            }
        }
        for (queue, target, w) in overflow {
            for o in &w.offered {
                if let Some(a) = self.agents.get_mut(o) {
                    a.status = Status::Available;
                }
                self.out.push_back(AcdOutput::Retract {
                    call: w.call,
                    operator: o.clone(),
                });
                self.changed(o);
            }
            self.out.push_back(AcdOutput::Overflow {
                call: w.call,
                queue,
                target,
            });
        }
        self.dispatch(now);
    }

    /// The next output.
    pub fn poll_output(&mut self) -> Option<AcdOutput> {
        self.out.pop_front()
    }

    /// The earliest deadline: an offer's no-answer, a queue timeout, the end
    /// of after-call work.
    pub fn poll_timeout(&self) -> Option<Millis> {
        let agents = self.agents.values().filter_map(|a| match a.status {
            Status::Offered { until, .. } => Some(until),
            Status::AfterCallWork { until } => until,
            _ => None,
        });
        let queues = self
            .queues
            .values()
            .flat_map(|q| q.waiting.iter().map(|w| w.deadline));
        agents.chain(queues).min()
    }

    fn is_member(q: &Queue, id: &str) -> bool {
        q.members.is_empty() || q.members.iter().any(|m| m == id)
    }

    /// Members of `queue` that are available now.
    pub fn available_in(&self, queue: &str) -> usize {
        let Some(q) = self.queues.get(queue) else {
            return 0;
        };
        self.agents
            .iter()
            .filter(|(id, a)| a.status == Status::Available && Self::is_member(&q.cfg, id))
            .count()
    }

    /// Calls waiting in `queue`.
    pub fn waiting_in(&self, queue: &str) -> usize {
        self.queues.get(queue).map_or(0, |q| q.waiting.len())
    }

    /// Offers waiting calls to available operators.
    fn dispatch(&mut self, now: Millis) {
        // Oldest call first, across queues.
        let mut order: Vec<(Millis, String, CallRef)> = self
            .queues
            .iter()
            .flat_map(|(name, q)| {
                q.waiting
                    .iter()
                    .filter(|w| w.offered.is_empty())
                    .map(|w| (w.since, name.clone(), w.call))
            })
            .collect();
        order.sort();
        for (_, queue, call) in order {
            let Some(q) = self.queues.get(&queue) else {
                continue;
            };
            let cfg = q.cfg.clone();
            let mut candidates: Vec<(&String, &Agent)> = self
                .agents
                .iter()
                .filter(|(id, a)| {
                    a.status == Status::Available
                        && a.extension.is_some()
                        && Self::is_member(&cfg, id)
                })
                .collect();
            if candidates.is_empty() {
                continue;
            }
            let chosen: Vec<String> = match cfg.strategy {
                QueueStrategy::LongestIdle => {
                    candidates
                        .sort_by(|a, b| a.1.idle_since.cmp(&b.1.idle_since).then(a.0.cmp(b.0)));
                    vec![candidates[0].0.clone()]
                }
                QueueStrategy::RoundRobin => {
                    let order: Vec<String> = if cfg.members.is_empty() {
                        self.agents.keys().cloned().collect()
                    } else {
                        cfg.members.clone()
                    };
                    let start = q
                        .rr_last
                        .as_ref()
                        .and_then(|last| order.iter().position(|m| m == last))
                        .map_or(0, |i| i + 1);
                    let pick = (0..order.len())
                        .map(|k| &order[(start + k) % order.len()])
                        .find(|m| candidates.iter().any(|(id, _)| id == m));
                    pick.into_iter().cloned().collect()
                }
                QueueStrategy::RingAll => candidates.iter().map(|(id, _)| (*id).clone()).collect(),
            };
            for op in chosen {
                let Some(a) = self.agents.get_mut(&op) else {
                    continue;
                };
                let Some(extension) = a.extension.clone() else {
                    continue;
                };
                a.status = Status::Offered {
                    call,
                    until: now + cfg.offer_timeout_ms,
                };
                if let Some(q) = self.queues.get_mut(&queue) {
                    q.rr_last = Some(op.clone());
                    if let Some(w) = q.waiting.iter_mut().find(|w| w.call == call) {
                        w.offered.push(op.clone());
                    }
                }
                self.out.push_back(AcdOutput::Offer {
                    call,
                    operator: op.clone(),
                    extension,
                });
                self.changed(&op);
            }
        }
    }

    /// The operator sitting at `extension`, if any.
    pub fn operator_at(&self, extension: &str) -> Option<&str> {
        self.agents
            .iter()
            .find(|(_, a)| a.extension.as_deref() == Some(extension))
            .map(|(id, _)| id.as_str())
    }

    /// Every operator.
    pub fn operators(&self, now: Millis) -> Vec<OperatorView> {
        self.agents
            .iter()
            .map(|(id, a)| OperatorView {
                login_id: id.clone(),
                name: a.name.clone(),
                state: view_state(&a.status),
                extension: a.extension.clone(),
                call: match a.status {
                    Status::Offered { call, .. } | Status::Busy { call, .. } => Some(call),
                    _ => None,
                },
                idle_ms: if a.status == Status::Available {
                    now.saturating_sub(a.idle_since)
                } else {
                    0
                },
                calls_taken: a.calls_taken,
            })
            .collect()
    }

    /// One operator.
    pub fn operator(&self, id: &str, now: Millis) -> Option<OperatorView> {
        self.operators(now).into_iter().find(|o| o.login_id == id)
    }

    /// Every queue.
    pub fn queues(&self) -> Vec<QueueView> {
        self.queues
            .iter()
            .map(|(name, q)| QueueView {
                name: name.clone(),
                strategy: q.cfg.strategy,
                waiting: q.waiting.iter().map(|w| w.call).collect(),
                members: q.cfg.members.clone(),
                available: self.available_in(name),
                answered: q.answered,
                overflowed: q.overflowed,
                abandoned: q.abandoned,
            })
            .collect()
    }
}

fn view_state(s: &Status) -> OpState {
    match s {
        Status::LoggedOut => OpState::LoggedOut,
        Status::Available => OpState::Available,
        Status::NotAvailable => OpState::NotAvailable,
        Status::AfterCallWork { .. } => OpState::AfterCallWork,
        Status::Offered { .. } => OpState::Offered,
        Status::Busy { .. } => OpState::Busy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::{Operator, Queue};

    fn tenant(strategy: QueueStrategy) -> Tenant {
        let mut t = Tenant::builtin();
        t.operators.clear();
        for id in ["a", "b", "c"] {
            t.operators.insert(
                id.into(),
                Operator {
                    password: "pw".into(),
                    name: String::new(),
                },
            );
        }
        t.queues.clear();
        t.queues.insert(
            "q".into(),
            Queue {
                strategy,
                members: vec![],
                offer_timeout_ms: 1000,
                timeout_ms: 10_000,
                overflow: Some(Target::extension("1330")),
                after_call_work_ms: 500,
                auto_answer: None,
            },
        );
        t
    }

    fn drain(acd: &mut Acd) -> Vec<AcdOutput> {
        std::iter::from_fn(|| acd.poll_output())
            .filter(|o| !matches!(o, AcdOutput::OperatorChanged { .. }))
            .collect()
    }

    fn offer(call: CallRef, op: &str, ext: &str) -> AcdOutput {
        AcdOutput::Offer {
            call,
            operator: op.into(),
            extension: ext.into(),
        }
    }

    #[test]
    fn login_checks_password_extension_and_seat() {
        let mut acd = Acd::new(&tenant(QueueStrategy::LongestIdle));
        assert_eq!(
            acd.login("a", "bad", "1910", 0),
            Err(AcdError::BadPassword("a".into()))
        );
        assert_eq!(
            acd.login("zz", "pw", "1910", 0),
            Err(AcdError::UnknownOperator("zz".into()))
        );
        assert_eq!(
            acd.login("a", "pw", "9999", 0),
            Err(AcdError::UnknownExtension("9999".into()))
        );
        acd.login("a", "pw", "1910", 0).expect("logs in");
        assert!(matches!(
            acd.login("b", "pw", "1910", 0),
            Err(AcdError::ExtensionTaken { .. })
        ));
        assert_eq!(
            acd.operator("a", 5).map(|o| o.state),
            Some(OpState::Available)
        );
        acd.logout("a", 1).expect("logs out");
        assert_eq!(acd.logout("a", 1), Err(AcdError::NotLoggedIn("a".into())));
        assert_eq!(
            acd.set_state("a", Requested::Available, 2),
            Err(AcdError::NotLoggedIn("a".into()))
        );
    }

    #[test]
    fn repeated_wrong_passwords_rate_limit_the_login_id() {
        let mut acd = Acd::new(&tenant(QueueStrategy::LongestIdle));
        for i in 0..MAX_LOGIN_FAILURES {
            assert_eq!(
                acd.login("a", "bad", "1910", u64::from(i) * 100),
                Err(AcdError::BadPassword("a".into()))
            );
        }
        // Now even the right password is refused for a while.
        let last = u64::from(MAX_LOGIN_FAILURES - 1) * 100;
        assert_eq!(
            acd.login("a", "pw", "1910", last + 1),
            Err(AcdError::RateLimited("a".into()))
        );
        // Other login IDs are not affected.
        acd.login("b", "pw", "1911", last + 1).expect("b logs in");
        // After the penalty the right password works, and resets the count.
        acd.login("a", "pw", "1910", last + LOGIN_PENALTY_MS + 1)
            .expect("a logs in after the penalty");
        assert_eq!(
            acd.login("a", "bad", "1910", last + LOGIN_PENALTY_MS + 2),
            Err(AcdError::BadPassword("a".into()))
        );
        // Failures spread out wider than the penalty never add up.
        let mut acd = Acd::new(&tenant(QueueStrategy::LongestIdle));
        for i in 0..(MAX_LOGIN_FAILURES * 2) {
            let at = u64::from(i) * (LOGIN_PENALTY_MS + 1);
            assert_eq!(
                acd.login("c", "bad", "1912", at),
                Err(AcdError::BadPassword("c".into()))
            );
        }
    }

    #[test]
    fn longest_idle_operator_gets_the_call_then_after_call_work() {
        let mut acd = Acd::new(&tenant(QueueStrategy::LongestIdle));
        acd.login("b", "pw", "1911", 0).expect("b");
        acd.login("a", "pw", "1910", 100).expect("a");
        drain(&mut acd);
        acd.call_arrived(1, "q", None, 200);
        assert_eq!(
            drain(&mut acd),
            vec![
                AcdOutput::Queued {
                    call: 1,
                    queue: "q".into(),
                    position: 1
                },
                offer(1, "b", "1911")
            ]
        );
        acd.offer_answered(1, "b", 300);
        assert_eq!(acd.operator("b", 300).map(|o| o.state), Some(OpState::Busy));
        // Second call goes to a; third waits.
        acd.call_arrived(2, "q", None, 400);
        acd.call_arrived(3, "q", None, 400);
        let out = drain(&mut acd);
        assert!(out.contains(&offer(2, "a", "1910")), "{out:?}");
        assert!(
            !out.iter()
                .any(|o| matches!(o, AcdOutput::Offer { call: 3, .. }))
        );
        // b hangs up: after-call work, then call 3.
        acd.call_ended(1, 1000);
        assert_eq!(
            acd.operator("b", 1000).map(|o| o.state),
            Some(OpState::AfterCallWork)
        );
        assert_eq!(
            acd.poll_timeout(),
            Some(1400),
            "a's offer of call 2 times out first"
        );
        acd.offer_answered(2, "a", 1100);
        drain(&mut acd);
        assert_eq!(acd.poll_timeout(), Some(1500));
        acd.handle_timeout(1500);
        assert_eq!(drain(&mut acd), vec![offer(3, "b", "1911")]);
    }

    #[test]
    fn no_answer_reroutes_and_sets_not_available() {
        let mut acd = Acd::new(&tenant(QueueStrategy::LongestIdle));
        acd.login("a", "pw", "1910", 0).expect("a");
        acd.login("b", "pw", "1911", 10).expect("b");
        acd.call_arrived(7, "q", None, 100);
        assert!(drain(&mut acd).contains(&offer(7, "a", "1910")));
        acd.handle_timeout(1100);
        let out = drain(&mut acd);
        assert_eq!(
            out,
            vec![
                AcdOutput::Retract {
                    call: 7,
                    operator: "a".into()
                },
                AcdOutput::Reroute {
                    call: 7,
                    operator: "a".into(),
                    reason: "no_answer".into()
                },
                offer(7, "b", "1911"),
            ]
        );
        assert_eq!(
            acd.operator("a", 1100).map(|o| o.state),
            Some(OpState::NotAvailable)
        );
        // b refuses: nobody left; the call waits, then overflows.
        acd.offer_failed(7, "b", "refused 486", 1200);
        drain(&mut acd);
        assert_eq!(acd.poll_timeout(), Some(10_100));
        acd.handle_timeout(10_100);
        assert_eq!(
            drain(&mut acd),
            vec![AcdOutput::Overflow {
                call: 7,
                queue: "q".into(),
                target: Some(Target::extension("1330"))
            }]
        );
        assert_eq!(acd.queues()[0].overflowed, 1);
    }

    #[test]
    fn round_robin_rotates_in_member_order() {
        let mut acd = Acd::new(&tenant(QueueStrategy::RoundRobin));
        for (i, (id, ext)) in [("a", "1910"), ("b", "1911"), ("c", "1912")]
            .iter()
            .enumerate()
        {
            acd.login(id, "pw", ext, i as u64).expect("login");
        }
        let mut got = Vec::new();
        for call in 1..=4u64 {
            acd.call_arrived(call, "q", None, 100 + call);
            for o in drain(&mut acd) {
                if let AcdOutput::Offer { operator, .. } = o {
                    got.push(operator.clone());
                    acd.offer_answered(call, &operator, 100 + call);
                    acd.call_ended(call, 100 + call);
                    acd.set_state(&operator, Requested::Available, 100 + call)
                        .expect("available");
                }
            }
        }
        assert_eq!(got, vec!["a", "b", "c", "a"]);
    }

    #[test]
    fn ring_all_offers_everyone_and_retracts_the_rest() {
        let mut acd = Acd::new(&tenant(QueueStrategy::RingAll));
        acd.login("a", "pw", "1910", 0).expect("a");
        acd.login("b", "pw", "1911", 0).expect("b");
        acd.call_arrived(1, "q", None, 5);
        let out = drain(&mut acd);
        assert!(out.contains(&offer(1, "a", "1910")) && out.contains(&offer(1, "b", "1911")));
        acd.offer_answered(1, "b", 6);
        assert_eq!(
            drain(&mut acd),
            vec![AcdOutput::Retract {
                call: 1,
                operator: "a".into()
            }]
        );
        assert_eq!(
            acd.operator("a", 6).map(|o| o.state),
            Some(OpState::Available)
        );
    }

    #[test]
    fn caller_leaving_withdraws_offers_and_states_need_login() {
        let mut acd = Acd::new(&tenant(QueueStrategy::LongestIdle));
        acd.call_arrived(1, "q", None, 0);
        assert_eq!(acd.queues()[0].waiting, vec![1]);
        acd.login("a", "pw", "1910", 10).expect("a");
        assert!(drain(&mut acd).contains(&offer(1, "a", "1910")));
        assert_eq!(
            acd.set_state("a", Requested::NotAvailable, 11),
            Err(AcdError::OnCall("a".into()))
        );
        acd.call_ended(1, 20);
        assert_eq!(
            drain(&mut acd),
            vec![AcdOutput::Retract {
                call: 1,
                operator: "a".into()
            }]
        );
        assert_eq!(
            acd.operator("a", 20).map(|o| o.state),
            Some(OpState::Available)
        );
        assert_eq!(acd.queues()[0].abandoned, 1);
        acd.set_state("a", Requested::NotAvailable, 30).expect("na");
        acd.call_arrived(2, "q", None, 40);
        assert!(
            !drain(&mut acd)
                .iter()
                .any(|o| matches!(o, AcdOutput::Offer { .. }))
        );
        acd.set_state("a", Requested::Available, 50).expect("av");
        assert!(drain(&mut acd).contains(&offer(2, "a", "1910")));
    }
}
