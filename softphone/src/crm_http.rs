//! The HTTP client of the CRM hooks (popup, detail fetch) and its redirect
//! rules (`[web] redirects`).
//!
//! A CRM URL may carry the operator's password (`%OpPW%`) in its query or
//! body. So by default a redirect is followed only to the same origin
//! (scheme, host and port), never from https to http, at most 5 times; no
//! `Referer` is ever sent (it would hold the previous URL, password
//! included); and a 307/308, which re-sends the body, is never followed to
//! another origin even when other origins are allowed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// `[web] redirects`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redirects {
    /// Follow redirects to the same origin only (the default).
    SameOrigin,
    /// Follow redirects to any origin (never https → http, never a body).
    Any,
    /// Follow none: a 3xx is the CRM's answer.
    None,
}

impl Redirects {
    /// Parses the setting.
    pub fn parse(word: &str) -> Result<Redirects, String> {
        match word.trim().to_ascii_lowercase().as_str() {
            "same-origin" | "same_origin" => Ok(Redirects::SameOrigin),
            "any" => Ok(Redirects::Any),
            "none" => Ok(Redirects::None),
            _ => Err(format!(
                "'{word}' is not a redirect rule (write \"same-origin\", \"any\" or \"none\")"
            )),
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            Redirects::SameOrigin => 0,
            Redirects::Any => 1,
            Redirects::None => 2,
        }
    }

    fn from_u8(v: u8) -> Redirects {
        match v {
            1 => Redirects::Any,
            2 => Redirects::None,
            _ => Redirects::SameOrigin,
        }
    }
}

/// Redirects followed at most.
pub const MAX_REDIRECTS: usize = 5;

/// What to do with one redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Follow it.
    Follow,
    /// Do not follow: the 3xx is the answer.
    Stop,
    /// Do not follow, and fail the request saying why.
    Refuse(String),
}

/// The decision for a redirect with `status` from the chain `previous`
/// (the first is the URL the hook asked for) to `next`.
pub fn decide(
    mode: Redirects,
    status: u16,
    previous: &[reqwest::Url],
    next: &reqwest::Url,
) -> Decision {
    let Some(first) = previous.first() else {
        return Decision::Stop;
    };
    if mode == Redirects::None {
        return Decision::Stop;
    }
    if previous.len() > MAX_REDIRECTS {
        return Decision::Refuse(format!("more than {MAX_REDIRECTS} redirects"));
    }
    let shown = bb_cti::redact::redact_url(next.as_str());
    if previous.iter().any(|u| u.scheme() == "https") && next.scheme() != "https" {
        return Decision::Refuse(format!(
            "a redirect from https to {shown} is never followed"
        ));
    }
    let same = |u: &reqwest::Url| u.origin() == next.origin();
    if same(first) {
        return Decision::Follow;
    }
    match mode {
        Redirects::SameOrigin => Decision::Refuse(format!(
            "a redirect to another origin ({shown}) is not followed ([web] redirects = \"same-origin\")"
        )),
        Redirects::Any if matches!(status, 307 | 308) => Decision::Refuse(format!(
            "a {status} redirect to another origin ({shown}) would re-send the request's body; not followed"
        )),
        _ => Decision::Follow,
    }
}

/// The rule in force, changed by saved settings.
#[derive(Debug, Clone)]
pub struct RedirectRule(Arc<AtomicU8>);

impl RedirectRule {
    /// Starts with `mode`.
    pub fn new(mode: Redirects) -> RedirectRule {
        RedirectRule(Arc::new(AtomicU8::new(mode.to_u8())))
    }

    /// From now on, `mode`.
    pub fn set(&self, mode: Redirects) {
        self.0.store(mode.to_u8(), Ordering::Relaxed);
    }

    fn get(&self) -> Redirects {
        Redirects::from_u8(self.0.load(Ordering::Relaxed))
    }
}

/// The hooks' HTTP client: the redirect rule, no `Referer`.
pub fn client(rule: RedirectRule) -> reqwest::Client {
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        match decide(
            rule.get(),
            attempt.status().as_u16(),
            attempt.previous(),
            attempt.url(),
        ) {
            Decision::Follow => attempt.follow(),
            Decision::Stop => attempt.stop(),
            Decision::Refuse(why) => attempt.error(why),
        }
    });
    reqwest::Client::builder()
        .redirect(policy)
        .referer(false)
        .user_agent(concat!("bbclient/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    fn url(s: &str) -> reqwest::Url {
        reqwest::Url::parse(s).unwrap_or_else(|_| panic!("{s}"))
    }

    #[test]
    fn redirects_stay_on_the_origin_by_default() {
        let chain = [url("https://crm.test/in?pw=x")];
        let m = Redirects::SameOrigin;
        assert_eq!(
            decide(m, 302, &chain, &url("https://crm.test/card")),
            Decision::Follow
        );
        assert!(matches!(
            decide(m, 302, &chain, &url("https://evil.test/x")),
            Decision::Refuse(w) if w.contains("another origin")
        ));
        // Another port is another origin.
        assert!(matches!(
            decide(m, 302, &chain, &url("https://crm.test:8443/x")),
            Decision::Refuse(_)
        ));
        // Never down to http, whatever the rule.
        for m in [Redirects::SameOrigin, Redirects::Any] {
            assert!(matches!(
                decide(m, 302, &chain, &url("http://crm.test/in")),
                Decision::Refuse(w) if w.contains("from https")
            ));
        }
        assert_eq!(
            decide(Redirects::None, 302, &chain, &url("https://crm.test/x")),
            Decision::Stop
        );
        // "any": other origins, but not with the body.
        let a = Redirects::Any;
        assert_eq!(
            decide(a, 302, &chain, &url("https://other.test/x")),
            Decision::Follow
        );
        assert!(matches!(
            decide(a, 307, &chain, &url("https://other.test/x")),
            Decision::Refuse(w) if w.contains("re-send")
        ));
        let long: Vec<_> = (0..6)
            .map(|i| url(&format!("https://crm.test/{i}")))
            .collect();
        assert!(matches!(
            decide(m, 302, &long, &url("https://crm.test/x")),
            Decision::Refuse(_)
        ));
        assert!(Redirects::parse("sometimes").is_err());
        // The refusal does not show a password carried in the next URL.
        assert!(matches!(
            decide(m, 302, &chain, &url("https://evil.test/x?password=s3cret")),
            Decision::Refuse(w) if !w.contains("s3cret")
        ));
    }

    /// A one-shot HTTP server on loopback: answers every request with
    /// `answer` and returns the requests it read.
    async fn server(answer: String) -> (String, tokio::task::JoinHandle<Vec<String>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Ok(Ok((mut s, _))) =
                tokio::time::timeout(std::time::Duration::from_secs(3), listener.accept()).await
            {
                let mut buf = vec![0u8; 8192];
                let n = s.read(&mut buf).await.unwrap_or(0);
                seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                let _ = s.write_all(answer.as_bytes()).await;
                let _ = s.shutdown().await;
            }
            seen
        });
        (format!("http://{addr}"), task)
    }

    #[tokio::test]
    async fn a_redirect_to_another_origin_never_reaches_it_and_no_referer_is_sent() {
        let (other, other_seen) =
            server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".into())
                .await;
        let (crm, crm_seen) = server(format!(
            "HTTP/1.1 302 Found\r\nLocation: {other}/steal\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ))
        .await;
        let strict = client(RedirectRule::new(Redirects::SameOrigin));
        let result = strict
            .post(format!("{crm}/popup?pw=s3cret"))
            .body("pw=s3cret")
            .send()
            .await;
        // As the hooks describe it: without the request's URL.
        let err = result
            .err()
            .map(|e| format!("{:?}", e.without_url()))
            .unwrap_or_default();
        assert!(err.contains("another origin"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        let crm_seen = crm_seen.await.unwrap_or_default();
        let other_seen = other_seen.await.unwrap_or_default();
        assert_eq!(crm_seen.len(), 1);
        assert!(
            other_seen.is_empty(),
            "the other origin was reached: {other_seen:?}"
        );

        // With "any", a 302 goes on, as a GET without the body, and
        // without a Referer naming the first URL.
        let (other, other_seen) =
            server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".into())
                .await;
        let (crm, _crm_seen) = server(format!(
            "HTTP/1.1 302 Found\r\nLocation: {other}/card\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ))
        .await;
        let open = client(RedirectRule::new(Redirects::Any));
        let status = open
            .post(format!("{crm}/popup?pw=s3cret"))
            .body("pw=s3cret")
            .send()
            .await
            .map(|r| r.status().as_u16());
        assert_eq!(status.ok(), Some(200));
        let other_seen = other_seen.await.unwrap_or_default();
        assert_eq!(other_seen.len(), 1);
        let req = other_seen[0].to_ascii_lowercase();
        assert!(req.starts_with("get /card"), "{req}");
        assert!(!req.contains("referer"), "a Referer was sent: {req}");
        assert!(!req.contains("s3cret"), "{req}");
    }
}
