//! The one error type every fallible operation of this crate returns.
//!
//! Handlers return `Result<T, E>` with `E: From<Error>`, so every variant here must say plainly
//! whether the delivery may be acknowledged: none of them may. A consumer that sees any `Error`
//! requeues (or dead-letters) the message; [`Error::is_in_progress`] tells the one case where a
//! short delay before the retry is the right answer.

use std::time::Duration;

use crate::fingerprint::{Digest, FingerprintError};

/// A boxed error from a store's driver (a connection refused, a timeout, a SQL error...).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong between a delivery and its acknowledgement.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Another delivery of the same message holds the claim and its lease has not run out.
    ///
    /// The body did not run. Requeue the delivery, ideally after `retry_after`: reporting it as
    /// done would lose the message if the first attempt then fails.
    #[error(
        "message {fingerprint} in scope `{scope}` is being processed by another delivery; retry later"
    )]
    InProgress {
        /// The scope the claim lives in.
        scope: String,
        /// The fingerprint of the message.
        fingerprint: Digest,
        /// How long the current claim's lease still runs, when the store knows.
        retry_after: Option<Duration>,
    },

    /// The message could not be fingerprinted (too deep, a duplicate map key, a failing `Serialize`).
    #[error(transparent)]
    Fingerprint(#[from] FingerprintError),

    /// The store could not be reached or refused the operation. Nothing was recorded.
    #[error("{store} store error: {source}")]
    Store {
        /// The backend: `"memory"`, `"redis"`, `"postgres"`, `"sqlite"` or a user store's name.
        store: &'static str,
        /// The driver's error.
        #[source]
        source: BoxError,
    },

    /// A record in the store does not have the shape this version writes (or was tampered with).
    #[error("{store} store holds a corrupt record for `{key}`: {reason}")]
    CorruptRecord {
        /// The backend.
        store: &'static str,
        /// The store key of the record.
        key: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The handler's `Ok` value could not be encoded for replay; the completion was not recorded.
    #[error("the result of `{scope}` cannot be stored for replay: {reason}")]
    Encode {
        /// The scope of the handler.
        scope: String,
        /// Why the value cannot be stored faithfully.
        reason: String,
    },

    /// A stored result no longer decodes into the handler's return type (the type changed).
    #[error(
        "the stored result of message {fingerprint} in scope `{scope}` no longer decodes: {reason}"
    )]
    Decode {
        /// The scope of the handler.
        scope: String,
        /// The fingerprint of the message.
        fingerprint: Digest,
        /// The decoder's message.
        reason: String,
    },

    /// This delivery's claim was taken over (its lease ran out) before it could complete or release.
    ///
    /// The body ran, but its result was not recorded: the delivery must not be acknowledged.
    #[error(
        "the claim on message {fingerprint} in scope `{scope}` was lost (its lease ran out and another delivery took it over)"
    )]
    LeaseLost {
        /// The scope of the claim.
        scope: String,
        /// The fingerprint of the message.
        fingerprint: Digest,
    },

    /// The key matched a record made for a message with a different payload fingerprint.
    #[error(
        "key {fingerprint} in scope `{scope}` was first used by a different message (payload {stored}, this one {current})"
    )]
    PayloadMismatch {
        /// The scope.
        scope: String,
        /// The key fingerprint shared by both messages.
        fingerprint: Digest,
        /// The payload fingerprint recorded by the first delivery.
        stored: Digest,
        /// The payload fingerprint of this delivery.
        current: Digest,
    },

    /// A store was configured with values it cannot use (a bad URL, table name, capacity...).
    #[error("invalid {store} store configuration: {reason}")]
    Config {
        /// The backend.
        store: &'static str,
        /// What is wrong.
        reason: String,
    },

    /// The calling code used the API in a way that cannot work, such as passing
    /// `#[idempotent(tx = ...)]` a connection without an open transaction. Nothing ran and
    /// nothing was recorded; retrying cannot help, the code has to change.
    #[error("dedup cannot run this handler: {reason}")]
    Misuse {
        /// What is wrong, and how to fix it.
        reason: String,
    },
}

impl Error {
    /// `true` when another delivery of the same message is still being processed.
    ///
    /// The consumer should requeue this delivery after a short delay, never acknowledge it.
    pub fn is_in_progress(&self) -> bool {
        matches!(self, Error::InProgress { .. })
    }

    /// `true` when the error comes from the store being unreachable or failing: retrying later may work.
    pub fn is_store_unavailable(&self) -> bool {
        matches!(self, Error::Store { .. })
    }

    /// Wraps a driver error of the store named `store`.
    pub fn store(store: &'static str, source: impl Into<BoxError>) -> Self {
        Error::Store {
            store,
            source: source.into(),
        }
    }

    /// A corrupt record in `store` at `key`.
    pub fn corrupt(store: &'static str, key: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::CorruptRecord {
            store,
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// A configuration error of `store`.
    pub fn config(store: &'static str, reason: impl Into<String>) -> Self {
        Error::Config {
            store,
            reason: reason.into(),
        }
    }
}

/// Lets handlers return `std::io::Result<T>`: the dedup error travels inside the `io::Error`
/// (get it back with `io_error.get_ref().and_then(|e| e.downcast_ref::<dedup_runtime::Error>())`).
///
/// An in-progress duplicate maps to [`std::io::ErrorKind::ResourceBusy`], an unreachable store to
/// [`std::io::ErrorKind::NotConnected`], everything else to [`std::io::ErrorKind::Other`].
impl From<Error> for std::io::Error {
    fn from(err: Error) -> Self {
        let kind = match err {
            Error::InProgress { .. } => std::io::ErrorKind::ResourceBusy,
            Error::Store { .. } => std::io::ErrorKind::NotConnected,
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, err)
    }
}
