//! `#[idempotent]` on an `async fn`: the matrix of `idempotent_sync.rs`, plus what only futures
//! can do (being dropped mid-body). Time is a `ManualClock`: nothing sleeps.

mod idempotent_support;

use std::pin::pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use dedup_runtime::store::{
    ClaimOutcome, ClaimRequest, Key, ManualClock, MemoryStore, OwnerToken, Record, Store,
};
use dedup_runtime::{Error, Fingerprint, idempotent};
use futures_util::FutureExt as _;
use idempotent_support::{HandlerError, Receipt, capture_traces, manual_store, poll_once, ready};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;

/// Lets a test hold a body in flight: the body says it started, then waits for the release.
struct Gate {
    started: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

/// The test's side of a [`Gate`].
struct GateHandle {
    started: oneshot::Receiver<()>,
    release: oneshot::Sender<()>,
}

#[derive(Debug, Serialize, Fingerprint)]
#[fingerprint(namespace = "tests.Order.v1")]
struct Order {
    id: u64,
    #[fingerprint(skip)]
    correlation_id: String,
}

/// Generic over its store, to run the dropped-future tests on a store that keeps the default
/// `release_detached`.
struct Consumer<S> {
    store: S,
    clock: ManualClock,
    runs: AtomicU32,
    /// Taken by the next run of `handle`, which then waits on it.
    gate: Mutex<Option<Gate>>,
}

impl Consumer<MemoryStore> {
    fn new() -> Self {
        let (store, clock) = manual_store();
        Consumer::with(store, clock)
    }
}

impl<S: Store> Consumer<S> {
    fn with(store: S, clock: ManualClock) -> Self {
        Consumer {
            store,
            clock,
            runs: AtomicU32::new(0),
            gate: Mutex::new(None),
        }
    }

    fn runs(&self) -> u32 {
        self.runs.load(Ordering::SeqCst)
    }

    fn run(&self) -> u32 {
        self.runs.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn hold_next_run(&self) -> GateHandle {
        let (started_tx, started_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        *self.gate.lock().unwrap() = Some(Gate {
            started: started_tx,
            release: release_rx,
        });
        GateHandle {
            started: started_rx,
            release: release_tx,
        }
    }

    async fn record(&self, scope: &str, id: u64) -> Option<Record> {
        self.store
            .get(Key::new(scope, id.fingerprint()))
            .await
            .unwrap()
    }

    #[idempotent(store = self.store, scope = "async.handle")]
    async fn handle(&self, id: u64) -> Result<String, HandlerError> {
        let run = self.run();
        let gate = self.gate.lock().unwrap().take();
        if let Some(gate) = gate {
            gate.started.send(()).unwrap();
            // A dropped sender (the test gave up on this run) ends the wait too.
            let _ = gate.release.await;
        }
        Ok(format!("order {id}, run {run}"))
    }

    #[idempotent(store = self.store, scope = "async.echo", key = id)]
    async fn echo<T: Serialize + DeserializeOwned>(
        &self,
        id: u64,
        value: T,
    ) -> Result<T, HandlerError> {
        self.run();
        tokio::task::yield_now().await;
        Ok(value)
    }

    #[idempotent(store = self.store, scope = "async.charge", correlation = order.correlation_id.as_str())]
    async fn charge(&self, order: &Order) -> Result<Receipt, HandlerError> {
        let run = self.run();
        Ok(Receipt {
            order_id: order.id,
            charge_id: format!("ch_{run}"),
        })
    }

    #[idempotent(store = self.store, scope = "async.fail_first")]
    async fn fail_first(&self, id: u64) -> Result<u64, HandlerError> {
        if self.run() == 1 {
            return Err(HandlerError::Failed(format!("provider timed out for {id}")));
        }
        Ok(id)
    }

    #[idempotent(store = self.store, scope = "async.panic_first")]
    async fn panic_first(&self, id: u64) -> Result<u64, HandlerError> {
        tokio::task::yield_now().await;
        if self.run() == 1 {
            panic!("the body panicked");
        }
        Ok(id)
    }

    #[idempotent(store = self.store, scope = "async.short_lived", ttl = "1h")]
    async fn short_lived(&self, id: u64) -> Result<u32, HandlerError> {
        let _ = id;
        Ok(self.run())
    }
}

// 1. First delivery

#[tokio::test]
async fn the_first_delivery_runs_the_body_and_records_its_ok_value() {
    let c = Consumer::new();
    assert_eq!(c.handle(7).await.unwrap(), "order 7, run 1");
    assert_eq!(c.runs(), 1);
    assert!(c.record("async.handle", 7).await.unwrap().is_completed());
}

#[tokio::test]
async fn distinct_messages_each_run_once() {
    let c = Consumer::new();
    assert_eq!(c.handle(1).await.unwrap(), "order 1, run 1");
    assert_eq!(c.handle(2).await.unwrap(), "order 2, run 2");
    assert_eq!(c.handle(1).await.unwrap(), "order 1, run 1");
    assert_eq!(c.handle(2).await.unwrap(), "order 2, run 2");
    assert_eq!(c.runs(), 2);
}

/// Replays `first` under `id`, then checks that a duplicate gets it back, although its own body
/// would have returned `other`.
async fn assert_replays<T>(c: &Consumer<MemoryStore>, id: u64, first: T, other: T)
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug + Clone,
{
    let runs = c.runs();
    assert_eq!(c.echo(id, first.clone()).await.unwrap(), first);
    assert_eq!(
        c.echo(id, other).await.unwrap(),
        first,
        "a duplicate replays the first value"
    );
    assert_eq!(c.runs(), runs + 1, "the duplicate's body did not run");
}

#[tokio::test]
async fn the_replay_is_type_faithful() {
    let c = Consumer::new();
    assert_replays(&c, 1, (), ()).await;
    assert_replays(&c, 2, 0_u64, 5).await;
    assert_replays(&c, 3, String::new(), "other".to_owned()).await;
    assert_replays(&c, 4, Vec::<u8>::new(), vec![1, 2, 3]).await;
    let receipt = |charge_id: &str| Receipt {
        order_id: 5,
        charge_id: charge_id.into(),
    };
    assert_replays(&c, 5, receipt("ch_1"), receipt("ch_2")).await;
    assert_replays(&c, 6, Option::<u32>::None, Some(3)).await;
    assert_replays(&c, 7, Some(0_u32), None).await;
    assert_eq!(c.runs(), 7);
}

// 2. Duplicates

#[tokio::test]
async fn a_duplicate_within_the_ttl_gets_the_stored_value_and_is_traced() {
    let c = Consumer::new();
    let first = Order {
        id: 42,
        correlation_id: "corr-first".into(),
    };
    let resend = Order {
        id: 42,
        correlation_id: "corr-resend".into(),
    };
    let receipt = c.charge(&first).await.unwrap();

    let (captured, _guard) = capture_traces();
    c.clock.advance(Duration::from_secs(23 * 60 * 60));
    assert_eq!(c.charge(&resend).await.unwrap(), receipt);
    assert_eq!(c.runs(), 1);

    let logs = captured.text();
    let line = logs
        .lines()
        .find(|line| line.contains("duplicate delivery skipped"))
        .unwrap_or_else(|| panic!("no duplicate event in {logs:?}"));
    assert!(line.contains("async.charge"), "{line}");
    assert!(line.contains(&first.fingerprint().to_string()), "{line}");
    assert!(line.contains("corr-first"), "{line}");
    assert!(line.contains("corr-resend"), "{line}");
}

// 3. In progress

#[tokio::test]
async fn a_delivery_while_the_first_is_in_progress_is_told_to_retry() {
    let c = Arc::new(Consumer::new());
    let gate = c.hold_next_run();
    let first = tokio::spawn({
        let c = Arc::clone(&c);
        async move { c.handle(9).await }
    });
    gate.started.await.unwrap();

    let err = c.handle(9).await.unwrap_err().dedup();
    assert!(err.is_in_progress(), "{err:?}");
    let Error::InProgress {
        scope, retry_after, ..
    } = &err
    else {
        unreachable!()
    };
    assert_eq!(scope, "async.handle");
    assert!(retry_after.is_some_and(|d| d <= Duration::from_secs(30)));
    assert_eq!(c.runs(), 1, "the body did not run a second time");

    gate.release.send(()).unwrap();
    assert_eq!(first.await.unwrap().unwrap(), "order 9, run 1");
    assert_eq!(c.handle(9).await.unwrap(), "order 9, run 1");
    assert_eq!(c.runs(), 1);
}

// 4. Body errors

#[tokio::test]
async fn a_failing_body_releases_its_claim_and_the_redelivery_runs_again() {
    let c = Consumer::new();
    let err = c.fail_first(3).await.unwrap_err();
    assert!(matches!(err, HandlerError::Failed(_)), "{err:?}");
    assert!(c.record("async.fail_first", 3).await.is_none());
    assert_eq!(c.fail_first(3).await.unwrap(), 3);
    assert_eq!(c.fail_first(3).await.unwrap(), 3);
    assert_eq!(c.runs(), 2);
}

// 5. Panics and dropped futures

#[tokio::test]
async fn a_panicking_body_releases_its_claim_and_the_panic_goes_on() {
    let c = Consumer::new();
    let panic = std::panic::AssertUnwindSafe(c.panic_first(4))
        .catch_unwind()
        .await
        .unwrap_err();
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"the body panicked"));
    assert!(c.record("async.panic_first", 4).await.is_none());
    assert_eq!(c.panic_first(4).await.unwrap(), 4);
    assert_eq!(c.runs(), 2);
}

#[tokio::test]
async fn a_future_dropped_mid_body_releases_its_claim_at_once_on_a_memory_store() {
    let c = Consumer::new();
    let mut gate = c.hold_next_run();
    // `select!` drops the handler as soon as its body has started (a consumer's shutdown or
    // timeout branch winning the race).
    tokio::select! {
        _ = c.handle(6) => panic!("the body cannot finish: its gate is never released"),
        started = &mut gate.started => started.unwrap(),
    }
    assert!(
        c.record("async.handle", 6).await.is_none(),
        "released by the drop, without waiting for the lease"
    );
    assert_eq!(c.handle(6).await.unwrap(), "order 6, run 2");
    drop(gate.release);
}

/// A [`MemoryStore`] that keeps the trait's default `release_detached` (what a store without
/// an I/O-free release gets): spawn on the current Tokio runtime, or wait for the lease.
#[derive(Debug, Clone)]
struct DefaultDetached(MemoryStore);

impl Store for DefaultDetached {
    fn name(&self) -> &'static str {
        "default-detached"
    }

    async fn claim(&self, key: Key<'_>, request: &ClaimRequest<'_>) -> Result<ClaimOutcome, Error> {
        self.0.claim(key, request).await
    }

    async fn complete(
        &self,
        key: Key<'_>,
        owner: OwnerToken,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), Error> {
        self.0.complete(key, owner, value, ttl).await
    }

    async fn release(&self, key: Key<'_>, owner: OwnerToken) -> Result<bool, Error> {
        self.0.release(key, owner).await
    }

    async fn store(&self, key: Key<'_>, value: &[u8], expire: Duration) -> Result<(), Error> {
        self.0.store(key, value, expire).await
    }

    async fn get(&self, key: Key<'_>) -> Result<Option<Record>, Error> {
        self.0.get(key).await
    }
}

fn default_detached() -> Consumer<DefaultDetached> {
    let (store, clock) = manual_store();
    Consumer::with(DefaultDetached(store), clock)
}

#[tokio::test(flavor = "current_thread")]
async fn a_dropped_future_is_released_in_the_background_on_a_tokio_runtime() {
    let c = default_detached();
    let gate = c.hold_next_run();
    {
        let mut handler = pin!(c.handle(6));
        assert!(poll_once(handler.as_mut()).is_pending());
    }
    drop(gate);
    assert!(
        c.record("async.handle", 6).await.is_some(),
        "the release is spawned, not run inline"
    );
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(c.record("async.handle", 6).await.is_none(), "released");
    assert_eq!(c.handle(6).await.unwrap(), "order 6, run 2");
}

#[test]
fn a_dropped_future_outside_a_runtime_keeps_its_claim_until_the_lease_runs_out() {
    let c = default_detached();
    let gate = c.hold_next_run();
    {
        let mut handler = pin!(c.handle(6));
        assert!(poll_once(handler.as_mut()).is_pending());
    }
    drop(gate);

    let err = ready(c.handle(6)).unwrap_err().dedup();
    assert!(err.is_in_progress(), "the claim stays: {err:?}");
    assert_eq!(c.runs(), 1);

    c.clock.advance(Duration::from_secs(30));
    assert_eq!(ready(c.handle(6)).unwrap(), "order 6, run 2");
}

// 6. Lease

#[tokio::test]
async fn after_the_lease_a_redelivery_takes_over_and_the_stale_completion_is_refused() {
    let c = Arc::new(Consumer::new());
    let gate = c.hold_next_run();
    let first = tokio::spawn({
        let c = Arc::clone(&c);
        async move { c.handle(5).await }
    });
    gate.started.await.unwrap();

    c.clock.advance(Duration::from_secs(31));
    assert_eq!(
        c.handle(5).await.unwrap(),
        "order 5, run 2",
        "the redelivery took over"
    );

    gate.release.send(()).unwrap();
    let err = first.await.unwrap().unwrap_err().dedup();
    assert!(matches!(err, Error::LeaseLost { .. }), "{err:?}");
    assert_eq!(
        c.handle(5).await.unwrap(),
        "order 5, run 2",
        "the stale completion did not overwrite the new owner's record"
    );
    assert_eq!(c.runs(), 2);
}

// 7. Ttl

#[tokio::test]
async fn after_the_ttl_the_message_is_new_again() {
    let c = Consumer::new();
    assert_eq!(c.short_lived(1).await.unwrap(), 1);
    c.clock.advance(Duration::from_secs(59 * 60 + 59));
    assert_eq!(c.short_lived(1).await.unwrap(), 1, "still within the ttl");
    c.clock.advance(Duration::from_secs(1));
    assert_eq!(
        c.short_lived(1).await.unwrap(),
        2,
        "past the ttl: processed again"
    );
    assert_eq!(c.short_lived(1).await.unwrap(), 2);
}
