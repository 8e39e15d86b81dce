//! `tx = ...` without dedup-runtime's `postgres` feature: one error per handler, at the
//! attribute, that names the feature (not "cannot find function `inbox_begin`" once per call).
#![allow(dead_code)]

use std::sync::LazyLock;

use dedup_runtime::store::MemoryStore;
use dedup_runtime::{Error, idempotent};

/// Stands for `sqlx::Transaction<'_, Postgres>` from the user's own `sqlx` dependency: this
/// build of dedup-runtime has none.
struct Transaction;

static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

#[idempotent(store = STORE, tx = tx)]
async fn named_type(tx: &mut Transaction, id: u64) -> Result<u64, Error> {
    let _ = tx;
    Ok(id)
}

struct Consumer {
    store: MemoryStore,
}

impl Consumer {
    /// `impl Trait` is inferred rather than named by the expansion; the store is a field.
    #[idempotent(store = self.store, key = id, tx = conn)]
    async fn impl_trait(&self, conn: &mut impl Send, id: u64) -> Result<u64, Error> {
        let _ = conn;
        Ok(id)
    }
}

fn main() {}
