#![allow(dead_code)]

use std::sync::LazyLock;

use dedup_runtime::store::MemoryStore;
use dedup_runtime::{Error, idempotent};

static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

#[idempotent(store = STORE)]
fn handle(order_id: u64, attempt: u32, (a, b): (u8, u8)) -> Result<u64, Error> {
    let _ = (attempt, a, b);
    Ok(order_id)
}

fn main() {}
