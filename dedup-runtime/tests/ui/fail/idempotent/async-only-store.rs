#![allow(dead_code)]

use std::time::Duration;

use dedup_runtime::store::{ClaimOutcome, ClaimRequest, Key, OwnerToken, Record, Store};
use dedup_runtime::{Error, idempotent};

/// A store with only the async API, like the SQL stores.
#[derive(Clone)]
struct AsyncOnly;

impl Store for AsyncOnly {
    fn name(&self) -> &'static str {
        "async-only"
    }
    async fn claim(&self, _: Key<'_>, _: &ClaimRequest<'_>) -> Result<ClaimOutcome, Error> {
        Ok(ClaimOutcome::Acquired)
    }
    async fn complete(
        &self,
        _: Key<'_>,
        _: OwnerToken,
        _: &[u8],
        _: Duration,
    ) -> Result<(), Error> {
        Ok(())
    }
    async fn release(&self, _: Key<'_>, _: OwnerToken) -> Result<bool, Error> {
        Ok(true)
    }
    async fn store(&self, _: Key<'_>, _: &[u8], _: Duration) -> Result<(), Error> {
        Ok(())
    }
    async fn get(&self, _: Key<'_>) -> Result<Option<Record>, Error> {
        Ok(None)
    }
}

struct Consumer {
    store: AsyncOnly,
}

impl Consumer {
    #[idempotent(store = self.store)]
    fn handle(&self, id: u64) -> Result<u64, Error> {
        Ok(id)
    }

    // The same handler as an `async fn` is fine.
    #[idempotent(store = self.store)]
    async fn handle_async(&self, id: u64) -> Result<u64, Error> {
        Ok(id)
    }
}

fn main() {}
