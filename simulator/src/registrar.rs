//! The registrar's logic: digest challenges, credential checks, bindings and
//! their expiry, and a lock-out after repeated failures. A plain state
//! machine: the SIP driver feeds it what it read from a REGISTER and the time,
//! and sends the answer it returns.
//!
//! Challenges offer every configured algorithm (`[sip] auth_algorithms`), one
//! header each in the configured order (RFC 8760: SHA-256 before MD5 when both
//! are offered). SHA-256 can be written as RFC 7616 says (`SHA-256`) or as
//! `SHA256`, the only spelling rsipstack 0.7.14 clients parse; answers in
//! either spelling are accepted. An address of record may hold several contacts; calls to it
//! fork to all of them. The same credential check guards INVITEs (407).
//!
//! # Replays
//!
//! A nonce carries its issue time and an HMAC over that time and the address
//! it was sent to, under a key drawn at start: issuing one stores nothing, so
//! a flood of unanswered challenges costs no memory, and a nonce is only
//! good from the address that asked for it (a host cannot fetch a nonce for
//! itself and spend it in packets that claim another source). It is good for
//! [`NONCE_LIFETIME_MS`]. Once answered, it is remembered with its nonce
//! count: with `qop=auth` every later answer must carry a strictly higher
//! `nc`; without `qop` the nonce is single-use. That record holds at most
//! [`MAX_TRACKED_NONCES`]; when full, the earliest-issued is forgotten and
//! every nonce issued no later than it counts as stale from then on, so
//! forgetting never reopens a replay.
//!
//! A stale, used-up or foreign nonce gets a fresh challenge, with
//! `stale=true` when the digest was otherwise right (RFC 2617 §3.2.1, RFC
//! 7616 §3.3: the client may retry at once without asking for the password),
//! and never counts as a failure.
//!
//! The digest `uri` must name the Request-URI ([`uri_matches`]); see
//! [`URI_MISMATCH`] for why a mismatch gets 403.
//!
//! # Lock-out
//!
//! Failures are counted per extension and source address together, and only
//! for a real wrong-credential attempt: a digest for a known extension and
//! our realm, with a nonce we issued to that address and have not seen used,
//! whose response is wrong. Unparsable or foreign `Authorization` headers,
//! stale nonces, other realms and digests made for another request get a
//! challenge or a 403 but count for nothing, so spoofed packets cannot lock
//! an extension out, and a wrong password from one desk does not lock out the
//! same extension elsewhere. [`MAX_FAILURES`] within [`PENALTY_MS`] refuse
//! that extension from that address for [`PENALTY_MS`]. The table holds at
//! most [`MAX_TRACKED_FAILURES`] (extension, address) pairs; entries lapse
//! after [`PENALTY_MS`], and when full the one whose last failure is oldest
//! goes first.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::net::IpAddr;

use bb_sip::digest::{Algorithm, Challenge, Credentials};
use sha2::{Digest as _, Sha256};

use crate::tenant::Tenant;

/// Milliseconds on the driver's monotonic clock.
pub type Millis = u64;

/// How long an issued nonce is accepted.
pub const NONCE_LIFETIME_MS: Millis = 5 * 60 * 1000;
/// Failed attempts for one extension from one address before that pair is
/// refused for a while.
pub const MAX_FAILURES: u32 = 5;
/// How long a locked-out (extension, address) pair is refused, counted from
/// its last failure; failures older than this are forgotten.
pub const PENALTY_MS: Millis = 30 * 1000;
/// Most answered nonces remembered (with their nonce count). Only correct
/// answers add one, so this bounds honest traffic: 32768 covers more than
/// 100 registrations a second over a nonce's lifetime, and beyond that older
/// nonces merely turn stale early (the client gets `stale=true` and retries).
pub const MAX_TRACKED_NONCES: usize = 32_768;
/// Most (extension, address) pairs with recent failures remembered.
pub const MAX_TRACKED_FAILURES: usize = 16_384;
/// Expiry granted when the client asks for none.
pub const DEFAULT_EXPIRES: u32 = 3600;
/// Longest expiry granted.
pub const MAX_EXPIRES: u32 = 7200;

/// Why a digest whose `uri` is not the Request-URI is refused (403).
///
/// RFC 7616 §3.4.6 (RFC 2617 §3.2.2.5) says the server SHOULD answer 400. We
/// answer 403: the request itself is well-formed, its credentials were made
/// for another request (a captured digest replayed elsewhere, or a broken
/// client), and the answer is final — a new 401 would only invite the
/// client to answer the same way again, and a 400 would have the phone report
/// a malformed message rather than refused credentials. It does not count
/// towards the lock-out: it says nothing about the password.
pub const URI_MISMATCH: &str = "digest uri is not the Request-URI";

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
    /// The Request-URI as received (the digest `uri` must name it).
    pub request_uri: String,
    /// The `Authorization` header value, if any.
    pub authorization: Option<String>,
    /// Contact URIs with their `expires` parameters; `*` is given as `("*", _)`.
    pub contacts: Vec<(String, Option<u32>)>,
    /// The `Expires` header, if any.
    pub expires: Option<u32>,
    /// The request's source address.
    pub source: std::net::SocketAddr,
}

/// A request whose digest credentials are to be checked, as the driver read it.
#[derive(Debug, Clone, Copy)]
pub struct AuthRequest<'a> {
    /// The method (part of the digest).
    pub method: &'a str,
    /// The extension the request claims to come from.
    pub user: &'a str,
    /// The Request-URI as received.
    pub request_uri: &'a str,
    /// `Authorization` (or `Proxy-Authorization`), if any.
    pub authorization: Option<&'a str>,
    /// The source address.
    pub source: IpAddr,
}

/// The registrar's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterOutcome {
    /// 401 (407 for other requests) with these `WWW-Authenticate` values.
    Challenge(Vec<String>),
    /// 200 with the current bindings and their remaining seconds.
    Ok(Vec<(String, u32)>),
    /// 403: the credentials are wrong (counted towards the lock-out).
    Forbidden,
    /// 403 for another reason (not counted): the digest was made for another
    /// request, user or algorithm.
    Refused(&'static str),
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

/// A map with a size cap whose entries are ordered by a time stamp: expiry
/// drops the oldest, and so does an insert beyond the cap.
#[derive(Debug)]
struct Bounded<K, V> {
    cap: usize,
    map: HashMap<K, (Millis, V)>,
    order: BTreeSet<(Millis, K)>,
}

impl<K: Clone + Eq + Hash + Ord, V> Bounded<K, V> {
    fn new(cap: usize) -> Self {
        Bounded {
            cap: cap.max(1),
            map: HashMap::new(),
            order: BTreeSet::new(),
        }
    }

    fn get(&self, k: &K) -> Option<&(Millis, V)> {
        self.map.get(k)
    }

    /// Inserts or replaces `k`, stamped `at`. Returns the latest stamp evicted
    /// to stay within the cap, if any.
    fn put(&mut self, k: K, at: Millis, v: V) -> Option<Millis> {
        if let Some((old, _)) = self.map.insert(k.clone(), (at, v)) {
            self.order.remove(&(old, k.clone()));
        }
        self.order.insert((at, k));
        let mut evicted = None;
        while self.map.len() > self.cap {
            let Some((t, key)) = self.order.pop_first() else {
                break;
            };
            self.map.remove(&key);
            evicted = Some(t);
        }
        evicted
    }

    fn remove(&mut self, k: &K) {
        if let Some((t, _)) = self.map.remove(k) {
            self.order.remove(&(t, k.clone()));
        }
    }

    /// Drops the entries stamped before `cutoff`.
    fn expire_before(&mut self, cutoff: Millis) {
        while self.order.first().is_some_and(|(t, _)| *t < cutoff) {
            if let Some((_, k)) = self.order.pop_first() {
                self.map.remove(&k);
            }
        }
    }

    fn len(&self) -> usize {
        debug_assert_eq!(self.map.len(), self.order.len());
        self.map.len()
    }
}

/// HMAC-SHA-256 (RFC 2104).
fn hmac_sha256(key: &[u8; 32], msg: &[u8]) -> Vec<u8> {
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for (i, k) in key.iter().enumerate() {
        ipad[i] ^= k;
        opad[i] ^= k;
    }
    let inner = Sha256::new()
        .chain_update(ipad)
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(opad)
        .chain_update(inner)
        .finalize()
        .to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A `nc` value: exactly 8 hex digits (RFC 7616 §3.4).
fn nonce_count(nc: &str) -> Option<u32> {
    (nc.len() == 8 && nc.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u32::from_str_radix(nc, 16).ok())
        .flatten()
}

/// The parts of a SIP URI that [`uri_matches`] compares.
#[derive(Debug, PartialEq)]
struct UriParts {
    scheme: String,
    user: Option<String>,
    password: Option<String>,
    host: String,
    port: u16,
    params: Vec<(String, String)>,
}

impl UriParts {
    fn parse(text: &str) -> Option<UriParts> {
        let (scheme, rest) = text.trim().split_once(':')?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "sip" => 5060,
            "sips" => 5061,
            _ => return None,
        };
        // Headers (`?…`) never take part in a Request-URI.
        let rest = rest.split('?').next().unwrap_or_default();
        let (userinfo, rest) = match rest.rsplit_once('@') {
            Some((u, r)) => (Some(u), r),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            Some(u) => {
                let (user, pw) = match u.split_once(':') {
                    Some((user, pw)) => (user, Some(pw)),
                    None => (u, None),
                };
                (Some(unescape_user(user)), pw.map(unescape_user))
            }
            None => (None, None),
        };
        let mut parts = rest.split(';');
        let hostport = parts.next().unwrap_or_default();
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']')?;
            (
                format!("[{}]", h.to_ascii_lowercase()),
                after.strip_prefix(':'),
            )
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
                None => (hostport.to_ascii_lowercase(), None),
            }
        };
        if host.is_empty() {
            return None;
        }
        let port = match port {
            Some(p) => p.parse().ok()?,
            None => default_port,
        };
        let params = parts
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (
                    bb_sip::headers::percent_decode(k).to_ascii_lowercase(),
                    bb_sip::headers::percent_decode(v).to_ascii_lowercase(),
                )
            })
            .collect();
        Some(UriParts {
            scheme,
            user,
            password,
            host,
            port,
            params,
        })
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// RFC 3261 §19.1.4: user and password case-sensitively after
    /// unescaping, host case-insensitively; `transport`, `user`, `ttl`,
    /// `method` and `maddr` must agree when either has them, other
    /// parameters when both have them. A missing port is the scheme's
    /// default (looser than §19.1.4; it changes nothing about who may
    /// authenticate).
    fn same(&self, other: &UriParts) -> bool {
        if (
            &self.scheme,
            &self.user,
            &self.password,
            &self.host,
            self.port,
        ) != (
            &other.scheme,
            &other.user,
            &other.password,
            &other.host,
            other.port,
        ) {
            return false;
        }
        let strict = ["transport", "user", "ttl", "method", "maddr"];
        self.params.iter().chain(&other.params).all(|(k, _)| {
            match (self.param(k), other.param(k)) {
                (Some(a), Some(b)) => a == b,
                _ => !strict.contains(&k.as_str()),
            }
        })
    }
}

/// The user part unescaped. rsipstack 0.7.14 writes a parsed Request-URI
/// back with its `%` escaped again (`%23` → `%2523`), so the text we get for
/// the Request-URI may carry one escape too many: unescaping until nothing
/// changes (at most twice) makes both forms compare equal. It only ever
/// equates `%2523` with `#`, never two different numbers.
fn unescape_user(text: &str) -> String {
    let once = bb_sip::headers::percent_decode(text);
    if once.contains('%') {
        bb_sip::headers::percent_decode(&once)
    } else {
        once
    }
}

/// Whether a digest `uri` names the same resource as the Request-URI: the
/// same text, or for `sip:`/`sips:` URIs the same URI by RFC 3261 §19.1.4
/// (see `UriParts::same`). Anything else does not match.
pub fn uri_matches(digest_uri: &str, request_uri: &str) -> bool {
    let (a, b) = (digest_uri.trim(), request_uri.trim());
    if a == b {
        return true;
    }
    match (UriParts::parse(a), UriParts::parse(b)) {
        (Some(x), Some(y)) => x.same(&y),
        _ => false,
    }
}

/// What the nonce of an answer is worth.
enum NonceState {
    /// Ours, for this address, in time and not yet spent at this count:
    /// issued at this time.
    Fresh(Millis),
    /// Expired, forged, for another address, or already used (at this `nc`).
    Stale,
}

/// Registrar state.
#[derive(Debug)]
pub struct Registrar {
    algorithms: Vec<Offer>,
    /// The HMAC key of our nonces (drawn at start).
    key: [u8; 32],
    /// Answered nonces, stamped with their issue time: the highest `nc`
    /// seen (`u32::MAX` once used without `qop`).
    used: Bounded<String, u32>,
    /// Nonces issued at or before this are stale (one of them was forgotten).
    floor: Option<Millis>,
    bindings: HashMap<String, Vec<Binding>>,
    /// Failures per (extension, source), stamped with the last one.
    failures: Bounded<(String, IpAddr), u32>,
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
            key: rand::random(),
            used: Bounded::new(MAX_TRACKED_NONCES),
            floor: None,
            bindings: HashMap::new(),
            failures: Bounded::new(MAX_TRACKED_FAILURES),
        }
    }

    /// A registrar with smaller tables (tests of the caps).
    #[cfg(test)]
    fn with_caps(algorithms: Vec<Algorithm>, nonces: usize, failures: usize) -> Registrar {
        let mut r = Registrar::new(algorithms);
        r.used = Bounded::new(nonces);
        r.failures = Bounded::new(failures);
        r
    }

    /// Answered nonces remembered now (at most [`MAX_TRACKED_NONCES`]).
    pub fn tracked_nonces(&self) -> usize {
        self.used.len()
    }

    /// (extension, address) pairs with recent failures remembered now (at
    /// most [`MAX_TRACKED_FAILURES`]).
    pub fn tracked_failures(&self) -> usize {
        self.failures.len()
    }

    /// The tag of a nonce: HMAC over its issue time, its salt and the address.
    fn mac(&self, stamp: &str, source: IpAddr) -> String {
        let tag = hmac_sha256(&self.key, format!("{stamp}|{source}").as_bytes());
        hex(&tag[..16])
    }

    /// `TTTTTTTTTTTTTTTTSSSSSSSSSSSSSSSSMMMM…`: issue time and a random salt
    /// (16 hex digits each; two clients behind one address challenged in the
    /// same millisecond get different nonces), then the 32-digit tag.
    fn new_nonce(&self, source: IpAddr, now: Millis) -> String {
        let stamp = format!("{now:016x}{:016x}", rand::random::<u64>());
        let tag = self.mac(&stamp, source);
        stamp + &tag
    }

    fn nonce_state(&self, nonce: &str, source: IpAddr, nc: Option<u32>, now: Millis) -> NonceState {
        let issued = match (nonce.get(..32), nonce.get(32..), nonce.get(..16)) {
            (Some(stamp), Some(tag), Some(time)) if nonce.len() == 64 => {
                match u64::from_str_radix(time, 16) {
                    Ok(t)
                        if constant_time_eq(tag.as_bytes(), self.mac(stamp, source).as_bytes()) =>
                    {
                        t
                    }
                    _ => return NonceState::Stale,
                }
            }
            _ => return NonceState::Stale,
        };
        if issued > now
            || now - issued >= NONCE_LIFETIME_MS
            || self.floor.is_some_and(|f| issued <= f)
        {
            return NonceState::Stale;
        }
        let unspent = match (self.used.get(&nonce.to_string()), nc) {
            (None, _) => true,
            (Some((_, last)), Some(nc)) => nc > *last,
            (Some(_), None) => false,
        };
        if unspent {
            NonceState::Fresh(issued)
        } else {
            NonceState::Stale
        }
    }

    fn spend(&mut self, nonce: &str, issued: Millis, nc: Option<u32>, now: Millis) {
        self.used
            .expire_before((now + 1).saturating_sub(NONCE_LIFETIME_MS));
        if let Some(t) = self
            .used
            .put(nonce.to_string(), issued, nc.unwrap_or(u32::MAX))
        {
            self.floor = Some(self.floor.map_or(t, |f| f.max(t)));
        }
    }

    fn challenge(&self, realm: &str, source: IpAddr, stale: bool, now: Millis) -> RegisterOutcome {
        // One nonce for all offered algorithms: the client answers one of them.
        let first = Challenge {
            realm: realm.to_string(),
            nonce: self.new_nonce(source, now),
            algorithm: self.algorithms[0].algorithm,
            opaque: None,
        };
        let values = self
            .algorithms
            .iter()
            .map(|a| {
                let mut v = Challenge {
                    algorithm: a.algorithm,
                    ..first.clone()
                }
                .header_value();
                if a.legacy_token {
                    v = v.replace("algorithm=SHA-256", "algorithm=SHA256");
                }
                if stale {
                    v.push_str(", stale=true");
                }
                v
            })
            .collect();
        RegisterOutcome::Challenge(values)
    }

    fn fail(&mut self, user: &str, ip: IpAddr, now: Millis) {
        self.failures.expire_before(now.saturating_sub(PENALTY_MS));
        let key = (user.to_string(), ip);
        let n = match self.failures.get(&key) {
            Some((at, n)) if now.saturating_sub(*at) <= PENALTY_MS => n.saturating_add(1),
            _ => 1,
        };
        self.failures.put(key, now, n);
    }

    fn limited(&self, user: &str, ip: IpAddr, now: Millis) -> bool {
        self.failures
            .get(&(user.to_string(), ip))
            .is_some_and(|(at, n)| *n >= MAX_FAILURES && now.saturating_sub(*at) <= PENALTY_MS)
    }

    /// Checks digest credentials of any request against an extension's password.
    /// Returns `None` when they are valid, else the outcome to send.
    pub fn authenticate(
        &mut self,
        tenant: &Tenant,
        req: AuthRequest<'_>,
        now: Millis,
    ) -> Option<RegisterOutcome> {
        if self.limited(req.user, req.source, now) {
            return Some(RegisterOutcome::RateLimited);
        }
        let Some(ext) = tenant.extensions.get(req.user) else {
            return Some(RegisterOutcome::NotFound);
        };
        let realm = tenant.realm.as_str();
        let Some(auth) = req.authorization else {
            return Some(self.challenge(realm, req.source, false, now));
        };
        // Nothing below counts as a failure until the response itself is
        // checked: none of it says anything about the password.
        let Ok(creds) = Credentials::parse(&normalise_authorization(auth)) else {
            return Some(self.challenge(realm, req.source, false, now));
        };
        if creds.realm != realm {
            return Some(self.challenge(realm, req.source, false, now));
        }
        if creds.username != req.user {
            return Some(RegisterOutcome::Refused(
                "digest username is not the extension",
            ));
        }
        if !creds
            .algorithm()
            .is_some_and(|a| self.algorithms.iter().any(|o| o.algorithm == a))
        {
            return Some(RegisterOutcome::Refused("digest algorithm was not offered"));
        }
        if !uri_matches(&creds.uri, req.request_uri) {
            return Some(RegisterOutcome::Refused(URI_MISMATCH));
        }
        let nc = match (&creds.qop, &creds.nc, &creds.cnonce) {
            (None, _, _) => None,
            (Some(q), Some(nc), Some(_)) if q.eq_ignore_ascii_case("auth") => {
                match nonce_count(nc) {
                    Some(n) => Some(n),
                    None => {
                        return Some(RegisterOutcome::Refused("digest nc is not 8 hex digits"));
                    }
                }
            }
            _ => {
                return Some(RegisterOutcome::Refused(
                    "digest qop must be auth, with nc and cnonce",
                ));
            }
        };
        let issued = match self.nonce_state(&creds.nonce, req.source, nc, now) {
            NonceState::Fresh(issued) => issued,
            NonceState::Stale => {
                // Stale, spent or foreign: challenge again, `stale=true` when
                // the password was right (the client retries by itself).
                let stale = creds.verify(req.method, &ext.password);
                return Some(self.challenge(realm, req.source, stale, now));
            }
        };
        if !creds.verify(req.method, &ext.password) {
            self.fail(req.user, req.source, now);
            return Some(RegisterOutcome::Forbidden);
        }
        self.spend(&creds.nonce, issued, nc, now);
        self.failures.remove(&(req.user.to_string(), req.source));
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
            AuthRequest {
                method: "REGISTER",
                user: &req.user,
                request_uri: &req.request_uri,
                authorization: req.authorization.as_deref(),
                source: req.source.ip(),
            },
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
            request_uri: "sip:127.0.0.1".into(),
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

    fn nonce_of(challenge: &[String]) -> String {
        challenge[0]
            .split("nonce=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("nonce in challenge")
            .to_string()
    }

    fn challenge(r: &mut Registrar, tenant: &Tenant, now: Millis) -> Vec<String> {
        challenge_for(r, tenant, &req(None, None), now)
    }

    fn challenge_for(
        r: &mut Registrar,
        tenant: &Tenant,
        request: &RegisterRequest,
        now: Millis,
    ) -> Vec<String> {
        let mut bare = request.clone();
        bare.authorization = None;
        match r.handle_register(tenant, &bare, now) {
            RegisterOutcome::Challenge(c) => c,
            other => panic!("expected a challenge, got {other:?}"),
        }
    }

    /// An MD5 answer without qop, for `uri`.
    fn digest_md5(challenge: &[String], password: &str, uri: &str) -> String {
        let nonce = nonce_of(challenge);
        let r = response(
            Algorithm::Md5,
            "1910",
            "bluebean",
            password,
            "REGISTER",
            uri,
            &nonce,
            None,
        );
        format!(
            "Digest username=\"1910\", realm=\"bluebean\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{r}\""
        )
    }

    fn from(ip: [u8; 4], auth: Option<String>) -> RegisterRequest {
        let mut r = req(auth, Some(60));
        r.source = std::net::SocketAddr::from((ip, 5070));
        r
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
        // Without qop a nonce is single-use: each REGISTER answers its own challenge.
        let c = challenge(&mut r, &tenant, 0);
        let auth = digest_md5(&c, "pw1910", "sip:127.0.0.1");
        assert!(matches!(
            r.handle_register(&tenant, &req(Some(auth), Some(30)), 1),
            RegisterOutcome::Ok(_)
        ));
        let c = challenge(&mut r, &tenant, 2);
        let auth = digest_md5(&c, "pw1910", "sip:127.0.0.1");
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
            RegisterOutcome::Refused("digest algorithm was not offered")
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

    fn is_stale(out: &RegisterOutcome) -> bool {
        matches!(out, RegisterOutcome::Challenge(v) if v.iter().all(|h| h.ends_with(", stale=true")))
    }

    fn is_fresh_challenge(out: &RegisterOutcome) -> bool {
        matches!(out, RegisterOutcome::Challenge(v) if v.iter().all(|h| !h.contains("stale")))
    }

    #[test]
    fn a_replayed_register_with_another_contact_is_refused_and_the_binding_stays() {
        let tenant = Tenant::builtin();
        let mut r = Registrar::new(vec![Algorithm::Sha256]);
        let c = challenge(&mut r, &tenant, 0);
        let auth = answer(&c, "pw1910", "00000001");
        assert!(matches!(
            r.handle_register(&tenant, &req(Some(auth.clone()), Some(60)), 1),
            RegisterOutcome::Ok(_)
        ));
        // Captured on the wire and sent again (same nonce, same nc), now
        // pointing the extension at the attacker.
        let mut replay = req(Some(auth), Some(60));
        replay.contacts = vec![("sip:1910@203.0.113.9:5060".into(), Some(60))];
        let out = r.handle_register(&tenant, &replay, 2);
        assert!(is_stale(&out), "replay not refused: {out:?}");
        // From another address it is no better.
        replay.source = "203.0.113.9:5060".parse().expect("literal");
        let out = r.handle_register(&tenant, &replay, 3);
        assert!(matches!(out, RegisterOutcome::Challenge(_)), "{out:?}");
        let live = r.lookup("1910", 4);
        assert_eq!(live.len(), 1, "{live:?}");
        assert_eq!(live[0].contact, "sip:1910@127.0.0.1:5070");
        // The nonce count must go up: 3 is accepted, then 2 is a replay.
        let ok = r.handle_register(
            &tenant,
            &req(Some(answer(&c, "pw1910", "00000003")), Some(60)),
            5,
        );
        assert!(matches!(ok, RegisterOutcome::Ok(_)), "{ok:?}");
        let mut lower = req(Some(answer(&c, "pw1910", "00000002")), Some(60));
        lower.contacts = vec![("sip:1910@203.0.113.9:5060".into(), Some(60))];
        assert!(is_stale(&r.handle_register(&tenant, &lower, 6)));
        assert_eq!(r.lookup("1910", 7).len(), 1);
        assert_eq!(
            r.tracked_failures(),
            0,
            "a replay says nothing about the password"
        );
    }

    #[test]
    fn without_qop_a_nonce_is_single_use() {
        let tenant = Tenant::builtin();
        let mut r = Registrar::new(vec![Algorithm::Md5]);
        let c = challenge(&mut r, &tenant, 0);
        let auth = digest_md5(&c, "pw1910", "sip:127.0.0.1");
        assert!(matches!(
            r.handle_register(&tenant, &req(Some(auth.clone()), Some(60)), 1),
            RegisterOutcome::Ok(_)
        ));
        let mut replay = req(Some(auth), Some(60));
        replay.contacts = vec![("sip:1910@203.0.113.9:5060".into(), Some(60))];
        assert!(is_stale(&r.handle_register(&tenant, &replay, 2)));
        assert_eq!(r.lookup("1910", 3)[0].contact, "sip:1910@127.0.0.1:5070");
        assert_eq!(r.lookup("1910", 3).len(), 1);
    }

    #[test]
    fn two_challenges_in_one_millisecond_differ() {
        let tenant = Tenant::builtin();
        let mut r = Registrar::new(vec![Algorithm::Md5]);
        let a = nonce_of(&challenge(&mut r, &tenant, 7));
        let b = nonce_of(&challenge(&mut r, &tenant, 7));
        assert_ne!(a, b);
    }

    #[test]
    fn a_digest_for_another_uri_is_refused_and_not_counted() {
        let tenant = Tenant::builtin();
        let mut r = Registrar::new(vec![Algorithm::Md5]);
        for (i, uri) in [
            "sip:10.0.0.1",
            "sip:1303@127.0.0.1",
            "sip:127.0.0.1;maddr=10.0.0.1",
        ]
        .into_iter()
        .cycle()
        .take(MAX_FAILURES as usize + 2)
        .enumerate()
        {
            let now = i as Millis;
            let c = challenge(&mut r, &tenant, now);
            let auth = digest_md5(&c, "pw1910", uri);
            assert_eq!(
                r.handle_register(&tenant, &req(Some(auth), Some(60)), now),
                RegisterOutcome::Refused(URI_MISMATCH),
                "{uri}"
            );
        }
        assert!(r.lookup("1910", 10).is_empty());
        assert_eq!(r.tracked_failures(), 0);
        // The same URI written another way is the same URI.
        let c = challenge(&mut r, &tenant, 20);
        let auth = digest_md5(&c, "pw1910", "SIP:127.0.0.1:5060");
        let ok = r.handle_register(&tenant, &req(Some(auth), Some(60)), 20);
        assert!(matches!(ok, RegisterOutcome::Ok(_)), "{ok:?}");
    }

    #[test]
    fn uri_comparison_follows_rfc3261() {
        assert!(uri_matches("sip:1303@h", "sip:1303@h"));
        assert!(uri_matches("sip:%31303@H:5060", "sip:1303@h"));
        // As rsipstack writes a parsed Request-URI back: `%` escaped again.
        assert!(uri_matches(
            "sip:%2331%2309012345678@127.0.0.1:5060",
            "sip:%252331%252309012345678@127.0.0.1:5060"
        ));
        assert!(!uri_matches(
            "sip:%2331%2309012345678@127.0.0.1:5060",
            "sip:%252331%252309012345679@127.0.0.1:5060"
        ));
        assert!(uri_matches("sip:1303@h;foo=1", "sip:1303@h"));
        assert!(uri_matches("sip:[::1]:5070", "sip:[::1]:5070"));
        assert!(!uri_matches("sip:1304@h", "sip:1303@h"));
        assert!(!uri_matches("sips:1303@h", "sip:1303@h"));
        assert!(!uri_matches("sip:1303@h:5070", "sip:1303@h"));
        assert!(!uri_matches("sip:1303@h;transport=tcp", "sip:1303@h"));
        assert!(!uri_matches("sip:1303@h;foo=1", "sip:1303@h;foo=2"));
        assert!(!uri_matches("sip:1303@evil", "sip:1303@h"));
        assert!(!uri_matches("", "sip:1303@h"));
        assert!(!uri_matches("tel:1303", "sip:1303@h"));
    }

    #[test]
    fn a_stale_nonce_gets_a_fresh_challenge_never_a_lock_out() {
        let tenant = Tenant::builtin();
        let mut r = Registrar::new(vec![Algorithm::Sha256]);
        for i in 0..u64::from(MAX_FAILURES) + 1 {
            let t0 = i * NONCE_LIFETIME_MS;
            let c = challenge(&mut r, &tenant, t0);
            let late = t0 + NONCE_LIFETIME_MS;
            // The right password on an expired nonce: stale=true, retry at once.
            let right = r.handle_register(
                &tenant,
                &req(Some(answer(&c, "pw1910", "00000001")), Some(60)),
                late,
            );
            assert!(is_stale(&right), "{right:?}");
            // A wrong one: a plain challenge, not a failure.
            let wrong = r.handle_register(
                &tenant,
                &req(Some(answer(&c, "bad", "00000001")), Some(60)),
                late,
            );
            assert!(is_fresh_challenge(&wrong), "{wrong:?}");
        }
        assert_eq!(r.tracked_failures(), 0);
        let now = 10 * NONCE_LIFETIME_MS;
        let c = challenge(&mut r, &tenant, now);
        let ok = r.handle_register(
            &tenant,
            &req(Some(answer(&c, "pw1910", "00000001")), Some(60)),
            now,
        );
        assert!(matches!(ok, RegisterOutcome::Ok(_)), "{ok:?}");
    }

    #[test]
    fn a_nonce_is_good_only_from_the_address_it_was_sent_to() {
        let tenant = Tenant::builtin();
        let mut r = Registrar::new(vec![Algorithm::Md5]);
        let c = challenge_for(&mut r, &tenant, &from([10, 0, 0, 1], None), 0);
        // Spent from elsewhere, right or wrong, it is only stale.
        let right = r.handle_register(
            &tenant,
            &from(
                [10, 0, 0, 2],
                Some(digest_md5(&c, "pw1910", "sip:127.0.0.1")),
            ),
            1,
        );
        assert!(is_stale(&right), "{right:?}");
        for i in 0..MAX_FAILURES + 1 {
            let wrong = r.handle_register(
                &tenant,
                &from(
                    [10, 0, 0, 1 + i as u8 % 2 + 1],
                    Some(digest_md5(&c, "bad", "sip:127.0.0.1")),
                ),
                2,
            );
            assert!(is_fresh_challenge(&wrong), "{wrong:?}");
        }
        assert_eq!(r.tracked_failures(), 0);
        // It still works from the address it was sent to.
        let ok = r.handle_register(
            &tenant,
            &from(
                [10, 0, 0, 1],
                Some(digest_md5(&c, "pw1910", "sip:127.0.0.1")),
            ),
            3,
        );
        assert!(matches!(ok, RegisterOutcome::Ok(_)), "{ok:?}");
    }

    #[test]
    fn spoofed_garbage_from_many_sources_does_not_lock_out_the_account() {
        let tenant = Tenant::builtin();
        let mut r = Registrar::new(vec![Algorithm::Md5]);
        let foreign = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        for i in 0..20u8 {
            let src = [192, 0, 2, i];
            let c = challenge_for(&mut r, &tenant, &from(src, None), 0);
            let nonce = nonce_of(&c);
            for garbage in [
                "garbage".to_string(),
                "Digest username=\"1910\"".to_string(),
                "Digest username=\"1910\", realm=\"bluebean\", nonce=\"x\", uri=\"sip:127.0.0.1\", response=\"00\"".to_string(),
                format!("Digest username=\"1910\", realm=\"bluebean\", nonce=\"{foreign}\", uri=\"sip:127.0.0.1\", response=\"00\""),
                format!("Digest username=\"1910\", realm=\"elsewhere\", nonce=\"{nonce}\", uri=\"sip:127.0.0.1\", response=\"00\""),
                format!("Digest username=\"1911\", realm=\"bluebean\", nonce=\"{nonce}\", uri=\"sip:127.0.0.1\", response=\"00\""),
                format!("Digest username=\"1910\", realm=\"bluebean\", nonce=\"{nonce}\", uri=\"sip:127.0.0.1\", response=\"00\", algorithm=SHA-512"),
                format!("Digest username=\"1910\", realm=\"bluebean\", nonce=\"{nonce}\", uri=\"sip:127.0.0.1\", response=\"00\", qop=auth"),
                format!("Digest username=\"1910\", realm=\"bluebean\", nonce=\"{nonce}\", uri=\"sip:127.0.0.1\", response=\"00\", qop=auth, nc=1, cnonce=\"c\""),
                format!("Digest username=\"1910\", realm=\"bluebean\", nonce=\"{nonce}\", uri=\"sip:evil\", response=\"00\""),
            ] {
                let out = r.handle_register(&tenant, &from(src, Some(garbage.clone())), 1);
                assert!(
                    !matches!(out, RegisterOutcome::Forbidden | RegisterOutcome::RateLimited | RegisterOutcome::Ok(_)),
                    "{garbage}: {out:?}"
                );
            }
        }
        assert_eq!(r.tracked_failures(), 0);
        // Real wrong passwords from other addresses do not lock it out here either.
        for i in 0..MAX_FAILURES {
            let src = [198, 51, 100, 1];
            let c = challenge_for(&mut r, &tenant, &from(src, None), 2);
            let out = r.handle_register(
                &tenant,
                &from(
                    src,
                    Some(digest_md5(&c, &format!("guess{i}"), "sip:127.0.0.1")),
                ),
                2,
            );
            assert_eq!(out, RegisterOutcome::Forbidden);
        }
        let c = challenge(&mut r, &tenant, 3);
        let ok = r.handle_register(
            &tenant,
            &req(Some(digest_md5(&c, "pw1910", "sip:127.0.0.1")), Some(60)),
            3,
        );
        assert!(matches!(ok, RegisterOutcome::Ok(_)), "{ok:?}");
    }

    #[test]
    fn the_lock_out_is_per_extension_and_source() {
        let tenant = Tenant::builtin();
        let mut r = Registrar::new(vec![Algorithm::Md5]);
        let attacker = [10, 0, 0, 1];
        for _ in 0..MAX_FAILURES {
            let c = challenge_for(&mut r, &tenant, &from(attacker, None), 0);
            let out = r.handle_register(
                &tenant,
                &from(attacker, Some(digest_md5(&c, "bad", "sip:127.0.0.1"))),
                0,
            );
            assert_eq!(out, RegisterOutcome::Forbidden);
        }
        assert_eq!(
            r.handle_register(&tenant, &from(attacker, None), 1),
            RegisterOutcome::RateLimited
        );
        // Another extension from that address is only challenged.
        let mut other = from(attacker, None);
        other.user = "1911".into();
        assert!(matches!(
            r.handle_register(&tenant, &other, 1),
            RegisterOutcome::Challenge(_)
        ));
        // The extension from its own desk still registers.
        let c = challenge(&mut r, &tenant, 1);
        let ok = r.handle_register(
            &tenant,
            &req(Some(digest_md5(&c, "pw1910", "sip:127.0.0.1")), Some(60)),
            1,
        );
        assert!(matches!(ok, RegisterOutcome::Ok(_)), "{ok:?}");
        // The entry lapses after the penalty.
        assert!(matches!(
            r.handle_register(&tenant, &from(attacker, None), 1 + PENALTY_MS),
            RegisterOutcome::Challenge(_)
        ));
    }

    #[test]
    fn tables_stay_bounded_under_100k_distinct_failures() {
        let tenant = Tenant::builtin();
        let mut r = Registrar::new(vec![Algorithm::Md5]);
        for i in 0..100_000u32 {
            let [_, a, b, c] = i.to_be_bytes();
            let src = [10, a, b, c];
            // All within one penalty period, so only the cap can bound the table.
            let now = Millis::from(i / 8);
            let ch = challenge_for(&mut r, &tenant, &from(src, None), now);
            let out = r.handle_register(
                &tenant,
                &from(src, Some(digest_md5(&ch, "bad", "sip:127.0.0.1"))),
                now,
            );
            assert_eq!(out, RegisterOutcome::Forbidden);
            r.handle_register(&tenant, &from(src, Some("garbage".into())), now);
        }
        assert_eq!(r.tracked_failures(), MAX_TRACKED_FAILURES);
        assert_eq!(
            r.tracked_nonces(),
            0,
            "challenges and failures store no nonce"
        );
        // The newest pairs are the ones kept: the last attacker is still counted.
        assert_eq!(
            r.failures
                .get(&("1910".to_string(), IpAddr::from([10, 1, 134, 159])))
                .map(|(_, n)| *n),
            Some(1)
        );
    }

    #[test]
    fn answered_nonces_are_bounded_and_forgetting_one_reopens_no_replay() {
        let tenant = Tenant::builtin();
        let mut r = Registrar::with_caps(vec![Algorithm::Sha256], 64, 64);
        let mut first = None;
        for i in 0..1_000u64 {
            let c = challenge(&mut r, &tenant, i);
            let ok = r.handle_register(
                &tenant,
                &req(Some(answer(&c, "pw1910", "00000001")), Some(60)),
                i,
            );
            assert!(matches!(ok, RegisterOutcome::Ok(_)), "{i}: {ok:?}");
            first.get_or_insert(c);
            assert!(r.tracked_nonces() <= 64);
        }
        assert_eq!(r.tracked_nonces(), 64);
        // The first nonce was forgotten long ago; a higher nc on it is still stale.
        let first = first.expect("one challenge");
        let replay = req(Some(answer(&first, "pw1910", "00000002")), Some(60));
        assert!(is_stale(&r.handle_register(&tenant, &replay, 1_000)));
        // Answered nonces lapse with their lifetime.
        let late = 1_000 + NONCE_LIFETIME_MS;
        let c = challenge(&mut r, &tenant, late);
        r.handle_register(
            &tenant,
            &req(Some(answer(&c, "pw1910", "00000001")), Some(60)),
            late,
        );
        assert_eq!(r.tracked_nonces(), 1);
    }
}
