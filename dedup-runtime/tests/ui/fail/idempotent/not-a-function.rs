#![allow(dead_code)]

use std::sync::LazyLock;

use dedup_runtime::idempotent;
use dedup_runtime::store::MemoryStore;

static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

#[idempotent(store = STORE)]
struct Handler;

fn main() {}
