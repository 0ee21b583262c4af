//! The verbs: what an outside system (or the operator) can ask the running
//! softphone to do, whatever the entry point.
//!
//! [`Verb`] is the validated command; [`VerbWord`] is its bare word (`call`,
//! `hold`, …) with the usage and help text the binary prints. Arguments are
//! typed and already validated: [`DialNumber`], [`DtmfDigits`], [`LoginId`].
//!
//! # The password is not part of a verb
//!
//! `login` carries at most a login ID. By default the softphone logs in with
//! the operator credentials stored in its settings (owner-readable only,
//! Q-4). A password is never a command-line argument (it would show in `ps`
//! and shell history) and never part of a URI; `bbclient login
//! --password-stdin` reads it from standard input, and the control protocol
//! carries it in the `login` request as a [`Password`], whose `Debug` output
//! is redacted.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::number::DialNumber;
use crate::text::{Quoted, QuotedChar, excerpt, is_hidden};

/// A validated command for the running softphone.
///
/// `Display` writes the canonical command-line words (`call 1330`,
/// `transfer_complete`, `dtmf 123#`); `FromStr` (in [`crate::cli`]) reads
/// them back, and [`Verb::to_uri`] gives the canonical `bbclient:` URI of the
/// verbs a URI may carry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Verb {
    /// Dial a number (`call N`, `callto:N`, `bbclient:call:N`).
    Call(DialNumber),
    /// Put the current call on hold.
    Hold,
    /// Take the held call off hold.
    Unhold,
    /// Held (attended) transfer: hold the current call and call N.
    Transfer(DialNumber),
    /// Complete the held transfer: join the held party to N, drop out.
    TransferComplete,
    /// Blind transfer: hand the current call to N without consultation.
    BlindTransfer(DialNumber),
    /// Hang up the current call.
    Hangup,
    /// Answer the ringing call.
    Answer,
    /// Send DTMF keys on the current call.
    Dtmf(DtmfDigits),
    /// Open the CRM detail view (WEB-4) for the current or last call.
    Details,
    /// Report registration, operator and call state.
    Status,
    /// Log in as an operator (ACD-1).
    Login {
        /// The login ID; `None` uses the one in the settings.
        login_id: Option<LoginId>,
    },
    /// Log the operator out.
    Logout,
    /// Mute the microphone on the current call (beyond the guide).
    Mute,
    /// Unmute it (beyond the guide).
    Unmute,
    /// Do not disturb on (`true`) or off (beyond the guide).
    Dnd(bool),
}

impl Verb {
    /// The bare verb word.
    pub fn word(&self) -> VerbWord {
        match self {
            Verb::Call(_) => VerbWord::Call,
            Verb::Hold => VerbWord::Hold,
            Verb::Unhold => VerbWord::Unhold,
            Verb::Transfer(_) => VerbWord::Transfer,
            Verb::TransferComplete => VerbWord::TransferComplete,
            Verb::BlindTransfer(_) => VerbWord::BlindTransfer,
            Verb::Hangup => VerbWord::Hangup,
            Verb::Answer => VerbWord::Answer,
            Verb::Dtmf(_) => VerbWord::Dtmf,
            Verb::Details => VerbWord::Details,
            Verb::Status => VerbWord::Status,
            Verb::Login { .. } => VerbWord::Login,
            Verb::Logout => VerbWord::Logout,
            Verb::Mute => VerbWord::Mute,
            Verb::Unmute => VerbWord::Unmute,
            Verb::Dnd(_) => VerbWord::Dnd,
        }
    }

    /// The number of `call`, `transfer` and `blindtransfer`.
    pub fn number(&self) -> Option<&DialNumber> {
        match self {
            Verb::Call(n) | Verb::Transfer(n) | Verb::BlindTransfer(n) => Some(n),
            _ => None,
        }
    }

    /// The canonical `bbclient:` URI, for the verbs a URI may carry
    /// ([`VerbWord::in_uri`]); `None` for command-line-only verbs.
    ///
    /// A `#` in a number is written `%23` so the URI stays valid.
    ///
    /// ```
    /// use bb_verbs::{Verb, normalize_number};
    /// let call = Verb::Call(normalize_number("1330").unwrap());
    /// assert_eq!(call.to_uri().as_deref(), Some("bbclient:call:1330"));
    /// assert_eq!(Verb::TransferComplete.to_uri().as_deref(), Some("bbclient:transfer_complete"));
    /// assert_eq!(Verb::Status.to_uri(), None);
    /// ```
    pub fn to_uri(&self) -> Option<String> {
        let word = self.word();
        if !word.in_uri() {
            return None;
        }
        Some(match self.number() {
            Some(n) => format!(
                "bbclient:{}:{}",
                word.as_str(),
                n.as_str().replace('#', "%23")
            ),
            None => format!("bbclient:{}", word.as_str()),
        })
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word().as_str())?;
        match self {
            Verb::Call(n) | Verb::Transfer(n) | Verb::BlindTransfer(n) => write!(f, " {n}"),
            Verb::Dtmf(d) => write!(f, " {d}"),
            Verb::Login { login_id: Some(id) } => write!(f, " {id}"),
            Verb::Dnd(on) => f.write_str(if *on { " on" } else { " off" }),
            _ => Ok(()),
        }
    }
}

/// What a verb takes after its word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerbArg {
    /// Nothing.
    None,
    /// A number, normalised by [`crate::normalize_number`].
    Number,
    /// DTMF keys, see [`DtmfDigits`].
    Dtmf,
    /// An optional login ID, see [`LoginId`].
    OptionalLoginId,
    /// `on` or `off`.
    OnOff,
}

/// A verb word without its argument: the vocabulary of the command line,
/// the `bbclient:` URIs and the control protocol's `cmd` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VerbWord {
    /// `call NUMBER`
    Call,
    /// `hold`
    Hold,
    /// `unhold`
    Unhold,
    /// `transfer NUMBER`
    Transfer,
    /// `transfer_complete`
    TransferComplete,
    /// `blindtransfer NUMBER`
    BlindTransfer,
    /// `hangup`
    Hangup,
    /// `answer`
    Answer,
    /// `dtmf DIGITS`
    Dtmf,
    /// `details`
    Details,
    /// `status [--json]`
    Status,
    /// `login [LOGIN_ID] [--password-stdin]`
    Login,
    /// `logout`
    Logout,
    /// `mute`
    Mute,
    /// `unmute`
    Unmute,
    /// `dnd on|off`
    Dnd,
}

impl VerbWord {
    /// Every verb word, in the order usage text lists them: the guide's
    /// seven first, then ours.
    pub const ALL: [VerbWord; 16] = [
        VerbWord::Call,
        VerbWord::Hold,
        VerbWord::Unhold,
        VerbWord::Transfer,
        VerbWord::TransferComplete,
        VerbWord::BlindTransfer,
        VerbWord::Hangup,
        VerbWord::Answer,
        VerbWord::Dtmf,
        VerbWord::Details,
        VerbWord::Status,
        VerbWord::Login,
        VerbWord::Logout,
        VerbWord::Mute,
        VerbWord::Unmute,
        VerbWord::Dnd,
    ];

    /// The canonical word, e.g. `transfer_complete`.
    pub fn as_str(self) -> &'static str {
        match self {
            VerbWord::Call => "call",
            VerbWord::Hold => "hold",
            VerbWord::Unhold => "unhold",
            VerbWord::Transfer => "transfer",
            VerbWord::TransferComplete => "transfer_complete",
            VerbWord::BlindTransfer => "blindtransfer",
            VerbWord::Hangup => "hangup",
            VerbWord::Answer => "answer",
            VerbWord::Dtmf => "dtmf",
            VerbWord::Details => "details",
            VerbWord::Status => "status",
            VerbWord::Login => "login",
            VerbWord::Logout => "logout",
            VerbWord::Mute => "mute",
            VerbWord::Unmute => "unmute",
            VerbWord::Dnd => "dnd",
        }
    }

    /// Looks a word up, ignoring ASCII case (`Call`, `HANGUP`).
    pub fn parse(word: &str) -> Option<VerbWord> {
        VerbWord::ALL
            .into_iter()
            .find(|w| w.as_str().eq_ignore_ascii_case(word))
    }

    /// What the verb takes after its word.
    pub fn arg(self) -> VerbArg {
        match self {
            VerbWord::Call | VerbWord::Transfer | VerbWord::BlindTransfer => VerbArg::Number,
            VerbWord::Dtmf => VerbArg::Dtmf,
            VerbWord::Login => VerbArg::OptionalLoginId,
            VerbWord::Dnd => VerbArg::OnOff,
            _ => VerbArg::None,
        }
    }

    /// True for the verbs a URI may carry: the guide's seven, and `mute`
    /// / `unmute` (beyond the guide: a CRM's "mute" link while the
    /// customer reads a card number).
    ///
    /// `answer`, `dtmf`, `details`, `status`, `login`, `logout` and `dnd`
    /// are command-line only: a link in a web page must not be able to
    /// answer a call the operator has not seen, type keys into a live call
    /// (IVR PINs), bounce the browser back to the CRM in a loop, touch the
    /// operator session or silence the phone; and `status` has nowhere to
    /// print from a URI.
    pub fn in_uri(self) -> bool {
        matches!(
            self,
            VerbWord::Call
                | VerbWord::Hold
                | VerbWord::Unhold
                | VerbWord::Transfer
                | VerbWord::TransferComplete
                | VerbWord::BlindTransfer
                | VerbWord::Hangup
                | VerbWord::Mute
                | VerbWord::Unmute
        )
    }

    /// The command-line usage, e.g. `call NUMBER`, `status [--json]`.
    pub fn usage(self) -> &'static str {
        match self {
            VerbWord::Call => "call NUMBER",
            VerbWord::Hold => "hold",
            VerbWord::Unhold => "unhold",
            VerbWord::Transfer => "transfer NUMBER",
            VerbWord::TransferComplete => "transfer_complete",
            VerbWord::BlindTransfer => "blindtransfer NUMBER",
            VerbWord::Hangup => "hangup",
            VerbWord::Answer => "answer",
            VerbWord::Dtmf => "dtmf DIGITS",
            VerbWord::Details => "details",
            VerbWord::Status => "status [--json]",
            VerbWord::Login => "login [LOGIN_ID] [--password-stdin]",
            VerbWord::Logout => "logout",
            VerbWord::Mute => "mute",
            VerbWord::Unmute => "unmute",
            VerbWord::Dnd => "dnd on|off",
        }
    }

    /// The URI form, e.g. `bbclient:call:NUMBER`; `None` when not in a URI.
    pub fn uri_usage(self) -> Option<&'static str> {
        Some(match self {
            VerbWord::Call => "bbclient:call:NUMBER",
            VerbWord::Hold => "bbclient:hold",
            VerbWord::Unhold => "bbclient:unhold",
            VerbWord::Transfer => "bbclient:transfer:NUMBER",
            VerbWord::TransferComplete => "bbclient:transfer_complete",
            VerbWord::BlindTransfer => "bbclient:blindtransfer:NUMBER",
            VerbWord::Hangup => "bbclient:hangup",
            VerbWord::Mute => "bbclient:mute",
            VerbWord::Unmute => "bbclient:unmute",
            _ => return None,
        })
    }

    /// One line of help, lowercase, no final period.
    pub fn help(self) -> &'static str {
        match self {
            VerbWord::Call => "dial NUMBER (hyphens, spaces, dots and brackets are removed)",
            VerbWord::Hold => "put the current call on hold",
            VerbWord::Unhold => "take the held call off hold",
            VerbWord::Transfer => "held transfer: hold the current call and call NUMBER",
            VerbWord::TransferComplete => {
                "complete the held transfer: connect the held party to the target and drop out"
            }
            VerbWord::BlindTransfer => "hand the current call to NUMBER without consultation",
            VerbWord::Hangup => "hang up the current call",
            VerbWord::Answer => "answer the ringing call",
            VerbWord::Dtmf => "send DTMF keys (0-9, *, #, A-D) on the current call",
            VerbWord::Details => "open the CRM detail view for the current call",
            VerbWord::Status => "show registration, operator and call state (--json for JSON)",
            VerbWord::Login => {
                "log in as operator with the configured credentials \
                 (--password-stdin reads the password from standard input)"
            }
            VerbWord::Logout => "log the operator out",
            VerbWord::Mute => "mute the microphone on the current call (the far end hears silence)",
            VerbWord::Unmute => "unmute the microphone",
            VerbWord::Dnd => {
                "do not disturb: 'on' turns new calls away (and makes the operator \
                 not available to the queues), 'off' ends it"
            }
        }
    }
}

impl fmt::Display for VerbWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Writes the verb usage table the binary prints: one `usage  help` line
/// per verb, aligned.
pub fn usage_text() -> String {
    let width = VerbWord::ALL
        .iter()
        .map(|w| w.usage().len())
        .max()
        .unwrap_or(0);
    VerbWord::ALL
        .iter()
        .map(|w| format!("  {:width$}  {}\n", w.usage(), w.help()))
        .collect()
}

/// The longest DTMF string one `dtmf` command sends.
pub const MAX_DTMF_LEN: usize = 32;

/// DTMF keys: one to [`MAX_DTMF_LEN`] of `0-9 * # A B C D`.
///
/// Parsing accepts lower-case `a-d` and full-width `０-９ ＊ ＃`, and trims
/// surrounding whitespace; nothing else is removed (unlike numbers, a
/// stray separator in a key sequence is more likely a mistake).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DtmfDigits(String);

impl DtmfDigits {
    /// Validates DTMF keys.
    pub fn parse(input: &str) -> Result<DtmfDigits, DtmfError> {
        let body = input.trim();
        let leading = input.len() - input.trim_start().len();
        let offset = input[..leading].chars().count();
        let mut out = String::new();
        for (i, c) in body.chars().enumerate() {
            let key = match c {
                '0'..='9' | '*' | '#' | 'A'..='D' => c,
                'a'..='d' => c.to_ascii_uppercase(),
                '０'..='９' => char::from(b'0' + (u32::from(c) - u32::from('０')) as u8),
                '＊' => '*',
                '＃' => '#',
                _ => {
                    return Err(DtmfError::Refused {
                        ch: c,
                        position: offset + i,
                        input: excerpt(input),
                    });
                }
            };
            if out.len() == MAX_DTMF_LEN {
                return Err(DtmfError::TooLong {
                    input: excerpt(input),
                });
            }
            out.push(key);
        }
        if out.is_empty() {
            return Err(DtmfError::Empty {
                input: excerpt(input),
            });
        }
        Ok(DtmfDigits(out))
    }

    /// The keys, e.g. `123#`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DtmfDigits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<DtmfDigits> for String {
    fn from(d: DtmfDigits) -> String {
        d.0
    }
}

impl TryFrom<String> for DtmfDigits {
    type Error = DtmfError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        DtmfDigits::parse(&s)
    }
}

/// Why [`DtmfDigits::parse`] refused its input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DtmfError {
    /// A character that is not a DTMF key.
    #[error(
        "dtmf keys refused: {} at position {position} in {} is not a DTMF key \
         (allowed: 0-9, *, # and A-D)",
        QuotedChar(*ch), Quoted(input)
    )]
    Refused {
        /// The offending character.
        ch: char,
        /// Its position in characters, counted from 0.
        position: usize,
        /// The input, cut to 80 characters.
        input: String,
    },
    /// No keys.
    #[error(
        "dtmf keys refused: {} is empty (give keys such as 123#)",
        Quoted(input)
    )]
    Empty {
        /// The input.
        input: String,
    },
    /// More than [`MAX_DTMF_LEN`] keys.
    #[error(
        "dtmf keys refused: {} has more than {MAX_DTMF_LEN} keys (send them in several commands)",
        Quoted(input)
    )]
    TooLong {
        /// The input, cut to 80 characters.
        input: String,
    },
}

/// The longest operator login ID accepted.
pub const MAX_LOGIN_ID_LEN: usize = 64;

/// An operator login ID (the value behind `%OpId%`): 1 to
/// [`MAX_LOGIN_ID_LEN`] characters, no whitespace, no control or invisible
/// characters, not starting with `-` (it would read as a command-line
/// option). Surrounding whitespace is trimmed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LoginId(String);

impl LoginId {
    /// Validates a login ID.
    pub fn parse(input: &str) -> Result<LoginId, LoginIdError> {
        let body = input.trim();
        let leading = input.len() - input.trim_start().len();
        let offset = input[..leading].chars().count();
        if body.is_empty() {
            return Err(LoginIdError::Empty);
        }
        for (i, c) in body.chars().enumerate() {
            if i == MAX_LOGIN_ID_LEN {
                return Err(LoginIdError::TooLong {
                    input: excerpt(input),
                });
            }
            // A leading '-' would read as an option on the command line.
            if c.is_whitespace() || is_hidden(c) || (i == 0 && c == '-') {
                return Err(LoginIdError::Refused {
                    ch: c,
                    position: offset + i,
                    input: excerpt(input),
                });
            }
        }
        Ok(LoginId(body.to_owned()))
    }

    /// The login ID.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LoginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<LoginId> for String {
    fn from(id: LoginId) -> String {
        id.0
    }
}

impl TryFrom<String> for LoginId {
    type Error = LoginIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        LoginId::parse(&s)
    }
}

/// Why [`LoginId::parse`] refused its input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoginIdError {
    /// Nothing but whitespace.
    #[error("login id refused: it is empty (omit it to use the configured login id)")]
    Empty,
    /// Whitespace, a control or an invisible character.
    #[error(
        "login id refused: {} at position {position} in {} is not allowed \
         (login ids have no spaces, control or invisible characters, and do not start with '-')",
        QuotedChar(*ch), Quoted(input)
    )]
    Refused {
        /// The offending character.
        ch: char,
        /// Its position in characters, counted from 0.
        position: usize,
        /// The input, cut to 80 characters.
        input: String,
    },
    /// Longer than [`MAX_LOGIN_ID_LEN`].
    #[error(
        "login id refused: {} is longer than {MAX_LOGIN_ID_LEN} characters",
        Quoted(input)
    )]
    TooLong {
        /// The input, cut to 80 characters.
        input: String,
    },
}

/// An operator password in transit (the value behind `%OpPW%`).
///
/// `Debug` prints `Password(<redacted>)` and there is no `Display`, so it
/// cannot slip into a log by accident (Q-3); [`Password::expose`] is the
/// one explicit way to read it. It serialises as a plain string because the
/// control protocol must carry it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(password: String) -> Password {
        Password(password)
    }

    /// Builds a password from one line read from standard input
    /// (`login --password-stdin`): the trailing `\n` or `\r\n` is removed,
    /// nothing else.
    pub fn from_stdin_line(line: &str) -> Password {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        Password(line.to_owned())
    }

    /// The password itself; use only to hand it to the server.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize_number;

    fn n(s: &str) -> DialNumber {
        normalize_number(s).unwrap()
    }

    #[test]
    fn display_writes_canonical_cli_words() {
        assert_eq!(Verb::Call(n("1330")).to_string(), "call 1330");
        assert_eq!(Verb::Transfer(n("1303")).to_string(), "transfer 1303");
        assert_eq!(
            Verb::BlindTransfer(n("1303")).to_string(),
            "blindtransfer 1303"
        );
        assert_eq!(Verb::TransferComplete.to_string(), "transfer_complete");
        assert_eq!(Verb::Hangup.to_string(), "hangup");
        assert_eq!(
            Verb::Dtmf(DtmfDigits::parse("12#").unwrap()).to_string(),
            "dtmf 12#"
        );
        assert_eq!(Verb::Login { login_id: None }.to_string(), "login");
        let id = LoginId::parse("op1").unwrap();
        assert_eq!(Verb::Login { login_id: Some(id) }.to_string(), "login op1");
    }

    #[test]
    fn canonical_uris() {
        assert_eq!(
            Verb::Call(n("1330")).to_uri().as_deref(),
            Some("bbclient:call:1330")
        );
        assert_eq!(
            Verb::BlindTransfer(n("1303")).to_uri().as_deref(),
            Some("bbclient:blindtransfer:1303")
        );
        assert_eq!(
            Verb::Call(n("*67#")).to_uri().as_deref(),
            Some("bbclient:call:*67%23")
        );
        assert_eq!(Verb::Hold.to_uri().as_deref(), Some("bbclient:hold"));
        for verb in [Verb::Answer, Verb::Details, Verb::Status, Verb::Logout] {
            assert_eq!(verb.to_uri(), None, "{verb}");
        }
    }

    #[test]
    fn verb_word_table_is_consistent() {
        for w in VerbWord::ALL {
            assert_eq!(VerbWord::parse(w.as_str()), Some(w));
            assert_eq!(VerbWord::parse(&w.as_str().to_uppercase()), Some(w));
            assert!(w.usage().starts_with(w.as_str()));
            assert_eq!(w.uri_usage().is_some(), w.in_uri(), "{w}");
            let help = w.help();
            assert!(!help.ends_with('.') && help.starts_with(|c: char| c.is_lowercase()));
        }
        // The guide's seven, and mute / unmute.
        assert_eq!(VerbWord::ALL.iter().filter(|w| w.in_uri()).count(), 9);
        assert!(
            !VerbWord::Dnd.in_uri(),
            "a web page must not silence the phone"
        );
        assert_eq!(VerbWord::parse("format"), None);
        assert_eq!(VerbWord::parse("blind_transfer"), None);
    }

    #[test]
    fn usage_text_lists_every_verb_on_its_own_line() {
        let text = usage_text();
        assert_eq!(text.lines().count(), VerbWord::ALL.len());
        assert!(text.contains("  call NUMBER"));
        assert!(text.contains("transfer_complete"));
        assert!(text.contains("login [LOGIN_ID] [--password-stdin]"));
    }

    #[test]
    fn dtmf_digits() {
        assert_eq!(DtmfDigits::parse("123#").unwrap().as_str(), "123#");
        assert_eq!(DtmfDigits::parse(" abcd*0 ").unwrap().as_str(), "ABCD*0");
        assert_eq!(DtmfDigits::parse("１２３＃").unwrap().as_str(), "123#");
        assert_eq!(
            DtmfDigits::parse("12E").unwrap_err().to_string(),
            "dtmf keys refused: 'E' at position 2 in '12E' is not a DTMF key \
             (allowed: 0-9, *, # and A-D)"
        );
        assert_eq!(
            DtmfDigits::parse(" ").unwrap_err().to_string(),
            "dtmf keys refused: ' ' is empty (give keys such as 123#)"
        );
        assert!(DtmfDigits::parse(&"1".repeat(MAX_DTMF_LEN)).is_ok());
        assert_eq!(
            DtmfDigits::parse(&"1".repeat(MAX_DTMF_LEN + 1)).unwrap_err(),
            DtmfError::TooLong {
                input: "1".repeat(MAX_DTMF_LEN + 1)
            }
        );
        assert!(
            DtmfDigits::parse("1 2")
                .unwrap_err()
                .to_string()
                .contains("' ' at position 1")
        );
    }

    #[test]
    fn login_ids() {
        assert_eq!(
            LoginId::parse(" op-01@acme ").unwrap().as_str(),
            "op-01@acme"
        );
        assert_eq!(
            LoginId::parse("op 1").unwrap_err().to_string(),
            "login id refused: ' ' at position 2 in 'op 1' is not allowed \
             (login ids have no spaces, control or invisible characters, and do not start with '-')"
        );
        assert!(matches!(
            LoginId::parse("--x"),
            Err(LoginIdError::Refused {
                ch: '-',
                position: 0,
                ..
            })
        ));
        assert_eq!(LoginId::parse("op-1").unwrap().as_str(), "op-1");
        assert_eq!(LoginId::parse("  ").unwrap_err(), LoginIdError::Empty);
        assert!(LoginId::parse(&"a".repeat(MAX_LOGIN_ID_LEN)).is_ok());
        assert!(matches!(
            LoginId::parse(&"a".repeat(MAX_LOGIN_ID_LEN + 1)),
            Err(LoginIdError::TooLong { .. })
        ));
        assert!(matches!(
            LoginId::parse("op\u{202E}1"),
            Err(LoginIdError::Refused { position: 2, .. })
        ));
    }

    #[test]
    fn password_never_shows_in_debug() {
        let p = Password::from_stdin_line("s3cret\r\n");
        assert_eq!(p.expose(), "s3cret");
        assert_eq!(format!("{p:?}"), "Password(<redacted>)");
        assert_eq!(Password::from_stdin_line("a b\n").expose(), "a b");
        assert_eq!(Password::new("x".into()).expose(), "x");
    }
}
