//! Where claims and results live: the [`Store`] traits and the backends.
//!
//! # Sync or async
//!
//! Redis and SQL drivers are asynchronous, and an async `release` cannot run in `Drop`, so the
//! protocol is written against the asynchronous [`Store`] trait. Synchronous handlers need a store
//! that can answer without an executor: those stores also implement [`BlockingStore`]
//! ([`MemoryStore`] and `RedisStore` do; the SQL stores are async only, and a sync handler on one
//! is a compile error that says so).
//!
//! # What a store must guarantee
//!
//! * [`claim`](Store::claim) is atomic: of any number of concurrent claims on one absent (or
//!   expired) key, exactly one gets [`ClaimOutcome::Acquired`]; the others learn the record.
//! * Expiry is judged by one clock, the store's (Redis `PX`, the database's `now()`), never by
//!   the clocks of the consumers.
//! * [`complete`](Store::complete) and [`release`](Store::release) are fenced by the
//!   [`OwnerToken`]: a delivery whose claim was taken over cannot overwrite or delete the record.
//!
//! The module `conformance` (feature `test-util`) holds the suite every backend runs to show this.

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use crate::{Digest, Error};

#[cfg(any(test, feature = "test-util"))]
pub mod conformance;
mod handle;
#[cfg(feature = "memory")]
mod memory;
#[cfg(feature = "redis")]
mod redis;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod sql;

pub use self::handle::StoreHandle;
#[cfg(feature = "memory")]
#[cfg_attr(docsrs, doc(cfg(feature = "memory")))]
pub use self::memory::{Clock, ManualClock, MemoryStore, MemoryStoreBuilder, SystemClock};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::{RedisStore, RedisStoreBuilder};
#[cfg(any(feature = "postgres", feature = "sqlite"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "postgres", feature = "sqlite"))))]
pub use self::sql::PurgeTask;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use self::sql::inbox::{Inbox, InboxClaim, InboxOutcome};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use self::sql::postgres::{PostgresStore, PostgresStoreBuilder};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use self::sql::sqlite::{SqliteStore, SqliteStoreBuilder};

/// The address of one record: the consumer's scope and the message's fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key<'a> {
    /// The consumer identity (`"billing.charge"`): different scopes each process a message once.
    pub scope: &'a str,
    /// The fingerprint of the message (or of the `key = ...` expression).
    pub fingerprint: Digest,
}

impl<'a> Key<'a> {
    /// A key in `scope` for `fingerprint`.
    pub const fn new(scope: &'a str, fingerprint: Digest) -> Self {
        Key { scope, fingerprint }
    }
}

impl fmt::Display for Key<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.scope, self.fingerprint)
    }
}

/// Identifies one claim. A record can only be completed or released by the token that claimed it.
///
/// Held as two `u64` halves rather than a `u128`: 8-byte alignment keeps the records and requests
/// that carry a token compact (a `u128` would pad them to 16). The order is the `u128` order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OwnerToken {
    high: u64,
    low: u64,
}

impl OwnerToken {
    /// A fresh token, unique across processes and machines.
    ///
    /// The high 64 bits are drawn once per process from the OS's randomness (UUID v4), the low
    /// 64 bits count: a claim then costs no system call. Each thread takes its counts in blocks
    /// from one process-wide counter, so that concurrent claims on several cores do not contend
    /// for the counter's cache line; blocks are disjoint, so tokens stay unique.
    pub fn random() -> Self {
        use std::cell::Cell;
        use std::sync::OnceLock;
        use std::sync::atomic::{AtomicU64, Ordering};
        /// Counts a thread takes at once. A thread that ends wastes the rest of its block,
        /// which 64 bits can afford.
        const BLOCK: u64 = 1 << 12;
        static PROCESS: OnceLock<u64> = OnceLock::new();
        static BLOCKS: AtomicU64 = AtomicU64::new(0);
        thread_local! {
            /// The next count of this thread's block, and the end of the block.
            static COUNTS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
        }
        let process = *PROCESS.get_or_init(|| (uuid::Uuid::new_v4().as_u128() >> 64) as u64);
        let refill = |(next, end): (u64, u64)| {
            if next < end {
                (next, end)
            } else {
                let start = BLOCKS.fetch_add(BLOCK, Ordering::Relaxed);
                (start, start + BLOCK)
            }
        };
        let count = COUNTS
            .try_with(|counts| {
                let (count, end) = refill(counts.get());
                counts.set((count + 1, end));
                count
            })
            // During thread teardown: a block of its own, of which it uses one count.
            .unwrap_or_else(|_| refill((0, 0)).0);
        OwnerToken {
            high: process,
            low: count,
        }
    }

    /// The token as a number.
    pub const fn as_u128(self) -> u128 {
        ((self.high as u128) << 64) | self.low as u128
    }

    /// Rebuilds a token from [`as_u128`](OwnerToken::as_u128).
    pub const fn from_u128(value: u128) -> Self {
        OwnerToken {
            high: (value >> 64) as u64,
            low: value as u64,
        }
    }
}

impl fmt::Display for OwnerToken {
    /// 32 lowercase hex characters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.as_u128())
    }
}

impl fmt::Debug for OwnerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OwnerToken({self})")
    }
}

impl FromStr for OwnerToken {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        if s.len() != 32 {
            return Err(Error::corrupt(
                "store",
                s,
                "an owner token has 32 hex characters",
            ));
        }
        u128::from_str_radix(s, 16)
            .map(OwnerToken::from_u128)
            .map_err(|_| Error::corrupt("store", s, "an owner token is hexadecimal"))
    }
}

/// What a claim asks for.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRequest<'a> {
    /// The token that will complete or release the claim.
    pub owner: OwnerToken,
    /// How long the claim is honoured before another delivery may take it over.
    pub lease: Duration,
    /// The delivery's correlation id, kept with the record for audit.
    pub correlation: Option<&'a str>,
    /// The fingerprint of the whole message when `key` selects a part of it (payload validation).
    pub payload: Option<Digest>,
}

/// The answer to a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The caller holds the claim: run the body, then complete or release.
    Acquired,
    /// A live record exists: the message is in progress elsewhere, or completed.
    Existing(Record),
}

/// A live record as a store returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// In progress or completed.
    pub state: RecordState,
    /// The correlation id of the delivery that made the record.
    pub correlation: Option<String>,
    /// The payload fingerprint of the delivery that made the record, if it gave one.
    pub payload: Option<Digest>,
    /// How long the record (lease or ttl) still runs, when the store can tell cheaply.
    pub expires_in: Option<Duration>,
}

/// The state of a [`Record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordState {
    /// Claimed by `owner`, whose lease has not run out.
    InProgress {
        /// The claim's token.
        owner: OwnerToken,
    },
    /// Processed; `value` is the encoded result (possibly empty), replayed to duplicates.
    Completed {
        /// The encoded `Ok` value.
        value: Vec<u8>,
    },
}

impl Record {
    /// `true` for a completed record.
    pub fn is_completed(&self) -> bool {
        matches!(self.state, RecordState::Completed { .. })
    }
}

/// An asynchronous deduplication store, shared by every instance of a consumer.
///
/// Stores are cheap-to-clone handles (like a connection pool): `#[idempotent]` clones the handle
/// before the body runs, so the body may consume or mutably borrow whatever held it.
///
/// Besides the claim / complete / release protocol, a store offers the classic deduplication-cache
/// operations [`store`](Store::store), [`get`](Store::get) and [`contains`](Store::contains).
/// An expired record is treated everywhere as absent.
pub trait Store: Clone + Send + Sync + 'static {
    /// A short name for errors and traces: `"memory"`, `"redis"`, `"postgres"`...
    fn name(&self) -> &'static str;

    /// Atomically claims `key`, or returns the live record that prevents it.
    ///
    /// An absent or expired record (a completed one past its ttl, an in-progress one past its
    /// lease) is replaced by an in-progress record owned by `request.owner`.
    fn claim(
        &self,
        key: Key<'_>,
        request: &ClaimRequest<'_>,
    ) -> impl Future<Output = Result<ClaimOutcome, Error>> + Send;

    /// Marks the claim of `owner` completed with `value`, kept for `ttl`.
    ///
    /// Succeeds when the record is absent or still belongs to `owner` (even past its lease, as
    /// long as nobody took it over); fails with [`Error::LeaseLost`] when another owner holds it.
    fn complete(
        &self,
        key: Key<'_>,
        owner: OwnerToken,
        value: &[u8],
        ttl: Duration,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Deletes the in-progress record of `owner`, so that a redelivery runs again.
    ///
    /// Returns `false` (and changes nothing) when the record is absent or not `owner`'s.
    fn release(
        &self,
        key: Key<'_>,
        owner: OwnerToken,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Records `value` as the completed result of `key` for `expire`, whatever was there.
    fn store(
        &self,
        key: Key<'_>,
        value: &[u8],
        expire: Duration,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// The live record of `key`, if any.
    fn get(&self, key: Key<'_>) -> impl Future<Output = Result<Option<Record>, Error>> + Send;

    /// Whether `key` has a live record (in progress or completed).
    fn contains(&self, key: Key<'_>) -> impl Future<Output = Result<bool, Error>> + Send {
        async move { Ok(self.get(key).await?.is_some()) }
    }

    /// Deletes expired records and returns how many it deleted.
    ///
    /// Stores whose server expires records by itself (Redis) return `Ok(0)`.
    fn purge_expired(&self) -> impl Future<Output = Result<u64, Error>> + Send {
        async { Ok(0) }
    }

    /// Releases `owner`'s claim from a context that cannot await: a handler future dropped
    /// mid-body (a timeout, `select!`).
    ///
    /// The default spawns [`release`](Store::release) on the current Tokio runtime; without one
    /// the claim stays until its lease runs out, which loses nothing (a redelivery then takes
    /// over). Stores that can release without I/O do it inline.
    fn release_detached(&self, key: Key<'_>, owner: OwnerToken) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(
                target: "dedup",
                store = self.name(),
                scope = key.scope,
                fingerprint = %key.fingerprint,
                "handler dropped mid-body outside a Tokio runtime; its claim will expire with its lease"
            );
            return;
        };
        let store = self.clone();
        let scope = key.scope.to_owned();
        let fingerprint = key.fingerprint;
        runtime.spawn(async move {
            let key = Key::new(&scope, fingerprint);
            if let Err(err) = store.release(key, owner).await {
                tracing::warn!(
                    target: "dedup",
                    store = store.name(),
                    scope = key.scope,
                    fingerprint = %key.fingerprint,
                    error = %err,
                    "could not release the claim of a dropped handler; it will expire with its lease"
                );
            }
        });
    }
}

/// A [`Store`] that can also answer synchronously, for plain (non-`async`) handlers.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot serve a synchronous handler",
    label = "this store has no blocking API",
    note = "make the handler an `async fn`, or use a store that implements `BlockingStore` (`MemoryStore`, `RedisStore`)"
)]
pub trait BlockingStore: Store {
    /// [`Store::claim`], blocking.
    fn claim_blocking(
        &self,
        key: Key<'_>,
        request: &ClaimRequest<'_>,
    ) -> Result<ClaimOutcome, Error>;

    /// [`Store::complete`], blocking.
    fn complete_blocking(
        &self,
        key: Key<'_>,
        owner: OwnerToken,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), Error>;

    /// [`Store::release`], blocking.
    fn release_blocking(&self, key: Key<'_>, owner: OwnerToken) -> Result<bool, Error>;

    /// [`Store::store`], blocking.
    fn store_blocking(&self, key: Key<'_>, value: &[u8], expire: Duration) -> Result<(), Error>;

    /// [`Store::get`], blocking.
    fn get_blocking(&self, key: Key<'_>) -> Result<Option<Record>, Error>;

    /// [`Store::contains`], blocking.
    fn contains_blocking(&self, key: Key<'_>) -> Result<bool, Error> {
        Ok(self.get_blocking(key)?.is_some())
    }

    /// [`Store::purge_expired`], blocking.
    fn purge_expired_blocking(&self) -> Result<u64, Error> {
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::OwnerToken;

    #[test]
    fn owner_tokens_keep_the_u128_form_and_order() {
        for value in [
            0,
            1,
            u128::from(u64::MAX),
            u128::from(u64::MAX) + 1,
            u128::MAX,
        ] {
            assert_eq!(OwnerToken::from_u128(value).as_u128(), value);
        }
        let (low, high) = (
            OwnerToken::from_u128(u128::from(u64::MAX)),
            OwnerToken::from_u128(u128::from(u64::MAX) + 1),
        );
        assert!(low < high);
        assert_eq!(high.to_string(), "00000000000000010000000000000000");
        assert_eq!(high.to_string().parse::<OwnerToken>().unwrap(), high);
    }

    #[test]
    fn owner_tokens_are_unique_across_threads() {
        let tokens: Vec<OwnerToken> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        (0..10_000)
                            .map(|_| OwnerToken::random())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            threads
                .into_iter()
                .flat_map(|t| t.join().unwrap())
                .collect()
        });
        let distinct: std::collections::HashSet<_> = tokens.iter().collect();
        assert_eq!(distinct.len(), tokens.len());
    }
}
