//! Quickstart: fingerprints and an `#[idempotent]` handler on the in-memory store.
//!
//! `cargo run --example quickstart` (no server needed)
//!
//! 1. Two deliveries of one order, resent with a new timestamp and correlation id, have the same
//!    fingerprint; a changed order has another.
//! 2. A stream of deliveries with duplicates goes through an `#[idempotent]` handler: duplicates
//!    are replayed, a failure is retried by the redelivery, and a duplicate that arrives while the
//!    first is still running is told to retry later (never acknowledged as done).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use dedup_runtime::store::MemoryStore;
use dedup_runtime::{Fingerprint, idempotent};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// An order as the broker delivers it. The resend of a timed-out publish carries a new
/// `sent_at` and `correlation_id`: they are not part of the order, so they do not count.
#[derive(Debug, Clone, Serialize, Fingerprint)]
#[fingerprint(namespace = "shop.OrderPlaced.v1")]
struct OrderPlaced {
    order_id: u64,
    customer: String,
    amount_cents: i64,
    #[fingerprint(skip)]
    correlation_id: String,
    #[fingerprint(skip)]
    sent_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Receipt {
    order_id: u64,
    charge_id: String,
}

#[derive(Debug, thiserror::Error)]
enum ChargeError {
    #[error("payment provider timed out")]
    ProviderTimeout,
    #[error(transparent)]
    Dedup(#[from] dedup_runtime::Error),
}

/// The consumer: its store is shared by every instance (here, every task).
struct Billing {
    store: MemoryStore,
    charges: AtomicU32,
    /// Makes the provider fail once for one order, to show a retried failure.
    fail_once_for: u64,
    failed: AtomicU32,
    /// Lets the example hold one charge in flight while its duplicate arrives.
    gate: Arc<Notify>,
    gated_order: u64,
}

impl Billing {
    #[idempotent(store = self.store, scope = "billing.charge", ttl = "24h", lease = 30,
                 correlation = order.correlation_id.as_str())]
    async fn charge(&self, order: &OrderPlaced) -> Result<Receipt, ChargeError> {
        if order.order_id == self.gated_order {
            self.gate.notified().await;
        }
        if order.order_id == self.fail_once_for && self.failed.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(ChargeError::ProviderTimeout);
        }
        let n = self.charges.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Receipt {
            order_id: order.order_id,
            charge_id: format!("ch_{n:04}"),
        })
    }
}

fn delivery(order_id: u64, amount_cents: i64, attempt: u32) -> OrderPlaced {
    OrderPlaced {
        order_id,
        customer: format!("customer-{}", order_id % 3),
        amount_cents,
        correlation_id: format!("corr-{order_id}-{attempt}"),
        sent_at: format!("2026-11-22T10:00:{attempt:02}Z"),
    }
}

#[derive(Default)]
struct Counts {
    executed: u32,
    replayed: u32,
    in_progress: u32,
    failed: u32,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. Fingerprints.
    let first = delivery(1001, 4_990, 1);
    let resend = delivery(1001, 4_990, 2);
    let changed = delivery(1001, 5_990, 3);
    println!("fingerprints");
    println!(
        "  first delivery                     {}",
        first.try_fingerprint()?
    );
    println!(
        "  resend (new sent_at, new corr id)  {}",
        resend.try_fingerprint()?
    );
    println!(
        "  changed amount                     {}",
        changed.try_fingerprint()?
    );
    assert_eq!(first.try_fingerprint()?, resend.try_fingerprint()?);
    assert_ne!(first.try_fingerprint()?, changed.try_fingerprint()?);
    println!("  -> the resend is the same message; the changed order is not\n");

    // 2. A stream of deliveries through an idempotent handler.
    let billing = Arc::new(Billing {
        store: MemoryStore::new(),
        charges: AtomicU32::new(0),
        fail_once_for: 1003,
        failed: AtomicU32::new(0),
        gate: Arc::new(Notify::new()),
        gated_order: 1005,
    });
    let mut counts = Counts::default();
    let stream = [
        delivery(1001, 4_990, 1),
        delivery(1002, 1_250, 1),
        delivery(1001, 4_990, 2), // resend of 1001
        delivery(1003, 9_900, 1), // the provider fails: not acknowledged, redelivered below
        delivery(1002, 1_250, 2), // resend of 1002
        delivery(1003, 9_900, 2), // redelivery of the failed one: runs again
        delivery(1004, 300, 1),
        delivery(1003, 9_900, 3), // a late duplicate of 1003
    ];
    for order in &stream {
        let charges_before = billing.charges.load(Ordering::SeqCst);
        match billing.charge(order).await {
            Ok(receipt) if billing.charges.load(Ordering::SeqCst) > charges_before => {
                counts.executed += 1;
                println!(
                    "  {} executed   -> {} (ack)",
                    order.correlation_id, receipt.charge_id
                );
            }
            Ok(receipt) => {
                counts.replayed += 1;
                println!(
                    "  {} duplicate  -> {} replayed (ack)",
                    order.correlation_id, receipt.charge_id
                );
            }
            Err(err) => {
                counts.failed += 1;
                println!("  {} failed     -> {err} (requeue)", order.correlation_id);
            }
        }
    }

    // A duplicate that arrives while the first delivery is still being charged.
    let in_flight = {
        let billing = Arc::clone(&billing);
        tokio::spawn(async move { billing.charge(&delivery(1005, 700, 1)).await })
    };
    // Let the first delivery claim the order and block inside the handler.
    while !has_record(&billing.store, &delivery(1005, 700, 0)) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    match billing.charge(&delivery(1005, 700, 2)).await {
        Err(ChargeError::Dedup(err)) if err.is_in_progress() => {
            counts.in_progress += 1;
            println!("  corr-1005-2 in flight  -> {err} (requeue after a delay)");
        }
        other => panic!("expected an in-progress answer, got {other:?}"),
    }
    billing.gate.notify_one();
    let receipt = in_flight.await??;
    counts.executed += 1;
    println!("  corr-1005-1 executed   -> {} (ack)", receipt.charge_id);
    let again = billing.charge(&delivery(1005, 700, 3)).await?;
    counts.replayed += 1;
    println!(
        "  corr-1005-3 duplicate  -> {} replayed (ack)",
        again.charge_id
    );

    println!(
        "\nexecuted {} | replayed {} | in progress {} | failed {} | charges made {}",
        counts.executed,
        counts.replayed,
        counts.in_progress,
        counts.failed,
        billing.charges.load(Ordering::SeqCst)
    );
    assert_eq!(
        billing.charges.load(Ordering::SeqCst),
        5,
        "one charge per distinct order"
    );
    Ok(())
}

/// Whether the order has a live record (claimed or completed) in the handler's scope.
fn has_record(store: &MemoryStore, order: &OrderPlaced) -> bool {
    use dedup_runtime::store::{BlockingStore, Key};
    let key = Key::new("billing.charge", order.fingerprint());
    store.contains_blocking(key).unwrap_or(false)
}
