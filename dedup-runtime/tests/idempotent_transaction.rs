//! `#[idempotent(tx = ...)]` on the real PostgreSQL: the handler claims and completes in the
//! caller's transaction, so the body's business write and the dedup record commit or roll back
//! together, and the caller decides which by committing or rolling back.
//!
//! Each test uses its own records table and business table (see `support/postgres.rs`), and its
//! own handler, which counts the runs of its body.
#![cfg(feature = "postgres")]

#[path = "support/postgres.rs"]
mod pg;
#[allow(unreachable_pub)]
#[path = "support/services.rs"]
mod services;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use dedup_runtime::idempotency::Delivery;
use dedup_runtime::store::{Inbox, InboxOutcome, Key, PostgresStore, RecordState, Store};
use dedup_runtime::{Error, Fingerprint, idempotent};
use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, Connection as _, PgConnection, Postgres, Transaction};

const SCOPE: &str = "payments.charge";

#[derive(Debug, Clone, Serialize, Fingerprint)]
struct Order {
    id: u64,
    amount_cents: i64,
    #[fingerprint(skip)]
    correlation_id: String,
    /// Makes the body fail after its write (not part of the message's content).
    #[fingerprint(skip)]
    decline: bool,
}

impl Order {
    fn new(id: u64, correlation_id: &str) -> Self {
        Order {
            id,
            amount_cents: 1_000 + i64::try_from(id).unwrap(),
            correlation_id: correlation_id.to_owned(),
            decline: false,
        }
    }

    fn declined(mut self) -> Self {
        self.decline = true;
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Receipt {
    order_id: u64,
    /// The correlation id of the delivery whose body ran.
    charged_by: String,
}

#[derive(Debug, thiserror::Error)]
enum ChargeError {
    #[error("the card was declined")]
    Declined,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Dedup(#[from] Error),
}

/// A consumer whose side effect is a row in `business`.
struct Payments {
    store: PostgresStore,
    /// `dedup_test."<table>"`: `(order_id bigint, note text)`, no unique constraint, so that a
    /// second write of an order would show.
    business: String,
    /// How many times a body ran.
    runs: AtomicU32,
}

impl Payments {
    #[idempotent(store = self.store, scope = "payments.charge", ttl = "1h", key = order.id,
                 correlation = order.correlation_id.as_str(), payload = order, tx = tx)]
    async fn charge(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        order: &Order,
    ) -> Result<Receipt, ChargeError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {} (order_id, note) VALUES ($1, $2)",
            self.business
        )))
        .bind(i64::try_from(order.id).unwrap())
        .bind(&order.correlation_id)
        .execute(&mut **tx)
        .await?;
        if order.decline {
            return Err(ChargeError::Declined);
        }
        Ok(Receipt {
            order_id: order.id,
            charged_by: order.correlation_id.clone(),
        })
    }

    /// The same with a bare connection, which the body hands on by value (a generic
    /// `Executor` takes it), and the key inferred: the only parameter besides `self` and `conn`.
    #[idempotent(store = self.store, scope = "payments.refund", tx = conn)]
    async fn refund(&self, order_id: &u64, conn: &mut PgConnection) -> Result<u64, ChargeError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {} (order_id, note) VALUES ($1, 'refund')",
            self.business
        )))
        .bind(i64::try_from(*order_id).unwrap())
        .execute(conn)
        .await?;
        Ok(*order_id)
    }

    async fn runs(&self) -> u32 {
        self.runs.load(Ordering::SeqCst)
    }

    /// The business rows of `order_id`, as another connection sees them (committed only).
    async fn rows(&self, order_id: u64) -> Vec<String> {
        sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT note FROM {} WHERE order_id = $1 ORDER BY note",
            self.business
        )))
        .bind(i64::try_from(order_id).unwrap())
        .fetch_all(self.store.pool())
        .await
        .unwrap()
    }

    /// The committed record of `order_id` under `scope`.
    async fn record(&self, scope: &str, order_id: u64) -> Option<dedup_runtime::store::Record> {
        let fingerprint = order_id.try_fingerprint().unwrap();
        self.store.get(Key::new(scope, fingerprint)).await.unwrap()
    }

    async fn begin(&self) -> Transaction<'static, Postgres> {
        self.store.pool().begin().await.unwrap()
    }
}

/// A handler on a fresh records table and a fresh business table, and the records table's name.
async fn setup() -> Option<(Payments, String)> {
    let (builder, table) = pg::builder().await?;
    let store = builder
        .connect()
        .await
        .expect("cannot connect to PostgreSQL");
    let business = pg::qualified(&pg::unique_table());
    let mut conn = pg::connection().await;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE TABLE {business} (order_id bigint NOT NULL, note text NOT NULL)"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    let _ = conn.close().await;
    let payments = Payments {
        store,
        business,
        runs: AtomicU32::new(0),
    };
    Some((payments, table))
}

/// Waits until a statement on `table` waits for a lock (the duplicate's claim, blocked behind
/// the first transaction's uncommitted row). Polls the server instead of guessing with a sleep.
async fn wait_until_blocked(table: &str) {
    let mut conn = pg::connection().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE wait_event_type = 'Lock' AND position($1 in query) > 0",
        )
        .bind(table)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the duplicate's claim never waited for the first transaction"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = conn.close().await;
}

#[tokio::test]
async fn the_write_and_the_record_commit_together_and_a_duplicate_replays() {
    let Some((payments, _)) = setup().await else {
        return;
    };
    let mut tx = payments.begin().await;
    let receipt = payments
        .charge(&mut tx, &Order::new(1, "corr-1"))
        .await
        .unwrap();
    assert_eq!(
        receipt,
        Receipt {
            order_id: 1,
            charged_by: "corr-1".to_owned()
        }
    );
    // Nothing is visible outside the transaction before the caller commits.
    assert!(payments.rows(1).await.is_empty());
    assert!(payments.record(SCOPE, 1).await.is_none());
    tx.commit().await.unwrap();

    assert_eq!(payments.rows(1).await, ["corr-1"]);
    let record = payments.record(SCOPE, 1).await.unwrap();
    assert_eq!(
        record.state,
        RecordState::Completed {
            value: serde_json::to_vec(&receipt).unwrap()
        }
    );
    assert_eq!(record.correlation.as_deref(), Some("corr-1"));
    assert_eq!(record.payload, Some(Order::new(1, "").fingerprint()));
    let expires_in = record.expires_in.unwrap();
    assert!(
        expires_in > Duration::from_secs(3_000) && expires_in <= Duration::from_secs(3_600),
        "ttl = \"1h\": {expires_in:?}"
    );

    // A resend with a new correlation id: the body does not run, the first receipt comes back.
    let mut tx = payments.begin().await;
    let replayed = payments
        .charge(&mut tx, &Order::new(1, "corr-2"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(replayed, receipt);
    assert_eq!(payments.runs().await, 1);
    assert_eq!(payments.rows(1).await, ["corr-1"]);
}

#[tokio::test]
async fn a_failed_body_rolled_back_leaves_nothing_and_the_redelivery_runs() {
    let Some((payments, _)) = setup().await else {
        return;
    };
    let mut tx = payments.begin().await;
    let err = payments
        .charge(&mut tx, &Order::new(2, "corr-1").declined())
        .await
        .unwrap_err();
    assert!(matches!(err, ChargeError::Declined), "{err:?}");
    tx.rollback().await.unwrap();
    assert!(payments.rows(2).await.is_empty());
    assert!(payments.record(SCOPE, 2).await.is_none());

    let mut tx = payments.begin().await;
    let receipt = payments
        .charge(&mut tx, &Order::new(2, "corr-2"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(receipt.charged_by, "corr-2");
    assert_eq!(payments.runs().await, 2);
    assert_eq!(payments.rows(2).await, ["corr-2"]);
}

#[tokio::test]
async fn a_failed_body_committed_anyway_leaves_its_message_unrecorded() {
    let Some((payments, _)) = setup().await else {
        return;
    };
    // The caller commits after `Err` (say, to keep an audit row): the claim was released in the
    // transaction, so the message is not left in progress and the redelivery runs at once.
    let mut tx = payments.begin().await;
    let err = payments
        .charge(&mut tx, &Order::new(3, "corr-1").declined())
        .await
        .unwrap_err();
    assert!(matches!(err, ChargeError::Declined), "{err:?}");
    tx.commit().await.unwrap();
    assert!(payments.record(SCOPE, 3).await.is_none());

    let mut tx = payments.begin().await;
    let receipt = payments
        .charge(&mut tx, &Order::new(3, "corr-2"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(receipt.charged_by, "corr-2");
    assert_eq!(payments.runs().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_duplicate_waits_for_the_first_commit_and_replays() {
    let Some((payments, table)) = setup().await else {
        return;
    };
    let payments = std::sync::Arc::new(payments);
    let mut first = payments.begin().await;
    let receipt = payments
        .charge(&mut first, &Order::new(4, "corr-1"))
        .await
        .unwrap();

    let second = tokio::spawn({
        let payments = std::sync::Arc::clone(&payments);
        async move {
            let mut tx = payments.begin().await;
            let result = payments.charge(&mut tx, &Order::new(4, "corr-2")).await;
            tx.commit().await.unwrap();
            result
        }
    });
    wait_until_blocked(&table).await;
    assert!(!second.is_finished());
    first.commit().await.unwrap();

    let replayed = tokio::time::timeout(Duration::from_secs(60), second)
        .await
        .expect("the duplicate stayed blocked after the first transaction committed")
        .unwrap()
        .unwrap();
    assert_eq!(replayed, receipt);
    assert_eq!(payments.runs().await, 1);
    assert_eq!(payments.rows(4).await, ["corr-1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_duplicate_runs_when_the_first_rolls_back() {
    let Some((payments, table)) = setup().await else {
        return;
    };
    let payments = std::sync::Arc::new(payments);
    let mut first = payments.begin().await;
    payments
        .charge(&mut first, &Order::new(5, "corr-1"))
        .await
        .unwrap();

    let second = tokio::spawn({
        let payments = std::sync::Arc::clone(&payments);
        async move {
            let mut tx = payments.begin().await;
            let result = payments.charge(&mut tx, &Order::new(5, "corr-2")).await;
            tx.commit().await.unwrap();
            result
        }
    });
    wait_until_blocked(&table).await;
    // The first delivery's ack never happens: say its consumer crashed before committing.
    first.rollback().await.unwrap();

    let receipt = tokio::time::timeout(Duration::from_secs(60), second)
        .await
        .expect("the duplicate stayed blocked after the first transaction rolled back")
        .unwrap()
        .unwrap();
    assert_eq!(receipt.charged_by, "corr-2");
    assert_eq!(payments.runs().await, 2);
    assert_eq!(payments.rows(5).await, ["corr-2"]);
}

#[tokio::test]
async fn a_claim_committed_uncompleted_is_in_progress() {
    let Some((payments, _)) = setup().await else {
        return;
    };
    // Another version of the consumer committed a claim without completing it.
    let fingerprint = 6_u64.try_fingerprint().unwrap();
    let inbox = Inbox::new(payments.store.clone(), SCOPE).lease(Duration::from_secs(3_600));
    let mut tx = payments.begin().await;
    let InboxOutcome::Claimed(_forgotten) = inbox
        .begin(&mut tx, Delivery::new(fingerprint))
        .await
        .unwrap()
    else {
        panic!("a new message must be claimed")
    };
    tx.commit().await.unwrap();

    let mut tx = payments.begin().await;
    let err = payments
        .charge(&mut tx, &Order::new(6, "corr-1"))
        .await
        .unwrap_err();
    tx.rollback().await.unwrap();
    match err {
        ChargeError::Dedup(err) => {
            assert!(err.is_in_progress(), "{err:?}");
            let Error::InProgress {
                scope, retry_after, ..
            } = err
            else {
                unreachable!()
            };
            assert_eq!(scope, SCOPE);
            assert!(retry_after.unwrap() <= Duration::from_secs(3_600));
        }
        other => panic!("expected in progress, got {other:?}"),
    }
    assert_eq!(payments.runs().await, 0);
    assert!(payments.rows(6).await.is_empty());
}

#[tokio::test]
async fn a_corrupt_record_is_an_error_and_the_body_does_not_run() {
    let Some((payments, table)) = setup().await else {
        return;
    };
    let fingerprint = 7_u64.try_fingerprint().unwrap();
    let mut conn = pg::connection().await;
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {} (scope, fingerprint, status, expires_at)
         VALUES ($1, $2, 'shipped?', clock_timestamp() + interval '1 hour')",
        pg::qualified(&table)
    )))
    .bind(SCOPE)
    .bind(fingerprint.as_bytes().as_slice())
    .execute(&mut conn)
    .await
    .unwrap();
    let _ = conn.close().await;

    let mut tx = payments.begin().await;
    let err = payments
        .charge(&mut tx, &Order::new(7, "corr-1"))
        .await
        .unwrap_err();
    tx.rollback().await.unwrap();
    match err {
        ChargeError::Dedup(Error::CorruptRecord { reason, .. }) => {
            assert!(reason.contains("unknown status"), "{reason}");
        }
        other => panic!("expected a corrupt record, got {other:?}"),
    }
    assert_eq!(payments.runs().await, 0);
    assert!(payments.rows(7).await.is_empty());
}

#[tokio::test]
async fn a_different_payload_under_the_same_key_is_refused() {
    let Some((payments, _)) = setup().await else {
        return;
    };
    let mut tx = payments.begin().await;
    payments
        .charge(&mut tx, &Order::new(8, "corr-1"))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut changed = Order::new(8, "corr-2");
    changed.amount_cents += 1;
    let mut tx = payments.begin().await;
    let err = payments.charge(&mut tx, &changed).await.unwrap_err();
    tx.rollback().await.unwrap();
    assert!(
        matches!(err, ChargeError::Dedup(Error::PayloadMismatch { .. })),
        "{err:?}"
    );
    assert_eq!(payments.runs().await, 1);
}

#[tokio::test]
async fn a_connection_inside_a_transaction_works_and_one_outside_is_refused() {
    let Some((payments, _)) = setup().await else {
        return;
    };
    let mut tx = payments.begin().await;
    assert_eq!(payments.refund(&9, &mut tx).await.unwrap(), 9);
    tx.commit().await.unwrap();
    let mut tx = payments.begin().await;
    assert_eq!(payments.refund(&9, &mut tx).await.unwrap(), 9);
    tx.commit().await.unwrap();
    assert_eq!(payments.runs().await, 1);
    assert_eq!(payments.rows(9).await, ["refund"]);
    assert!(matches!(
        payments.record("payments.refund", 9).await.unwrap().state,
        RecordState::Completed { .. }
    ));

    // In autocommit the claim would commit on its own: refused before anything is written, with
    // an error that says what happened and what to do.
    let mut conn = pg::connection().await;
    let err = payments.refund(&10, &mut conn).await.unwrap_err();
    assert!(
        matches!(&err, ChargeError::Dedup(Error::Misuse { .. })),
        "{err:?}"
    );
    let message = err.to_string();
    for part in [
        "the connection passed as `tx` has no open transaction",
        "the handler's body did not run",
        "begin one (`pool.begin().await?` or `conn.begin().await?`) and pass `&mut tx`",
    ] {
        assert!(message.contains(part), "{message:?} lacks {part:?}");
    }
    assert!(
        !matches!(&err, ChargeError::Dedup(dedup) if dedup.is_store_unavailable()),
        "retrying cannot help: {err:?}"
    );
    let _ = conn.close().await;
    assert_eq!(payments.runs().await, 1);
    assert!(payments.record("payments.refund", 10).await.is_none());
    assert!(payments.rows(10).await.is_empty());
}
