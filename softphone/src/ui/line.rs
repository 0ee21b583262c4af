//! The line as the window sees it: the calls, the registration and the
//! operator session, rebuilt from the event stream ([`bb_verbs::wire::Event`])
//! alone, and what the buttons may do now (UI-1, UI-5).
//!
//! [`LineModel::apply`] takes each event; [`LineModel::line_state`] is the
//! status bar's text (UI-1) and [`LineModel::buttons`] decides which of
//! Call, Hold, Transfer and Hang up are enabled and what they send. No egui
//! here: the window only draws what these return.
//!
//! # Matching events to calls
//!
//! Events name their call by SIP Call-ID. An outgoing call's `ringing` event
//! comes before the Call-ID is known (it has none, or an empty one): such a
//! call waits as *pending*, and the first `answered` or `hung_up` event whose
//! Call-ID matches no known call is given to the oldest pending call.
//!
//! # Which call a button acts on
//!
//! The core decides (see `softphone::phone`); the window only mirrors the
//! same rules to enable the buttons: Call answers the oldest ringing
//! incoming call, or dials when no call is talking or being dialled; Hold
//! holds the talking call or resumes the held one; Transfer is a held
//! transfer (`transfer N`) of the talking call, and becomes Complete
//! (`transfer_complete`) while a held call has a consultation call;
//! Hang up acts whenever there is a call.

use bb_verbs::DialNumber;
use bb_verbs::wire::{Direction, Event, EventKind, OperatorState, RegistrationState};

/// Where a call is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Incoming, not answered.
    Ringing,
    /// Outgoing, not answered.
    Dialing,
    /// Connected.
    Talking,
    /// Connected, on hold by us.
    Held,
}

/// A call the window knows about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveCall {
    /// SIP Call-ID; `None` for an outgoing call not yet answered.
    pub call_id: Option<String>,
    /// Incoming or outgoing.
    pub direction: Direction,
    /// The other party's number (may be empty when withheld).
    pub number: String,
    /// Where it is.
    pub phase: Phase,
    /// When it entered its phase, on the caller's clock (ms).
    pub since_ms: u64,
    /// The operator muted it.
    pub muted: bool,
}

/// The SIP registration as last reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Registration {
    /// Nothing heard yet.
    Unknown,
    /// Registered.
    Registered,
    /// Failed, with the reason.
    Failed(String),
    /// Not registered.
    Unregistered,
}

/// The operator session (ACD-1), from `operator` events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operator {
    /// No event yet, or logged out.
    LoggedOut,
    /// Logged in with this ID.
    LoggedIn(String),
    /// The last login was refused.
    LoginFailed(String),
}

/// The status bar's line state (UI-1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineState {
    /// Registered and idle: "ダイヤルできます" / "Ready to dial".
    Ready,
    /// No registration reported yet.
    Connecting,
    /// Registration failed.
    RegistrationFailed(String),
    /// Not registered.
    NotRegistered,
    /// An incoming call rings.
    Ringing(String),
    /// We are calling someone.
    Calling(String),
    /// Talking.
    Talking(String),
    /// A call is on hold and nothing else is going on.
    OnHold(String),
}

impl LineState {
    /// The fluent message ID of this state.
    pub fn message_id(&self) -> &'static str {
        match self {
            LineState::Ready => "status-ready",
            LineState::Connecting => "status-connecting",
            LineState::RegistrationFailed(_) => "status-registration-failed",
            LineState::NotRegistered => "status-not-registered",
            LineState::Ringing(_) => "status-ringing",
            LineState::Calling(_) => "status-calling",
            LineState::Talking(_) => "status-talking",
            LineState::OnHold(_) => "status-on-hold",
        }
    }

    /// True while a call exists.
    pub fn in_call(&self) -> bool {
        matches!(
            self,
            LineState::Ringing(_)
                | LineState::Calling(_)
                | LineState::Talking(_)
                | LineState::OnHold(_)
        )
    }
}

/// What the Call button does now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallButton {
    /// Answer the ringing call (`answer`).
    Answer,
    /// Dial the number in the field (`call N`).
    Dial(DialNumber),
}

/// What the Hold button does now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldButton {
    /// `hold`
    Hold,
    /// `unhold`
    Unhold,
}

/// What the Transfer button does now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferButton {
    /// `transfer N`: hold the call and call N.
    Held(DialNumber),
    /// `transfer_complete`: join the held party to the consultation.
    Complete,
}

/// The buttons' actions; `None` (or `false`) means disabled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Buttons {
    /// Call (通話).
    pub call: Option<CallButton>,
    /// Hold (保留) / Resume.
    pub hold: Option<HoldButton>,
    /// Transfer (転送) / Complete.
    pub transfer: Option<TransferButton>,
    /// Blind transfer, from the transfer menu or Shift+click.
    pub blind_transfer: Option<DialNumber>,
    /// Hang up (切断).
    pub hangup: bool,
    /// Digits go out as DTMF instead of into the number field.
    pub dtmf: bool,
}

/// Something the window should tell the operator once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// The call went to `target`.
    Transferred(String),
    /// A transfer failed.
    TransferFailed {
        /// The target.
        target: String,
        /// Why.
        reason: String,
    },
    /// Saved settings reached the core (WEB-7): what is in force now, what
    /// waits for a restart, what failed (`key: why`).
    Settings {
        /// In force for the next call.
        applied: Vec<String>,
        /// In force after a restart.
        after_restart: Vec<String>,
        /// Not put in force.
        failed: Vec<String>,
    },
}

/// The line, rebuilt from events.
#[derive(Clone, Debug)]
pub struct LineModel {
    calls: Vec<LiveCall>,
    registration: Registration,
    /// A registration event was applied (since the last lost events): the
    /// events then say the latest state, and a `status` reply, a snapshot
    /// that may be older than them, no longer decides it.
    registration_heard: bool,
    operator: Operator,
    extension: String,
    notices: Vec<Notice>,
    dnd: bool,
}

impl LineModel {
    /// An idle line for the own extension (shown in the status bar).
    pub fn new(extension: impl Into<String>) -> LineModel {
        LineModel {
            calls: Vec::new(),
            registration: Registration::Unknown,
            registration_heard: false,
            operator: Operator::LoggedOut,
            extension: extension.into(),
            notices: Vec::new(),
            dnd: false,
        }
    }

    /// Whether do not disturb is on.
    pub fn dnd(&self) -> bool {
        self.dnd
    }

    /// Whether the talking call is muted (`None`: no call is talking).
    pub fn talking_muted(&self) -> Option<bool> {
        self.first(Phase::Talking).map(|c| c.muted)
    }

    /// The own extension.
    pub fn extension(&self) -> &str {
        &self.extension
    }

    /// The calls, oldest first.
    pub fn calls(&self) -> &[LiveCall] {
        &self.calls
    }

    /// The registration.
    pub fn registration(&self) -> &Registration {
        &self.registration
    }

    /// The operator session.
    pub fn operator(&self) -> &Operator {
        &self.operator
    }

    /// Takes the notices gathered since the last call.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    /// Some events were lost (the window fell behind): the next `status`
    /// reply decides the registration again.
    pub fn events_lost(&mut self) {
        self.registration_heard = false;
    }

    /// Reads the `data` of a `status` reply: the extension and the
    /// registration (its calls carry no Call-ID and are left to events).
    pub fn apply_status(&mut self, data: &serde_json::Value) {
        if let Some(ext) = data.get("extension").and_then(|v| v.as_str())
            && !ext.is_empty()
        {
            self.extension = ext.to_owned();
        }
        if self.registration_heard {
            // Every change since the window subscribed came as an event;
            // the snapshot only fills in what happened before.
            return;
        }
        let reg = data.get("registration");
        match reg.and_then(|r| r.get("state")).and_then(|s| s.as_str()) {
            Some("registered") => self.registration = Registration::Registered,
            Some("unregistered") => self.registration = Registration::Unregistered,
            Some("failed") => {
                let reason = reg
                    .and_then(|r| r.get("reason"))
                    .and_then(|r| r.as_str())
                    .unwrap_or("")
                    .to_owned();
                self.registration = Registration::Failed(reason);
            }
            _ => {}
        }
    }

    /// Applies one event; `now_ms` is the caller's monotonic clock.
    pub fn apply(&mut self, event: &Event, now_ms: u64) {
        let id = event.call_id.as_deref().filter(|s| !s.is_empty());
        match &event.event {
            EventKind::Registration { state, reason } => {
                self.registration_heard = true;
                self.registration = match state {
                    RegistrationState::Registered => Registration::Registered,
                    RegistrationState::Unregistered => Registration::Unregistered,
                    RegistrationState::Failed => {
                        Registration::Failed(reason.clone().unwrap_or_default())
                    }
                };
            }
            EventKind::Ringing {
                direction,
                remote_number,
            } => {
                let number = remote_number.clone().unwrap_or_default();
                let phase = match direction {
                    Direction::Incoming => Phase::Ringing,
                    Direction::Outgoing => Phase::Dialing,
                };
                if let Some(i) = id.and_then(|id| self.index_of(id)) {
                    self.calls[i].phase = phase;
                    self.calls[i].since_ms = now_ms;
                } else {
                    self.calls.push(LiveCall {
                        call_id: id.map(str::to_owned),
                        direction: *direction,
                        number,
                        phase,
                        since_ms: now_ms,
                        muted: false,
                    });
                }
            }
            EventKind::Answered => {
                if let Some(i) = self.find_or_adopt(id, now_ms) {
                    self.calls[i].phase = Phase::Talking;
                    self.calls[i].since_ms = now_ms;
                }
            }
            EventKind::Held => {
                if let Some(i) = self.find_or_adopt(id, now_ms) {
                    self.calls[i].phase = Phase::Held;
                }
            }
            EventKind::Unheld => {
                if let Some(i) = self.find_or_adopt(id, now_ms) {
                    self.calls[i].phase = Phase::Talking;
                }
            }
            EventKind::Transferred { target } => {
                self.notices.push(Notice::Transferred(target.clone()));
            }
            EventKind::TransferFailed { target, reason } => {
                self.notices.push(Notice::TransferFailed {
                    target: target.clone(),
                    reason: reason.clone(),
                });
            }
            EventKind::HungUp { .. } => {
                let i = match id.and_then(|id| self.index_of(id)) {
                    Some(i) => Some(i),
                    None => self.oldest_pending(),
                };
                if let Some(i) = i {
                    self.calls.remove(i);
                }
            }
            EventKind::Operator {
                state,
                login_id,
                reason,
            } => {
                self.operator = match state {
                    OperatorState::LoggedIn => {
                        Operator::LoggedIn(login_id.clone().unwrap_or_default())
                    }
                    OperatorState::LoggedOut => Operator::LoggedOut,
                    OperatorState::LoginFailed => {
                        Operator::LoginFailed(reason.clone().unwrap_or_default())
                    }
                };
            }
            EventKind::Settings {
                applied,
                after_restart,
                failed,
            } => self.notices.push(Notice::Settings {
                applied: applied.clone(),
                after_restart: after_restart.clone(),
                failed: failed.clone(),
            }),
            EventKind::Mute { muted } => {
                if let Some(i) = id.and_then(|id| self.index_of(id)) {
                    self.calls[i].muted = *muted;
                }
            }
            EventKind::Dnd { on } => self.dnd = *on,
            EventKind::Hook { .. }
            | EventKind::Popup { .. }
            | EventKind::Dtmf { .. }
            | EventKind::Refused { .. } => {}
        }
    }

    fn index_of(&self, id: &str) -> Option<usize> {
        self.calls
            .iter()
            .position(|c| c.call_id.as_deref() == Some(id))
    }

    fn oldest_pending(&self) -> Option<usize> {
        self.calls
            .iter()
            .position(|c| c.call_id.is_none() && c.direction == Direction::Outgoing)
    }

    /// The call an event is about: by Call-ID, else the oldest pending
    /// outgoing call (which learns its Call-ID), else a new call the window
    /// had missed (it started before the window).
    fn find_or_adopt(&mut self, id: Option<&str>, now_ms: u64) -> Option<usize> {
        if let Some(i) = id.and_then(|id| self.index_of(id)) {
            return Some(i);
        }
        if let Some(i) = self.oldest_pending() {
            self.calls[i].call_id = id.map(str::to_owned);
            return Some(i);
        }
        let id = id?;
        self.calls.push(LiveCall {
            call_id: Some(id.to_owned()),
            direction: Direction::Incoming,
            number: String::new(),
            phase: Phase::Talking,
            since_ms: now_ms,
            muted: false,
        });
        Some(self.calls.len() - 1)
    }

    fn first(&self, phase: Phase) -> Option<&LiveCall> {
        self.calls.iter().find(|c| c.phase == phase)
    }

    fn has(&self, phase: Phase) -> bool {
        self.first(phase).is_some()
    }

    /// The status bar's state: a ringing call first (the operator must see
    /// it), then talking, calling, on hold; idle shows the registration.
    pub fn line_state(&self) -> LineState {
        let number = |c: &LiveCall| c.number.clone();
        if let Some(c) = self.first(Phase::Ringing) {
            return LineState::Ringing(number(c));
        }
        if let Some(c) = self.first(Phase::Talking) {
            return LineState::Talking(number(c));
        }
        if let Some(c) = self.first(Phase::Dialing) {
            return LineState::Calling(number(c));
        }
        if let Some(c) = self.first(Phase::Held) {
            return LineState::OnHold(number(c));
        }
        match &self.registration {
            Registration::Registered => LineState::Ready,
            Registration::Unknown => LineState::Connecting,
            Registration::Failed(r) => LineState::RegistrationFailed(r.clone()),
            Registration::Unregistered => LineState::NotRegistered,
        }
    }

    /// The call whose timer the status bar shows (talking or held).
    pub fn timed_call(&self) -> Option<&LiveCall> {
        self.first(Phase::Talking)
            .or_else(|| self.first(Phase::Held))
    }

    /// A held call with a consultation call (talking or being dialled)
    /// beside it: Transfer becomes Complete.
    pub fn consulting(&self) -> bool {
        self.has(Phase::Held) && (self.has(Phase::Talking) || self.has(Phase::Dialing))
    }

    /// What each button does, given the number in the field (`None` when
    /// the field is empty or refused).
    pub fn buttons(&self, number: Option<&DialNumber>) -> Buttons {
        let talking = self.has(Phase::Talking);
        let dialing = self.has(Phase::Dialing);
        let held = self.has(Phase::Held);
        let ringing_in = self
            .calls
            .iter()
            .any(|c| c.phase == Phase::Ringing && c.direction == Direction::Incoming);
        let can_dial = !talking
            && !dialing
            && !matches!(
                self.registration,
                Registration::Failed(_) | Registration::Unregistered
            );
        let call = if ringing_in {
            Some(CallButton::Answer)
        } else if can_dial {
            number.cloned().map(CallButton::Dial)
        } else {
            None
        };
        let hold = if talking {
            Some(HoldButton::Hold)
        } else if held && !dialing {
            Some(HoldButton::Unhold)
        } else {
            None
        };
        let consulting = self.consulting();
        let transfer = if consulting {
            Some(TransferButton::Complete)
        } else if talking {
            number.cloned().map(TransferButton::Held)
        } else {
            None
        };
        let blind_transfer = if !consulting && (talking || held) {
            number.cloned()
        } else {
            None
        };
        Buttons {
            call,
            hold,
            transfer,
            blind_transfer,
            hangup: !self.calls.is_empty(),
            dtmf: talking,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bb_verbs::normalize_number;
    use bb_verbs::wire::HangupCause;

    fn ev(kind: EventKind, id: Option<&str>) -> Event {
        let e = Event::new(kind);
        match id {
            Some(id) => e.with_call(id),
            None => e,
        }
    }

    fn n(s: &str) -> DialNumber {
        normalize_number(s).expect("test number")
    }

    fn registered() -> LineModel {
        let mut m = LineModel::new("1910");
        m.apply(
            &ev(
                EventKind::Registration {
                    state: RegistrationState::Registered,
                    reason: None,
                },
                None,
            ),
            0,
        );
        m
    }

    fn ringing_in(id: &str, number: &str) -> Event {
        ev(
            EventKind::Ringing {
                direction: Direction::Incoming,
                remote_number: Some(number.into()),
            },
            Some(id),
        )
    }

    fn hung_up(id: Option<&str>) -> Event {
        ev(
            EventKind::HungUp {
                cause: HangupCause::Remote,
                duration_ms: 0,
            },
            id,
        )
    }

    #[test]
    fn idle_line_shows_registration() {
        let mut m = LineModel::new("1910");
        assert_eq!(m.line_state(), LineState::Connecting);
        m.apply(
            &ev(
                EventKind::Registration {
                    state: RegistrationState::Failed,
                    reason: Some("403 Forbidden".into()),
                },
                None,
            ),
            0,
        );
        assert_eq!(
            m.line_state(),
            LineState::RegistrationFailed("403 Forbidden".into())
        );
        assert_eq!(m.buttons(Some(&n("1330"))).call, None);
        let m = registered();
        assert_eq!(m.line_state(), LineState::Ready);
        let b = m.buttons(Some(&n("1330")));
        assert_eq!(b.call, Some(CallButton::Dial(n("1330"))));
        assert_eq!(b.hold, None);
        assert_eq!(b.transfer, None);
        assert!(!b.hangup);
        assert_eq!(m.buttons(None).call, None);
    }

    #[test]
    fn incoming_call_ring_answer_hold_hangup() {
        let mut m = registered();
        m.apply(&ringing_in("c1", "0312345678"), 1);
        assert_eq!(m.line_state(), LineState::Ringing("0312345678".into()));
        let b = m.buttons(Some(&n("1330")));
        assert_eq!(b.call, Some(CallButton::Answer));
        assert!(b.hangup);
        assert_eq!(b.hold, None);
        m.apply(&ev(EventKind::Answered, Some("c1")), 2);
        assert_eq!(m.line_state(), LineState::Talking("0312345678".into()));
        let b = m.buttons(Some(&n("1303")));
        assert_eq!(b.call, None);
        assert_eq!(b.hold, Some(HoldButton::Hold));
        assert_eq!(b.transfer, Some(TransferButton::Held(n("1303"))));
        assert_eq!(b.blind_transfer, Some(n("1303")));
        assert!(b.dtmf);
        m.apply(&ev(EventKind::Held, Some("c1")), 3);
        assert_eq!(m.line_state(), LineState::OnHold("0312345678".into()));
        assert_eq!(m.buttons(None).hold, Some(HoldButton::Unhold));
        assert_eq!(m.buttons(None).transfer, None);
        m.apply(&hung_up(Some("c1")), 4);
        assert_eq!(m.line_state(), LineState::Ready);
        assert!(m.calls().is_empty());
    }

    #[test]
    fn outgoing_call_without_call_id_is_matched_by_the_next_answer() {
        let mut m = registered();
        m.apply(
            &ev(
                EventKind::Ringing {
                    direction: Direction::Outgoing,
                    remote_number: Some("1330".into()),
                },
                None,
            ),
            1,
        );
        assert_eq!(m.line_state(), LineState::Calling("1330".into()));
        assert_eq!(m.buttons(Some(&n("1331"))).call, None);
        m.apply(&ev(EventKind::Answered, Some("out-1")), 2);
        assert_eq!(m.calls().len(), 1);
        assert_eq!(m.calls()[0].call_id.as_deref(), Some("out-1"));
        assert_eq!(m.line_state(), LineState::Talking("1330".into()));
        m.apply(&hung_up(Some("out-1")), 3);
        assert!(m.calls().is_empty());
    }

    #[test]
    fn failed_outgoing_call_hangs_up_with_empty_call_id() {
        let mut m = registered();
        m.apply(
            &ev(
                EventKind::Ringing {
                    direction: Direction::Outgoing,
                    remote_number: Some("1330".into()),
                },
                None,
            ),
            1,
        );
        m.apply(&hung_up(Some("")), 2);
        assert!(m.calls().is_empty());
        assert_eq!(m.line_state(), LineState::Ready);
    }

    #[test]
    fn held_transfer_then_complete() {
        let mut m = registered();
        m.apply(&ringing_in("c1", "0312345678"), 1);
        m.apply(&ev(EventKind::Answered, Some("c1")), 2);
        m.apply(&ev(EventKind::Held, Some("c1")), 3);
        m.apply(
            &ev(
                EventKind::Ringing {
                    direction: Direction::Outgoing,
                    remote_number: Some("1303".into()),
                },
                None,
            ),
            4,
        );
        assert!(m.consulting());
        let b = m.buttons(Some(&n("1303")));
        assert_eq!(b.transfer, Some(TransferButton::Complete));
        assert_eq!(b.blind_transfer, None);
        assert_eq!(b.hold, None);
        m.apply(&ev(EventKind::Answered, Some("consult")), 5);
        assert_eq!(m.line_state(), LineState::Talking("1303".into()));
        assert_eq!(m.buttons(None).transfer, Some(TransferButton::Complete));
        m.apply(
            &ev(
                EventKind::Transferred {
                    target: "1303".into(),
                },
                Some("c1"),
            ),
            6,
        );
        m.apply(&hung_up(Some("consult")), 7);
        m.apply(&hung_up(Some("c1")), 7);
        assert_eq!(m.take_notices(), vec![Notice::Transferred("1303".into())]);
        assert!(m.take_notices().is_empty());
        assert_eq!(m.line_state(), LineState::Ready);
    }

    #[test]
    fn second_incoming_call_shows_ringing_over_talking() {
        let mut m = registered();
        m.apply(&ringing_in("c1", "111"), 1);
        m.apply(&ev(EventKind::Answered, Some("c1")), 2);
        m.apply(&ringing_in("c2", "222"), 3);
        assert_eq!(m.line_state(), LineState::Ringing("222".into()));
        assert_eq!(m.buttons(None).call, Some(CallButton::Answer));
    }

    #[test]
    fn status_reply_sets_extension_and_registration() {
        let mut m = LineModel::new("");
        m.apply_status(&serde_json::json!({
            "extension": "1910",
            "registration": {"state": "failed", "reason": "timeout"},
        }));
        assert_eq!(m.extension(), "1910");
        assert_eq!(m.registration(), &Registration::Failed("timeout".into()));
    }

    #[test]
    fn a_status_reply_older_than_a_registration_event_does_not_undo_it() {
        // The window asks for the status when it opens; the core answers
        // "unregistered", registers, and says so. The window reads the
        // event and then the older reply in the same frame.
        let mut m = LineModel::new("1910");
        m.apply(
            &ev(
                EventKind::Registration {
                    state: RegistrationState::Registered,
                    reason: None,
                },
                None,
            ),
            0,
        );
        m.apply_status(&serde_json::json!({
            "extension": "1910",
            "registration": {"state": "unregistered"},
        }));
        assert_eq!(m.registration(), &Registration::Registered);
        // After lost events the snapshot decides again.
        m.events_lost();
        m.apply_status(&serde_json::json!({"registration": {"state": "unregistered"}}));
        assert_eq!(m.registration(), &Registration::Unregistered);
    }

    #[test]
    fn operator_events() {
        let mut m = registered();
        m.apply(
            &ev(
                EventKind::Operator {
                    state: OperatorState::LoggedIn,
                    login_id: Some("op1".into()),
                    reason: None,
                },
                None,
            ),
            1,
        );
        assert_eq!(m.operator(), &Operator::LoggedIn("op1".into()));
        m.apply(
            &ev(
                EventKind::Operator {
                    state: OperatorState::LoginFailed,
                    login_id: None,
                    reason: Some("bad password".into()),
                },
                None,
            ),
            2,
        );
        assert_eq!(m.operator(), &Operator::LoginFailed("bad password".into()));
    }

    #[test]
    fn a_settings_event_becomes_a_notice() {
        let mut m = LineModel::new("1910");
        m.apply(
            &ev(
                EventKind::Settings {
                    applied: vec!["web".into()],
                    after_restart: vec!["audio".into()],
                    failed: vec![],
                },
                None,
            ),
            1,
        );
        assert_eq!(
            m.take_notices(),
            vec![Notice::Settings {
                applied: vec!["web".into()],
                after_restart: vec!["audio".into()],
                failed: vec![],
            }]
        );
    }
}
