//! Redis dies mid-run and comes back: handlers fail cleanly while it is down and processing
//! resumes on the same `RedisStore` once it is back.
//!
//! The test starts its own `redis-server` on a free port (a child process, killed with the test)
//! with `appendfsync always`, so what the server acknowledged before the crash is still there
//! after the restart, as with a durable production setup:
//!
//! 1. 100 messages are processed.
//! 2. Ten handlers are mid-body when the server is killed (SIGKILL): their completion fails with
//!    `Error::Store`, so none is reported done.
//! 3. While the server is down, every handler (async and blocking) fails with `Error::Store` within
//!    the configured time limits, and no body runs: a body never runs without a claim.
//! 4. The server restarts on the same port. The same store reconnects by itself: duplicates of the
//!    first 100 replay their results, the messages refused during the outage run once, and the
//!    ten interrupted ones run again once their lease has expired (their first run's result was
//!    never recorded, so a second run is the only way not to lose them).
#![cfg(feature = "redis")]

#[allow(unreachable_pub)]
#[path = "support/redis_cluster.rs"]
mod redis_cluster;
#[allow(unreachable_pub)]
#[path = "support/services.rs"]
mod services;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use dedup_runtime::Error;
use dedup_runtime::idempotency::{Delivery, Idempotency, Outcome};
use dedup_runtime::store::conformance::fingerprint;
use dedup_runtime::store::{Key, RedisStore, Store};
use tokio::sync::{Barrier, Notify};

use self::redis_cluster::RedisServer;

const MESSAGES: u64 = 200;
const LEASE: Duration = Duration::from_secs(3);
/// Generous for a loaded two-core machine; far below "hanging".
const OPERATION_LIMIT: Duration = Duration::from_secs(10);

fn delivery(id: u64) -> Delivery<'static> {
    Delivery::new(fingerprint("fault", id))
}

struct Runs(Vec<AtomicU32>);

impl Runs {
    fn new() -> Arc<Self> {
        Arc::new(Runs((0..MESSAGES).map(|_| AtomicU32::new(0)).collect()))
    }
    fn run(&self, id: u64) -> u64 {
        self.0[id as usize].fetch_add(1, Ordering::SeqCst);
        id + 1_000
    }
    fn of(&self, id: u64) -> u32 {
        self.0[id as usize].load(Ordering::SeqCst)
    }
    fn total(&self) -> u32 {
        self.0.iter().map(|r| r.load(Ordering::SeqCst)).sum()
    }
}

async fn bounded<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    let out = tokio::time::timeout(OPERATION_LIMIT, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} hung for more than {OPERATION_LIMIT:?}"));
    assert!(started.elapsed() < OPERATION_LIMIT);
    out
}

fn assert_store_error<T: std::fmt::Debug>(what: &str, result: Result<T, Error>) {
    match result {
        Err(err) if err.is_store_unavailable() => {
            assert!(
                err.to_string().starts_with("redis store error"),
                "{what}: {err}"
            );
        }
        other => panic!("{what}: expected Error::Store while Redis is down, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_redis_fails_handlers_cleanly_and_processing_resumes() {
    if !services::require(
        "redis-server (for the fault test)",
        "PATH",
        redis_cluster::binaries_available(),
    ) {
        return;
    }
    let mut server = RedisServer::start(true);
    let store = RedisStore::builder(server.url())
        .connection_timeout(Duration::from_millis(500))
        .response_timeout(Duration::from_secs(2))
        .reconnect_retries(1)
        .build()
        .await
        .expect("cannot connect to the test's redis-server");
    let consumer = Idempotency::new(store.clone(), "fault.consumer").lease(LEASE);
    let runs = Runs::new();

    // 1. Normal processing.
    for id in 0..100 {
        let outcome = bounded(
            "a first delivery",
            consumer.execute(delivery(id), async { Ok::<_, Error>(runs.run(id)) }),
        )
        .await;
        assert_eq!(outcome.unwrap(), Outcome::Executed(id + 1_000));
    }

    // 2. Ten handlers mid-body when the server dies.
    let started = Arc::new(Barrier::new(11));
    let resume = Arc::new(Notify::new());
    let in_flight: Vec<_> = (100..110)
        .map(|id| {
            let (consumer, runs, started, resume) = (
                consumer.clone(),
                Arc::clone(&runs),
                Arc::clone(&started),
                Arc::clone(&resume),
            );
            tokio::spawn(async move {
                let notified = resume.notified();
                let body = async {
                    started.wait().await;
                    notified.await;
                    Ok::<_, Error>(runs.run(id))
                };
                bounded(
                    "a handler interrupted by the crash",
                    consumer.execute(delivery(id), body),
                )
                .await
            })
        })
        .collect();
    started.wait().await;
    server.kill();
    resume.notify_waiters();
    for (i, handler) in in_flight.into_iter().enumerate() {
        let result = handler.await.expect("an interrupted handler panicked");
        assert_store_error(&format!("interrupted handler {i}"), result);
    }
    let runs_before_outage = runs.total();
    assert_eq!(runs_before_outage, 110);

    // 3. While the server is down: clean, quick store errors, and no body runs.
    for id in (110..MESSAGES).step_by(9) {
        let result = bounded(
            "a handler while Redis is down",
            consumer.execute(delivery(id), async { Ok::<_, Error>(runs.run(id)) }),
        )
        .await;
        assert_store_error("a new message while Redis is down", result);
        // A duplicate cannot be answered either: it is not reported done.
        let result = bounded(
            "a duplicate while Redis is down",
            consumer.execute(delivery(id % 100), async {
                Ok::<_, Error>(runs.run(id % 100))
            }),
        )
        .await;
        assert_store_error("a duplicate while Redis is down", result);
    }
    let blocking = {
        let consumer = consumer.clone();
        let runs = Arc::clone(&runs);
        tokio::task::spawn_blocking(move || {
            consumer.execute_blocking(delivery(150), || Ok::<_, Error>(runs.run(150)))
        })
    };
    let result = bounded("a blocking handler while Redis is down", blocking)
        .await
        .unwrap();
    assert_store_error("a blocking handler while Redis is down", result);
    assert_eq!(
        runs.total(),
        runs_before_outage,
        "a body ran while Redis was down"
    );

    // 4. The server comes back on the same port; the same store resumes.
    server.restart();
    let back = Instant::now();
    loop {
        // The first operations may still see the old connection's failure while it reconnects.
        match bounded(
            "a probe after the restart",
            store.get(Key::new("probe", fingerprint("probe", 0))),
        )
        .await
        {
            Ok(_) => break,
            Err(err) => {
                assert!(err.is_store_unavailable(), "{err:?}");
                assert!(
                    back.elapsed() < Duration::from_secs(30),
                    "the store did not reconnect: {err}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    for id in 0..100 {
        let outcome = bounded(
            "a duplicate after the restart",
            consumer.execute(delivery(id), async { Ok::<_, Error>(runs.run(id)) }),
        )
        .await;
        assert_eq!(
            outcome.unwrap(),
            Outcome::Replayed(id + 1_000),
            "message {id}: the record survived the crash"
        );
    }
    for id in 110..MESSAGES {
        let outcome = bounded(
            "a message refused during the outage",
            consumer.execute(delivery(id), async { Ok::<_, Error>(runs.run(id)) }),
        )
        .await;
        assert_eq!(outcome.unwrap(), Outcome::Executed(id + 1_000));
    }
    // The blocking API reconnects as well.
    let blocking = {
        let consumer = consumer.clone();
        let runs = Arc::clone(&runs);
        tokio::task::spawn_blocking(move || {
            consumer.execute_blocking(delivery(150), || Ok::<_, Error>(runs.run(150)))
        })
    };
    assert_eq!(
        bounded("a blocking duplicate after the restart", blocking)
            .await
            .unwrap()
            .unwrap(),
        Outcome::Replayed(1_150)
    );
    // The interrupted ones: their claims survived the crash, so they are in progress until the
    // lease runs out; then a redelivery runs them again and records the result.
    let deadline = Instant::now() + LEASE * 5 + Duration::from_secs(10);
    for id in 100..110 {
        loop {
            let outcome = bounded(
                "a redelivery of an interrupted message",
                consumer.execute(delivery(id), async { Ok::<_, Error>(runs.run(id)) }),
            )
            .await
            .unwrap();
            match outcome {
                Outcome::Executed(value) | Outcome::Replayed(value) => {
                    assert_eq!(value, id + 1_000);
                    break;
                }
                Outcome::InProgress { .. } => {
                    assert!(
                        Instant::now() < deadline,
                        "message {id} stayed in progress past its lease"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
    for id in 0..MESSAGES {
        let expected = if (100..110).contains(&id) { 2 } else { 1 };
        assert_eq!(
            runs.of(id),
            expected,
            "message {id} ran {} times",
            runs.of(id)
        );
    }
}
