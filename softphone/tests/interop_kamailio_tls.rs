//! SIP over TLS with a real server: kamailio with its TLS module (Debian's
//! `kamailio-tls-modules`), as a TLS-only registrar and Record-Routing
//! proxy (`fixtures/kamailio/kamailio.cfg` with `WITH_TLS`,
//! `fixtures/kamailio/tls.cfg`). Each test makes a throwaway CA and a
//! server certificate for 127.0.0.1 in its scratch directory.
//!
//! The phones have no listener. kamailio is configured never to open a
//! connection (`set_forward_no_connect`), so a call reaches a phone only
//! over the connection the phone opened to register; the tests also check
//! that kamailio sent the INVITE to the address that connection came from.
//!
//! - registration: the phone says it is registered, and kamailio's
//!   location table holds its Contact, on kamailio's TLS socket;
//! - calls both ways between two phones, with hold and resume through the
//!   route set, each ended by the other side;
//! - a CA that did not sign kamailio's certificate: refused, with the
//!   reason (unknown CA) in the phone's log and status, and kamailio never
//!   sees a REGISTER.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::{Phone, Running, require, root, scratch, wait_until};

/// The throwaway certificates of one test, as files in its scratch dir.
struct Pki {
    /// The CA that signed kamailio's certificate.
    ca: PathBuf,
    /// A CA that signed nothing kamailio has.
    other_ca: PathBuf,
}

fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .unwrap_or_else(|e| panic!("cannot restrict {}: {e}", path.display()));
    }
}

fn test_ca(name: &str) -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, name);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().expect("CA key");
    rcgen::CertifiedIssuer::self_signed(ca, key).expect("CA certificate")
}

/// Writes `ca.pem`, `other-ca.pem`, and kamailio's `kamailio-cert.pem` and
/// `kamailio-key.pem` (the names `tls.cfg` uses) into `dir`.
fn make_pki(dir: &Path) -> Pki {
    use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair};
    let ca = test_ca("bbclient test CA for kamailio");
    let other = test_ca("some other CA");
    let mut server = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("server certificate names");
    server
        .distinguished_name
        .push(DnType::CommonName, "kamailio under test");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().expect("server key");
    let cert = server.signed_by(&key, &ca).expect("server certificate");
    let pki = Pki {
        ca: dir.join("ca.pem"),
        other_ca: dir.join("other-ca.pem"),
    };
    std::fs::write(&pki.ca, ca.pem()).expect("CA file written");
    std::fs::write(&pki.other_ca, other.pem()).expect("other CA file written");
    std::fs::write(dir.join("kamailio-cert.pem"), cert.pem()).expect("certificate written");
    write_private(&dir.join("kamailio-key.pem"), &key.serialize_pem());
    pki
}

/// A free TCP port on loopback (closed again before returning).
fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free TCP port")
        .port()
}

/// kamailio, stopped with SIGTERM when dropped, also when a test fails:
/// `Running` kills only the main process, and kamailio's children would
/// live on.
struct Kamailio(Running);

impl Drop for Kamailio {
    fn drop(&mut self) {
        if let Ok(None) = self.0.child.try_wait() {
            self.0.stop();
        }
    }
}

impl std::ops::Deref for Kamailio {
    type Target = Running;
    fn deref(&self) -> &Running {
        &self.0
    }
}

impl std::ops::DerefMut for Kamailio {
    fn deref_mut(&mut self) -> &mut Running {
        &mut self.0
    }
}

/// kamailio listening on TLS only, on `port`, with the certificate that
/// [`make_pki`] wrote into `dir`.
fn kamailio(port: u16, dir: &Path) -> Kamailio {
    let bin = require("kamailio", "kamailio");
    let module = Path::new("/usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so");
    assert!(
        module.is_file(),
        "{}",
        bb_testenv::missing_program("kamailio's TLS module (tls.so)", "kamailio-tls-modules")
    );
    let template = root().join("fixtures/kamailio/tls.cfg");
    let tls_cfg = dir.join("tls.cfg");
    let text = std::fs::read_to_string(&template)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", template.display()));
    std::fs::write(
        &tls_cfg,
        text.replace("SCRATCH", &dir.display().to_string()),
    )
    .expect("tls.cfg written");
    let mut k = Kamailio(Running::spawn(
        "kamailio",
        Command::new(bin)
            .current_dir(dir)
            .arg("-f")
            .arg(root().join("fixtures/kamailio/kamailio.cfg"))
            .args(["-A", "WITH_TLS", "-A"])
            .arg(format!("TLS_CFG=\"{}\"", tls_cfg.display()))
            .args(["-DD", "-E", "-l", &format!("tls:127.0.0.1:{port}"), "-Y"])
            .arg(dir),
    ));
    k.expect_line(&format!("tls: 127.0.0.1 [127.0.0.1]:{port}"), 10);
    // kamailio names its sockets before its TCP process listens on them.
    wait_until("kamailio to accept TCP connections", 10, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    k
}

/// A phone on TLS to kamailio, trusting `ca`.
fn phone(dir: &Path, name: &str, ext: &str, port: u16, ca: &Path) -> Phone {
    Phone::start(
        dir,
        name,
        &format!(
            "[account]\nserver = \"127.0.0.1:{port}\"\nuser = \"{ext}\"\npassword = \"pw{ext}\"\n\
             local_addr = \"127.0.0.1:0\"\ntransport = \"tls\"\n\n\
             [tls]\nca_file = \"{}\"\n\n[sip]\nt1_ms = 50\n",
            ca.display()
        ),
    )
}

/// The first line of `r` (already seen or still to come) holding every
/// needle.
fn line_with(r: &mut Running, needles: &[&str], secs: u64) -> String {
    let all = |l: &String| needles.iter().all(|n| l.contains(n));
    if let Some(l) = r.seen.iter().find(|l| all(l)) {
        return l.clone();
    }
    loop {
        let l = r.expect_line(needles[0], secs);
        if all(&l) {
            return l;
        }
    }
}

/// The word after `key ` in a kamailio `bbtest:` line.
fn after<'a>(line: &'a str, key: &str) -> &'a str {
    line.split(&format!(" {key} "))
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no '{key}' in: {line}"))
}

/// The phone's registration as `status --json` reports it.
fn registration(p: &Phone) -> serde_json::Value {
    let out = p.verb(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("status --json is not JSON ({e}): {out}"));
    v["registration"].clone()
}

/// Waits until kamailio's location table holds `ext` over TLS; returns
/// the phone's address as kamailio saw it (`127.0.0.1:port`), which is
/// where its connection comes from.
fn registered_in_kamailio(kam: &mut Running, ext: &str, port: u16) -> String {
    let line = line_with(kam, &[&format!("bbtest: location {ext} contact")], 10);
    let contact = after(&line, "contact");
    let socket = after(&line, "socket");
    assert!(
        contact.to_ascii_lowercase().contains("transport=tls"),
        "kamailio stored a Contact that is not TLS: {line}"
    );
    assert_eq!(
        socket,
        format!("tls:127.0.0.1:{port}"),
        "kamailio stored the binding on another socket: {line}"
    );
    assert_eq!(after(&line, "count"), "1", "{line}");
    let addr = contact
        .split_once('@')
        .and_then(|(_, rest)| rest.split(';').next())
        .unwrap_or_else(|| panic!("no address in the Contact: {line}"))
        .to_string();
    // The Contact names the connection the REGISTER came over.
    line_with(
        kam,
        &["bbtest: REGISTER", &format!("from {addr} over tls")],
        1,
    );
    addr
}

#[test]
fn a_phone_registers_with_kamailio_over_tls() {
    let dir = scratch("kamailio-tls-register");
    let pki = make_pki(&dir);
    let port = free_tcp_port();
    let mut kam = kamailio(port, &dir);
    let started = Instant::now();
    let mut p = phone(&dir, "kamtls-reg", "1910", port, &pki.ca);
    p.proc.expect_line("registered as 1910", 20);
    println!(
        "registered with kamailio over TLS {} ms after the start of bbclient",
        started.elapsed().as_millis()
    );
    if let Some(l) = p.proc.seen.iter().find(|l| l.contains("TLS connection to")) {
        println!("{l}");
    }
    let reg = registration(&p);
    assert_eq!(reg["state"], "registered", "{reg}");
    let addr = registered_in_kamailio(&mut kam, "1910", port);
    println!("kamailio holds 1910 at {addr} over TLS");
    p.proc.stop();
    kam.stop();
}

/// `caller` calls `callee` through kamailio; the INVITE must leave
/// kamailio towards the callee's own connection.
fn call(kam: &mut Running, caller: &mut Phone, callee: &mut Phone, to: &str, to_addr: &str) {
    let from = caller.instance.clone();
    let started = Instant::now();
    caller.verb(&["call", to]);
    callee.proc.expect_line("ringing: call from", 10);
    println!(
        "{from} -> {to}: ringing after {} ms",
        started.elapsed().as_millis()
    );
    let sent = line_with(
        kam,
        &[&format!("bbtest: sending INVITE to {to_addr} over")],
        5,
    );
    assert!(sent.to_ascii_lowercase().contains("over tls"), "{sent}");
    callee.verb(&["answer"]);
    caller.proc.expect_line("answered", 10);
    callee.proc.expect_line("answered", 10);
}

#[test]
fn two_phones_call_each_other_through_kamailio_over_tls() {
    let dir = scratch("kamailio-tls-calls");
    let pki = make_pki(&dir);
    let port = free_tcp_port();
    let mut kam = kamailio(port, &dir);
    let mut a = phone(&dir, "kamtls-1910", "1910", port, &pki.ca);
    let mut b = phone(&dir, "kamtls-1330", "1330", port, &pki.ca);
    a.proc.expect_line("registered as 1910", 20);
    b.proc.expect_line("registered as 1330", 20);
    let a_addr = registered_in_kamailio(&mut kam, "1910", port);
    let b_addr = registered_in_kamailio(&mut kam, "1330", port);

    // 1910 calls 1330, holds and resumes (re-INVITEs along the route
    // set), and 1330 hangs up.
    let started = Instant::now();
    call(&mut kam, &mut a, &mut b, "1330", &b_addr);
    a.verb(&["hold"]);
    a.proc.expect_line("on hold", 10);
    a.verb(&["unhold"]);
    a.proc.expect_line("resumed", 10);
    b.verb(&["hangup"]);
    b.proc.expect_line("hung up: local_hangup", 10);
    a.proc.expect_line("hung up: remote_hangup", 10);
    println!(
        "1910 -> 1330 with hold and resume: {} ms",
        started.elapsed().as_millis()
    );

    // 1330 calls 1910, and 1910 hangs up.
    let started = Instant::now();
    call(&mut kam, &mut b, &mut a, "1910", &a_addr);
    a.verb(&["hangup"]);
    a.proc.expect_line("hung up: local_hangup", 10);
    b.proc.expect_line("hung up: remote_hangup", 10);
    println!("1330 -> 1910: {} ms", started.elapsed().as_millis());

    // Every message kamailio sent went over TLS, on the phones' connections.
    while let Ok(l) = kam.lines.try_recv() {
        kam.seen.push(l);
    }
    let sent: Vec<&String> = kam
        .seen
        .iter()
        .filter(|l| l.contains("bbtest: sending"))
        .collect();
    assert!(
        sent.len() >= 10,
        "kamailio logged too few messages sent:\n{}",
        kam.seen.join("\n")
    );
    println!("kamailio sent {} messages, all over TLS", sent.len());
    for l in &sent {
        assert!(
            l.to_ascii_lowercase().contains("over tls")
                && (l.contains(&a_addr) || l.contains(&b_addr)),
            "kamailio sent a message elsewhere: {l}"
        );
    }
    for p in [&a, &b] {
        assert!(
            !p.proc
                .seen
                .iter()
                .any(|l| l.contains("registration failed")),
            "{:#?}",
            p.proc.seen
        );
    }
    a.proc.stop();
    b.proc.stop();
    kam.stop();
}

#[test]
fn a_ca_that_did_not_sign_kamailios_certificate_is_refused_and_named() {
    let dir = scratch("kamailio-tls-unknown-ca");
    let pki = make_pki(&dir);
    let port = free_tcp_port();
    let mut kam = kamailio(port, &dir);
    let mut p = phone(&dir, "kamtls-bad-ca", "1910", port, &pki.other_ca);
    let line = p.proc.expect_line("registration failed", 20);
    println!("{line}");
    assert!(
        line.contains("unknown CA") && line.contains("ca_file"),
        "{line}"
    );
    let reg = registration(&p);
    assert_eq!(reg["state"], "failed", "{reg}");
    let reason = reg["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("unknown CA"), "{reg}");
    assert!(
        !p.proc.try_expect_line("registered as", 1),
        "registered after all: {:#?}",
        p.proc.seen
    );
    while let Ok(l) = kam.lines.try_recv() {
        kam.seen.push(l);
    }
    assert!(
        !kam.seen.iter().any(|l| l.contains("bbtest: REGISTER")),
        "kamailio received a REGISTER over a connection the phone should have refused:\n{}",
        kam.seen.join("\n")
    );
    if let Some(l) = kam.seen.iter().find(|l| l.contains("alert")) {
        println!("kamailio: {l}");
    }
    p.proc.stop();
    kam.stop();
}
