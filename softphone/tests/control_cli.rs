//! The command line (CLI-1) and URI arguments (URI-1…URI-3) of `bbclient`:
//! every malformed argument or URI gets one line and exit 2, every verb
//! without a softphone gets one line and exit 3, and `call` starts a
//! softphone when none runs, then dials.

mod common;

use common::{
    Phone, PidGuard, bbclient_in, free_udp_port, outcome, scratch, start_sipp, wait_until,
};

const VERBS_THAT_NEED_A_PHONE: &[&[&str]] = &[
    &["hold"],
    &["unhold"],
    &["transfer", "1303"],
    &["transfer_complete"],
    &["blindtransfer", "1303"],
    &["hangup"],
    &["answer"],
    &["dtmf", "12#"],
    &["details"],
    &["status"],
    &["status", "--json"],
    &["login"],
    &["logout"],
    &["bbclient:hold"],
    &["bbclient:unhold"],
    &["bbclient:transfer:1303"],
    &["bbclient:transfer_complete"],
    &["bbclient:blindtransfer:1303"],
    &["bbclient:hangup"],
];

#[test]
fn every_verb_without_a_softphone_says_so_and_exits_3() {
    let dir = scratch("cli-no-phone");
    for args in VERBS_THAT_NEED_A_PHONE {
        let out = outcome(bbclient_in(&dir.join("run")).args(*args));
        out.one_line_error(
            3,
            &["no softphone is running", "default.sock", "bbclient run"],
        );
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
    }
    let out = outcome(bbclient_in(&dir.join("run")).args(["--instance", "ext7", "hold"]));
    out.one_line_error(3, &["ext7.sock", "bbclient --instance ext7 run"]);
}

#[test]
fn a_call_without_a_softphone_or_settings_says_where_it_looked() {
    let dir = scratch("cli-no-settings");
    let run = dir.join("run");
    for args in [
        &["call", "1330"][..],
        &["callto:1330"],
        &["bbclient:call:1330"],
        &["tel:1330"],
        &["sip:1330@example.com"],
    ] {
        let out = outcome(bbclient_in(&run).args(args));
        out.one_line_error(
            3,
            &[
                "no softphone is running and none could be started",
                "BBCLIENT_CONFIG is not set",
                "no-config/bbclient/bbclient.toml does not exist",
                "--config FILE",
            ],
        );
    }
    let out = outcome(
        bbclient_in(&run)
            .env("BBCLIENT_CONFIG", dir.join("gone.toml"))
            .args(["call", "1330"]),
    );
    out.one_line_error(3, &["gone.toml", "(from BBCLIENT_CONFIG) does not exist"]);
}

/// Malformed arguments and URIs: (arguments, words the one line must hold).
const MALFORMED: &[(&[&str], &[&str])] = &[
    (
        &["frobnicate"],
        &["unknown verb 'frobnicate'", "known verbs: call"],
    ),
    (&["hang-up"], &["did you mean 'hangup'?"]),
    (&["call"], &["call needs a NUMBER", "write: call NUMBER"]),
    (
        &["call", "1330", "hangup"],
        &["unexpected argument 'hangup'"],
    ),
    (&["call", "12ab"], &["number refused", "'a' at position 2"]),
    (&["call", "03-1234-5678x"], &["number refused", "'x'"]),
    (&["call", "1+2"], &["only allowed at the start"]),
    (&["call", "( - )"], &["has no digits"]),
    (
        &["hold", "1330"],
        &["hold got an unexpected argument '1330'"],
    ),
    (&["transfer"], &["transfer needs a NUMBER"]),
    (&["blindtransfer", "abc"], &["number refused"]),
    (&["dtmf", "12x"], &["dtmf:"]),
    (&["status", "--xml"], &["unknown option '--xml' for status"]),
    (&["hold", "--instance"], &["--instance needs a value"]),
    (
        &["bbclient:login"],
        &["login is available on the command line only"],
    ),
    (
        &["bbclient:logout"],
        &["logout is available on the command line only"],
    ),
    (
        &["bbclient:status"],
        &["status is available on the command line only"],
    ),
    (
        &["bbclient:answer"],
        &["answer is available on the command line only"],
    ),
    (
        &["bbclient:dtmf:1234"],
        &["dtmf is available on the command line only"],
    ),
    (
        &["bbclient:set:server=evil.example"],
        &["unsupported URI 'bbclient:set:server=evil.example'"],
    ),
    (&["bbclient:settings?password=x"], &["take no '?' query"]),
    (
        &["bbclient:call:"],
        &["has no number", "bbclient:call:NUMBER"],
    ),
    (&["bbclient:call"], &["has no number"]),
    (&["bbclient:hold:1330"], &["hold takes no argument"]),
    (&["bbclient:call:12ab"], &["number refused"]),
    (
        &["bbclient:call:1330", "extra"],
        &["a URI must be the only argument"],
    ),
    (&["callto:"], &["has no number", "callto:NUMBER"]),
    (&["callto:%FF"], &["not UTF-8"]),
    (
        &["callto:12%0A34"],
        &["control or invisible character U+000A"],
    ),
    (&["http://crm.example/"], &["unsupported URI"]),
    (&["sip:alice@example.com"], &["is not a phone number"]),
];

#[test]
fn malformed_arguments_and_uris_get_one_line_and_exit_2() {
    let dir = scratch("cli-malformed");
    for (args, needles) in MALFORMED {
        if args.is_empty() {
            continue;
        }
        let out = outcome(bbclient_in(&dir.join("run")).args(*args));
        let line = out.one_line_error(2, needles);
        assert!(line.len() < 400, "{args:?}: the line is too long: {line}");
    }
    // A bad instance name, before or after the verb.
    let out = outcome(bbclient_in(&dir.join("run")).args(["--instance", "../x", "hold"]));
    out.one_line_error(2, &["instance name '../x' is not allowed"]);
    let out = outcome(bbclient_in(&dir.join("run")).args(["hold", "--instance=a/b"]));
    out.one_line_error(2, &["instance name 'a/b' is not allowed"]);
    // A malformed URI never starts a softphone, even with settings at hand.
    let cfg = dir.join("s.toml");
    common::write_settings(
        &cfg,
        "[account]\nserver = \"127.0.0.1:9\"\nuser = \"1910\"\npassword = \"x\"\n",
    );
    let out = outcome(
        bbclient_in(&dir.join("run"))
            .env("BBCLIENT_CONFIG", &cfg)
            .arg("bbclient:call:12ab"),
    );
    out.one_line_error(2, &["number refused"]);
    assert!(!dir.join("run/bbclient/default.pid").exists());
}

#[test]
fn verbs_reach_the_running_softphone_and_its_refusals_exit_1() {
    let dir = scratch("cli-refusals");
    let mut phone = Phone::start(
        &dir,
        "refusals",
        &format!(
            "[account]\nserver = \"127.0.0.1:{}\"\nuser = \"1910\"\npassword = \"pw\"\n[sip]\nt1_ms = 50\n",
            free_udp_port()
        ),
    );
    phone.proc.expect_line("control socket", 10);
    let run = dir.join("run");
    let verb = |args: &[&str]| {
        outcome(
            bbclient_in(&run)
                .args(["--instance", "refusals"])
                .args(args),
        )
    };
    for (args, reason) in [
        (&["hold"][..], "no active call to hold"),
        (&["bbclient:hold"], "no active call to hold"),
        (&["unhold"], "no call is on hold"),
        (&["bbclient:unhold"], "no call is on hold"),
        (&["hangup"], "no call to hang up"),
        (&["bbclient:hangup"], "no call to hang up"),
        (&["transfer_complete"], "no transfer in progress"),
        (&["bbclient:transfer_complete"], "no transfer in progress"),
        (&["blindtransfer", "1303"], "no active call"),
        (&["bbclient:blindtransfer:1303"], "no active call"),
        (&["answer"], "no call is ringing"),
        (&["login"], "not available"),
        (&["logout"], "not available"),
    ] {
        verb(args).one_line_error(1, &[reason]);
    }
    // The number goes through the one normalisation, whichever the door.
    for (args, dialled) in [
        (&["call", "03-1234-5678"][..], "dialing 0312345678"),
        (&["callto:%2B81%203%201234%205678"], "dialing +81312345678"),
        (
            &["bbclient:call:０３（１２３４）５６７８"],
            "dialing 0312345678",
        ),
        (
            &["tel:+81-3-1234-5678;phone-context=example.com"],
            "dialing +81312345678",
        ),
        (&["sip:1330@bluebean.example;user=phone"], "dialing 1330"),
    ] {
        let out = verb(args);
        assert_eq!(out.code, Some(0), "{args:?}: {out:?}");
        phone.proc.expect_line(dialled, 10);
        let out = verb(&["hangup"]);
        assert_eq!(out.code, Some(0), "{out:?}");
        phone.proc.expect_line("hung up", 10);
    }
    let out = verb(&["status"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.starts_with("extension 1910 at 127.0.0.1:"),
        "{out:?}"
    );
    let out = verb(&["status", "--json"]);
    let v: serde_json::Value =
        serde_json::from_str(out.stdout.trim()).expect("status --json is JSON");
    assert_eq!(v["extension"], "1910", "{v}");
    phone.proc.stop();
}

#[test]
fn call_starts_a_softphone_with_its_settings_then_dials() {
    let dir = scratch("cli-autostart");
    let port = free_udp_port();
    let mut sipp = start_sipp("registrar_uas_busy.xml", port, 2, &dir);
    let cfg = dir.join("bbclient.toml");
    common::write_settings(
        &cfg,
        &format!(
            "[account]\nserver = \"127.0.0.1:{port}\"\nuser = \"1910\"\npassword = \"pw1910\"\nlocal_addr = \"127.0.0.1:0\"\n\n[sip]\nt1_ms = 50\n"
        ),
    );
    let run = dir.join("run");
    let guard = PidGuard(run.join("bbclient/auto.pid"));
    // The OS hands over a link; the settings come from BBCLIENT_CONFIG.
    let out = outcome(bbclient_in(&run).env("BBCLIENT_CONFIG", &cfg).args([
        "--instance",
        "auto",
        "bbclient:call:1330",
    ]));
    assert_eq!(out.code, Some(0), "{out:?}\nsipp: {}", sipp.seen.join("\n"));
    assert!(
        out.stderr
            .contains("no softphone was running; started one (instance 'auto'")
            && out.stderr.contains("auto.log"),
        "{out:?}"
    );
    assert!(guard.pid().is_some(), "the pid file is written");
    let log = run.join("bbclient/auto.log");
    wait_until("the started softphone to log the busy callee", 10, || {
        std::fs::read_to_string(&log)
            .map(|l| l.contains("dialing 1330") && l.contains("hung up: busy"))
            .unwrap_or(false)
    });
    let text = std::fs::read_to_string(&log).expect("log");
    let registered = text.find("registered as 1910").expect("registered first");
    let dialing = text.find("dialing 1330").expect("then dialled");
    assert!(registered < dialing, "{text}");
    // It keeps running and serves the next verbs.
    let out = outcome(bbclient_in(&run).args(["--instance", "auto", "status"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("registered"), "{out:?}");
    assert_eq!(
        sipp.wait_exit(15),
        Some(true),
        "sipp: {}",
        sipp.seen.join("\n")
    );
    drop(guard);
}

#[test]
fn a_softphone_that_cannot_start_or_register_is_reported() {
    let dir = scratch("cli-autostart-fails");
    let run = dir.join("run");
    // Bad settings: the started softphone exits at once, with its reason.
    let bad = dir.join("bad.toml");
    common::write_settings(
        &bad,
        "[account]\nserver = \"127.0.0.1:9\"\nuser = \"1910\"\npassword = \"x\"\npasword = \"typo\"\n",
    );
    let guard = PidGuard(run.join("bbclient/bad.pid"));
    let out = outcome(
        bbclient_in(&run)
            .args(["--instance", "bad", "--config"])
            .arg(&bad)
            .args(["call", "1330"]),
    );
    let line = out.one_line_error(3, &["the softphone could not start", "bad.toml", "bad.log"]);
    assert!(
        line.contains("pasword"),
        "the settings error is passed on: {line}"
    );
    drop(guard);
    // Nobody answers REGISTER: the wait ends with the registration's reason.
    let dead = dir.join("dead.toml");
    common::write_settings(
        &dead,
        &format!(
            "[account]\nserver = \"127.0.0.1:{}\"\nuser = \"1910\"\npassword = \"pw\"\n[sip]\nt1_ms = 50\n",
            free_udp_port()
        ),
    );
    let guard = PidGuard(run.join("bbclient/dead.pid"));
    let out = outcome(
        bbclient_in(&run)
            .args(["call", "1330", "--instance", "dead", "--config"])
            .arg(&dead),
    );
    out.one_line_error(
        3,
        &[
            "could not register",
            "it keeps retrying",
            "dead.log",
            "the call was not placed",
        ],
    );
    let log = std::fs::read_to_string(run.join("bbclient/dead.log")).expect("log");
    assert!(!log.contains("dialing"), "no call was placed: {log}");
    drop(guard);
}
