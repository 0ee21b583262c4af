//! The control socket is private to its user: a 0700 directory, a 0600
//! socket, and a peer-uid check behind both. Instances run side by side.

mod common;

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;
use std::process::Command;

use common::{Phone, bbclient_in, free_udp_port, outcome, scratch};

fn settings() -> String {
    format!(
        "[account]\nserver = \"127.0.0.1:{}\"\nuser = \"1910\"\npassword = \"pw\"\n[sip]\nt1_ms = 50\n",
        free_udp_port()
    )
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("exists").mode() & 0o777
}

fn my_uid() -> u32 {
    std::fs::metadata("/proc/self").expect("procfs").uid()
}

#[test]
fn the_directory_is_0700_and_the_socket_0600_owned_by_the_user() {
    let dir = scratch("socket-modes");
    let mut phone = Phone::start(&dir, "modes", &settings());
    phone.proc.expect_line("control socket", 10);
    let sock_dir = dir.join("run/bbclient");
    let sock = sock_dir.join("modes.sock");
    assert_eq!(mode(&sock_dir), 0o700);
    assert_eq!(mode(&sock), 0o600);
    assert_eq!(std::fs::metadata(&sock).expect("socket").uid(), my_uid());
    phone.proc.stop();
}

#[test]
fn a_directory_loosened_or_planted_is_tightened_or_refused() {
    let dir = scratch("socket-dir");
    let sock_dir = dir.join("run/bbclient");
    std::fs::create_dir_all(&sock_dir).expect("mkdir");
    std::fs::set_permissions(&sock_dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let mut phone = Phone::start(&dir, "loose", &settings());
    phone.proc.expect_line("control socket", 10);
    assert_eq!(
        mode(&sock_dir),
        0o700,
        "the softphone makes its directory private again"
    );
    phone.proc.stop();

    // A symbolic link in place of the directory (as another user could
    // plant in /tmp) is refused, and the softphone does not start.
    let dir = scratch("socket-symlink");
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    std::os::unix::fs::symlink(&elsewhere, dir.join("run/bbclient")).expect("symlink");
    let mut phone = Phone::start(&dir, "planted", &settings());
    assert_eq!(
        phone.proc.wait_exit(10),
        Some(false),
        "{:?}",
        phone.proc.seen
    );
    let all = phone.proc.seen.join("\n");
    assert!(
        all.contains("is a symbolic link; refusing to use it"),
        "{all}"
    );
}

/// Runs `bbclient ARGS` as the user `nobody` against the sockets in `run`.
fn as_nobody(run: &Path, args: &[&str]) -> common::Outcome {
    outcome(
        Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_bbclient"))
            .env("XDG_RUNTIME_DIR", run)
            .env_remove("BBCLIENT_CONFIG")
            .env("HOME", "/nonexistent")
            .args(args),
    )
}

#[test]
fn another_user_cannot_drive_the_phone() {
    if my_uid() != 0 {
        let msg = "cannot check that another user is refused: this test switches to the user \
                   'nobody' with setpriv, which needs root; assertions NOT made: (1) connecting \
                   through the 0700 directory fails with EACCES, (2) with the permissions loosened, \
                   the peer-uid check refuses the connection";
        if std::env::var_os("BBCLIENT_SKIP_OTHER_USER_TEST").is_some() {
            // Outside CI: SKIPPED and counted; under CI=true: a failure.
            bb_testenv::skip(&format!(
                "skipped knowingly (BBCLIENT_SKIP_OTHER_USER_TEST is set): {msg}"
            ));
            return;
        }
        panic!("{msg} (run as root, or set BBCLIENT_SKIP_OTHER_USER_TEST=1 to skip knowingly)");
    }
    common::require("setpriv", "util-linux");
    let dir = scratch("socket-other-user");
    // nobody must be able to reach the directory that holds run/.
    for d in [dir.as_path(), &dir.join("run")] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let mut phone = Phone::start(&dir, "mine", &settings());
    phone.proc.expect_line("control socket", 10);
    let run = dir.join("run");

    // (1) The 0700 directory keeps nobody out: the kernel says EACCES.
    for args in [
        &["--instance", "mine", "status"][..],
        &["--instance", "mine", "call", "1330"],
    ] {
        let out = as_nobody(&run, args);
        out.one_line_error(
            3,
            &[
                "permission denied on",
                "mine.sock",
                "belongs to another user",
            ],
        );
    }

    // (2) Loosen both permissions by hand: the peer-uid check still refuses.
    let sock_dir = run.join("bbclient");
    std::fs::set_permissions(&sock_dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(
        sock_dir.join("mine.sock"),
        std::fs::Permissions::from_mode(0o666),
    )
    .expect("chmod");
    for args in [
        &["--instance", "mine", "status"][..],
        &["--instance", "mine", "call", "1330"],
        &["--instance", "mine", "bbclient:call:1330"],
        &["--instance", "mine", "hangup"],
    ] {
        let out = as_nobody(&run, args);
        out.one_line_error(
            1,
            &[
                "refused: this softphone belongs to uid 0",
                "only its owner may control it",
                "uid 65534",
            ],
        );
    }
    phone
        .proc
        .expect_line("refused a control connection from another user", 5);
    // The owner still can.
    let out = outcome(bbclient_in(&run).args(["--instance", "mine", "status"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    phone.proc.seen.extend(phone.proc.lines.try_iter());
    assert!(
        !phone.proc.seen.iter().any(|l| l.contains("dialing")),
        "nobody's call was not placed: {:?}",
        phone.proc.seen
    );
    phone.proc.stop();
}

#[test]
fn instances_run_side_by_side_and_a_duplicate_is_refused() {
    let dir = scratch("socket-instances");
    let mut a = Phone::start(&dir, "left", &settings());
    a.proc.expect_line("control socket", 10);
    let mut b = Phone::start(
        &dir,
        "right",
        &settings().replace("user = \"1910\"", "user = \"1911\""),
    );
    b.proc.expect_line("control socket", 10);
    let run = dir.join("run");
    let status = |instance: &str| {
        let out = outcome(bbclient_in(&run).args(["--instance", instance, "status", "--json"]));
        assert_eq!(out.code, Some(0), "{out:?}");
        let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("JSON");
        v["extension"].as_str().unwrap_or_default().to_string()
    };
    assert_eq!(status("left"), "1910");
    assert_eq!(status("right"), "1911");
    // `call` goes to the named instance only.
    let out = outcome(bbclient_in(&run).args(["call", "1330", "--instance", "right"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    b.proc.expect_line("dialing 1330", 10);

    let mut dup = Phone::start(&dir, "left", &settings());
    assert_eq!(dup.proc.wait_exit(10), Some(false));
    let all = dup.proc.seen.join("\n");
    assert!(
        all.contains("another softphone already runs with this instance")
            && all.contains("--instance NAME"),
        "{all}"
    );
    // The first one is unharmed.
    assert_eq!(status("left"), "1910");
    a.proc.stop();
    b.proc.stop();
}

#[test]
fn a_socket_left_by_a_killed_softphone_is_taken_over() {
    let dir = scratch("socket-stale");
    let mut first = Phone::start(&dir, "stale", &settings());
    first.proc.expect_line("control socket", 10);
    let _ = first.proc.child.kill();
    let _ = first.proc.child.wait();
    let sock = dir.join("run/bbclient/stale.sock");
    assert!(sock.exists(), "SIGKILL leaves the socket behind");
    let out = outcome(bbclient_in(&dir.join("run")).args(["--instance", "stale", "hold"]));
    out.one_line_error(3, &["no softphone is running"]);
    let mut second = Phone::start(&dir, "stale", &settings());
    second.proc.expect_line("control socket", 10);
    let out = outcome(bbclient_in(&dir.join("run")).args(["--instance", "stale", "status"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    second.proc.stop();
}
