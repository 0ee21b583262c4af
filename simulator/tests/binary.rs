//! The `bluebean-sim` binary: the default tenant, config errors naming the
//! key, the ready line the harness parses, and scenario files.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use simulator::tenant::Tenant;
use tokio::io::AsyncBufReadExt;

const BIN: &str = env!("CARGO_BIN_EXE_bluebean-sim");

fn temp(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("bbsim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

#[test]
fn default_config_prints_and_loads_back() {
    let out = Command::new(BIN)
        .arg("--print-default-config")
        .output()
        .expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        Tenant::from_toml(&text, "printed").expect("valid"),
        Tenant::builtin()
    );
    let p = temp("default.toml", &text);
    let out = Command::new(BIN)
        .args(["--check", "--config"])
        .arg(&p)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn a_bad_tenant_fails_at_start_naming_the_key() {
    for (text, want) in [
        ("[queues.q]\nstratgy = \"x\"\n", "stratgy"),
        (
            "[outside_lines.0311]\nqueue = \"nope\"\n",
            "outside_lines.0311.queue",
        ),
    ] {
        let p = temp("bad.toml", text);
        let out = Command::new(BIN)
            .args(["--sip", "127.0.0.1:0", "--api", "127.0.0.1:0", "--config"])
            .arg(&p)
            .output()
            .expect("runs");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want) && err.contains("bad.toml"), "{err}");
    }
}

#[tokio::test]
async fn ready_line_and_a_scenario_file() {
    let scenario = temp(
        "s.toml",
        r#"
name = "queue call"
[[step]]
action = "login"
login_id = "op1910"
password = "op-secret"
extension = "1910"
[[step]]
at_ms = 100
action = "call"
name = "c1"
from = "09099998888"
to = "0312345680"
[[step]]
at_ms = 400
action = "hangup"
call = "c1"
"#,
    );
    let mut child = tokio::process::Command::new(BIN)
        .args(["--sip", "127.0.0.1:0", "--api", "127.0.0.1:0", "--scenario"])
        .arg(&scenario)
        .env("BLUEBEAN_SIM_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(20),
        tokio::io::BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .expect("the ready line within 20 s")
    .expect("a line");
    // Exactly: bluebean-sim ready sip=udp:ADDR api=http://ADDR
    let rest = line
        .trim()
        .strip_prefix("bluebean-sim ready sip=udp:")
        .expect(&line);
    let (sip, api) = rest.split_once(" api=http://").expect(&line);
    sip.parse::<std::net::SocketAddr>().expect("sip addr");
    let api = format!("http://{api}");
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let v: serde_json::Value = http
            .get(format!("{api}/api/scenarios/1"))
            .send()
            .await
            .expect("API")
            .json()
            .await
            .expect("json");
        if v["state"] == "finished" {
            let ok: Vec<bool> = v["results"]
                .as_array()
                .expect("results")
                .iter()
                .map(|r| r["ok"] == true)
                .collect();
            assert_eq!(ok, vec![true, true, true], "{v}");
            let id = v["calls"]["c1"].as_u64().expect("call id");
            let c: serde_json::Value = http
                .get(format!("{api}/api/calls/{id}"))
                .send()
                .await
                .expect("API")
                .json()
                .await
                .expect("json");
            assert_eq!(c["state"], "ended", "{c}");
            assert_eq!(c["end_reason"], "caller_hangup");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "scenario stuck: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A bad scenario over the API is a 400 naming the step.
    let r = http
        .post(format!("{api}/api/scenarios"))
        .json(&json!({"step": [{"action": "jump"}]}))
        .send()
        .await
        .expect("API");
    assert_eq!(r.status().as_u16(), 400);
    let v: serde_json::Value = r.json().await.expect("json");
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("step[0]")),
        "{v}"
    );
    // A TOML body is refused (any web page could send one): 415 saying how.
    let r = http
        .post(format!("{api}/api/scenarios"))
        .body("[[step]]\naction = \"campaign_start\"\ncampaign = \"demo\"\n")
        .send()
        .await
        .expect("API");
    assert_eq!(r.status().as_u16(), 415);
    let v: serde_json::Value = r.json().await.expect("json");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("application/json") && e.contains("ctl scenario")),
        "{v}"
    );
    // JSON works.
    let r = http
        .post(format!("{api}/api/scenarios"))
        .json(&json!({"name": "j", "step": [{"action": "campaign_start", "campaign": "demo"}]}))
        .send()
        .await
        .expect("API");
    assert_eq!(r.status().as_u16(), 202);
    // The ctl command line talks to the same API.
    let api_addr = api.trim_start_matches("http://").to_string();
    let out = Command::new(BIN)
        .args(["ctl", "--api", &api_addr, "operators"])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{out:?}");
    let ops: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert!(
        ops.as_array()
            .is_some_and(|a| a.iter().any(|o| o["login_id"] == "op1910"))
    );
    let out = Command::new(BIN)
        .args([
            "ctl", "--api", &api_addr, "login", "op1911", "wrong", "1911",
        ])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("401") && err.contains("wrong"), "{err}");
    let out = Command::new(BIN)
        .args(["ctl", "--api", &api_addr, "place", "0901", "0312345680"])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{out:?}");
    // `ctl scenario` reads a TOML file and sends it as JSON.
    let file = temp(
        "ctl.toml",
        "name = \"from ctl\"\n[[step]]\naction = \"campaign_stop\"\ncampaign = \"demo\"\n",
    );
    let out = Command::new(BIN)
        .args(["ctl", "--api", &api_addr, "scenario"])
        .arg(&file)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{out:?}");
    let started: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let id = started["id"].as_u64().expect("a scenario id");
    let v: serde_json::Value = http
        .get(format!("{api}/api/scenarios/{id}"))
        .send()
        .await
        .expect("API")
        .json()
        .await
        .expect("json");
    assert_eq!(v["name"], "from ctl", "{v}");
    let _ = child.kill().await;
}

#[test]
fn example_tenants_and_scenarios_are_valid() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/sim");
    let mut checked = 0;
    for entry in std::fs::read_dir(root.join("tenants")).expect("tenants dir") {
        let p = entry.expect("entry").path();
        let out = Command::new(BIN)
            .args(["--check", "--config"])
            .arg(&p)
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}: {}",
            p.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    for entry in std::fs::read_dir(root.join("scenarios")).expect("scenarios dir") {
        let p = entry.expect("entry").path();
        let out = Command::new(BIN)
            .args(["--check", "--scenario"])
            .arg(&p)
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}: {}",
            p.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert!(checked >= 4);
}
