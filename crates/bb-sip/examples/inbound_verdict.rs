//! Prints `check_datagram`'s verdict for each file named on the command line,
//! e.g. `cargo run -p bb-sip --example inbound_verdict -- ../shared/fixtures/sip-torture/rfc4475/*.dat`.

use bb_sip::inbound::{Verdict, check_datagram};

fn main() -> std::process::ExitCode {
    let mut status = std::process::ExitCode::SUCCESS;
    for path in std::env::args().skip(1) {
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("inbound_verdict: {path}: {e}");
                status = std::process::ExitCode::FAILURE;
                continue;
            }
        };
        println!("== {path}");
        match check_datagram(&bytes) {
            Verdict::Pass => println!("pass"),
            Verdict::Rewrite(rw) => println!(
                "rewrite ({}):\n{}",
                rw.why,
                String::from_utf8_lossy(&rw.bytes)
            ),
            Verdict::Reply(r) => println!("reply:\n{}", String::from_utf8_lossy(&r.bytes)),
            Verdict::Drop(why) => println!("drop: {why}"),
        }
    }
    status
}
