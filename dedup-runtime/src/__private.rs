//! What generated code calls. Not a public API: no semver guarantees; the macros crate is pinned
//! to this exact version (`=x.y.z`), so the two never drift apart.
//!
//! Everything the expansions touch is re-exported here, down to `Result` and `Option`, so that
//! generated code needs nothing from the user's imports or prelude.

pub use ::core;
pub use ::serde;
pub use ::std::{option::Option, result::Result, string::String};

pub use crate::error::Error;
pub use crate::fingerprint::{Digest, Fingerprint, FingerprintError};

/// The canonical fingerprint of `value` under `namespace` (what `#[derive(Fingerprint)]` calls).
pub fn fingerprint_of<T: ::serde::Serialize + ?Sized>(
    namespace: &str,
    value: &T,
) -> Result<Digest, Error> {
    crate::fingerprint::fingerprint_of(namespace, value).map_err(Error::from)
}
