//! The CTI hook driver: runs what the `bb-cti` engine decides (HTTP requests
//! with reqwest, commands as argv without a shell, the browser) and reports
//! each outcome back to it. It decides nothing: ordering, time limits,
//! skipping internal calls and redaction are the engine's.
//!
//! It runs on a thread of its own (a single-threaded tokio runtime: the engine,
//! the HTTP requests, starting and reaping commands) and is fed through a
//! channel, so nothing a CRM or a command does can hold up signalling:
//! hook work never waits in the same run queue as the SIP driver's tasks.
//!
//! **The 180 goes first.** A ringing call comes with a token from the SIP
//! driver ([`crate::sip_ua::SipUa::ring_sent`]) that fires once the socket has
//! sent the call's 180 (or once no 180 will come). Until then the call's
//! requests, commands and browser launches are held, in the engine's order,
//! and started together when it fires (at the latest after
//! [`RING_WAIT_LIMIT`]), so a CRM request never competes with the 180 it
//! follows.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use bb_cti::engine::{Action, Engine, EngineConfig, HookId, HookKind, HookLog, HookOutcome};
use bb_cti::request::{DetailSettings, HttpMethod, PopupSettings};
use bb_cti::{
    CallEvent, CallValues, CommandLine, HangupCause, OperatorLogin, Platform, Secret, SipFacts,
};
use bb_verbs::wire::{self, Event, EventKind};
use tokio::io::AsyncReadExt as _;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use crate::config::RawSettings;
use crate::history_writer::Publisher;
use crate::phone::{EndCause, PhoneEvent};

/// Hook settings after validation.
#[derive(Debug, Clone)]
pub struct HookSettings {
    /// The engine's configuration.
    pub engine: EngineConfig,
    /// The browser command (program and arguments; the URL is appended), empty for `xdg-open`.
    pub browser: Vec<String>,
    /// Our extension (`%Exten%`).
    pub own_extension: String,
    /// The operator login (`%OpId%`, `%OpPW%`).
    pub operator: OperatorLogin,
    /// Which redirects of a CRM are followed (`[web] redirects`).
    pub redirects: crate::crm_http::Redirects,
}

impl HookSettings {
    /// Validates the hook part of the settings: `Err((key, message))`.
    pub fn from_raw(raw: &RawSettings) -> Result<HookSettings, (String, String)> {
        let mut engine = EngineConfig {
            skip_internal_web: raw.web.skip_internal,
            skip_internal_command: raw.command.skip_internal,
            ..EngineConfig::default()
        };
        let method = |key: &str, m: &str| match m.trim().to_ascii_uppercase().as_str() {
            "GET" => Ok(HttpMethod::Get),
            "POST" => Ok(HttpMethod::Post),
            _ => Err((
                key.to_string(),
                format!("'{m}' is not a method (write \"GET\" or \"POST\")"),
            )),
        };
        if let Some(p) = &raw.web.popup {
            let m = method("web.popup.method", &p.method)?;
            let popup = PopupSettings::validate(m, &p.url, &p.params)
                .map_err(|e| ("web.popup".to_string(), e.to_string()))?;
            for w in popup.warnings() {
                tracing::warn!("settings: {w}");
            }
            engine.popup = Some(popup);
        }
        let mut browser = Vec::new();
        if let Some(d) = &raw.web.detail {
            let m = method("web.detail.method", &d.method)?;
            let detail = DetailSettings::validate(m, &d.url, &d.params, d.open_browser_on_ring)
                .map_err(|e| ("web.detail".to_string(), e.to_string()))?;
            for w in detail.warnings() {
                tracing::warn!("settings: {w}");
            }
            engine.detail = Some(detail);
            if !d.browser.trim().is_empty() {
                browser = bb_cti::split_posix(&d.browser)
                    .map_err(|e| ("web.detail.browser".to_string(), e.to_string()))?;
            }
        }
        let command = |key: &str, line: &str| -> Result<Option<CommandLine>, (String, String)> {
            if line.trim().is_empty() {
                return Ok(None);
            }
            CommandLine::parse(line, Platform::current())
                .map(Some)
                .map_err(|e| (key.to_string(), e.to_string()))
        };
        engine.on_ring = command("command.on_ring", &raw.command.on_ring)?;
        engine.on_answer = command("command.on_answer", &raw.command.on_answer)?;
        engine.on_hangup = command("command.on_hangup", &raw.command.on_hangup)?;
        engine.on_dial = command("command.on_dial", &raw.command.on_dial)?;
        engine.popup_on_dial = raw.web.popup_on_dial;
        if engine.popup_on_dial && engine.popup.is_none() {
            return Err((
                "web.popup_on_dial".to_string(),
                "is on, but there is no [web.popup] to send (add one, or set popup_on_dial = false)"
                    .to_string(),
            ));
        }
        let redirects = crate::crm_http::Redirects::parse(&raw.web.redirects)
            .map_err(|m| ("web.redirects".to_string(), m))?;
        Ok(HookSettings {
            redirects,
            engine,
            browser,
            own_extension: raw.account.user.trim().to_string(),
            operator: OperatorLogin {
                id: raw.operator.login_id.clone(),
                password: Secret::new(raw.operator.password.clone()),
            },
        })
    }
}

/// How long a ringing call's hooks wait for its 180 at most (the socket
/// reports it within microseconds to milliseconds; this only bounds a 180
/// that failed to go out).
pub const RING_WAIT_LIMIT: Duration = Duration::from_millis(200);

enum Msg {
    /// A call event; for `Ringing`, the token that says its 180 is out.
    Call(CallEvent, Option<CancellationToken>),
    Details(String, oneshot::Sender<bool>),
    Done(HookId, HookOutcome),
    /// The call's 180 is out (or will not come, or we waited long enough).
    RingSent(String),
    /// Saved settings: the engine's configuration and the browser command.
    Configure(Box<EngineConfig>, Vec<String>),
}

/// Handle to the hook driver task.
#[derive(Clone)]
pub struct HookDriver {
    tx: mpsc::UnboundedSender<Msg>,
    own_extension: String,
    operator: OperatorLogin,
    /// The CRM client's redirect rule (shared with its policy).
    redirects: crate::crm_http::RedirectRule,
}

fn wire_kind(k: HookKind) -> wire::HookKind {
    match k {
        HookKind::Popup => wire::HookKind::Popup,
        HookKind::Detail => wire::HookKind::Details,
        HookKind::RingCommand => wire::HookKind::CommandRing,
        HookKind::AnswerCommand => wire::HookKind::CommandAnswer,
        HookKind::HangupCommand => wire::HookKind::CommandHangup,
        HookKind::DialCommand => wire::HookKind::CommandDial,
    }
}

impl HookDriver {
    /// Starts the driver on a thread of its own (if no thread can be
    /// started, as a task on the caller's runtime). Its events (hook
    /// outcomes, popup content) go out through `events`.
    pub fn start(settings: &crate::config::Settings, events: Publisher) -> HookDriver {
        let (tx, rx) = mpsc::unbounded_channel();
        let hooks = &settings.hooks;
        let redirects = crate::crm_http::RedirectRule::new(hooks.redirects);
        let task = Task {
            engine: Engine::new(hooks.engine.clone()),
            browser: hooks.browser.clone(),
            http: crate::crm_http::client(redirects.clone()),
            running: HashMap::new(),
            kinds: HashMap::new(),
            held: HashMap::new(),
            tx: tx.clone(),
            events,
        };
        spawn_driver(task, rx);
        HookDriver {
            tx,
            own_extension: hooks.own_extension.clone(),
            operator: hooks.operator.clone(),
            redirects,
        }
    }

    /// Feeds a call event from the call model. The guide's hooks are for
    /// incoming calls; a placed call only has the dial hooks (see
    /// [`HookDriver::dialing`]), and its answer and end just close it. For
    /// `Ringing`, `ring_sent` (from [`crate::sip_ua::SipUa::ring_sent`])
    /// holds the call's hooks until its 180 is out; `None` starts them at
    /// once.
    pub fn call_event(&self, ev: &PhoneEvent, ring_sent: Option<CancellationToken>) {
        let event = match ev {
            PhoneEvent::Ringing { facts, .. } => {
                let sip = SipFacts {
                    from_user: facts.from_user.clone().unwrap_or_default(),
                    pai_user: facts.pai_user.clone(),
                    p_called_party_user: facts.called_party_user.clone(),
                    to_user: facts.to_user.clone().unwrap_or_default(),
                    request_uri_user: facts.request_uri_user.clone().unwrap_or_default(),
                    own_extension: self.own_extension.clone(),
                    call_id: facts.call_id.clone(),
                };
                CallEvent::Ringing(CallValues::from_sip(&sip, &self.operator))
            }
            PhoneEvent::Answered { call_id, .. } => CallEvent::Answered {
                call_id: call_id.clone(),
            },
            PhoneEvent::HungUp {
                call_id,
                cause,
                duration_ms,
                ..
            } => CallEvent::HungUp {
                call_id: call_id.clone(),
                cause: match cause {
                    EndCause::LocalHangup => HangupCause::Local,
                    EndCause::RemoteHangup => HangupCause::Remote,
                    EndCause::CallerCancelled => HangupCause::CallerCancelled,
                    EndCause::Rejected | EndCause::Busy => HangupCause::Declined,
                    EndCause::Transferred => HangupCause::Local,
                    EndCause::NotAnswered | EndCause::Failed => HangupCause::Failed(0),
                },
                duration: Duration::from_millis(*duration_ms),
            },
            _ => return,
        };
        let gate = match event {
            CallEvent::Ringing(_) => ring_sent,
            _ => None,
        };
        let _ = self.tx.send(Msg::Call(event, gate));
    }

    /// The operator placed a call to `number` with the SIP Call-ID
    /// `call_id`: the dial command and popup run when configured
    /// (`[command] on_dial`, `[web] popup_on_dial`; beyond the guide).
    pub fn dialing(&self, call_id: &str, number: &str) {
        let values = CallValues::outgoing(number, &self.own_extension, call_id, &self.operator);
        let _ = self.tx.send(Msg::Call(CallEvent::Dialing(values), None));
    }

    /// Sets the operator behind `%OpId%` and `%OpPW%` for calls that ring
    /// from now on (the logged-in operator; the configured one after
    /// logout).
    pub fn set_operator(&mut self, operator: OperatorLogin) {
        self.operator = operator;
    }

    /// Takes saved settings (WEB-7): calls that ring from now on use
    /// them (see [`bb_cti::engine::Engine::set_config`] for calls in
    /// progress). `operator` is the login behind `%OpId%`/`%OpPW%` now
    /// (the logged-in operator, else the configured one).
    pub fn reconfigure(&mut self, hooks: &HookSettings, operator: OperatorLogin) {
        self.own_extension = hooks.own_extension.clone();
        self.operator = operator;
        self.redirects.set(hooks.redirects);
        let _ = self.tx.send(Msg::Configure(
            Box::new(hooks.engine.clone()),
            hooks.browser.clone(),
        ));
    }

    /// The operator behind `%OpId%` and `%OpPW%` now.
    pub fn operator(&self) -> &OperatorLogin {
        &self.operator
    }

    /// Opens the detail view for a call (the popup's Details action). The
    /// answer comes later, on the returned channel: false if no detail view
    /// is configured or the call is unknown (or the hook thread is gone).
    /// Never waits for the hook thread.
    pub fn details(&self, call_id: &str) -> oneshot::Receiver<bool> {
        let (tx, rx) = oneshot::channel();
        let _ = self.tx.send(Msg::Details(call_id.to_string(), tx));
        rx
    }
}

/// Runs the driver on its own thread with a single-threaded runtime; falls
/// back to a task on the current runtime if that cannot be had.
fn spawn_driver(task: Task, rx: mpsc::UnboundedReceiver<Msg>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("bbclient-hooks")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::warn!("cannot build the hooks' runtime ({e}); hooks share the SIP workers");
            tokio::spawn(task.run(rx));
            return;
        }
    };
    // Handed back if the thread cannot be started.
    let parts = std::sync::Arc::new(std::sync::Mutex::new(Some((task, rx))));
    let mine = parts.clone();
    let started = std::thread::Builder::new()
        .name("bbclient-hooks".into())
        .spawn(move || {
            let taken = mine.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some((task, rx)) = taken {
                runtime.block_on(task.run(rx));
            }
        });
    if let Err(e) = started {
        tracing::warn!("cannot start the hooks' thread ({e}); hooks share the SIP workers");
        let taken = parts.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((task, rx)) = taken {
            tokio::spawn(task.run(rx));
        }
    }
}

struct Task {
    engine: Engine,
    browser: Vec<String>,
    http: reqwest::Client,
    running: HashMap<HookId, AbortHandle>,
    kinds: HashMap<HookId, HookKind>,
    /// Ringing calls whose 180 is not out yet: their hooks to start, in
    /// the engine's order.
    held: HashMap<String, Vec<Action>>,
    tx: mpsc::UnboundedSender<Msg>,
    events: Publisher,
}

/// The call whose request, command or browser launch `action` starts.
fn starts_for(action: &Action) -> Option<&str> {
    match action {
        Action::StartHttp { call_id, .. }
        | Action::StartCommand { call_id, .. }
        | Action::OpenBrowser { call_id, .. } => Some(call_id),
        _ => None,
    }
}

/// The hook `action` starts.
fn hook_of(action: &Action) -> Option<HookId> {
    match action {
        Action::StartHttp { id, .. }
        | Action::StartCommand { id, .. }
        | Action::OpenBrowser { id, .. } => Some(*id),
        _ => None,
    }
}

/// Output kept from a command, per stream.
const OUTPUT_LIMIT: usize = 2048;

impl Task {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        loop {
            let deadline = self.engine.poll_timeout();
            let msg = tokio::select! {
                m = rx.recv() => match m { Some(m) => Some(m), None => break },
                _ = sleep_until(deadline) => None,
            };
            let now = Instant::now();
            match msg {
                Some(Msg::Call(ev, gate)) => {
                    if let (CallEvent::Ringing(values), Some(gate)) = (&ev, gate) {
                        self.hold_until_ringing(values.call_id.clone(), gate);
                    }
                    self.engine.handle_call_event(ev, now)
                }
                Some(Msg::RingSent(call_id)) => {
                    for action in self.held.remove(&call_id).unwrap_or_default() {
                        self.perform(action);
                    }
                }
                Some(Msg::Details(call_id, reply)) => {
                    let _ = reply.send(self.engine.open_detail(&call_id, now));
                }
                Some(Msg::Done(id, outcome)) => {
                    self.running.remove(&id);
                    self.engine.handle_hook_done(id, outcome, now);
                }
                Some(Msg::Configure(config, browser)) => {
                    self.engine.set_config(*config);
                    self.browser = browser;
                }
                None => self.engine.handle_timeout(now),
            }
            while let Some(action) = self.engine.poll_action() {
                if let Action::Cancel { id } = &action {
                    // Given up on before it could start: never start it.
                    for queue in self.held.values_mut() {
                        queue.retain(|a| hook_of(a) != Some(*id));
                    }
                }
                match starts_for(&action).and_then(|c| self.held.get_mut(c)) {
                    Some(queue) => queue.push(action),
                    None => self.perform(action),
                }
            }
        }
    }

    /// Holds `call_id`'s hooks until `gate` fires (its 180 is out, or will
    /// not come) or [`RING_WAIT_LIMIT`] has passed.
    fn hold_until_ringing(&mut self, call_id: String, gate: CancellationToken) {
        if gate.is_cancelled() {
            return;
        }
        self.held.insert(call_id.clone(), Vec::new());
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let out = tokio::time::timeout(RING_WAIT_LIMIT, gate.cancelled()).await;
            if out.is_err() {
                tracing::warn!(
                    call_id = %bb_cti::redact::log_safe(&call_id),
                    "no 180 went out within {} ms; starting the call's hooks anyway",
                    RING_WAIT_LIMIT.as_millis()
                );
            }
            let _ = tx.send(Msg::RingSent(call_id));
        });
    }

    fn perform(&mut self, action: Action) {
        match action {
            Action::StartHttp {
                id,
                kind,
                request,
                max_body,
                deadline,
                ..
            } => {
                self.kinds.insert(id, kind);
                let http = self.http.clone();
                let tx = self.tx.clone();
                let limit = deadline.saturating_duration_since(Instant::now());
                let handle = tokio::spawn(async move {
                    let outcome = http_request(&http, request, max_body, limit).await;
                    let _ = tx.send(Msg::Done(id, outcome));
                });
                self.running.insert(id, handle.abort_handle());
            }
            Action::StartCommand { id, kind, argv, .. } => {
                self.kinds.insert(id, kind);
                let tx = self.tx.clone();
                let handle = tokio::spawn(async move {
                    let outcome = run_command(argv).await;
                    let _ = tx.send(Msg::Done(id, outcome));
                });
                self.running.insert(id, handle.abort_handle());
            }
            Action::OpenBrowser { id, request, .. } => {
                let url = request.url;
                self.kinds.insert(id, HookKind::Detail);
                let Some((program, args)) = self.browser.split_first() else {
                    // The desktop's default browser (xdg-open; ShellExecuteW
                    // on Windows), the URL as one argument.
                    let outcome = match crate::platform::open_url(&url) {
                        Ok(()) => HookOutcome::Launched,
                        Err(error) => HookOutcome::Failed { error },
                    };
                    let _ = self.tx.send(Msg::Done(id, outcome));
                    return;
                };
                let outcome = match tokio::process::Command::new(program)
                    .args(args)
                    .arg(&url)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                {
                    Ok(mut child) => {
                        // Reap it in the background; the browser may run on.
                        tokio::spawn(async move {
                            let _ = child.wait().await;
                        });
                        HookOutcome::Launched
                    }
                    Err(e) => HookOutcome::Failed {
                        error: format!("cannot start the browser '{program}': {e}"),
                    },
                };
                let _ = self.tx.send(Msg::Done(id, outcome));
            }
            Action::Cancel { id } => {
                if let Some(h) = self.running.remove(&id) {
                    // Aborting drops the child with kill_on_drop: the command is killed.
                    h.abort();
                }
            }
            Action::Log(log) => self.log(log),
            Action::PopupContent {
                call_id,
                status,
                text,
                truncated,
            } => {
                crate::logging::say(format!(
                    "popup for call {} (CRM answered {status}{}): {}",
                    bb_cti::redact::log_safe(&call_id),
                    if truncated { ", truncated" } else { "" },
                    bb_cti::redact::log_safe(&text.chars().take(200).collect::<String>())
                ));
                self.events
                    .publish(Event::new(EventKind::Popup { text }).with_call(call_id));
            }
        }
    }

    fn log(&mut self, log: HookLog) {
        crate::logging::say(format!("hook: {log}"));
        tracing::info!("hook: {log}");
        let event = match &log {
            HookLog::Finished {
                id,
                call_id,
                kind,
                ok,
                result,
                ..
            } => {
                self.kinds.remove(id);
                Some((
                    call_id,
                    *kind,
                    if *ok {
                        wire::HookOutcome::Ok
                    } else {
                        wire::HookOutcome::Failed
                    },
                    Some(result.clone()),
                ))
            }
            HookLog::TimedOut {
                id,
                call_id,
                kind,
                limit,
            } => {
                self.kinds.remove(id);
                Some((
                    call_id,
                    *kind,
                    wire::HookOutcome::TimedOut,
                    Some(format!("time limit {} ms", limit.as_millis())),
                ))
            }
            HookLog::SkippedInternal { call_id, kind } => Some((
                call_id,
                *kind,
                wire::HookOutcome::Skipped,
                Some("internal call".to_string()),
            )),
            _ => None,
        };
        if let Some((call_id, kind, outcome, detail)) = event {
            self.events.publish(
                Event::new(EventKind::Hook {
                    kind: wire_kind(kind),
                    outcome,
                    detail,
                })
                .with_call(call_id.clone()),
            );
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

async fn http_request(
    http: &reqwest::Client,
    request: bb_cti::request::CrmRequest,
    max_body: usize,
    limit: Duration,
) -> HookOutcome {
    let mut builder = match request.method {
        HttpMethod::Get => http.get(&request.url),
        HttpMethod::Post => http.post(&request.url),
    };
    if let Some(ct) = request.content_type {
        builder = builder.header(reqwest::header::CONTENT_TYPE, ct);
    }
    if let Some(body) = request.body {
        builder = builder.body(body);
    }
    let work = async {
        let mut resp = builder.send().await.map_err(describe)?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(describe)? {
            let room = (max_body + 1).saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() > max_body {
                break;
            }
        }
        Ok::<_, String>(HookOutcome::HttpResponse {
            status,
            content_type,
            body,
        })
    };
    match tokio::time::timeout(limit, work).await {
        Ok(Ok(o)) => o,
        Ok(Err(error)) => HookOutcome::Failed { error },
        Err(_) => HookOutcome::Failed {
            error: format!("no answer within {} ms", limit.as_millis()),
        },
    }
}

/// Describes a reqwest error without its URL (which may hold `%OpPW%`).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut s = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// How many hook commands may be starting at once. Starting a program costs
/// 1.5–2 ms of CPU (fork, exec, the dynamic loader); a burst of 100 ringing
/// calls starting 100 `on_ring` commands at once took the CPU from the SIP
/// path for 100–150 ms on two cores (docs/BENCHMARKS.md, CTI latency). Queued
/// starts keep their order (the semaphore is fair).
static COMMAND_STARTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// How long a started command keeps its start slot at most: long enough to
/// cover exec and loading, short enough that a hung command never holds up
/// the next one for more than this.
const START_SLOT: Duration = Duration::from_millis(50);

/// The nice value hook commands run at. Voice and signalling come first
/// on an operator's machine: a CRM script competing for the CPU with the
/// SIP path made the 180 of the next ringing call late (each program start
/// is 1.5–2 ms of CPU in the child). At nice 10 a command still runs at full
/// speed on an idle CPU and only yields when the softphone needs it.
pub const COMMAND_NICE: i32 = 10;

type SpawnJob = (
    tokio::process::Command,
    tokio::runtime::Handle,
    oneshot::Sender<std::io::Result<tokio::process::Child>>,
);

/// The thread that starts hook commands: its own nice value is
/// [`COMMAND_NICE`], which Linux gives to every child it starts (nice is
/// per thread and inherited at fork), while `posix_spawn` stays usable (a
/// `pre_exec` hook would force a full `fork` of the softphone). `None` if
/// the thread cannot be started.
fn spawner() -> Option<&'static std::sync::Mutex<std::sync::mpsc::Sender<SpawnJob>>> {
    static SPAWNER: std::sync::OnceLock<
        Option<std::sync::Mutex<std::sync::mpsc::Sender<SpawnJob>>>,
    > = std::sync::OnceLock::new();
    SPAWNER
        .get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel::<SpawnJob>();
            let started = std::thread::Builder::new()
                .name("bbclient-spawn".into())
                .spawn(move || {
                    lower_this_thread(COMMAND_NICE);
                    while let Ok((mut cmd, handle, reply)) = rx.recv() {
                        let _runtime = handle.enter();
                        let _ = reply.send(cmd.spawn());
                    }
                });
            match started {
                Ok(_) => Some(std::sync::Mutex::new(tx)),
                Err(e) => {
                    tracing::warn!("cannot start the command spawner thread ({e}); commands start at normal priority");
                    None
                }
            }
        })
        .as_ref()
}

/// Sets the calling thread's nice value (Linux: per thread).
fn lower_this_thread(nice: i32) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no preconditions; setpriority only reads its
        // arguments and fails cleanly (EACCES/EPERM) when not allowed.
        let rc = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice)
        };
        if rc != 0 {
            tracing::warn!(
                "cannot lower the priority of hook commands: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

/// Starts `cmd` from the lowered spawner thread (fork/exec blocks the
/// calling thread until the exec, so never on a worker either); from the
/// blocking pool if that thread is gone.
async fn spawn_lowered(cmd: tokio::process::Command) -> std::io::Result<tokio::process::Child> {
    let (tx, rx) = oneshot::channel();
    let job = (cmd, tokio::runtime::Handle::current(), tx);
    let job = match spawner() {
        Some(sender) => match sender.lock().unwrap_or_else(|p| p.into_inner()).send(job) {
            Ok(()) => None,
            Err(std::sync::mpsc::SendError(job)) => Some(job),
        },
        None => Some(job),
    };
    if let Some((mut cmd, _, _)) = job {
        return match tokio::task::spawn_blocking(move || cmd.spawn()).await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e.to_string())),
        };
    }
    rx.await
        .unwrap_or_else(|_| Err(std::io::Error::other("the command spawner thread ended")))
}

/// Hook commands that may run at once (a hung CRM script holds its slot
/// until its time limit); one more is not started and its hook fails.
pub const MAX_RUNNING_COMMANDS: usize = 16;

static COMMANDS_RUNNING: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new(MAX_RUNNING_COMMANDS);

async fn run_command(argv: bb_cti::Argv) -> HookOutcome {
    run_command_in(argv, &COMMANDS_RUNNING).await
}

/// [`run_command`] with the running commands counted in `running`.
async fn run_command_in(argv: bb_cti::Argv, running: &tokio::sync::Semaphore) -> HookOutcome {
    let Ok(_running) = running.try_acquire() else {
        return HookOutcome::Failed {
            error: format!(
                "{MAX_RUNNING_COMMANDS} hook commands are running already; this one was not started"
            ),
        };
    };
    // A closed semaphore cannot happen (it is never closed); run unthrottled then.
    let permit = COMMAND_STARTS.acquire().await.ok();
    let mut cmd = tokio::process::Command::new(&argv.program);
    cmd.args(&argv.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // Its own process group (a job object on Windows), so that the time
    // limit ends all of it.
    crate::platform::prepare_tree(&mut cmd);
    let spawned = spawn_lowered(cmd).await;
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            return HookOutcome::Failed {
                error: format!(
                    "cannot start '{}': {e}",
                    bb_cti::redact::log_safe(&argv.program)
                ),
            };
        }
    };
    // Killed whole when dropped before the command ended: its time limit
    // aborts the task that runs it, and a grandchild (a script's own
    // children) must not outlive it.
    let mut group = match crate::platform::ProcessTree::contain(&child) {
        Ok(tree) => tree,
        Err(e) => {
            return HookOutcome::Failed {
                error: format!(
                    "cannot contain '{}' so that its time limit ends it: {e}",
                    bb_cti::redact::log_safe(&argv.program)
                ),
            };
        }
    };
    let out = child.stdout.take();
    let err = child.stderr.take();
    let read = |pipe: Option<tokio::process::ChildStdout>| async move {
        let mut buf = Vec::new();
        if let Some(p) = pipe {
            let _ = p.take(OUTPUT_LIMIT as u64).read_to_end(&mut buf).await;
        }
        buf
    };
    let read_err = |pipe: Option<tokio::process::ChildStderr>| async move {
        let mut buf = Vec::new();
        if let Some(p) = pipe {
            let _ = p.take(OUTPUT_LIMIT as u64).read_to_end(&mut buf).await;
        }
        buf
    };
    let waiting = async {
        let status = child.wait();
        tokio::pin!(status);
        let early = tokio::select! {
            s = &mut status => Some(s),
            _ = tokio::time::sleep(START_SLOT) => None,
        };
        drop(permit);
        match early {
            Some(s) => s,
            None => status.await,
        }
    };
    let (stdout, stderr, status) = tokio::join!(read(out), read_err(err), waiting);
    group.ended();
    for (name, bytes) in [("stdout", stdout), ("stderr", stderr)] {
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim();
        if !text.is_empty() {
            crate::logging::say(format!(
                "hook output ({name}): {}",
                bb_cti::redact::log_safe(text)
            ));
        }
    }
    match status {
        Ok(s) => HookOutcome::Exited { code: s.code() },
        Err(e) => HookOutcome::Failed {
            error: format!("waiting for the command: {e}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phone::IncomingFacts;
    use std::io::{Read as _, Write as _};

    /// A stand-in CRM that takes one connection at a time, in arrival
    /// order, and reports each popup's `cid`.
    fn crm() -> (std::net::SocketAddr, std::sync::mpsc::Receiver<String>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match conn.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                let text = String::from_utf8_lossy(&head).to_string();
                let cid = text
                    .split_once("cid=")
                    .and_then(|(_, rest)| rest.split([' ', '&']).next())
                    .unwrap_or("")
                    .to_string();
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
                );
                if tx.send(cid).is_err() {
                    break;
                }
            }
        });
        (addr, rx)
    }

    fn ringing(call_id: &str) -> PhoneEvent {
        PhoneEvent::Ringing {
            key: 1,
            facts: IncomingFacts {
                call_id: call_id.into(),
                from_user: Some("09012345678".into()),
                to_user: Some("1910".into()),
                request_uri_user: Some("1910".into()),
                called_party_user: Some("0312345678".into()),
                ..Default::default()
            },
        }
    }

    #[tokio::test]
    async fn hook_commands_start_at_a_lowered_priority() {
        let mut cmd = tokio::process::Command::new("cat");
        cmd.arg("/proc/self/stat").stdout(Stdio::piped());
        let child = spawn_lowered(cmd).await.unwrap_or_else(|e| panic!("{e}"));
        let out = child
            .wait_with_output()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let stat = String::from_utf8_lossy(&out.stdout);
        // Field 19 of /proc/PID/stat is the nice value; 3 is the first after "(comm) ".
        let nice: i32 = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.split(' ').nth(19 - 3))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no nice value in {stat:?}"));
        // At least COMMAND_NICE: a test run that is itself niced further
        // cannot raise it back, and then the children keep its value.
        assert!(nice >= COMMAND_NICE, "the command ran at nice {nice}");
    }

    #[tokio::test]
    async fn a_ringing_calls_hooks_wait_for_its_180() {
        let (addr, requests) = crm();
        let settings = crate::config::Settings::from_toml(
            &format!(
                "[account]\nserver = \"127.0.0.1:5060\"\nuser = \"1910\"\n\n[web]\nskip_internal = false\n\n\
                 [web.popup]\nmethod = \"GET\"\nurl = \"http://{addr}/popup\"\nparams = '''\ncid=%CallId%\n'''\n"
            ),
            std::path::Path::new("/etc/bb/s.toml"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let (events, _) = tokio::sync::broadcast::channel(64);
        let driver = HookDriver::start(
            &settings,
            Publisher::start(None, crate::control::EventFeed::new(events)),
        );
        // Call A's 180 is not out yet; call B (after it) has nothing to wait
        // for. The driver takes A first: had it started A's request, the CRM
        // would have taken A's connection first.
        let a_rang = CancellationToken::new();
        driver.call_event(&ringing("a"), Some(a_rang.clone()));
        driver.call_event(&ringing("b"), None);
        let wait = |rx: &std::sync::mpsc::Receiver<String>| {
            rx.recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("no popup request: {e}"))
        };
        assert_eq!(wait(&requests), "b", "A's request went out before its 180");
        a_rang.cancel();
        assert_eq!(wait(&requests), "a");
        // A 180 that never goes out delays the hooks, never loses them.
        driver.call_event(&ringing("c"), Some(CancellationToken::new()));
        assert_eq!(wait(&requests), "c");
    }

    #[tokio::test]
    async fn a_command_beyond_the_running_limit_is_not_started() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let marker = dir.path().join("started");
        let argv = bb_cti::Argv {
            program: "/usr/bin/touch".into(),
            args: vec![marker.display().to_string()],
        };
        let full = tokio::sync::Semaphore::new(0);
        match run_command_in(argv.clone(), &full).await {
            HookOutcome::Failed { error } => {
                assert!(
                    error.contains("16 hook commands are running already"),
                    "{error}"
                )
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(!marker.exists(), "the command was started");
        let free = tokio::sync::Semaphore::new(1);
        let ran = run_command_in(argv, &free).await;
        assert!(
            matches!(ran, HookOutcome::Exited { code: Some(0) }),
            "{ran:?}"
        );
        assert!(marker.exists());
    }
}
