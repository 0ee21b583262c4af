//! The call model's vocabulary: what goes in ([`Input`], [`Command`]),
//! what comes out ([`Action`], [`PhoneEvent`]) and how it is configured
//! ([`PhoneConfig`]).

/// Milliseconds on the driver's monotonic clock.
pub type Millis = u64;

/// The driver's or the phone's handle for one call (its dialog).
pub type CallKey = u64;

/// The first key the phone gives to the calls it places.
pub const PHONE_KEYS: CallKey = 1 << 40;

/// A call's name in logs, free of Call-IDs and numbers: `out-1` for the
/// first call we placed, `in-3` for the driver's third incoming call.
pub fn call_label(key: CallKey) -> String {
    match key.checked_sub(PHONE_KEYS) {
        Some(n) => format!("out-{n}"),
        None => format!("in-{key}"),
    }
}

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
        /// It carried SDP: the network's own ringback or announcement
        /// plays (early media), so no tone of ours must cover it.
        early_media: bool,
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
    /// Mute (`true`) or unmute the microphone on the active call.
    Mute(bool),
    /// Do not disturb on (`true`: new calls are turned away) or off.
    Dnd(bool),
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
    /// Mute (`true`: the call sends silence, RTP keeps flowing) or
    /// unmute the call's microphone.
    Mute {
        /// The call.
        key: CallKey,
        /// Muted or not.
        muted: bool,
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
    /// The operator muted (`true`) or unmuted the call.
    Muted {
        /// The call.
        key: CallKey,
        /// SIP Call-ID.
        call_id: String,
        /// Muted or not.
        muted: bool,
    },
    /// Do not disturb was switched on (`true`) or off.
    Dnd {
        /// On or off.
        on: bool,
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
    /// What a new call gets under do not disturb (`[call] dnd_status`:
    /// 486, 480 or 603).
    pub dnd_status: u16,
}

impl Default for PhoneConfig {
    fn default() -> Self {
        PhoneConfig {
            ring_second_call: true,
            max_ringing: 4,
            ring_timeout: Some(120_000),
            auto_answer: AutoAnswer::Off,
            auto_answer_delay: 0,
            dnd_status: 486,
        }
    }
}
