//! The fake PBX's call logic: a back-to-back user agent over legs, with the
//! registrar, the [`Acd`] and the [`Dialler`] inside. Sans-IO.
//!
//! A **leg** is one dialog between the simulator and one endpoint: a
//! registered extension (SIP), a SIP peer that is not an extension (a
//! "trunk": carriers, sipp), or a simulated outside party (in-process, with
//! its own RTP). A **call** is what the API shows: an *anchor* leg (the
//! caller, or the party the dialler called), the *peer* leg it talks to, and
//! the outbound legs still ringing for it (*attempts*: forks to several
//! contacts, ring groups, ACD offers, transfer targets). Transfers move legs
//! between calls and re-pair them; every call keeps its legs, transfers and
//! end reason, so the API can say "the outside caller now talks to 1303".
//!
//! # Driving it
//!
//! Inputs are the `handle`-style methods ([`Pbx::incoming_invite`],
//! [`Pbx::leg_ringing`], [`Pbx::leg_answered`], [`Pbx::leg_failed`],
//! [`Pbx::leg_ended`], [`Pbx::reinvite`], [`Pbx::reinvite_done`],
//! [`Pbx::refer`], the API's commands and [`Pbx::handle_timeout`]), each with
//! `now` in milliseconds on the driver's clock. After each input the driver
//! drains [`Pbx::poll_action`] (what to send, in order), then
//! [`Pbx::poll_event`] (the event log), then arms a timer for
//! [`Pbx::poll_timeout`]. The core never reads a clock, never blocks and never
//! fails on what the network says: an event for an unknown or ended leg is
//! ignored.
//!
//! # Key decisions
//!
//! - Media never flows through the simulator between SIP phones: bodies are
//!   relayed with our own origin line per leg ([`crate::sdp_util`]).
//! - A blind transfer (REFER without Replaces) is completed by the simulator:
//!   it dials the target for the transferee, reports progress to the
//!   transferor with NOTIFY (RFC 3515), and leaves the transferor's leg to the
//!   transferor's BYE. An attended transfer (Refer-To with `?Replaces=`) names
//!   one of our own legs, so the simulator joins the two remote parties itself
//!   and ends the transferor's two legs.
//! - Caller identity on each outbound leg is the identity of the party the
//!   leg will talk to: outside callers keep their number across transfers.
//! - Early media: a 183 with SDP from the callee is relayed to a caller that
//!   has not been answered, and the 200 that follows repeats that SDP byte
//!   for byte when the callee's answer did not change (RFC 3264: an answer,
//!   once given, stands).
//! - Session timers (RFC 4028, `[sip] session_expires`): the simulator
//!   offers them to extensions and states them in its 2xx, answers
//!   refreshes (any re-INVITE or UPDATE), refreshes itself when it is the
//!   refresher (unless told never to), and ends the call when a refresh it
//!   waits for does not come. Each SIP leg keeps its own agreement; the
//!   `refresher` parameter always names the roles of the transaction it
//!   travels in.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bb_sip::sdp::Direction;
use bb_sip::session_timer::{self, Refresher, SessionExpires};
use serde::Serialize;
use serde_json::json;

use crate::acd::{Acd, AcdError, AcdOutput, Requested};
use crate::dialler::{AttemptId, Dialler, DiallerError, DiallerOutput};
use crate::registrar::{AuthRequest, Millis, RegisterOutcome, RegisterRequest, Registrar};
use crate::route::{self, Dest, NoRoute};
use crate::sdp_util;
use crate::tenant::{
    RingStrategy, Route, SessionRefresh, SessionRefresher, SessionTimerSettings, Target, Tenant,
};

/// The simulator's id of a call.
pub type CallId = u64;
/// The simulator's id of a leg.
pub type LegId = u64;
/// An in-dialog server transaction the driver holds (re-INVITE, REFER).
pub type TxnId = u64;
/// An in-dialog request the simulator sent (re-INVITE).
pub type ReqId = u64;

/// Who is at the far end of a leg.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "number", rename_all = "snake_case")]
pub enum Endpoint {
    /// A registered extension.
    Extension(String),
    /// A SIP peer that is not an extension, calling an outside line.
    Trunk(String),
    /// A simulated outside party.
    Party(String),
}

impl Endpoint {
    /// The number (extension or phone number).
    pub fn number(&self) -> &str {
        match self {
            Endpoint::Extension(n) | Endpoint::Trunk(n) | Endpoint::Party(n) => n,
        }
    }

    /// The extension, for extension legs.
    pub fn extension(&self) -> Option<&str> {
        match self {
            Endpoint::Extension(e) => Some(e),
            _ => None,
        }
    }

    fn is_outside(&self) -> bool {
        !matches!(self, Endpoint::Extension(_))
    }
}

/// A leg's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LegState {
    /// INVITE sent or received, nothing else yet.
    Calling,
    /// 180/183.
    Ringing,
    /// Answered.
    Up,
    /// Over.
    Ended,
}

/// The state of a call, as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// Set up, nothing ringing yet (or waiting in a queue).
    Calling,
    /// Something rings for it.
    Ringing,
    /// The anchor talks to someone.
    Answered,
    /// Over (see `end_reason`).
    Ended,
}

/// What kind of call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    /// From outside to an outside line.
    Inbound,
    /// Extension to extension (or to an own outside line).
    Internal,
    /// Extension to the public network.
    Outbound,
    /// Placed by the predictive dialler.
    Campaign,
}

/// The SIP identity of a dialog: Call-ID and the two tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct DialogKey {
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The far end's tag (empty until known).
    pub remote_tag: String,
}

/// A dialog named by a `Replaces` (RFC 3891) value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplacesRef {
    /// Call-ID.
    pub call_id: String,
    /// `to-tag`.
    pub to_tag: String,
    /// `from-tag`.
    pub from_tag: String,
}

impl ReplacesRef {
    /// Parses `callid;to-tag=a;from-tag=b` (already percent-decoded).
    pub fn parse(value: &str) -> Option<ReplacesRef> {
        let mut parts = value.split(';');
        let call_id = parts.next()?.trim().to_string();
        let (mut to_tag, mut from_tag) = (None, None);
        for p in parts {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            match k.trim().to_ascii_lowercase().as_str() {
                "to-tag" => to_tag = Some(v.trim().to_string()),
                "from-tag" => from_tag = Some(v.trim().to_string()),
                _ => {}
            }
        }
        if call_id.is_empty() {
            return None;
        }
        Some(ReplacesRef {
            call_id,
            to_tag: to_tag?,
            from_tag: from_tag?,
        })
    }
}

/// How a call is presented on an outbound leg.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Presented {
    /// The user part of From.
    pub from_user: String,
    /// The display name of From.
    pub from_name: Option<String>,
    /// `P-Asserted-Identity` user, when sent.
    pub pai: Option<String>,
    /// `P-Called-Party-ID` user (the outside line), when sent.
    pub called_party: Option<String>,
    /// Further headers (name, value).
    pub headers: Vec<(String, String)>,
}

/// What the driver must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send an INVITE for `leg` to an extension's registered contact.
    Invite {
        /// The new leg.
        leg: LegId,
        /// The extension called (the user of To).
        to_user: String,
        /// The Contact URI from the registration.
        contact: String,
        /// Where the REGISTER came from (used if the contact is unusable).
        source: SocketAddr,
        /// Caller identity.
        presented: Presented,
        /// SDP offer.
        body: Option<Vec<u8>>,
        /// Further headers (the session-timer offer), name and value.
        headers: Vec<(String, String)>,
    },
    /// Call a simulated outside party on `leg`.
    CallParty {
        /// The new leg.
        leg: LegId,
        /// The number dialled.
        number: String,
        /// The caller ID the party sees.
        caller_id: String,
        /// SDP offer (none: the party offers in its answer).
        body: Option<Vec<u8>>,
    },
    /// 180 (183 with a body) on an inbound leg.
    Ring {
        /// The leg.
        leg: LegId,
        /// Early media SDP.
        body: Option<Vec<u8>>,
    },
    /// 200 on an inbound leg (for a calling party: the call is answered).
    Answer {
        /// The leg.
        leg: LegId,
        /// SDP.
        body: Option<Vec<u8>>,
        /// Further headers (the session timer agreed), name and value.
        headers: Vec<(String, String)>,
    },
    /// A final failure response on an inbound leg.
    Reject {
        /// The leg.
        leg: LegId,
        /// SIP status.
        code: u16,
    },
    /// CANCEL an outbound leg that was not answered.
    Cancel {
        /// The leg.
        leg: LegId,
    },
    /// BYE (for a party: it is hung up on).
    Bye {
        /// The leg.
        leg: LegId,
    },
    /// Send a re-INVITE; report the answer with [`Pbx::reinvite_done`].
    ReInvite {
        /// The leg.
        leg: LegId,
        /// Our id of the request.
        req: ReqId,
        /// SDP offer.
        body: Vec<u8>,
    },
    /// Answer a re-INVITE or REFER received on `leg`.
    Respond {
        /// The leg.
        leg: LegId,
        /// The transaction.
        txn: TxnId,
        /// SIP status.
        code: u16,
        /// SDP answer.
        body: Option<Vec<u8>>,
        /// Further headers (`Session-Expires`, `Min-SE`, `Warning`).
        headers: Vec<(String, String)>,
    },
    /// Refresh the session on `leg` (RFC 4028): UPDATE without a body, or a
    /// re-INVITE with `body`; report the answer with [`Pbx::refresh_done`].
    Refresh {
        /// The leg.
        leg: LegId,
        /// Our id of the request.
        req: ReqId,
        /// UPDATE (else re-INVITE).
        update: bool,
        /// The SDP of a re-INVITE (our last offer again).
        body: Option<Vec<u8>>,
        /// `Session-Expires` and `Supported`, name and value.
        headers: Vec<(String, String)>,
    },
    /// NOTIFY the transferor (`Event: refer`, `message/sipfrag`).
    Notify {
        /// The transferor's leg.
        leg: LegId,
        /// The status line's code.
        code: u16,
        /// `Subscription-State: terminated` (else `active`).
        terminated: bool,
    },
}

/// One entry for the event log.
#[derive(Debug, Clone, PartialEq)]
pub struct PbxEvent {
    /// `call_ringing`, `transfer_completed`, …
    pub kind: &'static str,
    /// The call.
    pub call: Option<CallId>,
    /// Details.
    pub detail: serde_json::Value,
}

/// An INVITE that starts a new dialog, as the driver read it.
#[derive(Debug, Clone)]
pub struct InboundInvite {
    /// The user part of From.
    pub from_user: String,
    /// The display name of From.
    pub from_name: Option<String>,
    /// The number called (Request-URI user).
    pub dialled: String,
    /// The Request-URI as received (the digest `uri` must name it).
    pub request_uri: String,
    /// `Proxy-Authorization` (or `Authorization`), if any.
    pub authorization: Option<String>,
    /// The source address.
    pub source: IpAddr,
    /// The new dialog's identity.
    pub dialog: DialogKey,
    /// SDP offer.
    pub body: Option<Vec<u8>>,
    /// The `Replaces` header, if any.
    pub replaces: Option<ReplacesRef>,
    /// Its session-timer headers.
    pub timer: TimerHeaders,
}

/// The session-timer headers (RFC 4028) of a request or response, as the
/// driver read them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimerHeaders {
    /// The raw `Session-Expires` value, if any (checked by the core).
    pub session_expires: Option<String>,
    /// `Supported` (or `Require`) lists `timer`.
    pub supports_timer: bool,
    /// `Allow` lists UPDATE.
    pub allows_update: bool,
}

impl TimerHeaders {
    /// Reads them from header (name, value) pairs.
    pub fn from_headers<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> TimerHeaders {
        let mut t = TimerHeaders::default();
        for (name, value) in headers {
            let name = name.trim();
            if name.eq_ignore_ascii_case("Session-Expires") || name.eq_ignore_ascii_case("x") {
                if t.session_expires.is_none() {
                    t.session_expires = Some(value.trim().chars().take(200).collect());
                }
            } else if name.eq_ignore_ascii_case("Supported")
                || name.eq_ignore_ascii_case("k")
                || name.eq_ignore_ascii_case("Require")
            {
                t.supports_timer |= session_timer::lists_timer(value);
            } else if name.eq_ignore_ascii_case("Allow") {
                t.allows_update |= value
                    .split(',')
                    .any(|m| m.trim().eq_ignore_ascii_case("UPDATE"));
            }
        }
        t
    }
}

/// An in-dialog re-INVITE or UPDATE, as the driver read it.
#[derive(Debug, Clone, Default)]
pub struct InDialogRequest {
    /// UPDATE (else re-INVITE).
    pub update: bool,
    /// SDP offer, if any.
    pub body: Option<Vec<u8>>,
    /// Its session-timer headers.
    pub timer: TimerHeaders,
}

/// The methods the simulator allows, stated with session timers so that the
/// far end may refresh with UPDATE.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY, INFO, UPDATE";

/// One SIP leg's session timer (RFC 4028), once agreed.
#[derive(Debug, Clone, PartialEq)]
struct LegTimer {
    /// The interval in seconds.
    interval: u32,
    /// The simulator sends the refreshes (else it expects them).
    we_refresh: bool,
    /// The far end supports timers (`Require: timer` goes in our answers).
    peer_supports: bool,
    /// The far end allows UPDATE (our refreshes use it; else re-INVITE).
    peer_update: bool,
    /// Refreshes the far end made (re-INVITEs and UPDATEs answered 2xx).
    received: u32,
    /// Refreshes the simulator made (answered 2xx).
    sent: u32,
    /// When we refresh next, or when the session expires.
    deadline: Option<Millis>,
    /// Our refresh waiting for its answer.
    in_flight: Option<ReqId>,
}

impl LegTimer {
    /// `Session-Expires` for a message of a transaction in which the
    /// simulator is the UAC (`we_are_uac`) or the UAS.
    fn value(&self, we_are_uac: bool) -> SessionExpires {
        let refresher = if self.we_refresh == we_are_uac {
            Refresher::Uac
        } else {
            Refresher::Uas
        };
        SessionExpires {
            interval: self.interval,
            refresher: Some(refresher),
        }
    }
}

/// A leg's session timer as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SessionTimerView {
    /// The interval agreed, in seconds.
    pub interval_s: u32,
    /// Who refreshes: `simulator` or `peer` (the far end of the leg).
    pub refresher: &'static str,
    /// Refreshes the far end made (re-INVITEs and UPDATEs answered 2xx).
    pub refreshes_received: u32,
    /// Refreshes the simulator made (answered 2xx).
    pub refreshes_sent: u32,
    /// When the simulator refreshes next or gives the session up (ms since
    /// start); none while it never refreshes.
    pub next_ms: Option<Millis>,
}

/// What to answer to an [`InboundInvite`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InviteDecision {
    /// Create the server dialog for this leg, then run the actions.
    Accept(LegId),
    /// 407 with these `Proxy-Authenticate` values.
    Challenge(Vec<String>),
    /// A final failure.
    Refuse {
        /// SIP status.
        code: u16,
        /// Why (for the Warning header and the log).
        reason: String,
    },
    /// 422 Session Interval Too Small with `Min-SE` (RFC 4028).
    TooSmall {
        /// Our minimum interval, seconds.
        min_se: u32,
    },
}

/// How a simulated outside caller presents itself to the extensions it
/// rings, instead of its number: raw text, placed in `From` and
/// `P-Asserted-Identity` as given (the SIP driver escapes it: user parts
/// percent-encoded, the display name a quoted string). For hostile
/// caller-ID tests.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallerIdentity {
    /// The user part of `From`.
    pub from_user: String,
    /// The display name of `From` (none: no display name).
    #[serde(default)]
    pub from_display: Option<String>,
    /// The user part of `P-Asserted-Identity` (none: no such header).
    #[serde(default)]
    pub pai_user: Option<String>,
}

impl CallerIdentity {
    /// The longest value accepted, in bytes of UTF-8.
    pub const MAX_LEN: usize = 2048;

    /// Checks the lengths; names the field at fault.
    pub fn check(&self) -> Result<(), String> {
        let fields = [
            ("from_user", Some(&self.from_user)),
            ("from_display", self.from_display.as_ref()),
            ("pai_user", self.pai_user.as_ref()),
        ];
        for (name, value) in fields {
            if let Some(v) = value
                && v.len() > Self::MAX_LEN
            {
                return Err(format!(
                    "identity.{name}: {} bytes; at most {} are accepted",
                    v.len(),
                    Self::MAX_LEN
                ));
            }
        }
        if self.from_user.is_empty() {
            return Err("identity.from_user: empty; give the caller ID to send".into());
        }
        Ok(())
    }
}

/// Why a simulated outside call could not be placed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceError {
    /// The number is not an outside line of the tenant.
    #[error("'{0}' is not an outside line of this tenant")]
    UnknownLine(String),
    /// The target extension has no live registration.
    #[error("extension {0} is not registered")]
    NotRegistered(String),
    /// The caller number cannot be put in a SIP URI.
    #[error("caller number '{0}' is empty, too long or not digits")]
    BadCaller(String),
}

/// A REFER, as the driver read it.
#[derive(Debug, Clone)]
pub struct ReferRequest {
    /// The user part of the Refer-To URI.
    pub target: String,
    /// The `Replaces` inside the Refer-To URI, if any.
    pub replaces: Option<ReplacesRef>,
}

#[derive(Debug, Clone, PartialEq)]
enum Purpose {
    /// The anchor of a call it started.
    Origin,
    /// Directly dialled target (or a fork to one of its contacts).
    Direct,
    /// A ring-group member.
    Group,
    /// An ACD offer to an operator.
    Offer { operator: String },
    /// A blind-transfer target.
    Transfer {
        transferor: LegId,
        transferee: LegId,
    },
    /// A dialler attempt (the anchor of a campaign call).
    Campaign { attempt: AttemptId },
    /// A leg that replaced another (INVITE with Replaces).
    Replacing,
}

impl Purpose {
    fn label(&self) -> String {
        match self {
            Purpose::Origin => "origin".into(),
            Purpose::Direct => "direct".into(),
            Purpose::Group => "ring_group".into(),
            Purpose::Offer { operator } => format!("acd_offer:{operator}"),
            Purpose::Transfer { .. } => "transfer_target".into(),
            Purpose::Campaign { attempt } => format!("campaign_attempt:{attempt}"),
            Purpose::Replacing => "replacing".into(),
        }
    }
}

#[derive(Debug, Clone)]
struct Leg {
    id: LegId,
    call: CallId,
    endpoint: Endpoint,
    inbound: bool,
    state: LegState,
    peer: Option<LegId>,
    purpose: Purpose,
    /// The last SDP this endpoint sent.
    remote_sdp: Option<Vec<u8>>,
    /// The last SDP we sent it (already rewritten).
    sent_sdp: Option<Vec<u8>>,
    sdp_version: u64,
    dialog: Option<DialogKey>,
    contact: Option<String>,
    held: bool,
    transferring: bool,
    /// Was offered another party's SDP (semi-attended transfer target):
    /// re-INVITE it with the transferee's once connected.
    needs_reoffer: bool,
    presented: Option<Presented>,
    /// How this (outside caller's) leg presents itself instead of its number
    /// (the API's `identity`: raw, possibly hostile caller IDs).
    identity: Option<CallerIdentity>,
    /// The early SDP answer relayed to this (inbound, unanswered) leg in a
    /// 183: the callee's SDP and what we sent for it.
    early_answer: Option<(Vec<u8>, Vec<u8>)>,
    /// The session timer of this SIP leg, once agreed.
    timer: Option<LegTimer>,
    end_reason: Option<String>,
    created_at: Millis,
    answered_at: Option<Millis>,
    ended_at: Option<Millis>,
}

/// A transfer as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TransferView {
    /// `blind`, `attended`, `replaces` or `requeue`.
    pub kind: &'static str,
    /// The extension that transferred.
    pub by: String,
    /// Who was transferred (number).
    pub transferee: String,
    /// The target as dialled or found.
    pub target: String,
    /// `pending`, `completed` or `failed <code>`.
    pub outcome: String,
    /// When it started.
    pub at_ms: Millis,
}

#[derive(Debug, Clone)]
struct GroupState {
    members: Vec<String>,
    next: usize,
    sequential: bool,
    ring_ms: Millis,
}

#[derive(Debug, Clone)]
struct Call {
    id: CallId,
    kind: CallKind,
    anchor: LegId,
    peer: Option<LegId>,
    attempts: Vec<LegId>,
    legs: Vec<LegId>,
    from: String,
    to: String,
    outside_line: Option<String>,
    target: String,
    state: CallState,
    end_reason: Option<String>,
    queue: Option<String>,
    operator: Option<String>,
    group: Option<GroupState>,
    ring_deadline: Option<Millis>,
    anchor_rung: bool,
    transfers: Vec<TransferView>,
    merged_into: Option<CallId>,
    campaign: Option<(String, AttemptId)>,
    failure: Option<u16>,
    created_at: Millis,
    answered_at: Option<Millis>,
    ended_at: Option<Millis>,
}

/// A leg as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LegView {
    /// Id.
    pub id: LegId,
    /// Who is at the far end.
    pub endpoint: Endpoint,
    /// `in` (they called us) or `out`.
    pub direction: &'static str,
    /// State.
    pub state: LegState,
    /// The leg it is bridged to.
    pub peer: Option<LegId>,
    /// Why the leg exists.
    pub purpose: String,
    /// SIP Call-ID (none for parties).
    pub sip_call_id: Option<String>,
    /// The contact rung (extension legs).
    pub contact: Option<String>,
    /// The endpoint put the leg on hold.
    pub held: bool,
    /// How the caller was presented (outbound legs).
    pub presented: Option<Presented>,
    /// The session timer agreed on this SIP leg (RFC 4028).
    pub session_timer: Option<SessionTimerView>,
    /// Why it ended.
    pub end_reason: Option<String>,
    /// When it was created (ms since start).
    pub created_ms: Millis,
    /// When it was answered.
    pub answered_ms: Option<Millis>,
    /// When it ended.
    pub ended_ms: Option<Millis>,
}

/// A call as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CallView {
    /// The simulator's id for the call.
    pub id: CallId,
    /// The SIP Call-ID of the (first) leg towards an extension.
    pub call_id: String,
    /// Kind.
    pub kind: CallKind,
    /// The caller's number (after a transfer by the caller: the transferee).
    pub from: String,
    /// The number dialled.
    pub to: String,
    /// The outside line involved (called, or shown as caller ID).
    pub outside_line: Option<String>,
    /// The extension the caller talks to or that rings (outbound calls: the
    /// calling extension); empty when none.
    pub extension: String,
    /// Where the call is.
    pub state: CallState,
    /// Why it ended (`caller_hangup`, `callee_hangup`, `rejected 486`, …).
    pub end_reason: Option<String>,
    /// RTP packets the simulated outside party received (filled by the API).
    pub rtp_received: u64,
    /// The number or extension the anchor is connected to now.
    pub talking_to: Option<String>,
    /// The routing target (`extension 1910`, `queue support`, …).
    pub target: String,
    /// The ACD queue, for queue calls.
    pub queue: Option<String>,
    /// The operator who answered, for queue calls.
    pub operator: Option<String>,
    /// Someone holds the call.
    pub held: bool,
    /// The campaign, for dialler calls.
    pub campaign: Option<String>,
    /// The call this one was joined into by an attended transfer.
    pub merged_into: Option<CallId>,
    /// Every leg, in creation order.
    pub legs: Vec<LegView>,
    /// Every transfer.
    pub transfers: Vec<TransferView>,
    /// Session refreshes (RFC 4028) the SIP endpoints of the call made:
    /// re-INVITEs and UPDATEs answered 2xx on legs with a session timer.
    pub session_refreshes: u32,
    /// Session refreshes the simulator made on the call's legs.
    pub session_refreshes_sent: u32,
    /// When it started (ms since the simulator started).
    pub created_ms: Millis,
    /// When it was answered.
    pub answered_ms: Option<Millis>,
    /// When it ended.
    pub ended_ms: Option<Millis>,
}

#[derive(Debug, Clone)]
struct PendingReinvite {
    /// The leg and transaction whose re-INVITE we relayed, if any.
    origin: Option<(LegId, TxnId)>,
}

/// How many ended calls are kept for the API.
pub const DEFAULT_KEEP_ENDED: usize = 20_000;

/// The PBX state machine.
pub struct Pbx {
    tenant: Arc<Tenant>,
    /// Registrar logic (REGISTER, and the credential check for INVITEs).
    pub registrar: Registrar,
    acd: Acd,
    dialler: Dialler,
    calls: BTreeMap<CallId, Call>,
    legs: HashMap<LegId, Leg>,
    next_call: CallId,
    next_leg: LegId,
    next_req: ReqId,
    reinvites: HashMap<ReqId, PendingReinvite>,
    actions: VecDeque<Action>,
    events: VecDeque<PbxEvent>,
    ended_order: VecDeque<CallId>,
    /// Ring deadlines of live calls, earliest first.
    rings: BTreeSet<(Millis, CallId)>,
    keep_ended: usize,
    session_base: u64,
    /// The session-timer settings in force.
    session: SessionTimerSettings,
    /// `[sip] transferor_hangs_up`: after an attended transfer, wait for the
    /// transferor's BYEs instead of sending ours.
    transferor_hangs_up: bool,
    /// Session-timer deadlines of legs, earliest first.
    timers: BTreeSet<(Millis, LegId)>,
}

fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        422 => "Session Interval Too Small",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        503 => "Service Unavailable",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => "Unknown",
    }
}

/// The reason phrase the simulator writes for `code`.
pub fn phrase(code: u16) -> &'static str {
    reason_phrase(code)
}

fn caller_ok(s: &str) -> bool {
    let d = s.strip_prefix('+').unwrap_or(s);
    !d.is_empty()
        && d.len() <= 32
        && d.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'*' || b == b'#')
}

impl Pbx {
    /// A PBX for `tenant`; `session_base` seeds the SDP session ids.
    pub fn new(tenant: Arc<Tenant>, session_base: u64) -> Pbx {
        let session = tenant.sip.session_timer();
        let transferor_hangs_up = tenant.sip.transferor_hangs_up;
        Pbx {
            registrar: Registrar::new(tenant.sip.algorithms()),
            acd: Acd::new(&tenant),
            dialler: Dialler::new(&tenant),
            tenant,
            calls: BTreeMap::new(),
            legs: HashMap::new(),
            next_call: 1,
            next_leg: 1,
            next_req: 1,
            reinvites: HashMap::new(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            ended_order: VecDeque::new(),
            rings: BTreeSet::new(),
            keep_ended: DEFAULT_KEEP_ENDED,
            session_base,
            session,
            transferor_hangs_up,
            timers: BTreeSet::new(),
        }
    }

    /// The session-timer settings in force (RFC 4028).
    pub fn session_timer(&self) -> SessionTimerSettings {
        self.session
    }

    /// Changes the session-timer settings: the interval and the refresher
    /// apply to calls set up from now on, `refresh` at once (legs where the
    /// simulator refreshes start or stop refreshing).
    pub fn set_session_timer(
        &mut self,
        s: SessionTimerSettings,
        now: Millis,
    ) -> Result<(), String> {
        s.check("session_expires")?;
        self.session = s;
        let ours: Vec<LegId> = self
            .legs
            .values()
            .filter(|l| l.state == LegState::Up && l.timer.as_ref().is_some_and(|t| t.we_refresh))
            .map(|l| l.id)
            .collect();
        for leg in ours {
            let idle = self
                .legs
                .get(&leg)
                .and_then(|l| l.timer.as_ref())
                .is_some_and(|t| t.deadline.is_none());
            match s.refresh {
                SessionRefresh::Never => self.set_deadline(leg, None),
                SessionRefresh::Normal if idle => self.arm_timer(leg, now),
                SessionRefresh::Normal => {}
            }
        }
        self.event(
            "session_timer_settings",
            None,
            json!({"session_expires": s.session_expires, "refresher": s.refresher, "refresh": s.refresh}),
        );
        Ok(())
    }

    /// Whether the transferor's legs are left for it to end after an
    /// attended transfer (`[sip] transferor_hangs_up`).
    pub fn transferor_hangs_up(&self) -> bool {
        self.transferor_hangs_up
    }

    /// Changes [`Pbx::transferor_hangs_up`] for transfers from now on.
    pub fn set_transferor_hangs_up(&mut self, on: bool) {
        self.transferor_hangs_up = on;
        self.event(
            "transfer_settings",
            None,
            json!({"transferor_hangs_up": on}),
        );
    }

    /// How many ended calls to keep for the API (older ones are forgotten).
    pub fn keep_ended_calls(&mut self, n: usize) {
        self.keep_ended = n.max(1);
    }

    /// The tenant.
    pub fn tenant(&self) -> &Arc<Tenant> {
        &self.tenant
    }

    // ----- outputs --------------------------------------------------------

    /// The next thing to send.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next event for the log.
    pub fn poll_event(&mut self) -> Option<PbxEvent> {
        self.events.pop_front()
    }

    /// The earliest deadline of the PBX, the ACD and the dialler.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.rings
            .first()
            .map(|(at, _)| *at)
            .into_iter()
            .chain(self.timers.first().map(|(at, _)| *at))
            .chain(self.acd.poll_timeout())
            .chain(self.dialler.poll_timeout())
            .min()
    }

    fn event(&mut self, kind: &'static str, call: Option<CallId>, detail: serde_json::Value) {
        self.events.push_back(PbxEvent { kind, call, detail });
    }

    // ----- registrar ------------------------------------------------------

    /// Handles one REGISTER.
    pub fn register(&mut self, req: &RegisterRequest, now: Millis) -> RegisterOutcome {
        let out = self.registrar.handle_register(&self.tenant, req, now);
        match &out {
            RegisterOutcome::Ok(bindings) => self.event(
                "registered",
                None,
                json!({"extension": req.user, "bindings": bindings.len()}),
            ),
            RegisterOutcome::Forbidden => self.event(
                "register_failed",
                None,
                json!({"extension": req.user, "reason": "wrong credentials"}),
            ),
            RegisterOutcome::RateLimited => self.event(
                "register_failed",
                None,
                json!({"extension": req.user, "reason": "rate limited"}),
            ),
            RegisterOutcome::Refused(why) => self.event(
                "register_failed",
                None,
                json!({"extension": req.user, "reason": why}),
            ),
            _ => {}
        }
        out
    }

    // ----- legs and calls -------------------------------------------------

    fn new_leg(
        &mut self,
        call: CallId,
        endpoint: Endpoint,
        inbound: bool,
        purpose: Purpose,
        now: Millis,
    ) -> LegId {
        let id = self.next_leg;
        self.next_leg += 1;
        self.legs.insert(
            id,
            Leg {
                id,
                call,
                endpoint,
                inbound,
                state: LegState::Calling,
                peer: None,
                purpose,
                remote_sdp: None,
                sent_sdp: None,
                sdp_version: 0,
                dialog: None,
                contact: None,
                held: false,
                transferring: false,
                needs_reoffer: false,
                presented: None,
                identity: None,
                early_answer: None,
                timer: None,
                end_reason: None,
                created_at: now,
                answered_at: None,
                ended_at: None,
            },
        );
        if let Some(c) = self.calls.get_mut(&call) {
            c.legs.push(id);
        }
        id
    }

    #[allow(clippy::too_many_arguments)]
    fn new_call(
        &mut self,
        kind: CallKind,
        anchor_endpoint: Endpoint,
        anchor_inbound: bool,
        anchor_purpose: Purpose,
        from: &str,
        to: &str,
        outside_line: Option<String>,
        now: Millis,
    ) -> (CallId, LegId) {
        let id = self.next_call;
        self.next_call += 1;
        self.calls.insert(
            id,
            Call {
                id,
                kind,
                anchor: 0,
                peer: None,
                attempts: Vec::new(),
                legs: Vec::new(),
                from: from.to_string(),
                to: to.to_string(),
                outside_line,
                target: String::new(),
                state: CallState::Calling,
                end_reason: None,
                queue: None,
                operator: None,
                group: None,
                ring_deadline: None,
                anchor_rung: false,
                transfers: Vec::new(),
                merged_into: None,
                campaign: None,
                failure: None,
                created_at: now,
                answered_at: None,
                ended_at: None,
            },
        );
        let leg = self.new_leg(id, anchor_endpoint, anchor_inbound, anchor_purpose, now);
        if let Some(c) = self.calls.get_mut(&id) {
            c.anchor = leg;
        }
        (id, leg)
    }

    fn live(&self, leg: LegId) -> Option<&Leg> {
        self.legs.get(&leg).filter(|l| l.state != LegState::Ended)
    }

    /// `raw` rewritten as the next SDP we send on `to`.
    fn body_for(&mut self, to: LegId, raw: &[u8]) -> Vec<u8> {
        let session = self.session_base.wrapping_add(to);
        let Some(l) = self.legs.get_mut(&to) else {
            return raw.to_vec();
        };
        l.sdp_version += 1;
        let body = sdp_util::rewrite_origin(raw, session, l.sdp_version);
        l.sent_sdp = Some(body.clone());
        body
    }

    /// The offer for a new leg `to`, made from `from`'s last SDP (sendrecv).
    fn offer_from(&mut self, from: LegId, to: LegId) -> Option<Vec<u8>> {
        let raw = self.legs.get(&from)?.remote_sdp.clone()?;
        let raw = sdp_util::set_direction(&raw, Direction::SendRecv);
        Some(self.body_for(to, &raw))
    }

    /// How the party on `leg` is presented to others in `call`.
    fn identity_of(&self, leg: LegId) -> Presented {
        let Some(l) = self.legs.get(&leg) else {
            return Presented::default();
        };
        let call = self.calls.get(&l.call);
        match &l.endpoint {
            Endpoint::Extension(e) => Presented {
                from_user: e.clone(),
                from_name: self
                    .tenant
                    .extensions
                    .get(e)
                    .map(|x| x.name.clone())
                    .filter(|n| !n.is_empty()),
                pai: Some(e.clone()),
                called_party: None,
                headers: Vec::new(),
            },
            Endpoint::Trunk(n) | Endpoint::Party(n) => {
                let mut headers = Vec::new();
                if let Some((campaign, _)) = call.and_then(|c| c.campaign.as_ref()) {
                    headers.push(("X-BlueBean-Campaign".to_string(), campaign.clone()));
                }
                if let Some(id) = &l.identity {
                    return Presented {
                        from_user: id.from_user.clone(),
                        from_name: id.from_display.clone(),
                        pai: id.pai_user.clone(),
                        called_party: call.and_then(|c| c.outside_line.clone()),
                        headers,
                    };
                }
                Presented {
                    from_user: n.clone(),
                    from_name: None,
                    pai: Some(n.clone()),
                    called_party: call.and_then(|c| c.outside_line.clone()),
                    headers,
                }
            }
        }
    }

    /// Rings `ext` (every registered contact) for `call` on behalf of `source`.
    fn dial_extension(
        &mut self,
        call: CallId,
        ext: &str,
        purpose: Purpose,
        source: LegId,
        presented: Presented,
        now: Millis,
    ) -> Result<(), u16> {
        let contacts = self.registrar.lookup(ext, now);
        if contacts.is_empty() {
            return Err(480);
        }
        for b in contacts {
            let leg = self.new_leg(
                call,
                Endpoint::Extension(ext.to_string()),
                false,
                purpose.clone(),
                now,
            );
            let body = self.offer_from(source, leg);
            if let Some(l) = self.legs.get_mut(&leg) {
                l.contact = Some(b.contact.clone());
                l.presented = Some(presented.clone());
            }
            if let Some(c) = self.calls.get_mut(&call) {
                c.attempts.push(leg);
            }
            let headers = self.timer_offer_headers();
            self.actions.push_back(Action::Invite {
                leg,
                to_user: ext.to_string(),
                contact: b.contact,
                source: b.source,
                presented: presented.clone(),
                body,
                headers,
            });
        }
        Ok(())
    }

    fn dial_party(
        &mut self,
        call: CallId,
        number: &str,
        caller_id: String,
        purpose: Purpose,
        source: Option<LegId>,
        now: Millis,
    ) -> LegId {
        let leg = self.new_leg(
            call,
            Endpoint::Party(number.to_string()),
            false,
            purpose,
            now,
        );
        let body = source.and_then(|s| self.offer_from(s, leg));
        if let Some(l) = self.legs.get_mut(&leg) {
            l.presented = Some(Presented {
                from_user: caller_id.clone(),
                from_name: None,
                pai: Some(caller_id.clone()),
                called_party: None,
                headers: Vec::new(),
            });
        }
        if let Some(c) = self.calls.get_mut(&call) {
            c.attempts.push(leg);
        }
        self.actions.push_back(Action::CallParty {
            leg,
            number: number.to_string(),
            caller_id,
            body,
        });
        leg
    }

    // ----- starting calls -------------------------------------------------

    /// A new INVITE (no dialog yet).
    pub fn incoming_invite(&mut self, inv: InboundInvite, now: Millis) -> InviteDecision {
        let tenant = self.tenant.clone();
        let is_ext = tenant.extensions.contains_key(&inv.from_user);
        if is_ext && tenant.sip.challenge_invites {
            match self.registrar.authenticate(
                &tenant,
                AuthRequest {
                    method: "INVITE",
                    user: &inv.from_user,
                    request_uri: &inv.request_uri,
                    authorization: inv.authorization.as_deref(),
                    source: inv.source,
                },
                now,
            ) {
                None | Some(RegisterOutcome::Ok(_)) => {}
                Some(RegisterOutcome::Challenge(values)) => {
                    return InviteDecision::Challenge(values);
                }
                Some(RegisterOutcome::NotFound) => {
                    return InviteDecision::Refuse {
                        code: 404,
                        reason: format!("no extension {}", inv.from_user),
                    };
                }
                Some(RegisterOutcome::Refused(why)) => {
                    self.event(
                        "invite_refused",
                        None,
                        json!({"from": inv.from_user, "reason": why}),
                    );
                    return InviteDecision::Refuse {
                        code: 403,
                        reason: why.into(),
                    };
                }
                Some(RegisterOutcome::Forbidden | RegisterOutcome::RateLimited) => {
                    self.event(
                        "invite_refused",
                        None,
                        json!({"from": inv.from_user, "reason": "wrong credentials"}),
                    );
                    return InviteDecision::Refuse {
                        code: 403,
                        reason: "wrong credentials".into(),
                    };
                }
            }
        }
        if let Some(rep) = inv.replaces.clone() {
            if !is_ext {
                return InviteDecision::Refuse {
                    code: 403,
                    reason: "only extensions may replace calls".into(),
                };
            }
            return self.invite_replaces(inv, rep, now);
        }
        let dest = if is_ext {
            route::from_extension(&tenant, &inv.from_user, &inv.dialled)
        } else if !tenant.sip.trunk_calls {
            Err(NoRoute {
                code: 403,
                reason: format!(
                    "'{}' is not an extension and trunk calls are off ([sip] trunk_calls)",
                    inv.from_user
                ),
            })
        } else if !caller_ok(&inv.from_user) {
            Err(NoRoute {
                code: 403,
                reason: "the caller is neither an extension nor a phone number".into(),
            })
        } else {
            route::from_outside(&tenant, &inv.dialled)
        };
        let dest = match dest {
            Ok(d) => d,
            Err(nr) => {
                self.event(
                    "invite_refused",
                    None,
                    json!({"from": inv.from_user, "to": inv.dialled, "code": nr.code, "reason": nr.reason}),
                );
                return InviteDecision::Refuse {
                    code: nr.code,
                    reason: nr.reason,
                };
            }
        };
        let timer = match self.timer_for_invite(&inv) {
            Ok(t) => t,
            Err(refused) => return refused,
        };
        let (endpoint, kind) = if is_ext {
            let kind = match dest {
                Dest::Outside { .. } => CallKind::Outbound,
                _ => CallKind::Internal,
            };
            (Endpoint::Extension(inv.from_user.clone()), kind)
        } else {
            (Endpoint::Trunk(inv.from_user.clone()), CallKind::Inbound)
        };
        let outside_line = match &dest {
            Dest::Line { line, .. } => Some(line.clone()),
            Dest::Outside { caller_id, .. } => caller_id.clone(),
            Dest::Extension(_) => None,
        };
        let (call, leg) = self.new_call(
            kind,
            endpoint,
            true,
            Purpose::Origin,
            &inv.from_user,
            &inv.dialled,
            outside_line,
            now,
        );
        if let Some(l) = self.legs.get_mut(&leg) {
            l.remote_sdp = inv.body.clone();
            l.dialog = Some(inv.dialog.clone());
            l.timer = timer;
        }
        self.event(
            "call_placed",
            Some(call),
            json!({"kind": kind, "from": inv.from_user, "to": inv.dialled, "call_id": inv.dialog.call_id}),
        );
        self.start_dest(call, dest, now);
        self.pump(now);
        InviteDecision::Accept(leg)
    }

    /// A simulated outside caller `from` calls the outside line `to`; `body`
    /// is the party's SDP offer. Returns the call and the party's leg.
    pub fn place_call(
        &mut self,
        from: &str,
        to: &str,
        body: Option<Vec<u8>>,
        now: Millis,
    ) -> Result<(CallId, LegId), PlaceError> {
        self.place_call_as(from, to, body, None, now)
    }

    /// Like [`Pbx::place_call`], the caller presenting itself to the
    /// extensions it rings as `identity` (raw From/P-Asserted-Identity)
    /// instead of its number `from`, when given.
    pub fn place_call_as(
        &mut self,
        from: &str,
        to: &str,
        body: Option<Vec<u8>>,
        identity: Option<CallerIdentity>,
        now: Millis,
    ) -> Result<(CallId, LegId), PlaceError> {
        if !caller_ok(from) {
            return Err(PlaceError::BadCaller(from.chars().take(40).collect()));
        }
        let tenant = self.tenant.clone();
        let Ok(dest) = route::from_outside(&tenant, to) else {
            return Err(PlaceError::UnknownLine(to.chars().take(40).collect()));
        };
        if let Dest::Line {
            route: Route::Extension(ext),
            ..
        } = &dest
            && self.registrar.lookup(ext, now).is_empty()
        {
            return Err(PlaceError::NotRegistered(ext.clone()));
        }
        let (call, leg) = self.new_call(
            CallKind::Inbound,
            Endpoint::Party(from.to_string()),
            true,
            Purpose::Origin,
            from,
            to,
            Some(to.to_string()),
            now,
        );
        if let Some(l) = self.legs.get_mut(&leg) {
            l.remote_sdp = body;
            l.identity = identity;
        }
        self.event(
            "call_placed",
            Some(call),
            json!({"kind": "inbound", "from": from, "to": to, "extension": self.route_extension(&dest)}),
        );
        self.start_dest(call, dest, now);
        self.pump(now);
        Ok((call, leg))
    }

    fn route_extension(&self, dest: &Dest) -> Option<String> {
        match dest {
            Dest::Extension(e)
            | Dest::Line {
                route: Route::Extension(e),
                ..
            } => Some(e.clone()),
            _ => None,
        }
    }

    fn start_dest(&mut self, call: CallId, dest: Dest, now: Millis) {
        match dest {
            Dest::Extension(ext) => self.route_to(call, Route::Extension(ext), now),
            Dest::Line { route, .. } => self.route_to(call, route, now),
            Dest::Outside {
                number,
                caller_id,
                prefix,
            } => {
                let Some(anchor) = self.calls.get(&call).map(|c| c.anchor) else {
                    return;
                };
                let shown = caller_id.clone().unwrap_or_else(|| {
                    self.legs
                        .get(&anchor)
                        .map(|l| l.endpoint.number().to_string())
                        .unwrap_or_default()
                });
                if let Some(c) = self.calls.get_mut(&call) {
                    c.target = format!("outside {number}");
                    set_ring(
                        &mut self.rings,
                        c,
                        Some(now + self.tenant.sip.ring_timeout_ms),
                    );
                }
                self.event(
                    "call_routed",
                    Some(call),
                    json!({"target": "outside", "number": number, "caller_id": shown, "prefix": prefix}),
                );
                self.dial_party(call, &number, shown, Purpose::Direct, Some(anchor), now);
            }
        }
    }

    fn route_to(&mut self, call: CallId, route: Route, now: Millis) {
        let Some(anchor) = self.calls.get(&call).map(|c| c.anchor) else {
            return;
        };
        let presented = self.identity_of(anchor);
        match route {
            Route::Extension(ext) => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.target = format!("extension {ext}");
                    set_ring(
                        &mut self.rings,
                        c,
                        Some(now + self.tenant.sip.ring_timeout_ms),
                    );
                }
                if let Err(code) =
                    self.dial_extension(call, &ext, Purpose::Direct, anchor, presented, now)
                {
                    self.fail_call(
                        call,
                        code,
                        &format!("extension {ext} is not registered"),
                        now,
                    );
                }
            }
            Route::Queue(q) => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.target = format!("queue {q}");
                    c.queue = Some(q.clone());
                    set_ring(&mut self.rings, c, None);
                }
                self.acd.call_arrived(call, &q, None, now);
            }
            Route::RingGroup(g) => {
                let Some(group) = self.tenant.ring_groups.get(&g).cloned() else {
                    self.fail_call(call, 500, &format!("no ring group {g}"), now);
                    return;
                };
                let sequential = group.strategy == RingStrategy::Sequential;
                if let Some(c) = self.calls.get_mut(&call) {
                    c.target = format!("ring_group {g}");
                    c.group = Some(GroupState {
                        members: group.extensions.clone(),
                        next: 0,
                        sequential,
                        ring_ms: group.ring_timeout_ms,
                    });
                }
                self.ring_group_next(call, now);
            }
        }
    }

    /// Rings the next member (sequential) or every member (ring all).
    fn ring_group_next(&mut self, call: CallId, now: Millis) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let Some(g) = c.group.clone() else { return };
        let anchor = c.anchor;
        let presented = self.identity_of(anchor);
        if g.sequential {
            let mut next = g.next;
            while next < g.members.len() {
                let ext = g.members[next].clone();
                next += 1;
                if self
                    .dial_extension(call, &ext, Purpose::Group, anchor, presented.clone(), now)
                    .is_ok()
                {
                    if let Some(c) = self.calls.get_mut(&call) {
                        if let Some(gs) = c.group.as_mut() {
                            gs.next = next;
                        }
                        set_ring(&mut self.rings, c, Some(now + g.ring_ms));
                    }
                    return;
                }
            }
            self.fail_call(call, 480, "no ring-group member answered", now);
        } else {
            let mut any = false;
            for ext in &g.members {
                any |= self
                    .dial_extension(call, ext, Purpose::Group, anchor, presented.clone(), now)
                    .is_ok();
            }
            if let Some(c) = self.calls.get_mut(&call) {
                if let Some(gs) = c.group.as_mut() {
                    gs.next = gs.members.len();
                }
                set_ring(&mut self.rings, c, Some(now + g.ring_ms));
            }
            if !any {
                self.fail_call(call, 480, "no ring-group member is registered", now);
            }
        }
    }

    // ----- leg events -----------------------------------------------------

    /// The driver learned a leg's dialog identity (or its remote tag).
    pub fn leg_dialog(&mut self, leg: LegId, key: DialogKey) {
        if let Some(l) = self.legs.get_mut(&leg) {
            l.dialog = Some(key);
        }
    }

    /// An outbound leg got 180/183.
    pub fn leg_ringing(&mut self, leg: LegId, body: Option<Vec<u8>>, now: Millis) {
        let Some(l) = self.live(leg) else { return };
        if l.inbound || l.state == LegState::Up {
            return;
        }
        let (call, purpose) = (l.call, l.purpose.clone());
        let first = l.state == LegState::Calling;
        if let Some(l) = self.legs.get_mut(&leg) {
            l.state = LegState::Ringing;
            if body.is_some() {
                l.remote_sdp = body.clone();
            }
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let anchor = c.anchor;
        let newly = c.state == CallState::Calling;
        if newly {
            c.state = CallState::Ringing;
        }
        let ring_anchor = !c.anchor_rung && anchor != leg && c.peer.is_none();
        if ring_anchor {
            c.anchor_rung = true;
        }
        if newly {
            let who = self.legs.get(&leg).map(|l| l.endpoint.clone());
            self.event("call_ringing", Some(call), json!({"endpoint": who}));
        }
        if let Purpose::Transfer { transferor, .. } = purpose {
            if first && self.live(transferor).is_some() {
                self.actions.push_back(Action::Notify {
                    leg: transferor,
                    code: 180,
                    terminated: false,
                });
            }
            return;
        }
        // Early media: the first 183 with SDP goes to the caller even after
        // a 180 without one.
        let early = body.is_some()
            && anchor != leg
            && self.calls.get(&call).is_some_and(|c| c.peer.is_none())
            && self
                .legs
                .get(&anchor)
                .is_some_and(|a| a.early_answer.is_none());
        if (ring_anchor || early)
            && self
                .live(anchor)
                .is_some_and(|a| a.inbound && a.state != LegState::Up)
        {
            let body = body.map(|b| {
                let sent = self.body_for(anchor, &b);
                if let Some(a) = self.legs.get_mut(&anchor) {
                    a.early_answer = Some((b, sent.clone()));
                }
                sent
            });
            if body.is_some() {
                let who = self.legs.get(&leg).map(|l| l.endpoint.clone());
                self.event("early_media", Some(call), json!({"endpoint": who}));
            }
            self.actions.push_back(Action::Ring { leg: anchor, body });
        }
        self.pump(now);
    }

    /// An outbound leg was answered (200, ACK sent).
    pub fn leg_answered(&mut self, leg: LegId, body: Option<Vec<u8>>, now: Millis) {
        let Some(l) = self.live(leg) else { return };
        if l.inbound || l.state == LegState::Up {
            return;
        }
        let (call, purpose) = (l.call, l.purpose.clone());
        if let Some(l) = self.legs.get_mut(&leg) {
            l.state = LegState::Up;
            l.answered_at = Some(now);
            if body.is_some() {
                l.remote_sdp = body;
            }
        }
        self.arm_timer(leg, now);
        if let Some(c) = self.calls.get_mut(&call) {
            c.attempts.retain(|a| *a != leg);
        }
        match purpose {
            Purpose::Campaign { attempt } => {
                self.dialler.answered(attempt);
                let Some((queue, wait)) = self.dialler.abandon_after(attempt) else {
                    return;
                };
                if let Some(c) = self.calls.get_mut(&call) {
                    c.queue = Some(queue.clone());
                    set_ring(&mut self.rings, c, None);
                    c.target = format!("queue {queue}");
                }
                self.event("campaign_answered", Some(call), json!({"attempt": attempt}));
                self.acd.call_arrived(call, &queue, Some(now + wait), now);
            }
            Purpose::Transfer {
                transferor,
                transferee,
            } => self.complete_blind_transfer(call, leg, transferor, transferee, now),
            Purpose::Direct
            | Purpose::Group
            | Purpose::Offer { .. }
            | Purpose::Replacing
            | Purpose::Origin => {
                let Some(c) = self.calls.get(&call) else {
                    return;
                };
                if c.peer.is_some() || c.state == CallState::Ended {
                    // Another fork answered first.
                    self.end_leg(leg, "answered_late", now);
                    return;
                }
                let others: Vec<LegId> = c.attempts.clone();
                let anchor = c.anchor;
                for o in others {
                    self.end_leg(o, "answered_elsewhere", now);
                }
                if let Some(c) = self.calls.get_mut(&call) {
                    c.attempts.clear();
                    c.group = None;
                    set_ring(&mut self.rings, c, None);
                }
                if let Purpose::Offer { operator } = &purpose {
                    self.acd.offer_answered(call, operator, now);
                    let campaign = self.calls.get_mut(&call).and_then(|c| {
                        c.operator = Some(operator.clone());
                        c.campaign.clone()
                    });
                    if let Some((_, attempt)) = campaign {
                        self.dialler.connected(attempt);
                    }
                }
                self.connect(call, anchor, leg, now);
            }
        }
        self.pump(now);
    }

    /// Pairs `a` (the side already in the call) with `b` (just answered).
    fn connect(&mut self, call: CallId, a: LegId, b: LegId, now: Millis) {
        if let Some(l) = self.legs.get_mut(&a) {
            l.peer = Some(b);
        }
        if let Some(l) = self.legs.get_mut(&b) {
            l.peer = Some(a);
        }
        let a_up = self.live(a).is_some_and(|l| l.state == LegState::Up);
        let b_sdp = self.legs.get(&b).and_then(|l| l.remote_sdp.clone());
        if a_up {
            if let Some(sdp) = b_sdp {
                self.reinvite_leg(a, &sdp, None);
            }
        } else {
            // The SDP of a 183 already relayed stands when the answer repeats it.
            let early = self.legs.get(&a).and_then(|l| l.early_answer.clone());
            let body = b_sdp.map(|s| match early {
                Some((raw, sent)) if raw == s => sent,
                _ => self.body_for(a, &s),
            });
            let headers = self.timer_answer_headers(a);
            self.actions.push_back(Action::Answer {
                leg: a,
                body,
                headers,
            });
            if let Some(l) = self.legs.get_mut(&a) {
                l.state = LegState::Up;
                l.answered_at = Some(now);
            }
            self.arm_timer(a, now);
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.anchor == a {
            c.peer = Some(b);
        } else if c.anchor == b {
            c.peer = Some(a);
        }
        let first = c.answered_at.is_none();
        c.state = CallState::Answered;
        set_ring(&mut self.rings, c, None);
        if first {
            c.answered_at = Some(now);
        }
        let who = self.legs.get(&b).map(|l| l.endpoint.clone());
        if first {
            self.event("call_answered", Some(call), json!({"endpoint": who}));
        } else {
            self.event("call_connected", Some(call), json!({"endpoint": who}));
        }
    }

    fn reinvite_leg(&mut self, leg: LegId, raw: &[u8], origin: Option<(LegId, TxnId)>) {
        let raw = sdp_util::set_direction(raw, sdp_util::direction(raw));
        let body = self.body_for(leg, &raw);
        let req = self.next_req;
        self.next_req += 1;
        self.reinvites.insert(req, PendingReinvite { origin });
        self.actions.push_back(Action::ReInvite { leg, req, body });
    }

    /// An outbound leg failed with a final status (or a timeout, as 408).
    pub fn leg_failed(&mut self, leg: LegId, code: u16, now: Millis) {
        let Some(l) = self.live(leg) else { return };
        if l.inbound {
            self.leg_ended(leg, &format!("failed {code}"), now);
            return;
        }
        let (call, purpose) = (l.call, l.purpose.clone());
        if let Some(l) = self.legs.get_mut(&leg) {
            l.state = LegState::Ended;
            l.end_reason = Some(format!("failed {code}"));
            l.ended_at = Some(now);
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.attempts.retain(|a| *a != leg);
        // 486 beats 480 beats anything else when several forks fail.
        c.failure = Some(match (c.failure, code) {
            (Some(486), _) => 486,
            (_, 486) => 486,
            (Some(prev), 487) => prev,
            _ => code,
        });
        let no_attempts = c.attempts.is_empty();
        let connected = c.peer.is_some();
        match purpose {
            Purpose::Campaign { attempt } => {
                self.dialler.failed(attempt, code);
                self.end_call(call, &reason_for(code), now);
            }
            Purpose::Transfer { transferor, .. } => {
                if no_attempts {
                    self.fail_transfer(call, transferor, code, now);
                }
            }
            Purpose::Offer { operator } => {
                self.acd
                    .offer_failed(call, &operator, &format!("refused {code}"), now);
            }
            Purpose::Group => {
                let sequential = self
                    .calls
                    .get(&call)
                    .and_then(|c| c.group.as_ref())
                    .is_some_and(|g| g.sequential);
                if no_attempts && !connected {
                    if sequential {
                        self.ring_group_next(call, now);
                    } else {
                        self.fail_call(call, 480, "no ring-group member answered", now);
                    }
                }
            }
            Purpose::Direct | Purpose::Replacing | Purpose::Origin => {
                if no_attempts && !connected {
                    let code = self
                        .calls
                        .get(&call)
                        .and_then(|c| c.failure)
                        .unwrap_or(code);
                    self.fail_call(call, code, &reason_for(code), now);
                }
            }
        }
        self.pump(now);
    }

    /// The endpoint of `leg` hung up (BYE, or CANCEL of an inbound leg).
    pub fn leg_ended(&mut self, leg: LegId, reason: &str, now: Millis) {
        let Some(l) = self.live(leg) else { return };
        let (call, inbound, state, transferring, purpose) = (
            l.call,
            l.inbound,
            l.state,
            l.transferring,
            l.purpose.clone(),
        );
        if !inbound && state != LegState::Up {
            // An outbound leg that never answered: a failure.
            self.leg_failed(leg, 487, now);
            return;
        }
        if let Some(l) = self.legs.get_mut(&leg) {
            l.state = LegState::Ended;
            l.end_reason = Some(reason.to_string());
            l.ended_at = Some(now);
        }
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let (anchor, peer) = (c.anchor, c.peer);
        if transferring {
            // The transferor leaves while its blind transfer is under way.
            let other = if anchor == leg { peer } else { Some(anchor) };
            if let Some(other) = other {
                if let Some(o) = self.legs.get_mut(&other) {
                    o.peer = None;
                }
                if let Some(c) = self.calls.get_mut(&call) {
                    c.anchor = other;
                    c.peer = None;
                }
            }
            self.release_operator(call, leg, now);
            self.pump(now);
            return;
        }
        if leg == anchor {
            let reason = if reason == "bye" || reason == "cancel" {
                "caller_hangup"
            } else {
                reason
            };
            if let Purpose::Campaign { attempt } = purpose {
                self.dialler.ended(attempt);
            }
            self.end_call(call, reason, now);
        } else if Some(leg) == peer {
            let reason = if reason == "bye" {
                "callee_hangup"
            } else {
                reason
            };
            self.end_call(call, reason, now);
        }
        // Otherwise a leg already detached by a transfer: nothing else changes.
        self.pump(now);
    }

    /// Ends one leg from our side (CANCEL, BYE or a failure response).
    fn end_leg(&mut self, leg: LegId, reason: &str, now: Millis) {
        let Some(l) = self.live(leg) else { return };
        let action = match (l.inbound, l.state) {
            (_, LegState::Up) => Action::Bye { leg },
            (false, _) => Action::Cancel { leg },
            (true, _) => Action::Reject { leg, code: 487 },
        };
        self.actions.push_back(action);
        if let Some(l) = self.legs.get_mut(&leg) {
            l.state = LegState::Ended;
            l.end_reason = Some(reason.to_string());
            l.ended_at = Some(now);
        }
    }

    /// The call could not be completed: the caller hears `code`.
    fn fail_call(&mut self, call: CallId, code: u16, why: &str, now: Millis) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let anchor = c.anchor;
        if let Some(a) = self.live(anchor)
            && a.inbound
            && a.state != LegState::Up
        {
            self.actions.push_back(Action::Reject { leg: anchor, code });
            if let Some(l) = self.legs.get_mut(&anchor) {
                l.state = LegState::Ended;
                l.end_reason = Some(format!("rejected {code}"));
                l.ended_at = Some(now);
            }
        }
        self.event(
            "call_failed",
            Some(call),
            json!({"code": code, "reason": why}),
        );
        self.end_call(call, &format!("rejected {code}"), now);
    }

    /// Ends every live leg of the call and the call itself.
    fn end_call(&mut self, call: CallId, reason: &str, now: Millis) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if c.state == CallState::Ended {
            return;
        }
        let legs = c.legs.clone();
        let campaign = c.campaign.clone();
        for leg in legs {
            if self.live(leg).is_some() {
                let transferring_away = self.legs.get(&leg).is_some_and(|l| l.call != call);
                if !transferring_away {
                    self.end_leg(leg, reason, now);
                }
            }
        }
        if let Some(c) = self.calls.get_mut(&call) {
            c.state = CallState::Ended;
            c.end_reason = Some(reason.to_string());
            c.ended_at = Some(now);
            c.attempts.clear();
            set_ring(&mut self.rings, c, None);
        }
        self.acd.call_ended(call, now);
        if let Some((_, attempt)) = campaign {
            self.dialler.ended(attempt);
        }
        self.event("call_ended", Some(call), json!({"reason": reason}));
        self.ended_order.push_back(call);
        while self.ended_order.len() > self.keep_ended {
            if let Some(old) = self.ended_order.pop_front()
                && let Some(c) = self.calls.remove(&old)
            {
                for l in c.legs {
                    if self.legs.get(&l).is_some_and(|x| x.call == old) {
                        self.legs.remove(&l);
                    }
                }
            }
        }
    }

    // ----- in-dialog requests ----------------------------------------------

    /// A re-INVITE (or UPDATE with SDP) arrived on `leg`; answer with
    /// [`Action::Respond`] for `txn`.
    pub fn reinvite(&mut self, leg: LegId, txn: TxnId, body: Option<Vec<u8>>, now: Millis) {
        let Some(l) = self.live(leg) else {
            self.actions.push_back(Action::Respond {
                leg,
                txn,
                code: 481,
                body: None,
                headers: Vec::new(),
            });
            return;
        };
        let (call, peer, was_held) = (l.call, l.peer, l.held);
        if let Some(b) = &body {
            let held = sdp_util::is_hold(b);
            if let Some(l) = self.legs.get_mut(&leg) {
                l.remote_sdp = Some(b.clone());
                l.held = held;
            }
            if held != was_held {
                let who = self.legs.get(&leg).map(|l| l.endpoint.clone());
                self.event(
                    if held { "call_held" } else { "call_resumed" },
                    Some(call),
                    json!({"by": who}),
                );
            }
        }
        let peer_up = peer.filter(|p| self.live(*p).is_some_and(|l| l.state == LegState::Up));
        match (peer_up, &body) {
            (Some(p), Some(b)) => {
                let b = b.clone();
                self.reinvite_leg(p, &b, Some((leg, txn)));
            }
            _ => {
                // Answer ourselves with what we last sent, in the answering direction.
                let dir = body
                    .as_deref()
                    .map(sdp_util::direction)
                    .unwrap_or(Direction::SendRecv)
                    .answer_to();
                let last = self.legs.get(&leg).and_then(|l| l.sent_sdp.clone());
                let answer = last.map(|s| {
                    let s = sdp_util::set_direction(&s, dir);
                    self.body_for(leg, &s)
                });
                self.note_refresh(leg, now);
                let headers = self.timer_answer_headers(leg);
                self.actions.push_back(Action::Respond {
                    leg,
                    txn,
                    code: 200,
                    body: answer,
                    headers,
                });
            }
        }
        self.pump(now);
    }

    /// The answer to a re-INVITE we sent.
    pub fn reinvite_done(
        &mut self,
        leg: LegId,
        req: ReqId,
        code: u16,
        body: Option<Vec<u8>>,
        now: Millis,
    ) {
        let Some(p) = self.reinvites.remove(&req) else {
            return;
        };
        if (200..300).contains(&code)
            && let Some(b) = &body
            && let Some(l) = self.legs.get_mut(&leg)
        {
            l.remote_sdp = Some(b.clone());
        }
        if let Some((origin, txn)) = p.origin {
            if self.live(origin).is_none() {
                // Still answer, so the driver lets go of the transaction.
                self.actions.push_back(Action::Respond {
                    leg: origin,
                    txn,
                    code: 481,
                    body: None,
                    headers: Vec::new(),
                });
                return;
            }
            let answer = if (200..300).contains(&code) {
                body.or_else(|| self.legs.get(&leg).and_then(|l| l.remote_sdp.clone()))
                    .map(|b| self.body_for(origin, &b))
            } else {
                None
            };
            let code = if code == 0 { 500 } else { code };
            let headers = if (200..300).contains(&code) {
                self.note_refresh(origin, now);
                self.timer_answer_headers(origin)
            } else {
                Vec::new()
            };
            self.actions.push_back(Action::Respond {
                leg: origin,
                txn,
                code,
                body: answer,
                headers,
            });
        }
        self.pump(now);
    }

    fn find_dialog(&self, r: &ReplacesRef) -> Option<LegId> {
        self.legs
            .values()
            .filter(|l| l.state != LegState::Ended)
            .find(|l| {
                l.dialog.as_ref().is_some_and(|d| {
                    let tags = |a: &str, b: &str| {
                        (d.local_tag == a && d.remote_tag == b)
                            // An early dialog named by a UA that has not
                            // seen our tag yet: the other tag must match.
                            || (a.is_empty() && !b.is_empty() && d.remote_tag == b)
                    };
                    d.call_id == r.call_id
                        && (tags(&r.to_tag, &r.from_tag) || tags(&r.from_tag, &r.to_tag))
                })
            })
            .map(|l| l.id)
    }

    /// A REFER arrived on `leg`; answer it with [`Action::Respond`] for `txn`.
    pub fn refer(&mut self, leg: LegId, txn: TxnId, refer: ReferRequest, now: Millis) {
        let respond = |code| Action::Respond {
            leg,
            txn,
            code,
            body: None,
            headers: Vec::new(),
        };
        let Some(l) = self.live(leg) else {
            self.actions.push_back(respond(481));
            return;
        };
        let (call, peer) = (l.call, l.peer);
        let Some(by) = l.endpoint.extension().map(str::to_string) else {
            self.actions.push_back(respond(403));
            return;
        };
        let Some(transferee) =
            peer.filter(|p| self.live(*p).is_some_and(|x| x.state == LegState::Up))
        else {
            self.actions.push_back(respond(403));
            self.event(
                "transfer_refused",
                Some(call),
                json!({"by": by, "reason": "no connected call to transfer"}),
            );
            return;
        };
        if l.state != LegState::Up || l.transferring {
            self.actions.push_back(respond(491));
            return;
        }
        self.actions.push_back(respond(202));
        if let Some(rep) = refer.replaces {
            self.attended_transfer(leg, transferee, &by, &refer.target, rep, now);
        } else {
            self.blind_transfer(call, leg, transferee, &by, &refer.target, now);
        }
        self.pump(now);
    }

    fn blind_transfer(
        &mut self,
        call: CallId,
        transferor: LegId,
        transferee: LegId,
        by: &str,
        target: &str,
        now: Millis,
    ) {
        self.actions.push_back(Action::Notify {
            leg: transferor,
            code: 100,
            terminated: false,
        });
        let transferee_number = self
            .legs
            .get(&transferee)
            .map(|l| l.endpoint.number().to_string())
            .unwrap_or_default();
        if let Some(c) = self.calls.get_mut(&call) {
            c.transfers.push(TransferView {
                kind: "blind",
                by: by.to_string(),
                transferee: transferee_number.clone(),
                target: target.to_string(),
                outcome: "pending".into(),
                at_ms: now,
            });
        }
        self.event(
            "transfer_started",
            Some(call),
            json!({"kind": "blind", "by": by, "transferee": transferee_number, "target": target}),
        );
        let tenant = self.tenant.clone();
        let dest = match route::from_extension(&tenant, by, target) {
            Ok(d) => d,
            Err(nr) => {
                self.fail_transfer(call, transferor, nr.code, now);
                return;
            }
        };
        if let Some(l) = self.legs.get_mut(&transferor) {
            l.transferring = true;
        }
        let purpose = Purpose::Transfer {
            transferor,
            transferee,
        };
        let presented = self.identity_of(transferee);
        let result = match dest {
            Dest::Extension(e)
            | Dest::Line {
                route: Route::Extension(e),
                ..
            } => self.dial_extension(call, &e, purpose, transferee, presented, now),
            Dest::Line {
                route: Route::RingGroup(g),
                ..
            } => {
                let members = self
                    .tenant
                    .ring_groups
                    .get(&g)
                    .map(|g| g.extensions.clone())
                    .unwrap_or_default();
                let mut any = false;
                for m in members {
                    any |= self
                        .dial_extension(
                            call,
                            &m,
                            purpose.clone(),
                            transferee,
                            presented.clone(),
                            now,
                        )
                        .is_ok();
                }
                if any { Ok(()) } else { Err(480) }
            }
            Dest::Line {
                route: Route::Queue(q),
                ..
            } => {
                self.requeue(call, transferor, transferee, &q, now);
                Ok(())
            }
            Dest::Outside {
                number, caller_id, ..
            } => {
                let shown = presented_number(&presented, caller_id);
                self.dial_party(call, &number, shown, purpose, Some(transferee), now);
                Ok(())
            }
        };
        if let Err(code) = result {
            self.fail_transfer(call, transferor, code, now);
        }
    }

    /// Blind transfer to a queue: the transferee waits there; the transferor is released.
    fn requeue(
        &mut self,
        call: CallId,
        transferor: LegId,
        transferee: LegId,
        q: &str,
        now: Millis,
    ) {
        self.actions.push_back(Action::Notify {
            leg: transferor,
            code: 200,
            terminated: true,
        });
        if let Some(l) = self.legs.get_mut(&transferor) {
            l.transferring = false;
            l.peer = None;
        }
        if let Some(l) = self.legs.get_mut(&transferee) {
            l.peer = None;
        }
        self.release_operator(call, transferor, now);
        if let Some(c) = self.calls.get_mut(&call) {
            c.anchor = transferee;
            c.peer = None;
            c.queue = Some(q.to_string());
            c.operator = None;
            c.target = format!("queue {q}");
            if let Some(t) = c.transfers.last_mut() {
                t.kind = "requeue";
                t.outcome = "completed".into();
            }
        }
        self.event(
            "transfer_completed",
            Some(call),
            json!({"kind": "requeue", "queue": q}),
        );
        self.acd.call_arrived(call, q, None, now);
    }

    /// Frees the operator whose extension is on `leg`, if the ACD connected
    /// them to `call` (they transferred the call away).
    fn release_operator(&mut self, call: CallId, leg: LegId, now: Millis) {
        let Some(ext) = self
            .legs
            .get(&leg)
            .and_then(|l| l.endpoint.extension().map(str::to_string))
        else {
            return;
        };
        let Some(op) = self.calls.get(&call).and_then(|c| c.operator.clone()) else {
            return;
        };
        if self.acd.operator_at(&ext) == Some(op.as_str()) {
            self.acd.call_ended(call, now);
            if let Some(c) = self.calls.get_mut(&call) {
                c.operator = None;
            }
        }
    }

    fn fail_transfer(&mut self, call: CallId, transferor: LegId, code: u16, now: Millis) {
        if self.live(transferor).is_some() {
            self.actions.push_back(Action::Notify {
                leg: transferor,
                code,
                terminated: true,
            });
        }
        if let Some(l) = self.legs.get_mut(&transferor) {
            l.transferring = false;
        }
        if let Some(c) = self.calls.get_mut(&call)
            && let Some(t) = c
                .transfers
                .iter_mut()
                .rev()
                .find(|t| t.outcome == "pending")
        {
            t.outcome = format!("failed {code}");
        }
        self.event("transfer_failed", Some(call), json!({"code": code}));
        // The transferor already left: the transferee has nobody to return to.
        let alone = self
            .calls
            .get(&call)
            .is_some_and(|c| c.peer.is_none() && c.state != CallState::Ended);
        if self.live(transferor).is_none() && alone {
            self.end_call(call, "transfer_failed", now);
        }
    }

    fn complete_blind_transfer(
        &mut self,
        call: CallId,
        target: LegId,
        transferor: LegId,
        transferee: LegId,
        now: Millis,
    ) {
        if self.live(transferee).is_none() {
            self.end_leg(target, "transferee_gone", now);
            self.fail_transfer(call, transferor, 487, now);
            return;
        }
        let others: Vec<LegId> = self
            .calls
            .get(&call)
            .map(|c| c.attempts.clone())
            .unwrap_or_default();
        for o in others {
            if self
                .legs
                .get(&o)
                .is_some_and(|l| matches!(l.purpose, Purpose::Transfer { .. }))
            {
                self.end_leg(o, "answered_elsewhere", now);
            }
        }
        if let Some(c) = self.calls.get_mut(&call) {
            c.attempts.retain(|a| {
                !matches!(
                    self.legs.get(a).map(|l| &l.purpose),
                    Some(Purpose::Transfer { .. })
                )
            });
            if c.anchor == transferor {
                c.anchor = transferee;
            }
            c.peer = None;
        }
        if let Some(l) = self.legs.get_mut(&transferor) {
            l.peer = None;
            l.transferring = false;
        }
        self.release_operator(call, transferor, now);
        if self.live(transferor).is_some() {
            self.actions.push_back(Action::Notify {
                leg: transferor,
                code: 200,
                terminated: true,
            });
        }
        self.connect(call, transferee, target, now);
        let reoffer = self
            .legs
            .get_mut(&target)
            .map(|l| std::mem::take(&mut l.needs_reoffer))
            .unwrap_or(false);
        if reoffer
            && let Some(sdp) = self
                .legs
                .get(&transferee)
                .and_then(|l| l.remote_sdp.clone())
        {
            self.reinvite_leg(
                target,
                &sdp_util::set_direction(&sdp, Direction::SendRecv),
                None,
            );
        }
        let to = self.legs.get(&target).map(|l| l.endpoint.clone());
        let mut kind = "blind";
        if let Some(c) = self.calls.get_mut(&call)
            && let Some(t) = c
                .transfers
                .iter_mut()
                .rev()
                .find(|t| t.outcome == "pending")
        {
            t.outcome = "completed".into();
            kind = t.kind;
        }
        self.event(
            "transfer_completed",
            Some(call),
            json!({"kind": kind, "to": to}),
        );
    }

    fn attended_transfer(
        &mut self,
        transferor: LegId,
        transferee: LegId,
        by: &str,
        target: &str,
        rep: ReplacesRef,
        now: Millis,
    ) {
        let call1 = self.legs.get(&transferor).map(|l| l.call).unwrap_or(0);
        let other = self.find_dialog(&rep).filter(|r| *r != transferor);
        let target_leg = other.and_then(|r| {
            let rl = self.live(r)?;
            let q = rl.peer?;
            (rl.state == LegState::Up && self.live(q).is_some_and(|x| x.state == LegState::Up))
                .then_some((r, q))
        });
        // Semi-attended: the consulted phone still rings (the operator's
        // consultation leg is not answered yet).
        if target_leg.is_none()
            && let Some(r) = other
            && let Some(rl) = self.live(r)
            && rl.inbound
            && rl.state != LegState::Up
        {
            self.semi_attended_transfer(transferor, transferee, r, by, target, now);
            return;
        }
        let Some((consult, target_party)) = target_leg else {
            let code = if other.is_none() { 481 } else { 603 };
            self.actions.push_back(Action::Notify {
                leg: transferor,
                code,
                terminated: true,
            });
            self.event(
                "transfer_failed",
                Some(call1),
                json!({"kind": "attended", "by": by, "code": code, "reason": "the Replaces dialog is not a connected call of this server"}),
            );
            return;
        };
        let call2 = self.legs.get(&consult).map(|l| l.call).unwrap_or(0);
        // Join the two remote parties.
        if let Some(l) = self.legs.get_mut(&transferee) {
            l.peer = Some(target_party);
        }
        if let Some(l) = self.legs.get_mut(&target_party) {
            l.peer = Some(transferee);
        }
        let p_sdp = self
            .legs
            .get(&transferee)
            .and_then(|l| l.remote_sdp.clone());
        let q_sdp = self
            .legs
            .get(&target_party)
            .and_then(|l| l.remote_sdp.clone());
        if let Some(s) = q_sdp {
            self.reinvite_leg(
                transferee,
                &sdp_util::set_direction(&s, Direction::SendRecv),
                None,
            );
        }
        if let Some(s) = p_sdp {
            self.reinvite_leg(
                target_party,
                &sdp_util::set_direction(&s, Direction::SendRecv),
                None,
            );
        }
        self.actions.push_back(Action::Notify {
            leg: transferor,
            code: 200,
            terminated: true,
        });
        for l in [transferor, consult] {
            if let Some(x) = self.legs.get_mut(&l) {
                x.peer = None;
            }
            self.release_operator(self.legs.get(&l).map(|x| x.call).unwrap_or(0), l, now);
            // Detached either way; with `transferor_hangs_up` its own BYE
            // ends it (`leg_ended` changes nothing else for a detached leg).
            if !self.transferor_hangs_up {
                self.end_leg(l, "transferred", now);
            }
        }
        // Which call lives on: the one anchored by an outside party, else the older.
        let outside_anchor = |pbx: &Pbx, c: CallId| {
            pbx.calls
                .get(&c)
                .and_then(|c| pbx.legs.get(&c.anchor))
                .is_some_and(|l| l.endpoint.is_outside() && l.id != transferor && l.id != consult)
        };
        let (survivor, gone) = if call1 == call2 {
            (call1, None)
        } else if outside_anchor(self, call1) {
            (call1, Some(call2))
        } else if outside_anchor(self, call2) {
            (call2, Some(call1))
        } else {
            (call1.min(call2), Some(call1.max(call2)))
        };
        let (s_leg, o_leg) = if survivor == call1 {
            (transferee, target_party)
        } else {
            (target_party, transferee)
        };
        let target_ep = self.legs.get(&target_party).map(|l| l.endpoint.clone());
        let transferee_number = self
            .legs
            .get(&transferee)
            .map(|l| l.endpoint.number().to_string())
            .unwrap_or_default();
        if let Some(g) = gone {
            let (legs, op) = self
                .calls
                .get(&g)
                .map(|c| (c.legs.clone(), c.operator.clone()))
                .unwrap_or_default();
            for l in &legs {
                if let Some(x) = self.legs.get_mut(l) {
                    x.call = survivor;
                }
            }
            if let Some(s) = self.calls.get_mut(&survivor) {
                s.legs.extend(legs);
                if s.operator.is_none() {
                    s.operator = op;
                }
            }
            if let Some(c) = self.calls.get_mut(&g) {
                c.merged_into = Some(survivor);
                c.state = CallState::Ended;
                c.end_reason = Some("transferred".into());
                c.ended_at = Some(now);
                c.attempts.clear();
                c.peer = None;
            }
            self.event(
                "call_ended",
                Some(g),
                json!({"reason": "transferred", "merged_into": survivor}),
            );
            self.ended_order.push_back(g);
        }
        if let Some(s) = self.calls.get_mut(&survivor) {
            s.anchor = s_leg;
            s.peer = Some(o_leg);
            s.state = CallState::Answered;
            s.transfers.push(TransferView {
                kind: "attended",
                by: by.to_string(),
                transferee: transferee_number,
                target: target.to_string(),
                outcome: "completed".into(),
                at_ms: now,
            });
        }
        self.event(
            "transfer_completed",
            Some(survivor),
            json!({"kind": "attended", "by": by, "to": target_ep, "joined": gone}),
        );
    }

    /// Completes an attended transfer while the consulted target still
    /// rings: its ringing legs move to the transferee's call as transfer
    /// targets, the transferor's two legs end now, and the transferee is
    /// connected when the target answers (or the call ends if it fails).
    fn semi_attended_transfer(
        &mut self,
        transferor: LegId,
        transferee: LegId,
        consult: LegId,
        by: &str,
        target: &str,
        now: Millis,
    ) {
        let call1 = self.legs.get(&transferor).map(|l| l.call).unwrap_or(0);
        let call2 = self.legs.get(&consult).map(|l| l.call).unwrap_or(0);
        let ringing: Vec<LegId> = self
            .calls
            .get(&call2)
            .map(|c| c.attempts.clone())
            .unwrap_or_default();
        if ringing.is_empty() || call1 == call2 {
            self.actions.push_back(Action::Notify {
                leg: transferor,
                code: 603,
                terminated: true,
            });
            self.event(
                "transfer_failed",
                Some(call1),
                json!({"kind": "attended", "by": by, "code": 603, "reason": "the consultation call rings nowhere"}),
            );
            return;
        }
        for q in &ringing {
            if let Some(l) = self.legs.get_mut(q) {
                l.call = call1;
                l.needs_reoffer = true;
                l.purpose = Purpose::Transfer {
                    transferor,
                    transferee,
                };
            }
        }
        let transferee_number = self
            .legs
            .get(&transferee)
            .map(|l| l.endpoint.number().to_string())
            .unwrap_or_default();
        let ring_ms = self.tenant.sip.ring_timeout_ms;
        if let Some(c) = self.calls.get_mut(&call2) {
            c.attempts.clear();
            c.legs.retain(|l| !ringing.contains(l));
            c.merged_into = Some(call1);
        }
        if let Some(c) = self.calls.get_mut(&call1) {
            c.attempts.extend(ringing.iter().copied());
            c.legs.extend(ringing.iter().copied());
            if c.anchor == transferor {
                c.anchor = transferee;
            }
            c.peer = None;
            c.transfers.push(TransferView {
                kind: "attended",
                by: by.to_string(),
                transferee: transferee_number,
                target: target.to_string(),
                outcome: "pending".into(),
                at_ms: now,
            });
            set_ring(&mut self.rings, c, Some(now + ring_ms));
        }
        if let Some(l) = self.legs.get_mut(&transferee) {
            l.peer = None;
        }
        if let Some(l) = self.legs.get_mut(&transferor) {
            l.peer = None;
        }
        self.release_operator(call1, transferor, now);
        self.actions.push_back(Action::Notify {
            leg: transferor,
            code: 200,
            terminated: true,
        });
        self.end_leg(transferor, "transferred", now);
        self.end_leg(consult, "transferred", now);
        self.end_call(call2, "transferred", now);
        self.event(
            "transfer_started",
            Some(call1),
            json!({"kind": "attended", "by": by, "target": target, "while": "ringing", "joined": call2}),
        );
    }

    fn invite_replaces(
        &mut self,
        inv: InboundInvite,
        rep: ReplacesRef,
        now: Millis,
    ) -> InviteDecision {
        let found = self.find_dialog(&rep).and_then(|r| {
            let rl = self.live(r)?;
            let q = rl
                .peer
                .filter(|q| self.live(*q).is_some_and(|x| x.state == LegState::Up))?;
            Some((r, q, rl.call))
        });
        let Some((replaced, other, call)) = found else {
            return InviteDecision::Refuse {
                code: 481,
                reason: "the dialog named in Replaces does not exist here".into(),
            };
        };
        let leg = self.new_leg(
            call,
            Endpoint::Extension(inv.from_user.clone()),
            true,
            Purpose::Replacing,
            now,
        );
        if let Some(l) = self.legs.get_mut(&leg) {
            l.remote_sdp = inv.body.clone();
            l.dialog = Some(inv.dialog.clone());
            l.state = LegState::Up;
            l.answered_at = Some(now);
            l.peer = Some(other);
        }
        if let Some(l) = self.legs.get_mut(&other) {
            l.peer = Some(leg);
        }
        let other_sdp = self.legs.get(&other).and_then(|l| l.remote_sdp.clone());
        let body = other_sdp
            .map(|s| self.body_for(leg, &sdp_util::set_direction(&s, Direction::SendRecv)));
        self.actions.push_back(Action::Answer {
            leg,
            body,
            headers: Vec::new(),
        });
        if let Some(b) = inv.body {
            self.reinvite_leg(other, &b, None);
        }
        if let Some(l) = self.legs.get_mut(&replaced) {
            l.peer = None;
        }
        self.release_operator(call, replaced, now);
        self.end_leg(replaced, "replaced", now);
        let replaced_ep = self
            .legs
            .get(&replaced)
            .map(|l| l.endpoint.number().to_string());
        let other_number = self
            .legs
            .get(&other)
            .map(|l| l.endpoint.number().to_string())
            .unwrap_or_default();
        if let Some(c) = self.calls.get_mut(&call) {
            if c.anchor == replaced {
                c.anchor = leg;
                c.peer = Some(other);
            } else {
                c.peer = Some(leg);
            }
            c.transfers.push(TransferView {
                kind: "replaces",
                by: inv.from_user.clone(),
                transferee: other_number,
                target: inv.from_user.clone(),
                outcome: "completed".into(),
                at_ms: now,
            });
        }
        self.event(
            "transfer_completed",
            Some(call),
            json!({"kind": "replaces", "by": inv.from_user, "replaced": replaced_ep}),
        );
        self.pump(now);
        InviteDecision::Accept(leg)
    }

    // ----- API commands ---------------------------------------------------

    /// Ends a call from the API (for a simulated caller: the caller hangs up).
    /// False when there is no such live call.
    pub fn hangup_call(&mut self, call: CallId, now: Millis) -> bool {
        let Some(c) = self.calls.get(&call) else {
            return false;
        };
        if c.state == CallState::Ended {
            return false;
        }
        let anchor_is_party = self
            .legs
            .get(&c.anchor)
            .is_some_and(|l| matches!(l.endpoint, Endpoint::Party(_)));
        let reason = if anchor_is_party {
            "caller_hangup"
        } else {
            "api_hangup"
        };
        self.end_call(call, reason, now);
        self.pump(now);
        true
    }

    /// Ends one leg from the API (`leg` must belong to a live call).
    pub fn hangup_leg(&mut self, leg: LegId, now: Millis) -> bool {
        if self.live(leg).is_none() {
            return false;
        }
        let (call, anchor, peer) = match self.legs.get(&leg).and_then(|l| self.calls.get(&l.call)) {
            Some(c) => (c.id, c.anchor, c.peer),
            None => return false,
        };
        if leg == anchor || Some(leg) == peer {
            let reason = if leg == anchor {
                "caller_hangup"
            } else {
                "callee_hangup"
            };
            self.end_call(call, reason, now);
        } else {
            self.end_leg(leg, "api_hangup", now);
        }
        self.pump(now);
        true
    }

    /// Operator login (ACD-1).
    pub fn operator_login(
        &mut self,
        id: &str,
        password: &str,
        extension: &str,
        now: Millis,
    ) -> Result<(), AcdError> {
        let r = self.acd.login(id, password, extension, now);
        match &r {
            Ok(()) => self.event(
                "operator_login",
                None,
                json!({"login_id": id, "extension": extension}),
            ),
            Err(e) => self.event(
                "operator_login_failed",
                None,
                json!({"login_id": id, "reason": e.to_string()}),
            ),
        }
        self.pump(now);
        r
    }

    /// Checks an operator's password (no state change).
    pub fn operator_check(&self, id: &str, password: &str) -> Result<(), AcdError> {
        self.acd.check_password(id, password)
    }

    /// Operator logout.
    pub fn operator_logout(&mut self, id: &str, now: Millis) -> Result<(), AcdError> {
        let r = self.acd.logout(id, now);
        if r.is_ok() {
            self.event("operator_logout", None, json!({"login_id": id}));
        }
        self.pump(now);
        r
    }

    /// Operator state change.
    pub fn operator_state(
        &mut self,
        id: &str,
        req: Requested,
        now: Millis,
    ) -> Result<(), AcdError> {
        let r = self.acd.set_state(id, req, now);
        self.pump(now);
        r
    }

    /// Starts a campaign.
    pub fn campaign_start(&mut self, name: &str, now: Millis) -> Result<(), DiallerError> {
        self.dialler.start(name)?;
        self.event("campaign_started", None, json!({"campaign": name}));
        self.pump(now);
        Ok(())
    }

    /// Stops a campaign.
    pub fn campaign_stop(&mut self, name: &str, now: Millis) -> Result<(), DiallerError> {
        self.dialler.stop(name)?;
        self.event("campaign_stopped", None, json!({"campaign": name}));
        self.pump(now);
        Ok(())
    }

    // ----- time -----------------------------------------------------------

    /// Advances time.
    pub fn handle_timeout(&mut self, now: Millis) {
        self.acd.handle_timeout(now);
        self.dialler.handle_timeout(now);
        self.session_timeouts(now);
        let due: Vec<CallId> = self
            .rings
            .range(..=(now, CallId::MAX))
            .map(|(_, c)| *c)
            .collect();
        for call in due {
            let (attempts, sequential) = match self.calls.get_mut(&call) {
                Some(c) => {
                    set_ring(&mut self.rings, c, None);
                    (
                        std::mem::take(&mut c.attempts),
                        c.group
                            .as_ref()
                            .is_some_and(|g| g.sequential && g.next < g.members.len()),
                    )
                }
                None => continue,
            };
            for a in attempts {
                self.end_leg(a, "no_answer", now);
            }
            self.event("ring_timeout", Some(call), json!({}));
            if sequential {
                self.ring_group_next(call, now);
            } else {
                self.fail_call(call, 480, "no answer", now);
            }
        }
        self.pump(now);
    }

    /// Feeds ACD and dialler outputs to each other until both are quiet.
    fn pump(&mut self, now: Millis) {
        for _ in 0..1000 {
            let mut progressed = false;
            while let Some(o) = self.acd.poll_output() {
                progressed = true;
                self.on_acd(o, now);
            }
            let acd = &self.acd;
            self.dialler.pace(now, &|q| acd.available_in(q));
            while let Some(o) = self.dialler.poll_output() {
                progressed = true;
                self.on_dialler(o, now);
            }
            if !progressed {
                return;
            }
        }
    }

    fn on_acd(&mut self, o: AcdOutput, now: Millis) {
        match o {
            AcdOutput::Queued {
                call,
                queue,
                position,
            } => {
                self.event(
                    "queue_entered",
                    Some(call),
                    json!({"queue": queue, "position": position}),
                );
                // Callers waiting in a queue hear ringback.
                if let Some(c) = self.calls.get_mut(&call) {
                    let anchor = c.anchor;
                    if !c.anchor_rung {
                        c.anchor_rung = true;
                        if self
                            .live(anchor)
                            .is_some_and(|a| a.inbound && a.state != LegState::Up)
                        {
                            self.actions.push_back(Action::Ring {
                                leg: anchor,
                                body: None,
                            });
                        }
                    }
                }
            }
            AcdOutput::Offer {
                call,
                operator,
                extension,
            } => {
                let Some(c) = self.calls.get(&call) else {
                    self.acd.call_ended(call, now);
                    return;
                };
                let anchor = c.anchor;
                let queue = c.queue.clone();
                self.event(
                    "queue_offer",
                    Some(call),
                    json!({"operator": operator, "extension": extension}),
                );
                let mut presented = self.identity_of(anchor);
                // The queue may ask the operator's phone to answer by itself.
                let ask = queue
                    .as_ref()
                    .and_then(|q| self.tenant.queues.get(q))
                    .and_then(|q| q.auto_answer);
                if let Some(form) = ask {
                    presented.headers.push(form.header());
                }
                if self
                    .dial_extension(
                        call,
                        &extension,
                        Purpose::Offer {
                            operator: operator.clone(),
                        },
                        anchor,
                        presented,
                        now,
                    )
                    .is_err()
                {
                    self.acd
                        .offer_failed(call, &operator, "unregistered 480", now);
                }
            }
            AcdOutput::Retract { call, operator } => {
                let legs: Vec<LegId> = self
                    .calls
                    .get(&call)
                    .map(|c| c.attempts.clone())
                    .unwrap_or_default();
                for l in legs {
                    let is_offer = self.legs.get(&l).is_some_and(
                        |x| matches!(&x.purpose, Purpose::Offer { operator: o } if *o == operator),
                    );
                    if is_offer {
                        self.end_leg(l, "retracted", now);
                        if let Some(c) = self.calls.get_mut(&call) {
                            c.attempts.retain(|a| *a != l);
                        }
                    }
                }
            }
            AcdOutput::Reroute {
                call,
                operator,
                reason,
            } => self.event(
                "queue_reroute",
                Some(call),
                json!({"operator": operator, "reason": reason}),
            ),
            AcdOutput::Overflow {
                call,
                queue,
                target,
            } => {
                self.event(
                    "queue_overflow",
                    Some(call),
                    json!({"queue": queue, "target": target}),
                );
                let campaign = self.calls.get(&call).and_then(|c| c.campaign.clone());
                if let Some((_, attempt)) = campaign {
                    self.dialler.abandoned(attempt);
                    self.event("campaign_abandon", Some(call), json!({"attempt": attempt}));
                    self.end_call(call, "abandoned", now);
                    return;
                }
                match target.as_ref().and_then(Target::route) {
                    Some(route) => {
                        if let Some(c) = self.calls.get_mut(&call) {
                            c.queue = None;
                        }
                        self.route_to(call, route, now);
                    }
                    None => self.fail_call(call, 480, "queue timeout", now),
                }
            }
            AcdOutput::OperatorChanged {
                operator,
                state,
                extension,
            } => self.event(
                "operator_state",
                None,
                json!({"login_id": operator, "state": state, "extension": extension}),
            ),
        }
    }

    fn on_dialler(&mut self, o: DiallerOutput, now: Millis) {
        match o {
            DiallerOutput::Dial {
                campaign,
                attempt,
                number,
                caller_id,
            } => {
                let (call, leg) = self.new_call(
                    CallKind::Campaign,
                    Endpoint::Party(number.clone()),
                    false,
                    Purpose::Campaign { attempt },
                    &number,
                    &number,
                    caller_id.clone(),
                    now,
                );
                let shown = caller_id.unwrap_or_default();
                if let Some(c) = self.calls.get_mut(&call) {
                    c.campaign = Some((campaign.clone(), attempt));
                    c.target = format!("campaign {campaign}");
                    c.from = shown.clone();
                }
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.presented = Some(Presented {
                        from_user: shown.clone(),
                        from_name: None,
                        pai: Some(shown.clone()),
                        called_party: None,
                        headers: Vec::new(),
                    });
                }
                self.event(
                    "campaign_dial",
                    Some(call),
                    json!({"campaign": campaign, "attempt": attempt, "number": number}),
                );
                self.actions.push_back(Action::CallParty {
                    leg,
                    number,
                    caller_id: shown,
                    body: None,
                });
            }
            DiallerOutput::Cancel { attempt } => {
                let found = self.calls.values().find(|c| {
                    c.state != CallState::Ended
                        && c.campaign.as_ref().is_some_and(|(_, a)| *a == attempt)
                });
                if let Some((call, anchor)) = found.map(|c| (c.id, c.anchor)) {
                    self.end_leg(anchor, "no_answer", now);
                    self.dialler.failed(attempt, 487);
                    self.end_call(call, "no_answer", now);
                } else {
                    self.dialler.failed(attempt, 487);
                }
            }
            DiallerOutput::Finished { campaign } => {
                self.event("campaign_finished", None, json!({"campaign": campaign}));
            }
        }
    }

    // ----- session timers (RFC 4028) --------------------------------------

    /// The session-timer offer of an INVITE to an extension: none when off.
    fn timer_offer_headers(&self) -> Vec<(String, String)> {
        if !self.session.on() {
            return Vec::new();
        }
        let offer = LegTimer {
            interval: self.session.session_expires,
            we_refresh: self.session.refresher == SessionRefresher::Simulator,
            peer_supports: false,
            peer_update: false,
            received: 0,
            sent: 0,
            deadline: None,
            in_flight: None,
        };
        vec![
            ("Supported".into(), "timer".into()),
            ("Session-Expires".into(), offer.value(true).to_string()),
            ("Min-SE".into(), SessionTimerSettings::MIN_SE.to_string()),
            ("Allow".into(), ALLOW.into()),
        ]
    }

    /// The session-timer headers of a 2xx the simulator sends as the UAS on
    /// `leg` (to the INVITE, or to a refresh): none without a timer.
    fn timer_answer_headers(&self, leg: LegId) -> Vec<(String, String)> {
        let Some(t) = self.legs.get(&leg).and_then(|l| l.timer.as_ref()) else {
            return Vec::new();
        };
        let mut h = vec![
            ("Session-Expires".into(), t.value(false).to_string()),
            ("Supported".into(), "timer".into()),
        ];
        if t.peer_supports {
            h.push(("Require".into(), "timer".into()));
        }
        h.push(("Allow".into(), ALLOW.into()));
        h
    }

    /// The session timer for a new INVITE (the simulator answers it), or
    /// the refusal: 400 for a `Session-Expires` that is not a number, 422
    /// for an interval below our `Min-SE` from a UAC that can retry.
    fn timer_for_invite(
        &mut self,
        inv: &InboundInvite,
    ) -> Result<Option<LegTimer>, InviteDecision> {
        if !self.session.on() {
            return Ok(None);
        }
        let h = &inv.timer;
        let min = SessionTimerSettings::MIN_SE;
        let offered = match &h.session_expires {
            None => None,
            Some(raw) => match SessionExpires::parse(raw) {
                Some(se) => Some(se),
                None => {
                    let reason = bad_session_expires(raw);
                    self.event(
                        "invite_refused",
                        None,
                        json!({"from": inv.from_user, "to": inv.dialled, "code": 400, "reason": reason}),
                    );
                    return Err(InviteDecision::Refuse { code: 400, reason });
                }
            },
        };
        let (interval, refresher) = match offered {
            Some(se) if se.interval < min && h.supports_timer => {
                self.event(
                    "invite_refused",
                    None,
                    json!({"from": inv.from_user, "to": inv.dialled, "code": 422, "reason": format!("Session-Expires {} is below our Min-SE {min}", se.interval)}),
                );
                return Err(InviteDecision::TooSmall { min_se: min });
            }
            Some(se) => (se.interval.max(min), se.refresher),
            None => (self.session.session_expires, None),
        };
        // A UAC without timer support cannot refresh: we must (section 9).
        let we_refresh = !h.supports_timer
            || match refresher {
                Some(Refresher::Uac) => false,
                Some(Refresher::Uas) => true,
                None => self.session.refresher == SessionRefresher::Simulator,
            };
        Ok(Some(LegTimer {
            interval,
            we_refresh,
            peer_supports: h.supports_timer,
            peer_update: h.allows_update,
            received: 0,
            sent: 0,
            deadline: None,
            in_flight: None,
        }))
    }

    /// The 2xx to our INVITE on outbound `leg` carried these session-timer
    /// headers (call before [`Pbx::leg_answered`]). Without a valid
    /// `Session-Expires` the far end does not do timers: none on the leg.
    pub fn leg_session(&mut self, leg: LegId, headers: TimerHeaders) {
        if !self.session.on() {
            return;
        }
        let Some(se) = headers
            .session_expires
            .as_deref()
            .and_then(SessionExpires::parse)
        else {
            return;
        };
        if let Some(l) = self.legs.get_mut(&leg)
            && !l.inbound
            && l.state != LegState::Up
            && l.state != LegState::Ended
        {
            l.timer = Some(LegTimer {
                interval: se.interval.max(1),
                // We sent the INVITE: `uac` (or no refresher) is us.
                we_refresh: session_timer::uac_refreshes(se),
                peer_supports: headers.supports_timer,
                peer_update: headers.allows_update,
                received: 0,
                sent: 0,
                deadline: None,
                in_flight: None,
            });
        }
    }

    /// A re-INVITE or UPDATE arrived on `leg`: a session refresh, and for a
    /// re-INVITE (or an UPDATE with SDP) an offer. Answer with
    /// [`Action::Respond`] for `txn`.
    pub fn in_dialog(&mut self, leg: LegId, txn: TxnId, req: InDialogRequest, now: Millis) {
        let respond = |code: u16, headers: Vec<(String, String)>| Action::Respond {
            leg,
            txn,
            code,
            body: None,
            headers,
        };
        if self.live(leg).is_none() {
            self.actions.push_back(respond(481, Vec::new()));
            return;
        }
        let call = self.legs.get(&leg).map(|l| l.call);
        let min = SessionTimerSettings::MIN_SE;
        if let Some(raw) = &req.timer.session_expires
            && self.legs.get(&leg).is_some_and(|l| l.timer.is_some())
        {
            match SessionExpires::parse(raw) {
                None => {
                    let reason = bad_session_expires(raw);
                    self.event(
                        "session_refresh_refused",
                        call,
                        json!({"leg": leg, "code": 400, "reason": reason}),
                    );
                    self.actions
                        .push_back(respond(400, vec![("Warning".into(), warning(&reason))]));
                    return;
                }
                Some(se) if se.interval < min => {
                    self.event(
                        "session_refresh_refused",
                        call,
                        json!({"leg": leg, "code": 422, "reason": format!("Session-Expires {} is below our Min-SE {min}", se.interval)}),
                    );
                    self.actions
                        .push_back(respond(422, vec![("Min-SE".into(), min.to_string())]));
                    return;
                }
                Some(se) => {
                    if let Some(t) = self.legs.get_mut(&leg).and_then(|l| l.timer.as_mut()) {
                        t.interval = se.interval;
                        // The refresher parameter names the roles of this
                        // transaction: `uac` is the far end, `uas` us.
                        match se.refresher {
                            Some(Refresher::Uac) => t.we_refresh = false,
                            Some(Refresher::Uas) => t.we_refresh = true,
                            None => {}
                        }
                        t.peer_supports |= req.timer.supports_timer;
                    }
                }
            }
        }
        if req.update && req.body.is_none() {
            // A bare UPDATE: a refresh and nothing else.
            self.note_refresh(leg, now);
            let headers = self.timer_answer_headers(leg);
            self.actions.push_back(respond(200, headers));
            return;
        }
        self.reinvite(leg, txn, req.body, now);
    }

    /// A re-INVITE or UPDATE on `leg` was answered 2xx: the session is
    /// refreshed (section 10: any of them refreshes it).
    fn note_refresh(&mut self, leg: LegId, now: Millis) {
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        let call = l.call;
        let Some(t) = l.timer.as_mut() else { return };
        t.received += 1;
        let count = t.received;
        self.arm_timer(leg, now);
        self.event(
            "session_refreshed",
            Some(call),
            json!({"leg": leg, "by": "peer", "count": count}),
        );
    }

    /// (Re)starts `leg`'s session timer from `now`: our next refresh at half
    /// the interval, or the expiry when the far end refreshes.
    fn arm_timer(&mut self, leg: LegId, now: Millis) {
        let never = self.session.refresh == SessionRefresh::Never;
        let Some(t) = self.legs.get(&leg).and_then(|l| l.timer.as_ref()) else {
            return;
        };
        let at = if t.we_refresh {
            (!never).then(|| now + session_timer::refresh_after(t.interval).as_millis() as Millis)
        } else {
            Some(now + session_timer::expire_after(t.interval).as_millis() as Millis)
        };
        self.set_deadline(leg, at);
    }

    fn set_deadline(&mut self, leg: LegId, at: Option<Millis>) {
        let Some(t) = self.legs.get_mut(&leg).and_then(|l| l.timer.as_mut()) else {
            return;
        };
        if let Some(old) = t.deadline.take() {
            self.timers.remove(&(old, leg));
        }
        if let Some(at) = at {
            self.timers.insert((at, leg));
        }
        t.deadline = at;
    }

    /// Due session timers: refresh where we refresh, end the call where the
    /// far end's refresh did not come.
    fn session_timeouts(&mut self, now: Millis) {
        let due: Vec<(Millis, LegId)> = self.timers.range(..=(now, LegId::MAX)).copied().collect();
        for (at, leg) in due {
            self.timers.remove(&(at, leg));
            let Some(l) = self.legs.get_mut(&leg) else {
                continue;
            };
            let Some(t) = l.timer.as_mut() else { continue };
            if t.deadline == Some(at) {
                t.deadline = None;
            }
            let (call, up) = (l.call, l.state == LegState::Up);
            let Some(t) = l.timer.clone() else { continue };
            if !up {
                continue;
            }
            if !t.we_refresh {
                self.event(
                    "session_expired",
                    Some(call),
                    json!({"leg": leg, "interval_s": t.interval, "refreshes_received": t.received}),
                );
                // The call ends with its anchor's or peer's session; a leg a
                // transfer left behind ends alone.
                let main = self
                    .calls
                    .get(&call)
                    .is_some_and(|c| c.anchor == leg || c.peer == Some(leg));
                if main {
                    self.end_call(call, "session_expired", now);
                } else {
                    self.end_leg(leg, "session_expired", now);
                }
                continue;
            }
            if self.session.refresh == SessionRefresh::Never {
                continue;
            }
            if t.in_flight.is_none() {
                self.send_refresh(leg, &t, call);
            }
            // Again at the next half interval if no answer comes.
            self.set_deadline(
                leg,
                Some(now + session_timer::refresh_after(t.interval).as_millis() as Millis),
            );
        }
    }

    fn send_refresh(&mut self, leg: LegId, t: &LegTimer, call: CallId) {
        let last = self.legs.get(&leg).and_then(|l| l.sent_sdp.clone());
        // A re-INVITE repeats our last offer; without one, UPDATE.
        let update = t.peer_update || last.is_none();
        let body = if update {
            None
        } else {
            last.map(|s| self.body_for(leg, &s))
        };
        let req = self.next_req;
        self.next_req += 1;
        if let Some(x) = self.legs.get_mut(&leg).and_then(|l| l.timer.as_mut()) {
            x.in_flight = Some(req);
        }
        self.event(
            "session_refresh_sent",
            Some(call),
            json!({"leg": leg, "method": if update { "UPDATE" } else { "INVITE" }}),
        );
        self.actions.push_back(Action::Refresh {
            leg,
            req,
            update,
            body,
            headers: vec![
                ("Session-Expires".into(), t.value(true).to_string()),
                ("Supported".into(), "timer".into()),
            ],
        });
    }

    /// The answer to our refresh `req` on `leg` (0 when none came).
    pub fn refresh_done(
        &mut self,
        leg: LegId,
        req: ReqId,
        code: u16,
        body: Option<Vec<u8>>,
        now: Millis,
    ) {
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        let call = l.call;
        let Some(t) = l.timer.as_mut().filter(|t| t.in_flight == Some(req)) else {
            return;
        };
        t.in_flight = None;
        if (200..300).contains(&code) {
            t.sent += 1;
            let count = t.sent;
            if body.is_some() {
                l.remote_sdp = body;
            }
            self.arm_timer(leg, now);
            self.event(
                "session_refreshed",
                Some(call),
                json!({"leg": leg, "by": "simulator", "count": count}),
            );
        } else if matches!(code, 0 | 408 | 481) {
            // Section 10: the session is gone.
            self.event(
                "session_refresh_failed",
                Some(call),
                json!({"leg": leg, "code": code}),
            );
            if self.live(leg).is_some() {
                self.end_call(call, "session_refresh_failed", now);
            }
        } else {
            // The session stays as it was; again at the next half interval.
            self.event(
                "session_refresh_failed",
                Some(call),
                json!({"leg": leg, "code": code}),
            );
        }
        self.pump(now);
    }

    // ----- views ----------------------------------------------------------

    /// The leg a SIP dialog belongs to (by Call-ID and tags).
    pub fn leg_by_dialog(&self, r: &ReplacesRef) -> Option<LegId> {
        self.find_dialog(r)
    }

    /// The call a leg belongs to.
    pub fn call_of(&self, leg: LegId) -> Option<CallId> {
        self.legs.get(&leg).map(|l| l.call)
    }

    /// Whether a leg is still live.
    pub fn leg_live(&self, leg: LegId) -> bool {
        self.live(leg).is_some()
    }

    /// The endpoint of a leg.
    pub fn leg_endpoint(&self, leg: LegId) -> Option<Endpoint> {
        self.legs.get(&leg).map(|l| l.endpoint.clone())
    }

    /// The party legs of a call (anchor first).
    pub fn party_legs(&self, call: CallId) -> Vec<LegId> {
        let Some(c) = self.calls.get(&call) else {
            return Vec::new();
        };
        let mut v: Vec<LegId> = c
            .legs
            .iter()
            .copied()
            .filter(|l| {
                self.legs
                    .get(l)
                    .is_some_and(|x| matches!(x.endpoint, Endpoint::Party(_)))
            })
            .collect();
        v.sort_by_key(|l| *l != c.anchor);
        v
    }

    fn leg_view(&self, l: &Leg) -> LegView {
        LegView {
            id: l.id,
            endpoint: l.endpoint.clone(),
            direction: if l.inbound { "in" } else { "out" },
            state: l.state,
            peer: l.peer,
            purpose: l.purpose.label(),
            sip_call_id: l.dialog.as_ref().map(|d| d.call_id.clone()),
            contact: l.contact.clone(),
            held: l.held,
            presented: l.presented.clone(),
            session_timer: l.timer.as_ref().map(|t| SessionTimerView {
                interval_s: t.interval,
                refresher: if t.we_refresh { "simulator" } else { "peer" },
                refreshes_received: t.received,
                refreshes_sent: t.sent,
                next_ms: t.deadline,
            }),
            end_reason: l.end_reason.clone(),
            created_ms: l.created_at,
            answered_ms: l.answered_at,
            ended_ms: l.ended_at,
        }
    }

    /// One call.
    pub fn call(&self, id: CallId) -> Option<CallView> {
        let c = self.calls.get(&id)?;
        let legs: Vec<&Leg> = c.legs.iter().filter_map(|l| self.legs.get(l)).collect();
        let anchor = self.legs.get(&c.anchor);
        let peer = c.peer.and_then(|p| self.legs.get(&p));
        let extension = peer
            .and_then(|p| p.endpoint.extension())
            .or_else(|| {
                c.attempts
                    .iter()
                    .filter_map(|a| self.legs.get(a))
                    .find_map(|l| l.endpoint.extension())
            })
            .or_else(|| {
                // The last extension that was rung for this call.
                legs.iter()
                    .rev()
                    .filter(|l| !l.inbound && l.id != c.anchor)
                    .find_map(|l| l.endpoint.extension())
            })
            .or_else(|| anchor.and_then(|a| a.endpoint.extension()))
            .unwrap_or_default()
            .to_string();
        let call_id = legs
            .iter()
            .filter(|l| matches!(l.endpoint, Endpoint::Extension(_)))
            .find_map(|l| l.dialog.as_ref().map(|d| d.call_id.clone()))
            .unwrap_or_default();
        Some(CallView {
            id,
            call_id,
            kind: c.kind,
            from: anchor
                .map(|a| {
                    if c.kind == CallKind::Campaign {
                        c.from.clone()
                    } else {
                        a.endpoint.number().to_string()
                    }
                })
                .unwrap_or_else(|| c.from.clone()),
            to: c.to.clone(),
            outside_line: c.outside_line.clone(),
            extension,
            state: c.state,
            end_reason: c.end_reason.clone(),
            rtp_received: 0,
            talking_to: peer
                .filter(|_| c.state == CallState::Answered)
                .map(|p| p.endpoint.number().to_string()),
            target: c.target.clone(),
            queue: c.queue.clone(),
            operator: c.operator.clone(),
            held: legs.iter().any(|l| l.held && l.state == LegState::Up),
            campaign: c.campaign.as_ref().map(|(n, _)| n.clone()),
            merged_into: c.merged_into,
            legs: legs.iter().map(|l| self.leg_view(l)).collect(),
            transfers: c.transfers.clone(),
            session_refreshes: legs
                .iter()
                .filter_map(|l| l.timer.as_ref())
                .map(|t| t.received)
                .sum(),
            session_refreshes_sent: legs
                .iter()
                .filter_map(|l| l.timer.as_ref())
                .map(|t| t.sent)
                .sum(),
            created_ms: c.created_at,
            answered_ms: c.answered_at,
            ended_ms: c.ended_at,
        })
    }

    /// Every call kept, oldest first.
    pub fn calls(&self) -> Vec<CallView> {
        self.calls.keys().filter_map(|id| self.call(*id)).collect()
    }

    /// Live calls count.
    pub fn live_calls(&self) -> usize {
        self.calls
            .values()
            .filter(|c| c.state != CallState::Ended)
            .count()
    }

    /// Operators.
    pub fn operators(&self, now: Millis) -> Vec<crate::acd::OperatorView> {
        self.acd.operators(now)
    }

    /// One operator.
    pub fn operator(&self, id: &str, now: Millis) -> Option<crate::acd::OperatorView> {
        self.acd.operator(id, now)
    }

    /// Queues.
    pub fn queues(&self) -> Vec<crate::acd::QueueView> {
        self.acd.queues()
    }

    /// Campaigns.
    pub fn campaigns(&self) -> Vec<crate::dialler::CampaignView> {
        self.dialler.campaigns()
    }

    /// One campaign.
    pub fn campaign(&self, name: &str) -> Option<crate::dialler::CampaignView> {
        self.dialler.campaign(name)
    }
}

/// Sets a call's ring deadline, keeping the deadline index in step.
fn set_ring(index: &mut BTreeSet<(Millis, CallId)>, c: &mut Call, at: Option<Millis>) {
    if let Some(old) = c.ring_deadline.take() {
        index.remove(&(old, c.id));
    }
    if let Some(at) = at {
        index.insert((at, c.id));
    }
    c.ring_deadline = at;
}

fn presented_number(p: &Presented, caller_id: Option<String>) -> String {
    if p.called_party.is_some() || p.from_user.is_empty() {
        caller_id.unwrap_or_else(|| p.from_user.clone())
    } else {
        p.from_user.clone()
    }
}

/// Why a `Session-Expires` value was refused (the value clipped and made
/// printable).
fn bad_session_expires(raw: &str) -> String {
    let shown: String = raw
        .chars()
        .take(40)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("Session-Expires '{shown}' is not delta-seconds[;refresher=uac|uas] (RFC 4028)")
}

/// A `Warning` header value (RFC 3261 20.43) for `text`.
fn warning(text: &str) -> String {
    format!("399 bluebean-sim \"{}\"", text.replace(['"', '\\'], "'"))
}

fn reason_for(code: u16) -> String {
    format!("rejected {code}")
}

#[cfg(test)]
#[path = "pbx_tests.rs"]
mod tests;
