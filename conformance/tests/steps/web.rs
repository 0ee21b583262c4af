//! Steps about Web integration (WEB-*): popup settings, what the CRM received.

use conformance::world::BbWorld;
use cucumber::gherkin::Step;
use cucumber::{given, then};
use serde_json::Value;

use super::docstring;

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
