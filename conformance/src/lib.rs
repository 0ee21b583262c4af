//! This crate provides the conformance harness: the cucumber `World` that
//! starts the real `bluebean-sim`, mock CRM and `bbclient` processes, and the
//! helpers its step definitions use. The steps themselves and the runner are
//! the `bbfeatures` binary (`src/bin/bbfeatures/`); [`catalogue`] reads the
//! steps' sources for `docs/steps.md`. Our Gherkin files are in `features/`
//! at the workspace root; teams run their own folders with the same runner.
//!
//! Architecture invariant: the harness reaches the binaries only through SIP
//! (via the simulator), HTTP (the simulator's API and the mock CRM), the
//! command line and the control socket. No step calls an internal function in
//! place of the behaviour it names.

pub mod catalogue;
pub mod conform;
pub mod ledger;
pub mod procs;
pub mod uac;
pub mod vars;
pub mod world;
