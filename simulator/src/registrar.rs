//! The registrar's logic: digest challenges, credential checks, bindings and
//! their expiry, and a rate limit on repeated failures. A plain state machine:
//! the SIP driver feeds it what it read from a REGISTER and the time, and
//! sends the answer it returns.
//!
//! Challenges offer every configured algorithm (`[sip] auth_algorithms`), one
//! header each in the configured order (RFC 8760: SHA-256 before MD5 when both
//! are offered). SHA-256 can be written as RFC 7616 says (`SHA-256`) or as
//! `SHA256`, the only spelling rsipstack 0.7.14 clients parse; answers in
//! either spelling are accepted. An address of record may hold several contacts; calls to it
//! fork to all of them. The same credential check guards INVITEs (407).

use std::collections::{HashMap, VecDeque};
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
/// Most outstanding nonces kept (a flood of unanswered challenges cannot grow
/// memory without bound; the oldest are forgotten first).
pub const MAX_NONCES: usize = 1_000_000;
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
    /// 401 (407 for other requests) with these `WWW-Authenticate` values.
    Challenge(Vec<String>),
    /// 200 with the current bindings and their remaining seconds.
    Ok(Vec<(String, u32)>),
    /// 403: the credentials are wrong.
    Forbidden,
    /// 404: no such extension.
    NotFound,
    /// 403 too, but because of too many failures recently.
    RateLimited,
}

/// An algorithm as offered in challenges: what it is and how it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    /// The hash.
    pub algorithm: Algorithm,
    /// Write SHA-256 as `SHA256` (rsipstack 0.7.14 clients).
    pub legacy_token: bool,
}

impl Offer {
    /// Parses a configured token: `MD5`, `SHA-256` or `SHA256`.
    pub fn parse(token: &str) -> Option<Offer> {
        if token.eq_ignore_ascii_case("SHA256") {
            return Some(Offer {
                algorithm: Algorithm::Sha256,
                legacy_token: true,
            });
        }
        Algorithm::parse(token).map(|algorithm| Offer {
            algorithm,
            legacy_token: false,
        })
    }
}

impl From<Algorithm> for Offer {
    fn from(algorithm: Algorithm) -> Offer {
        Offer {
            algorithm,
            legacy_token: false,
        }
    }
}

/// `algorithm=SHA256` (any case, quoted or not) rewritten as `SHA-256`.
fn normalise_authorization(value: &str) -> String {
    let lower = value.to_ascii_lowercase();
    let Some(pos) = lower.find("algorithm=") else {
        return value.to_string();
    };
    let start = pos + "algorithm=".len();
    let rest = &lower[start..];
    let quoted = rest.starts_with('"');
    let token_start = start + usize::from(quoted);
    if lower[token_start..].starts_with("sha256") && !lower[token_start..].starts_with("sha256-") {
        let mut v = value.to_string();
        v.replace_range(token_start..token_start + 6, "SHA-256");
        return v;
    }
    value.to_string()
}

/// Registrar state.
#[derive(Debug)]
pub struct Registrar {
    algorithms: Vec<Offer>,
    nonces: HashMap<String, Millis>,
    /// Issued nonces oldest first, so expiry is amortised O(1).
    nonce_order: VecDeque<(Millis, String)>,
    bindings: HashMap<String, Vec<Binding>>,
    failures: HashMap<IpAddr, (u32, Millis)>,
}

impl Registrar {
    /// A registrar that challenges with `algorithms`, in this order (MD5 when empty).
    pub fn new<A: Into<Offer>>(algorithms: Vec<A>) -> Registrar {
        let mut algorithms: Vec<Offer> = algorithms.into_iter().map(Into::into).collect();
        if algorithms.is_empty() {
            algorithms.push(Offer::from(Algorithm::Md5));
        }
        Registrar {
            algorithms,
            nonces: HashMap::new(),
            nonce_order: VecDeque::new(),
            bindings: HashMap::new(),
            failures: HashMap::new(),
        }
    }

    fn challenge(&mut self, realm: &str, now: Millis) -> RegisterOutcome {
        while let Some((issued, _)) = self.nonce_order.front() {
            if now.saturating_sub(*issued) < NONCE_LIFETIME_MS
                && self.nonce_order.len() < MAX_NONCES
            {
                break;
            }
            if let Some((_, old)) = self.nonce_order.pop_front() {
                self.nonces.remove(&old);
            }
        }
        // One nonce for all offered algorithms: the client answers one of them.
        let first = Challenge::new(realm, self.algorithms[0].algorithm);
        self.nonces.insert(first.nonce.clone(), now);
        self.nonce_order.push_back((now, first.nonce.clone()));
        let values = self
            .algorithms
            .iter()
            .map(|a| {
                let v = Challenge {
                    algorithm: a.algorithm,
                    ..first.clone()
                }
                .header_value();
                if a.legacy_token {
                    v.replace("algorithm=SHA-256", "algorithm=SHA256")
                } else {
                    v
                }
            })
            .collect();
        RegisterOutcome::Challenge(values)
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
        let Ok(creds) = Credentials::parse(&normalise_authorization(auth)) else {
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
        let algorithm_offered = creds
            .algorithm()
            .is_some_and(|a| self.algorithms.iter().any(|o| o.algorithm == a));
        if creds.username != user || !algorithm_offered || !creds.verify(method, &ext.password) {
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

    /// Adds a binding directly (tests of the call logic).
    #[cfg(test)]
    pub(crate) fn bind(&mut self, user: &str, contact: &str, expires_at: Millis) {
        self.bindings
            .entry(user.to_string())
            .or_default()
            .push(Binding {
                contact: contact.to_string(),
                expires_at,
                source: std::net::SocketAddr::from(([127, 0, 0, 1], 5070)),
            });
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

    fn answer(challenge: &[String], password: &str, nc: &str) -> String {
        let nonce = challenge[0]
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
        let mut r = Registrar::new(vec![Algorithm::Sha256]);
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
        let mut r = Registrar::new(vec![Algorithm::Sha256]);
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
        let mut r = Registrar::new(vec![Algorithm::Md5]);
        let mut unknown = req(None, None);
        unknown.user = "9999".into();
        assert_eq!(
            r.handle_register(&tenant, &unknown, 0),
            RegisterOutcome::NotFound
        );
        let RegisterOutcome::Challenge(c) = r.handle_register(&tenant, &req(None, None), 0) else {
            panic!("expected a challenge");
        };
        let nonce = c[0]
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

    #[test]
    fn two_algorithms_share_one_nonce_and_either_answer_works() {
        let tenant = Tenant::builtin();
        let mut r = Registrar::new(vec![Algorithm::Sha256, Algorithm::Md5]);
        let RegisterOutcome::Challenge(c) = r.handle_register(&tenant, &req(None, None), 0) else {
            panic!("expected a challenge");
        };
        assert_eq!(c.len(), 2);
        assert!(c[0].contains("algorithm=SHA-256") && c[1].contains("algorithm=MD5"));
        // SHA-256 answer (the helper answers with SHA-256).
        assert!(matches!(
            r.handle_register(
                &tenant,
                &req(Some(answer(&c, "pw1910", "00000001")), Some(60)),
                1
            ),
            RegisterOutcome::Ok(_)
        ));
        // An MD5-only registrar refuses a SHA-256 answer.
        let mut md5 = Registrar::new(vec![Algorithm::Md5]);
        let RegisterOutcome::Challenge(c) = md5.handle_register(&tenant, &req(None, None), 0)
        else {
            panic!("expected a challenge");
        };
        let sha_answer = answer(&c, "pw1910", "00000001");
        assert_eq!(
            md5.handle_register(&tenant, &req(Some(sha_answer), Some(60)), 1),
            RegisterOutcome::Forbidden
        );
    }

    #[test]
    fn several_contacts_per_address_of_record() {
        let tenant = Tenant::builtin();
        let mut r = Registrar::new(vec![Algorithm::Sha256]);
        let RegisterOutcome::Challenge(c) = r.handle_register(&tenant, &req(None, None), 0) else {
            panic!("expected a challenge");
        };
        let mut second = req(Some(answer(&c, "pw1910", "00000002")), Some(60));
        second.contacts = vec![("sip:1910@127.0.0.1:6000".into(), Some(60))];
        r.handle_register(
            &tenant,
            &req(Some(answer(&c, "pw1910", "00000001")), Some(60)),
            1,
        );
        let out = r.handle_register(&tenant, &second, 2);
        let RegisterOutcome::Ok(bindings) = out else {
            panic!("expected 200, got {out:?}");
        };
        assert_eq!(bindings.len(), 2);
        let live = r.lookup("1910", 3);
        assert_eq!(live[0].contact, "sip:1910@127.0.0.1:6000", "newest first");
        // A wildcard with expires 0 removes them all.
        let mut star = req(Some(answer(&c, "pw1910", "00000003")), None);
        star.contacts = vec![("*".into(), None)];
        star.expires = Some(0);
        assert_eq!(
            r.handle_register(&tenant, &star, 4),
            RegisterOutcome::Ok(vec![])
        );
    }

    #[test]
    fn legacy_sha256_token_is_written_and_read() {
        let tenant = Tenant::builtin();
        let offer = Offer::parse("SHA256").expect("legacy token");
        let mut r = Registrar::new(vec![offer]);
        let RegisterOutcome::Challenge(c) = r.handle_register(&tenant, &req(None, None), 0) else {
            panic!("expected a challenge");
        };
        assert!(c[0].contains("algorithm=SHA256,"), "{}", c[0]);
        let answer = answer(&c, "pw1910", "00000001").replace("SHA-256", "SHA256");
        assert!(matches!(
            r.handle_register(&tenant, &req(Some(answer), Some(60)), 1),
            RegisterOutcome::Ok(_)
        ));
        assert_eq!(
            normalise_authorization("Digest algorithm=\"sha256\", x=1"),
            "Digest algorithm=\"SHA-256\", x=1"
        );
        assert_eq!(
            normalise_authorization("Digest algorithm=SHA256-sess"),
            "Digest algorithm=SHA256-sess"
        );
    }
}
