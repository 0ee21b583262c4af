//! The window's own preferences from the "Other" tab (その他設定): the UI
//! language and starting with the system, kept in `ui.toml`, not in the
//! settings file (the audio devices and codec order of the same tab are the
//! core's `[audio]` settings and are saved there).
//!
//! They live apart because the core neither needs nor accepts them (its
//! settings are `deny_unknown_fields`). Saving uses the same atomic write as
//! the settings ([`crate::settings_store`]). A missing file means the
//! defaults; a broken one is reported once in the log and the defaults are
//! used, so the window always opens.
//!
//! Starting with the system writes an XDG autostart entry,
//! `$XDG_CONFIG_HOME/autostart/bbclient-INSTANCE.desktop`, that runs
//! `bbclient --instance INSTANCE --config FILE run`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::i18n::Lang;
use crate::handlers::quote_exec_arg;

/// `ui.toml`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UiPrefs {
    /// `ja`, `en` or `zh`; empty: from the environment.
    pub language: String,
    /// Start the softphone when the user logs in.
    pub start_with_system: bool,
}

impl UiPrefs {
    /// Reads `path`; the defaults when it is missing or unreadable (with a
    /// warning in the log for the latter).
    pub fn load(path: &Path) -> UiPrefs {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return UiPrefs::default(),
            Err(e) => {
                tracing::warn!(
                    "ui preferences '{}': cannot read: {e}; using the defaults",
                    path.display()
                );
                return UiPrefs::default();
            }
        };
        match toml::from_str::<UiPrefs>(&text) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(
                    "ui preferences '{}': {}; using the defaults (fix or delete the file)",
                    path.display(),
                    e.message().trim()
                );
                UiPrefs::default()
            }
        }
    }

    /// The chosen language, if any.
    pub fn lang(&self) -> Option<Lang> {
        Lang::from_code(&self.language)
    }
}

/// `$XDG_CONFIG_HOME/bbclient/ui.toml` (by default `~/.config/bbclient/`).
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "bbclient").map(|d| d.config_dir().join("ui.toml"))
}

/// `$XDG_CONFIG_HOME/autostart/bbclient-INSTANCE.desktop`.
pub fn autostart_path(config_home: &Path, instance: &str) -> PathBuf {
    config_home
        .join("autostart")
        .join(format!("bbclient-{instance}.desktop"))
}

/// The autostart entry's text: runs `EXE --instance NAME --config FILE run`.
pub fn autostart_entry(exe: &Path, instance: &str, settings: &Path) -> Result<String, String> {
    crate::control::check_instance(instance)?;
    let word = |p: &Path, what: &str| -> Result<String, String> {
        let s = p.to_str().ok_or_else(|| {
            format!(
                "{what} {} is not UTF-8 (move it to a UTF-8 path)",
                p.display()
            )
        })?;
        if !p.is_absolute() || s.chars().any(char::is_control) {
            return Err(format!(
                "{what} {} must be an absolute path without control characters",
                s.escape_debug()
            ));
        }
        Ok(quote_exec_arg(s).replace('\\', "\\\\"))
    };
    Ok(format!(
        "[Desktop Entry]\n\
         Type=Application\n\
         Name=BlueBean softphone\n\
         Comment=Start the BlueBean softphone at login\n\
         Exec={} --instance {} --config {} run\n\
         Terminal=false\n\
         X-GNOME-Autostart-enabled=true\n",
        word(exe, "the program")?,
        quote_exec_arg(instance),
        word(settings, "the settings file")?,
    ))
}

/// Writes or removes the autostart entry.
pub fn set_autostart(
    enabled: bool,
    config_home: &Path,
    exe: &Path,
    instance: &str,
    settings: &Path,
) -> Result<(), String> {
    if enabled && cfg!(windows) {
        return Err("starting with Windows is not available yet (issue 17); start bbclient from the Start menu".into());
    }
    let path = autostart_path(config_home, instance);
    if !enabled {
        return match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("cannot remove '{}': {e}", path.display())),
        };
    }
    let text = autostart_entry(exe, instance, settings)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create '{}': {e}", dir.display()))?;
    }
    crate::settings_store::write_atomic(&path, text.as_bytes()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefs_load_defaults_on_missing_or_broken_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ui.toml");
        assert_eq!(UiPrefs::load(&path), UiPrefs::default());
        std::fs::write(&path, "language = 3").expect("write");
        assert_eq!(UiPrefs::load(&path), UiPrefs::default());
        std::fs::write(&path, "language = \"zh\"\nstart_with_system = true\n").expect("write");
        let p = UiPrefs::load(&path);
        assert_eq!(p.lang(), Some(Lang::Zh));
        assert!(p.start_with_system);
    }

    #[test]
    fn autostart_entry_quotes_paths() {
        let e = autostart_entry(
            Path::new("/opt/blue bean/bbclient"),
            "default",
            Path::new("/home/op/.config/bbclient/settings.toml"),
        )
        .expect("entry");
        assert!(
            e.contains(
                "Exec=\"/opt/blue bean/bbclient\" --instance default --config /home/op/.config/bbclient/settings.toml run\n"
            ),
            "{e}"
        );
        assert!(autostart_entry(Path::new("bbclient"), "default", Path::new("/s.toml")).is_err());
    }

    #[test]
    fn autostart_on_and_off() {
        let dir = tempfile::tempdir().expect("temp dir");
        let exe = Path::new("/usr/bin/bbclient");
        let settings = Path::new("/etc/s.toml");
        set_autostart(true, dir.path(), exe, "default", settings).expect("on");
        let path = autostart_path(dir.path(), "default");
        assert!(
            std::fs::read_to_string(&path)
                .expect("written")
                .contains("run\n")
        );
        set_autostart(false, dir.path(), exe, "default", settings).expect("off");
        assert!(!path.exists());
        set_autostart(false, dir.path(), exe, "default", settings).expect("off again");
    }
}
