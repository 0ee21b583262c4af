//! This crate provides the one verb model behind every entry point of the
//! `bbclient` softphone: URIs clicked in browsers, the command line, the
//! local control socket and the window.
//!
//! The principal type is [`Verb`]: `call N`, `hold`, `unhold`, `transfer N`,
//! `transfer_complete`, `blindtransfer N`, `hangup` (the vendor guide's
//! seven) plus `answer`, `dtmf DIGITS`, `details`, `status`, `login` and
//! `logout`. Each entry point produces one:
//!
//! * [`parse_uri`] reads `callto:`, `bbclient:`, `tel:`, `sip:` and `sips:`
//!   URIs (URI-1…URI-3), leniently, as browsers and OSes really pass them;
//! * [`parse_cli`] reads the verb words of the command line (CLI-1), or a
//!   single URI argument, into a [`CliCommand`];
//! * the [`wire`] module carries verbs to the running softphone as
//!   line-delimited JSON ([`Request`], [`RequestBody`]) and brings back
//!   replies and events ([`Message`]); its module documentation is the
//!   control-protocol specification;
//! * the window's number field uses [`normalize_number`] (UI-4).
//!
//! # The key design decision: one normalisation, one vocabulary
//!
//! Numbers reach the softphone from a paste, a link, a shell and a socket.
//! They all go through the single function [`normalize_number`] and come
//! out as a [`DialNumber`], whose constructor is that function: a number
//! that dials from the window dials from a link, and a number refused in one
//! place is refused everywhere with the same message. Likewise the verb
//! words ([`VerbWord`]) are one table shared by the command line, the
//! `bbclient:` URIs and the wire's `cmd` field, so the three cannot drift.
//!
//! A URI can only carry the guide's seven call-control verbs
//! ([`VerbWord::in_uri`]). Nothing in this crate can express a change of
//! settings or credentials, so no link in a web page can make one.
//!
//! # What it won't do
//!
//! No I/O: no sockets, no tokio, no reading of standard input or settings.
//! It does not know whether a verb makes sense right now (hold with no
//! call): the softphone answers that in its [`Reply`]. It does not parse the
//! program's own options (`run --config`, `--instance`, `install-handlers`);
//! the binary does, with clap, and prints [`usage_text`] for the verbs.
//!
//! # Example
//!
//! ```
//! use bb_verbs::{RequestBody, Request, Verb, parse_cli, parse_uri};
//!
//! let from_link = parse_uri("callto:03-1234-5678").unwrap();
//! let args: Vec<String> = vec!["call".into(), "０３（１２３４）５６７８".into()];
//! let from_shell = parse_cli(&args).unwrap().verb;
//! assert_eq!(from_link, from_shell);
//! assert_eq!(from_link.to_string(), "call 0312345678");
//!
//! let line = Request::new(1, RequestBody::from(&from_link)).to_line().unwrap();
//! assert_eq!(line, "{\"id\":1,\"cmd\":\"call\",\"number\":\"0312345678\"}\n");
//! ```

#![deny(missing_docs)]

pub mod cli;
pub mod number;
mod text;
pub mod uri;
pub mod verb;
pub mod wire;

pub use cli::{CliCommand, CliError, Origin, parse_cli};
pub use number::{DialNumber, MAX_NUMBER_LEN, NumberError, normalize_number};
pub use uri::{MAX_URI_LEN, URI_SCHEMES, UriError, parse_uri};
pub use verb::{
    DtmfDigits, DtmfError, LoginId, LoginIdError, Password, Verb, VerbArg, VerbWord, usage_text,
};
pub use wire::{Event, EventKind, Message, Reply, Request, RequestBody, WireError};
