//! A small measuring harness shared by the benches: every figure is printed next to a baseline
//! measured in the same run, as a ratio, in a Markdown table that goes into BENCHMARKS.md.
#![allow(dead_code, unreachable_pub)]

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Nanoseconds per operation: the median of `rounds` rounds of `iters` calls each.
pub fn ns_per_op(rounds: usize, iters: u64, mut f: impl FnMut()) -> f64 {
    // Warm up caches, pools and branch predictors.
    for _ in 0..iters.min(1_000) {
        f();
    }
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                f();
            }
            start.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Runs `f` for about `target` and returns the number of iterations that fit (at least 1).
pub fn calibrate(target: Duration, mut f: impl FnMut()) -> u64 {
    let mut n = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        if start.elapsed() >= target || n >= 1 << 30 {
            return n.max(1);
        }
        n *= 2;
    }
}

/// Keeps a value alive and opaque to the optimiser.
pub fn keep<T>(value: T) -> T {
    black_box(value)
}

/// One row of a results table.
pub struct Row {
    pub case: String,
    pub ours: String,
    pub baseline: String,
    pub ratio: f64,
    /// For example `"≤ 2.5×"` or `"≥ 90%"`.
    pub target: String,
    pub met: bool,
}

/// Prints a Markdown table with a title.
pub fn print_table(title: &str, ratio_header: &str, rows: &[Row]) {
    println!("\n### {title}\n");
    println!("| case | ours | baseline | {ratio_header} | target | met |");
    println!("|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {:.2} | {} | {} |",
            r.case,
            r.ours,
            r.baseline,
            r.ratio,
            r.target,
            if r.met { "yes" } else { "**no**" }
        );
    }
}
