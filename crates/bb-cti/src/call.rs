//! The call-event model: the six placeholder values of WEB-2, how they are
//! derived from SIP facts, call events, and the internal-call rule.

use std::ops::RangeInclusive;
use std::time::Duration;

use crate::redact::Secret;

/// The six values behind the WEB-2 placeholders, for one call.
///
/// `caller_number`, `exten`, `outline_number` and `call_id` come from the
/// network and are untrusted; `op_id` and `op_pw` come from the operator
/// login (ACD-1). `Debug` shows `op_pw` as `***`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallValues {
    /// `%CallerNumber%`: the other party's number.
    pub caller_number: String,
    /// `%Exten%`: the extension that received the call.
    pub exten: String,
    /// `%OutLineNumber%`: the company outside-line number that was called,
    /// empty when none was (an extension-to-extension call).
    pub outline_number: String,
    /// `%CallId%`: the SIP Call-ID.
    pub call_id: String,
    /// `%OpId%`: the BlueBean login ID (empty when no operator is logged in).
    pub op_id: String,
    /// `%OpPW%`: the BlueBean login password.
    pub op_pw: Secret<String>,
}

/// The operator login behind `%OpId%` and `%OpPW%` (ACD-1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OperatorLogin {
    /// Login ID.
    pub id: String,
    /// Login password.
    pub password: Secret<String>,
}

/// What the driver extracts from an incoming INVITE; user parts only
/// (`sip:0312345678@pbx` → `0312345678`), already unescaped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SipFacts {
    /// User part of the From URI.
    pub from_user: String,
    /// User part of the P-Asserted-Identity URI, if the header is present.
    pub pai_user: Option<String>,
    /// User part of the P-Called-Party-ID URI, if the header is present.
    pub p_called_party_user: Option<String>,
    /// User part of the To URI.
    pub to_user: String,
    /// User part of the Request-URI.
    pub request_uri_user: String,
    /// The softphone's own extension (the account user).
    pub own_extension: String,
    /// The Call-ID header value.
    pub call_id: String,
}

impl CallValues {
    /// Derives the values from the SIP facts of an incoming call:
    ///
    /// - `%CallerNumber%`: the P-Asserted-Identity user when present and not
    ///   empty, else the From user;
    /// - `%Exten%`: the own extension;
    /// - `%OutLineNumber%`: the P-Called-Party-ID user when present and not
    ///   empty; else the To user when it differs from the own extension; else
    ///   the Request-URI user when it differs; else empty;
    /// - `%CallId%`: the Call-ID;
    /// - `%OpId%`, `%OpPW%`: from `operator`.
    ///
    /// Surrounding whitespace is trimmed; nothing else is changed here (the
    /// request builder encodes and the command renderer filters).
    pub fn from_sip(facts: &SipFacts, operator: &OperatorLogin) -> CallValues {
        let non_empty = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let own = facts.own_extension.trim();
        let caller_number =
            non_empty(&facts.pai_user).unwrap_or_else(|| facts.from_user.trim().to_owned());
        let outline_number = non_empty(&facts.p_called_party_user).unwrap_or_else(|| {
            [facts.to_user.trim(), facts.request_uri_user.trim()]
                .into_iter()
                .find(|u| !u.is_empty() && *u != own)
                .unwrap_or("")
                .to_owned()
        });
        CallValues {
            caller_number,
            exten: own.to_owned(),
            outline_number,
            call_id: facts.call_id.trim().to_owned(),
            op_id: operator.id.clone(),
            op_pw: operator.password.clone(),
        }
    }
}

impl CallValues {
    /// The values of a call the operator places: `%CallerNumber%` is the
    /// dialled number, `%OutLineNumber%` is empty.
    pub fn outgoing(
        dialled: &str,
        own_extension: &str,
        call_id: &str,
        operator: &OperatorLogin,
    ) -> CallValues {
        CallValues {
            caller_number: dialled.trim().to_owned(),
            exten: own_extension.trim().to_owned(),
            outline_number: String::new(),
            call_id: call_id.trim().to_owned(),
            op_id: operator.id.clone(),
            op_pw: operator.password.clone(),
        }
    }
}

/// Why a call ended, as the driver saw it. Informational: it goes into logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HangupCause {
    /// The operator hung up.
    Local,
    /// The other party hung up.
    Remote,
    /// The caller gave up before the call was answered (CANCEL).
    CallerCancelled,
    /// The softphone declined the call.
    Declined,
    /// The call failed with this SIP status.
    Failed(u16),
}

/// One thing that happened to an incoming call. Events for one call must be
/// given to the engine in the order they happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallEvent {
    /// The call came in and is ringing. Carries the placeholder values, which
    /// stay fixed for the rest of the call.
    Ringing(CallValues),
    /// The operator placed a call (beyond the guide: only the dial hooks
    /// run for it). `caller_number` is the dialled number and
    /// `outline_number` is empty.
    Dialing(CallValues),
    /// The call was answered.
    Answered {
        /// Call-ID of the call.
        call_id: String,
    },
    /// The call ended (answered or not).
    HungUp {
        /// Call-ID of the call.
        call_id: String,
        /// Why it ended.
        cause: HangupCause,
        /// How long it was connected; zero when it was never answered.
        duration: Duration,
    },
}

impl CallEvent {
    /// The Call-ID the event is about.
    pub fn call_id(&self) -> &str {
        match self {
            CallEvent::Ringing(v) | CallEvent::Dialing(v) => &v.call_id,
            CallEvent::Answered { call_id } | CallEvent::HungUp { call_id, .. } => call_id,
        }
    }
}

/// The rule deciding whether a call is internal (extension to extension), for
/// the "do nothing on internal calls" boxes (WEB-6, CMD-5).
///
/// A call is internal when **no outside line was called** and **the caller
/// number has the form of an extension**:
///
/// - no outside line: `%OutLineNumber%` is empty, that is the INVITE has no
///   `P-Called-Party-ID` and its To and Request-URI name the own extension.
///   A BlueBean-style PBX names the called company line in
///   `P-Called-Party-ID` on every call from the public network, also when an
///   ACD queue, a predictive campaign or a transfer delivers it;
/// - extension form: 2 to 8 ASCII digits, the first not `0`. Japanese PBXs
///   dial out with `0` (the outside-line access digit), so a public number
///   they present starts with `0` or `+` and an extension never starts with
///   `0`. This also holds where a PBX sends no `P-Called-Party-ID`.
///
/// A call from `1234` to the company number `0312345678` is therefore *not*
/// internal, and neither is a call from `09012345678` that names no line.
/// The call is judged once, when it rings, from what its INVITE says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InternalCallRule {
    /// Lengths an extension number may have. Default `2..=8`.
    pub extension_len: RangeInclusive<usize>,
    /// Also require that no outside line was called. Default `true`; with
    /// `false` the caller number alone decides.
    pub require_no_outline: bool,
}

/// The lengths an extension number may have under the default rule.
pub const EXTENSION_LEN: RangeInclusive<usize> = 2..=8;

impl Default for InternalCallRule {
    fn default() -> Self {
        InternalCallRule {
            extension_len: EXTENSION_LEN,
            require_no_outline: true,
        }
    }
}

impl InternalCallRule {
    /// True when `number` has the form of an extension under this rule:
    /// ASCII digits only, a length in `extension_len`, not starting with `0`.
    pub fn is_extension(&self, number: &str) -> bool {
        number.bytes().all(|b| b.is_ascii_digit())
            && !number.starts_with('0')
            && self.extension_len.contains(&number.len())
    }

    /// True when the call is internal under this rule.
    pub fn is_internal(&self, values: &CallValues) -> bool {
        self.is_extension(&values.caller_number)
            && (!self.require_no_outline || values.outline_number.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> SipFacts {
        SipFacts {
            from_user: "09012345678".into(),
            pai_user: None,
            p_called_party_user: None,
            to_user: "0312345678".into(),
            request_uri_user: "1910".into(),
            own_extension: "1910".into(),
            call_id: "abc@pbx".into(),
        }
    }

    fn op() -> OperatorLogin {
        OperatorLogin {
            id: "op1".into(),
            password: Secret::new("pw".into()),
        }
    }

    #[test]
    fn from_and_to() {
        let v = CallValues::from_sip(&facts(), &op());
        assert_eq!(v.caller_number, "09012345678");
        assert_eq!(v.exten, "1910");
        assert_eq!(v.outline_number, "0312345678");
        assert_eq!(v.call_id, "abc@pbx");
        assert_eq!(v.op_id, "op1");
        assert_eq!(v.op_pw.expose(), "pw");
    }

    #[test]
    fn pai_wins_over_from() {
        let mut f = facts();
        f.from_user = "anonymous".into();
        f.pai_user = Some("0801112222".into());
        assert_eq!(CallValues::from_sip(&f, &op()).caller_number, "0801112222");
        f.pai_user = Some("  ".into());
        assert_eq!(CallValues::from_sip(&f, &op()).caller_number, "anonymous");
    }

    #[test]
    fn p_called_party_wins() {
        let mut f = facts();
        f.p_called_party_user = Some("0120999888".into());
        assert_eq!(CallValues::from_sip(&f, &op()).outline_number, "0120999888");
    }

    #[test]
    fn outline_falls_back_to_request_uri_then_empty() {
        let mut f = facts();
        f.to_user = "1910".into();
        f.request_uri_user = "0355556666".into();
        assert_eq!(CallValues::from_sip(&f, &op()).outline_number, "0355556666");
        f.request_uri_user = "1910".into();
        assert_eq!(CallValues::from_sip(&f, &op()).outline_number, "");
    }

    #[test]
    fn debug_hides_password() {
        let v = CallValues::from_sip(&facts(), &op());
        let dbg = format!("{v:?}");
        assert!(!dbg.contains("\"pw\""), "{dbg}");
        assert!(dbg.contains("***"));
    }

    fn internal(caller: &str, outline: &str) -> bool {
        InternalCallRule::default().is_internal(&CallValues {
            caller_number: caller.into(),
            outline_number: outline.into(),
            ..CallValues::default()
        })
    }

    #[test]
    fn internal_rule_default() {
        // Extensions of 2 to 8 digits, and no outside line called.
        for ext in ["12", "1234", "1910", "200100", "12345678"] {
            assert!(internal(ext, ""), "{ext}");
        }
        // An outside line was called: from outside, whatever the number.
        assert!(!internal("1234", "0312345678"));
        assert!(!internal("200100", "0312345678"));
        // Public numbers start with 0 (the outside-line access digit) or +.
        for public in ["09012345678", "0312345678", "0120", "+81312345678", "01"] {
            assert!(!internal(public, ""), "{public}");
        }
        // Too short, too long, not digits, empty.
        for odd in [
            "1",
            "123456789",
            "81312345678",
            "12a",
            "１２３",
            "",
            "anonymous",
        ] {
            assert!(!internal(odd, ""), "{odd}");
        }
    }

    #[test]
    fn internal_rule_is_judged_on_the_values_from_sip() {
        // As a BlueBean-style PBX delivers an extension-to-extension call:
        // the caller's extension in From and PAI, no P-Called-Party-ID, the
        // callee in To and the Request-URI.
        let mut f = SipFacts {
            from_user: "200100".into(),
            pai_user: Some("200100".into()),
            p_called_party_user: None,
            to_user: "1910".into(),
            request_uri_user: "1910".into(),
            own_extension: "1910".into(),
            call_id: "c".into(),
        };
        let rule = InternalCallRule::default();
        assert!(rule.is_internal(&CallValues::from_sip(&f, &op())));
        // The same caller through the company line is an outside call.
        f.p_called_party_user = Some("0312345678".into());
        assert!(!rule.is_internal(&CallValues::from_sip(&f, &op())));
    }

    #[test]
    fn internal_rule_without_outline_requirement() {
        let rule = InternalCallRule {
            extension_len: 3..=4,
            require_no_outline: false,
        };
        let v = CallValues {
            caller_number: "123".into(),
            outline_number: "0312345678".into(),
            ..CallValues::default()
        };
        assert!(rule.is_internal(&v));
    }
}
