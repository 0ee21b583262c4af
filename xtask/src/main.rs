//! `cargo xtask`: set-up and task runner.
//!
//! - `cargo xtask demo`: builds and starts the fake BlueBean server, the mock
//!   CRM and one headless softphone on loopback, places one outside call and
//!   shows the whole call on the terminal. Ends by itself.
//! - `cargo xtask test`: formatting, lints, every test (the cucumber suite
//!   included, whose JUnit XML lands in `target/cucumber/junit.xml`).
//!   `cargo xtask test --features DIR [--tags …]` runs only the `.feature`
//!   files of DIR (a QA team's own folder) with the same step library.
//! - `cargo xtask steps`: writes `docs/steps.md`, the step catalogue.
//! - `cargo xtask windows`: cross-builds `bbclient.exe` (x86_64-pc-windows-gnu).
//! - `cargo xtask package [--debug]`: the Windows zip, the per-user NSIS
//!   installer and the `.deb`, each tested (under Wine, lintian, a scratch root).
//! - `cargo xtask setup`: only the system-package check and install, and the
//!   Rust target for Windows.
//!
//! Before building, the system packages that the build and the tests need are
//! checked and, when running as root, installed with apt-get.

mod demo;
mod http;
mod package;
mod setup;
mod windows;

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => setup::ensure().and_then(|_| demo::run()),
        Some("test") => setup::ensure()
            .and_then(|_| windows::ensure_target())
            .and_then(|_| test(&args[1..])),
        Some("setup") => setup::ensure().and_then(|_| windows::ensure_target()),
        Some("package") => setup::ensure()
            .and_then(|_| windows::ensure_target())
            .and_then(|_| package::run_all(&args[1..])),
        Some("windows") if args.get(1).map(String::as_str) == Some("test") => setup::ensure()
            .and_then(|_| windows::ensure_target())
            .and_then(|_| windows::test_only()),
        Some("windows") => setup::ensure()
            .and_then(|_| windows::ensure_target())
            .and_then(|_| windows::build().map(|_| ())),
        Some("steps") => run(cargo().env("BB_WRITE_STEPS", "1").args([
            "test",
            "-p",
            "conformance",
            "--test",
            "catalogue",
        ])),
        _ => {
            eprintln!(
                "usage: cargo xtask <demo|test|steps|setup|windows|package>\n  demo   show one call end to end (simulator, softphone, mock CRM)\n  test   run every test, the cucumber suite included; `--tags @WEB-4` runs a subset of it,\n         `--features DIR [--tags …]` runs the .feature files of DIR instead\n  steps  write docs/steps.md, the step catalogue, from the step definitions\n  setup  check and install the system packages and the Rust target for Windows\n  windows  cross-build bbclient.exe (target/x86_64-pc-windows-gnu/debug);\n         `windows test` runs only the Windows tests (unit tests and Wine tests)\n  package  make and test the Windows zip, the NSIS installer and the .deb in target/package\n         (`--debug`: of the debug builds)"
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
    let ci = under_ci();
    preflight(ci)?;
    if let Some(dir) = features_dir(extra)? {
        // A team's own folder, with whatever cucumber filters follow; a
        // filter that matches no scenario fails the run (the runner checks).
        let rest: Vec<&String> = extra
            .iter()
            .filter(|a| *a != "--features" && **a != dir && !a.starts_with("--features="))
            .collect();
        return run(cargo()
            .args([
                "run",
                "--quiet",
                "-p",
                "conformance",
                "--bin",
                "bbfeatures",
                "--",
            ])
            .arg(&dir)
            .args(rest));
    }
    if let Some(tags) = tag_filter(extra) {
        // A subset of the cucumber suite only; a filter that matches no
        // scenario fails the run (the runner checks).
        return run(cargo()
            .args([
                "run",
                "--quiet",
                "-p",
                "conformance",
                "--bin",
                "bbfeatures",
                "--",
            ])
            .args(["--tags", &tags]));
    }
    // Tests that skip (outside CI only) append a line here; the count is
    // printed at the end, so a skip is never read as a pass.
    let skips = target_dir().join("test-skips.txt");
    if let Some(dir) = skips.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(&skips, "").map_err(|e| format!("cannot write {}: {e}", skips.display()))?;
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    windows::clippy()?;
    // Build the binaries first: the conformance suite runs them as processes;
    // the Wine tests run bbclient.exe.
    run(cargo().args(["build", "--workspace", "--bins"]))?;
    let windows_bins = windows::build()?;
    windows::ensure_prefix()?;
    // Every test binary runs even when one fails, so one run names every
    // failure; the doctests too (`--all-targets` leaves them out).
    let tests = run(windows::wine_env(&mut cargo())
        .env(SKIPS_VAR, &skips)
        .env(windows::BIN_DIR_VAR, &windows_bins)
        .args(["test", "--workspace", "--all-targets", "--no-fail-fast"]));
    let doctests = run(cargo()
        .env(SKIPS_VAR, &skips)
        .args(["test", "--workspace", "--doc"]));
    // The cucumber suite: the runner built above, against the binaries
    // built above.
    let debug = target_dir().join("debug");
    let features = run(std::process::Command::new(debug.join("bbfeatures"))
        .env("BB_BIN_DIR", &debug)
        .env(SKIPS_VAR, &skips)
        .arg(workspace_root().join("features")));
    // The inbound SIP path under a bounded fuzz run (stable replay loop; see fuzz/README.md).
    let fuzz = run(cargo().args([
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
    ]));
    // The Windows unit tests, with Wine as the target runner.
    let windows_units = windows::unit_tests();
    let skipped = report_skips(&skips, ci)?;
    tests
        .and(doctests)
        .and(features)
        .and(fuzz)
        .and(windows_units)?;
    if skipped > 0 {
        eprintln!("xtask: every test ran or failed, except {skipped} SKIPPED (see above)");
    }
    Ok(())
}

/// The variable bb-testenv appends skips to.
const SKIPS_VAR: &str = "BB_TEST_SKIPS";

/// True under `CI=true` (also `1`, `yes`): nothing may be skipped.
fn under_ci() -> bool {
    std::env::var("CI")
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

/// Before anything is built: the programs the tests start, and under CI the
/// torture corpus, are there; what is missing is named at once rather than
/// by thirty failed tests later.
fn preflight(ci: bool) -> Result<(), String> {
    if !windows::target_installed() {
        return Err(format!(
            "the Rust target {} is not installed (bbclient.exe is cross-built and tested under Wine); run `cargo xtask setup`",
            windows::TARGET
        ));
    }
    let missing = setup::missing_programs();
    if !missing.is_empty() {
        let list: Vec<String> = missing
            .iter()
            .map(|(p, pkg)| format!("{p} (package {pkg})"))
            .collect();
        return Err(format!(
            "the tests need programs that are not installed: {}; run `cargo xtask setup` as root on Debian, or install them",
            list.join(", ")
        ));
    }
    if ci {
        let root = workspace_root();
        let corpus = std::env::var_os("BB_SIP_TORTURE_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| root.join("../shared/fixtures/sip-torture"));
        let fallback = root.join("fixtures/sip-torture");
        if !corpus.join("MANIFEST.tsv").is_file() && !fallback.join("MANIFEST.tsv").is_file() {
            return Err(format!(
                "CI=true: the sip-torture corpus is not at {} or {} (set BB_SIP_TORTURE_DIR); nothing may be skipped in CI",
                corpus.display(),
                fallback.display()
            ));
        }
    }
    Ok(())
}

/// Prints the skips the tests recorded; under CI any skip fails the run.
fn report_skips(file: &std::path::Path, ci: bool) -> Result<usize, String> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        eprintln!("xtask: 0 tests skipped");
        return Ok(0);
    }
    eprintln!("xtask: {} test(s) SKIPPED, not passed:", lines.len());
    for l in &lines {
        eprintln!("  {l}");
    }
    if ci {
        return Err(format!(
            "CI=true: {} test(s) were skipped; nothing may be skipped in CI",
            lines.len()
        ));
    }
    Ok(lines.len())
}

fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| std::path::PathBuf::from("."))
}

/// The cargo target folder.
pub fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// `--features DIR` (or `--features=DIR`): a folder of `.feature` files to
/// run instead of ours.
fn features_dir(extra: &[String]) -> Result<Option<String>, String> {
    let mut it = extra.iter();
    while let Some(a) = it.next() {
        if a == "--features" {
            return it
                .next()
                .cloned()
                .map(Some)
                .ok_or_else(|| "--features needs a folder: --features DIR".to_string());
        }
        if let Some(d) = a.strip_prefix("--features=") {
            return Ok(Some(d.to_string()));
        }
    }
    Ok(None)
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
