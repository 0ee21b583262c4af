//! `bbclient`: the BlueBean softphone.
//!
//! `bbclient run --config FILE [--headless] [--instance NAME]` starts the
//! softphone. Every other invocation (`bbclient answer`, `bbclient call 1330`,
//! `bbclient 'bbclient:call:1330'`) is a verb for the instance already running.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "bbclient",
    version,
    about = "BlueBean softphone: SIP calls with CRM integration",
    after_help = "Verbs for the running softphone:\n  bbclient call NUMBER | hold | unhold | transfer NUMBER | transfer_complete |\n           blindtransfer NUMBER | hangup | answer | dtmf DIGITS | details | status [--json]\n  bbclient 'bbclient:call:1330'   (a callto:, bbclient:, tel: or sip: URI)"
)]
struct Cli {
    /// Which running softphone to talk to (several can run side by side).
    #[arg(long, global = true, default_value = "default")]
    instance: String,
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand)]
enum Top {
    /// Start the softphone.
    Run(RunArgs),
    /// A verb for the running softphone (see below).
    #[command(external_subcommand)]
    Verb(Vec<String>),
}

#[derive(Args)]
struct RunArgs {
    /// The settings file (TOML).
    #[arg(long)]
    config: PathBuf,
    /// No window: log calls and hooks on the terminal.
    #[arg(long)]
    headless: bool,
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BBCLIENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,rsipstack=error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = softphone::control::check_instance(&cli.instance) {
        eprintln!("bbclient: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bbclient: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Top::Run(args) => {
            init_logging();
            if !args.headless {
                eprintln!(
                    "bbclient: the window is not available in this build yet; running headless"
                );
            }
            let settings = match softphone::config::Settings::load(&args.config) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("bbclient: {e}");
                    return ExitCode::from(2);
                }
            };
            let opts = softphone::app::RunOptions {
                settings,
                instance: cli.instance,
            };
            match runtime.block_on(softphone::app::run(opts)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("bbclient: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Top::Verb(args) => runtime.block_on(verb(&cli.instance, &args)),
    }
}

async fn verb(instance: &str, args: &[String]) -> ExitCode {
    let cmd = match bb_verbs::cli::parse_cli(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bbclient: {e}");
            return ExitCode::from(2);
        }
    };
    let path = softphone::control::socket_path(instance);
    let body = bb_verbs::wire::RequestBody::from_verb(&cmd.verb, None);
    match softphone::control::request(&path, body).await {
        Ok(reply) if reply.ok => {
            if let Some(data) = reply.data {
                if cmd.json {
                    println!("{data}");
                } else {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&data).unwrap_or_default()
                    );
                }
            }
            ExitCode::SUCCESS
        }
        Ok(reply) => {
            eprintln!(
                "bbclient: {}",
                reply
                    .error
                    .unwrap_or_else(|| "the softphone refused without a reason".into())
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("bbclient: {e}");
            ExitCode::FAILURE
        }
    }
}
