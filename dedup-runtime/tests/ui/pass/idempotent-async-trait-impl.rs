//! Native `async fn` in trait impls, also where the trait requires a `Send` future.
#![deny(warnings)]

use std::future::Future;

use dedup_runtime::store::MemoryStore;
use dedup_runtime::{Error, idempotent};

trait Handler {
    async fn handle(&self, id: u64) -> Result<u64, Error>;
}

trait SendHandler {
    fn handle(&self, id: u64) -> impl Future<Output = Result<u64, Error>> + Send;
}

trait SyncHandler {
    fn handle_now(&mut self, id: u64) -> Result<u64, Error>;
}

struct Worker {
    store: MemoryStore,
}

impl Handler for Worker {
    #[idempotent(store = self.store, scope = "worker.handle")]
    async fn handle(&self, id: u64) -> Result<u64, Error> {
        Ok(id)
    }
}

impl SendHandler for Worker {
    #[idempotent(store = self.store, scope = "worker.send_handle")]
    async fn handle(&self, id: u64) -> Result<u64, Error> {
        let doubled = async { id * 2 }.await;
        Ok(doubled)
    }
}

impl SyncHandler for Worker {
    #[idempotent(store = self.store, scope = "worker.handle_now")]
    fn handle_now(&mut self, id: u64) -> Result<u64, Error> {
        Ok(id)
    }
}

fn assert_send<T: Send>(_: T) {}

fn main() {
    let mut worker = Worker {
        store: MemoryStore::new(),
    };
    assert_send(SendHandler::handle(&worker, 1));
    let _ = Handler::handle(&worker, 1);
    assert_eq!(worker.handle_now(1).unwrap(), 1);
}
