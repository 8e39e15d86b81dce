//! PostgresStore: the conformance suite on the real PostgreSQL at `DATABASE_URL`, then what is
//! particular to it: migrations, names, corrupt rows, an unreachable database, purge (on demand
//! and in the background) and many consumers on one table.
//!
//! Each test works in its own table (see `support/postgres.rs`). Without a reachable server the
//! tests say once on stderr that they skipped; with `CI=true` that is a failure. The tests of
//! configuration and of an unreachable database need no server and always run.
#![cfg(feature = "postgres")]

#[path = "support/postgres.rs"]
mod pg;
#[allow(unreachable_pub)]
#[path = "support/services.rs"]
mod services;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dedup_runtime::Error;
use dedup_runtime::idempotency::{Delivery, Idempotency, Outcome};
use dedup_runtime::store::conformance::fingerprint;
use dedup_runtime::store::{
    ClaimOutcome, ClaimRequest, Key, OwnerToken, PostgresStore, RecordState, Store,
};
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, Connection};

mod conformance {
    dedup_runtime::conformance_tests!(
        setup = {
            let Some(store) = super::pg::store().await else {
                return;
            };
            ::std::future::ready((store, dedup_runtime::store::conformance::RealTime))
        }
    );
}

fn request(lease: Duration) -> ClaimRequest<'static> {
    ClaimRequest {
        owner: OwnerToken::random(),
        lease,
        correlation: None,
        payload: None,
    }
}

async fn count(table: &str, filter: &str) -> i64 {
    let mut conn = pg::connection().await;
    let n = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM {} WHERE {filter}",
        pg::qualified(table)
    )))
    .fetch_one(&mut conn)
    .await
    .expect("count failed");
    let _ = conn.close().await;
    n
}

async fn execute(sql: String) {
    let mut conn = pg::connection().await;
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .expect("raw SQL failed");
    let _ = conn.close().await;
}

// ---------------------------------------------------------------------------------------------
// Configuration and an unreachable database: no server needed.

#[tokio::test]
async fn bad_table_and_schema_names_are_config_errors() {
    // A closed port: validation must fail before any connection is attempted.
    let url = "postgres://postgres@127.0.0.1:1/test";
    let bad = [
        "",
        "records; DROP TABLE users",
        "a\"b",
        "Records",
        "1records",
        "dedup-records",
        "public.records",
        "rëcords",
        &"x".repeat(49),
    ];
    for name in bad {
        let err = PostgresStore::builder()
            .url(url)
            .table(name)
            .connect()
            .await
            .expect_err(name);
        assert!(
            matches!(
                err,
                Error::Config {
                    store: "postgres",
                    ..
                }
            ),
            "table {name:?}: {err:?}"
        );
        assert!(err.to_string().contains("invalid table name"), "{err}");
        let err = PostgresStore::builder()
            .url(url)
            .schema(name)
            .connect()
            .await
            .expect_err(name);
        assert!(
            matches!(err, Error::Config { .. }),
            "schema {name:?}: {err:?}"
        );
    }
    let err = PostgresStore::builder().connect().await.unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
    let err = PostgresStore::connect("not a url").await.unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
}

#[tokio::test]
async fn unreachable_database_is_a_store_error() {
    let started = Instant::now();
    let err = PostgresStore::builder()
        .url("postgres://postgres@127.0.0.1:1/test")
        .acquire_timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap_err();
    assert!(err.is_store_unavailable(), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("postgres store error"), "{message}");
    assert!(message.contains("127.0.0.1:1/test"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn database_down_fails_with_store_error_and_the_body_does_not_run() {
    // A lazily connected pool to a closed port stands for a database that went down.
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(300))
        .connect_lazy("postgres://postgres@127.0.0.1:1/test")
        .unwrap();
    let store = PostgresStore::builder()
        .pool(pool)
        .migrate(false)
        .purge_every(None)
        .connect()
        .await
        .unwrap();
    let runs = AtomicU32::new(0);
    let charges = Idempotency::new(store.clone(), "down");
    let delivery = Delivery::new(fingerprint("down", 0));
    let result = charges
        .execute(delivery, async {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Error>(1)
        })
        .await;
    let err = result.unwrap_err();
    assert!(err.is_store_unavailable(), "{err:?}");
    assert_eq!(
        runs.load(Ordering::SeqCst),
        0,
        "the body ran without a claim"
    );
    let key = Key::new("down", fingerprint("down", 0));
    assert!(store.get(key).await.unwrap_err().is_store_unavailable());
    assert!(
        store
            .purge_expired()
            .await
            .unwrap_err()
            .is_store_unavailable()
    );
}

// ---------------------------------------------------------------------------------------------
// On the real server.

#[tokio::test]
async fn migrations_run_once_and_connecting_again_is_a_no_op() {
    let Some((builder, table)) = pg::builder().await else {
        return;
    };
    let first = builder.clone().connect().await.unwrap();
    assert_eq!(first.table(), format!("{}.{table}", pg::SCHEMA));
    let mut conn = pg::connection().await;
    let sql = format!(
        "SELECT version, applied_at::text FROM {}.dedup_migrations WHERE table_name = $1 ORDER BY version",
        pg::SCHEMA
    );
    let applied_at = async |conn: &mut sqlx::PgConnection| -> Vec<(i32, String)> {
        sqlx::query_as(AssertSqlSafe(sql.clone()))
            .bind(&table)
            .fetch_all(conn)
            .await
            .unwrap()
    };
    let before = applied_at(&mut conn).await;
    let versions: Vec<i32> = before.iter().map(|(version, _)| *version).collect();
    assert_eq!(versions, [1, 2], "each migration recorded once: {before:?}");
    for _ in 0..3 {
        builder.clone().connect().await.unwrap();
    }
    assert_eq!(
        applied_at(&mut conn).await,
        before,
        "connecting again must change nothing"
    );
    // The table has its primary key and the expiry index.
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = $2",
    )
    .bind(pg::SCHEMA)
    .bind(&table)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(
        indexes.iter().any(|d| d.contains("(scope, fingerprint)")),
        "{indexes:?}"
    );
    assert!(
        indexes.iter().any(|d| d.contains("(expires_at)")),
        "{indexes:?}"
    );
    let function: Option<String> = sqlx::query_scalar("SELECT to_regprocedure($1)::text")
        .bind(format!(
            "{}.\"{table}_claim\"(text, bytea, text, bytea, text, double precision)",
            pg::SCHEMA
        ))
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(function.is_some(), "the claim function is missing");
    // A table dropped by hand is created again.
    execute(format!("DROP TABLE {}", pg::qualified(&table))).await;
    let again = builder.connect().await.unwrap();
    let key = Key::new("s", fingerprint("recreated", 0));
    assert_eq!(
        again
            .claim(key, &request(Duration::from_secs(60)))
            .await
            .unwrap(),
        ClaimOutcome::Acquired
    );
    let _ = conn.close().await;
}

#[tokio::test]
async fn a_table_of_an_older_version_is_upgraded_and_keeps_its_records() {
    let Some((builder, table)) = pg::builder().await else {
        return;
    };
    let store = builder.clone().connect().await.unwrap();
    let key = Key::new("s", fingerprint("upgrade", 0));
    store
        .store(key, b"kept", Duration::from_secs(3600))
        .await
        .unwrap();
    drop(store);
    // Back to version 1: no claim function.
    execute(format!(
        "DROP FUNCTION {schema}.\"{table}_claim\";
         DELETE FROM {schema}.dedup_migrations WHERE table_name = '{table}' AND version = 2",
        schema = pg::SCHEMA
    ))
    .await;
    let store = builder.connect().await.unwrap();
    let record = store.get(key).await.unwrap().unwrap();
    assert_eq!(
        record.state,
        RecordState::Completed {
            value: b"kept".to_vec()
        }
    );
    let fresh = Key::new("s", fingerprint("upgrade", 1));
    assert_eq!(
        store
            .claim(fresh, &request(Duration::from_secs(60)))
            .await
            .unwrap(),
        ClaimOutcome::Acquired
    );
}

#[tokio::test]
async fn many_stores_migrating_one_new_table_at_once() {
    let Some((builder, table)) = pg::builder().await else {
        return;
    };
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let builder = builder.clone();
            tokio::spawn(async move { builder.connect().await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().expect("a concurrent connect failed");
    }
    assert_eq!(count(&table, "true").await, 0);
}

#[tokio::test]
async fn expiry_is_judged_by_the_database_clock() {
    let Some((builder, table)) = pg::builder().await else {
        return;
    };
    let store = builder.connect().await.unwrap();
    let key = Key::new("clock", fingerprint("clock", 0));
    let first = request(Duration::from_secs(3600));
    assert_eq!(
        store.claim(key, &first).await.unwrap(),
        ClaimOutcome::Acquired
    );
    // Move the lease's end into the past on the server: nothing on the client changes.
    execute(format!(
        "UPDATE {} SET expires_at = clock_timestamp() - interval '1 second'",
        pg::qualified(&table)
    ))
    .await;
    assert!(
        store.get(key).await.unwrap().is_none(),
        "an expired claim reads as absent"
    );
    let second = request(Duration::from_secs(3600));
    assert_eq!(
        store.claim(key, &second).await.unwrap(),
        ClaimOutcome::Acquired
    );
    let record = store.get(key).await.unwrap().unwrap();
    assert_eq!(
        record.state,
        RecordState::InProgress {
            owner: second.owner
        }
    );
    let left = record.expires_in.unwrap();
    assert!(
        left > Duration::from_secs(3000) && left <= Duration::from_secs(3600),
        "{left:?}"
    );
}

#[tokio::test]
async fn corrupt_rows_are_errors_never_panics() {
    let Some((builder, table)) = pg::builder().await else {
        return;
    };
    let store = builder.connect().await.unwrap();
    let t = pg::qualified(&table);
    let cases: [(&str, &str, &str); 6] = [
        (
            "unknown status",
            "'exploded', NULL, NULL, NULL",
            "unknown status",
        ),
        (
            "bad owner",
            "'in_progress', 'not-a-token', NULL, NULL",
            "owner",
        ),
        ("no owner", "'in_progress', NULL, NULL, NULL", "no owner"),
        ("no result", "'completed', NULL, NULL, NULL", "no result"),
        (
            "short payload",
            "'completed', NULL, '\\x00', '\\x0102'",
            "payload",
        ),
        (
            "long owner",
            "'in_progress', repeat('f', 40), NULL, NULL",
            "owner",
        ),
    ];
    let runs = AtomicU32::new(0);
    for (i, (case, values, reason)) in cases.iter().enumerate() {
        let fp = fingerprint("corrupt", i as u64);
        execute(format!(
            "INSERT INTO {t} (scope, fingerprint, status, owner, result, payload, expires_at)
             VALUES ('corrupt', '\\x{}', {values}, clock_timestamp() + interval '1 hour')",
            fp.to_hex()
        ))
        .await;
        let key = Key::new("corrupt", fp);
        for err in [
            store.get(key).await.unwrap_err(),
            store
                .claim(key, &request(Duration::from_secs(60)))
                .await
                .unwrap_err(),
        ] {
            match &err {
                Error::CorruptRecord {
                    store: "postgres",
                    key: k,
                    reason: r,
                } => {
                    assert_eq!(k, &key.to_string());
                    assert!(r.contains(reason), "{case}: {r}");
                }
                other => panic!("{case}: expected a corrupt record, got {other:?}"),
            }
        }
        let outcome = Idempotency::new(store.clone(), "corrupt")
            .execute(Delivery::new(fp), async {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Error>(())
            })
            .await;
        assert!(
            matches!(outcome, Err(Error::CorruptRecord { .. })),
            "{case}: {outcome:?}"
        );
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        0,
        "a body ran on a corrupt record"
    );
}

/// Inserts `n` records that expired an hour ago, straight into the table.
async fn insert_expired(table: &str, tag: &str, n: u32) {
    execute(format!(
        "INSERT INTO {} (scope, fingerprint, status, result, expires_at)
         SELECT '{tag}', sha256(('{tag}' || i)::bytea), 'completed', '\\x00', clock_timestamp() - interval '1 hour'
         FROM generate_series(1, {n}) AS i",
        pg::qualified(table)
    ))
    .await;
}

#[tokio::test]
async fn purge_expired_deletes_in_batches_and_counts() {
    let Some((builder, table)) = pg::builder().await else {
        return;
    };
    let store = builder.purge_batch(1_000).connect().await.unwrap();
    insert_expired(&table, "old", 2_500).await;
    for i in 0..10 {
        let key = Key::new("live", fingerprint("purge-live", i));
        store
            .store(key, b"v", Duration::from_secs(3600))
            .await
            .unwrap();
    }
    let claimed = Key::new("live", fingerprint("purge-claim", 0));
    assert_eq!(
        store
            .claim(claimed, &request(Duration::from_secs(3600)))
            .await
            .unwrap(),
        ClaimOutcome::Acquired
    );
    assert_eq!(store.purge_expired().await.unwrap(), 2_500);
    assert_eq!(count(&table, "true").await, 11);
    assert_eq!(store.purge_expired().await.unwrap(), 0);
}

#[tokio::test]
async fn background_purge_deletes_expired_rows_and_stops_on_request() {
    let Some((builder, table)) = pg::builder().await else {
        return;
    };
    let store = builder
        .purge_every(Duration::from_millis(100))
        .purge_batch(50)
        .connect()
        .await
        .unwrap();
    let task = store.purge_task().expect("a purge task").clone();
    assert_eq!(task.period(), Duration::from_millis(100));
    insert_expired(&table, "bg", 300).await;
    store
        .store(
            Key::new("live", fingerprint("bg-live", 0)),
            b"v",
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while count(&table, "true").await != 1 {
        assert!(
            Instant::now() < deadline,
            "the background purge did not delete the expired rows"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    task.stop();
    tokio::time::timeout(Duration::from_secs(10), task.finished())
        .await
        .expect("the purge task did not stop");
    assert!(task.is_finished());
    // Stopped: expired rows now stay until someone purges.
    insert_expired(&table, "after", 20).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(count(&table, "true").await, 21);
    assert_eq!(store.purge_expired().await.unwrap(), 20);
}

#[tokio::test]
async fn purge_task_ends_with_the_last_handle() {
    let Some((builder, _)) = pg::builder().await else {
        return;
    };
    let store = builder
        .purge_every(Duration::from_millis(50))
        .connect()
        .await
        .unwrap();
    let task = store.purge_task().unwrap().clone();
    let clone = store.clone();
    drop(store);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!task.is_finished(), "a handle is still alive");
    drop(clone);
    tokio::time::timeout(Duration::from_secs(10), task.finished())
        .await
        .expect("the purge task outlived the store");
}

#[tokio::test]
async fn the_protocol_on_postgres_replays_and_reruns_after_failure() {
    let Some(store) = pg::store().await else {
        return;
    };
    let charges = Idempotency::new(store, "billing.charge").lease(Duration::from_secs(30));
    let delivery = Delivery::new(fingerprint("protocol", 0)).correlation(Some("c-1"));
    let failed: Result<Outcome<String>, Error> = charges
        .execute(delivery, async {
            Err(Error::config("test", "the handler failed"))
        })
        .await;
    assert!(failed.is_err());
    let first = charges
        .execute(delivery, async { Ok::<_, Error>("charged".to_owned()) })
        .await
        .unwrap();
    assert_eq!(first, Outcome::Executed("charged".to_owned()));
    let again = charges
        .execute(delivery, async { Ok::<_, Error>("twice".to_owned()) })
        .await
        .unwrap();
    assert_eq!(again, Outcome::Replayed("charged".to_owned()));
}

/// 10,000 messages, 3,000 of them delivered twice, to 4 consumers with their own pools, 32
/// deliveries in flight: every body runs exactly once and every delivery ends executed or
/// replayed (an in-progress one is requeued until it does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_consumers_process_each_message_exactly_once() {
    const MESSAGES: u64 = 10_000;
    const DUPLICATES: u64 = 3_000;
    let Some((builder, table)) = pg::builder().await else {
        return;
    };
    let started = Instant::now();

    // Deterministic order: every message once, duplicates right behind their original (so that
    // they race it) or far away (so that they replay).
    let mut deliveries: Vec<u64> = Vec::with_capacity((MESSAGES + DUPLICATES) as usize);
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut late = Vec::new();
    for id in 0..MESSAGES {
        deliveries.push(id);
        if id % 10 < 3 {
            if next() % 2 == 0 {
                deliveries.push(id);
            } else {
                late.push(id);
            }
        }
    }
    for id in late {
        let at = (next() % deliveries.len() as u64) as usize;
        deliveries.insert(at.max(1), id);
    }
    assert_eq!(deliveries.len() as u64, MESSAGES + DUPLICATES);

    let queue = Arc::new(Mutex::new(
        deliveries.into_iter().collect::<VecDeque<u64>>(),
    ));
    let runs: Arc<Vec<AtomicU32>> = Arc::new((0..MESSAGES).map(|_| AtomicU32::new(0)).collect());
    let executed = Arc::new(AtomicU64::new(0));
    let replayed = Arc::new(AtomicU64::new(0));
    let requeued = Arc::new(AtomicU64::new(0));

    let mut workers = Vec::new();
    for _ in 0..4 {
        let store = builder.clone().max_connections(4).connect().await.unwrap();
        let consumer = Idempotency::new(store, "multi").lease(Duration::from_secs(60));
        for _ in 0..8 {
            let (consumer, queue, runs) = (consumer.clone(), Arc::clone(&queue), Arc::clone(&runs));
            let (executed, replayed, requeued) = (
                Arc::clone(&executed),
                Arc::clone(&replayed),
                Arc::clone(&requeued),
            );
            workers.push(tokio::spawn(async move {
                loop {
                    let Some(id) = queue.lock().unwrap().pop_front() else {
                        return;
                    };
                    let delivery = Delivery::new(fingerprint("multi", id));
                    let outcome = consumer
                        .execute(delivery, async {
                            runs[id as usize].fetch_add(1, Ordering::SeqCst);
                            tokio::task::yield_now().await;
                            Ok::<_, Error>(id)
                        })
                        .await
                        .expect("a delivery failed");
                    match outcome {
                        Outcome::Executed(value) => {
                            assert_eq!(value, id);
                            executed.fetch_add(1, Ordering::SeqCst);
                        }
                        Outcome::Replayed(value) => {
                            assert_eq!(value, id);
                            replayed.fetch_add(1, Ordering::SeqCst);
                        }
                        Outcome::InProgress { .. } => {
                            requeued.fetch_add(1, Ordering::SeqCst);
                            queue.lock().unwrap().push_back(id);
                            tokio::time::sleep(Duration::from_millis(2)).await;
                        }
                    }
                }
            }));
        }
    }
    for worker in workers {
        worker.await.expect("a worker panicked");
    }
    let ran_twice: Vec<usize> = (0..MESSAGES as usize)
        .filter(|&i| runs[i].load(Ordering::SeqCst) != 1)
        .collect();
    assert!(
        ran_twice.is_empty(),
        "bodies that did not run exactly once: {:?}",
        &ran_twice[..ran_twice.len().min(10)]
    );
    assert_eq!(executed.load(Ordering::SeqCst), MESSAGES);
    assert_eq!(replayed.load(Ordering::SeqCst), DUPLICATES);
    assert_eq!(count(&table, "status = 'completed'").await, MESSAGES as i64);
    eprintln!(
        "many_consumers: {} deliveries in {:?} ({} requeued while in progress)",
        MESSAGES + DUPLICATES,
        started.elapsed(),
        requeued.load(Ordering::SeqCst)
    );
}
