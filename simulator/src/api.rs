//! The HTTP control API (JSON) that tests, demos, QA scripts and the
//! softphone's operator login drive the simulator with. Every endpoint, with
//! examples, is in `docs/simulator.md`.
//!
//! Errors are JSON `{"error": "..."}` with a 4xx status saying what was wrong
//! with the request (400 malformed, 401 wrong operator credentials, 403 not
//! addressed to this API or sent by a web page, 404 no such thing, 409 not
//! possible in the current state, 415 a body that is not JSON).
//!
//! The API has no authentication, so it keeps web pages out: every request
//! must name the API in `Host` (its bound address, or `localhost`, with its
//! port; any IP address when bound to all addresses), which defeats DNS
//! rebinding, and a request with an `Origin` (a browser's) is refused unless
//! that origin is the API's own. Bodies are JSON only (`application/json`
//! cannot be sent cross-origin without a CORS preflight, which the API never
//! grants).

// The extract-or-answer helpers return axum's `Response` as the error: it is
// what every handler returns anyway, and it is built once per bad request.
#![allow(clippy::result_large_err)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::acd::AcdError;
use crate::parties::{PartyError, PlaceOrRtp};
use crate::party::PartyScript;
use crate::pbx::{CallState, CallView, PlaceError};
use crate::scenario::{Scenario, parse_state};
use crate::state::SimState;

type Api = Arc<SimState>;

/// A JSON error: `{"error": "..."}` with a 4xx/5xx status.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// A numeric id from the path, or a 400.
fn num(s: &str) -> Result<u64, Response> {
    s.parse().map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            format!("'{s}' is not a numeric id"),
        )
    })
}

/// The query, or a 400 naming the bad parameter.
fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, Response> {
    q.map(|Query(v)| v)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("query: {}", e.body_text())))
}

/// The JSON body, or a 400 that shows what was expected.
fn body<T>(b: Result<Json<T>, JsonRejection>, example: &str) -> Result<T, Response> {
    b.map(|Json(v)| v).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("request body: {} (expected {example})", e.body_text()),
        )
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaceCall {
    from: String,
    to: String,
    #[serde(default)]
    script: Option<PartyScript>,
    /// Raw From/P-Asserted-Identity to present instead of `from`.
    #[serde(default)]
    identity: Option<crate::pbx::CallerIdentity>,
}

#[derive(Deserialize)]
struct EventsQuery {
    #[serde(default)]
    since: u64,
    #[serde(default)]
    wait_ms: u64,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    call: Option<u64>,
    #[serde(default)]
    limit: Option<usize>,
}

#[derive(Deserialize)]
struct CallsQuery {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

#[derive(Deserialize)]
struct LegQuery {
    #[serde(default)]
    leg: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    login_id: String,
    password: String,
    extension: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Logout {
    login_id: String,
    #[serde(default)]
    password: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetState {
    state: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Dtmf {
    digits: String,
}

/// Host and port of a `Host` header or an origin's authority; the port is
/// 80 when absent. `None` when it does not parse.
fn host_port(text: &str) -> Option<(&str, u16)> {
    let (host, port) = match text.strip_prefix('[') {
        Some(v6) => v6.split_once(']')?,
        None => match text.find(':') {
            Some(i) => text.split_at(i),
            None => (text, ""),
        },
    };
    let port = match port.strip_prefix(':') {
        Some(p) => p.parse().ok()?,
        None if port.is_empty() => 80,
        None => return None,
    };
    Some((host, port))
}

/// Whether `authority` (`host[:port]`) names the API bound at `bound`:
/// `localhost` or the bound IP address (any IP address when bound to all of
/// them), with the bound port. Other names are refused: a page on
/// `http://rebound.example:8080` whose name was re-pointed at this machine
/// must not reach the API.
pub fn names_this_api(bound: SocketAddr, authority: &str) -> bool {
    let Some((host, port)) = host_port(authority.trim()) else {
        return false;
    };
    if port != bound.port() {
        return false;
    }
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => bound.ip().is_unspecified() || ip == bound.ip(),
        Err(_) => false,
    }
}

/// How to address the API, for messages.
fn own_origin(bound: SocketAddr) -> String {
    let port = bound.port();
    if bound.ip().is_unspecified() {
        format!("http://<an address of this machine>:{port} or http://localhost:{port}")
    } else {
        format!("http://{bound} or http://localhost:{port}")
    }
}

/// Checks who a request is for and who sent it: `Host` must name this API
/// and an `Origin`, when present, must be this API's own. The refusal is a
/// status and a message.
pub fn check_caller(
    bound: SocketAddr,
    host: Option<&str>,
    origin: Option<&str>,
) -> Result<(), (StatusCode, String)> {
    let Some(host) = host else {
        return Err((
            StatusCode::BAD_REQUEST,
            format!(
                "a Host header is required; address the API as {}",
                own_origin(bound)
            ),
        ));
    };
    if !names_this_api(bound, host) {
        return Err((
            StatusCode::FORBIDDEN,
            format!(
                "Host '{}' is not this API: address it as {} (requests for other names are refused, so that a web page cannot reach the API by DNS rebinding)",
                host.escape_debug(),
                own_origin(bound)
            ),
        ));
    }
    if let Some(origin) = origin {
        let own = origin
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
            && origin
                .get(7..)
                .is_some_and(|rest| names_this_api(bound, rest.trim_end_matches('/')));
        if !own {
            return Err((
                StatusCode::FORBIDDEN,
                format!(
                    "requests from web pages are refused: Origin '{}' is not this API ({}); drive the API from a script, curl or `bluebean-sim ctl`",
                    origin.escape_debug(),
                    own_origin(bound)
                ),
            ));
        }
    }
    Ok(())
}

/// The line printed on stderr at start when the API listens beyond this
/// machine, or `None` on a loopback address.
pub fn exposure_warning(api: SocketAddr) -> Option<String> {
    (!api.ip().is_loopback()).then(|| {
        format!(
            "bluebean-sim: warning: the control API listens on {api}, beyond this machine; it has no authentication, so anyone who can reach it can place and end calls, log operators in and out and read every event. Bind it to 127.0.0.1 (--api 127.0.0.1:{}) unless that is what you want",
            api.port()
        )
    })
}

/// Middleware: [`check_caller`] before every endpoint.
async fn guard(State(bound): State<SocketAddr>, req: Request, next: Next) -> Response {
    let verdict = {
        let headers = req.headers();
        let host = headers
            .get(header::HOST)
            .map(|v| v.to_str().unwrap_or("\u{fffd}"))
            .or_else(|| req.uri().authority().map(|a| a.as_str()));
        let origin = headers
            .get(header::ORIGIN)
            .map(|v| v.to_str().unwrap_or("\u{fffd}"));
        check_caller(bound, host, origin)
    };
    match verdict {
        Ok(()) => next.run(req).await,
        Err((status, message)) => error(status, message),
    }
}

/// The API router for an API bound at `bound` (its own address, which
/// requests must name in `Host`).
pub fn router(state: Arc<SimState>, bound: SocketAddr) -> Router {
    Router::new()
        .route("/api/health", get(|| async { Json(json!({"ok": true})) }))
        .route("/api/stats", get(stats))
        .route("/api/tenant", get(tenant))
        .route("/api/calls", post(place_call).get(list_calls))
        .route("/api/calls/{id}", get(get_call))
        .route("/api/calls/{id}/hangup", post(hangup))
        .route("/api/calls/{id}/answer", post(answer))
        .route("/api/calls/{id}/dtmf", post(dtmf))
        .route("/api/calls/{id}/media", get(media))
        .route("/api/calls/{id}/recording.wav", get(recording))
        .route("/api/registrations", get(registrations))
        .route("/api/events", get(events))
        .route("/api/operators", get(operators))
        .route("/api/operators/login", post(login))
        .route("/api/operators/logout", post(logout))
        .route("/api/operators/{id}", get(operator))
        .route("/api/operators/{id}/state", put(set_state))
        .route("/api/queues", get(queues))
        .route("/api/campaigns", get(campaigns))
        .route("/api/campaigns/{id}", get(campaign))
        .route("/api/campaigns/{id}/start", post(campaign_start))
        .route("/api/campaigns/{id}/stop", post(campaign_stop))
        .route(
            "/api/parties",
            get(party_rules).post(add_party).delete(clear_parties),
        )
        .route(
            "/api/session_timer",
            get(get_session_timer).post(set_session_timer),
        )
        .route("/api/transfers", get(get_transfers).post(set_transfers))
        .route("/api/scenarios", post(start_scenario).get(list_scenarios))
        .route("/api/scenarios/{id}", get(get_scenario))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "no such API endpoint (see docs/simulator.md)",
            )
        })
        .layer(axum::middleware::from_fn_with_state(bound, guard))
        .with_state(state)
}

fn with_rtp(api: &Api, mut v: CallView) -> CallView {
    let legs: Vec<u64> = v
        .legs
        .iter()
        .filter(|l| matches!(l.endpoint, crate::pbx::Endpoint::Party(_)))
        .map(|l| l.id)
        .collect();
    v.rtp_received = api.parties.rtp_received(&legs);
    v
}

fn call_view(api: &Api, id: u64) -> Option<CallView> {
    api.read(|p, _| p.call(id)).map(|v| with_rtp(api, v))
}

async fn stats(State(api): State<Api>) -> Response {
    let (live, total, regs) = api.read(|p, now| {
        (
            p.live_calls(),
            p.calls().len(),
            p.registrar.registered(now).len(),
        )
    });
    Json(json!({
        "uptime_ms": api.now(),
        "live_calls": live,
        "calls_kept": total,
        "registered_extensions": regs,
        "inbound_guarded_datagrams": crate::sip::guarded_datagrams(),
        "last_event": api.last_seq(),
    }))
    .into_response()
}

async fn tenant(State(api): State<Api>) -> Response {
    // Passwords never leave the simulator.
    let mut t = (*api.tenant).clone();
    for e in t.extensions.values_mut() {
        e.password = "***".into();
    }
    for o in t.operators.values_mut() {
        o.password = "***".into();
    }
    Json(t).into_response()
}

async fn place_call(State(api): State<Api>, b: Result<Json<PlaceCall>, JsonRejection>) -> Response {
    let req = match body(b, r#"{"from": "09012345678", "to": "0312345678"}"#) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if let Some(s) = &req.script
        && let Err(e) = s.check()
    {
        return error(StatusCode::BAD_REQUEST, format!("script.{e}"));
    }
    if let Some(id) = &req.identity
        && let Err(e) = id.check()
    {
        return error(StatusCode::BAD_REQUEST, e);
    }
    match api
        .parties
        .place_as(&api, &req.from, &req.to, req.script, req.identity)
    {
        Ok(view) => (StatusCode::CREATED, Json(with_rtp(&api, view))).into_response(),
        Err(PlaceOrRtp::Place(e @ PlaceError::UnknownLine(_))) => {
            error(StatusCode::NOT_FOUND, e.to_string())
        }
        Err(PlaceOrRtp::Place(e @ PlaceError::NotRegistered(_))) => {
            error(StatusCode::CONFLICT, e.to_string())
        }
        Err(PlaceOrRtp::Place(e @ PlaceError::BadCaller(_))) => {
            error(StatusCode::BAD_REQUEST, e.to_string())
        }
        Err(PlaceOrRtp::Rtp(e)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot open an RTP port: {e}"),
        ),
    }
}

async fn list_calls(
    State(api): State<Api>,
    q: Result<Query<CallsQuery>, QueryRejection>,
) -> Response {
    let q = match query(q) {
        Ok(q) => q,
        Err(e) => return e,
    };
    let want = match q.state.as_deref() {
        None => None,
        Some("live") => Some(true),
        Some("ended") => Some(false),
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("state: '{other}' is not live or ended"),
            );
        }
    };
    let mut calls: Vec<CallView> = api
        .read(|p, _| p.calls())
        .into_iter()
        .filter(|c| want.is_none_or(|live| (c.state != CallState::Ended) == live))
        .collect();
    if let Some(limit) = q.limit {
        let skip = calls.len().saturating_sub(limit);
        calls.drain(..skip);
    }
    let calls: Vec<CallView> = calls.into_iter().map(|c| with_rtp(&api, c)).collect();
    Json(calls).into_response()
}

async fn get_call(State(api): State<Api>, Path(id): Path<String>) -> Response {
    let id = match num(&id) {
        Ok(i) => i,
        Err(e) => return e,
    };
    match call_view(&api, id) {
        Some(c) => Json(c).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no call {id}")),
    }
}

async fn hangup(State(api): State<Api>, Path(id): Path<String>) -> Response {
    let id = match num(&id) {
        Ok(i) => i,
        Err(e) => return e,
    };
    // A simulated caller hangs up itself; other calls are ended by the server.
    if api.parties.hangup(&api, id).is_ok() || api.with(|p, now| p.hangup_call(id, now)) {
        Json(json!({"ok": true})).into_response()
    } else {
        error(StatusCode::NOT_FOUND, format!("no live call {id}"))
    }
}

fn party_error(e: PartyError) -> Response {
    error(StatusCode::CONFLICT, e.to_string())
}

async fn answer(State(api): State<Api>, Path(id): Path<String>) -> Response {
    let id = match num(&id) {
        Ok(i) => i,
        Err(e) => return e,
    };
    if call_view(&api, id).is_none() {
        return error(StatusCode::NOT_FOUND, format!("no call {id}"));
    }
    match api.parties.answer(&api, id) {
        Ok(()) => Json(json!({"ok": true})).into_response(),
        Err(e) => party_error(e),
    }
}

async fn dtmf(
    State(api): State<Api>,
    Path(id): Path<String>,
    b: Result<Json<Dtmf>, JsonRejection>,
) -> Response {
    let id = match num(&id) {
        Ok(i) => i,
        Err(e) => return e,
    };
    let req = match body(b, r#"{"digits": "123#"}"#) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if req.digits.is_empty()
        || req
            .digits
            .chars()
            .any(|c| crate::party::dtmf_event(c).is_none())
    {
        return error(
            StatusCode::BAD_REQUEST,
            format!("digits: '{}' is not DTMF (0-9 * # A-D)", req.digits),
        );
    }
    if call_view(&api, id).is_none() {
        return error(StatusCode::NOT_FOUND, format!("no call {id}"));
    }
    match api.parties.dtmf(&api, id, &req.digits) {
        Ok(()) => Json(json!({"ok": true})).into_response(),
        Err(e) => party_error(e),
    }
}

async fn media(State(api): State<Api>, Path(id): Path<String>) -> Response {
    let id = match num(&id) {
        Ok(i) => i,
        Err(e) => return e,
    };
    if call_view(&api, id).is_none() {
        return error(StatusCode::NOT_FOUND, format!("no call {id}"));
    }
    Json(api.parties.views(&api, id)).into_response()
}

async fn recording(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: Result<Query<LegQuery>, QueryRejection>,
) -> Response {
    let q = match query(q) {
        Ok(q) => q,
        Err(e) => return e,
    };
    let id = match num(&id) {
        Ok(i) => i,
        Err(e) => return e,
    };
    let legs = api.read(|p, _| p.party_legs(id));
    if call_view(&api, id).is_none() {
        return error(StatusCode::NOT_FOUND, format!("no call {id}"));
    }
    let leg = match q.leg {
        Some(l) if legs.contains(&l) => l,
        Some(l) => {
            return error(
                StatusCode::NOT_FOUND,
                format!("leg {l} is not a simulated party of call {id} (parties: {legs:?})"),
            );
        }
        None => match legs.first() {
            Some(l) => *l,
            None => {
                return error(
                    StatusCode::NOT_FOUND,
                    format!("call {id} has no simulated party, so nothing was recorded"),
                );
            }
        },
    };
    let Some(samples) = api.parties.recording(leg) else {
        return error(StatusCode::NOT_FOUND, format!("no recording for leg {leg}"));
    };
    match crate::media::wav_bytes(&samples) {
        Ok(bytes) => ([(header::CONTENT_TYPE, "audio/wav")], bytes).into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot write the WAV: {e}"),
        ),
    }
}

async fn registrations(State(api): State<Api>) -> Response {
    let body: Vec<_> = api.read(|p, now| {
        p.registrar
            .registered(now)
            .into_iter()
            .map(|(ext, bindings)| {
                json!({
                    "extension": ext,
                    "contacts": bindings.iter().map(|b| json!({
                        "contact": b.contact,
                        "expires_in": b.expires_at.saturating_sub(now) / 1000,
                        "source": b.source.to_string(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect()
    });
    Json(body).into_response()
}

async fn events(State(api): State<Api>, q: Result<Query<EventsQuery>, QueryRejection>) -> Response {
    let q = match query(q) {
        Ok(q) => q,
        Err(e) => return e,
    };
    let wait = Duration::from_millis(q.wait_ms.min(30_000));
    let deadline = tokio::time::Instant::now() + wait;
    let limit = q.limit.unwrap_or(10_000).min(100_000);
    let mut since = q.since;
    loop {
        let notified = api.event_added.notified();
        let batch = api.events_since(since, limit);
        let seen = batch.last().map(|e| e.seq);
        let matching: Vec<_> = batch
            .into_iter()
            .filter(|e| q.kind.as_deref().is_none_or(|k| e.kind == k))
            .filter(|e| q.call.is_none_or(|c| e.call == Some(c)))
            .collect();
        if !matching.is_empty() || tokio::time::Instant::now() >= deadline {
            return Json(matching).into_response();
        }
        if let Some(s) = seen {
            since = s;
        }
        let _ = tokio::time::timeout_at(deadline, notified).await;
    }
}

fn acd_error(e: AcdError) -> Response {
    let status = match e {
        AcdError::BadPassword(_) => StatusCode::UNAUTHORIZED,
        AcdError::UnknownOperator(_) => StatusCode::UNAUTHORIZED,
        AcdError::UnknownExtension(_) => StatusCode::NOT_FOUND,
        AcdError::ExtensionTaken { .. } | AcdError::NotLoggedIn(_) | AcdError::OnCall(_) => {
            StatusCode::CONFLICT
        }
        AcdError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
    };
    // Login failures do not say whether the ID or the password was wrong.
    let msg = match e {
        AcdError::BadPassword(id) | AcdError::UnknownOperator(id) => {
            format!("login ID '{id}' or its password is wrong")
        }
        other => other.to_string(),
    };
    error(status, msg)
}

async fn operators(State(api): State<Api>) -> Response {
    Json(api.read(|p, now| p.operators(now))).into_response()
}

async fn operator(State(api): State<Api>, Path(id): Path<String>) -> Response {
    match api.read(|p, now| p.operator(&id, now)) {
        Some(o) => Json(o).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no operator '{id}'")),
    }
}

async fn login(State(api): State<Api>, b: Result<Json<Login>, JsonRejection>) -> Response {
    let req = match body(
        b,
        r#"{"login_id": "op1910", "password": "…", "extension": "1910"}"#,
    ) {
        Ok(r) => r,
        Err(e) => return e,
    };
    match api.with(|p, now| p.operator_login(&req.login_id, &req.password, &req.extension, now)) {
        Ok(()) => {
            let op = api.read(|p, now| p.operator(&req.login_id, now));
            Json(json!({"operator": op})).into_response()
        }
        Err(e) => acd_error(e),
    }
}

async fn logout(State(api): State<Api>, b: Result<Json<Logout>, JsonRejection>) -> Response {
    let req = match body(b, r#"{"login_id": "op1910", "password": "…"}"#) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if let Some(pw) = &req.password
        && let Err(e) = api.read(|p, _| p.operator_check(&req.login_id, pw))
    {
        return acd_error(e);
    }
    match api.with(|p, now| p.operator_logout(&req.login_id, now)) {
        Ok(()) => {
            let op = api.read(|p, now| p.operator(&req.login_id, now));
            Json(json!({"operator": op})).into_response()
        }
        Err(AcdError::UnknownOperator(id)) => {
            error(StatusCode::NOT_FOUND, format!("no operator '{id}'"))
        }
        Err(e) => acd_error(e),
    }
}

async fn set_state(
    State(api): State<Api>,
    Path(id): Path<String>,
    b: Result<Json<SetState>, JsonRejection>,
) -> Response {
    let req = match body(b, r#"{"state": "available"}"#) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let Some(want) = parse_state(&req.state) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "state: '{}' is not available, not_available or after_call_work",
                req.state
            ),
        );
    };
    match api.with(|p, now| p.operator_state(&id, want, now)) {
        Ok(()) => {
            let op = api.read(|p, now| p.operator(&id, now));
            Json(json!({"operator": op})).into_response()
        }
        Err(AcdError::UnknownOperator(id)) => {
            error(StatusCode::NOT_FOUND, format!("no operator '{id}'"))
        }
        Err(e) => acd_error(e),
    }
}

async fn queues(State(api): State<Api>) -> Response {
    Json(api.read(|p, _| p.queues())).into_response()
}

async fn campaigns(State(api): State<Api>) -> Response {
    Json(api.read(|p, _| p.campaigns())).into_response()
}

async fn campaign(State(api): State<Api>, Path(id): Path<String>) -> Response {
    match api.read(|p, _| p.campaign(&id)) {
        Some(c) => Json(c).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no campaign '{id}'")),
    }
}

async fn campaign_start(State(api): State<Api>, Path(id): Path<String>) -> Response {
    match api.with(|p, now| p.campaign_start(&id, now)) {
        Ok(()) => Json(api.read(|p, _| p.campaign(&id))).into_response(),
        Err(e) => error(StatusCode::NOT_FOUND, e.to_string()),
    }
}

async fn campaign_stop(State(api): State<Api>, Path(id): Path<String>) -> Response {
    match api.with(|p, now| p.campaign_stop(&id, now)) {
        Ok(()) => Json(api.read(|p, _| p.campaign(&id))).into_response(),
        Err(e) => error(StatusCode::NOT_FOUND, e.to_string()),
    }
}

async fn party_rules(State(api): State<Api>) -> Response {
    Json(json!({
        "api_rules": api.parties.rules(),
        "tenant_rules": api.tenant.parties,
        "default": api.tenant.default_party,
    }))
    .into_response()
}

async fn add_party(
    State(api): State<Api>,
    b: Result<Json<PartyScript>, JsonRejection>,
) -> Response {
    let rule = match body(b, r#"{"number": "0120*", "reject": 486}"#) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if rule.number.as_deref().is_none_or(str::is_empty) {
        return error(
            StatusCode::BAD_REQUEST,
            "number: a rule needs a number pattern (e.g. \"0120*\")",
        );
    }
    if let Err(e) = rule.check() {
        return error(StatusCode::BAD_REQUEST, e);
    }
    api.parties.add_rule(rule);
    (
        StatusCode::CREATED,
        Json(json!({"api_rules": api.parties.rules()})),
    )
        .into_response()
}

/// `GET`/`POST /api/transfers`: how the simulator ends attended transfers.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferSettings {
    /// See `[sip] transferor_hangs_up`.
    transferor_hangs_up: bool,
}

async fn get_transfers(State(api): State<Api>) -> Response {
    Json(TransferSettings {
        transferor_hangs_up: api.read(|p, _| p.transferor_hangs_up()),
    })
    .into_response()
}

async fn set_transfers(
    State(api): State<Api>,
    b: Result<Json<TransferSettings>, JsonRejection>,
) -> Response {
    let t = match body(b, r#"{"transferor_hangs_up": true}"#) {
        Ok(t) => t,
        Err(e) => return e,
    };
    api.with(|p, _| p.set_transferor_hangs_up(t.transferor_hangs_up));
    Json(t).into_response()
}

async fn get_session_timer(State(api): State<Api>) -> Response {
    Json(api.read(|p, _| p.session_timer())).into_response()
}

/// Session timers (RFC 4028) from now on: `{"session_expires": 90,
/// "refresher": "extension"|"simulator", "refresh": "normal"|"never"}`.
async fn set_session_timer(
    State(api): State<Api>,
    b: Result<Json<crate::tenant::SessionTimerSettings>, JsonRejection>,
) -> Response {
    let st = match body(
        b,
        r#"{"session_expires": 90, "refresher": "extension", "refresh": "normal"}"#,
    ) {
        Ok(r) => r,
        Err(e) => return e,
    };
    match api.with(|p, now| p.set_session_timer(st, now)) {
        Ok(()) => Json(st).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

async fn clear_parties(State(api): State<Api>) -> Response {
    api.parties.clear_rules();
    StatusCode::NO_CONTENT.into_response()
}

/// Whether a `Content-Type` value is JSON (`application/json`, any parameters).
fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

async fn start_scenario(State(api): State<Api>, headers: HeaderMap, raw: Bytes) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !is_json(content_type) {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "the scenario must be JSON sent with Content-Type: application/json (got {}); for a TOML scenario file use `bluebean-sim ctl scenario FILE`, which sends it as JSON, or `bluebean-sim --scenario FILE`",
                content_type.map_or("no Content-Type".to_string(), |c| format!(
                    "'{}'",
                    c.escape_debug()
                ))
            ),
        );
    }
    let parsed = std::str::from_utf8(&raw)
        .map_err(|e| format!("scenario (JSON): the body is not UTF-8 ({e})"))
        .and_then(|text| {
            serde_json::from_str::<Scenario>(text).map_err(|e| format!("scenario (JSON): {e}"))
        })
        .and_then(|s| s.check().map(|()| s).map_err(|e| format!("scenario: {e}")));
    match parsed {
        Ok(s) => {
            let id = api.scenarios.start(&api, s);
            (StatusCode::ACCEPTED, Json(json!({"id": id}))).into_response()
        }
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

async fn list_scenarios(State(api): State<Api>) -> Response {
    Json(api.scenarios.all()).into_response()
}

async fn get_scenario(State(api): State<Api>, Path(id): Path<String>) -> Response {
    let id = match num(&id) {
        Ok(i) => i,
        Err(e) => return e,
    };
    match api.scenarios.status(id) {
        Some(s) => Json(s).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no scenario {id}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> SocketAddr {
        s.parse().expect("literal")
    }

    #[test]
    fn host_must_name_this_api() {
        let bound = at("127.0.0.1:8080");
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LocalHost:8080",
            " 127.0.0.1:8080 ",
        ] {
            assert!(names_this_api(bound, ok), "{ok}");
        }
        for refused in [
            "rebound.example:8080",
            "127.0.0.1:8081",
            "127.0.0.1",
            "localhost",
            "10.0.0.1:8080",
            "[::1]:8080",
            "127.0.0.1:8080:1",
            "127.0.0.1:",
            "",
            "localhost.:8080",
        ] {
            assert!(!names_this_api(bound, refused), "{refused}");
        }
        // Bound to every address: any address of the machine, never a name.
        let all = at("0.0.0.0:8080");
        assert!(names_this_api(all, "192.168.1.20:8080"));
        assert!(names_this_api(all, "[fe80::1]:8080"));
        assert!(!names_this_api(all, "rebound.example:8080"));
        assert!(names_this_api(at("[::1]:80"), "[::1]"));
    }

    #[test]
    fn web_pages_are_refused_with_a_message() {
        let bound = at("127.0.0.1:8080");
        assert_eq!(check_caller(bound, Some("127.0.0.1:8080"), None), Ok(()));
        assert_eq!(
            check_caller(bound, Some("localhost:8080"), Some("http://localhost:8080")),
            Ok(())
        );
        assert_eq!(
            check_caller(
                bound,
                Some("127.0.0.1:8080"),
                Some("http://127.0.0.1:8080/")
            ),
            Ok(())
        );
        for origin in [
            "http://evil.example",
            "https://127.0.0.1:8080",
            "http://127.0.0.1:3000",
            "null",
            "http://127.0.0.1:8080.evil.example",
        ] {
            let (status, msg) =
                check_caller(bound, Some("127.0.0.1:8080"), Some(origin)).expect_err(origin);
            assert_eq!(status, StatusCode::FORBIDDEN, "{origin}");
            assert!(
                msg.contains("requests from web pages are refused")
                    && msg.contains(origin)
                    && msg.contains("http://127.0.0.1:8080"),
                "{msg}"
            );
        }
        let (status, msg) =
            check_caller(bound, Some("rebound.example:8080"), None).expect_err("refused");
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(
            msg.contains("DNS rebinding") && msg.contains("localhost:8080"),
            "{msg}"
        );
        let (status, _) = check_caller(bound, None, None).expect_err("refused");
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn only_json_bodies() {
        assert!(is_json(Some("application/json")));
        assert!(is_json(Some("Application/JSON; charset=utf-8")));
        for other in [
            None,
            Some("text/plain"),
            Some("application/toml"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            Some("text/json"),
            Some("application/jsonp"),
        ] {
            assert!(!is_json(other), "{other:?}");
        }
    }

    #[test]
    fn binding_beyond_loopback_is_warned_about() {
        assert_eq!(exposure_warning(at("127.0.0.1:8080")), None);
        assert_eq!(exposure_warning(at("[::1]:8080")), None);
        for addr in ["0.0.0.0:8080", "192.168.1.20:8080", "[::]:8080"] {
            let w = exposure_warning(at(addr)).expect(addr);
            assert!(
                w.starts_with("bluebean-sim: warning: the control API listens on")
                    && w.contains("--api 127.0.0.1:8080"),
                "{w}"
            );
        }
    }
}
