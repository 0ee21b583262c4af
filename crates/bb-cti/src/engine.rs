//! The hook engine: a sans-IO state machine deciding which CRM hooks run,
//! when, and with what; the driver performs them and reports back.
//!
//! # Run loop
//!
//! The engine never does IO, never sleeps and never reads the clock: `now`
//! is an argument. A driver (the softphone's tokio task) does this:
//!
//! 1. feed one input: [`Engine::handle_call_event`],
//!    [`Engine::handle_hook_done`], [`Engine::handle_timeout`] (when the
//!    timer armed in step 3 fires) or [`Engine::open_detail`];
//! 2. drain [`Engine::poll_action`] until it returns `None`, performing each
//!    [`Action`] in order (start a request, spawn `argv` without a shell,
//!    open the browser, abort on `Cancel`, write the log line, show the popup);
//! 3. arm one timer at [`Engine::poll_timeout`] (none if `None`), then wait
//!    for the next input.
//!
//! Hooks run concurrently in the driver; each reports its end exactly once
//! through `handle_hook_done`. A `now` older than one already seen is taken
//! as the newest seen, so time never runs backwards inside the engine.
//!
//! # Ordering
//!
//! Actions come out in the order their inputs went in, and a call's events
//! go in in the order they happened. The engine starts the answer hook as
//! soon as `Answered` arrives, without waiting for the ring hook to finish,
//! and likewise for hang-up: so ring, answer and hang-up hooks are
//! *started* in that order even when an earlier one is slow. Events for a
//! call that never rang here are ignored (logged), so no hang-up hook can
//! start before its call's ring hooks; the internal-call decision is made
//! once, at ring, and applied to every phase of the call.
//!
//! # Time limits
//!
//! Every started hook has a deadline ([`Limits`]). When it passes,
//! `handle_timeout` emits [`Action::Cancel`] and a `TimedOut` log; a result
//! reported afterwards is ignored. Signalling and audio never wait for the
//! engine: it only ever returns actions.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use crate::call::{CallEvent, CallValues, HangupCause, InternalCallRule};
use crate::command::{Argv, CommandLine};
use crate::redact::{Secret, log_safe, redact_secret};
use crate::request::{CrmRequest, DetailSettings, PopupSettings};
use crate::response::{decode_body, to_display_text};

/// Identifies one started hook, unique within an [`Engine`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HookId(pub u64);

impl fmt::Display for HookId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What a hook is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HookKind {
    /// The popup request on ring (WEB-1).
    Popup,
    /// The detail view opened in the browser (WEB-4, WEB-5).
    Detail,
    /// The command run when a call comes in (CMD-1).
    RingCommand,
    /// The command run when the call is answered (CMD-2).
    AnswerCommand,
    /// The command run when the call is hung up (CMD-3).
    HangupCommand,
    /// The command run when the operator places a call (beyond the guide;
    /// `[command] on_dial`).
    DialCommand,
}

impl HookKind {
    /// True for the web-integration hooks (skipped by
    /// [`EngineConfig::skip_internal_web`]).
    pub fn is_web(self) -> bool {
        matches!(self, HookKind::Popup | HookKind::Detail)
    }
}

impl fmt::Display for HookKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HookKind::Popup => "popup request",
            HookKind::Detail => "detail view",
            HookKind::RingCommand => "ring command",
            HookKind::AnswerCommand => "answer command",
            HookKind::HangupCommand => "hang-up command",
            HookKind::DialCommand => "dial command",
        })
    }
}

/// Time and size limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Popup request, from start to the whole body read. Default 5 s.
    pub http: Duration,
    /// Launching the browser. Default 5 s.
    pub browser: Duration,
    /// A command, from spawn to exit. Default 30 s.
    pub command: Duration,
    /// Most popup-body bytes the driver should read and the engine decode.
    /// Default 64 KiB.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            http: Duration::from_secs(5),
            browser: Duration::from_secs(5),
            command: Duration::from_secs(30),
            max_body_bytes: 64 * 1024,
        }
    }
}

impl Limits {
    fn for_kind(&self, kind: HookKind) -> Duration {
        match kind {
            HookKind::Popup => self.http,
            HookKind::Detail => self.browser,
            HookKind::RingCommand
            | HookKind::AnswerCommand
            | HookKind::HangupCommand
            | HookKind::DialCommand => self.command,
        }
    }
}

/// Which hooks run, from validated settings. A hook is enabled when its
/// setting is `Some` (the detail view on ring also needs
/// [`DetailSettings::open_on_ring`]).
#[derive(Clone, Debug, Default)]
pub struct EngineConfig {
    /// Popup request (WEB-1).
    pub popup: Option<PopupSettings>,
    /// Detail view (WEB-4; opened on ring when `open_on_ring`, WEB-5).
    pub detail: Option<DetailSettings>,
    /// Command on ring (CMD-1).
    pub on_ring: Option<CommandLine>,
    /// Command on answer (CMD-2).
    pub on_answer: Option<CommandLine>,
    /// Command on hang-up (CMD-3).
    pub on_hangup: Option<CommandLine>,
    /// Command when the operator places a call (beyond the guide).
    pub on_dial: Option<CommandLine>,
    /// Send the popup request when the operator places a call too (beyond
    /// the guide); `%CallerNumber%` is then the dialled number.
    pub popup_on_dial: bool,
    /// Skip web integration on internal calls (WEB-6). Default `false`.
    pub skip_internal_web: bool,
    /// Skip command integration on internal calls (CMD-5). Default `false`.
    pub skip_internal_command: bool,
    /// What counts as internal.
    pub internal_rule: InternalCallRule,
    /// Time limits.
    pub limits: Limits,
}

/// How a hook ended, reported by the driver.
#[derive(Clone, PartialEq, Eq)]
pub enum HookOutcome {
    /// An HTTP response arrived; `body` holds at most
    /// [`Limits::max_body_bytes`] bytes (more are ignored).
    HttpResponse {
        /// Status code.
        status: u16,
        /// The Content-Type header, if any.
        content_type: Option<String>,
        /// The body.
        body: Vec<u8>,
    },
    /// The process exited; `None` when it was ended by a signal.
    Exited {
        /// Exit code.
        code: Option<i32>,
    },
    /// The browser was launched.
    Launched,
    /// The hook could not be performed (connection refused, TLS error,
    /// program not found, …). The text may quote the URL; the engine
    /// redacts the password from it before logging.
    Failed {
        /// What went wrong.
        error: String,
    },
}

impl fmt::Debug for HookOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HookOutcome::HttpResponse {
                status,
                content_type,
                body,
            } => f
                .debug_struct("HttpResponse")
                .field("status", status)
                .field("content_type", content_type)
                .field("body_len", &body.len())
                .finish(),
            HookOutcome::Exited { code } => f.debug_struct("Exited").field("code", code).finish(),
            HookOutcome::Launched => f.write_str("Launched"),
            // The error text may quote a URL holding the password.
            HookOutcome::Failed { .. } => f.write_str("Failed { .. }"),
        }
    }
}

/// A log line. Passwords are already redacted and network text is escaped
/// by `Display`; the fields hold the raw Call-ID for matching.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookLog {
    /// A hook was started.
    Started {
        /// Hook.
        id: HookId,
        /// Call.
        call_id: String,
        /// Kind.
        kind: HookKind,
        /// The request or argument list, password shown as `***`.
        what: String,
    },
    /// A hook ended before its deadline.
    Finished {
        /// Hook.
        id: HookId,
        /// Call.
        call_id: String,
        /// Kind.
        kind: HookKind,
        /// True for HTTP 2xx, exit code 0, or a launched browser.
        ok: bool,
        /// `HTTP 200`, `exit code 1`, `failed: …` (redacted, escaped).
        result: String,
        /// Time from start to end.
        elapsed: Duration,
    },
    /// A hook passed its deadline and was cancelled.
    TimedOut {
        /// Hook.
        id: HookId,
        /// Call.
        call_id: String,
        /// Kind.
        kind: HookKind,
        /// The limit that passed.
        limit: Duration,
    },
    /// A hook was not started because the call is internal.
    SkippedInternal {
        /// Call.
        call_id: String,
        /// Kind.
        kind: HookKind,
    },
    /// Something was changed or is doubtful (characters dropped from a
    /// caller ID, …).
    Warning {
        /// Call.
        call_id: String,
        /// Kind, when about one hook.
        kind: Option<HookKind>,
        /// What (escaped).
        message: String,
    },
    /// An input that changed nothing (duplicate event, unknown call, late
    /// result).
    Ignored {
        /// Call, when known.
        call_id: Option<String>,
        /// What (escaped).
        what: String,
    },
}

impl fmt::Display for HookLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HookLog::Started {
                id,
                call_id,
                kind,
                what,
            } => write!(
                f,
                "call '{}': {kind} {id} started: {what}",
                log_safe(call_id)
            ),
            HookLog::Finished {
                id,
                call_id,
                kind,
                ok,
                result,
                elapsed,
            } => write!(
                f,
                "call '{}': {kind} {id} {} in {} ms: {result}",
                log_safe(call_id),
                if *ok { "finished" } else { "failed" },
                elapsed.as_millis()
            ),
            HookLog::TimedOut {
                id,
                call_id,
                kind,
                limit,
            } => write!(
                f,
                "call '{}': {kind} {id} timed out after {} ms and was cancelled",
                log_safe(call_id),
                limit.as_millis()
            ),
            HookLog::SkippedInternal { call_id, kind } => write!(
                f,
                "call '{}': {kind} skipped (internal call)",
                log_safe(call_id)
            ),
            HookLog::Warning {
                call_id,
                kind,
                message,
            } => match kind {
                Some(k) => write!(f, "call '{}': {k}: warning: {message}", log_safe(call_id)),
                None => write!(f, "call '{}': warning: {message}", log_safe(call_id)),
            },
            HookLog::Ignored { call_id, what } => match call_id {
                Some(c) => write!(f, "call '{}': ignored: {what}", log_safe(c)),
                None => write!(f, "ignored: {what}"),
            },
        }
    }
}

/// What the driver must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send an HTTP request; read at most `max_body` bytes of the answer;
    /// report with [`Engine::handle_hook_done`].
    StartHttp {
        /// Hook.
        id: HookId,
        /// Call.
        call_id: String,
        /// Kind.
        kind: HookKind,
        /// The request.
        request: CrmRequest,
        /// Most body bytes to read.
        max_body: usize,
        /// When the engine gives up on it.
        deadline: Instant,
    },
    /// Open `request.url` in the user's browser (always a GET URL); report
    /// `Launched` or `Failed`. The URL may hold the password: log
    /// `request.for_log`, never the URL (`Debug` shows only the log copy).
    OpenBrowser {
        /// Hook.
        id: HookId,
        /// Call.
        call_id: String,
        /// The detail-view request; open its `url`.
        request: CrmRequest,
        /// When the engine gives up on it.
        deadline: Instant,
    },
    /// Spawn `argv` directly, never through a shell; report `Exited` or
    /// `Failed`.
    StartCommand {
        /// Hook.
        id: HookId,
        /// Call.
        call_id: String,
        /// Kind.
        kind: HookKind,
        /// Program and arguments.
        argv: Argv,
        /// When the engine gives up on it.
        deadline: Instant,
    },
    /// The deadline passed: abort the request or kill the process. Its
    /// result, if reported later, is ignored.
    Cancel {
        /// Hook.
        id: HookId,
    },
    /// Write a log line.
    Log(HookLog),
    /// Show the CRM's answer in the popup window.
    PopupContent {
        /// Call.
        call_id: String,
        /// HTTP status of the answer.
        status: u16,
        /// Plain text to show; `%OpPW%`'s value, should the CRM echo it
        /// (raw or percent-encoded), is shown as `***`.
        text: String,
        /// True when the answer was longer than the limit.
        truncated: bool,
    },
}

#[derive(Debug)]
struct CallState {
    values: CallValues,
    internal: bool,
    answered: bool,
    /// Placed by the operator: only the dial hooks run for it (the guide's
    /// answer and hang-up commands are about incoming calls).
    outgoing: bool,
}

#[derive(Debug)]
struct Running {
    call_id: String,
    kind: HookKind,
    started: Instant,
    deadline: Instant,
    secret: Secret<String>,
}

/// How many ended calls are remembered, to ignore late duplicate events and
/// to open the detail view after hang-up.
pub const ENDED_CALLS_KEPT: usize = 64;

/// The hook engine. See the module docs for the run loop.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    calls: HashMap<String, CallState>,
    ended: VecDeque<CallValues>,
    running: BTreeMap<HookId, Running>,
    actions: VecDeque<Action>,
    next_id: u64,
    latest: Option<Instant>,
}

impl Engine {
    /// A new engine with `config`.
    pub fn new(config: EngineConfig) -> Engine {
        Engine {
            config,
            calls: HashMap::new(),
            ended: VecDeque::new(),
            running: BTreeMap::new(),
            actions: VecDeque::new(),
            next_id: 1,
            latest: None,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Replaces the configuration (settings saved). Running hooks keep their
    /// deadlines; later phases of calls in progress use the new settings,
    /// with the internal-call decision made at their ring.
    pub fn set_config(&mut self, config: EngineConfig) {
        self.config = config;
    }

    /// Number of hooks started and not yet ended.
    pub fn running_hooks(&self) -> usize {
        self.running.len()
    }

    /// The values of a call in progress or among the last
    /// [`ENDED_CALLS_KEPT`] ended ones.
    pub fn call_values(&self, call_id: &str) -> Option<&CallValues> {
        self.calls
            .get(call_id)
            .map(|c| &c.values)
            .or_else(|| self.ended.iter().find(|v| v.call_id == call_id))
    }

    /// The next action, in order; `None` when there is nothing to do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The earliest hook deadline: call [`Engine::handle_timeout`] then.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.running.values().map(|r| r.deadline).min()
    }

    fn clock(&mut self, now: Instant) -> Instant {
        let now = match self.latest {
            Some(latest) if latest > now => latest,
            _ => now,
        };
        self.latest = Some(now);
        now
    }

    fn log(&mut self, log: HookLog) {
        self.actions.push_back(Action::Log(log));
    }

    fn ignored(&mut self, call_id: Option<&str>, what: String) {
        self.log(HookLog::Ignored {
            call_id: call_id.map(str::to_owned),
            what,
        });
    }

    /// Feeds a call event.
    pub fn handle_call_event(&mut self, event: CallEvent, now: Instant) {
        let now = self.clock(now);
        let call_id = event.call_id().to_owned();
        let ended = self.ended.iter().any(|v| v.call_id == call_id);
        match event {
            CallEvent::Ringing(values) => self.begin_call(values, Phase::Ring, ended, now),
            CallEvent::Dialing(values) => self.begin_call(values, Phase::Dial, ended, now),
            CallEvent::Answered { .. } => {
                if ended {
                    self.ignored(Some(&call_id), "answered event after hang-up".into());
                    return;
                }
                let Some(call) = self.calls.get_mut(&call_id) else {
                    self.ignored(
                        Some(&call_id),
                        "answered event for a call that did not ring here".into(),
                    );
                    return;
                };
                if call.answered {
                    self.ignored(Some(&call_id), "duplicate answered event".into());
                    return;
                }
                call.answered = true;
                self.start_phase(&call_id, Phase::Answer, now);
            }
            CallEvent::HungUp { cause, .. } => {
                if ended {
                    self.ignored(Some(&call_id), "duplicate hang-up event".into());
                    return;
                }
                if !self.calls.contains_key(&call_id) {
                    self.ignored(
                        Some(&call_id),
                        format!(
                            "hang-up event ({}) for a call that did not ring here",
                            cause_text(cause)
                        ),
                    );
                    return;
                }
                self.start_phase(&call_id, Phase::HangUp, now);
                if let Some(call) = self.calls.remove(&call_id) {
                    self.ended.push_back(call.values);
                    while self.ended.len() > ENDED_CALLS_KEPT {
                        self.ended.pop_front();
                    }
                }
            }
        }
    }

    /// A call rang (`Phase::Ring`) or was placed (`Phase::Dial`): tracks it
    /// and starts that phase's hooks, unless it is known already.
    fn begin_call(&mut self, values: CallValues, phase: Phase, ended: bool, now: Instant) {
        let call_id = values.call_id.clone();
        let outgoing = phase == Phase::Dial;
        if ended || self.calls.contains_key(&call_id) {
            let what = if outgoing { "dialing" } else { "ringing" };
            self.ignored(Some(&call_id), format!("duplicate {what} event"));
            return;
        }
        let internal = self.config.internal_rule.is_internal(&values);
        self.calls.insert(
            call_id.clone(),
            CallState {
                values,
                internal,
                answered: false,
                outgoing,
            },
        );
        self.start_phase(&call_id, phase, now);
    }

    /// Starts the hooks of one phase of a known call, in a fixed order:
    /// ring = popup, detail, ring command; answer = answer command;
    /// hang-up = hang-up command.
    fn start_phase(&mut self, call_id: &str, phase: Phase, now: Instant) {
        let Some(call) = self.calls.get(call_id) else {
            return;
        };
        let values = call.values.clone();
        let internal = call.internal;
        let kinds: &[HookKind] = match (phase, call.outgoing) {
            (Phase::Dial, _) => &[HookKind::Popup, HookKind::DialCommand],
            (_, true) => &[],
            (Phase::Ring, false) => &[HookKind::Popup, HookKind::Detail, HookKind::RingCommand],
            (Phase::Answer, false) => &[HookKind::AnswerCommand],
            (Phase::HangUp, false) => &[HookKind::HangupCommand],
        };
        for &kind in kinds {
            if !self.enabled_on_event(kind)
                || (phase == Phase::Dial && kind == HookKind::Popup && !self.config.popup_on_dial)
            {
                continue;
            }
            let skip = if kind.is_web() {
                self.config.skip_internal_web
            } else {
                self.config.skip_internal_command
            };
            if internal && skip {
                self.log(HookLog::SkippedInternal {
                    call_id: call_id.to_owned(),
                    kind,
                });
                continue;
            }
            self.start_hook(kind, &values, now);
        }
    }

    fn enabled_on_event(&self, kind: HookKind) -> bool {
        let c = &self.config;
        match kind {
            HookKind::Popup => c.popup.is_some(),
            HookKind::Detail => c.detail.as_ref().is_some_and(|d| d.open_on_ring),
            HookKind::RingCommand => c.on_ring.is_some(),
            HookKind::AnswerCommand => c.on_answer.is_some(),
            HookKind::HangupCommand => c.on_hangup.is_some(),
            HookKind::DialCommand => c.on_dial.is_some(),
        }
    }

    fn new_id(&mut self) -> HookId {
        let id = HookId(self.next_id);
        self.next_id += 1;
        id
    }

    fn start_hook(&mut self, kind: HookKind, values: &CallValues, now: Instant) {
        let call_id = values.call_id.clone();
        let deadline = now + self.config.limits.for_kind(kind);
        let (action, what) = match kind {
            HookKind::Popup => {
                let Some(popup) = &self.config.popup else {
                    return;
                };
                let request = popup.build(values);
                let what = request.for_log.clone();
                let id = self.new_id();
                (
                    Action::StartHttp {
                        id,
                        call_id: call_id.clone(),
                        kind,
                        request,
                        max_body: self.config.limits.max_body_bytes,
                        deadline,
                    },
                    (id, what),
                )
            }
            HookKind::Detail => {
                let Some(detail) = &self.config.detail else {
                    return;
                };
                let request = detail.build(values);
                let what = format!("open in browser: {}", request.for_log);
                let id = self.new_id();
                (
                    Action::OpenBrowser {
                        id,
                        call_id: call_id.clone(),
                        request,
                        deadline,
                    },
                    (id, what),
                )
            }
            HookKind::RingCommand
            | HookKind::AnswerCommand
            | HookKind::HangupCommand
            | HookKind::DialCommand => {
                let command = match kind {
                    HookKind::RingCommand => &self.config.on_ring,
                    HookKind::AnswerCommand => &self.config.on_answer,
                    HookKind::DialCommand => &self.config.on_dial,
                    _ => &self.config.on_hangup,
                };
                let Some(command) = command else {
                    return;
                };
                let rendered = command.render(values);
                for d in &rendered.dropped {
                    self.actions.push_back(Action::Log(HookLog::Warning {
                        call_id: call_id.clone(),
                        kind: Some(kind),
                        message: d.to_string(),
                    }));
                }
                let id = self.new_id();
                (
                    Action::StartCommand {
                        id,
                        call_id: call_id.clone(),
                        kind,
                        argv: rendered.argv,
                        deadline,
                    },
                    (id, rendered.for_log),
                )
            }
        };
        let (id, what) = what;
        self.running.insert(
            id,
            Running {
                call_id: call_id.clone(),
                kind,
                started: now,
                deadline,
                secret: values.op_pw.clone(),
            },
        );
        self.actions.push_back(action);
        self.log(HookLog::Started {
            id,
            call_id,
            kind,
            what,
        });
    }

    /// Opens the detail view for a call (the popup's "Details" button,
    /// WEB-4). Works during the call and for the last [`ENDED_CALLS_KEPT`]
    /// ended calls; the internal-call setting does not apply to a click.
    /// Returns `false` (and logs why) when there is no detail view or the
    /// call is unknown.
    pub fn open_detail(&mut self, call_id: &str, now: Instant) -> bool {
        let now = self.clock(now);
        if self.config.detail.is_none() {
            self.ignored(
                Some(call_id),
                "details requested but no detail view is set up".into(),
            );
            return false;
        }
        let Some(values) = self.call_values(call_id).cloned() else {
            self.ignored(
                Some(call_id),
                "details requested for an unknown call".into(),
            );
            return false;
        };
        self.start_hook(HookKind::Detail, &values, now);
        true
    }

    /// Reports the end of a hook started by a `Start*`/`OpenBrowser` action.
    pub fn handle_hook_done(&mut self, id: HookId, outcome: HookOutcome, now: Instant) {
        let now = self.clock(now);
        let Some(run) = self.running.remove(&id) else {
            self.ignored(
                None,
                format!("result for hook {id}, which had already timed out or was never started"),
            );
            return;
        };
        let elapsed = now.saturating_duration_since(run.started);
        let (ok, result) = match &outcome {
            HookOutcome::HttpResponse { status, .. } => {
                ((200..300).contains(status), format!("HTTP {status}"))
            }
            HookOutcome::Exited { code: Some(code) } => (*code == 0, format!("exit code {code}")),
            HookOutcome::Exited { code: None } => (false, "ended by a signal".to_owned()),
            HookOutcome::Launched => (true, "browser launched".to_owned()),
            HookOutcome::Failed { error } => (
                false,
                format!("failed: {}", log_safe(&redact_secret(error, &run.secret))),
            ),
        };
        self.log(HookLog::Finished {
            id,
            call_id: run.call_id.clone(),
            kind: run.kind,
            ok,
            result,
            elapsed,
        });
        if let (
            HookKind::Popup,
            HookOutcome::HttpResponse {
                status,
                content_type,
                body,
            },
        ) = (run.kind, outcome)
        {
            let decoded = decode_body(
                &body,
                content_type.as_deref(),
                self.config.limits.max_body_bytes,
            );
            // A CRM that echoes its parameters would put the password on
            // screen, in the log line and in the `popup` event.
            self.actions.push_back(Action::PopupContent {
                call_id: run.call_id,
                status,
                text: redact_secret(&to_display_text(&decoded), &run.secret),
                truncated: decoded.truncated,
            });
        }
    }

    /// Cancels every hook whose deadline is at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.clock(now);
        let expired: Vec<HookId> = self
            .running
            .iter()
            .filter(|(_, r)| r.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(run) = self.running.remove(&id) {
                self.actions.push_back(Action::Cancel { id });
                self.log(HookLog::TimedOut {
                    id,
                    call_id: run.call_id,
                    kind: run.kind,
                    limit: run.deadline.saturating_duration_since(run.started),
                });
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Ring,
    Answer,
    HangUp,
    Dial,
}

fn cause_text(cause: HangupCause) -> String {
    match cause {
        HangupCause::Local => "local hang-up".into(),
        HangupCause::Remote => "remote hang-up".into(),
        HangupCause::CallerCancelled => "caller cancelled".into(),
        HangupCause::Declined => "declined".into(),
        HangupCause::Failed(code) => format!("failed with {code}"),
    }
}
