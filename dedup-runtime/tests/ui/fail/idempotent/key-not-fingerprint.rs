#![allow(dead_code)]

use std::sync::LazyLock;

use dedup_runtime::store::MemoryStore;
use dedup_runtime::{Error, idempotent};

static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

struct Order {
    id: u64,
    sent_at: std::time::SystemTime,
}

#[idempotent(store = STORE)]
fn handle(order: &Order) -> Result<u64, Error> {
    Ok(order.id)
}

#[idempotent(store = STORE, key = order.sent_at)]
fn by_time(order: &Order) -> Result<u64, Error> {
    Ok(order.id)
}

fn main() {}
