//! Stable fingerprints of a message's functional content.
//!
//! A fingerprint is SHA-256 over the message's canonical `fp1` encoding (see
//! `docs/fingerprint-spec.md`): the same bytes on every platform, compiler, process and language,
//! so two deliveries of one message agree whichever consumer instance sees them.

mod digest;
pub(crate) mod encoder;
mod error;
mod impls;

pub use self::digest::{Digest, ParseDigestError};
pub use self::encoder::{MAX_DEPTH, Unordered, encode, fingerprint_of};
pub use self::error::FingerprintError;

/// The namespace under which the std types of [`impls`](self) hash: a key expression such as
/// `key = order.order_id` (a `u64`) is fingerprinted as `fingerprint_of(VALUE_NAMESPACE, &id)`.
pub const VALUE_NAMESPACE: &str = "dedup.value";

/// A value with a stable fingerprint of its functional content.
///
/// Derive it with `#[derive(Fingerprint)]` (fields marked `#[fingerprint(skip)]` do not count), or
/// use the implementations for std types (integers, strings, tuples, options, slices...), which
/// hash under [`VALUE_NAMESPACE`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no fingerprint",
    label = "`{Self}` does not implement `Fingerprint`",
    note = "consider adding `#[derive(dedup_runtime::Fingerprint)]` to `{Self}`, or pick a field with `key = ...`"
)]
pub trait Fingerprint {
    /// The fingerprint, or why it cannot be computed (nesting deeper than [`MAX_DEPTH`], a
    /// duplicate map key, a `Serialize` impl that fails). Message-handling code uses this one.
    fn try_fingerprint(&self) -> Result<Digest, crate::Error>;

    /// The fingerprint of a value known to be encodable.
    ///
    /// # Panics
    ///
    /// Exactly where [`try_fingerprint`](Fingerprint::try_fingerprint) returns an error.
    #[track_caller]
    fn fingerprint(&self) -> Digest {
        match self.try_fingerprint() {
            Ok(digest) => digest,
            Err(err) => panic!("cannot fingerprint this value: {err}"),
        }
    }
}
