//! [`Delivery`]: what the protocol needs to know about one delivery of a message.

use crate::{Digest, Error, Fingerprint};

/// The key of one delivery, with its audit and validation data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery<'a> {
    key: Digest,
    correlation: Option<&'a str>,
    payload: Option<Digest>,
}

impl<'a> Delivery<'a> {
    /// A delivery whose deduplication key is `key` (usually a message's fingerprint).
    pub fn new(key: Digest) -> Self {
        Delivery {
            key,
            correlation: None,
            payload: None,
        }
    }

    /// A delivery keyed by the fingerprint of `message`.
    pub fn of<M: Fingerprint + ?Sized>(message: &M) -> Result<Self, Error> {
        Ok(Delivery::new(message.try_fingerprint()?))
    }

    /// Attaches the delivery's correlation id: stored with the record for audit, and logged
    /// beside the first delivery's on every duplicate.
    pub fn correlation(mut self, correlation: Option<&'a str>) -> Self {
        self.correlation = correlation;
        self
    }

    /// Attaches the fingerprint of the whole message, for when the key is only part of it.
    ///
    /// A later delivery with the same key but another payload then fails with
    /// [`Error::PayloadMismatch`] instead of silently receiving another message's result.
    pub fn payload(mut self, payload: Option<Digest>) -> Self {
        self.payload = payload;
        self
    }

    /// The deduplication key.
    pub fn key(&self) -> Digest {
        self.key
    }

    /// The correlation id, if any.
    pub fn correlation_id(&self) -> Option<&'a str> {
        self.correlation
    }

    /// The payload fingerprint, if any.
    pub fn payload_fingerprint(&self) -> Option<Digest> {
        self.payload
    }
}
