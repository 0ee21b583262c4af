//! The call matrix: the calls bbconform makes the popup request for, one
//! [`CallValues`] each (the six WEB-2 placeholder values).
//!
//! Each case is a call the softphone really meets, chosen for what it does
//! to a CRM endpoint that was only ever tried with one mobile number:
//!
//! | case | `%CallerNumber%` | `%OutLineNumber%` | why |
//! |---|---|---|---|
//! | `ordinary` | `09012345678` | `0312345678` | a mobile calling the company line |
//! | `internal` | `1234` | empty | extension to extension; the softphone skips it when `web.skip_internal` (WEB-6) |
//! | `international` | `+819012345678` | `0312345678` | `+` is sent as `%2B`; a CRM decoding `+` as space breaks here |
//! | `anonymous` | `anonymous` | `0312345678` | a withheld number as SIP signals it: not a number at all |
//! | `withheld` | empty | `0312345678` | no caller number: an empty parameter |
//! | `long-call-id` | `09012345678` | `0312345678` | a 256-byte Call-ID with every character RFC 3261 allows in one |
//! | `japanese` | `非通知` | `0312345678` | UTF-8 in a value (sent as percent-encoded UTF-8, WEB-3) |
//!
//! `%Exten%` is the settings' `[account] user`, `%OpId%`/`%OpPW%` the
//! settings' `[operator]`; they are the same in every case, so a CRM that
//! checks the operator's credentials is not failed by a made-up login.

use bb_cti::{CallValues, InternalCallRule, OperatorLogin};
use clap::ValueEnum;
use serde::Serialize;

/// The company outside line called in every case but `internal`.
pub const OUTLINE: &str = "0312345678";

/// Host part of the generated Call-IDs (TEST-NET-1, RFC 5737).
const CALL_ID_HOST: &str = "192.0.2.10";

/// One call of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaseName {
    /// A mobile calls the company outside line.
    Ordinary,
    /// Extension to extension: a 4-digit caller, no outside line.
    Internal,
    /// An international caller, +81….
    International,
    /// A withheld number signalled as `anonymous`.
    Anonymous,
    /// No caller number at all.
    Withheld,
    /// A 256-byte Call-ID.
    LongCallId,
    /// A Japanese (UTF-8) caller value.
    Japanese,
}

impl CaseName {
    /// Every case, in report order.
    pub const ALL: [CaseName; 7] = [
        CaseName::Ordinary,
        CaseName::Internal,
        CaseName::International,
        CaseName::Anonymous,
        CaseName::Withheld,
        CaseName::LongCallId,
        CaseName::Japanese,
    ];

    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseName::Ordinary => "ordinary",
            CaseName::Internal => "internal",
            CaseName::International => "international",
            CaseName::Anonymous => "anonymous",
            CaseName::Withheld => "withheld",
            CaseName::LongCallId => "long-call-id",
            CaseName::Japanese => "japanese",
        }
    }

    /// The call's placeholder values.
    pub fn values(self, exten: &str, operator: &OperatorLogin) -> CallValues {
        let (caller, outline) = match self {
            CaseName::Ordinary | CaseName::LongCallId => ("09012345678", OUTLINE),
            CaseName::Internal => ("1234", ""),
            CaseName::International => ("+819012345678", OUTLINE),
            CaseName::Anonymous => ("anonymous", OUTLINE),
            CaseName::Withheld => ("", OUTLINE),
            CaseName::Japanese => ("非通知", OUTLINE),
        };
        let call_id = match self {
            CaseName::LongCallId => long_call_id(),
            _ => format!("bbconform-{}@{CALL_ID_HOST}", self.as_str()),
        };
        CallValues {
            caller_number: caller.to_owned(),
            exten: exten.to_owned(),
            outline_number: outline.to_owned(),
            call_id,
            op_id: operator.id.clone(),
            op_pw: operator.password.clone(),
        }
    }

    /// One line for the report: who calls whom.
    pub fn describe(self, values: &CallValues) -> String {
        let caller = if values.caller_number.is_empty() {
            "(no number)".to_owned()
        } else {
            values.caller_number.clone()
        };
        let line = if values.outline_number.is_empty() {
            format!("extension {}", values.exten)
        } else {
            format!(
                "outside line {} at extension {}",
                values.outline_number, values.exten
            )
        };
        let extra = match self {
            CaseName::LongCallId => format!(", Call-ID of {} bytes", values.call_id.len()),
            _ => String::new(),
        };
        format!("{caller} calls {line}{extra}")
    }

    /// True when the softphone counts this call as internal (the default
    /// [`InternalCallRule`], as the softphone uses it).
    pub fn is_internal(values: &CallValues) -> bool {
        InternalCallRule::default().is_internal(values)
    }
}

impl std::fmt::Display for CaseName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A 256-byte Call-ID using every character RFC 3261's `word` allows,
/// `%`, `+`, `/`, `?`, `:` and quotes included.
fn long_call_id() -> String {
    const PIECE: &str = "a1B2-c3.D4!e5%F6*g7_H8+i9`J0'k~(L)<m>:N\\o\"P/q[R]s?T{u}";
    let host = format!("@{CALL_ID_HOST}");
    let mut id = String::from("bbconform-long-");
    while id.len() + host.len() < 256 {
        let room = 256 - host.len() - id.len();
        id.extend(PIECE.chars().take(room));
    }
    id.push_str(&host);
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_internal_case_is_internal() {
        let op = OperatorLogin::default();
        for case in CaseName::ALL {
            let v = case.values("1910", &op);
            assert_eq!(
                CaseName::is_internal(&v),
                case == CaseName::Internal,
                "{case}"
            );
        }
    }

    #[test]
    fn long_call_id_is_256_bytes() {
        let v = CaseName::LongCallId.values("1910", &OperatorLogin::default());
        assert_eq!(v.call_id.len(), 256);
        assert!(v.call_id.ends_with("@192.0.2.10"));
        assert!(v.call_id.contains('%') && v.call_id.contains('+'));
    }

    #[test]
    fn names_round_trip_through_clap() {
        for case in CaseName::ALL {
            assert_eq!(CaseName::from_str(case.as_str(), false), Ok(case));
        }
    }
}
