#![allow(dead_code)]

use std::sync::LazyLock;

use dedup_runtime::store::MemoryStore;
use dedup_runtime::{Error, idempotent};

static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

#[idempotent(store = STORE)]
fn handle((order_id, attempt): (u64, u32)) -> Result<u64, Error> {
    let _ = attempt;
    Ok(order_id)
}

fn main() {}
