//! `cargo xtask`: set-up and task runner.
//!
//! - `cargo xtask demo`: builds and starts the fake BlueBean server, the mock
//!   CRM and one headless softphone on loopback, places one outside call and
//!   shows the whole call on the terminal. Ends by itself.
//! - `cargo xtask test`: formatting, lints, every test (the cucumber suite
//!   included, whose JUnit XML lands in `target/cucumber/junit.xml`).
//! - `cargo xtask setup`: only the system-package check and install.
//!
//! Before building, the system packages that the build and the tests need are
//! checked and, when running as root, installed with apt-get.

mod demo;
mod http;
mod setup;

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => setup::ensure().and_then(|_| demo::run()),
        Some("test") => setup::ensure().and_then(|_| test(&args[1..])),
        Some("setup") => setup::ensure(),
        _ => {
            eprintln!(
                "usage: cargo xtask <demo|test|setup>\n  demo   show one call end to end (simulator, softphone, mock CRM)\n  test   run every test, the cucumber suite included (extra args go to the cucumber run, e.g. --tags @WEB-4)\n  setup  check and install the system packages"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a command, failing with its name when it fails.
pub fn run(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    eprintln!("xtask: running {shown}");
    let started = std::time::Instant::now();
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    // Where the time of a CI run goes, step by step.
    eprintln!(
        "xtask: {} after {:.0} s: {shown}",
        if status.success() { "done" } else { "failed" },
        started.elapsed().as_secs_f64()
    );
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string()))
}

fn test(extra: &[String]) -> Result<(), String> {
    if let Some(tags) = tag_filter(extra) {
        // A subset of the cucumber suite only.
        return run(cargo()
            .args(["test", "-p", "conformance", "--test", "features", "--"])
            .args(["--tags", &tags]));
    }
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // Build the binaries first: the conformance suite runs them as processes.
    run(cargo().args(["build", "--workspace", "--bins"]))?;
    run(cargo().args(["test", "--workspace", "--all-targets"]))?;
    // The inbound SIP path under a bounded fuzz run (stable replay loop; see fuzz/README.md).
    run(cargo().args([
        "run",
        "--quiet",
        "--manifest-path",
        "fuzz/Cargo.toml",
        "--release",
        "--bin",
        "replay",
        "--",
        "--seconds",
        "20",
    ]))?;
    Ok(())
}

fn tag_filter(extra: &[String]) -> Option<String> {
    let mut it = extra.iter();
    while let Some(a) = it.next() {
        if a == "--tags" {
            return it.next().cloned();
        }
        if let Some(t) = a.strip_prefix("--tags=") {
            return Some(t.to_string());
        }
    }
    None
}
