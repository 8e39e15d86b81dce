//! Every receiver, and every place `store = ...` can come from.
#![deny(warnings)]

use std::sync::{Arc, LazyLock};

use dedup_runtime::store::MemoryStore;
use dedup_runtime::{Error, idempotent};

static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);
static CELL: once_cell::sync::Lazy<MemoryStore> = once_cell::sync::Lazy::new(MemoryStore::new);

struct Consumer {
    store: MemoryStore,
    shared: Arc<MemoryStore>,
    boxed: Box<MemoryStore>,
    seen: Vec<u64>,
}

impl Consumer {
    #[idempotent(store = self.store)]
    fn by_ref(&self, id: u64) -> Result<u64, Error> {
        Ok(id + self.seen.len() as u64)
    }

    #[idempotent(store = self.shared)]
    fn by_mut(&mut self, id: u64) -> Result<usize, Error> {
        self.seen.push(id);
        Ok(self.seen.len())
    }

    #[idempotent(store = *self.boxed)]
    fn by_value(self, id: u64) -> Result<Vec<u64>, Error> {
        let mut seen = self.seen;
        seen.push(id);
        Ok(seen)
    }

    #[idempotent(store = STORE)]
    async fn by_arc(self: Arc<Self>, id: u64) -> Result<u64, Error> {
        Ok(id + self.seen.len() as u64)
    }

    #[idempotent(store = CELL)]
    async fn by_mut_async(&mut self, id: u64) -> Result<usize, Error> {
        self.seen.push(id);
        Ok(self.seen.len())
    }

    #[idempotent(store = self.store)]
    async fn by_value_async(mut self, id: u64) -> Result<Vec<u64>, Error> {
        self.seen.push(id);
        Ok(self.seen)
    }
}

fn consumer() -> Consumer {
    Consumer {
        store: MemoryStore::new(),
        shared: Arc::new(MemoryStore::new()),
        boxed: Box::new(MemoryStore::new()),
        seen: Vec::new(),
    }
}

fn main() {
    let mut c = consumer();
    assert_eq!(c.by_ref(1).unwrap(), 1);
    assert_eq!(c.by_mut(1).unwrap(), 1);
    assert_eq!(c.by_value(2).unwrap(), vec![1, 2]);
    let _ = Arc::new(consumer()).by_arc(1);
    let mut c = consumer();
    let _ = c.by_mut_async(1);
    let _ = consumer().by_value_async(1);
}
