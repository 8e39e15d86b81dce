//! The deduplication protocol, without macros: claim, run, complete or release.
//!
//! `#[idempotent]` expands to calls of this API; consumer loops that decide ack / nack themselves
//! use it directly:
//!
//! ```
//! use dedup_runtime::idempotency::{Delivery, Idempotency, Outcome};
//! use dedup_runtime::store::MemoryStore;
//! use dedup_runtime::{Error, Fingerprint};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! let charges = Idempotency::new(MemoryStore::new(), "billing.charge");
//! let order_id = 42_u64;
//! let delivery = Delivery::new(order_id.try_fingerprint()?).correlation(Some("corr-1"));
//!
//! let outcome = charges
//!     .execute(delivery, async { Ok::<_, Error>(format!("charged order {order_id}")) })
//!     .await?;
//! assert!(matches!(outcome, Outcome::Executed(_)));
//!
//! // The broker delivers it again: the body does not run, the first result comes back.
//! let again = charges
//!     .execute(delivery, async { Err::<String, Error>(unreachable!("a duplicate never runs")) })
//!     .await?;
//! assert_eq!(again, Outcome::Replayed("charged order 42".to_owned()));
//! # Ok(()) }
//! ```
//!
//! # What each outcome asks of the consumer
//!
//! | outcome | meaning | consumer |
//! |---|---|---|
//! | [`Outcome::Executed`] | this delivery ran the body and its result is recorded | ack |
//! | [`Outcome::Replayed`] | a duplicate: the body did not run; the first result is returned | ack |
//! | [`Outcome::InProgress`] | another delivery holds the claim | requeue after a delay, never ack |
//! | `Err(_)` | the body failed (claim released) or the store failed (nothing recorded) | requeue |

pub(crate) mod claim;
mod delivery;

use std::borrow::Cow;
use std::future::Future;
use std::panic::{AssertUnwindSafe, resume_unwind};
use std::time::Duration;

use futures_util::FutureExt as _;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use self::claim::{Claim, Replay};
use self::claim::{Held, Ticket};
pub use self::delivery::Delivery;
use crate::Error;
use crate::store::{
    BlockingStore, ClaimOutcome, ClaimRequest, Key, OwnerToken, Record, RecordState, Store,
};

/// How long a completed record is remembered when `ttl` is not given: one day, longer than the
/// redelivery window of most brokers' default settings. Choose it against yours (see the guide).
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// How long an in-progress claim is honoured when `lease` is not given: 30 seconds. It must be
/// longer than the slowest run of the handler, or a redelivery may run the body a second time.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T> {
    /// The body ran and its `Ok` value was recorded.
    Executed(T),
    /// A duplicate: the body did not run; this is the first delivery's result.
    Replayed(T),
    /// Another delivery of the message holds the claim; the body did not run.
    InProgress {
        /// How long the other delivery's lease still runs, when the store knows.
        retry_after: Option<Duration>,
    },
}

impl<T> Outcome<T> {
    /// The value of an executed or replayed delivery.
    pub fn value(self) -> Option<T> {
        match self {
            Outcome::Executed(value) | Outcome::Replayed(value) => Some(value),
            Outcome::InProgress { .. } => None,
        }
    }

    /// `true` when the delivery may be acknowledged (executed or replayed).
    pub fn is_done(&self) -> bool {
        !matches!(self, Outcome::InProgress { .. })
    }
}

/// What [`Idempotency::begin`] found.
#[derive(Debug)]
#[must_use = "a claim must be completed or released; dropping it releases it in the background"]
pub enum Begin<S: Store> {
    /// This delivery holds the claim: run the body, then [`Claim::complete`] or [`Claim::release`].
    Claimed(Claim<S>),
    /// The message was processed already: the first result.
    Completed(Replay),
    /// Another delivery holds the claim.
    InProgress {
        /// How long its lease still runs, when the store knows.
        retry_after: Option<Duration>,
    },
}

/// One consumer's deduplication: a store, the scope its records live under, a ttl and a lease.
///
/// Cheap to clone when the store is (stores are handles).
#[derive(Debug, Clone)]
pub struct Idempotency<S> {
    store: S,
    scope: Cow<'static, str>,
    pub(crate) ttl: Duration,
    lease: Duration,
}

/// A live record that prevents a claim, as the protocol reads it.
pub(crate) enum Found {
    Completed(Replay),
    InProgress { retry_after: Option<Duration> },
}

impl Found {
    /// What [`Idempotency::execute`] reports: the replayed value, decoded, or in progress.
    fn into_outcome<T: DeserializeOwned>(self) -> Result<Outcome<T>, Error> {
        Ok(match self {
            Found::Completed(replay) => Outcome::Replayed(replay.decode()?),
            Found::InProgress { retry_after } => Outcome::InProgress { retry_after },
        })
    }
}

impl<S: Store> Idempotency<S> {
    /// Deduplicates in `scope` on `store`, with [`DEFAULT_TTL`] and [`DEFAULT_LEASE`].
    ///
    /// Deliveries in different scopes are independent: each scope processes a message once.
    pub fn new(store: S, scope: impl Into<Cow<'static, str>>) -> Self {
        Idempotency {
            store,
            scope: scope.into(),
            ttl: DEFAULT_TTL,
            lease: DEFAULT_LEASE,
        }
    }

    /// How long a completed record is remembered (a duplicate arriving later runs again).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long a claim is honoured before a redelivery may take it over.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The scope.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Claims the delivery's key, or reports what holds it.
    pub async fn begin(&self, delivery: Delivery<'_>) -> Result<Begin<S>, Error> {
        let (owner, outcome) = self.claim(&delivery).await?;
        self.begin_with(outcome, owner, &delivery)
    }

    /// Asks the store for the delivery's key, with a fresh owner token.
    async fn claim(&self, delivery: &Delivery<'_>) -> Result<(OwnerToken, ClaimOutcome), Error> {
        let owner = OwnerToken::random();
        let key = Key::new(&self.scope, delivery.key());
        let outcome = self
            .store
            .claim(key, &self.claim_request(owner, delivery))
            .await?;
        Ok((owner, outcome))
    }

    /// Runs `body` once per distinct delivery key, and tells what happened.
    ///
    /// The body is polled only when this delivery holds the claim. When it returns `Err` or
    /// panics, the claim is released (so a redelivery runs again) and the error or panic goes on.
    /// When the `Ok` value cannot be recorded, the error is returned: the delivery must not be
    /// acknowledged although the body ran.
    pub async fn execute<T, E, Fut>(
        &self,
        delivery: Delivery<'_>,
        body: Fut,
    ) -> Result<Outcome<T>, E>
    where
        Fut: Future<Output = Result<T, E>>,
        T: Serialize + DeserializeOwned,
        E: From<Error>,
    {
        let (owner, outcome) = self.claim(&delivery).await?;
        let claim = match self.held(outcome, owner, &delivery)? {
            Ok(claim) => claim,
            Err(found) => return Ok(found.into_outcome()?),
        };
        match AssertUnwindSafe(body).catch_unwind().await {
            Ok(Ok(value)) => {
                claim.complete(&value).await?;
                Ok(Outcome::Executed(value))
            }
            Ok(Err(err)) => {
                claim.release_after_failure().await;
                Err(err)
            }
            Err(panic) => {
                claim.release_after_failure().await;
                resume_unwind(panic)
            }
        }
    }

    pub(crate) fn claim_request<'d>(
        &self,
        owner: OwnerToken,
        delivery: &Delivery<'d>,
    ) -> ClaimRequest<'d> {
        ClaimRequest {
            owner,
            lease: self.lease,
            correlation: delivery.correlation_id(),
            payload: delivery.payload_fingerprint(),
        }
    }

    /// Turns a store's answer into the protocol's.
    fn begin_with(
        &self,
        outcome: ClaimOutcome,
        owner: OwnerToken,
        delivery: &Delivery<'_>,
    ) -> Result<Begin<S>, Error> {
        match outcome {
            ClaimOutcome::Acquired => Ok(Begin::Claimed(Claim::new(
                self.store.clone(),
                self.scope.clone(),
                self.ticket(owner, delivery),
            ))),
            ClaimOutcome::Existing(record) => Ok(match self.found(record, delivery)? {
                Found::Completed(replay) => Begin::Completed(replay),
                Found::InProgress { retry_after } => Begin::InProgress { retry_after },
            }),
        }
    }

    /// [`begin_with`](Self::begin_with) for the protocol's own runs: the claim borrows this
    /// store instead of cloning it.
    fn held(
        &self,
        outcome: ClaimOutcome,
        owner: OwnerToken,
        delivery: &Delivery<'_>,
    ) -> Result<Result<Held<'_, S>, Found>, Error> {
        match outcome {
            ClaimOutcome::Acquired => Ok(Ok(Held::new(
                &self.store,
                &self.scope,
                self.ticket(owner, delivery),
            ))),
            ClaimOutcome::Existing(record) => Ok(Err(self.found(record, delivery)?)),
        }
    }

    fn ticket(&self, owner: OwnerToken, delivery: &Delivery<'_>) -> Ticket {
        Ticket {
            fingerprint: delivery.key(),
            owner,
            ttl: self.ttl,
        }
    }

    /// Reads the record that prevented a claim: checks the payload and traces the duplicate.
    pub(crate) fn found(&self, record: Record, delivery: &Delivery<'_>) -> Result<Found, Error> {
        if let (Some(stored), Some(current)) = (record.payload, delivery.payload_fingerprint())
            && stored != current
        {
            return Err(Error::PayloadMismatch {
                scope: self.scope.to_string(),
                fingerprint: delivery.key(),
                stored,
                current,
            });
        }
        match record.state {
            RecordState::Completed { value } => {
                tracing::info!(
                    target: "dedup",
                    scope = %self.scope,
                    fingerprint = %delivery.key(),
                    first_correlation = record.correlation.as_deref(),
                    correlation = delivery.correlation_id(),
                    store = self.store.name(),
                    "duplicate delivery skipped; replaying the first result"
                );
                Ok(Found::Completed(Replay::new(
                    value,
                    record.correlation,
                    self.scope.clone(),
                    delivery.key(),
                )))
            }
            RecordState::InProgress { .. } => {
                tracing::info!(
                    target: "dedup",
                    scope = %self.scope,
                    fingerprint = %delivery.key(),
                    first_correlation = record.correlation.as_deref(),
                    correlation = delivery.correlation_id(),
                    retry_after_ms = record.expires_in.map(|d| d.as_millis() as u64),
                    store = self.store.name(),
                    "delivery arrived while the first is still in progress; retry later"
                );
                Ok(Found::InProgress {
                    retry_after: record.expires_in,
                })
            }
        }
    }

    /// The [`Error::InProgress`] for `delivery`, for callers that turn an outcome into an error.
    pub fn in_progress_error(
        &self,
        delivery: &Delivery<'_>,
        retry_after: Option<Duration>,
    ) -> Error {
        Error::InProgress {
            scope: self.scope.to_string(),
            fingerprint: delivery.key(),
            retry_after,
        }
    }
}

impl<S: BlockingStore> Idempotency<S> {
    /// [`begin`](Idempotency::begin) for synchronous code.
    pub fn begin_blocking(&self, delivery: Delivery<'_>) -> Result<Begin<S>, Error> {
        let (owner, outcome) = self.claim_blocking(&delivery)?;
        self.begin_with(outcome, owner, &delivery)
    }

    /// [`claim`](Self::claim), blocking.
    fn claim_blocking(&self, delivery: &Delivery<'_>) -> Result<(OwnerToken, ClaimOutcome), Error> {
        let owner = OwnerToken::random();
        let key = Key::new(&self.scope, delivery.key());
        let outcome = self
            .store
            .claim_blocking(key, &self.claim_request(owner, delivery))?;
        Ok((owner, outcome))
    }

    /// [`execute`](Idempotency::execute) for synchronous code: `body` runs at most once per key.
    pub fn execute_blocking<T, E, F>(
        &self,
        delivery: Delivery<'_>,
        body: F,
    ) -> Result<Outcome<T>, E>
    where
        F: FnOnce() -> Result<T, E>,
        T: Serialize + DeserializeOwned,
        E: From<Error>,
    {
        let (owner, outcome) = self.claim_blocking(&delivery)?;
        let claim = match self.held(outcome, owner, &delivery)? {
            Ok(claim) => claim,
            Err(found) => return Ok(found.into_outcome()?),
        };
        match std::panic::catch_unwind(AssertUnwindSafe(body)) {
            Ok(Ok(value)) => {
                claim.complete_blocking(&value)?;
                Ok(Outcome::Executed(value))
            }
            Ok(Err(err)) => {
                claim.release_after_failure_blocking();
                Err(err)
            }
            Err(panic) => {
                claim.release_after_failure_blocking();
                resume_unwind(panic)
            }
        }
    }
}
