//! Helpers shared by the benches under `benches/`.
//!
//! Criterion measures each function in turn, so on a shared, noisy machine
//! a burst of background load can land on one side of a comparison. For the
//! ratios we report, [`paired`] interleaves short blocks of the two
//! functions and takes the median of the per-round ratios, so load that
//! comes and goes hits both sides alike.

use std::time::Instant;

/// One interleaved comparison.
#[derive(Clone, Debug)]
pub struct Paired {
    /// What was compared.
    pub label: String,
    /// Median time per call of ours, ns.
    pub ours_ns: f64,
    /// Median time per call of the baseline, ns.
    pub base_ns: f64,
    /// Median over rounds of `ours / base`.
    pub ratio: f64,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// True in criterion's test mode: run everything once, briefly. That is
/// `cargo bench -- --test`, and also `cargo test --benches` (and so
/// `cargo test --workspace --all-targets`), which starts bench binaries
/// without the `--bench` flag `cargo bench` passes; criterion itself
/// decides the same way.
pub fn quick_mode() -> bool {
    quick_mode_for(std::env::args().skip(1))
}

/// [`quick_mode`] for explicit arguments.
pub fn quick_mode_for(args: impl IntoIterator<Item = String>) -> bool {
    let (mut bench, mut test) = (false, false);
    for a in args {
        bench |= a == "--bench";
        test |= a == "--test";
    }
    test || !bench
}

/// Times `ours` and `base` in alternating blocks of `iters` calls, `rounds`
/// times (fewer in quick mode), after one warm-up block each.
pub fn paired(
    label: &str,
    iters: u32,
    rounds: u32,
    mut ours: impl FnMut(),
    mut base: impl FnMut(),
) -> Paired {
    let rounds = if quick_mode() { 3 } else { rounds };
    let block = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        t.elapsed().as_nanos() as f64 / iters as f64
    };
    block(&mut ours);
    block(&mut base);
    let (mut a, mut b, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate which side goes first.
        let (x, y) = if round % 2 == 0 {
            let x = block(&mut ours);
            (x, block(&mut base))
        } else {
            let y = block(&mut base);
            (block(&mut ours), y)
        };
        a.push(x);
        b.push(y);
        r.push(x / y);
    }
    Paired {
        label: label.to_owned(),
        ours_ns: median(&mut a),
        base_ns: median(&mut b),
        ratio: median(&mut r),
    }
}

/// Prints paired results as a table.
pub fn print_paired(title: &str, rows: &[Paired]) {
    println!("\n{title} (interleaved, median of rounds)");
    println!(
        "{:<34} {:>12} {:>12} {:>9} {:>9}",
        "comparison", "ours ns", "baseline ns", "ours/base", "speed-up"
    );
    for p in rows {
        println!(
            "{:<34} {:>12.1} {:>12.1} {:>9.3} {:>8.2}x",
            p.label,
            p.ours_ns,
            p.base_ns,
            p.ratio,
            1.0 / p.ratio
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }

    #[test]
    fn paired_ranks_a_slower_function_slower() {
        let (mut a, mut b) = (0u64, 0u64);
        let p = paired(
            "spin",
            200,
            5,
            || {
                for i in 0..50 {
                    a = std::hint::black_box(a.wrapping_add(i));
                }
            },
            || {
                for i in 0..2000 {
                    b = std::hint::black_box(b.wrapping_add(i));
                }
            },
        );
        assert!(p.ratio < 0.5, "{p:?}");
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn quick_mode_follows_criterion() {
        assert!(!quick_mode_for(args(&["--bench"])), "cargo bench");
        assert!(
            quick_mode_for(args(&["--bench", "--test"])),
            "cargo bench -- --test"
        );
        assert!(quick_mode_for(args(&[])), "cargo test --benches");
        assert!(!quick_mode_for(args(&["--bench", "--seeds", "10"])));
    }
}
