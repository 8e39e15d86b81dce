//! PLACEHOLDER crate docs.
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
