//! The mock CRM: an HTTP server that records every request it receives and
//! answers like a CRM popup endpoint would.
//!
//! Tests read what it received at `GET /__mock/requests` and change how it
//! behaves (status, delay, body, content type) at `POST /__mock/behaviour`, so
//! slow, failing and oddly-encoded CRMs can be staged against the real softphone.
//!
//! With a forward origin (`bluebean-sim crm --forward URL`) it is a recording
//! proxy instead: each request goes on, unchanged, to a real CRM, whose answer
//! goes back unchanged; only the recording is added. QA teams put it in front
//! of their own CRM to see exactly what the softphone sent.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::state::lock;

/// One request as the mock CRM received it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecordedRequest {
    /// Position, from 1.
    pub seq: u64,
    /// Milliseconds since the mock started.
    pub at_ms: u64,
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, percent-encoded as received.
    pub path: String,
    /// The raw query string (without `?`), if any.
    pub query: Option<String>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body as text (lossy UTF-8).
    pub body: String,
    /// The status the CRM answered with (the mock's own, or the real CRM's
    /// behind the proxy); absent while the answer is pending.
    #[serde(default)]
    pub answered: Option<u16>,
}

/// How the mock answers (all fields optional when set over the API).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Behaviour {
    /// HTTP status to answer with.
    #[serde(default = "ok")]
    pub status: u16,
    /// Delay before answering, in ms.
    #[serde(default)]
    pub delay_ms: u64,
    /// The `Content-Type` of the answer.
    #[serde(default = "html")]
    pub content_type: String,
    /// The body; `{query}` and `{body}` are replaced by what was received.
    #[serde(default = "default_body")]
    pub body: String,
}

fn ok() -> u16 {
    200
}
fn html() -> String {
    "text/html; charset=utf-8".to_string()
}
fn default_body() -> String {
    "<html><body><h1>Customer card</h1><p>{query}{body}</p></body></html>".to_string()
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            status: ok(),
            delay_ms: 0,
            content_type: html(),
            body: default_body(),
        }
    }
}

#[derive(Clone)]
struct Crm {
    started: Instant,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    behaviour: Arc<Mutex<Behaviour>>,
    forward: Option<Forward>,
}

/// Where the recording proxy sends each request on to.
#[derive(Clone)]
struct Forward {
    /// `scheme://host:port` of the real CRM.
    origin: reqwest::Url,
    client: reqwest::Client,
}

/// The largest request or answer body the proxy passes on (the softphone's
/// own popup cap is far below).
const FORWARD_LIMIT: usize = 4 << 20;

/// The mock CRM's router.
pub fn router() -> Router {
    router_with(None)
}

/// The router of the mock CRM, or, with `forward` (a real CRM's origin),
/// of the recording proxy in front of it.
pub fn router_with(forward: Option<reqwest::Url>) -> Router {
    let forward = forward.map(|origin| Forward {
        origin,
        client: reqwest::Client::builder()
            // The softphone follows redirects by its own rules: pass them back.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_default(),
    });
    let crm = Crm {
        started: Instant::now(),
        requests: Arc::new(Mutex::new(Vec::new())),
        behaviour: Arc::new(Mutex::new(Behaviour::default())),
        forward,
    };
    Router::new()
        .route("/__mock/requests", get(list).delete(clear))
        .route("/__mock/behaviour", post(set_behaviour))
        .fallback(record)
        .with_state(crm)
}

async fn list(State(crm): State<Crm>) -> Json<Vec<RecordedRequest>> {
    Json(lock(&crm.requests).clone())
}

async fn clear(State(crm): State<Crm>) -> StatusCode {
    lock(&crm.requests).clear();
    StatusCode::NO_CONTENT
}

async fn set_behaviour(State(crm): State<Crm>, Json(b): Json<Behaviour>) -> Response {
    if let Some(f) = &crm.forward {
        return (
            StatusCode::CONFLICT,
            format!(
                "this is the recording proxy in front of the CRM at {}: it answers as that CRM does, \
                 and cannot be told how to answer",
                f.origin
            ),
        )
            .into_response();
    }
    *lock(&crm.behaviour) = b;
    StatusCode::NO_CONTENT.into_response()
}

async fn record(
    State(crm): State<Crm>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = {
        let mut list = lock(&crm.requests);
        let r = RecordedRequest {
            seq: list.len() as u64 + 1,
            at_ms: crm.started.elapsed().as_millis() as u64,
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().map(str::to_string),
            content_type: headers
                .get(axum::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            body: String::from_utf8_lossy(&body).into_owned(),
            answered: None,
        };
        list.push(r.clone());
        r
    };
    tracing::info!(target: "bluebean_sim::crm", method = %req.method, path = %req.path, query = ?req.query, "request");
    let answer = match &crm.forward {
        Some(f) => forward(f, &method, &uri, &headers, body).await,
        None => mock_answer(&crm, &req).await,
    };
    if let Some(r) = lock(&crm.requests).iter_mut().find(|r| r.seq == req.seq) {
        r.answered = Some(answer.status().as_u16());
    }
    answer
}

/// Sends the request on to the real CRM and gives back its answer; a CRM
/// that cannot be reached gets a 502 that says why.
async fn forward(
    f: &Forward,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let mut url = f.origin.clone();
    url.set_path(uri.path());
    url.set_query(uri.query());
    let method = match reqwest::Method::from_bytes(method.as_str().as_bytes()) {
        Ok(m) => m,
        Err(e) => {
            return (StatusCode::BAD_REQUEST, format!("recording proxy: {e}")).into_response();
        }
    };
    let mut req = f.client.request(method, url.clone()).body(body.to_vec());
    for (name, value) in headers {
        // Hop-by-hop headers and the proxy's own Host stay here.
        if matches!(
            name.as_str(),
            "host" | "connection" | "content-length" | "transfer-encoding" | "keep-alive"
        ) {
            continue;
        }
        if let Ok(v) = reqwest::header::HeaderValue::from_bytes(value.as_bytes()) {
            req = req.header(name.as_str(), v);
        }
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(target: "bluebean_sim::crm", %url, error = %e, "the CRM behind the recording proxy did not answer");
            return (
                StatusCode::BAD_GATEWAY,
                format!(
                    "recording proxy: the CRM at {} did not answer: {e}",
                    f.origin
                ),
            )
                .into_response();
        }
    };
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut out = Response::builder().status(status);
    for (name, value) in resp.headers() {
        if matches!(
            name.as_str(),
            "connection" | "content-length" | "transfer-encoding" | "keep-alive"
        ) {
            continue;
        }
        out = out.header(name.as_str(), value.as_bytes());
    }
    let mut body = Vec::new();
    let mut resp = resp;
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > FORWARD_LIMIT {
                    break;
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(target: "bluebean_sim::crm", %url, error = %e, "the CRM's answer broke off");
                break;
            }
        }
    }
    out.body(axum::body::Body::from(body)).unwrap_or_else(|e| {
        (StatusCode::BAD_GATEWAY, format!("recording proxy: {e}")).into_response()
    })
}

/// The mock's own answer, as its behaviour says.
async fn mock_answer(crm: &Crm, req: &RecordedRequest) -> Response {
    let b = lock(&crm.behaviour).clone();
    if b.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(b.delay_ms)).await;
    }
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let text = b
        .body
        .replace("{query}", &escape(req.query.as_deref().unwrap_or("")))
        .replace("{body}", &escape(&req.body));
    let status = StatusCode::from_u16(b.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(axum::http::header::CONTENT_TYPE, b.content_type)],
        text,
    )
        .into_response()
}

/// Binds the mock CRM on `addr` and serves it in the background; returns the bound address.
pub async fn serve(addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    serve_with(addr, None).await
}

/// Like [`serve`]; with `forward`, the recording proxy in front of the CRM
/// at that origin.
pub async fn serve_with(
    addr: SocketAddr,
    forward: Option<reqwest::Url>,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot bind the mock CRM on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router_with(forward)).await {
            tracing::error!(error = %e, "mock CRM stopped");
        }
    });
    Ok(local)
}
