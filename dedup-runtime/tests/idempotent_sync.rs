//! `#[idempotent]` on a plain `fn`: the protocol, point by point (`idempotent_async.rs` runs the
//! same matrix on an `async fn`). Time is a `ManualClock`: nothing sleeps.

mod idempotent_support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, mpsc};
use std::thread;
use std::time::Duration;

use dedup_runtime::store::{BlockingStore, Key, ManualClock, MemoryStore};
use dedup_runtime::{Error, Fingerprint, idempotent};
use idempotent_support::{HandlerError, Receipt, capture_traces, manual_store};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Lets a test hold a body in flight: the body says it started, then waits for the release.
struct Gate {
    started: mpsc::Sender<()>,
    release: mpsc::Receiver<()>,
}

/// The test's side of a [`Gate`].
struct GateHandle {
    started: mpsc::Receiver<()>,
    release: mpsc::Sender<()>,
}

fn gate() -> (Gate, GateHandle) {
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    (
        Gate {
            started: started_tx,
            release: release_rx,
        },
        GateHandle {
            started: started_rx,
            release: release_tx,
        },
    )
}

#[derive(Debug, Serialize, Fingerprint)]
#[fingerprint(namespace = "tests.Order.v1")]
struct Order {
    id: u64,
    #[fingerprint(skip)]
    correlation_id: String,
}

struct Consumer {
    store: MemoryStore,
    clock: ManualClock,
    runs: AtomicU32,
    /// Taken by the next run of `handle`, which then blocks on it.
    gate: Mutex<Option<Gate>>,
}

impl Consumer {
    fn new() -> Self {
        let (store, clock) = manual_store();
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
        let (gate, handle) = gate();
        *self.gate.lock().unwrap() = Some(gate);
        handle
    }

    #[idempotent(store = self.store, scope = "sync.handle")]
    fn handle(&self, id: u64) -> Result<String, HandlerError> {
        let run = self.run();
        let gate = self.gate.lock().unwrap().take();
        if let Some(gate) = gate {
            gate.started.send(()).unwrap();
            gate.release.recv().unwrap();
        }
        Ok(format!("order {id}, run {run}"))
    }

    #[idempotent(store = self.store, scope = "sync.echo", key = id)]
    fn echo<T: Serialize + DeserializeOwned>(&self, id: u64, value: T) -> Result<T, HandlerError> {
        self.run();
        Ok(value)
    }

    #[idempotent(store = self.store, scope = "sync.charge", correlation = order.correlation_id.as_str())]
    fn charge(&self, order: &Order) -> Result<Receipt, HandlerError> {
        let run = self.run();
        Ok(Receipt {
            order_id: order.id,
            charge_id: format!("ch_{run}"),
        })
    }

    #[idempotent(store = self.store, scope = "sync.fail_first")]
    fn fail_first(&self, id: u64) -> Result<u64, HandlerError> {
        if self.run() == 1 {
            return Err(HandlerError::Failed(format!("provider timed out for {id}")));
        }
        Ok(id)
    }

    #[idempotent(store = self.store, scope = "sync.panic_first")]
    fn panic_first(&self, id: u64) -> Result<u64, HandlerError> {
        if self.run() == 1 {
            panic!("the body panicked");
        }
        Ok(id)
    }

    #[idempotent(store = self.store, scope = "sync.short_lived", ttl = "1h", lease = "10s")]
    fn short_lived(&self, id: u64) -> Result<u32, HandlerError> {
        let _ = id;
        Ok(self.run())
    }
}

fn key(scope: &str, id: u64) -> Key<'_> {
    Key::new(scope, id.fingerprint())
}

// 1. First delivery

#[test]
fn the_first_delivery_runs_the_body_and_records_its_ok_value() {
    let c = Consumer::new();
    assert_eq!(c.handle(7).unwrap(), "order 7, run 1");
    assert_eq!(c.runs(), 1);
    let record = c
        .store
        .get_blocking(key("sync.handle", 7))
        .unwrap()
        .unwrap();
    assert!(record.is_completed());
}

#[test]
fn distinct_messages_each_run_once() {
    let c = Consumer::new();
    assert_eq!(c.handle(1).unwrap(), "order 1, run 1");
    assert_eq!(c.handle(2).unwrap(), "order 2, run 2");
    assert_eq!(c.handle(1).unwrap(), "order 1, run 1");
    assert_eq!(c.handle(2).unwrap(), "order 2, run 2");
    assert_eq!(c.runs(), 2);
}

/// Replays `first` under `id`, then checks that a duplicate gets it back, although its own body
/// would have returned `other`.
#[track_caller]
fn assert_replays<T>(c: &Consumer, id: u64, first: T, other: T)
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug + Clone,
{
    let runs = c.runs();
    assert_eq!(c.echo(id, first.clone()).unwrap(), first);
    assert_eq!(
        c.echo(id, other).unwrap(),
        first,
        "a duplicate replays the first value"
    );
    assert_eq!(c.runs(), runs + 1, "the duplicate's body did not run");
}

#[test]
fn the_replay_is_type_faithful() {
    let c = Consumer::new();
    assert_replays(&c, 1, (), ());
    assert_replays(&c, 2, 0_u64, 5);
    assert_replays(&c, 3, String::new(), "other".to_owned());
    assert_replays(&c, 4, Vec::<u8>::new(), vec![1, 2, 3]);
    assert_replays(
        &c,
        5,
        Receipt {
            order_id: 5,
            charge_id: "ch_1".into(),
        },
        Receipt {
            order_id: 5,
            charge_id: "ch_2".into(),
        },
    );
    assert_replays(&c, 6, Option::<u32>::None, Some(3));
    assert_replays(&c, 7, Some(0_u32), None);
    assert_eq!(c.runs(), 7);
}

// 2. Duplicates

#[test]
fn a_duplicate_within_the_ttl_gets_the_stored_value_and_is_traced() {
    let c = Consumer::new();
    let first = Order {
        id: 42,
        correlation_id: "corr-first".into(),
    };
    let resend = Order {
        id: 42,
        correlation_id: "corr-resend".into(),
    };
    let receipt = c.charge(&first).unwrap();

    let (captured, _guard) = capture_traces();
    c.clock.advance(Duration::from_secs(23 * 60 * 60));
    assert_eq!(c.charge(&resend).unwrap(), receipt);
    assert_eq!(c.runs(), 1);

    let logs = captured.text();
    let line = logs
        .lines()
        .find(|line| line.contains("duplicate delivery skipped"))
        .unwrap_or_else(|| panic!("no duplicate event in {logs:?}"));
    assert!(line.contains("sync.charge"), "{line}");
    assert!(line.contains(&first.fingerprint().to_string()), "{line}");
    assert!(line.contains("corr-first"), "{line}");
    assert!(line.contains("corr-resend"), "{line}");
}

// 3. In progress

#[test]
fn a_delivery_while_the_first_is_in_progress_is_told_to_retry() {
    let c = Consumer::new();
    let gate = c.hold_next_run();
    thread::scope(|s| {
        let first = s.spawn(|| c.handle(9));
        gate.started.recv().unwrap();

        let err = c.handle(9).unwrap_err().dedup();
        assert!(err.is_in_progress(), "{err:?}");
        let Error::InProgress {
            scope, retry_after, ..
        } = &err
        else {
            unreachable!()
        };
        assert_eq!(scope, "sync.handle");
        assert!(retry_after.is_some_and(|d| d <= Duration::from_secs(30)));
        assert_eq!(c.runs(), 1, "the body did not run a second time");

        gate.release.send(()).unwrap();
        assert_eq!(first.join().unwrap().unwrap(), "order 9, run 1");
    });
    assert_eq!(c.handle(9).unwrap(), "order 9, run 1");
    assert_eq!(c.runs(), 1);
}

// 4. Body errors

#[test]
fn a_failing_body_releases_its_claim_and_the_redelivery_runs_again() {
    let c = Consumer::new();
    let err = c.fail_first(3).unwrap_err();
    assert!(matches!(err, HandlerError::Failed(_)), "{err:?}");
    assert!(
        c.store
            .get_blocking(key("sync.fail_first", 3))
            .unwrap()
            .is_none()
    );
    assert_eq!(c.fail_first(3).unwrap(), 3);
    assert_eq!(c.fail_first(3).unwrap(), 3);
    assert_eq!(c.runs(), 2);
}

// 5. Panics

#[test]
fn a_panicking_body_releases_its_claim_and_the_panic_goes_on() {
    let c = Consumer::new();
    let panic = catch_unwind(AssertUnwindSafe(|| c.panic_first(4))).unwrap_err();
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"the body panicked"));
    assert!(
        c.store
            .get_blocking(key("sync.panic_first", 4))
            .unwrap()
            .is_none()
    );
    assert_eq!(c.panic_first(4).unwrap(), 4);
    assert_eq!(c.runs(), 2);
}

// 6. Lease

#[test]
fn after_the_lease_a_redelivery_takes_over_and_the_stale_completion_is_refused() {
    let c = Consumer::new();
    let gate = c.hold_next_run();
    thread::scope(|s| {
        let first = s.spawn(|| c.handle(5));
        gate.started.recv().unwrap();

        c.clock.advance(Duration::from_secs(31));
        assert_eq!(
            c.handle(5).unwrap(),
            "order 5, run 2",
            "the redelivery took over"
        );

        gate.release.send(()).unwrap();
        let err = first.join().unwrap().unwrap_err().dedup();
        assert!(matches!(err, Error::LeaseLost { .. }), "{err:?}");
    });
    assert_eq!(
        c.handle(5).unwrap(),
        "order 5, run 2",
        "the stale completion did not overwrite the new owner's record"
    );
    assert_eq!(c.runs(), 2);
}

// 7. Ttl

#[test]
fn after_the_ttl_the_message_is_new_again() {
    let c = Consumer::new();
    assert_eq!(c.short_lived(1).unwrap(), 1);
    c.clock.advance(Duration::from_secs(59 * 60 + 59));
    assert_eq!(c.short_lived(1).unwrap(), 1, "still within the ttl");
    c.clock.advance(Duration::from_secs(1));
    assert_eq!(
        c.short_lived(1).unwrap(),
        2,
        "past the ttl: processed again"
    );
    assert_eq!(c.short_lived(1).unwrap(), 2);
}
