//! Which sound the phone makes by itself, when: a plain state machine fed
//! with the call model's events and the SIP progress of our calls, that
//! answers with [`SoundAction`]s for the driver ([`crate::app`] with
//! [`crate::media::tones`]).
//!
//! The rules:
//!
//! * **Ringer**: rings while an incoming call rings and no call is being
//!   talked on (connected and not held by us); stops at once when the last
//!   ringing call is answered, cancelled, rejected or turned away.
//! * **Call waiting**: a call that rings while the operator talks on
//!   another plays the call-waiting tone in that call's earpiece instead.
//!   Holding the talking call stops the waiting tone but does not start
//!   the ringer: the operator holds it to answer the new call (`answer`
//!   does exactly that), and a ringer for the moment in between would
//!   only chirp.
//! * **Ringback**: our call's 180 (or 181/182) without SDP starts ringback
//!   in the earpiece; an answer, the call's end, or early media (a
//!   provisional answer with SDP: the network's own tone or announcement)
//!   stops it. Early media always wins.
//! * **Busy**: our call refused busy (486, 600, 603) plays the busy tone
//!   for [`BUSY_TONE_MS`].
//!
//! [`Players`] carries the actions out.

mod players;

pub use players::{Players, ringtone};

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bb_media::cadence::ToneKind;

use crate::phone::{CallKey, Direction, EndCause, PhoneEvent};

/// How long the busy tone plays after a refused call.
pub const BUSY_TONE_MS: u64 = 4_000;

/// What the driver must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoundAction {
    /// Start the ringtone on the ring device.
    StartRinger,
    /// Stop it.
    StopRinger,
    /// Play `kind` in the earpiece for call `key` (which has no media of
    /// its own yet, or has ended), for at most `limit_ms`.
    StartTone {
        /// The call.
        key: CallKey,
        /// Ringback or busy.
        kind: ToneKind,
        /// Stop by itself after this long.
        limit_ms: Option<u64>,
    },
    /// Stop the tone of call `key`.
    StopTone {
        /// The call.
        key: CallKey,
    },
    /// Mix the call-waiting tone into call `key` (`true`) or stop it.
    CallWaiting {
        /// The call being talked on.
        key: CallKey,
        /// On or off.
        on: bool,
    },
}

/// The sound state of the phone's calls.
#[derive(Debug, Default)]
pub struct Sounds {
    /// Incoming calls ringing.
    ringing: BTreeSet<CallKey>,
    /// Connected calls, and whether we hold them.
    connected: BTreeMap<CallKey, bool>,
    /// Our calls with a tone playing.
    toning: BTreeSet<CallKey>,
    ringer: bool,
    waiting_on: Option<CallKey>,
    actions: VecDeque<SoundAction>,
}

impl Sounds {
    /// Silence.
    pub fn new() -> Sounds {
        Sounds::default()
    }

    /// The next thing to do, if any.
    pub fn poll_action(&mut self) -> Option<SoundAction> {
        self.actions.pop_front()
    }

    /// Feeds one event of the call model.
    pub fn on_event(&mut self, ev: &PhoneEvent) {
        let may_start_ringer = !matches!(ev, PhoneEvent::Held { .. });
        match ev {
            PhoneEvent::Ringing { key, .. } => {
                self.ringing.insert(*key);
            }
            PhoneEvent::Dialing { .. } => {}
            PhoneEvent::Answered { key, .. } => {
                self.ringing.remove(key);
                self.stop_tone(*key);
                self.connected.insert(*key, false);
            }
            PhoneEvent::Held { key, .. } => {
                if let Some(h) = self.connected.get_mut(key) {
                    *h = true;
                }
            }
            PhoneEvent::Unheld { key, .. } => {
                if let Some(h) = self.connected.get_mut(key) {
                    *h = false;
                }
            }
            PhoneEvent::HungUp {
                key,
                direction,
                cause,
                ..
            } => {
                self.ringing.remove(key);
                self.connected.remove(key);
                self.stop_tone(*key);
                if *direction == Direction::Outgoing && *cause == EndCause::Busy {
                    self.toning.insert(*key);
                    self.actions.push_back(SoundAction::StartTone {
                        key: *key,
                        kind: ToneKind::Busy,
                        limit_ms: Some(BUSY_TONE_MS),
                    });
                }
            }
            PhoneEvent::Transferred { .. }
            | PhoneEvent::TransferFailed { .. }
            | PhoneEvent::Muted { .. }
            | PhoneEvent::Dnd { .. } => {}
        }
        self.settle(may_start_ringer);
    }

    /// Feeds a provisional answer to our call `key`.
    pub fn on_progress(&mut self, key: CallKey, code: u16, early_media: bool) {
        if early_media {
            self.stop_tone(key);
        } else if matches!(code, 180..=182) && !self.toning.contains(&key) {
            self.toning.insert(key);
            self.actions.push_back(SoundAction::StartTone {
                key,
                kind: ToneKind::Ringback,
                limit_ms: None,
            });
        }
    }

    fn stop_tone(&mut self, key: CallKey) {
        if self.toning.remove(&key) {
            self.actions.push_back(SoundAction::StopTone { key });
        }
    }

    /// Brings the ringer and the call-waiting tone in line with the calls
    /// (the ringer only stops unless `may_start_ringer`).
    fn settle(&mut self, may_start_ringer: bool) {
        let talking = self
            .connected
            .iter()
            .rev()
            .find(|(_, held)| !**held)
            .map(|(k, _)| *k);
        let ringing = !self.ringing.is_empty();
        let want_ringer = ringing && talking.is_none() && (self.ringer || may_start_ringer);
        let want_waiting = if ringing { talking } else { None };
        if self.waiting_on != want_waiting {
            if let Some(k) = self.waiting_on.take()
                && self.connected.contains_key(&k)
            {
                self.actions
                    .push_back(SoundAction::CallWaiting { key: k, on: false });
            }
            if let Some(k) = want_waiting {
                self.actions
                    .push_back(SoundAction::CallWaiting { key: k, on: true });
            }
            self.waiting_on = want_waiting;
        }
        if self.ringer != want_ringer {
            self.ringer = want_ringer;
            self.actions.push_back(if want_ringer {
                SoundAction::StartRinger
            } else {
                SoundAction::StopRinger
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phone::IncomingFacts;

    fn drain(s: &mut Sounds) -> Vec<SoundAction> {
        std::iter::from_fn(|| s.poll_action()).collect()
    }

    fn ringing(key: CallKey) -> PhoneEvent {
        PhoneEvent::Ringing {
            key,
            facts: IncomingFacts::default(),
        }
    }

    fn answered(key: CallKey, direction: Direction) -> PhoneEvent {
        PhoneEvent::Answered {
            key,
            call_id: String::new(),
            direction,
        }
    }

    fn hung_up(key: CallKey, direction: Direction, cause: EndCause) -> PhoneEvent {
        PhoneEvent::HungUp {
            key,
            call_id: String::new(),
            direction,
            cause,
            duration_ms: 0,
        }
    }

    #[test]
    fn rings_until_the_last_ringing_call_is_answered_or_gone() {
        let mut s = Sounds::new();
        s.on_event(&ringing(1));
        assert_eq!(drain(&mut s), vec![SoundAction::StartRinger]);
        s.on_event(&ringing(2));
        assert!(drain(&mut s).is_empty(), "one ringer for both");
        s.on_event(&hung_up(1, Direction::Incoming, EndCause::CallerCancelled));
        assert!(drain(&mut s).is_empty(), "call 2 still rings");
        s.on_event(&answered(2, Direction::Incoming));
        assert_eq!(drain(&mut s), vec![SoundAction::StopRinger]);
    }

    #[test]
    fn a_call_while_talking_plays_call_waiting_in_the_earpiece() {
        let mut s = Sounds::new();
        s.on_event(&answered(1, Direction::Incoming));
        s.on_event(&ringing(2));
        assert_eq!(
            drain(&mut s),
            vec![SoundAction::CallWaiting { key: 1, on: true }]
        );
        // Answering the second holds the first: the waiting tone stops,
        // nothing rings.
        s.on_event(&PhoneEvent::Held {
            key: 1,
            call_id: String::new(),
        });
        s.on_event(&answered(2, Direction::Incoming));
        assert_eq!(
            drain(&mut s),
            vec![SoundAction::CallWaiting { key: 1, on: false }]
        );
        // A third call while call 2 talks: waiting on call 2.
        s.on_event(&ringing(3));
        assert_eq!(
            drain(&mut s),
            vec![SoundAction::CallWaiting { key: 2, on: true }]
        );
        // Call 2 ends: call 1 is held, nobody talks: ring out loud.
        s.on_event(&hung_up(2, Direction::Incoming, EndCause::RemoteHangup));
        assert_eq!(drain(&mut s), vec![SoundAction::StartRinger]);
    }

    #[test]
    fn ringback_until_early_media_or_answer_and_busy_after_a_refusal() {
        let mut s = Sounds::new();
        let k = crate::phone::PHONE_KEYS;
        s.on_progress(k, 100, false);
        s.on_progress(k, 183, false);
        assert!(drain(&mut s).is_empty(), "no tone before 180");
        s.on_progress(k, 180, false);
        s.on_progress(k, 180, false);
        assert_eq!(
            drain(&mut s),
            vec![SoundAction::StartTone {
                key: k,
                kind: ToneKind::Ringback,
                limit_ms: None
            }]
        );
        s.on_progress(k, 183, true);
        assert_eq!(drain(&mut s), vec![SoundAction::StopTone { key: k }]);
        // Early media from the start: never a tone.
        s.on_progress(k + 1, 180, true);
        assert!(drain(&mut s).is_empty());
        s.on_progress(k + 2, 180, false);
        drain(&mut s);
        s.on_event(&answered(k + 2, Direction::Outgoing));
        assert_eq!(drain(&mut s), vec![SoundAction::StopTone { key: k + 2 }]);
        s.on_event(&hung_up(k + 3, Direction::Outgoing, EndCause::Busy));
        assert_eq!(
            drain(&mut s),
            vec![SoundAction::StartTone {
                key: k + 3,
                kind: ToneKind::Busy,
                limit_ms: Some(BUSY_TONE_MS)
            }]
        );
        // A call that simply ends plays nothing.
        s.on_event(&hung_up(k + 4, Direction::Outgoing, EndCause::NotAnswered));
        assert!(drain(&mut s).is_empty());
    }
}
