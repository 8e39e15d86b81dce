#![allow(dead_code)]

use dedup_runtime::store::PostgresStore;
use dedup_runtime::{Error, idempotent};
use sqlx::{Postgres, Transaction};

struct Consumer {
    store: PostgresStore,
}

impl Consumer {
    // The transaction is never part of the key: `order_id` and `attempt` are the candidates.
    #[idempotent(store = self.store, tx = tx)]
    async fn handle(
        &self,
        order_id: u64,
        tx: &mut Transaction<'_, Postgres>,
        attempt: u32,
    ) -> Result<u64, Error> {
        let _ = (tx, attempt);
        Ok(order_id)
    }
}

fn main() {}
