//! Bad settings and an unreachable server give one clear line and a non-zero
//! exit, or (for the server) a logged retry; never a panic.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bbclient() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bbclient"));
    c.env("XDG_RUNTIME_DIR", scratch("run"));
    c
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bbclient-bad-input-{}", std::process::id()));
    let p = dir.join(name);
    let _ = std::fs::create_dir_all(&dir);
    p
}

/// Writes `text` to `path` with the permission bits `mode`.
fn write_mode(path: &std::path::Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, text).expect("scratch file is writable");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .expect("scratch file mode");
}

fn run_with(config_text: &str, name: &str) -> (i32, String) {
    run_with_mode(config_text, name, 0o600)
}

fn run_with_mode(config_text: &str, name: &str, mode: u32) -> (i32, String) {
    let path = scratch(name);
    write_mode(&path, config_text, mode);
    let out = bbclient()
        .args(["--instance", name, "run", "--headless", "--config"])
        .arg(&path)
        .output()
        .expect("bbclient runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_one_line(stderr: &str, needles: &[&str]) {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got:\n{stderr}");
    assert!(lines[0].starts_with("bbclient: "), "{stderr}");
    for n in needles {
        assert!(lines[0].contains(n), "'{n}' missing from: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

const ACCOUNT: &str =
    "[account]\nserver = \"127.0.0.1:5060\"\nuser = \"1910\"\npassword = \"secret-pw\"\n";

#[test]
fn missing_config_file_is_named() {
    let out = bbclient()
        .args([
            "run",
            "--headless",
            "--config",
            "/nonexistent/bbclient.toml",
        ])
        .output()
        .expect("bbclient runs");
    assert_eq!(out.status.code(), Some(2));
    assert_one_line(
        &String::from_utf8_lossy(&out.stderr),
        &["/nonexistent/bbclient.toml", "does not exist"],
    );
}

#[test]
fn a_settings_file_others_can_read_is_refused_with_the_chmod_that_fixes_it() {
    for (mode, who) in [
        (0o644, "its group and others"),
        (0o640, "its group"),
        (0o602, "others"),
    ] {
        let (code, err) = run_with_mode(ACCOUNT, &format!("exposed-{mode:o}"), mode);
        assert_eq!(code, 2, "{err}");
        assert_one_line(&err, &[who, "chmod 600", &format!("exposed-{mode:o}")]);
        assert!(!err.contains("secret-pw"), "{err}");
    }
}

#[test]
fn unknown_key_is_named() {
    let (code, err) = run_with(
        &format!("{ACCOUNT}[web]\nskip_internals = true\n"),
        "unknown-key",
    );
    assert_eq!(code, 2);
    assert_one_line(&err, &["unknown-key", "skip_internals"]);
}

#[test]
fn parameter_line_without_equals_is_named_with_its_line() {
    let cfg = format!(
        "{ACCOUNT}[web.popup]\nurl = \"http://127.0.0.1:9/x?\"\nparams = \"\"\"\nnumber=%CallerNumber%\ncampaignid 1234\n\"\"\"\n"
    );
    let (code, err) = run_with(&cfg, "no-equals");
    assert_eq!(code, 2);
    assert_one_line(&err, &["web.popup", "line 2", "campaignid 1234"]);
}

#[test]
fn detail_view_refuses_post() {
    let cfg = format!("{ACCOUNT}[web.detail]\nmethod = \"POST\"\nurl = \"http://127.0.0.1:9/d\"\n");
    let (code, err) = run_with(&cfg, "detail-post");
    assert_eq!(code, 2);
    assert_one_line(&err, &["web.detail", "GET"]);
}

#[test]
fn unresolvable_server_is_named() {
    let cfg = ACCOUNT.replace("127.0.0.1:5060", "no-such-host.invalid:5060");
    let (code, err) = run_with(&cfg, "bad-server");
    assert_eq!(code, 2);
    assert_one_line(&err, &["account.server", "no-such-host.invalid"]);
}

#[test]
fn unreachable_server_is_retried_with_a_reason_and_no_password_in_output() {
    // A UDP port nobody listens on; T1 = 20 ms makes a transaction give up in 1.3 s.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port")
        .port();
    let path = scratch("unreachable.toml");
    write_mode(
        &path,
        &format!(
            "{}\n[sip]\nt1_ms = 20\n",
            ACCOUNT.replace("5060", &port.to_string())
        ),
        0o600,
    );
    let mut child = bbclient()
        .env("BBCLIENT_LOG", "debug")
        .args(["--instance", "unreachable", "run", "--headless", "--config"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bbclient starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    let mut failed_twice = 0;
    while failed_twice < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if line.contains("registration failed") && line.contains("retrying in") {
                    failed_twice += 1;
                }
                seen.push(line);
            }
            Err(_) => break,
        }
    }
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let out = child.wait_with_output().expect("bbclient exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        failed_twice,
        2,
        "expected two logged retries, saw:\n{}",
        seen.join("\n")
    );
    assert!(
        out.status.success(),
        "clean exit on SIGTERM: {:?}\n{stderr}",
        out.status
    );
    let all = format!("{}\n{stderr}", seen.join("\n"));
    assert!(
        !all.contains("secret-pw"),
        "the password leaked into the output"
    );
    assert!(!all.contains("panicked"), "{all}");
}
