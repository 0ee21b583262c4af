//! cargo-fuzz target: every input goes through `bb_sip::inbound::check_datagram`,
//! and what it passes on goes through rsipstack's UDP path (`bb_fuzz::check_one`).
//!
//! With `cargo +nightly fuzz run inbound_datagram` this is a libFuzzer target.
//! Built without `--cfg fuzzing` (plain `cargo build` on stable) it is a small
//! program that runs `check_one` over the files named on its command line, to
//! reproduce a crash without nightly.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bb_fuzz::check_one(data);
});

#[cfg(not(fuzzing))]
fn main() -> std::process::ExitCode {
    let mut status = std::process::ExitCode::SUCCESS;
    for path in std::env::args_os().skip(1) {
        match std::fs::read(&path) {
            Ok(bytes) => {
                let seen = bb_fuzz::check_one(&bytes);
                println!("{}: {seen:?}", path.to_string_lossy());
            }
            Err(e) => {
                eprintln!("inbound_datagram: {}: {e}", path.to_string_lossy());
                status = std::process::ExitCode::FAILURE;
            }
        }
    }
    status
}
