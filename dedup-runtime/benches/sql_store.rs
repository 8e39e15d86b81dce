//! The protocol (`Idempotency::execute`: claim, body, complete) on `PostgresStore` and
//! `SqliteStore`, next to the cheapest thing that could durably record a message: a raw
//! `INSERT ... ON CONFLICT DO NOTHING` of the same row, on the same pool (PostgreSQL), or into
//! the same file through one writer connection with `synchronous = FULL` (SQLite). First
//! deliveries and duplicates, 1 and 16 in flight.
//!
//! Run: `cargo bench -p dedup-runtime --features postgres,sqlite --bench sql_store`
//! (PostgreSQL at `DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`; without it
//! the PostgreSQL rows are skipped with a note.)
//!
//! A first delivery makes two durable writes (the claim, then the completion) where the raw
//! insert makes one: the target is 40% of its rate. A duplicate only reads: 80%.

mod support;

use std::future::Future;
use std::io::Write as _;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dedup_runtime::idempotency::{Delivery, Idempotency};
use dedup_runtime::store::{PostgresStore, SqliteStore, Store};
use dedup_runtime::{Digest, Error};
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use support::{Row, print_table};

/// How many rounds each figure is the median of.
const ROUNDS: usize = 11;

/// A key no other run or case uses: a run id, a case id and an index.
fn digest(run: u64, case: u64, i: u64) -> Digest {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&run.to_be_bytes());
    bytes[8..16].copy_from_slice(&case.to_be_bytes());
    bytes[16..24].copy_from_slice(&i.to_be_bytes());
    Digest::from_bytes(bytes)
}

/// Runs `op(i)` for `i` in `0..n`, `in_flight` at a time; returns operations per second.
async fn rate<F, Fut>(n: u64, in_flight: usize, op: F) -> f64
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..in_flight)
        .map(|_| {
            let (op, next) = (Arc::clone(&op), Arc::clone(&next));
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    op(i).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a benchmark task panicked");
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// A boxed future that inserts one row the raw way.
type RawFuture = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;
/// Inserts the row of a digest the raw way.
type RawInsert = dyn Fn(Digest) -> RawFuture + Send + Sync;

/// One backend's four cases, ours and the baseline interleaved round by round.
struct Bench<S> {
    name: &'static str,
    consumer: Idempotency<S>,
    /// Inserts the row for `digest` the raw way.
    raw: Arc<RawInsert>,
    run: u64,
    ops: u64,
}

impl<S: Store> Bench<S> {
    async fn ours(&self, case: u64, in_flight: usize) -> f64 {
        let (consumer, run) = (self.consumer.clone(), self.run);
        rate(self.ops, in_flight, move |i| {
            let consumer = consumer.clone();
            async move {
                let outcome = consumer
                    .execute(Delivery::new(digest(run, case, i)), async {
                        Ok::<_, Error>(i)
                    })
                    .await
                    .expect("a delivery failed");
                assert!(outcome.is_done(), "a delivery was left in progress");
                std::hint::black_box(outcome);
            }
        })
        .await
    }

    async fn baseline(&self, case: u64, in_flight: usize) -> f64 {
        let (raw, run) = (Arc::clone(&self.raw), self.run);
        rate(self.ops, in_flight, move |i| raw(digest(run, case, i))).await
    }

    /// Each round measures ours and the baseline back to back (alternating which goes first,
    /// so that a drift in the machine's load hits both), and the ratio is the median of the
    /// rounds' ratios: the figures stay comparable on a shared, noisy machine.
    async fn rows(&self, in_flight: usize, case_base: u64) -> Vec<Row> {
        let mut first = Samples::default();
        let mut dup = Samples::default();
        for round in 0..ROUNDS as u64 {
            // Fresh keys each round for first deliveries; the same keys again for duplicates.
            let (ours_case, raw_case) = (case_base + round * 2, case_base + round * 2 + 1);
            let ours_first = round % 2 == 0;
            for samples in [&mut first, &mut dup] {
                let (ours, raw) = if ours_first {
                    let ours = self.ours(ours_case, in_flight).await;
                    (ours, self.baseline(raw_case, in_flight).await)
                } else {
                    let raw = self.baseline(raw_case, in_flight).await;
                    (self.ours(ours_case, in_flight).await, raw)
                };
                samples.push(ours, raw);
            }
        }
        let row = |kind: &str, samples: Samples, target: f64| {
            let ratio = median(samples.ratios);
            Row {
                case: format!("{} {kind}, {in_flight} in flight", self.name),
                ours: format!("{:.0} msg/s", median(samples.ours)),
                baseline: format!("{:.0} rows/s", median(samples.raw)),
                ratio,
                target: format!("≥ {:.0}%", target * 100.0),
                met: ratio >= target,
            }
        };
        vec![
            row("first delivery", first, 0.40),
            row("duplicate", dup, 0.80),
        ]
    }
}

#[derive(Default)]
struct Samples {
    ours: Vec<f64>,
    raw: Vec<f64>,
    ratios: Vec<f64>,
}

impl Samples {
    fn push(&mut self, ours: f64, raw: f64) {
        self.ours.push(ours);
        self.raw.push(raw);
        self.ratios.push(ours / raw);
    }
}

async fn postgres(run: u64) -> Option<Vec<Row>> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let table = format!("bench_{run:016x}");
    let store = match PostgresStore::builder()
        .url(&url)
        .schema("dedup_bench")
        .table(&table)
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(5))
        .purge_every(None)
        .connect()
        .await
    {
        Ok(store) => store,
        Err(err) => {
            let _ = writeln!(
                std::io::stderr(),
                "dedup: SKIPPED the PostgreSQL benchmark: {err}"
            );
            return None;
        }
    };
    let pool = store.pool().clone();
    let insert: Arc<str> = format!(
        "INSERT INTO dedup_bench.\"{table}\" (scope, fingerprint, status, owner, created_at, expires_at)
         VALUES ('raw', $1, 'in_progress', $2, clock_timestamp(), clock_timestamp() + interval '30 seconds')
         ON CONFLICT (scope, fingerprint) DO NOTHING"
    )
    .into();
    let raw = Arc::new(move |digest: Digest| {
        let (pool, insert) = (pool.clone(), Arc::clone(&insert));
        Box::pin(async move {
            sqlx::query(AssertSqlSafe(insert))
                .bind(digest.as_bytes().as_slice())
                .bind("0123456789abcdef0123456789abcdef")
                .execute(&pool)
                .await
                .expect("raw insert failed");
        }) as RawFuture
    });
    let bench = Bench {
        name: "PostgreSQL",
        consumer: Idempotency::new(store.clone(), "bench"),
        raw,
        run,
        ops: 600,
    };
    let mut rows = bench.rows(1, 0).await;
    let bench = Bench {
        ops: 4_000,
        ..bench
    };
    rows.extend(bench.rows(16, 1_000).await);
    let _ = sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP TABLE dedup_bench.\"{table}\"; DROP FUNCTION dedup_bench.\"{table}_claim\""
    )))
    .execute(store.pool())
    .await;
    let _ = sqlx::query("DELETE FROM dedup_bench.dedup_migrations WHERE table_name = $1")
        .bind(&table)
        .execute(store.pool())
        .await;
    let options = PgConnectOptions::from_str(&url).ok();
    let server = options.map_or_else(String::new, |o| {
        format!("{}:{}", o.get_host(), o.get_port())
    });
    println!("\nPostgreSQL at {server}");
    Some(rows)
}

async fn sqlite(run: u64) -> Vec<Row> {
    let path = std::env::temp_dir().join(format!("dedup-bench-{run:016x}.db"));
    let store = SqliteStore::builder()
        .path(&path)
        .purge_every(None)
        .open()
        .await
        .expect("cannot open the SQLite file");
    // The baseline writes durably, as a completion does: its own single writer connection on
    // the same file, `synchronous = FULL`.
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("cannot open the SQLite file for the baseline");
    let raw = Arc::new(move |digest: Digest| {
        let pool = pool.clone();
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO dedup_records (scope, fingerprint, status, owner, created_at, expires_at)
                 VALUES ('raw', ?1, 'in_progress', ?2, CAST(unixepoch('subsec') * 1000 AS INTEGER),
                         CAST(unixepoch('subsec') * 1000 AS INTEGER) + 30000)
                 ON CONFLICT (scope, fingerprint) DO NOTHING",
            )
            .bind(digest.as_bytes().as_slice())
            .bind("0123456789abcdef0123456789abcdef")
            .execute(&pool)
            .await
            .expect("raw insert failed");
        }) as RawFuture
    });
    let bench = Bench {
        name: "SQLite",
        consumer: Idempotency::new(store.clone(), "bench"),
        raw,
        run,
        ops: 500,
    };
    let mut rows = bench.rows(1, 0).await;
    let bench = Bench {
        ops: 1_500,
        ..bench
    };
    rows.extend(bench.rows(16, 1_000).await);
    drop(bench);
    drop(store);
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
    rows
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let run = uuid::Uuid::new_v4().as_u64_pair().0;
    runtime.block_on(async {
        let mut rows = postgres(run).await.unwrap_or_default();
        rows.extend(sqlite(run).await);
        print_table(
            &format!(
                "SQL stores: `Idempotency::execute` vs a raw `INSERT ... ON CONFLICT DO NOTHING` (medians of {ROUNDS} paired rounds)"
            ),
            "ours / raw",
            &rows,
        );
    });
}
