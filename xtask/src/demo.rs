//! `cargo xtask demo`: one real call, end to end, on loopback.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::http::request;

struct Proc {
    name: &'static str,
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SIGTERM first so the softphone unregisters, then make sure.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!(
            "xtask: {} did not stop on SIGTERM and was killed",
            self.name
        );
    }
}

/// Where the debug binaries are, wherever `cargo xtask demo` was run from.
fn target_dir() -> PathBuf {
    crate::target_dir().join("debug")
}

/// Starts a process whose stdout/stderr lines are echoed with a prefix; the
/// first stdout line that starts with `ready_prefix` is returned.
fn spawn(
    name: &'static str,
    cmd: &mut Command,
    ready_prefix: Option<&str>,
) -> Result<(Proc, Option<String>), String> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    let (tx, rx) = mpsc::channel::<String>();
    if let Some(out) = child.stdout.take() {
        let tx = tx.clone();
        thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                println!("  [{name}] {line}");
                let _ = tx.send(line);
            }
        });
    }
    if let Some(err) = child.stderr.take() {
        thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                println!("  [{name}!] {line}");
            }
        });
    }
    let proc = Proc { name, child };
    let Some(prefix) = ready_prefix else {
        return Ok((proc, None));
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) if line.starts_with(prefix) => return Ok((proc, Some(line))),
            Ok(_) => continue,
            Err(_) => break,
        }
    }
    Err(format!("{name} did not report '{prefix}' within 20 s"))
}

fn field(line: &str, key: &str) -> Result<SocketAddr, String> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .map(|v| v.trim_start_matches("udp:").trim_start_matches("http://"))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no {key} address in '{line}'"))
}

fn wait_for<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> Result<T, String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if Instant::now() > deadline {
            return Err(format!("timed out after {secs} s waiting for {what}"));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn json(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Option<serde_json::Value> {
    let (status, text) = request(addr, method, path, body).ok()?;
    (status < 300)
        .then(|| serde_json::from_str(&text).ok())
        .flatten()
}

fn step(title: &str) {
    println!("\n== {title}");
}

pub fn run() -> Result<(), String> {
    crate::run(crate::cargo().args(["build", "--quiet", "-p", "simulator", "-p", "softphone"]))?;
    let bin = target_dir();
    let sim_bin = bin.join("bluebean-sim");
    let phone_bin = bin.join("bbclient");
    let work = std::env::temp_dir().join(format!("bbclient-demo-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let result = demo(&sim_bin, &phone_bin, &work);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn demo(sim_bin: &Path, phone_bin: &Path, work: &Path) -> Result<(), String> {
    step("1. start the fake BlueBean server and the mock CRM");
    let (_sim, line) = spawn(
        "sim",
        Command::new(sim_bin).args(["--sip", "127.0.0.1:0", "--api", "127.0.0.1:0"]),
        Some("bluebean-sim ready"),
    )?;
    let line = line.unwrap_or_default();
    let sip = field(&line, "sip=")?;
    let api = field(&line, "api=")?;
    let (_crm, line) = spawn(
        "crm",
        Command::new(sim_bin).args(["crm", "--listen", "127.0.0.1:0"]),
        Some("bluebean-sim crm ready"),
    )?;
    let crm = field(&line.unwrap_or_default(), "http=")?;

    step("2. start a headless softphone for extension 1910");
    let config = work.join("bbclient.toml");
    let text = format!(
        r#"[account]
server = "{sip}"
user = "1910"
password = "pw1910"

[operator]
login_id = "op1910"
password = "op-secret"

[history]
path = "{history}"

[web]
skip_internal = true

[web.popup]
method = "GET"
url = "http://{crm}/softphone/popup/in?"
params = """
number=%CallerNumber%
outline=%OutLineNumber%
campaignid=1234
user_name=test_user
user_password=test_pass
"""

[command]
on_ring = "echo CRM hook: ring from %CallerNumber% to %OutLineNumber%"
on_answer = "echo CRM hook: answered %CallId%"
on_hangup = "echo CRM hook: hung up %CallerNumber%"
skip_internal = true
"#,
        history = work.join("history.sqlite3").display()
    );
    {
        // The softphone refuses a settings file others may read (passwords).
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&config)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
    }
    let runtime = work.join("run");
    std::fs::create_dir_all(&runtime).map_err(|e| e.to_string())?;
    let phone_cmd = |args: &[&str]| {
        let mut c = Command::new(phone_bin);
        // Everything the demo's softphone keeps (socket, call history, any
        // per-user file) stays in its scratch directory, removed at the end.
        c.env("XDG_RUNTIME_DIR", &runtime)
            .env("XDG_DATA_HOME", work.join("data"))
            .env("XDG_CONFIG_HOME", work.join("config"))
            .env("XDG_STATE_HOME", work.join("state"))
            .args(["--instance", "demo"])
            .args(args);
        c
    };
    let (_phone, _) = spawn(
        "phone",
        phone_cmd(&["run", "--headless", "--config", &config.to_string_lossy()])
            .env("BBCLIENT_LOG", "warn,rsipstack=error"),
        None,
    )?;
    wait_for("the softphone to register", 15, || {
        json(api, "GET", "/api/registrations", None).filter(|v| {
            v.as_array()
                .is_some_and(|a| a.iter().any(|r| r["extension"] == "1910"))
        })
    })?;
    println!("  registered: the simulator lists extension 1910");

    step("3. an outside caller 09012345678 calls the outside line 0312345678");
    let call = json(
        api,
        "POST",
        "/api/calls",
        Some(r#"{"from":"09012345678","to":"0312345678"}"#),
    )
    .ok_or("the simulator refused to place the call")?;
    let id = call["id"].as_u64().ok_or("no call id")?;
    wait_for("ringing", 10, || {
        json(api, "GET", &format!("/api/calls/{id}"), None).filter(|c| c["state"] == "ringing")
    })?;
    println!("  the softphone answered 180 Ringing");

    step("4. the CRM popup request as sent, and the CRM's answer");
    let reqs = wait_for("the CRM popup request", 10, || {
        json(crm, "GET", "/__mock/requests", None)
            .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
    })?;
    for r in reqs.as_array().into_iter().flatten() {
        println!(
            "  CRM received: {} {}{}{}",
            r["method"].as_str().unwrap_or("?"),
            r["path"].as_str().unwrap_or("?"),
            r["query"]
                .as_str()
                .map(|q| format!("?{q}"))
                .unwrap_or_default(),
            r["body"]
                .as_str()
                .filter(|b| !b.is_empty())
                .map(|b| format!(" body: {b}"))
                .unwrap_or_default()
        );
    }

    step("5. the operator answers (`bbclient answer` from another shell)");
    crate::run(&mut phone_cmd(&["answer"]))?;
    wait_for("the call to be answered", 10, || {
        json(api, "GET", &format!("/api/calls/{id}"), None).filter(|c| c["state"] == "answered")
    })?;
    println!("  talking; the outside caller hangs up in 2 s");
    thread::sleep(Duration::from_secs(2));

    step("6. the outside caller hangs up");
    json(api, "POST", &format!("/api/calls/{id}/hangup"), Some("{}")).ok_or("hang-up refused")?;
    wait_for("the call to end", 10, || {
        json(api, "GET", &format!("/api/calls/{id}"), None).filter(|c| c["state"] == "ended")
    })?;
    thread::sleep(Duration::from_millis(800));
    let status = phone_cmd(&["status"]).output().map_err(|e| e.to_string())?;
    println!(
        "  `bbclient status`: {}",
        String::from_utf8_lossy(&status.stdout)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    );

    step("7. done: stopping everything");
    Ok(())
}
