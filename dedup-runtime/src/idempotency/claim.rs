//! [`Claim`]: the right to run a message's body, and [`Replay`]: the result of its first run.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::{BlockingStore, Key, OwnerToken, Store};
use crate::{Digest, Error};

/// This delivery's claim on a message. Complete it with the body's result or release it.
///
/// Dropping a claim that was neither completed nor released (a panic, a cancelled future)
/// releases it through [`Store::release_detached`]: at once when the store can, in the
/// background on a Tokio runtime, or else when its lease runs out. Nothing is lost either way.
pub struct Claim<S: Store> {
    store: S,
    scope: Cow<'static, str>,
    fingerprint: Digest,
    owner: OwnerToken,
    ttl: Duration,
    settled: bool,
}

impl<S: Store> Claim<S> {
    pub(super) fn new(
        store: S,
        scope: Cow<'static, str>,
        fingerprint: Digest,
        owner: OwnerToken,
        ttl: Duration,
    ) -> Self {
        Claim {
            store,
            scope,
            fingerprint,
            owner,
            ttl,
            settled: false,
        }
    }

    /// The message's key.
    pub fn key(&self) -> Key<'_> {
        Key::new(&self.scope, self.fingerprint)
    }

    /// The token that fences this claim.
    pub fn owner(&self) -> OwnerToken {
        self.owner
    }

    /// Records `value` as the message's result, replayed to every duplicate within the ttl.
    ///
    /// Fails (and the delivery must not be acknowledged) when the value cannot be stored
    /// faithfully, when the store fails, or with [`Error::LeaseLost`] when the lease ran out and
    /// another delivery took the claim over. In the first two cases the claim is released, so a
    /// redelivery runs again instead of waiting for the lease.
    pub async fn complete<T: Serialize + DeserializeOwned>(
        mut self,
        value: &T,
    ) -> Result<(), Error> {
        self.settled = true;
        let encoded = match encode_result(&self.scope, value) {
            Ok(encoded) => encoded,
            Err(err) => {
                self.release_after_failure().await;
                return Err(err);
            }
        };
        let result = self
            .store
            .complete(self.key(), self.owner, &encoded, self.ttl)
            .await;
        match result {
            Err(Error::LeaseLost { .. }) => Err(self.lease_lost()),
            Err(err) => {
                self.release_after_failure().await;
                Err(err)
            }
            Ok(()) => Ok(()),
        }
    }

    /// Gives the claim up, so that a redelivery runs the body again.
    ///
    /// Returns `false` when the claim had already been taken over by another delivery.
    pub async fn release(mut self) -> Result<bool, Error> {
        self.settled = true;
        self.store.release(self.key(), self.owner).await
    }

    /// Releases after the body failed; a failing release leaves the claim to its lease.
    pub(super) async fn release_after_failure(mut self) {
        self.settled = true;
        if let Err(err) = self.store.release(self.key(), self.owner).await {
            self.warn_release_failed(&err);
        }
    }

    fn lease_lost(&self) -> Error {
        Error::LeaseLost {
            scope: self.scope.to_string(),
            fingerprint: self.fingerprint,
        }
    }

    fn warn_release_failed(&self, err: &Error) {
        tracing::warn!(
            target: "dedup",
            scope = %self.scope,
            fingerprint = %self.fingerprint,
            store = self.store.name(),
            error = %err,
            "could not release a claim; it will expire with its lease"
        );
    }
}

impl<S: BlockingStore> Claim<S> {
    /// [`complete`](Claim::complete) for synchronous code.
    pub fn complete_blocking<T: Serialize + DeserializeOwned>(
        mut self,
        value: &T,
    ) -> Result<(), Error> {
        self.settled = true;
        let encoded = match encode_result(&self.scope, value) {
            Ok(encoded) => encoded,
            Err(err) => {
                self.release_after_failure_blocking();
                return Err(err);
            }
        };
        match self
            .store
            .complete_blocking(self.key(), self.owner, &encoded, self.ttl)
        {
            Err(Error::LeaseLost { .. }) => Err(self.lease_lost()),
            Err(err) => {
                self.release_after_failure_blocking();
                Err(err)
            }
            Ok(()) => Ok(()),
        }
    }

    /// [`release`](Claim::release) for synchronous code.
    pub fn release_blocking(mut self) -> Result<bool, Error> {
        self.settled = true;
        self.store.release_blocking(self.key(), self.owner)
    }

    pub(super) fn release_after_failure_blocking(mut self) {
        self.settled = true;
        if let Err(err) = self.store.release_blocking(self.key(), self.owner) {
            self.warn_release_failed(&err);
        }
    }
}

impl<S: Store> Drop for Claim<S> {
    fn drop(&mut self) {
        if !self.settled {
            self.store.release_detached(self.key(), self.owner);
        }
    }
}

impl<S: Store> fmt::Debug for Claim<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claim")
            .field("store", &self.store.name())
            .field("scope", &self.scope)
            .field("fingerprint", &self.fingerprint)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

/// Encodes a handler's `Ok` value as JSON, and refuses values that would not come back equal.
///
/// JSON keeps stored results readable in the database for audit, and is what every language
/// reads. It writes a non-finite float as `null`, which would then fail every replay; decoding
/// the bytes once here turns that into an error while the first delivery is still unacknowledged.
pub(crate) fn encode_result<T: Serialize + DeserializeOwned>(
    scope: &str,
    value: &T,
) -> Result<Vec<u8>, Error> {
    let encoded = serde_json::to_vec(value).map_err(|err| Error::Encode {
        scope: scope.to_owned(),
        reason: err.to_string(),
    })?;
    serde_json::from_slice::<T>(&encoded).map_err(|err| Error::Encode {
        scope: scope.to_owned(),
        reason: format!("the encoded value does not decode back ({err}); a NaN or infinite float?"),
    })?;
    Ok(encoded)
}

/// The recorded result of a message's first run, as a duplicate receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    value: Vec<u8>,
    correlation: Option<String>,
    scope: Cow<'static, str>,
    fingerprint: Digest,
}

impl Replay {
    pub(crate) fn new(
        value: Vec<u8>,
        correlation: Option<String>,
        scope: Cow<'static, str>,
        fingerprint: Digest,
    ) -> Self {
        Replay {
            value,
            correlation,
            scope,
            fingerprint,
        }
    }

    /// The first delivery's correlation id.
    pub fn first_correlation(&self) -> Option<&str> {
        self.correlation.as_deref()
    }

    /// The encoded result (JSON).
    pub fn raw(&self) -> &[u8] {
        &self.value
    }

    /// Decodes the result into the handler's return type.
    ///
    /// Fails with [`Error::Decode`] when the stored value does not fit `T` (the type changed
    /// between releases): never a silent default.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.value).map_err(|err| Error::Decode {
            scope: self.scope.to_string(),
            fingerprint: self.fingerprint,
            reason: err.to_string(),
        })
    }
}
