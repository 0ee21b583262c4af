//! Interoperability with sipp (Debian `sip-tester`) as a real SIP peer: sipp
//! plays the BlueBean server (registrar and callee) or the caller, scripted by
//! the scenarios in `fixtures/sipp/`. sipp's exit status says whether every
//! message it expected arrived, in order, with the content it checks.

mod common;

use common::{Phone, Running, free_udp_port, require, root, scratch};
use std::process::Command;

fn sipp(scenario: &str, port: u16, calls: u32, dir: &std::path::Path, extra: &[&str]) -> Running {
    let sipp = require("sipp", "sip-tester");
    let path = root().join("fixtures/sipp").join(scenario);
    let mut running = Running::spawn(
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
            ])
            .args(extra),
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    // A short scenario may already be done; only a failure this early is one.
    assert_ne!(
        running.wait_exit(0),
        Some(false),
        "sipp failed at start:\n{}",
        running.seen.join("\n")
    );
    running
}

fn sipp_server(scenario: &str, port: u16, calls: u32, dir: &std::path::Path) -> Running {
    sipp(scenario, port, calls, dir, &[])
}

fn assert_sipp_done(sipp: &mut Running, dir: &std::path::Path) {
    let ok = sipp.wait_exit(15);
    assert_eq!(
        ok,
        Some(true),
        "sipp did not finish its scenario:\n{}\n{}",
        sipp.seen.join("\n"),
        sipp_errors(dir)
    );
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
    assert_sipp_done(&mut sipp, &dir);
    phone.proc.stop();
}

#[test]
fn early_media_plays_before_the_answer_against_sipp() {
    let dir = scratch("sipp-early");
    let port = free_udp_port();
    let mut sipp = sipp_server("registrar_uas_early_media.xml", port, 2, &dir);
    let mut phone = Phone::start(&dir, "sipp-early", &settings(port));
    phone.proc.expect_line("registered as 1910", 15);
    phone.verb(&["call", "1330"]);
    // The 183's SDP starts the media (the network's announcement or
    // ringback is heard); the 200 comes 1.5 s later. Lines are read in
    // order, so an answer before the media start fails here.
    phone.proc.expect_line("media started", 10);
    phone.proc.expect_line("answered", 10);
    phone.verb(&["hangup"]);
    phone.proc.expect_line("hung up: local_hangup", 10);
    assert_sipp_done(&mut sipp, &dir);
    phone.proc.stop();
}

#[test]
fn incoming_call_held_by_the_peer_against_sipp() {
    let dir = scratch("sipp-incoming");
    // No registrar: incoming calls reach the softphone all the same.
    let mut phone = Phone::start(&dir, "sipp-incoming", &settings(free_udp_port()));
    let line = phone.proc.expect_line("(SIP 127.0.0.1:", 10);
    let addr = line
        .split("(SIP ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("the SIP address is printed")
        .to_string();
    let mut sipp = sipp(
        "uac_calls_us.xml",
        free_udp_port(),
        1,
        &dir,
        &["-s", "1910", &addr],
    );
    phone
        .proc
        .expect_line("ringing: call from 09012345678 to 0312345678", 10);
    phone.verb(&["answer"]);
    phone.proc.expect_line("answered", 10);
    phone.proc.expect_line("hung up: remote_hangup", 10);
    assert_sipp_done(&mut sipp, &dir);
    phone.proc.stop();
}

fn blind_transfer(status: &str) -> (Phone, Running, std::path::PathBuf) {
    let dir = scratch(&format!("sipp-refer-{status}"));
    let port = free_udp_port();
    let sipp = sipp(
        "registrar_uas_refer.xml",
        port,
        2,
        &dir,
        &["-key", "notify_status", status],
    );
    let mut phone = Phone::start(&dir, &format!("sipp-refer-{status}"), &settings(port));
    phone.proc.expect_line("registered as 1910", 15);
    phone.verb(&["call", "1330"]);
    phone.proc.expect_line("answered", 10);
    phone.verb(&["blindtransfer", "1303"]);
    (phone, sipp, dir)
}

#[test]
fn blind_transfer_succeeds_against_sipp() {
    let (mut phone, mut sipp, dir) = blind_transfer("200");
    phone.proc.expect_line("transferred to 1303", 10);
    phone.proc.expect_line("hung up: transferred", 10);
    assert_sipp_done(&mut sipp, &dir);
    phone.proc.stop();
}

#[test]
fn failed_blind_transfer_keeps_the_call_against_sipp() {
    let (mut phone, mut sipp, dir) = blind_transfer("486");
    phone.proc.expect_line("transfer to 1303 failed", 10);
    let status = phone.verb(&["status", "--json"]);
    assert!(status.contains("\"talking\""), "{status}");
    phone.verb(&["hangup"]);
    phone.proc.expect_line("hung up: local_hangup", 10);
    assert_sipp_done(&mut sipp, &dir);
    phone.proc.stop();
}

#[test]
fn attended_transfer_refers_the_held_party_with_replaces_against_sipp() {
    let dir = scratch("sipp-attended");
    let port = free_udp_port();
    let mut sipp = sipp("registrar_uas_attended.xml", port, 3, &dir, &[]);
    let mut phone = Phone::start(&dir, "sipp-attended", &settings(port));
    phone.proc.expect_line("registered as 1910", 15);
    phone.verb(&["call", "1330"]);
    phone.proc.expect_line("answered", 10);
    phone.verb(&["transfer", "1303"]);
    phone.proc.expect_line("on hold", 10);
    phone.proc.expect_line("dialing 1303", 10);
    phone.proc.expect_line("answered", 10);
    phone.verb(&["transfer_complete"]);
    phone.proc.expect_line("transferred to 1303", 10);
    assert_sipp_done(&mut sipp, &dir);
    let status = phone.verb(&["status", "--json"]);
    assert!(
        status.contains("\"calls\":[]"),
        "both legs are gone: {status}"
    );
    phone.proc.stop();
}

#[test]
fn cancel_while_ringing_against_sipp() {
    let dir = scratch("sipp-cancel");
    let port = free_udp_port();
    let mut sipp = sipp("registrar_uas_ringing.xml", port, 2, &dir, &[]);
    let mut phone = Phone::start(&dir, "sipp-cancel", &settings(port));
    phone.proc.expect_line("registered as 1910", 15);
    phone.verb(&["call", "1330"]);
    phone.proc.expect_line("dialing 1330", 10);
    // Let the 180 arrive, then give up: the softphone must CANCEL.
    std::thread::sleep(std::time::Duration::from_millis(300));
    phone.verb(&["hangup"]);
    phone.proc.expect_line("hung up: local_hangup", 10);
    assert_sipp_done(&mut sipp, &dir);
    phone.proc.stop();
}

#[test]
fn busy_callee_against_sipp() {
    let dir = scratch("sipp-busy");
    let port = free_udp_port();
    let mut sipp = sipp("registrar_uas_busy.xml", port, 2, &dir, &[]);
    let mut phone = Phone::start(&dir, "sipp-busy", &settings(port));
    phone.proc.expect_line("registered as 1910", 15);
    phone.verb(&["call", "1330"]);
    phone.proc.expect_line("hung up: busy", 10);
    assert_sipp_done(&mut sipp, &dir);
    phone.proc.stop();
}

#[test]
fn stale_cseq_gets_500_and_unknown_dialog_481_against_sipp() {
    let dir = scratch("sipp-dialog-rules");
    let mut phone = Phone::start(&dir, "sipp-dialog-rules", &settings(free_udp_port()));
    let line = phone.proc.expect_line("(SIP 127.0.0.1:", 10);
    let addr = line
        .split("(SIP ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("the SIP address is printed")
        .to_string();
    let mut sipp = sipp(
        "uac_breaks_dialog_rules.xml",
        free_udp_port(),
        1,
        &dir,
        &["-s", "1910", &addr],
    );
    phone.proc.expect_line("ringing", 10);
    phone.verb(&["answer"]);
    phone.proc.expect_line("hung up: remote_hangup", 10);
    assert_sipp_done(&mut sipp, &dir);
    phone.proc.stop();
}

#[test]
fn unregisters_with_digest_at_exit_against_sipp() {
    let dir = scratch("sipp-unregister");
    let port = free_udp_port();
    let mut sipp = sipp_server("registrar_unregister.xml", port, 1, &dir);
    let mut phone = Phone::start(&dir, "sipp-unregister", &settings(port));
    phone.proc.expect_line("registered as 1910", 15);
    // The control surface answers: the core (and its signal handling) runs.
    let status = phone.verb(&["status", "--json"]);
    assert!(status.contains("\"registered\""), "{status}");
    // SIGTERM: the softphone must send REGISTER with Expires 0, answer the
    // challenge, and only then close its socket.
    let _ = Command::new("kill")
        .arg(phone.proc.child.id().to_string())
        .status();
    phone.proc.expect_line("unregistered", 10);
    assert_sipp_done(&mut sipp, &dir);
    assert!(
        !phone
            .proc
            .seen
            .iter()
            .any(|l| l.contains("unregistering at exit")),
        "the unregistration failed:\n{}",
        phone.proc.seen.join("\n")
    );
    assert_eq!(
        phone.proc.wait_exit(10),
        Some(true),
        "{}",
        phone.proc.seen.join("\n")
    );
}

/// The softphone's SIP address, from its start line.
fn phone_addr(phone: &mut Phone) -> String {
    let line = phone.proc.expect_line("(SIP 127.0.0.1:", 10);
    line.split("(SIP ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("the SIP address is printed")
        .to_string()
}

#[test]
fn answers_a_session_timer_and_its_update_refresh_against_sipp() {
    let dir = scratch("sipp-session-timer-uas");
    let mut phone = Phone::start(&dir, "sipp-st-uas", &settings(free_udp_port()));
    let addr = phone_addr(&mut phone);
    let mut sipp = sipp(
        "uac_session_timer.xml",
        free_udp_port(),
        1,
        &dir,
        &["-s", "1910", &addr],
    );
    phone.proc.expect_line("ringing: call from 09012345678", 10);
    phone.verb(&["answer"]);
    phone.proc.expect_line("answered", 10);
    phone.proc.expect_line("hung up: remote_hangup", 10);
    assert_sipp_done(&mut sipp, &dir);
    phone.proc.stop();
}

#[test]
fn refuses_a_too_small_session_interval_with_422_against_sipp() {
    let dir = scratch("sipp-session-timer-422");
    let mut phone = Phone::start(&dir, "sipp-st-422", &settings(free_udp_port()));
    let addr = phone_addr(&mut phone);
    let mut sipp = sipp(
        "uac_session_timer_small.xml",
        free_udp_port(),
        1,
        &dir,
        &["-s", "1910", &addr],
    );
    assert_sipp_done(&mut sipp, &dir);
    let status = phone.verb(&["status", "--json"]);
    assert!(status.contains("\"calls\":[]"), "it never rang: {status}");
    assert!(
        !phone.proc.try_expect_line("ringing:", 1),
        "{}",
        phone.proc.seen.join("\n")
    );
    phone.proc.stop();
}

#[test]
fn refreshes_the_session_with_update_when_asked_against_sipp() {
    let dir = scratch("sipp-session-timer-uac");
    let port = free_udp_port();
    let mut sipp = sipp_server("registrar_uas_session_timer.xml", port, 2, &dir);
    let mut phone = Phone::start(&dir, "sipp-st-uac", &settings(port));
    phone.proc.expect_line("registered as 1910", 15);
    phone.verb(&["call", "1330"]);
    phone.proc.expect_line("answered", 10);
    // sipp hangs up only after the softphone's UPDATE refresh (due at 2 s).
    phone.proc.expect_line("hung up: remote_hangup", 15);
    assert_sipp_done(&mut sipp, &dir);
    phone.proc.stop();
}

/// The server (sipp) calls the softphone and, once answered, sends a REFER
/// that the softphone must refuse with 403 (the scenario fails on any other
/// answer, e.g. a 202 that would make the phone dial).
fn refused_refer(name: &str, extra_settings: &str, refer_to: &str, said: &str) {
    let dir = scratch(name);
    let settings = format!("{}{extra_settings}", settings(free_udp_port()));
    let mut phone = Phone::start(&dir, name, &settings);
    let addr = phone_addr(&mut phone);
    let mut sipp = sipp(
        "uac_refers_us.xml",
        free_udp_port(),
        1,
        &dir,
        &["-s", "1910", &addr, "-key", "refer_to", refer_to],
    );
    phone
        .proc
        .expect_line("ringing: call from 09012345678 to 0312345678", 10);
    phone.verb(&["answer"]);
    phone.proc.expect_line("answered", 10);
    phone.proc.expect_line(said, 10);
    phone.proc.expect_line("hung up: remote_hangup", 10);
    assert_sipp_done(&mut sipp, &dir);
    phone.proc.stop();
}

#[test]
fn a_refer_to_something_that_is_not_a_number_is_refused_against_sipp() {
    refused_refer(
        "sipp-refer-bad-target",
        "",
        "sip:premium-line@127.0.0.1",
        "refused a transfer to premium-line: the transfer target is not a number",
    );
}

#[test]
fn a_refer_is_refused_when_the_settings_say_never_against_sipp() {
    refused_refer(
        "sipp-refer-never",
        "accept_refer = \"never\"\n",
        "sip:0312345679@127.0.0.1",
        "refused REFER from 127.0.0.1:",
    );
}

/// The server (sipp) calls with one of the three auto-answer header forms;
/// with `[call] auto_answer = "server"` the softphone answers by itself
/// (nobody runs `answer`), after ringing.
fn auto_answered(name: &str, header: &str) {
    let dir = scratch(name);
    let settings = format!(
        "{}\n[call]\nauto_answer = \"server\"\n",
        settings(free_udp_port())
    );
    let mut phone = Phone::start(&dir, name, &settings);
    let addr = phone_addr(&mut phone);
    let mut sipp = sipp(
        "uac_autoanswer.xml",
        free_udp_port(),
        1,
        &dir,
        &["-s", "1910", &addr, "-key", "auto_header", header],
    );
    phone
        .proc
        .expect_line("ringing: call from 09012345678 to 0312345678", 10);
    phone.proc.expect_line("bbclient: answered (Call-ID", 10);
    phone.proc.expect_line("hung up: remote_hangup", 10);
    assert_sipp_done(&mut sipp, &dir);
    phone.proc.stop();
}

#[test]
fn call_info_answer_after_is_answered_by_itself_against_sipp() {
    auto_answered(
        "sipp-auto-call-info",
        "Call-Info: <sip:127.0.0.1>;answer-after=0",
    );
}

#[test]
fn alert_info_autoanswer_is_answered_by_itself_against_sipp() {
    auto_answered(
        "sipp-auto-alert-info",
        "Alert-Info: <http://127.0.0.1/ring>;info=alert-autoanswer",
    );
}

#[test]
fn answer_mode_auto_is_answered_by_itself_against_sipp() {
    auto_answered("sipp-auto-answer-mode", "Answer-Mode: Auto");
}
