//! The QA-team example (`docs/examples/qa-team`), copied to a folder outside
//! the workspace as a team would, runs green with `bbfeatures` against a CRM
//! of its own, and red, naming the cause, when that CRM answers 500.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncBufReadExt as _;

/// Copies the files of `from` into `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("cannot create {}: {e}", to.display()));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.unwrap_or_else(|e| panic!("{}: {e}", from.display()));
        if entry.path().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))
                .unwrap_or_else(|e| panic!("cannot copy {}: {e}", entry.path().display()));
        }
    }
}

/// Runs `bbfeatures DIR`; returns (success, stdout + stderr).
async fn bbfeatures(dir: &Path, report: &Path, crm: &str, bins: &Path) -> (bool, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_bbfeatures"))
        .arg(dir)
        .arg("--report-dir")
        .arg(report)
        .env("OUR_CRM", crm)
        .env("BB_BIN_DIR", bins)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(300), out)
        .await
        .unwrap_or_else(|_| panic!("bbfeatures {} ran for 5 minutes", dir.display()))
        .unwrap_or_else(|e| panic!("cannot run bbfeatures: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_qa_team_example_runs_green_and_turns_red_when_its_crm_answers_500() {
    let root = conformance::procs::workspace_root();
    let bins = conformance::procs::bin_dir().unwrap_or_else(|e| panic!("{e}"));
    let scratch: PathBuf =
        std::env::temp_dir().join(format!("bb-qa-team-example-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let dir = scratch.join("our-features");
    copy_dir(&root.join("docs/examples/qa-team"), &dir);

    // The team's CRM: here a mock CRM process of its own, on a free port.
    let mut crm = tokio::process::Command::new(bins.join("bluebean-sim"))
        .args(["crm", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the stand-in CRM: {e}"));
    let stdout = crm.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .ok()
        .and_then(Result::ok)
        .flatten()
        .unwrap_or_default();
    let crm_url = ready
        .split("http=")
        .nth(1)
        .map(str::trim)
        .unwrap_or_else(|| panic!("the stand-in CRM said '{ready}'"))
        .to_string();

    let (ok, out) = bbfeatures(&dir, &scratch.join("report-green"), &crm_url, &bins).await;
    assert!(ok, "the example failed against a working CRM:\n{out}");
    assert!(
        out.contains("5 scenarios (5 passed)"),
        "expected both scenarios to pass:\n{out}"
    );
    // The harness said what it rewrote in the team's settings.
    assert!(
        out.contains("rewrote account.server") && out.contains("web.popup.url"),
        "the rewritten keys were not named:\n{out}"
    );
    assert!(scratch.join("report-green/junit.xml").is_file());

    // The same CRM now fails every popup request.
    let resp = reqwest::Client::new()
        .post(format!("{crm_url}/__mock/behaviour"))
        .json(&serde_json::json!({ "status": 500 }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("cannot set the stand-in CRM to 500: {e}"));
    assert!(resp.status().is_success());
    let (ok, out) = bbfeatures(&dir, &scratch.join("report-red"), &crm_url, &bins).await;
    assert!(
        !ok,
        "the example passed against a CRM that answers 500:\n{out}"
    );
    assert!(
        out.contains("reported the popup hook as failed") && out.contains("500"),
        "the failure does not name the CRM's 500:\n{out}"
    );
    let _ = crm.kill().await;
    let _ = std::fs::remove_dir_all(&scratch);
}

/// Runs `bbfeatures` on a folder holding `files`; returns (success, output).
async fn run_folder(name: &str, files: &[(&str, &str)]) -> (bool, String) {
    let bins = conformance::procs::bin_dir().unwrap_or_else(|e| panic!("{e}"));
    let scratch = std::env::temp_dir().join(format!("bb-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let dir = scratch.join("features");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    let result = bbfeatures(&dir, &scratch.join("report"), "http://127.0.0.1:9", &bins).await;
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misspelt_step_is_named_with_the_closest_steps_before_anything_runs() {
    let (ok, out) = run_folder(
        "misspelt",
        &[(
            "ours.feature",
            "Feature: ours\n  Scenario: one\n    Given the BlueBean simulator runs the tennant \"t.toml\"\n",
        )],
    )
    .await;
    assert!(!ok, "a misspelt step passed:\n{out}");
    assert!(
        out.contains(
            "ours.feature:3: no step matches 'Given the BlueBean simulator runs the tennant"
        ) && out.contains("Given the BlueBean simulator runs the tenant {string}"),
        "the misspelt step and its closest entry are not named:\n{out}"
    );
    assert!(!out.contains("[Summary]"), "scenarios ran:\n{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_settings_file_and_an_invalid_tenant_are_named_with_the_fix() {
    let (ok, out) = run_folder(
        "bad-files",
        &[
            (
                "ours.feature",
                "Feature: ours\n\
                 \x20 Scenario: no settings file\n\
                 \x20   Given the BlueBean simulator and a mock CRM are running\n\
                 \x20   And the softphone uses the settings file \"missing.toml\"\n\
                 \x20 Scenario: a tenant with a misspelt key\n\
                 \x20   Given the BlueBean simulator runs the tenant \"bad-tenant.toml\"\n\
                 \x20 Scenario: a settings file with a wrong value\n\
                 \x20   Given the BlueBean simulator and a mock CRM are running\n\
                 \x20   And the softphone uses the settings file \"bad-settings.toml\"\n",
            ),
            (
                "bad-settings.toml",
                "[account]\nserver = \"pbx\"\nuser = \"1910\"\npassword = \"pw1910\"\n\
                 [web.popup]\nmethod = \"PUT\"\nurl = \"http://crm.example/p\"\n",
            ),
            (
                "bad-tenant.toml",
                "realm = \"ours\"\n[extensions.2001]\npasword = \"x\"\n",
            ),
        ],
    )
    .await;
    assert!(!ok, "the run passed:\n{out}");
    assert!(
        out.contains("cannot read the settings file") && out.contains("missing.toml"),
        "the missing settings file is not named:\n{out}"
    );
    assert!(
        out.contains("bad-tenant.toml is not valid")
            && out.contains("unknown field `pasword`, expected one of `password`"),
        "the tenant's wrong key is not named:\n{out}"
    );
    assert!(
        out.contains("bad-settings.toml is refused")
            && out.contains("web.popup.method: 'PUT' is not a method (write \"GET\" or \"POST\")"),
        "the settings file's wrong value, its key and the fix are not named:\n{out}"
    );
}
