//! The call model: a plain state machine over the calls of one softphone.
//!
//! The SIP driver feeds it what happened on the wire ([`Input`]) and the
//! control surface feeds it what the operator asked for ([`Command`]); it
//! answers with what to do ([`Action`]) and what to tell the world
//! ([`PhoneEvent`]). It never touches a socket or reads the clock: `now` is an
//! argument, so every flow is tested without sleeping.
//!
//! Drain order: after each `handle_*` call, take [`Phone::poll_action`] until
//! `None`.

use std::collections::{BTreeMap, VecDeque};

/// Milliseconds on the driver's monotonic clock.
pub type Millis = u64;

/// The driver's handle for one call (its dialog).
pub type CallKey = u64;

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
            EndCause::Failed => "failed",
        }
    }
}

/// What happened on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A new INVITE.
    Incoming {
        /// The driver's key.
        key: CallKey,
        /// What it says.
        facts: IncomingFacts,
    },
    /// Our 2xx was acknowledged.
    Confirmed {
        /// The call.
        key: CallKey,
    },
    /// The dialog ended from the far side or the network.
    Ended {
        /// The call.
        key: CallKey,
        /// Why.
        cause: EndCause,
    },
}

/// What the operator asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Answer the oldest ringing call.
    Answer,
    /// Hang up the live call, or reject the ringing one.
    Hangup,
}

/// Why a command could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Nothing is ringing.
    #[error("no call is ringing")]
    NothingRinging,
    /// No call at all.
    #[error("no call to hang up")]
    NoCall,
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
    /// Tell subscribers, the CTI engine and the UI.
    Event(PhoneEvent),
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
    /// The call is connected.
    Answered {
        /// The call.
        key: CallKey,
        /// SIP Call-ID.
        call_id: String,
    },
    /// The call is over.
    HungUp {
        /// The call.
        key: CallKey,
        /// SIP Call-ID.
        call_id: String,
        /// Why.
        cause: EndCause,
        /// Talk time in ms (0 when never answered).
        duration_ms: Millis,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ringing,
    Answering,
    Talking { since: Millis },
}

#[derive(Debug)]
struct Call {
    call_id: String,
    state: State,
}

/// The softphone's calls.
#[derive(Debug, Default)]
pub struct Phone {
    calls: BTreeMap<CallKey, Call>,
    actions: VecDeque<Action>,
}

impl Phone {
    /// No calls.
    pub fn new() -> Phone {
        Phone::default()
    }

    /// Feeds one wire event.
    pub fn handle_input(&mut self, input: Input, now: Millis) {
        match input {
            Input::Incoming { key, facts } => {
                if self.calls.contains_key(&key) {
                    return;
                }
                self.calls.insert(
                    key,
                    Call {
                        call_id: facts.call_id.clone(),
                        state: State::Ringing,
                    },
                );
                self.actions.push_back(Action::Ring(key));
                self.actions
                    .push_back(Action::Event(PhoneEvent::Ringing { key, facts }));
            }
            Input::Confirmed { key } => {
                if let Some(call) = self.calls.get_mut(&key) {
                    if matches!(call.state, State::Ringing | State::Answering) {
                        call.state = State::Talking { since: now };
                        self.actions.push_back(Action::Event(PhoneEvent::Answered {
                            key,
                            call_id: call.call_id.clone(),
                        }));
                    }
                }
            }
            Input::Ended { key, cause } => {
                let cause = match self.calls.get(&key).map(|c| c.state) {
                    Some(State::Ringing | State::Answering) if cause == EndCause::RemoteHangup => {
                        EndCause::CallerCancelled
                    }
                    _ => cause,
                };
                self.end(key, cause, now);
            }
        }
    }

    fn end(&mut self, key: CallKey, cause: EndCause, now: Millis) {
        if let Some(call) = self.calls.remove(&key) {
            let duration_ms = match call.state {
                State::Talking { since } => now.saturating_sub(since),
                _ => 0,
            };
            self.actions.push_back(Action::Event(PhoneEvent::HungUp {
                key,
                call_id: call.call_id,
                cause,
                duration_ms,
            }));
        }
    }

    /// Carries out an operator command, or says why not.
    pub fn handle_command(&mut self, cmd: Command, now: Millis) -> Result<(), CommandError> {
        match cmd {
            Command::Answer => {
                let (&key, call) = self
                    .calls
                    .iter_mut()
                    .find(|(_, c)| c.state == State::Ringing)
                    .ok_or(CommandError::NothingRinging)?;
                call.state = State::Answering;
                self.actions.push_back(Action::Accept(key));
                Ok(())
            }
            Command::Hangup => {
                let talking = self
                    .calls
                    .iter()
                    .find(|(_, c)| matches!(c.state, State::Talking { .. } | State::Answering))
                    .map(|(k, _)| *k);
                if let Some(key) = talking {
                    self.actions.push_back(Action::Bye(key));
                    self.end(key, EndCause::LocalHangup, now);
                    return Ok(());
                }
                let ringing = self
                    .calls
                    .keys()
                    .next()
                    .copied()
                    .ok_or(CommandError::NoCall)?;
                self.actions.push_back(Action::Reject(ringing, 486));
                self.end(ringing, EndCause::Rejected, now);
                Ok(())
            }
        }
    }

    /// The next thing to do, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Number of calls in progress.
    pub fn call_count(&self) -> usize {
        self.calls.len()
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
        }
    }

    #[test]
    fn ring_answer_remote_hangup() {
        let mut p = Phone::new();
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
                cause: EndCause::RemoteHangup,
                duration_ms: 5000
            })]
        );
        assert_eq!(p.call_count(), 0);
    }

    #[test]
    fn caller_gives_up_while_ringing() {
        let mut p = Phone::new();
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
        let mut p = Phone::new();
        assert_eq!(
            p.handle_command(Command::Answer, 0),
            Err(CommandError::NothingRinging)
        );
        assert_eq!(
            p.handle_command(Command::Hangup, 0),
            Err(CommandError::NoCall)
        );
        assert!(drain(&mut p).is_empty());
    }

    #[test]
    fn hangup_rejects_a_ringing_call_and_byes_a_live_one() {
        let mut p = Phone::new();
        p.handle_input(incoming(1), 0);
        drain(&mut p);
        p.handle_command(Command::Hangup, 1).expect("ringing call");
        assert_eq!(drain(&mut p)[0], Action::Reject(1, 486));
        p.handle_input(incoming(2), 2);
        p.handle_command(Command::Answer, 3).expect("ringing");
        p.handle_input(Input::Confirmed { key: 2 }, 4);
        drain(&mut p);
        p.handle_command(Command::Hangup, 10).expect("live call");
        let a = drain(&mut p);
        assert_eq!(a[0], Action::Bye(2));
        assert!(matches!(
            a[1],
            Action::Event(PhoneEvent::HungUp {
                cause: EndCause::LocalHangup,
                duration_ms: 6,
                ..
            })
        ));
    }
}
