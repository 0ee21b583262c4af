//! SDES key exchange (RFC 4568): the `a=crypto` attribute that carries an
//! SRTP master key inside the SDP, read and written as text.
//!
//! ```text
//! a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4
//!          tag suite                  key||salt (base64)                          lifetime MKI
//! ```
//!
//! Only what a phone needs: the tag, the suite name, one `inline:` key with
//! its optional lifetime and MKI, and the session parameters kept as
//! written. A line that does not parse is skipped (RFC 4568 section 6.3 lets
//! the answerer ignore what it does not understand); what negotiation makes
//! of the rest is the caller's business.
//!
//! The offer/answer rules ([`offer`], [`answer`], [`answered`]) follow an
//! `off | optional | required` [`Policy`], the same for the softphone and
//! the simulator's parties:
//!
//! * `off` offers plain `RTP/AVP` and answers an `RTP/AVP` offer plainly
//!   (ignoring its keys); an `RTP/SAVP` offer is refused.
//! * `optional` offers keys inside `RTP/AVP` (best-effort SRTP, as baresip's
//!   `mediaenc srtp`), answers keys with keys and a plain offer plainly.
//! * `required` offers `RTP/SAVP` with keys (`srtp-mand`) and refuses an
//!   offer or an answer without a usable key.
//!
//! Usable means one of our two suites, a 30-octet key, no MKI and no session
//! parameters (`UNENCRYPTED_SRTP` and friends would weaken the stream).
//!
//! The key's octets are wiped on drop and never printed: [`SdesKey`]'s
//! `Debug` shows only its length. The base64 text appears only in the SDP
//! body itself, which callers must not log.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

/// Key and salt octets, wiped on drop, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SdesKey(Zeroizing<Vec<u8>>);

impl SdesKey {
    /// Wraps octets (a fresh key, or one to announce).
    pub fn new(octets: &[u8]) -> SdesKey {
        SdesKey(Zeroizing::new(octets.to_vec()))
    }

    /// The octets.
    pub fn octets(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SdesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SdesKey(<{} octets, not shown>)", self.0.len())
    }
}

/// One `a=crypto` attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crypto {
    /// The tag the answer refers back to (1 to 999999999).
    pub tag: u32,
    /// The suite as written (`AES_CM_128_HMAC_SHA1_80`).
    pub suite: String,
    /// The master key and salt.
    pub key: SdesKey,
    /// The key lifetime as written (`2^20`), if given.
    pub lifetime: Option<String>,
    /// The master key identifier and its length in octets, if given.
    pub mki: Option<(u64, u8)>,
    /// Session parameters as written (`UNENCRYPTED_SRTCP`, …).
    pub params: Vec<String>,
}

impl Crypto {
    /// An attribute with no lifetime, MKI or session parameters.
    pub fn new(tag: u32, suite: &str, key: SdesKey) -> Crypto {
        Crypto {
            tag,
            suite: suite.to_string(),
            key,
            lifetime: None,
            mki: None,
            params: Vec::new(),
        }
    }

    /// Reads the value of an `a=crypto` attribute (after `crypto:`).
    pub fn parse(value: &str) -> Option<Crypto> {
        let mut words = value.split_ascii_whitespace();
        let tag: u32 = words.next()?.parse().ok()?;
        if tag == 0 || tag > 999_999_999 {
            return None;
        }
        let suite = words.next()?;
        if suite.is_empty()
            || !suite
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return None;
        }
        // key-params: one or more `inline:` separated by ';'; we read the
        // first (several keys at once need MKIs, which we do not select on).
        let key_params = words.next()?;
        let first = key_params.split(';').next()?;
        let inline = first.strip_prefix("inline:")?;
        let mut parts = inline.split('|');
        let b64 = parts.next()?;
        let octets = Zeroizing::new(STANDARD.decode(b64).ok()?);
        let mut lifetime = None;
        let mut mki = None;
        for p in parts {
            if let Some((v, len)) = p.split_once(':') {
                mki = Some((v.parse().ok()?, len.parse().ok()?));
            } else {
                lifetime = Some(p.to_string());
            }
        }
        Some(Crypto {
            tag,
            suite: suite.to_string(),
            key: SdesKey(octets),
            lifetime,
            mki,
            params: words.map(str::to_string).collect(),
        })
    }

    /// The attribute value, as written after `a=crypto:`. Holds the key:
    /// for the SDP body only, never for a log.
    pub fn render(&self) -> String {
        let mut s = format!(
            "{} {} inline:{}",
            self.tag,
            self.suite,
            STANDARD.encode(self.key.octets())
        );
        if let Some(l) = &self.lifetime {
            s.push('|');
            s.push_str(l);
        }
        if let Some((v, len)) = self.mki {
            s.push_str(&format!("|{v}:{len}"));
        }
        for p in &self.params {
            s.push(' ');
            s.push_str(p);
        }
        s
    }
}

/// The suites we speak, in our order of preference.
pub const SUITES: [&str; 2] = ["AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"];
/// Octets of an AES-128 master key and salt.
pub const KEY_LEN: usize = 30;

/// Whether calls use SRTP (`[audio] srtp`, a party's `srtp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Plain RTP; offers with `RTP/SAVP` are refused.
    #[default]
    Off,
    /// SRTP when the peer has it, else plain RTP.
    Optional,
    /// SRTP or no call.
    Required,
}

impl Policy {
    /// Reads `off`, `optional` or `required`.
    pub fn parse(s: &str) -> Option<Policy> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" => Some(Policy::Off),
            "optional" => Some(Policy::Optional),
            "required" => Some(Policy::Required),
            _ => None,
        }
    }

    /// The setting's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Off => "off",
            Policy::Optional => "optional",
            Policy::Required => "required",
        }
    }
}

/// The keys both sides agreed for a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreed {
    /// One of [`SUITES`].
    pub suite: &'static str,
    /// The tag of the agreed line.
    pub tag: u32,
    /// Our key (we encrypt with it).
    pub local: SdesKey,
    /// The peer's key (we decrypt with it).
    pub remote: SdesKey,
}

/// Why SRTP negotiation refuses a description. Texts name the setting to
/// change; they never hold a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// `required`, and the peer has no usable key.
    #[error("audio.srtp is \"required\" but the {what} has no usable SRTP key{found}")]
    NoKey {
        /// `offer` or `answer`.
        what: &'static str,
        /// What it had instead, in words (may be empty).
        found: String,
    },
    /// The peer insists on SRTP (`RTP/SAVP`) and we have it off or cannot.
    #[error("the offer requires SRTP (RTP/SAVP) but {why}")]
    PeerRequires {
        /// Why we cannot.
        why: String,
    },
    /// The answer's key refers to no line of our offer.
    #[error("the answer's a=crypto (tag {tag}, {suite}) matches none of the keys we offered")]
    Mismatch {
        /// The answer's tag.
        tag: u32,
        /// The answer's suite.
        suite: String,
    },
    /// An SRTP call was re-offered without keys (a downgrade).
    #[error(
        "the call is encrypted and the new offer has no usable SRTP key; the call stays as it was"
    )]
    Downgrade,
}

/// A fresh key for a line ([`random_key`]; tests pass fixed ones).
pub type NewKey<'a> = &'a mut dyn FnMut() -> SdesKey;

/// A fresh master key and salt from `rand`'s thread generator (a CSPRNG
/// seeded from the operating system).
pub fn random_key() -> SdesKey {
    let mut k = Zeroizing::new(vec![0u8; KEY_LEN]);
    rand::fill(&mut k[..]);
    SdesKey(k)
}

fn suite_of(c: &Crypto) -> Option<&'static str> {
    SUITES.into_iter().find(|s| *s == c.suite)
}

/// Whether we can use this line.
pub fn usable(c: &Crypto) -> bool {
    suite_of(c).is_some()
        && c.key.octets().len() == KEY_LEN
        && c.mki.is_none()
        && c.params.is_empty()
}

fn describe(lines: &[Crypto]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let list: Vec<String> = lines
        .iter()
        .map(|c| {
            let mut s = c.suite.clone();
            if c.mki.is_some() {
                s.push_str(" with an MKI");
            }
            if !c.params.is_empty() {
                // Network text: printable ASCII only, no quotes, bounded.
                let p: String = c
                    .params
                    .join(" ")
                    .chars()
                    .filter(|ch| ch.is_ascii_graphic() && *ch != '"' && *ch != '\\' || *ch == ' ')
                    .take(60)
                    .collect();
                s.push_str(&format!(" with {p}"));
            }
            s
        })
        .collect();
    format!(
        " (it offers {}; we speak {})",
        list.join(", "),
        SUITES.join(" and ")
    )
}

/// What we offer: the profile (`true` for `RTP/SAVP`) and the key lines.
pub fn offer(policy: Policy, new_key: NewKey<'_>) -> (bool, Vec<Crypto>) {
    match policy {
        Policy::Off => (false, Vec::new()),
        Policy::Optional | Policy::Required => {
            let lines = SUITES
                .iter()
                .zip(1u32..)
                .map(|(suite, tag)| Crypto::new(tag, suite, new_key()))
                .collect();
            (policy == Policy::Required, lines)
        }
    }
}

/// What we answer to an offer: `Ok(None)` for plain RTP, or our line and
/// the agreed keys. `current` is the stream's agreement when this is a
/// re-offer: our key is kept when the suite stays (a new one would restart
/// the key's packet index, RFC 3711 section 9.2), and an offer without keys
/// is refused as a downgrade.
pub fn answer(
    policy: Policy,
    offered: &[Crypto],
    offered_secure: bool,
    current: Option<&Agreed>,
    new_key: NewKey<'_>,
) -> Result<Option<(Crypto, Agreed)>, Refusal> {
    answer_keeping(policy, offered, offered_secure, current, true, new_key)
}

/// [`answer`], with our key kept on a re-offer only when `keep_ours`
/// (false: a fresh key in every answer, the test parties' re-keying).
fn answer_keeping(
    policy: Policy,
    offered: &[Crypto],
    offered_secure: bool,
    current: Option<&Agreed>,
    keep_ours: bool,
    new_key: NewKey<'_>,
) -> Result<Option<(Crypto, Agreed)>, Refusal> {
    if policy == Policy::Off {
        if offered_secure {
            return Err(Refusal::PeerRequires {
                why: "audio.srtp is \"off\" (set it to \"optional\" or \"required\")".into(),
            });
        }
        return Ok(None);
    }
    let Some(line) = offered.iter().find(|c| usable(c)) else {
        if current.is_some() {
            return Err(Refusal::Downgrade);
        }
        if policy == Policy::Required {
            return Err(Refusal::NoKey {
                what: "offer",
                found: describe(offered),
            });
        }
        if offered_secure {
            return Err(Refusal::PeerRequires {
                why: format!("none of its keys is usable{}", describe(offered)),
            });
        }
        return Ok(None);
    };
    let suite = suite_of(line).unwrap_or(SUITES[0]);
    let local = match current {
        Some(a) if keep_ours && a.suite == suite => a.local.clone(),
        _ => new_key(),
    };
    let ours = Crypto::new(line.tag, suite, local.clone());
    Ok(Some((
        ours,
        Agreed {
            suite,
            tag: line.tag,
            local,
            remote: line.key.clone(),
        },
    )))
}

/// What the peer's answer to our offer (`ours`, the lines we sent) agrees:
/// `Ok(None)` for plain RTP.
pub fn answered(
    policy: Policy,
    ours: &[Crypto],
    answer: &[Crypto],
) -> Result<Option<Agreed>, Refusal> {
    if ours.is_empty() {
        return Ok(None);
    }
    let Some(line) = answer.iter().find(|c| usable(c)) else {
        if policy == Policy::Required {
            return Err(Refusal::NoKey {
                what: "answer",
                found: describe(answer),
            });
        }
        return Ok(None);
    };
    let Some(mine) = ours
        .iter()
        .find(|o| o.tag == line.tag && o.suite == line.suite)
    else {
        return Err(Refusal::Mismatch {
            tag: line.tag,
            suite: line.suite.clone(),
        });
    };
    Ok(Some(Agreed {
        suite: suite_of(line).unwrap_or(SUITES[0]),
        tag: line.tag,
        local: mine.key.clone(),
        remote: line.key.clone(),
    }))
}

/// One stream's SDES state, as each side of a call keeps it: the profile
/// and key lines our SDP carries (every line of a first offer, then the
/// agreed one) and what both sides agreed. Refusals change nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamKeys {
    /// Our SDP's profile is `RTP/SAVP`.
    pub secure: bool,
    /// The `a=crypto` lines our SDP carries.
    pub crypto: Vec<Crypto>,
    /// What both sides agreed, when the stream is encrypted.
    pub agreed: Option<Agreed>,
}

impl StreamKeys {
    /// The keys of a first offer (fresh ones, per `policy`).
    pub fn offering(policy: Policy) -> StreamKeys {
        let (secure, crypto) = offer(policy, &mut random_key);
        StreamKeys {
            secure,
            crypto,
            agreed: None,
        }
    }

    /// Answers the keys of an offer (a first one or a re-INVITE's),
    /// mirroring its profile. `keep_ours`: our key stays across re-offers
    /// (false only to test a far end's re-keying).
    pub fn answer(
        &mut self,
        policy: Policy,
        offered: &[Crypto],
        offered_secure: bool,
        keep_ours: bool,
    ) -> Result<(), Refusal> {
        let answered = answer_keeping(
            policy,
            offered,
            offered_secure,
            self.agreed.as_ref(),
            keep_ours,
            &mut random_key,
        )?;
        *self = match answered {
            Some((ours, agreed)) => StreamKeys {
                // Best-effort SRTP stays AVP.
                secure: offered_secure,
                crypto: vec![ours],
                agreed: Some(agreed),
            },
            None => StreamKeys::default(),
        };
        Ok(())
    }

    /// Reads the keys of the answer to our offer. An encrypted stream
    /// answered without keys is refused (it stays as it was).
    pub fn take_answer(&mut self, policy: Policy, answer: &[Crypto]) -> Result<(), Refusal> {
        match answered(policy, &self.crypto, answer)? {
            Some(agreed) => {
                self.crypto.retain(|c| c.tag == agreed.tag);
                self.agreed = Some(agreed);
            }
            None if self.agreed.is_some() => return Err(Refusal::Downgrade),
            None => *self = StreamKeys::default(),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of RFC 4568 section 4.
    const RFC: &str =
        "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4";

    #[test]
    fn reads_and_writes_the_rfc_example() {
        let c = Crypto::parse(RFC).expect("the RFC's own example");
        assert_eq!(c.tag, 1);
        assert_eq!(c.suite, "AES_CM_128_HMAC_SHA1_80");
        assert_eq!(c.key.octets().len(), 30);
        assert_eq!(c.lifetime.as_deref(), Some("2^20"));
        assert_eq!(c.mki, Some((1, 4)));
        assert_eq!(c.render(), RFC);
        let p = Crypto::parse(&format!("{RFC} UNENCRYPTED_SRTCP")).expect("params");
        assert_eq!(p.params, ["UNENCRYPTED_SRTCP"]);
    }

    #[test]
    fn bad_lines_are_skipped_not_fatal() {
        for bad in [
            "",
            "x AES_CM_128_HMAC_SHA1_80 inline:PS1u",
            "0 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
            "1 AES_CM_128_HMAC_SHA1_80",
            "1 AES_CM_128_HMAC_SHA1_80 key:PS1u",
            "1 AES_CM_128_HMAC_SHA1_80 inline:***",
            "1 AES;rm inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
            "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|x:y",
        ] {
            assert_eq!(Crypto::parse(bad), None, "{bad:?}");
        }
    }

    fn keys() -> impl FnMut() -> SdesKey {
        let mut n = 0u8;
        move || {
            n += 1;
            SdesKey::new(&[n; KEY_LEN])
        }
    }

    #[test]
    fn offers_follow_the_policy() {
        let mut k = keys();
        assert_eq!(offer(Policy::Off, &mut k), (false, vec![]));
        let (secure, lines) = offer(Policy::Optional, &mut k);
        assert!(!secure);
        assert_eq!(lines.len(), 2);
        assert_eq!((lines[0].tag, lines[0].suite.as_str()), (1, SUITES[0]));
        assert_ne!(lines[0].key, lines[1].key, "a key per line");
        assert!(offer(Policy::Required, &mut k).0);
    }

    #[test]
    fn answers_pick_the_first_usable_line_and_keep_its_tag() {
        let mut k = keys();
        let mut mki = Crypto::parse(RFC).expect("parses");
        mki.tag = 3;
        let good = Crypto::new(7, SUITES[1], SdesKey::new(&[0xaa; KEY_LEN]));
        let offered = vec![mki, good.clone()];
        let (ours, agreed) = answer(Policy::Optional, &offered, false, None, &mut k)
            .expect("usable")
            .expect("srtp");
        assert_eq!((ours.tag, ours.suite.as_str()), (7, SUITES[1]));
        assert_eq!(agreed.remote, good.key);
        assert_eq!(agreed.local, ours.key);
        // A re-offer with a new key of theirs: ours stays, theirs changes.
        let rekeyed = vec![Crypto::new(7, SUITES[1], SdesKey::new(&[0xbb; KEY_LEN]))];
        let (_, again) = answer(Policy::Optional, &rekeyed, false, Some(&agreed), &mut k)
            .expect("usable")
            .expect("srtp");
        assert_eq!(again.local, agreed.local);
        assert_eq!(again.remote.octets(), &[0xbb; KEY_LEN]);
        // …and one without keys is a downgrade.
        assert_eq!(
            answer(Policy::Optional, &[], false, Some(&agreed), &mut k),
            Err(Refusal::Downgrade)
        );
    }

    #[test]
    fn refusals_name_the_cause() {
        let mut k = keys();
        let e = answer(Policy::Required, &[], false, None, &mut k).expect_err("no key");
        assert_eq!(
            e.to_string(),
            "audio.srtp is \"required\" but the offer has no usable SRTP key"
        );
        let odd = vec![Crypto::new(1, "AEAD_AES_256_GCM", SdesKey::new(&[1; 44]))];
        let e = answer(Policy::Required, &odd, true, None, &mut k).expect_err("no suite");
        assert!(e.to_string().contains("it offers AEAD_AES_256_GCM"), "{e}");
        let e = answer(Policy::Off, &odd, true, None, &mut k).expect_err("savp");
        assert!(e.to_string().contains("audio.srtp is \"off\""), "{e}");
        // Plain offers are answered plainly unless required.
        assert_eq!(answer(Policy::Optional, &[], false, None, &mut k), Ok(None));
        assert_eq!(answer(Policy::Off, &odd, false, None, &mut k), Ok(None));
    }

    #[test]
    fn answers_to_our_offer() {
        let mut k = keys();
        let (_, ours) = offer(Policy::Optional, &mut k);
        let theirs = vec![Crypto::new(2, SUITES[1], SdesKey::new(&[9; KEY_LEN]))];
        let a = answered(Policy::Optional, &ours, &theirs)
            .expect("matches")
            .expect("srtp");
        assert_eq!((a.tag, a.suite), (2, SUITES[1]));
        assert_eq!(a.local, ours[1].key);
        assert_eq!(answered(Policy::Optional, &ours, &[]), Ok(None));
        assert!(matches!(
            answered(Policy::Required, &ours, &[]),
            Err(Refusal::NoKey { what: "answer", .. })
        ));
        let wrong = vec![Crypto::new(5, SUITES[0], SdesKey::new(&[9; KEY_LEN]))];
        assert!(matches!(
            answered(Policy::Optional, &ours, &wrong),
            Err(Refusal::Mismatch { tag: 5, .. })
        ));
        assert_eq!(answered(Policy::Off, &[], &theirs), Ok(None));
    }

    #[test]
    fn the_key_never_prints() {
        let c = Crypto::parse(RFC).expect("parses");
        let shown = format!("{c:?}");
        assert!(!shown.contains("PS1u"), "{shown}");
        assert!(shown.contains("30 octets"), "{shown}");
    }
}
