//! A RabbitMQ consumer made effectively-once with `#[idempotent]`, and the producer that feeds it.
//!
//! Needs RabbitMQ, PostgreSQL (the side effect: one `dedup_demo_shipments` row per shipped order,
//! so that it can be audited) and, for `--store redis`, Redis.
//!
//! ```sh
//! # one consumer (run several in other terminals: they share the queue and the store)
//! cargo run --features rabbitmq --example rabbitmq_consumer -- consume --store inbox
//! cargo run --features rabbitmq --example rabbitmq_consumer -- consume --store redis
//! # 1,000 orders, 30% of them resent with a new timestamp, correlation id and message id
//! cargo run --features rabbitmq --example rabbitmq_consumer -- produce --count 1000 --resend-share 0.3
//! ```
//!
//! # What the consumer does with each delivery
//!
//! | outcome of the `#[idempotent]` handler | broker action |
//! |---|---|
//! | executed (the body ran) or replayed (a duplicate) | `basic.ack` (with the inbox, after the commit) |
//! | in progress (another delivery holds the claim) | wait `retry_after` (clamped to 100 ms..1 s), then `basic.nack(requeue)`; never ack |
//! | handler error (the body failed; its claim was released) | republish with `x-dedup-attempt + 1` and ack the original, after a backoff; at `--max-attempts`, `basic.nack(requeue = false)`: dead-lettered |
//! | store unavailable (Redis or PostgreSQL down, lease lost) | wait 1 s, then `basic.nack(requeue)`: no attempt is counted |
//! | a message that can never succeed (malformed, payload mismatch, corrupt record) | `basic.nack(requeue = false)`: dead-lettered at once |
//!
//! RabbitMQ's classic queues do not count requeues (a redelivery only carries `redelivered`),
//! and a quorum queue's `x-delivery-limit` would also count in-progress requeues. So the attempt
//! count of a failing handler travels in a header, on a republished copy (publish, wait for the
//! confirm, then ack the original; a crash in between leaves two copies, which dedup absorbs).
//! The backoff before each retry is 200 ms, 400 ms, 800 ms... (at most 3.2 s).
//!
//! # The two stores
//!
//! * `--store inbox`: `PostgresStore`'s transactional inbox, through `#[idempotent(tx = tx)]`.
//!   The consumer opens a transaction per delivery and hands it to the handler, which claims,
//!   writes the shipment row and completes in it; the consumer commits, then acks. A crash
//!   anywhere before the commit rolls all of them back, so every order is shipped exactly once.
//! * `--store redis`: `RedisStore`. The shipment row is committed to PostgreSQL, then the record
//!   is completed in Redis. A crash between the two leaves the record in progress; when its lease
//!   (10 s) runs out a redelivery ships the order again. That window is the documented price of
//!   a store that is not the side effect's database.
//!
//! The simulated carrier call can be slowed down (`--work-ms`) and made to fail: the first
//! attempt of 1 order in N (`--fail-every N`), or every attempt (`--poison-every N`).
//!
//! # Queue topology
//!
//! `--queue Q` (default `dedup.demo.orders`) is declared durable with the dead-letter exchange
//! `Q.dlx` (direct), which routes to the durable queue `Q.dead`. Producer and consumer declare
//! the same topology, so either may start first.
//!
//! # Machine-readable output
//!
//! With `--events`, the consumer prints one line per step on standard output
//! (`EVENT <kind> <order id> <message id>`, kinds: `ready`, `delivery`, `executed`, `replayed`,
//! `in_progress`, `retried`, `dead_lettered`, `store_error`), which the chaos test
//! (`tests/chaos.rs`) reads. Either way it prints one `SUMMARY` line when it stops on SIGTERM or
//! Ctrl-C. The producer prints one `PRODUCED` line.

use std::error::Error as StdError;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dedup_runtime::store::{PostgresStore, RedisStore};
use dedup_runtime::{Fingerprint, idempotent};
use futures_util::StreamExt as _;
use lapin::message::Delivery as AmqpDelivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
    BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use tokio::task::JoinSet;

type BoxError = Box<dyn StdError + Send + Sync>;

const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
const DEFAULT_QUEUE: &str = "dedup.demo.orders";
/// The header that counts the failed attempts of a message (see the module docs).
const ATTEMPT_HEADER: &str = "x-dedup-attempt";
/// The in-progress requeue delay is `retry_after`, clamped to this range.
const IN_PROGRESS_MIN_DELAY: Duration = Duration::from_millis(100);
const IN_PROGRESS_MAX_DELAY: Duration = Duration::from_secs(1);
/// How long to wait before requeueing when the store is unavailable.
const STORE_RETRY_DELAY: Duration = Duration::from_secs(1);

// ------------------------------------------------------------------------------------------------
// The message
// ------------------------------------------------------------------------------------------------

/// An order as the producer publishes it. A resend carries the same order with a new
/// `correlation_id` and `sent_at` (and a new AMQP message id): those do not count.
#[derive(Debug, Clone, Serialize, Deserialize, Fingerprint)]
#[fingerprint(namespace = "dedup.demo.OrderPlaced.v1")]
struct OrderPlaced {
    order_id: String,
    customer: String,
    sku: String,
    quantity: u32,
    amount_cents: i64,
    #[fingerprint(skip)]
    correlation_id: String,
    /// Milliseconds since the Unix epoch.
    #[fingerprint(skip)]
    sent_at: u64,
}

/// What shipping an order returns: recorded with the claim and replayed to every duplicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Shipment {
    /// The `dedup_demo_shipments` row written by the delivery that ran the body.
    shipment_id: i64,
    /// The token of that delivery: equal to this delivery's token when this delivery ran it.
    token: String,
}

/// What one handler call knows besides the order.
#[derive(Debug)]
struct Attempt<'a> {
    /// Unique per handler call: tells an executed outcome from a replayed one.
    token: String,
    /// Failed attempts so far (the `x-dedup-attempt` header).
    attempt: u32,
    message_id: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
enum ShipError {
    #[error("the carrier timed out (injected failure, attempt {0})")]
    CarrierTimeout(u32),
    #[error("the carrier rejects this order (injected poison message)")]
    CarrierRejected,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Dedup(#[from] dedup_runtime::Error),
}

// ------------------------------------------------------------------------------------------------
// The handlers
// ------------------------------------------------------------------------------------------------

/// The carrier API the handler books each shipment with: a simulated call, with optional latency
/// and failure injection so that the retry and dead-letter paths run (all off by default).
#[derive(Debug, Clone, Copy)]
struct Carrier {
    /// How long a booking takes.
    latency: Duration,
    /// Orders whose hash is divisible by this fail their first attempt (0: never).
    fail_every: u64,
    /// Orders whose hash is divisible by this fail every attempt (0: never).
    poison_every: u64,
}

impl Carrier {
    async fn book(&self, order: &OrderPlaced, attempt: u32) -> Result<(), ShipError> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let hash = fnv1a(order.order_id.as_bytes());
        if self.poison_every > 0 && hash.is_multiple_of(self.poison_every) {
            return Err(ShipError::CarrierRejected);
        }
        if self.fail_every > 0 && hash.is_multiple_of(self.fail_every) && attempt == 0 {
            return Err(ShipError::CarrierTimeout(attempt));
        }
        Ok(())
    }
}

/// `--store redis`: the record lives in Redis, the side effect in PostgreSQL.
#[derive(Debug, Clone)]
struct RedisShipper {
    store: RedisStore,
    pg: PgPool,
    carrier: Carrier,
    instance: String,
}

impl RedisShipper {
    /// Ships an order once per distinct order, across every consumer process.
    ///
    /// The shipment row is committed before the macro completes the record in Redis: a crash in
    /// between leaves a shipped order whose record is still in progress, and the redelivery that
    /// takes the claim over when the lease (10 s) runs out ships it again.
    #[idempotent(store = self.store, scope = "dedup.demo.ship", ttl = "24h", lease = 10,
                 key = order, correlation = order.correlation_id.as_str())]
    async fn ship(&self, order: &OrderPlaced, at: &Attempt<'_>) -> Result<Shipment, ShipError> {
        self.carrier.book(order, at.attempt).await?;
        let shipment_id = insert_shipment(&self.pg, order, at, &self.instance, "redis").await?;
        // <- a crash here is the window: the row is committed, the record not yet completed.
        Ok(Shipment {
            shipment_id,
            token: at.token.clone(),
        })
    }
}

/// `--store inbox`: the record and the side effect in one PostgreSQL transaction.
#[derive(Debug, Clone)]
struct InboxShipper {
    /// Shares the consumer's pool; its table holds the records.
    store: PostgresStore,
    pg: PgPool,
    carrier: Carrier,
    instance: String,
}

impl InboxShipper {
    /// One delivery: a transaction, the handler in it, and the commit after `Ok`. The caller acks
    /// only after this returns `Ok`, i.e. after the commit.
    ///
    /// On `Err` the transaction is dropped, which rolls it back: the claim and the shipment row
    /// go together, and a redelivery runs the handler again. A crash anywhere before the commit
    /// does the same (PostgreSQL rolls back a dead connection's transaction).
    async fn ship(&self, order: &OrderPlaced, at: &Attempt<'_>) -> Result<Shipment, ShipError> {
        let mut tx = self.pg.begin().await?;
        let shipment = self.ship_in(&mut tx, order, at).await?;
        // Also after a replay: nothing was written, and committing ends the transaction cleanly.
        tx.commit().await?;
        Ok(shipment)
    }

    /// Ships an order once per distinct order, across every consumer process: the claim, the
    /// shipment row and the completed record are all written in `tx`.
    ///
    /// A duplicate delivered while `tx` is open waits on its uncommitted claim, then replays the
    /// committed result (or runs, if `tx` rolled back): the transaction is the lease, so this
    /// consumer never finds an order "in progress".
    #[idempotent(store = self.store, scope = "dedup.demo.ship", ttl = "24h", key = order,
                 correlation = order.correlation_id.as_str(), tx = tx)]
    async fn ship_in(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        order: &OrderPlaced,
        at: &Attempt<'_>,
    ) -> Result<Shipment, ShipError> {
        self.carrier.book(order, at.attempt).await?;
        let shipment_id = sqlx::query_scalar(INSERT_SHIPMENT)
            .bind(&order.order_id)
            .bind(at.message_id)
            .bind(&order.correlation_id)
            .bind(&self.instance)
            .bind("inbox")
            .fetch_one(&mut **tx)
            .await?;
        Ok(Shipment {
            shipment_id,
            token: at.token.clone(),
        })
    }
}

#[derive(Debug, Clone)]
enum Shipper {
    Redis(RedisShipper),
    Inbox(InboxShipper),
}

impl Shipper {
    async fn ship(&self, order: &OrderPlaced, at: &Attempt<'_>) -> Result<Shipment, ShipError> {
        match self {
            Shipper::Redis(shipper) => shipper.ship(order, at).await,
            Shipper::Inbox(shipper) => shipper.ship(order, at).await,
        }
    }
}

const CREATE_SHIPMENTS: &str = "CREATE TABLE IF NOT EXISTS dedup_demo_shipments (
    id BIGSERIAL PRIMARY KEY,
    order_id TEXT NOT NULL,
    message_id TEXT,
    correlation_id TEXT NOT NULL,
    consumer TEXT NOT NULL,
    store TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
)";
const INDEX_SHIPMENTS: &str = "CREATE INDEX IF NOT EXISTS dedup_demo_shipments_order_id \
     ON dedup_demo_shipments (order_id)";
const INSERT_SHIPMENT: &str = "INSERT INTO dedup_demo_shipments \
     (order_id, message_id, correlation_id, consumer, store) VALUES ($1, $2, $3, $4, $5) RETURNING id";

/// Creates the side-effect table. Several consumers start at once, and concurrent
/// `CREATE TABLE IF NOT EXISTS` can collide in PostgreSQL's catalog: an advisory lock orders them.
async fn ensure_shipments_table(pg: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = pg.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(7104330217)")
        .execute(&mut *tx)
        .await?;
    sqlx::query(CREATE_SHIPMENTS).execute(&mut *tx).await?;
    sqlx::query(INDEX_SHIPMENTS).execute(&mut *tx).await?;
    tx.commit().await
}

/// The side effect: one row per shipment, in autocommit (the Redis mode).
async fn insert_shipment(
    pg: &PgPool,
    order: &OrderPlaced,
    at: &Attempt<'_>,
    instance: &str,
    store: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(INSERT_SHIPMENT)
        .bind(&order.order_id)
        .bind(at.message_id)
        .bind(&order.correlation_id)
        .bind(instance)
        .bind(store)
        .fetch_one(pg)
        .await
}

// ------------------------------------------------------------------------------------------------
// The consumer loop
// ------------------------------------------------------------------------------------------------

/// How one delivery ended, before it is acked or nacked.
#[derive(Debug)]
enum Verdict {
    Executed,
    Replayed,
    InProgress(Option<Duration>),
    /// The body failed: retry up to the attempt limit, then dead-letter.
    Failed(String),
    /// The store (or the database) is unavailable: requeue without counting an attempt.
    StoreUnavailable(String),
    /// The message can never succeed: dead-letter it now.
    Reject(String),
}

fn classify(result: Result<Shipment, ShipError>, token: &str) -> Verdict {
    use dedup_runtime::Error as D;
    match result {
        Ok(shipment) if shipment.token == token => Verdict::Executed,
        Ok(_) => Verdict::Replayed,
        Err(ShipError::Dedup(D::InProgress { retry_after, .. })) => {
            Verdict::InProgress(retry_after)
        }
        Err(ShipError::Dedup(err @ (D::Store { .. } | D::LeaseLost { .. }))) => {
            Verdict::StoreUnavailable(err.to_string())
        }
        Err(ShipError::Dedup(err)) => Verdict::Reject(err.to_string()),
        Err(ShipError::Database(err)) if database_unavailable(&err) => {
            Verdict::StoreUnavailable(err.to_string())
        }
        Err(ShipError::Database(err)) => Verdict::Failed(err.to_string()),
        Err(err @ (ShipError::CarrierTimeout(_) | ShipError::CarrierRejected)) => {
            Verdict::Failed(err.to_string())
        }
    }
}

/// Errors that say the database is unreachable or busy rather than that the handler is wrong:
/// requeued without counting an attempt.
fn database_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        // serialization failure, deadlock, lock_timeout, statement_timeout, shutting down
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            matches!(
                &*code,
                "40001" | "40P01" | "55P03" | "57014" | "57P01" | "57P03"
            )
        }),
        _ => false,
    }
}

#[derive(Debug, Default)]
struct Stats {
    deliveries: AtomicU64,
    executed: AtomicU64,
    replayed: AtomicU64,
    in_progress: AtomicU64,
    retried: AtomicU64,
    dead_lettered: AtomicU64,
    store_errors: AtomicU64,
}

impl Stats {
    fn line(&self, instance: &str) -> String {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        format!(
            "SUMMARY consumer={instance} deliveries={} executed={} replayed={} in_progress_requeues={} \
             retried={} dead_lettered={} store_errors={}",
            get(&self.deliveries),
            get(&self.executed),
            get(&self.replayed),
            get(&self.in_progress),
            get(&self.retried),
            get(&self.dead_lettered),
            get(&self.store_errors),
        )
    }
}

#[derive(Debug)]
struct Worker {
    shipper: Shipper,
    /// A channel in confirm mode, for the republished copies of failed messages.
    publisher: Channel,
    queue: String,
    max_attempts: u32,
    events: bool,
    stats: Stats,
}

impl Worker {
    fn event(&self, kind: &str, order_id: &str, message_id: &str) {
        if self.events {
            println!("EVENT {kind} {order_id} {message_id}");
        }
    }

    async fn handle(self: Arc<Self>, delivery: AmqpDelivery) {
        self.stats.deliveries.fetch_add(1, Ordering::Relaxed);
        let message_id = delivery
            .properties
            .message_id()
            .as_ref()
            .map(|id| id.as_str().to_owned());
        let message_id_str = message_id.as_deref().unwrap_or("-");
        let attempt = attempt_of(&delivery.properties);
        let order: OrderPlaced = match serde_json::from_slice(&delivery.data) {
            Ok(order) => order,
            Err(err) => {
                self.event("delivery", "-", message_id_str);
                tracing::error!(message_id = message_id_str, error = %err, "malformed message: dead-lettering it");
                self.dead_letter(&delivery, "-", message_id_str).await;
                return;
            }
        };
        self.event("delivery", &order.order_id, message_id_str);

        let at = Attempt {
            token: uuid::Uuid::new_v4().to_string(),
            attempt,
            message_id: message_id.as_deref(),
        };
        let verdict = classify(self.shipper.ship(&order, &at).await, &at.token);
        let order_id = order.order_id.as_str();
        match verdict {
            Verdict::Executed | Verdict::Replayed => {
                let (kind, counter) = if matches!(verdict, Verdict::Executed) {
                    ("executed", &self.stats.executed)
                } else {
                    ("replayed", &self.stats.replayed)
                };
                // Count before the ack: a crash after the ack must not hide a side effect.
                counter.fetch_add(1, Ordering::Relaxed);
                self.event(kind, order_id, message_id_str);
                if let Err(err) = delivery.ack(BasicAckOptions::default()).await {
                    // The channel is gone: the broker redelivers, and the duplicate is replayed.
                    tracing::warn!(order_id, error = %err, "ack failed");
                }
            }
            Verdict::InProgress(retry_after) => {
                self.stats.in_progress.fetch_add(1, Ordering::Relaxed);
                self.event("in_progress", order_id, message_id_str);
                let delay = retry_after
                    .unwrap_or(IN_PROGRESS_MAX_DELAY)
                    .clamp(IN_PROGRESS_MIN_DELAY, IN_PROGRESS_MAX_DELAY);
                tokio::time::sleep(delay).await;
                self.requeue(&delivery, order_id).await;
            }
            Verdict::Failed(reason) if attempt + 1 >= self.max_attempts => {
                tracing::error!(order_id, attempt, %reason, "handler failed {} times: dead-lettering", attempt + 1);
                self.dead_letter(&delivery, order_id, message_id_str).await;
            }
            Verdict::Failed(reason) => {
                tracing::warn!(order_id, attempt, %reason, "handler failed: retrying");
                // 200 ms, 400 ms, 800 ms... up to 3.2 s: a struggling dependency gets some air.
                tokio::time::sleep(Duration::from_millis(200 << attempt.min(4))).await;
                match self.republish(&delivery, attempt + 1).await {
                    Ok(()) => {
                        self.stats.retried.fetch_add(1, Ordering::Relaxed);
                        self.event("retried", order_id, message_id_str);
                        if let Err(err) = delivery.ack(BasicAckOptions::default()).await {
                            // The original comes back too: the copy and it are one order.
                            tracing::warn!(order_id, error = %err, "ack of a retried message failed");
                        }
                    }
                    Err(err) => {
                        tracing::warn!(order_id, error = %err, "could not republish: requeueing");
                        self.requeue(&delivery, order_id).await;
                    }
                }
            }
            Verdict::StoreUnavailable(reason) => {
                self.stats.store_errors.fetch_add(1, Ordering::Relaxed);
                self.event("store_error", order_id, message_id_str);
                tracing::warn!(order_id, %reason, "store unavailable: requeueing");
                tokio::time::sleep(STORE_RETRY_DELAY).await;
                self.requeue(&delivery, order_id).await;
            }
            Verdict::Reject(reason) => {
                tracing::error!(order_id, %reason, "message cannot be processed: dead-lettering");
                self.dead_letter(&delivery, order_id, message_id_str).await;
            }
        }
    }

    async fn requeue(&self, delivery: &AmqpDelivery, order_id: &str) {
        let options = BasicNackOptions {
            multiple: false,
            requeue: true,
        };
        if let Err(err) = delivery.nack(options).await {
            tracing::warn!(order_id, error = %err, "requeue failed (the broker redelivers anyway)");
        }
    }

    async fn dead_letter(&self, delivery: &AmqpDelivery, order_id: &str, message_id: &str) {
        let options = BasicNackOptions {
            multiple: false,
            requeue: false,
        };
        match delivery.nack(options).await {
            Ok(_) => {
                self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                self.event("dead_lettered", order_id, message_id);
            }
            Err(err) => tracing::warn!(order_id, error = %err, "dead-lettering failed"),
        }
    }

    /// Publishes a copy with the attempt count raised, and waits for the broker's confirm.
    async fn republish(&self, delivery: &AmqpDelivery, attempt: u32) -> Result<(), BoxError> {
        let mut headers = delivery.properties.headers().clone().unwrap_or_default();
        headers.insert(ATTEMPT_HEADER.into(), AMQPValue::LongUInt(attempt));
        let properties = delivery.properties.clone().with_headers(headers);
        let confirm = self
            .publisher
            .basic_publish(
                ShortString::from(""),
                ShortString::from(self.queue.as_str()),
                BasicPublishOptions::default(),
                &delivery.data,
                properties,
            )
            .await?
            .await?;
        if confirm.is_ack() {
            Ok(())
        } else {
            Err("the broker nacked the republished copy".into())
        }
    }
}

/// The failed attempts recorded in the `x-dedup-attempt` header (0 when absent).
fn attempt_of(properties: &BasicProperties) -> u32 {
    let Some(headers) = properties.headers() else {
        return 0;
    };
    match headers.inner().get(ATTEMPT_HEADER) {
        Some(AMQPValue::LongUInt(n)) => *n,
        Some(AMQPValue::LongInt(n)) => u32::try_from(*n).unwrap_or(0),
        Some(AMQPValue::LongLongInt(n)) => u32::try_from(*n).unwrap_or(0),
        Some(AMQPValue::ShortUInt(n)) => u32::from(*n),
        Some(AMQPValue::ShortShortUInt(n)) => u32::from(*n),
        _ => 0,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreKind {
    Inbox,
    Redis,
}

#[derive(Debug)]
struct ConsumeArgs {
    topology: Topology,
    store: StoreKind,
    database_url: String,
    redis_url: String,
    prefetch: u16,
    pool: u32,
    instance: String,
    max_attempts: u32,
    carrier: Carrier,
    events: bool,
}

async fn consume(args: ConsumeArgs) -> Result<(), BoxError> {
    let pg = PgPoolOptions::new()
        .max_connections(args.pool)
        .acquire_timeout(Duration::from_secs(10))
        .connect(&args.database_url)
        .await
        .map_err(|err| format!("PostgreSQL at {}: {err}", args.database_url))?;
    ensure_shipments_table(&pg).await?;
    let shipper = match args.store {
        StoreKind::Redis => Shipper::Redis(RedisShipper {
            store: RedisStore::connect(&args.redis_url)
                .await
                .map_err(|err| format!("Redis at {}: {err}", args.redis_url))?,
            pg,
            carrier: args.carrier,
            instance: args.instance.clone(),
        }),
        StoreKind::Inbox => Shipper::Inbox(InboxShipper {
            // The store shares the consumer's pool: the inbox runs in the consumer's transactions.
            store: PostgresStore::builder().pool(pg.clone()).connect().await?,
            pg,
            carrier: args.carrier,
            instance: args.instance.clone(),
        }),
    };

    let connection = connect_amqp(&args.topology.amqp_url, &args.instance).await?;
    let channel = connection.create_channel().await?;
    args.topology.declare(&channel).await?;
    // The prefetch bounds the unacknowledged deliveries, so it also bounds the handlers running
    // at once in this process (each delivery runs in its own task).
    channel
        .basic_qos(args.prefetch, BasicQosOptions::default())
        .await?;
    let publisher = connection.create_channel().await?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let mut consumer = channel
        .basic_consume(
            ShortString::from(args.topology.queue.as_str()),
            ShortString::from(args.instance.as_str()),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;

    let worker = Arc::new(Worker {
        shipper,
        publisher,
        queue: args.topology.queue.clone(),
        max_attempts: args.max_attempts.max(1),
        events: args.events,
        stats: Stats::default(),
    });
    worker.event("ready", "-", &args.instance);
    tracing::info!(
        instance = %args.instance,
        queue = %args.topology.queue,
        store = ?args.store,
        prefetch = args.prefetch,
        "consuming"
    );

    let mut tasks = JoinSet::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let mut report = tokio::time::interval(Duration::from_secs(10));
    report.tick().await;
    let outcome: Result<(), BoxError> = loop {
        tokio::select! {
            () = &mut shutdown => break Ok(()),
            next = consumer.next() => match next {
                Some(Ok(delivery)) => {
                    tasks.spawn(Arc::clone(&worker).handle(delivery));
                }
                Some(Err(err)) => break Err(err.into()),
                None => break Err("the broker cancelled the consumer".into()),
            },
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                if let Err(err) = joined {
                    // A panicking handler never acked: its delivery comes back when we stop.
                    tracing::error!(error = %err, "a delivery's task failed");
                }
            }
            _ = report.tick() => tracing::info!("{}", worker.stats.line(&args.instance)),
        }
    };

    // Stop taking deliveries, let the running handlers ack or nack, then close: whatever is
    // still unacknowledged goes back to the queue.
    let _ = channel
        .basic_cancel(
            ShortString::from(args.instance.as_str()),
            BasicCancelOptions::default(),
        )
        .await;
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(15), drain)
        .await
        .is_err()
    {
        tracing::warn!("handlers still running after 15 s: closing anyway");
    }
    println!("{}", worker.stats.line(&args.instance));
    let _ = connection.close(200, ShortString::from("bye")).await;
    outcome
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

// ------------------------------------------------------------------------------------------------
// Topology
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Topology {
    amqp_url: String,
    queue: String,
    /// `x-expires` of the queues (and an auto-deleted dead-letter exchange), for throwaway runs.
    expires: Option<Duration>,
}

impl Topology {
    fn dead_letter_exchange(&self) -> String {
        format!("{}.dlx", self.queue)
    }

    fn dead_letter_queue(&self) -> String {
        format!("{}.dead", self.queue)
    }

    /// Declares the queue with its dead-letter exchange and queue. Idempotent.
    async fn declare(&self, channel: &Channel) -> Result<(), lapin::Error> {
        let dlx = self.dead_letter_exchange();
        let dlq = self.dead_letter_queue();
        let expires = |table: &mut FieldTable| {
            if let Some(expires) = self.expires {
                let millis = i32::try_from(expires.as_millis()).unwrap_or(i32::MAX);
                table.insert("x-expires".into(), AMQPValue::LongInt(millis));
            }
        };
        channel
            .exchange_declare(
                ShortString::from(dlx.as_str()),
                ExchangeKind::Direct,
                ExchangeDeclareOptions {
                    durable: true,
                    auto_delete: self.expires.is_some(),
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        let mut dlq_args = FieldTable::default();
        expires(&mut dlq_args);
        channel
            .queue_declare(
                ShortString::from(dlq.as_str()),
                QueueDeclareOptions::durable(),
                dlq_args,
            )
            .await?;
        channel
            .queue_bind(
                ShortString::from(dlq.as_str()),
                ShortString::from(dlx.as_str()),
                ShortString::from(self.queue.as_str()),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let mut args = FieldTable::default();
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(LongString::from(dlx.as_str())),
        );
        args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(LongString::from(self.queue.as_str())),
        );
        expires(&mut args);
        channel
            .queue_declare(
                ShortString::from(self.queue.as_str()),
                QueueDeclareOptions::durable(),
                args,
            )
            .await?;
        Ok(())
    }
}

async fn connect_amqp(url: &str, name: &str) -> Result<Connection, BoxError> {
    let properties = ConnectionProperties::default().with_connection_name(LongString::from(name));
    Connection::connect(url, properties)
        .await
        .map_err(|err| format!("RabbitMQ at {url}: {err}").into())
}

// ------------------------------------------------------------------------------------------------
// The producer
// ------------------------------------------------------------------------------------------------

#[derive(Debug)]
struct ProduceArgs {
    topology: Topology,
    count: u64,
    resend_share: f64,
    run: String,
    /// Messages per second; 0: as fast as the broker confirms.
    rate: u64,
    seed: u64,
}

/// One message to publish: the `index`th order, or a resend of it.
#[derive(Debug, Clone, Copy)]
struct Planned {
    order: u64,
    resend: bool,
}

/// Which orders are published in which order: `count` messages, `round(count * share)` of them
/// resends of an earlier order. A third of the resends follow their original at once (so two
/// deliveries of one order often run at the same time, on two consumers: the in-progress case);
/// the others come up to 400 messages later.
fn plan(count: u64, resend_share: f64, seed: u64) -> (u64, Vec<Planned>) {
    let resends = ((count as f64) * resend_share.clamp(0.0, 1.0)).round() as u64;
    let resends = resends.min(count.saturating_sub(1));
    let unique = count - resends;
    let mut rng = SplitMix64(seed);
    let mut keyed: Vec<(u64, u64, Planned)> = (0..unique)
        .map(|order| {
            (
                order * 4,
                0,
                Planned {
                    order,
                    resend: false,
                },
            )
        })
        .collect();
    for tie in 1..=resends {
        let order = rng.next() % unique;
        let key = if rng.next().is_multiple_of(3) {
            order * 4 + 1
        } else {
            (order + 1 + rng.next() % 400) * 4 + 2
        };
        keyed.push((
            key,
            tie,
            Planned {
                order,
                resend: true,
            },
        ));
    }
    keyed.sort_by_key(|&(key, tie, _)| (key, tie));
    (unique, keyed.into_iter().map(|(_, _, p)| p).collect())
}

/// The functional content of order `index` of `run`: the same on every resend.
fn order_of(run: &str, index: u64) -> OrderPlaced {
    const SKUS: [&str; 5] = [
        "tea-earl-grey",
        "tea-sencha",
        "mug-white",
        "kettle",
        "teapot",
    ];
    OrderPlaced {
        order_id: format!("{run}-{index:06}"),
        customer: format!("customer-{:03}", index % 173),
        sku: SKUS[(index % 5) as usize].to_owned(),
        quantity: 1 + (index % 4) as u32,
        amount_cents: 500 + ((index * 7919) % 20_000) as i64,
        correlation_id: String::new(),
        sent_at: 0,
    }
}

async fn produce(args: ProduceArgs) -> Result<(), BoxError> {
    let connection = connect_amqp(&args.topology.amqp_url, "dedup-demo-producer").await?;
    let channel = connection.create_channel().await?;
    args.topology.declare(&channel).await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;

    let (unique, plan) = plan(args.count, args.resend_share, args.seed);
    let started = Instant::now();
    let mut pending = Vec::new();
    let mut resends = 0_u64;
    for (index, planned) in plan.iter().enumerate() {
        if args.rate > 0 {
            let due = started + Duration::from_secs_f64(index as f64 / args.rate as f64);
            tokio::time::sleep_until(due.into()).await;
        }
        resends += u64::from(planned.resend);
        let mut order = order_of(&args.run, planned.order);
        // A resend: the same order, with a new correlation id, timestamp and message id.
        order.correlation_id = uuid::Uuid::new_v4().to_string();
        order.sent_at = now_millis();
        let properties = BasicProperties::default()
            .with_content_type(ShortString::from("application/json"))
            .with_delivery_mode(2)
            .with_message_id(ShortString::from(uuid::Uuid::new_v4().to_string()))
            .with_correlation_id(ShortString::from(order.correlation_id.as_str()))
            .with_timestamp(order.sent_at / 1000);
        let body = serde_json::to_vec(&order)?;
        let confirm = channel
            .basic_publish(
                ShortString::from(""),
                ShortString::from(args.topology.queue.as_str()),
                BasicPublishOptions::default(),
                &body,
                properties,
            )
            .await?;
        pending.push(confirm);
        if pending.len() >= 100 {
            await_confirms(&mut pending).await?;
        }
    }
    await_confirms(&mut pending).await?;
    println!(
        "PRODUCED queue={} run={} published={} orders={unique} resends={resends} seconds={:.1}",
        args.topology.queue,
        args.run,
        plan.len(),
        started.elapsed().as_secs_f64()
    );
    let _ = connection.close(200, ShortString::from("bye")).await;
    Ok(())
}

async fn await_confirms(pending: &mut Vec<lapin::PublisherConfirm>) -> Result<(), BoxError> {
    for confirm in pending.drain(..) {
        if !confirm.await?.is_ack() {
            return Err("the broker nacked a published message".into());
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// Small helpers
// ------------------------------------------------------------------------------------------------

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A tiny deterministic generator, so that a seed reproduces a producer's plan.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

// ------------------------------------------------------------------------------------------------
// Command line
// ------------------------------------------------------------------------------------------------

const USAGE: &str = "\
usage:
  rabbitmq_consumer consume [--store inbox|redis] [--queue Q] [--prefetch N] [--pool N]
                            [--instance NAME] [--max-attempts N] [--work-ms MS]
                            [--fail-every N] [--poison-every N] [--queue-expires SECS]
                            [--events]
  rabbitmq_consumer produce [--count N] [--resend-share F] [--run ID] [--rate PER_SEC]
                            [--seed N] [--queue Q] [--queue-expires SECS]

environment: AMQP_URL, DATABASE_URL, REDIS_URL (defaults: the local services)";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn parse_args(args: Vec<String>) -> Result<Command, String> {
    let mut args = args.into_iter();
    let command = args.next().ok_or("missing command")?;
    let mut options: Vec<(String, Option<String>)> = Vec::new();
    while let Some(arg) = args.next() {
        let Some(name) = arg.strip_prefix("--") else {
            return Err(format!("unexpected argument `{arg}`"));
        };
        if name == "events" {
            options.push((name.to_owned(), None));
        } else {
            let value = args.next().ok_or(format!("--{name} needs a value"))?;
            options.push((name.to_owned(), Some(value)));
        }
    }
    let mut take = |name: &str| -> Option<String> {
        let index = options.iter().position(|(n, _)| n == name)?;
        Some(options.remove(index).1.unwrap_or_default())
    };
    fn num<T: std::str::FromStr>(
        name: &str,
        value: Option<String>,
        default: T,
    ) -> Result<T, String> {
        match value {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{name}: `{v}` is not a valid number")),
        }
    }
    let topology = Topology {
        amqp_url: env_or("AMQP_URL", DEFAULT_AMQP_URL),
        queue: take("queue").unwrap_or_else(|| DEFAULT_QUEUE.to_owned()),
        expires: num::<u64>("queue-expires", take("queue-expires"), 0)
            .map(|s| (s > 0).then(|| Duration::from_secs(s)))?,
    };
    let command = match command.as_str() {
        "consume" => Command::Consume(ConsumeArgs {
            store: match take("store").as_deref() {
                None | Some("inbox") => StoreKind::Inbox,
                Some("redis") => StoreKind::Redis,
                Some(other) => {
                    return Err(format!("--store: `{other}` is neither inbox nor redis"));
                }
            },
            database_url: env_or("DATABASE_URL", DEFAULT_DATABASE_URL),
            redis_url: env_or("REDIS_URL", DEFAULT_REDIS_URL),
            prefetch: num("prefetch", take("prefetch"), 16)?,
            pool: num("pool", take("pool"), 5)?,
            instance: take("instance")
                .unwrap_or_else(|| format!("consumer-{}", std::process::id())),
            max_attempts: num("max-attempts", take("max-attempts"), 5)?,
            carrier: Carrier {
                latency: Duration::from_millis(num("work-ms", take("work-ms"), 0)?),
                fail_every: num("fail-every", take("fail-every"), 0)?,
                poison_every: num("poison-every", take("poison-every"), 0)?,
            },
            events: take("events").is_some(),
            topology,
        }),
        "produce" => {
            let run = take("run").unwrap_or_else(|| {
                format!("run-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
            });
            Command::Produce(ProduceArgs {
                count: num("count", take("count"), 1_000)?,
                resend_share: num("resend-share", take("resend-share"), 0.3)?,
                rate: num("rate", take("rate"), 0)?,
                seed: num("seed", take("seed"), fnv1a(run.as_bytes()))?,
                run,
                topology,
            })
        }
        other => return Err(format!("unknown command `{other}`")),
    };
    if let Some((name, _)) = options.first() {
        return Err(format!("unknown option --{name}"));
    }
    Ok(command)
}

#[derive(Debug)]
enum Command {
    Consume(ConsumeArgs),
    Produce(ProduceArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,lapin=warn,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let command = match parse_args(std::env::args().skip(1).collect()) {
        Ok(command) => command,
        Err(err) => {
            eprintln!("rabbitmq_consumer: {err}\n\n{USAGE}");
            return std::process::ExitCode::from(2);
        }
    };
    let result = match command {
        Command::Consume(args) => consume(args).await,
        Command::Produce(args) => produce(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("rabbitmq_consumer: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
