//! Steps about the shipped window (UI-3, UI-5, CALL-2): the real
//! `bbclient run` binary, not headless, on a virtual X display (`Xvfb`),
//! driven with real mouse and key input through `xdotool` (XTEST), and
//! what it did seen at the simulator.
//!
//! The other window scenarios (`steps/ui.rs`) run the window in-process
//! under egui_kittest; these prove that the binary's own window is wired
//! the same way: eframe, winit, the X server and the core behind it.
//!
//! # Where the buttons are
//!
//! The window draws pixels only; nothing outside it can ask where a button
//! is. So a *shadow* of it runs in this process: the same
//! `softphone::ui::window::OperatorWindow`, under egui_kittest, at the same
//! size, language and fonts, fed with the real softphone's own events and
//! status replies through its control socket (a second window over the same
//! core, as a script would connect). Its layout is the real window's: a
//! button's rectangle in the shadow, in points, times the real window's
//! scale, is where to click in the real window. A step waits until the
//! shadow shows the button enabled (it has seen the same events) before it
//! clicks. The shadow never sends a verb of its own: it only asks the
//! status, as every window does when it opens.

use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use bb_verbs::wire::{Event, Message, Request, RequestBody};
use conformance::procs::{Proc, bin_dir};
use conformance::world::{BbWorld, Phone};
use cucumber::{given, then, when};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use serde_json::Value;
use softphone::control::ControlCommand;
use softphone::ui::fonts;
use softphone::ui::i18n::Lang;
use softphone::ui::prefs::UiPrefs;
use softphone::ui::window::{CoreLink, MAIN_HEIGHT, MAIN_WIDTH, OperatorWindow, WindowSetup};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::UnixStream;
use tokio::sync::{broadcast, mpsc};

/// The language both windows run in (`LANG` of the real one).
const LANG: &str = "en_US.UTF-8";

/// The shipped window of one scenario: the X server, the window's id and
/// scale, and its shadow.
pub struct XSession {
    xvfb: std::process::Child,
    display: String,
    window: String,
    /// Pixels per point of the real window.
    scale: f32,
    shadow: Harness<'static, OperatorWindow>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for XSession {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        let _ = self.xvfb.kill();
        let _ = self.xvfb.wait();
    }
}

fn session(w: &mut BbWorld) -> Result<&mut XSession, String> {
    w.ui.as_mut()
        .and_then(|b| b.downcast_mut::<XSession>())
        .ok_or_else(|| "the shipped window is not running in this scenario".to_string())
}

/// The path of `program` on `PATH`, or an error naming the Debian package.
fn require(program: &str, package: &str) -> Result<PathBuf, String> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "{program} is not installed: needs Debian's {package} (cargo xtask setup installs it)"
            )
        })
}

/// Starts `Xvfb` on a display it picks itself (`-displayfd`).
fn start_xvfb(program: &PathBuf) -> Result<(std::process::Child, String), String> {
    let mut child = std::process::Command::new(program)
        .args([
            "-displayfd",
            "1",
            "-nolisten",
            "tcp",
            "-screen",
            "0",
            "1024x768x24",
            "-dpi",
            "96",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    let Some(out) = child.stdout.take() else {
        let _ = child.kill();
        return Err("Xvfb has no stdout".into());
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(out).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
    let n = line.trim();
    if n.is_empty() || !n.chars().all(|c| c.is_ascii_digit()) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!(
            "Xvfb did not report a display number within 20 s (got {line:?})"
        ));
    }
    Ok((child, format!(":{n}")))
}

/// Runs `xdotool ARGS` on `display`; its stdout.
async fn xdotool(display: &str, args: &[&str]) -> Result<String, String> {
    let mut cmd = tokio::process::Command::new("xdotool");
    cmd.args(args)
        .env("DISPLAY", display)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .map_err(|_| format!("'xdotool {}' did not finish within 30 s", args.join(" ")))?
        .map_err(|e| format!("cannot run xdotool: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "'xdotool {}' failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

// ---------------------------------------------------------------------------
// The shadow's link to the real core: its control socket
// ---------------------------------------------------------------------------

/// Subscribes on `socket` and passes every event to `events`. Returns once
/// the softphone accepted the subscription.
async fn relay_events(
    socket: &PathBuf,
    events: broadcast::Sender<Event>,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", socket.display()))?;
    let (read, mut write) = stream.into_split();
    let line = Request::new(1, RequestBody::Subscribe)
        .to_line()
        .map_err(|e| e.to_string())?;
    write
        .write_all(format!("{line}\n").as_bytes())
        .await
        .map_err(|e| format!("cannot subscribe on {}: {e}", socket.display()))?;
    let mut lines = BufReader::new(read).lines();
    let first = tokio::time::timeout(Duration::from_secs(5), lines.next_line())
        .await
        .map_err(|_| "no reply to subscribe within 5 s".to_string())?
        .map_err(|e| format!("reading the reply to subscribe: {e}"))?
        .unwrap_or_default();
    match Message::from_line(&first) {
        Ok(Message::Reply(r)) if r.ok => {}
        _ => return Err(format!("the softphone refused the subscription: {first}")),
    }
    Ok(tokio::spawn(async move {
        let _keep_open = write;
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(Message::Event(ev)) = Message::from_line(&line) {
                let _ = events.send(ev);
            }
        }
    }))
}

/// One request on its own connection, as `bbclient` sends it.
async fn ask(socket: &PathBuf, body: RequestBody) -> Result<Option<Value>, String> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", socket.display()))?;
    let (read, mut write) = stream.into_split();
    let line = Request::new(7, body).to_line().map_err(|e| e.to_string())?;
    write
        .write_all(format!("{line}\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut lines = BufReader::new(read).lines();
    while let Some(line) = lines.next_line().await.map_err(|e| e.to_string())? {
        if let Ok(Message::Reply(r)) = Message::from_line(&line)
            && r.id == 7
        {
            return if r.ok {
                Ok(r.data)
            } else {
                Err(r.error.unwrap_or_default())
            };
        }
    }
    Err("the softphone closed the connection without a reply".into())
}

/// Answers the shadow's requests through the control socket. Only the
/// status is passed on: the shadow is never clicked, and a verb from it
/// would be a bug of this harness, refused loudly.
fn relay_requests(
    socket: PathBuf,
    mut rx: mpsc::Receiver<ControlCommand>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(cmd) = rx.recv().await {
            let outcome = match cmd.body {
                RequestBody::Status => ask(&socket, RequestBody::Status).await,
                other => Err(format!(
                    "the shadow window sent '{}', which only the real window may send",
                    other.word()
                )),
            };
            let _ = cmd.reply.send(outcome);
        }
    })
}

// ---------------------------------------------------------------------------
// Starting the shipped window
// ---------------------------------------------------------------------------

/// Starts the shipped `bbclient run`, with its real window, for extension `ext` on a
/// virtual X display, in English.
/// Waits until it registered (up to 15 s) and its window appeared (up to 30 s). Needs
/// Xvfb, xdotool and a CJK font (fonts-noto-cjk).
#[given(
    expr = "the shipped bbclient for extension {word} is running with its window on a virtual display"
)]
async fn shipped_window(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let xvfb = require("Xvfb", "xvfb")?;
    require("xdotool", "xdotool")?;
    let (child, display) = start_xvfb(&xvfb)?;
    // From here on the X server belongs to a session that kills it on drop.
    let mut guard = Some(child);
    let result = open(w, &ext, &display, &mut guard).await;
    if let Some(mut c) = guard {
        let _ = c.kill();
        let _ = c.wait();
    }
    result
}

async fn open(
    w: &mut BbWorld,
    ext: &str,
    display: &str,
    xvfb: &mut Option<std::process::Child>,
) -> Result<(), String> {
    let home = w.dir.join("xwindow");
    for d in ["home", "config", "data"] {
        std::fs::create_dir_all(home.join(d))
            .map_err(|e| format!("cannot create {}: {e}", home.join(d).display()))?;
    }
    let config = w.dir.join(format!("bbclient-{ext}.toml"));
    let text = format!(
        "[account]\nserver = \"{}\"\nuser = \"{ext}\"\npassword = \"pw{ext}\"\n\n[sip]\nt1_ms = 100\n",
        w.sip()?
    );
    std::fs::write(&config, text).map_err(|e| format!("cannot write {}: {e}", config.display()))?;
    let instance = format!("ext{ext}");
    // The operator's session: a display, a language, a home and data of
    // its own; no Wayland, no desktop bus, no browser of the harness.
    let mut cmd = tokio::process::Command::new(bin_dir()?.join("bbclient"));
    cmd.env("DISPLAY", display)
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("BROWSER")
        .env_remove("WINIT_X11_SCALE_FACTOR")
        .env("LANG", LANG)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("HOME", home.join("home"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_RUNTIME_DIR", w.dir.join("run"))
        .env("BBCLIENT_LOG", "info,rsipstack=warn")
        .args(["--instance", &instance, "run", "--config"])
        .arg(&config);
    let (proc, _) = Proc::start(&format!("bbclient {ext} (window)"), cmd, None).await?;
    w.phones.insert(
        ext.to_string(),
        Phone {
            proc,
            instance: instance.clone(),
            config: config.clone(),
        },
    );
    w.contact_of(ext).await?;
    let found = tokio::time::timeout(
        Duration::from_secs(30),
        xdotool(
            display,
            &["search", "--sync", "--onlyvisible", "--name", "^BlueBean$"],
        ),
    )
    .await;
    let window = match found {
        Ok(Ok(out)) => out.lines().next().unwrap_or_default().trim().to_string(),
        Ok(Err(e)) => return Err(format!("{e}\n{}", w.transcripts())),
        Err(_) => String::new(),
    };
    if window.is_empty() {
        return Err(format!(
            "no visible window named BlueBean appeared on {display} within 30 s\n{}",
            w.transcripts()
        ));
    }
    let geometry = xdotool(display, &["getwindowgeometry", "--shell", &window]).await?;
    let field = |k: &str| -> Option<f32> {
        geometry
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .and_then(|v| v.trim().parse().ok())
    };
    let (Some(width), Some(height)) = (field("WIDTH"), field("HEIGHT")) else {
        return Err(format!("xdotool gave no window size: {geometry}"));
    };
    let scale = width / MAIN_WIDTH;
    if !(0.5..=4.0).contains(&scale) || (height / MAIN_HEIGHT - scale).abs() > 0.02 {
        return Err(format!(
            "the window is {width}x{height} pixels, not {MAIN_WIDTH}x{MAIN_HEIGHT} points at one scale"
        ));
    }
    // Pin the size the layout is computed for (a window manager, if there
    // were one, might have chosen another).
    let (pw, ph) = (
        (MAIN_WIDTH * scale).round().to_string(),
        (MAIN_HEIGHT * scale).round().to_string(),
    );
    xdotool(display, &["windowsize", "--sync", &window, &pw, &ph]).await?;

    // The shadow: the same window over the same core.
    let socket = w.dir.join("run/bbclient").join(format!("{instance}.sock"));
    let (events_tx, events_rx) = broadcast::channel(256);
    let (commands_tx, commands_rx) = mpsc::channel(16);
    let events_task = relay_events(&socket, events_tx).await?;
    let requests_task = relay_requests(socket.clone(), commands_rx);
    let settings = softphone::config::Settings::load(&config)
        .map_err(|e| format!("the settings are refused: {e}"))?;
    let lang = Lang::from_env(&|k| (k == "LANG").then(|| LANG.to_string()));
    let cjk = Some(fonts::load().ok_or(
        "no CJK font: the window's scenarios need fonts-noto-cjk (`cargo xtask setup` installs it)",
    )?);
    let setup = WindowSetup {
        settings_path: config.clone(),
        settings: settings.raw.clone(),
        prefs_path: w.dir.join("xwindow/shadow-ui.toml"),
        prefs: UiPrefs::default(),
        lang,
        history: Err("the shadow window keeps no history".into()),
        cjk: cjk.clone(),
        instance,
        config_home: None,
    };
    let mut window_state = OperatorWindow::new(
        CoreLink {
            commands: commands_tx,
            events: events_rx,
            settings: None,
        },
        setup,
    );
    window_state.fonts_installed(lang);
    let builder = Harness::builder()
        .with_size([MAIN_WIDTH, MAIN_HEIGHT])
        .with_context_setup(move |ctx| fonts::install(ctx, cjk.as_ref(), lang));
    let shadow = builder.build_ui_state(|ui, s: &mut OperatorWindow| s.frame(ui), window_state);
    let Some(xvfb) = xvfb.take() else {
        return Err("the X server is gone".into());
    };
    w.ui = Some(Box::new(XSession {
        xvfb,
        display: display.to_string(),
        window,
        scale,
        shadow,
        tasks: vec![events_task, requests_task],
    }));
    Ok(())
}

// ---------------------------------------------------------------------------
// Clicking and typing
// ---------------------------------------------------------------------------

/// What the shadow shows, one control a line, for messages.
fn shown(h: &Harness<'static, OperatorWindow>) -> String {
    h.query_all_by(|n| matches!(n.role(), Role::Button | Role::Label))
        .map(|n| {
            let a = n.accesskit_node();
            format!(
                "{:?} {:?}{} at {:?}",
                a.role(),
                a.label().or_else(|| a.value()).unwrap_or_default(),
                if a.is_disabled() { " (disabled)" } else { "" },
                n.rect()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Waits until the shadow shows the button labelled `label` enabled;
/// returns its centre in the real window's pixels.
async fn enabled_button(w: &mut BbWorld, label: &str) -> Result<(f32, f32), String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        {
            let s = session(w)?;
            s.shadow.run_ok();
            let hit = s
                .shadow
                .query_all_by_label(label)
                .find(|n| n.accesskit_node().role() == Role::Button)
                .filter(|n| !n.accesskit_node().is_disabled())
                .map(|n| n.rect().center());
            if let Some(c) = hit {
                return Ok((c.x * s.scale, c.y * s.scale));
            }
        }
        if tokio::time::Instant::now() > deadline {
            let s = session(w)?;
            return Err(format!(
                "the window's {label} button did not become enabled within 10 s; the window shows:\n{}",
                shown(&s.shadow)
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clicks the button labelled `label` in the shipped window with a real mouse click.
/// First waits up to 10 s until the button is enabled.
#[when(expr = "the operator clicks the window's {string} button")]
async fn click(w: &mut BbWorld, label: String) -> Result<(), String> {
    let (x, y) = enabled_button(w, &label).await?;
    let s = session(w)?;
    let (display, window) = (s.display.clone(), s.window.clone());
    let (x, y) = (x.round().to_string(), y.round().to_string());
    // Move there first: the window draws a frame for the hover, with the
    // state it has by then, and takes the press against that frame.
    xdotool(&display, &["mousemove", "--window", &window, &x, &y]).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    xdotool(&display, &["click", "1"]).await?;
    Ok(())
}

/// Types `keys` on the real keyboard into the shipped window, then presses Enter.
/// First waits up to 10 s until the window shows the line ready.
#[when(expr = "the operator types {string} on the keyboard and presses Enter")]
async fn types(w: &mut BbWorld, keys: String) -> Result<(), String> {
    // The window has learnt the line is registered (the shadow, fed the
    // same events, shows it).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let s = session(w)?;
        s.shadow.run_ok();
        if s.shadow.state().line().line_state() == softphone::ui::line::LineState::Ready {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!(
                "the window did not show the line ready within 10 s:\n{}",
                shown(&s.shadow)
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let s = session(w)?;
    let (display, window) = (s.display.clone(), s.window.clone());
    xdotool(&display, &["windowfocus", "--sync", &window]).await?;
    xdotool(&display, &["type", "--delay", "50", &keys]).await?;
    xdotool(&display, &["key", "Return"]).await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// What the simulator saw
// ---------------------------------------------------------------------------

/// Checks that the simulator shows the current outside call ended by the called side,
/// with a BYE from extension `ext`.
/// Waits up to 10 s.
#[then(expr = "the simulator shows the call hung up by extension {word}")]
async fn hung_up_by(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let call = w
        .wait_for("the outside call to end", 10, || async {
            w.last_call_state()
                .await
                .ok()
                .filter(|c| c["state"] == "ended")
        })
        .await?;
    let by_ext = call["legs"].as_array().into_iter().flatten().any(|l| {
        l["endpoint"]["kind"] == "extension"
            && l["endpoint"]["number"] == ext.as_str()
            && l["end_reason"] == "bye"
    });
    if call["end_reason"] == "callee_hangup" && by_ext {
        Ok(())
    } else {
        Err(format!(
            "the call ended, but not by a BYE from extension {ext}: {call}"
        ))
    }
}
