#![allow(dead_code)]

use std::sync::LazyLock;

use dedup_runtime::store::MemoryStore;
use dedup_runtime::{Error, idempotent};

static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

struct Poller {
    store: MemoryStore,
}

impl Poller {
    #[idempotent(store = self.store)]
    fn poll(&self) -> Result<u64, Error> {
        Ok(1)
    }
}

#[idempotent(store = STORE)]
fn tick() -> Result<(), Error> {
    Ok(())
}

fn main() {}
