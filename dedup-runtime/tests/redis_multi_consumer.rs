//! Many consumers, one Redis: 10,000 deliveries of which 30% are duplicates (many arriving while
//! the first delivery is still running) go through the `Idempotency` API of four `RedisStore`
//! instances on separate connections, served by 64 async tasks and two threads on the blocking
//! API. Every message's body runs exactly once, and no delivery is lost: each gets its result,
//! or `InProgress` and is requeued until it does.
#![cfg(feature = "redis")]

#[allow(unreachable_pub)]
#[path = "support/services.rs"]
mod services;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dedup_runtime::Error;
use dedup_runtime::idempotency::{Delivery, Idempotency, Outcome};
use dedup_runtime::store::RedisStore;
use dedup_runtime::store::conformance::fingerprint;

const UNIQUE: u64 = 7_000;
const DUPLICATES: usize = 3_000;
const STORES: usize = 4;
const TASKS: usize = 64;
const THREADS: usize = 2;
const SCOPE: &str = "multi.consumer";

/// A deterministic generator, so that a failure replays the same stream.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Message ids in delivery order: every id once, plus duplicates that mostly arrive shortly after
/// their original (so that many find it still in progress).
fn deliveries() -> Vec<u64> {
    let mut rng = SplitMix(0x5eed);
    let mut timed: Vec<(u64, u64)> = (0..UNIQUE).map(|id| (id * 16, id)).collect();
    for _ in 0..DUPLICATES {
        let id = rng.next() % UNIQUE;
        let delay = if rng.next().is_multiple_of(4) {
            rng.next() % 40_000
        } else {
            rng.next() % 400
        };
        timed.push((id * 16 + 1 + delay, id));
    }
    timed.sort_unstable();
    timed.into_iter().map(|(_, id)| id).collect()
}

fn result_of(id: u64) -> u64 {
    id * 3 + 1
}

#[derive(Default)]
struct Tally {
    runs: Vec<AtomicU32>,
    executed: AtomicUsize,
    replayed: AtomicUsize,
    in_progress: AtomicUsize,
    done: AtomicUsize,
}

struct Shared {
    queue: Mutex<VecDeque<u64>>,
    tally: Tally,
    total: usize,
}

impl Shared {
    fn pop(&self) -> Option<u64> {
        self.queue.lock().unwrap().pop_front()
    }

    fn finished(&self) -> bool {
        self.tally.done.load(Ordering::SeqCst) >= self.total
    }

    /// Books one outcome; an in-progress delivery goes back to the queue.
    fn settle(&self, id: u64, outcome: Result<Outcome<u64>, Error>) {
        match outcome {
            Ok(Outcome::Executed(value)) => {
                assert_eq!(value, result_of(id));
                self.tally.executed.fetch_add(1, Ordering::SeqCst);
                self.tally.done.fetch_add(1, Ordering::SeqCst);
            }
            Ok(Outcome::Replayed(value)) => {
                assert_eq!(value, result_of(id), "message {id} replayed another result");
                self.tally.replayed.fetch_add(1, Ordering::SeqCst);
                self.tally.done.fetch_add(1, Ordering::SeqCst);
            }
            Ok(Outcome::InProgress { .. }) => {
                self.tally.in_progress.fetch_add(1, Ordering::SeqCst);
                self.queue.lock().unwrap().push_back(id);
            }
            Err(err) => panic!("message {id}: {err}"),
        }
    }

    fn run_body(&self, id: u64) -> u64 {
        self.tally.runs[id as usize].fetch_add(1, Ordering::SeqCst);
        result_of(id)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_runs_once_across_consumers() {
    let url = services::redis_url();
    let reachable = RedisStore::builder(&url)
        .reconnect_retries(0)
        .build()
        .await
        .is_ok();
    if !services::require("Redis", &url, reachable) {
        return;
    }
    let prefix = format!("dedup-test-{}", uuid::Uuid::new_v4().simple());
    let mut stores = Vec::new();
    for _ in 0..STORES {
        // Separate instances: separate connections, as separate processes would have.
        let store = RedisStore::builder(&url)
            .prefix(prefix.clone())
            .response_timeout(Duration::from_secs(10))
            .build()
            .await
            .expect("cannot connect to Redis");
        stores.push(store);
    }
    let order = deliveries();
    let shared = Arc::new(Shared {
        total: order.len(),
        queue: Mutex::new(order.into_iter().collect()),
        tally: Tally {
            runs: (0..UNIQUE).map(|_| AtomicU32::new(0)).collect(),
            ..Tally::default()
        },
    });
    let started = Instant::now();
    let deadline = started + Duration::from_secs(120);

    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let consumer =
            Idempotency::new(stores[task % STORES].clone(), SCOPE).ttl(Duration::from_secs(600));
        let shared = Arc::clone(&shared);
        tasks.push(tokio::spawn(async move {
            while !shared.finished() {
                assert!(
                    Instant::now() < deadline,
                    "the consumers did not finish in time"
                );
                let Some(id) = shared.pop() else {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    continue;
                };
                let delivery = Delivery::new(fingerprint("multi", id)).correlation(Some("async"));
                let body = async {
                    // A body that takes a moment, so duplicates meet it in progress.
                    if id.is_multiple_of(5) {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    } else {
                        tokio::task::yield_now().await;
                    }
                    Ok::<_, Error>(shared.run_body(id))
                };
                let outcome = consumer.execute(delivery, body).await;
                if matches!(outcome, Ok(Outcome::InProgress { .. })) {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                shared.settle(id, outcome);
            }
        }));
    }
    let mut threads = Vec::new();
    for thread in 0..THREADS {
        let consumer =
            Idempotency::new(stores[thread % STORES].clone(), SCOPE).ttl(Duration::from_secs(600));
        let shared = Arc::clone(&shared);
        threads.push(std::thread::spawn(move || {
            while !shared.finished() {
                assert!(
                    Instant::now() < deadline,
                    "the consumers did not finish in time"
                );
                let Some(id) = shared.pop() else {
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                };
                let delivery =
                    Delivery::new(fingerprint("multi", id)).correlation(Some("blocking"));
                let outcome =
                    consumer.execute_blocking(delivery, || Ok::<_, Error>(shared.run_body(id)));
                shared.settle(id, outcome);
            }
        }));
    }
    for task in tasks {
        task.await.expect("a consumer task failed");
    }
    for thread in threads {
        thread.join().expect("a consumer thread failed");
    }

    let tally = &shared.tally;
    let ran_twice: Vec<usize> = (0..tally.runs.len())
        .filter(|&i| tally.runs[i].load(Ordering::SeqCst) != 1)
        .collect();
    assert!(
        ran_twice.is_empty(),
        "bodies that did not run exactly once: {:?}",
        &ran_twice[..ran_twice.len().min(20)]
    );
    assert_eq!(tally.executed.load(Ordering::SeqCst), UNIQUE as usize);
    assert_eq!(tally.replayed.load(Ordering::SeqCst), DUPLICATES);
    assert_eq!(
        tally.done.load(Ordering::SeqCst),
        UNIQUE as usize + DUPLICATES
    );
    assert!(shared.queue.lock().unwrap().is_empty());
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "redis_multi_consumer: {} deliveries, {} executed, {} replayed, {} requeued while in progress, in {:?}",
        shared.total,
        tally.executed.load(Ordering::SeqCst),
        tally.replayed.load(Ordering::SeqCst),
        tally.in_progress.load(Ordering::SeqCst),
        started.elapsed()
    );
}
