//! This crate provides the SIP pieces that the softphone and the simulator share,
//! on top of `rsipstack` (pinned `=0.7.14`, see ARCHITECTURE.md).
//!
//! - [`digest`]: HTTP digest authentication as SIP uses it (RFC 2617/7616, MD5 and
//!   SHA-256, `qop=auth`): building challenges, parsing `Authorization`, verifying
//!   responses. Written here because rsipstack's server-side check breaks once the
//!   nonce count reaches ten (see `shared/notes/rsipstack-0.7.14.md`).
//! - [`headers`]: reading header values by name and the user part out of
//!   name-addr values (`"Bob" <sip:0901@host>;tag=1` → `0901`), which is what the
//!   CTI values are made of.
//! - [`inbound`]: what happens to each inbound UDP datagram before rsipstack
//!   sees it (pass, repair, answer 400/416/420/501/505 ourselves, or drop),
//!   because rsipstack drops malformed requests without an answer; with the
//!   socket wrapper that hooks it in front of rsipstack's UDP receive loop.
//! - [`sdp`]: the audio-only SDP offer/answer model both sides speak, parsed and
//!   written with the `sdp` crate.
//! - [`sdes`]: SDES (RFC 4568) `a=crypto` attributes, the SRTP master keys an
//!   SDP carries; keys never print.
//! - [`session_timer`]: RFC 4028 session timers as the softphone answers them
//!   (reading `Session-Expires`, choosing the refresher, refresh and expiry
//!   times).
//!
//! Key decision: everything here is plain functions on strings and rsipstack
//! message types; nothing opens a socket, spawns a task or reads the clock, so
//! the softphone and the simulator each keep their own drivers. (The one
//! adapter, `inbound::GuardedUdpSocket`, wraps a socket the driver opened.)
//!
//! It deliberately does not wrap rsipstack's endpoint or dialogs: each binary
//! uses those directly in its driver module, behind its own small API.

pub mod digest;
pub mod headers;
pub mod inbound;
pub mod sdes;
pub mod sdp;
pub mod session_timer;
pub mod stun;

pub use rsipstack;
