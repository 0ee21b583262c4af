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

mod interface;

pub use interface::*;

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
    /// The operator muted it.
    muted: bool,
}

impl Call {
    /// A new call: ringing when it came in (at `rang_at`), dialling when we
    /// place it.
    fn new(call_id: String, direction: Direction, number: String, rang_at: Option<Millis>) -> Call {
        Call {
            call_id,
            direction,
            state: match direction {
                Direction::Incoming => State::Ringing,
                Direction::Outgoing => State::Dialing,
            },
            held: false,
            hold_pending: None,
            remote_held: false,
            consult_for: None,
            consult_after_hold: None,
            transfer: None,
            referred_by: None,
            number,
            rang_at,
            answer_at: None,
            muted: false,
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
    /// Do not disturb: new calls are turned away with
    /// [`PhoneConfig::dnd_status`].
    dnd: bool,
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
            dnd: false,
        }
    }

    /// Replaces the configuration (saved settings): the next incoming call
    /// is decided with it; calls in progress are not touched.
    pub fn set_config(&mut self, config: PhoneConfig) {
        self.config = config;
    }

    /// Whether do not disturb is on.
    pub fn dnd(&self) -> bool {
        self.dnd
    }

    /// Whether call `key` is muted.
    pub fn muted(&self, key: CallKey) -> bool {
        self.calls.get(&key).is_some_and(|c| c.muted)
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
            Call::new(String::new(), Direction::Outgoing, number.clone(), None),
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
        // Under do not disturb nothing rings; a transfer's Replaces still
        // takes its call's place (the operator is in that call already).
        if replacing.is_none() && self.dnd {
            self.actions
                .push_back(Action::Reject(key, self.config.dnd_status));
            return;
        }
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
            Call::new(
                facts.call_id.clone(),
                Direction::Incoming,
                number,
                Some(now),
            ),
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
            Command::Mute(muted) => {
                let verb = if muted { "mute" } else { "unmute" };
                let key = self.active().ok_or(CommandError::NoActiveCall(verb))?;
                let call = self
                    .calls
                    .get_mut(&key)
                    .ok_or(CommandError::NoActiveCall(verb))?;
                if call.muted != muted {
                    call.muted = muted;
                    let call_id = call.call_id.clone();
                    self.actions.push_back(Action::Mute { key, muted });
                    self.emit(PhoneEvent::Muted {
                        key,
                        call_id,
                        muted,
                    });
                }
                Ok(())
            }
            Command::Dnd(on) => {
                if self.dnd != on {
                    self.dnd = on;
                    self.emit(PhoneEvent::Dnd { on });
                }
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
mod tests;
