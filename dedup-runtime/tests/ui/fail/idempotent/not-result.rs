#![allow(dead_code)]

use std::sync::LazyLock;

use dedup_runtime::idempotent;
use dedup_runtime::store::MemoryStore;

static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

#[idempotent(store = STORE)]
fn handle(id: u64) -> u64 {
    id
}

#[idempotent(store = STORE)]
async fn handle_async(id: u64) -> Option<u64> {
    Some(id)
}

fn main() {}
