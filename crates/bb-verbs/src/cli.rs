//! The verb part of the command line (CLI-1): `bbclient call 1330`,
//! `bbclient hold`, … and `bbclient 'bbclient:call:1330'`, which is how the
//! OS invokes a URI handler.
//!
//! The binary parses its own options (`run --config`, `--instance NAME`,
//! `install-handlers`) with clap and hands the remaining words to
//! [`parse_cli`]. The grammar:
//!
//! ```text
//! call NUMBER | transfer NUMBER | blindtransfer NUMBER
//! hold | unhold | transfer_complete | hangup | answer | details | logout
//! dtmf DIGITS
//! status [--json]
//! login [LOGIN_ID] [--password-stdin]
//! URI                      one argument containing ':', see crate::uri
//! ```
//!
//! Verb words ignore ASCII case (`Call 1330` works on Windows shortcuts
//! typed by hand). A number that contains spaces must be one argument
//! (`call "03 1234 5678"`): extra words are refused rather than joined, so
//! `call 1330 hangup` cannot dial `1330` and silently drop `hangup`. An
//! unknown word gets a "did you mean" when it is close to a verb
//! (`blind_transfer`, `hang-up`, `transfercomplete`).

use std::str::FromStr;

use crate::number::NumberError;
use crate::text::Quoted;
use crate::uri::{UriError, parse_uri};
use crate::verb::{DtmfDigits, DtmfError, LoginId, LoginIdError, Verb, VerbArg, VerbWord};

/// A parsed command line: the verb and the options that change how the
/// binary handles it, not what the softphone does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CliCommand {
    /// What to ask the running softphone.
    pub verb: Verb,
    /// `status --json`: print the reply's data as JSON.
    pub json: bool,
    /// `login --password-stdin`: read the password from one line of
    /// standard input (see [`crate::Password::from_stdin_line`]).
    pub password_stdin: bool,
    /// Whether the verb came as words or as a single URI argument.
    pub origin: Origin,
}

/// Where a [`CliCommand`]'s verb came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Verb words, e.g. `call 1330`.
    Words,
    /// One URI argument, e.g. `callto:1330` (the OS calling the handler).
    Uri,
}

/// Why [`parse_cli`] refused a command line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CliError {
    /// No arguments.
    #[error(
        "no verb given (try: call NUMBER, hold, unhold, transfer NUMBER, transfer_complete, blindtransfer NUMBER, hangup, or a callto:/bbclient: URI)"
    )]
    NoVerb,
    /// The first word is not a verb.
    #[error("unknown verb {}{} (known verbs: {})", Quoted(word), suggestion.map(|s| format!(" (did you mean '{s}'?)")).unwrap_or_default(), verb_list())]
    UnknownVerb {
        /// The word.
        word: String,
        /// A close verb, if any.
        suggestion: Option<VerbWord>,
    },
    /// A verb that needs an argument got none.
    #[error("{verb} needs {what} (write: {})", verb.usage())]
    MissingArgument {
        /// The verb.
        verb: VerbWord,
        /// What is missing, e.g. `a NUMBER`.
        what: &'static str,
    },
    /// More arguments than the verb takes.
    #[error(
        "{verb} got an unexpected argument {} (write: {}{})",
        Quoted(arg),
        verb.usage(),
        if verb.arg() == VerbArg::Number { "; quote a number that contains spaces" } else { "" }
    )]
    UnexpectedArgument {
        /// The verb.
        verb: VerbWord,
        /// The first argument too many.
        arg: String,
    },
    /// An option the verb does not know.
    #[error("unknown option {} for {verb} (write: {})", Quoted(option), verb.usage())]
    UnknownOption {
        /// The verb.
        verb: VerbWord,
        /// The option.
        option: String,
    },
    /// A URI followed by more arguments.
    #[error(
        "a URI must be the only argument, got {} followed by {}",
        Quoted(uri),
        Quoted(extra)
    )]
    UriNotAlone {
        /// The URI.
        uri: String,
        /// The first extra argument.
        extra: String,
    },
    /// The number did not normalise.
    #[error("{verb}: {error}")]
    BadNumber {
        /// The verb.
        verb: VerbWord,
        /// Why.
        error: NumberError,
    },
    /// The DTMF keys are invalid.
    #[error("dtmf: {0}")]
    BadDtmf(DtmfError),
    /// The login ID is invalid.
    #[error("login: {0}")]
    BadLoginId(LoginIdError),
    /// The single URI argument was refused.
    #[error(transparent)]
    Uri(#[from] UriError),
}

fn verb_list() -> String {
    VerbWord::ALL
        .iter()
        .map(|w| w.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses the verb words of a command line (without the program name and
/// the binary's own options).
///
/// ```
/// use bb_verbs::{parse_cli, Origin, Verb};
/// let args = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
/// let cmd = parse_cli(&args("call 1330")).unwrap();
/// assert_eq!(cmd.verb.to_string(), "call 1330");
/// assert_eq!(parse_cli(&args("bbclient:hangup")).unwrap().origin, Origin::Uri);
/// assert!(parse_cli(&args("status --json")).unwrap().json);
/// assert_eq!(
///     parse_cli(&args("hold 1330")).unwrap_err().to_string(),
///     "hold got an unexpected argument '1330' (write: hold)"
/// );
/// ```
pub fn parse_cli(args: &[String]) -> Result<CliCommand, CliError> {
    parse_args(args)
}

fn parse_args<S: AsRef<str>>(args: &[S]) -> Result<CliCommand, CliError> {
    let Some((first, rest)) = args.split_first() else {
        return Err(CliError::NoVerb);
    };
    let first = first.as_ref();
    // Verb words never contain ':'; URIs always do.
    if first.contains(':') {
        if let Some(extra) = rest.first() {
            return Err(CliError::UriNotAlone {
                uri: crate::text::excerpt(first),
                extra: crate::text::excerpt(extra.as_ref()),
            });
        }
        return Ok(CliCommand {
            verb: parse_uri(first)?,
            json: false,
            password_stdin: false,
            origin: Origin::Uri,
        });
    }
    let word = first.trim();
    let Some(verb) = VerbWord::parse(word) else {
        return Err(CliError::UnknownVerb {
            word: crate::text::excerpt(word),
            suggestion: suggest(word),
        });
    };

    let mut json = false;
    let mut password_stdin = false;
    let mut positional: Vec<&str> = Vec::new();
    for arg in rest {
        let arg = arg.as_ref();
        match arg {
            "--json" if verb == VerbWord::Status => json = true,
            "--password-stdin" if verb == VerbWord::Login => password_stdin = true,
            _ if arg.starts_with("--") => {
                return Err(CliError::UnknownOption {
                    verb,
                    option: crate::text::excerpt(arg),
                });
            }
            _ => positional.push(arg),
        }
    }

    let mut positional = positional.into_iter();
    let first_arg = positional.next();
    let expects_one = verb.arg() != VerbArg::None;
    match (first_arg, positional.next()) {
        (Some(extra), _) if !expects_one => {
            return Err(CliError::UnexpectedArgument {
                verb,
                arg: crate::text::excerpt(extra),
            });
        }
        (_, Some(extra)) => {
            return Err(CliError::UnexpectedArgument {
                verb,
                arg: crate::text::excerpt(extra),
            });
        }
        _ => {}
    }

    let number = |what: Option<&str>| {
        let arg = what.ok_or(CliError::MissingArgument {
            verb,
            what: "a NUMBER",
        })?;
        crate::normalize_number(arg).map_err(|error| CliError::BadNumber { verb, error })
    };
    let verb = match verb {
        VerbWord::Call => Verb::Call(number(first_arg)?),
        VerbWord::Transfer => Verb::Transfer(number(first_arg)?),
        VerbWord::BlindTransfer => Verb::BlindTransfer(number(first_arg)?),
        VerbWord::Hold => Verb::Hold,
        VerbWord::Unhold => Verb::Unhold,
        VerbWord::TransferComplete => Verb::TransferComplete,
        VerbWord::Hangup => Verb::Hangup,
        VerbWord::Answer => Verb::Answer,
        VerbWord::Details => Verb::Details,
        VerbWord::Status => Verb::Status,
        VerbWord::Logout => Verb::Logout,
        VerbWord::Mute => Verb::Mute,
        VerbWord::Unmute => Verb::Unmute,
        VerbWord::Dnd => {
            let arg = first_arg.ok_or(CliError::MissingArgument {
                verb,
                what: "on or off",
            })?;
            match arg.to_ascii_lowercase().as_str() {
                "on" => Verb::Dnd(true),
                "off" => Verb::Dnd(false),
                _ => {
                    return Err(CliError::UnexpectedArgument {
                        verb,
                        arg: crate::text::excerpt(arg),
                    });
                }
            }
        }
        VerbWord::Dtmf => {
            let arg = first_arg.ok_or(CliError::MissingArgument {
                verb,
                what: "DIGITS",
            })?;
            Verb::Dtmf(DtmfDigits::parse(arg).map_err(CliError::BadDtmf)?)
        }
        VerbWord::Login => Verb::Login {
            login_id: first_arg
                .map(LoginId::parse)
                .transpose()
                .map_err(CliError::BadLoginId)?,
        },
    };
    Ok(CliCommand {
        verb,
        json,
        password_stdin,
        origin: Origin::Words,
    })
}

/// A verb close to an unknown word: equal once `-`/`_` and case are
/// ignored, or within two edits.
fn suggest(word: &str) -> Option<VerbWord> {
    if word.len() > 40 {
        return None;
    }
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| !matches!(c, '-' | '_'))
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let typed = squash(word);
    if typed.is_empty() {
        return None;
    }
    VerbWord::ALL
        .into_iter()
        .map(|w| (edit_distance(&typed, &squash(w.as_str())), w))
        .filter(|&(d, _)| d <= 2)
        .min_by_key(|&(d, _)| d)
        .map(|(_, w)| w)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Parses whitespace-separated verb words (`call 1330`, `status --json`) or
/// a URI; the inverse of `Verb`'s `Display`. Options are accepted and
/// dropped, since they are not part of a verb.
impl FromStr for Verb {
    type Err = CliError;
    fn from_str(s: &str) -> Result<Verb, CliError> {
        let words: Vec<&str> = s.split_whitespace().collect();
        parse_args(&words).map(|c| c.verb)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::normalize_number;
    use proptest::prelude::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn ok(s: &str) -> CliCommand {
        match parse_cli(&args(s)) {
            Ok(c) => c,
            Err(e) => panic!("{s:?} should parse, got: {e}"),
        }
    }

    fn err(s: &str) -> CliError {
        match parse_cli(&args(s)) {
            Ok(c) => panic!("{s:?} should be refused, got {c:?}"),
            Err(e) => {
                let msg = e.to_string();
                assert!(!msg.contains('\n') && !msg.is_empty(), "one line: {msg:?}");
                e
            }
        }
    }

    fn verb(s: &str) -> Verb {
        ok(s).verb
    }

    fn n(s: &str) -> crate::DialNumber {
        normalize_number(s).unwrap()
    }

    #[test]
    fn mute_unmute_and_dnd_parse_with_clear_errors() {
        assert_eq!(ok("mute").verb, Verb::Mute);
        assert_eq!(ok("UNMUTE").verb, Verb::Unmute);
        assert_eq!(ok("dnd on").verb, Verb::Dnd(true));
        assert_eq!(ok("dnd OFF").verb, Verb::Dnd(false));
        assert_eq!(
            parse_cli(&args("dnd")).unwrap_err().to_string(),
            "dnd needs on or off (write: dnd on|off)"
        );
        assert_eq!(
            parse_cli(&args("dnd maybe")).unwrap_err().to_string(),
            "dnd got an unexpected argument 'maybe' (write: dnd on|off)"
        );
        assert!(parse_cli(&args("mute 1")).is_err());
        // Mute travels in a URI; do not disturb does not.
        assert_eq!(ok("bbclient:mute").verb, Verb::Mute);
        assert_eq!(Verb::Unmute.to_uri().as_deref(), Some("bbclient:unmute"));
        assert_eq!(Verb::Dnd(true).to_uri(), None);
        assert!(parse_cli(&args("bbclient:dnd:on")).is_err());
    }

    #[test]
    fn guide_examples() {
        assert_eq!(verb("call 1330"), Verb::Call(n("1330")));
        assert_eq!(verb("hold"), Verb::Hold);
        assert_eq!(verb("unhold"), Verb::Unhold);
        assert_eq!(verb("transfer 1303"), Verb::Transfer(n("1303")));
        assert_eq!(verb("transfer_complete"), Verb::TransferComplete);
        assert_eq!(verb("blindtransfer 1303"), Verb::BlindTransfer(n("1303")));
        assert_eq!(verb("hangup"), Verb::Hangup);
        assert_eq!(ok("call 1330").origin, Origin::Words);
    }

    #[test]
    fn our_verbs() {
        assert_eq!(verb("answer"), Verb::Answer);
        assert_eq!(verb("details"), Verb::Details);
        assert_eq!(verb("logout"), Verb::Logout);
        assert_eq!(
            verb("dtmf 123#"),
            Verb::Dtmf(DtmfDigits::parse("123#").unwrap())
        );
        let status = ok("status");
        assert_eq!((status.verb, status.json), (Verb::Status, false));
        assert!(ok("status --json").json);
        let login = ok("login");
        assert_eq!(login.verb, Verb::Login { login_id: None });
        assert!(!login.password_stdin);
        let login = ok("login op1 --password-stdin");
        assert_eq!(
            login.verb,
            Verb::Login {
                login_id: Some(LoginId::parse("op1").unwrap())
            }
        );
        assert!(login.password_stdin);
        assert!(ok("login --password-stdin op1").password_stdin);
    }

    #[test]
    fn words_ignore_case_and_numbers_are_normalised() {
        assert_eq!(verb("Call 03-1234-5678"), Verb::Call(n("0312345678")));
        assert_eq!(verb("HANGUP"), Verb::Hangup);
        assert_eq!(verb("Transfer_Complete"), Verb::TransferComplete);
        let quoted = vec!["call".to_owned(), "03 (1234) 5678".to_owned()];
        assert_eq!(
            parse_cli(&quoted).unwrap().verb,
            Verb::Call(n("0312345678"))
        );
        assert_eq!(verb("call ０３－１２３４"), Verb::Call(n("031234")));
        assert_eq!(verb("call -1330"), Verb::Call(n("1330")));
    }

    #[test]
    fn a_single_uri_argument_goes_through_parse_uri() {
        let c = ok("bbclient:call:1330");
        assert_eq!((c.verb, c.origin), (Verb::Call(n("1330")), Origin::Uri));
        assert_eq!(verb("callto:1330"), Verb::Call(n("1330")));
        assert_eq!(
            verb("bbclient:blindtransfer:1303"),
            Verb::BlindTransfer(n("1303"))
        );
        assert_eq!(verb("BBClient://hangup/"), Verb::Hangup);
        let quoted = vec!["\"callto:1330\"".to_owned()];
        assert_eq!(parse_cli(&quoted).unwrap().verb, Verb::Call(n("1330")));
        assert_eq!(
            err("bbclient:format:c").to_string(),
            "unsupported URI 'bbclient:format:c' (known verbs: call, hold, unhold, transfer, \
             transfer_complete, blindtransfer, hangup, mute, unmute)"
        );
        assert!(matches!(
            err("bbclient:login:op1"),
            CliError::Uri(UriError::CommandLineOnly { .. })
        ));
        assert_eq!(
            err("callto:1330 hangup").to_string(),
            "a URI must be the only argument, got 'callto:1330' followed by 'hangup'"
        );
    }

    #[test]
    fn unknown_verbs_name_the_word_and_suggest() {
        assert_eq!(
            err("format c").to_string(),
            "unknown verb 'format' (known verbs: call, hold, unhold, transfer, transfer_complete, \
             blindtransfer, hangup, answer, dtmf, details, status, login, logout, mute, unmute, dnd)"
        );
        for (typed, meant) in [
            ("blind_transfer", VerbWord::BlindTransfer),
            ("hang-up", VerbWord::Hangup),
            ("transfercomplete", VerbWord::TransferComplete),
            ("transfer-complete", VerbWord::TransferComplete),
            ("cal", VerbWord::Call),
            ("unhodl", VerbWord::Unhold),
        ] {
            assert_eq!(
                err(typed),
                CliError::UnknownVerb {
                    word: typed.to_owned(),
                    suggestion: Some(meant)
                },
                "{typed}"
            );
        }
        assert!(
            err("hang-up")
                .to_string()
                .starts_with("unknown verb 'hang-up' (did you mean 'hangup'?) (known verbs:")
        );
        assert_eq!(
            err("settings"),
            CliError::UnknownVerb {
                word: "settings".into(),
                suggestion: None
            }
        );
        assert_eq!(err(""), CliError::NoVerb);
        assert!(
            err("")
                .to_string()
                .starts_with("no verb given (try: call NUMBER")
        );
    }

    #[test]
    fn arity_errors_name_the_argument() {
        assert_eq!(
            err("call").to_string(),
            "call needs a NUMBER (write: call NUMBER)"
        );
        assert_eq!(
            err("blindtransfer").to_string(),
            "blindtransfer needs a NUMBER (write: blindtransfer NUMBER)"
        );
        assert_eq!(
            err("dtmf").to_string(),
            "dtmf needs DIGITS (write: dtmf DIGITS)"
        );
        assert_eq!(
            err("call 03 1234 5678").to_string(),
            "call got an unexpected argument '1234' (write: call NUMBER; quote a number that contains spaces)"
        );
        assert_eq!(
            err("hangup now"),
            CliError::UnexpectedArgument {
                verb: VerbWord::Hangup,
                arg: "now".into()
            }
        );
        assert!(matches!(
            err("login op1 op2"),
            CliError::UnexpectedArgument { .. }
        ));
        assert!(matches!(
            err("status extra"),
            CliError::UnexpectedArgument { .. }
        ));
    }

    #[test]
    fn options_belong_to_their_verb() {
        assert_eq!(
            err("status --xml").to_string(),
            "unknown option '--xml' for status (write: status [--json])"
        );
        assert!(matches!(
            err("call 1330 --json"),
            CliError::UnknownOption { .. }
        ));
        assert!(matches!(
            err("hold --password-stdin"),
            CliError::UnknownOption { .. }
        ));
        // A password is never accepted as an argument.
        assert_eq!(
            err("login op1 --password secret"),
            CliError::UnknownOption {
                verb: VerbWord::Login,
                option: "--password".into()
            }
        );
        assert!(matches!(
            err("login op1 secret"),
            CliError::UnexpectedArgument { .. }
        ));
    }

    #[test]
    fn bad_values_chain_their_reason() {
        assert_eq!(
            err("call 0312x45").to_string(),
            "call: number refused: 'x' at position 4 in '0312x45' is not a digit \
             (allowed: digits, a leading +, * and #; hyphens, spaces, dots and brackets are removed)"
        );
        assert!(
            err("transfer 12+3")
                .to_string()
                .starts_with("transfer: number refused: '+'")
        );
        assert!(
            err("dtmf 12E")
                .to_string()
                .starts_with("dtmf: dtmf keys refused: 'E'")
        );
        let bad_id = vec!["login".to_owned(), "op\u{7}".to_owned()];
        assert!(matches!(parse_cli(&bad_id), Err(CliError::BadLoginId(_))));
    }

    #[test]
    fn verb_from_str_reads_display_output() {
        assert_eq!("call 1330".parse::<Verb>().unwrap(), Verb::Call(n("1330")));
        assert_eq!("  status   --json ".parse::<Verb>().unwrap(), Verb::Status);
        assert_eq!(
            "callto:1330".parse::<Verb>().unwrap(),
            Verb::Call(n("1330"))
        );
        assert!("fly".parse::<Verb>().is_err());
    }

    #[test]
    fn edit_distance_basics() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("hangup", "hangup"), 0);
        assert_eq!(edit_distance("hnagup", "hangup"), 2);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    /// Every verb, with arbitrary valid arguments.
    pub(crate) fn any_verb() -> impl Strategy<Value = Verb> {
        let number = "\\+?[0-9*#]{1,32}".prop_map(|s| n(&s));
        prop_oneof![
            number.clone().prop_map(Verb::Call),
            number.clone().prop_map(Verb::Transfer),
            number.prop_map(Verb::BlindTransfer),
            Just(Verb::Hold),
            Just(Verb::Unhold),
            Just(Verb::TransferComplete),
            Just(Verb::Hangup),
            Just(Verb::Answer),
            "[0-9*#A-D]{1,32}".prop_map(|s| Verb::Dtmf(DtmfDigits::parse(&s).unwrap())),
            Just(Verb::Details),
            Just(Verb::Status),
            Just(Verb::Login { login_id: None }),
            "[a-zA-Z0-9._@][a-zA-Z0-9._@-]{0,63}".prop_map(|s| Verb::Login {
                login_id: Some(LoginId::parse(&s).unwrap())
            }),
            Just(Verb::Logout),
            Just(Verb::Mute),
            Just(Verb::Unmute),
            any::<bool>().prop_map(Verb::Dnd),
        ]
    }

    proptest! {
        #[test]
        fn display_parses_back_to_the_same_verb(v in any_verb()) {
            prop_assert_eq!(v.to_string().parse::<Verb>(), Ok(v.clone()));
            let words: Vec<String> = v.to_string().split(' ').map(String::from).collect();
            prop_assert_eq!(parse_cli(&words).map(|c| c.verb), Ok(v));
        }

        #[test]
        fn never_panics(words in proptest::collection::vec(prop_oneof![crate::text::any_text(), any::<String>()], 0..4)) {
            let _ = parse_cli(&words);
        }
    }
}
