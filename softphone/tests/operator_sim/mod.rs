//! The real `bluebean-sim` for the operator and history tests: built once
//! (like the conformance harness does), started on free loopback ports, and
//! driven through its HTTP API with a plain blocking client.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

static SIM_BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// `bluebean-sim`: `$BB_SIM_BIN` when set, else built beside `bbclient`
/// (same target directory).
pub fn sim_bin() -> PathBuf {
    SIM_BIN
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("BB_SIM_BIN") {
                return Ok(PathBuf::from(p));
            }
            let bbclient = PathBuf::from(env!("CARGO_BIN_EXE_bbclient"));
            let dir = bbclient
                .parent()
                .ok_or("bbclient has no directory")?
                .to_path_buf();
            let target = dir.parent().ok_or("no target directory")?.to_path_buf();
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .map(PathBuf::from)
                .ok_or("no workspace root")?;
            let status = Command::new(cargo)
                .current_dir(root)
                .env("CARGO_TARGET_DIR", &target)
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "simulator",
                    "--bin",
                    "bluebean-sim",
                ])
                .status()
                .map_err(|e| format!("cannot run cargo to build bluebean-sim: {e}"))?;
            if !status.success() {
                return Err(format!("building bluebean-sim failed ({status})"));
            }
            Ok(dir.join("bluebean-sim"))
        })
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A running simulator.
pub struct Sim {
    child: Child,
    pub sip: SocketAddr,
    pub api: SocketAddr,
    lines: Receiver<String>,
}

impl Sim {
    /// Starts `bluebean-sim --sip 127.0.0.1:0 --api 127.0.0.1:0` and waits
    /// for its ready line.
    pub fn start() -> Sim {
        Sim::start_with(&[])
    }

    /// As [`Sim::start`], with more arguments (e.g. `--config TENANT`).
    pub fn start_with(args: &[&std::ffi::OsStr]) -> Sim {
        let mut child = Command::new(sim_bin())
            .args(["--sip", "127.0.0.1:0", "--api", "127.0.0.1:0"])
            .args(args)
            .env("BLUEBEAN_SIM_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("bluebean-sim starts");
        let (tx, rx) = channel();
        let out = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("bluebean-sim prints its ready line");
        assert!(line.starts_with("bluebean-sim ready"), "{line}");
        let field = |key: &str| -> SocketAddr {
            let rest = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .unwrap_or_else(|| panic!("no {key} in {line}"));
            let addr = rest.rsplit("//").next().unwrap_or(rest);
            let addr = addr.strip_prefix("udp:").unwrap_or(addr);
            addr.parse()
                .unwrap_or_else(|e| panic!("{key}{rest} in {line}: {e}"))
        };
        let sip = field("sip=");
        let api = field("api=");
        Sim {
            child,
            sip,
            api,
            lines: rx,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn api_url(&self) -> String {
        format!("http://{}", self.api)
    }

    /// One HTTP request; returns (status, JSON body).
    pub fn http(&self, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
        http(self.api, method, path, body)
    }

    /// GET returning JSON, which must be 200.
    pub fn get(&self, path: &str) -> serde_json::Value {
        let (status, v) = self.http("GET", path, None);
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }

    /// Places a simulated outside call; returns its id.
    pub fn call_in(&self, from: &str, to: &str) -> u64 {
        let (status, v) = self.http(
            "POST",
            "/api/calls",
            Some(&format!(r#"{{"from":"{from}","to":"{to}"}}"#)),
        );
        assert_eq!(status, 201, "placing a call: {v}");
        v["id"].as_u64().expect("call id")
    }

    /// The extensions registered now.
    pub fn registered(&self) -> Vec<String> {
        self.get("/api/registrations")
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r["extension"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Polls until `f` holds (at most `secs`).
    pub fn wait(&self, what: &str, secs: u64, mut f: impl FnMut(&Sim) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !f(self) {
            assert!(
                Instant::now() < deadline,
                "timed out after {secs} s waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 client (one request per connection).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(40)))
        .expect("timeout");
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    let v = serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body));
    (status, v)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}

/// Settings for extension `ext` of the default tenant on `sim`, with the
/// operator API, and `extra` TOML appended.
pub fn settings(sim: &Sim, ext: &str, extra: &str) -> String {
    format!(
        r#"[account]
server = "{}"
user = "{ext}"
password = "pw{ext}"
local_addr = "127.0.0.1:0"
expires = 60

[operator]
login_id = "cfg-id"
password = "cfg-pw"
api_url = "{}"

[sip]
t1_ms = 50

[audio]
input_device = "null"
output_device = "null"
{extra}"#,
        sim.sip,
        sim.api_url()
    )
}

/// A `bbclient run` under test, with its own runtime and data directories.
pub struct Bb {
    pub proc: crate::common::Running,
    pub dir: PathBuf,
    pub instance: String,
}

impl Bb {
    /// The command line for this instance: runtime dir `dir/run`, data dir
    /// `dir/data`, no settings from the environment.
    pub fn command(dir: &std::path::Path, instance: &str) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_bbclient"));
        c.env("XDG_RUNTIME_DIR", dir.join("run"))
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env_remove("BBCLIENT_CONFIG")
            .env_remove("BBCLIENT_HISTORY")
            .env(
                "BBCLIENT_LOG",
                "debug,rsipstack=info,hyper_util=debug,reqwest=debug",
            )
            .args(["--instance", instance]);
        c
    }

    /// Starts `bbclient run --headless` with `settings`; returns when it
    /// has registered.
    pub fn start(dir: &std::path::Path, instance: &str, settings: &str) -> Bb {
        Bb::start_with(dir, instance, settings, &["--headless"], |_| {}, true)
    }

    /// Starts `bbclient run ARGS` with `settings`, `env` applied to the
    /// command; waits for the registration when `wait` is set.
    pub fn start_with(
        dir: &std::path::Path,
        instance: &str,
        settings: &str,
        args: &[&str],
        env: impl FnOnce(&mut Command),
        wait: bool,
    ) -> Bb {
        let cfg = dir.join(format!("{instance}.toml"));
        crate::common::write_settings(&cfg, settings);
        let mut cmd = Bb::command(dir, instance);
        cmd.arg("run").args(args).arg("--config").arg(&cfg);
        env(&mut cmd);
        let mut proc = crate::common::Running::spawn(&format!("bbclient {instance}"), &mut cmd);
        if wait {
            proc.expect_line("registered as", 30);
        }
        Bb {
            proc,
            dir: dir.to_path_buf(),
            instance: instance.to_string(),
        }
    }

    /// Runs `bbclient VERB…` with `stdin` piped in.
    pub fn verb(&self, args: &[&str], stdin: Option<&str>) -> crate::common::Outcome {
        let mut cmd = Bb::command(&self.dir, &self.instance);
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("bbclient runs");
        if let (Some(mut input), Some(text)) = (child.stdin.take(), stdin) {
            input.write_all(text.as_bytes()).expect("stdin");
        }
        let out = child.wait_with_output().expect("bbclient ends");
        crate::common::Outcome {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// A verb that must succeed; its stdout.
    pub fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let o = self.verb(args, stdin);
        assert_eq!(o.code, Some(0), "bbclient {args:?}: {o:?}");
        o.stdout
    }

    /// The control socket.
    pub fn socket(&self) -> PathBuf {
        self.dir
            .join("run")
            .join("bbclient")
            .join(format!("{}.sock", self.instance))
    }

    /// A subscription to this phone's events.
    pub fn subscribe(&self) -> Events {
        Events::connect(&self.socket())
    }

    /// Every line it printed so far (stdout and stderr), after `secs` of
    /// quiet at most.
    pub fn drain(&mut self) -> Vec<String> {
        while let Ok(l) = self.proc.lines.recv_timeout(Duration::from_millis(200)) {
            self.proc.seen.push(l);
        }
        self.proc.seen.clone()
    }

    /// Sends `signal` (`TERM`, `INT`) and waits for the exit; returns
    /// whether it exited with status 0.
    pub fn signal_and_wait(&mut self, signal: &str) -> bool {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.proc.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success());
        self.proc
            .wait_exit(15)
            .unwrap_or_else(|| panic!("bbclient did not exit within 15 s of SIG{signal}"))
    }
}

/// A subscriber on the control socket.
pub struct Events {
    reader: BufReader<std::os::unix::net::UnixStream>,
    pub seen: Vec<serde_json::Value>,
}

impl Events {
    /// Connects and subscribes.
    pub fn connect(path: &std::path::Path) -> Events {
        let mut s =
            std::os::unix::net::UnixStream::connect(path).expect("the control socket accepts");
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("read timeout");
        s.write_all(b"{\"id\":1,\"cmd\":\"subscribe\"}\n")
            .expect("subscribe");
        let mut e = Events {
            reader: BufReader::new(s),
            seen: Vec::new(),
        };
        e.next_matching(|v| v["type"] == "reply" && v["id"] == 1);
        e
    }

    /// The next message `want` picks (others are kept in `seen`).
    pub fn next_matching(
        &mut self,
        want: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        loop {
            let mut line = String::new();
            let n = self
                .reader
                .read_line(&mut line)
                .unwrap_or_else(|e| panic!("no event within 30 s ({e}); seen: {:#?}", self.seen));
            assert!(
                n > 0,
                "the softphone closed the connection; seen: {:#?}",
                self.seen
            );
            let v: serde_json::Value =
                serde_json::from_str(&line).expect("one JSON object per line");
            self.seen.push(v.clone());
            if want(&v) {
                return v;
            }
        }
    }

    /// The next event of `kind`.
    pub fn event(&mut self, kind: &str) -> serde_json::Value {
        self.next_matching(|v| v["type"] == "event" && v["event"] == kind)
    }
}
