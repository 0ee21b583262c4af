//! Runs every `.feature` under `features/` against the real processes and
//! writes the JUnit report to `target/cucumber/junit.xml`.

use std::time::Duration;

use conformance::world::BbWorld;
use cucumber::gherkin::Step;
use cucumber::writer::Stats as _;
use cucumber::{World as _, WriterExt as _, given, then, when, writer};
use serde_json::{Value, json};

fn docstring(step: &Step) -> Result<String, String> {
    step.docstring
        .as_ref()
        .map(|d| d.trim_matches('\n').to_string())
        .ok_or_else(|| format!("step '{}' needs a doc string", step.value))
}

#[given("the BlueBean simulator and a mock CRM are running")]
async fn servers(w: &mut BbWorld) -> Result<(), String> {
    w.start_servers().await
}

#[given(
    expr = "a softphone for extension {word} whose popup request is {word} to {string} with the parameters"
)]
async fn phone_with_popup(
    w: &mut BbWorld,
    step: &Step,
    ext: String,
    method: String,
    path: String,
) -> Result<(), String> {
    let params = docstring(step)?;
    let extra = format!(
        "[web]\nskip_internal = true\n\n[web.popup]\nmethod = \"{method}\"\nurl = \"{}{path}\"\nparams = '''\n{params}\n'''\n",
        w.crm()?
    );
    w.start_phone(&ext, &extra).await
}

#[when(expr = "an outside caller {word} calls the outside line {word}")]
async fn outside_call(w: &mut BbWorld, from: String, to: String) -> Result<(), String> {
    let (status, v) = w
        .api_call("POST", "/api/calls", Some(json!({"from": from, "to": to})))
        .await?;
    if status != 201 {
        return Err(format!("the simulator refused the call ({status}): {v}"));
    }
    w.last_call = v["id"].as_u64();
    Ok(())
}

async fn wait_call_state(w: &BbWorld, state: &str) -> Result<Value, String> {
    w.wait_for(&format!("the outside call to be {state}"), 10, || async {
        w.last_call_state()
            .await
            .ok()
            .filter(|c| c["state"] == state)
    })
    .await
}

#[then("the softphone rings")]
async fn rings(w: &mut BbWorld) -> Result<(), String> {
    wait_call_state(w, "ringing").await.map(|_| ())
}

/// Renders a recorded request the way the feature files write it.
fn render(r: &Value) -> String {
    let method = r["method"].as_str().unwrap_or("?");
    let path = r["path"].as_str().unwrap_or("?");
    let mut s = match r["query"].as_str() {
        Some(q) => format!("{method} {path}?{q}"),
        None => format!("{method} {path}"),
    };
    let body = r["body"].as_str().unwrap_or("");
    if !body.is_empty() {
        if let Some(ct) = r["content_type"].as_str() {
            s.push_str(&format!("\nContent-Type: {ct}"));
        }
        s.push_str(&format!("\n\n{body}"));
    }
    s
}

#[then("the CRM receives exactly this request")]
async fn crm_receives(w: &mut BbWorld, step: &Step) -> Result<(), String> {
    let want = docstring(step)?;
    let got = w
        .wait_for("the CRM to receive a request", 10, || async {
            w.crm_requests().await.ok().filter(|r| !r.is_empty())
        })
        .await?;
    // Give a wrongly repeated request a moment to show up.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got = w.crm_requests().await.unwrap_or(got);
    if got.len() != 1 {
        return Err(format!(
            "the CRM received {} requests, expected 1:\n{}",
            got.len(),
            got.iter().map(render).collect::<Vec<_>>().join("\n---\n")
        ));
    }
    let got = render(&got[0]);
    if got != want {
        return Err(format!(
            "the CRM received\n{got}\nbut the expected request is\n{want}"
        ));
    }
    Ok(())
}

#[then("the softphone shows the CRM's answer in its popup")]
async fn popup_shown(w: &mut BbWorld) -> Result<(), String> {
    let phone = w.phones.values().next().ok_or("no softphone")?;
    let output = phone.proc.output.clone();
    w.wait_for("the popup to show the CRM's answer", 10, || {
        let output = output.clone();
        async move {
            let lines = output.lock().ok()?;
            lines
                .iter()
                .any(|l| l.starts_with("bbclient: popup for call") && l.contains("Customer card"))
                .then_some(())
        }
    })
    .await
}

#[when(expr = "the operator runs {string}")]
async fn operator_runs(w: &mut BbWorld, command: String) -> Result<(), String> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let (program, args) = words.split_first().ok_or("empty command")?;
    if *program != "bbclient" {
        return Err(format!(
            "only bbclient commands are supported, not '{program}'"
        ));
    }
    let ext = w.phones.keys().next().cloned().ok_or("no softphone")?;
    let (ok, out, err) = w.bbclient(&ext, args).await?;
    if !ok {
        return Err(format!(
            "'{command}' failed: {err}{out}\n{}",
            w.transcripts()
        ));
    }
    Ok(())
}

#[then(expr = "the outside caller is talking to extension {word}")]
async fn talking(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let call = wait_call_state(w, "answered").await?;
    if call["extension"] != ext.as_str() {
        return Err(format!(
            "the call is with extension {}, not {ext}",
            call["extension"]
        ));
    }
    Ok(())
}

#[when("the outside caller hangs up")]
async fn caller_hangs_up(w: &mut BbWorld) -> Result<(), String> {
    let id = w.last_call.ok_or("no outside call")?;
    let (status, v) = w
        .api_call("POST", &format!("/api/calls/{id}/hangup"), Some(json!({})))
        .await?;
    if status != 200 {
        return Err(format!("hang-up refused ({status}): {v}"));
    }
    Ok(())
}

#[then("the call has ended")]
async fn ended(w: &mut BbWorld) -> Result<(), String> {
    wait_call_state(w, "ended").await.map(|_| ())
}

#[tokio::main]
async fn main() {
    let root = conformance::procs::workspace_root();
    let out_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("cucumber");
    if let Err(e) = std::fs::create_dir_all(&out_dir) {
        eprintln!("conformance: cannot create {}: {e}", out_dir.display());
        std::process::exit(1);
    }
    let junit_path = out_dir.join("junit.xml");
    let junit = match std::fs::File::create(&junit_path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("conformance: cannot create {}: {e}", junit_path.display());
            std::process::exit(1);
        }
    };
    let writer = BbWorld::cucumber()
        .max_concurrent_scenarios(4)
        .fail_on_skipped()
        .with_writer(
            writer::Basic::raw(std::io::stdout(), writer::Coloring::Never, 0)
                .summarized()
                .tee::<BbWorld, _>(writer::JUnit::for_tee(junit, 0))
                .normalized(),
        )
        .run(root.join("features"))
        .await;
    println!("conformance: JUnit XML written to {}", junit_path.display());
    if writer.execution_has_failed() {
        std::process::exit(1);
    }
}
