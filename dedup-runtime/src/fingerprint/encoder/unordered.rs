//! Marking sequences whose order is not part of their value, so they encode as a sorted SET.
//!
//! serde gives a `HashSet` the same shape as a `Vec` (a seq), so the encoder cannot tell them
//! apart from the data. Two signals exist: [`Unordered`], which `#[derive(Fingerprint)]` wraps
//! around `#[fingerprint(unordered)]` fields, and the `collect_seq` safety net below for std sets
//! nested in types that only derive `Serialize`.

use std::fmt;

use serde::{Serialize, Serializer};

/// The newtype-struct name that tells the encoder "the sequence inside is a set". Other
/// serializers (serde_json...) treat newtype structs as transparent, so the wrapper is invisible
/// on the wire. This is the same trick as serde_json's `RawValue` token.
pub(super) const SET_TOKEN: &str = "$dedup::fp1::set";

/// A sequence fingerprinted as a set: the order of its elements does not count (duplicates do).
///
/// Used by `#[derive(Fingerprint)]` for `#[fingerprint(unordered)]` fields, e.g. a `Vec` of tags
/// whose producer does not keep a stable order. It works through `Option` and newtypes; wrapped
/// around anything but a sequence (or a map, which is unordered already), fingerprinting fails
/// with [`FingerprintError::Unsupported`](crate::fingerprint::FingerprintError::Unsupported)
/// rather than silently ignoring the attribute.
pub struct Unordered<'a, T: ?Sized>(pub &'a T);

impl<T: Serialize + ?Sized> Serialize for Unordered<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_struct(SET_TOKEN, self.0)
    }
}

impl<T: ?Sized> Clone for Unordered<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ?Sized> Copy for Unordered<'_, T> {}

impl<T: fmt::Debug + ?Sized> fmt::Debug for Unordered<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Unordered").field(&self.0).finish()
    }
}

/// Whether `collect_seq` was called by a set type's `Serialize` impl (serde passes `&Self`),
/// given `type_name` of the iterator type.
///
/// Only the outermost type counts: `Vec<HashSet<_>>` is an ordered sequence of sets. `type_name`
/// selects behaviour here and never enters the encoded bytes, so a future rustc that spells it
/// differently makes vector `set_hashset` fail loudly rather than change digests silently.
pub(super) fn is_unordered_type_name(mut name: &str) -> bool {
    loop {
        name = name.trim_start_matches('&');
        match name.strip_prefix("mut ") {
            Some(rest) => name = rest,
            None => break,
        }
    }
    let path = name.split('<').next().unwrap_or(name);
    // A slice, array, tuple or pointer is not a set, whatever its elements are.
    if !path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
    {
        return false;
    }
    ["HashSet", "BTreeSet", "BinaryHeap"].iter().any(|set| {
        path.strip_suffix(set)
            .is_some_and(|module| module.is_empty() || module.ends_with("::"))
    })
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, BinaryHeap, HashSet, VecDeque};

    use super::is_unordered_type_name;

    fn is_unordered_collection<I>() -> bool {
        is_unordered_type_name(std::any::type_name::<I>())
    }

    #[test]
    fn only_outer_set_types_are_unordered() {
        assert!(is_unordered_collection::<&HashSet<u8>>());
        assert!(is_unordered_collection::<&BTreeSet<Vec<u8>>>());
        assert!(is_unordered_collection::<&BinaryHeap<u8>>());
        assert!(!is_unordered_collection::<&Vec<HashSet<u8>>>());
        assert!(!is_unordered_collection::<&[BTreeSet<u8>]>());
        assert!(!is_unordered_collection::<&[HashSet<u8>; 2]>());
        assert!(!is_unordered_collection::<(HashSet<u8>,)>());
        assert!(!is_unordered_collection::<&VecDeque<u8>>());
        assert!(!is_unordered_collection::<std::ops::Range<u8>>());
    }
}
