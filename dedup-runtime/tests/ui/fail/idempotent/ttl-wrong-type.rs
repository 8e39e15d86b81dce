#![allow(dead_code)]

use std::sync::LazyLock;

use dedup_runtime::store::MemoryStore;
use dedup_runtime::{Error, idempotent};

static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

const TTL_SECS: u64 = 60;

#[idempotent(store = STORE, ttl = TTL_SECS)]
fn handle(id: u64) -> Result<(), Error> {
    let _ = id;
    Ok(())
}

fn main() {}
