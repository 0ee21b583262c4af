//! The HTTP control API (JSON) that tests, demos and QA scripts drive the
//! simulator with. Documented in `docs/simulator.md`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::outside::{OutsideCalls, PlaceError};
use crate::state::{SimState, lock};

#[derive(Clone)]
struct Api {
    state: Arc<SimState>,
    outside: OutsideCalls,
}

/// A JSON error: `{"error": "..."}` with a 4xx/5xx status.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaceCall {
    from: String,
    to: String,
}

#[derive(Deserialize)]
struct EventsQuery {
    #[serde(default)]
    since: u64,
    #[serde(default)]
    wait_ms: u64,
}

/// The API router.
pub fn router(state: Arc<SimState>, outside: OutsideCalls) -> Router {
    Router::new()
        .route("/api/health", get(|| async { Json(json!({"ok": true})) }))
        .route("/api/calls", post(place_call).get(list_calls))
        .route("/api/calls/{id}", get(get_call))
        .route("/api/calls/{id}/hangup", post(hangup))
        .route("/api/registrations", get(registrations))
        .route("/api/events", get(events))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "no such API endpoint (see docs/simulator.md)",
            )
        })
        .with_state(Api { state, outside })
}

async fn place_call(
    State(api): State<Api>,
    body: Result<Json<PlaceCall>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("request body: {e} (expected {{\"from\": \"0901…\", \"to\": \"0312…\"}})"),
            );
        }
    };
    match api.outside.place(&req.from, &req.to).await {
        Ok(view) => (StatusCode::CREATED, Json(view)).into_response(),
        Err(e @ PlaceError::UnknownLine(_)) => error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ PlaceError::NotRegistered(_)) => error(StatusCode::CONFLICT, e.to_string()),
        Err(e @ PlaceError::BadCaller(_)) => error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn list_calls(State(api): State<Api>) -> Response {
    let calls: Vec<_> = lock(&api.state.calls).values().cloned().collect();
    Json(calls).into_response()
}

async fn get_call(State(api): State<Api>, Path(id): Path<u64>) -> Response {
    match lock(&api.state.calls).get(&id) {
        Some(c) => Json(c.clone()).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no call {id}")),
    }
}

async fn hangup(State(api): State<Api>, Path(id): Path<u64>) -> Response {
    if api.outside.hangup(id).await {
        Json(json!({"ok": true})).into_response()
    } else {
        error(StatusCode::NOT_FOUND, format!("no live call {id}"))
    }
}

async fn registrations(State(api): State<Api>) -> Response {
    let now = api.state.now();
    let regs = lock(&api.state.registrar).registered(now);
    let body: Vec<_> = regs
        .into_iter()
        .map(|(ext, bindings)| {
            json!({
                "extension": ext,
                "contacts": bindings.iter().map(|b| json!({
                    "contact": b.contact,
                    "expires_in": b.expires_at.saturating_sub(now) / 1000,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(body).into_response()
}

async fn events(State(api): State<Api>, Query(q): Query<EventsQuery>) -> Response {
    let wait = Duration::from_millis(q.wait_ms.min(30_000));
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let notified = api.state.event_added.notified();
        let events = api.state.events_since(q.since);
        if !events.is_empty() || tokio::time::Instant::now() >= deadline {
            return Json(events).into_response();
        }
        let _ = tokio::time::timeout_at(deadline, notified).await;
    }
}
