//! Leaving cleanly: on SIGTERM and on Ctrl-C (SIGINT) the softphone logs its
//! operator out at the BlueBean API and unregisters (REGISTER with
//! `Expires: 0`, seen as the simulator's registrations going empty), both
//! bounded, and exits 0. The windowed `bbclient run` does the same under
//! Xvfb, and without a display says why and carries on headless.

mod common;
mod operator_sim;

use std::io::BufRead as _;
use std::process::{Command, Stdio};

use common::scratch;
use operator_sim::{Bb, Sim, settings};

fn logged_in_and_registered(sim: &Sim, bb: &Bb, op: &str, ext: &str) {
    sim.wait("the registration", 20, |s| {
        s.registered().contains(&ext.to_string())
    });
    let out = bb.ok(&["login", op, "--password-stdin"], Some("op-secret\n"));
    assert!(out.contains("logged in"), "{out}");
    assert_eq!(
        sim.get(&format!("/api/operators/{op}"))["state"],
        "available"
    );
}

fn logged_out_and_unregistered(sim: &Sim, bb: &mut Bb, op: &str, ext: &str) {
    // Both happened before the process ended: no waiting here.
    assert_eq!(
        sim.get(&format!("/api/operators/{op}"))["state"],
        "logged_out"
    );
    assert!(
        !sim.registered().contains(&ext.to_string()),
        "{ext} is still registered: {:?}",
        sim.get("/api/registrations")
    );
    let lines = bb.drain();
    for needle in [
        "shutting down",
        &format!("operator {op} logged out"),
        "unregistered",
    ] {
        assert!(
            lines.iter().any(|l| l.contains(needle)),
            "'{needle}' missing: {lines:#?}"
        );
    }
    assert!(
        !bb.socket().exists(),
        "the control socket is removed on exit"
    );
}

#[test]
fn sigterm_and_ctrl_c_log_out_and_unregister() {
    let dir = scratch("op-shutdown");
    let sim = Sim::start();
    let mut term = Bb::start(&dir, "term", &settings(&sim, "1910", ""));
    let mut int = Bb::start(&dir, "int", &settings(&sim, "1911", ""));
    logged_in_and_registered(&sim, &term, "op1910", "1910");
    logged_in_and_registered(&sim, &int, "op1911", "1911");

    assert!(term.signal_and_wait("TERM"), "exit 0 after SIGTERM");
    logged_out_and_unregistered(&sim, &mut term, "op1910", "1910");
    assert!(
        sim.registered().contains(&"1911".to_string()),
        "the other phone stays"
    );

    assert!(int.signal_and_wait("INT"), "exit 0 after SIGINT");
    logged_out_and_unregistered(&sim, &mut int, "op1911", "1911");
}

/// `Xvfb -displayfd 1` on a free display; killed when dropped.
struct Xvfb {
    child: std::process::Child,
    display: String,
}

impl Xvfb {
    fn start() -> Xvfb {
        let program = common::require("Xvfb", "xvfb");
        let mut child = Command::new(program)
            .args([
                "-displayfd",
                "1",
                "-nolisten",
                "tcp",
                "-screen",
                "0",
                "1024x768x24",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("Xvfb prints its display number");
        let n = line.trim();
        assert!(
            !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()),
            "{line:?}"
        );
        Xvfb {
            child,
            display: format!(":{n}"),
        }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_window_comes_up_under_xvfb_and_leaves_cleanly_on_sigterm() {
    let dir = scratch("op-window");
    let sim = Sim::start();
    let x = Xvfb::start();
    let mut bb = Bb::start_with(
        &dir,
        "win",
        &settings(&sim, "1912", ""),
        &[],
        |c| {
            c.env("DISPLAY", &x.display)
                .env_remove("WAYLAND_DISPLAY")
                .env("LANG", "C.UTF-8");
        },
        true,
    );
    logged_in_and_registered(&sim, &bb, "op1912", "1912");
    let lines = bb.drain();
    assert!(
        !lines.iter().any(|l| l.contains("running headless")),
        "the window did not open: {lines:#?}"
    );
    assert!(bb.signal_and_wait("TERM"), "exit 0 after SIGTERM");
    logged_out_and_unregistered(&sim, &mut bb, "op1912", "1912");
}

#[test]
fn without_a_display_it_says_why_and_runs_headless() {
    let dir = scratch("op-nodisplay");
    let sim = Sim::start();
    let mut bb = Bb::start_with(
        &dir,
        "nodisp",
        &settings(&sim, "1303", ""),
        &[],
        |c| {
            c.env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
        },
        true,
    );
    let lines = bb.drain();
    let why = lines
        .iter()
        .find(|l| l.contains("running headless"))
        .unwrap_or_else(|| panic!("no reason given: {lines:#?}"));
    assert!(why.contains("cannot open the window"), "{why}");
    assert!(why.contains("--headless"), "{why}");
    logged_in_and_registered(&sim, &bb, "op1303", "1303");
    assert!(bb.signal_and_wait("TERM"), "exit 0 after SIGTERM");
    logged_out_and_unregistered(&sim, &mut bb, "op1303", "1303");
}

#[test]
fn a_sigterm_right_after_the_registration_still_unregisters() {
    // The signal handlers are installed before the core starts: a signal
    // that arrives the moment the phone says it registered (or earlier)
    // is a clean shutdown, never the default "end the process now".
    let dir = scratch("op-early-term");
    let sim = Sim::start();
    for round in 0..5 {
        let mut bb = Bb::start(&dir, &format!("early{round}"), &settings(&sim, "1330", ""));
        assert!(bb.signal_and_wait("TERM"), "round {round}: exit 0");
        assert!(
            !sim.registered().contains(&"1330".to_string()),
            "round {round}: still registered: {:?}",
            sim.get("/api/registrations")
        );
        let lines = bb.drain();
        assert!(
            lines.iter().any(|l| l.contains("unregistered")),
            "round {round}: {lines:#?}"
        );
    }
}
