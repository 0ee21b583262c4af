//! The registrar's logic: digest challenges, credential checks, bindings and
//! their expiry, and a rate limit on repeated failures. A plain state machine:
//! the SIP driver feeds it what it read from a REGISTER and the time, and
//! sends the answer it returns.

use std::collections::HashMap;
use std::net::IpAddr;

use bb_sip::digest::{Algorithm, Challenge, Credentials};

use crate::tenant::Tenant;

/// Milliseconds on the driver's monotonic clock.
pub type Millis = u64;

/// How long an issued nonce is accepted.
pub const NONCE_LIFETIME_MS: Millis = 5 * 60 * 1000;
/// Failed attempts from one address before it is refused for a while.
pub const MAX_FAILURES: u32 = 5;
/// How long a rate-limited address is refused.
pub const PENALTY_MS: Millis = 30 * 1000;
/// Expiry granted when the client asks for none.
pub const DEFAULT_EXPIRES: u32 = 3600;
/// Longest expiry granted.
pub const MAX_EXPIRES: u32 = 7200;

/// One registered contact of an extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The Contact URI as the client wrote it.
    pub contact: String,
    /// When the binding lapses.
    pub expires_at: Millis,
    /// Where the REGISTER came from (used when the Contact is unreachable).
    pub source: std::net::SocketAddr,
}

/// What the driver read from a REGISTER.
#[derive(Debug, Clone)]
pub struct RegisterRequest {
    /// The user part of the To URI (the address of record).
    pub user: String,
    /// The `Authorization` header value, if any.
    pub authorization: Option<String>,
    /// Contact URIs with their `expires` parameters; `*` is given as `("*", _)`.
    pub contacts: Vec<(String, Option<u32>)>,
    /// The `Expires` header, if any.
    pub expires: Option<u32>,
    /// The request's source address.
    pub source: std::net::SocketAddr,
}

/// The registrar's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterOutcome {
    /// 401 with this `WWW-Authenticate` value.
    Challenge(String),
    /// 200 with the current bindings and their remaining seconds.
    Ok(Vec<(String, u32)>),
    /// 403: the credentials are wrong.
    Forbidden,
    /// 404: no such extension.
    NotFound,
    /// 403 too, but because of too many failures recently.
    RateLimited,
}

/// Registrar state.
#[derive(Debug)]
pub struct Registrar {
    algorithm: Algorithm,
    nonces: HashMap<String, Millis>,
    bindings: HashMap<String, Vec<Binding>>,
    failures: HashMap<IpAddr, (u32, Millis)>,
}

impl Registrar {
    /// A registrar that challenges with `algorithm`.
    pub fn new(algorithm: Algorithm) -> Registrar {
        Registrar {
            algorithm,
            nonces: HashMap::new(),
            bindings: HashMap::new(),
            failures: HashMap::new(),
        }
    }

    fn challenge(&mut self, realm: &str, now: Millis) -> RegisterOutcome {
        self.nonces
            .retain(|_, issued| now.saturating_sub(*issued) < NONCE_LIFETIME_MS);
        let c = Challenge::new(realm, self.algorithm);
        self.nonces.insert(c.nonce.clone(), now);
        RegisterOutcome::Challenge(c.header_value())
    }

    fn fail(&mut self, ip: IpAddr, now: Millis) {
        let entry = self.failures.entry(ip).or_insert((0, now));
        if now.saturating_sub(entry.1) > PENALTY_MS {
            *entry = (0, now);
        }
        entry.0 += 1;
        entry.1 = now;
    }

    fn limited(&self, ip: IpAddr, now: Millis) -> bool {
        self.failures
            .get(&ip)
            .is_some_and(|(n, at)| *n >= MAX_FAILURES && now.saturating_sub(*at) <= PENALTY_MS)
    }

    /// Checks digest credentials of any request against an extension's password.
    /// Returns `None` when they are valid, else the outcome to send.
    pub fn authenticate(
        &mut self,
        tenant: &Tenant,
        method: &str,
        user: &str,
        authorization: Option<&str>,
        source: IpAddr,
        now: Millis,
    ) -> Option<RegisterOutcome> {
        if self.limited(source, now) {
            return Some(RegisterOutcome::RateLimited);
        }
        let Some(ext) = tenant.extensions.get(user) else {
            return Some(RegisterOutcome::NotFound);
        };
        let Some(auth) = authorization else {
            return Some(self.challenge(&tenant.realm, now));
        };
        let Ok(creds) = Credentials::parse(auth) else {
            self.fail(source, now);
            return Some(self.challenge(&tenant.realm, now));
        };
        let nonce_fresh = self
            .nonces
            .get(&creds.nonce)
            .is_some_and(|issued| now.saturating_sub(*issued) < NONCE_LIFETIME_MS);
        if !nonce_fresh {
            // Stale or foreign nonce: challenge again (not a failure).
            return Some(self.challenge(&tenant.realm, now));
        }
        if creds.username != user || !creds.verify(method, &ext.password) {
            self.fail(source, now);
            return Some(RegisterOutcome::Forbidden);
        }
        self.failures.remove(&source);
        None
    }

    /// Handles one REGISTER.
    pub fn handle_register(
        &mut self,
        tenant: &Tenant,
        req: &RegisterRequest,
        now: Millis,
    ) -> RegisterOutcome {
        if let Some(outcome) = self.authenticate(
            tenant,
            "REGISTER",
            &req.user,
            req.authorization.as_deref(),
            req.source.ip(),
            now,
        ) {
            return outcome;
        }
        let list = self.bindings.entry(req.user.clone()).or_default();
        list.retain(|b| b.expires_at > now);
        for (contact, expires) in &req.contacts {
            let secs = expires
                .or(req.expires)
                .unwrap_or(DEFAULT_EXPIRES)
                .min(MAX_EXPIRES);
            if contact == "*" {
                if secs == 0 {
                    list.clear();
                }
                continue;
            }
            list.retain(|b| &b.contact != contact);
            if secs > 0 {
                list.push(Binding {
                    contact: contact.clone(),
                    expires_at: now + u64::from(secs) * 1000,
                    source: req.source,
                });
            }
        }
        RegisterOutcome::Ok(
            list.iter()
                .map(|b| {
                    (
                        b.contact.clone(),
                        (b.expires_at.saturating_sub(now) / 1000) as u32,
                    )
                })
                .collect(),
        )
    }

    /// The live bindings of an extension, newest first.
    pub fn lookup(&self, user: &str, now: Millis) -> Vec<Binding> {
        let mut v: Vec<Binding> = self
            .bindings
            .get(user)
            .map(|l| l.iter().filter(|b| b.expires_at > now).cloned().collect())
            .unwrap_or_default();
        v.reverse();
        v
    }

    /// Every extension with a live binding.
    pub fn registered(&self, now: Millis) -> Vec<(String, Vec<Binding>)> {
        let mut v: Vec<(String, Vec<Binding>)> = self
            .bindings
            .keys()
            .map(|u| (u.clone(), self.lookup(u, now)))
            .filter(|(_, b)| !b.is_empty())
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bb_sip::digest::response;

    fn req(auth: Option<String>, expires: Option<u32>) -> RegisterRequest {
        RegisterRequest {
            user: "1910".into(),
            authorization: auth,
            contacts: vec![("sip:1910@127.0.0.1:5070".into(), expires)],
            expires: None,
            source: "127.0.0.1:5070".parse().expect("literal"),
        }
    }

    fn answer(challenge: &str, password: &str, nc: &str) -> String {
        let nonce = challenge
            .split("nonce=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("nonce in challenge");
        let r = response(
            Algorithm::Sha256,
            "1910",
            "bluebean",
            password,
            "REGISTER",
            "sip:127.0.0.1",
            nonce,
            Some((nc, "c")),
        );
        format!(
            "Digest username=\"1910\", realm=\"bluebean\", nonce=\"{nonce}\", uri=\"sip:127.0.0.1\", \
             response=\"{r}\", algorithm=SHA-256, qop=auth, nc={nc}, cnonce=\"c\""
        )
    }

    #[test]
    fn challenge_then_register_then_expire() {
        let tenant = Tenant::builtin();
        let mut r = Registrar::new(Algorithm::Sha256);
        let RegisterOutcome::Challenge(c) = r.handle_register(&tenant, &req(None, None), 0) else {
            panic!("expected a challenge");
        };
        let ok = r.handle_register(
            &tenant,
            &req(Some(answer(&c, "pw1910", "00000001")), Some(60)),
            10,
        );
        assert_eq!(
            ok,
            RegisterOutcome::Ok(vec![("sip:1910@127.0.0.1:5070".into(), 60)])
        );
        // Same nonce, higher nonce count (hex), still accepted.
        let again = r.handle_register(
            &tenant,
            &req(Some(answer(&c, "pw1910", "0000000a")), Some(60)),
            20,
        );
        assert!(matches!(again, RegisterOutcome::Ok(_)));
        assert_eq!(r.lookup("1910", 59_000).len(), 1);
        assert!(r.lookup("1910", 60_021).is_empty());
    }

    #[test]
    fn wrong_password_is_forbidden_then_rate_limited() {
        let tenant = Tenant::builtin();
        let mut r = Registrar::new(Algorithm::Sha256);
        for i in 0..MAX_FAILURES {
            let RegisterOutcome::Challenge(c) =
                r.handle_register(&tenant, &req(None, None), u64::from(i))
            else {
                panic!("expected a challenge");
            };
            let out = r.handle_register(
                &tenant,
                &req(Some(answer(&c, "bad", "00000001")), None),
                u64::from(i),
            );
            assert_eq!(out, RegisterOutcome::Forbidden);
        }
        assert_eq!(
            r.handle_register(&tenant, &req(None, None), 100),
            RegisterOutcome::RateLimited
        );
        assert!(matches!(
            r.handle_register(&tenant, &req(None, None), 100 + PENALTY_MS + 1),
            RegisterOutcome::Challenge(_)
        ));
    }

    #[test]
    fn unknown_extension_and_unregister() {
        let tenant = Tenant::builtin();
        let mut r = Registrar::new(Algorithm::Md5);
        let mut unknown = req(None, None);
        unknown.user = "9999".into();
        assert_eq!(
            r.handle_register(&tenant, &unknown, 0),
            RegisterOutcome::NotFound
        );
        let RegisterOutcome::Challenge(c) = r.handle_register(&tenant, &req(None, None), 0) else {
            panic!("expected a challenge");
        };
        let nonce = c
            .split("nonce=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("nonce");
        let resp = response(
            Algorithm::Md5,
            "1910",
            "bluebean",
            "pw1910",
            "REGISTER",
            "sip:h",
            nonce,
            None,
        );
        let auth = format!(
            "Digest username=\"1910\", realm=\"bluebean\", nonce=\"{nonce}\", uri=\"sip:h\", response=\"{resp}\""
        );
        assert!(matches!(
            r.handle_register(&tenant, &req(Some(auth.clone()), Some(30)), 1),
            RegisterOutcome::Ok(_)
        ));
        assert_eq!(
            r.handle_register(&tenant, &req(Some(auth), Some(0)), 2),
            RegisterOutcome::Ok(vec![])
        );
        assert!(r.lookup("1910", 3).is_empty());
    }
}
