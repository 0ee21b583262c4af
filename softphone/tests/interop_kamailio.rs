//! Interoperability with kamailio as a real registrar and Record-Routing
//! proxy (config in `fixtures/kamailio/`): two softphones register with
//! digest authentication, one calls the other through the proxy, holds,
//! resumes and hangs up; in-dialog requests follow the route set.

mod common;

use common::{Phone, Running, free_udp_port, require, root, scratch};
use std::process::Command;

fn kamailio(port: u16, dir: &std::path::Path) -> Running {
    let bin = require("kamailio", "kamailio");
    let mut k = Running::spawn(
        "kamailio",
        Command::new(bin)
            .current_dir(dir)
            .arg("-f")
            .arg(root().join("fixtures/kamailio/kamailio.cfg"))
            .args(["-DD", "-E", "-l", &format!("udp:127.0.0.1:{port}")])
            .args(["-l", &format!("tcp:127.0.0.1:{port}"), "-Y"])
            .arg(dir),
    );
    k.expect_line(&format!("tcp: 127.0.0.1 [127.0.0.1]:{port}"), 10);
    k
}

fn settings(ext: &str, port: u16) -> String {
    format!(
        "[account]\nserver = \"127.0.0.1:{port}\"\nuser = \"{ext}\"\npassword = \"pw{ext}\"\nlocal_addr = \"127.0.0.1:0\"\n\n[sip]\nt1_ms = 50\n"
    )
}

fn call_with_hold(transport: &str) {
    let dir = scratch(&format!("kamailio-{transport}"));
    let port = free_udp_port();
    let mut kam = kamailio(port, &dir);
    let extra = format!("transport = \"{transport}\"\n[sip]");
    let mut a = Phone::start(
        &dir,
        &format!("kam-1910-{transport}"),
        &settings("1910", port).replace("[sip]", &extra),
    );
    let mut b = Phone::start(
        &dir,
        &format!("kam-1330-{transport}"),
        &settings("1330", port).replace("[sip]", &extra),
    );
    a.proc.expect_line("registered as 1910", 15);
    b.proc.expect_line("registered as 1330", 15);

    a.verb(&["call", "1330"]);
    b.proc.expect_line("ringing: call from 1910", 10);
    b.verb(&["answer"]);
    a.proc.expect_line("answered", 10);
    if !b.proc.try_expect_line("answered", 10) {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let mut log = Vec::new();
        while let Ok(l) = kam.lines.try_recv() {
            if l.contains("bbtest") {
                log.push(l);
            }
        }
        panic!(
            "the callee never saw the ACK; kamailio routed:\n{}",
            log.join("\n")
        );
    }

    a.verb(&["hold"]);
    a.proc.expect_line("on hold", 10);
    a.verb(&["unhold"]);
    a.proc.expect_line("resumed", 10);

    b.verb(&["hangup"]);
    b.proc.expect_line("hung up: local_hangup", 10);
    a.proc.expect_line("hung up: remote_hangup", 10);
    a.proc.stop();
    b.proc.stop();
    kam.stop();
}

#[test]
fn call_through_kamailio_with_hold_over_udp() {
    call_with_hold("udp");
}

#[test]
fn call_through_kamailio_with_hold_over_tcp() {
    call_with_hold("tcp");
}

#[test]
fn wrong_password_is_reported_by_kamailio() {
    let dir = scratch("kamailio-badpw");
    let port = free_udp_port();
    let mut kam = kamailio(port, &dir);
    let mut a = Phone::start(
        &dir,
        "kam-bad",
        &settings("1910", port).replace("pw1910", "wrong"),
    );
    let line = a.proc.expect_line("registration failed", 15);
    assert!(line.contains("retrying in"), "{line}");
    assert!(
        !line.contains("wrong"),
        "the password must not be printed: {line}"
    );
    a.proc.stop();
    kam.stop();
}

#[test]
fn outbound_proxy_carries_everything() {
    // The server address is a dead port; every request must go to the proxy.
    let dir = scratch("kamailio-proxy");
    let port = free_udp_port();
    let dead = free_udp_port();
    let mut kam = kamailio(port, &dir);
    let proxied = |ext: &str| {
        settings(ext, dead).replace(
            "[sip]",
            &format!("outbound_proxy = \"127.0.0.1:{port}\"\n[sip]"),
        )
    };
    let mut a = Phone::start(&dir, "kam-proxy-1910", &proxied("1910"));
    let mut b = Phone::start(&dir, "kam-proxy-1330", &proxied("1330"));
    a.proc.expect_line("registered as 1910", 15);
    b.proc.expect_line("registered as 1330", 15);
    a.verb(&["call", "1330"]);
    b.proc.expect_line("ringing: call from 1910", 10);
    b.verb(&["answer"]);
    b.proc.expect_line("answered", 10);
    a.verb(&["hangup"]);
    b.proc.expect_line("hung up: remote_hangup", 10);
    a.proc.stop();
    b.proc.stop();
    kam.stop();
}
