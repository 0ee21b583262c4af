//! `bbclient.exe` under Wine (issue 17), against the Linux `bluebean-sim`
//! and mock CRM on loopback: it registers, rings on an outside call and
//! pops up at the CRM, runs the guide's ring command
//! `"C:\Program Files (x86)\testcrm\crm.exe" %CallerNumber% %OutLineNumber%`
//! as written, takes `call`, `hold` and `hangup` through its named pipe,
//! passes every hostile caller ID of the corpus to a command as exactly the
//! argument the CTI core rendered (proved by `argv-recorder`, which records
//! the command line and argv it received), and writes and removes its URI
//! handler keys in the registry.
//!
//! The Windows executables are cross-built by `cargo xtask test` (or
//! `cargo xtask windows test`), which names their folder in
//! `$BB_WINDOWS_BIN_DIR` and the Wine prefix in `$WINEPREFIX`. Without
//! `$BB_WINDOWS_BIN_DIR` the tests are skipped, which fails the run under
//! `CI=true` (bb-testenv's rule); Wine itself is never skipped.

mod common;
mod operator_sim;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use bb_cti::call::CallValues;
use bb_cti::command::{CommandLine, Platform, is_safe_char};
use bb_cti::redact::Secret;
use common::{Running, scratch, wait_until};
use operator_sim::{Sim, settings, sim_bin};

/// The folder of `bbclient.exe` and `argv-recorder.exe`, or a skip.
fn windows_bins() -> Option<PathBuf> {
    match std::env::var_os("BB_WINDOWS_BIN_DIR") {
        Some(d) => Some(PathBuf::from(d)),
        None => {
            bb_testenv::skip(
                "BB_WINDOWS_BIN_DIR is not set: run `cargo xtask test` or `cargo xtask windows test`, which cross-build bbclient.exe",
            );
            None
        }
    }
}

/// `wine` with the test prefix, quiet, preferring the ProcessPrng shim
/// beside the executables (see xtask/src/windows.rs).
fn wine(bins: &Path) -> Command {
    let mut c = Command::new(bb_testenv::require_program("wine", "wine"));
    if std::env::var_os("WINEPREFIX").is_none() {
        // target/x86_64-pc-windows-gnu/debug → target/wine-prefix
        let prefix = bins
            .parent()
            .and_then(Path::parent)
            .map(|t| t.join("wine-prefix"))
            .unwrap_or_else(|| bins.join("wine-prefix"));
        c.env("WINEPREFIX", prefix);
    }
    c.env("WINEDEBUG", "-all")
        .env("WINEDLLOVERRIDES", "bcryptprimitives=n,b;mscoree,mshtml=");
    c
}

/// The prefix's `C:` drive.
fn drive_c(bins: &Path) -> PathBuf {
    let prefix = std::env::var_os("WINEPREFIX")
        .map(PathBuf::from)
        .or_else(|| {
            bins.parent()
                .and_then(Path::parent)
                .map(|t| t.join("wine-prefix"))
        })
        .expect("a Wine prefix");
    prefix.join("drive_c")
}

/// A Linux path as Windows programs under Wine see it (`Z:` is `/`).
fn win_path(p: &Path) -> String {
    format!("Z:{}", p.display()).replace('/', "\\")
}

/// Installs the guide's CRM program, `C:\Program Files (x86)\testcrm\crm.exe`
/// (the argv recorder, with the shim beside it). Returns the Windows path.
fn install_crm(bins: &Path, test: &str) -> String {
    let dir = drive_c(bins).join("Program Files (x86)/testcrm");
    std::fs::create_dir_all(&dir).expect("the prefix is writable");
    for (from, to) in [
        ("argv-recorder.exe", "crm.exe"),
        ("bcryptprimitives.dll", "bcryptprimitives.dll"),
    ] {
        // Copied to a temporary name and renamed: parallel tests may
        // install it at the same time.
        let tmp = dir.join(format!("{to}.{}-{test}.tmp", std::process::id()));
        std::fs::copy(bins.join(from), &tmp).expect("copy the CRM program");
        std::fs::rename(&tmp, dir.join(to)).expect("install the CRM program");
    }
    r"C:\Program Files (x86)\testcrm\crm.exe".to_string()
}

/// A unique instance name (pipe names are shared by the whole prefix).
fn instance(test: &str) -> String {
    format!("w{}-{test}", std::process::id())
}

/// The mock CRM (`bluebean-sim crm`), its base URL.
struct Crm {
    child: Child,
    url: String,
}

impl Crm {
    fn start() -> Crm {
        let mut child = Command::new(sim_bin())
            .args(["crm", "--listen", "127.0.0.1:0"])
            .env("BLUEBEAN_SIM_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the mock CRM starts");
        let mut line = String::new();
        let out = child.stdout.take().expect("stdout");
        BufReader::new(out)
            .read_line(&mut line)
            .expect("the mock CRM prints its ready line");
        let url = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("http="))
            .unwrap_or_else(|| panic!("no http= in {line}"))
            .to_string();
        Crm { child, url }
    }

    fn requests(&self) -> serde_json::Value {
        let addr = self
            .url
            .trim_start_matches("http://")
            .parse()
            .expect("an address");
        let (status, v) = operator_sim::http(addr, "GET", "/__mock/requests", None);
        assert_eq!(status, 200, "{v}");
        v
    }
}

impl Drop for Crm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `bbclient.exe run --headless` under Wine.
struct WinPhone {
    proc: Running,
    bins: PathBuf,
    instance: String,
}

impl WinPhone {
    fn start(bins: &Path, dir: &Path, instance: &str, settings: &str) -> WinPhone {
        let cfg = dir.join(format!("{instance}.toml"));
        std::fs::write(&cfg, settings).expect("write the settings");
        let proc = Running::spawn(
            &format!("bbclient.exe {instance}"),
            wine(bins)
                .current_dir(dir)
                .env(
                    "BBCLIENT_HISTORY",
                    win_path(&dir.join(format!("{instance}.sqlite3"))),
                )
                .env("ARGV_RECORDER_OUT", win_path(&dir.join("argv.jsonl")))
                .env("BBCLIENT_LOG", "warn")
                .arg(bins.join("bbclient.exe"))
                .args(["--instance", instance, "run", "--headless", "--config"])
                .arg(win_path(&cfg)),
        );
        WinPhone {
            proc,
            bins: bins.to_path_buf(),
            instance: instance.to_string(),
        }
    }

    /// `bbclient.exe --instance NAME ARGS…`, another process, through the pipe.
    fn verb(&self, args: &[&str]) -> Output {
        wine(&self.bins)
            .arg(self.bins.join("bbclient.exe"))
            .args(["--instance", &self.instance])
            .args(args)
            .output()
            .expect("wine runs bbclient.exe")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.verb(args);
        assert!(
            out.status.success(),
            "bbclient.exe {args:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// The records `argv-recorder` appended to `file`.
fn records(file: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("record {l:?}: {e}")))
        .collect()
}

fn argv_of(record: &serde_json::Value) -> Vec<String> {
    record["argv"]
        .as_array()
        .expect("argv")
        .iter()
        .map(|a| a.as_str().expect("a string").to_string())
        .collect()
}

/// The settings of a Windows softphone for 1910 with the popup and a ring
/// command.
fn win_settings(sim: &Sim, crm: &Crm, on_ring: &str) -> String {
    let on_ring = on_ring.replace('\'', "");
    format!(
        "{}\n[web.popup]\nurl = \"{}/popup?\"\nparams = \"\"\"\nnumber=%CallerNumber%\noutline=%OutLineNumber%\n\"\"\"\n\n[command]\non_ring = '{on_ring}'\n",
        settings(sim, "1910", ""),
        crm.url
    )
}

#[test]
fn bbclient_exe_registers_rings_pops_up_and_obeys_verbs_through_its_pipe() {
    let Some(bins) = windows_bins() else { return };
    let dir = scratch("wine-call");
    let sim = Sim::start();
    let crm = Crm::start();
    let crm_exe = install_crm(&bins, "call");
    // 1330 answers by itself: a Linux softphone.
    let _callee = operator_sim::Bb::start(
        &dir,
        "ext1330",
        &settings(&sim, "1330", "[call]\nauto_answer = \"always\"\n"),
    );
    sim.wait("1330 registered", 30, |s| {
        s.registered().contains(&"1330".to_string())
    });
    // The guide's ring command, as written.
    let on_ring = format!("\"{crm_exe}\" %CallerNumber% %OutLineNumber%");
    let name = instance("call");
    let mut phone = WinPhone::start(&bins, &dir, &name, &win_settings(&sim, &crm, &on_ring));
    phone.proc.expect_line("registered as 1910", 60);
    assert!(sim.registered().contains(&"1910".to_string()));

    // An outside call rings, the popup reaches the CRM, the command runs.
    let call = sim.call_in("09012345678", "0312345678");
    phone
        .proc
        .expect_line("ringing: call from 09012345678 to 0312345678", 30);
    phone.proc.expect_line("popup for call", 30);
    let reqs = crm.requests();
    let popup = reqs
        .as_array()
        .and_then(|a| a.iter().find(|r| r["path"] == "/popup"))
        .unwrap_or_else(|| panic!("no popup request at the CRM: {reqs}"));
    assert_eq!(popup["method"], "GET");
    assert_eq!(popup["query"], "number=09012345678&outline=0312345678");
    let argv_file = dir.join("argv.jsonl");
    wait_until("the ring command's record", 30, || {
        !records(&argv_file).is_empty()
    });
    let rec = &records(&argv_file)[0];
    let argv = argv_of(rec);
    assert_eq!(&argv[1..], ["09012345678", "0312345678"], "{rec}");
    assert!(argv[0].ends_with(r"testcrm\crm.exe"), "{rec}");
    assert!(
        rec["cmdline"]
            .as_str()
            .is_some_and(|c| c.starts_with(r#""C:\Program Files (x86)\testcrm\crm.exe""#)),
        "{rec}"
    );
    sim.http("POST", &format!("/api/calls/{call}/hangup"), None);
    phone.proc.expect_line("hung up", 30);

    // The verbs, through the pipe: status, then call 1330, hold, hangup.
    let status: serde_json::Value =
        serde_json::from_str(&phone.ok(&["status", "--json"])).expect("status is JSON");
    assert_eq!(status["registration"]["state"], "registered", "{status}");
    phone.ok(&["call", "1330"]);
    let out_call = || {
        sim.get("/api/calls")
            .as_array()
            .and_then(|a| a.iter().find(|c| c["to"] == "1330").cloned())
    };
    wait_until("the call to 1330 answered at the simulator", 30, || {
        out_call().is_some_and(|c| c["state"] == "answered")
    });
    phone.ok(&["hold"]);
    wait_until("the call to 1330 held at the simulator", 30, || {
        out_call().is_some_and(|c| c["held"] == true)
    });
    phone.ok(&["hangup"]);
    wait_until("the call to 1330 ended at the simulator", 30, || {
        out_call().is_some_and(|c| c["state"] == "ended")
    });
    // Nothing left to hang up: the softphone's refusal, exit 1.
    let out = phone.verb(&["hangup"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

/// Every hostile caller ID of the corpus (bb-testenv) reaches the command
/// as exactly the argument the CTI core rendered, beside fixed arguments
/// that need Windows quoting (spaces, quotes, trailing backslashes).
#[test]
fn hostile_caller_ids_reach_a_windows_command_as_one_rendered_argument() {
    let Some(bins) = windows_bins() else { return };
    let dir = scratch("wine-hostile");
    let sim = Sim::start();
    let crm = Crm::start();
    let crm_exe = install_crm(&bins, "hostile");
    let template =
        format!(r#""{crm_exe}" %CallerNumber% "two words" "say \"hi\"" C:\dir\ "end\\" """#);
    let line = CommandLine::parse(&template, Platform::Windows).expect("the template parses");
    let name = instance("hostile");
    let mut phone = WinPhone::start(&bins, &dir, &name, &win_settings(&sim, &crm, &template));
    phone.proc.expect_line("registered as 1910", 60);
    let argv_file = dir.join("argv.jsonl");
    let mut seen = 0;
    let mut checked = 0;
    let mut not_sent = Vec::new();
    for hostile in bb_testenv::hostile::caller_ids() {
        // What the simulator cannot send as a caller ID (empty, or longer
        // than its 2048-byte field).
        if hostile.trim().is_empty() || hostile.len() > 2048 {
            continue;
        }
        let body = serde_json::json!({
            "from": "0900000000",
            "to": "0312345678",
            "identity": {"from_user": hostile, "pai_user": hostile},
        });
        let (status, v) = sim.http("POST", "/api/calls", Some(&body.to_string()));
        assert_eq!(status, 201, "{hostile:?}: {v}");
        let call = v["id"].as_u64().expect("call id");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut undelivered = false;
        while records(&argv_file).len() <= seen {
            // A caller ID the simulator's SIP stack cannot send (its leg
            // to the phone fails before anything is on the wire).
            let c = sim.get(&format!("/api/calls/{call}"));
            if c["state"] == "ended"
                && c["legs"].as_array().is_some_and(|legs| {
                    legs.iter().any(|l| {
                        l["endpoint"]["kind"] == "extension"
                            && l["end_reason"]
                                .as_str()
                                .is_some_and(|r| r.starts_with("failed"))
                    })
                })
            {
                undelivered = true;
                break;
            }
            if std::time::Instant::now() > deadline {
                while let Ok(l) = phone.proc.lines.try_recv() {
                    phone.proc.seen.push(l);
                }
                panic!(
                    "no ring command for {hostile:?} within 30 s; the call: {}; bbclient.exe printed:\n{}",
                    sim.get(&format!("/api/calls/{call}")),
                    phone.proc.seen.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if undelivered {
            not_sent.push(hostile);
            continue;
        }
        let recs = records(&argv_file);
        let rec = &recs[seen];
        seen = recs.len();
        let argv = argv_of(rec);
        let values = CallValues {
            caller_number: hostile.trim().to_string(),
            exten: "1910".into(),
            outline_number: "0312345678".into(),
            call_id: String::new(),
            op_id: String::new(),
            op_pw: Secret::new(String::new()),
        };
        let expected = line.render(&values).argv.args;
        assert_eq!(argv[1..], expected[..], "{hostile:?}: {rec}");
        assert_eq!(
            &argv[2..],
            ["two words", "say \"hi\"", r"C:\dir\", r"end\", ""],
            "{rec}"
        );
        assert!(argv[1].chars().all(is_safe_char), "{hostile:?}: {rec}");
        sim.http("POST", &format!("/api/calls/{call}/hangup"), None);
        phone.proc.expect_line("hung up", 30);
        checked += 1;
    }
    eprintln!("{checked} hostile caller IDs checked; the simulator could not send {not_sent:?}");
    assert!(
        checked >= 45 && not_sent.len() <= 2,
        "only {checked} caller IDs were checked; the simulator could not send {not_sent:?}"
    );
}

/// The detail view opens with `ShellExecuteW` on the URL: under Wine that
/// reaches `winebrowser`, then `xdg-open`, whose `$BROWSER` here is a script
/// that records the one argument it got.
#[test]
fn the_detail_view_opens_the_default_browser_with_the_url_as_one_argument() {
    let Some(bins) = windows_bins() else { return };
    bb_testenv::require_program("xdg-open", "xdg-utils");
    let dir = scratch("wine-detail");
    let sim = Sim::start();
    let log = dir.join("browser.log");
    let browser = dir.join("browser.sh");
    std::fs::write(
        &browser,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$#\" \"$@\" >> '{}'\n",
            log.display()
        ),
    )
    .expect("write the browser script");
    std::fs::set_permissions(
        &browser,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod the browser script");
    let settings = format!(
        "{}\n[web.detail]\nurl = \"http://127.0.0.1:9/detail?\"\nparams = \"\"\"\nnumber=%CallerNumber%\n\"\"\"\nopen_browser_on_ring = true\n",
        settings(&sim, "1910", "")
    );
    let name = instance("detail");
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(&cfg, settings).expect("write the settings");
    let mut phone = Running::spawn(
        "bbclient.exe detail",
        wine(&bins)
            .env("BROWSER", &browser)
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env("BBCLIENT_HISTORY", win_path(&dir.join("h.sqlite3")))
            .arg(bins.join("bbclient.exe"))
            .args(["--instance", &name, "run", "--headless", "--config"])
            .arg(win_path(&cfg)),
    );
    phone.expect_line("registered as 1910", 60);
    sim.call_in("09012345678", "0312345678");
    phone.expect_line("browser launched", 30);
    wait_until("the browser's record", 30, || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.lines().count() >= 2)
    });
    let text = std::fs::read_to_string(&log).expect("the record");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        ["1", "http://127.0.0.1:9/detail?number=09012345678"],
        "{text}"
    );
}

#[test]
fn install_handlers_writes_registry_keys_and_uninstall_removes_them() {
    let Some(bins) = windows_bins() else { return };
    let exe = bins.join("bbclient.exe");
    let query = |key: &str| -> Output {
        wine(&bins)
            .args(["reg", "query", key])
            .output()
            .expect("wine reg runs")
    };
    let run = |args: &[&str]| -> Output {
        wine(&bins)
            .arg(&exe)
            .args(args)
            .output()
            .expect("wine runs bbclient.exe")
    };
    let out = run(&["--instance", "desk", "install-handlers"]);
    assert!(out.status.success(), "{out:?}");
    for scheme in ["callto", "bbclient", "tel", "sip"] {
        let key = format!(r"HKCU\Software\Classes\{scheme}\shell\open\command");
        let q = query(&key);
        let text = String::from_utf8_lossy(&q.stdout);
        assert!(q.status.success(), "{key}: {q:?}");
        assert!(
            text.contains(r#"\bbclient.exe" --instance desk "%1""#),
            "{key}: {text}"
        );
        let q = query(&format!(r"HKCU\Software\Classes\{scheme}"));
        assert!(
            String::from_utf8_lossy(&q.stdout).contains("URL Protocol"),
            "{q:?}"
        );
    }
    let q = query(r"HKCU\Software\BlueBean\bbclient\Capabilities\URLAssociations");
    assert!(
        String::from_utf8_lossy(&q.stdout).contains("BlueBean.bbclient.Url"),
        "{q:?}"
    );

    let out = run(&["install-handlers", "--uninstall"]);
    assert!(out.status.success(), "{out:?}");
    for key in [
        r"HKCU\Software\Classes\callto",
        r"HKCU\Software\Classes\bbclient",
        r"HKCU\Software\Classes\tel",
        r"HKCU\Software\Classes\sip",
        r"HKCU\Software\Classes\BlueBean.bbclient.Url",
        r"HKCU\Software\BlueBean\bbclient",
    ] {
        assert!(!query(key).status.success(), "{key} is still there");
    }
    let q = query(r"HKCU\Software\RegisteredApplications");
    assert!(
        !String::from_utf8_lossy(&q.stdout).contains("BlueBean softphone"),
        "{q:?}"
    );
    // Wine's registry is written lazily; nothing to wait for.
    std::thread::sleep(Duration::ZERO);
}
