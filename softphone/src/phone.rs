//! The call model: a plain state machine over the calls of one softphone.
//!
//! The SIP driver feeds it what happened on the wire ([`Input`]) and the
//! control surface feeds it what the operator asked for ([`Command`]); it
//! answers with what to do ([`Action`]) and what to tell the world
//! ([`PhoneEvent`]). It never touches a socket or reads the clock: `now` is an
//! argument, so every flow (hold, blind and attended transfer, a second call)
//! is tested without sleeping.
//!
//! Drain order: after each `handle_*` call, take [`Phone::poll_action`] until
//! `None`.
//!
//! Keys: the driver numbers the calls it sees first (incoming INVITEs) from 1;
//! the phone numbers the calls it starts (outgoing INVITEs) from
//! [`PHONE_KEYS`], so the two never collide.
//!
//! Which call a verb acts on, when several exist:
//! - `answer`: the oldest ringing incoming call;
//! - `hold`, `transfer`, `blindtransfer`, `dtmf`: the *active* call (talking,
//!   not held by us) — with a consultation call up, that is the consultation;
//! - `unhold`: the call we hold, when no other call is active;
//! - `hangup`: the consultation call if there is one (back to the held call),
//!   else the active call, else a call being dialled (CANCEL), else a ringing
//!   call (486), else a held call;
//! - `transfer_complete`: the held call and its consultation.

use std::collections::{BTreeMap, VecDeque};

/// Milliseconds on the driver's monotonic clock.
pub type Millis = u64;

/// The driver's or the phone's handle for one call (its dialog).
pub type CallKey = u64;

/// The first key the phone gives to the calls it places.
pub const PHONE_KEYS: CallKey = 1 << 40;

/// What the driver read from an incoming INVITE.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncomingFacts {
    /// SIP Call-ID.
    pub call_id: String,
    /// User part of From.
    pub from_user: Option<String>,
    /// User part of P-Asserted-Identity.
    pub pai_user: Option<String>,
    /// User part of P-Called-Party-ID.
    pub called_party_user: Option<String>,
    /// User part of To.
    pub to_user: Option<String>,
    /// User part of the Request-URI.
    pub request_uri_user: Option<String>,
    /// The INVITE asks to be answered automatically (`Call-Info:
    /// …;answer-after=N`, `Alert-Info: …;info=alert-autoanswer`,
    /// `Answer-Mode: Auto`), after this many ms.
    pub answer_after_ms: Option<Millis>,
}

impl IncomingFacts {
    /// The remote party's number as shown to the operator.
    pub fn remote_number(&self) -> String {
        self.pai_user
            .clone()
            .or_else(|| self.from_user.clone())
            .unwrap_or_default()
    }
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndCause {
    /// We hung up.
    LocalHangup,
    /// The other side hung up.
    RemoteHangup,
    /// The caller gave up before we answered.
    CallerCancelled,
    /// We rejected a ringing call.
    Rejected,
    /// The called party was busy (486/600) or declined (603).
    Busy,
    /// The called party did not answer, or the call was refused otherwise.
    NotAnswered,
    /// The call was handed over to someone else.
    Transferred,
    /// Signalling failed (timeout, transport).
    Failed,
}

impl EndCause {
    /// A stable word for logs, events and hooks.
    pub fn as_str(self) -> &'static str {
        match self {
            EndCause::LocalHangup => "local_hangup",
            EndCause::RemoteHangup => "remote_hangup",
            EndCause::CallerCancelled => "caller_cancelled",
            EndCause::Rejected => "rejected",
            EndCause::Busy => "busy",
            EndCause::NotAnswered => "not_answered",
            EndCause::Transferred => "transferred",
            EndCause::Failed => "failed",
        }
    }
}

/// What happened on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A new INVITE. `replaces` names the call it replaces (RFC 3891), when
    /// the driver matched its Replaces header to one of ours.
    Incoming {
        /// The driver's key.
        key: CallKey,
        /// What it says.
        facts: IncomingFacts,
        /// The call it replaces.
        replaces: Option<CallKey>,
    },
    /// Our 2xx to an incoming INVITE was acknowledged.
    Confirmed {
        /// The call.
        key: CallKey,
    },
    /// A provisional answer (180/183) to our INVITE.
    Progress {
        /// The call.
        key: CallKey,
        /// The status code.
        code: u16,
    },
    /// Our INVITE was answered (2xx; the stack sent the ACK).
    Answered {
        /// The call.
        key: CallKey,
        /// The dialog's Call-ID.
        call_id: String,
    },
    /// Our INVITE failed with this final status (0: no answer at all).
    Failed {
        /// The call.
        key: CallKey,
        /// The status code.
        code: u16,
    },
    /// The dialog ended from the far side or the network.
    Ended {
        /// The call.
        key: CallKey,
        /// Why.
        cause: EndCause,
    },
    /// The peer put us on hold (`true`) or resumed (`false`) with a re-INVITE.
    RemoteHold {
        /// The call.
        key: CallKey,
        /// Held or not.
        held: bool,
    },
    /// Our hold/unhold re-INVITE was answered.
    HoldResult {
        /// The call.
        key: CallKey,
        /// Whether it was accepted (2xx).
        ok: bool,
    },
    /// Progress of a transfer we asked for with REFER: the REFER's own answer
    /// (`code` ≥ 300 fails it) or a NOTIFY's sipfrag status.
    ReferStatus {
        /// The call being transferred.
        key: CallKey,
        /// The status code.
        code: u16,
        /// Whether this is the last report (NOTIFY with Subscription-State
        /// terminated, or a failed REFER).
        last: bool,
    },
    /// The peer asks us (the transferee) to call `number` (REFER).
    ReferRequest {
        /// The call the REFER arrived on.
        key: CallKey,
        /// The number in Refer-To.
        number: String,
        /// The raw Replaces value to put into our INVITE, if any.
        replaces: Option<String>,
    },
}

/// What the operator asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Call a number.
    Call(String),
    /// Answer the oldest ringing call.
    Answer,
    /// Hang up (see the module docs for which call).
    Hangup,
    /// Hold the active call.
    Hold,
    /// Resume the held call.
    Unhold,
    /// Hold the active call and call a number (consultation).
    Transfer(String),
    /// Join the held call to the consultation call and leave.
    TransferComplete,
    /// Hand the active call to a number without consultation.
    BlindTransfer(String),
    /// Send DTMF digits on the active call.
    Dtmf(String),
}

/// Why a command could not be carried out (one line, for the operator).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Nothing is ringing.
    #[error("no call is ringing")]
    NothingRinging,
    /// No call at all.
    #[error("no call to hang up")]
    NoCall,
    /// No active call for a verb that needs one.
    #[error("no active call to {0}")]
    NoActiveCall(&'static str),
    /// Nothing is held.
    #[error("no call is on hold")]
    NothingHeld,
    /// A call is already active.
    #[error("a call is already in progress (hold it first, or use transfer)")]
    Busy,
    /// `transfer_complete` without a consultation call.
    #[error("no transfer in progress (start one with 'transfer NUMBER')")]
    NoTransfer,
    /// A transfer or hold change is already under way on this call.
    #[error("the call is busy with another request, try again in a moment")]
    Pending,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send 180 Ringing.
    Ring(CallKey),
    /// Send 200 OK with our SDP answer.
    Accept(CallKey),
    /// Reject the INVITE with this status.
    Reject(CallKey, u16),
    /// Send BYE.
    Bye(CallKey),
    /// CANCEL our INVITE.
    Cancel(CallKey),
    /// Send an INVITE to `number` (with a Replaces header when transferee).
    Invite {
        /// The new call's key.
        key: CallKey,
        /// Whom to call.
        number: String,
        /// The Replaces value to send, if any.
        replaces: Option<String>,
    },
    /// Send a re-INVITE putting the call on hold (`true`) or resuming it.
    Hold {
        /// The call.
        key: CallKey,
        /// Hold or resume.
        hold: bool,
    },
    /// Send REFER on `key` to `number`; with `replaces`, the Refer-To names
    /// the dialog of that other call of ours (attended transfer).
    Refer {
        /// The call being transferred.
        key: CallKey,
        /// The transfer target.
        number: String,
        /// The consultation call whose dialog the target should replace.
        replaces: Option<CallKey>,
    },
    /// Report transfer progress to the transferor (NOTIFY with sipfrag).
    NotifyRefer {
        /// The call the REFER came on.
        key: CallKey,
        /// Status to report.
        code: u16,
        /// Last report (Subscription-State: terminated).
        last: bool,
    },
    /// Send DTMF digits (RFC 4733).
    Dtmf {
        /// The call.
        key: CallKey,
        /// The digits.
        digits: String,
    },
    /// Tell subscribers, the CTI engine, the history and the UI.
    Event(PhoneEvent),
}

/// Direction of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// They called us.
    Incoming,
    /// We called them.
    Outgoing,
}

/// What the rest of the softphone hears about calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneEvent {
    /// An incoming call rings.
    Ringing {
        /// The call.
        key: CallKey,
        /// Its facts.
        facts: IncomingFacts,
    },
    /// We are calling someone.
    Dialing {
        /// The call.
        key: CallKey,
        /// Whom.
        number: String,
    },
    /// The call is connected.
    Answered {
        /// The call.
        key: CallKey,
        /// SIP Call-ID.
        call_id: String,
        /// Direction.
        direction: Direction,
    },
    /// The call was put on hold by us.
    Held {
        /// The call.
        key: CallKey,
        /// SIP Call-ID.
        call_id: String,
    },
    /// The call was resumed by us.
    Unheld {
        /// The call.
        key: CallKey,
        /// SIP Call-ID.
        call_id: String,
    },
    /// The call was handed over to `target`.
    Transferred {
        /// The call.
        key: CallKey,
        /// SIP Call-ID.
        call_id: String,
        /// Where it went.
        target: String,
    },
    /// A transfer failed; the call stays.
    TransferFailed {
        /// The call.
        key: CallKey,
        /// SIP Call-ID.
        call_id: String,
        /// Where it was to go.
        target: String,
        /// Why.
        reason: String,
    },
    /// The call is over.
    HungUp {
        /// The call.
        key: CallKey,
        /// SIP Call-ID.
        call_id: String,
        /// Direction.
        direction: Direction,
        /// Why.
        cause: EndCause,
        /// Talk time in ms (0 when never answered).
        duration_ms: Millis,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Incoming, not answered.
    Ringing,
    /// Incoming, 200 sent, waiting for the ACK.
    Answering,
    /// Outgoing, INVITE sent.
    Dialing,
    /// Outgoing, 18x received.
    Early,
    /// Connected.
    Talking { since: Millis },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Transfer {
    /// REFER sent to `target` (blind, or attended with the consultation).
    Referring {
        target: String,
        consult: Option<CallKey>,
    },
    /// As transferee: we called `new_call` for the transferor on this call.
    Transferee { new_call: CallKey },
}

#[derive(Debug)]
struct Call {
    call_id: String,
    direction: Direction,
    state: State,
    /// We hold it (confirmed by the peer's answer).
    held: bool,
    /// A hold/unhold re-INVITE is in flight, to this state.
    hold_pending: Option<bool>,
    /// The peer holds us.
    remote_held: bool,
    /// This call is a consultation for that held call.
    consult_for: Option<CallKey>,
    /// `transfer N` asked: call N once the hold is confirmed.
    consult_after_hold: Option<String>,
    /// A transfer under way on this call.
    transfer: Option<Transfer>,
    /// As transferee: this call was placed for that call's REFER.
    referred_by: Option<CallKey>,
    /// The number dialled or the caller's.
    number: String,
    /// When it started ringing (incoming calls).
    rang_at: Option<Millis>,
    /// When it is answered by itself (auto-answer).
    answer_at: Option<Millis>,
}

/// `[call] auto_answer`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AutoAnswer {
    /// Never (the default).
    #[default]
    Off,
    /// Every incoming call, while no other call is connected.
    Always,
    /// When the INVITE asks for it (ACD and predictive calls), while no
    /// other call is connected.
    Server,
}

/// Softphone-wide behaviour the operator configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhoneConfig {
    /// A second incoming call while one is connected: ring it (true) or
    /// answer 486 Busy Here (false).
    pub ring_second_call: bool,
    /// Calls that may ring at once; the next gets 486 (`[sip] max_ringing`).
    pub max_ringing: usize,
    /// A ringing call nobody answers or cancels ends after this long with
    /// 480 (`[sip] ring_timeout_s`; `None`: never).
    pub ring_timeout: Option<Millis>,
    /// Which calls answer themselves (`[call] auto_answer`).
    pub auto_answer: AutoAnswer,
    /// After how long (`[call] auto_answer_delay_ms`; a server's
    /// `answer-after` is used when it asks for longer).
    pub auto_answer_delay: Millis,
}

impl Default for PhoneConfig {
    fn default() -> Self {
        PhoneConfig {
            ring_second_call: true,
            max_ringing: 4,
            ring_timeout: Some(120_000),
            auto_answer: AutoAnswer::Off,
            auto_answer_delay: 0,
        }
    }
}

/// The softphone's calls.
#[derive(Debug)]
pub struct Phone {
    config: PhoneConfig,
    calls: BTreeMap<CallKey, Call>,
    actions: VecDeque<Action>,
    next_key: CallKey,
}

impl Default for Phone {
    fn default() -> Self {
        Phone::new(PhoneConfig::default())
    }
}

impl Phone {
    /// No calls.
    pub fn new(config: PhoneConfig) -> Phone {
        Phone {
            config,
            calls: BTreeMap::new(),
            actions: VecDeque::new(),
            next_key: PHONE_KEYS,
        }
    }

    /// Replaces the configuration (saved settings): the next incoming call
    /// is decided with it; calls in progress are not touched.
    pub fn set_config(&mut self, config: PhoneConfig) {
        self.config = config;
    }

    /// Number of calls in progress.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// The next thing to do, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// A one-line description of each call, for `status`.
    pub fn describe(&self) -> Vec<(CallKey, String, &'static str)> {
        self.calls
            .iter()
            .map(|(k, c)| {
                let state = match c.state {
                    State::Ringing => "ringing",
                    State::Answering => "answering",
                    State::Dialing => "dialing",
                    State::Early => "early",
                    State::Talking { .. } if c.held => "held",
                    State::Talking { .. } if c.remote_held => "held_by_peer",
                    State::Talking { .. } => "talking",
                };
                (*k, c.number.clone(), state)
            })
            .collect()
    }

    /// The SIP Call-ID of call `key`, once known (an outgoing call's is set
    /// by [`Phone::set_call_id`] before its INVITE goes out).
    pub fn call_id(&self, key: CallKey) -> Option<&str> {
        self.calls
            .get(&key)
            .map(|c| c.call_id.as_str())
            .filter(|id| !id.is_empty())
    }

    /// Gives an outgoing call the Call-ID its INVITE will carry (the driver
    /// chooses it, so that the call model stays free of randomness); the
    /// events of the call carry it from then on.
    pub fn set_call_id(&mut self, key: CallKey, call_id: String) {
        if let Some(call) = self.calls.get_mut(&key)
            && call.call_id.is_empty()
        {
            call.call_id = call_id;
        }
    }

    fn emit(&mut self, ev: PhoneEvent) {
        self.actions.push_back(Action::Event(ev));
    }

    fn is_connected(c: &Call) -> bool {
        matches!(c.state, State::Talking { .. } | State::Answering)
    }

    /// Whether a call other than `key` is connected.
    fn other_connected(&self, key: CallKey) -> bool {
        self.calls
            .iter()
            .any(|(k, c)| *k != key && Self::is_connected(c))
    }

    /// The call the operator is talking on: connected and not held by us.
    fn active(&self) -> Option<CallKey> {
        // A consultation call takes precedence over the call it consults for.
        let mut active: Vec<CallKey> = self
            .calls
            .iter()
            .filter(|(_, c)| Self::is_connected(c) && !c.held && c.hold_pending.is_none())
            .map(|(k, _)| *k)
            .collect();
        active.sort_by_key(|k| self.calls.get(k).map(|c| c.consult_for.is_none()));
        active.first().copied()
    }

    fn new_key(&mut self) -> CallKey {
        let k = self.next_key;
        self.next_key += 1;
        k
    }

    fn place(&mut self, number: String, replaces: Option<String>) -> CallKey {
        let key = self.new_key();
        self.calls.insert(
            key,
            Call {
                call_id: String::new(),
                direction: Direction::Outgoing,
                state: State::Dialing,
                held: false,
                hold_pending: None,
                remote_held: false,
                consult_for: None,
                consult_after_hold: None,
                transfer: None,
                referred_by: None,
                number: number.clone(),
                rang_at: None,
                answer_at: None,
            },
        );
        self.actions.push_back(Action::Invite {
            key,
            number: number.clone(),
            replaces,
        });
        self.emit(PhoneEvent::Dialing { key, number });
        key
    }

    fn end(&mut self, key: CallKey, cause: EndCause, now: Millis) {
        let Some(call) = self.calls.remove(&key) else {
            return;
        };
        let duration_ms = match call.state {
            State::Talking { since } => now.saturating_sub(since),
            _ => 0,
        };
        // A consultation call that ends before completion leaves its held call as it is.
        // A held call that ends takes its pending consultation link with it.
        for c in self.calls.values_mut() {
            if c.consult_for == Some(key) {
                c.consult_for = None;
            }
        }
        // As transferee: the new call failed before connecting → tell the transferor.
        if let Some(origin) = call.referred_by
            && !matches!(call.state, State::Talking { .. })
            && self.calls.contains_key(&origin)
        {
            self.actions.push_back(Action::NotifyRefer {
                key: origin,
                code: 503,
                last: true,
            });
            if let Some(o) = self.calls.get_mut(&origin) {
                o.transfer = None;
            }
        }
        self.emit(PhoneEvent::HungUp {
            key,
            call_id: call.call_id,
            direction: call.direction,
            cause,
            duration_ms,
        });
    }

    /// When [`Phone::handle_timeout`] must be called next, if ever: the
    /// earliest ring time limit.
    pub fn poll_timeout(&self) -> Option<Millis> {
        let ringing = self.calls.values().filter(|c| c.state == State::Ringing);
        let limits = ringing.clone().filter_map(|c| {
            let limit = self.config.ring_timeout?;
            c.rang_at.map(|t| t.saturating_add(limit))
        });
        let answers = ringing.filter_map(|c| c.answer_at);
        limits.chain(answers).min()
    }

    /// Answers the ringing calls whose auto-answer time came, and ends
    /// those whose ring time limit passed (480 to the caller).
    pub fn handle_timeout(&mut self, now: Millis) {
        let to_answer: Vec<CallKey> = self
            .calls
            .iter()
            .filter(|(_, c)| c.state == State::Ringing && c.answer_at.is_some_and(|t| now >= t))
            .map(|(k, _)| *k)
            .collect();
        for key in to_answer {
            let busy = self.other_connected(key);
            if let Some(c) = self.calls.get_mut(&key) {
                c.answer_at = None;
                if !busy {
                    c.state = State::Answering;
                    self.actions.push_back(Action::Accept(key));
                }
            }
        }
        let Some(limit) = self.config.ring_timeout else {
            return;
        };
        let due: Vec<CallKey> = self
            .calls
            .iter()
            .filter(|(_, c)| c.state == State::Ringing)
            .filter(|(_, c)| c.rang_at.is_some_and(|t| now >= t.saturating_add(limit)))
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            self.actions.push_back(Action::Reject(key, 480));
            self.end(key, EndCause::NotAnswered, now);
        }
    }

    /// Feeds one wire event.
    pub fn handle_input(&mut self, input: Input, now: Millis) {
        match input {
            Input::Incoming {
                key,
                facts,
                replaces,
            } => self.incoming(key, facts, replaces, now),
            Input::Confirmed { key } => {
                if let Some(call) = self.calls.get_mut(&key)
                    && matches!(call.state, State::Ringing | State::Answering)
                {
                    call.state = State::Talking { since: now };
                    let ev = PhoneEvent::Answered {
                        key,
                        call_id: call.call_id.clone(),
                        direction: call.direction,
                    };
                    self.emit(ev);
                }
            }
            Input::Progress { key, .. } => {
                if let Some(call) = self.calls.get_mut(&key)
                    && call.state == State::Dialing
                {
                    call.state = State::Early;
                }
            }
            Input::Answered { key, call_id } => self.answered(key, call_id, now),
            Input::Failed { key, code } => {
                let cause = match code {
                    486 | 600 | 603 => EndCause::Busy,
                    408 | 480 | 487 => EndCause::NotAnswered,
                    0 => EndCause::Failed,
                    _ => EndCause::NotAnswered,
                };
                self.end(key, cause, now);
            }
            Input::Ended { key, cause } => {
                let cause = match self.calls.get(&key) {
                    Some(c)
                        if matches!(c.state, State::Ringing | State::Answering)
                            && cause == EndCause::RemoteHangup =>
                    {
                        EndCause::CallerCancelled
                    }
                    // A call we transferred ends with the transferee's or target's BYE.
                    Some(Call {
                        transfer: Some(Transfer::Referring { .. }),
                        ..
                    }) => EndCause::Transferred,
                    _ => cause,
                };
                self.end(key, cause, now);
            }
            Input::RemoteHold { key, held } => {
                if let Some(call) = self.calls.get_mut(&key) {
                    call.remote_held = held;
                }
            }
            Input::HoldResult { key, ok } => self.hold_result(key, ok),
            Input::ReferStatus { key, code, last } => self.refer_status(key, code, last, now),
            Input::ReferRequest {
                key,
                number,
                replaces,
            } => {
                if !self.calls.contains_key(&key) {
                    return;
                }
                let new_call = self.place(number, replaces);
                if let Some(c) = self.calls.get_mut(&new_call) {
                    c.referred_by = Some(key);
                }
                if let Some(c) = self.calls.get_mut(&key) {
                    c.transfer = Some(Transfer::Transferee { new_call });
                }
                self.actions.push_back(Action::NotifyRefer {
                    key,
                    code: 100,
                    last: false,
                });
            }
        }
    }

    fn incoming(
        &mut self,
        key: CallKey,
        facts: IncomingFacts,
        replaces: Option<CallKey>,
        now: Millis,
    ) {
        if self.calls.contains_key(&key) {
            return;
        }
        let number = facts.remote_number();
        let replacing = replaces.filter(|r| self.calls.contains_key(r));
        if replacing.is_none()
            && !self.config.ring_second_call
            && self.calls.values().any(Self::is_connected)
        {
            self.actions.push_back(Action::Reject(key, 486));
            return;
        }
        // A bound on what a flood of INVITEs can start (hooks, RTP ports).
        let ringing = self
            .calls
            .values()
            .filter(|c| c.state == State::Ringing)
            .count();
        if replacing.is_none() && ringing >= self.config.max_ringing {
            self.actions.push_back(Action::Reject(key, 486));
            return;
        }
        self.calls.insert(
            key,
            Call {
                call_id: facts.call_id.clone(),
                direction: Direction::Incoming,
                state: State::Ringing,
                held: false,
                hold_pending: None,
                remote_held: false,
                consult_for: None,
                consult_after_hold: None,
                transfer: None,
                referred_by: None,
                number,
                rang_at: Some(now),
                answer_at: None,
            },
        );
        if let Some(old) = replacing {
            // RFC 3891: the new dialog takes the old one's place, answered at once.
            if let Some(c) = self.calls.get_mut(&key) {
                c.state = State::Answering;
            }
            self.actions.push_back(Action::Accept(key));
            self.actions.push_back(Action::Bye(old));
            self.end(old, EndCause::Transferred, now);
            return;
        }
        let asked = facts.answer_after_ms;
        self.actions.push_back(Action::Ring(key));
        self.emit(PhoneEvent::Ringing { key, facts });
        // Auto-answer: rung first (the ring hooks run), then answered like
        // any call; never while another call is connected.
        let delay = match (self.config.auto_answer, asked) {
            (AutoAnswer::Always, asked) => {
                Some(asked.unwrap_or(0).max(self.config.auto_answer_delay))
            }
            (AutoAnswer::Server, Some(asked)) => Some(asked.max(self.config.auto_answer_delay)),
            _ => None,
        };
        let busy = self.other_connected(key);
        if let (Some(delay), false) = (delay, busy)
            && let Some(c) = self.calls.get_mut(&key)
        {
            c.answer_at = Some(now.saturating_add(delay));
        }
    }

    fn answered(&mut self, key: CallKey, call_id: String, now: Millis) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if !matches!(call.state, State::Dialing | State::Early) {
            return;
        }
        call.state = State::Talking { since: now };
        call.call_id = call_id.clone();
        let referred_by = call.referred_by;
        self.emit(PhoneEvent::Answered {
            key,
            call_id,
            direction: Direction::Outgoing,
        });
        // As transferee: report success; the transferor will BYE the old call.
        if let Some(origin) = referred_by
            && self.calls.contains_key(&origin)
        {
            self.actions.push_back(Action::NotifyRefer {
                key: origin,
                code: 200,
                last: true,
            });
        }
    }

    fn hold_result(&mut self, key: CallKey, ok: bool) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(target) = call.hold_pending.take() else {
            return;
        };
        let consult = call.consult_after_hold.take();
        let call_id = call.call_id.clone();
        if !ok {
            if let Some(number) = consult {
                self.emit(PhoneEvent::TransferFailed {
                    key,
                    call_id,
                    target: number,
                    reason: "the call could not be put on hold".into(),
                });
            }
            return;
        }
        call.held = target;
        self.emit(if target {
            PhoneEvent::Held {
                key,
                call_id: call_id.clone(),
            }
        } else {
            PhoneEvent::Unheld {
                key,
                call_id: call_id.clone(),
            }
        });
        if let (true, Some(number)) = (target, consult) {
            // The held party hears nothing of the consultation.
            let c = self.place(number, None);
            if let Some(call) = self.calls.get_mut(&c) {
                call.consult_for = Some(key);
            }
        }
    }

    fn refer_status(&mut self, key: CallKey, code: u16, last: bool, now: Millis) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(Transfer::Referring { target, consult }) = call.transfer.clone() else {
            return;
        };
        let call_id = call.call_id.clone();
        if (200..300).contains(&code) && (last || code != 202) {
            // The target answered: the transfer is done; leave both legs.
            self.emit(PhoneEvent::Transferred {
                key,
                call_id,
                target,
            });
            self.actions.push_back(Action::Bye(key));
            self.end(key, EndCause::Transferred, now);
            if let Some(c) = consult
                && self.calls.contains_key(&c)
            {
                self.actions.push_back(Action::Bye(c));
                self.end(c, EndCause::Transferred, now);
            }
        } else if code >= 300 || (last && code < 200) {
            if let Some(c) = self.calls.get_mut(&key) {
                c.transfer = None;
            }
            self.emit(PhoneEvent::TransferFailed {
                key,
                call_id,
                target,
                reason: format!("the transfer target answered {code}"),
            });
        }
    }

    /// Carries out an operator command, or says why not.
    pub fn handle_command(&mut self, cmd: Command, now: Millis) -> Result<(), CommandError> {
        match cmd {
            Command::Call(number) => {
                if self.active().is_some()
                    || self
                        .calls
                        .values()
                        .any(|c| matches!(c.state, State::Dialing | State::Early))
                {
                    return Err(CommandError::Busy);
                }
                self.place(number, None);
                Ok(())
            }
            Command::Answer => {
                let key = self
                    .calls
                    .iter()
                    .find(|(_, c)| c.state == State::Ringing)
                    .map(|(k, _)| *k)
                    .ok_or(CommandError::NothingRinging)?;
                // Answering a second call holds the connected one, as a desk phone does.
                if let Some(active) = self.active() {
                    self.request_hold(active, true)?;
                }
                if let Some(call) = self.calls.get_mut(&key) {
                    call.state = State::Answering;
                }
                self.actions.push_back(Action::Accept(key));
                Ok(())
            }
            Command::Hangup => self.hangup(now),
            Command::Hold => {
                let key = self.active().ok_or(CommandError::NoActiveCall("hold"))?;
                self.request_hold(key, true)
            }
            Command::Unhold => {
                if self.active().is_some() {
                    return Err(CommandError::Busy);
                }
                let key = self
                    .calls
                    .iter()
                    .find(|(_, c)| c.held)
                    .map(|(k, _)| *k)
                    .ok_or(CommandError::NothingHeld)?;
                self.request_hold(key, false)
            }
            Command::Transfer(number) => {
                let key = self
                    .active()
                    .ok_or(CommandError::NoActiveCall("transfer"))?;
                if self
                    .calls
                    .get(&key)
                    .is_some_and(|c| c.consult_for.is_some())
                {
                    return Err(CommandError::Pending);
                }
                if self.calls.get(&key).is_some_and(|c| c.held) {
                    let consult = self.place(number, None);
                    if let Some(c) = self.calls.get_mut(&consult) {
                        c.consult_for = Some(key);
                    }
                    return Ok(());
                }
                self.request_hold(key, true)?;
                if let Some(c) = self.calls.get_mut(&key) {
                    c.consult_after_hold = Some(number);
                }
                Ok(())
            }
            Command::TransferComplete => {
                let (consult, held) = self
                    .calls
                    .iter()
                    .find_map(|(k, c)| c.consult_for.map(|h| (*k, h)))
                    .ok_or(CommandError::NoTransfer)?;
                let (consult_state, number) = match self.calls.get(&consult) {
                    Some(c) => (c.state, c.number.clone()),
                    None => return Err(CommandError::NoTransfer),
                };
                let held_call = self.calls.get_mut(&held).ok_or(CommandError::NoTransfer)?;
                if held_call.transfer.is_some() {
                    return Err(CommandError::Pending);
                }
                match consult_state {
                    State::Talking { .. } => {
                        // Attended: the held party replaces our consultation dialog.
                        held_call.transfer = Some(Transfer::Referring {
                            target: number.clone(),
                            consult: Some(consult),
                        });
                        self.actions.push_back(Action::Refer {
                            key: held,
                            number,
                            replaces: Some(consult),
                        });
                    }
                    _ => {
                        // Semi-attended: the target still rings; hand the held
                        // party to the number and drop our ringing call.
                        held_call.transfer = Some(Transfer::Referring {
                            target: number.clone(),
                            consult: None,
                        });
                        self.actions.push_back(Action::Refer {
                            key: held,
                            number,
                            replaces: None,
                        });
                        self.actions.push_back(Action::Cancel(consult));
                        self.end(consult, EndCause::LocalHangup, now);
                    }
                }
                Ok(())
            }
            Command::BlindTransfer(number) => {
                let key = self
                    .active()
                    .or_else(|| self.calls.iter().find(|(_, c)| c.held).map(|(k, _)| *k))
                    .ok_or(CommandError::NoActiveCall("transfer"))?;
                let call = self
                    .calls
                    .get_mut(&key)
                    .ok_or(CommandError::NoActiveCall("transfer"))?;
                if call.transfer.is_some() {
                    return Err(CommandError::Pending);
                }
                call.transfer = Some(Transfer::Referring {
                    target: number.clone(),
                    consult: None,
                });
                self.actions.push_back(Action::Refer {
                    key,
                    number,
                    replaces: None,
                });
                Ok(())
            }
            Command::Dtmf(digits) => {
                let key = self
                    .active()
                    .ok_or(CommandError::NoActiveCall("send DTMF on"))?;
                self.actions.push_back(Action::Dtmf { key, digits });
                Ok(())
            }
        }
    }

    fn request_hold(&mut self, key: CallKey, hold: bool) -> Result<(), CommandError> {
        let call = self
            .calls
            .get_mut(&key)
            .ok_or(CommandError::NoActiveCall("hold"))?;
        if call.hold_pending.is_some() {
            return Err(CommandError::Pending);
        }
        if call.held == hold {
            return Ok(());
        }
        call.hold_pending = Some(hold);
        self.actions.push_back(Action::Hold { key, hold });
        Ok(())
    }

    fn hangup(&mut self, now: Millis) -> Result<(), CommandError> {
        let pick = |f: &dyn Fn(&Call) -> bool| {
            self.calls
                .iter()
                .find(|(_, c)| f(c))
                .map(|(k, c)| (*k, c.state))
        };
        let target = pick(&|c| c.consult_for.is_some())
            .or_else(|| {
                self.active()
                    .and_then(|k| self.calls.get(&k).map(|c| (k, c.state)))
            })
            .or_else(|| pick(&|c| matches!(c.state, State::Dialing | State::Early)))
            .or_else(|| pick(&|c| c.state == State::Ringing))
            .or_else(|| pick(&|c| c.held || c.hold_pending.is_some()));
        let (key, state) = target.ok_or(CommandError::NoCall)?;
        match state {
            State::Ringing => {
                self.actions.push_back(Action::Reject(key, 486));
                self.end(key, EndCause::Rejected, now);
            }
            State::Dialing | State::Early => {
                self.actions.push_back(Action::Cancel(key));
                self.end(key, EndCause::LocalHangup, now);
            }
            State::Answering | State::Talking { .. } => {
                self.actions.push_back(Action::Bye(key));
                self.end(key, EndCause::LocalHangup, now);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(p: &mut Phone) -> Vec<Action> {
        std::iter::from_fn(|| p.poll_action()).collect()
    }

    fn incoming(key: CallKey) -> Input {
        Input::Incoming {
            key,
            facts: IncomingFacts {
                call_id: format!("c{key}"),
                from_user: Some("09012345678".into()),
                ..Default::default()
            },
            replaces: None,
        }
    }

    /// An answered incoming call with key 1.
    fn talking() -> Phone {
        let mut p = Phone::default();
        p.handle_input(incoming(1), 0);
        p.handle_command(Command::Answer, 1).expect("a call rings");
        p.handle_input(Input::Confirmed { key: 1 }, 2);
        drain(&mut p);
        p
    }

    fn invite_key(actions: &[Action]) -> CallKey {
        actions
            .iter()
            .find_map(|a| match a {
                Action::Invite { key, .. } => Some(*key),
                _ => None,
            })
            .expect("an INVITE")
    }

    #[test]
    fn ring_answer_remote_hangup() {
        let mut p = Phone::default();
        p.handle_input(incoming(1), 0);
        let a = drain(&mut p);
        assert_eq!(a[0], Action::Ring(1));
        assert!(matches!(
            a[1],
            Action::Event(PhoneEvent::Ringing { key: 1, .. })
        ));
        p.handle_command(Command::Answer, 100)
            .expect("a call rings");
        assert_eq!(drain(&mut p), vec![Action::Accept(1)]);
        p.handle_input(Input::Confirmed { key: 1 }, 150);
        assert!(matches!(
            drain(&mut p)[..],
            [Action::Event(PhoneEvent::Answered { key: 1, .. })]
        ));
        p.handle_input(
            Input::Ended {
                key: 1,
                cause: EndCause::RemoteHangup,
            },
            5150,
        );
        assert_eq!(
            drain(&mut p),
            vec![Action::Event(PhoneEvent::HungUp {
                key: 1,
                call_id: "c1".into(),
                direction: Direction::Incoming,
                cause: EndCause::RemoteHangup,
                duration_ms: 5000
            })]
        );
        assert_eq!(p.call_count(), 0);
    }

    #[test]
    fn caller_gives_up_while_ringing() {
        let mut p = Phone::default();
        p.handle_input(incoming(1), 0);
        drain(&mut p);
        p.handle_input(
            Input::Ended {
                key: 1,
                cause: EndCause::RemoteHangup,
            },
            10,
        );
        assert!(matches!(
            drain(&mut p)[..],
            [Action::Event(PhoneEvent::HungUp {
                cause: EndCause::CallerCancelled,
                duration_ms: 0,
                ..
            })]
        ));
    }

    #[test]
    fn commands_without_calls_say_why() {
        let mut p = Phone::default();
        assert_eq!(
            p.handle_command(Command::Answer, 0),
            Err(CommandError::NothingRinging)
        );
        assert_eq!(
            p.handle_command(Command::Hangup, 0),
            Err(CommandError::NoCall)
        );
        assert_eq!(
            p.handle_command(Command::Hold, 0),
            Err(CommandError::NoActiveCall("hold"))
        );
        assert_eq!(
            p.handle_command(Command::Unhold, 0),
            Err(CommandError::NothingHeld)
        );
        assert_eq!(
            p.handle_command(Command::TransferComplete, 0),
            Err(CommandError::NoTransfer)
        );
        assert_eq!(
            p.handle_command(Command::BlindTransfer("1303".into()), 0),
            Err(CommandError::NoActiveCall("transfer"))
        );
        assert!(drain(&mut p).is_empty());
    }

    #[test]
    fn outgoing_call_answered_then_busy_target() {
        let mut p = Phone::default();
        p.handle_command(Command::Call("1330".into()), 0)
            .expect("idle phone dials");
        let a = drain(&mut p);
        let key = invite_key(&a);
        assert!(key >= PHONE_KEYS);
        p.handle_input(Input::Progress { key, code: 180 }, 1);
        p.handle_input(
            Input::Answered {
                key,
                call_id: "out1".into(),
            },
            2,
        );
        assert!(matches!(
            drain(&mut p)[..],
            [Action::Event(PhoneEvent::Answered {
                direction: Direction::Outgoing,
                ..
            })]
        ));
        assert_eq!(
            p.handle_command(Command::Call("1331".into()), 3),
            Err(CommandError::Busy)
        );
        p.handle_command(Command::Hangup, 10).expect("live call");
        assert_eq!(drain(&mut p)[0], Action::Bye(key));

        p.handle_command(Command::Call("1303".into()), 20)
            .expect("idle again");
        let key = invite_key(&drain(&mut p));
        p.handle_input(Input::Failed { key, code: 486 }, 21);
        assert!(matches!(
            drain(&mut p)[..],
            [Action::Event(PhoneEvent::HungUp {
                cause: EndCause::Busy,
                ..
            })]
        ));
    }

    #[test]
    fn hangup_while_dialing_cancels() {
        let mut p = Phone::default();
        p.handle_command(Command::Call("1330".into()), 0)
            .expect("dials");
        let key = invite_key(&drain(&mut p));
        p.handle_command(Command::Hangup, 1)
            .expect("a call is dialling");
        assert_eq!(drain(&mut p)[0], Action::Cancel(key));
    }

    #[test]
    fn hold_and_unhold_wait_for_the_peer() {
        let mut p = talking();
        p.handle_command(Command::Hold, 3).expect("active call");
        assert_eq!(drain(&mut p), vec![Action::Hold { key: 1, hold: true }]);
        assert_eq!(
            p.handle_command(Command::Hold, 4),
            Err(CommandError::NoActiveCall("hold"))
        );
        p.handle_input(Input::HoldResult { key: 1, ok: true }, 5);
        assert!(matches!(
            drain(&mut p)[..],
            [Action::Event(PhoneEvent::Held { key: 1, .. })]
        ));
        p.handle_command(Command::Unhold, 6).expect("held call");
        assert_eq!(
            drain(&mut p),
            vec![Action::Hold {
                key: 1,
                hold: false
            }]
        );
        p.handle_input(Input::HoldResult { key: 1, ok: true }, 7);
        assert!(matches!(
            drain(&mut p)[..],
            [Action::Event(PhoneEvent::Unheld { key: 1, .. })]
        ));
    }

    #[test]
    fn refused_hold_leaves_the_call_active() {
        let mut p = talking();
        p.handle_command(Command::Hold, 3).expect("active");
        drain(&mut p);
        p.handle_input(Input::HoldResult { key: 1, ok: false }, 4);
        assert!(drain(&mut p).is_empty());
        p.handle_command(Command::Hold, 5)
            .expect("still active, can try again");
    }

    #[test]
    fn blind_transfer_succeeds_on_notify_200() {
        let mut p = talking();
        p.handle_command(Command::BlindTransfer("1303".into()), 3)
            .expect("active");
        assert_eq!(
            drain(&mut p),
            vec![Action::Refer {
                key: 1,
                number: "1303".into(),
                replaces: None
            }]
        );
        p.handle_input(
            Input::ReferStatus {
                key: 1,
                code: 202,
                last: false,
            },
            4,
        );
        p.handle_input(
            Input::ReferStatus {
                key: 1,
                code: 100,
                last: false,
            },
            5,
        );
        assert!(drain(&mut p).is_empty());
        p.handle_input(
            Input::ReferStatus {
                key: 1,
                code: 200,
                last: true,
            },
            6,
        );
        let a = drain(&mut p);
        assert!(
            matches!(&a[0], Action::Event(PhoneEvent::Transferred { target, .. }) if target == "1303")
        );
        assert_eq!(a[1], Action::Bye(1));
        assert!(matches!(
            a[2],
            Action::Event(PhoneEvent::HungUp {
                cause: EndCause::Transferred,
                ..
            })
        ));
        assert_eq!(p.call_count(), 0);
    }

    #[test]
    fn blind_transfer_failure_keeps_the_call() {
        let mut p = talking();
        p.handle_command(Command::BlindTransfer("1303".into()), 3)
            .expect("active");
        drain(&mut p);
        p.handle_input(
            Input::ReferStatus {
                key: 1,
                code: 486,
                last: true,
            },
            4,
        );
        assert!(matches!(
            &drain(&mut p)[..],
            [Action::Event(PhoneEvent::TransferFailed { .. })]
        ));
        assert_eq!(p.call_count(), 1);
        p.handle_command(Command::Hangup, 5)
            .expect("the call is still there");
        assert_eq!(drain(&mut p)[0], Action::Bye(1));
    }

    #[test]
    fn attended_transfer_refers_with_replaces() {
        let mut p = talking();
        p.handle_command(Command::Transfer("1303".into()), 3)
            .expect("active");
        let a = drain(&mut p);
        assert_eq!(
            a,
            vec![Action::Hold { key: 1, hold: true }],
            "no call before the hold holds"
        );
        p.handle_input(Input::HoldResult { key: 1, ok: true }, 4);
        let consult = invite_key(&drain(&mut p));
        p.handle_input(
            Input::Answered {
                key: consult,
                call_id: "consult".into(),
            },
            5,
        );
        drain(&mut p);
        p.handle_command(Command::TransferComplete, 6)
            .expect("consultation up");
        assert_eq!(
            drain(&mut p),
            vec![Action::Refer {
                key: 1,
                number: "1303".into(),
                replaces: Some(consult)
            }]
        );
        p.handle_input(
            Input::ReferStatus {
                key: 1,
                code: 200,
                last: true,
            },
            7,
        );
        let a = drain(&mut p);
        assert!(a.contains(&Action::Bye(1)));
        assert!(a.contains(&Action::Bye(consult)));
        assert_eq!(p.call_count(), 0);
    }

    #[test]
    fn hanging_up_the_consultation_returns_to_the_held_call() {
        let mut p = talking();
        p.handle_command(Command::Transfer("1303".into()), 3)
            .expect("active");
        drain(&mut p);
        p.handle_input(Input::HoldResult { key: 1, ok: true }, 4);
        let consult = invite_key(&drain(&mut p));
        p.handle_input(
            Input::Answered {
                key: consult,
                call_id: "consult".into(),
            },
            5,
        );
        drain(&mut p);
        p.handle_command(Command::Hangup, 6).expect("consultation");
        assert_eq!(drain(&mut p)[0], Action::Bye(consult));
        assert_eq!(p.call_count(), 1);
        p.handle_command(Command::Unhold, 7)
            .expect("the held call is back");
        assert_eq!(
            drain(&mut p),
            vec![Action::Hold {
                key: 1,
                hold: false
            }]
        );
    }

    #[test]
    fn transfer_fails_cleanly_when_the_hold_is_refused() {
        let mut p = talking();
        p.handle_command(Command::Transfer("1303".into()), 3)
            .expect("active");
        drain(&mut p);
        p.handle_input(Input::HoldResult { key: 1, ok: false }, 4);
        let a = drain(&mut p);
        assert!(
            matches!(&a[..], [Action::Event(PhoneEvent::TransferFailed { target, .. })] if target == "1303")
        );
        assert_eq!(p.call_count(), 1);
    }

    #[test]
    fn transferee_calls_the_target_and_reports() {
        let mut p = talking();
        p.handle_input(
            Input::ReferRequest {
                key: 1,
                number: "1303".into(),
                replaces: None,
            },
            3,
        );
        let a = drain(&mut p);
        let new_call = invite_key(&a);
        assert!(a.contains(&Action::NotifyRefer {
            key: 1,
            code: 100,
            last: false
        }));
        p.handle_input(
            Input::Answered {
                key: new_call,
                call_id: "n".into(),
            },
            4,
        );
        assert!(drain(&mut p).contains(&Action::NotifyRefer {
            key: 1,
            code: 200,
            last: true
        }));
        // The transferor hangs up the old call.
        p.handle_input(
            Input::Ended {
                key: 1,
                cause: EndCause::RemoteHangup,
            },
            5,
        );
        drain(&mut p);
        assert_eq!(p.call_count(), 1);
    }

    #[test]
    fn invite_with_replaces_takes_over_the_old_call() {
        let mut p = talking();
        p.handle_input(
            Input::Incoming {
                key: 2,
                facts: IncomingFacts {
                    call_id: "c2".into(),
                    ..Default::default()
                },
                replaces: Some(1),
            },
            3,
        );
        let a = drain(&mut p);
        assert_eq!(a[0], Action::Accept(2));
        assert_eq!(a[1], Action::Bye(1));
        p.handle_input(Input::Confirmed { key: 2 }, 4);
        assert!(matches!(
            drain(&mut p)[..],
            [Action::Event(PhoneEvent::Answered { key: 2, .. })]
        ));
    }

    #[test]
    fn second_call_rings_or_is_busy_as_configured() {
        let mut p = talking();
        p.handle_input(incoming(2), 3);
        assert_eq!(drain(&mut p)[0], Action::Ring(2));
        // Answering it holds the first.
        p.handle_command(Command::Answer, 4).expect("rings");
        assert_eq!(
            drain(&mut p),
            vec![Action::Hold { key: 1, hold: true }, Action::Accept(2)]
        );

        let mut busy = Phone::new(PhoneConfig {
            ring_second_call: false,
            ..PhoneConfig::default()
        });
        busy.handle_input(incoming(1), 0);
        busy.handle_command(Command::Answer, 1).expect("rings");
        busy.handle_input(Input::Confirmed { key: 1 }, 2);
        drain(&mut busy);
        busy.handle_input(incoming(2), 3);
        assert_eq!(drain(&mut busy), vec![Action::Reject(2, 486)]);
    }

    #[test]
    fn at_most_max_ringing_calls_ring_and_the_next_is_busy() {
        let mut p = Phone::new(PhoneConfig {
            max_ringing: 2,
            ..PhoneConfig::default()
        });
        p.handle_input(incoming(1), 0);
        p.handle_input(incoming(2), 0);
        drain(&mut p);
        p.handle_input(incoming(3), 0);
        assert_eq!(drain(&mut p), vec![Action::Reject(3, 486)]);
        assert_eq!(p.call_count(), 2);
    }

    #[test]
    fn a_call_nobody_answers_ends_at_the_ring_time_limit() {
        let mut p = Phone::new(PhoneConfig {
            ring_timeout: Some(30_000),
            ..PhoneConfig::default()
        });
        p.handle_input(incoming(1), 1_000);
        p.handle_input(incoming(2), 5_000);
        assert_eq!(p.poll_timeout(), Some(31_000));
        drain(&mut p);
        p.handle_timeout(30_999);
        assert!(drain(&mut p).is_empty());
        p.handle_timeout(31_000);
        let actions = drain(&mut p);
        assert_eq!(actions.first(), Some(&Action::Reject(1, 480)));
        assert!(actions.iter().any(|a| matches!(
            a,
            Action::Event(PhoneEvent::HungUp {
                cause: EndCause::NotAnswered,
                ..
            })
        )));
        assert_eq!(p.poll_timeout(), Some(35_000));
        // Answered calls have no ring time limit.
        p.handle_command(Command::Answer, 6_000).ok();
        assert_eq!(p.poll_timeout(), None);
        let mut never = Phone::new(PhoneConfig {
            ring_timeout: None,
            ..PhoneConfig::default()
        });
        never.handle_input(incoming(1), 0);
        assert_eq!(never.poll_timeout(), None);
    }

    fn asking(key: CallKey, after: Option<Millis>) -> Input {
        Input::Incoming {
            key,
            facts: IncomingFacts {
                call_id: format!("c{key}"),
                from_user: Some("09012345678".into()),
                answer_after_ms: after,
                ..Default::default()
            },
            replaces: None,
        }
    }

    fn auto(mode: AutoAnswer, delay: Millis) -> Phone {
        Phone::new(PhoneConfig {
            auto_answer: mode,
            auto_answer_delay: delay,
            ring_timeout: None,
            ..PhoneConfig::default()
        })
    }

    #[test]
    fn auto_answer_rings_first_then_answers_when_its_time_comes() {
        let mut p = auto(AutoAnswer::Always, 500);
        p.handle_input(asking(1, None), 1_000);
        let rang = drain(&mut p);
        assert_eq!(rang.first(), Some(&Action::Ring(1)));
        assert_eq!(p.poll_timeout(), Some(1_500));
        p.handle_timeout(1_499);
        assert!(drain(&mut p).is_empty());
        p.handle_timeout(1_500);
        assert_eq!(drain(&mut p), vec![Action::Accept(1)]);
        assert_eq!(p.poll_timeout(), None);
    }

    #[test]
    fn server_auto_answer_follows_the_invite_and_off_never_answers() {
        let mut p = auto(AutoAnswer::Server, 0);
        p.handle_input(asking(1, None), 0);
        drain(&mut p);
        assert_eq!(p.poll_timeout(), None, "no header: the call just rings");
        p.handle_input(asking(2, Some(2_000)), 10);
        drain(&mut p);
        assert_eq!(p.poll_timeout(), Some(2_010));
        p.handle_timeout(2_010);
        assert_eq!(drain(&mut p), vec![Action::Accept(2)]);

        let mut off = auto(AutoAnswer::Off, 0);
        off.handle_input(asking(1, Some(0)), 0);
        drain(&mut off);
        assert_eq!(off.poll_timeout(), None);
    }

    #[test]
    fn auto_answer_never_takes_a_second_call_over_a_connected_one() {
        let mut p = auto(AutoAnswer::Always, 0);
        p.handle_input(asking(1, None), 0);
        p.handle_timeout(0);
        p.handle_input(Input::Confirmed { key: 1 }, 1);
        drain(&mut p);
        p.handle_input(asking(2, Some(0)), 5);
        drain(&mut p);
        assert_eq!(p.poll_timeout(), None);
        p.handle_timeout(5);
        assert!(drain(&mut p).is_empty());
    }
}
