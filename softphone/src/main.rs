//! `bbclient`: the BlueBean softphone and its command line.
//!
//! ```text
//! bbclient [--instance NAME] [--config FILE] run [--headless]
//! bbclient [--instance NAME] [--config FILE] VERB [ARG]     e.g. call 1330, hold, status --json
//! bbclient [--instance NAME] [--config FILE] URI            e.g. 'bbclient:call:1330' (URI-3)
//! bbclient [--instance NAME] [--config FILE] install-handlers [--uninstall]
//! ```
//!
//! `run` starts a softphone. A verb (CLI-1) or a single URI — which is how
//! the OS invokes a URI handler — is forwarded to the softphone already
//! running for the instance, over its control socket
//! ([`softphone::control`]). When none is running, `call` (and a URI that
//! calls) starts one and then dials; every other verb says that no softphone
//! is running. `install-handlers` registers `bbclient` as the desktop's
//! handler of `callto:`, `bbclient:`, `tel:` and `sip:` links
//! ([`softphone::handlers`]).
//!
//! # Exit status
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done |
//! | 1 | the softphone refused the verb (`no active call to hold`) or the connection (another user's), `run` failed, or `install-handlers` failed |
//! | 2 | usage: unknown verb or option, malformed URI, refused number, bad instance name, bad settings file |
//! | 3 | no softphone to talk to: none running, its socket is another user's (`EACCES`), or starting one for `call` failed |
//!
//! # Which settings a softphone started by `call` uses
//!
//! `--config FILE` if given, else `$BBCLIENT_CONFIG`, else
//! `$XDG_CONFIG_HOME/bbclient/bbclient.toml` (`~/.config/bbclient/bbclient.toml`);
//! `run` without `--config` looks in the same places. The started softphone
//! is headless, in its own process group, with its output in
//! `RUNTIME_DIR/NAME.log` and its process id in `RUNTIME_DIR/NAME.pid`
//! (see [`softphone::control::runtime_dir`]); the call is sent once it has
//! registered (bounded waits).

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bb_cti::redact::{log_safe, one_line};
use bb_verbs::wire::RequestBody;
use bb_verbs::{CliCommand, Origin, Password, Verb};
use clap::{Args, Parser, Subcommand};
use softphone::control::{self, Client, ClientError, Launch};

/// Exit codes, see the module documentation.
mod exit {
    pub const REFUSED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const NO_PHONE: u8 = 3;
}

#[derive(Parser)]
#[command(
    name = "bbclient",
    version,
    about = "BlueBean softphone: SIP calls with CRM integration",
    after_help = concat!(
        "Verbs for the running softphone (--instance and --config may come before or after the verb):\n",
        "  bbclient call NUMBER | hold | unhold | transfer NUMBER | transfer_complete |\n",
        "           blindtransfer NUMBER | hangup | answer | dtmf DIGITS | details | status [--json] |\n",
        "           login [LOGIN_ID] [--password-stdin] | logout | mute | unmute | dnd on|off\n",
        "  bbclient 'bbclient:call:1330'   (a callto:, bbclient:, tel: or sip: URI)\n",
        "\n",
        "Exit status: 0 done, 1 refused by the softphone, 2 usage, 3 no softphone to talk to."
    )
)]
struct Cli {
    /// Which softphone to talk to (several can run side by side).
    #[arg(long, global = true, default_value = "default")]
    instance: String,
    /// The settings file (TOML); default $BBCLIENT_CONFIG, else
    /// $XDG_CONFIG_HOME/bbclient/bbclient.toml.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand)]
enum Top {
    /// Start the softphone.
    Run(RunArgs),
    /// Make bbclient the desktop's handler of callto:, bbclient:, tel: and sip: links.
    InstallHandlers(InstallArgs),
    /// List the sound devices the settings can name (input, output, ring).
    Devices,
    /// A verb for the running softphone (see below).
    #[command(external_subcommand)]
    Verb(Vec<String>),
}

#[derive(Args)]
struct RunArgs {
    /// No window: log calls and hooks on the terminal.
    #[arg(long)]
    headless: bool,
}

#[derive(Args)]
struct InstallArgs {
    /// Remove the handler and its associations instead.
    #[arg(long)]
    uninstall: bool,
}

fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("bbclient: {}", one_line(&message.to_string()));
    ExitCode::from(code)
}

fn env_var(name: &str) -> Option<std::ffi::OsString> {
    std::env::var_os(name)
}

fn main() -> ExitCode {
    // Two rustls providers are built in (rsipstack's and ours): say which
    // one the process uses, before any TLS is set up.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut cli = Cli::parse();
    if let Top::Verb(args) = &mut cli.command {
        // `bbclient call 1330 --instance b`: options after the verb still
        // belong to the program.
        match take_global_options(args) {
            Ok((instance, config)) => {
                if let Some(i) = instance {
                    cli.instance = i;
                }
                if config.is_some() {
                    cli.config = config;
                }
            }
            Err(e) => return fail(exit::USAGE, e),
        }
    }
    if let Err(e) = control::check_instance(&cli.instance) {
        return fail(exit::USAGE, e);
    }
    match cli.command {
        Top::Run(args) => run(cli.instance, cli.config, args),
        Top::InstallHandlers(args) => install_handlers(&cli.instance, cli.config, &args),
        Top::Devices => {
            print!(
                "{}",
                devices_text(&softphone::media::device::device_names())
            );
            ExitCode::SUCCESS
        }
        Top::Verb(args) => {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    return fail(
                        exit::REFUSED,
                        format!("cannot start the async runtime: {e}"),
                    );
                }
            };
            runtime.block_on(verb(&cli.instance, cli.config.as_deref(), &args))
        }
    }
}

/// What `bbclient devices` prints: each kind of device with the settings
/// key that names it, the two special values first.
fn devices_text((inputs, outputs): &(Vec<String>, Vec<String>)) -> String {
    let mut out = String::new();
    let mut section = |title: &str, empty: &str, null: &str, names: &[String]| {
        out.push_str(title);
        out.push('\n');
        out.push_str(&format!("  \"\"      {empty}\n"));
        out.push_str(&format!("  \"null\"  {null}\n"));
        if names.is_empty() {
            out.push_str("  (no sound device found)\n");
        }
        // Each as `"id" (description)`: the id is what the settings take.
        for n in names {
            let clean: String = n.chars().filter(|c| !c.is_control()).collect();
            out.push_str(&format!("  {clean}\n"));
        }
    };
    section(
        "input devices ([audio] input_device):",
        "the system default",
        "silence",
        inputs,
    );
    section(
        "output devices ([audio] output_device):",
        "the system default",
        "discard the sound",
        outputs,
    );
    section(
        "ring devices ([audio] ring_device):",
        "the output device",
        "never ring out loud",
        outputs,
    );
    out
}

/// Removes `--instance NAME`, `--instance=NAME`, `--config FILE` and
/// `--config=FILE` from verb arguments; returns their values.
fn take_global_options(
    args: &mut Vec<String>,
) -> Result<(Option<String>, Option<PathBuf>), String> {
    let mut instance = None;
    let mut config = None;
    let mut i = 0;
    while i < args.len() {
        let (name, inline) = match args[i].split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (args[i].clone(), None),
        };
        if name != "--instance" && name != "--config" {
            i += 1;
            continue;
        }
        let value = match inline {
            Some(v) => {
                args.remove(i);
                v
            }
            None => {
                if i + 1 >= args.len() {
                    return Err(format!("{name} needs a value (write {name} VALUE)"));
                }
                args.remove(i);
                args.remove(i)
            }
        };
        if name == "--instance" {
            instance = Some(value);
        } else {
            config = Some(PathBuf::from(value));
        }
    }
    Ok((instance, config))
}

fn run(instance: String, config: Option<PathBuf>, args: RunArgs) -> ExitCode {
    softphone::logging::init();
    let path = match control::find_settings(config.as_deref(), &env_var) {
        Ok(p) => p,
        Err(e) => return fail(exit::USAGE, e),
    };
    if let Err(e) = softphone::config::check_private(&path) {
        return fail(exit::USAGE, e);
    }
    let mut settings = match softphone::config::Settings::load(&path) {
        Ok(s) => s,
        Err(e) => return fail(exit::USAGE, e),
    };
    // Without a window nobody listens at the desk: devices left at the
    // system default become the null device (named devices and WAV files
    // are kept), see `softphone::media::AudioSettings::headless`.
    settings.audio.headless = args.headless;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            return fail(
                exit::REFUSED,
                format!("cannot start the async runtime: {e}"),
            );
        }
    };
    if args.headless {
        let opts = softphone::app::RunOptions { settings, instance };
        return match runtime.block_on(softphone::app::run(opts)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(exit::REFUSED, format!("{e:#}")),
        };
    }
    run_windowed(&runtime, path, settings, instance)
}

/// `bbclient run` with the window: the core runs on the tokio runtime's
/// threads, the window on this (the main) thread, as winit requires.
fn run_windowed(
    runtime: &tokio::runtime::Runtime,
    settings_path: PathBuf,
    settings: softphone::config::Settings,
    instance: String,
) -> ExitCode {
    let raw = settings.raw.clone();
    let opts = softphone::app::RunOptions {
        settings,
        instance: instance.clone(),
    };
    // Caught before the core starts: no moment where SIGTERM ends the
    // process without unregistering.
    let mut signals = {
        let _entered = runtime.enter();
        softphone::app::ShutdownSignals::install()
    };
    let core = match runtime.block_on(softphone::app::start(opts)) {
        Ok(core) => core,
        Err(e) => return fail(exit::REFUSED, format!("{e:#}")),
    };
    // The core's outcome, and a token set when it has ended, so that
    // Ctrl-C or SIGTERM with the window open can shut the core down
    // (unregister, remove the socket) and then leave.
    let cancel = core.cancel.clone();
    let ended = tokio_util::sync::CancellationToken::new();
    let (outcome_tx, outcome_rx) = tokio::sync::oneshot::channel();
    runtime.spawn({
        let ended = ended.clone();
        async move {
            let outcome = core.task.await;
            let _ = outcome_tx.send(outcome);
            ended.cancel();
        }
    });
    runtime.spawn({
        let cancel = cancel.clone();
        let ended = ended.clone();
        async move {
            tokio::select! {
                _ = signals.recv() => {}
                _ = ended.cancelled() => return,
            }
            cancel.cancel();
            ended.cancelled().await;
            std::process::exit(0);
        }
    });
    // The core records the history; the window only reads it.
    let history = match &core.history_path {
        Some(p) => softphone::history::History::open_viewer(p).map_err(|e| e.to_string()),
        None => {
            Err("the call history is off or could not be opened (see the terminal)".to_string())
        }
    };
    let link = softphone::ui::UiLink {
        commands: core.commands,
        events: core.events.subscribe(),
        settings_path,
        settings: raw,
        history,
        prefs_path: None,
        instance,
        settings_tx: Some(core.settings.clone()),
    };
    let shown = softphone::ui::run(link);
    if let Err(e) = &shown {
        // No display (or no GPU): the core keeps running as a headless
        // softphone would; the audio devices stay as configured.
        eprintln!("bbclient: {e:#}; running headless (Ctrl-C to stop)");
        runtime.block_on(cancel.cancelled());
    }
    cancel.cancel();
    match runtime.block_on(outcome_rx) {
        Err(_) => fail(exit::REFUSED, "the app loop ended without an outcome"),
        Ok(Ok(Ok(()))) => ExitCode::SUCCESS,
        Ok(Ok(Err(e))) => fail(exit::REFUSED, format!("{e:#}")),
        Ok(Err(e)) => fail(exit::REFUSED, format!("the app loop ended abnormally: {e}")),
    }
}

fn install_handlers(instance: &str, config: Option<PathBuf>, args: &InstallArgs) -> ExitCode {
    let layout = match softphone::handlers::Layout::from_env(&env_var) {
        Ok(l) => l,
        Err(e) => return fail(exit::USAGE, e),
    };
    let mut say = |line: String| println!("bbclient: {line}");
    let outcome = if args.uninstall {
        softphone::handlers::uninstall(&layout, &mut say)
    } else {
        let exe = match std::env::current_exe() {
            Ok(p) => p,
            Err(e) => {
                return fail(
                    exit::REFUSED,
                    format!("cannot find this program's path: {e}"),
                );
            }
        };
        if let Some(c) = &config
            && !c.is_file()
        {
            return fail(
                exit::USAGE,
                format!(
                    "settings file '{}' does not exist or is not a file",
                    c.display()
                ),
            );
        }
        let opts = softphone::handlers::InstallOptions {
            exe,
            instance: instance.to_string(),
            config,
            layout,
        };
        softphone::handlers::install(&opts, &mut say)
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(exit::REFUSED, e),
    }
}

async fn verb(instance: &str, config: Option<&Path>, args: &[String]) -> ExitCode {
    let cmd = match bb_verbs::parse_cli(args) {
        Ok(c) => c,
        Err(e) => return fail(exit::USAGE, e),
    };
    let password = if cmd.password_stdin {
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(n) if n > 0 => Some(Password::from_stdin_line(&line)),
            Ok(_) => {
                return fail(
                    exit::USAGE,
                    "--password-stdin: standard input is empty (pipe the password in)",
                );
            }
            Err(e) => {
                return fail(
                    exit::USAGE,
                    format!("--password-stdin: cannot read standard input: {e}"),
                );
            }
        }
    } else {
        None
    };
    let body = RequestBody::from_verb(&cmd.verb, password);
    let path = control::socket_path(instance);
    let mut client = match Client::connect(&path).await {
        Ok(c) => c,
        Err(ClientError::NotRunning { .. }) if matches!(cmd.verb, Verb::Call(_)) => {
            match start_and_wait(instance, config, &path).await {
                Ok(c) => c,
                Err(e) => return fail(exit::NO_PHONE, e),
            }
        }
        Err(e @ ClientError::NotRunning { .. }) => {
            return fail(
                exit::NO_PHONE,
                format!(
                    "{e}; start one with 'bbclient{} run', or dial with 'bbclient call NUMBER', which starts one",
                    instance_flag(instance)
                ),
            );
        }
        Err(e) => return fail(exit::NO_PHONE, e),
    };
    match client.request(body).await {
        Ok(reply) if reply.ok => {
            if let Some(data) = reply.data {
                print_data(&cmd, &data);
            }
            ExitCode::SUCCESS
        }
        Ok(reply) => fail(
            exit::REFUSED,
            reply
                .error
                .unwrap_or_else(|| "the softphone refused without a reason".into()),
        ),
        Err(e) => fail(exit::NO_PHONE, e),
    }
}

fn instance_flag(instance: &str) -> String {
    if instance == "default" {
        String::new()
    } else {
        format!(" --instance {instance}")
    }
}

/// Starts a softphone for `call` and waits until it is registered.
async fn start_and_wait(
    instance: &str,
    config: Option<&Path>,
    socket: &Path,
) -> Result<Client, String> {
    let settings = control::find_settings(config, &env_var)
        .map_err(|e| format!("no softphone is running and none could be started: {e}"))?;
    let exe = std::env::current_exe()
        .map_err(|e| format!("no softphone is running and none could be started: cannot find this program's path: {e}"))?;
    let mut launch = Launch::start(&exe, instance, &settings)
        .map_err(|e| format!("no softphone is running and none could be started: {e}"))?;
    let client = launch
        .wait_ready(socket)
        .await
        .map_err(|e| format!("{e}; the call was not placed"))?;
    eprintln!(
        "bbclient: no softphone was running; started one (instance '{}', settings {}, pid {}, log {})",
        launch.instance,
        launch.settings.display(),
        launch.pid,
        launch.log.display()
    );
    Ok(client)
}

fn print_data(cmd: &CliCommand, data: &serde_json::Value) {
    if cmd.json || cmd.origin == Origin::Uri {
        println!("{data}");
        return;
    }
    let lines = match &cmd.verb {
        Verb::Status => status_lines(data),
        Verb::Login { .. } | Verb::Logout => operator_line(data).map(|l| vec![l]),
        _ => None,
    };
    match lines {
        Some(lines) => {
            // Numbers and reasons come from the network: one line each.
            for l in lines {
                println!("{}", one_line(&l));
            }
        }
        None => println!(
            "{}",
            serde_json::to_string_pretty(data).unwrap_or_else(|_| data.to_string())
        ),
    }
}

/// `status` for people: `extension 1910 at 127.0.0.1:5060: registered
/// (expires in 3600 s)` and one line per call. `None` when the data does not
/// have the expected shape (then it is printed as JSON).
fn status_lines(data: &serde_json::Value) -> Option<Vec<String>> {
    let ext = data["extension"].as_str()?;
    let server = data["server"].as_str()?;
    let reg = &data["registration"];
    let state = reg["state"].as_str()?;
    let detail = match state {
        "registered" => reg["expires"]
            .as_u64()
            .map(|e| format!(" (expires in {e} s)"))
            .unwrap_or_default(),
        "failed" => format!(
            ": {}{}",
            log_safe(reg["reason"].as_str().unwrap_or("no reason given")),
            reg["retry_in"]
                .as_u64()
                .map(|r| format!("; retrying in {r} s"))
                .unwrap_or_default()
        ),
        _ => String::new(),
    };
    let mut lines = vec![format!("extension {ext} at {server}: {state}{detail}")];
    if let Some(l) = operator_line(&data["operator"]) {
        lines.push(l);
    }
    let calls = data["calls"].as_array()?;
    if calls.is_empty() {
        lines.push("no calls".into());
    }
    for c in calls {
        let mut line = format!(
            "call with {}: {}",
            log_safe(c["number"].as_str().unwrap_or("?")),
            c["state"].as_str().unwrap_or("?")
        );
        let m = &c["media"];
        if let Some(codec) = m["codec"].as_str() {
            let srtp = m["srtp"]
                .as_str()
                .map(|s| format!(" over SRTP {s}"))
                .unwrap_or_default();
            line.push_str(&format!(
                " ({codec}{srtp}, {} packets sent, {} received, {} lost, jitter {:.1} ms)",
                m["packets_sent"].as_u64().unwrap_or(0),
                m["packets_received"].as_u64().unwrap_or(0),
                m["lost"].as_i64().unwrap_or(0),
                m["jitter_ms"].as_f64().unwrap_or(0.0)
            ));
        }
        lines.push(line);
    }
    Some(lines)
}

/// The operator session for people, from `status`'s `operator` part (also
/// the data of `login` and `logout` replies): `operator op1910: logged in
/// (available at 1910)`. `None` when absent.
fn operator_line(op: &serde_json::Value) -> Option<String> {
    let state = op["state"].as_str()?;
    if op["api"] == serde_json::Value::Bool(false) {
        return Some("operator: login off (no [operator] api_url)".into());
    }
    let who = op["login_id"]
        .as_str()
        .map(|id| format!("operator {}", log_safe(id)))
        .unwrap_or_else(|| "operator".into());
    let server = match (op["server_state"].as_str(), op["extension"].as_str()) {
        (Some(s), Some(e)) if state == "logged_in" => format!(" ({s} at {e})"),
        (Some(s), _) if state == "logged_in" => format!(" ({s})"),
        _ => String::new(),
    };
    Some(match state {
        "logged_in" => format!("{who}: logged in{server}"),
        "login_failed" => format!(
            "{who}: login failed: {}",
            log_safe(op["reason"].as_str().unwrap_or("no reason given"))
        ),
        _ => format!("{who}: logged out"),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn devices_are_listed_by_kind_with_their_settings_key() {
        let text = super::devices_text(&(vec!["\"hw:0\" (USB mic)\u{1b}".into()], vec![]));
        assert!(
            text.starts_with("input devices ([audio] input_device):\n"),
            "{text}"
        );
        assert!(text.contains("  \"hw:0\" (USB mic)\n"), "{text}");
        assert!(
            text.contains("ring devices ([audio] ring_device):\n  \"\"      the output device\n"),
            "{text}"
        );
        assert_eq!(text.matches("(no sound device found)").count(), 2, "{text}");
    }

    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn global_options_after_the_verb_are_taken_out() {
        let mut a = args("call 1330 --instance b --config=/x.toml");
        let (i, c) = take_global_options(&mut a).expect("valid");
        assert_eq!(a, args("call 1330"));
        assert_eq!(i.as_deref(), Some("b"));
        assert_eq!(c.as_deref(), Some(Path::new("/x.toml")));
        let mut a = args("hold --instance");
        let e = take_global_options(&mut a).expect_err("no value");
        assert_eq!(e, "--instance needs a value (write --instance VALUE)");
        let mut a = args("status --json");
        assert_eq!(take_global_options(&mut a), Ok((None, None)));
        assert_eq!(a, args("status --json"));
    }

    #[test]
    fn status_is_printed_for_people() {
        let data = serde_json::json!({
            "extension": "1910", "server": "127.0.0.1:5060",
            "registration": {"state": "registered", "expires": 3600},
            "calls": [{"number": "1330", "state": "talking"}],
        });
        assert_eq!(
            status_lines(&data),
            Some(vec![
                "extension 1910 at 127.0.0.1:5060: registered (expires in 3600 s)".to_string(),
                "call with 1330: talking".to_string(),
            ])
        );
        let data = serde_json::json!({
            "extension": "1910", "server": "s",
            "registration": {"state": "failed", "reason": "403 Forbidden", "retry_in": 30},
            "calls": [],
        });
        assert_eq!(
            status_lines(&data),
            Some(vec![
                "extension 1910 at s: failed: 403 Forbidden; retrying in 30 s".to_string(),
                "no calls".to_string(),
            ])
        );
        assert_eq!(status_lines(&serde_json::json!({"other": 1})), None);
    }

    #[test]
    fn operator_state_is_printed_for_people() {
        let data = serde_json::json!({
            "extension": "1910", "server": "s",
            "registration": {"state": "registered", "expires": 300},
            "operator": {"state": "logged_in", "api": true, "login_id": "op1910",
                         "server_state": "available", "extension": "1910"},
            "calls": [{"number": "1330", "state": "talking", "call_id": "c1",
                       "media": {"codec": "PCMU/8000", "packets_sent": 50,
                                 "packets_received": 49, "lost": 1, "jitter_ms": 0.5}}],
        });
        assert_eq!(
            status_lines(&data),
            Some(vec![
                "extension 1910 at s: registered (expires in 300 s)".to_string(),
                "operator op1910: logged in (available at 1910)".to_string(),
                "call with 1330: talking (PCMU/8000, 50 packets sent, 49 received, 1 lost, jitter 0.5 ms)".to_string(),
            ])
        );
        assert_eq!(
            operator_line(&serde_json::json!({"state": "login_failed", "api": true,
                "login_id": "op1", "reason": "refused"})),
            Some("operator op1: login failed: refused".to_string())
        );
        assert_eq!(
            operator_line(&serde_json::json!({"state": "logged_out", "api": false})),
            Some("operator: login off (no [operator] api_url)".to_string())
        );
        assert_eq!(operator_line(&serde_json::Value::Null), None);
    }
}
