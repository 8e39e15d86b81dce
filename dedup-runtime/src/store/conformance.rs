//! The conformance suite every [`Store`] must pass: memory, Redis, SQL, and third-party stores.
//!
//! Enable the `test-util` feature and call [`conformance_tests!`](crate::conformance_tests) in a
//! test file: it expands to one `#[tokio::test]` per case, each on a fresh store from your
//! factory (give each its own key prefix, table or schema so the cases run in parallel).
//!
//! ```ignore
//! dedup_runtime::conformance_tests!(
//!     store = async { MyStore::connect(&unique_prefix()).await.unwrap() },
//!     time = dedup_runtime::store::conformance::RealTime,
//! );
//! ```
//!
//! Expiry cases move time with a [`Time`]: [`RealTime`] sleeps (stores whose clock is a
//! server's), [`ManualTime`] advances a [`ManualClock`](super::ManualClock) (no sleeping).
//! [`Blocking`] runs the same suite through a store's [`BlockingStore`] API.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::{
    BlockingStore, ClaimOutcome, ClaimRequest, Key, OwnerToken, Record, RecordState, Store,
};
use crate::{Digest, Error};

/// Moves the clock a store judges expiry by.
pub trait Time: Send + Sync {
    /// Lets at least `by` pass on the store's clock.
    fn advance(&self, by: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// Real time: sleeps `by` plus a generous margin, for stores whose server owns the clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealTime;

impl Time for RealTime {
    fn advance(&self, by: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        // The margin absorbs a loaded machine and server-side expiry granularity.
        Box::pin(tokio::time::sleep(by * 2 + Duration::from_millis(250)))
    }
}

/// Virtual time on a [`ManualClock`](super::ManualClock).
#[cfg(feature = "memory")]
#[derive(Debug, Clone, Default)]
pub struct ManualTime(pub super::ManualClock);

#[cfg(feature = "memory")]
impl Time for ManualTime {
    fn advance(&self, by: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        self.0.advance(by);
        Box::pin(async {})
    }
}

/// Serves a [`BlockingStore`]'s blocking API through the async trait, so that the one suite
/// checks both. Only for tests: it blocks the executor thread.
#[derive(Debug, Clone)]
pub struct Blocking<S>(pub S);

impl<S: BlockingStore> Store for Blocking<S> {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    async fn claim(&self, key: Key<'_>, request: &ClaimRequest<'_>) -> Result<ClaimOutcome, Error> {
        self.0.claim_blocking(key, request)
    }
    async fn complete(
        &self,
        key: Key<'_>,
        owner: OwnerToken,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), Error> {
        self.0.complete_blocking(key, owner, value, ttl)
    }
    async fn release(&self, key: Key<'_>, owner: OwnerToken) -> Result<bool, Error> {
        self.0.release_blocking(key, owner)
    }
    async fn store(&self, key: Key<'_>, value: &[u8], expire: Duration) -> Result<(), Error> {
        self.0.store_blocking(key, value, expire)
    }
    async fn get(&self, key: Key<'_>) -> Result<Option<Record>, Error> {
        self.0.get_blocking(key)
    }
    async fn contains(&self, key: Key<'_>) -> Result<bool, Error> {
        self.0.contains_blocking(key)
    }
    async fn purge_expired(&self) -> Result<u64, Error> {
        self.0.purge_expired_blocking()
    }
}

/// A distinct fingerprint per case and index, so cases never share a key by accident.
pub fn fingerprint(case: &str, index: u64) -> Digest {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    hasher.update(case.as_bytes());
    hasher.update(index.to_be_bytes());
    Digest::from_bytes(hasher.finalize().into())
}

const SCOPE: &str = "conformance";
const LONG: Duration = Duration::from_secs(600);
/// Short enough to wait out in real time, long enough for a slow round trip before it ends.
const SHORT: Duration = Duration::from_millis(600);

fn request(owner: OwnerToken, lease: Duration) -> ClaimRequest<'static> {
    ClaimRequest {
        owner,
        lease,
        correlation: None,
        payload: None,
    }
}

async fn claim<S: Store>(
    store: &S,
    key: Key<'_>,
    owner: OwnerToken,
    lease: Duration,
) -> ClaimOutcome {
    store
        .claim(key, &request(owner, lease))
        .await
        .expect("claim failed")
}

fn expect_existing(outcome: ClaimOutcome) -> Record {
    match outcome {
        ClaimOutcome::Existing(record) => record,
        ClaimOutcome::Acquired => panic!("expected an existing record, the claim was acquired"),
    }
}

/// A claim on an absent key is acquired, and the record is in progress, owned by the claimant,
/// with the correlation id and payload fingerprint kept for audit.
pub async fn claim_absent_acquires<S: Store>(store: S, _time: &dyn Time) {
    let key = Key::new(SCOPE, fingerprint("claim_absent_acquires", 0));
    let owner = OwnerToken::random();
    let payload = fingerprint("payload", 0);
    let req = ClaimRequest {
        owner,
        lease: LONG,
        correlation: Some("corr-1"),
        payload: Some(payload),
    };
    assert_eq!(
        store.claim(key, &req).await.unwrap(),
        ClaimOutcome::Acquired
    );
    let record = store
        .get(key)
        .await
        .unwrap()
        .expect("the claim left no record");
    assert_eq!(record.state, RecordState::InProgress { owner });
    assert_eq!(record.correlation.as_deref(), Some("corr-1"));
    assert_eq!(record.payload, Some(payload));
    if let Some(left) = record.expires_in {
        assert!(
            left <= LONG,
            "the lease left ({left:?}) exceeds the lease given"
        );
    }
    assert!(store.contains(key).await.unwrap());
}

/// Of many concurrent claims on one key exactly one is acquired; every other learns the winner.
pub async fn concurrent_claims_elect_one<S: Store>(store: S, _time: &dyn Time) {
    let key_fp = fingerprint("concurrent_claims_elect_one", 0);
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let owner = OwnerToken::random();
                let outcome = claim(&store, Key::new(SCOPE, key_fp), owner, LONG).await;
                (owner, outcome)
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut seen_owners = Vec::new();
    for task in tasks {
        let (owner, outcome) = task.await.expect("a claim task panicked");
        match outcome {
            ClaimOutcome::Acquired => winners.push(owner),
            ClaimOutcome::Existing(record) => match record.state {
                RecordState::InProgress { owner } => seen_owners.push(owner),
                RecordState::Completed { .. } => {
                    panic!("nobody completed, yet a record is completed")
                }
            },
        }
    }
    assert_eq!(winners.len(), 1, "exactly one concurrent claim must win");
    assert!(
        seen_owners.iter().all(|o| *o == winners[0]),
        "losers must see the winner's claim"
    );
}

/// A claim on a key in progress within its lease returns the record and changes nothing.
pub async fn claim_in_progress_returns_record<S: Store>(store: S, _time: &dyn Time) {
    let key = Key::new(SCOPE, fingerprint("claim_in_progress_returns_record", 0));
    let first = OwnerToken::random();
    assert_eq!(
        claim(&store, key, first, LONG).await,
        ClaimOutcome::Acquired
    );
    let record = expect_existing(claim(&store, key, OwnerToken::random(), LONG).await);
    assert_eq!(record.state, RecordState::InProgress { owner: first });
    if let Some(left) = record.expires_in {
        assert!(left > Duration::ZERO && left <= LONG);
    }
    let again = store.get(key).await.unwrap().unwrap();
    assert_eq!(again.state, RecordState::InProgress { owner: first });
}

/// Completed values replay byte for byte, including the empty value and a large one.
pub async fn complete_then_replay<S: Store>(store: S, _time: &dyn Time) {
    let large: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let values: [&[u8]; 5] = [b"", b"null", b"0", b"\"\"", &large];
    for (i, value) in values.iter().enumerate() {
        let key = Key::new(SCOPE, fingerprint("complete_then_replay", i as u64));
        let owner = OwnerToken::random();
        assert_eq!(
            claim(&store, key, owner, LONG).await,
            ClaimOutcome::Acquired
        );
        store.complete(key, owner, value, LONG).await.unwrap();
        let record = expect_existing(claim(&store, key, OwnerToken::random(), LONG).await);
        assert_eq!(
            record.state,
            RecordState::Completed {
                value: value.to_vec()
            }
        );
        let got = store.get(key).await.unwrap().unwrap();
        assert_eq!(
            got.state,
            RecordState::Completed {
                value: value.to_vec()
            }
        );
    }
}

/// Completion keeps the correlation id and payload of the claim.
pub async fn complete_keeps_audit_fields<S: Store>(store: S, _time: &dyn Time) {
    let key = Key::new(SCOPE, fingerprint("complete_keeps_audit_fields", 0));
    let owner = OwnerToken::random();
    let payload = fingerprint("payload", 1);
    let req = ClaimRequest {
        owner,
        lease: LONG,
        correlation: Some("first-corr"),
        payload: Some(payload),
    };
    assert_eq!(
        store.claim(key, &req).await.unwrap(),
        ClaimOutcome::Acquired
    );
    store.complete(key, owner, b"42", LONG).await.unwrap();
    let record = store.get(key).await.unwrap().unwrap();
    assert!(record.is_completed());
    assert_eq!(record.correlation.as_deref(), Some("first-corr"));
    assert_eq!(record.payload, Some(payload));
}

/// Releasing lets the next delivery claim again.
pub async fn release_allows_reclaim<S: Store>(store: S, _time: &dyn Time) {
    let key = Key::new(SCOPE, fingerprint("release_allows_reclaim", 0));
    let owner = OwnerToken::random();
    assert_eq!(
        claim(&store, key, owner, LONG).await,
        ClaimOutcome::Acquired
    );
    assert!(store.release(key, owner).await.unwrap());
    assert!(store.get(key).await.unwrap().is_none());
    assert!(!store.contains(key).await.unwrap());
    assert_eq!(
        claim(&store, key, OwnerToken::random(), LONG).await,
        ClaimOutcome::Acquired
    );
}

/// Another owner can neither release nor complete a live claim; the record is untouched.
pub async fn strangers_are_fenced<S: Store>(store: S, _time: &dyn Time) {
    let key = Key::new(SCOPE, fingerprint("strangers_are_fenced", 0));
    let owner = OwnerToken::random();
    let stranger = OwnerToken::random();
    assert_eq!(
        claim(&store, key, owner, LONG).await,
        ClaimOutcome::Acquired
    );
    assert!(!store.release(key, stranger).await.unwrap());
    let err = store.complete(key, stranger, b"1", LONG).await.unwrap_err();
    assert!(matches!(err, Error::LeaseLost { .. }), "got {err:?}");
    let record = store.get(key).await.unwrap().unwrap();
    assert_eq!(record.state, RecordState::InProgress { owner });
    // A completed record cannot be released or completed again by anyone, its owner included.
    store.complete(key, owner, b"2", LONG).await.unwrap();
    assert!(!store.release(key, owner).await.unwrap());
    let err = store.complete(key, stranger, b"3", LONG).await.unwrap_err();
    assert!(matches!(err, Error::LeaseLost { .. }), "got {err:?}");
    let record = store.get(key).await.unwrap().unwrap();
    assert_eq!(
        record.state,
        RecordState::Completed {
            value: b"2".to_vec()
        }
    );
}

/// When the lease runs out a redelivery takes over; the stale owner's complete fails and its
/// release changes nothing.
pub async fn lease_expiry_allows_takeover<S: Store>(store: S, time: &dyn Time) {
    let key = Key::new(SCOPE, fingerprint("lease_expiry_allows_takeover", 0));
    let stale = OwnerToken::random();
    assert_eq!(
        claim(&store, key, stale, SHORT).await,
        ClaimOutcome::Acquired
    );
    time.advance(SHORT).await;
    let fresh = OwnerToken::random();
    assert_eq!(
        claim(&store, key, fresh, LONG).await,
        ClaimOutcome::Acquired
    );
    let err = store
        .complete(key, stale, b"stale", LONG)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::LeaseLost { .. }), "got {err:?}");
    assert!(!store.release(key, stale).await.unwrap());
    let record = store.get(key).await.unwrap().unwrap();
    assert_eq!(record.state, RecordState::InProgress { owner: fresh });
    store.complete(key, fresh, b"fresh", LONG).await.unwrap();
    let record = store.get(key).await.unwrap().unwrap();
    assert_eq!(
        record.state,
        RecordState::Completed {
            value: b"fresh".to_vec()
        }
    );
}

/// An owner whose lease ran out may still complete when nobody took the claim over.
pub async fn late_complete_without_takeover_succeeds<S: Store>(store: S, time: &dyn Time) {
    let key = Key::new(
        SCOPE,
        fingerprint("late_complete_without_takeover_succeeds", 0),
    );
    let owner = OwnerToken::random();
    assert_eq!(
        claim(&store, key, owner, SHORT).await,
        ClaimOutcome::Acquired
    );
    time.advance(SHORT).await;
    store.complete(key, owner, b"late", LONG).await.unwrap();
    let record = expect_existing(claim(&store, key, OwnerToken::random(), LONG).await);
    assert_eq!(
        record.state,
        RecordState::Completed {
            value: b"late".to_vec()
        }
    );
}

/// After its ttl a completed message is new again.
pub async fn ttl_expiry_makes_message_new<S: Store>(store: S, time: &dyn Time) {
    let key = Key::new(SCOPE, fingerprint("ttl_expiry_makes_message_new", 0));
    let owner = OwnerToken::random();
    assert_eq!(
        claim(&store, key, owner, LONG).await,
        ClaimOutcome::Acquired
    );
    store.complete(key, owner, b"v", SHORT).await.unwrap();
    assert!(store.contains(key).await.unwrap());
    time.advance(SHORT).await;
    assert!(
        store.get(key).await.unwrap().is_none(),
        "an expired record must read as absent"
    );
    assert!(!store.contains(key).await.unwrap());
    assert_eq!(
        claim(&store, key, OwnerToken::random(), LONG).await,
        ClaimOutcome::Acquired
    );
}

/// Scopes are independent: each processes a message once.
pub async fn scopes_are_independent<S: Store>(store: S, _time: &dyn Time) {
    let fp = fingerprint("scopes_are_independent", 0);
    let a = Key::new("conformance.a", fp);
    let b = Key::new("conformance.b", fp);
    let owner_a = OwnerToken::random();
    assert_eq!(
        claim(&store, a, owner_a, LONG).await,
        ClaimOutcome::Acquired
    );
    assert_eq!(
        claim(&store, b, OwnerToken::random(), LONG).await,
        ClaimOutcome::Acquired
    );
    store.complete(a, owner_a, b"a", LONG).await.unwrap();
    let record_b = store.get(b).await.unwrap().unwrap();
    assert!(
        !record_b.is_completed(),
        "completing in one scope must not touch another"
    );
}

/// The classic cache operations: `store`, `get`, `contains`; `store` overwrites what was there.
pub async fn store_get_contains<S: Store>(store: S, time: &dyn Time) {
    let key = Key::new(SCOPE, fingerprint("store_get_contains", 0));
    assert!(store.get(key).await.unwrap().is_none());
    assert!(!store.contains(key).await.unwrap());
    store.store(key, b"cached", LONG).await.unwrap();
    assert!(store.contains(key).await.unwrap());
    let record = store.get(key).await.unwrap().unwrap();
    assert_eq!(
        record.state,
        RecordState::Completed {
            value: b"cached".to_vec()
        }
    );
    // A duplicate claim replays what `store` recorded.
    let record = expect_existing(claim(&store, key, OwnerToken::random(), LONG).await);
    assert_eq!(
        record.state,
        RecordState::Completed {
            value: b"cached".to_vec()
        }
    );

    let overwritten = Key::new(SCOPE, fingerprint("store_get_contains", 1));
    assert_eq!(
        claim(&store, overwritten, OwnerToken::random(), LONG).await,
        ClaimOutcome::Acquired
    );
    store.store(overwritten, b"forced", SHORT).await.unwrap();
    let record = store.get(overwritten).await.unwrap().unwrap();
    assert_eq!(
        record.state,
        RecordState::Completed {
            value: b"forced".to_vec()
        }
    );
    time.advance(SHORT).await;
    assert!(
        !store.contains(overwritten).await.unwrap(),
        "`store` must honour its expiry"
    );
}

/// `purge_expired` deletes only expired records and never more than there are.
pub async fn purge_keeps_live_records<S: Store>(store: S, time: &dyn Time) {
    let live = Key::new(SCOPE, fingerprint("purge_keeps_live_records", 0));
    let claimed = Key::new(SCOPE, fingerprint("purge_keeps_live_records", 1));
    let expiring: Vec<Digest> = (2..6)
        .map(|i| fingerprint("purge_keeps_live_records", i))
        .collect();
    store.store(live, b"live", LONG).await.unwrap();
    let owner = OwnerToken::random();
    assert_eq!(
        claim(&store, claimed, owner, LONG).await,
        ClaimOutcome::Acquired
    );
    for fp in &expiring {
        store
            .store(Key::new(SCOPE, *fp), b"old", SHORT)
            .await
            .unwrap();
    }
    time.advance(SHORT).await;
    let purged = store.purge_expired().await.unwrap();
    assert!(
        purged <= expiring.len() as u64,
        "purged {purged} records, only {} had expired",
        expiring.len()
    );
    assert!(store.contains(live).await.unwrap());
    let record = store.get(claimed).await.unwrap().unwrap();
    assert_eq!(record.state, RecordState::InProgress { owner });
    for fp in &expiring {
        assert!(!store.contains(Key::new(SCOPE, *fp)).await.unwrap());
    }
}

/// Many distinct messages claimed at once are all acquired, and each completes.
pub async fn many_distinct_messages<S: Store>(store: S, _time: &dyn Time) {
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..200u64)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let key = Key::new(SCOPE, fingerprint("many_distinct_messages", i));
                let owner = OwnerToken::random();
                let outcome = claim(&*store, key, owner, LONG).await;
                assert_eq!(outcome, ClaimOutcome::Acquired, "message {i}");
                store
                    .complete(key, owner, &i.to_be_bytes(), LONG)
                    .await
                    .unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a task panicked");
    }
    for i in 0..200u64 {
        let key = Key::new(SCOPE, fingerprint("many_distinct_messages", i));
        let record = store.get(key).await.unwrap().unwrap();
        assert_eq!(
            record.state,
            RecordState::Completed {
                value: i.to_be_bytes().to_vec()
            }
        );
    }
}

/// Expands to one `#[tokio::test]` per conformance case.
///
/// `store = <async expr>` must yield a fresh, isolated store each time it is evaluated;
/// `time = <expr>` is a [`Time`](crate::store::conformance::Time) (`RealTime` or `ManualTime`).
/// To build the store and the clock together, use `setup = <async expr yielding (store, time)>`.
#[macro_export]
macro_rules! conformance_tests {
    (store = $store:expr, time = $time:expr $(,)?) => {
        $crate::conformance_tests!(setup = async { ($store.await, $time) });
    };
    (setup = $setup:expr $(,)?) => {
        $crate::conformance_tests!(@cases $setup;
            claim_absent_acquires,
            concurrent_claims_elect_one,
            claim_in_progress_returns_record,
            complete_then_replay,
            complete_keeps_audit_fields,
            release_allows_reclaim,
            strangers_are_fenced,
            lease_expiry_allows_takeover,
            late_complete_without_takeover_succeeds,
            ttl_expiry_makes_message_new,
            scopes_are_independent,
            store_get_contains,
            purge_keeps_live_records,
            many_distinct_messages,
        );
    };
    (@cases $setup:expr; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (store, time) = $setup.await;
                $crate::store::conformance::$case(store, &time).await;
            }
        )*
    };
}
