#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;

use dedup_runtime::store::MemoryStore;
use dedup_runtime::{Error, idempotent};

struct Consumer {
    store: MemoryStore,
}

impl Consumer {
    // What `#[async_trait]` turns an `async fn` into.
    #[idempotent(store = self.store)]
    fn boxed<'a>(
        &'a self,
        id: u64,
    ) -> Pin<Box<dyn Future<Output = Result<u64, Error>> + Send + 'a>> {
        Box::pin(async move { Ok(id) })
    }

    #[idempotent(store = self.store)]
    fn opaque(&self, id: u64) -> impl Future<Output = Result<u64, Error>> {
        async move { Ok(id) }
    }
}

fn main() {}
