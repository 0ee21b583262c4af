//! Saving the settings file so that a crash never leaves it half written,
//! and only its owner can read it (Q-4, WEB-7).
//!
//! [`save`] writes [`RawSettings`] as TOML through [`write_atomic`]: the text
//! goes to a new temporary file in the same directory (created 0600, never
//! following a link), which is flushed to disk (`fsync`) and then renamed
//! over the target — a rename within one directory is atomic, so a reader
//! sees the old file or the new one, never a mix. The directory is then
//! flushed too, so the rename itself survives a power cut. On any failure
//! the temporary file is removed and the old settings stay as they were.
//!
//! **A save killed on the way** (power cut, SIGKILL) leaves the settings
//! file as it was (before the rename) or whole and new (after it), never a
//! mix. What it may leave besides is its temporary file,
//! `.NAME.tmp-PID-N-SALT` beside the settings, 0600 like them. The rule:
//! **the next save removes every such file whose process is gone**
//! ([`remove_stale_temps`]); files of saves still running are left alone.
//! Nothing ever reads a temporary file.
//!
//! When the target is a symbolic link, the file it points to is replaced
//! (the link stays). Comments in a hand-written file are not kept: the file
//! is written from the settings.
//!
//! Passwords are in the file (it is the settings file) but never in an
//! error message.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::RawSettings;

/// Why the settings could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// The settings could not be turned into TOML.
    #[error("cannot write settings file '{path}': {message}")]
    Encode {
        /// The file.
        path: PathBuf,
        /// The serialiser's message.
        message: String,
    },
    /// A file system step failed.
    #[error("cannot write settings file '{path}': {action}: {source} ({fix})")]
    Io {
        /// The file.
        path: PathBuf,
        /// The step.
        action: &'static str,
        /// Why.
        source: std::io::Error,
        /// How to fix it.
        fix: &'static str,
    },
}

/// Saves settings to `path` atomically, mode 0600.
pub fn save(path: &Path, raw: &RawSettings) -> Result<(), SaveError> {
    save_toml(path, raw)
}

/// Saves any serde value as TOML to `path` atomically, mode 0600.
pub fn save_toml<T: Serialize>(path: &Path, value: &T) -> Result<(), SaveError> {
    let text = toml::to_string(value).map_err(|e| SaveError::Encode {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    write_atomic(path, text.as_bytes())
}

/// The steps of [`write_atomic`], for failure injection in tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The temporary file was written and flushed, not yet renamed.
    Written,
    /// The rename was done.
    Renamed,
}

/// Replaces `path` with `bytes` atomically; the new file is 0600.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SaveError> {
    write_atomic_with(path, bytes, &mut |_| Ok(()))
}

/// [`write_atomic`], calling `after` at each [`Step`]; an error from it
/// aborts the save as a real failure at that point would.
pub fn write_atomic_with(
    path: &Path,
    bytes: &[u8],
    after: &mut dyn FnMut(Step) -> std::io::Result<()>,
) -> Result<(), SaveError> {
    let err = |action: &'static str, fix: &'static str| {
        let path = path.to_path_buf();
        move |source| SaveError::Io {
            path,
            action,
            source,
            fix,
        }
    };
    // Replace the file a link points to, not the link.
    let target = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(path).map_err(err(
            "cannot follow the symbolic link",
            "point the link at an existing file or remove it",
        ))?,
        _ => path.to_path_buf(),
    };
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "settings".into());
    remove_stale_temps(&dir, &name);
    let (tmp, mut file) = create_temp(&dir, &name).map_err(err(
        "cannot create a temporary file beside it",
        "check that the directory exists and is writable",
    ))?;
    let result = (|| {
        file.write_all(bytes).map_err(err(
            "cannot write the temporary file",
            "check the free disk space",
        ))?;
        file.sync_all().map_err(err(
            "cannot flush the temporary file to disk",
            "check the disk",
        ))?;
        drop(file);
        after(Step::Written).map_err(err("interrupted before the rename", "save again"))?;
        fs::rename(&tmp, &target).map_err(err(
            "cannot replace the file",
            "check that it is not a directory and the directory is writable",
        ))?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    after(Step::Renamed).map_err(err("interrupted after the rename", "save again"))?;
    // Make the rename durable. Some file systems cannot fsync a directory;
    // the file itself is already on disk, so that is not an error.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The process that made temporary file `file` of settings file `name`
/// (`.NAME.tmp-PID-…`), if it is one.
fn temp_owner(file: &str, name: &str) -> Option<u32> {
    let rest = file.strip_prefix(&format!(".{name}.tmp-"))?;
    rest.split('-').next()?.parse().ok()
}

/// Removes the temporary files of earlier saves of `name` in `dir` whose
/// process is gone (killed before its rename); see the module docs. A file
/// that cannot be removed is logged and left.
pub fn remove_stale_temps(dir: &Path, name: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let me = std::process::id();
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(pid) = temp_owner(&file.to_string_lossy(), name) else {
            continue;
        };
        if pid == me || !crate::platform::process_gone(pid) {
            continue;
        }
        if let Err(e) = fs::remove_file(entry.path()) {
            tracing::warn!(
                "cannot remove '{}', left by a save that did not finish: {e}",
                entry.path().display()
            );
        }
    }
}

/// Creates `.NAME.tmp-PID-N` in `dir`, exclusively, mode 0600.
fn create_temp(dir: &Path, name: &str) -> std::io::Result<(PathBuf, File)> {
    let pid = std::process::id();
    let mut last = None;
    for n in 0..100u32 {
        let salt: u32 = rand::random();
        let tmp = dir.join(format!(".{name}.tmp-{pid}-{n}-{salt:08x}"));
        match crate::platform::private_new_file_options()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => {
                // The umask may have taken bits away, never added them; make
                // sure of 0600 (on Windows: the user's SID alone) anyway.
                crate::platform::make_private(&tmp)?;
                return Ok((tmp, f));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free temporary name")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Account, Settings};
    use std::os::unix::fs::PermissionsExt as _;

    fn sample() -> RawSettings {
        RawSettings {
            account: Account {
                server: "127.0.0.1:5060".into(),
                user: "1910".into(),
                password: "s3cret".into(),
                local_addr: None,
                expires: 300,
                transport: "udp".into(),
                outbound_proxy: None,
            },
            ..RawSettings::default()
        }
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .expect("read dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect()
    }

    #[test]
    fn saved_file_loads_back_and_is_private() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("bbclient.toml");
        fs::write(&path, "old").expect("seed");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        save(&path, &sample()).expect("save");
        let loaded = Settings::load(&path).expect("loads back");
        assert_eq!(loaded.raw, sample());
        let mode = fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn a_crash_before_the_rename_leaves_the_old_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("bbclient.toml");
        fs::write(&path, "old settings").expect("seed");
        let e = write_atomic_with(&path, b"new settings", &mut |step| match step {
            Step::Written => Err(std::io::Error::other("simulated crash")),
            Step::Renamed => Ok(()),
        })
        .expect_err("interrupted");
        assert!(
            e.to_string().contains("interrupted before the rename"),
            "{e}"
        );
        assert_eq!(fs::read_to_string(&path).expect("read"), "old settings");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn the_next_save_removes_temporary_files_of_dead_processes_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("bbclient.toml");
        fs::write(&path, "old").expect("seed");
        // A process that is gone: a child that has exited and been reaped.
        let mut child = std::process::Command::new("true").spawn().expect("true");
        let dead = child.id();
        child.wait().expect("wait");
        let stale = dir
            .path()
            .join(format!(".bbclient.toml.tmp-{dead}-0-0000abcd"));
        // A save still running (this process's parent is alive), and
        // another settings file's temporary file.
        let parent = std::os::unix::process::parent_id();
        let running = dir
            .path()
            .join(format!(".bbclient.toml.tmp-{parent}-0-0000abcd"));
        let other = dir
            .path()
            .join(format!(".other.toml.tmp-{dead}-0-0000abcd"));
        for f in [&stale, &running, &other] {
            fs::write(f, "x").expect("plant");
        }
        write_atomic(&path, b"new").expect("save");
        assert!(!stale.exists(), "the dead save's file is removed");
        assert!(running.exists(), "a running save's file is kept");
        assert!(other.exists(), "another file's temporary file is kept");
        assert_eq!(temp_owner(".a.toml.tmp-12-0-ff", "a.toml"), Some(12));
        assert_eq!(temp_owner(".a.toml.tmp-x-0-ff", "a.toml"), None);
        assert_eq!(temp_owner("a.toml", "a.toml"), None);
    }

    #[test]
    fn after_the_rename_the_new_file_is_complete() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("bbclient.toml");
        fs::write(&path, "old settings").expect("seed");
        let mut seen = String::new();
        write_atomic_with(&path, b"new settings", &mut |step| {
            if step == Step::Renamed {
                seen = fs::read_to_string(&path)?;
            }
            Ok(())
        })
        .expect("save");
        assert_eq!(seen, "new settings");
    }

    #[test]
    fn a_link_is_kept_and_its_target_replaced() {
        let dir = tempfile::tempdir().expect("temp dir");
        let real = dir.path().join("real.toml");
        let link = dir.path().join("link.toml");
        fs::write(&real, "old").expect("seed");
        std::os::unix::fs::symlink(&real, &link).expect("link");
        write_atomic(&link, b"new").expect("save");
        assert!(
            fs::symlink_metadata(&link)
                .expect("meta")
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_to_string(&real).expect("read"), "new");
    }

    #[test]
    fn failure_names_the_file_and_the_fix_without_the_password() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("no-such-dir").join("bbclient.toml");
        let e = save(&path, &sample()).expect_err("no directory");
        let msg = e.to_string();
        assert!(msg.contains("bbclient.toml"), "{msg}");
        assert!(msg.contains("check that the directory exists"), "{msg}");
        assert!(!msg.contains("s3cret"));
        // A directory in the way: the rename fails, nothing is left behind.
        let blocked = dir.path().join("blocked");
        fs::create_dir(&blocked).expect("mkdir");
        fs::write(blocked.join("x"), "").expect("fill");
        assert!(write_atomic(&blocked, b"x").is_err());
        assert!(leftovers(dir.path()).is_empty());
    }
}
