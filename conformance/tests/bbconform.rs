//! `bbconform` against mock CRMs (wiremock) that behave well and badly, run
//! as the real binary: what it sends, what it reports, its exit status.
//!
//! Each test starts its own mock, writes a settings file into
//! `CARGO_TARGET_TMPDIR` when it needs one, runs `bbconform --json` and
//! reads the verdicts back. The only slow mock waits 1.2 s, once.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PASSWORD: &str = "s3cret-Pw";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/bbconform")
        .join(name)
}

fn read_fixture(name: &str) -> Vec<u8> {
    let p = fixture(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

/// A fresh file path under the test target's temporary directory.
fn temp_file(stem: &str, ext: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bbconform-{stem}-{}-{n}.{ext}", std::process::id()))
}

/// Writes a softphone settings file.
fn settings_file(body: &str) -> PathBuf {
    let p = temp_file("settings", "toml");
    let text = format!(
        "[account]\nserver = \"127.0.0.1:5060\"\nuser = \"1910\"\npassword = \"sip-pw\"\n\n\
         [operator]\nlogin_id = \"op1910\"\npassword = \"{PASSWORD}\"\n\n{body}"
    );
    if let Err(e) = std::fs::write(&p, text) {
        panic!("writing {}: {e}", p.display());
    }
    p
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
}

async fn bbconform(args: &[&str]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_bbconform"))
        .args(args)
        .env_remove("BBCONFORM_OP_PW")
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run bbconform: {e}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The verdict and detail of check `name` in group `group`; panics when absent.
fn check(report: &Value, group: &str, name: &str) -> (String, String) {
    let checks = checks_of(report, group);
    let c = checks
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {group}/{name} in {report:#}"));
    (
        c["verdict"].as_str().unwrap_or("").to_owned(),
        c["detail"].as_str().unwrap_or("").to_owned(),
    )
}

fn checks_of(report: &Value, group: &str) -> Vec<Value> {
    report["groups"]
        .as_array()
        .and_then(|gs| gs.iter().find(|g| g["name"] == group))
        .and_then(|g| g["checks"].as_array())
        .cloned()
        .unwrap_or_else(|| panic!("no group {group} in {report:#}"))
}

fn link_check(c: &Value) -> bool {
    c["name"].as_str().is_some_and(|n| n.starts_with("link L"))
}

fn verdicts(report: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for g in report["groups"].as_array().into_iter().flatten() {
        for c in g["checks"].as_array().into_iter().flatten() {
            out.push((
                g["name"].as_str().unwrap_or("").to_owned(),
                c["name"].as_str().unwrap_or("").to_owned(),
                c["verdict"].as_str().unwrap_or("").to_owned(),
            ));
        }
    }
    out
}

fn failed(report: &Value) -> Vec<String> {
    verdicts(report)
        .into_iter()
        .filter(|(_, _, v)| v == "FAIL")
        .map(|(g, c, _)| format!("{g}/{c}"))
        .collect()
}

/// A mock answering `route` with `template`.
async fn mock(route: &str, template: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path(route))
        .respond_with(template)
        .mount(&server)
        .await;
    server
}

fn html(body: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.as_bytes().to_vec(), "text/html; charset=utf-8")
}

#[tokio::test]
async fn a_well_behaved_crm_passes_and_gets_exactly_the_softphones_requests() {
    let server = MockServer::start().await;
    let ua = format!("bbclient/{}", env!("CARGO_PKG_VERSION"));
    Mock::given(method("POST"))
        .and(path("/softphone/popup/in"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(header("user-agent", ua.as_str()))
        .respond_with(html(
            "<html><body><h1>山田 太郎 様</h1><p>前回: 2024-05-01</p></body></html>",
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/softphone/detail"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(read_fixture("detail-good.html"), "text/html; charset=utf-8"),
        )
        .mount(&server)
        .await;
    let base = server.uri();
    let config = settings_file(&format!(
        "[web]\nskip_internal = true\n\n[web.popup]\nmethod = \"POST\"\nurl = \"{base}/softphone/popup/in?\"\n\
         params = \"\"\"\nnumber=%CallerNumber%\noutline=%OutLineNumber%\ncallid=%CallId%\nop=%OpId%\npw=%OpPW%\ncampaignid=1234\n\"\"\"\n\n\
         [web.detail]\nurl = \"{base}/softphone/detail?\"\nparams = \"number=%CallerNumber%\"\n"
    ));
    let config = config.to_string_lossy().into_owned();
    let junit = temp_file("junit", "xml");
    let junit_arg = junit.to_string_lossy().into_owned();

    let run = bbconform(&[
        "popup", "--config", &config, "--json", "--junit", &junit_arg,
    ])
    .await;
    let report = run.json();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(failed(&report), Vec::<String>::new());
    assert!(
        !run.stdout.contains(PASSWORD),
        "password printed: {}",
        run.stdout
    );
    // Every sent case got every check, and the display is the softphone's text.
    for case in [
        "ordinary",
        "international",
        "anonymous",
        "withheld",
        "long-call-id",
        "japanese",
    ] {
        for name in [
            "reachable",
            "redirects",
            "status",
            "time",
            "size",
            "charset",
            "display",
        ] {
            assert_eq!(check(&report, case, name).0, "PASS", "{case}/{name}");
        }
    }
    assert_eq!(
        check(&report, "ordinary", "display").1,
        "the popup shows: \"山田 太郎 様 / 前回: 2024-05-01\""
    );
    // The internal call is not sent, as the softphone skips it (WEB-6).
    assert!(
        check(&report, "internal", "internal")
            .1
            .contains("not sent")
    );
    let requests = server.received_requests().await.unwrap_or_default();
    assert_eq!(requests.len(), 6, "internal call must not be sent");
    let bodies: Vec<String> = requests
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert_eq!(
        bodies[0],
        format!(
            "number=09012345678&outline=0312345678&callid=bbconform-ordinary%40192.0.2.10&op=op1910&pw={PASSWORD}&campaignid=1234"
        )
    );
    // WEB-3 encoding: '+' as %2B, UTF-8 percent-encoded, the URL's empty '?' dropped for POST.
    assert!(
        bodies[1].starts_with("number=%2B819012345678&"),
        "{}",
        bodies[1]
    );
    assert!(
        bodies[5].starts_with("number=%E9%9D%9E%E9%80%9A%E7%9F%A5&"),
        "{}",
        bodies[5]
    );
    assert!(requests.iter().all(|r| r.url.query().is_none()));

    let xml = std::fs::read_to_string(&junit).unwrap_or_default();
    assert!(xml.contains("failures=\"0\""), "{xml}");
    assert!(xml.contains("<testcase classname=\"bbconform.popup.ordinary\" name=\"time\""));
    assert!(!xml.contains(PASSWORD));

    let table = bbconform(&["popup", "--config", &config, "--case", "ordinary"]).await;
    assert_eq!(table.code, 0);
    assert!(table.stdout.contains("  PASS  time "), "{}", table.stdout);
    assert!(table.stdout.contains("pw=***"), "{}", table.stdout);
    assert!(
        table
            .stdout
            .lines()
            .last()
            .unwrap_or("")
            .starts_with("Summary: PASS")
    );

    let detail = bbconform(&["detail", "--config", &config, "--json"]).await;
    let report = detail.json();
    assert_eq!(detail.code, 0, "{}", detail.stdout);
    let links = checks_of(&report, "ordinary");
    let passed_links = links
        .iter()
        .filter(|c| link_check(c) && c["verdict"] == "PASS")
        .count();
    assert_eq!(passed_links, 10, "{report:#}");
    assert!(links.iter().all(|c| c["verdict"] == "PASS"), "{report:#}");
    assert_eq!(
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path() == "/softphone/detail")
            .map(|r| r.url.query().unwrap_or("").to_owned())
            .collect::<Vec<_>>(),
        vec!["number=09012345678".to_owned()]
    );
}

#[tokio::test]
async fn a_slow_crm_fails_the_first_ring_check() {
    let server = mock("/popup", html("VIP").set_delay(Duration::from_millis(1200))).await;
    let url = format!("{}/popup", server.uri());
    let run = bbconform(&["popup", "--url", &url, "--case", "ordinary", "--json"]).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    let report = run.json();
    assert_eq!(failed(&report), vec!["ordinary/time".to_owned()]);
    let (_, detail) = check(&report, "ordinary", "time");
    assert!(
        detail.contains("too slow") && detail.contains("1000 ms"),
        "{detail}"
    );
    let table = bbconform(&["popup", "--url", &url, "--case", "ordinary"]).await;
    assert!(
        table.stdout.contains("Summary: FAIL: ") && table.stdout.contains("failed: ordinary/time"),
        "{}",
        table.stdout
    );
}

#[tokio::test]
async fn a_server_error_fails_the_status_check() {
    let server = mock(
        "/popup",
        ResponseTemplate::new(500).set_body_raw("Internal Server Error", "text/plain"),
    )
    .await;
    let url = format!("{}/popup", server.uri());
    let run = bbconform(&["popup", "--url", &url, "--case", "ordinary", "--json"]).await;
    assert_eq!(run.code, 1);
    let report = run.json();
    assert_eq!(failed(&report), vec!["ordinary/status".to_owned()]);
    assert!(
        check(&report, "ordinary", "status")
            .1
            .starts_with("HTTP 500 Internal Server Error")
    );
}

#[tokio::test]
async fn charsets_that_do_not_decode_are_named() {
    let server = MockServer::start().await;
    let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("山田 太郎 様");
    let mut broken = sjis.to_vec();
    broken.extend_from_slice(b" \x82\x20");
    for (route, body, content_type) in [
        ("/good", sjis.to_vec(), "text/plain; charset=Shift_JIS"),
        ("/lying", broken, "text/plain; charset=Shift_JIS"),
        ("/undeclared", sjis.to_vec(), "text/plain"),
    ] {
        Mock::given(path(route))
            .respond_with(ResponseTemplate::new(200).set_body_raw(body, content_type))
            .mount(&server)
            .await;
    }
    let run_case = |route: &'static str| {
        let url = format!("{}{route}", server.uri());
        async move { bbconform(&["popup", "--url", &url, "--case", "ordinary", "--json"]).await }
    };

    let good = run_case("/good").await;
    assert_eq!(good.code, 0, "{}", good.stdout);
    let r = good.json();
    assert_eq!(
        check(&r, "ordinary", "charset"),
        (
            "PASS".to_owned(),
            "Shift_JIS (declared in Content-Type)".to_owned()
        )
    );
    assert_eq!(
        check(&r, "ordinary", "display").1,
        "the popup shows: \"山田 太郎 様\""
    );

    let lying = run_case("/lying").await;
    assert_eq!(lying.code, 1);
    let r = lying.json();
    assert_eq!(failed(&r), vec!["ordinary/charset".to_owned()]);
    let detail = check(&r, "ordinary", "charset").1;
    assert!(
        detail.contains("declared in Content-Type")
            && detail.contains("is not valid Shift_JIS")
            && detail.contains("0x82 0x20"),
        "{detail}"
    );

    let undeclared = run_case("/undeclared").await;
    assert_eq!(undeclared.code, 1);
    let detail = check(&undeclared.json(), "ordinary", "charset").1;
    assert!(
        detail.contains("not declared") && detail.contains("charset=Shift_JIS"),
        "{detail}"
    );
}

#[tokio::test]
async fn redirects_are_counted_and_loops_refused() {
    let server = MockServer::start().await;
    let base = server.uri();
    for (route, to) in [
        ("/once", format!("{base}/ok?echo={PASSWORD}")),
        ("/loop/a", format!("{base}/loop/b")),
        ("/loop/b", format!("{base}/loop/a")),
    ] {
        Mock::given(path(route))
            .respond_with(ResponseTemplate::new(302).insert_header("location", to.as_str()))
            .mount(&server)
            .await;
    }
    Mock::given(path("/ok"))
        .respond_with(html("ok"))
        .mount(&server)
        .await;

    let url = format!("{base}/once");
    let once = tokio::process::Command::new(env!("CARGO_BIN_EXE_bbconform"))
        .args(["popup", "--url", &url, "--case", "ordinary", "--json"])
        .env("BBCONFORM_OP_PW", PASSWORD)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run bbconform: {e}"));
    let stdout = String::from_utf8_lossy(&once.stdout);
    assert_eq!(once.status.code(), Some(0), "{stdout}");
    assert!(!stdout.contains(PASSWORD), "password printed: {stdout}");
    let r: Value = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    let (v, d) = check(&r, "ordinary", "redirects");
    assert_eq!(v, "PASS");
    assert!(
        d.starts_with("1 redirect followed: 302 -> ") && d.contains("echo=***"),
        "{d}"
    );

    let url = format!("{base}/loop/a");
    let looped = bbconform(&["popup", "--url", &url, "--case", "ordinary", "--json"]).await;
    assert_eq!(looped.code, 1);
    let r = looped.json();
    assert_eq!(failed(&r), vec!["ordinary/redirects".to_owned()]);
    let d = check(&r, "ordinary", "redirects").1;
    assert!(
        d.starts_with("redirect loop: ") && d.contains("(again)") && d.contains("at most 5"),
        "{d}"
    );

    // A POST redirected with 302 loses its form body.
    let url = format!("{base}/once");
    let post = bbconform(&[
        "popup", "--url", &url, "--method", "POST", "--case", "ordinary", "--json",
    ])
    .await;
    assert_eq!(post.code, 1);
    let d = check(&post.json(), "ordinary", "redirects").1;
    assert!(d.contains("as a GET without the form body"), "{d}");
}

#[tokio::test]
async fn an_oversized_answer_fails_the_size_check() {
    let server = mock(
        "/big",
        ResponseTemplate::new(200).set_body_raw(vec![b'x'; 70 * 1024], "text/plain"),
    )
    .await;
    let url = format!("{}/big", server.uri());
    let run = bbconform(&["popup", "--url", &url, "--case", "ordinary", "--json"]).await;
    assert_eq!(run.code, 1);
    let r = run.json();
    assert_eq!(failed(&r), vec!["ordinary/size".to_owned()]);
    assert!(
        check(&r, "ordinary", "size")
            .1
            .starts_with("more than 65536 bytes")
    );
}

#[tokio::test]
async fn internal_calls_are_sent_only_without_skip_internal() {
    let server = mock("/popup", html("ok")).await;
    let url = format!("{}/popup", server.uri());
    let params = temp_file("params", "txt");
    if let Err(e) = std::fs::write(&params, "n=%CallerNumber%\nline=%OutLineNumber%\n") {
        panic!("{e}");
    }
    let params = params.to_string_lossy().into_owned();
    let run = bbconform(&[
        "popup", "--url", &url, "--params", &params, "--case", "internal", "--json",
    ])
    .await;
    assert_eq!(run.code, 0);
    assert_eq!(
        server.received_requests().await.unwrap_or_default().len(),
        0
    );
    let run = bbconform(&[
        "popup",
        "--url",
        &url,
        "--params",
        &params,
        "--case",
        "internal",
        "--skip-internal",
        "false",
        "--json",
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    let sent = server.received_requests().await.unwrap_or_default();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].url.query(), Some("n=1234&line="));
}

#[tokio::test]
async fn broken_links_in_the_detail_page_are_named() {
    let server = mock(
        "/detail",
        ResponseTemplate::new(200).set_body_raw(
            read_fixture("detail-broken.html"),
            "text/html; charset=utf-8",
        ),
    )
    .await;
    let url = format!("{}/detail", server.uri());
    let run = bbconform(&["detail", "--url", &url, "--json"]).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    let r = run.json();
    let links: Vec<(String, String)> = checks_of(&r, "ordinary")
        .iter()
        .filter(|c| link_check(c))
        .map(|c| {
            (
                c["verdict"].as_str().unwrap_or("").to_owned(),
                c["detail"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let expect = [
        (
            "PASS",
            "line 7, href: callto:03-1234-5678 -> the softphone will call 0312345678",
        ),
        (
            "FAIL",
            "line 8, href: unsupported URI 'bbclient:format:c' (known verbs:",
        ),
        (
            "FAIL",
            "line 9, href: URI 'callto:03-CALL-NOW': number refused: 'C' at position 3",
        ),
        (
            "FAIL",
            "line 10, href: unsupported URI 'bbclient:config:server=evil.example'",
        ),
        (
            "FAIL",
            "line 11, href: unsupported URI 'bbclient:login:op1': login is available on the command line only",
        ),
        (
            "FAIL",
            "line 12, href: URI 'bbclient:hangup?now=1': bbclient: URIs take no '?' query",
        ),
        (
            "WARN",
            "line 14, plain text: URI 'callto:0120-ABC-DEF': number refused",
        ),
    ];
    assert_eq!(links.len(), expect.len(), "{links:#?}");
    for ((v, d), (ev, ed)) in links.iter().zip(expect) {
        assert_eq!(v, ev, "{d}");
        assert!(d.starts_with(ed), "{d}\n  should start with\n{ed}");
    }
    assert!(links[3].1.contains("never settings"), "{}", links[3].1);

    // `links` alone, on the fixture files.
    let broken = fixture("detail-broken.html").to_string_lossy().into_owned();
    let good = fixture("detail-good.html").to_string_lossy().into_owned();
    let run = bbconform(&["links", &broken]).await;
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("  FAIL  link L8 "), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("failed: links/link L8, links/link L9, links/link L10"),
        "{}",
        run.stdout
    );
    let run = bbconform(&["links", &good, "--json"]).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(failed(&run.json()), Vec::<String>::new());
    let run = bbconform(&["links", &url, "--json"]).await;
    assert_eq!(run.code, 1);
    assert_eq!(failed(&run.json()).len(), 5);
}

/// An HTTPS endpoint with a fresh self-signed certificate; answers nothing
/// after the handshake. Returns its port.
fn self_signed_https() -> u16 {
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap_or_else(|e| panic!("rcgen: {e}"));
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| {
            b.with_no_client_auth()
                .with_single_cert(vec![cert.cert.der().clone()], key)
        })
        .unwrap_or_else(|e| panic!("rustls server config: {e}"));
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    std::thread::spawn(move || {
        for tcp in listener.incoming().take(8).flatten() {
            let Ok(conn) = rustls::ServerConnection::new(Arc::clone(&config)) else {
                continue;
            };
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut buf = [0u8; 1024];
            let _ = std::io::Read::read(&mut tls, &mut buf);
        }
    });
    port
}

#[tokio::test]
async fn a_self_signed_certificate_is_named_as_such() {
    let port = self_signed_https();
    let url = format!("https://127.0.0.1:{port}/popup");
    let run = bbconform(&["popup", "--url", &url, "--case", "ordinary", "--json"]).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    let r = run.json();
    assert_eq!(failed(&r), vec!["ordinary/tls".to_owned()]);
    let d = check(&r, "ordinary", "tls").1;
    assert!(
        d.starts_with("TLS certificate error: the server's certificate was refused"),
        "{d}"
    );
    assert!(
        d.contains("self-signed") && d.contains("the softphone refuses it too"),
        "{d}"
    );
}

#[tokio::test]
async fn an_unreachable_crm_fails_reachable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let url = format!("http://127.0.0.1:{port}/popup");
    let run = bbconform(&["popup", "--url", &url, "--case", "ordinary", "--json"]).await;
    assert_eq!(run.code, 1);
    let r = run.json();
    assert_eq!(failed(&r), vec!["ordinary/reachable".to_owned()]);
    assert!(
        check(&r, "ordinary", "reachable")
            .1
            .starts_with("cannot connect: ")
    );
}

#[tokio::test]
async fn usage_and_settings_errors_exit_2_with_one_line() {
    let missing = temp_file("missing", "toml").to_string_lossy().into_owned();
    let run = bbconform(&["popup", "--config", &missing]).await;
    assert_eq!(run.code, 2);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains(&missing) && run.stderr.contains("(give the path"));

    let no_popup = settings_file("[web]\nskip_internal = true\n");
    let run = bbconform(&["popup", "--config", &no_popup.to_string_lossy()]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("has no [web.popup] table"),
        "{}",
        run.stderr
    );

    let typo = settings_file("[web.popup]\nurl = \"https://crm.test/\"\nparms = \"a=1\"\n");
    let run = bbconform(&["popup", "--config", &typo.to_string_lossy()]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("line 12: unknown field `parms`"),
        "{}",
        run.stderr
    );

    let bad_line = settings_file(
        "[web.popup]\nurl = \"https://crm.test/\"\nparams = \"a=1\\ncampaignid 1234\"\n",
    );
    let run = bbconform(&["popup", "--config", &bad_line.to_string_lossy()]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("'campaignid 1234' has no '=' (write name=value)"),
        "{}",
        run.stderr
    );

    let post_detail =
        settings_file("[web.detail]\nmethod = \"POST\"\nurl = \"https://crm.test/\"\n");
    let run = bbconform(&["detail", "--config", &post_detail.to_string_lossy()]).await;
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("(choose GET)"), "{}", run.stderr);

    let run = bbconform(&["popup", "--url", "crm.test/in"]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("is not an absolute URL"),
        "{}",
        run.stderr
    );

    let run = bbconform(&["popup"]).await;
    assert_eq!(run.code, 2);
}
