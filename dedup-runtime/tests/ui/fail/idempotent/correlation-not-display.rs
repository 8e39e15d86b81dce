#![allow(dead_code)]

use std::sync::LazyLock;

use dedup_runtime::store::MemoryStore;
use dedup_runtime::{Error, idempotent};

static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

struct Order {
    id: u64,
    trace: Vec<u8>,
}

#[idempotent(store = STORE, key = order.id, correlation = order.trace)]
fn handle(order: &Order) -> Result<u64, Error> {
    Ok(order.id)
}

fn main() {}
