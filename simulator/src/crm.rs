//! The mock CRM: an HTTP server that records every request it receives and
//! answers like a CRM popup endpoint would.
//!
//! Tests read what it received at `GET /__mock/requests` and change how it
//! behaves (status, delay, body, content type) at `POST /__mock/behaviour`, so
//! slow, failing and oddly-encoded CRMs can be staged against the real softphone.

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
}

/// The mock CRM's router.
pub fn router() -> Router {
    let crm = Crm {
        started: Instant::now(),
        requests: Arc::new(Mutex::new(Vec::new())),
        behaviour: Arc::new(Mutex::new(Behaviour::default())),
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

async fn set_behaviour(State(crm): State<Crm>, Json(b): Json<Behaviour>) -> StatusCode {
    *lock(&crm.behaviour) = b;
    StatusCode::NO_CONTENT
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
        };
        list.push(r.clone());
        r
    };
    tracing::info!(target: "bluebean_sim::crm", method = %req.method, path = %req.path, query = ?req.query, "request");
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
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot bind the mock CRM on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router()).await {
            tracing::error!(error = %e, "mock CRM stopped");
        }
    });
    Ok(local)
}
