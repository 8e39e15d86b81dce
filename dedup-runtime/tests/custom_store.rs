//! A store written outside the crate, as a user would: a `HashMap` behind a `Mutex`, implementing
//! `Store` and `BlockingStore`. It passes the conformance suite, and `#[idempotent]` handlers,
//! sync and async, run on it.

mod idempotent_support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use dedup_runtime::store::conformance::{Blocking, ManualTime};
use dedup_runtime::store::{
    BlockingStore, ClaimOutcome, ClaimRequest, Clock, Key, ManualClock, OwnerToken, Record,
    RecordState, Store,
};
use dedup_runtime::{Digest, Error, idempotent};
use idempotent_support::HandlerError;

#[derive(Debug, Clone)]
struct Entry {
    state: RecordState,
    correlation: Option<String>,
    payload: Option<Digest>,
    expires_at: Duration,
}

/// The whole store: a map from (scope, fingerprint) to a record, and a clock.
#[derive(Debug, Clone)]
struct MapStore {
    map: Arc<Mutex<HashMap<(String, Digest), Entry>>>,
    clock: ManualClock,
}

impl MapStore {
    fn new(clock: ManualClock) -> Self {
        MapStore {
            map: Arc::default(),
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<(String, Digest), Entry>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn map_key(key: Key<'_>) -> (String, Digest) {
        (key.scope.to_owned(), key.fingerprint)
    }

    /// The entry at `key` if it has not expired.
    fn live(&self, key: Key<'_>) -> Option<Entry> {
        let now = self.clock.now();
        self.lock()
            .get(&MapStore::map_key(key))
            .filter(|entry| now < entry.expires_at)
            .cloned()
    }

    fn record(&self, entry: Entry) -> Record {
        Record {
            state: entry.state,
            correlation: entry.correlation,
            payload: entry.payload,
            expires_in: Some(entry.expires_at.saturating_sub(self.clock.now())),
        }
    }
}

impl BlockingStore for MapStore {
    fn claim_blocking(
        &self,
        key: Key<'_>,
        request: &ClaimRequest<'_>,
    ) -> Result<ClaimOutcome, Error> {
        let now = self.clock.now();
        let mut map = self.lock();
        let slot = map.entry(MapStore::map_key(key));
        let entry = slot.or_insert_with(|| Entry {
            state: RecordState::Completed { value: Vec::new() },
            correlation: None,
            payload: None,
            expires_at: Duration::ZERO,
        });
        if now < entry.expires_at {
            let entry = entry.clone();
            drop(map);
            return Ok(ClaimOutcome::Existing(self.record(entry)));
        }
        *entry = Entry {
            state: RecordState::InProgress {
                owner: request.owner,
            },
            correlation: request.correlation.map(str::to_owned),
            payload: request.payload,
            expires_at: now + request.lease,
        };
        Ok(ClaimOutcome::Acquired)
    }

    fn complete_blocking(
        &self,
        key: Key<'_>,
        owner: OwnerToken,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), Error> {
        let now = self.clock.now();
        let mut map = self.lock();
        let entry = map.get_mut(&MapStore::map_key(key));
        let (correlation, payload) = match entry {
            Some(entry) if matches!(entry.state, RecordState::InProgress { owner: o } if o == owner) => {
                (entry.correlation.take(), entry.payload)
            }
            Some(entry) if now < entry.expires_at => {
                return Err(Error::LeaseLost {
                    scope: key.scope.to_owned(),
                    fingerprint: key.fingerprint,
                });
            }
            _ => (None, None),
        };
        map.insert(
            MapStore::map_key(key),
            Entry {
                state: RecordState::Completed {
                    value: value.to_vec(),
                },
                correlation,
                payload,
                expires_at: now + ttl,
            },
        );
        Ok(())
    }

    fn release_blocking(&self, key: Key<'_>, owner: OwnerToken) -> Result<bool, Error> {
        let mut map = self.lock();
        let map_key = MapStore::map_key(key);
        let owned = map
            .get(&map_key)
            .is_some_and(|e| matches!(e.state, RecordState::InProgress { owner: o } if o == owner));
        if owned {
            map.remove(&map_key);
        }
        Ok(owned)
    }

    fn store_blocking(&self, key: Key<'_>, value: &[u8], expire: Duration) -> Result<(), Error> {
        let expires_at = self.clock.now() + expire;
        self.lock().insert(
            MapStore::map_key(key),
            Entry {
                state: RecordState::Completed {
                    value: value.to_vec(),
                },
                correlation: None,
                payload: None,
                expires_at,
            },
        );
        Ok(())
    }

    fn get_blocking(&self, key: Key<'_>) -> Result<Option<Record>, Error> {
        Ok(self.live(key).map(|entry| self.record(entry)))
    }

    fn purge_expired_blocking(&self) -> Result<u64, Error> {
        let now = self.clock.now();
        let mut map = self.lock();
        let before = map.len();
        map.retain(|_, entry| now < entry.expires_at);
        Ok((before - map.len()) as u64)
    }
}

/// The async API answers at once: nothing here does I/O.
impl Store for MapStore {
    fn name(&self) -> &'static str {
        "map"
    }

    async fn claim(&self, key: Key<'_>, request: &ClaimRequest<'_>) -> Result<ClaimOutcome, Error> {
        self.claim_blocking(key, request)
    }

    async fn complete(
        &self,
        key: Key<'_>,
        owner: OwnerToken,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), Error> {
        self.complete_blocking(key, owner, value, ttl)
    }

    async fn release(&self, key: Key<'_>, owner: OwnerToken) -> Result<bool, Error> {
        self.release_blocking(key, owner)
    }

    async fn store(&self, key: Key<'_>, value: &[u8], expire: Duration) -> Result<(), Error> {
        self.store_blocking(key, value, expire)
    }

    async fn get(&self, key: Key<'_>) -> Result<Option<Record>, Error> {
        self.get_blocking(key)
    }

    async fn purge_expired(&self) -> Result<u64, Error> {
        self.purge_expired_blocking()
    }

    fn release_detached(&self, key: Key<'_>, owner: OwnerToken) {
        let _ = self.release_blocking(key, owner);
    }
}

fn setup() -> (MapStore, ManualTime) {
    let clock = ManualClock::new();
    (MapStore::new(clock.clone()), ManualTime(clock))
}

mod conformance {
    dedup_runtime::conformance_tests!(setup = async { super::setup() });
}

mod conformance_blocking {
    dedup_runtime::conformance_tests!(
        setup = async {
            let (store, time) = super::setup();
            (super::Blocking(store), time)
        }
    );
}

// Handlers on the custom store.

struct Consumer {
    store: MapStore,
    clock: ManualClock,
    runs: AtomicU32,
}

impl Consumer {
    fn new() -> Self {
        let (store, time) = setup();
        Consumer {
            store,
            clock: time.0,
            runs: AtomicU32::new(0),
        }
    }

    #[idempotent(store = self.store, scope = "custom.sync", ttl = "1m")]
    fn sync_handler(&self, id: u64) -> Result<String, HandlerError> {
        let run = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(format!("{id}/{run}"))
    }

    #[idempotent(store = self.store, scope = "custom.async", ttl = "1m")]
    async fn async_handler(&self, id: u64) -> Result<String, HandlerError> {
        let run = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::task::yield_now().await;
        Ok(format!("{id}/{run}"))
    }
}

#[test]
fn a_sync_handler_runs_once_per_message_on_a_custom_store() {
    let c = Consumer::new();
    assert_eq!(c.sync_handler(1).unwrap(), "1/1");
    assert_eq!(c.sync_handler(1).unwrap(), "1/1");
    assert_eq!(c.sync_handler(2).unwrap(), "2/2");
    c.clock.advance(Duration::from_secs(60));
    assert_eq!(c.sync_handler(1).unwrap(), "1/3", "after the ttl");
}

#[tokio::test]
async fn an_async_handler_runs_once_per_message_on_a_custom_store() {
    let c = Consumer::new();
    assert_eq!(c.async_handler(1).await.unwrap(), "1/1");
    assert_eq!(c.async_handler(1).await.unwrap(), "1/1");
    assert_eq!(c.async_handler(2).await.unwrap(), "2/2");
}

#[tokio::test]
async fn a_duplicate_in_flight_is_in_progress_on_a_custom_store() {
    let c = Consumer::new();
    let mut first = std::pin::pin!(c.async_handler(3));
    assert!(idempotent_support::poll_once(first.as_mut()).is_pending());
    let err = c.async_handler(3).await.unwrap_err().dedup();
    assert!(err.is_in_progress(), "{err:?}");
    assert_eq!(first.await.unwrap(), "3/1");
    assert_eq!(c.async_handler(3).await.unwrap(), "3/1");
}
