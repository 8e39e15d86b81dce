//! Overhead of `#[idempotent]` with `MemoryStore` over calling the bare function, per message,
//! fingerprint included: first deliveries and duplicates, on 1 and 2 threads.
//!
//! Run: `cargo bench -p dedup-runtime --bench memory_store`

mod support;

use std::collections::HashMap;
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use dedup_runtime::store::MemoryStore;
use dedup_runtime::{Error, Fingerprint, idempotent};
use serde::{Deserialize, Serialize};
use support::{Row, keep, print_table};

#[derive(Clone, Serialize, Fingerprint)]
#[fingerprint(namespace = "bench.OrderPlaced")]
struct OrderPlaced {
    order_id: u64,
    customer: String,
    items: Vec<Item>,
    currency: String,
    total_cents: i64,
    attributes: HashMap<String, String>,
    #[fingerprint(skip)]
    correlation_id: String,
    #[fingerprint(skip)]
    sent_at_ms: u64,
}

/// Derived too: nested in a derived message, it is then written without serde (its fingerprint
/// inside the message is the same either way).
#[derive(Clone, Serialize, Fingerprint)]
struct Item {
    sku: String,
    qty: u32,
    price_cents: i64,
}

#[derive(Serialize, Deserialize)]
struct Receipt {
    order_id: u64,
    charged_cents: i64,
}

fn order(order_id: u64) -> OrderPlaced {
    OrderPlaced {
        order_id,
        customer: "customer-7".to_owned(),
        items: (0..3)
            .map(|i| Item {
                sku: format!("SKU-{i}"),
                qty: i + 1,
                price_cents: 1_999,
            })
            .collect(),
        currency: "EUR".to_owned(),
        total_cents: 5_997,
        attributes: HashMap::from([("channel".to_owned(), "web".to_owned())]),
        correlation_id: "corr".to_owned(),
        sent_at_ms: 1_700_000_000_000,
    }
}

static STORE: std::sync::LazyLock<MemoryStore> = std::sync::LazyLock::new(MemoryStore::new);

fn bare(order: &OrderPlaced) -> Result<Receipt, Error> {
    Ok(Receipt {
        order_id: order.order_id,
        charged_cents: order.total_cents,
    })
}

#[idempotent(store = STORE, scope = "bench.charge", ttl = "1h", lease = 30)]
fn charge(order: &OrderPlaced) -> Result<Receipt, Error> {
    Ok(Receipt {
        order_id: order.order_id,
        charged_cents: order.total_cents,
    })
}

/// The same handler keyed by the order id: what the protocol costs when the key is cheap to
/// fingerprint.
#[idempotent(store = STORE, scope = "bench.charge_by_id", ttl = "1h", lease = 30, key = order.order_id)]
fn charge_by_id(order: &OrderPlaced) -> Result<Receipt, Error> {
    Ok(Receipt {
        order_id: order.order_id,
        charged_cents: order.total_cents,
    })
}

/// The bare function after fingerprinting the whole message: the part of the overhead that is
/// the fingerprint.
fn fingerprint_and_bare(order: &OrderPlaced) -> Result<Receipt, Error> {
    keep(order.try_fingerprint()?);
    bare(order)
}

/// Nanoseconds per message on each of `threads` threads, each handling `per_thread` messages
/// made by `make(thread, i)`.
fn per_message(
    threads: u64,
    per_thread: u64,
    handler: fn(&OrderPlaced) -> Result<Receipt, Error>,
    ids: &(dyn Fn(u64, u64) -> u64 + Sync),
) -> f64 {
    let barrier = Barrier::new(threads as usize);
    let total_ns = AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..threads {
            let barrier = &barrier;
            let total_ns = &total_ns;
            s.spawn(move || {
                let messages: Vec<OrderPlaced> =
                    (0..per_thread).map(|i| order(ids(t, i))).collect();
                barrier.wait();
                let start = Instant::now();
                for m in &messages {
                    keep(handler(m).expect("handler failed"));
                }
                total_ns.fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
            });
        }
    });
    total_ns.load(Ordering::Relaxed) as f64 / (threads * per_thread) as f64
}

fn median(mut runs: Vec<f64>) -> f64 {
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

/// The overhead rows of `handler` on `threads` threads: first deliveries (every message new)
/// and duplicates (the same messages again, completed already), each next to the bare function
/// in the same rounds.
fn overhead_rows(
    label: &str,
    handler: fn(&OrderPlaced) -> Result<Receipt, Error>,
    threads: u64,
    (n, rounds): (u64, u64),
    next_id: &AtomicU64,
    targets: Option<(f64, f64)>,
) -> [Row; 2] {
    let first: Vec<(f64, f64)> = (0..rounds)
        .map(|_| {
            // Ids never repeat across rounds, so every message is a first delivery.
            let base = next_id.fetch_add(threads * n, Ordering::Relaxed);
            let ids = move |t: u64, i: u64| base + t * n + i;
            (
                per_message(threads, n, handler, &ids),
                per_message(threads, n, bare, &ids),
            )
        })
        .collect();
    let base_id = next_id.fetch_add(threads * n, Ordering::Relaxed);
    let ids = move |t: u64, i: u64| base_id + t * n + i;
    per_message(threads, n, handler, &ids);
    let dup: Vec<(f64, f64)> = (0..rounds)
        .map(|_| {
            (
                per_message(threads, n, handler, &ids),
                per_message(threads, n, bare, &ids),
            )
        })
        .collect();
    let row = |case: &str, runs: &[(f64, f64)], target: Option<f64>| {
        let ours = median(runs.iter().map(|r| r.0).collect());
        let base = median(runs.iter().map(|r| r.1).collect());
        let overhead = ours - base;
        Row {
            case: format!("{case}, {threads} thread(s){label}"),
            ours: format!("{:.2} µs", ours / 1e3),
            baseline: format!("{:.3} µs bare fn", base / 1e3),
            ratio: overhead / 1e3,
            target: target.map_or("-".to_owned(), |t| format!("≤ {t} µs")),
            met: target.is_none_or(|t| overhead <= t * 1e3),
        }
    };
    [
        row("first delivery", &first, targets.map(|t| t.0)),
        row("duplicate", &dup, targets.map(|t| t.1)),
    ]
}

/// Duplicates of a small set of messages whose records stay in the CPU caches: the protocol's
/// own cost, without the cache misses of looking a key up among millions of records.
fn hot_duplicates_row(
    handler: fn(&OrderPlaced) -> Result<Receipt, Error>,
    (n, rounds): (u64, u64),
    next_id: &AtomicU64,
) -> Row {
    const HOT: u64 = 1_000;
    let base = next_id.fetch_add(HOT, Ordering::Relaxed);
    let ids = move |_: u64, i: u64| base + i % HOT;
    per_message(1, HOT, handler, &ids);
    let runs: Vec<(f64, f64)> = (0..rounds)
        .map(|_| {
            (
                per_message(1, n, handler, &ids),
                per_message(1, n, bare, &ids),
            )
        })
        .collect();
    let ours = median(runs.iter().map(|r| r.0).collect());
    let base = median(runs.iter().map(|r| r.1).collect());
    Row {
        case: format!(
            "duplicate, 1 thread(s), {HOT} messages cycled (records in cache), for information"
        ),
        ours: format!("{:.2} µs", ours / 1e3),
        baseline: format!("{:.3} µs bare fn", base / 1e3),
        ratio: (ours - base) / 1e3,
        target: "-".to_owned(),
        met: true,
    }
}

fn main() {
    // `BENCH_N` shrinks the run for profiling (e.g. under callgrind).
    let n_env = std::env::var("BENCH_N").ok().and_then(|v| v.parse().ok());
    let size: (u64, u64) = match n_env {
        Some(n) => (n, 1),
        None => (200_000, 5),
    };
    let next_id = AtomicU64::new(1 << 40);
    let mut rows = Vec::new();
    for threads in [1u64, 2] {
        rows.extend(overhead_rows(
            "",
            charge,
            threads,
            size,
            &next_id,
            Some((1.5, 1.0)),
        ));
    }
    // Where the overhead goes, for information: the fingerprint of the whole message, and the
    // protocol with a cheap key.
    let [mut fingerprint, _] = overhead_rows("", fingerprint_and_bare, 1, size, &next_id, None);
    fingerprint.case =
        "the fingerprint of the message alone, 1 thread(s), for information".to_owned();
    rows.push(fingerprint);
    rows.extend(overhead_rows(
        " with `key = order.order_id`, for information",
        charge_by_id,
        1,
        size,
        &next_id,
        None,
    ));
    rows.push(hot_duplicates_row(charge, size, &next_id));
    print_table(
        "`#[idempotent]` + MemoryStore overhead per message (fingerprint included)",
        "overhead (µs)",
        &rows,
    );
}
