//! Properties of the fp1 encoding, on plain serde types through `fingerprint_of`.
//!
//! The pinned vectors (`fingerprint_vectors.rs`) fix exact bytes; these tests state the
//! properties those bytes exist for: what must change a fingerprint, what must not, and that no
//! input, however odd or hostile, panics or overflows the stack.

#[path = "support/rng.rs"]
mod rng;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use dedup_runtime::fingerprint::{
    Digest, FingerprintError, MAX_DEPTH, Unordered, encode, fingerprint_of,
};
use rng::Rng;
use serde::ser::{Error as _, SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};
use serde_json::{Value, json};

fn fp<T: Serialize + ?Sized>(value: &T) -> Digest {
    fingerprint_of("T", value).expect("fingerprintable")
}

fn fp_err<T: Serialize + ?Sized>(value: &T) -> FingerprintError {
    fingerprint_of("T", value).expect_err("not fingerprintable")
}

#[test]
fn sequence_order_counts() {
    assert_ne!(fp(&[1, 2, 3]), fp(&[3, 2, 1]));
    assert_ne!(fp(&vec!["a", "b"]), fp(&vec!["b", "a"]));
    assert_ne!(fp(&(1, "a")), fp(&("a", 1)));
}

#[test]
fn hash_map_and_set_iteration_order_does_not_count() {
    let entries: Vec<(String, i64)> = (0..64).map(|i| (format!("key-{i}"), i * 7 - 100)).collect();
    let reference_map = fp(&entries.iter().cloned().collect::<BTreeMap<_, _>>());
    let reference_set = fp(&entries.iter().map(|(k, _)| k).collect::<BTreeSet<_>>());
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut order = entries.clone();
    for _ in 0..1000 {
        rng.shuffle(&mut order);
        // Every HashMap gets a fresh random seed too, so iteration order varies twice over.
        let map: HashMap<_, _> = order.iter().cloned().collect();
        assert_eq!(fp(&map), reference_map);
        let set: HashSet<_> = order.iter().map(|(k, _)| k).collect();
        assert_eq!(fp(&set), reference_set);
    }
}

#[test]
fn hash_map_equals_btree_map_and_struct() {
    #[derive(Serialize)]
    struct S {
        b: &'static str,
        a: u8,
    }
    let hash = HashMap::from([("a", json!(1)), ("b", json!("x"))]);
    let btree: BTreeMap<_, _> = hash.clone().into_iter().collect();
    assert_eq!(fp(&hash), fp(&btree));
    assert_eq!(fp(&hash), fp(&S { b: "x", a: 1 }));
    assert_eq!(fp(&hash), fp(&json!({"b": "x", "a": 1})));
}

#[test]
fn strings_are_delimited() {
    assert_ne!(fp(&["ab", "c"]), fp(&["a", "bc"]));
    assert_ne!(fp(&[""]), fp::<[&str]>(&[]));
    assert_ne!(fp(&["", ""]), fp(&[""]));
    assert_ne!(fp(&("a", "")), fp(&("", "a")));
}

#[test]
fn types_do_not_collide() {
    let one = [
        fp("1"),
        fp(&1),
        fp(&true),
        fp(&[1]),
        fp(serde_bytes::Bytes::new(b"1")),
        fp(&1.5),
    ];
    for (i, a) in one.iter().enumerate() {
        for b in &one[i + 1..] {
            assert_ne!(a, b);
        }
    }
    assert_ne!(fp(&None::<u8>), fp(&Some(0)));
    assert_ne!(fp(&None::<u8>), fp(&Some("")));
    assert_ne!(fp(&-1i64), fp(&u64::MAX));
    assert_eq!(fp(&'a'), fp("a"));
}

#[test]
fn equal_numbers_fingerprint_alike() {
    assert_eq!(fp(&5u8), fp(&5i128));
    assert_eq!(fp(&5u64), fp(&5.0f64));
    assert_eq!(fp(&5u64), fp(&5.0f32));
    assert_eq!(fp(&0.0), fp(&-0.0));
    assert_eq!(fp(&1.5f32), fp(&1.5f64));
    assert_ne!(fp(&0.1f32), fp(&0.1f64));
    assert_eq!(fp(&f64::NAN), fp(&-f64::NAN));
    assert_eq!(fp(&f64::NAN), fp(&f32::NAN));
    assert_ne!(fp(&f64::INFINITY), fp(&f64::NEG_INFINITY));
    assert_eq!(fp(&u64::MAX), fp(&u128::from(u64::MAX)));
}

#[test]
fn enum_variants_are_distinct() {
    #[derive(Serialize)]
    enum E {
        A,
        B,
        N(Option<u8>),
        M(Option<u8>),
        T(u8, u8),
        S { x: u8 },
    }
    let all = [
        fp(&E::A),
        fp(&E::B),
        fp(&E::N(None)),
        fp(&E::M(None)),
        fp(&E::N(Some(1))),
        fp(&E::T(1, 2)),
        fp(&E::T(2, 1)),
        fp(&E::S { x: 1 }),
    ];
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            assert_ne!(a, b);
        }
    }
    assert_eq!(fp(&E::A), fp("A"), "a unit variant is its name");
}

#[test]
fn absent_and_null_fields_are_alike() {
    #[derive(Serialize)]
    struct Old {
        a: u8,
    }
    #[derive(Serialize)]
    struct New {
        a: u8,
        b: Option<String>,
        c: (),
    }
    assert_eq!(
        fp(&Old { a: 1 }),
        fp(&New {
            a: 1,
            b: None,
            c: ()
        })
    );
    assert_eq!(fp(&json!({"a": 1})), fp(&json!({"a": 1, "b": null})));
}

#[test]
fn odd_floats_and_huge_strings_do_not_panic() {
    for x in [
        f64::NAN,
        -f64::NAN,
        f64::from_bits(0xFFF0_0000_0000_0001),
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        f64::EPSILON,
        f64::from_bits(1),
    ] {
        fp(&x);
        fp(&[x]);
        fp(&json!({ "x": x }));
    }
    let big = "é".repeat(5 << 20); // 10 MiB of UTF-8
    assert_ne!(fp(&big), fp(&big[2..]));
    assert_eq!(encode("T", &big).unwrap().len(), 3 + 9 + 1 + 9 + big.len());
    let mut map = HashMap::new();
    map.insert(big.clone(), big.clone());
    fp(&map);
}

/// Runs `f` on a thread with a modest stack (1 MiB; an unoptimised build needs about 2 KiB per
/// nesting level, so `MAX_DEPTH` levels fit with room to spare), to prove the limit holds.
fn on_small_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// Takes a deep `Value` apart without recursion, so dropping it cannot overflow the stack.
fn dismantle(value: Value) {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

fn nested_arrays(depth: usize) -> Value {
    let mut value = Value::Null;
    for _ in 0..depth {
        value = Value::Array(vec![value]);
    }
    value
}

#[test]
fn very_deep_json_is_too_deep_not_a_stack_overflow() {
    on_small_stack(|| {
        let deep = nested_arrays(10_000);
        let err = fingerprint_of("T", &deep).unwrap_err();
        assert_eq!(err, FingerprintError::TooDeep { limit: MAX_DEPTH });
        assert!(encode("T", &deep).is_err());
        dismantle(deep);

        let mut deep_map = json!(1);
        for _ in 0..10_000 {
            deep_map = Value::Object(serde_json::Map::from_iter([("k".to_owned(), deep_map)]));
        }
        let err = fingerprint_of("T", &deep_map).unwrap_err();
        assert!(matches!(err, FingerprintError::TooDeep { .. }));
        dismantle(deep_map);
    });
}

#[test]
fn the_depth_limit_is_exact() {
    on_small_stack(|| {
        // The root is level 0; each array adds one; the innermost NULL sits at `depth`.
        let ok = nested_arrays(MAX_DEPTH);
        assert!(fingerprint_of("T", &ok).is_ok());
        dismantle(ok);
        let too_deep = nested_arrays(MAX_DEPTH + 1);
        assert!(matches!(
            fingerprint_of("T", &too_deep),
            Err(FingerprintError::TooDeep { .. })
        ));
        dismantle(too_deep);
    });
}

/// A recursive type; its `Drop` unlinks the chain iteratively, as a deep one requires.
#[derive(Serialize)]
struct Node {
    value: u32,
    next: Option<Box<Node>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        let mut next = self.next.take();
        while let Some(mut node) = next {
            next = node.next.take();
        }
    }
}

/// Recursion through newtypes and `Option` only: no container is ever opened.
#[derive(Serialize)]
struct Wrap(Option<Box<Wrap>>);

impl Drop for Wrap {
    fn drop(&mut self) {
        let mut next = self.0.take();
        while let Some(mut node) = next {
            next = node.0.take();
        }
    }
}

#[test]
fn deep_recursive_types_are_too_deep_not_a_stack_overflow() {
    on_small_stack(|| {
        let mut list = Node {
            value: 0,
            next: None,
        };
        for value in 1..10_000 {
            list = Node {
                value,
                next: Some(Box::new(list)),
            };
        }
        assert!(matches!(
            fingerprint_of("T", &list),
            Err(FingerprintError::TooDeep { .. })
        ));

        let mut wrap = Wrap(None);
        for _ in 0..10_000 {
            wrap = Wrap(Some(Box::new(wrap)));
        }
        assert!(matches!(
            fingerprint_of("T", &wrap),
            Err(FingerprintError::TooDeep { .. })
        ));
    });
}

#[test]
fn duplicate_map_keys_are_an_error() {
    // A flattened map that repeats a field name.
    #[derive(Serialize)]
    struct Msg {
        a: u8,
        #[serde(flatten)]
        extra: HashMap<String, u8>,
    }
    let msg = Msg {
        a: 1,
        extra: HashMap::from([("a".to_owned(), 2)]),
    };
    assert_eq!(
        fp_err(&msg),
        FingerprintError::DuplicateMapKey {
            key: "\"a\"".to_owned()
        }
    );

    // Distinct Rust keys with one encoding: the integer 5, once as u8, once as u64.
    #[derive(Serialize, PartialEq, Eq, Hash)]
    #[serde(untagged)]
    enum Key {
        Small(u8),
        Wide(u64),
    }
    let map = HashMap::from([(Key::Small(5), "x"), (Key::Wide(5), "y")]);
    assert_eq!(
        fp_err(&map),
        FingerprintError::DuplicateMapKey {
            key: "5".to_owned()
        }
    );

    // A null value leaves its entry out first, so it cannot clash.
    struct Pairs;
    impl Serialize for Pairs {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut map = s.serialize_map(None)?;
            map.serialize_entry("a", &None::<u8>)?;
            map.serialize_entry("a", &1)?;
            map.end()
        }
    }
    assert_eq!(fp(&Pairs), fp(&json!({"a": 1})));
}

#[test]
fn map_keys_sort_by_their_own_bytes_whatever_came_before() {
    // A dropped entry leaves its key's bytes behind, and a key made with `collect_str` lands on
    // exactly the same bytes: it must still sort as itself.
    struct Shown(&'static str);
    impl Serialize for Shown {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str(self.0)
        }
    }
    struct Tricky;
    impl Serialize for Tricky {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut map = s.serialize_map(None)?;
            map.serialize_entry("c", &None::<u8>)?;
            map.serialize_entry(&Shown("a"), &1)?;
            map.serialize_entry("b", &2)?;
            map.end()
        }
    }
    assert_eq!(fp(&Tricky), fp(&json!({"a": 1, "b": 2})));
    assert_eq!(
        fp(&BTreeMap::from([(5u8, "x")])),
        fp(&BTreeMap::from([(5u64, "x")]))
    );
}

#[test]
fn map_keys_sharing_long_beginnings_sort_by_length_then_bytes() {
    // Keys that agree on their first 7, 12 or more characters, in many lengths, in a random
    // order: the bytes must be those of the keys sorted by (UTF-8 length, bytes), built here by
    // hand.
    let mut rng = Rng(0x5EED);
    let mut keys = Vec::new();
    for stem in ["attribute-", "abcdefghijkl", "abcdefghijklmnopqrst", "x"] {
        for suffix in ["", "0", "1", "10", "2", "z", "00", "0z", "é", "1234567890"] {
            keys.push(format!("{stem}{suffix}"));
        }
    }
    keys.push("long".repeat(40));
    keys.push(format!("{}!", "long".repeat(40)));
    for _ in 0..20 {
        rng.shuffle(&mut keys);
        let entries: Vec<(&str, u8)> = keys.iter().map(|k| (k.as_str(), 1)).collect();
        let map: HashMap<&str, u8> = entries.iter().copied().collect();
        let mut sorted = keys.clone();
        sorted.sort_by(|a, b| (a.len(), a.as_bytes()).cmp(&(b.len(), b.as_bytes())));
        let mut expected = vec![b'f', b'p', 1, 0x06];
        expected.extend_from_slice(&1u64.to_be_bytes());
        expected.extend_from_slice(b"T");
        expected.push(0x0A);
        for key in &sorted {
            expected.push(0x06);
            expected.extend_from_slice(&(key.len() as u64).to_be_bytes());
            expected.extend_from_slice(key.as_bytes());
            expected.extend_from_slice(&[0x04, 0x01, 0x01]);
        }
        expected.push(0x0B);
        assert_eq!(encode("T", &map).unwrap(), expected);
        // As set elements the keys sort the same way.
        let mut set = expected[..13].to_vec();
        set.push(0x09);
        for key in &sorted {
            set.push(0x06);
            set.extend_from_slice(&(key.len() as u64).to_be_bytes());
            set.extend_from_slice(key.as_bytes());
        }
        set.push(0x0B);
        assert_eq!(encode("T", &Unordered(&keys)).unwrap(), set);
    }
}

#[test]
fn structs_agree_with_maps_whichever_fields_are_present() {
    // The encoder remembers struct field orders; present and absent `Option` fields change the
    // sequence of fields from one message to the next and must never reuse a wrong order.
    #[derive(Serialize)]
    struct Wide {
        zeta: Option<u8>,
        alpha: Option<u8>,
        mid: Option<u8>,
        b: Option<u8>,
        longer_name: Option<u8>,
        a: Option<u8>,
    }
    for round in 0..3 {
        for mask in 0u8..64 {
            let bit = |i: u8| (mask >> i & 1 == 1).then_some(i + round);
            let wide = Wide {
                zeta: bit(0),
                alpha: bit(1),
                mid: bit(2),
                b: bit(3),
                longer_name: bit(4),
                a: bit(5),
            };
            let map = json!({
                "zeta": wide.zeta, "alpha": wide.alpha, "mid": wide.mid,
                "b": wide.b, "longer_name": wide.longer_name, "a": wide.a,
            });
            assert_eq!(fp(&wide), fp(&map), "mask {mask:06b}");
        }
    }
}

#[test]
fn a_failing_serialize_is_a_serialize_error() {
    struct Broken;
    impl Serialize for Broken {
        fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(S::Error::custom("broken on purpose"))
        }
    }
    #[derive(Serialize)]
    struct Msg {
        ok: u8,
        bad: Broken,
    }
    let err = fp_err(&Msg { ok: 1, bad: Broken });
    assert_eq!(
        err,
        FingerprintError::Serialize("broken on purpose".to_owned())
    );
    assert!(encode("T", &vec![Broken]).is_err());
}

#[test]
fn unordered_makes_a_set_and_keeps_duplicates() {
    let a = [3, 1, 2, 1];
    let b = [1, 1, 2, 3];
    assert_eq!(fp(&Unordered(&a[..])), fp(&Unordered(&b[..])));
    assert_ne!(fp(&Unordered(&a[..])), fp(&Unordered(&[1, 2, 3][..])));
    assert_ne!(fp(&Unordered(&a[..])), fp(&a));
    assert_eq!(
        fp(&Unordered(&vec!["x", "y"])),
        fp(&BTreeSet::from(["y", "x"]))
    );
    assert_eq!(
        fp(&Unordered(&Some(vec![2, 1]))),
        fp(&HashSet::from([1, 2]))
    );
    assert_eq!(fp(&Unordered(&None::<Vec<u8>>)), fp(&()));
    assert!(matches!(
        fp_err(&Unordered(&5)),
        FingerprintError::Unsupported(_)
    ));
    // Only the outer sequence is a set: the inner sequences keep their order.
    assert_ne!(
        fp(&Unordered(&[[1, 2], [3, 4]])),
        fp(&Unordered(&[[2, 1], [3, 4]]))
    );
    assert_eq!(
        fp(&Unordered(&[[1, 2], [3, 4]])),
        fp(&Unordered(&[[3, 4], [1, 2]]))
    );
}

#[test]
fn nested_std_sets_are_sets_and_their_containers_are_not() {
    let a: Vec<HashSet<u8>> = vec![HashSet::from([1, 2]), HashSet::from([3])];
    let b: Vec<BTreeSet<u8>> = vec![BTreeSet::from([2, 1]), BTreeSet::from([3])];
    let c: Vec<BTreeSet<u8>> = vec![BTreeSet::from([3]), BTreeSet::from([2, 1])];
    assert_eq!(fp(&a), fp(&b));
    assert_ne!(fp(&b), fp(&c));
}

/// serde_json's `arbitrary_precision` shape, which feature unification can switch on.
struct ArbitraryPrecision(&'static str);

impl Serialize for ArbitraryPrecision {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("$serde_json::private::Number", 1)?;
        st.serialize_field("$serde_json::private::Number", self.0)?;
        st.end()
    }
}

#[test]
fn arbitrary_precision_numbers_read_like_plain_serde_json() {
    assert_eq!(fp(&ArbitraryPrecision("5")), fp(&5));
    assert_eq!(fp(&ArbitraryPrecision("-5")), fp(&-5));
    assert_eq!(fp(&ArbitraryPrecision("5.0")), fp(&5));
    assert_eq!(fp(&ArbitraryPrecision("19.99")), fp(&19.99));
    assert_eq!(
        fp(&ArbitraryPrecision("18446744073709551615")),
        fp(&u64::MAX)
    );
    assert_eq!(fp(&ArbitraryPrecision("1e300")), fp(&1e300));
    assert!(matches!(
        fp_err(&ArbitraryPrecision("1.2.3")),
        FingerprintError::Unsupported(_)
    ));
}

/// serde_json's `RawValue` shape (its `raw_value` feature is not enabled here).
struct RawValue(&'static str);

impl Serialize for RawValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("$serde_json::private::RawValue", 1)?;
        st.serialize_field("$serde_json::private::RawValue", self.0)?;
        st.end()
    }
}

#[test]
fn raw_json_is_rejected() {
    let raw = RawValue(r#"{"b":1,"a":2}"#);
    assert!(matches!(fp_err(&raw), FingerprintError::Unsupported(_)));
    assert!(matches!(
        fp_err(&json!({"nested": [1]}).as_object().map(|_| [RawValue("1")])),
        FingerprintError::Unsupported(_)
    ));
}

#[test]
fn a_serialize_impl_may_fingerprint_inside() {
    // Re-entrancy: the inner call must not find the thread's buffers borrowed.
    struct Inner;
    impl Serialize for Inner {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let digest =
                fingerprint_of("inner", &json!({"x": [1, 2]})).map_err(S::Error::custom)?;
            s.serialize_str(&digest.to_hex())
        }
    }
    let outer = json!({"k": 1});
    let inner = fingerprint_of("inner", &json!({"x": [1, 2]})).unwrap();
    let with_inner = BTreeMap::from([("k", inner.to_hex())]);
    assert_eq!(fp(&BTreeMap::from([("k", Inner)])), fp(&with_inner));
    assert_ne!(fp(&outer), fp(&with_inner));
}

#[test]
fn encode_and_fingerprint_of_agree() {
    use sha2::Digest as _;
    let value = json!({"a": [1, 2.5, null, {"b": "c"}], "d": {"e": true}});
    let bytes = encode("ns", &value).unwrap();
    assert!(bytes.starts_with(b"fp\x01\x06\0\0\0\0\0\0\0\x02ns"));
    let hashed: [u8; 32] = sha2::Sha256::digest(&bytes).into();
    assert_eq!(fingerprint_of("ns", &value).unwrap(), Digest::from(hashed));
}
