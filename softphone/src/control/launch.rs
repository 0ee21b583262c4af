//! Starting a softphone on demand, when `bbclient call` finds none running:
//! where its settings are ([`find_settings`]) and the detached process
//! ([`Launch`]).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bb_verbs::wire::{EventKind, RegistrationState};

use super::client::{Client, ClientError};
use super::paths::{default_settings, ensure_private_dir, log_path, pid_path, runtime_dir};

/// Finds the settings file for a softphone started without `--config`:
/// `explicit` (from `--config`) if given, else `$BBCLIENT_CONFIG`, else
/// `$XDG_CONFIG_HOME/bbclient/bbclient.toml` (`XDG_CONFIG_HOME` defaults to
/// `~/.config`). The file must exist. `env` reads an environment variable.
pub fn find_settings(
    explicit: Option<&Path>,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<PathBuf, String> {
    let non_empty = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(path) = explicit {
        return existing(path, "--config");
    }
    if let Some(path) = non_empty("BBCLIENT_CONFIG") {
        return existing(Path::new(&path), "BBCLIENT_CONFIG");
    }
    let path = default_settings(env)?;
    if path.is_file() {
        return Ok(path);
    }
    Err(format!(
        "no settings file: --config is not given, BBCLIENT_CONFIG is not set, and {} does not exist \
         (write one there, see fixtures/config/example.toml, or pass --config FILE)",
        path.display()
    ))
}

fn existing(path: &Path, from: &str) -> Result<PathBuf, String> {
    if path.is_file() {
        Ok(path.to_path_buf())
    } else {
        Err(format!(
            "settings file '{}' (from {from}) does not exist or is not a file",
            path.display()
        ))
    }
}

/// A softphone being started on demand: `bbclient --instance NAME --config
/// FILE run --headless`, detached in its own process group, its output in
/// [`log_path`], its id in [`pid_path`].
pub struct Launch {
    child: std::process::Child,
    /// The instance.
    pub instance: String,
    /// The settings file it runs with.
    pub settings: PathBuf,
    /// Its output.
    pub log: PathBuf,
    /// Its process id.
    pub pid: u32,
}

/// How long [`Launch::wait_ready`] waits for the socket.
pub const SOCKET_WAIT: Duration = Duration::from_secs(10);
/// How long [`Launch::wait_ready`] waits for the registration.
pub const REGISTRATION_WAIT: Duration = Duration::from_secs(20);

impl Launch {
    /// Starts `exe` (this program) for `instance` with `settings`.
    pub fn start(exe: &Path, instance: &str, settings: &Path) -> Result<Launch, String> {
        let dir = runtime_dir();
        ensure_private_dir(&dir)?;
        let log = log_path(instance);
        let out = crate::platform::private_file_options()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| format!("cannot open the log {}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("cannot open the log {}: {e}", log.display()))?;
        let settings = std::path::absolute(settings).unwrap_or_else(|_| settings.to_path_buf());
        let mut cmd = std::process::Command::new(exe);
        cmd.arg("--instance")
            .arg(instance)
            .arg("--config")
            .arg(&settings)
            .args(["run", "--headless"])
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err);
        // Its own process group: Ctrl-C in this terminal, or the browser
        // that launched us exiting, does not stop the softphone.
        crate::platform::detach(&mut cmd);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let pid = child.id();
        // Informational (scripts, tests): nothing reads it back, so a
        // failure to write it is not worth refusing the call for.
        let _ = crate::platform::private_file_options()
            .create(true)
            .write(true)
            .truncate(true)
            .open(pid_path(instance))
            .and_then(|mut f| std::io::Write::write_all(&mut f, format!("{pid}\n").as_bytes()));
        Ok(Launch {
            child,
            instance: instance.to_string(),
            settings,
            log,
            pid,
        })
    }

    /// Waits (bounded by [`SOCKET_WAIT`] and [`REGISTRATION_WAIT`]) until the
    /// softphone listens on `socket` and is registered; returns a client
    /// connected to it.
    pub async fn wait_ready(&mut self, socket: &Path) -> Result<Client, String> {
        let deadline = tokio::time::Instant::now() + SOCKET_WAIT;
        let mut client = loop {
            match Client::connect(socket).await {
                Ok(c) => break c,
                Err(ClientError::NotRunning { .. }) => {}
                Err(e) => return Err(e.to_string()),
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // It may have lost a race with another one started at the
                // same moment, which then serves the socket.
                if let Ok(c) = Client::connect(socket).await {
                    break c;
                }
                return Err(format!(
                    "the softphone could not start ({status}): {} (log: {})",
                    last_line(&self.log).unwrap_or_else(|| "it printed nothing".into()),
                    self.log.display()
                ));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "the softphone started (pid {}) but its control socket {} did not appear within {} s (log: {})",
                    self.pid,
                    socket.display(),
                    SOCKET_WAIT.as_secs(),
                    self.log.display()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let reply = client.subscribe().await.map_err(|e| e.to_string())?;
        if !reply.ok {
            return Err(reply
                .error
                .unwrap_or_else(|| "the softphone refused to report its events".into()));
        }
        let wait = async {
            loop {
                let ev = client.next_event().await.map_err(|e| e.to_string())?;
                if let EventKind::Registration { state, reason } = ev.event {
                    match state {
                        RegistrationState::Registered => return Ok(()),
                        RegistrationState::Failed => {
                            return Err(format!(
                                "the softphone started (pid {}) but could not register: {}; it keeps retrying \
                                 (log: {})",
                                self.pid,
                                reason.unwrap_or_else(|| "no reason given".into()),
                                self.log.display()
                            ));
                        }
                        RegistrationState::Unregistered => {}
                    }
                }
            }
        };
        match tokio::time::timeout(REGISTRATION_WAIT, wait).await {
            Ok(Ok(())) => Ok(client),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!(
                "the softphone started (pid {}) but did not register within {} s; it keeps trying (log: {})",
                self.pid,
                REGISTRATION_WAIT.as_secs(),
                self.log.display()
            )),
        }
    }
}

/// The last non-empty line of a file.
fn last_line(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> + use<> {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "bbclient-control-unit-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("scratch dir is writable");
        d
    }

    #[test]
    fn settings_come_from_the_flag_then_the_variable_then_xdg() {
        let d = scratch("settings");
        let flag = d.join("flag.toml");
        let var = d.join("var.toml");
        let xdg = d.join("xdg/bbclient/bbclient.toml");
        let home = d.join("home/.config/bbclient/bbclient.toml");
        for f in [&flag, &var, &xdg, &home] {
            std::fs::create_dir_all(f.parent().expect("has a parent")).expect("mkdir");
            std::fs::write(f, "").expect("write");
        }
        let all = env_of(&[
            ("BBCLIENT_CONFIG", var.to_str().expect("utf-8")),
            ("XDG_CONFIG_HOME", d.join("xdg").to_str().expect("utf-8")),
            ("HOME", d.join("home").to_str().expect("utf-8")),
        ]);
        assert_eq!(find_settings(Some(&flag), &all), Ok(flag.clone()));
        assert_eq!(find_settings(None, &all), Ok(var.clone()));
        let no_var = env_of(&[
            ("BBCLIENT_CONFIG", ""),
            ("XDG_CONFIG_HOME", d.join("xdg").to_str().expect("utf-8")),
            ("HOME", d.join("home").to_str().expect("utf-8")),
        ]);
        assert_eq!(find_settings(None, &no_var), Ok(xdg));
        let home_only = env_of(&[
            ("XDG_CONFIG_HOME", "relative/is/ignored"),
            ("HOME", d.join("home").to_str().expect("utf-8")),
        ]);
        assert_eq!(find_settings(None, &home_only), Ok(home));
    }

    #[test]
    fn missing_settings_name_where_they_were_looked_for() {
        let d = scratch("no-settings");
        let e = find_settings(Some(&d.join("nope.toml")), &env_of(&[])).expect_err("missing");
        assert!(e.contains("nope.toml") && e.contains("--config"), "{e}");
        let e = find_settings(None, &env_of(&[("BBCLIENT_CONFIG", "/nonexistent/x.toml")]))
            .expect_err("missing");
        assert!(
            e.contains("/nonexistent/x.toml") && e.contains("BBCLIENT_CONFIG"),
            "{e}"
        );
        let home = d.to_str().expect("utf-8");
        let e = find_settings(None, &env_of(&[("HOME", home)])).expect_err("missing");
        assert!(
            e.contains(".config/bbclient/bbclient.toml") && e.contains("--config FILE"),
            "{e}"
        );
        let e = find_settings(None, &env_of(&[])).expect_err("missing");
        assert!(e.contains("HOME"), "{e}");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn last_line_skips_blank_lines() {
        let d = scratch("last-line");
        let f = d.join("log");
        std::fs::write(&f, "one\nbbclient: settings file 'x': bad\n\n").expect("write");
        assert_eq!(
            last_line(&f).as_deref(),
            Some("bbclient: settings file 'x': bad")
        );
        assert_eq!(last_line(&d.join("missing")), None);
    }
}
