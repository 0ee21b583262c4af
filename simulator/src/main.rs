//! `bluebean-sim`: the fake BlueBean server and the mock CRM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use simulator::scenario::Scenario;
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
    /// Control API address (HTTP, JSON); for `ctl`, where the simulator listens.
    #[arg(long, global = true, default_value = "127.0.0.1:8080")]
    api: SocketAddr,
    /// Print the built-in tenant as TOML and exit.
    #[arg(long)]
    print_default_config: bool,
    /// Check the tenant file (and scenario, if given) and exit.
    #[arg(long)]
    check: bool,
    /// Scenario file (TOML) to run once the simulator is ready.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Runtime worker threads (1: a single-threaded runtime; 0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Serve SIP over TLS too, on this address (port 0 picks a free one),
    /// with a test CA made at start.
    #[arg(long, value_name = "ADDR")]
    sip_tls: Option<SocketAddr>,
    /// A name the TLS certificate is valid for, besides `localhost` and
    /// the listening address (repeatable).
    #[arg(long, value_name = "NAME")]
    tls_name: Vec<String>,
    /// Where to write the test CA's certificate (PEM) for phones to trust.
    #[arg(long, value_name = "FILE")]
    tls_ca_out: Option<PathBuf>,
    /// Serve an expired TLS certificate (to test that phones refuse it).
    #[arg(long)]
    tls_expired: bool,
    /// Ended calls kept for the API (older ones are forgotten).
    #[arg(long, default_value_t = simulator::pbx::DEFAULT_KEEP_ENDED)]
    keep_calls: usize,
}

#[derive(Subcommand)]
enum Command {
    /// Run the mock CRM only: records requests, answers popups.
    Crm {
        /// HTTP address to listen on (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
        /// Be a recording proxy in front of the real CRM at this origin
        /// (`http://crm.example:8080`): record each request, pass it on
        /// unchanged, and give back the CRM's answer.
        #[arg(long, value_name = "ORIGIN")]
        forward: Option<String>,
    },
    /// Talk to a running simulator's control API (place, answer, hang up,
    /// inspect calls; operators, queues, campaigns, events, scenarios).
    Ctl {
        #[command(subcommand)]
        command: simulator::ctl::Ctl,
    },
}

/// The origin given to `crm --forward`: `http(s)://host[:port]`, nothing more.
fn forward_origin(text: &str) -> anyhow::Result<reqwest::Url> {
    let url = reqwest::Url::parse(text).map_err(|e| {
        anyhow::anyhow!("--forward '{text}' is not a URL ({e}); give the CRM's origin, e.g. http://crm.example:8080")
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        anyhow::bail!(
            "--forward '{text}': give an http:// or https:// origin, e.g. http://crm.example:8080"
        );
    }
    if url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
        anyhow::bail!(
            "--forward '{text}': give only the origin (scheme, host, port), without a path, query or user; \
             the proxy passes each request's own path on"
        );
    }
    Ok(url)
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.print_default_config {
        print!("{}", Tenant::builtin().to_toml());
        return ExitCode::SUCCESS;
    }
    if let Some(Command::Ctl { command }) = &cli.command {
        return match simulator::ctl::run(cli.api, command) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("bluebean-sim ctl: {e}");
                ExitCode::FAILURE
            }
        };
    }
    init_logging();
    // rsipstack's TLS listener asks rustls for the process's provider.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = match cli.threads {
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        0 => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bluebean-sim: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bluebean-sim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(Command::Crm { listen, forward }) = cli.command {
        let forward = forward.as_deref().map(forward_origin).transpose()?;
        let addr = simulator::crm::serve_with(listen, forward.clone()).await?;
        match forward {
            Some(origin) => println!(
                "bluebean-sim crm ready http=http://{addr} forward={}",
                origin.as_str().trim_end_matches('/')
            ),
            None => println!("bluebean-sim crm ready http=http://{addr}"),
        }
        tokio::signal::ctrl_c().await?;
        return Ok(());
    }
    let tenant = match &cli.config {
        Some(path) => Tenant::load(path)?,
        None => Tenant::builtin(),
    };
    let scenario = match &cli.scenario {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!("cannot read scenario file '{}': {e}", path.display())
            })?;
            Some(
                Scenario::from_toml(&text, &path.display().to_string())
                    .map_err(anyhow::Error::msg)?,
            )
        }
        None => None,
    };
    if cli.check {
        let what = if scenario.is_some() {
            "the tenant and the scenario are"
        } else {
            "the tenant is"
        };
        println!("bluebean-sim: {what} valid");
        return Ok(());
    }
    let cancel = CancellationToken::new();
    let opts = simulator::Options {
        sip: cli.sip,
        api: cli.api,
        keep_calls: cli.keep_calls,
        tls: cli.sip_tls.map(|bind| simulator::tls::TlsOptions {
            bind,
            names: cli.tls_name.clone(),
            ca_out: cli.tls_ca_out.clone(),
            expired: cli.tls_expired,
        }),
        ..simulator::Options::loopback()
    };
    let (running, state) = simulator::start_with(tenant, opts, cancel.clone()).await?;
    if let Some(warning) = simulator::api::exposure_warning(running.api) {
        eprintln!("{warning}");
    }
    // One machine-readable line on stdout: tests and the demo read it.
    match &running.tls {
        None => println!(
            "bluebean-sim ready sip=udp:{} api=http://{}",
            running.sip, running.api
        ),
        Some((tls, ca, sha256)) => println!(
            "bluebean-sim ready sip=udp:{} api=http://{} sips=tls:{tls} ca={} cert_sha256={sha256}",
            running.sip,
            running.api,
            ca.display()
        ),
    }
    if let Some(s) = scenario {
        let id = state.scenarios.start(&state, s);
        tracing::info!(scenario = id, "scenario started");
    }
    tokio::signal::ctrl_c().await?;
    cancel.cancel();
    Ok(())
}
