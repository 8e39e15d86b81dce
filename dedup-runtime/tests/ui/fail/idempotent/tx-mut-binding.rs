#![allow(dead_code)]

use dedup_runtime::store::PostgresStore;
use dedup_runtime::{Error, idempotent};
use sqlx::{Postgres, Transaction};

struct Consumer {
    store: PostgresStore,
}

impl Consumer {
    #[idempotent(store = self.store, tx = tx)]
    async fn handle(&self, mut tx: &mut Transaction<'_, Postgres>, id: u64) -> Result<u64, Error> {
        let _ = &mut tx;
        Ok(id)
    }
}

fn main() {}
