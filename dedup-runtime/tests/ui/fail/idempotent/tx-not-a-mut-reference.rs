#![allow(dead_code)]

use dedup_runtime::store::PostgresStore;
use dedup_runtime::{Error, idempotent};
use sqlx::{Postgres, Transaction};

struct Consumer {
    store: PostgresStore,
}

impl Consumer {
    // By value: the handler would have to commit, and the caller could not ack after the commit.
    #[idempotent(store = self.store, tx = tx)]
    async fn owned(&self, tx: Transaction<'static, Postgres>, id: u64) -> Result<u64, Error> {
        let _ = tx;
        Ok(id)
    }

    #[idempotent(store = self.store, tx = tx)]
    async fn shared(&self, tx: &Transaction<'static, Postgres>, id: u64) -> Result<u64, Error> {
        let _ = tx;
        Ok(id)
    }
}

fn main() {}
