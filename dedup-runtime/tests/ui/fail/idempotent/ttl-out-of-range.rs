#![allow(dead_code)]

use std::sync::LazyLock;

use dedup_runtime::store::MemoryStore;
use dedup_runtime::{Error, idempotent};

static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

#[idempotent(store = STORE, ttl = -5)]
fn negative(id: u64) -> Result<(), Error> {
    let _ = id;
    Ok(())
}

#[idempotent(store = STORE, ttl = 18446744073709551616)]
fn too_large(id: u64) -> Result<(), Error> {
    let _ = id;
    Ok(())
}

fn main() {}
