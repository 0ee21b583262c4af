//! Sending one request the way the softphone sends it, and recording what
//! happened on the way.
//!
//! This mirrors `http_request` and the client set-up in
//! `softphone/src/hooks.rs` (mirrored, not shared: see the module docs of
//! [`crate::conform`]):
//!
//! - the client: `reqwest` with the workspace's features (rustls with the
//!   operating system's trust store through `rustls-platform-verifier`, no
//!   proxy), user agent [`USER_AGENT`], redirects
//!   `Policy::limited(`[`POPUP_MAX_REDIRECTS`]`)`;
//! - the request: GET to the built URL, or POST with the built body and
//!   `Content-Type: application/x-www-form-urlencoded`;
//! - the limits: the whole exchange (connect, headers, body) within
//!   `bb_cti::Limits::default().http` (5 s), and at most
//!   `max_body_bytes + 1` body bytes read (64 KiB + 1), so "more than the
//!   limit" can be told apart from "exactly the limit".
//!
//! To count redirects the policy is wrapped: a custom policy records each hop
//! and then asks `Policy::limited(5)` what to do, so the decisions are the
//! softphone's. A new client is built per request to give each its own
//! record.
//!
//! The detail view is opened by the user's browser, not by reqwest; for it
//! bbconform uses the same client with a browser's redirect budget
//! ([`BROWSER_MAX_REDIRECTS`]) and a larger body limit.
//!
//! Errors are described without the URL (it may hold `%OpPW%`), with their
//! source chain; a TLS failure is found by downcasting to `rustls::Error`
//! and named in plain words.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bb_cti::request::{CrmRequest, HttpMethod};
use reqwest::header::{HeaderName, HeaderValue};

use super::UsageError;

/// The softphone's user agent (`softphone/src/hooks.rs`: `bbclient/` and the
/// workspace version, which this crate shares).
pub const USER_AGENT: &str = concat!("bbclient/", env!("CARGO_PKG_VERSION"));

/// Redirects the softphone follows for the popup request.
pub const POPUP_MAX_REDIRECTS: usize = 5;

/// Redirects a browser follows (Chromium and Firefox stop at 20).
pub const BROWSER_MAX_REDIRECTS: usize = 20;

/// How long bbconform waits for a page (detail view, links URL).
pub const BROWSER_TIME_LIMIT: Duration = Duration::from_secs(15);

/// The most bytes bbconform reads of a page (detail view, links URL).
pub const BROWSER_MAX_BODY: usize = 4 * 1024 * 1024;

/// One request to send.
#[derive(Debug, Clone)]
pub struct Fetch {
    /// The request as `bb_cti` built it.
    pub request: CrmRequest,
    /// Most body bytes that count (one more is read).
    pub max_body: usize,
    /// The time limit for the whole exchange.
    pub limit: Duration,
    /// The redirect budget.
    pub max_redirects: usize,
    /// Extra headers (`--header`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Fetch {
    /// The popup request, with the softphone's limits.
    pub fn popup(request: CrmRequest) -> Fetch {
        let limits = bb_cti::Limits::default();
        Fetch {
            request,
            max_body: limits.max_body_bytes,
            limit: limits.http,
            max_redirects: POPUP_MAX_REDIRECTS,
            headers: Vec::new(),
        }
    }

    /// A page a browser opens (detail view, links URL).
    pub fn page(request: CrmRequest, headers: &[(HeaderName, HeaderValue)]) -> Fetch {
        Fetch {
            request,
            max_body: BROWSER_MAX_BODY,
            limit: BROWSER_TIME_LIMIT,
            max_redirects: BROWSER_MAX_REDIRECTS,
            headers: headers.to_vec(),
        }
    }
}

/// One redirect followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// The redirect status (301, 302, …).
    pub status: u16,
    /// Where it pointed.
    pub to: String,
    /// True when `to` was already visited in this chain (a loop).
    pub repeats: bool,
}

/// What kind of failure ended an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The time limit passed.
    Timeout,
    /// TLS: certificate refused, handshake failed.
    Tls,
    /// DNS, connection refused, reset.
    Connect,
    /// Too many redirects (a loop, or more than the budget).
    Redirects,
    /// Anything else (a malformed answer, a body cut off).
    Other,
}

/// Why an exchange did not complete.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The kind.
    pub kind: FailureKind,
    /// What happened, one line, without the URL.
    pub message: String,
}

/// What happened to one request.
#[derive(Debug, Clone, Default)]
pub struct Exchange {
    /// Redirects followed, in order.
    pub hops: Vec<Hop>,
    /// The URL that answered.
    pub final_url: Option<String>,
    /// The address that answered.
    pub remote: Option<SocketAddr>,
    /// HTTP version of the answer.
    pub version: Option<String>,
    /// Status code, once the headers arrived.
    pub status: Option<u16>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The `Content-Length` header.
    pub content_length: Option<u64>,
    /// The body: at most `max_body + 1` bytes.
    pub body: Vec<u8>,
    /// True when more than `max_body` bytes came (the read stopped).
    pub over_limit: bool,
    /// Time to the response headers.
    pub headers_after: Option<Duration>,
    /// Time to the end (whole body, error or time limit).
    pub elapsed: Duration,
    /// Set when the exchange did not complete.
    pub failure: Option<Failure>,
}

/// Parses `--header 'Name: value'` options.
pub fn parse_headers(raw: &[String]) -> Result<Vec<(HeaderName, HeaderValue)>, UsageError> {
    raw.iter()
        .map(|h| {
            let bad = |why: &str| {
                UsageError(format!(
                    "--header '{}': {why} (write --header 'Name: value')",
                    h.escape_debug()
                ))
            };
            let (name, value) = h.split_once(':').ok_or_else(|| bad("no ':'"))?;
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| bad("not a valid header name"))?;
            let value =
                HeaderValue::from_str(value.trim()).map_err(|_| bad("not a valid header value"))?;
            Ok((name, value))
        })
        .collect()
}

/// The client for one request: the softphone's settings, with a redirect
/// policy that records each hop and then applies `Policy::limited`.
fn client(max_redirects: usize, hops: Arc<Mutex<Vec<Hop>>>) -> Result<reqwest::Client, String> {
    let limited = reqwest::redirect::Policy::limited(max_redirects);
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        let hop = Hop {
            status: attempt.status().as_u16(),
            to: attempt.url().to_string(),
            repeats: attempt.previous().iter().any(|u| u == attempt.url()),
        };
        hops.lock().unwrap_or_else(|e| e.into_inner()).push(hop);
        limited.redirect(attempt)
    });
    reqwest::Client::builder()
        .redirect(policy)
        .user_agent(USER_AGENT)
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {}", describe(&e)))
}

/// Sends `fetch` and records the exchange; never fails, a failure is part
/// of the result.
pub async fn send(fetch: &Fetch) -> Exchange {
    let hops = Arc::new(Mutex::new(Vec::new()));
    let mut ex = Exchange::default();
    let http = match client(fetch.max_redirects, Arc::clone(&hops)) {
        Ok(c) => c,
        Err(message) => {
            ex.failure = Some(Failure {
                kind: FailureKind::Other,
                message,
            });
            return ex;
        }
    };
    let request = &fetch.request;
    let mut builder = match request.method {
        HttpMethod::Get => http.get(&request.url),
        HttpMethod::Post => http.post(&request.url),
    };
    if let Some(ct) = request.content_type {
        builder = builder.header(reqwest::header::CONTENT_TYPE, ct);
    }
    for (name, value) in &fetch.headers {
        builder = builder.header(name, value);
    }
    if let Some(body) = &request.body {
        builder = builder.body(body.clone());
    }
    let start = Instant::now();
    let max_body = fetch.max_body;
    let progress = &mut ex;
    let work = async move {
        let mut resp = builder.send().await?;
        progress.headers_after = Some(start.elapsed());
        progress.status = Some(resp.status().as_u16());
        progress.final_url = Some(resp.url().to_string());
        progress.remote = resp.remote_addr();
        progress.version = Some(format!("{:?}", resp.version()));
        progress.content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        progress.content_length = resp.content_length();
        while let Some(chunk) = resp.chunk().await? {
            let room = (max_body + 1).saturating_sub(progress.body.len());
            progress
                .body
                .extend_from_slice(&chunk[..chunk.len().min(room)]);
            if progress.body.len() > max_body {
                progress.over_limit = true;
                break;
            }
        }
        Ok::<(), reqwest::Error>(())
    };
    let outcome = tokio::time::timeout(fetch.limit, work).await;
    ex.elapsed = start.elapsed();
    ex.hops = hops.lock().unwrap_or_else(|e| e.into_inner()).clone();
    ex.failure = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(classify(&e)),
        Err(_) => Some(Failure {
            kind: FailureKind::Timeout,
            message: format!(
                "no complete answer within {} ms{}",
                fetch.limit.as_millis(),
                if ex.status.is_some() {
                    " (the headers came, the body did not finish)"
                } else {
                    ""
                }
            ),
        }),
    };
    ex
}

/// Describes a reqwest error without its URL, with its sources; mirrors
/// `describe` in `softphone/src/hooks.rs`.
pub fn describe(e: &reqwest::Error) -> String {
    let mut s = match e.url() {
        Some(url) => e.to_string().replace(&format!(" for url ({url})"), ""),
        None => e.to_string(),
    };
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = inner.source();
    }
    s
}

/// Sorts a reqwest error into a [`Failure`].
fn classify(e: &reqwest::Error) -> Failure {
    if let Some(tls) = find_rustls(e) {
        return Failure {
            kind: FailureKind::Tls,
            message: name_tls(tls),
        };
    }
    if e.is_redirect() {
        return Failure {
            kind: FailureKind::Redirects,
            message: describe(e),
        };
    }
    if e.is_timeout() {
        return Failure {
            kind: FailureKind::Timeout,
            message: describe(e),
        };
    }
    let kind = if e.is_connect() {
        FailureKind::Connect
    } else {
        FailureKind::Other
    };
    Failure {
        kind,
        message: describe(e),
    }
}

/// Finds a `rustls::Error` in the source chain, also inside `std::io::Error`s
/// (reqwest nests one in another, and `io::Error::source()` skips its own
/// payload, so each payload is opened with `get_ref`).
fn find_rustls(e: &reqwest::Error) -> Option<&rustls::Error> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        let mut inner: &(dyn std::error::Error + 'static) = err;
        // Bounded: payloads cannot nest without end, but a bound costs nothing.
        for _ in 0..8 {
            if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
                return Some(tls);
            }
            match inner
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
            {
                Some(payload) => inner = payload,
                None => break,
            }
        }
        current = err.source();
    }
    None
}

/// A TLS failure in plain words, with the fix.
pub fn name_tls(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(cert) => {
            let untrusted = "it is not signed by a certificate authority this computer trusts (self-signed, or a private CA)";
            let why = match cert {
                C::UnknownIssuer => format!("{untrusted} [{cert}]"),
                // webpki reports a self-signed server certificate as a bad
                // signature (no trusted key verifies it), or, when it was
                // made as a CA (openssl req -x509's default), as a CA used
                // as an end entity.
                C::BadSignature => format!("{untrusted}, or its signature is broken [{cert}]"),
                C::Other(o) if format!("{o:?}").contains("CaUsedAsEndEntity") => format!(
                    "{untrusted}: it is a CA certificate used as the server's own certificate [{cert}]"
                ),
                C::Expired | C::ExpiredContext { .. } => format!("it has expired [{cert}]"),
                C::NotValidYet | C::NotValidYetContext { .. } => {
                    format!("it is not valid yet [{cert}]")
                }
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    format!("it is not valid for this host name [{cert}]")
                }
                C::Revoked => format!("it has been revoked [{cert}]"),
                other => other.to_string(),
            };
            format!(
                "TLS certificate error: the server's certificate was refused: {why}; the softphone refuses it too (use a certificate from a public CA for this host name, or install the CA in the trust store of every softphone PC)"
            )
        }
        rustls::Error::AlertReceived(alert) => format!(
            "TLS handshake error: the server ended the handshake with alert {alert:?} (check the server's TLS versions and ciphers; TLS 1.2 or 1.3 is needed)"
        ),
        rustls::Error::InvalidMessage(m) => format!(
            "TLS handshake error: the server's answer is not TLS ({m:?}); is it plain HTTP on an https:// URL? (use http:// or enable TLS on that port)"
        ),
        rustls::Error::PeerIncompatible(p) => format!(
            "TLS handshake error: no common protocol ({p:?}) (enable TLS 1.2 or 1.3 with current ciphers)"
        ),
        other => format!("TLS error: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agent_is_the_softphones() {
        assert!(USER_AGENT.starts_with("bbclient/"));
        assert_eq!(
            USER_AGENT,
            format!("bbclient/{}", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn tls_names() {
        let e = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let text = name_tls(&e);
        assert!(text.starts_with("TLS certificate error:"), "{text}");
        assert!(text.contains("self-signed"));
        let e = rustls::Error::InvalidCertificate(rustls::CertificateError::Expired);
        assert!(name_tls(&e).contains("expired"));
    }

    #[test]
    fn headers_parse_or_name_the_fix() {
        let ok = parse_headers(&["Cookie: a=b".to_owned()]);
        assert!(ok.is_ok_and(|h| h.len() == 1 && h[0].0 == "cookie"));
        let e = parse_headers(&["Cookie a=b".to_owned()]);
        assert!(e.is_err_and(|e| e.0.contains("write --header 'Name: value'")));
    }
}
