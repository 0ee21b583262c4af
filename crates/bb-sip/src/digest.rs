//! Digest authentication (RFC 2617 and RFC 7616) for SIP: MD5 and SHA-256 with
//! `qop=auth`, both the challenge side (registrar) and the verification.
//!
//! The verifier compares against a response computed from the cleartext
//! password; the nonce count is read as hexadecimal (`nc=0000000a` is ten),
//! which is where rsipstack 0.7.14's own check goes wrong.

use md5::Md5;
use sha2::{Digest as _, Sha256};

/// The hash algorithm named in a challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// `MD5` (the SIP default when no algorithm is named).
    Md5,
    /// `SHA-256` (RFC 8760).
    Sha256,
}

impl Algorithm {
    /// The token used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Parses the wire token (case-insensitive); `None` for algorithms we do not support.
    pub fn parse(token: &str) -> Option<Algorithm> {
        if token.eq_ignore_ascii_case("MD5") {
            Some(Algorithm::Md5)
        } else if token.eq_ignore_ascii_case("SHA-256") {
            Some(Algorithm::Sha256)
        } else {
            None
        }
    }

    fn hash_hex(self, data: &str) -> String {
        match self {
            Algorithm::Md5 => hex::encode(Md5::digest(data.as_bytes())),
            Algorithm::Sha256 => hex::encode(Sha256::digest(data.as_bytes())),
        }
    }
}

/// A challenge as sent in `WWW-Authenticate` / `Proxy-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The protection realm.
    pub realm: String,
    /// A fresh server nonce.
    pub nonce: String,
    /// The hash algorithm.
    pub algorithm: Algorithm,
    /// Opaque data echoed by the client.
    pub opaque: Option<String>,
}

impl Challenge {
    /// A challenge with a random nonce.
    pub fn new(realm: &str, algorithm: Algorithm) -> Challenge {
        let nonce: [u8; 16] = rand::random();
        Challenge {
            realm: realm.to_string(),
            nonce: hex::encode(nonce),
            algorithm,
            opaque: None,
        }
    }

    /// The header value (without the header name).
    pub fn header_value(&self) -> String {
        let mut v = format!(
            "Digest realm=\"{}\", nonce=\"{}\", algorithm={}, qop=\"auth\"",
            self.realm,
            self.nonce,
            self.algorithm.as_str()
        );
        if let Some(opaque) = &self.opaque {
            v.push_str(&format!(", opaque=\"{opaque}\""));
        }
        v
    }
}

/// The parameters of a client's `Authorization` header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// `username`
    pub username: String,
    /// `realm`
    pub realm: String,
    /// `nonce`
    pub nonce: String,
    /// `uri` (the digest-uri as the client wrote it)
    pub uri: String,
    /// `response`, lower-case hex
    pub response: String,
    /// `algorithm`, when present
    pub algorithm: Option<String>,
    /// `qop`, when present (unquoted)
    pub qop: Option<String>,
    /// `nc`, when present
    pub nc: Option<String>,
    /// `cnonce`, when present
    pub cnonce: Option<String>,
    /// `opaque`, when present
    pub opaque: Option<String>,
}

/// Why an `Authorization` value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The scheme is not `Digest`.
    #[error("authorization scheme is not Digest in '{0}'")]
    NotDigest(String),
    /// A required parameter is absent.
    #[error("digest parameter '{0}' is missing")]
    Missing(&'static str),
    /// The value does not follow the `name=value, …` grammar.
    #[error("malformed digest parameters near '{0}'")]
    Malformed(String),
}

/// Splits `a="x, y", b=z` into pairs, honouring quotes and backslash escapes.
fn split_params(s: &str) -> Result<Vec<(String, String)>, ParseError> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let eq = rest
            .find('=')
            .ok_or_else(|| ParseError::Malformed(rest.chars().take(40).collect()))?;
        let name = rest[..eq].trim().to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(stripped) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = stripped.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n);
                        }
                    }
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => v.push(c),
                }
            }
            let end = end.ok_or_else(|| ParseError::Malformed(rest.chars().take(40).collect()))?;
            value = v;
            rest = stripped[end + 1..].trim_start();
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        if name.is_empty() {
            return Err(ParseError::Malformed(value));
        }
        out.push((name, value));
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
        } else if !rest.is_empty() {
            return Err(ParseError::Malformed(rest.chars().take(40).collect()));
        }
    }
    Ok(out)
}

impl Credentials {
    /// Parses an `Authorization` header value (`Digest username="…", …`).
    pub fn parse(value: &str) -> Result<Credentials, ParseError> {
        let value = value.trim();
        let (scheme, params) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("digest") {
            return Err(ParseError::NotDigest(scheme.chars().take(40).collect()));
        }
        let mut c = Credentials::default();
        let (mut user, mut realm, mut nonce, mut uri, mut resp) =
            (false, false, false, false, false);
        for (name, v) in split_params(params)? {
            match name.as_str() {
                "username" => (c.username, user) = (v, true),
                "realm" => (c.realm, realm) = (v, true),
                "nonce" => (c.nonce, nonce) = (v, true),
                "uri" => (c.uri, uri) = (v, true),
                "response" => (c.response, resp) = (v.to_ascii_lowercase(), true),
                "algorithm" => c.algorithm = Some(v),
                "qop" => c.qop = Some(v),
                "nc" => c.nc = Some(v),
                "cnonce" => c.cnonce = Some(v),
                "opaque" => c.opaque = Some(v),
                _ => {}
            }
        }
        for (ok, name) in [
            (user, "username"),
            (realm, "realm"),
            (nonce, "nonce"),
            (uri, "uri"),
            (resp, "response"),
        ] {
            if !ok {
                return Err(ParseError::Missing(name));
            }
        }
        Ok(c)
    }

    /// The algorithm the client used (MD5 when it named none); `None` if unsupported.
    pub fn algorithm(&self) -> Option<Algorithm> {
        match &self.algorithm {
            None => Some(Algorithm::Md5),
            Some(a) => Algorithm::parse(a),
        }
    }

    /// Whether the response matches `password` for a request with `method`.
    ///
    /// The nonce and realm are not checked here: the caller compares
    /// `self.nonce` with the nonce it issued.
    pub fn verify(&self, method: &str, password: &str) -> bool {
        let Some(alg) = self.algorithm() else {
            return false;
        };
        let expected = match (&self.qop, &self.nc, &self.cnonce) {
            (Some(qop), Some(nc), Some(cnonce)) if qop.eq_ignore_ascii_case("auth") => {
                // nc is 8 hex digits; reject anything else rather than guess.
                if nc.len() != 8 || u32::from_str_radix(nc, 16).is_err() {
                    return false;
                }
                response(
                    alg,
                    &self.username,
                    &self.realm,
                    password,
                    method,
                    &self.uri,
                    &self.nonce,
                    Some((nc, cnonce)),
                )
            }
            (None, _, _) => response(
                alg,
                &self.username,
                &self.realm,
                password,
                method,
                &self.uri,
                &self.nonce,
                None,
            ),
            _ => return false,
        };
        constant_time_eq(expected.as_bytes(), self.response.as_bytes())
    }
}

/// Computes a digest response. `qop_auth` is `Some((nc, cnonce))` for `qop=auth`.
#[allow(clippy::too_many_arguments)]
pub fn response(
    alg: Algorithm,
    username: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    qop_auth: Option<(&str, &str)>,
) -> String {
    let ha1 = alg.hash_hex(&format!("{username}:{realm}:{password}"));
    let ha2 = alg.hash_hex(&format!("{method}:{uri}"));
    match qop_auth {
        Some((nc, cnonce)) => alg.hash_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")),
        None => alg.hash_hex(&format!("{ha1}:{nonce}:{ha2}")),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7616 section 3.9.1 example (HTTP, but the arithmetic is the same).
    const NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    const CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

    #[test]
    fn rfc7616_md5_vector() {
        let r = response(
            Algorithm::Md5,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            NONCE,
            Some(("00000001", CNONCE)),
        );
        assert_eq!(r, "8ca523f5e9506fed4657c9700eebdbec");
    }

    #[test]
    fn rfc7616_sha256_vector() {
        let r = response(
            Algorithm::Sha256,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            NONCE,
            Some(("00000001", CNONCE)),
        );
        assert_eq!(
            r,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    fn header(alg: Algorithm, nc: &str, password: &str) -> String {
        let r = response(
            alg,
            "1910",
            "bluebean",
            password,
            "REGISTER",
            "sip:127.0.0.1",
            "abc",
            Some((nc, "xyz")),
        );
        format!(
            "Digest username=\"1910\", realm=\"bluebean\", nonce=\"abc\", uri=\"sip:127.0.0.1\", \
             response=\"{r}\", algorithm={}, qop=\"auth\", nc={nc}, cnonce=\"xyz\"",
            alg.as_str()
        )
    }

    #[test]
    fn verifies_both_algorithms_and_hex_nonce_counts() {
        for alg in [Algorithm::Md5, Algorithm::Sha256] {
            for nc in ["00000001", "0000000a", "000000ff"] {
                let c = Credentials::parse(&header(alg, nc, "secret")).expect("parses");
                assert!(c.verify("REGISTER", "secret"), "{alg:?} nc={nc}");
                assert!(!c.verify("REGISTER", "wrong"), "{alg:?} nc={nc}");
                assert!(!c.verify("INVITE", "secret"), "method is part of the hash");
            }
        }
    }

    #[test]
    fn parse_errors_name_what_is_wrong() {
        assert!(matches!(
            Credentials::parse("Basic abc"),
            Err(ParseError::NotDigest(_))
        ));
        assert_eq!(
            Credentials::parse("Digest username=\"a\", realm=\"r\""),
            Err(ParseError::Missing("nonce"))
        );
        assert!(matches!(
            Credentials::parse("Digest username=\"a"),
            Err(ParseError::Malformed(_))
        ));
    }

    #[test]
    fn challenge_renders_qop_and_algorithm() {
        let c = Challenge::new("bluebean", Algorithm::Sha256);
        let v = c.header_value();
        assert!(v.starts_with("Digest realm=\"bluebean\", nonce=\""));
        assert!(v.contains("algorithm=SHA-256"));
        assert!(v.contains("qop=\"auth\""));
        assert_eq!(c.nonce.len(), 32);
    }
}
