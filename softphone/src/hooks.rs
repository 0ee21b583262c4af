//! The CTI hook driver: runs what the `bb-cti` engine decides (HTTP requests
//! with reqwest, commands as argv without a shell, the browser) and reports
//! each outcome back to it. It decides nothing: ordering, time limits,
//! skipping internal calls and redaction are the engine's.
//!
//! It runs in its own task and is fed through a channel, so nothing a CRM or a
//! command does can hold up signalling.

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
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::AbortHandle;

use crate::config::RawSettings;
use crate::phone::{Direction, EndCause, PhoneEvent};

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
        Ok(HookSettings {
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

enum Msg {
    Call(CallEvent),
    Details(String, oneshot::Sender<bool>),
    Done(HookId, HookOutcome),
}

/// Handle to the hook driver task.
#[derive(Clone)]
pub struct HookDriver {
    tx: mpsc::UnboundedSender<Msg>,
    own_extension: String,
    operator: OperatorLogin,
}

fn wire_kind(k: HookKind) -> wire::HookKind {
    match k {
        HookKind::Popup => wire::HookKind::Popup,
        HookKind::Detail => wire::HookKind::Details,
        HookKind::RingCommand => wire::HookKind::CommandRing,
        HookKind::AnswerCommand => wire::HookKind::CommandAnswer,
        HookKind::HangupCommand => wire::HookKind::CommandHangup,
    }
}

impl HookDriver {
    /// Starts the driver task.
    pub fn start(
        settings: &crate::config::Settings,
        events: broadcast::Sender<Event>,
    ) -> HookDriver {
        let (tx, rx) = mpsc::unbounded_channel();
        let hooks = &settings.hooks;
        let task = Task {
            engine: Engine::new(hooks.engine.clone()),
            browser: hooks.browser.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::limited(5))
                .user_agent(concat!("bbclient/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_else(|_| reqwest::Client::new()),
            running: HashMap::new(),
            kinds: HashMap::new(),
            tx: tx.clone(),
            events,
        };
        tokio::spawn(task.run(rx));
        HookDriver {
            tx,
            own_extension: hooks.own_extension.clone(),
            operator: hooks.operator.clone(),
        }
    }

    /// Feeds a call event from the call model. Only incoming calls have
    /// hooks (the guide's integration is for incoming calls).
    pub fn call_event(&self, ev: &PhoneEvent) {
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
            PhoneEvent::Answered {
                call_id,
                direction: Direction::Incoming,
                ..
            } => CallEvent::Answered {
                call_id: call_id.clone(),
            },
            PhoneEvent::HungUp {
                call_id,
                cause,
                duration_ms,
                direction: Direction::Incoming,
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
        let _ = self.tx.send(Msg::Call(event));
    }

    /// Sets the operator behind `%OpId%` and `%OpPW%` for calls that ring
    /// from now on (the logged-in operator; the configured one after
    /// logout).
    pub fn set_operator(&mut self, operator: OperatorLogin) {
        self.operator = operator;
    }

    /// The operator behind `%OpId%` and `%OpPW%` now.
    pub fn operator(&self) -> &OperatorLogin {
        &self.operator
    }

    /// Opens the detail view for a call (the popup's Details action); false if
    /// no detail view is configured or the call is unknown.
    pub async fn details(&self, call_id: &str) -> bool {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Details(call_id.to_string(), tx)).is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }
}

struct Task {
    engine: Engine,
    browser: Vec<String>,
    http: reqwest::Client,
    running: HashMap<HookId, AbortHandle>,
    kinds: HashMap<HookId, HookKind>,
    tx: mpsc::UnboundedSender<Msg>,
    events: broadcast::Sender<Event>,
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
                Some(Msg::Call(ev)) => self.engine.handle_call_event(ev, now),
                Some(Msg::Details(call_id, reply)) => {
                    let _ = reply.send(self.engine.open_detail(&call_id, now));
                }
                Some(Msg::Done(id, outcome)) => {
                    self.running.remove(&id);
                    self.engine.handle_hook_done(id, outcome, now);
                }
                None => self.engine.handle_timeout(now),
            }
            while let Some(action) = self.engine.poll_action() {
                self.perform(action);
            }
        }
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
                    // Let the signalling the same event woke (the 180) go first.
                    tokio::task::yield_now().await;
                    let outcome = http_request(&http, request, max_body, limit).await;
                    let _ = tx.send(Msg::Done(id, outcome));
                });
                self.running.insert(id, handle.abort_handle());
            }
            Action::StartCommand { id, kind, argv, .. } => {
                self.kinds.insert(id, kind);
                let tx = self.tx.clone();
                let handle = tokio::spawn(async move {
                    tokio::task::yield_now().await;
                    let outcome = run_command(argv).await;
                    let _ = tx.send(Msg::Done(id, outcome));
                });
                self.running.insert(id, handle.abort_handle());
            }
            Action::OpenBrowser { id, request, .. } => {
                let url = request.url;
                self.kinds.insert(id, HookKind::Detail);
                let (program, args) = match self.browser.split_first() {
                    Some((p, a)) => (p.clone(), a.to_vec()),
                    None => ("xdg-open".to_string(), vec![]),
                };
                let outcome = match tokio::process::Command::new(&program)
                    .args(&args)
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
                println!(
                    "bbclient: popup for call {} (CRM answered {status}{}): {}",
                    bb_cti::redact::log_safe(&call_id),
                    if truncated { ", truncated" } else { "" },
                    bb_cti::redact::log_safe(&text.chars().take(200).collect::<String>())
                );
                let _ = self
                    .events
                    .send(Event::new(EventKind::Popup { text }).with_call(call_id));
            }
        }
    }

    fn log(&mut self, log: HookLog) {
        println!("bbclient: hook: {log}");
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
            let _ = self.events.send(
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

async fn run_command(argv: bb_cti::Argv) -> HookOutcome {
    // A closed semaphore cannot happen (it is never closed); run unthrottled then.
    let permit = COMMAND_STARTS.acquire().await.ok();
    let mut cmd = tokio::process::Command::new(&argv.program);
    cmd.args(&argv.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // fork/exec blocks the calling thread until the exec: do it on the
    // blocking pool, not on a worker that the SIP path needs.
    let spawned = match tokio::task::spawn_blocking(move || cmd.spawn()).await {
        Ok(r) => r,
        Err(e) => Err(std::io::Error::other(e.to_string())),
    };
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
    for (name, bytes) in [("stdout", stdout), ("stderr", stderr)] {
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim();
        if !text.is_empty() {
            println!(
                "bbclient: hook output ({name}): {}",
                bb_cti::redact::log_safe(text)
            );
        }
    }
    match status {
        Ok(s) => HookOutcome::Exited { code: s.code() },
        Err(e) => HookOutcome::Failed {
            error: format!("waiting for the command: {e}"),
        },
    }
}
