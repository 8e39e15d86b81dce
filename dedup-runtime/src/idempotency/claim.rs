//! [`Claim`]: the right to run a message's body, and [`Replay`]: the result of its first run.

use std::borrow::Cow;
use std::cell::Cell;
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
    ticket: Ticket,
    settled: bool,
}

/// What identifies a claim besides its store and scope.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ticket {
    pub(super) fingerprint: Digest,
    pub(super) owner: OwnerToken,
    pub(super) ttl: Duration,
}

impl<S: Store> Claim<S> {
    pub(super) fn new(store: S, scope: Cow<'static, str>, ticket: Ticket) -> Self {
        Claim {
            store,
            scope,
            ticket,
            settled: false,
        }
    }

    /// The message's key.
    pub fn key(&self) -> Key<'_> {
        Key::new(&self.scope, self.ticket.fingerprint)
    }

    /// The token that fences this claim.
    pub fn owner(&self) -> OwnerToken {
        self.ticket.owner
    }

    /// Hands the claim to a [`Held`] on this claim's store and scope, which settles it (or
    /// releases it when dropped unsettled).
    fn held(&mut self) -> Held<'_, S> {
        self.settled = true;
        Held::new(&self.store, &self.scope, self.ticket)
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
        self.held().complete(value).await
    }

    /// Gives the claim up, so that a redelivery runs the body again.
    ///
    /// Returns `false` when the claim had already been taken over by another delivery.
    pub async fn release(mut self) -> Result<bool, Error> {
        self.held().release().await
    }
}

impl<S: BlockingStore> Claim<S> {
    /// [`complete`](Claim::complete) for synchronous code.
    pub fn complete_blocking<T: Serialize + DeserializeOwned>(
        mut self,
        value: &T,
    ) -> Result<(), Error> {
        self.held().complete_blocking(value)
    }

    /// [`release`](Claim::release) for synchronous code.
    pub fn release_blocking(mut self) -> Result<bool, Error> {
        self.held().release_blocking()
    }
}

impl<S: Store> Drop for Claim<S> {
    fn drop(&mut self) {
        if !self.settled {
            self.store.release_detached(self.key(), self.ticket.owner);
        }
    }
}

impl<S: Store> fmt::Debug for Claim<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claim")
            .field("store", &self.store.name())
            .field("scope", &self.scope)
            .field("fingerprint", &self.ticket.fingerprint)
            .field("owner", &self.ticket.owner)
            .finish_non_exhaustive()
    }
}

/// A claim on a borrowed store and scope. [`Claim`] settles through one, and
/// [`Idempotency::execute`](super::Idempotency::execute) holds one while the body runs: a
/// handler's call then clones no store handle (on several cores, each clone and drop of a
/// shared handle moves its reference count from core to core).
///
/// Dropped unsettled (a panic, a cancelled future), it releases the claim like [`Claim`].
pub(super) struct Held<'a, S: Store> {
    store: &'a S,
    scope: &'a str,
    ticket: Ticket,
    settled: bool,
}

impl<'a, S: Store> Held<'a, S> {
    pub(super) fn new(store: &'a S, scope: &'a str, ticket: Ticket) -> Self {
        Held {
            store,
            scope,
            ticket,
            settled: false,
        }
    }

    fn key(&self) -> Key<'a> {
        Key::new(self.scope, self.ticket.fingerprint)
    }

    /// See [`Claim::complete`].
    pub(super) async fn complete<T: Serialize + DeserializeOwned>(
        mut self,
        value: &T,
    ) -> Result<(), Error> {
        self.settled = true;
        let mut scratch = Scratch::take();
        let encoded = match scratch.encode(self.scope, value) {
            Ok(encoded) => encoded,
            Err(err) => {
                self.release_after_failure().await;
                return Err(err);
            }
        };
        let result = self
            .store
            .complete(self.key(), self.ticket.owner, encoded, self.ticket.ttl)
            .await;
        drop(scratch);
        match result {
            Err(Error::LeaseLost { .. }) => Err(self.lease_lost()),
            Err(err) => {
                self.release_after_failure().await;
                Err(err)
            }
            Ok(()) => Ok(()),
        }
    }

    /// See [`Claim::release`].
    pub(super) async fn release(mut self) -> Result<bool, Error> {
        self.settled = true;
        self.store.release(self.key(), self.ticket.owner).await
    }

    /// Releases after the body failed; a failing release leaves the claim to its lease.
    pub(super) async fn release_after_failure(mut self) {
        self.settled = true;
        if let Err(err) = self.store.release(self.key(), self.ticket.owner).await {
            self.warn_release_failed(&err);
        }
    }

    fn lease_lost(&self) -> Error {
        Error::LeaseLost {
            scope: self.scope.to_owned(),
            fingerprint: self.ticket.fingerprint,
        }
    }

    fn warn_release_failed(&self, err: &Error) {
        tracing::warn!(
            target: "dedup",
            scope = %self.scope,
            fingerprint = %self.ticket.fingerprint,
            store = self.store.name(),
            error = %err,
            "could not release a claim; it will expire with its lease"
        );
    }
}

impl<S: BlockingStore> Held<'_, S> {
    /// See [`Claim::complete_blocking`].
    pub(super) fn complete_blocking<T: Serialize + DeserializeOwned>(
        mut self,
        value: &T,
    ) -> Result<(), Error> {
        self.settled = true;
        let mut scratch = Scratch::take();
        let encoded = match scratch.encode(self.scope, value) {
            Ok(encoded) => encoded,
            Err(err) => {
                self.release_after_failure_blocking();
                return Err(err);
            }
        };
        let result =
            self.store
                .complete_blocking(self.key(), self.ticket.owner, encoded, self.ticket.ttl);
        drop(scratch);
        match result {
            Err(Error::LeaseLost { .. }) => Err(self.lease_lost()),
            Err(err) => {
                self.release_after_failure_blocking();
                Err(err)
            }
            Ok(()) => Ok(()),
        }
    }

    /// See [`Claim::release_blocking`].
    pub(super) fn release_blocking(mut self) -> Result<bool, Error> {
        self.settled = true;
        self.store.release_blocking(self.key(), self.ticket.owner)
    }

    pub(super) fn release_after_failure_blocking(mut self) {
        self.settled = true;
        if let Err(err) = self.store.release_blocking(self.key(), self.ticket.owner) {
            self.warn_release_failed(&err);
        }
    }
}

impl<S: Store> Drop for Held<'_, S> {
    fn drop(&mut self) {
        if !self.settled {
            self.store.release_detached(self.key(), self.ticket.owner);
        }
    }
}

/// [`encode_result_into`] a new buffer.
#[cfg(feature = "postgres")]
pub(crate) fn encode_result<T: Serialize + DeserializeOwned>(
    scope: &str,
    value: &T,
) -> Result<Vec<u8>, Error> {
    let mut encoded = Vec::with_capacity(128);
    encode_result_into(scope, value, &mut encoded)?;
    Ok(encoded)
}

/// Encodes a handler's `Ok` value as JSON into `encoded` (cleared first), and refuses values
/// that would not come back equal.
///
/// JSON keeps stored results readable in the database for audit, and is what every language
/// reads. It writes a non-finite float as `null`, which would then fail every replay; decoding
/// the bytes once here turns that into an error while the first delivery is still unacknowledged.
fn encode_result_into<T: Serialize + DeserializeOwned>(
    scope: &str,
    value: &T,
    encoded: &mut Vec<u8>,
) -> Result<(), Error> {
    encoded.clear();
    serde_json::to_writer(&mut *encoded, value).map_err(|err| Error::Encode {
        scope: scope.to_owned(),
        reason: err.to_string(),
    })?;
    serde_json::from_slice::<T>(encoded).map_err(|err| Error::Encode {
        scope: scope.to_owned(),
        reason: format!("the encoded value does not decode back ({err}); a NaN or infinite float?"),
    })?;
    Ok(())
}

/// A buffer to encode a result into, reused by the thread's next completion.
///
/// Stores copy the bytes they are given, so the encoding is garbage once `complete` returns:
/// reusing its buffer saves an allocation and a free per first delivery. A completion that
/// awaits takes the buffer out of its thread for the while, and gives it back to whichever
/// thread it ends on.
struct Scratch(Vec<u8>);

/// Buffers that grew larger than this (an unusually large result) are freed, not kept.
const SCRATCH_KEPT: usize = 16 * 1024;

thread_local! {
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

impl Scratch {
    fn take() -> Self {
        Scratch(SCRATCH.try_with(Cell::take).unwrap_or_default())
    }

    /// Encodes `value` (see [`encode_result_into`]); the bytes live until the next call or the
    /// drop.
    fn encode<T: Serialize + DeserializeOwned>(
        &mut self,
        scope: &str,
        value: &T,
    ) -> Result<&[u8], Error> {
        encode_result_into(scope, value, &mut self.0)?;
        Ok(&self.0)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.0.capacity() <= SCRATCH_KEPT {
            let buffer = std::mem::take(&mut self.0);
            // During the thread's teardown, the buffer is simply freed.
            let _ = SCRATCH.try_with(|scratch| scratch.set(buffer));
        }
    }
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
