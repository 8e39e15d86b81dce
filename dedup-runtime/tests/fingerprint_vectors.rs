//! The pinned fp1 vectors (`tests/vectors/fp1.json` at the workspace root) rebuilt from Rust values.
//!
//! Each vector names a value; [`cases`] builds the same value here, and the test asserts that
//! `encode` and `fingerprint_of` still give the file's bytes and digest. `scripts/fp1_check.py`
//! rebuilds the same vectors from their Python expressions, so one file checks both
//! implementations against each other, and the digests quoted in the fp1 proposal are pinned too.
//!
//! Adding a vector: add a case below and run once with `FP1_BLESS=1`, which appends the missing
//! vectors to the file. It never rewrites an existing vector: fp1 output must never change.

use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use dedup_runtime::Fingerprint;
use dedup_runtime::fingerprint::{
    Digest, FingerprintError, Unordered, VALUE_NAMESPACE, encode, fingerprint_of,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_bytes::{ByteBuf, Bytes};
use serde_json::json;
use uuid::Uuid;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/fp1.json");

// ---------------------------------------------------------------------------------------------
// The file

#[derive(Debug, Serialize, Deserialize)]
struct VectorFile {
    about: Vec<String>,
    vectors: Vec<Vector>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Vector {
    name: String,
    namespace: String,
    /// `"value"`: the digest of the Python value under `namespace`. `"key"`: the std-type key
    /// rule (tuples and lists combine their elements' digests), under `dedup.value`.
    #[serde(default = "value_kind")]
    kind: String,
    python: String,
    preimage_hex: String,
    digest: String,
}

fn value_kind() -> String {
    "value".to_owned()
}

// ---------------------------------------------------------------------------------------------
// The cases

/// What one case computes: `encode`'s preimage and `fingerprint_of`'s digest; for key cases also
/// the `Fingerprint` impl's digest, which must equal the other.
struct Outcome {
    preimage: Result<Vec<u8>, FingerprintError>,
    digest: Result<Digest, FingerprintError>,
    key_digest: Option<Result<Digest, String>>,
}

/// What the fp1 proposal (§5) says about a vector, checked in addition to the file.
enum Pin {
    /// The digest, in full or abbreviated as `abcd…wxyz`.
    Digest(&'static str),
    /// The hex of ENC(value): the preimage minus the header.
    Value(&'static str),
    /// The first bytes of ENC(value).
    ValuePrefix(&'static str),
}

struct Case {
    name: &'static str,
    namespace: &'static str,
    kind: &'static str,
    python: &'static str,
    run: Box<dyn Fn(&str) -> Outcome>,
    pins: Vec<Pin>,
    same_as: Vec<&'static str>,
    differs_from: Vec<&'static str>,
}

impl Case {
    fn ns(mut self, namespace: &'static str) -> Self {
        self.namespace = namespace;
        self
    }
    fn pin(mut self, pin: Pin) -> Self {
        self.pins.push(pin);
        self
    }
    fn digest(self, digest: &'static str) -> Self {
        self.pin(Pin::Digest(digest))
    }
    fn value_hex(self, hex: &'static str) -> Self {
        self.pin(Pin::Value(hex))
    }
    fn same_as(mut self, other: &'static str) -> Self {
        self.same_as.push(other);
        self
    }
    fn differs_from(mut self, other: &'static str) -> Self {
        self.differs_from.push(other);
        self
    }
}

/// A value fingerprinted directly (namespace `"T"` unless changed with [`Case::ns`]).
fn val<T: Serialize + 'static>(name: &'static str, python: &'static str, value: T) -> Case {
    Case {
        name,
        namespace: "T",
        kind: "value",
        python,
        run: Box::new(move |ns| Outcome {
            preimage: encode(ns, &value),
            digest: fingerprint_of(ns, &value),
            key_digest: None,
        }),
        pins: Vec::new(),
        same_as: Vec::new(),
        differs_from: Vec::new(),
    }
}

/// A std-type key: `key`'s `Fingerprint` impl must give the fingerprint of `preimage` (its
/// encoding under the key rule) under `VALUE_NAMESPACE`.
fn key<K, P>(name: &'static str, python: &'static str, key: K, preimage: P) -> Case
where
    K: Fingerprint + 'static,
    P: Serialize + 'static,
{
    Case {
        name,
        namespace: VALUE_NAMESPACE,
        kind: "key",
        python,
        run: Box::new(move |ns| Outcome {
            preimage: encode(ns, &preimage),
            digest: fingerprint_of(ns, &preimage),
            key_digest: Some(key.try_fingerprint().map_err(|e| e.to_string())),
        }),
        pins: Vec::new(),
        same_as: Vec::new(),
        differs_from: Vec::new(),
    }
}

/// The digest of a key element, as the BYTES the key rule hashes.
fn elem<K: Fingerprint + ?Sized>(key: &K) -> ByteBuf {
    ByteBuf::from(key.fingerprint().to_bytes().to_vec())
}

#[derive(Serialize)]
struct N<T> {
    n: T,
}

#[derive(Serialize)]
struct V<T> {
    v: T,
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct OrderId(u64);

#[derive(Serialize)]
struct A<T> {
    a: T,
}

#[derive(Serialize)]
struct B<T> {
    b: T,
}

#[derive(Serialize)]
struct AB {
    a: i32,
    b: &'static str,
}

#[derive(Serialize)]
struct BA {
    b: &'static str,
    a: i32,
}

#[derive(Serialize)]
struct AOptB {
    a: i32,
    b: Option<i32>,
}

#[derive(Serialize)]
struct Flattened {
    #[serde(flatten)]
    a: B<i32>,
}

#[derive(Serialize)]
struct Unit;

#[derive(Serialize)]
enum E {
    A,
    #[serde(rename = "Bee")]
    B(Option<i32>),
    C(Option<i32>),
    T(i32, &'static str),
    S {
        x: i32,
        y: Option<i32>,
    },
}

#[derive(Serialize)]
#[serde(tag = "type")]
enum Shape {
    Circle { r: u32 },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderPlaced {
    order_id: u64,
    customer_id: Uuid,
    items: Vec<Item>,
    attributes: HashMap<String, String>,
    tags: HashSet<String>,
    total: f64,
    note: Option<String>,
}

#[derive(Serialize)]
struct Item {
    sku: &'static str,
    qty: u32,
    price_cents: i64,
}

const UUID: &str = "67e55044-10b1-426f-9247-bb680e5fe0c8";
static SHUFFLED: [i32; 4] = [200, 7, -1, 3];

fn order_placed() -> OrderPlaced {
    OrderPlaced {
        order_id: 9_007_199_254_740_993,
        customer_id: Uuid::parse_str(UUID).unwrap(),
        items: vec![Item {
            sku: "SKU-1",
            qty: 2,
            price_cents: -150,
        }],
        attributes: HashMap::from([
            ("channel".to_owned(), "web".to_owned()),
            ("région".to_owned(), "eu".to_owned()),
        ]),
        tags: ["b", "a", "c"].into_iter().map(String::from).collect(),
        total: 19.99,
        note: None,
    }
}

fn ab_map() -> [(&'static str, serde_json::Value); 2] {
    [("a", json!(1)), ("b", json!("x"))]
}

fn cases() -> Vec<Case> {
    vec![
        // §5.1 header and empty root
        val("empty_root", "{}", Empty {})
            .digest("ca66e50c3f499c511f6157ec89adf20eade42f669923fd0cd68ca11552f29eb9"),
        // §5.2 integer width
        val("int_width_u8", r#"{"n": 5}"#, N { n: 5u8 })
            .digest("ac4a75ad565ea63a0a777ad48c4dec6a0ac32ac413212d3d6ecaea3f941c9f91"),
        val("int_width_u64", r#"{"n": 5}"#, N { n: 5u64 }).same_as("int_width_u8"),
        val("int_width_i128", r#"{"n": 5}"#, N { n: 5i128 }).same_as("int_width_u8"),
        val("int_width_f64", r#"{"n": 5.0}"#, N { n: 5.0f64 }).same_as("int_width_u8"),
        val("int_width_newtype", r#"{"n": 5}"#, N { n: OrderId(5) }).same_as("int_width_u8"),
        val("int_width_option", r#"{"n": 5}"#, N { n: Some(5u16) }).same_as("int_width_u8"),
        // §5.3 INT bytes
        val("int_0", "0", 0u8).value_hex("040100"),
        val("int_127", "127", 127i8).value_hex("04017f"),
        val("int_128", "128", 128u8).value_hex("04020080"),
        val("int_minus_1", "-1", -1i64).value_hex("0401ff"),
        val("int_minus_129", "-129", -129i16).value_hex("0402ff7f"),
        val("int_u64_max", "18446744073709551615", u64::MAX)
            .value_hex("040900ffffffffffffffff")
            .differs_from("int_minus_1"),
        val("int_i64_min", "-9223372036854775808", i64::MIN).value_hex("04088000000000000000"),
        val(
            "int_u128_max",
            "340282366920938463463374607431768211455",
            u128::MAX,
        )
        .value_hex("041100ffffffffffffffffffffffffffffffff"),
        val(
            "int_i128_min",
            "-170141183460469231731687303715884105728",
            i128::MIN,
        )
        .value_hex("041080000000000000000000000000000000"),
        // §5.4 precision
        val(
            "precision_2p53_plus_1",
            r#"{"n": 9007199254740993}"#,
            N { n: 9_007_199_254_740_993u64 },
        )
        .digest("7a8b3728…83d7"),
        val(
            "precision_2p53",
            r#"{"n": 9007199254740992}"#,
            N { n: 9_007_199_254_740_992u64 },
        )
        .digest("0abef2ab…4637"),
        // §5.5 floats
        val("float_0_1", "0.1", 0.1f64).value_hex("053fb999999999999a"),
        val("float_neg_zero", "-0.0", -0.0f64)
            .value_hex("040100")
            .same_as("int_0"),
        val("float_1_5_f32", "1.5", 1.5f32).value_hex("053ff8000000000000"),
        val("float_1_5_f64", "1.5", 1.5f64).same_as("float_1_5_f32"),
        val("float_0_1_f32", "0.10000000149011612", 0.1f32).differs_from("float_0_1"),
        val("float_1e300", "1e300", 1e300f64).pin(Pin::ValuePrefix("047d17")),
        val("float_neg_2p70", "-1.1805916207174113e+21", -(2f64.powi(70)))
            .value_hex("0409c00000000000000000"),
        val("float_2p63", "9.223372036854776e+18", 2f64.powi(63))
            .value_hex("0409008000000000000000"),
        val("float_max", "1.7976931348623157e+308", f64::MAX),
        val("float_min_subnormal", "5e-324", f64::from_bits(1))
            .value_hex("050000000000000001"),
        val("float_neg_0_5", "-0.5", -0.5f64).value_hex("05bfe0000000000000"),
        // §5.6 non-finite
        val("nan", r#"float("nan")"#, f64::NAN).value_hex("057ff8000000000000"),
        val("nan_negative", r#"float("nan")"#, -f64::NAN).same_as("nan"),
        val(
            "nan_payload",
            r#"float("nan")"#,
            f64::from_bits(0x7FF0_0000_0000_0001),
        )
        .same_as("nan"),
        val("nan_f32", r#"float("nan")"#, f32::NAN).same_as("nan"),
        val("inf", r#"float("inf")"#, f64::INFINITY).value_hex("057ff0000000000000"),
        val("neg_inf", r#"float("-inf")"#, f64::NEG_INFINITY)
            .value_hex("05fff0000000000000")
            .differs_from("inf"),
        // §5.7 type confusion
        val("confusion_str_1", r#""1""#, "1"),
        val("confusion_int_1", "1", 1u8).differs_from("confusion_str_1"),
        val("confusion_true", "True", true)
            .value_hex("03")
            .differs_from("confusion_int_1"),
        val("confusion_seq_1", "[1]", vec![1u8]).differs_from("confusion_int_1"),
        val("confusion_bytes_1", r#"b"1""#, Bytes::new(b"1"))
            .differs_from("confusion_str_1")
            .differs_from("confusion_seq_1"),
        val("field_empty_str", r#"{"n": ""}"#, N { n: "" }),
        val("field_empty_seq", r#"{"n": []}"#, N { n: Vec::<u8>::new() })
            .differs_from("field_empty_str"),
        val(
            "field_empty_map",
            r#"{"n": {}}"#,
            N {
                n: BTreeMap::<String, u8>::new(),
            },
        )
        .differs_from("field_empty_seq")
        .differs_from("empty_root"),
        val("field_null", r#"{"n": None}"#, N { n: None::<u8> }).same_as("empty_root"),
        val("field_unit_struct", r#"{"n": None}"#, N { n: Unit }).same_as("empty_root"),
        val("seq_null", "[None]", vec![None::<u8>]).value_hex("08010b"),
        val("seq_empty", "[]", Vec::<String>::new())
            .value_hex("080b")
            .differs_from("seq_null"),
        // §5.8 delimiting
        val("delim_ab_c", r#"{"n": ["ab", "c"]}"#, N { n: ["ab", "c"] })
            .digest("71af8e95…"),
        val("delim_a_bc", r#"{"n": ["a", "bc"]}"#, N { n: ["a", "bc"] })
            .digest("014a8202…"),
        val("seq_empty_str", r#"[""]"#, vec![""]).differs_from("seq_empty"),
        val("str_he", r#""hé""#, "hé").value_hex("06000000000000000368c3a9"),
        val("char_a", r#""a""#, 'a').value_hex("06000000000000000161"),
        val("tuple_1_a", r#"(1, "a")"#, (1u8, "a"))
            .value_hex("08040101060000000000000001610b"),
        val("option_none", "None", None::<u8>).value_hex("01"),
        val("option_some_0", "0", Some(0u8))
            .same_as("int_0")
            .differs_from("option_none"),
        // §5.9 field order, struct = map
        val("order_ab", r#"{"a": 1, "b": "x"}"#, AB { a: 1, b: "x" })
            .digest("f89c8f613cecbed10a416b872f448830d48a0d81d0d07b63d829e7b2aed4fd83"),
        val("order_ba", r#"{"b": "x", "a": 1}"#, BA { b: "x", a: 1 }).same_as("order_ab"),
        val(
            "order_hashmap",
            r#"{"a": 1, "b": "x"}"#,
            HashMap::from(ab_map()),
        )
        .same_as("order_ab"),
        val(
            "order_btreemap",
            r#"{"a": 1, "b": "x"}"#,
            BTreeMap::from(ab_map()),
        )
        .same_as("order_ab"),
        val(
            "json_value",
            r#"{"b": [1, 2.5, None, "s"], "a": True, "c": None, "d": {"e": -0.0}}"#,
            json!({"b": [1, 2.5, null, "s"], "a": true, "c": null, "d": {"e": -0.0}}),
        ),
        // §5.11 sets
        val(
            "set_hashset",
            r#"{"n": {3, -1, 200, 7}}"#,
            N {
                n: HashSet::from(SHUFFLED),
            },
        )
        .digest("bd07ed91…"),
        val(
            "set_btreeset",
            r#"{"n": {3, -1, 200, 7}}"#,
            N {
                n: BTreeSet::from(SHUFFLED),
            },
        )
        .same_as("set_hashset"),
        val(
            "set_binary_heap",
            r#"{"n": {3, -1, 200, 7}}"#,
            N {
                n: BinaryHeap::from(SHUFFLED),
            },
        )
        .same_as("set_hashset"),
        val(
            "set_unordered_vec",
            r#"{"n": {3, -1, 200, 7}}"#,
            N {
                n: Unordered(&SHUFFLED[..]),
            },
        )
        .same_as("set_hashset"),
        val("set_empty", "set()", HashSet::<u8>::new()).value_hex("090b"),
        val("set_vec", r#"{"n": [3, -1, 200, 7]}"#, N { n: [3, -1, 200, 7] })
            .digest("59e1a5d7…")
            .differs_from("set_hashset"),
        // §5.12 Option and schema evolution
        val("option_field_none", r#"{"a": 1, "b": None}"#, AOptB { a: 1, b: None })
            .digest("dd817fbb…b028"),
        val("option_field_absent", r#"{"a": 1}"#, A { a: 1 }).same_as("option_field_none"),
        // §5.13 enums
        val("enum_unit", r#"{"n": Variant("A")}"#, N { n: E::A }).digest("bd9d6622…"),
        val("enum_unit_as_str", r#"{"n": "A"}"#, N { n: "A" }).same_as("enum_unit"),
        val(
            "enum_newtype_none_renamed",
            r#"{"n": Variant("Bee", None)}"#,
            N { n: E::B(None) },
        )
        .digest("d99f5a86…"),
        val(
            "enum_newtype_none",
            r#"{"n": Variant("C", None)}"#,
            N { n: E::C(None) },
        )
        .digest("79e5887f…"),
        val(
            "enum_newtype_some",
            r#"{"n": Variant("C", 5)}"#,
            N { n: E::C(Some(5)) },
        ),
        val(
            "enum_tuple",
            r#"{"n": Variant("T", [1, "a"])}"#,
            N { n: E::T(1, "a") },
        ),
        val(
            "enum_struct",
            r#"{"n": Variant("S", {"x": -3, "y": None})}"#,
            N {
                n: E::S { x: -3, y: None },
            },
        ),
        val(
            "enum_struct_as_map",
            r#"{"n": {"S": {"x": -3}}}"#,
            N {
                n: json!({"S": {"x": -3}}),
            },
        )
        .same_as("enum_struct"),
        val(
            "enum_internally_tagged",
            r#"{"n": {"type": "Circle", "r": 2}}"#,
            N {
                n: Shape::Circle { r: 2 },
            },
        ),
        // §5.14 domain separation
        val("domain_order_placed", r#"{"a": 1}"#, A { a: 1 })
            .ns("OrderPlaced")
            .digest("147b266b…41fd"),
        val("domain_order_cancelled", r#"{"a": 1}"#, A { a: 1 })
            .ns("OrderCancelled")
            .digest("66b80237…364e"),
        // §5.15 nesting and flatten
        val("nesting_a_b", r#"{"a": {"b": 1}}"#, A { a: B { b: 1 } }).digest("d8530fc7…"),
        val("nesting_b", r#"{"b": 1}"#, B { b: 1 }).digest("4e42469f…"),
        val("flatten", r#"{"b": 1}"#, Flattened { a: B { b: 1 } }).same_as("nesting_b"),
        // §5.16 bytes
        val("bytes_serde_bytes", r#"{"v": b"ab"}"#, V { v: Bytes::new(b"ab") })
            .digest("eda0077d…"),
        val("bytes_vec_u8", r#"{"n": [97, 98]}"#, N { n: vec![97u8, 98] })
            .digest("7aa800f7…"),
        val("bytes_as_str", r#"{"v": "ab"}"#, V { v: "ab" }).differs_from("bytes_serde_bytes"),
        // §5.17 unicode
        val("unicode_nfc", r#"{"n": "\u00e9"}"#, N { n: "\u{e9}" }).digest("bbb3c477…"),
        val("unicode_nfd", r#"{"n": "e\u0301"}"#, N { n: "e\u{301}" }).digest("3436b20d…"),
        // §5.18 foreign types
        val(
            "uuid",
            r#"{"n": "67e55044-10b1-426f-9247-bb680e5fe0c8"}"#,
            N {
                n: Uuid::parse_str(UUID).unwrap(),
            },
        )
        .digest("ab8e737e…"),
        val(
            "chrono_utc",
            r#"{"n": "2024-01-02T03:04:05Z"}"#,
            N {
                n: Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap(),
            },
        )
        .digest("da8e2871…"),
        val(
            "chrono_plus_2",
            r#"{"n": "2024-01-02T05:04:05+02:00"}"#,
            N {
                n: DateTime::<FixedOffset>::parse_from_rfc3339("2024-01-02T05:04:05+02:00")
                    .unwrap(),
            },
        )
        .digest("5d4af1ec…"),
        val(
            "decimal_1_5",
            r#"{"n": "1.5"}"#,
            N {
                n: Decimal::new(15, 1),
            },
        ),
        val(
            "decimal_1_50",
            r#"{"n": "1.50"}"#,
            N {
                n: Decimal::new(150, 2),
            },
        )
        .differs_from("decimal_1_5"),
        // §5.20 end to end
        val(
            "end_to_end",
            r#"{"orderId": 9007199254740993, "customerId": "67e55044-10b1-426f-9247-bb680e5fe0c8", "items": [{"sku": "SKU-1", "qty": 2, "price_cents": -150}], "attributes": {"channel": "web", "région": "eu"}, "tags": {"b", "a", "c"}, "total": 19.99, "note": None}"#,
            order_placed(),
        )
        .ns("orders.OrderPlaced")
        .digest("a010000d4bec05d771980ccc73891281c92e6d2c726b32a845c65e1d93d7ae9f"),
        // std-type keys (`impls.rs`)
        key("key_u64", "42", 42u64, 42u64),
        key("key_u8", "42", 42u8, 42u64).same_as("key_u64"),
        key("key_str", r#""order-1""#, "order-1", "order-1"),
        key("key_string", r#""order-1""#, String::from("order-1"), "order-1")
            .same_as("key_str"),
        key(
            "key_tuple",
            r#"(42, "order-1")"#,
            (42u64, "order-1"),
            vec![elem(&42u64), elem("order-1")],
        ),
        key("key_option_none", "None", None::<u64>, ()).differs_from("key_u64"),
        key("key_option_some", "42", Some(42u64), 42u64).same_as("key_u64"),
        key(
            "key_tuple_nested",
            "((1, 2), None)",
            ((1u64, 2u64), None::<String>),
            vec![elem(&(1u64, 2u64)), elem(&None::<String>)],
        ),
        key(
            "key_vec",
            r#"["a", "b"]"#,
            vec!["a", "b"],
            vec![elem("a"), elem("b")],
        ),
        key("key_tuple_1", "(42,)", (42u64,), vec![elem(&42u64)])
            .differs_from("key_u64"),
    ]
}

// ---------------------------------------------------------------------------------------------
// The checks

fn header(namespace: &str) -> Vec<u8> {
    let mut out = b"fp\x01\x06".to_vec();
    out.extend_from_slice(&(namespace.len() as u64).to_be_bytes());
    out.extend_from_slice(namespace.as_bytes());
    out
}

fn digest_matches(digest: &str, pin: &str) -> bool {
    match pin.split_once('…') {
        Some((head, tail)) => digest.starts_with(head) && digest.ends_with(tail),
        None => digest == pin,
    }
}

fn load() -> VectorFile {
    let text = std::fs::read_to_string(VECTORS).unwrap_or_else(|e| panic!("{VECTORS}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{VECTORS}: {e}"))
}

/// Computes one case: `(preimage hex, digest hex)`, or why not.
fn compute(case: &Case) -> Result<(String, String), String> {
    let outcome = (case.run)(case.namespace);
    let preimage = outcome.preimage.map_err(|e| format!("encode: {e}"))?;
    let digest = outcome.digest.map_err(|e| format!("fingerprint_of: {e}"))?;
    let streamed = digest.to_hex();
    let hashed = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&preimage));
    if streamed != hashed {
        return Err(format!(
            "fingerprint_of ({streamed}) is not SHA-256 of encode ({hashed})"
        ));
    }
    if let Some(key_digest) = outcome.key_digest {
        let key_digest = key_digest.map_err(|e| format!("try_fingerprint: {e}"))?;
        if key_digest != digest {
            return Err(format!(
                "the Fingerprint impl gives {key_digest}, the key rule {digest}"
            ));
        }
    }
    Ok((hex::encode(preimage), streamed))
}

fn check_pins(case: &Case, preimage_hex: &str, digest: &str) -> Vec<String> {
    let head = hex::encode(header(case.namespace));
    let mut errors = Vec::new();
    let Some(value_hex) = preimage_hex.strip_prefix(&head) else {
        return vec![format!(
            "{}: the preimage does not start with the header",
            case.name
        )];
    };
    for pin in &case.pins {
        let ok = match pin {
            Pin::Digest(d) => digest_matches(digest, d),
            Pin::Value(v) => value_hex == *v,
            Pin::ValuePrefix(p) => value_hex.starts_with(p),
        };
        if !ok {
            let want = match pin {
                Pin::Digest(d) => format!("digest {d}"),
                Pin::Value(v) => format!("value {v}"),
                Pin::ValuePrefix(p) => format!("value starting {p}"),
            };
            errors.push(format!(
                "{}: the proposal pins {want}, got digest {digest}, value {value_hex}",
                case.name
            ));
        }
    }
    errors
}

#[test]
fn every_vector_matches_the_pinned_bytes() {
    let cases = cases();
    let mut file = load();
    let bless = std::env::var_os("FP1_BLESS").is_some();
    let mut errors = Vec::new();
    let mut checked = 0;
    let mut digests = HashMap::new();

    let mut names = HashSet::new();
    for v in &file.vectors {
        if !names.insert(v.name.clone()) {
            errors.push(format!("{}: two vectors have this name", v.name));
        }
    }
    let mut seen = HashSet::new();
    for case in &cases {
        assert!(seen.insert(case.name), "two cases are named {}", case.name);
    }

    // Every vector in the file is rebuilt from Rust: no silent gaps.
    for v in &file.vectors {
        let Some(case) = cases.iter().find(|c| c.name == v.name) else {
            errors.push(format!("{}: in the file but has no Rust case", v.name));
            continue;
        };
        if (case.namespace, case.kind, case.python) != (&v.namespace, &v.kind, &v.python) {
            errors.push(format!(
                "{}: the file's namespace, kind or python expression differ from the case",
                v.name
            ));
        }
        match compute(case) {
            Ok((preimage_hex, digest)) => {
                if preimage_hex != v.preimage_hex {
                    errors.push(format!(
                        "{}: preimage {preimage_hex}, pinned {}",
                        v.name, v.preimage_hex
                    ));
                }
                if digest != v.digest {
                    errors.push(format!("{}: digest {digest}, pinned {}", v.name, v.digest));
                }
                errors.extend(check_pins(case, &preimage_hex, &digest));
                digests.insert(case.name, digest);
            }
            Err(e) => errors.push(format!("{}: {e}", v.name)),
        }
        checked += 1;
    }

    // Every Rust case is pinned in the file (or, when blessing, gets appended).
    for case in cases.iter().filter(|c| !names.contains(c.name)) {
        if !bless {
            errors.push(format!(
                "{}: not in {VECTORS} (run with FP1_BLESS=1 to append it)",
                case.name
            ));
            continue;
        }
        match compute(case) {
            Ok((preimage_hex, digest)) => {
                errors.extend(check_pins(case, &preimage_hex, &digest));
                digests.insert(case.name, digest.clone());
                file.vectors.push(Vector {
                    name: case.name.to_owned(),
                    namespace: case.namespace.to_owned(),
                    kind: case.kind.to_owned(),
                    python: case.python.to_owned(),
                    preimage_hex,
                    digest,
                });
                checked += 1;
            }
            Err(e) => errors.push(format!("{}: {e}", case.name)),
        }
    }

    // The equivalences and distinctions the proposal lists.
    for case in &cases {
        let Some(mine) = digests.get(case.name) else {
            continue;
        };
        for other in &case.same_as {
            match digests.get(other) {
                Some(theirs) if theirs == mine => {}
                Some(_) => errors.push(format!("{} should equal {other}", case.name)),
                None => errors.push(format!("{}: unknown vector {other}", case.name)),
            }
        }
        for other in &case.differs_from {
            match digests.get(other) {
                Some(theirs) if theirs != mine => {}
                Some(_) => errors.push(format!("{} should differ from {other}", case.name)),
                None => errors.push(format!("{}: unknown vector {other}", case.name)),
            }
        }
    }

    if bless && errors.is_empty() {
        let text = serde_json::to_string_pretty(&file).unwrap() + "\n";
        std::fs::write(VECTORS, text).unwrap();
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert_eq!(checked, file.vectors.len(), "every vector is checked");
    assert!(checked >= 40, "the suite pins at least 40 vectors");
}
