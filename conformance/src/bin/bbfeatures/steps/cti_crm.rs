//! Steps about the CRM side of web integration (WEB-1…WEB-5): how the mock
//! CRM answers, CRMs that misbehave, and what the CRM received.
//!
//! "Exactly one request" waits for the end of every popup request and
//! fetching browser before it counts (a later positive event: a wrong
//! second request would have been sent by then); "no request" looks at
//! once, after the barrier step the feature puts before it.

use conformance::world::BbWorld;
use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use serde_json::{Value, json};

use super::cti::{call_id, caller_id, encode, events, first_ext, state};
use super::cti_hooks::{crm_requests_done, transcript_once};
use super::docstring;
use super::web::{exactly_one_request, render};

/// Waits for the CRM's first request, then for the end of every popup
/// request and fetching browser (a later positive event: a wrong second
/// request would have been sent by then), and returns them all.
async fn crm_requests_settled(w: &BbWorld) -> Result<Vec<Value>, String> {
    w.wait_for("the CRM to receive a request", 10, || async {
        w.crm_requests().await.ok().filter(|r| !r.is_empty())
    })
    .await?;
    crm_requests_done(w).await?;
    w.crm_requests().await
}

// ------------------------------------------------------------------ given

async fn crm_behaviour(w: &BbWorld, behaviour: Value) -> Result<(), String> {
    let url = format!("{}/__mock/behaviour", w.crm()?);
    let resp = w
        .http
        .post(&url)
        .json(&behaviour)
        .send()
        .await
        .map_err(|e| format!("POST {url}: {e}"))?;
    if !resp.status().is_success() {
        let status = resp.status();
        let why = resp.text().await.unwrap_or_default();
        return Err(format!("the mock CRM refused {behaviour}: {status} {why}"));
    }
    Ok(())
}

/// Makes the mock CRM answer every request with the HTTP status `status`.
/// E.g. 500 for a CRM that fails.
#[given(expr = "the mock CRM answers with status {int}")]
async fn crm_status(w: &mut BbWorld, status: u16) -> Result<(), String> {
    crm_behaviour(w, json!({ "status": status })).await
}

/// Makes the mock CRM wait `ms` milliseconds before it answers each request.
/// For slow-CRM scenarios, e.g. beyond the popup request's time limit.
#[given(expr = "the mock CRM answers only after {int} ms")]
async fn crm_delay(w: &mut BbWorld, ms: u64) -> Result<(), String> {
    crm_behaviour(w, json!({ "delay_ms": ms })).await
}

/// Makes the mock CRM answer with the body `body` and the content type `content_type`.
/// E.g. `content_type` "text/plain; charset=utf-8".
#[given(expr = "the mock CRM answers {string} as {string}")]
async fn crm_body(w: &mut BbWorld, body: String, content_type: String) -> Result<(), String> {
    crm_behaviour(w, json!({ "body": body, "content_type": content_type })).await
}

/// A one-answer HTTP server: every request gets `status`, `content_type`
/// and the raw `body` bytes, then the connection is closed.
async fn serve_bytes(
    status: u16,
    content_type: &str,
    body: Vec<u8>,
) -> Result<(String, tokio::task::JoinHandle<()>), String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot bind a test CRM: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("test CRM address: {e}"))?;
    let mut answer = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(&body);
    let task = tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = conn.write_all(&answer).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    Ok((format!("http://{addr}"), task))
}

/// Starts a second test CRM that answers every request with `text` in Shift_JIS (content
/// type `text/html; charset=Shift_JIS`).
/// Settings reach it as `{sjis_crm}`. Fails if `text` cannot be written in Shift_JIS.
#[given(expr = "a CRM that answers in Shift_JIS with {string}")]
async fn sjis_crm(w: &mut BbWorld, text: String) -> Result<(), String> {
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(&text);
    if unmappable {
        return Err(format!("'{text}' cannot be written in Shift_JIS"));
    }
    let (url, task) = serve_bytes(200, "text/html; charset=Shift_JIS", bytes.into_owned()).await?;
    let st = state(w);
    let mut st = st.lock().await;
    st.tokens.insert("sjis_crm".into(), url);
    st.servers.push(task);
    Ok(())
}

/// Sets up a local address where nothing listens, so that every connection to it is
/// refused.
/// Settings reach it as `{refused}`.
#[given(expr = "a CRM address that refuses connections")]
async fn refused_crm(w: &mut BbWorld) -> Result<(), String> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| format!("address: {e}"))?;
    drop(listener);
    state(w)
        .lock()
        .await
        .tokens
        .insert("refused".into(), format!("http://{addr}"));
    Ok(())
}

// ------------------------------------------------------------------- when

/// Makes the mock CRM forget every request it received so far.
/// The checks that follow see only later requests.
#[when("the CRM's requests are cleared")]
async fn crm_cleared(w: &mut BbWorld) -> Result<(), String> {
    let url = format!("{}/__mock/requests", w.crm()?);
    w.http
        .delete(&url)
        .send()
        .await
        .map_err(|e| format!("DELETE {url}: {e}"))?;
    Ok(())
}

// ------------------------------------------------------------------- then

/// Checks that the CRM received exactly these requests, in this order, each written as
/// in "the CRM receives exactly this request for the call" and separated by a line
/// `---`; `{call_id}` is the current call's Call-ID, percent-encoded. For a softphone
/// with both a popup and a detail view. Waits up to 10 s for a request, then up to 40 s
/// until every popup request and fetching browser ended.
#[then("the CRM receives these requests for the call, in this order")]
async fn crm_receives_these(w: &mut BbWorld, step: &Step) -> Result<(), String> {
    let text = docstring(step)?.replace("{call_id}", &encode(&call_id(w).await?));
    let want: Vec<String> = text
        .split("\n---\n")
        .map(|r| r.trim_matches('\n').to_string())
        .collect();
    let count = want.len();
    w.wait_for(
        &format!("the CRM to receive {count} requests"),
        10,
        || async { w.crm_requests().await.ok().filter(|r| r.len() >= count) },
    )
    .await?;
    let got: Vec<String> = crm_requests_settled(w).await?.iter().map(render).collect();
    if got != want {
        return Err(format!(
            "the CRM received\n{}\nbut the expected requests are\n{}",
            got.join("\n---\n"),
            want.join("\n---\n")
        ));
    }
    Ok(())
}

/// Checks that the mock CRM received exactly one request, written exactly as the doc
/// string, where `{call_id}` is the current call's Call-ID, percent-encoded.
/// Write it as `METHOD /path?query`; for a request with a body add a `Content-Type:`
/// line, a blank line and the body. Waits up to 10 s for a request, then up to 40 s until
/// every popup request and fetching browser ended.
#[then("the CRM receives exactly this request for the call")]
async fn crm_receives_for_call(w: &mut BbWorld, step: &Step) -> Result<(), String> {
    let want = docstring(step)?.replace("{call_id}", &encode(&call_id(w).await?));
    let got = crm_requests_settled(w).await?;
    exactly_one_request(&got, &want)
}

/// Checks the requests the mock CRM received against the stored snapshot `name`, each
/// written as in "the CRM receives exactly this request", separated by `---`.
/// Snapshots are kept in `conformance/src/bin/bbfeatures/steps/snapshots/`. Waits as "the
/// CRM receives exactly this request" does.
#[then(expr = "the CRM's request matches the snapshot {string}")]
async fn crm_snapshot(w: &mut BbWorld, name: String) -> Result<(), String> {
    let got = crm_requests_settled(w).await?;
    let text = got.iter().map(render).collect::<Vec<_>>().join("\n---\n");
    let result = std::panic::catch_unwind(|| {
        insta::with_settings!({ prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!(name.as_str(), text);
        });
    });
    result.map_err(|_| format!("the CRM's request differs from snapshot '{name}':\n{text}"))
}

/// Checks, at once, that the mock CRM has received no request.
/// Put a barrier step before it, e.g. the popup hook reported as skipped.
#[then("the CRM receives no request")]
async fn crm_nothing(w: &mut BbWorld) -> Result<(), String> {
    let got = w.crm_requests().await?;
    if !got.is_empty() {
        return Err(format!(
            "the CRM received:\n{}",
            got.iter().map(render).collect::<Vec<_>>().join("\n---\n")
        ));
    }
    Ok(())
}

/// Checks that the mock CRM has received at least one request.
/// Waits up to 10 s.
#[then(expr = "the CRM receives a request")]
async fn crm_some(w: &mut BbWorld) -> Result<(), String> {
    w.wait_for("the CRM to receive a request", 10, || async {
        w.crm_requests().await.ok().filter(|r| !r.is_empty())
    })
    .await
    .map(|_| ())
}

/// Checks that the popup of the softphone with the lowest extension number is for the
/// current call and shows a text containing `text`.
/// Also checks that the softphone printed its popup line with "(CRM answered 200)". Waits
/// up to 10 s for each.
#[then(expr = "the popup shows {string}")]
async fn popup_shows(w: &mut BbWorld, text: String) -> Result<(), String> {
    let ext = first_ext(w)?;
    let call = call_id(w).await?;
    let ev = w
        .wait_for(&format!("a popup event showing '{text}'"), 10, || async {
            events(w, &ext)
                .await
                .ok()?
                .into_iter()
                .find(|e| e["event"] == "popup")
        })
        .await?;
    if ev["call_id"] != call.as_str() {
        return Err(format!(
            "the popup is for call {}, not {call}",
            ev["call_id"]
        ));
    }
    let shown = ev["text"].as_str().unwrap_or("");
    if !shown.contains(&text) {
        return Err(format!("the popup shows '{shown}', not '{text}'"));
    }
    // The headless softphone prints it too.
    transcript_once(w, &ext, "the softphone to print the popup line", |l| {
        l.starts_with("bbclient: popup for call") && l.contains("(CRM answered 200)")
    })
    .await
    .map(|_| ())
}

/// Checks that the first popup of the softphone with the lowest extension number shows
/// exactly `text`.
/// `\n` in `text` stands for a line break. Waits up to 10 s for the popup.
#[then(expr = "the popup text is exactly {string}")]
async fn popup_exact(w: &mut BbWorld, text: String) -> Result<(), String> {
    let ext = first_ext(w)?;
    let ev = w
        .wait_for("a popup event", 10, || async {
            events(w, &ext)
                .await
                .ok()?
                .into_iter()
                .find(|e| e["event"] == "popup")
        })
        .await?;
    let text = text.replace("\\n", "\n");
    if ev["text"] != text.as_str() {
        return Err(format!("the popup shows {}, not '{text}'", ev["text"]));
    }
    Ok(())
}

/// Checks that the mock CRM received exactly one request, with a well-formed query whose
/// parameter names are exactly `names` and whose `number_param` is the caller ID.
/// Well-formed: only unreserved characters, `%XX`, `=` and `&`. `names`: comma-separated,
/// in order. The caller ID is compared with its surrounding blanks trimmed. Waits as "the
/// CRM receives exactly this request" does.
#[then(
    expr = "the CRM receives one well-formed request whose parameters are exactly {string}, with the caller ID, without its surrounding blanks, as {string}"
)]
async fn crm_well_formed(
    w: &mut BbWorld,
    names: String,
    number_param: String,
) -> Result<(), String> {
    let id = caller_id(w).await?;
    let got = crm_requests_settled(w).await?;
    if got.len() != 1 {
        return Err(format!("the CRM received {} requests: {got:?}", got.len()));
    }
    let query = got[0]["query"]
        .as_str()
        .ok_or_else(|| format!("the request has no query: {}", got[0]))?;
    // Well-formed: only unreserved characters, '%XX', '=' and '&'.
    let mut bytes = query.bytes().peekable();
    while let Some(b) = bytes.next() {
        let ok = b.is_ascii_alphanumeric() || b"-._~=&".contains(&b) || b == b'%';
        if !ok {
            return Err(format!(
                "the query holds a raw {:?}: {query}",
                char::from(b)
            ));
        }
        if b == b'%' {
            let h: Vec<u8> = bytes.by_ref().take(2).collect();
            if h.len() != 2 || !h.iter().all(u8::is_ascii_hexdigit) {
                return Err(format!("bad percent escape in {query}"));
            }
        }
    }
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let got_names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    let want_names: Vec<&str> = names.split(',').map(str::trim).collect();
    if got_names != want_names {
        return Err(format!(
            "the CRM got the parameters {got_names:?}, expected {want_names:?}; query: {query}"
        ));
    }
    let number = pairs
        .iter()
        .find(|(k, _)| *k == number_param)
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    if number != id.trim() {
        return Err(format!(
            "the CRM got {number_param}={number:?}, but the caller ID is {:?}",
            id.trim()
        ));
    }
    Ok(())
}
