//! What `#[idempotent(tx = ...)]` expands to: the transactional [`Inbox`] run in the handler's
//! own PostgreSQL transaction, so that the body's writes and the dedup record commit or roll back
//! together.
//!
//! ```text
//! let __dedup_connection = inbox_connection::<T>(); // for `tx: &mut T`
//! let __dedup_claim = match inbox_begin::<Ret>(inbox_store(&(store)), call, __dedup_connection(&mut *tx)).await {
//!     ControlFlow::Continue(claim) => claim,        // claimed in `tx`: run the body
//!     ControlFlow::Break(answer) => return answer,  // replayed, in progress, or an error
//! };
//! let __dedup_result: Ret = { let tx = &mut *tx; async move { body }.await };
//! // complete (`Ok`) or release (`Err`) in `tx`
//! inbox_finish::<Ret>(__dedup_claim, __dedup_connection(&mut *tx), __dedup_result).await
//! ```
//!
//! The caller commits (after `Ok`) or rolls back (after `Err`); this code never does either.

use std::ops::ControlFlow;

use sqlx::{Connection as _, PgConnection, Postgres, Transaction};

use super::{Call, HandlerResult};
use crate::Error;
use crate::idempotency::Delivery;
use crate::store::{Inbox, InboxClaim, InboxOutcome, PostgresStore, Store, StoreHandle};

/// A store that can claim inside the caller's transaction: what `tx = ...` requires of
/// `store = ...`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot claim inside the caller's transaction",
    label = "this store has no transactional inbox",
    note = "`tx = ...` needs `store = ...` to be a `PostgresStore` (or an `Arc` or `LazyLock` of one): the claim and the record are written in the handler's PostgreSQL transaction"
)]
pub trait InboxStore: Store {
    /// The PostgreSQL store whose table records the messages.
    fn into_postgres(self) -> PostgresStore;
}

impl InboxStore for PostgresStore {
    fn into_postgres(self) -> PostgresStore {
        self
    }
}

/// What the `tx = ...` parameter may point to: an open PostgreSQL transaction.
#[diagnostic::on_unimplemented(
    message = "`tx = ...` must name a `&mut sqlx::Transaction<'_, sqlx::Postgres>` (or a `&mut PgConnection` inside one), not a `&mut {Self}`",
    label = "not a PostgreSQL transaction",
    note = "the claim and the record are written in the caller's transaction, which the caller commits after `Ok`: open one with `pool.begin().await?` and pass `&mut tx`"
)]
pub trait InboxTransaction {
    /// The transaction's connection, or an error when no transaction is open on it.
    fn inbox_connection(&mut self) -> Result<&mut PgConnection, Error>;
}

impl InboxTransaction for Transaction<'_, Postgres> {
    fn inbox_connection(&mut self) -> Result<&mut PgConnection, Error> {
        Ok(&mut **self)
    }
}

/// A bare connection works too (a helper that takes `&mut PgConnection`, called with `&mut *tx`),
/// as long as a transaction is open on it: in autocommit, the claim would commit on its own and a
/// failing body would leave it in progress until its lease ran out.
impl InboxTransaction for PgConnection {
    fn inbox_connection(&mut self) -> Result<&mut PgConnection, Error> {
        if self.is_in_transaction() {
            Ok(self)
        } else {
            // `Misuse`, not `Store`: retrying cannot help (`is_store_unavailable` stays false),
            // the handler's caller has to be fixed.
            Err(Error::Misuse {
                reason: "the connection passed as `tx` has no open transaction, so the handler's \
                         body did not run: begin one (`pool.begin().await?` or \
                         `conn.begin().await?`) and pass `&mut tx`; `#[idempotent(tx = ...)]` \
                         claims and records in the caller's transaction and never commits on \
                         its own"
                    .to_owned(),
            })
        }
    }
}

/// The store behind `store = <expr>`, checked to be one that can claim in a transaction. Located
/// at `store = ...` by the expansion, so that a store without an inbox is reported there.
pub fn inbox_store<H: StoreHandle + ?Sized>(store: &H) -> PostgresStore
where
    H::Store: InboxStore,
{
    store.handle().into_postgres()
}

/// How to reach the connection of the `tx: &mut T` parameter. The expansion names `T` (located at
/// the parameter's type) and calls this once: a type that is not a transaction is then one error,
/// there, and the claim and the completion both go through the function it returns.
pub fn inbox_connection<T: InboxTransaction + ?Sized>()
-> fn(&mut T) -> Result<&mut PgConnection, Error> {
    T::inbox_connection
}

/// Claims the call's message on `conn`, inside its transaction. `Continue`: the claim is this
/// transaction's, run the body. `Break`: the handler's answer without running the body, i.e. the
/// first result (a duplicate), [`Error::InProgress`], or the error that prevented the claim.
///
/// A concurrent delivery's uncommitted claim makes this wait until its transaction ends (see
/// [`Inbox`]).
pub async fn inbox_begin<R: HandlerResult>(
    store: PostgresStore,
    call: Call,
    conn: Result<&mut PgConnection, Error>,
) -> ControlFlow<R, InboxClaim> {
    match claim::<R::Ok>(store, call, conn).await {
        Ok(Claimed::Run(claim)) => ControlFlow::Continue(claim),
        Ok(Claimed::Replay(value)) => ControlFlow::Break(R::from_result(Ok(value))),
        Err(err) => ControlFlow::Break(R::from_result(Err(err.into()))),
    }
}

enum Claimed<T> {
    Run(InboxClaim),
    Replay(T),
}

async fn claim<T: serde::de::DeserializeOwned>(
    store: PostgresStore,
    call: Call,
    conn: Result<&mut PgConnection, Error>,
) -> Result<Claimed<T>, Error> {
    // Fails before anything touches the database when the key or payload has no fingerprint.
    let key = call.key?;
    let payload = call.payload.transpose()?;
    let conn = conn?;
    let inbox = Inbox::new(store, call.scope)
        .ttl(call.ttl)
        .lease(call.lease);
    let delivery = Delivery::new(key)
        .correlation(call.correlation.as_deref())
        .payload(payload);
    match inbox.begin_in(conn, delivery).await? {
        InboxOutcome::Claimed(claim) => Ok(Claimed::Run(claim)),
        InboxOutcome::Completed(replay) => Ok(Claimed::Replay(replay.decode()?)),
        InboxOutcome::InProgress { retry_after } => {
            Err(inbox.in_progress_error(&delivery, retry_after))
        }
    }
}

/// Settles `claim` on `conn` with the body's result: on `Ok`, records the value (it commits with
/// the body's writes when the caller commits); on `Err`, releases the claim, so that a caller
/// that commits anyway does not leave the message in progress, and returns the error.
pub async fn inbox_finish<R: HandlerResult>(
    claim: InboxClaim,
    conn: Result<&mut PgConnection, Error>,
    result: R,
) -> R {
    let conn = match conn {
        Ok(conn) => conn,
        Err(err) => return R::from_result(Err(err.into())),
    };
    match result.into_result() {
        Ok(value) => match claim.complete_in(conn, &value).await {
            Ok(()) => R::from_result(Ok(value)),
            Err(err) => R::from_result(Err(err.into())),
        },
        Err(err) => {
            let key = claim.key().to_string();
            // The transaction may be aborted by the body's failed statement: then the release
            // fails too, and the rollback the caller owes removes the claim anyway.
            if let Err(release) = claim.release_in(conn).await {
                tracing::debug!(
                    target: "dedup",
                    key,
                    error = %release,
                    "could not release the claim in the handler's transaction; its rollback removes it"
                );
            }
            R::from_result(Err(err))
        }
    }
}
