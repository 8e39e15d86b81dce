//! [`MemoryStore`]: the in-process store (default feature `memory`), on dashmap.
//!
//! It deduplicates within one process only: right for a single consumer instance, for tests,
//! and as a first tier. Expiry runs on a [`Clock`] the tests can drive ([`ManualClock`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

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

/// The real monotonic clock, read coarsely: to within a few milliseconds.
///
/// Expiry needs no finer time (ttls and leases are seconds to days), and the coarse clock
/// (`CLOCK_MONOTONIC_COARSE` on Linux, through [`coarsetime`]) costs a few nanoseconds where
/// [`Instant::now`](std::time::Instant::now) costs tens: it is read on every claim and every
/// completion. A record may therefore expire up to one tick of that clock (usually 4 ms, at
/// most about 16 ms) early or late.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        // Seconds in 32.32 fixed point.
        let ticks = coarsetime::Instant::now_without_cache_update().as_ticks();
        let nanos = ((ticks & 0xFFFF_FFFF) * 1_000_000_000) >> 32;
        Duration::new(ticks >> 32, nanos as u32)
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

/// A record as the map holds it: 40 bytes, so that a bucket with its key takes 80.
///
/// Small buckets matter more than a few instructions here: a busy store holds millions of
/// records, and every growth of the table moves all of them (and faults in fresh pages).
#[derive(Debug)]
struct Entry {
    /// Nanoseconds on the store's clock; the record is live while the clock is below.
    expires_at: u64,
    state: State,
    /// Usually absent (no correlation id, no payload check): boxed, so that it costs one
    /// pointer when absent.
    audit: Option<Box<Audit>>,
}

#[derive(Debug)]
enum State {
    InProgress(OwnerToken),
    /// The encoded result, copied once from what `complete` was given.
    Completed(Box<[u8]>),
}

#[derive(Debug)]
struct Audit {
    correlation: Option<Box<str>>,
    payload: Option<Digest>,
}

impl Audit {
    fn of(correlation: Option<&str>, payload: Option<Digest>) -> Option<Box<Audit>> {
        (correlation.is_some() || payload.is_some()).then(|| {
            Box::new(Audit {
                correlation: correlation.map(Into::into),
                payload,
            })
        })
    }
}

impl Entry {
    fn is_live(&self, now: u64) -> bool {
        now < self.expires_at
    }

    fn to_record(&self, now: u64) -> Record {
        let audit = self.audit.as_deref();
        Record {
            state: match &self.state {
                State::InProgress(owner) => RecordState::InProgress { owner: *owner },
                State::Completed(value) => RecordState::Completed {
                    value: value.to_vec(),
                },
            },
            correlation: audit
                .and_then(|a| a.correlation.as_deref())
                .map(str::to_owned),
            payload: audit.and_then(|a| a.payload),
            expires_in: Some(Duration::from_nanos(self.expires_at.saturating_sub(now))),
        }
    }

    fn owned_by(&self, owner: OwnerToken) -> bool {
        matches!(self.state, State::InProgress(o) if o == owner)
    }

    fn is_completed(&self) -> bool {
        matches!(self.state, State::Completed(_))
    }
}

/// A record's address in the map: the scope's number in this store (see [`Scopes`]) and the
/// fingerprint. `Copy` and 40 bytes: a lookup allocates nothing and hashes no string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MapKey {
    scope: u64,
    fingerprint: Digest,
}

impl Hash for MapKey {
    /// The scope number and the digest's bytes, as five words: fixed-size integer writes cost
    /// the seeded hasher less than a byte slice (and need no length prefix).
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.scope);
        for word in self.fingerprint.as_bytes().chunks_exact(8) {
            let mut bytes = [0; 8];
            bytes.copy_from_slice(word);
            state.write_u64(u64::from_le_bytes(bytes));
        }
    }
}

/// Digests are SHA-256 outputs, but their low bits are cheap to grind for a sender who wants to
/// pile messages into one bucket: keep a seeded hash, just a faster one than SipHash.
type Hasher = foldhash::fast::RandomState;

/// The numbers of a store's scopes, so that records are keyed by a number instead of a string.
///
/// A scope is numbered the first time a record is written under it, and keeps its number for
/// the life of the store: the table grows with the number of distinct scopes ever written (one
/// per handler, in practice), not with the records. Reads under a scope never written do not
/// number it.
///
/// Each thread keeps its last few lookups (tagged with the store's unique id and checked against
/// the scope's bytes), so the common case reads no lock shared between cores.
#[derive(Debug, Default)]
struct Scopes {
    ids: RwLock<HashMap<Box<str>, u64, Hasher>>,
}

/// Unique per store in the process, never reused: tags the per-thread scope cache.
static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(1);

/// A thread's recent scope lookups, over all stores.
struct ScopeCache {
    slots: [Option<CachedScope>; SCOPE_CACHE_SLOTS],
    /// The slot the next miss replaces (round robin).
    next: usize,
}

/// More than the handlers one consumer thread typically alternates between; a miss costs a
/// read lock.
const SCOPE_CACHE_SLOTS: usize = 8;

struct CachedScope {
    store: u64,
    scope: Box<str>,
    id: u64,
}

thread_local! {
    static SCOPE_CACHE: RefCell<ScopeCache> = const {
        RefCell::new(ScopeCache {
            slots: [const { None }; SCOPE_CACHE_SLOTS],
            next: 0,
        })
    };
}

impl Scopes {
    /// The number of `scope` in the store whose id is `store`, if a record was ever written
    /// under it.
    fn find(&self, store: u64, scope: &str) -> Option<u64> {
        let cached = SCOPE_CACHE.try_with(|cache| {
            let cache = cache.borrow();
            cache
                .slots
                .iter()
                .flatten()
                .find(|slot| slot.store == store && *slot.scope == *scope)
                .map(|slot| slot.id)
        });
        if let Ok(Some(id)) = cached {
            return Some(id);
        }
        let id = *self.read().get(scope)?;
        remember(store, scope, id);
        Some(id)
    }

    /// The number of `scope` in the store whose id is `store`, numbered now if need be.
    fn number(&self, store: u64, scope: &str) -> u64 {
        if let Some(id) = self.find(store, scope) {
            return id;
        }
        let id = {
            let mut ids = self.ids.write().unwrap_or_else(PoisonError::into_inner);
            let next = ids.len() as u64;
            *ids.entry(scope.into()).or_insert(next)
        };
        remember(store, scope, id);
        id
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Box<str>, u64, Hasher>> {
        // The table is consistent whatever panicked while holding it: an entry is inserted
        // whole or not at all.
        self.ids.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Caches a lookup in this thread (unless the thread is being torn down).
fn remember(store: u64, scope: &str, id: u64) {
    let _ = SCOPE_CACHE.try_with(|cache| {
        let mut cache = cache.borrow_mut();
        let slot = cache.next;
        cache.next = (slot + 1) % SCOPE_CACHE_SLOTS;
        cache.slots[slot] = Some(CachedScope {
            store,
            scope: scope.into(),
            id,
        });
    });
}

#[derive(Debug)]
struct Inner {
    map: DashMap<MapKey, Entry, Hasher>,
    scopes: Scopes,
    /// See [`NEXT_STORE_ID`].
    id: u64,
    clock: Arc<dyn Clock>,
    capacity: Option<usize>,
    purge_every: Duration,
    next_purge_nanos: AtomicU64,
}

/// [`Inner`] on cache lines of its own, away from the `Arc`'s reference counts: every call of
/// a handler clones and drops a store handle, and on several cores those counts move from core
/// to core; the fields every operation reads should not move with them.
#[repr(align(128))]
struct Padded(Inner);

impl std::fmt::Debug for Padded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::ops::Deref for Padded {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
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
/// * Besides its records, a store keeps one small entry per distinct scope ever written to it
///   (records are keyed by the scope's number): a store shared by a fixed set of handlers
///   holds a fixed set of scopes, but one fed scopes made up at run time grows with them.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    inner: Arc<Padded>,
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
            inner: Arc::new(Padded(Inner {
                map: DashMap::with_hasher(Hasher::default()),
                scopes: Scopes::default(),
                id: NEXT_STORE_ID.fetch_add(1, Ordering::Relaxed),
                clock: self.clock,
                capacity: self.capacity,
                purge_every: self.purge_every,
                next_purge_nanos: AtomicU64::new(nanos(first_purge)),
            })),
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

    /// The clock, in nanoseconds.
    fn now(&self) -> u64 {
        nanos(self.inner.clock.now())
    }

    /// The map key of `key`, numbering its scope if need be (for writes).
    fn map_key(&self, key: Key<'_>) -> MapKey {
        MapKey {
            scope: self.inner.scopes.number(self.inner.id, key.scope),
            fingerprint: key.fingerprint,
        }
    }

    /// The map key of `key` if a record was ever written under its scope (for reads and
    /// deletes: no other key can hold one).
    fn existing_map_key(&self, key: Key<'_>) -> Option<MapKey> {
        Some(MapKey {
            scope: self.inner.scopes.find(self.inner.id, key.scope)?,
            fingerprint: key.fingerprint,
        })
    }

    /// Sweeps expired records when the purge period has passed; one caller at a time does it.
    fn maybe_purge(&self, now: u64) {
        let due = self.inner.next_purge_nanos.load(Ordering::Relaxed);
        if now < due {
            return;
        }
        let next = now.saturating_add(nanos(self.inner.purge_every));
        if self
            .inner
            .next_purge_nanos
            .compare_exchange(due, next, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            self.purge_at(now);
        }
    }

    fn purge_at(&self, now: u64) -> u64 {
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
    fn make_room(&self, now: u64) {
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
        let mut completed: Vec<(u64, MapKey)> = self
            .inner
            .map
            .iter()
            .filter(|e| e.value().is_completed())
            .map(|e| (e.value().expires_at, *e.key()))
            .collect();
        if completed.len() > batch {
            completed.select_nth_unstable_by_key(batch - 1, |(at, _)| *at);
            completed.truncate(batch);
        }
        for (expires_at, key) in completed {
            self.inner
                .map
                .remove_if(&key, |_, e| e.is_completed() && e.expires_at == expires_at);
        }
    }

    fn claim_now(&self, key: Key<'_>, request: &ClaimRequest<'_>) -> ClaimOutcome {
        let now = self.now();
        self.maybe_purge(now);
        let fresh = || Entry {
            expires_at: now.saturating_add(nanos(request.lease)),
            state: State::InProgress(request.owner),
            audit: Audit::of(request.correlation, request.payload),
        };
        let map_key = self.map_key(key);
        if self.inner.capacity.is_some() && !self.inner.map.contains_key(&map_key) {
            self.make_room(now);
        }
        match self.inner.map.entry(map_key) {
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
        let expires_at = now.saturating_add(nanos(ttl));
        match self.inner.map.entry(self.map_key(key)) {
            MapEntry::Occupied(mut occupied) => {
                let entry = occupied.get_mut();
                if entry.owned_by(owner) {
                    // Ours, even past the lease, as long as nobody took it over: completed in
                    // place, keeping the claim's audit fields.
                    entry.state = State::Completed(value.into());
                    entry.expires_at = expires_at;
                    Ok(())
                } else if !entry.is_live(now) {
                    // An expired record of another owner counts as absent.
                    *entry = Entry {
                        expires_at,
                        state: State::Completed(value.into()),
                        audit: None,
                    };
                    Ok(())
                } else {
                    Err(Error::LeaseLost {
                        scope: key.scope.to_owned(),
                        fingerprint: key.fingerprint,
                    })
                }
            }
            MapEntry::Vacant(vacant) => {
                vacant.insert(Entry {
                    expires_at,
                    state: State::Completed(value.into()),
                    audit: None,
                });
                Ok(())
            }
        }
    }

    fn release_now(&self, key: Key<'_>, owner: OwnerToken) -> bool {
        let Some(map_key) = self.existing_map_key(key) else {
            return false;
        };
        self.inner
            .map
            .remove_if(&map_key, |_, entry| entry.owned_by(owner))
            .is_some()
    }

    fn store_now(&self, key: Key<'_>, value: &[u8], expire: Duration) {
        let now = self.now();
        self.inner.map.insert(
            self.map_key(key),
            Entry {
                expires_at: now.saturating_add(nanos(expire)),
                state: State::Completed(value.into()),
                audit: None,
            },
        );
    }

    fn get_now(&self, key: Key<'_>) -> Option<Record> {
        let now = self.now();
        self.inner
            .map
            .get(&self.existing_map_key(key)?)
            .filter(|entry| entry.is_live(now))
            .map(|entry| entry.to_record(now))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(byte: u8) -> Digest {
        Digest::from_bytes([byte; 32])
    }

    fn scopes_numbered(store: &MemoryStore) -> usize {
        store.inner.scopes.read().len()
    }

    #[test]
    fn a_bucket_takes_80_bytes() {
        // What DashMap stores per record (`SharedValue` is transparent).
        assert!(std::mem::size_of::<(MapKey, Entry)>() <= 80);
    }

    #[test]
    fn the_system_clock_follows_real_time_to_within_a_tick() {
        let (real_start, start) = (std::time::Instant::now(), SystemClock.now());
        std::thread::sleep(Duration::from_millis(60));
        let (end, real_end) = (SystemClock.now(), std::time::Instant::now());
        let measured = end.checked_sub(start).expect("the clock never goes back");
        let real = real_end - real_start;
        // The coarse reads lie inside the real interval: they measure at most one tick more,
        // and at most one tick less than the 60 ms slept.
        let tick = Duration::from_millis(20);
        assert!(measured <= real + tick, "{measured:?} against {real:?}");
        assert!(measured + tick >= Duration::from_millis(60), "{measured:?}");
    }

    #[test]
    fn reads_and_deletes_do_not_number_scopes() {
        let store = MemoryStore::new();
        let key = Key::new("never.written", digest(1));
        assert_eq!(store.get_now(key), None);
        assert!(!store.release_now(key, OwnerToken::random()));
        assert_eq!(scopes_numbered(&store), 0);
        store.store_now(key, b"1", Duration::from_secs(60));
        assert_eq!(scopes_numbered(&store), 1);
        assert!(store.get_now(key).is_some());
    }

    #[test]
    fn more_scopes_than_a_thread_caches_and_stores_that_share_scope_names() {
        let (a, b) = (MemoryStore::new(), MemoryStore::new());
        let scopes: Vec<String> = (0..3 * SCOPE_CACHE_SLOTS)
            .map(|i| format!("s{i}"))
            .collect();
        for round in 0..3u8 {
            for (i, scope) in scopes.iter().enumerate() {
                for (store, value) in [(&a, b"a"), (&b, b"b")] {
                    let key = Key::new(scope, digest(i as u8));
                    if round == 0 {
                        store.store_now(key, value, Duration::from_secs(60));
                    }
                    let record = store.get_now(key).expect("record");
                    assert_eq!(
                        record.state,
                        RecordState::Completed {
                            value: value.to_vec()
                        }
                    );
                    // The same fingerprint in a neighbouring scope is another record.
                    let other = Key::new(&scopes[(i + 1) % scopes.len()], digest(i as u8));
                    assert_eq!(store.get_now(other), None);
                }
            }
        }
        assert_eq!(scopes_numbered(&a), scopes.len());
        assert_eq!(scopes_numbered(&b), scopes.len());
    }

    #[test]
    fn a_scope_numbered_on_one_thread_is_found_on_another() {
        let store = MemoryStore::new();
        let key = Key::new("shared", digest(7));
        store.store_now(key, b"7", Duration::from_secs(60));
        let seen = std::thread::scope(|s| s.spawn(|| store.get_now(key)).join().unwrap());
        assert!(seen.is_some());
        assert_eq!(scopes_numbered(&store), 1);
    }
}
