//! The expansion of `#[idempotent]` is lint-clean: every option, sync and async, under rustc's
//! and clippy's strictest groups (`cargo clippy --all-targets` checks this file).

#![deny(
    warnings,
    unused,
    unused_qualifications,
    unused_results,
    unused_lifetimes,
    single_use_lifetimes,
    unreachable_pub,
    rust_2018_idioms,
    trivial_casts,
    trivial_numeric_casts,
    clippy::all,
    clippy::pedantic,
    clippy::nursery,
    clippy::allow_attributes,
    clippy::absolute_paths,
    clippy::pattern_type_mismatch,
    clippy::ref_patterns,
    clippy::shadow_unrelated,
    clippy::unwrap_used,
    clippy::clone_on_ref_ptr,
    clippy::redundant_clone,
    clippy::needless_borrow,
    clippy::needless_pass_by_value,
    clippy::let_underscore_untyped,
    clippy::semicolon_if_nothing_returned,
    clippy::default_numeric_fallback
)]

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use dedup_runtime::store::MemoryStore;
use dedup_runtime::{Error, Fingerprint, idempotent};
use serde::{Deserialize, Serialize};

static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);
const LEASE: Duration = Duration::from_secs(10);

#[derive(Debug, Serialize, Fingerprint)]
struct Order {
    id: u64,
    #[fingerprint(skip)]
    correlation_id: String,
    #[fingerprint(skip)]
    trace: Option<String>,
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Receipt {
    order_id: u64,
}

#[idempotent(store = STORE)]
fn defaults(order: &Order) -> Result<Receipt, Error> {
    Ok(Receipt { order_id: order.id })
}

#[idempotent(
    store = STORE,
    scope = "lints.every_option",
    key = order.id,
    ttl = "7d",
    lease = LEASE,
    correlation = order.correlation_id,
    payload = order,
)]
async fn every_option(order: &Order) -> Result<Receipt, Error> {
    let receipt = Receipt { order_id: order.id };
    if receipt.order_id == 0 {
        return Err(Error::config("lints", "zero"));
    }
    Ok(receipt)
}

struct Consumer {
    store: Arc<MemoryStore>,
    seen: Vec<u64>,
}

impl Consumer {
    #[idempotent(store = self.store, scope = "lints.mut_self", ttl = 60, correlation = order.trace)]
    fn record(&mut self, order: &Order) -> Result<usize, Error> {
        self.seen.push(order.id);
        Ok(self.seen.len())
    }

    #[idempotent(store = self.store, scope = "lints.unit", lease = "500ms")]
    async fn unit(&self, id: u64) -> Result<(), Error> {
        let _: (u64, usize) = (id, self.seen.len());
        Ok(())
    }
}

fn order(id: u64) -> Order {
    Order {
        id,
        correlation_id: format!("corr-{id}"),
        trace: None,
    }
}

#[tokio::test]
async fn lint_clean_handlers_work() -> Result<(), Error> {
    assert_eq!(defaults(&order(1))?, Receipt { order_id: 1 });
    assert_eq!(every_option(&order(2)).await?, Receipt { order_id: 2 });
    let mut consumer = Consumer {
        store: Arc::new(MemoryStore::new()),
        seen: Vec::new(),
    };
    assert_eq!(consumer.record(&order(3))?, 1);
    assert_eq!(consumer.record(&order(3))?, 1);
    consumer.unit(4).await?;
    Ok(())
}

/// `tx = ...`: compiled (and linted) only; `idempotent_transaction.rs` runs such handlers.
#[cfg(feature = "postgres")]
mod in_transaction {
    use dedup_runtime::store::PostgresStore;
    use dedup_runtime::{Error, idempotent};
    use sqlx::{PgConnection, Postgres, Transaction};

    use super::{Order, Receipt};

    #[expect(dead_code, reason = "compiled and linted only")]
    struct Shipping {
        store: PostgresStore,
    }

    impl Shipping {
        #[idempotent(
            store = self.store,
            scope = "lints.tx",
            key = order.id,
            ttl = "1h",
            correlation = order.correlation_id,
            payload = order,
            tx = tx,
        )]
        async fn ship(
            &self,
            tx: &mut Transaction<'_, Postgres>,
            order: &Order,
        ) -> Result<Receipt, Error> {
            let _: &mut PgConnection = tx;
            Ok(Receipt { order_id: order.id })
        }

        #[idempotent(store = self.store, scope = "lints.tx_unused", tx = conn)]
        async fn unused(&self, conn: &mut PgConnection, id: u64) -> Result<u64, Error> {
            Ok(id)
        }
    }
}
