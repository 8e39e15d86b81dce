//! Overhead of `#[idempotent]` with `MemoryStore` over calling the bare function, per message,
//! fingerprint included: first deliveries and duplicates, on 1 and 2 threads.
//!
//! Every row runs on a fresh store that holds [`RECORDS`] records when its timed rounds begin, so
//! that rows differ only in what they name: a lookup among millions of records costs cache and
//! TLB misses that one among thousands does not, and a store shared by all rows would make each
//! row slower than the one before it.
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

/// The records a store holds when a row's timed rounds begin: an hour of a consumer taking
/// about 300 messages a second, with `ttl = "1h"`.
const RECORDS: u64 = 1_000_000;

/// A consumer as users write one: the handlers' store is a field.
struct Consumer {
    store: MemoryStore,
}

/// One way of handling a message, timed against [`Consumer::bare`].
type Handler = fn(&Consumer, &OrderPlaced) -> Result<Receipt, Error>;

impl Consumer {
    /// A consumer on a fresh store holding `records` completed records of `handler`'s scope,
    /// with ids taken from `next_id`.
    fn with_records(handler: Handler, records: u64, next_id: &AtomicU64) -> Self {
        let consumer = Consumer {
            store: MemoryStore::new(),
        };
        let base = next_id.fetch_add(records, Ordering::Relaxed);
        consumer.deliver(handler, base..base + records);
        consumer
    }

    /// Delivers the messages of `ids` once each, before the timed rounds.
    fn deliver(&self, handler: Handler, ids: std::ops::Range<u64>) {
        for id in ids {
            handler(self, &order(id)).expect("handler failed");
        }
    }

    fn bare(&self, order: &OrderPlaced) -> Result<Receipt, Error> {
        Ok(Receipt {
            order_id: order.order_id,
            charged_cents: order.total_cents,
        })
    }

    #[idempotent(store = self.store, scope = "bench.charge", ttl = "1h", lease = 30)]
    fn charge(&self, order: &OrderPlaced) -> Result<Receipt, Error> {
        Ok(Receipt {
            order_id: order.order_id,
            charged_cents: order.total_cents,
        })
    }

    /// The same handler keyed by the order id: what the protocol costs when the key is cheap to
    /// fingerprint.
    #[idempotent(store = self.store, scope = "bench.charge_by_id", ttl = "1h", lease = 30, key = order.order_id)]
    fn charge_by_id(&self, order: &OrderPlaced) -> Result<Receipt, Error> {
        Ok(Receipt {
            order_id: order.order_id,
            charged_cents: order.total_cents,
        })
    }

    /// The bare function after fingerprinting the whole message: the part of the overhead that
    /// is the fingerprint.
    fn fingerprint_and_bare(&self, order: &OrderPlaced) -> Result<Receipt, Error> {
        keep(order.try_fingerprint()?);
        self.bare(order)
    }
}

/// Nanoseconds per message on each of `threads` threads, each handling `per_thread` messages
/// whose ids are `ids(thread, i)`.
fn per_message(
    consumer: &Consumer,
    threads: u64,
    per_thread: u64,
    handler: Handler,
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
                    keep(handler(consumer, m).expect("handler failed"));
                }
                total_ns.fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
            });
        }
    });
    total_ns.load(Ordering::Relaxed) as f64 / (threads * per_thread) as f64
}

/// One round of `handler` and of the bare function on the same messages: (ours, bare)
/// nanoseconds per message.
fn paired(
    consumer: &Consumer,
    threads: u64,
    per_thread: u64,
    handler: Handler,
    ids: &(dyn Fn(u64, u64) -> u64 + Sync),
) -> (f64, f64) {
    (
        per_message(consumer, threads, per_thread, handler, ids),
        per_message(consumer, threads, per_thread, Consumer::bare, ids),
    )
}

fn median(mut runs: Vec<f64>) -> f64 {
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

/// The sizes of a run: messages per round (over all threads), rounds, records per store.
#[derive(Clone, Copy)]
struct Size {
    messages: u64,
    rounds: u64,
    records: u64,
}

/// A row from rounds of (ours, bare) nanoseconds per message.
fn row(case: String, runs: &[(f64, f64)], target: Option<f64>) -> Row {
    let ours = median(runs.iter().map(|r| r.0).collect());
    let base = median(runs.iter().map(|r| r.1).collect());
    let overhead = ours - base;
    Row {
        case,
        ours: format!("{:.2} µs", ours / 1e3),
        baseline: format!("{:.3} µs bare fn", base / 1e3),
        ratio: overhead / 1e3,
        target: target.map_or("-".to_owned(), |t| format!("≤ {t} µs")),
        met: target.is_none_or(|t| overhead <= t * 1e3),
    }
}

/// First deliveries of `handler` on `threads` threads: rounds of new messages on a store that
/// holds `size.records` records before the first round.
fn first_delivery_row(
    case: &str,
    handler: Handler,
    threads: u64,
    size: Size,
    next_id: &AtomicU64,
    target: Option<f64>,
) -> Row {
    let consumer = Consumer::with_records(handler, size.records, next_id);
    let per_thread = size.messages / threads;
    let runs: Vec<(f64, f64)> = (0..size.rounds)
        .map(|_| {
            // Ids never repeat across rounds, so every message is a first delivery.
            let base = next_id.fetch_add(threads * per_thread, Ordering::Relaxed);
            let ids = move |t: u64, i: u64| base + t * per_thread + i;
            paired(&consumer, threads, per_thread, handler, &ids)
        })
        .collect();
    row(case.to_owned(), &runs, target)
}

/// Duplicates of `handler` on `threads` threads: the same `distinct` messages again and again,
/// completed already, on a store that holds `size.records` records in all.
fn duplicate_row(
    case: &str,
    handler: Handler,
    threads: u64,
    (size, distinct): (Size, u64),
    next_id: &AtomicU64,
    target: Option<f64>,
) -> Row {
    let consumer = Consumer::with_records(handler, size.records - distinct, next_id);
    let per_thread = size.messages / threads;
    let base = next_id.fetch_add(distinct, Ordering::Relaxed);
    let ids = move |t: u64, i: u64| base + (t * per_thread + i) % distinct;
    consumer.deliver(handler, base..base + distinct);
    let runs: Vec<(f64, f64)> = (0..size.rounds)
        .map(|_| paired(&consumer, threads, per_thread, handler, &ids))
        .collect();
    row(case.to_owned(), &runs, target)
}

/// Nanoseconds per read of a random cache line among `bytes` of memory: each read's address
/// comes from the one before (one cycle through every line, in random order), so none can be
/// prefetched or overlapped.
///
/// A duplicate among millions of records must read its record from memory at least once; this
/// is what one such read costs on the machine, measured in the same run as the rows it explains.
fn random_read_ns(bytes: usize, rounds: u64) -> f64 {
    const WORDS_PER_LINE: usize = 64 / 8;
    let lines = bytes / 64;
    // A random order of the lines (Fisher-Yates on a xorshift sequence: fixed seed, no
    // dependency), then each line holds the number of the line after it in that order.
    let mut order: Vec<usize> = (0..lines).collect();
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    for i in (1..lines).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(i, (state % (i as u64 + 1)) as usize);
    }
    let mut next = vec![0_usize; lines * WORDS_PER_LINE];
    for (k, &line) in order.iter().enumerate() {
        next[line * WORDS_PER_LINE] = order[(k + 1) % lines];
    }
    drop(order);
    const READS: usize = 200_000;
    let mut line = 0;
    let mut chase = |reads: usize| {
        for _ in 0..reads {
            line = next[line * WORDS_PER_LINE];
        }
        keep(line);
    };
    chase(READS);
    median(
        (0..rounds)
            .map(|_| {
                let start = Instant::now();
                chase(READS);
                start.elapsed().as_nanos() as f64 / READS as f64
            })
            .collect(),
    )
}

/// The random-read reference as a row (no baseline: it is one).
fn random_read_row(records: u64, rounds: u64) -> Row {
    // About what a store of `records` takes: 80-byte buckets at a load between 1/2 and 7/8,
    // rounded to a power of two (1 MB at least, for the small runs of `BENCH_N`).
    let bytes = (records as usize * 128).next_power_of_two().max(1 << 20);
    let ns = random_read_ns(bytes, rounds);
    Row {
        case: format!(
            "one read of a random cache line among {} MB (about the table of a store of {} records), for reference",
            bytes >> 20,
            thousands(records),
        ),
        ours: format!("{:.2} µs", ns / 1e3),
        baseline: "-".to_owned(),
        ratio: ns / 1e3,
        target: "-".to_owned(),
        met: true,
    }
}

fn main() {
    // `BENCH_N` shrinks the run for profiling (e.g. under callgrind).
    let n_env = std::env::var("BENCH_N").ok().and_then(|v| v.parse().ok());
    let size = match n_env {
        Some(n) => Size {
            messages: n,
            rounds: 1,
            records: n,
        },
        None => Size {
            messages: 100_000,
            rounds: 11,
            records: RECORDS,
        },
    };
    let records = format!("{} records", thousands(size.records));
    let next_id = AtomicU64::new(1 << 40);
    let mut rows = Vec::new();
    for threads in [1u64, 2] {
        rows.push(first_delivery_row(
            &format!("first delivery, {threads} thread(s)"),
            Consumer::charge,
            threads,
            size,
            &next_id,
            Some(1.5),
        ));
        rows.push(duplicate_row(
            &format!("duplicate, {threads} thread(s)"),
            Consumer::charge,
            threads,
            (size, size.messages),
            &next_id,
            Some(1.0),
        ));
    }
    // Where the overhead goes, for information: the fingerprint of the whole message, the
    // protocol with a cheap key, lookups that stay in the CPU caches, and a larger store.
    rows.push(first_delivery_row(
        "the fingerprint of the message alone, 1 thread(s), for information",
        Consumer::fingerprint_and_bare,
        1,
        Size { records: 0, ..size },
        &next_id,
        None,
    ));
    rows.push(first_delivery_row(
        "first delivery, 1 thread(s) with `key = order.order_id`, for information",
        Consumer::charge_by_id,
        1,
        size,
        &next_id,
        None,
    ));
    rows.push(duplicate_row(
        "duplicate, 1 thread(s) with `key = order.order_id`, for information",
        Consumer::charge_by_id,
        1,
        (size, size.messages),
        &next_id,
        None,
    ));
    const HOT: u64 = 1_000;
    rows.push(duplicate_row(
        &format!(
            "duplicate, 1 thread(s), {HOT} messages cycled (their records stay in the CPU caches), for information"
        ),
        Consumer::charge,
        1,
        (size, HOT),
        &next_id,
        None,
    ));
    let large = 4 * size.records;
    rows.push(duplicate_row(
        &format!(
            "duplicate, 1 thread(s), on a store of {} records, for information",
            thousands(large)
        ),
        Consumer::charge,
        1,
        (
            Size {
                records: large,
                ..size
            },
            size.messages,
        ),
        &next_id,
        None,
    ));
    rows.push(random_read_row(size.records, size.rounds));
    print_table(
        &format!(
            "`#[idempotent]` + MemoryStore overhead per message (fingerprint included), on a store of {records}"
        ),
        "overhead (µs)",
        &rows,
    );
    println!(
        "\nEach row runs on a fresh store holding {records} when its timed rounds begin (first \
         deliveries add theirs: {} rounds of {} messages); its figure is the median of those \
         rounds. A duplicate's record is looked up among all of them: the lookup reads the hash \
         table's control bytes, then the bucket, each a random place in memory, where a small \
         store finds both in the CPU caches. A duplicate here therefore costs about what it \
         costs with its records in cache, plus one or two of the random reads of the last row \
         (a figure of the machine, not of this crate: a record not in cache costs at least \
         one).",
        size.rounds,
        thousands(size.messages),
    );
}

/// `1000000` as `1,000,000`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
