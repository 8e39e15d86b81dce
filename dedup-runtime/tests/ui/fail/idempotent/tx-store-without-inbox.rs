#![allow(dead_code)]

use std::sync::Arc;

use dedup_runtime::store::{MemoryStore, RedisStore};
use dedup_runtime::{Error, idempotent};
use sqlx::{Postgres, Transaction};

struct Consumer {
    memory: MemoryStore,
    redis: Arc<RedisStore>,
}

impl Consumer {
    #[idempotent(store = self.memory, tx = tx)]
    async fn in_memory(&self, tx: &mut Transaction<'_, Postgres>, id: u64) -> Result<u64, Error> {
        let _ = tx;
        Ok(id)
    }

    #[idempotent(store = self.redis, tx = tx)]
    async fn in_redis(&self, tx: &mut Transaction<'_, Postgres>, id: u64) -> Result<u64, Error> {
        let _ = tx;
        Ok(id)
    }
}

fn main() {}
