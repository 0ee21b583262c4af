//! Parsing the URIs the OS hands the softphone when a link is clicked
//! (URI-1, URI-2, URI-3) into a [`Verb`].
//!
//! # Accepted forms
//!
//! | URI | verb |
//! |---|---|
//! | `callto:N` | call N (URI-1) |
//! | `bbclient:call:N`, `bbclient:transfer:N`, `bbclient:blindtransfer:N` | call / transfer / blind transfer N (URI-2) |
//! | `bbclient:hold`, `bbclient:unhold`, `bbclient:transfer_complete`, `bbclient:hangup` | (URI-2) |
//! | `tel:N` (RFC 3966) | call N; parameters after `;` (`;phone-context=`, `;ext=`, `;isub=`) are ignored |
//! | `sip:N@host`, `sips:N@host` | call N, the user part; a password (`:pw`), user parameters (`;user=phone`), URI parameters and headers are ignored, and so is the host: the call always goes through the configured BlueBean account. `sip:N` without `@` is read as the user `N`. A user that is not a number is refused |
//!
//! What browsers, OSes and shells really pass is accepted too:
//!
//! * surrounding whitespace, and one or two layers of surrounding quotes
//!   `"…"`, `'…'` or angle brackets `<…>` (as SIP URIs are often copied);
//! * any case in the scheme (`CALLTO:`, `BBClient:`) and in `bbclient:` verb
//!   words (`bbclient:HangUp`);
//! * the authority form `callto://N`, `callto:///N`, `bbclient://hangup`
//!   (leading slashes are dropped) and trailing slashes (`callto:1330/`,
//!   which some browsers append);
//! * `/` instead of `:` between a `bbclient:` verb and its number
//!   (`bbclient://call/1330`): it is how most custom URL schemes are written,
//!   and a CRM developer who wrote it that way should not find out at the
//!   operator's desk. Only the first separator counts;
//! * percent-encoding anywhere after the scheme (`callto:%2B81%203…`), decoded
//!   once, as UTF-8: `%252B` stays `%2B` and is refused;
//! * visual separators in numbers, through [`crate::normalize_number`];
//! * a literal `#` in a number (`callto:*67#`): it is part of the number, not
//!   a fragment, since a fragment means nothing here;
//! * a query (`callto:1330?call`, as Skype-era links have, SIP headers) on
//!   `callto:`, `tel:`, `sip:` and `sips:`, ignored. On `bbclient:`, our own
//!   scheme, a query is refused: nothing produces one, so it is a mistake.
//!
//! # Refused
//!
//! * URIs over [`MAX_URI_LEN`] bytes, control or invisible characters (raw or
//!   percent-encoded), encodings that are not UTF-8;
//! * other schemes, and `bbclient:` words other than the guide's seven. In
//!   particular no URI can change settings or credentials: there is no such
//!   verb, and `bbclient:login`, `logout`, `status`, `answer`, `dtmf` and
//!   `details` are command-line only (see [`VerbWord::in_uri`]);
//! * a missing number, an argument on a verb that takes none.
//!
//! Every error is one line that quotes the URI (cut to 80 characters, control
//! characters escaped).

use percent_encoding::percent_decode_str;

use crate::number::{DialNumber, NumberError, normalize_number};
use crate::text::{Quoted, excerpt, is_hidden};
use crate::verb::{Verb, VerbArg, VerbWord};

/// The longest URI accepted, in bytes. Real links are a few dozen bytes;
/// 2 KiB is the practical URL limit of old browsers.
pub const MAX_URI_LEN: usize = 2048;

/// The schemes the softphone handles, lowercase.
pub const URI_SCHEMES: [&str; 5] = ["callto", "bbclient", "tel", "sip", "sips"];

/// Why [`parse_uri`] refused a URI. `uri` fields hold the URI cut to 80
/// characters.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// Longer than [`MAX_URI_LEN`].
    #[error(
        "URI refused: {} is {len} bytes long, more than the {MAX_URI_LEN} allowed",
        Quoted(uri)
    )]
    TooLong {
        /// The URI.
        uri: String,
        /// Its length in bytes.
        len: usize,
    },
    /// Empty, or only whitespace and quotes.
    #[error("empty URI (expected e.g. callto:1330 or bbclient:hangup)")]
    Empty,
    /// A control or invisible character, raw or percent-encoded.
    #[error(
        "URI refused: {} contains the control or invisible character U+{:04X} (remove it)",
        Quoted(uri), u32::from(*ch)
    )]
    ControlChar {
        /// The URI.
        uri: String,
        /// The character.
        ch: char,
    },
    /// No `scheme:` at the start.
    #[error(
        "{} is not a URI (expected callto:NUMBER, bbclient:VERB, tel:NUMBER or sip:NUMBER@HOST)",
        Quoted(uri)
    )]
    NotAUri {
        /// The input.
        uri: String,
    },
    /// A scheme other than [`URI_SCHEMES`].
    #[error(
        "unsupported URI {} (known schemes: callto, bbclient, tel, sip, sips)",
        Quoted(uri)
    )]
    UnsupportedScheme {
        /// The URI.
        uri: String,
    },
    /// A `bbclient:` word that is not a verb.
    #[error("unsupported URI {} (known verbs: {})", Quoted(uri), uri_verb_list())]
    UnknownVerb {
        /// The URI.
        uri: String,
    },
    /// A verb that only the command line may use.
    #[error(
        "unsupported URI {}: {verb} is available on the command line only (known verbs: {})",
        Quoted(uri),
        uri_verb_list()
    )]
    CommandLineOnly {
        /// The URI.
        uri: String,
        /// The verb.
        verb: VerbWord,
    },
    /// A verb or scheme that needs a number got none.
    #[error("URI {} has no number (write {usage})", Quoted(uri))]
    MissingNumber {
        /// The URI.
        uri: String,
        /// The expected form, e.g. `bbclient:call:NUMBER`.
        usage: &'static str,
    },
    /// A verb that takes no argument got one.
    #[error(
        "URI {}: {verb} takes no argument (write bbclient:{verb})",
        Quoted(uri)
    )]
    UnexpectedArgument {
        /// The URI.
        uri: String,
        /// The verb.
        verb: VerbWord,
    },
    /// A `bbclient:` URI with a `?query`.
    #[error("URI {}: bbclient: URIs take no '?' query (remove it)", Quoted(uri))]
    Query {
        /// The URI.
        uri: String,
    },
    /// Percent-encoding that does not decode to UTF-8.
    #[error(
        "URI {} has percent-encoding that is not UTF-8 (encode the number as UTF-8)",
        Quoted(uri)
    )]
    BadEncoding {
        /// The URI.
        uri: String,
    },
    /// The number did not normalise.
    #[error("URI {}: {error}", Quoted(uri))]
    BadNumber {
        /// The URI.
        uri: String,
        /// Why the number was refused.
        error: NumberError,
    },
    /// A `sip:`/`sips:` user that is not a phone number.
    #[error(
        "URI {}: SIP user {} is not a phone number (only numeric users such as sip:1330@host can be dialled)",
        Quoted(uri),
        Quoted(user)
    )]
    SipUserNotNumber {
        /// The URI.
        uri: String,
        /// The user part, decoded.
        user: String,
    },
}

/// The verbs a URI may carry, comma-separated, for messages.
fn uri_verb_list() -> String {
    VerbWord::ALL
        .iter()
        .filter(|w| w.in_uri())
        .map(|w| w.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses a `callto:`, `bbclient:`, `tel:`, `sip:` or `sips:` URI into a
/// verb; see the [module documentation](self) for what is accepted.
///
/// ```
/// use bb_verbs::{Verb, parse_uri};
/// assert_eq!(parse_uri("callto:1330").unwrap().to_string(), "call 1330");
/// assert_eq!(parse_uri("bbclient:blindtransfer:1303").unwrap().to_string(), "blindtransfer 1303");
/// assert_eq!(parse_uri("bbclient:transfer_complete").unwrap(), Verb::TransferComplete);
/// assert_eq!(
///     parse_uri("bbclient:format:c").unwrap_err().to_string(),
///     "unsupported URI 'bbclient:format:c' (known verbs: call, hold, unhold, transfer, \
///      transfer_complete, blindtransfer, hangup, mute, unmute)"
/// );
/// ```
pub fn parse_uri(input: &str) -> Result<Verb, UriError> {
    if input.len() > MAX_URI_LEN {
        return Err(UriError::TooLong {
            uri: excerpt(input),
            len: input.len(),
        });
    }
    let uri = unwrap(input);
    if uri.is_empty() {
        return Err(UriError::Empty);
    }
    if let Some(ch) = uri.chars().find(|&c| is_hidden(c)) {
        return Err(UriError::ControlChar {
            uri: excerpt(uri),
            ch,
        });
    }
    let p = Parser { uri };
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Err(UriError::NotAUri { uri: excerpt(uri) });
    };
    if !is_scheme(scheme) {
        return Err(UriError::NotAUri { uri: excerpt(uri) });
    }
    match scheme.to_ascii_lowercase().as_str() {
        "callto" => p.callto(rest).map(Verb::Call),
        "tel" => p.tel(rest).map(Verb::Call),
        "sip" | "sips" => p.sip(rest).map(Verb::Call),
        "bbclient" => p.bbclient(rest),
        _ => Err(UriError::UnsupportedScheme { uri: excerpt(uri) }),
    }
}

/// Strips surrounding whitespace and up to two layers of matching quotes or
/// angle brackets.
fn unwrap(s: &str) -> &str {
    let mut s = s.trim();
    for _ in 0..2 {
        let inner = [('"', '"'), ('\'', '\''), ('<', '>')]
            .into_iter()
            .find_map(|(open, close)| s.strip_prefix(open)?.strip_suffix(close));
        match inner {
            Some(inner) => s = inner.trim(),
            None => break,
        }
    }
    s
}

/// RFC 3986: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Splits off a `?query`.
fn split_query(s: &str) -> (&str, Option<&str>) {
    match s.split_once('?') {
        Some((body, query)) => (body, Some(query)),
        None => (s, None),
    }
}

fn strip_slashes(s: &str) -> &str {
    s.trim_start_matches('/').trim_end_matches('/')
}

/// The URI being parsed, for error messages.
struct Parser<'a> {
    uri: &'a str,
}

impl Parser<'_> {
    /// Percent-decodes one piece (once, as UTF-8), refuses decoded control
    /// characters, trims whitespace.
    fn decode(&self, piece: &str) -> Result<String, UriError> {
        let decoded =
            percent_decode_str(piece)
                .decode_utf8()
                .map_err(|_| UriError::BadEncoding {
                    uri: excerpt(self.uri),
                })?;
        if let Some(ch) = decoded.chars().find(|&c| is_hidden(c)) {
            return Err(UriError::ControlChar {
                uri: excerpt(self.uri),
                ch,
            });
        }
        Ok(decoded.trim().to_owned())
    }

    fn number(&self, raw: &str, usage: &'static str) -> Result<DialNumber, UriError> {
        let decoded = self.decode(raw)?;
        if decoded.is_empty() {
            return Err(UriError::MissingNumber {
                uri: excerpt(self.uri),
                usage,
            });
        }
        normalize_number(&decoded).map_err(|error| UriError::BadNumber {
            uri: excerpt(self.uri),
            error,
        })
    }

    /// `callto:N`, `callto://N/`, `callto:N?call`.
    fn callto(&self, rest: &str) -> Result<DialNumber, UriError> {
        let (body, _query) = split_query(rest);
        self.number(strip_slashes(body), "callto:NUMBER")
    }

    /// `tel:N;param=value…`.
    fn tel(&self, rest: &str) -> Result<DialNumber, UriError> {
        let (body, _query) = split_query(rest);
        let body = strip_slashes(body);
        let number = body.split(';').next().unwrap_or(body);
        self.number(number, "tel:NUMBER")
    }

    /// `sip:user[:password][;params]@host[:port][;params][?headers]`.
    fn sip(&self, rest: &str) -> Result<DialNumber, UriError> {
        let (body, _headers) = split_query(rest);
        let body = strip_slashes(body);
        let userinfo = body.split('@').next().unwrap_or(body);
        let user = userinfo.split(':').next().unwrap_or(userinfo);
        let user = user.split(';').next().unwrap_or(user);
        let decoded = self.decode(user)?;
        if decoded.is_empty() {
            return Err(UriError::MissingNumber {
                uri: excerpt(self.uri),
                usage: "sip:NUMBER@HOST",
            });
        }
        normalize_number(&decoded).map_err(|error| {
            let has_digit = decoded
                .chars()
                .any(|c| c.is_ascii_digit() || ('０'..='９').contains(&c));
            if has_digit {
                UriError::BadNumber {
                    uri: excerpt(self.uri),
                    error,
                }
            } else {
                UriError::SipUserNotNumber {
                    uri: excerpt(self.uri),
                    user: excerpt(&decoded),
                }
            }
        })
    }

    /// `bbclient:VERB[:NUMBER]`, `bbclient://VERB[/NUMBER]`.
    fn bbclient(&self, rest: &str) -> Result<Verb, UriError> {
        let (body, query) = split_query(rest);
        if query.is_some() {
            return Err(UriError::Query {
                uri: excerpt(self.uri),
            });
        }
        let body = strip_slashes(body);
        let (word, arg) = match body.split_once([':', '/']) {
            Some((word, arg)) => (word, arg),
            None => (body, ""),
        };
        let word = self.decode(word)?;
        let Some(verb) = VerbWord::parse(&word) else {
            return Err(UriError::UnknownVerb {
                uri: excerpt(self.uri),
            });
        };
        let Some(usage) = verb.uri_usage() else {
            return Err(UriError::CommandLineOnly {
                uri: excerpt(self.uri),
                verb,
            });
        };
        match verb.arg() {
            VerbArg::Number => {
                let number = self.number(arg, usage)?;
                Ok(match verb {
                    VerbWord::Transfer => Verb::Transfer(number),
                    VerbWord::BlindTransfer => Verb::BlindTransfer(number),
                    _ => Verb::Call(number),
                })
            }
            VerbArg::None => {
                if !self.decode(arg)?.is_empty() {
                    return Err(UriError::UnexpectedArgument {
                        uri: excerpt(self.uri),
                        verb,
                    });
                }
                Ok(match verb {
                    VerbWord::Hold => Verb::Hold,
                    VerbWord::Unhold => Verb::Unhold,
                    VerbWord::TransferComplete => Verb::TransferComplete,
                    VerbWord::Hangup => Verb::Hangup,
                    VerbWord::Mute => Verb::Mute,
                    VerbWord::Unmute => Verb::Unmute,
                    // `uri_usage` admitted only the verbs above.
                    _ => {
                        return Err(UriError::CommandLineOnly {
                            uri: excerpt(self.uri),
                            verb,
                        });
                    }
                })
            }
            VerbArg::Dtmf | VerbArg::OptionalLoginId | VerbArg::OnOff => {
                Err(UriError::CommandLineOnly {
                    uri: excerpt(self.uri),
                    verb,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verb::{DtmfDigits, LoginId};
    use proptest::prelude::*;

    fn n(s: &str) -> DialNumber {
        normalize_number(s).unwrap()
    }

    fn ok(uri: &str) -> Verb {
        match parse_uri(uri) {
            Ok(v) => v,
            Err(e) => panic!("{uri:?} should parse, got: {e}"),
        }
    }

    fn err(uri: &str) -> UriError {
        match parse_uri(uri) {
            Ok(v) => panic!("{uri:?} should be refused, got {v:?}"),
            Err(e) => {
                let msg = e.to_string();
                assert!(!msg.contains('\n') && !msg.is_empty(), "one line: {msg:?}");
                e
            }
        }
    }

    #[test]
    fn guide_examples() {
        assert_eq!(ok("callto:1330"), Verb::Call(n("1330")));
        assert_eq!(ok("bbclient:call:1330"), Verb::Call(n("1330")));
        assert_eq!(ok("bbclient:hold"), Verb::Hold);
        assert_eq!(ok("bbclient:unhold"), Verb::Unhold);
        assert_eq!(ok("bbclient:transfer:1303"), Verb::Transfer(n("1303")));
        assert_eq!(ok("bbclient:transfer_complete"), Verb::TransferComplete);
        assert_eq!(
            ok("bbclient:blindtransfer:1303"),
            Verb::BlindTransfer(n("1303"))
        );
        assert_eq!(ok("bbclient:hangup"), Verb::Hangup);
    }

    #[test]
    fn what_browsers_oses_and_shells_pass() {
        let call = Verb::Call(n("1330"));
        for uri in [
            "callto://1330",
            "callto:///1330",
            "callto:1330/",
            "callto://1330/",
            "CALLTO:1330",
            "CallTo:1330",
            "  callto:1330 \n",
            "\"callto:1330\"",
            "'callto:1330'",
            "\"'callto:1330'\"",
            "callto:1330?call",
            "callto:%31%33%33%30",
            "callto:13-30",
            "callto:13%2030",
            "callto:%EF%BC%91%EF%BC%93%EF%BC%93%EF%BC%90",
            "callto:１３３０",
            "BBClient:call:1330",
            "BBCLIENT:CALL:1330",
            "bbclient:Call:1330",
            "bbclient://call/1330",
            "bbclient://call/1330/",
            "bbclient://call:1330",
            "bbclient:call/1330",
            "bbclient:call:%201330%20",
            "bbclient:%63all:1330",
            "tel:1330",
            "TEL:1330",
            "sip:1330@pbx.example.com",
            "<sip:1330@pbx.example.com>",
        ] {
            assert_eq!(ok(uri), call, "{uri:?}");
        }
        assert_eq!(
            ok("callto:%2B81-3-1234-5678"),
            Verb::Call(n("+81312345678"))
        );
        assert_eq!(
            ok("callto:+81%203%201234%205678"),
            Verb::Call(n("+81312345678"))
        );
        assert_eq!(ok("callto:%2b81312345678"), Verb::Call(n("+81312345678")));
        assert_eq!(ok("callto:(03)1234.5678"), Verb::Call(n("0312345678")));
        assert_eq!(ok("callto:*67#"), Verb::Call(n("*67#")));
        assert_eq!(ok("callto:*67%23"), Verb::Call(n("*67#")));
        assert_eq!(ok("bbclient:HangUp"), Verb::Hangup);
        assert_eq!(ok("bbclient://hangup/"), Verb::Hangup);
        assert_eq!(ok("bbclient:hold:"), Verb::Hold);
        assert_eq!(ok("bbclient:TRANSFER_COMPLETE"), Verb::TransferComplete);
        assert_eq!(
            ok("bbclient:BlindTransfer:03-1234"),
            Verb::BlindTransfer(n("031234"))
        );
    }

    #[test]
    fn tel_uris_ignore_parameters() {
        assert_eq!(
            ok("tel:+81-3-1234-5678;phone-context=example.com"),
            Verb::Call(n("+81312345678"))
        );
        assert_eq!(ok("tel:1330;phone-context=+81-3"), Verb::Call(n("1330")));
        assert_eq!(
            ok("tel:+1-201-555-0123;ext=1234"),
            Verb::Call(n("+12015550123"))
        );
        assert_eq!(ok("tel:(03)1234.5678"), Verb::Call(n("0312345678")));
        assert!(matches!(
            err("tel:"),
            UriError::MissingNumber {
                usage: "tel:NUMBER",
                ..
            }
        ));
        assert!(matches!(
            err("tel:;phone-context=x"),
            UriError::MissingNumber { .. }
        ));
    }

    #[test]
    fn sip_uris_take_the_numeric_user() {
        assert_eq!(
            ok("sips:+81312345678@pbx.example.com:5061"),
            Verb::Call(n("+81312345678"))
        );
        assert_eq!(
            ok("sip:+1-212-555-1212:1234@gateway.com;user=phone"),
            Verb::Call(n("+12125551212"))
        );
        assert_eq!(
            ok("sip:1330;user=phone@host?subject=x"),
            Verb::Call(n("1330"))
        );
        assert_eq!(ok("sip:1330"), Verb::Call(n("1330")));
        assert_eq!(ok("SIP:%2B81312345678@host"), Verb::Call(n("+81312345678")));
        assert_eq!(
            err("sip:alice@example.com").to_string(),
            "URI 'sip:alice@example.com': SIP user 'alice' is not a phone number \
             (only numeric users such as sip:1330@host can be dialled)"
        );
        assert!(matches!(
            err("sip:pbx.example.com"),
            UriError::SipUserNotNumber { .. }
        ));
        assert!(matches!(err("sip:13a0@host"), UriError::BadNumber { .. }));
        assert_eq!(
            err("sip:@host").to_string(),
            "URI 'sip:@host' has no number (write sip:NUMBER@HOST)"
        );
    }

    #[test]
    fn unknown_verbs_and_schemes_are_refused_naming_the_uri() {
        assert_eq!(
            err("bbclient:format:c").to_string(),
            "unsupported URI 'bbclient:format:c' (known verbs: call, hold, unhold, transfer, \
             transfer_complete, blindtransfer, hangup, mute, unmute)"
        );
        assert!(matches!(err("bbclient:"), UriError::UnknownVerb { .. }));
        assert!(matches!(err("bbclient://"), UriError::UnknownVerb { .. }));
        assert!(matches!(
            err("bbclient:blind_transfer:1"),
            UriError::UnknownVerb { .. }
        ));
        assert_eq!(
            err("http://evil.example/").to_string(),
            "unsupported URI 'http://evil.example/' (known schemes: callto, bbclient, tel, sip, sips)"
        );
        assert!(matches!(
            err("javascript:alert(1)"),
            UriError::UnsupportedScheme { .. }
        ));
        assert!(matches!(
            err("file:///etc/passwd"),
            UriError::UnsupportedScheme { .. }
        ));
        assert_eq!(
            err("1330").to_string(),
            "'1330' is not a URI (expected callto:NUMBER, bbclient:VERB, tel:NUMBER or sip:NUMBER@HOST)"
        );
        assert!(matches!(err(":1330"), UriError::NotAUri { .. }));
        assert!(matches!(err("1call:1330"), UriError::NotAUri { .. }));
        assert!(matches!(err("\"callto:1330"), UriError::NotAUri { .. }));
        assert_eq!(err("  \"\" "), UriError::Empty);
        assert_eq!(
            err("").to_string(),
            "empty URI (expected e.g. callto:1330 or bbclient:hangup)"
        );
    }

    #[test]
    fn no_uri_can_touch_settings_credentials_or_the_operator_session() {
        for uri in [
            "bbclient:set:password:x",
            "bbclient:settings",
            "bbclient:config:server=evil",
            "bbclient:configure",
            "bbclient:password:x",
            "bbclient:account:evil",
            "bbclient:install-handlers",
            "bbclient:run",
            "bbclient:loginfoo",
        ] {
            assert!(matches!(err(uri), UriError::UnknownVerb { .. }), "{uri}");
        }
        for (uri, verb) in [
            ("bbclient:login", VerbWord::Login),
            ("bbclient:login:op1", VerbWord::Login),
            ("bbclient://login/op1/secret", VerbWord::Login),
            ("BBCLIENT:LOGOUT", VerbWord::Logout),
            ("bbclient:status", VerbWord::Status),
            ("bbclient:answer", VerbWord::Answer),
            ("bbclient:dtmf:1234#", VerbWord::Dtmf),
            ("bbclient:details", VerbWord::Details),
        ] {
            assert_eq!(
                err(uri),
                UriError::CommandLineOnly {
                    uri: uri.to_owned(),
                    verb
                }
            );
        }
        assert_eq!(
            err("bbclient:login:op1").to_string(),
            "unsupported URI 'bbclient:login:op1': login is available on the command line only \
             (known verbs: call, hold, unhold, transfer, transfer_complete, blindtransfer, hangup, mute, unmute)"
        );
    }

    #[test]
    fn arity_is_checked() {
        assert_eq!(
            err("bbclient:call").to_string(),
            "URI 'bbclient:call' has no number (write bbclient:call:NUMBER)"
        );
        assert!(matches!(
            err("bbclient:transfer:"),
            UriError::MissingNumber {
                usage: "bbclient:transfer:NUMBER",
                ..
            }
        ));
        assert!(matches!(
            err("bbclient://blindtransfer/"),
            UriError::MissingNumber {
                usage: "bbclient:blindtransfer:NUMBER",
                ..
            }
        ));
        assert_eq!(
            err("callto:").to_string(),
            "URI 'callto:' has no number (write callto:NUMBER)"
        );
        assert!(matches!(err("callto://"), UriError::MissingNumber { .. }));
        assert!(matches!(err("callto:%20"), UriError::MissingNumber { .. }));
        assert_eq!(
            err("bbclient:hold:1330").to_string(),
            "URI 'bbclient:hold:1330': hold takes no argument (write bbclient:hold)"
        );
        assert!(matches!(
            err("bbclient:hangup/now"),
            UriError::UnexpectedArgument {
                verb: VerbWord::Hangup,
                ..
            }
        ));
    }

    #[test]
    fn bad_numbers_chain_the_number_error() {
        assert_eq!(
            err("callto:0312x45").to_string(),
            "URI 'callto:0312x45': number refused: 'x' at position 4 in '0312x45' is not a digit \
             (allowed: digits, a leading +, * and #; hyphens, spaces, dots and brackets are removed)"
        );
        assert!(matches!(err("callto:echo123"), UriError::BadNumber { .. }));
        assert!(matches!(
            err("bbclient:call:1330:1"),
            UriError::BadNumber { .. }
        ));
        assert!(matches!(
            err("bbclient:call:13/30"),
            UriError::BadNumber { .. }
        ));
        // Decoded once only: a double-encoded plus stays '%2B' and is refused.
        assert!(
            err("callto:%252B81")
                .to_string()
                .contains("'%' at position 0 in '%2B81'")
        );
        // Malformed escapes are left as they are, and the '%' is refused.
        assert!(matches!(err("callto:%zz1330"), UriError::BadNumber { .. }));
        assert!(matches!(err("callto:1%"), UriError::BadNumber { .. }));
    }

    #[test]
    fn absurd_inputs_are_refused() {
        let long = format!("callto:{}", "1".repeat(MAX_URI_LEN));
        let e = err(&long);
        assert!(matches!(e, UriError::TooLong { len, .. } if len == MAX_URI_LEN + 7));
        assert!(e.to_string().len() < 250);
        assert_eq!(
            err("callto:13\u{7}30").to_string(),
            "URI refused: 'callto:13\\u{7}30' contains the control or invisible character U+0007 (remove it)"
        );
        assert!(matches!(
            err("callto:1330%0A"),
            UriError::ControlChar { ch: '\n', .. }
        ));
        assert!(matches!(
            err("callto:1330%00"),
            UriError::ControlChar { ch: '\0', .. }
        ));
        assert!(matches!(
            err("bbclient:hang%0Aup"),
            UriError::ControlChar { .. }
        ));
        assert!(matches!(
            err("callto:13\u{202E}30"),
            UriError::ControlChar { .. }
        ));
        assert!(matches!(
            err("callto:%E2%80%8B1330"),
            UriError::ControlChar { .. }
        ));
        assert_eq!(
            err("callto:%FF1330").to_string(),
            "URI 'callto:%FF1330' has percent-encoding that is not UTF-8 (encode the number as UTF-8)"
        );
        assert_eq!(
            err("bbclient:hangup?x=1").to_string(),
            "URI 'bbclient:hangup?x=1': bbclient: URIs take no '?' query (remove it)"
        );
    }

    /// Every verb a URI may carry, with arbitrary valid numbers.
    fn uri_verb() -> impl Strategy<Value = Verb> {
        let number = "\\+?[0-9*#]{1,32}".prop_map(|s| n(&s));
        prop_oneof![
            number.clone().prop_map(Verb::Call),
            number.clone().prop_map(Verb::Transfer),
            number.prop_map(Verb::BlindTransfer),
            Just(Verb::Hold),
            Just(Verb::Unhold),
            Just(Verb::TransferComplete),
            Just(Verb::Hangup),
        ]
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_strings(s in prop_oneof![crate::text::any_text(), any::<String>()]) {
            let _ = parse_uri(&s);
        }

        #[test]
        fn never_panics_on_scheme_prefixed_noise(
            scheme in prop::sample::select(&["callto:", "bbclient:", "tel:", "sip:", "sips:", "BBClient://", "bbclient:call:"][..]),
            rest in "[\\PC%:/;@?#'\"<> ]{0,64}",
        ) {
            let _ = parse_uri(&format!("{scheme}{rest}"));
        }

        #[test]
        fn canonical_uri_parses_back_to_the_verb(verb in uri_verb()) {
            let uri = verb.to_uri();
            prop_assert!(uri.is_some());
            let uri = uri.unwrap_or_default();
            prop_assert_eq!(parse_uri(&uri), Ok(verb));
        }

        #[test]
        fn callto_and_bbclient_call_agree(number in "\\+?[0-9*#]{1,32}") {
            let encoded = number.replace('#', "%23").replace('+', "%2B");
            prop_assert_eq!(parse_uri(&format!("callto:{encoded}")), parse_uri(&format!("bbclient:call:{number}")));
        }
    }

    #[test]
    fn command_line_only_verbs_have_no_uri() {
        assert_eq!(Verb::Dtmf(DtmfDigits::parse("1").unwrap()).to_uri(), None);
        assert_eq!(
            Verb::Login {
                login_id: Some(LoginId::parse("op").unwrap())
            }
            .to_uri(),
            None
        );
    }
}
