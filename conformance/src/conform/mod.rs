//! This module provides `bbconform`, the conformance checker CRM vendors run
//! against *their own* endpoints: it sends the popup request (WEB-1…WEB-3)
//! for a matrix of calls exactly as the `bbclient` softphone would, fetches
//! the detail view (WEB-4) and checks the `callto:`/`bbclient:`/`tel:`/`sip:`
//! links in it against the URI grammar the softphone accepts (URI-1…URI-3).
//! No SIP is involved.
//!
//! # How the pieces meet
//!
//! - [`settings`] reads the softphone's settings file (`[web.popup]`,
//!   `[web.detail]`, `[web] skip_internal`, `[operator]`, `[account] user`)
//!   or the `--url/--method/--params` options, and validates them with
//!   `bb_cti`'s own [`bb_cti::PopupSettings`]/[`bb_cti::DetailSettings`].
//! - [`cases`] is the call matrix (ordinary, internal, international,
//!   anonymous, withheld, long Call-ID, Japanese): one
//!   [`bb_cti::CallValues`] each.
//! - [`http`] sends one request the way `softphone/src/hooks.rs` does
//!   (same user agent, redirect policy, time limit and body limit) and
//!   records what happened on the way: timings, redirect hops, the TLS or
//!   connection error by name.
//! - [`checks`] turns an exchange into verdicts: reachable, status, time,
//!   size, charset, redirects, TLS, and what the popup would display
//!   ([`bb_cti::decode_body`] + [`bb_cti::to_display_text`]).
//! - [`links`] finds scheme links in a page with a small tokenizer and
//!   validates each with [`bb_verbs::parse_uri`].
//! - [`report`] collects the verdicts and writes the table, JSON and JUnit
//!   XML; every string passes through the `%OpPW%` redaction there.
//!
//! # Key design decision: mirror, do not share
//!
//! The request is *built* by the softphone's own code (`bb_cti` request
//! building, `bb_verbs::parse_uri`), so a change there changes bbconform
//! too. The *sending* (reqwest client set-up in `softphone/src/hooks.rs`) is
//! mirrored here rather than factored out of the softphone, because that
//! crate is a binary with SIP and audio baggage. The mirrored values are the
//! constants at the top of [`http`]; a test in `tests/bbconform.rs` pins the
//! user agent so the two cannot drift silently.
//!
//! # What it won't do
//!
//! No `--insecure`: the softphone has no such switch, so a certificate it
//! would refuse is a failure here too. No browser: links built by JavaScript
//! are not seen. No SIP, no softphone process.
//!
//! Exit status: 0 when every check passed (warnings allowed), 1 when a check
//! failed, 2 for a usage or settings error.

pub mod cases;
pub mod checks;
pub mod http;
pub mod links;
pub mod report;
pub mod settings;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use self::cases::CaseName;
use self::report::Report;

/// Exit status when every check passed (warnings allowed).
pub const EXIT_PASS: u8 = 0;
/// Exit status when at least one check failed.
pub const EXIT_FAIL: u8 = 1;
/// Exit status for a usage or settings error (clap uses 2 as well).
pub const EXIT_USAGE: u8 = 2;

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "bbconform",
    version,
    about = "Check a CRM's BlueBeanClient web integration the way the bbclient softphone calls it",
    after_help = "Exit status: 0 all checks passed (warnings allowed), 1 a check failed, 2 usage or settings error.\n\
                  In --url mode the operator password (%OpPW%) is read from $BBCONFORM_OP_PW; it is never printed."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send the popup request (WEB-1..WEB-3) for a matrix of calls and check each answer.
    Popup(PopupArgs),
    /// Fetch the detail view (WEB-4) as the softphone opens it and check its links (URI-1..URI-3).
    Detail(DetailArgs),
    /// Check the callto:/bbclient:/tel:/sip: links of a page (a file, - for stdin, or an http(s) URL).
    Links(LinksArgs),
}

/// Options shared by every command.
#[derive(Debug, Args)]
struct OutputArgs {
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write the report as JUnit XML (one testcase per check) to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
}

/// Where the settings come from: the softphone's settings file, or options.
#[derive(Debug, Args)]
struct SourceArgs {
    /// The softphone's settings file (bbclient's --config).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["url", "params", "op_id", "skip_internal"])]
    config: Option<PathBuf>,
    /// The CRM URL, as typed in the softphone's settings.
    #[arg(long, value_name = "URL", required_unless_present = "config")]
    url: Option<String>,
    /// Parameter lines (name=value, one per line) from FILE, or - for standard input.
    #[arg(long, value_name = "FILE|-")]
    params: Option<String>,
    /// %OpId% in --url mode [default: bbconform-op]. The password comes from $BBCONFORM_OP_PW.
    #[arg(long, value_name = "ID")]
    op_id: Option<String>,
    /// Skip internal calls as the softphone does with web.skip_internal (--url mode) [default: true].
    #[arg(long, value_name = "BOOL")]
    skip_internal: Option<bool>,
}

#[derive(Debug, Args)]
struct PopupArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// GET or POST (--url mode) [default: GET].
    #[arg(long, value_name = "METHOD", conflicts_with = "config")]
    method: Option<String>,
    /// Run only these calls of the matrix (repeatable) [default: all].
    #[arg(long = "case", value_name = "CASE", value_enum)]
    cases: Vec<CaseName>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Args)]
struct DetailArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Open the detail view for these calls (repeatable) [default: ordinary].
    #[arg(long = "case", value_name = "CASE", value_enum)]
    cases: Vec<CaseName>,
    /// Extra request header, e.g. 'Cookie: session=…' for a page behind a login (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Args)]
struct LinksArgs {
    /// An HTML file, - for standard input, or an http:// or https:// URL to fetch.
    #[arg(value_name = "FILE_OR_URL")]
    target: String,
    /// Extra request header when fetching a URL (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    #[command(flatten)]
    output: OutputArgs,
}

/// A usage or settings problem: one line naming the value and the fix.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Runs `bbconform` with the process's arguments and returns its exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bbconform: error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("bbconform: error: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Runs one parsed command line: the report is printed (and written as
/// JUnit) and the exit status returned; `Err` is a usage or settings error.
pub async fn run(cli: Cli) -> Result<u8, UsageError> {
    let (report, output) = match cli.command {
        Command::Popup(args) => {
            let target = settings::popup_target(&settings::Source {
                config: args.source.config.as_deref(),
                url: args.source.url.as_deref(),
                method: args.method.as_deref(),
                params: args.source.params.as_deref(),
                op_id: args.source.op_id.as_deref(),
                skip_internal: args.source.skip_internal,
            })?;
            let cases = if args.cases.is_empty() {
                CaseName::ALL.to_vec()
            } else {
                args.cases
            };
            (checks::run_popup(&target, &cases).await, args.output)
        }
        Command::Detail(args) => {
            let target = settings::detail_target(&settings::Source {
                config: args.source.config.as_deref(),
                url: args.source.url.as_deref(),
                method: None,
                params: args.source.params.as_deref(),
                op_id: args.source.op_id.as_deref(),
                skip_internal: args.source.skip_internal,
            })?;
            let headers = http::parse_headers(&args.headers)?;
            let cases = if args.cases.is_empty() {
                vec![CaseName::Ordinary]
            } else {
                args.cases
            };
            (
                checks::run_detail(&target, &cases, &headers).await,
                args.output,
            )
        }
        Command::Links(args) => {
            let headers = http::parse_headers(&args.headers)?;
            (
                checks::run_links(&args.target, &headers).await?,
                args.output,
            )
        }
    };
    emit(&report, &output)?;
    Ok(if report.failed() > 0 {
        EXIT_FAIL
    } else {
        EXIT_PASS
    })
}

/// Prints the report and writes the JUnit file.
fn emit(report: &Report, output: &OutputArgs) -> Result<(), UsageError> {
    if let Some(path) = &output.junit {
        std::fs::write(path, report.to_junit()).map_err(|e| {
            UsageError(format!(
                "cannot write the JUnit report to '{}': {e} (give a writable path to --junit)",
                path.display()
            ))
        })?;
    }
    if output.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_table());
    }
    Ok(())
}
