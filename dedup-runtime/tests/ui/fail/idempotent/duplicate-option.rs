#![allow(dead_code)]

use std::sync::LazyLock;

use dedup_runtime::store::MemoryStore;
use dedup_runtime::{Error, idempotent};

static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

#[idempotent(store = STORE, ttl = "1h", lease = 30, ttl = "2h")]
fn handle(id: u64) -> Result<(), Error> {
    let _ = id;
    Ok(())
}

fn main() {}
