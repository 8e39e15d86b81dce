//! Effectively-once message processing: stable fingerprints, `#[idempotent]` handlers and
//! deduplication stores shared by every instance of a consumer.
//!
//! Brokers deliver some messages more than once (a producer's resend, a lost ack, a crash between
//! the side effect and the ack). `dedup` makes a handler's *processing* happen once per distinct
//! message, without ever losing one:
//!
//! 1. [`Fingerprint`] hashes a message's functional content — not its timestamps or correlation
//!    id, which a resend changes — with a canonical encoding that is stable across restarts,
//!    releases, platforms and languages ([`fingerprint`]).
//! 2. [`idempotent`] claims the fingerprint atomically in a [`store`] before the body runs. A
//!    duplicate is skipped and gets the first result back; a delivery that arrives while the
//!    first is still running gets [`Error::InProgress`] (requeue it, never ack it); a failing or
//!    panicking body releases its claim so the redelivery runs again.
//! 3. Records keep the correlation id for audit and expire after their ttl.
//!
//! ```
//! use dedup_runtime::store::MemoryStore;
//! use dedup_runtime::{Error, Fingerprint, idempotent};
//! use serde::{Deserialize, Serialize};
//! use std::sync::LazyLock;
//!
//! #[derive(Serialize, Fingerprint)]
//! #[fingerprint(namespace = "shop.OrderPlaced.v1")]
//! struct OrderPlaced {
//!     order_id: u64,
//!     amount_cents: i64,
//!     #[fingerprint(skip)]
//!     correlation_id: String,
//! }
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize)]
//! struct Receipt {
//!     charge_id: u64,
//! }
//!
//! static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);
//! static CHARGES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
//!
//! #[idempotent(store = STORE, scope = "billing.charge", correlation = order.correlation_id.as_str())]
//! fn charge(order: &OrderPlaced) -> Result<Receipt, Error> {
//!     let charge_id = CHARGES.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
//!     Ok(Receipt { charge_id })
//! }
//!
//! let first = OrderPlaced { order_id: 7, amount_cents: 4_990, correlation_id: "a".into() };
//! let resend = OrderPlaced { order_id: 7, amount_cents: 4_990, correlation_id: "b".into() };
//! assert_eq!(charge(&first)?, Receipt { charge_id: 1 });
//! assert_eq!(charge(&resend)?, Receipt { charge_id: 1 }); // replayed: the body did not run
//! # Ok::<(), Error>(())
//! ```
//!
//! Code that cannot use the attribute (a consumer loop deciding ack / nack itself) runs the same
//! protocol through [`idempotency::Idempotency`], which tells executed, replayed and in-progress
//! deliveries apart.
//!
//! # Stores
//!
//! Chosen at compile time by cargo features: [`store::MemoryStore`] (`memory`, default),
//! `RedisStore` (`redis`), `PostgresStore` (`postgres`), `SqliteStore` (`sqlite`). Every store
//! passes one conformance suite (`store::conformance`, feature `test-util`).
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod error;
pub mod fingerprint;
pub mod idempotency;
pub mod store;

#[doc(hidden)]
pub mod __private;

pub use crate::error::Error;
pub use crate::fingerprint::{Digest, Fingerprint};
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use dedup_macros::{Fingerprint, idempotent};
