//! This crate provides the sans-IO CTI core of the BlueBeanClient softphone:
//! it decides which CRM hooks to run for a call, builds their HTTP requests and
//! argument lists, and turns CRM answers into popup text, without doing any IO.
//!
//! # Principal types and how they meet
//!
//! - [`call::CallValues`] holds the six WEB-2 placeholder values of a call,
//!   derived from SIP facts by [`call::CallValues::from_sip`];
//!   [`call::CallEvent`] is what happens to the call (ringing, answered,
//!   hung up) and [`call::InternalCallRule`] tells internal calls apart.
//! - [`template::Template`] is a string with `%CallerNumber%`-style
//!   placeholders, parsed once; [`params::ParamLines`] is the `name=value`
//!   parameter box of WEB-3.
//! - [`request::PopupSettings`] and [`request::DetailSettings`] validate the
//!   web settings once, at save, and build a [`request::CrmRequest`] per call
//!   (pure data: method, URL, body). [`response::decode_body`] and
//!   [`response::to_display_text`] turn the answer into popup text.
//! - [`command::CommandLine`] splits a command line once, by Windows or POSIX
//!   rules, and renders an [`command::Argv`] per call.
//! - [`engine::Engine`] ties these together: call events, hook results and
//!   time go in (`handle_*`), [`engine::Action`]s come out (`poll_action`),
//!   and `poll_timeout` says when to call again. The softphone's tokio
//!   driver performs the actions (reqwest, process spawn, browser) and
//!   reports back.
//! - [`redact::Secret`] keeps `%OpPW%` out of `Debug`/`Display`; every log
//!   line the engine emits has the password as `***` and network text escaped.
//!
//! # Key design decision: substitute after splitting, never re-parse
//!
//! Settings are split into their structure first (parameter lines into
//! names and values, command lines into program and arguments) and the
//! placeholders are substituted *inside* those pieces afterwards, in one
//! pass. Network values are then percent-encoded (web) or filtered to
//! `[A-Za-z0-9+*#._@-]` (commands). So a caller ID can never add a parameter,
//! an argument or a command, whatever it contains, and nothing is ever given
//! to a shell. The cost is that a setting cannot build structure from a
//! value (a caller ID cannot hold two parameters), which no CRM needs.
//!
//! # What it won't do
//!
//! No sockets, HTTP client, processes, threads, async runtime, logging
//! framework or clock: time is an argument, logs are returned as values.
//! It does not persist settings (no serde here) nor parse SIP: the driver
//! extracts [`call::SipFacts`] from the INVITE.
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, Instant};
//! use bb_cti::call::{CallEvent, CallValues};
//! use bb_cti::engine::{Action, Engine, EngineConfig, HookOutcome};
//! use bb_cti::request::{HttpMethod, PopupSettings};
//!
//! let popup = PopupSettings::validate(
//!     HttpMethod::Get,
//!     "https://crm.test.com/softphone/popup/in?",
//!     "number=%CallerNumber%\noutline=%OutLineNumber%",
//! )?;
//! let mut engine = Engine::new(EngineConfig { popup: Some(popup), ..EngineConfig::default() });
//! let t0 = Instant::now(); // the driver's clock; the engine never reads one
//! let values = CallValues {
//!     caller_number: "09012345678".into(),
//!     outline_number: "0312345678".into(),
//!     call_id: "c1@pbx".into(),
//!     ..CallValues::default()
//! };
//! engine.handle_call_event(CallEvent::Ringing(values), t0);
//! let mut started = None;
//! while let Some(action) = engine.poll_action() {
//!     if let Action::StartHttp { id, request, .. } = action {
//!         assert_eq!(
//!             request.url,
//!             "https://crm.test.com/softphone/popup/in?number=09012345678&outline=0312345678"
//!         );
//!         started = Some(id);
//!     }
//! }
//! assert_eq!(engine.poll_timeout(), Some(t0 + Duration::from_secs(5)));
//! let id = started.expect("the popup request was started");
//! engine.handle_hook_done(
//!     id,
//!     HookOutcome::HttpResponse { status: 200, content_type: None, body: b"VIP".to_vec() },
//!     t0 + Duration::from_millis(80),
//! );
//! let shown: Vec<Action> = std::iter::from_fn(|| engine.poll_action()).collect();
//! assert!(shown.iter().any(|a| matches!(a, Action::PopupContent { text, .. } if text == "VIP")));
//! # Ok::<(), bb_cti::request::SettingsError>(())
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod call;
pub mod command;
pub mod engine;
pub mod params;
pub mod redact;
pub mod request;
pub mod response;
pub mod template;

pub use call::{CallEvent, CallValues, HangupCause, InternalCallRule, OperatorLogin, SipFacts};
pub use command::{Argv, CommandLine, Platform, split_posix, split_windows};
pub use engine::{Action, Engine, EngineConfig, HookId, HookKind, HookLog, HookOutcome, Limits};
pub use params::ParamLines;
pub use redact::Secret;
pub use request::{
    CrmRequest, CrmUrl, DetailSettings, HttpMethod, PopupSettings, build_detail, build_popup,
};
pub use response::{DecodedBody, decode_body, to_display_text};
