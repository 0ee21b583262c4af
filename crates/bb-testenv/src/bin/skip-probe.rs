//! Runs bb-testenv's skip rule once, for its own tests (`tests/rule.rs`):
//! `skip-probe` skips with a fixed reason and then prints `went on`.

fn main() {
    bb_testenv::skip("skip-probe: a test of the rule itself, nothing is missing");
    println!("went on");
}
