#![allow(dead_code)]

use std::sync::LazyLock;

use dedup_runtime::store::MemoryStore;
use dedup_runtime::{Error, idempotent};

static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

struct Consumer {
    store: String,
}

impl Consumer {
    #[idempotent(store = self.store)]
    fn handle(&self, id: u64) -> Result<u64, Error> {
        Ok(id)
    }

    #[idempotent(store = &STORE)]
    fn by_reference(&self, id: u64) -> Result<u64, Error> {
        Ok(id)
    }
}

fn main() {}
