#![allow(dead_code)]

use std::sync::LazyLock;

use dedup_runtime::store::MemoryStore;
use dedup_runtime::{Error, idempotent};

static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

#[idempotent(store = STORE, tll = "1h", ttl = "1 day", ttl = 5, scope = "")]
fn handle(id: u64, attempt: u32) -> Result<u64, Error> {
    let _ = attempt;
    Ok(id)
}

fn main() {}
