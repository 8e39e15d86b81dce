//! The transactional inbox on the real PostgreSQL: the business write and the dedup record
//! commit or roll back together, and concurrent duplicates in two transactions write one row.
//!
//! Each test uses its own records table and business table (see `support/postgres.rs`).
#![cfg(feature = "postgres")]

#[path = "support/postgres.rs"]
mod pg;
#[allow(unreachable_pub)]
#[path = "support/services.rs"]
mod services;

use std::time::Duration;

use dedup_runtime::Error;
use dedup_runtime::idempotency::Delivery;
use dedup_runtime::store::conformance::fingerprint;
use dedup_runtime::store::{Inbox, InboxOutcome, Key, PostgresStore, RecordState, Store};
use sqlx::{AssertSqlSafe, Connection, Postgres, Transaction};

/// A store in a fresh table, and a fresh business table `(message bigint, note text)` with no
/// unique constraint, so that a second write of a message would show.
async fn setup() -> Option<(PostgresStore, String)> {
    let store = pg::store().await?;
    let business = pg::qualified(&pg::unique_table());
    let mut conn = pg::connection().await;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE TABLE {business} (message bigint NOT NULL, note text NOT NULL)"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    let _ = conn.close().await;
    Some((store, business))
}

async fn business_rows(store: &PostgresStore, business: &str, message: i64) -> i64 {
    sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM {business} WHERE message = $1"
    )))
    .bind(message)
    .fetch_one(store.pool())
    .await
    .unwrap()
}

async fn write_business(
    tx: &mut Transaction<'_, Postgres>,
    business: &str,
    message: i64,
    note: &str,
) {
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {business} (message, note) VALUES ($1, $2)"
    )))
    .bind(message)
    .bind(note)
    .execute(&mut **tx)
    .await
    .unwrap();
}

fn delivery(message: i64) -> Delivery<'static> {
    Delivery::new(fingerprint("inbox", message as u64))
}

fn key(scope: &str, message: i64) -> Key<'_> {
    Key::new(scope, fingerprint("inbox", message as u64))
}

/// The whole handler: claim, write, complete, commit. Returns what happened.
async fn handle(store: &PostgresStore, business: &str, message: i64, note: &str) -> String {
    let mut tx = store.pool().begin().await.unwrap();
    match store
        .inbox(&mut tx, "orders", delivery(message))
        .await
        .unwrap()
    {
        InboxOutcome::Claimed(claim) => {
            write_business(&mut tx, business, message, note).await;
            claim.complete(&mut tx, &note.to_owned()).await.unwrap();
            tx.commit().await.unwrap();
            format!("executed {note}")
        }
        InboxOutcome::Completed(replay) => {
            tx.rollback().await.unwrap();
            format!("replayed {}", replay.decode::<String>().unwrap())
        }
        InboxOutcome::InProgress { .. } => "in progress".to_owned(),
    }
}

#[tokio::test]
async fn failure_before_commit_leaves_nothing_and_the_redelivery_runs_once() {
    let Some((store, business)) = setup().await else {
        return;
    };
    {
        let mut tx = store.pool().begin().await.unwrap();
        let InboxOutcome::Claimed(claim) =
            store.inbox(&mut tx, "orders", delivery(1)).await.unwrap()
        else {
            panic!("a new message must be claimed")
        };
        write_business(&mut tx, &business, 1, "first attempt").await;
        // The handler fails after its write and before completing: the transaction is dropped.
        drop(claim);
        drop(tx);
    }
    assert_eq!(
        business_rows(&store, &business, 1).await,
        0,
        "the business write must roll back"
    );
    assert!(
        store.get(key("orders", 1)).await.unwrap().is_none(),
        "the claim must roll back"
    );

    assert_eq!(
        handle(&store, &business, 1, "second attempt").await,
        "executed second attempt"
    );
    assert_eq!(
        handle(&store, &business, 1, "third attempt").await,
        "replayed second attempt"
    );
    assert_eq!(business_rows(&store, &business, 1).await, 1);
}

#[tokio::test]
async fn success_commits_both_and_a_duplicate_replays() {
    let Some((store, business)) = setup().await else {
        return;
    };
    let inbox = Inbox::new(store.clone(), "orders").ttl(Duration::from_secs(3600));
    let mut tx = store.pool().begin().await.unwrap();
    let InboxOutcome::Claimed(claim) = inbox
        .begin(&mut tx, delivery(2).correlation(Some("corr-2")))
        .await
        .unwrap()
    else {
        panic!("a new message must be claimed")
    };
    assert_eq!(claim.key(), key("orders", 2));
    write_business(&mut tx, &business, 2, "done").await;
    claim.complete(&mut tx, &42_u32).await.unwrap();
    // Not visible outside the transaction before it commits.
    assert!(store.get(key("orders", 2)).await.unwrap().is_none());
    tx.commit().await.unwrap();

    let record = store.get(key("orders", 2)).await.unwrap().unwrap();
    assert_eq!(
        record.state,
        RecordState::Completed {
            value: b"42".to_vec()
        }
    );
    assert_eq!(record.correlation.as_deref(), Some("corr-2"));
    assert_eq!(business_rows(&store, &business, 2).await, 1);

    let mut tx = store.pool().begin().await.unwrap();
    match inbox
        .begin(&mut tx, delivery(2).correlation(Some("corr-3")))
        .await
        .unwrap()
    {
        InboxOutcome::Completed(replay) => {
            assert_eq!(replay.decode::<u32>().unwrap(), 42);
            assert_eq!(replay.first_correlation(), Some("corr-2"));
            assert_eq!(replay.raw(), b"42");
            assert!(matches!(
                replay.decode::<String>(),
                Err(Error::Decode { .. })
            ));
        }
        other => panic!("expected a replay, got {other:?}"),
    }
    tx.commit().await.unwrap();
    assert_eq!(business_rows(&store, &business, 2).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_duplicate_waits_for_the_first_transaction_and_replays() {
    let Some((store, business)) = setup().await else {
        return;
    };
    let mut first = store.pool().begin().await.unwrap();
    let InboxOutcome::Claimed(claim) = store
        .inbox(&mut first, "orders", delivery(3))
        .await
        .unwrap()
    else {
        panic!("a new message must be claimed")
    };
    write_business(&mut first, &business, 3, "first").await;

    // The duplicate's claim blocks on the first transaction's uncommitted row.
    let second = tokio::spawn({
        let (store, business) = (store.clone(), business.clone());
        async move { handle(&store, &business, 3, "second").await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !second.is_finished(),
        "the duplicate must wait for the first transaction"
    );

    claim
        .complete(&mut first, &"first".to_owned())
        .await
        .unwrap();
    first.commit().await.unwrap();
    let second = tokio::time::timeout(Duration::from_secs(10), second)
        .await
        .expect("the duplicate stayed blocked")
        .unwrap();
    assert_eq!(second, "replayed first");
    assert_eq!(business_rows(&store, &business, 3).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_duplicate_runs_when_the_first_transaction_rolls_back() {
    let Some((store, business)) = setup().await else {
        return;
    };
    let mut first = store.pool().begin().await.unwrap();
    let InboxOutcome::Claimed(_claim) = store
        .inbox(&mut first, "orders", delivery(4))
        .await
        .unwrap()
    else {
        panic!("a new message must be claimed")
    };
    write_business(&mut first, &business, 4, "first").await;
    let second = tokio::spawn({
        let (store, business) = (store.clone(), business.clone());
        async move { handle(&store, &business, 4, "second").await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !second.is_finished(),
        "the duplicate must wait for the first transaction"
    );
    first.rollback().await.unwrap();
    let second = tokio::time::timeout(Duration::from_secs(10), second)
        .await
        .expect("the duplicate stayed blocked")
        .unwrap();
    assert_eq!(second, "executed second");
    assert_eq!(business_rows(&store, &business, 4).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_transactions_on_one_message_write_one_row() {
    let Some((store, business)) = setup().await else {
        return;
    };
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let (store, business) = (store.clone(), business.clone());
            tokio::spawn(async move {
                let mut tx = store.pool().begin().await.unwrap();
                match store.inbox(&mut tx, "orders", delivery(5)).await.unwrap() {
                    InboxOutcome::Claimed(claim) => {
                        write_business(&mut tx, &business, 5, &format!("worker {i}")).await;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        claim.complete(&mut tx, &i).await.unwrap();
                        tx.commit().await.unwrap();
                        true
                    }
                    InboxOutcome::Completed(_) => false,
                    InboxOutcome::InProgress { .. } => panic!("no claim is committed uncompleted"),
                }
            })
        })
        .collect();
    let mut executed = 0;
    for task in tasks {
        executed += u32::from(task.await.unwrap());
    }
    assert_eq!(executed, 1);
    assert_eq!(business_rows(&store, &business, 5).await, 1);
}

#[tokio::test]
async fn a_claim_committed_without_completion_holds_until_its_lease() {
    let Some((store, business)) = setup().await else {
        return;
    };
    let inbox = Inbox::new(store.clone(), "orders").lease(Duration::from_millis(600));
    let mut tx = store.pool().begin().await.unwrap();
    let InboxOutcome::Claimed(_forgotten) = inbox.begin(&mut tx, delivery(6)).await.unwrap() else {
        panic!("a new message must be claimed")
    };
    tx.commit().await.unwrap();

    let mut tx = store.pool().begin().await.unwrap();
    match inbox.begin(&mut tx, delivery(6)).await.unwrap() {
        InboxOutcome::InProgress { retry_after } => {
            assert!(retry_after.unwrap() <= Duration::from_millis(600));
        }
        other => panic!("expected in progress, got {other:?}"),
    }
    tx.rollback().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let mut tx = store.pool().begin().await.unwrap();
    let InboxOutcome::Claimed(claim) = inbox.begin(&mut tx, delivery(6)).await.unwrap() else {
        panic!("the lease ran out: the message must be claimable")
    };
    write_business(&mut tx, &business, 6, "after lease").await;
    claim.complete(&mut tx, &()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(business_rows(&store, &business, 6).await, 1);
}

#[tokio::test]
async fn release_in_the_transaction_lets_a_redelivery_run() {
    let Some((store, business)) = setup().await else {
        return;
    };
    let mut tx = store.pool().begin().await.unwrap();
    let InboxOutcome::Claimed(claim) = store.inbox(&mut tx, "orders", delivery(7)).await.unwrap()
    else {
        panic!("a new message must be claimed")
    };
    assert!(claim.release(&mut tx).await.unwrap());
    tx.commit().await.unwrap();
    assert_eq!(
        handle(&store, &business, 7, "rerun").await,
        "executed rerun"
    );
}

#[tokio::test]
async fn a_different_payload_under_the_same_key_is_refused() {
    let Some((store, business)) = setup().await else {
        return;
    };
    let first = fingerprint("payload", 1);
    let other = fingerprint("payload", 2);
    let mut tx = store.pool().begin().await.unwrap();
    let InboxOutcome::Claimed(claim) = store
        .inbox(&mut tx, "orders", delivery(8).payload(Some(first)))
        .await
        .unwrap()
    else {
        panic!("a new message must be claimed")
    };
    write_business(&mut tx, &business, 8, "first").await;
    claim.complete(&mut tx, &1).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.pool().begin().await.unwrap();
    let err = store
        .inbox(&mut tx, "orders", delivery(8).payload(Some(other)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PayloadMismatch { .. }), "{err:?}");
}

#[tokio::test]
async fn a_value_that_cannot_replay_is_refused_before_commit() {
    let Some((store, _business)) = setup().await else {
        return;
    };
    let mut tx = store.pool().begin().await.unwrap();
    let InboxOutcome::Claimed(claim) = store.inbox(&mut tx, "orders", delivery(9)).await.unwrap()
    else {
        panic!("a new message must be claimed")
    };
    let err = claim.complete(&mut tx, &f64::NAN).await.unwrap_err();
    assert!(matches!(err, Error::Encode { .. }), "{err:?}");
    tx.rollback().await.unwrap();
    assert!(store.get(key("orders", 9)).await.unwrap().is_none());
}
