//! Several consumers share one Redis: each message is processed once, whoever receives it.
//!
//! `cargo run --example redis_consumers --features redis` (needs Redis at `REDIS_URL`, default
//! `redis://127.0.0.1:6379`; `scripts/services up` starts one)
//!
//! Four consumers, each a task with its own `RedisStore` (its own connections, as separate
//! processes would have), pull from one stream of deliveries in which a third of the orders are
//! delivered twice or three times, often while the first delivery is still being handled. The
//! handler is an `#[idempotent]` `async fn`:
//!
//! - a first delivery runs the body (executed);
//! - a duplicate gets the first run's result without running the body (replayed), whichever
//!   consumer ran it;
//! - a duplicate that arrives while another consumer is still running the body gets
//!   `Error::InProgress`: it is requeued and retried shortly, never acknowledged as done.
//!
//! Each run works under a fresh key prefix, so it starts from an empty history.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use dedup_runtime::store::RedisStore;
use dedup_runtime::{Fingerprint, idempotent};
use serde::{Deserialize, Serialize};

/// An order as the broker delivers it; a redelivery has a new `delivery_id`, which is not part
/// of the order.
#[derive(Debug, Clone, Serialize, Fingerprint)]
#[fingerprint(namespace = "examples.OrderPlaced.v1")]
struct OrderPlaced {
    order_id: u64,
    items: u32,
    #[fingerprint(skip)]
    delivery_id: String,
}

/// What fulfilment returns, and what duplicates get back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Shipment {
    order_id: u64,
    /// The consumer that ran the body: a replay names the first one.
    packed_by: String,
}

#[derive(Debug, thiserror::Error)]
enum FulfilError {
    #[error(transparent)]
    Dedup(#[from] dedup_runtime::Error),
}

/// One consumer instance: its own store handle and its own counters.
struct Consumer {
    name: String,
    store: RedisStore,
    /// Bodies run by this consumer.
    packed: AtomicU32,
}

impl Consumer {
    #[idempotent(store = self.store, scope = "examples.fulfilment", ttl = "10m", lease = 10,
                 correlation = order.delivery_id.as_str())]
    async fn fulfil(&self, order: &OrderPlaced) -> Result<Shipment, FulfilError> {
        self.packed.fetch_add(1, Ordering::SeqCst);
        // Packing takes a moment: duplicates reaching other consumers meanwhile find it in progress.
        tokio::time::sleep(Duration::from_millis(15)).await;
        Ok(Shipment {
            order_id: order.order_id,
            packed_by: self.name.clone(),
        })
    }
}

/// The next delivery of the shared stream (the broker).
fn next_delivery(queue: &Mutex<VecDeque<OrderPlaced>>) -> Option<OrderPlaced> {
    queue.lock().ok()?.pop_front()
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    executed: u32,
    replayed: u32,
    in_progress: u32,
}

/// 120 orders; every third one is delivered again (some three times), mostly right after the first.
fn stream() -> VecDeque<OrderPlaced> {
    let mut deliveries = VecDeque::new();
    for order_id in 1..=120u64 {
        let copies = match order_id % 6 {
            0 => 3,
            3 => 2,
            _ => 1,
        };
        for copy in 1..=copies {
            deliveries.push_back(OrderPlaced {
                order_id,
                items: (order_id % 4 + 1) as u32,
                delivery_id: format!("d-{order_id}-{copy}"),
            });
        }
    }
    deliveries
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let prefix = format!("dedup-example-{}", uuid::Uuid::new_v4().simple());
    let queue = Arc::new(Mutex::new(stream()));
    let total = queue.lock().map(|q| q.len()).unwrap_or(0);
    let distinct = 120;
    println!(
        "{total} deliveries of {distinct} orders, 4 consumers, Redis at {url}, key prefix {prefix}"
    );

    let mut handles = Vec::new();
    for n in 1..=4 {
        let store = match RedisStore::builder(&url)
            .prefix(prefix.clone())
            .build()
            .await
        {
            Ok(store) => store,
            Err(err) => {
                eprintln!(
                    "cannot reach Redis at {url}: {err}\nstart it (scripts/services up) or set REDIS_URL"
                );
                std::process::exit(2);
            }
        };
        let consumer = Consumer {
            name: format!("consumer-{n}"),
            store,
            packed: AtomicU32::new(0),
        };
        let queue = Arc::clone(&queue);
        handles.push(tokio::spawn(async move {
            let mut counts = Counts::default();
            while let Some(order) = next_delivery(&queue) {
                let before = consumer.packed.load(Ordering::SeqCst);
                match consumer.fulfil(&order).await {
                    // This consumer is the only one to run its own body: the counter tells.
                    Ok(_) if consumer.packed.load(Ordering::SeqCst) > before => {
                        counts.executed += 1
                    }
                    Ok(shipment) => {
                        counts.replayed += 1;
                        if order.order_id % 30 == 0 {
                            println!(
                                "  {} got {} again: replayed, packed by {}",
                                consumer.name, order.delivery_id, shipment.packed_by
                            );
                        }
                    }
                    Err(FulfilError::Dedup(err)) if err.is_in_progress() => {
                        counts.in_progress += 1;
                        // Requeue after a short delay, as a broker's nack with delay would.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        if let Ok(mut q) = queue.lock() {
                            q.push_back(order);
                        }
                    }
                    Err(err) => {
                        return Err(format!(
                            "{}: {} failed: {err}",
                            consumer.name, order.delivery_id
                        ));
                    }
                }
            }
            Ok((consumer.name, counts))
        }));
    }

    let mut results = Vec::new();
    for handle in handles {
        results.push(handle.await??);
    }
    let mut sum = Counts::default();
    println!();
    println!("| consumer | executed | replayed | in progress (requeued) |");
    println!("|---|---|---|---|");
    for (name, counts) in &results {
        println!(
            "| {name} | {} | {} | {} |",
            counts.executed, counts.replayed, counts.in_progress
        );
        sum.executed += counts.executed;
        sum.replayed += counts.replayed;
        sum.in_progress += counts.in_progress;
    }
    println!(
        "| **total** | {} | {} | {} |",
        sum.executed, sum.replayed, sum.in_progress
    );
    println!(
        "\n{} orders executed once each; {} duplicate deliveries replayed; {} deliveries requeued while the first was in progress",
        sum.executed, sum.replayed, sum.in_progress
    );
    assert_eq!(sum.executed, distinct, "every order is packed exactly once");
    assert_eq!(
        sum.executed + sum.replayed,
        total as u32,
        "every delivery is answered"
    );
    Ok(())
}
