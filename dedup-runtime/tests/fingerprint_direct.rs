//! The derive's direct path (structs written without serde) gives exactly the bytes of the
//! serde path, for every field type it writes itself and for every nesting.
//!
//! The reference is `fingerprint_of(namespace, &value)`: the serde encoder over the type's own
//! `Serialize` impl. A derived struct without `#[fingerprint(...)]` field attributes must
//! fingerprint exactly as that, and so must one whose nested derived types have them (a nested
//! type hashes as serde serializes it).

#![allow(clippy::unreadable_literal)]

#[path = "support/rng.rs"]
mod rng;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use dedup_runtime::fingerprint::{Digest, FingerprintError, MAX_DEPTH, fingerprint_of};
use dedup_runtime::{Error, Fingerprint};
use rng::Rng;
use serde::{Serialize, Serializer};

/// The serde path's digest.
#[track_caller]
fn serde_path<T: Serialize + ?Sized>(namespace: &str, value: &T) -> Digest {
    fingerprint_of(namespace, value).expect("the serde path encodes the value")
}

/// Random field values, from the shared deterministic generator.
trait Values {
    /// Mostly small numbers, sometimes the extremes: the INT lengths change at the edges.
    fn int(&mut self) -> u128;
    fn float(&mut self) -> f64;
    fn text(&mut self) -> String;
}

impl Values for Rng {
    fn int(&mut self) -> u128 {
        match self.next() % 4 {
            0 => u128::from(self.next() % 300),
            1 => u128::MAX - u128::from(self.next() % 300),
            2 => 1u128 << (self.next() % 128),
            _ => u128::from(self.next()) << 64 | u128::from(self.next()),
        }
    }

    fn float(&mut self) -> f64 {
        const SPECIAL: [f64; 10] = [
            0.0,
            -0.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e300,
            -2.5,
            0.1,
            9_007_199_254_740_993.0,
            f64::MIN_POSITIVE,
        ];
        match self.next() % 3 {
            0 => SPECIAL[(self.next() % 10) as usize],
            1 => f64::from_bits(self.next()),
            _ => (self.next() % 10_000) as f64 / 8.0,
        }
    }

    fn text(&mut self) -> String {
        let len = (self.next() % 24) as usize;
        (0..len)
            .map(|_| ['a', 'é', '\u{1F600}', ' ', 'Z', '0'][(self.next() % 6) as usize])
            .collect()
    }
}

/// Every scalar the direct path writes itself.
#[derive(Debug, Serialize, Fingerprint)]
#[fingerprint(namespace = "direct.Scalars")]
struct Scalars {
    a_i8: i8,
    a_i16: i16,
    a_i32: i32,
    a_i64: i64,
    a_i128: i128,
    a_u8: u8,
    a_u16: u16,
    a_u32: u32,
    a_u64: u64,
    a_u128: u128,
    a_isize: isize,
    a_usize: usize,
    a_f32: f32,
    a_f64: f64,
    flag: bool,
    letter: char,
    text: String,
    unit: (),
}

impl Scalars {
    #[allow(clippy::cast_possible_truncation)]
    fn random(rng: &mut Rng) -> Self {
        Scalars {
            a_i8: rng.int() as i8,
            a_i16: rng.int() as i16,
            a_i32: rng.int() as i32,
            a_i64: rng.int() as i64,
            a_i128: rng.int() as i128,
            a_u8: rng.int() as u8,
            a_u16: rng.int() as u16,
            a_u32: rng.int() as u32,
            a_u64: rng.int() as u64,
            a_u128: rng.int(),
            a_isize: rng.int() as isize,
            a_usize: rng.int() as usize,
            a_f32: rng.float() as f32,
            a_f64: rng.float(),
            flag: rng.chance(),
            letter: rng.text().chars().next().unwrap_or('x'),
            text: rng.text(),
            unit: (),
        }
    }
}

#[test]
fn scalars_match_the_serde_path() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..2_000 {
        let value = Scalars::random(&mut rng);
        assert_eq!(
            value.fingerprint(),
            serde_path("direct.Scalars", &value),
            "{value:?}"
        );
    }
}

/// Pointers, options and sequences, which the direct path also writes itself.
#[derive(Debug, Serialize, Fingerprint)]
#[fingerprint(namespace = "direct.Shapes")]
struct Shapes<'a> {
    borrowed: &'a str,
    cow: Cow<'a, str>,
    boxed: Box<u32>,
    some: Option<u8>,
    none: Option<u8>,
    some_none: Option<Option<u8>>,
    some_some: Option<Option<String>>,
    bytes: Vec<u8>,
    array: [u16; 3],
    empty_array: [u8; 0],
    deque: VecDeque<i64>,
    nested: Vec<Vec<String>>,
    boxed_slice: Box<[i32]>,
    floats: Vec<f64>,
    optional_items: Vec<Option<bool>>,
}

#[test]
fn pointers_options_and_sequences_match_the_serde_path() {
    let mut rng = Rng(7);
    for round in 0..500 {
        let text = rng.text();
        let value = Shapes {
            borrowed: &text,
            cow: if rng.chance() {
                Cow::Borrowed("cow")
            } else {
                Cow::Owned(rng.text())
            },
            boxed: Box::new(round),
            some: Some(5),
            none: None,
            some_none: Some(None),
            some_some: Some(Some(rng.text())),
            bytes: (0..rng.next() % 5).map(|i| i as u8).collect(),
            array: [1, 300, u16::MAX],
            empty_array: [],
            deque: (0..rng.next() % 4).map(|_| rng.int() as i64).collect(),
            nested: vec![vec![], vec![rng.text(), rng.text()]],
            boxed_slice: vec![-1, 0, 1].into_boxed_slice(),
            floats: (0..rng.next() % 4).map(|_| rng.float()).collect(),
            optional_items: vec![None, Some(true), None],
        };
        assert_eq!(
            value.fingerprint(),
            serde_path("direct.Shapes", &value),
            "{value:?}"
        );
    }
}

/// A nested type with fingerprint attributes: inside another message they do nothing, since a
/// nested value hashes as serde serializes it; serde's own attributes still apply.
#[derive(Debug, Clone, Serialize, Fingerprint)]
#[serde(rename_all = "camelCase")]
#[fingerprint(namespace = "direct.Line")]
struct Line {
    sku_code: String,
    #[fingerprint(skip)]
    added_at: u64,
    #[fingerprint(rename = "n")]
    qty: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    #[serde(skip)]
    cache: u8,
    #[serde(rename = "Z")]
    z: i64,
}

/// A generic derived type: its parameter's values go through serde.
#[derive(Debug, Serialize, Fingerprint)]
#[fingerprint(namespace = "direct.Wrapper")]
struct Wrapper<T> {
    inner: T,
    list: Vec<T>,
}

#[derive(Debug, Serialize, Fingerprint)]
#[fingerprint(namespace = "direct.Basket")]
struct Basket {
    lines: Vec<Line>,
    first: Option<Line>,
    missing: Option<Line>,
    boxed: Box<Line>,
    by_name: HashMap<String, Line>,
    ordered: BTreeMap<u32, Line>,
    tags: HashSet<String>,
    generic: Wrapper<Line>,
    pair: [Line; 2],
}

fn line(rng: &mut Rng) -> Line {
    Line {
        sku_code: rng.text(),
        added_at: rng.next(),
        qty: rng.next() as u32,
        note: rng.chance().then(|| rng.text()),
        cache: rng.next() as u8,
        z: rng.int() as i64,
    }
}

#[test]
fn nested_derived_types_match_the_serde_path() {
    let mut rng = Rng(42);
    for _ in 0..300 {
        let value = Basket {
            lines: (0..rng.next() % 4).map(|_| line(&mut rng)).collect(),
            first: Some(line(&mut rng)),
            missing: None,
            boxed: Box::new(line(&mut rng)),
            by_name: (0..rng.next() % 3)
                .map(|_| (rng.text(), line(&mut rng)))
                .collect(),
            ordered: (0..rng.next() % 3)
                .map(|_| (rng.next() as u32, line(&mut rng)))
                .collect(),
            tags: (0..rng.next() % 4).map(|_| rng.text()).collect(),
            generic: Wrapper {
                inner: line(&mut rng),
                list: vec![line(&mut rng)],
            },
            pair: [line(&mut rng), line(&mut rng)],
        };
        assert_eq!(
            value.fingerprint(),
            serde_path("direct.Basket", &value),
            "{value:?}"
        );
    }
}

/// The nested rule, spelled out: the nested line's skipped `added_at` counts inside a basket.
#[test]
fn a_nested_types_skip_does_not_reach_through() {
    let mut rng = Rng(1);
    let first = line(&mut rng);
    let later = Line {
        added_at: first.added_at + 60,
        ..first.clone()
    };
    assert_eq!(first.fingerprint(), later.fingerprint());
    let basket = |line: &Line| Wrapper {
        inner: line.clone(),
        list: Vec::new(),
    };
    #[derive(Serialize, Fingerprint)]
    #[fingerprint(namespace = "direct.Lines")]
    struct Lines {
        lines: Vec<Line>,
    }
    let lines = |line: &Line| Lines {
        lines: vec![line.clone()],
    };
    assert_ne!(lines(&first).fingerprint(), lines(&later).fingerprint());
    assert_ne!(basket(&first).fingerprint(), basket(&later).fingerprint());
}

/// Generic code cannot see a parameter's `Encode` impl and takes serde; a concrete field takes
/// the direct path. Both give one digest.
#[test]
fn generic_and_concrete_fields_agree() {
    #[derive(Serialize, Fingerprint)]
    #[fingerprint(namespace = "direct.Envelope")]
    struct Envelope<T> {
        payload: T,
    }
    #[derive(Serialize, Fingerprint)]
    #[fingerprint(namespace = "direct.Envelope")]
    struct LineEnvelope {
        payload: Line,
    }
    let mut rng = Rng(3);
    for _ in 0..50 {
        let payload = line(&mut rng);
        assert_eq!(
            Envelope {
                payload: payload.clone()
            }
            .fingerprint(),
            LineEnvelope { payload }.fingerprint()
        );
    }
}

#[derive(Debug, Serialize, Fingerprint)]
#[fingerprint(namespace = "direct.Node")]
struct Node {
    value: u32,
    children: Vec<Node>,
    next: Option<Box<Node>>,
}

fn chain(depth: usize, through_vec: bool) -> Node {
    let mut node = Node {
        value: 0,
        children: Vec::new(),
        next: None,
    };
    for value in 1..=depth {
        node = if through_vec {
            Node {
                value: value as u32,
                children: vec![node],
                next: None,
            }
        } else {
            Node {
                value: value as u32,
                children: Vec::new(),
                next: Some(Box::new(node)),
            }
        };
    }
    node
}

/// Every nesting step counts on the direct path as on the serde path: the same values fit
/// under [`MAX_DEPTH`], and the same fail, with the same error.
#[test]
fn depth_is_counted_alike() {
    for through_vec in [true, false] {
        let mut failures = 0;
        for depth in 0..MAX_DEPTH {
            let node = chain(depth, through_vec);
            let direct = node.try_fingerprint();
            match fingerprint_of("direct.Node", &node) {
                Ok(digest) => assert_eq!(direct.unwrap(), digest, "depth {depth}"),
                Err(FingerprintError::TooDeep { limit }) => {
                    failures += 1;
                    let direct = direct.expect_err("the direct path must fail too");
                    assert_eq!(
                        direct.to_string(),
                        Error::from(FingerprintError::TooDeep { limit }).to_string()
                    );
                }
                Err(other) => panic!("unexpected error {other}"),
            }
        }
        assert!(failures > 0, "the deepest chains must exceed the limit");
    }
}

/// Maps inside derived types, in every position: their entries must be sorted by their keys'
/// encodings wherever they are written.
#[derive(Debug, Serialize, Fingerprint)]
#[fingerprint(namespace = "direct.Catalog")]
struct Catalog {
    /// Sometimes thousands of entries (more than the encoder stages before a hasher update), in
    /// an order unrelated to the keys' encodings (which put shorter strings first).
    big: HashMap<String, Option<u64>>,
    nested: BTreeMap<String, HashMap<u16, Vec<Line>>>,
    in_seq: Vec<BTreeMap<i64, String>>,
    /// Values of a generic derived type, whose parameter goes through serde.
    serde_values: HashMap<String, Wrapper<u8>>,
    empty: HashMap<String, String>,
    /// Every value NULL: every entry is dropped, the map is empty.
    all_null: BTreeMap<u8, Option<String>>,
}

fn catalog(rng: &mut Rng) -> Catalog {
    let big_len = match rng.next() % 8 {
        0 => 1_000 + rng.next() % 2_000,
        _ => rng.next() % 40,
    };
    Catalog {
        big: (0..big_len)
            .map(|_| (rng.text(), rng.chance().then(|| rng.next())))
            .collect(),
        nested: (0..rng.next() % 4)
            .map(|_| {
                let inner = (0..rng.next() % 4)
                    .map(|_| (rng.next() as u16, vec![line(rng)]))
                    .collect();
                (rng.text(), inner)
            })
            .collect(),
        in_seq: (0..rng.next() % 3)
            .map(|_| {
                (0..rng.next() % 5)
                    .map(|_| (rng.int() as i64, rng.text()))
                    .collect()
            })
            .collect(),
        serde_values: (0..rng.next() % 4)
            .map(|_| {
                let inner = rng.next() as u8;
                let wrapper = Wrapper {
                    inner,
                    list: vec![inner; (rng.next() % 3) as usize],
                };
                (rng.text(), wrapper)
            })
            .collect(),
        empty: HashMap::new(),
        all_null: (0..rng.next() % 4).map(|i| (i as u8, None)).collect(),
    }
}

#[test]
fn maps_match_the_serde_path() {
    let mut rng = Rng(11);
    for _ in 0..200 {
        let value = catalog(&mut rng);
        assert_eq!(
            value.fingerprint(),
            serde_path("direct.Catalog", &value),
            "{value:?}"
        );
    }
}

/// Distinct Rust keys that encode alike fail on both paths, with the same error.
#[test]
fn keys_that_encode_alike_fail_alike() {
    #[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Fingerprint)]
    struct Loose {
        id: u8,
        #[serde(skip)]
        shadow: u8,
    }
    #[derive(Debug, Serialize, Fingerprint)]
    #[fingerprint(namespace = "direct.Dupes")]
    struct Dupes {
        by_key: BTreeMap<Loose, u8>,
    }
    let dupes = Dupes {
        by_key: BTreeMap::from([
            (Loose { id: 1, shadow: 0 }, 1),
            (Loose { id: 1, shadow: 1 }, 2),
        ]),
    };
    let serde = fingerprint_of("direct.Dupes", &dupes).unwrap_err();
    assert!(
        matches!(serde, FingerprintError::DuplicateMapKey { .. }),
        "{serde}"
    );
    let direct = dupes.try_fingerprint().unwrap_err();
    assert_eq!(direct.to_string(), Error::from(serde).to_string());
}

#[derive(Debug, Serialize, Fingerprint)]
#[fingerprint(namespace = "direct.Tree")]
struct Tree {
    value: u32,
    kids: BTreeMap<u32, Tree>,
}

/// A map is one nesting level, its keys and values the next, as through serde.
#[test]
fn depth_through_maps_is_counted_alike() {
    let mut failures = 0;
    for depth in 0..MAX_DEPTH {
        let mut tree = Tree {
            value: 0,
            kids: BTreeMap::new(),
        };
        for value in 1..=depth as u32 {
            tree = Tree {
                value,
                kids: BTreeMap::from([(value, tree)]),
            };
        }
        match fingerprint_of("direct.Tree", &tree) {
            Ok(digest) => assert_eq!(tree.fingerprint(), digest, "depth {depth}"),
            Err(error) => {
                failures += 1;
                let direct = tree
                    .try_fingerprint()
                    .expect_err("the direct path must fail too");
                assert_eq!(direct.to_string(), Error::from(error).to_string());
            }
        }
    }
    assert!(failures > 0, "the deepest trees must exceed the limit");
}

/// A field without a direct encoding goes through serde, errors included.
#[test]
fn a_failing_serialize_inside_a_direct_struct_is_an_error() {
    struct Fails;
    impl Serialize for Fails {
        fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("refused"))
        }
    }
    #[derive(Fingerprint)]
    #[fingerprint(namespace = "direct.Failing")]
    struct Failing {
        id: u64,
        bad: Vec<Fails>,
    }
    let error = Failing {
        id: 1,
        bad: vec![Fails],
    }
    .try_fingerprint()
    .unwrap_err();
    assert!(error.to_string().contains("refused"), "{error}");
}

/// A type whose skipped field does not serialize still derives `Fingerprint`: it has no nested
/// direct encoding, and needs none.
#[test]
fn a_skipped_field_need_not_serialize() {
    #[derive(Fingerprint)]
    #[fingerprint(namespace = "direct.Timed")]
    struct Timed {
        id: u64,
        #[fingerprint(skip)]
        #[allow(dead_code)]
        started: std::time::Instant,
    }
    let timed = |id| Timed {
        id,
        started: std::time::Instant::now(),
    };
    assert_eq!(timed(1).fingerprint(), timed(1).fingerprint());
    assert_eq!(
        timed(1).fingerprint(),
        serde_path("direct.Timed", &serde_json::json!({ "id": 1 }))
    );
}

/// `#[derive(Fingerprint)]` encodes a type from its declaration (fields and serde attributes),
/// at the top level and, where the parent's derive sees it, nested: a hand-written `Serialize`
/// impl that says otherwise is not consulted there. Inside a generic parent, which cannot see
/// the derive, the `Serialize` impl is what counts (`docs/fingerprint-spec.md`, section 3).
#[test]
fn derived_types_are_encoded_from_their_declaration() {
    #[derive(Fingerprint)]
    #[fingerprint(namespace = "direct.Money")]
    struct Money {
        cents: i64,
    }
    impl Serialize for Money {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_str(&format!("{}.{:02}", self.cents / 100, self.cents % 100))
        }
    }
    #[derive(Fingerprint)]
    #[fingerprint(namespace = "direct.Priced")]
    struct Priced {
        price: Money,
    }
    #[derive(Fingerprint)]
    #[fingerprint(namespace = "direct.Priced")]
    struct GenericPriced<T> {
        price: T,
    }
    let money = || Money { cents: 1234 };
    assert_eq!(
        Priced { price: money() }.fingerprint(),
        serde_path(
            "direct.Priced",
            &serde_json::json!({ "price": { "cents": 1234 } })
        )
    );
    assert_eq!(
        GenericPriced { price: money() }.fingerprint(),
        serde_path("direct.Priced", &serde_json::json!({ "price": "12.34" }))
    );
}

macro_rules! status_enum {
    ($name:ident, $rule:literal) => {
        #[derive(Debug, Clone, Copy, Serialize, Fingerprint)]
        #[serde(rename_all = $rule)]
        enum $name {
            Placed,
            VeryTasty,
            #[serde(rename = "held-back")]
            HeldBack,
            Z42,
            A,
            XRay,
        }

        impl $name {
            const ALL: [Self; 6] = [
                Self::Placed,
                Self::VeryTasty,
                Self::HeldBack,
                Self::Z42,
                Self::A,
                Self::XRay,
            ];
        }
    };
}

status_enum!(Lower, "lowercase");
status_enum!(Upper, "UPPERCASE");
status_enum!(Pascal, "PascalCase");
status_enum!(Camel, "camelCase");
status_enum!(Snake, "snake_case");
status_enum!(ScreamingSnake, "SCREAMING_SNAKE_CASE");
status_enum!(Kebab, "kebab-case");
status_enum!(ScreamingKebab, "SCREAMING-KEBAB-CASE");

#[derive(Debug, Clone, Copy, Serialize, Fingerprint)]
enum Plain {
    First,
    #[fingerprint(rename = "ignored when nested")]
    Second,
}

/// Newtype structs: one nesting level, or none with `transparent`.
#[derive(Debug, Clone, Serialize, Fingerprint)]
struct OrderId(u64);

#[derive(Debug, Clone, Serialize, Fingerprint)]
struct Sku(String);

#[derive(Debug, Clone, Serialize, Fingerprint)]
#[serde(transparent)]
struct Cents(i64);

#[derive(Debug, Clone, Serialize, Fingerprint)]
struct Note(Option<String>);

/// No direct encoding for its field: the newtype goes through serde.
#[derive(Debug, Clone, Serialize, Fingerprint)]
struct Tags(HashSet<String>);

#[derive(Debug, Serialize, Fingerprint)]
#[fingerprint(namespace = "direct.Statuses")]
struct Statuses {
    lower: Lower,
    upper: Upper,
    pascal: Pascal,
    camel: Camel,
    snake: Snake,
    screaming_snake: ScreamingSnake,
    kebab: Kebab,
    screaming_kebab: ScreamingKebab,
    plain: Vec<Plain>,
    maybe: Option<Snake>,
    id: OrderId,
    ids: Vec<OrderId>,
    sku: Sku,
    cents: Cents,
    note: Note,
    missing_note: Note,
    optional_id: Option<OrderId>,
    tags: Tags,
}

/// Unit-variant enums under every `rename_all` rule, and newtype structs, match the serde path.
#[test]
fn unit_enums_and_newtypes_match_the_serde_path() {
    let mut rng = Rng(11);
    for i in 0..200 {
        let pick = |rng: &mut Rng| (rng.next() % 6) as usize;
        let value = Statuses {
            lower: Lower::ALL[pick(&mut rng)],
            upper: Upper::ALL[pick(&mut rng)],
            pascal: Pascal::ALL[pick(&mut rng)],
            camel: Camel::ALL[pick(&mut rng)],
            snake: Snake::ALL[pick(&mut rng)],
            screaming_snake: ScreamingSnake::ALL[pick(&mut rng)],
            kebab: Kebab::ALL[pick(&mut rng)],
            screaming_kebab: ScreamingKebab::ALL[pick(&mut rng)],
            plain: vec![Plain::First, Plain::Second],
            maybe: rng.chance().then(|| Snake::ALL[pick(&mut rng)]),
            id: OrderId(rng.next()),
            ids: vec![OrderId(i), OrderId(u64::MAX)],
            sku: Sku(rng.text()),
            cents: Cents(rng.int() as i64),
            note: Note(Some(rng.text())),
            missing_note: Note(None),
            optional_id: rng.chance().then(|| OrderId(rng.next())),
            tags: Tags((0..rng.next() % 3).map(|_| rng.text()).collect()),
        };
        assert_eq!(
            value.fingerprint(),
            serde_path("direct.Statuses", &value),
            "{value:?}"
        );
    }
}
