//! Interoperability with sipp (Debian `sip-tester`) as a real SIP peer: sipp
//! plays the BlueBean server (registrar and callee) or the caller, scripted by
//! the scenarios in `fixtures/sipp/`. sipp's exit status says whether every
//! message it expected arrived, in order, with the content it checks.

mod common;

use common::{Phone, Running, free_udp_port, require, root, scratch};
use std::process::Command;

fn sipp_server(scenario: &str, port: u16, calls: u32, dir: &std::path::Path) -> Running {
    let sipp = require("sipp", "sip-tester");
    let path = root().join("fixtures/sipp").join(scenario);
    Running::spawn(
        &format!("sipp {scenario}"),
        Command::new(sipp)
            .current_dir(dir)
            .args(["-sf"])
            .arg(&path)
            .args([
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-m",
                &calls.to_string(),
            ])
            .args([
                "-timeout",
                "30s",
                "-timeout_error",
                "-trace_err",
                "-nostdin",
            ]),
    )
}

fn settings(server_port: u16) -> String {
    format!(
        "[account]\nserver = \"127.0.0.1:{server_port}\"\nuser = \"1910\"\npassword = \"pw1910\"\nlocal_addr = \"127.0.0.1:0\"\n\n[sip]\nt1_ms = 50\n"
    )
}

fn sipp_errors(dir: &std::path::Path) -> String {
    let mut s = String::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().ends_with("_errors.log") {
                s.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
    }
    s
}

#[test]
fn outgoing_call_hold_resume_hangup_against_sipp() {
    let dir = scratch("sipp-hold");
    let port = free_udp_port();
    let mut sipp = sipp_server("registrar_uas_hold.xml", port, 2, &dir);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        sipp.wait_exit(0),
        None,
        "sipp exited at start:\n{}",
        sipp.seen.join("\n")
    );
    let mut phone = Phone::start(&dir, "sipp-hold", &settings(port));
    phone.proc.expect_line("registered as 1910", 15);
    phone.verb(&["call", "1330"]);
    phone.proc.expect_line("answered", 10);
    phone.verb(&["hold"]);
    phone.proc.expect_line("on hold", 10);
    let err = phone.verb_fails(&["hold"]);
    assert!(err.contains("no active call to hold"), "{err}");
    phone.verb(&["unhold"]);
    phone.proc.expect_line("resumed", 10);
    phone.verb(&["hangup"]);
    phone.proc.expect_line("hung up: local_hangup", 10);
    let ok = sipp.wait_exit(15);
    assert_eq!(
        ok,
        Some(true),
        "sipp did not finish its scenario:\n{}\n{}",
        sipp.seen.join("\n"),
        sipp_errors(&dir)
    );
    phone.proc.stop();
}
