//! Wire types of the local control protocol: how `bbclient VERB`, a second
//! `bbclient` started by the OS for a URI, and any local tool talk to the
//! running softphone.
//!
//! # Transport and framing
//!
//! The running softphone listens on a per-user local socket (the binary
//! decides where and makes it accessible to its owner only). Both directions
//! carry **line-delimited JSON**: each message is one JSON object encoded
//! as UTF-8 on one line, ended by `\n`. JSON strings escape line breaks, so
//! a message never spans lines. A line longer than [`MAX_LINE_LEN`] bytes
//! is refused.
//!
//! # Client → softphone: requests
//!
//! ```json
//! {"id":1,"cmd":"call","number":"1330"}
//! ```
//!
//! `id` is chosen by the client (from 1 upward; 0 is reserved, see below)
//! and comes back in the reply. `cmd` is the command-line verb word; the
//! other fields are its arguments:
//!
//! | `cmd` | fields |
//! |---|---|
//! | `call`, `transfer`, `blindtransfer` | `number`: a string, normalised on receipt like a pasted number (`"03-1234-5678"` is fine) |
//! | `hold`, `unhold`, `transfer_complete`, `hangup`, `answer`, `details`, `logout` | none |
//! | `dtmf` | `digits`: `0-9*#A-D`, 1 to 32 |
//! | `status` | none; the reply's `data` holds the state (registration, operator session, calls with their media figures) |
//! | `login` | optional `login_id`, optional `password`; each missing one is taken from the settings; answered once the operator API has (`data`: the operator session) |
//! | `subscribe` | none; after the reply, the connection also receives events |
//!
//! Unknown fields are ignored; an unknown `cmd`, a missing field or a bad
//! value is answered with `ok: false`.
//!
//! # Softphone → client: replies and events
//!
//! Every line the softphone writes is a [`Message`], tagged by `type`:
//!
//! ```json
//! {"type":"reply","id":1,"ok":true}
//! {"type":"reply","id":2,"ok":false,"error":"no call to hold"}
//! {"type":"reply","id":3,"ok":true,"data":{"registration":"registered"}}
//! {"type":"event","event":"ringing","direction":"incoming","remote_number":"0312345678","call_id":"a84b4c76e66710"}
//! {"type":"event","event":"hung_up","cause":"remote","duration_ms":61000,"call_id":"a84b4c76e66710"}
//! ```
//!
//! A reply answers exactly one request, by `id`; `error` (a one-line
//! message in the style of this crate's errors) is present when `ok` is
//! false, `data` when there is something to return. A line that cannot be
//! read as a request at all is answered with `id` 0.
//!
//! Events go only to connections that sent `subscribe`, interleaved with
//! replies, in the order they happened. `call_id` is the SIP Call-ID of the
//! call the event is about, absent for registration and operator events.
//! The event kinds and their fields are those of [`EventKind`]:
//!
//! | `event` | fields |
//! |---|---|
//! | `registration` | `state`: `registered`, `failed`, `unregistered`; optional `reason` |
//! | `ringing` | `direction`: `incoming`, `outgoing`; optional `remote_number` |
//! | `answered`, `held`, `unheld` | none |
//! | `transferred` | `target` |
//! | `transfer_failed` | `target`, `reason` |
//! | `hung_up` | `cause`: `local`, `remote`, `busy`, `no_answer`, `rejected`, `cancelled`, `transferred`, `failed`; `duration_ms` (0 if never answered) |
//! | `hook` | `kind`: `popup`, `details`, `command_ring`, `command_answer`, `command_hangup`; `outcome`: `ok`, `failed`, `timed_out`, `skipped`; optional `detail` |
//! | `popup` | `text`: what the CRM returned for the popup window |
//! | `dtmf` | `digits`, `direction` (`incoming`: received, one event per digit; `outgoing`: sent) |
//! | `operator` | `state`: `logged_in`, `logged_out`, `login_failed`; optional `login_id`, `reason` |
//!
//! Clients must ignore event kinds and fields they do not know; new ones
//! may be added. Passwords never appear in replies or events.
//!
//! # In Rust
//!
//! [`Request`] (with a [`RequestBody`]) and [`Message`] (a [`Reply`] or an
//! [`Event`]) derive serde; [`Request::from_line`], [`Message::from_line`]
//! and the `to_line` methods frame them. [`RequestBody`] converts from a
//! [`Verb`] (`From<&Verb>`) and back ([`RequestBody::verb`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::number::DialNumber;
use crate::text::{Quoted, excerpt};
use crate::verb::{DtmfDigits, LoginId, Password, Verb};

/// The longest line either side accepts, in bytes.
pub const MAX_LINE_LEN: usize = 64 * 1024;

/// A request line: `{"id":1,"cmd":"hold"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Chosen by the client, echoed in the reply; 0 is reserved.
    pub id: u64,
    /// The command and its arguments, flattened beside `id`.
    #[serde(flatten)]
    pub body: RequestBody,
}

/// The command of a [`Request`], tagged by `cmd`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum RequestBody {
    /// `{"cmd":"call","number":"1330"}`
    Call {
        /// The number.
        number: DialNumber,
    },
    /// `{"cmd":"hold"}`
    Hold,
    /// `{"cmd":"unhold"}`
    Unhold,
    /// `{"cmd":"transfer","number":"1303"}`
    Transfer {
        /// The transfer target.
        number: DialNumber,
    },
    /// `{"cmd":"transfer_complete"}`
    TransferComplete,
    /// `{"cmd":"blindtransfer","number":"1303"}`
    #[serde(rename = "blindtransfer")]
    BlindTransfer {
        /// The transfer target.
        number: DialNumber,
    },
    /// `{"cmd":"hangup"}`
    Hangup,
    /// `{"cmd":"answer"}`
    Answer,
    /// `{"cmd":"dtmf","digits":"123#"}`
    Dtmf {
        /// The keys.
        digits: DtmfDigits,
    },
    /// `{"cmd":"details"}`
    Details,
    /// `{"cmd":"status"}`
    Status,
    /// `{"cmd":"login","login_id":"op1","password":"…"}`, both optional.
    Login {
        /// `None` uses the configured login ID.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        login_id: Option<LoginId>,
        /// `None` uses the configured password.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<Password>,
    },
    /// `{"cmd":"logout"}`
    Logout,
    /// `{"cmd":"mute"}`
    Mute,
    /// `{"cmd":"unmute"}`
    Unmute,
    /// `{"cmd":"dnd","on":true}`
    Dnd {
        /// On or off.
        on: bool,
    },
    /// `{"cmd":"subscribe"}`: also receive events on this connection.
    Subscribe,
}

impl RequestBody {
    /// The `cmd` word (the verb word, or `subscribe`), for logs and
    /// messages.
    pub fn word(&self) -> &'static str {
        match self {
            RequestBody::Subscribe => "subscribe",
            other => other.verb().map_or("subscribe", |v| v.word().as_str()),
        }
    }

    /// The verb this request asks for; `None` for `subscribe`. A `login`
    /// password is not part of a verb and is dropped.
    pub fn verb(&self) -> Option<Verb> {
        Some(match self {
            RequestBody::Call { number } => Verb::Call(number.clone()),
            RequestBody::Hold => Verb::Hold,
            RequestBody::Unhold => Verb::Unhold,
            RequestBody::Transfer { number } => Verb::Transfer(number.clone()),
            RequestBody::TransferComplete => Verb::TransferComplete,
            RequestBody::BlindTransfer { number } => Verb::BlindTransfer(number.clone()),
            RequestBody::Hangup => Verb::Hangup,
            RequestBody::Answer => Verb::Answer,
            RequestBody::Dtmf { digits } => Verb::Dtmf(digits.clone()),
            RequestBody::Details => Verb::Details,
            RequestBody::Status => Verb::Status,
            RequestBody::Login { login_id, .. } => Verb::Login {
                login_id: login_id.clone(),
            },
            RequestBody::Logout => Verb::Logout,
            RequestBody::Mute => Verb::Mute,
            RequestBody::Unmute => Verb::Unmute,
            RequestBody::Dnd { on } => Verb::Dnd(*on),
            RequestBody::Subscribe => return None,
        })
    }

    /// The request for a verb, with the password for `login` (ignored for
    /// other verbs), e.g. read by `login --password-stdin`.
    pub fn from_verb(verb: &Verb, password: Option<Password>) -> RequestBody {
        match verb {
            Verb::Call(number) => RequestBody::Call {
                number: number.clone(),
            },
            Verb::Hold => RequestBody::Hold,
            Verb::Unhold => RequestBody::Unhold,
            Verb::Transfer(number) => RequestBody::Transfer {
                number: number.clone(),
            },
            Verb::TransferComplete => RequestBody::TransferComplete,
            Verb::BlindTransfer(number) => RequestBody::BlindTransfer {
                number: number.clone(),
            },
            Verb::Hangup => RequestBody::Hangup,
            Verb::Answer => RequestBody::Answer,
            Verb::Dtmf(digits) => RequestBody::Dtmf {
                digits: digits.clone(),
            },
            Verb::Details => RequestBody::Details,
            Verb::Status => RequestBody::Status,
            Verb::Login { login_id } => RequestBody::Login {
                login_id: login_id.clone(),
                password,
            },
            Verb::Logout => RequestBody::Logout,
            Verb::Mute => RequestBody::Mute,
            Verb::Unmute => RequestBody::Unmute,
            Verb::Dnd(on) => RequestBody::Dnd { on: *on },
        }
    }
}

impl From<&Verb> for RequestBody {
    /// The request for a verb; `login` gets no password (the configured
    /// one is used).
    fn from(verb: &Verb) -> RequestBody {
        RequestBody::from_verb(verb, None)
    }
}

impl From<Verb> for RequestBody {
    fn from(verb: Verb) -> RequestBody {
        RequestBody::from_verb(&verb, None)
    }
}

impl Request {
    /// A request.
    pub fn new(id: u64, body: RequestBody) -> Request {
        Request { id, body }
    }

    /// Reads one request line (with or without its `\n`).
    pub fn from_line(line: &str) -> Result<Request, WireError> {
        from_line(line)
    }

    /// The request as one line of JSON, with its `\n`.
    pub fn to_line(&self) -> Result<String, WireError> {
        to_line(self)
    }
}

/// The answer to one [`Request`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The request's `id`; 0 when the request could not be read.
    pub id: u64,
    /// Whether the command was accepted.
    pub ok: bool,
    /// Why not, when `ok` is false: one line, lowercase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the command returns (the state, for `status`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

impl Reply {
    /// `{"id":…,"ok":true}`, with `data` when there is some.
    pub fn ok(id: u64, data: Option<serde_json::Value>) -> Reply {
        Reply {
            id,
            ok: true,
            error: None,
            data,
        }
    }

    /// `{"id":…,"ok":false,"error":…}`
    pub fn err(id: u64, error: impl fmt::Display) -> Reply {
        Reply {
            id,
            ok: false,
            error: Some(error.to_string()),
            data: None,
        }
    }
}

/// Something that happened in the softphone, sent to subscribers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// What happened; on the wire its tag is the `event` field and its
    /// fields sit beside it.
    #[serde(flatten)]
    pub event: EventKind,
    /// The SIP Call-ID of the call concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
}

impl Event {
    /// An event about no particular call; add one with [`Event::with_call`].
    pub fn new(event: EventKind) -> Event {
        Event {
            event,
            call_id: None,
        }
    }

    /// The same event, about the call with this SIP Call-ID.
    pub fn with_call(self, call_id: impl Into<String>) -> Event {
        Event {
            call_id: Some(call_id.into()),
            ..self
        }
    }
}

/// The kinds of [`Event`], tagged by `event`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// The SIP registration changed.
    Registration {
        /// The new state.
        state: RegistrationState,
        /// Why, e.g. the SIP status line of a failure.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A call is ringing.
    Ringing {
        /// Incoming or outgoing.
        direction: Direction,
        /// The other party's number, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remote_number: Option<String>,
    },
    /// The call was answered.
    Answered,
    /// The call was put on hold.
    Held,
    /// The call was taken off hold.
    Unheld,
    /// The call was transferred.
    Transferred {
        /// The transfer target.
        target: String,
    },
    /// A transfer failed; the call stays as it was.
    TransferFailed {
        /// The transfer target.
        target: String,
        /// Why.
        reason: String,
    },
    /// The call ended.
    HungUp {
        /// Why.
        cause: HangupCause,
        /// Talk time in milliseconds; 0 if never answered.
        duration_ms: u64,
    },
    /// An integration hook (WEB-1, WEB-4, CMD-1…3) finished.
    Hook {
        /// Which hook.
        kind: HookKind,
        /// How it ended.
        outcome: HookOutcome,
        /// A one-line detail, e.g. the HTTP status or exit code.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// The popup window shows the CRM's answer (WEB-1).
    Popup {
        /// The text shown.
        text: String,
    },
    /// DTMF keys were sent or received.
    Dtmf {
        /// The keys.
        digits: String,
        /// `incoming` when received.
        direction: Direction,
    },
    /// The operator session changed (ACD-1).
    Operator {
        /// The new state.
        state: OperatorState,
        /// The login ID.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        login_id: Option<String>,
        /// Why, for failures.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A request was turned away by the phone's policy (`[sip]
    /// accept_calls_from`, `accept_refer`): a stranger's INVITE, a REFER
    /// from elsewhere than the server, a REFER to something that is not a
    /// number. Reported at most once a minute per source and method.
    Refused {
        /// The SIP method, e.g. `INVITE` or `REFER`.
        request: String,
        /// Where it came from (`address:port`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
        /// A REFER's target, as written.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
        /// Why.
        reason: String,
    },
    /// The call's microphone was muted or unmuted (beyond the guide).
    Mute {
        /// Muted now.
        muted: bool,
    },
    /// Do not disturb was switched on or off (beyond the guide).
    Dnd {
        /// On now.
        on: bool,
    },
    /// Saved settings reached the running softphone (WEB-7): what is in
    /// force from the next call on, and what waits for a restart.
    Settings {
        /// The changed parts now in force, e.g. `web`, `command`,
        /// `account` (re-registered), `operator`, `history`,
        /// `sip.second_call`.
        applied: Vec<String>,
        /// The changed settings the running softphone cannot take, in
        /// force after a restart, e.g. `account.transport`, `audio`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        after_restart: Vec<String>,
        /// Changes that could not be put in force, each `key: why`
        /// (e.g. a history file that cannot be opened); the old value
        /// stays.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        failed: Vec<String>,
    },
}

/// SIP registration states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationState {
    /// Registered.
    Registered,
    /// Registration failed.
    Failed,
    /// Not registered (any more).
    Unregistered,
}

/// The direction of a call or DTMF.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the other party.
    Incoming,
    /// From us.
    Outgoing,
}

/// Why a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HangupCause {
    /// We hung up.
    Local,
    /// The other party hung up.
    Remote,
    /// The other party was busy.
    Busy,
    /// Nobody answered in time.
    NoAnswer,
    /// The other party or the server rejected the call.
    Rejected,
    /// The caller gave up before it was answered.
    Cancelled,
    /// The call was transferred away.
    Transferred,
    /// Signalling or media failed.
    Failed,
}

/// The integration hooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookKind {
    /// The web popup request (WEB-1).
    Popup,
    /// The detail view opened in the browser (WEB-4, WEB-5).
    Details,
    /// The command run on ringing (CMD-1).
    CommandRing,
    /// The command run on answer (CMD-2).
    CommandAnswer,
    /// The command run on hang-up (CMD-3).
    CommandHangup,
    /// The command run when the operator places a call (beyond the guide).
    CommandDial,
}

/// How a hook ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookOutcome {
    /// It succeeded.
    Ok,
    /// It failed (HTTP error, non-zero exit, could not start).
    Failed,
    /// It hit its time limit (Q-1).
    TimedOut,
    /// It was not run (internal call, WEB-6/CMD-5; or not configured).
    Skipped,
}

/// Operator session states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatorState {
    /// Logged in.
    LoggedIn,
    /// Logged out.
    LoggedOut,
    /// The login was refused.
    LoginFailed,
}

/// A line from the softphone: a reply or an event, tagged by `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// `{"type":"reply",…}`
    Reply(Reply),
    /// `{"type":"event",…}`
    Event(Event),
}

impl Message {
    /// Reads one line from the softphone (with or without its `\n`).
    pub fn from_line(line: &str) -> Result<Message, WireError> {
        from_line(line)
    }

    /// The message as one line of JSON, with its `\n`.
    pub fn to_line(&self) -> Result<String, WireError> {
        to_line(self)
    }
}

impl From<Reply> for Message {
    fn from(r: Reply) -> Message {
        Message::Reply(r)
    }
}

impl From<Event> for Message {
    fn from(e: Event) -> Message {
        Message::Event(e)
    }
}

/// A line that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// Longer than [`MAX_LINE_LEN`].
    #[error("control line refused: {len} bytes is more than the {MAX_LINE_LEN} allowed")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// Not valid JSON for the expected type.
    #[error("control line refused: {}: {error}", Quoted(line))]
    Json {
        /// The line, cut to 80 characters.
        line: String,
        /// What serde_json said.
        error: serde_json::Error,
    },
    /// Could not be encoded (not expected for these types).
    #[error("control message could not be encoded: {0}")]
    Encode(serde_json::Error),
}

fn from_line<T: serde::de::DeserializeOwned>(line: &str) -> Result<T, WireError> {
    if line.len() > MAX_LINE_LEN {
        return Err(WireError::TooLong { len: line.len() });
    }
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    serde_json::from_str(line).map_err(|error| WireError::Json {
        line: excerpt(line),
        error,
    })
}

fn to_line<T: Serialize>(value: &T) -> Result<String, WireError> {
    let mut line = serde_json::to_string(value).map_err(WireError::Encode)?;
    line.push('\n');
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::tests::any_verb;
    use crate::normalize_number;
    use proptest::prelude::*;
    use serde_json::json;

    fn n(s: &str) -> DialNumber {
        normalize_number(s).unwrap()
    }

    fn request_json(r: &Request) -> String {
        serde_json::to_string(r).unwrap()
    }

    fn message_json(m: impl Into<Message>) -> String {
        serde_json::to_string(&m.into()).unwrap()
    }

    #[test]
    fn exact_request_json() {
        let cases = [
            (
                RequestBody::Call { number: n("1330") },
                r#"{"id":1,"cmd":"call","number":"1330"}"#,
            ),
            (RequestBody::Hold, r#"{"id":1,"cmd":"hold"}"#),
            (
                RequestBody::TransferComplete,
                r#"{"id":1,"cmd":"transfer_complete"}"#,
            ),
            (
                RequestBody::BlindTransfer { number: n("1303") },
                r#"{"id":1,"cmd":"blindtransfer","number":"1303"}"#,
            ),
            (
                RequestBody::Dtmf {
                    digits: DtmfDigits::parse("123#").unwrap(),
                },
                r#"{"id":1,"cmd":"dtmf","digits":"123#"}"#,
            ),
            (RequestBody::Subscribe, r#"{"id":1,"cmd":"subscribe"}"#),
            (RequestBody::Status, r#"{"id":1,"cmd":"status"}"#),
            (
                RequestBody::Login {
                    login_id: None,
                    password: None,
                },
                r#"{"id":1,"cmd":"login"}"#,
            ),
            (
                RequestBody::Login {
                    login_id: Some(LoginId::parse("op1").unwrap()),
                    password: Some(Password::new("pw".into())),
                },
                r#"{"id":1,"cmd":"login","login_id":"op1","password":"pw"}"#,
            ),
        ];
        for (body, expected) in cases {
            let req = Request::new(1, body);
            assert_eq!(request_json(&req), expected);
            assert_eq!(Request::from_line(expected).unwrap(), req);
        }
    }

    #[test]
    fn exact_message_json() {
        assert_eq!(
            message_json(Reply::ok(7, None)),
            r#"{"type":"reply","id":7,"ok":true}"#
        );
        assert_eq!(
            message_json(Reply::err(8, "no call to hold")),
            r#"{"type":"reply","id":8,"ok":false,"error":"no call to hold"}"#
        );
        assert_eq!(
            message_json(Reply::ok(9, Some(json!({"registration": "registered"})))),
            r#"{"type":"reply","id":9,"ok":true,"data":{"registration":"registered"}}"#
        );
        assert_eq!(
            message_json(
                Event::new(EventKind::Ringing {
                    direction: Direction::Incoming,
                    remote_number: Some("0312345678".into())
                })
                .with_call("a84b4c76e66710")
            ),
            r#"{"type":"event","event":"ringing","direction":"incoming","remote_number":"0312345678","call_id":"a84b4c76e66710"}"#
        );
        assert_eq!(
            message_json(
                Event::new(EventKind::HungUp {
                    cause: HangupCause::Remote,
                    duration_ms: 61_000
                })
                .with_call("a84b4c76e66710")
            ),
            r#"{"type":"event","event":"hung_up","cause":"remote","duration_ms":61000,"call_id":"a84b4c76e66710"}"#
        );
        assert_eq!(
            message_json(Event::new(EventKind::Registration {
                state: RegistrationState::Failed,
                reason: Some("403 Forbidden".into())
            })),
            r#"{"type":"event","event":"registration","state":"failed","reason":"403 Forbidden"}"#
        );
        assert_eq!(
            message_json(
                Event::new(EventKind::Hook {
                    kind: HookKind::CommandRing,
                    outcome: HookOutcome::TimedOut,
                    detail: None
                })
                .with_call("c1")
            ),
            r#"{"type":"event","event":"hook","kind":"command_ring","outcome":"timed_out","call_id":"c1"}"#
        );
        assert_eq!(
            message_json(Event::new(EventKind::Operator {
                state: OperatorState::LoggedIn,
                login_id: Some("op1".into()),
                reason: None
            })),
            r#"{"type":"event","event":"operator","state":"logged_in","login_id":"op1"}"#
        );
        assert_eq!(
            message_json(Event::new(EventKind::Held).with_call("c1")),
            r#"{"type":"event","event":"held","call_id":"c1"}"#
        );
        assert_eq!(
            message_json(Event::new(EventKind::Settings {
                applied: vec!["web".into(), "command".into()],
                after_restart: vec![],
                failed: vec![]
            })),
            r#"{"type":"event","event":"settings","applied":["web","command"]}"#
        );
    }

    fn any_event_kind() -> impl Strategy<Value = EventKind> {
        let text = crate::text::any_text;
        let opt = || proptest::option::of(crate::text::any_text());
        let dir = prop_oneof![Just(Direction::Incoming), Just(Direction::Outgoing)];
        prop_oneof![
            (
                prop_oneof![
                    Just(RegistrationState::Registered),
                    Just(RegistrationState::Failed),
                    Just(RegistrationState::Unregistered)
                ],
                opt()
            )
                .prop_map(|(state, reason)| EventKind::Registration { state, reason }),
            (dir.clone(), opt()).prop_map(|(direction, remote_number)| {
                EventKind::Ringing {
                    direction,
                    remote_number,
                }
            }),
            Just(EventKind::Answered),
            Just(EventKind::Held),
            Just(EventKind::Unheld),
            text().prop_map(|target| EventKind::Transferred { target }),
            (text(), text())
                .prop_map(|(target, reason)| EventKind::TransferFailed { target, reason }),
            any::<bool>().prop_map(|muted| EventKind::Mute { muted }),
            any::<bool>().prop_map(|on| EventKind::Dnd { on }),
            (text(), opt(), opt(), text()).prop_map(|(request, source, target, reason)| {
                EventKind::Refused {
                    request,
                    source,
                    target,
                    reason,
                }
            }),
            (
                prop_oneof![
                    Just(HangupCause::Local),
                    Just(HangupCause::Remote),
                    Just(HangupCause::Busy),
                    Just(HangupCause::NoAnswer),
                    Just(HangupCause::Rejected),
                    Just(HangupCause::Cancelled),
                    Just(HangupCause::Transferred),
                    Just(HangupCause::Failed)
                ],
                any::<u64>()
            )
                .prop_map(|(cause, duration_ms)| EventKind::HungUp { cause, duration_ms }),
            (
                prop_oneof![
                    Just(HookKind::Popup),
                    Just(HookKind::Details),
                    Just(HookKind::CommandRing),
                    Just(HookKind::CommandAnswer),
                    Just(HookKind::CommandHangup),
                    Just(HookKind::CommandDial)
                ],
                prop_oneof![
                    Just(HookOutcome::Ok),
                    Just(HookOutcome::Failed),
                    Just(HookOutcome::TimedOut),
                    Just(HookOutcome::Skipped)
                ],
                opt()
            )
                .prop_map(|(kind, outcome, detail)| EventKind::Hook {
                    kind,
                    outcome,
                    detail
                }),
            text().prop_map(|text| EventKind::Popup { text }),
            (text(), dir).prop_map(|(digits, direction)| EventKind::Dtmf { digits, direction }),
            (
                prop_oneof![
                    Just(OperatorState::LoggedIn),
                    Just(OperatorState::LoggedOut),
                    Just(OperatorState::LoginFailed)
                ],
                opt(),
                opt()
            )
                .prop_map(|(state, login_id, reason)| EventKind::Operator {
                    state,
                    login_id,
                    reason
                }),
            (
                proptest::collection::vec(text(), 0..4),
                proptest::collection::vec(text(), 0..4),
                proptest::collection::vec(text(), 0..2)
            )
                .prop_map(|(applied, after_restart, failed)| EventKind::Settings {
                    applied,
                    after_restart,
                    failed
                }),
        ]
    }

    proptest! {
        #[test]
        fn every_verb_round_trips_through_a_request_line(verb in any_verb(), id in any::<u64>()) {
            let req = Request::new(id, RequestBody::from(&verb));
            let line = req.to_line().unwrap();
            prop_assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
            let back = Request::from_line(&line).unwrap();
            prop_assert_eq!(back.body.verb(), Some(verb));
            prop_assert_eq!(back, req);
        }

        #[test]
        fn every_event_round_trips_on_one_line(kind in any_event_kind(), call_id in proptest::option::of(crate::text::any_text())) {
            let msg = Message::Event(Event { event: kind, call_id });
            let line = msg.to_line().unwrap();
            prop_assert_eq!(line.matches('\n').count(), 1);
            prop_assert_eq!(Message::from_line(&line).unwrap(), msg);
        }

        #[test]
        fn replies_round_trip(id in any::<u64>(), error in proptest::option::of(crate::text::any_text()), data in proptest::option::of(any::<i64>())) {
            let reply = Reply { id, ok: error.is_none(), error, data: data.map(serde_json::Value::from) };
            let msg = Message::Reply(reply);
            prop_assert_eq!(Message::from_line(&msg.to_line().unwrap()).unwrap(), msg);
        }

        #[test]
        fn request_parsing_never_panics(s in prop_oneof![crate::text::any_text(), any::<String>()]) {
            let _ = Request::from_line(&s);
            let _ = Message::from_line(&s);
        }
    }

    #[test]
    fn requests_normalise_and_validate_their_arguments() {
        let req = Request::from_line("{\"id\":3,\"cmd\":\"call\",\"number\":\"03-1234-5678\"}\n")
            .unwrap();
        assert_eq!(
            req.body,
            RequestBody::Call {
                number: n("0312345678")
            }
        );
        let req = Request::from_line(r#"{"cmd":"hold","id":4,"extra":true}"#).unwrap();
        assert_eq!(req, Request::new(4, RequestBody::Hold));

        let e = Request::from_line(r#"{"id":5,"cmd":"call","number":"12x"}"#).unwrap_err();
        assert!(
            e.to_string().starts_with(
                r#"control line refused: '{"id":5,"cmd":"call","number":"12x"}': number refused: 'x' at position 2"#
            ),
            "{e}"
        );
        let e = Request::from_line(r#"{"id":6,"cmd":"format","disk":"c"}"#).unwrap_err();
        assert!(e.to_string().contains("unknown variant `format`"), "{e}");
        assert!(Request::from_line(r#"{"cmd":"hold"}"#).is_err());
        assert!(Request::from_line(r#"{"id":1,"cmd":"call"}"#).is_err());
        assert!(Request::from_line(r#"{"id":1,"cmd":"dtmf","digits":"12E"}"#).is_err());
        assert!(Request::from_line(r#"{"id":-1,"cmd":"hold"}"#).is_err());
        assert!(Request::from_line("not json").is_err());
        let long = " ".repeat(MAX_LINE_LEN + 1);
        assert!(matches!(
            Request::from_line(&long),
            Err(WireError::TooLong { .. })
        ));
    }

    #[test]
    fn a_subscriber_tells_replies_from_events() {
        let lines = concat!(
            "{\"type\":\"reply\",\"id\":1,\"ok\":true}\n",
            "{\"type\":\"event\",\"event\":\"answered\",\"call_id\":\"c1\"}\n",
        );
        let msgs: Vec<Message> = lines
            .lines()
            .map(|l| Message::from_line(l).unwrap())
            .collect();
        assert_eq!(msgs[0], Message::Reply(Reply::ok(1, None)));
        assert_eq!(
            msgs[1],
            Message::Event(Event::new(EventKind::Answered).with_call("c1"))
        );
        assert!(Message::from_line(r#"{"type":"other"}"#).is_err());
    }

    #[test]
    fn verb_request_conversions() {
        assert_eq!(RequestBody::Subscribe.verb(), None);
        assert_eq!(RequestBody::Subscribe.word(), "subscribe");
        assert_eq!(RequestBody::TransferComplete.word(), "transfer_complete");
        assert_eq!(RequestBody::from(Verb::Hangup), RequestBody::Hangup);
        let login = Verb::Login { login_id: None };
        let body = RequestBody::from_verb(&login, Some(Password::from_stdin_line("s3cret\n")));
        assert_eq!(body.word(), "login");
        assert_eq!(body.verb(), Some(login));
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"cmd":"login","password":"s3cret"}"#
        );
        // The password does not leak through Debug.
        assert!(!format!("{body:?}").contains("s3cret"));
        // Other verbs ignore a password.
        assert_eq!(
            RequestBody::from_verb(&Verb::Hold, Some(Password::new("x".into()))),
            RequestBody::Hold
        );
    }
}
