//! Helpers for tests that run the real `bbclient` against real peers.
#![allow(dead_code)]

pub mod audio;
pub mod netns;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// A fresh scratch directory for one test.
pub fn scratch(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bbclient-test-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("run")).expect("scratch dir is writable");
    d
}

/// A free UDP port on loopback (closed again before returning).
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free UDP port")
        .port()
}

/// A path to a peer program, or a failure that says how to get it (peers
/// are never skipped: `cargo xtask setup` installs them; see bb-testenv).
pub fn require(program: &str, package: &str) -> PathBuf {
    bb_testenv::require_program(program, package)
}

/// A running child whose stdout lines are collected.
pub struct Running {
    pub child: Child,
    pub lines: Receiver<String>,
    pub seen: Vec<String>,
    pub name: String,
}

impl Running {
    /// Starts `cmd` as the leader of its own process group, so that
    /// stopping it also stops the children it forks (kamailio's workers).
    pub fn spawn(name: &str, cmd: &mut Command) -> Running {
        std::os::unix::process::CommandExt::process_group(cmd, 0);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let (tx, rx) = channel();
        if let Some(out) = child.stdout.take() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for l in BufReader::new(out).lines().map_while(Result::ok) {
                    let _ = tx.send(l);
                }
            });
        }
        if let Some(err) = child.stderr.take() {
            std::thread::spawn(move || {
                for l in BufReader::new(err).lines().map_while(Result::ok) {
                    let _ = tx.send(format!("(stderr) {l}"));
                }
            });
        }
        Running {
            child,
            lines: rx,
            seen: Vec::new(),
            name: name.to_string(),
        }
    }

    /// Waits for a stdout line containing `needle`.
    pub fn expect_line(&mut self, needle: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "{} did not print '{needle}' within {secs} s; it printed:\n{}",
                    self.name,
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Like `expect_line`, but says false instead of panicking.
    pub fn try_expect_line(&mut self, needle: &str, secs: u64) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(needle) {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
    }

    /// SIGTERM, then wait (SIGKILL after 5 s).
    /// SIGTERM to the process group, then SIGKILL after 5 s.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill_group();
    }

    /// SIGKILL to the whole process group, and the leader reaped.
    fn kill_group(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit; returns whether it succeeded.
    pub fn wait_exit(&mut self, secs: u64) -> Option<bool> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                while let Ok(l) = self.lines.try_recv() {
                    self.seen.push(l);
                }
                return Some(status.success());
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A test that panicked leaves no workers behind either.
        self.kill_group();
    }
}

/// A softphone under test.
pub struct Phone {
    pub proc: Running,
    pub dir: PathBuf,
    pub instance: String,
}

impl Phone {
    /// Starts `bbclient run --headless` with `settings` (TOML) in `dir`.
    pub fn start(dir: &Path, instance: &str, settings: &str) -> Phone {
        let cfg = dir.join(format!("{instance}.toml"));
        write_settings(&cfg, settings);
        let proc = Running::spawn(
            &format!("bbclient {instance}"),
            Command::new(env!("CARGO_BIN_EXE_bbclient"))
                .env("XDG_RUNTIME_DIR", dir.join("run"))
                // The call history stays in the test's directory.
                .env("XDG_DATA_HOME", dir.join("data"))
                .env("BBCLIENT_LOG", "info,rsipstack=warn")
                .args(["--instance", instance, "run", "--headless", "--config"])
                .arg(&cfg),
        );
        Phone {
            proc,
            dir: dir.to_path_buf(),
            instance: instance.to_string(),
        }
    }

    /// Runs `bbclient VERB…` against this phone; panics with the reason when it fails.
    pub fn verb(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_bbclient"))
            .env("XDG_RUNTIME_DIR", self.dir.join("run"))
            .args(["--instance", &self.instance])
            .args(args)
            .output()
            .expect("bbclient runs");
        assert!(
            out.status.success(),
            "bbclient {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a verb that must fail; returns its stderr.
    pub fn verb_fails(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_bbclient"))
            .env("XDG_RUNTIME_DIR", self.dir.join("run"))
            .args(["--instance", &self.instance])
            .args(args)
            .output()
            .expect("bbclient runs");
        assert!(
            !out.status.success(),
            "bbclient {args:?} should have failed"
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

/// What a finished `bbclient` invocation left behind.
#[derive(Debug)]
pub struct Outcome {
    /// The exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Outcome {
    /// Asserts the exit code and that stderr is exactly one `bbclient: ` line
    /// containing every needle; returns that line.
    pub fn one_line_error(&self, code: i32, needles: &[&str]) -> String {
        assert_eq!(self.code, Some(code), "wrong exit code: {self:?}");
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(lines.len(), 1, "expected one error line: {self:?}");
        assert!(lines[0].starts_with("bbclient: "), "{self:?}");
        for n in needles {
            assert!(lines[0].contains(n), "'{n}' missing from: {}", lines[0]);
        }
        assert!(!self.stderr.contains("panicked"), "{self:?}");
        lines[0].to_string()
    }
}

/// `bbclient` with its control sockets under `runtime` (as XDG_RUNTIME_DIR),
/// and no settings found by accident from the environment.
pub fn bbclient_in(runtime: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bbclient"));
    c.env("XDG_RUNTIME_DIR", runtime)
        .env_remove("BBCLIENT_CONFIG")
        .env("XDG_CONFIG_HOME", runtime.join("no-config"))
        .env("XDG_DATA_HOME", runtime.join("data"))
        .env("BBCLIENT_LOG", "info,rsipstack=warn")
        .stdin(Stdio::null());
    c
}

/// Runs a prepared `bbclient` command to its end.
pub fn outcome(cmd: &mut Command) -> Outcome {
    let out = cmd.output().expect("bbclient runs");
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Starts sipp with a scenario of `fixtures/sipp/` listening on `port`.
pub fn start_sipp(scenario: &str, port: u16, calls: u32, dir: &Path) -> Running {
    let sipp = require("sipp", "sip-tester");
    Running::spawn(
        &format!("sipp {scenario}"),
        Command::new(sipp)
            .current_dir(dir)
            .arg("-sf")
            .arg(root().join("fixtures/sipp").join(scenario))
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-m", &calls.to_string()])
            .args([
                "-timeout",
                "30s",
                "-timeout_error",
                "-trace_err",
                "-nostdin",
            ]),
    )
}

/// A process started by `bbclient` itself (a softphone started on demand),
/// known by its pid file; SIGTERM when dropped.
pub struct PidGuard(pub PathBuf);

impl PidGuard {
    /// The pid in the file, if any.
    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(&self.0)
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }
}

impl Drop for PidGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    }
}

/// Polls `f` every 20 ms until it is true, for at most `secs`.
pub fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads baresip's `ctrl_tcp` stream (netstrings: `LEN ':' JSON ','`) and
/// sends each JSON message to `tx`, until the stream or the receiver ends.
pub fn forward_netstrings(
    reader: &mut impl BufRead,
    tx: &std::sync::mpsc::Sender<serde_json::Value>,
) {
    loop {
        let mut len = Vec::new();
        if reader.read_until(b':', &mut len).map_or(true, |n| n == 0) {
            return;
        }
        let Some(n) = std::str::from_utf8(len.get(..len.len() - 1).unwrap_or_default())
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
        else {
            return;
        };
        let mut body = vec![0u8; n + 1];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if let Ok(v) = serde_json::from_slice(&body[..n])
            && tx.send(v).is_err()
        {
            return;
        }
    }
}

/// Writes a settings file as the softphone requires it: readable by its
/// owner alone (0600).
pub fn write_settings(path: &Path, text: &str) {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .expect("settings file is writable");
    f.write_all(text.as_bytes())
        .expect("settings file is writable");
}
