//! `bbclient.exe`: the cross-build (x86_64-pc-windows-gnu, Debian's
//! mingw-w64) and its tests under Wine.
//!
//! - [`build`]: `cargo build --target x86_64-pc-windows-gnu` of `bbclient`
//!   and the argv recorder (`cargo xtask windows` does only this).
//! - [`test`]: the Windows unit tests of `bb-cti` and `bb-verbs` with Wine
//!   as the target runner, then the Linux-side Wine tests
//!   (`softphone/tests/wine_windows.rs`), which start `bbclient.exe` under
//!   Wine against the Linux `bluebean-sim` and mock CRM; they find the
//!   executables through `BB_WINDOWS_BIN_DIR`.
//!
//! Rust's Windows standard library imports `bcryptprimitives.dll!ProcessPrng`,
//! which Debian's Wine 8 lacks: [`shim`] builds a test-only DLL of a few
//! lines (`xtask/wine/bcryptprimitives.c`) beside the executables, and
//! [`wine_env`] makes Wine prefer it. It is never packaged.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{cargo, run, target_dir, workspace_root};

/// The Windows target.
pub const TARGET: &str = "x86_64-pc-windows-gnu";

/// The crates whose unit tests run under Wine (`softphone`'s own unit tests
/// use Unix sockets and modes throughout; its Windows pieces are tested
/// end to end by the Wine tests instead).
const UNIT_TESTED: &[&str] = &["bb-cti", "bb-verbs"];

/// Where the debug build of the Windows executables lands.
pub fn bin_dir() -> PathBuf {
    target_dir().join(TARGET).join("debug")
}

/// Whether the Rust standard library for [`TARGET`] is installed.
pub fn target_installed() -> bool {
    Command::new("rustc")
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .is_some_and(|dir| dir.is_dir())
}

/// Installs the target with rustup when it is missing (the set-up).
pub fn ensure_target() -> Result<(), String> {
    if target_installed() {
        return Ok(());
    }
    eprintln!("xtask: the Rust target {TARGET} is missing: bbclient.exe is cross-built with it");
    run(Command::new("rustup").args(["target", "add", TARGET])).map_err(|e| {
        format!(
            "{e}; install the target with `rustup target add {TARGET}` (needs the network once)"
        )
    })
}

/// Cross-builds `bbclient.exe` and the argv recorder, and puts the Wine
/// shim beside them.
pub fn build() -> Result<PathBuf, String> {
    if !target_installed() {
        return Err(format!(
            "the Rust target {TARGET} is not installed; run `cargo xtask setup` (or `rustup target add {TARGET}`)"
        ));
    }
    run(cargo().args([
        "build",
        "--target",
        TARGET,
        "-p",
        "softphone",
        "--bin",
        "bbclient",
        "-p",
        "bb-testenv",
        "--bin",
        "argv-recorder",
    ]))?;
    let dir = bin_dir();
    shim(&dir)?;
    eprintln!("xtask: {}", dir.join("bbclient.exe").display());
    Ok(dir)
}

/// Makes the test Wine prefix once, before tests start Wine in parallel.
pub fn ensure_prefix() -> Result<(), String> {
    if target_dir().join("wine-prefix/system.reg").is_file() {
        return Ok(());
    }
    run(wine_env(&mut Command::new("wineboot")).arg("-i"))
}

/// Builds the test-only `bcryptprimitives.dll` into `dir` (and `dir/deps`,
/// where cargo's test executables are), unless it is newer than its source.
pub fn shim(dir: &Path) -> Result<(), String> {
    let source = workspace_root().join("xtask/wine/bcryptprimitives.c");
    for d in [dir.to_path_buf(), dir.join("deps")] {
        std::fs::create_dir_all(&d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
        let dll = d.join("bcryptprimitives.dll");
        let fresh = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        if fresh(&dll).is_some() && fresh(&dll) >= fresh(&source) {
            continue;
        }
        run(Command::new("x86_64-w64-mingw32-gcc")
            .args(["-shared", "-O2", "-o"])
            .arg(&dll)
            .arg(&source)
            .arg("-ladvapi32"))?;
    }
    Ok(())
}

/// The Wine prefix the tests use (inside the target folder, made on first
/// use), quiet, preferring the shim, without the Mono and Gecko prompts.
pub fn wine_env(cmd: &mut Command) -> &mut Command {
    cmd.env("WINEPREFIX", target_dir().join("wine-prefix"))
        .env("WINEDEBUG", "-all")
        .env("WINEDLLOVERRIDES", "bcryptprimitives=n,b;mscoree,mshtml=")
}

/// The Windows stage of `cargo xtask test`: the unit tests under Wine.
/// (The Wine end-to-end tests run with the workspace's tests, see
/// [`BIN_DIR_VAR`].)
pub fn unit_tests() -> Result<(), String> {
    shim(&bin_dir())?;
    let mut cmd = cargo();
    wine_env(&mut cmd)
        .env("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER", "wine")
        .args([
            "test",
            "--target",
            TARGET,
            "--no-fail-fast",
            "--lib",
            "--tests",
        ]);
    for p in UNIT_TESTED {
        cmd.args(["-p", p]);
    }
    run(&mut cmd)
}

/// The variable that tells the Wine tests where `bbclient.exe` is.
pub const BIN_DIR_VAR: &str = "BB_WINDOWS_BIN_DIR";

/// Clippy for the Windows target: the crates with Windows code.
pub fn clippy() -> Result<(), String> {
    run(cargo().args([
        "clippy",
        "--target",
        TARGET,
        "-p",
        "bb-cti",
        "-p",
        "bb-verbs",
        "-p",
        "softphone",
        "--lib",
        "--bins",
        "--",
        "-D",
        "warnings",
    ]))
}

/// `cargo xtask windows test`: the build, the unit tests under Wine and the
/// Wine end-to-end tests, nothing else (the full run is `cargo xtask test`).
pub fn test_only() -> Result<(), String> {
    let dir = build()?;
    ensure_prefix()?;
    let units = unit_tests();
    let e2e = run(wine_env(&mut cargo()).env(BIN_DIR_VAR, &dir).args([
        "test",
        "-p",
        "softphone",
        "--test",
        "wine_windows",
    ]));
    units.and(e2e)
}
