//! The `fp1` canonical encoder: the exact bytes a fingerprint hashes.
//!
//! A serde [`Serializer`](serde::Serializer) writes `"fp" 0x01 ‖ STR(namespace) ‖ ENC(value)`
//! (`docs/fingerprint-spec.md`). [`fingerprint_of`] streams those bytes into SHA-256 and
//! [`encode`] collects them, so the two always agree and the pinned vectors in
//! `tests/vectors/fp1.json` check both. Nothing here depends on the process, the platform or the
//! compiler: no `Hash`, no `usize` in the bytes, maps and sets sorted.

mod compound;
pub(crate) mod direct;
pub(crate) mod error;
mod number;
mod out;
mod pool;
mod ser;
mod sort;
mod unordered;

use serde::Serialize;
use sha2::Sha256;

use self::out::{Hashing, Out, blob_head, tag};
use self::pool::with_pool;
use self::ser::Ser;
pub use self::unordered::Unordered;
use super::{Digest, FingerprintError};

/// How deep values may nest before fingerprinting fails with
/// [`FingerprintError::TooDeep`]. Every step counts: a container's element, a map entry, `Some`,
/// a newtype, a variant's payload.
///
/// Bounding the recursion keeps a hostile or runaway value (a 10 000-deep JSON array) from
/// overflowing the stack; real messages are a handful of levels deep.
pub const MAX_DEPTH: usize = 128;

/// `"fp"` and the format version. A change to any encoding rule needs a new version byte.
const HEADER: [u8; 3] = [b'f', b'p', 0x01];

/// The complete fp1 preimage of `value` under `namespace`: what [`fingerprint_of`] hashes.
///
/// Meant for tests, debugging and other-language checks; fingerprinting itself never builds it.
///
/// # Errors
///
/// [`FingerprintError`] when the value nests deeper than [`MAX_DEPTH`], has a duplicate map key,
/// uses a type without a canonical form, or its `Serialize` impl fails.
pub fn encode<T: Serialize + ?Sized>(
    namespace: &str,
    value: &T,
) -> Result<Vec<u8>, FingerprintError> {
    with_pool(|pool| {
        write_preimage(pool, namespace, value)?;
        Ok(pool.buf.clone())
    })
}

/// The fingerprint of `value` under `namespace`: SHA-256 of the bytes [`encode`] returns,
/// streamed without building them.
///
/// # Errors
///
/// As for [`encode`]. No digest is ever made of part of a value.
pub fn fingerprint_of<T: Serialize + ?Sized>(
    namespace: &str,
    value: &T,
) -> Result<Digest, FingerprintError> {
    hash_preimage(namespace, |out| value.serialize(Ser::new(out)))
}

/// SHA-256 of the preimage whose value `write_value` writes after the header and namespace.
fn hash_preimage(
    namespace: &str,
    write_value: impl FnOnce(&mut Hashing<'_>) -> Result<(), error::Error>,
) -> Result<Digest, FingerprintError> {
    let mut hasher = <Sha256 as sha2::Digest>::new();
    with_pool(|pool| {
        let mut out = Hashing {
            hasher: &mut hasher,
            pool,
        };
        write_head(&mut out, namespace);
        write_value(&mut out).map_err(error::Error::into_inner)?;
        check_not_failed(&mut out)?;
        out.finish();
        Ok::<(), FingerprintError>(())
    })?;
    Ok(Digest::from_bytes(sha2::Digest::finalize(hasher).into()))
}

fn write_preimage<O: Out, T: Serialize + ?Sized>(
    out: &mut O,
    namespace: &str,
    value: &T,
) -> Result<(), FingerprintError> {
    write_head(out, namespace);
    value
        .serialize(Ser::new(&mut *out))
        .map_err(error::Error::into_inner)?;
    check_not_failed(out)
}

/// `"fp" 01 ‖ STR(namespace)`: in one write (one hasher update) when the namespace is short.
fn write_head<O: Out>(out: &mut O, namespace: &str) {
    let mut head = [0u8; 64];
    let ns = namespace.as_bytes();
    if let Some(room) = head.get_mut(12..12 + ns.len()) {
        room.copy_from_slice(ns);
        head[..3].copy_from_slice(&HEADER);
        head[3..12].copy_from_slice(&blob_head(tag::STR, ns.len()));
        out.put(&head[..12 + ns.len()]);
    } else {
        out.put(&HEADER);
        out.put_blob(tag::STR, ns);
    }
}

/// A value's `Serialize` impl may swallow an encoding error and carry on: no digest then.
fn check_not_failed<O: Out>(out: &mut O) -> Result<(), FingerprintError> {
    if out.pool().failed {
        return Err(FingerprintError::Serialize(
            "a `Serialize` implementation ignored an error from the fingerprint encoder".to_owned(),
        ));
    }
    Ok(())
}

/// The fingerprint under `namespace` of a SEQ of BYTES, one per digest: the combination rule for
/// keys made of several [`Fingerprint`](super::Fingerprint) values (tuples, slices).
///
/// Each element is fingerprinted on its own first (by the caller), so there is no nested use of
/// the encoder and the element's own rules (a derived message's skipped fields) hold. Stops at
/// the first element error and returns it unchanged.
pub(super) fn fingerprint_of_digests<E>(
    namespace: &str,
    digests: impl IntoIterator<Item = Result<Digest, E>>,
) -> Result<Digest, E> {
    let mut hasher = <Sha256 as sha2::Digest>::new();
    sha2::Digest::update(&mut hasher, HEADER);
    sha2::Digest::update(&mut hasher, blob_head(tag::STR, namespace.len()));
    sha2::Digest::update(&mut hasher, namespace);
    sha2::Digest::update(&mut hasher, [tag::SEQ]);
    for digest in digests {
        sha2::Digest::update(&mut hasher, blob_head(tag::BYTES, Digest::LEN));
        sha2::Digest::update(&mut hasher, digest?.as_bytes());
    }
    sha2::Digest::update(&mut hasher, [tag::END]);
    Ok(Digest::from_bytes(sha2::Digest::finalize(hasher).into()))
}
