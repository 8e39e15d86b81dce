//! The transactional inbox on PostgreSQL: [`Inbox`] (see its docs).

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::{PgConnection, Postgres, Transaction};

use super::postgres::{PostgresStore, claim_on, complete_on, lease_lost, release_on};
use crate::idempotency::claim::encode_result;
use crate::idempotency::{Delivery, Found, Idempotency, Replay};
use crate::store::{ClaimOutcome, Key, OwnerToken};
use crate::{Digest, Error};

/// The transactional inbox on PostgreSQL: the claim and the completion of a message run inside
/// the caller's own transaction, so the handler's business writes and the dedup record commit
/// or roll back together.
///
/// ```no_run
/// use dedup_runtime::idempotency::Delivery;
/// use dedup_runtime::store::{InboxOutcome, PostgresStore};
///
/// # async fn demo(store: PostgresStore, order_id: i64) -> Result<(), Box<dyn std::error::Error>> {
/// let delivery = Delivery::new(dedup_runtime::Fingerprint::try_fingerprint(&order_id)?);
/// let mut tx = store.pool().begin().await?;
/// match store.inbox(&mut tx, "billing.charge", delivery).await? {
///     InboxOutcome::Claimed(claim) => {
///         sqlx::query("INSERT INTO charges (order_id) VALUES ($1)")
///             .bind(order_id)
///             .execute(&mut *tx)
///             .await?;
///         claim.complete(&mut tx, &format!("charged {order_id}")).await?;
///         tx.commit().await?; // both rows, or (on any error above: drop = rollback) neither
///     }
///     InboxOutcome::Completed(replay) => {
///         let first: String = replay.decode()?; // a duplicate: nothing was written
///     }
///     InboxOutcome::InProgress { .. } => { /* requeue later */ }
/// }
/// # Ok(()) }
/// ```
///
/// # With `#[idempotent]`
///
/// A handler does the same with [`#[idempotent(tx = ...)]`](crate::idempotent), naming the
/// parameter that holds the transaction: it claims in it, runs the body, and completes in it
/// (or, when the body fails, releases in it). The caller opens the transaction and commits it
/// after `Ok`, then acknowledges the delivery:
///
/// ```no_run
/// use dedup_runtime::idempotent;
/// use dedup_runtime::store::PostgresStore;
/// use sqlx::{Postgres, Transaction};
///
/// #[derive(Debug, thiserror::Error)]
/// enum ChargeError {
///     #[error(transparent)]
///     Database(#[from] sqlx::Error),
///     #[error(transparent)]
///     Dedup(#[from] dedup_runtime::Error),
/// }
///
/// struct Billing {
///     store: PostgresStore,
/// }
///
/// impl Billing {
///     // The key is `order_id`: the transaction is never part of it.
///     #[idempotent(store = self.store, scope = "billing.charge", tx = tx)]
///     async fn charge(
///         &self,
///         tx: &mut Transaction<'_, Postgres>,
///         order_id: i64,
///     ) -> Result<String, ChargeError> {
///         sqlx::query("INSERT INTO charges (order_id) VALUES ($1)")
///             .bind(order_id)
///             .execute(&mut **tx)
///             .await?;
///         Ok(format!("charged {order_id}"))
///     }
/// }
///
/// # async fn demo(billing: Billing) -> Result<(), ChargeError> {
/// let mut tx = billing.store.pool().begin().await?;
/// let receipt = billing.charge(&mut tx, 42).await?; // on `Err`, `tx` is dropped: rolled back
/// tx.commit().await?; // the charge row and the record, or (on any error) neither
/// println!("{receipt}"); // ack the delivery now
/// # Ok(()) }
/// ```
///
/// # Concurrency
///
/// The claim is the store's claim statement, run in the caller's transaction. Its in-progress
/// row is uncommitted, so no other transaction ever sees it: when a second consumer receives the
/// same message meanwhile, its claim's `INSERT` **blocks** on the uncommitted row until the first
/// transaction ends, then:
///
/// * the first **committed** (with the completed record): the second reads it and gets
///   [`InboxOutcome::Completed`], the body does not run again;
/// * the first **rolled back**: the row never existed; the second claims and runs the body.
///
/// So two transactions can never both run the body, and the wait lasts as long as the first
/// transaction: keep handler transactions short, and bound the wait with PostgreSQL's
/// `lock_timeout` or `statement_timeout` if need be (the claim then fails with
/// [`Error::Store`] and the delivery is requeued). The lease does not apply to an uncommitted
/// claim: the transaction itself is the lease.
///
/// Run the inbox in `READ COMMITTED` (PostgreSQL's default). Under `REPEATABLE READ` or
/// `SERIALIZABLE`, the blocked claim fails with a serialization error instead of reading the
/// first transaction's result: roll back and retry the delivery.
///
/// Commit only after [`InboxClaim::complete`]. Committing a claim that was neither completed nor
/// released leaves an in-progress record that other deliveries respect until the lease runs out.
/// When the body fails, roll the transaction back (dropping it does): the claim disappears with
/// the business writes, and a redelivery runs the body again.
///
/// An `Inbox` is one consumer's configuration: a [`PostgresStore`], a scope, a ttl and a lease;
/// [`PostgresStore::inbox`] is the shortcut with the default ttl and lease.
#[derive(Debug, Clone)]
pub struct Inbox {
    idempotency: Idempotency<PostgresStore>,
}

impl Inbox {
    /// The inbox of `scope` on `store`, with the protocol's default ttl (one day) and lease
    /// (30 s; it only matters if a claim is committed without being completed).
    pub fn new(store: PostgresStore, scope: impl Into<Cow<'static, str>>) -> Self {
        Inbox {
            idempotency: Idempotency::new(store, scope),
        }
    }

    /// How long a completed record is remembered.
    pub fn ttl(self, ttl: Duration) -> Self {
        Inbox {
            idempotency: self.idempotency.ttl(ttl),
        }
    }

    /// How long a committed but uncompleted claim is honoured.
    pub fn lease(self, lease: Duration) -> Self {
        Inbox {
            idempotency: self.idempotency.lease(lease),
        }
    }

    /// The scope.
    pub fn scope(&self) -> &str {
        self.idempotency.scope()
    }

    /// Claims `delivery` inside `tx`, or tells what holds it. See [`Inbox`] on
    /// what a concurrent duplicate does (it waits for `tx` to end).
    ///
    /// On `Err`, the transaction may be aborted: roll it back.
    pub async fn begin(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        delivery: Delivery<'_>,
    ) -> Result<InboxOutcome, Error> {
        self.begin_in(tx, delivery).await
    }

    /// [`begin`](Inbox::begin) on the connection of a transaction the caller checked is open
    /// (what `#[idempotent(tx = ...)]` runs).
    pub(crate) async fn begin_in(
        &self,
        conn: &mut PgConnection,
        delivery: Delivery<'_>,
    ) -> Result<InboxOutcome, Error> {
        let store = self.idempotency.store();
        let key = Key::new(self.scope(), delivery.key());
        let owner = OwnerToken::random();
        let request = self.idempotency.claim_request(owner, &delivery);
        match claim_on(store.statements(), conn, key, &request).await? {
            ClaimOutcome::Acquired => Ok(InboxOutcome::Claimed(InboxClaim {
                store: store.clone(),
                scope: self.scope().to_owned(),
                fingerprint: delivery.key(),
                owner,
                ttl: self.idempotency.ttl,
            })),
            ClaimOutcome::Existing(record) => {
                Ok(match self.idempotency.found(record, &delivery)? {
                    Found::Completed(replay) => InboxOutcome::Completed(replay),
                    Found::InProgress { retry_after } => InboxOutcome::InProgress { retry_after },
                })
            }
        }
    }

    /// The [`Error::InProgress`] for `delivery`, for callers that turn
    /// [`InboxOutcome::InProgress`] into an error.
    pub(crate) fn in_progress_error(
        &self,
        delivery: &Delivery<'_>,
        retry_after: Option<Duration>,
    ) -> Error {
        self.idempotency.in_progress_error(delivery, retry_after)
    }
}

impl PostgresStore {
    /// Claims `delivery` in `scope` inside the caller's transaction `tx`, with the default ttl
    /// and lease: [`Inbox::new`]`(store, scope).begin(tx, delivery)`.
    ///
    /// Run the handler's writes in `tx`, then [`InboxClaim::complete`] in `tx`, then commit:
    /// the writes and the dedup record commit or roll back together. See the
    /// [inbox docs](crate::store::Inbox) for what a concurrent duplicate does.
    pub async fn inbox(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        scope: &str,
        delivery: Delivery<'_>,
    ) -> Result<InboxOutcome, Error> {
        Inbox::new(self.clone(), scope.to_owned())
            .begin(tx, delivery)
            .await
    }
}

/// What [`Inbox::begin`] found.
#[derive(Debug)]
#[must_use = "a claimed message must be completed in the transaction before it commits"]
pub enum InboxOutcome {
    /// This transaction holds the claim: run the body in it, then complete and commit.
    Claimed(InboxClaim),
    /// The message was processed already (and committed): the first result.
    Completed(Replay),
    /// A committed claim of another delivery holds the message (one committed without being
    /// completed): retry after its lease.
    InProgress {
        /// How long its lease still runs.
        retry_after: Option<Duration>,
    },
}

/// This transaction's claim on a message: complete it in the same transaction, then commit.
///
/// Dropping it does nothing by itself: rolling the transaction back removes the claim.
#[must_use = "complete the claim in the same transaction before committing"]
pub struct InboxClaim {
    store: PostgresStore,
    scope: String,
    fingerprint: Digest,
    owner: OwnerToken,
    ttl: Duration,
}

impl InboxClaim {
    /// The message's key.
    pub fn key(&self) -> Key<'_> {
        Key::new(&self.scope, self.fingerprint)
    }

    /// The token that fences this claim.
    pub fn owner(&self) -> OwnerToken {
        self.owner
    }

    /// Records `value` (as JSON, like [`Claim::complete`](crate::idempotency::Claim::complete))
    /// as the message's result, inside `tx`: it becomes visible, with the handler's writes,
    /// when `tx` commits.
    ///
    /// Fails with [`Error::Encode`] when the value would not replay faithfully (a NaN float),
    /// [`Error::LeaseLost`] when the record is no longer this claim's, or [`Error::Store`]; in
    /// each case roll the transaction back.
    pub async fn complete<T: Serialize + DeserializeOwned>(
        self,
        tx: &mut Transaction<'_, Postgres>,
        value: &T,
    ) -> Result<(), Error> {
        self.complete_in(tx, value).await
    }

    /// [`complete`](InboxClaim::complete) on the connection of the claim's transaction.
    pub(crate) async fn complete_in<T: Serialize + DeserializeOwned>(
        self,
        conn: &mut PgConnection,
        value: &T,
    ) -> Result<(), Error> {
        let encoded = encode_result(&self.scope, value)?;
        let key = self.key();
        if complete_on(
            self.store.statements(),
            conn,
            key,
            self.owner,
            &encoded,
            self.ttl,
        )
        .await?
        {
            Ok(())
        } else {
            Err(lease_lost(key))
        }
    }

    /// Deletes the claim inside `tx`, for a transaction that commits other work but not this
    /// message (a redelivery then runs the body). Returns `false` if the claim was not found.
    pub async fn release(self, tx: &mut Transaction<'_, Postgres>) -> Result<bool, Error> {
        self.release_in(tx).await
    }

    /// [`release`](InboxClaim::release) on the connection of the claim's transaction.
    pub(crate) async fn release_in(self, conn: &mut PgConnection) -> Result<bool, Error> {
        release_on(self.store.statements(), conn, self.key(), self.owner).await
    }
}

impl fmt::Debug for InboxClaim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboxClaim")
            .field("scope", &self.scope)
            .field("fingerprint", &self.fingerprint)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}
