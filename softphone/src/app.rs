//! The application loop of a running softphone: it owns the call model and
//! routes between the SIP driver, the control socket, the CTI hook driver and
//! the terminal. One task, one `select!`; everything else is a channel.

use std::time::Instant;

use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use bb_verbs::Verb;
use bb_verbs::wire::{Direction, Event, EventKind, HangupCause, RegistrationState, RequestBody};

use crate::config::Settings;
use crate::control::{self, ControlCommand};
use crate::hooks::HookDriver;
use crate::phone::{Action, Command, EndCause, Phone, PhoneConfig, PhoneEvent};
use crate::sip_ua::{RegState, SipEvent, SipUa};

/// How a softphone is started.
pub struct RunOptions {
    /// Validated settings.
    pub settings: Settings,
    /// The instance name (for the control socket).
    pub instance: String,
}

/// Prints one line for the person at the terminal (headless mode).
fn say(line: impl AsRef<str>) {
    println!("bbclient: {}", line.as_ref());
}

/// A running core: the app loop on the tokio runtime, reached through
/// channels. The window ([`crate::ui`]) and in-process test harnesses hold
/// one; headless `bbclient run` waits on it.
pub struct Core {
    /// Verbs into the app loop (the channel the control socket uses too).
    pub commands: mpsc::Sender<ControlCommand>,
    /// The app loop's event stream; `subscribe()` for a receiver.
    pub events: broadcast::Sender<Event>,
    /// Cancel to shut the core down (unregisters, removes the socket).
    pub cancel: CancellationToken,
    /// The app loop; ends after `cancel` with its outcome.
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Runs until Ctrl-C or SIGTERM.
pub async fn run(opts: RunOptions) -> anyhow::Result<()> {
    let core = start(opts).await?;
    let cancel = core.cancel.clone();
    tokio::select! {
        _ = shutdown_signal() => cancel.cancel(),
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
    tokio::spawn(control::serve(listener, cmd_tx.clone(), events_tx.clone()));

    let (sip_tx, sip_rx) = mpsc::unbounded_channel();
    let sip = SipUa::start(&settings, sip_tx, cancel.clone()).await?;
    let hooks = HookDriver::start(&settings, events_tx.clone());
    say(format!(
        "extension {} on {} (SIP {}), control socket {}",
        settings.raw.account.user,
        settings.server,
        sip.local_addr(),
        path.display()
    ));
    let task = tokio::spawn(app_loop(AppLoop {
        settings,
        path,
        sip,
        sip_rx,
        hooks,
        cmd_rx,
        events_tx: events_tx.clone(),
        cancel: cancel.clone(),
    }));
    Ok(Core {
        commands: cmd_tx,
        events: events_tx,
        cancel,
        task,
    })
}

/// What the app loop owns.
struct AppLoop {
    settings: Settings,
    path: std::path::PathBuf,
    sip: SipUa,
    sip_rx: mpsc::UnboundedReceiver<SipEvent>,
    hooks: HookDriver,
    cmd_rx: mpsc::Receiver<ControlCommand>,
    events_tx: broadcast::Sender<Event>,
    cancel: CancellationToken,
}

async fn app_loop(parts: AppLoop) -> anyhow::Result<()> {
    let AppLoop {
        settings,
        path,
        sip,
        mut sip_rx,
        hooks,
        mut cmd_rx,
        events_tx,
        cancel,
    } = parts;
    let started = Instant::now();
    let now = || started.elapsed().as_millis() as u64;
    let mut phone = Phone::new(PhoneConfig::default());
    let mut reg = RegState::Unregistered;
    let mut last_incoming: Option<String> = None;
    loop {
        tokio::select! {
            Some(ev) = sip_rx.recv() => match ev {
                SipEvent::Call(input) => phone.handle_input(input, now()),
                SipEvent::Registration(state) => {
                    let (kind, reason, text) = match &state {
                        RegState::Registered { expires } => (
                            RegistrationState::Registered,
                            None,
                            format!("registered as {} at {} (expires in {expires} s)", settings.raw.account.user, settings.server),
                        ),
                        RegState::Failed { reason, retry_in } => (
                            RegistrationState::Failed,
                            Some(reason.clone()),
                            format!("registration failed: {reason}; retrying in {retry_in} s"),
                        ),
                        RegState::Unregistered => (RegistrationState::Unregistered, None, "unregistered".to_string()),
                    };
                    if state != reg {
                        say(&text);
                    }
                    reg = state;
                    let _ = events_tx.send(Event::new(EventKind::Registration { state: kind, reason }));
                }
            },
            Some(cmd) = cmd_rx.recv() => {
                let outcome = command(&mut phone, &reg, &settings, &hooks, last_incoming.as_deref(), cmd.body, now()).await;
                let _ = cmd.reply.send(outcome);
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
                } => sip.invite(key, number, replaces),
                Action::Hold { key, hold } => sip.hold(key, hold),
                Action::Refer {
                    key,
                    number,
                    replaces,
                } => sip.refer(key, number, replaces),
                Action::NotifyRefer { key, code, last } => sip.notify_refer(key, code, last),
                Action::Dtmf { key, digits } => sip.send_dtmf(key, &digits),
                Action::Event(ev) => {
                    if let PhoneEvent::Ringing { facts, .. } = &ev {
                        last_incoming = Some(facts.call_id.clone());
                    }
                    announce(&ev, &events_tx);
                    hooks.call_event(&ev);
                }
            }
        }
    }
    say("shutting down");
    cancel.cancel();
    // Give the unregister a moment (bounded inside the SIP driver).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, sip_rx.recv()).await {
        if matches!(ev, SipEvent::Registration(RegState::Unregistered)) {
            break;
        }
    }
    let _ = std::fs::remove_file(&path);
    Ok(())
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

fn announce(ev: &PhoneEvent, events: &broadcast::Sender<Event>) {
    let safe = bb_cti::redact::log_safe;
    let event = match ev {
        PhoneEvent::Ringing { facts, .. } => {
            let from = facts.remote_number();
            say(format!(
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
            ));
            Event::new(EventKind::Ringing {
                direction: Direction::Incoming,
                remote_number: Some(from),
            })
            .with_call(facts.call_id.clone())
        }
        PhoneEvent::Dialing { number, .. } => {
            say(format!("dialing {}", safe(number)));
            Event::new(EventKind::Ringing {
                direction: Direction::Outgoing,
                remote_number: Some(number.clone()),
            })
        }
        PhoneEvent::Answered { call_id, .. } => {
            say(format!("answered (Call-ID {})", safe(call_id)));
            Event::new(EventKind::Answered).with_call(call_id.clone())
        }
        PhoneEvent::Held { call_id, .. } => {
            say(format!("on hold (Call-ID {})", safe(call_id)));
            Event::new(EventKind::Held).with_call(call_id.clone())
        }
        PhoneEvent::Unheld { call_id, .. } => {
            say(format!("resumed (Call-ID {})", safe(call_id)));
            Event::new(EventKind::Unheld).with_call(call_id.clone())
        }
        PhoneEvent::Transferred {
            call_id, target, ..
        } => {
            say(format!("transferred to {}", safe(target)));
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
            say(format!(
                "transfer to {} failed: {}",
                safe(target),
                safe(reason)
            ));
            Event::new(EventKind::TransferFailed {
                target: target.clone(),
                reason: reason.clone(),
            })
            .with_call(call_id.clone())
        }
        PhoneEvent::HungUp {
            call_id,
            cause,
            duration_ms,
            ..
        } => {
            say(format!(
                "hung up: {} after {} ms",
                cause.as_str(),
                duration_ms
            ));
            Event::new(EventKind::HungUp {
                cause: wire_cause(*cause),
                duration_ms: *duration_ms,
            })
            .with_call(call_id.clone())
        }
    };
    let _ = events.send(event);
}

async fn command(
    phone: &mut Phone,
    reg: &RegState,
    settings: &Settings,
    hooks: &HookDriver,
    last_incoming: Option<&str>,
    body: RequestBody,
    now: u64,
) -> Result<Option<serde_json::Value>, String> {
    let word = body.word();
    let Some(verb) = body.verb() else {
        return Err(format!("'{word}' is not a command for the softphone"));
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
        Verb::Details => {
            let call_id = last_incoming.ok_or("no incoming call to show details for")?;
            return if hooks.details(call_id).await {
                Ok(None)
            } else {
                Err("no detail view is configured ([web.detail]), or the call is unknown".into())
            };
        }
        Verb::Status => {
            let registration = match reg {
                RegState::Unregistered => serde_json::json!({"state": "unregistered"}),
                RegState::Registered { expires } => {
                    serde_json::json!({"state": "registered", "expires": expires})
                }
                RegState::Failed { reason, retry_in } => {
                    serde_json::json!({"state": "failed", "reason": reason, "retry_in": retry_in})
                }
            };
            let calls: Vec<_> = phone
                .describe()
                .into_iter()
                .map(|(_, number, state)| serde_json::json!({"number": number, "state": state}))
                .collect();
            return Ok(Some(serde_json::json!({
                "extension": settings.raw.account.user,
                "server": settings.server.to_string(),
                "registration": registration,
                "calls": calls,
            })));
        }
        Verb::Login { .. } | Verb::Logout => {
            return Err(format!(
                "'{word}' is not available in this version of bbclient yet"
            ));
        }
    };
    phone
        .handle_command(cmd, now)
        .map(|_| None)
        .map_err(|e| e.to_string())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
