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

/// True when the bench binary was started with `--test` (criterion's
/// quick check mode, used by CI): run everything once, briefly.
pub fn quick_mode() -> bool {
    std::env::args().any(|a| a == "--test")
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
}
