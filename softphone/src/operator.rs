//! The BlueBean operator login (ACD-1): the session the softphone keeps
//! with the server's operator API, and the HTTP client that talks to it.
//!
//! Two parts, like the rest of the softphone. [`Session`] is pure: it knows
//! whether the operator is logged in, as whom, and what the server last
//! said; it turns a `login`/`logout` request into an [`ApiCall`] and the
//! API's answer into the new state, the `operator` event and the reply.
//! [`OperatorApi`] is the thin reqwest client that performs an [`ApiCall`]
//! with a time limit. The app loop ([`crate::app`]) runs the calls in their
//! own tasks, so a slow server never holds up signalling.
//!
//! # The API (see `docs/simulator.md`, "Operator login contract")
//!
//! ```text
//! POST {api_url}/api/operators/login   {"login_id","password","extension"}  → 200 {"operator":{…}} | 401/404/409 {"error"}
//! POST {api_url}/api/operators/logout  {"login_id","password"}              → 200 {"operator":{…}} | 401/404/409 {"error"}
//! GET  {api_url}/api/operators/{id}                                         → 200 {…operator…}
//! PUT  {api_url}/api/operators/{id}/state  {"state"}                        → 200 {"operator":{…}} | 404/409 {"error"}
//! ```
//!
//! # Decisions
//!
//! * No `[operator] api_url`, no login: `login` and `logout` are refused
//!   with `operator login is not available: no operator API configured: set
//!   [operator] api_url in FILE …`. There is no guessed default (the SIP
//!   server's host is not necessarily the API's).
//! * A refused login (401, 404, 409…) leaves a session that was logged in
//!   as it was (the server did not change it) and a logged-out one in
//!   `login_failed`; either way an `operator` event `login_failed` carries
//!   the server's reason.
//! * `logout` answered 409 `not logged in` ends the session too: the
//!   server says there is nothing to end.
//! * The password never reaches a log, an event or a reply: it is kept as
//!   a [`Secret`] and only serialised into the request body.

use std::time::Duration;

use bb_cti::{OperatorLogin, Secret};
use bb_verbs::wire::{Event, EventKind, OperatorState};
use serde::{Deserialize, Serialize};

/// The largest answer body the operator API may send (the CRM popup has
/// its own cap, `bb_cti`'s `max_body`).
pub const API_BODY_LIMIT: usize = 64 * 1024;

/// What the server says about an operator (the fields we use; others are
/// ignored).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct ServerOperator {
    /// The login ID.
    #[serde(default)]
    pub login_id: String,
    /// `available`, `not_available`, `after_call_work`, `offered`, `busy`,
    /// `logged_out`.
    #[serde(default)]
    pub state: String,
    /// The extension the operator sits at.
    #[serde(default)]
    pub extension: Option<String>,
}

/// One request to the operator API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiCall {
    /// Log in at `extension`.
    Login {
        /// The login ID.
        login_id: String,
        /// The password.
        password: Secret<String>,
        /// Our extension.
        extension: String,
    },
    /// Log out.
    Logout {
        /// The login ID.
        login_id: String,
        /// The password (the server checks it when given).
        password: Secret<String>,
    },
    /// Read the operator's state.
    Get {
        /// The login ID.
        login_id: String,
    },
    /// Set the operator's ACD state: `not_available` under do not
    /// disturb, `available` when it ends.
    SetState {
        /// The login ID.
        login_id: String,
        /// The state word.
        state: &'static str,
    },
}

/// Why an API call did not succeed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The server answered with an error status.
    #[error("the BlueBean server refused (HTTP {status}): {reason}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The server's `error` text, or the status line.
        reason: String,
    },
    /// No answer: connection refused, DNS, TLS, or the time limit.
    #[error(
        "cannot reach the BlueBean operator API at {url}: {detail} (is the server running? check [operator] api_url)"
    )]
    Unreachable {
        /// The URL asked.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// A 2xx whose body is not the expected JSON.
    #[error("the BlueBean operator API at {url} answered something unexpected: {detail}")]
    BadAnswer {
        /// The URL asked.
        url: String,
        /// What was wrong.
        detail: String,
    },
}

/// The operator session (pure).
#[derive(Clone, Debug)]
pub struct Session {
    /// The configured login (`[operator]`): the defaults for `login`, and
    /// `%OpId%`/`%OpPW%` while nobody is logged in.
    configured: OperatorLogin,
    /// Our extension.
    extension: String,
    /// Whether an API is configured.
    api_configured: bool,
    /// The settings file, for messages.
    settings_path: String,
    state: OperatorState,
    /// Who is logged in (or last tried).
    login_id: Option<String>,
    /// The password of the logged-in operator.
    password: Secret<String>,
    /// What the server last said about the operator.
    server: Option<ServerOperator>,
    /// The reason of the last failure.
    reason: Option<String>,
    /// A login or logout is on its way.
    busy: bool,
}

/// A finished login or logout: what to publish and what to answer.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The `operator` event to publish, if the state changed or a login
    /// failed.
    pub event: Option<Event>,
    /// The reply to the verb.
    pub reply: Result<Option<serde_json::Value>, String>,
    /// The login behind `%OpId%`/`%OpPW%` from now on, when it changed.
    pub hooks_login: Option<OperatorLogin>,
}

fn state_word(s: OperatorState) -> &'static str {
    match s {
        OperatorState::LoggedIn => "logged_in",
        OperatorState::LoggedOut => "logged_out",
        OperatorState::LoginFailed => "login_failed",
    }
}

impl Session {
    /// A logged-out session. `configured` is `[operator]`'s login,
    /// `extension` our SIP user.
    pub fn new(
        configured: OperatorLogin,
        extension: &str,
        api_configured: bool,
        settings_path: &std::path::Path,
    ) -> Session {
        Session {
            configured,
            extension: extension.trim().to_string(),
            api_configured,
            settings_path: settings_path.display().to_string(),
            state: OperatorState::LoggedOut,
            login_id: None,
            password: Secret::new(String::new()),
            server: None,
            reason: None,
            busy: false,
        }
    }

    /// Takes saved settings (WEB-7): the configured login, our extension
    /// and whether an API is configured, for the next login. A logged-in
    /// operator stays logged in. Returns the login behind
    /// `%OpId%`/`%OpPW%` from now on.
    pub fn reconfigure(
        &mut self,
        configured: OperatorLogin,
        extension: &str,
        api_configured: bool,
        settings_path: &std::path::Path,
    ) -> OperatorLogin {
        self.configured = configured;
        self.extension = extension.trim().to_string();
        self.api_configured = api_configured;
        self.settings_path = settings_path.display().to_string();
        self.hooks_login()
    }

    /// The current state.
    pub fn state(&self) -> OperatorState {
        self.state
    }

    /// The logged-in operator's ID.
    pub fn logged_in_as(&self) -> Option<&str> {
        (self.state == OperatorState::LoggedIn)
            .then_some(self.login_id.as_deref())
            .flatten()
    }

    /// Starts a login: the API call to make, or why not. `login_id` and
    /// `password` default to the configured ones.
    pub fn begin_login(
        &mut self,
        login_id: Option<&str>,
        password: Option<&str>,
    ) -> Result<ApiCall, String> {
        self.check_ready()?;
        let login_id = login_id
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .or_else(|| Some(self.configured.id.trim()).filter(|s| !s.is_empty()))
            .ok_or_else(|| {
                format!(
                    "no operator login ID: give one ('bbclient login ID') or set [operator] login_id in {}",
                    self.settings_path
                )
            })?
            .to_string();
        let password = match password.filter(|p| !p.is_empty()) {
            Some(p) => p.to_string(),
            None if !self.configured.password.expose().is_empty() => {
                self.configured.password.expose().clone()
            }
            None => {
                return Err(format!(
                    "no operator password: pipe it in ('bbclient login {login_id} --password-stdin') or set [operator] password in {}",
                    self.settings_path
                ));
            }
        };
        self.busy = true;
        Ok(ApiCall::Login {
            login_id,
            password: Secret::new(password),
            extension: self.extension.clone(),
        })
    }

    /// Starts a logout: the API call to make, or why not.
    pub fn begin_logout(&mut self) -> Result<ApiCall, String> {
        self.check_ready()?;
        let Some(login_id) = self.logged_in_as().map(str::to_owned) else {
            return Err("no operator is logged in on this softphone".into());
        };
        self.busy = true;
        Ok(ApiCall::Logout {
            login_id,
            password: self.password.clone(),
        })
    }

    /// The logout to make at shutdown, if someone is logged in.
    pub fn shutdown_logout(&self) -> Option<ApiCall> {
        self.logged_in_as().map(|id| ApiCall::Logout {
            login_id: id.to_string(),
            password: self.password.clone(),
        })
    }

    fn check_ready(&self) -> Result<(), String> {
        if !self.api_configured {
            return Err(format!(
                "operator login is not available: no operator API configured: set [operator] api_url in {} (e.g. api_url = \"http://127.0.0.1:8080\")",
                self.settings_path
            ));
        }
        if self.busy {
            return Err(
                "an operator login or logout is already in progress; try again when it has finished"
                    .into(),
            );
        }
        Ok(())
    }

    fn event(&self, reason: Option<String>) -> Event {
        Event::new(EventKind::Operator {
            state: self.state,
            login_id: self.login_id.clone(),
            reason,
        })
    }

    fn hooks_login(&self) -> OperatorLogin {
        match self.logged_in_as() {
            Some(id) => OperatorLogin {
                id: id.to_string(),
                password: self.password.clone(),
            },
            None => self.configured.clone(),
        }
    }

    /// The answer to a login or logout [`ApiCall`] from
    /// [`Session::begin_login`] / [`Session::begin_logout`].
    pub fn finish(&mut self, call: &ApiCall, answer: Result<ServerOperator, ApiError>) -> Outcome {
        if matches!(call, ApiCall::Login { .. } | ApiCall::Logout { .. }) {
            self.busy = false;
        }
        match (call, answer) {
            (
                ApiCall::Login {
                    login_id, password, ..
                },
                Ok(server),
            ) => {
                self.state = OperatorState::LoggedIn;
                self.login_id = Some(login_id.clone());
                self.password = password.clone();
                self.reason = None;
                self.server = Some(server);
                Outcome {
                    event: Some(self.event(None)),
                    reply: Ok(Some(self.status())),
                    hooks_login: Some(self.hooks_login()),
                }
            }
            (ApiCall::Login { login_id, .. }, Err(e)) => {
                let reason = match &e {
                    ApiError::Refused { status, reason } => {
                        format!(
                            "login as '{login_id}' refused by the BlueBean server (HTTP {status}): {reason}"
                        )
                    }
                    other => format!("login as '{login_id}' failed: {other}"),
                };
                let was_logged_in = self.state == OperatorState::LoggedIn;
                let event = Event::new(EventKind::Operator {
                    state: OperatorState::LoginFailed,
                    login_id: Some(login_id.clone()),
                    reason: Some(reason.clone()),
                });
                if !was_logged_in {
                    self.state = OperatorState::LoginFailed;
                    self.login_id = Some(login_id.clone());
                    self.server = None;
                }
                self.reason = Some(reason.clone());
                Outcome {
                    event: Some(event),
                    reply: Err(reason),
                    hooks_login: None,
                }
            }
            (ApiCall::Logout { .. }, answer) => {
                let ended = match &answer {
                    Ok(_) => true,
                    // The server says there is nothing to end.
                    Err(ApiError::Refused { status: 409, .. }) => true,
                    Err(_) => false,
                };
                if !ended {
                    let reason = match answer {
                        Err(e) => format!("logout failed: {e}"),
                        Ok(_) => "logout failed".to_string(),
                    };
                    self.reason = Some(reason.clone());
                    return Outcome {
                        event: None,
                        reply: Err(reason),
                        hooks_login: None,
                    };
                }
                self.state = OperatorState::LoggedOut;
                self.password = Secret::new(String::new());
                self.reason = None;
                self.server = answer.ok();
                Outcome {
                    event: Some(self.event(None)),
                    reply: Ok(Some(self.status())),
                    hooks_login: Some(self.hooks_login()),
                }
            }
            (ApiCall::SetState { state, .. }, answer) => {
                let reply = match answer {
                    Ok(server) => {
                        self.server = Some(server);
                        Ok(Some(self.status()))
                    }
                    Err(e) => Err(format!("setting the operator state to {state} failed: {e}")),
                };
                Outcome {
                    event: None,
                    reply,
                    hooks_login: None,
                }
            }
            (ApiCall::Get { .. }, answer) => {
                if let Ok(server) = answer {
                    self.server = Some(server);
                }
                Outcome {
                    event: None,
                    reply: Ok(Some(self.status())),
                    hooks_login: None,
                }
            }
        }
    }

    /// The ACD state change that do not disturb asks for (`on`: not
    /// available), when an operator is logged in.
    pub fn dnd_state(&self, on: bool) -> Option<ApiCall> {
        self.logged_in_as().map(|id| ApiCall::SetState {
            login_id: id.to_string(),
            state: if on { "not_available" } else { "available" },
        })
    }

    /// Takes a fresh server view (from a `status` refresh).
    pub fn note_server(&mut self, server: ServerOperator) {
        if self.logged_in_as() == Some(server.login_id.as_str()) {
            self.server = Some(server);
        }
    }

    /// The `operator` part of `status`: `state`, and when known `login_id`,
    /// `server_state`, `extension`, `reason`; `api` says whether an API is
    /// configured. Never the password.
    pub fn status(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "state": state_word(self.state),
            "api": self.api_configured,
        });
        if let Some(id) = &self.login_id {
            v["login_id"] = id.clone().into();
        }
        if let Some(s) = &self.server {
            v["server_state"] = s.state.clone().into();
            if let Some(e) = &s.extension {
                v["extension"] = e.clone().into();
            }
        }
        if let Some(r) = &self.reason {
            v["reason"] = r.clone().into();
        }
        v
    }
}

/// The HTTP client of the operator API.
#[derive(Clone, Debug)]
pub struct OperatorApi {
    base: reqwest::Url,
    http: reqwest::Client,
    timeout: Duration,
}

#[derive(Serialize)]
struct LoginBody<'a> {
    login_id: &'a str,
    password: &'a str,
    extension: &'a str,
}

#[derive(Serialize)]
struct LogoutBody<'a> {
    login_id: &'a str,
    password: &'a str,
}

#[derive(Deserialize)]
struct Wrapped {
    operator: ServerOperator,
}

impl OperatorApi {
    /// A client for the API at `base` (`http://host:port`), each request
    /// limited to `timeout`.
    pub fn new(base: reqwest::Url, timeout: Duration) -> OperatorApi {
        // The whole request is bounded by `perform`'s own limit, which says
        // so in its message; connecting is bounded here too.
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("bbclient/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        OperatorApi {
            base,
            http,
            timeout,
        }
    }

    /// The API's base URL.
    pub fn base(&self) -> &reqwest::Url {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        let base = self.base.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }

    /// Performs one call with a shorter limit than the configured one when
    /// `limit` is given (shutdown, status refresh).
    pub async fn perform(
        &self,
        call: &ApiCall,
        limit: Option<Duration>,
    ) -> Result<ServerOperator, ApiError> {
        let limit = limit.map_or(self.timeout, |l| l.min(self.timeout));
        let (url, request, wrapped) = match call {
            ApiCall::Login {
                login_id,
                password,
                extension,
            } => {
                let url = self.url("/api/operators/login");
                let req = self.http.post(&url).json(&LoginBody {
                    login_id,
                    password: password.expose(),
                    extension,
                });
                (url, req, true)
            }
            ApiCall::Logout { login_id, password } => {
                let url = self.url("/api/operators/logout");
                let req = self.http.post(&url).json(&LogoutBody {
                    login_id,
                    password: password.expose(),
                });
                (url, req, true)
            }
            ApiCall::Get { login_id } => {
                let encoded: String = url_path_segment(login_id);
                let url = self.url(&format!("/api/operators/{encoded}"));
                (url.clone(), self.http.get(&url), false)
            }
            ApiCall::SetState { login_id, state } => {
                let encoded: String = url_path_segment(login_id);
                let url = self.url(&format!("/api/operators/{encoded}/state"));
                let req = self
                    .http
                    .put(&url)
                    .json(&serde_json::json!({ "state": state }));
                (url, req, true)
            }
        };
        let work = async {
            let resp = request.send().await.map_err(|e| ApiError::Unreachable {
                url: url.clone(),
                detail: describe(e),
            })?;
            let status = resp.status();
            // Read at most API_BODY_LIMIT: an operator record is a few
            // hundred bytes; a server that sends more is not an operator API.
            let mut resp = resp;
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| ApiError::Unreachable {
                url: url.clone(),
                detail: describe(e),
            })? {
                if body.len() + chunk.len() > API_BODY_LIMIT {
                    return Err(ApiError::BadAnswer {
                        url: url.clone(),
                        detail: format!(
                            "HTTP {} with a body over {} KiB; an operator answer is far smaller",
                            status.as_u16(),
                            API_BODY_LIMIT / 1024
                        ),
                    });
                }
                body.extend_from_slice(&chunk);
            }
            if !status.is_success() {
                let reason = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                    .map(|r| one_line(&r))
                    .unwrap_or_else(|| {
                        status
                            .canonical_reason()
                            .unwrap_or("no reason given")
                            .to_lowercase()
                    });
                return Err(ApiError::Refused {
                    status: status.as_u16(),
                    reason,
                });
            }
            let parsed = if wrapped {
                serde_json::from_slice::<Wrapped>(&body).map(|w| w.operator)
            } else {
                serde_json::from_slice::<ServerOperator>(&body)
            };
            parsed.map_err(|e| ApiError::BadAnswer {
                url: url.clone(),
                detail: format!(
                    "HTTP {} with a body that is not an operator: {e}",
                    status.as_u16()
                ),
            })
        };
        match tokio::time::timeout(limit, work).await {
            Ok(r) => r,
            Err(_) => Err(ApiError::Unreachable {
                url,
                detail: format!("no answer within {} ms", limit.as_millis()),
            }),
        }
    }
}

/// A login ID as one URL path segment.
fn url_path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// At most 300 characters, one line.
fn one_line(s: &str) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    flat.trim().to_string()
}

/// A reqwest error with its causes, without its URL (said separately).
fn describe(e: reqwest::Error) -> String {
    let timed_out = e.is_timeout();
    let e = e.without_url();
    let mut s = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    if timed_out {
        s.push_str(" (timed out)");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(api: bool) -> Session {
        Session::new(
            OperatorLogin {
                id: "op1910".into(),
                password: Secret::new("op-secret".into()),
            },
            "1910",
            api,
            std::path::Path::new("/x/bbclient.toml"),
        )
    }

    fn server(id: &str, state: &str) -> ServerOperator {
        ServerOperator {
            login_id: id.into(),
            state: state.into(),
            extension: Some("1910".into()),
        }
    }

    #[test]
    fn without_an_api_login_is_refused_with_the_fix() {
        let mut s = session(false);
        let e = s.begin_login(None, None).unwrap_err();
        assert_eq!(
            e,
            "operator login is not available: no operator API configured: set [operator] api_url in /x/bbclient.toml (e.g. api_url = \"http://127.0.0.1:8080\")"
        );
        assert_eq!(s.state(), OperatorState::LoggedOut);
    }

    #[test]
    fn login_uses_the_configured_values_unless_given() {
        let mut s = session(true);
        let call = s.begin_login(None, None).unwrap();
        assert_eq!(
            call,
            ApiCall::Login {
                login_id: "op1910".into(),
                password: Secret::new("op-secret".into()),
                extension: "1910".into()
            }
        );
        assert!(
            s.begin_login(None, None)
                .unwrap_err()
                .contains("already in progress")
        );
        let out = s.finish(&call, Ok(server("op1910", "available")));
        assert_eq!(s.state(), OperatorState::LoggedIn);
        assert_eq!(
            out.event,
            Some(Event::new(EventKind::Operator {
                state: OperatorState::LoggedIn,
                login_id: Some("op1910".into()),
                reason: None
            }))
        );
        let status = out.reply.unwrap().unwrap();
        assert_eq!(status["server_state"], "available");
        assert!(!status.to_string().contains("op-secret"));

        let mut s = session(true);
        let call = s.begin_login(Some("op1911"), Some("pw2")).unwrap();
        let out = s.finish(&call, Ok(server("op1911", "available")));
        let hooks = out.hooks_login.unwrap();
        assert_eq!(hooks.id, "op1911");
        assert_eq!(hooks.password.expose(), "pw2");
    }

    #[test]
    fn missing_id_or_password_say_where_to_put_them() {
        let mut s = Session::new(
            OperatorLogin::default(),
            "1910",
            true,
            std::path::Path::new("b.toml"),
        );
        assert!(
            s.begin_login(None, None)
                .unwrap_err()
                .starts_with("no operator login ID")
        );
        assert_eq!(
            s.begin_login(Some("op1"), None).unwrap_err(),
            "no operator password: pipe it in ('bbclient login op1 --password-stdin') or set [operator] password in b.toml"
        );
    }

    #[test]
    fn a_refused_login_reports_the_server_reason() {
        let mut s = session(true);
        let call = s.begin_login(None, Some("wrong")).unwrap();
        let out = s.finish(
            &call,
            Err(ApiError::Refused {
                status: 401,
                reason: "login ID 'op1910' or its password is wrong".into(),
            }),
        );
        assert!(!format!("{out:?}").contains("\"wrong\""), "{out:?}");
        let e = out.reply.unwrap_err();
        assert_eq!(
            e,
            "login as 'op1910' refused by the BlueBean server (HTTP 401): login ID 'op1910' or its password is wrong"
        );
        assert_eq!(s.state(), OperatorState::LoginFailed);
        assert!(out.hooks_login.is_none());
        assert_eq!(s.status()["state"], "login_failed");
        // Logged in: a failed second login keeps the session.
        let call = s.begin_login(None, None).unwrap();
        s.finish(&call, Ok(server("op1910", "available")));
        let call = s.begin_login(Some("op1911"), Some("bad")).unwrap();
        let out = s.finish(
            &call,
            Err(ApiError::Unreachable {
                url: "u".into(),
                detail: "d".into(),
            }),
        );
        assert!(matches!(
            out.event.map(|e| e.event),
            Some(EventKind::Operator {
                state: OperatorState::LoginFailed,
                ..
            })
        ));
        assert_eq!(s.logged_in_as(), Some("op1910"));
    }

    #[test]
    fn logout_ends_the_session_and_restores_the_configured_hooks_login() {
        let mut s = session(true);
        assert_eq!(
            s.begin_logout().unwrap_err(),
            "no operator is logged in on this softphone"
        );
        let call = s.begin_login(Some("op1911"), Some("pw")).unwrap();
        s.finish(&call, Ok(server("op1911", "available")));
        assert!(s.shutdown_logout().is_some());
        let call = s.begin_logout().unwrap();
        let out = s.finish(
            &call,
            Err(ApiError::Refused {
                status: 409,
                reason: "operator 'op1911' is not logged in".into(),
            }),
        );
        assert_eq!(s.state(), OperatorState::LoggedOut);
        assert_eq!(out.hooks_login.unwrap().id, "op1910");
        assert!(s.shutdown_logout().is_none());
        // A logout the server did not take leaves the session logged in.
        let call = s.begin_login(None, None).unwrap();
        s.finish(&call, Ok(server("op1910", "available")));
        let call = s.begin_logout().unwrap();
        let out = s.finish(
            &call,
            Err(ApiError::Unreachable {
                url: "u".into(),
                detail: "refused".into(),
            }),
        );
        assert!(
            out.reply
                .unwrap_err()
                .starts_with("logout failed: cannot reach")
        );
        assert_eq!(s.logged_in_as(), Some("op1910"));
    }

    #[tokio::test]
    async fn an_answer_over_the_body_limit_is_refused_without_reading_it_all() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        tokio::spawn(async move {
            if let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10485760\r\n\r\n";
                let _ = s.write_all(head.as_bytes()).await;
                let chunk = vec![b' '; 65536];
                for _ in 0..160 {
                    if s.write_all(&chunk).await.is_err() {
                        break;
                    }
                }
            }
        });
        let base = reqwest::Url::parse(&format!("http://{addr}")).unwrap_or_else(|e| panic!("{e}"));
        let api = OperatorApi::new(base, Duration::from_secs(10));
        let got = api
            .perform(
                &ApiCall::Get {
                    login_id: "op1".into(),
                },
                None,
            )
            .await;
        match got {
            Err(ApiError::BadAnswer { detail, .. }) => {
                assert!(detail.contains("over 64 KiB"), "{detail}")
            }
            other => panic!("expected a refused answer, got {other:?}"),
        }
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(url_path_segment("op1910"), "op1910");
        assert_eq!(url_path_segment("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn saved_settings_change_the_defaults_but_not_a_logged_in_operator() {
        let mut s = session(false);
        let op2 = OperatorLogin {
            id: "op2".into(),
            password: Secret::new("pw2".into()),
        };
        // Nobody logged in: the new configured login is behind %OpId%.
        let now = s.reconfigure(op2.clone(), "1911", true, std::path::Path::new("/y.toml"));
        assert_eq!(now.id, "op2");
        match s.begin_login(None, None).unwrap() {
            ApiCall::Login {
                login_id,
                extension,
                ..
            } => assert_eq!((login_id.as_str(), extension.as_str()), ("op2", "1911")),
            other => panic!("{other:?}"),
        }
        let call = s.begin_login(Some("op3"), Some("pw3"));
        assert!(call.is_err(), "a login is in progress");
        s.busy = false;
        let call = s.begin_login(Some("op3"), Some("pw3")).unwrap();
        s.finish(&call, Ok(server("op3", "available")));
        // Logged in: the logged-in operator stays behind %OpId%.
        let now = s.reconfigure(op2, "1911", true, std::path::Path::new("/y.toml"));
        assert_eq!(now.id, "op3");
        assert_eq!(s.logged_in_as(), Some("op3"));
    }
}
