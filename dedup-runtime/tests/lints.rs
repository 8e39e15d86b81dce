//! `#[derive(Fingerprint)]` expands to lint-clean code: users who deny warnings, pedantic clippy
//! or `unused_qualifications` get nothing from the derive (thiserror `test_lints.rs`). Checked by
//! `cargo clippy --all-targets` as well as by `cargo test`. The types below cover every shape of
//! the expansion: named, tuple and unit structs, enums, generics with bounds and defaults,
//! lifetimes, and each attribute.

#![deny(
    warnings,
    unused_qualifications,
    rust_2018_idioms,
    unreachable_pub,
    unused_lifetimes,
    single_use_lifetimes,
    unused_results,
    missing_debug_implementations,
    trivial_casts,
    trivial_numeric_casts,
    variant_size_differences,
    clippy::all,
    clippy::pedantic,
    clippy::nursery,
    clippy::allow_attributes,
    clippy::absolute_paths,
    clippy::pattern_type_mismatch,
    clippy::missing_docs_in_private_items,
    clippy::ref_patterns,
    clippy::shadow_unrelated,
    clippy::str_to_string,
    clippy::unwrap_used
)]

use std::collections::{BTreeMap, HashSet};
use std::marker::PhantomData;

use dedup_runtime::Fingerprint;
use serde::{Serialize, Serializer};

/// Serializes a string in upper case.
fn upper<S: Serializer>(value: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&value.to_uppercase())
}

/// A named struct with every field attribute.
#[derive(Debug, Serialize, Fingerprint)]
#[serde(rename_all = "camelCase")]
#[fingerprint(namespace = "lints.Order")]
struct Order<'a, T: Clone, const N: usize, D = ()> {
    /// Counted.
    number: u64,
    /// Borrowed.
    label: &'a str,
    /// Generic.
    value: T,
    /// Not counted.
    #[serde(skip)]
    #[fingerprint(skip)]
    marker: PhantomData<D>,
    /// A set.
    #[fingerprint(unordered)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<String>,
    /// Serialized through a fn.
    #[serde(serialize_with = "upper")]
    currency: String,
    /// Renamed.
    #[fingerprint(rename = "total")]
    amount: u64,
    /// Uses the const parameter.
    #[serde(skip)]
    #[fingerprint(skip)]
    window: [u8; N],
    /// A map.
    attributes: BTreeMap<String, String>,
    /// A std set.
    labels: HashSet<u8>,
    /// Flattened.
    #[serde(flatten)]
    extra: BTreeMap<String, u8>,
}

/// An enum with every kind of variant.
#[derive(Debug, Serialize, Fingerprint)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event<T> {
    /// Unit.
    Created,
    /// Newtype (of a map: the enum is internally tagged).
    Moved(BTreeMap<String, T>),
    /// Struct.
    Paid {
        /// Counted.
        amount: u64,
        /// Not counted.
        #[serde(skip)]
        #[fingerprint(skip)]
        attempt: u32,
    },
    /// Renamed.
    #[fingerprint(rename = "gone")]
    Deleted,
}

/// A tuple struct.
#[derive(Debug, Fingerprint)]
struct Pair(u64, #[fingerprint(skip)] String);

/// A newtype.
#[derive(Debug, Fingerprint)]
struct Id(u64);

/// A unit struct.
#[derive(Debug, Fingerprint)]
struct Unit;

/// An empty enum.
#[derive(Debug, Fingerprint)]
enum Never {}

/// A deprecated field and type.
#[derive(Debug, Fingerprint)]
#[deprecated = "testing the lint"]
struct Old {
    /// Deprecated.
    #[deprecated = "testing the lint"]
    field: u64,
}

/// A public message whose field type is private: the impl's bounds must not leak it.
#[derive(Debug, Fingerprint)]
pub struct Public {
    /// Private type.
    amount: Private,
}

/// Private to this crate.
#[derive(Debug, Serialize)]
struct Private(u64);

/// Takes any fingerprintable value.
const fn assert_fingerprint<T: Fingerprint + ?Sized>() {}

#[test]
fn derives_are_lint_clean() {
    let order = Order::<'_, u8, 1> {
        number: 1,
        label: "a",
        value: 2,
        marker: PhantomData,
        tags: vec!["b".to_owned(), "a".to_owned()],
        currency: "eur".to_owned(),
        amount: 3,
        window: [0],
        attributes: BTreeMap::new(),
        labels: HashSet::new(),
        extra: BTreeMap::new(),
    };
    let digest = order.fingerprint();
    assert_eq!(order.try_fingerprint().ok(), Some(digest));
    for event in [
        Event::Created,
        Event::Moved(BTreeMap::from([("to".to_owned(), 1_u8)])),
        Event::Paid {
            amount: 1,
            attempt: 2,
        },
        Event::Deleted,
    ] {
        assert!(event.try_fingerprint().is_ok(), "{event:?}");
    }
    assert_ne!(Pair(1, "a".to_owned()).fingerprint(), Id(1).fingerprint());
    assert_ne!(Unit.fingerprint(), Id(1).fingerprint());
    assert_fingerprint::<Never>();
    assert_ne!(
        Public { amount: Private(1) }.fingerprint(),
        Id(1).fingerprint()
    );
    #[expect(deprecated, reason = "testing the lint")]
    {
        assert_fingerprint::<Old>();
    }
}
