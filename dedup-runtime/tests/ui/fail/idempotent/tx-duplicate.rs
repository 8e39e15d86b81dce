#![allow(dead_code)]

use dedup_runtime::store::PostgresStore;
use dedup_runtime::{Error, idempotent};
use sqlx::{PgConnection, Postgres, Transaction};

struct Consumer {
    store: PostgresStore,
}

impl Consumer {
    #[idempotent(store = self.store, key = id, tx = tx, tx = conn)]
    async fn handle(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        conn: &mut PgConnection,
        id: u64,
    ) -> Result<u64, Error> {
        let _ = (tx, conn);
        Ok(id)
    }
}

fn main() {}
