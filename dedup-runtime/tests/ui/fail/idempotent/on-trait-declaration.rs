#![allow(dead_code)]

use std::sync::LazyLock;

use dedup_runtime::store::MemoryStore;
use dedup_runtime::{Error, idempotent};

static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

trait Handler {
    #[idempotent(store = STORE)]
    fn handle(&self, id: u64) -> Result<u64, Error>;
}

fn main() {}
