//! `argv-recorder`: a stand-in for a CRM program or a web browser that writes
//! down exactly how it was started.
//!
//! Each run appends **one JSON line** to its log and then (optionally) waits,
//! fetches URLs or exits with a chosen code:
//!
//! ```json
//! {"program":"/tmp/x/bin/on-ring","args":["ring","09012345678"],"pid":4242,"unix_ms":1732400000000}
//! ```
//!
//! `program` is `argv[0]` as the parent passed it and `args` every argument
//! after it, verbatim (lossy UTF-8), so a test sees the argument vector the
//! softphone built, one element per argument.
//!
//! **Where the line goes.** To `$ARGV_RECORDER_OUT` when that is set and not
//! empty; else to `ARGV0.jsonl`, the program path with `.jsonl` appended. The
//! second rule lets a test give each role its own log without any extra
//! argument: symlink this binary as `DIR/bin/on-ring` and the softphone's
//! `on_ring = "DIR/bin/on-ring %CallerNumber%"` logs to `DIR/bin/on-ring.jsonl`.
//! The line is written with a single `write` on a file opened for appending,
//! so concurrent runs never interleave within a line.
//!
//! **Options.** Only *leading* arguments starting with `--rec-` are options
//! (they are still recorded in `args`); the first other argument ends them:
//!
//! - `--rec-sleep-ms=N`: after recording, sleep N ms (a slow or hung hook);
//! - `--rec-exit=N`: exit with code N (default 0);
//! - `--rec-fetch`: act as a browser: after recording, `GET` every remaining
//!   argument that is an `http://` URL (plain HTTP/1.1, `Connection: close`)
//!   and fail when one cannot be fetched;
//! - `--rec-child`: before sleeping, start a child of its own (this binary,
//!   named `ARGV0-child`, so it records into `ARGV0-child.jsonl`) that
//!   sleeps as long: a script's grandchild, for the check that a time limit
//!   ends the whole process group.
//!
//! A caller ID can never be taken for an option: the softphone drops a
//! leading `-` from network values in command arguments.

use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the leading `--rec-*` options asked for.
#[derive(Debug, Default)]
struct Options {
    sleep_ms: u64,
    exit: u8,
    fetch: bool,
    child: bool,
}

fn parse_options(args: &[String]) -> Result<(Options, usize), String> {
    let mut opts = Options::default();
    let mut used = 0;
    for a in args {
        let Some(opt) = a.strip_prefix("--rec-") else {
            break;
        };
        used += 1;
        if let Some(v) = opt.strip_prefix("sleep-ms=") {
            opts.sleep_ms = v
                .parse()
                .map_err(|_| format!("--rec-sleep-ms wants a number of ms, not '{v}'"))?;
        } else if let Some(v) = opt.strip_prefix("exit=") {
            opts.exit = v
                .parse()
                .map_err(|_| format!("--rec-exit wants an exit code 0..255, not '{v}'"))?;
        } else if opt == "fetch" {
            opts.fetch = true;
        } else if opt == "child" {
            opts.child = true;
        } else {
            return Err(format!(
                "unknown option '{a}' (use --rec-sleep-ms=N, --rec-exit=N, --rec-fetch or --rec-child)"
            ));
        }
    }
    Ok((opts, used))
}

fn out_path(program: &str) -> PathBuf {
    match std::env::var_os("ARGV_RECORDER_OUT") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(format!("{program}.jsonl")),
    }
}

fn record(program: &str, args: &[String]) -> Result<(), String> {
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let line = serde_json::json!({
        "program": program,
        "args": args,
        "pid": std::process::id(),
        "unix_ms": unix_ms,
    });
    let mut text = line.to_string();
    text.push('\n');
    let path = out_path(program);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// `GET url` over plain HTTP/1.1; returns the status code.
fn fetch(url: &str) -> Result<u16, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("'{url}' is not a URL: {e}"))?;
    if parsed.scheme() != "http" {
        return Err(format!("'{url}': only http:// URLs can be fetched"));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| format!("'{url}' has no host"))?;
    let port = parsed.port_or_known_default().unwrap_or(80);
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} resolves to nothing"))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let target = match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_string(),
    };
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: argv-recorder\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("cannot send to {addr}: {e}"))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .map_err(|e| format!("cannot read from {addr}: {e}"))?;
    let head = String::from_utf8_lossy(&answer[..answer.len().min(64)]).into_owned();
    head.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{addr} did not answer with HTTP: '{head}'"))
}

fn main() -> ExitCode {
    let mut argv = std::env::args_os().map(|a| a.to_string_lossy().into_owned());
    let program = argv.next().unwrap_or_else(|| "argv-recorder".to_string());
    let args: Vec<String> = argv.collect();
    if let Err(e) = record(&program, &args) {
        eprintln!("argv-recorder: {e}");
        return ExitCode::from(70);
    }
    let (opts, used) = match parse_options(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("argv-recorder: {e}");
            return ExitCode::from(2);
        }
    };
    if opts.fetch {
        for url in args[used..].iter().filter(|a| a.starts_with("http://")) {
            if let Err(e) = fetch(url) {
                eprintln!("argv-recorder: {e}");
                return ExitCode::from(3);
            }
        }
    }
    if opts.child {
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt as _;
            let started = std::env::current_exe().and_then(|exe| {
                std::process::Command::new(exe)
                    .arg0(format!("{program}-child"))
                    .arg(format!("--rec-sleep-ms={}", opts.sleep_ms))
                    .spawn()
            });
            if let Err(e) = started {
                eprintln!("argv-recorder: cannot start the child: {e}");
                return ExitCode::from(71);
            }
        }
    }
    if opts.sleep_ms > 0 {
        std::thread::sleep(Duration::from_millis(opts.sleep_ms));
    }
    ExitCode::from(opts.exit)
}
