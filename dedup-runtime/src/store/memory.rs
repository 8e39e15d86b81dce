//! [`MemoryStore`]: the in-process store (default feature `memory`), on dashmap.
//!
//! It deduplicates within one process only: right for a single consumer instance, for tests,
//! and as a first tier. Expiry runs on a [`Clock`] the tests can drive ([`ManualClock`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry as MapEntry;

use super::{
    BlockingStore, ClaimOutcome, ClaimRequest, Key, OwnerToken, Record, RecordState, Store,
};
use crate::{Digest, Error};

/// A monotonic time source for [`MemoryStore`] expiry.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// Time elapsed since an arbitrary, fixed origin. Never goes backwards.
    fn now(&self) -> Duration;
}

/// The real monotonic clock ([`Instant`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        ORIGIN.get_or_init(Instant::now).elapsed()
    }
}

/// A clock that moves only when told: expiry tests run instantly and never race the machine.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock at its origin.
    pub fn new() -> Self {
        ManualClock::default()
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(by, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

#[derive(Debug, Clone)]
struct Entry {
    state: RecordState,
    correlation: Option<Box<str>>,
    payload: Option<Digest>,
    expires_at: Duration,
}

impl Entry {
    fn is_live(&self, now: Duration) -> bool {
        now < self.expires_at
    }

    fn to_record(&self, now: Duration) -> Record {
        Record {
            state: self.state.clone(),
            correlation: self.correlation.as_deref().map(str::to_owned),
            payload: self.payload,
            expires_in: Some(self.expires_at.saturating_sub(now)),
        }
    }

    fn owned_by(&self, owner: OwnerToken) -> bool {
        matches!(self.state, RecordState::InProgress { owner: o } if o == owner)
    }
}

type MapKey = (Box<str>, Digest);

/// Digests are SHA-256 outputs, but their low bits are cheap to grind for a sender who wants to
/// pile messages into one bucket: keep a seeded hash, just a faster one than SipHash.
type Hasher = foldhash::fast::RandomState;

#[derive(Debug)]
struct Inner {
    map: DashMap<MapKey, Entry, Hasher>,
    clock: Arc<dyn Clock>,
    capacity: Option<usize>,
    purge_every: Duration,
    next_purge_nanos: AtomicU64,
}

/// The in-memory store: expiring records in a concurrent map, shared by clones of the handle.
///
/// * Expired records are purged as the store is used, at most once per
///   [`purge_every`](MemoryStoreBuilder::purge_every) (one minute by default), and on demand with
///   [`purge_expired`](Store::purge_expired).
/// * With a [`capacity`](MemoryStoreBuilder::capacity), reaching it evicts the completed records
///   closest to expiry. **An evicted message is new again**: a later duplicate of it runs its
///   body. In-progress claims are never evicted (that could run a body twice at the same time),
///   so the store may exceed its capacity by the number of claims in flight.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

/// Options for a [`MemoryStore`].
#[derive(Debug, Clone)]
pub struct MemoryStoreBuilder {
    clock: Arc<dyn Clock>,
    capacity: Option<usize>,
    purge_every: Duration,
}

impl MemoryStoreBuilder {
    /// The clock expiry is judged by (default [`SystemClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Bounds the number of records (see [`MemoryStore`] on what eviction means).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity.max(1));
        self
    }

    /// How often, at most, use of the store sweeps expired records.
    pub fn purge_every(mut self, every: Duration) -> Self {
        self.purge_every = every;
        self
    }

    /// The store.
    pub fn build(self) -> MemoryStore {
        let first_purge = self.clock.now().saturating_add(self.purge_every);
        MemoryStore {
            inner: Arc::new(Inner {
                map: DashMap::with_hasher(Hasher::default()),
                clock: self.clock,
                capacity: self.capacity,
                purge_every: self.purge_every,
                next_purge_nanos: AtomicU64::new(nanos(first_purge)),
            }),
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl MemoryStore {
    /// An empty store on the system clock, unbounded.
    pub fn new() -> Self {
        MemoryStore::builder().build()
    }

    /// Options: clock, capacity, purge period.
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder {
            clock: Arc::new(SystemClock),
            capacity: None,
            purge_every: Duration::from_secs(60),
        }
    }

    /// The number of records held, live or expired but not yet purged.
    pub fn len(&self) -> usize {
        self.inner.map.len()
    }

    /// `true` when no record is held.
    pub fn is_empty(&self) -> bool {
        self.inner.map.is_empty()
    }

    fn now(&self) -> Duration {
        self.inner.clock.now()
    }

    fn map_key(key: Key<'_>) -> MapKey {
        (key.scope.into(), key.fingerprint)
    }

    /// Sweeps expired records when the purge period has passed; one caller at a time does it.
    fn maybe_purge(&self, now: Duration) {
        let due = self.inner.next_purge_nanos.load(Ordering::Relaxed);
        if nanos(now) < due {
            return;
        }
        let next = nanos(now.saturating_add(self.inner.purge_every));
        if self
            .inner
            .next_purge_nanos
            .compare_exchange(due, next, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            self.purge_at(now);
        }
    }

    fn purge_at(&self, now: Duration) -> u64 {
        let mut purged = 0;
        self.inner.map.retain(|_, entry| {
            let live = entry.is_live(now);
            purged += u64::from(!live);
            live
        });
        purged
    }

    /// Makes room for one record when at capacity: first expired records, then the completed
    /// records closest to expiry, a batch at a time so that eviction stays amortised O(1).
    fn make_room(&self, now: Duration) {
        let Some(capacity) = self.inner.capacity else {
            return;
        };
        if self.inner.map.len() < capacity {
            return;
        }
        self.purge_at(now);
        let len = self.inner.map.len();
        if len < capacity {
            return;
        }
        let batch = (len + 1 - capacity).max(capacity / 16).max(1);
        let mut completed: Vec<(Duration, MapKey)> = self
            .inner
            .map
            .iter()
            .filter(|e| e.value().state_is_completed())
            .map(|e| (e.value().expires_at, e.key().clone()))
            .collect();
        if completed.len() > batch {
            completed.select_nth_unstable_by_key(batch - 1, |(at, _)| *at);
            completed.truncate(batch);
        }
        for (expires_at, key) in completed {
            self.inner.map.remove_if(&key, |_, e| {
                e.state_is_completed() && e.expires_at == expires_at
            });
        }
    }

    fn claim_now(&self, key: Key<'_>, request: &ClaimRequest<'_>) -> ClaimOutcome {
        let now = self.now();
        self.maybe_purge(now);
        let fresh = || Entry {
            state: RecordState::InProgress {
                owner: request.owner,
            },
            correlation: request.correlation.map(Into::into),
            payload: request.payload,
            expires_at: now.saturating_add(request.lease),
        };
        if self.inner.capacity.is_some() && !self.inner.map.contains_key(&Self::map_key(key)) {
            self.make_room(now);
        }
        match self.inner.map.entry(Self::map_key(key)) {
            MapEntry::Occupied(mut occupied) => {
                if occupied.get().is_live(now) {
                    ClaimOutcome::Existing(occupied.get().to_record(now))
                } else {
                    occupied.insert(fresh());
                    ClaimOutcome::Acquired
                }
            }
            MapEntry::Vacant(vacant) => {
                vacant.insert(fresh());
                ClaimOutcome::Acquired
            }
        }
    }

    fn complete_now(
        &self,
        key: Key<'_>,
        owner: OwnerToken,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), Error> {
        let now = self.now();
        let completed = |correlation, payload| Entry {
            state: RecordState::Completed {
                value: value.to_vec(),
            },
            correlation,
            payload,
            expires_at: now.saturating_add(ttl),
        };
        match self.inner.map.entry(Self::map_key(key)) {
            MapEntry::Occupied(mut occupied) => {
                let entry = occupied.get();
                // Ours, even past the lease, as long as nobody took it over; an expired record of
                // another owner counts as absent.
                if entry.owned_by(owner) || !entry.is_live(now) {
                    let correlation = entry.owned_by(owner).then(|| entry.correlation.clone());
                    let payload = entry.owned_by(owner).then_some(entry.payload);
                    occupied.insert(completed(correlation.flatten(), payload.flatten()));
                    Ok(())
                } else {
                    Err(Error::LeaseLost {
                        scope: key.scope.to_owned(),
                        fingerprint: key.fingerprint,
                    })
                }
            }
            MapEntry::Vacant(vacant) => {
                vacant.insert(completed(None, None));
                Ok(())
            }
        }
    }

    fn release_now(&self, key: Key<'_>, owner: OwnerToken) -> bool {
        self.inner
            .map
            .remove_if(&Self::map_key(key), |_, entry| entry.owned_by(owner))
            .is_some()
    }

    fn store_now(&self, key: Key<'_>, value: &[u8], expire: Duration) {
        let now = self.now();
        self.inner.map.insert(
            Self::map_key(key),
            Entry {
                state: RecordState::Completed {
                    value: value.to_vec(),
                },
                correlation: None,
                payload: None,
                expires_at: now.saturating_add(expire),
            },
        );
    }

    fn get_now(&self, key: Key<'_>) -> Option<Record> {
        let now = self.now();
        self.inner
            .map
            .get(&Self::map_key(key))
            .filter(|entry| entry.is_live(now))
            .map(|entry| entry.to_record(now))
    }
}

impl Entry {
    fn state_is_completed(&self) -> bool {
        matches!(self.state, RecordState::Completed { .. })
    }
}

impl Store for MemoryStore {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn claim(&self, key: Key<'_>, request: &ClaimRequest<'_>) -> Result<ClaimOutcome, Error> {
        Ok(self.claim_now(key, request))
    }

    async fn complete(
        &self,
        key: Key<'_>,
        owner: OwnerToken,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), Error> {
        self.complete_now(key, owner, value, ttl)
    }

    async fn release(&self, key: Key<'_>, owner: OwnerToken) -> Result<bool, Error> {
        Ok(self.release_now(key, owner))
    }

    async fn store(&self, key: Key<'_>, value: &[u8], expire: Duration) -> Result<(), Error> {
        self.store_now(key, value, expire);
        Ok(())
    }

    async fn get(&self, key: Key<'_>) -> Result<Option<Record>, Error> {
        Ok(self.get_now(key))
    }

    async fn purge_expired(&self) -> Result<u64, Error> {
        Ok(self.purge_at(self.now()))
    }

    /// Releasing in memory needs no I/O: done inline, even outside a runtime.
    fn release_detached(&self, key: Key<'_>, owner: OwnerToken) {
        self.release_now(key, owner);
    }
}

impl BlockingStore for MemoryStore {
    fn claim_blocking(
        &self,
        key: Key<'_>,
        request: &ClaimRequest<'_>,
    ) -> Result<ClaimOutcome, Error> {
        Ok(self.claim_now(key, request))
    }

    fn complete_blocking(
        &self,
        key: Key<'_>,
        owner: OwnerToken,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), Error> {
        self.complete_now(key, owner, value, ttl)
    }

    fn release_blocking(&self, key: Key<'_>, owner: OwnerToken) -> Result<bool, Error> {
        Ok(self.release_now(key, owner))
    }

    fn store_blocking(&self, key: Key<'_>, value: &[u8], expire: Duration) -> Result<(), Error> {
        self.store_now(key, value, expire);
        Ok(())
    }

    fn get_blocking(&self, key: Key<'_>) -> Result<Option<Record>, Error> {
        Ok(self.get_now(key))
    }

    fn purge_expired_blocking(&self) -> Result<u64, Error> {
        Ok(self.purge_at(self.now()))
    }
}
