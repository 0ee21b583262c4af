//! `bluebean-sim ctl`: the control API from the command line, for QA shells
//! and scripts (`bluebean-sim ctl --api 127.0.0.1:8080 place 0901 0312345678`).
//!
//! Each command is one HTTP request to a running simulator; the JSON answer
//! is printed pretty, and an error answer (`{"error": …}`) becomes the exit
//! status 1 with the message on stderr. The HTTP client is a few lines of
//! blocking HTTP/1.1 on a `TcpStream`: the control API is local, plain and
//! small, and the CLI needs no async runtime or TLS stack for it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::json;

use crate::scenario::Scenario;

/// One `ctl` command.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Ctl {
    /// List calls (`--live`: only calls not ended).
    Calls {
        /// Only live calls.
        #[arg(long)]
        live: bool,
    },
    /// Show one call (legs, transfers, who talks to whom).
    Call {
        /// Call id.
        id: u64,
    },
    /// An outside caller FROM calls the outside line TO.
    Place {
        /// Caller number.
        from: String,
        /// Outside line.
        to: String,
        /// The caller's SRTP: off, optional or required (its script's
        /// `srtp`; the default script otherwise).
        #[arg(long)]
        srtp: Option<String>,
    },
    /// A ringing simulated party of the call answers.
    Answer {
        /// Call id.
        id: u64,
    },
    /// The simulated caller hangs up (or the server ends the call).
    Hangup {
        /// Call id.
        id: u64,
    },
    /// The call's simulated party sends DTMF.
    Dtmf {
        /// Call id.
        id: u64,
        /// Digits (0-9 * # A-D).
        digits: String,
    },
    /// What the call's simulated parties heard and sent.
    Media {
        /// Call id.
        id: u64,
    },
    /// Registered extensions and their contacts.
    Registrations,
    /// Operators and their states.
    Operators,
    /// Log an operator in at an extension.
    Login {
        /// Login ID.
        login_id: String,
        /// Password.
        password: String,
        /// Extension.
        extension: String,
    },
    /// Log an operator out.
    Logout {
        /// Login ID.
        login_id: String,
    },
    /// Set an operator's state: available, not_available, after_call_work.
    State {
        /// Login ID.
        login_id: String,
        /// New state.
        state: String,
    },
    /// ACD queues.
    Queues,
    /// Campaigns and their counters.
    Campaigns,
    /// Start a campaign.
    CampaignStart {
        /// Campaign name.
        name: String,
    },
    /// Stop a campaign.
    CampaignStop {
        /// Campaign name.
        name: String,
    },
    /// Events after SINCE (waits up to WAIT_MS for one).
    Events {
        /// Last seen seq.
        #[arg(long, default_value_t = 0)]
        since: u64,
        /// Long-poll time.
        #[arg(long, default_value_t = 0)]
        wait_ms: u64,
    },
    /// Run a scenario file (TOML).
    Scenario {
        /// The file.
        file: std::path::PathBuf,
    },
    /// Server counters.
    Stats,
}

/// A request body and its content type.
pub type Body = Option<(String, &'static str)>;

/// The request a command makes: method, path, body and its content type.
pub fn request_of(cmd: &Ctl) -> Result<(&'static str, String, Body), String> {
    let js = |v: serde_json::Value| Some((v.to_string(), "application/json"));
    Ok(match cmd {
        Ctl::Calls { live } => (
            "GET",
            if *live {
                "/api/calls?state=live".into()
            } else {
                "/api/calls".into()
            },
            None,
        ),
        Ctl::Call { id } => ("GET", format!("/api/calls/{id}"), None),
        Ctl::Place { from, to, srtp } => (
            "POST",
            "/api/calls".into(),
            js(match srtp {
                Some(s) => json!({"from": from, "to": to, "script": {"srtp": s}}),
                None => json!({"from": from, "to": to}),
            }),
        ),
        Ctl::Answer { id } => ("POST", format!("/api/calls/{id}/answer"), js(json!({}))),
        Ctl::Hangup { id } => ("POST", format!("/api/calls/{id}/hangup"), js(json!({}))),
        Ctl::Dtmf { id, digits } => (
            "POST",
            format!("/api/calls/{id}/dtmf"),
            js(json!({"digits": digits})),
        ),
        Ctl::Media { id } => ("GET", format!("/api/calls/{id}/media"), None),
        Ctl::Registrations => ("GET", "/api/registrations".into(), None),
        Ctl::Operators => ("GET", "/api/operators".into(), None),
        Ctl::Login {
            login_id,
            password,
            extension,
        } => (
            "POST",
            "/api/operators/login".into(),
            js(json!({"login_id": login_id, "password": password, "extension": extension})),
        ),
        Ctl::Logout { login_id } => (
            "POST",
            "/api/operators/logout".into(),
            js(json!({"login_id": login_id})),
        ),
        Ctl::State { login_id, state } => (
            "PUT",
            format!("/api/operators/{}/state", encode(login_id)),
            js(json!({"state": state})),
        ),
        Ctl::Queues => ("GET", "/api/queues".into(), None),
        Ctl::Campaigns => ("GET", "/api/campaigns".into(), None),
        Ctl::CampaignStart { name } => (
            "POST",
            format!("/api/campaigns/{}/start", encode(name)),
            js(json!({})),
        ),
        Ctl::CampaignStop { name } => (
            "POST",
            format!("/api/campaigns/{}/stop", encode(name)),
            js(json!({})),
        ),
        Ctl::Events { since, wait_ms } => (
            "GET",
            format!("/api/events?since={since}&wait_ms={wait_ms}"),
            None,
        ),
        Ctl::Scenario { file } => {
            // Checked here, so errors name the file; sent as JSON, the only
            // body the API takes (a TOML body could be sent by any web page).
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read scenario file '{}': {e}", file.display()))?;
            let scenario = Scenario::from_toml(&text, &file.display().to_string())?;
            let json = serde_json::to_string(&scenario).map_err(|e| {
                format!(
                    "scenario file '{}': cannot write it as JSON: {e}",
                    file.display()
                )
            })?;
            (
                "POST",
                "/api/scenarios".into(),
                Some((json, "application/json")),
            )
        }
        Ctl::Stats => ("GET", "/api/stats".into(), None),
    })
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// One HTTP/1.1 request with `Connection: close`; returns status and body.
pub fn http(
    api: SocketAddr,
    method: &str,
    path: &str,
    body: Option<(&str, &str)>,
) -> Result<(u16, String), String> {
    let fail = |e: std::io::Error| {
        format!("control API at {api}: {e} (is bluebean-sim running with --api {api}?)")
    };
    let mut s = TcpStream::connect_timeout(&api, Duration::from_secs(5)).map_err(fail)?;
    s.set_read_timeout(Some(Duration::from_secs(40)))
        .map_err(fail)?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n");
    if let Some((text, ct)) = body {
        req.push_str(&format!(
            "Content-Type: {ct}\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        ));
    } else {
        req.push_str("\r\n");
    }
    s.write_all(req.as_bytes()).map_err(fail)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(fail)?;
    parse_response(&raw).ok_or_else(|| format!("control API at {api}: not an HTTP response"))
}

fn parse_response(raw: &[u8]) -> Option<(u16, String)> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    let mut body = raw[split + 4..].to_vec();
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[..eol]).ok()?.trim(), 16).ok()?;
            if size == 0 {
                break;
            }
            let start = eol + 2;
            out.extend_from_slice(rest.get(start..start + size)?);
            rest = rest.get(start + size + 2..).unwrap_or_default();
        }
        body = out;
    }
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Runs one command; prints the answer; returns the exit code (0 ok, 1 refused).
pub fn run(api: SocketAddr, cmd: &Ctl) -> Result<bool, String> {
    let (method, path, body) = request_of(cmd)?;
    let (status, text) = http(
        api,
        method,
        &path,
        body.as_ref().map(|(t, c)| (t.as_str(), *c)),
    )?;
    let value: Option<serde_json::Value> = serde_json::from_str(&text).ok();
    if status >= 400 {
        let msg = value
            .as_ref()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or(text);
        eprintln!("bluebean-sim ctl: {status}: {msg}");
        return Ok(false);
    }
    match value {
        Some(v) => println!("{}", serde_json::to_string_pretty(&v).unwrap_or(text)),
        None if !text.is_empty() => println!("{text}"),
        None => {}
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_plain_and_chunked() {
        let plain = b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(parse_response(plain), Some((201, "{}".into())));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked), Some((200, "[1,2]".into())));
        assert_eq!(parse_response(b"garbage"), None);
    }

    #[test]
    fn commands_map_to_endpoints() {
        let (m, p, b) = request_of(&Ctl::State {
            login_id: "op 1".into(),
            state: "available".into(),
        })
        .expect("request");
        assert_eq!((m, p.as_str()), ("PUT", "/api/operators/op%201/state"));
        assert!(b.expect("body").0.contains("available"));
        let (m, p, _) = request_of(&Ctl::Calls { live: true }).expect("request");
        assert_eq!((m, p.as_str()), ("GET", "/api/calls?state=live"));
        assert!(
            request_of(&Ctl::Scenario {
                file: "/nonexistent.toml".into()
            })
            .is_err()
        );
    }

    #[test]
    fn scenario_files_are_sent_as_json_that_reads_back_the_same() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/sim/scenarios");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).expect("scenario fixtures") {
            let file = entry.expect("entry").path();
            let (m, p, b) = request_of(&Ctl::Scenario { file: file.clone() }).expect("request");
            assert_eq!((m, p.as_str()), ("POST", "/api/scenarios"));
            let (body, content_type) = b.expect("a body");
            assert_eq!(content_type, "application/json");
            let text = std::fs::read_to_string(&file).expect("read");
            let from_toml = Scenario::from_toml(&text, "fixture").expect("valid fixture");
            let from_json: Scenario = serde_json::from_str(&body).expect("JSON");
            assert_eq!(from_json, from_toml, "{}", file.display());
            n += 1;
        }
        assert!(n >= 4, "only {n} scenario fixtures in {}", dir.display());
        // A bad file is refused before anything is sent, naming the file.
        let bad = std::env::temp_dir().join(format!("ctl-bad-{}.toml", std::process::id()));
        std::fs::write(&bad, "[[step]]\naction = \"jump\"\n").expect("write");
        let e = request_of(&Ctl::Scenario { file: bad.clone() }).expect_err("refused");
        let _ = std::fs::remove_file(&bad);
        assert!(
            e.contains(&bad.display().to_string()) && e.contains("step[0]"),
            "{e}"
        );
    }
}
