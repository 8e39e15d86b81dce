//! Store and codec trouble under `#[idempotent]`, sync and async: always a clear `Err` built from
//! `dedup_runtime::Error`, and never a body run without a claim.

mod idempotent_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use dedup_runtime::store::{
    BlockingStore, ClaimOutcome, ClaimRequest, Key, ManualClock, MemoryStore, OwnerToken, Record,
    Store,
};
use dedup_runtime::{Error, Fingerprint, idempotent};
use idempotent_support::{HandlerError, manual_store};

/// A memory store whose claims or completions fail on demand, as a lost connection would.
#[derive(Debug, Clone)]
struct Flaky {
    inner: MemoryStore,
    fail_claim: Arc<AtomicBool>,
    fail_complete: Arc<AtomicBool>,
}

impl Flaky {
    fn check(flag: &AtomicBool, op: &str) -> Result<(), Error> {
        if flag.load(Ordering::SeqCst) {
            return Err(Error::store("flaky", format!("{op}: connection refused")));
        }
        Ok(())
    }
}

impl Store for Flaky {
    fn name(&self) -> &'static str {
        "flaky"
    }

    async fn claim(&self, key: Key<'_>, request: &ClaimRequest<'_>) -> Result<ClaimOutcome, Error> {
        Flaky::check(&self.fail_claim, "claim")?;
        self.inner.claim(key, request).await
    }

    async fn complete(
        &self,
        key: Key<'_>,
        owner: OwnerToken,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), Error> {
        Flaky::check(&self.fail_complete, "complete")?;
        self.inner.complete(key, owner, value, ttl).await
    }

    async fn release(&self, key: Key<'_>, owner: OwnerToken) -> Result<bool, Error> {
        self.inner.release(key, owner).await
    }

    async fn store(&self, key: Key<'_>, value: &[u8], expire: Duration) -> Result<(), Error> {
        self.inner.store(key, value, expire).await
    }

    async fn get(&self, key: Key<'_>) -> Result<Option<Record>, Error> {
        self.inner.get(key).await
    }
}

impl BlockingStore for Flaky {
    fn claim_blocking(
        &self,
        key: Key<'_>,
        request: &ClaimRequest<'_>,
    ) -> Result<ClaimOutcome, Error> {
        Flaky::check(&self.fail_claim, "claim")?;
        self.inner.claim_blocking(key, request)
    }

    fn complete_blocking(
        &self,
        key: Key<'_>,
        owner: OwnerToken,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), Error> {
        Flaky::check(&self.fail_complete, "complete")?;
        self.inner.complete_blocking(key, owner, value, ttl)
    }

    fn release_blocking(&self, key: Key<'_>, owner: OwnerToken) -> Result<bool, Error> {
        self.inner.release_blocking(key, owner)
    }

    fn store_blocking(&self, key: Key<'_>, value: &[u8], expire: Duration) -> Result<(), Error> {
        self.inner.store_blocking(key, value, expire)
    }

    fn get_blocking(&self, key: Key<'_>) -> Result<Option<Record>, Error> {
        self.inner.get_blocking(key)
    }
}

struct Consumer {
    store: Flaky,
    _clock: ManualClock,
    runs: AtomicU32,
}

impl Consumer {
    fn new() -> Self {
        let (inner, clock) = manual_store();
        Consumer {
            store: Flaky {
                inner,
                fail_claim: Arc::default(),
                fail_complete: Arc::default(),
            },
            _clock: clock,
            runs: AtomicU32::new(0),
        }
    }

    fn runs(&self) -> u32 {
        self.runs.load(Ordering::SeqCst)
    }

    fn run(&self) -> u32 {
        self.runs.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn record(&self, scope: &str, id: u64) -> Option<Record> {
        self.store
            .get_blocking(Key::new(scope, id.fingerprint()))
            .unwrap()
    }

    /// Puts `value` in the store as the completed result of `id`, as an older release would have.
    fn plant(&self, scope: &str, id: u64, value: &[u8]) {
        self.store
            .store_blocking(
                Key::new(scope, id.fingerprint()),
                value,
                Duration::from_secs(60),
            )
            .unwrap();
    }

    #[idempotent(store = self.store, scope = "failures.count")]
    fn count(&self, id: u64) -> Result<u32, HandlerError> {
        let _ = id;
        Ok(self.run())
    }

    #[idempotent(store = self.store, scope = "failures.count_async")]
    async fn count_async(&self, id: u64) -> Result<u32, HandlerError> {
        let _ = id;
        Ok(self.run())
    }

    #[idempotent(store = self.store, scope = "failures.nan")]
    fn nan(&self, id: u64) -> Result<Vec<f64>, HandlerError> {
        let _ = id;
        Ok(if self.run() == 1 {
            vec![1.0, f64::NAN]
        } else {
            vec![1.0]
        })
    }

    #[idempotent(store = self.store, scope = "failures.nan_async")]
    async fn nan_async(&self, id: u64) -> Result<Vec<f64>, HandlerError> {
        let _ = id;
        Ok(if self.run() == 1 {
            vec![1.0, f64::NAN]
        } else {
            vec![1.0]
        })
    }

    #[idempotent(store = self.store, scope = "failures.deep")]
    fn deep(&self, message: &serde_json::Value) -> Result<u32, HandlerError> {
        let _ = message;
        Ok(self.run())
    }

    #[idempotent(store = self.store, scope = "failures.deep_async")]
    async fn deep_async(&self, message: &serde_json::Value) -> Result<u32, HandlerError> {
        let _ = message;
        Ok(self.run())
    }
}

// The store cannot be reached: the body never runs without a claim.

#[test]
fn a_failing_claim_is_an_error_and_the_body_does_not_run() {
    let c = Consumer::new();
    c.store.fail_claim.store(true, Ordering::SeqCst);
    let err = c.count(1).unwrap_err().dedup();
    assert!(err.is_store_unavailable(), "{err:?}");
    assert!(matches!(err, Error::Store { store: "flaky", .. }));
    assert_eq!(c.runs(), 0);

    c.store.fail_claim.store(false, Ordering::SeqCst);
    assert_eq!(c.count(1).unwrap(), 1);
}

#[tokio::test]
async fn a_failing_claim_is_an_error_and_the_body_does_not_run_async() {
    let c = Consumer::new();
    c.store.fail_claim.store(true, Ordering::SeqCst);
    let err = c.count_async(1).await.unwrap_err().dedup();
    assert!(
        matches!(err, Error::Store { store: "flaky", .. }),
        "{err:?}"
    );
    assert_eq!(c.runs(), 0);

    c.store.fail_claim.store(false, Ordering::SeqCst);
    assert_eq!(c.count_async(1).await.unwrap(), 1);
}

// The completion cannot be recorded: the delivery must not be acknowledged, and the claim is
// released so that the redelivery runs again instead of waiting for the lease.

#[test]
fn a_completion_that_cannot_be_recorded_is_an_error() {
    let c = Consumer::new();
    c.store.fail_complete.store(true, Ordering::SeqCst);
    let err = c.count(2).unwrap_err().dedup();
    assert!(
        matches!(err, Error::Store { store: "flaky", .. }),
        "{err:?}"
    );
    assert_eq!(c.runs(), 1, "the body ran");
    assert!(c.record("failures.count", 2).is_none(), "claim released");

    c.store.fail_complete.store(false, Ordering::SeqCst);
    assert_eq!(c.count(2).unwrap(), 2, "the redelivery runs again");
    assert_eq!(c.count(2).unwrap(), 2);
}

#[tokio::test]
async fn a_completion_that_cannot_be_recorded_is_an_error_async() {
    let c = Consumer::new();
    c.store.fail_complete.store(true, Ordering::SeqCst);
    let err = c.count_async(2).await.unwrap_err().dedup();
    assert!(
        matches!(err, Error::Store { store: "flaky", .. }),
        "{err:?}"
    );
    assert_eq!(c.runs(), 1, "the body ran");
    assert!(
        c.record("failures.count_async", 2).is_none(),
        "claim released"
    );

    c.store.fail_complete.store(false, Ordering::SeqCst);
    assert_eq!(
        c.count_async(2).await.unwrap(),
        2,
        "the redelivery runs again"
    );
}

// A stored value that no longer decodes (the return type changed between releases).

#[test]
fn a_stored_value_of_another_type_is_a_decode_error() {
    let c = Consumer::new();
    c.plant("failures.count", 3, br#""a string, not a u32""#);
    let err = c.count(3).unwrap_err().dedup();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    assert_eq!(c.runs(), 0, "never a silent default, never a second run");
}

#[test]
fn a_corrupt_stored_value_is_a_decode_error() {
    let c = Consumer::new();
    c.plant("failures.count", 4, b"{not json");
    let err = c.count(4).unwrap_err().dedup();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    assert_eq!(c.runs(), 0);
}

#[tokio::test]
async fn a_stored_value_of_another_type_is_a_decode_error_async() {
    let c = Consumer::new();
    c.plant("failures.count_async", 3, br#"{"charge_id": 7}"#);
    let err = c.count_async(3).await.unwrap_err().dedup();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    c.plant("failures.count_async", 4, b"");
    let err = c.count_async(4).await.unwrap_err().dedup();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    assert_eq!(c.runs(), 0);
}

// An `Ok` value that would not come back equal.

#[test]
fn an_ok_value_that_cannot_be_encoded_is_an_error_and_the_claim_is_released() {
    let c = Consumer::new();
    let err = c.nan(5).unwrap_err().dedup();
    assert!(matches!(err, Error::Encode { .. }), "{err:?}");
    assert!(c.record("failures.nan", 5).is_none(), "claim released");
    assert_eq!(c.nan(5).unwrap(), vec![1.0]);
    assert_eq!(c.runs(), 2);
}

#[tokio::test]
async fn an_ok_value_that_cannot_be_encoded_is_an_error_and_the_claim_is_released_async() {
    let c = Consumer::new();
    let err = c.nan_async(5).await.unwrap_err().dedup();
    assert!(matches!(err, Error::Encode { .. }), "{err:?}");
    assert!(
        c.record("failures.nan_async", 5).is_none(),
        "claim released"
    );
    assert_eq!(c.nan_async(5).await.unwrap(), vec![1.0]);
    assert_eq!(c.runs(), 2);
}

// A key without a fingerprint: nothing is claimed, the body does not run.

fn too_deep() -> serde_json::Value {
    (0..dedup_runtime::fingerprint::MAX_DEPTH + 8).fold(serde_json::Value::Null, |inner, _| {
        serde_json::Value::Array(vec![inner])
    })
}

#[test]
fn a_key_without_a_fingerprint_is_an_error_and_the_body_does_not_run() {
    let c = Consumer::new();
    let err = c.deep(&too_deep()).unwrap_err().dedup();
    assert!(matches!(err, Error::Fingerprint(_)), "{err:?}");
    assert_eq!(c.runs(), 0);
    assert!(c.store.inner.is_empty());
}

#[tokio::test]
async fn a_key_without_a_fingerprint_is_an_error_and_the_body_does_not_run_async() {
    let c = Consumer::new();
    let err = c.deep_async(&too_deep()).await.unwrap_err().dedup();
    assert!(matches!(err, Error::Fingerprint(_)), "{err:?}");
    assert_eq!(c.runs(), 0);
    assert!(c.store.inner.is_empty());
}
