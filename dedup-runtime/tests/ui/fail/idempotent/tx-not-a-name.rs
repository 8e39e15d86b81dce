#![allow(dead_code)]

use dedup_runtime::store::PostgresStore;
use dedup_runtime::{Error, idempotent};
use sqlx::{Postgres, Transaction};

struct Consumer {
    store: PostgresStore,
}

impl Consumer {
    #[idempotent(store = self.store, key = id, tx = &mut *tx)]
    async fn handle(&self, tx: &mut Transaction<'_, Postgres>, id: u64) -> Result<u64, Error> {
        let _ = tx;
        Ok(id)
    }
}

fn main() {}
