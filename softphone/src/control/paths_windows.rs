//! Where the control channel lives on Windows: a named pipe per user and
//! instance (`\\.\pipe\bbclient-SID-NAME`), and a private folder under
//! `%LOCALAPPDATA%` for the log and process id of a softphone started on
//! demand. Who may open the pipe is decided by its DACL (`transport`).

use std::path::{Path, PathBuf};

pub use super::names::{Untrusted, check_instance};

/// `%LOCALAPPDATA%\BlueBean\bbclient\run`: the log and process id of a
/// softphone started on demand (`%TEMP%\bbclient` when `LOCALAPPDATA` is
/// not set).
pub fn runtime_dir() -> PathBuf {
    match std::env::var_os("LOCALAPPDATA") {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d)
            .join("BlueBean")
            .join("bbclient")
            .join("run"),
        _ => std::env::temp_dir().join("bbclient"),
    }
}

/// The settings file used when neither `--config` nor `$BBCLIENT_CONFIG`
/// names one: `%APPDATA%\BlueBean\bbclient.toml`.
pub fn default_settings(
    env: &dyn Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<PathBuf, String> {
    match env("APPDATA").filter(|v| !v.is_empty()) {
        Some(d) if Path::new(&d).is_absolute() => {
            Ok(PathBuf::from(d).join("BlueBean").join("bbclient.toml"))
        }
        _ => Err(
            "no settings file: --config is not given, BBCLIENT_CONFIG is not set, and APPDATA \
             is not set (pass --config FILE)"
                .into(),
        ),
    }
}

/// The pipe of an instance: `\\.\pipe\bbclient-SID-NAME`, SID being this
/// user's (`S-1-5-21-…`). When the SID cannot be read the name says so,
/// and binding it fails (its DACL needs the SID too).
pub fn socket_path(instance: &str) -> PathBuf {
    let user = crate::platform::user_sid().unwrap_or_else(|_| "unknown-user".into());
    PathBuf::from(format!(r"\\.\pipe\bbclient-{user}-{instance}"))
}

/// Where a softphone started on demand writes its output.
pub fn log_path(instance: &str) -> PathBuf {
    runtime_dir().join(format!("{instance}.log"))
}

/// Where the process id of a softphone started on demand is written.
pub fn pid_path(instance: &str) -> PathBuf {
    runtime_dir().join(format!("{instance}.pid"))
}

/// Windows has no numeric user id; `u32::MAX` matches nothing (the pipe
/// compares SIDs instead).
pub fn current_uid() -> u32 {
    u32::MAX
}

/// Creates `dir` (and its parents) with an owner-only DACL when missing.
pub fn ensure_private_dir(dir: &Path) -> Result<(), String> {
    crate::platform::create_private_dir_all(dir)
        .map_err(|e| format!("cannot create the private folder {}: {e}", dir.display()))
}
