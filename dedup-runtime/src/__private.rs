//! What generated code calls. Not a public API: no semver guarantees; the macros crate is pinned
//! to this exact version (`=x.y.z`), so the two never drift apart.
//!
//! Everything the expansions touch is re-exported here, down to `Result` and `Option`, so that
//! generated code needs nothing from the user's imports or prelude.

pub use ::core;
pub use ::serde;
pub use ::std::{option::Option, result::Result, string::String};

pub use crate::error::Error;
pub use crate::fingerprint::Unordered;
pub use crate::fingerprint::{Digest, Fingerprint, FingerprintError};

/// The canonical fingerprint of `value` under `namespace` (what `#[derive(Fingerprint)]` calls).
pub fn fingerprint_of<T: ::serde::Serialize + ?Sized>(
    namespace: &str,
    value: &T,
) -> Result<Digest, Error> {
    crate::fingerprint::fingerprint_of(namespace, value).map_err(Error::from)
}

/// The direct path of `#[derive(Fingerprint)]` (`fingerprint/encoder/direct.rs`).
pub mod fp1 {
    pub use crate::fingerprint::encoder::direct::{
        Encode, EncodeTag, Error, Field, SerdeTag, ViaEncode, ViaSerde, Writer, fingerprint,
    };
}

pub use crate::store::{BlockingStore, Store, StoreHandle};
pub use ::core::time::Duration;

use crate::idempotency::{Delivery, Idempotency, Outcome};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;

/// The store behind `store = <expr>` (a store, an `Arc` or a `LazyLock` of one), as an owned handle.
pub fn handle<H: StoreHandle + ?Sized>(store: &H) -> H::Store {
    store.handle()
}

/// The fingerprint of `key = <expr>` (or of the only parameter), computed before the body runs.
pub fn key_of<K: Fingerprint + ?Sized>(key: &K) -> Result<Digest, Error> {
    key.try_fingerprint()
}

/// `ttl = "24h"`-style durations are checked by the macro; this builds them.
pub const fn seconds(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

/// Everything `#[idempotent]` knows about one call, gathered before the body runs.
#[derive(Debug)]
pub struct Call {
    /// `scope = "..."` or `module_path!()::fn_name`.
    pub scope: &'static str,
    /// The fingerprint of the key, or why it has none.
    pub key: Result<Digest, Error>,
    /// `ttl = ...`.
    pub ttl: Duration,
    /// `lease = ...`.
    pub lease: Duration,
    /// `correlation = ...`.
    pub correlation: Option<String>,
    /// `payload = ...`: the fingerprint of the whole message, for validation.
    pub payload: Option<Result<Digest, Error>>,
}

impl Call {
    /// Fails before anything touches the store when the key or payload has no fingerprint.
    fn prepare<S: Store>(self, store: S) -> Result<Prepared<S>, Error> {
        Ok(Prepared {
            key: self.key?,
            payload: self.payload.transpose()?,
            correlation: self.correlation,
            idempotency: Idempotency::new(store, self.scope)
                .ttl(self.ttl)
                .lease(self.lease),
        })
    }
}

/// A [`Call`] whose fingerprints were computed.
struct Prepared<S> {
    idempotency: Idempotency<S>,
    key: Digest,
    payload: Option<Digest>,
    correlation: Option<String>,
}

impl<S: Store> Prepared<S> {
    fn delivery(&self) -> Delivery<'_> {
        Delivery::new(self.key)
            .correlation(self.correlation.as_deref())
            .payload(self.payload)
    }

    fn answer<T, E: From<Error>>(&self, outcome: Outcome<T>) -> Result<T, E> {
        match outcome {
            Outcome::Executed(value) | Outcome::Replayed(value) => Ok(value),
            Outcome::InProgress { retry_after } => Err(E::from(
                self.idempotency
                    .in_progress_error(&self.delivery(), retry_after),
            )),
        }
    }
}

/// The body of an `async fn` under `#[idempotent]`.
pub async fn run_async<S, T, E, Fut>(store: S, call: Call, body: Fut) -> Result<T, E>
where
    S: Store,
    T: Serialize + DeserializeOwned,
    E: From<Error>,
    Fut: Future<Output = Result<T, E>>,
{
    let prepared = call.prepare(store)?;
    let outcome = prepared
        .idempotency
        .execute(prepared.delivery(), body)
        .await?;
    prepared.answer(outcome)
}

/// The body of a plain `fn` under `#[idempotent]`.
pub fn run_sync<S, T, E, F>(store: S, call: Call, body: F) -> Result<T, E>
where
    S: BlockingStore,
    T: Serialize + DeserializeOwned,
    E: From<Error>,
    F: FnOnce() -> Result<T, E>,
{
    let prepared = call.prepare(store)?;
    let outcome = prepared
        .idempotency
        .execute_blocking(prepared.delivery(), body)?;
    prepared.answer(outcome)
}

/// `correlation = <expr>` accepts any `Display` value or an `Option` of one. Which of the two is
/// picked by method resolution on `&&Probe(&value)` (autoref specialisation): the `Option` impl
/// is found first, at one reference less, and the `Display` impl serves every other type.
///
/// Generated code calls it as
/// `{ use ::dedup_runtime::__private::{CorrelationFromOption as _, CorrelationFromDisplay as _};
///    (&&::dedup_runtime::__private::Probe(&(expr))).__dedup_correlation() }`.
#[derive(Debug)]
pub struct Probe<'a, T: ?Sized>(pub &'a T);

/// See [`Probe`].
pub trait CorrelationFromOption {
    /// The correlation id, if the option holds one.
    fn __dedup_correlation(&self) -> Option<String>;
}

impl<T: std::fmt::Display> CorrelationFromOption for &Probe<'_, Option<T>> {
    fn __dedup_correlation(&self) -> Option<String> {
        self.0.as_ref().map(ToString::to_string)
    }
}

/// See [`Probe`].
pub trait CorrelationFromDisplay {
    /// The correlation id.
    fn __dedup_correlation(&self) -> Option<String>;
}

impl<T: std::fmt::Display + ?Sized> CorrelationFromDisplay for Probe<'_, T> {
    fn __dedup_correlation(&self) -> Option<String> {
        Some(self.0.to_string())
    }
}

// ---------------------------------------------------------------------------------------------
// `#[idempotent]` expansion helpers (added with the attribute).

pub use crate::idempotency::{DEFAULT_LEASE, DEFAULT_TTL};

/// A handler's return type split into the value that is stored and the error that can carry
/// [`Error`]: `Result<T, E>` or any alias of one (`anyhow::Result<T>`, `io::Result<T>`).
///
/// `#[idempotent]` passes the declared return type explicitly to [`run_sync_returning`] /
/// [`run_async_returning`], spanned at the user's return type: a type that is not such a `Result`
/// is then exactly one error, there (rather than one more for every place that expected a
/// `Result`).
#[diagnostic::on_unimplemented(
    message = "`#[idempotent]` handlers must return `Result<T, E>` with `T: Serialize + DeserializeOwned` and `E: From<dedup_runtime::Error>`",
    label = "`{Self}` is not such a `Result`",
    note = "the `Ok` value is stored and replayed to duplicates; the error type must be able to carry `dedup_runtime::Error` (store trouble, in-progress duplicates)"
)]
pub trait HandlerResult: Sized {
    /// The stored and replayed value.
    type Ok: Serialize + DeserializeOwned;
    /// The handler's error.
    type Err: From<Error>;
    /// As a plain `Result`.
    fn into_result(self) -> Result<Self::Ok, Self::Err>;
    /// Back from a plain `Result`.
    fn from_result(result: Result<Self::Ok, Self::Err>) -> Self;
}

impl<T: Serialize + DeserializeOwned, E: From<Error>> HandlerResult for Result<T, E> {
    type Ok = T;
    type Err = E;
    fn into_result(self) -> Self {
        self
    }
    fn from_result(result: Self) -> Self {
        result
    }
}

/// [`run_sync`] with the handler's return type `R` given explicitly (see [`HandlerResult`]).
///
/// The store and the body are `impl Trait` arguments, so that `R` alone is named and an
/// unsuitable store is reported at the argument, i.e. at `store = ...`.
pub fn run_sync_returning<R: HandlerResult>(
    store: impl BlockingStore,
    call: Call,
    body: impl FnOnce() -> R,
) -> R {
    R::from_result(run_sync(store, call, move || body().into_result()))
}

/// [`run_async`] with the handler's return type `R` given explicitly (see [`HandlerResult`]).
pub async fn run_async_returning<R: HandlerResult>(
    store: impl Store,
    call: Call,
    body: impl Future<Output = R>,
) -> R {
    use futures_util::FutureExt as _;
    R::from_result(run_async(store, call, body.map(R::into_result)).await)
}

// `#[idempotent(tx = ...)]`: the transactional inbox in the handler's own transaction.
#[cfg(feature = "postgres")]
mod inbox;
#[cfg(feature = "postgres")]
pub use self::inbox::{
    InboxStore, InboxTransaction, inbox_begin, inbox_connection, inbox_finish, inbox_store,
};
// Without `postgres`, the same functions, so that `tx = ...` fails with one error that names the
// feature (see `no_postgres.rs`). Its types are re-exported too, so that the error names them by
// this path.
#[cfg(not(feature = "postgres"))]
mod no_postgres;
#[cfg(not(feature = "postgres"))]
pub use self::no_postgres::{
    NoClaim, NoInbox, NoPostgres, PostgresFeature, inbox_begin, inbox_connection, inbox_finish,
    inbox_store,
};
