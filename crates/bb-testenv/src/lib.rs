//! What the tests need from the machine, and the one rule for when it is
//! missing.
//!
//! - **Peers and tools** (`sipp`, `baresip`, `kamailio`, `Xvfb`, `xdg-open`,
//!   …): [`require_program`]. `cargo xtask setup` installs every one, so a
//!   missing one fails the test everywhere, naming the Debian package.
//! - **What the workspace cannot provide**: the RFC 4475/5118 torture corpus
//!   (it lives in `shared/` beside the checkout, [`torture_corpus`]) and
//!   checks that need root ([`needs_root`]). When missing:
//!   - under `CI=true` (or `1`/`yes`) the test **fails**, naming what is
//!     missing and how to get it: nothing may be skipped in CI;
//!   - elsewhere the test is **skipped**: it prints `SKIPPED: <test>: <why>`
//!     on the terminal (past libtest's output capture) and appends the same
//!     line to the file named by `$BB_TEST_SKIPS`, from which
//!     `cargo xtask test` prints the run's count of skips at the end, so a
//!     skip is never read as a pass.
//!
//! Every way a test can skip is here, so that the rule cannot drift between
//! crates.

pub mod hostile;

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The environment variable naming the file skips are appended to.
pub const SKIPS_FILE_VAR: &str = "BB_TEST_SKIPS";

/// True when running under CI (`CI=true`, `CI=1` or `CI=yes`): then nothing
/// may be skipped.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| {
        let v = v.trim().to_ascii_lowercase();
        v == "true" || v == "1" || v == "yes"
    })
}

/// The name of the running test: libtest names each test's thread after it;
/// a test with its own `main` is named after its executable.
pub fn current_test() -> String {
    if let Some(name) = std::thread::current().name()
        && name != "main"
    {
        return name.to_string();
    }
    std::env::args()
        .next()
        .map(|a| {
            let file = Path::new(&a)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or(a);
            // Cargo's test executables end in `-<hash>`.
            match file.rsplit_once('-') {
                Some((name, hash)) if hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    name.to_string()
                }
                _ => file,
            }
        })
        .unwrap_or_else(|| "a test".into())
}

/// Skips the current test because `why` (what is missing and how to get it),
/// or, under CI, fails it. Returns only when skipping; the caller then
/// returns without asserting anything.
///
/// # Panics
///
/// Under CI, always: that is the failure.
pub fn skip(why: &str) {
    let test = current_test();
    if under_ci() {
        panic!("CI=true: {test} cannot be skipped in CI: {why}");
    }
    let line = format!("SKIPPED: {test}: {why}");
    // Straight to the process's stderr: libtest captures `eprintln!` of
    // passing tests, and this must be seen.
    let _ = writeln!(std::io::stderr(), "{line}");
    if let Some(path) = std::env::var_os(SKIPS_FILE_VAR)
        && let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
    {
        let _ = writeln!(f, "{line}");
    }
}

/// Where `program` is on `PATH`, if it is.
pub fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// The path of `program`, from Debian's `package`.
///
/// Peers and tools are not skipped when missing, in CI or elsewhere:
/// `cargo xtask setup` installs every one of them, so a missing one is a
/// broken set-up, and a test that silently did nothing would read as a pass.
///
/// # Panics
///
/// When the program is not on `PATH`, with a message naming the package.
pub fn require_program(program: &str, package: &str) -> PathBuf {
    find_program(program).unwrap_or_else(|| panic!("{}", missing_program(program, package)))
}

/// The message for a missing program.
pub fn missing_program(program: &str, package: &str) -> String {
    format!(
        "{program} is not installed (Debian package {package}; `cargo xtask setup` installs it)"
    )
}

/// The places the RFC 4475/5118 torture corpus is looked for, in order:
/// `$BB_SIP_TORTURE_DIR`, `shared/fixtures/sip-torture` beside the
/// workspace, `fixtures/sip-torture` inside it.
pub fn torture_candidates() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(d) = std::env::var_os("BB_SIP_TORTURE_DIR") {
        v.push(PathBuf::from(d));
    }
    let root = workspace_root();
    if let Some(parent) = root.parent() {
        v.push(parent.join("shared/fixtures/sip-torture"));
    }
    v.push(root.join("fixtures/sip-torture"));
    v
}

/// The torture corpus's folder (it holds `MANIFEST.tsv`); `None` after
/// skipping the test when it is nowhere to be found.
///
/// # Panics
///
/// Under CI, when the corpus is missing; always, when `$BB_SIP_TORTURE_DIR`
/// names a folder without `MANIFEST.tsv` (a mistake, not a missing corpus).
pub fn torture_corpus() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("BB_SIP_TORTURE_DIR") {
        let d = PathBuf::from(d);
        assert!(
            d.join("MANIFEST.tsv").is_file(),
            "BB_SIP_TORTURE_DIR={} has no MANIFEST.tsv (unset it to use the default places)",
            d.display()
        );
        return Some(d);
    }
    let found = torture_candidates()
        .into_iter()
        .find(|d| d.join("MANIFEST.tsv").is_file());
    if found.is_none() {
        let tried: Vec<String> = torture_candidates()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        skip(&format!(
            "the sip-torture corpus (MANIFEST.tsv and the messages) is not at {} \
             (set BB_SIP_TORTURE_DIR to its folder)",
            tried.join(" or ")
        ));
    }
    found
}

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    // This crate is `<root>/crates/bb-testenv`.
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| here.to_path_buf())
}

/// A test that needs to act as another user (`nobody`) and cannot, because
/// it does not run as root: skipped outside CI (and counted), a failure
/// under CI. `what` says which assertions are then not made.
pub fn needs_root(what: &str) -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false);
    if !root {
        skip(&format!("needs root to act as another user: {what}"));
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_names_its_package_and_the_fix() {
        let m = missing_program("sipp", "sip-tester");
        assert!(m.contains("sipp") && m.contains("sip-tester") && m.contains("xtask setup"));
    }

    #[test]
    fn a_program_on_path_is_found() {
        assert!(find_program("sh").is_some());
        assert!(find_program("no-such-program-bb-testenv").is_none());
    }

    #[test]
    fn the_workspace_root_holds_the_workspace_manifest() {
        assert!(workspace_root().join("Cargo.toml").is_file());
        assert!(workspace_root().join("crates/bb-testenv").is_dir());
    }

    #[test]
    fn the_running_test_is_named() {
        assert!(current_test().contains("the_running_test_is_named"));
    }
}
