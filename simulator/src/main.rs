//! `bluebean-sim`: the fake BlueBean server and the mock CRM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use simulator::tenant::Tenant;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "bluebean-sim",
    version,
    about = "A fake BlueBean PBX (and a mock CRM) for tests and demos"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Tenant file (TOML); the built-in tenant when absent.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// SIP UDP address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:5060")]
    sip: SocketAddr,
    /// Control API address (HTTP, JSON).
    #[arg(long, default_value = "127.0.0.1:8080")]
    api: SocketAddr,
    /// Print the built-in tenant as TOML and exit.
    #[arg(long)]
    print_default_config: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Run the mock CRM only: records requests, answers popups.
    Crm {
        /// HTTP address to listen on (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
    },
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BLUEBEAN_SIM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rsipstack=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.print_default_config {
        print!("{}", Tenant::builtin().to_toml());
        return ExitCode::SUCCESS;
    }
    init_logging();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bluebean-sim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(Command::Crm { listen }) = cli.command {
        let addr = simulator::crm::serve(listen).await?;
        println!("bluebean-sim crm ready http=http://{addr}");
        tokio::signal::ctrl_c().await?;
        return Ok(());
    }
    let tenant = match &cli.config {
        Some(path) => Tenant::load(path)?,
        None => Tenant::builtin(),
    };
    let cancel = CancellationToken::new();
    let (running, _state) = simulator::start(tenant, cli.sip, cli.api, cancel.clone()).await?;
    // One machine-readable line on stdout: tests and the demo read it.
    println!(
        "bluebean-sim ready sip=udp:{} api=http://{}",
        running.sip, running.api
    );
    tokio::signal::ctrl_c().await?;
    cancel.cancel();
    Ok(())
}
