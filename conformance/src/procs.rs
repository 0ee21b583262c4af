//! Starting and stopping the real processes under test.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

static BIN_DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// Where `bbclient`, `bluebean-sim` and `argv-recorder` are:
/// - `$BB_BIN_DIR` when set;
/// - run by cargo (`$CARGO` set): the workspace's `target/debug` after an
///   up-to-date `cargo build` of the three;
/// - otherwise (an installed `bbfeatures`): the folder of the running
///   executable, when the three sit there.
pub fn bin_dir() -> Result<PathBuf, String> {
    BIN_DIR
        .get_or_init(|| {
            if let Some(dir) = std::env::var_os("BB_BIN_DIR") {
                // Absolute: processes are started from other folders.
                return std::path::absolute(PathBuf::from(&dir))
                    .map_err(|e| format!("BB_BIN_DIR {}: {e}", PathBuf::from(&dir).display()));
            }
            let Ok(cargo) = std::env::var("CARGO") else {
                return beside_self();
            };
            let status = std::process::Command::new(cargo)
                .current_dir(workspace_root())
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "softphone",
                    "-p",
                    "simulator",
                    "-p",
                    "conformance",
                    "--bins",
                ])
                .status()
                .map_err(|e| format!("cannot run cargo to build the binaries under test: {e}"))?;
            if !status.success() {
                return Err(format!(
                    "building bbclient and bluebean-sim failed ({status})"
                ));
            }
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace_root().join("target"));
            Ok(target.join("debug"))
        })
        .clone()
}

/// The folder of the running executable, when `bbclient` is there too.
fn beside_self() -> Result<PathBuf, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find the running executable: {e}"))?;
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    let missing: Vec<&str> = ["bbclient", "bluebean-sim", "argv-recorder"]
        .into_iter()
        .filter(|b| !dir.join(b).is_file())
        .collect();
    if missing.is_empty() {
        Ok(dir)
    } else {
        Err(format!(
            "{} not beside {}: install bbclient, bluebean-sim and argv-recorder in the same \
             folder, or set BB_BIN_DIR to the folder that holds them",
            missing.join(", "),
            exe.display()
        ))
    }
}

/// The argv recorder (`src/bin/argv-recorder.rs`): stands in for a CRM
/// program or a browser and writes down the arguments it was given.
pub fn recorder_bin() -> Result<PathBuf, String> {
    let path = bin_dir()?.join("argv-recorder");
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "the argv recorder is not at {}: build it with `cargo build -p conformance --bins`",
            path.display()
        ))
    }
}

/// The next line of a child's output, split at `\n` only: a `\r` or any
/// other control character the process printed stays in the line, so that
/// checks on its output see exactly what a terminal or a log file
/// would get. Invalid UTF-8 is kept as U+FFFD rather than ending the
/// reading. `None` at the end of the stream.
async fn next_line<R: tokio::io::AsyncBufRead + Unpin>(reader: &mut R) -> Option<String> {
    let mut buf = Vec::new();
    match reader.read_until(b'\n', &mut buf).await {
        Ok(0) | Err(_) => None,
        Ok(_) => {
            if buf.last() == Some(&b'\n') {
                buf.pop();
            }
            Some(String::from_utf8_lossy(&buf).into_owned())
        }
    }
}

/// A child process whose output is kept (and shown when a scenario fails).
#[derive(Debug)]
pub struct Proc {
    /// What it is, for messages.
    pub name: String,
    child: Child,
    /// Every line it printed, stdout and stderr, in order of arrival.
    pub output: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    /// Starts `cmd`; returns once it printed a stdout line starting with
    /// `ready` (then returns that line), or at once when `ready` is `None`.
    pub async fn start(
        name: &str,
        mut cmd: Command,
        ready: Option<&str>,
    ) -> Result<(Proc, String), String> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let output = Arc::new(Mutex::new(Vec::new()));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        if let Some(out) = child.stdout.take() {
            let output = output.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(out);
                while let Some(l) = next_line(&mut reader).await {
                    if let Ok(mut o) = output.lock() {
                        o.push(l.clone());
                    }
                    let _ = tx.send(l);
                }
            });
        }
        if let Some(err) = child.stderr.take() {
            let output = output.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(err);
                while let Some(l) = next_line(&mut reader).await {
                    if let Ok(mut o) = output.lock() {
                        o.push(format!("(stderr) {l}"));
                    }
                }
            });
        }
        let proc = Proc {
            name: name.to_string(),
            child,
            output,
        };
        let Some(ready) = ready else {
            return Ok((proc, String::new()));
        };
        let wait = async {
            while let Some(line) = rx.recv().await {
                if line.starts_with(ready) {
                    return Some(line);
                }
            }
            None
        };
        match tokio::time::timeout(Duration::from_secs(20), wait).await {
            Ok(Some(line)) => Ok((proc, line)),
            _ => Err(format!(
                "{name} did not report '{ready}' within 20 s; its output:\n{}",
                proc.transcript()
            )),
        }
    }

    /// Everything printed so far.
    pub fn transcript(&self) -> String {
        self.output.lock().map(|o| o.join("\n")).unwrap_or_default()
    }

    /// The process ID, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stops the process with SIGTERM, then SIGKILL after 3 s.
    pub async fn stop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill").arg(pid.to_string()).status().await;
        }
        if tokio::time::timeout(Duration::from_secs(3), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Reads `key=ADDR` out of a ready line (`sip=udp:127.0.0.1:5060`).
pub fn addr_in(line: &str, key: &str) -> Result<SocketAddr, String> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .map(|v| v.trim_start_matches("udp:").trim_start_matches("http://"))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no {key} address in '{line}'"))
}
