//! The application loop of a running softphone: it owns the call model, the
//! operator session and the call history, and routes between the SIP
//! driver, the control socket, the CTI hook driver, the operator API and
//! the terminal. One task, one `select!`; everything else is a channel.
//!
//! What it does besides routing:
//!
//! * **History** (CALL-3): every call's events go through
//!   [`crate::history::History::record`] before they are published, so a
//!   call's row is stored when its `hung_up` event reaches the window (which
//!   only reads the file). Both happen on the history thread
//!   ([`crate::history_writer::Publisher`]), so the SQLite commit never runs
//!   on the async workers. Where the file is: [`crate::history::path_for`].
//! * **Operator login** (ACD-1): `login`/`logout` become requests to the
//!   BlueBean operator API ([`crate::operator`]), run in their own tasks; the
//!   verb is answered when the server has. The logged-in operator becomes
//!   `%OpId%`/`%OpPW%` for the hooks; at shutdown the operator is logged out
//!   (bounded).
//! * **Media**: DTMF received on a call is published as a `dtmf` event;
//!   each call's media figures are in `status` and printed when it ends.
//! * **Saved settings** (WEB-7): the window hands validated [`Settings`]
//!   in on [`Core::settings`]; [`crate::reload::plan`] decides what is in
//!   force from the next call and what waits for a restart; the loop swaps
//!   what it may (hooks, operator, call model, history file, the SIP
//!   account with a re-registration) and publishes a `settings` event.
//!   The control socket has no way to send settings: no verb changes them.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use bb_verbs::Verb;
use bb_verbs::wire::{Direction, Event, EventKind, HangupCause, RegistrationState, RequestBody};

use crate::config::{Settings, Transport};
use crate::control::{self, ControlCommand};
use crate::history::History;
use crate::history_writer::Publisher;
use crate::hooks::HookDriver;
use crate::media::{MediaNotice, MediaStats};
use crate::operator::{ApiCall, ApiError, OperatorApi, ServerOperator, Session};
use crate::phone::{Action, Command, EndCause, Input, Phone, PhoneConfig, PhoneEvent};
use crate::reload::Report;
use crate::sip_ua::{RegState, SipAccount, SipEvent, SipUa};
use crate::sounds::{Players, Sounds};

/// How a softphone is started.
pub struct RunOptions {
    /// Validated settings.
    pub settings: Settings,
    /// The instance name (for the control socket and the default history
    /// file).
    pub instance: String,
}

/// How long the operator logout at shutdown may take.
const SHUTDOWN_LOGOUT_LIMIT: Duration = Duration::from_secs(2);
/// How long the unregistration at shutdown may take (the SIP driver bounds
/// its REGISTER to 2 s; this is the app loop's own limit).
const SHUTDOWN_UNREGISTER_LIMIT: Duration = Duration::from_secs(3);
/// How long shutdown waits for the history thread to store what it was given.
const SHUTDOWN_HISTORY_LIMIT: Duration = Duration::from_secs(3);
/// How long `status` waits for the operator API's view of the operator.
const STATUS_REFRESH_LIMIT: Duration = Duration::from_millis(1500);

/// A finished operator API call, back in the app loop.
enum OpMsg {
    /// A login or logout, with the verb's reply channel.
    Done {
        call: ApiCall,
        answer: Result<ServerOperator, ApiError>,
        reply: oneshot::Sender<Result<Option<serde_json::Value>, String>>,
    },
    /// A fresh view of the operator from a `status` refresh.
    Server(ServerOperator),
    /// The ACD state change of do not disturb, answered.
    State {
        call: ApiCall,
        answer: Result<ServerOperator, ApiError>,
    },
}

/// Saved settings for the running core (WEB-7), validated by
/// [`Settings::validate`] (the window's Save does that before it writes
/// the file).
pub struct SettingsUpdate {
    /// The settings as saved.
    pub settings: Settings,
    /// What the core did with them.
    pub reply: oneshot::Sender<Applied>,
}

/// What the core did with saved settings; the same [`Report`] is
/// published as a `settings` event.
#[derive(Clone, Debug)]
pub struct Applied {
    /// In force now, after a restart, not at all.
    pub report: Report,
    /// The call history the core records into from now on (`None`: off,
    /// or it could not be opened).
    pub history_path: Option<PathBuf>,
}

/// Prints one line for the person at the terminal (headless mode).
fn say(line: impl AsRef<str>) {
    crate::logging::say(line);
}

/// A running core: the app loop on the tokio runtime, reached through
/// channels. The window ([`crate::ui`]) and in-process test harnesses hold
/// one; headless `bbclient run` waits on it.
pub struct Core {
    /// Verbs into the app loop (the channel the control socket uses too).
    pub commands: mpsc::Sender<ControlCommand>,
    /// Saved settings into the app loop (in-process only: the window).
    pub settings: mpsc::Sender<SettingsUpdate>,
    /// The app loop's event stream; `subscribe()` for a receiver.
    pub events: broadcast::Sender<Event>,
    /// Cancel to shut the core down (unregisters, removes the socket).
    pub cancel: CancellationToken,
    /// The app loop; ends after `cancel` with its outcome.
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// The call history the core records into (`None`: disabled, or it
    /// could not be opened — the reason was printed). The window opens it
    /// with [`History::open_viewer`].
    pub history_path: Option<PathBuf>,
}

/// Runs until Ctrl-C or SIGTERM.
pub async fn run(opts: RunOptions) -> anyhow::Result<()> {
    // Caught from now on: a signal that arrives while the core starts (or
    // just after it said it registered) still shuts it down cleanly.
    let mut signals = ShutdownSignals::install();
    let core = start(opts).await?;
    let cancel = core.cancel.clone();
    tokio::select! {
        _ = signals.recv() => cancel.cancel(),
        _ = cancel.cancelled() => {}
    }
    match core.task.await {
        Ok(outcome) => outcome,
        Err(e) => Err(anyhow::anyhow!("the app loop ended abnormally: {e}")),
    }
}

/// Binds the control socket, starts SIP and the hook driver, and spawns the
/// app loop. Must be called inside a tokio runtime.
pub async fn start(opts: RunOptions) -> anyhow::Result<Core> {
    let settings = opts.settings;
    let cancel = CancellationToken::new();
    let path = control::socket_path(&opts.instance);
    let listener = control::bind(&path).await?;
    let (events_tx, _) = broadcast::channel::<Event>(1024);
    let (cmd_tx, cmd_rx) = mpsc::channel::<ControlCommand>(64);
    let (settings_tx, settings_rx) = mpsc::channel::<SettingsUpdate>(4);
    // One feed for the control socket and the publisher: it keeps the
    // registration state for late subscribers, stored before it is sent.
    let feed = control::EventFeed::new(events_tx.clone());
    tokio::spawn(control::serve(listener, cmd_tx.clone(), feed.clone()));

    let (sip_tx, sip_rx) = mpsc::unbounded_channel();
    let sip = match SipUa::start(&settings, sip_tx, cancel.clone()).await {
        Ok(sip) => sip,
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
    };
    let media_rx = sip.media_notices();
    say(format!(
        "extension {} on {} (SIP {}), control socket {}",
        settings.raw.account.user,
        settings.server,
        sip.local_addr(),
        path.display()
    ));
    let (history, history_path) = open_history(&settings, &opts.instance);
    // Events leave through the history thread (recorded first, in order).
    let publisher = Publisher::start(history, feed);
    let hooks = HookDriver::start(&settings, publisher.clone());
    let api = settings
        .operator_api
        .clone()
        .map(|url| OperatorApi::new(url, settings.operator_timeout));
    let operator = Session::new(
        settings.hooks.operator.clone(),
        &settings.raw.account.user,
        api.is_some(),
        &settings.path,
    );
    match &api {
        Some(api) => say(format!("operator API {}", api.base())),
        None => say("operator login off (no [operator] api_url)"),
    }
    if let Some(warning) = srtp_warning(&settings) {
        say(warning);
    }
    let task = tokio::spawn(app_loop(AppLoop {
        settings,
        path,
        sip,
        sip_rx,
        media_rx,
        hooks,
        cmd_rx,
        settings_rx,
        publisher,
        cancel: cancel.clone(),
        operator,
        api,
        instance: opts.instance,
        history_path: std::sync::Arc::new(std::sync::Mutex::new(history_path.clone())),
    }));
    Ok(Core {
        commands: cmd_tx,
        settings: settings_tx,
        events: events_tx,
        cancel,
        task,
        history_path,
    })
}

/// Where the history of saved settings goes: `Ok(None)` when it is off.
fn history_target(settings: &Settings, instance: &str) -> Result<Option<PathBuf>, String> {
    if !settings.raw.history.enabled {
        return Ok(None);
    }
    let env = |name: &str| std::env::var_os(name);
    crate::history::path_for(instance, settings.history_path.as_deref(), &env)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Opens the call history the core records into; says where, or why not.
fn open_history(settings: &Settings, instance: &str) -> (Option<History>, Option<PathBuf>) {
    if !settings.raw.history.enabled {
        say("call history off ([history] enabled = false)");
        return (None, None);
    }
    let env = |name: &str| std::env::var_os(name);
    let opened = crate::history::path_for(instance, settings.history_path.as_deref(), &env)
        .and_then(|p| History::open(&p).map(|h| (h, p)));
    match opened {
        Ok((h, p)) => {
            say(format!("call history {}", p.display()));
            (Some(h), Some(p))
        }
        Err(e) => {
            say(format!("{e}; calls are not recorded"));
            tracing::warn!("{e}");
            (None, None)
        }
    }
}

/// What the app loop owns.
struct AppLoop {
    settings: Settings,
    path: std::path::PathBuf,
    sip: SipUa,
    sip_rx: mpsc::UnboundedReceiver<SipEvent>,
    media_rx: broadcast::Receiver<MediaNotice>,
    hooks: HookDriver,
    cmd_rx: mpsc::Receiver<ControlCommand>,
    settings_rx: mpsc::Receiver<SettingsUpdate>,
    /// Where the app loop's events go (recorded in the history, then
    /// broadcast, on the history thread).
    publisher: Publisher,
    cancel: CancellationToken,
    operator: Session,
    api: Option<OperatorApi>,
    instance: String,
    /// The history file recorded into (changed by saved settings).
    history_path: std::sync::Arc<std::sync::Mutex<Option<PathBuf>>>,
}

async fn app_loop(parts: AppLoop) -> anyhow::Result<()> {
    let AppLoop {
        mut settings,
        path,
        sip,
        mut sip_rx,
        mut media_rx,
        mut hooks,
        mut cmd_rx,
        mut settings_rx,
        publisher,
        cancel,
        mut operator,
        mut api,
        instance,
        history_path,
    } = parts;
    let started = Instant::now();
    let now = || started.elapsed().as_millis() as u64;
    let mut phone = Phone::new(phone_config(&settings));
    let mut sounds = Sounds::new();
    let mut players = Players::new();
    let mut reg = RegState::Unregistered;
    let mut last_incoming: Option<String> = None;
    let (op_tx, mut op_rx) = mpsc::unbounded_channel::<OpMsg>();
    let mut media_open = true;
    loop {
        tokio::select! {
            Some(ev) = sip_rx.recv() => match ev {
                SipEvent::Call(input) => {
                    if let Input::Progress { key, code, early_media } = &input {
                        sounds.on_progress(*key, *code, *early_media);
                    }
                    phone.handle_input(input, now());
                }
                SipEvent::Registration(state) => {
                    let state = tidy_reg(state);
                    let (kind, reason, text) = match &state {
                        RegState::Registered { expires } => (
                            RegistrationState::Registered,
                            None,
                            format!("registered as {} at {} (expires in {expires} s)", settings.raw.account.user, settings.server),
                        ),
                        RegState::Failed { reason, retry_in } => (
                            RegistrationState::Failed,
                            Some(reason.clone()),
                            format!("registration failed: {}; retrying in {retry_in} s", bb_cti::redact::log_safe(reason)),
                        ),
                        RegState::Unregistered => (RegistrationState::Unregistered, None, "unregistered".to_string()),
                    };
                    if state != reg {
                        say(&text);
                    }
                    reg = state;
                    publisher.publish(Event::new(EventKind::Registration { state: kind, reason }));
                }
                SipEvent::Refused(r) => {
                    say(format!(
                        "refused {} from {}: {}",
                        bb_cti::redact::log_safe(&r.refusal.method),
                        r.source,
                        r.refusal.why
                    ));
                    publisher.publish(Event::new(EventKind::Refused {
                        request: r.refusal.method.clone(),
                        source: Some(r.source.to_string()),
                        target: None,
                        reason: r.refusal.why.to_string(),
                    }));
                }
                SipEvent::ReferRefused { key, target, why } => {
                    let call_id = phone.call_id(key).map(str::to_string);
                    say(format!(
                        "refused a transfer to {}: {why}",
                        bb_cti::redact::log_safe(&target)
                    ));
                    let event = Event::new(EventKind::Refused {
                        request: "REFER".into(),
                        source: None,
                        target: Some(target),
                        reason: why,
                    });
                    publisher.publish(match call_id {
                        Some(id) => event.with_call(id),
                        None => event,
                    });
                }
            },
            notice = media_rx.recv(), if media_open => match notice {
                Ok(MediaNotice::Dtmf { call_id, digit, .. }) => {
                    say(format!("DTMF received: {digit} (Call-ID {})", bb_cti::redact::log_safe(&call_id)));
                    publisher.publish(
                        Event::new(EventKind::Dtmf { digits: digit.to_string(), direction: Direction::Incoming })
                            .with_call(call_id),
                    );
                }
                Ok(MediaNotice::Stopped { call_id, stats, .. }) => {
                    say(format!("media of Call-ID {}: {}", bb_cti::redact::log_safe(&call_id), media_line(&stats)));
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!("{n} media notices (DTMF, figures) were dropped: the app loop is behind");
                }
                Err(broadcast::error::RecvError::Closed) => media_open = false,
            },
            Some(msg) = op_rx.recv() => match msg {
                OpMsg::Done { call, answer, reply } => {
                    let outcome = operator.finish(&call, answer);
                    if let Some(login) = outcome.hooks_login {
                        hooks.set_operator(login);
                    }
                    if let Some(ev) = outcome.event {
                        say(operator_line(&ev));
                        publisher.publish(ev);
                    }
                    let _ = reply.send(outcome.reply);
                }
                OpMsg::Server(server) => operator.note_server(server),
                OpMsg::State { call, answer } => {
                    let outcome = operator.finish(&call, answer);
                    match (&call, outcome.reply) {
                        (ApiCall::SetState { state, .. }, Ok(_)) => {
                            say(format!("operator state set to {state} (do not disturb)"));
                        }
                        (_, Err(e)) => say(e),
                        _ => {}
                    }
                }
            },
            Some(update) = settings_rx.recv() => {
                let plan = crate::reload::plan(&settings, update.settings, &|a| sip.reaches(a));
                settings = plan.settings;
                // Cheap, and the same whatever changed: the call model,
                // the operator session and the hooks take the settings.
                phone.set_config(phone_config(&settings));
                sip.set_admission(settings.admission.clone());
                api = settings
                    .operator_api
                    .clone()
                    .map(|url| OperatorApi::new(url, settings.operator_timeout));
                let login = operator.reconfigure(
                    settings.hooks.operator.clone(),
                    &settings.raw.account.user,
                    api.is_some(),
                    &settings.path,
                );
                hooks.reconfigure(&settings.hooks, login);
                if plan.reregister {
                    sip.set_account(SipAccount::from_settings(&settings));
                }
                // The history file is opened on the history thread; the
                // report waits for it, the loop does not.
                let switch = plan.history.then(|| history_target(&settings, &instance));
                let (publisher, mut report) = (publisher.clone(), plan.report);
                let history_path = history_path.clone();
                tokio::spawn(async move {
                    match switch {
                        None => {}
                        Some(Err(e)) => report.failed.push(format!("history: {e}")),
                        Some(Ok(target)) => match publisher.switch_history(target.clone()).await {
                            Ok(()) => *lock(&history_path) = target,
                            Err(e) => report.failed.push(format!("history: {e}")),
                        },
                    }
                    let now = lock(&history_path).clone();
                    say(report.line());
                    publisher.publish(Event::new(EventKind::Settings {
                        applied: report.applied.clone(),
                        after_restart: report.after_restart.clone(),
                        failed: report.failed.clone(),
                    }));
                    let _ = update.reply.send(Applied { report, history_path: now });
                });
            }
            Some(cmd) = cmd_rx.recv() => {
                match cmd.body {
                    RequestBody::Login { login_id, password } => {
                        match operator.begin_login(login_id.as_ref().map(|l| l.as_str()), password.as_ref().map(|p| p.expose())) {
                            Ok(call) => spawn_api_call(api.as_ref(), call, cmd.reply, &op_tx),
                            Err(e) => { let _ = cmd.reply.send(Err(e)); }
                        }
                    }
                    RequestBody::Logout => match operator.begin_logout() {
                        Ok(call) => spawn_api_call(api.as_ref(), call, cmd.reply, &op_tx),
                        Err(e) => { let _ = cmd.reply.send(Err(e)); }
                    },
                    RequestBody::Status => {
                        let data = status(&phone, &reg, &settings, &operator, &sip);
                        match (api.clone(), operator.logged_in_as()) {
                            (Some(api), Some(id)) => {
                                let call = ApiCall::Get { login_id: id.to_string() };
                                let op_tx = op_tx.clone();
                                tokio::spawn(async move {
                                    let mut data = data;
                                    match api.perform(&call, Some(STATUS_REFRESH_LIMIT)).await {
                                        Ok(server) => {
                                            data["operator"]["server_state"] = server.state.clone().into();
                                            let _ = op_tx.send(OpMsg::Server(server));
                                        }
                                        Err(e) => {
                                            data["operator"]["server_error"] = e.to_string().into();
                                        }
                                    }
                                    let _ = cmd.reply.send(Ok(Some(data)));
                                });
                            }
                            _ => { let _ = cmd.reply.send(Ok(Some(data))); }
                        }
                    }
                    body => match command(&mut phone, &hooks, last_incoming.as_deref(), body, now()) {
                        Outcome::Now(outcome) => {
                            let _ = cmd.reply.send(outcome);
                        }
                        Outcome::Details(done) => {
                            // The hook thread answers; the app loop never
                            // waits for it.
                            let reply = cmd.reply;
                            tokio::spawn(async move {
                                let outcome = if done.await.unwrap_or(false) {
                                    Ok(None)
                                } else {
                                    Err("no detail view is configured ([web.detail]), or the call is unknown".into())
                                };
                                let _ = reply.send(outcome);
                            });
                        }
                    },
                }
            }
            // A ringing call's time limit ([sip] ring_timeout_s).
            _ = sleep_until(phone.poll_timeout().map(|t| started + Duration::from_millis(t))) => {
                phone.handle_timeout(now());
            }
            _ = cancel.cancelled() => break,
        }
        while let Some(action) = phone.poll_action() {
            match action {
                Action::Ring(key) => sip.ring(key),
                Action::Accept(key) => sip.accept(key),
                Action::Reject(key, code) => sip.reject(key, code),
                Action::Bye(key) => sip.bye(key),
                Action::Cancel(key) => sip.cancel(key),
                Action::Invite {
                    key,
                    number,
                    replaces,
                } => {
                    let call_id = crate::sip_ua::new_call_id(sip.local_addr());
                    phone.set_call_id(key, call_id.clone());
                    sip.invite(key, number, replaces, call_id);
                }
                Action::Hold { key, hold } => sip.hold(key, hold),
                Action::Mute { key, muted } => sip.mute(key, muted),
                Action::Refer {
                    key,
                    number,
                    replaces,
                } => sip.refer(key, number, replaces),
                Action::NotifyRefer { key, code, last } => sip.notify_refer(key, code, last),
                Action::Dtmf { key, digits } => {
                    sip.send_dtmf(key, &digits);
                    let mut ev = Event::new(EventKind::Dtmf {
                        digits,
                        direction: Direction::Outgoing,
                    });
                    if let Some(id) = phone.call_id(key) {
                        ev = ev.with_call(id);
                    }
                    publisher.publish(ev);
                }
                Action::Event(ev) => {
                    sounds.on_event(&ev);
                    if let PhoneEvent::Dnd { on } = &ev
                        && let (Some(api), Some(call)) = (api.clone(), operator.dnd_state(*on))
                    {
                        // The queues stop offering calls to the operator
                        // too; the phone turns calls away meanwhile.
                        let op_tx = op_tx.clone();
                        tokio::spawn(async move {
                            let answer = api.perform(&call, None).await;
                            let _ = op_tx.send(OpMsg::State { call, answer });
                        });
                    }
                    let (mut event, line) = announce(&ev);
                    if let PhoneEvent::Dialing { key, .. } = &ev
                        && let Some(call_id) = phone.call_id(*key)
                    {
                        event = event.with_call(call_id.to_string());
                    }
                    // The terminal line and the event first (the event is a
                    // channel send: the history commit and the broadcast
                    // happen on the history thread), so that a call's
                    // `ringing` precedes its `hook` events and lines.
                    say(line);
                    publisher.publish(event);
                    if let PhoneEvent::Ringing { facts, .. } = &ev {
                        // `Action::Ring` came just before: the hooks start
                        // once its 180 is on the wire.
                        hooks.call_event(&ev, sip.ring_sent(&facts.call_id));
                        last_incoming = Some(facts.call_id.clone());
                        publisher.note_outside_line(
                            &facts.call_id,
                            outside_line(facts, &settings.raw.account.user),
                        );
                    } else if let PhoneEvent::Dialing { key, number } = &ev {
                        if let Some(call_id) = phone.call_id(*key) {
                            hooks.dialing(call_id, number);
                        }
                    } else {
                        hooks.call_event(&ev, None);
                    }
                }
            }
        }
        while let Some(action) = sounds.poll_action() {
            players.apply(action, &settings.audio, |key, tone| sip.set_tone(key, tone));
        }
    }
    say("shutting down");
    cancel.cancel();
    // Log the operator out and let the SIP driver unregister, side by side,
    // each bounded so that shutdown never hangs.
    let logout = async {
        let (Some(api), Some(call)) = (api.as_ref(), operator.shutdown_logout()) else {
            return;
        };
        let answer = api.perform(&call, Some(SHUTDOWN_LOGOUT_LIMIT)).await;
        let failed = answer.as_ref().err().map(|e| e.to_string());
        let outcome = operator.finish(&call, answer);
        match (outcome.event, failed) {
            (Some(ev), _) => {
                say(operator_line(&ev));
                publisher.publish(ev);
            }
            (None, Some(e)) => say(format!("operator logout at shutdown failed: {e}")),
            (None, None) => {}
        }
    };
    let unregister = async {
        let deadline = tokio::time::Instant::now() + SHUTDOWN_UNREGISTER_LIMIT;
        while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, sip_rx.recv()).await {
            if let SipEvent::Registration(RegState::Unregistered) = ev {
                say("unregistered");
                publisher.publish(Event::new(EventKind::Registration {
                    state: RegistrationState::Unregistered,
                    reason: None,
                }));
                break;
            }
        }
    };
    tokio::join!(logout, unregister);
    // The last calls' rows are stored before the process may exit.
    if tokio::time::timeout(SHUTDOWN_HISTORY_LIMIT, publisher.flush())
        .await
        .is_err()
    {
        tracing::warn!(
            "the call history was still being written after {} s; the last calls may be missing from it",
            SHUTDOWN_HISTORY_LIMIT.as_secs()
        );
    }
    let _ = std::fs::remove_file(&path);
    Ok(())
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A registration state as shown: reasons trimmed (a server's empty reason
/// phrase must not leave `403 ` with a trailing space).
fn tidy_reg(state: RegState) -> RegState {
    match state {
        RegState::Failed { reason, retry_in } => RegState::Failed {
            reason: reason.trim().to_string(),
            retry_in,
        },
        other => other,
    }
}

/// Runs one operator API call in its own task; its answer comes back to
/// the app loop as [`OpMsg::Done`].
fn spawn_api_call(
    api: Option<&OperatorApi>,
    call: ApiCall,
    reply: oneshot::Sender<Result<Option<serde_json::Value>, String>>,
    op_tx: &mpsc::UnboundedSender<OpMsg>,
) {
    // `begin_*` refuses without an API, so `api` is there.
    let Some(api) = api.cloned() else {
        let _ = reply.send(Err(
            "operator login is not available: no operator API configured: set [operator] api_url"
                .into(),
        ));
        return;
    };
    let op_tx = op_tx.clone();
    tokio::spawn(async move {
        let answer = api.perform(&call, None).await;
        let _ = op_tx.send(OpMsg::Done {
            call,
            answer,
            reply,
        });
    });
}

/// The outside line an incoming call came in on (`%OutLineNumber%`), empty
/// for internal calls.
fn outside_line(facts: &crate::phone::IncomingFacts, own_extension: &str) -> String {
    let sip = bb_cti::SipFacts {
        from_user: facts.from_user.clone().unwrap_or_default(),
        pai_user: facts.pai_user.clone(),
        p_called_party_user: facts.called_party_user.clone(),
        to_user: facts.to_user.clone().unwrap_or_default(),
        request_uri_user: facts.request_uri_user.clone().unwrap_or_default(),
        own_extension: own_extension.to_string(),
        call_id: facts.call_id.clone(),
    };
    bb_cti::CallValues::from_sip(&sip, &bb_cti::OperatorLogin::default()).outline_number
}

/// The terminal line for an `operator` event.
fn operator_line(ev: &Event) -> String {
    let safe = bb_cti::redact::log_safe;
    match &ev.event {
        EventKind::Operator {
            state,
            login_id,
            reason,
        } => {
            let id = safe(login_id.as_deref().unwrap_or("?"));
            match state {
                bb_verbs::wire::OperatorState::LoggedIn => format!("operator {id} logged in"),
                bb_verbs::wire::OperatorState::LoggedOut => format!("operator {id} logged out"),
                bb_verbs::wire::OperatorState::LoginFailed => format!(
                    "operator login failed: {}",
                    safe(reason.as_deref().unwrap_or("no reason given"))
                ),
            }
        }
        _ => String::new(),
    }
}

/// The start-up warning when SRTP keys would cross the network in clear:
/// SDES carries them inside the SIP messages, which only TLS protects.
fn srtp_warning(settings: &Settings) -> Option<String> {
    let srtp = settings.audio.srtp;
    (srtp != bb_sip::sdes::Policy::Off && settings.transport != Transport::Tls).then(|| {
        format!(
            "warning: audio.srtp is \"{}\" but SIP runs over {}: the SRTP keys travel in clear \
             inside the SIP messages (set [account] transport = \"tls\")",
            srtp.as_str(),
            settings.transport.as_str()
        )
    })
}

/// One line of media figures.
fn media_line(s: &MediaStats) -> String {
    format!(
        "{}{}, {} packets sent, {} received, {} lost ({:.1} %), jitter {:.1} ms, {} concealed",
        s.codec,
        s.srtp
            .as_deref()
            .map(|suite| format!(" over SRTP {suite}"))
            .unwrap_or_default(),
        s.packets_sent,
        s.packets_received,
        s.lost,
        s.loss_percent,
        s.jitter_ms,
        s.concealed
    )
}

/// A call's media figures for `status`.
fn media_json(s: &MediaStats) -> serde_json::Value {
    serde_json::json!({
        "codec": s.codec,
        "sending": s.sending,
        "receiving": s.receiving,
        "remote": s.remote.map(|a| a.to_string()),
        "packets_sent": s.packets_sent,
        "packets_received": s.packets_received,
        "packets_dropped": s.dropped(),
        "lost": s.lost,
        "loss_percent": s.loss_percent,
        "jitter_ms": s.jitter_ms,
        "playout_delay_ms": s.playout_delay_ms,
        "concealed": s.concealed,
        "late": s.late,
        "dtmf_sent": s.dtmf_sent,
        "dtmf_received": s.dtmf_received,
        "srtp": s.srtp,
        "srtp_dropped": s.dropped_srtp,
    })
}

/// The `status` reply: extension, server, registration, operator, calls
/// (with their Call-ID and media figures when their media runs).
fn status(
    phone: &Phone,
    reg: &RegState,
    settings: &Settings,
    operator: &Session,
    sip: &SipUa,
) -> serde_json::Value {
    let registration = match reg {
        RegState::Unregistered => serde_json::json!({"state": "unregistered"}),
        RegState::Registered { expires } => {
            serde_json::json!({"state": "registered", "expires": expires})
        }
        RegState::Failed { reason, retry_in } => {
            serde_json::json!({"state": "failed", "reason": reason, "retry_in": retry_in})
        }
    };
    let media = sip.media_stats();
    let calls: Vec<_> = phone
        .describe()
        .into_iter()
        .map(|(key, number, state)| {
            let mut c =
                serde_json::json!({"number": number, "state": state, "muted": phone.muted(key)});
            if let Some(id) = phone.call_id(key) {
                c["call_id"] = id.into();
            }
            if let Some((_, m)) = media.iter().find(|(k, _)| *k == key) {
                c["media"] = media_json(m);
            }
            c
        })
        .collect();
    serde_json::json!({
        "extension": settings.raw.account.user,
        "server": settings.server.to_string(),
        "registration": registration,
        "operator": operator.status(),
        "dnd": phone.dnd(),
        "calls": calls,
    })
}

fn wire_cause(cause: EndCause) -> HangupCause {
    match cause {
        EndCause::LocalHangup => HangupCause::Local,
        EndCause::RemoteHangup => HangupCause::Remote,
        EndCause::CallerCancelled => HangupCause::Cancelled,
        EndCause::Rejected => HangupCause::Rejected,
        EndCause::Busy => HangupCause::Busy,
        EndCause::NotAnswered => HangupCause::NoAnswer,
        EndCause::Transferred => HangupCause::Transferred,
        EndCause::Failed => HangupCause::Failed,
    }
}

/// The wire event, and the line that says on the terminal what happened.
fn announce(ev: &PhoneEvent) -> (Event, String) {
    let safe = bb_cti::redact::log_safe;
    let line;
    let event = match ev {
        PhoneEvent::Ringing { facts, .. } => {
            let from = facts.remote_number();
            line = format!(
                "ringing: call from {} to {} (Call-ID {})",
                safe(if from.is_empty() { "unknown" } else { &from }),
                safe(
                    facts
                        .called_party_user
                        .as_deref()
                        .or(facts.to_user.as_deref())
                        .unwrap_or("?")
                ),
                safe(&facts.call_id)
            );
            Event::new(EventKind::Ringing {
                direction: Direction::Incoming,
                remote_number: Some(from),
            })
            .with_call(facts.call_id.clone())
        }
        PhoneEvent::Dialing { number, .. } => {
            line = format!("dialing {}", safe(number));
            Event::new(EventKind::Ringing {
                direction: Direction::Outgoing,
                remote_number: Some(number.clone()),
            })
        }
        PhoneEvent::Answered { call_id, .. } => {
            line = format!("answered (Call-ID {})", safe(call_id));
            Event::new(EventKind::Answered).with_call(call_id.clone())
        }
        PhoneEvent::Held { call_id, .. } => {
            line = format!("on hold (Call-ID {})", safe(call_id));
            Event::new(EventKind::Held).with_call(call_id.clone())
        }
        PhoneEvent::Unheld { call_id, .. } => {
            line = format!("resumed (Call-ID {})", safe(call_id));
            Event::new(EventKind::Unheld).with_call(call_id.clone())
        }
        PhoneEvent::Transferred {
            call_id, target, ..
        } => {
            line = format!("transferred to {}", safe(target));
            Event::new(EventKind::Transferred {
                target: target.clone(),
            })
            .with_call(call_id.clone())
        }
        PhoneEvent::TransferFailed {
            call_id,
            target,
            reason,
            ..
        } => {
            line = format!("transfer to {} failed: {}", safe(target), safe(reason));
            Event::new(EventKind::TransferFailed {
                target: target.clone(),
                reason: reason.clone(),
            })
            .with_call(call_id.clone())
        }
        PhoneEvent::Muted { call_id, muted, .. } => {
            line = format!(
                "{} (Call-ID {})",
                if *muted { "muted" } else { "unmuted" },
                safe(call_id)
            );
            Event::new(EventKind::Mute { muted: *muted }).with_call(call_id.clone())
        }
        PhoneEvent::Dnd { on } => {
            line = format!("do not disturb {}", if *on { "on" } else { "off" });
            Event::new(EventKind::Dnd { on: *on })
        }
        PhoneEvent::HungUp {
            call_id,
            cause,
            duration_ms,
            ..
        } => {
            line = format!("hung up: {} after {} ms", cause.as_str(), duration_ms);
            Event::new(EventKind::HungUp {
                cause: wire_cause(*cause),
                duration_ms: *duration_ms,
            })
            .with_call(call_id.clone())
        }
    };
    (event, line)
}

/// The call model's settings.
fn phone_config(settings: &Settings) -> PhoneConfig {
    PhoneConfig {
        ring_second_call: settings.raw.sip.second_call == crate::config::SecondCall::Ring,
        max_ringing: settings.raw.sip.max_ringing as usize,
        ring_timeout: match settings.raw.sip.ring_timeout_s {
            0 => None,
            s => Some(s.saturating_mul(1000)),
        },
        auto_answer: settings.auto_answer,
        auto_answer_delay: settings.raw.call.auto_answer_delay_ms,
        dnd_status: settings.raw.call.dnd_status.unwrap_or(486),
    }
}

/// Sleeps until `deadline`; never ends without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// How a verb is answered: at once, or when the hook thread has opened
/// the detail view.
enum Outcome {
    Now(Result<Option<serde_json::Value>, String>),
    Details(oneshot::Receiver<bool>),
}

/// The call verbs (and `details`); `status`, `login` and `logout` are the
/// app loop's own.
fn command(
    phone: &mut Phone,
    hooks: &HookDriver,
    last_incoming: Option<&str>,
    body: RequestBody,
    now: u64,
) -> Outcome {
    let word = body.word();
    let Some(verb) = body.verb() else {
        return Outcome::Now(Err(format!("'{word}' is not a command for the softphone")));
    };
    let cmd = match verb {
        Verb::Call(n) => Command::Call(n.as_str().to_string()),
        Verb::Answer => Command::Answer,
        Verb::Hangup => Command::Hangup,
        Verb::Hold => Command::Hold,
        Verb::Unhold => Command::Unhold,
        Verb::Transfer(n) => Command::Transfer(n.as_str().to_string()),
        Verb::TransferComplete => Command::TransferComplete,
        Verb::BlindTransfer(n) => Command::BlindTransfer(n.as_str().to_string()),
        Verb::Dtmf(d) => Command::Dtmf(d.as_str().to_string()),
        Verb::Mute => Command::Mute(true),
        Verb::Unmute => Command::Mute(false),
        Verb::Dnd(on) => Command::Dnd(on),
        Verb::Details => {
            return match last_incoming {
                Some(call_id) => Outcome::Details(hooks.details(call_id)),
                None => Outcome::Now(Err("no incoming call to show details for".into())),
            };
        }
        Verb::Status | Verb::Login { .. } | Verb::Logout => {
            return Outcome::Now(Err(format!(
                "'{word}' is handled elsewhere (internal error)"
            )));
        }
    };
    Outcome::Now(
        phone
            .handle_command(cmd, now)
            .map(|_| None)
            .map_err(|e| e.to_string()),
    )
}

/// The signals that ask for a clean shutdown (see [`crate::platform`]).
pub use crate::platform::ShutdownSignals;

/// Resolves on Ctrl-C or SIGTERM received after this is first polled
/// (prefer [`ShutdownSignals::install`] before starting anything).
pub async fn shutdown_signal() {
    ShutdownSignals::install().recv().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_reasons_lose_trailing_space() {
        // A server's empty reason phrase: "server answered 403 ".
        let st = tidy_reg(RegState::Failed {
            reason: "server answered 403 ".into(),
            retry_in: 30,
        });
        assert_eq!(
            st,
            RegState::Failed {
                reason: "server answered 403".into(),
                retry_in: 30
            }
        );
        assert_eq!(
            tidy_reg(RegState::Registered { expires: 60 }),
            RegState::Registered { expires: 60 }
        );
    }

    #[test]
    fn the_outside_line_is_the_called_party_or_the_to_user() {
        let mut facts = crate::phone::IncomingFacts {
            call_id: "c1".into(),
            from_user: Some("09012345678".into()),
            called_party_user: Some("0312345678".into()),
            to_user: Some("1910".into()),
            request_uri_user: Some("1910".into()),
            ..Default::default()
        };
        assert_eq!(outside_line(&facts, "1910"), "0312345678");
        facts.called_party_user = None;
        assert_eq!(outside_line(&facts, "1910"), "", "an internal call");
    }

    #[test]
    fn operator_lines_never_show_more_than_the_event() {
        let ev = Event::new(EventKind::Operator {
            state: bb_verbs::wire::OperatorState::LoginFailed,
            login_id: Some("op1".into()),
            reason: Some("HTTP 401: wrong\nsecond line".into()),
        });
        let line = operator_line(&ev);
        assert!(
            line.starts_with("operator login failed: HTTP 401"),
            "{line}"
        );
        assert!(!line.contains('\n'), "{line}");
    }
}
