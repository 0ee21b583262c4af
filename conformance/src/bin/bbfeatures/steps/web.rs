//! Steps about Web integration (WEB-*): popup settings, what the CRM
//! received, and the detail view opened by the desktop's own default
//! browser (WEB-4 without a `browser` setting).
//!
//! The desktop is the scenario's own (see [`super::control::desktop`]):
//! a throwaway browser is registered there as the default for `http:` and
//! `https:` (a `.desktop` file in `XDG_DATA_HOME/applications`, made the
//! default with `xdg-mime default`). It is the workspace's argv recorder
//! with `--rec-fetch`: it writes down its arguments and GETs the URL from
//! the mock CRM, as a browser would. The softphone runs in that desktop,
//! so its default opener (`xdg-open`) finds that browser and nothing else.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use conformance::procs::{Proc, bin_dir};
use conformance::world::{BbWorld, Phone};
use cucumber::gherkin::Step;
use cucumber::{given, then};
use serde_json::Value;

use super::control::{desktop, xdg};
use super::docstring;

/// The throwaway default browser of the scenario's desktop.
fn default_browser(w: &BbWorld) -> PathBuf {
    w.dir.join("bin").join("default-browser")
}

/// Makes the scenario's throwaway browser (the argv recorder, linked into
/// the scenario's folder) and returns its path.
pub(super) fn link_default_browser(w: &BbWorld) -> Result<PathBuf, String> {
    let browser = default_browser(w);
    if browser.exists() {
        return Ok(browser);
    }
    if let Some(dir) = browser.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let recorder = conformance::procs::recorder_bin()?;
    std::os::unix::fs::symlink(&recorder, &browser).map_err(|e| {
        format!(
            "cannot link {} to {}: {e}",
            browser.display(),
            recorder.display()
        )
    })?;
    Ok(browser)
}

async fn run_in_desktop(
    what: &str,
    mut cmd: tokio::process::Command,
) -> Result<std::process::Output, String> {
    let out = tokio::time::timeout(Duration::from_secs(20), cmd.kill_on_drop(true).output())
        .await
        .map_err(|_| format!("{what} did not finish within 20 s"))?
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Gives the scenario's desktop a default web browser for `http:` and `https:` links: an
/// argument recorder that notes its arguments and fetches the page, as a browser would.
/// Fails if `xdg-mime` does not then name it the default.
#[given("a desktop whose default web browser fetches the pages it is given")]
async fn desktop_browser(w: &mut BbWorld) -> Result<(), String> {
    for d in [
        "home",
        "data/applications",
        "config",
        "sys-data",
        "sys-config",
    ] {
        let dir = xdg(w, d);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let browser = link_default_browser(w)?;
    let entry = xdg(w, "data/applications/bb-test-browser.desktop");
    let text = format!(
        "[Desktop Entry]\nType=Application\nName=Test browser\nExec={} --rec-fetch %u\n\
         MimeType=x-scheme-handler/http;x-scheme-handler/https;\nNoDisplay=true\n",
        browser.display()
    );
    std::fs::write(&entry, text).map_err(|e| format!("cannot write {}: {e}", entry.display()))?;
    let mut set = desktop(w, "xdg-mime");
    set.args([
        "default",
        "bb-test-browser.desktop",
        "x-scheme-handler/http",
        "x-scheme-handler/https",
    ]);
    run_in_desktop("xdg-mime default bb-test-browser.desktop", set).await?;
    for scheme in ["http", "https"] {
        let mut q = desktop(w, "xdg-mime");
        q.args(["query", "default", &format!("x-scheme-handler/{scheme}")]);
        let out = run_in_desktop("xdg-mime query default", q).await?;
        let got = String::from_utf8_lossy(&out.stdout);
        if got.trim() != "bb-test-browser.desktop" {
            return Err(format!(
                "{scheme}: links do not go to the test browser but to '{}'",
                got.trim()
            ));
        }
    }
    Ok(())
}

/// Starts a headless softphone for extension `ext` inside the scenario's desktop with the
/// settings in the doc string, and waits until it registered (up to 15 s).
/// The desktop has its own home, XDG folders and display, and no `BROWSER` or desktop
/// session. Only `{crm}` (the mock CRM's base URL) is replaced in the doc string.
#[given(expr = "a softphone for extension {word} in that desktop, with the settings")]
async fn phone_in_desktop(w: &mut BbWorld, step: &Step, ext: String) -> Result<(), String> {
    let settings = docstring(step)?.replace("{crm}", &w.crm()?);
    let config = w.dir.join(format!("bbclient-{ext}.toml"));
    let text = format!(
        "[account]\nserver = \"{}\"\nuser = \"{ext}\"\npassword = \"pw{ext}\"\n\n{settings}\n",
        w.sip()?
    );
    std::fs::write(&config, text).map_err(|e| format!("cannot write {}: {e}", config.display()))?;
    let instance = format!("ext{ext}");
    let mut cmd = desktop(w, bin_dir()?.join("bbclient"));
    cmd.env("BBCLIENT_LOG", "info,rsipstack=warn")
        .args(["--instance", &instance, "run", "--headless", "--config"])
        .arg(&config)
        .stdin(Stdio::null());
    let (proc, _) = Proc::start(&format!("bbclient {ext}"), cmd, None).await?;
    w.phones.insert(
        ext.clone(),
        Phone {
            proc,
            instance,
            config,
        },
    );
    w.contact_of(&ext).await.map(|_| ())
}

/// Percent-encodes like a query value: RFC 3986 unreserved characters
/// stay, everything else is `%XX`.
fn query_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The runs of the desktop's default browser: each one's arguments.
fn browser_runs(w: &BbWorld) -> Vec<Vec<String>> {
    let log = PathBuf::from(format!("{}.jsonl", default_browser(w).display()));
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| {
            v["args"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| a.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .collect()
}

/// Checks that the desktop's default browser was opened exactly once, with the URL `url`.
/// `{crm}` in `url` is the mock CRM's base URL and `{call_id}` the current call's
/// Call-ID, percent-encoded. Waits up to 10 s for the browser.
#[then(
    expr = "the desktop's default browser is opened once, with the detail URL of the call {string}"
)]
async fn browser_opened(w: &mut BbWorld, url: String) -> Result<(), String> {
    let call_id = w.last_call_state().await?["call_id"]
        .as_str()
        .map(query_encode)
        .unwrap_or_default();
    let url = url
        .replace("{crm}", &w.crm()?)
        .replace("{call_id}", &call_id);
    let runs = w
        .wait_for("the desktop's default browser to be opened", 10, || async {
            Some(browser_runs(w)).filter(|r| !r.is_empty())
        })
        .await?;
    let want = vec!["--rec-fetch".to_string(), url];
    if runs == [want.clone()] {
        Ok(())
    } else {
        Err(format!(
            "the default browser was run with {runs:?}, expected once with {want:?}\n{}",
            w.transcripts()
        ))
    }
}

/// Starts a headless softphone for extension `ext` whose popup request is `method` (`GET`
/// or `POST`) to the mock CRM's `path`, and waits until it registered (up to 15 s).
/// The doc string holds the parameters, one `name=value` a line (e.g.
/// `number=%CallerNumber%`). Internal calls skip the request.
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

/// Renders a recorded request the way the feature files write it.
pub fn render(r: &Value) -> String {
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

/// Checks that the mock CRM received exactly one request, written exactly as the doc
/// string; nothing in it is replaced.
/// Write it as `METHOD /path?query`; for a request with a body add a `Content-Type:`
/// line, a blank line and the body. Waits up to 10 s for a request, then up to 40 s until
/// every popup request and fetching browser ended.
#[then("the CRM receives exactly this request")]
async fn crm_receives(w: &mut BbWorld, step: &Step) -> Result<(), String> {
    let want = docstring(step)?;
    let got = w
        .wait_for("the CRM to receive a request", 10, || async {
            w.crm_requests().await.ok().filter(|r| !r.is_empty())
        })
        .await?;
    // A wrongly repeated request would have been sent before the popup
    // request ended.
    super::cti_hooks::crm_requests_done(w).await?;
    let got = w.crm_requests().await.unwrap_or(got);
    exactly_one_request(&got, &want)
}

/// Checks that the CRM received one request, rendered exactly as `want`.
pub fn exactly_one_request(got: &[Value], want: &str) -> Result<(), String> {
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

/// Checks that the softphone with the lowest extension number printed a popup line
/// showing "Customer card", the mock CRM's default answer.
/// Waits up to 10 s.
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
