//! The transactional inbox: a handler's business write and its dedup record commit together.
//!
//! `cargo run --example postgres_inbox --features postgres` (needs PostgreSQL at `DATABASE_URL`,
//! default `postgres://postgres@127.0.0.1:5432/test`)
//!
//! A payment handler inserts a row into `example_payments` and records its receipt as the
//! message's result, both in the transaction it opened itself:
//!
//! 1. a first delivery is executed: the payment row and the dedup record commit together;
//! 2. its redelivery is replayed: no second payment, the first receipt comes back;
//! 3. a delivery whose handler fails after its insert rolls back: neither the payment nor the
//!    dedup record exists, and the redelivery runs the handler again;
//! 4. two consumers receive the same message at once: the second waits for the first
//!    transaction, then replays its receipt. One payment row.
//!
//! Each run works under a fresh run id, so it starts from an empty history.

use std::time::Duration;

use dedup_runtime::Fingerprint;
use dedup_runtime::idempotency::Delivery;
use dedup_runtime::store::{InboxOutcome, Key, PostgresStore, Store};
use serde::{Deserialize, Serialize};

/// A payment request as the broker delivers it; a redelivery carries a new `delivery_id`.
#[derive(Debug, Clone, Serialize, Fingerprint)]
#[fingerprint(namespace = "examples.ChargeCard.v1")]
struct ChargeCard {
    run: String,
    order_id: i64,
    amount_cents: i64,
    #[fingerprint(skip)]
    delivery_id: String,
}

/// What the handler returns, and what duplicates get back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Receipt {
    payment_id: i64,
    order_id: i64,
    consumer: String,
}

#[derive(Debug, thiserror::Error)]
enum PaymentError {
    #[error("the card network timed out")]
    NetworkTimeout,
    #[error("another delivery of this payment holds a committed claim; retry later")]
    InProgress,
    #[error(transparent)]
    Dedup(#[from] dedup_runtime::Error),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

#[derive(Debug)]
enum Handled {
    Executed(Receipt),
    Replayed(Receipt),
}

/// The handler: claim, write, complete, commit, all in one transaction.
async fn charge(
    store: &PostgresStore,
    consumer: &str,
    message: &ChargeCard,
    fail_after_insert: bool,
) -> Result<Handled, PaymentError> {
    let delivery = Delivery::of(message)?.correlation(Some(&message.delivery_id));
    let mut tx = store.pool().begin().await?;
    match store.inbox(&mut tx, "payments.charge", delivery).await? {
        InboxOutcome::Claimed(claim) => {
            let payment_id: i64 = sqlx::query_scalar(
                "INSERT INTO example_payments (run, order_id, amount_cents, consumer)
                 VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(&message.run)
            .bind(message.order_id)
            .bind(message.amount_cents)
            .bind(consumer)
            .fetch_one(&mut *tx)
            .await?;
            // Give a concurrent duplicate time to arrive while this transaction is open.
            tokio::time::sleep(Duration::from_millis(200)).await;
            if fail_after_insert {
                // Returning drops `tx`: the payment row and the claim roll back together.
                return Err(PaymentError::NetworkTimeout);
            }
            let receipt = Receipt {
                payment_id,
                order_id: message.order_id,
                consumer: consumer.to_owned(),
            };
            claim.complete(&mut tx, &receipt).await?;
            tx.commit().await?;
            Ok(Handled::Executed(receipt))
        }
        InboxOutcome::Completed(replay) => {
            tx.rollback().await?;
            Ok(Handled::Replayed(replay.decode()?))
        }
        InboxOutcome::InProgress { .. } => Err(PaymentError::InProgress),
    }
}

fn message(run: &str, order_id: i64, delivery_id: &str) -> ChargeCard {
    ChargeCard {
        run: run.to_owned(),
        order_id,
        amount_cents: 1_250 * order_id,
        delivery_id: delivery_id.to_owned(),
    }
}

fn show(what: &str, result: &Result<Handled, PaymentError>) {
    match result {
        Ok(Handled::Executed(r)) => println!(
            "  {what:<34} executed: payment #{} for order {} by {}",
            r.payment_id, r.order_id, r.consumer
        ),
        Ok(Handled::Replayed(r)) => println!(
            "  {what:<34} replayed: payment #{} for order {} (first run by {}); nothing written",
            r.payment_id, r.order_id, r.consumer
        ),
        Err(err) => println!("  {what:<34} failed: {err}; rolled back, the broker redelivers"),
    }
}

async fn payments(store: &PostgresStore, run: &str, order_id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM example_payments WHERE run = $1 AND order_id = $2")
        .bind(run)
        .bind(order_id)
        .fetch_one(store.pool())
        .await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let store = PostgresStore::builder()
        .url(&url)
        .table("example_inbox")
        .acquire_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|err| format!("{err}\n(start PostgreSQL or set DATABASE_URL)"))?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS example_payments (
            id           bigserial PRIMARY KEY,
            run          text      NOT NULL,
            order_id     bigint    NOT NULL,
            amount_cents bigint    NOT NULL,
            consumer     text      NOT NULL
        )",
    )
    .execute(store.pool())
    .await?;
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    println!(
        "run {run}: dedup records in `{}`, payments in `example_payments`\n",
        store.table()
    );

    println!("1-2. a payment and its redelivery");
    let first = charge(&store, "consumer-a", &message(&run, 1, "d-1"), false).await;
    show("order 1, delivery d-1", &first);
    let again = charge(
        &store,
        "consumer-b",
        &message(&run, 1, "d-1-redelivered"),
        false,
    )
    .await;
    show("order 1, delivery d-1-redelivered", &again);
    println!(
        "  payment rows for order 1: {}\n",
        payments(&store, &run, 1).await?
    );

    println!("3. a handler that fails after its insert");
    let failed = charge(&store, "consumer-a", &message(&run, 2, "d-2"), true).await;
    show("order 2, delivery d-2", &failed);
    let key = message(&run, 2, "d-2").try_fingerprint()?;
    let record = store.get(Key::new("payments.charge", key)).await?;
    println!(
        "  after the failure: {} payment rows for order 2, dedup record: {}",
        payments(&store, &run, 2).await?,
        if record.is_some() { "present" } else { "none" }
    );
    let retried = charge(
        &store,
        "consumer-b",
        &message(&run, 2, "d-2-redelivered"),
        false,
    )
    .await;
    show("order 2, delivery d-2-redelivered", &retried);
    println!(
        "  payment rows for order 2: {}\n",
        payments(&store, &run, 2).await?
    );

    println!("4. the same payment to two consumers at once");
    let (to_a, to_b) = (message(&run, 3, "d-3"), message(&run, 3, "d-3-duplicate"));
    let (a, b) = tokio::join!(charge(&store, "consumer-a", &to_a, false), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        charge(&store, "consumer-b", &to_b, false).await
    });
    show("order 3 at consumer-a", &a);
    show("order 3 at consumer-b (waited)", &b);
    println!(
        "  payment rows for order 3: {}",
        payments(&store, &run, 3).await?
    );

    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM example_payments WHERE run = $1")
        .bind(&run)
        .fetch_one(store.pool())
        .await?;
    println!("\n3 orders, 6 deliveries, {total} payments.");
    assert_eq!(total, 3, "each order must be paid exactly once");
    Ok(())
}
