#![allow(dead_code)]

use dedup_runtime::store::PostgresStore;
use dedup_runtime::{Error, idempotent};
use sqlx::PgPool;

struct Consumer {
    store: PostgresStore,
}

impl Consumer {
    #[idempotent(store = self.store, tx = pool)]
    async fn handle(&self, pool: &mut PgPool, id: u64) -> Result<u64, Error> {
        let _ = pool;
        Ok(id)
    }
}

fn main() {}
