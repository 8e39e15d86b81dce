//! `#[derive(Fingerprint)]`: what counts and what does not.
//!
//! The reference for "a field hashes as serde would serialize it" is the encoder itself:
//! `fingerprint_of(namespace, &value)` over a plain serde value with the same shape (often the
//! type itself, which also derives `Serialize`, or a `serde_json::json!` map). The derive must
//! give exactly that digest.

#![allow(clippy::unreadable_literal)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::marker::PhantomData;

use chrono::{DateTime, TimeZone, Utc};
use dedup_runtime::Fingerprint;
use dedup_runtime::fingerprint::{Digest, Unordered, fingerprint_of};
use rust_decimal::Decimal;
use serde::{Serialize, Serializer};
use serde_json::json;
use uuid::Uuid;

/// The encoder's digest of a plain serde value.
#[track_caller]
fn plain<T: Serialize + ?Sized>(namespace: &str, value: &T) -> Digest {
    fingerprint_of(namespace, value).expect("the plain value encodes")
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(0x67e5_5044_10b1_426f_9247_bb68_0e5f_c8e0 + n)
}

// ---------------------------------------------------------------------------------------------
// What counts

/// A message as it arrives: the producer's envelope fields change on every retry.
#[derive(Debug, Clone, Serialize, Fingerprint)]
#[fingerprint(namespace = "orders.OrderPlaced.v1")]
struct OrderPlaced {
    order_id: u64,
    customer_id: Uuid,
    total_cents: i64,
    note: Option<String>,
    #[fingerprint(skip)]
    correlation_id: Uuid,
    #[fingerprint(skip)]
    sent_at: DateTime<Utc>,
    #[fingerprint(skip)]
    retries: u32,
}

fn order() -> OrderPlaced {
    OrderPlaced {
        order_id: 9_007_199_254_740_993,
        customer_id: uuid(0),
        total_cents: 1999,
        note: Some("leave at the door".to_owned()),
        correlation_id: uuid(1),
        sent_at: at(0),
        retries: 0,
    }
}

#[test]
fn skipped_fields_never_count() {
    let first = order();
    let retry = OrderPlaced {
        correlation_id: uuid(2),
        sent_at: at(30),
        retries: 3,
        ..first.clone()
    };
    assert_eq!(first.fingerprint(), retry.fingerprint());
    assert_eq!(
        first.fingerprint(),
        plain(
            "orders.OrderPlaced.v1",
            &json!({
                "order_id": 9_007_199_254_740_993_u64,
                "customer_id": uuid(0),
                "total_cents": 1999,
                "note": "leave at the door",
            })
        )
    );
}

/// A line of an order that derives `Fingerprint` on its own, with a skipped field.
#[derive(Debug, Clone, Serialize, Fingerprint)]
struct Line {
    sku: String,
    #[fingerprint(skip)]
    added_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Fingerprint)]
struct Basket {
    lines: Vec<Line>,
    #[fingerprint(skip)]
    sent_at: DateTime<Utc>,
}

/// The documented rule: a field hashes as serde serializes it, so a nested type's own `skip`
/// holds where that type is fingerprinted alone and not inside another message.
#[test]
fn nested_types_hash_as_serde_serializes_them() {
    let line = |added| Line {
        sku: "SKU-1".to_owned(),
        added_at: at(added),
    };
    assert_eq!(line(0).fingerprint(), line(60).fingerprint());
    let basket = |added, sent| Basket {
        lines: vec![line(added)],
        sent_at: at(sent),
    };
    assert_eq!(basket(0, 0).fingerprint(), basket(0, 30).fingerprint());
    assert_ne!(basket(0, 0).fingerprint(), basket(60, 0).fingerprint());
    assert_eq!(
        basket(0, 0).fingerprint(),
        plain(
            "Basket",
            &json!({ "lines": [{ "sku": "SKU-1", "added_at": at(0) }] })
        )
    );
}

#[test]
fn every_counted_field_counts() {
    let base = order();
    let changes = [
        OrderPlaced {
            order_id: base.order_id + 1,
            ..base.clone()
        },
        OrderPlaced {
            customer_id: uuid(7),
            ..base.clone()
        },
        OrderPlaced {
            total_cents: -1999,
            ..base.clone()
        },
        OrderPlaced {
            note: None,
            ..base.clone()
        },
        OrderPlaced {
            note: Some("ring twice".to_owned()),
            ..base.clone()
        },
    ];
    let mut seen = HashSet::from([base.fingerprint()]);
    for changed in &changes {
        assert!(seen.insert(changed.fingerprint()), "{changed:?} collides");
    }
}

#[test]
fn try_fingerprint_agrees_with_fingerprint() {
    let order = order();
    assert_eq!(order.try_fingerprint().unwrap(), order.fingerprint());
}

#[derive(Fingerprint)]
#[fingerprint(namespace = "T")]
struct AB {
    a: u64,
    b: String,
}

#[derive(Fingerprint)]
#[fingerprint(namespace = "T")]
struct BA {
    b: String,
    a: u64,
}

#[test]
fn declaration_order_does_not_count() {
    let ab = AB {
        a: 1,
        b: "x".to_owned(),
    };
    let ba = BA {
        b: "x".to_owned(),
        a: 1,
    };
    assert_eq!(ab.fingerprint(), ba.fingerprint());
    // The pinned fp1 vector 9.
    assert_eq!(
        ab.fingerprint().to_hex(),
        "f89c8f613cecbed10a416b872f448830d48a0d81d0d07b63d829e7b2aed4fd83"
    );
}

// ---------------------------------------------------------------------------------------------
// Names

#[derive(Fingerprint)]
#[fingerprint(namespace = "customers.Moved")]
struct MovedV1 {
    customer_id: u64,
    city: String,
}

/// The Rust field was renamed; `rename` pins the name the fingerprint uses.
#[derive(Fingerprint)]
#[fingerprint(namespace = "customers.Moved")]
struct MovedV2 {
    #[fingerprint(rename = "customer_id")]
    client_id: u64,
    city: String,
}

/// The wire name changed too (serde rename): the fingerprint keeps the pinned one.
#[derive(Serialize, Fingerprint)]
#[serde(rename_all = "camelCase")]
#[fingerprint(namespace = "customers.Moved")]
struct MovedV3 {
    #[serde(rename = "clientRef")]
    #[fingerprint(rename = "customer_id")]
    client_id: u64,
    #[fingerprint(rename = "city")]
    town: String,
}

#[test]
fn rename_keeps_the_fingerprint_of_a_renamed_field() {
    let v1 = MovedV1 {
        customer_id: 42,
        city: "Lyon".to_owned(),
    };
    let v2 = MovedV2 {
        client_id: 42,
        city: "Lyon".to_owned(),
    };
    assert_eq!(v1.fingerprint(), v2.fingerprint());
    assert_eq!(
        v1.fingerprint(),
        plain(
            "customers.Moved",
            &json!({"customer_id": 42, "city": "Lyon"})
        )
    );
}

#[test]
fn fingerprint_rename_wins_over_serde_rename() {
    let v1 = MovedV1 {
        customer_id: 42,
        city: "Lyon".to_owned(),
    };
    let v3 = MovedV3 {
        client_id: 42,
        town: "Lyon".to_owned(),
    };
    assert_eq!(v1.fingerprint(), v3.fingerprint());
    // serde's own output is different: the fingerprint does not follow it here.
    assert_ne!(v3.fingerprint(), plain("customers.Moved", &v3));
}

#[derive(Fingerprint)]
struct Plain {
    a: u64,
}

mod other {
    use dedup_runtime::Fingerprint;

    /// Same bare name as `super::Plain`, other module: the default namespace is the bare name.
    #[derive(Fingerprint)]
    pub(crate) struct Plain {
        pub(crate) a: u64,
    }
}

#[derive(Fingerprint)]
struct Twin {
    a: u64,
}

#[derive(Fingerprint)]
#[fingerprint(namespace = "orders.Plain.v2")]
struct Pinned {
    a: u64,
}

#[allow(non_camel_case_types)]
#[derive(Fingerprint)]
struct r#type {
    r#match: u64,
}

#[test]
fn namespaces_separate_and_default_to_the_bare_type_name() {
    let plain_value = json!({"a": 1});
    assert_eq!(Plain { a: 1 }.fingerprint(), plain("Plain", &plain_value));
    assert_eq!(
        other::Plain { a: 1 }.fingerprint(),
        Plain { a: 1 }.fingerprint()
    );
    assert_eq!(Twin { a: 1 }.fingerprint(), plain("Twin", &plain_value));
    assert_ne!(Twin { a: 1 }.fingerprint(), Plain { a: 1 }.fingerprint());
    assert_eq!(
        Pinned { a: 1 }.fingerprint(),
        plain("orders.Plain.v2", &plain_value)
    );
    // Raw identifiers lose their `r#`, as serde's names do.
    assert_eq!(
        r#type { r#match: 1 }.fingerprint(),
        plain("type", &json!({"match": 1}))
    );
}

// ---------------------------------------------------------------------------------------------
// serde attributes: the derive must agree with serde's own output for the type.

mod cents {
    use serde::Serializer;

    /// Serializes an amount as a string of cents.
    pub(crate) fn serialize<S: Serializer>(amount: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{:.0}", amount * 100.0))
    }
}

fn upper<S: Serializer>(value: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&value.to_uppercase())
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

#[derive(Serialize)]
struct Address {
    street: String,
    #[serde(rename = "zip")]
    postcode: String,
}

#[derive(Serialize, Fingerprint)]
#[serde(rename_all = "SCREAMING-KEBAB-CASE")]
struct SerdeShaped {
    order_id: u64,
    #[serde(rename = "who")]
    customer: String,
    #[serde(with = "cents")]
    amount: f64,
    #[serde(serialize_with = "upper")]
    currency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    coupon: Option<String>,
    #[serde(skip_serializing_if = "is_zero")]
    attempts: u32,
    #[serde(flatten)]
    address: Address,
    #[serde(skip)]
    cache: Vec<u8>,
    #[serde(skip_serializing)]
    local_only: bool,
    nested: BTreeMap<String, Vec<u8>>,
}

fn shaped() -> SerdeShaped {
    SerdeShaped {
        order_id: 7,
        customer: "ada".to_owned(),
        amount: 12.5,
        currency: "eur".to_owned(),
        coupon: None,
        attempts: 0,
        address: Address {
            street: "1 rue de la Paix".to_owned(),
            postcode: "75002".to_owned(),
        },
        cache: vec![1, 2, 3],
        local_only: true,
        nested: BTreeMap::from([("k".to_owned(), vec![1, 2])]),
    }
}

#[test]
fn serde_attributes_are_honoured() {
    let value = shaped();
    assert_eq!(value.fingerprint(), plain("SerdeShaped", &value));
    assert_eq!(
        value.fingerprint(),
        plain(
            "SerdeShaped",
            &json!({
                "ORDER-ID": 7,
                "who": "ada",
                "AMOUNT": "1250",
                "CURRENCY": "EUR",
                "street": "1 rue de la Paix",
                "zip": "75002",
                "NESTED": {"k": [1, 2]},
            })
        )
    );

    let with_coupon = SerdeShaped {
        coupon: Some("WELCOME".to_owned()),
        attempts: 2,
        ..shaped()
    };
    assert_eq!(
        with_coupon.fingerprint(),
        plain("SerdeShaped", &with_coupon)
    );
    assert_ne!(with_coupon.fingerprint(), value.fingerprint());

    // serde-skipped fields do not count either.
    let other_cache = SerdeShaped {
        cache: vec![9],
        local_only: false,
        ..shaped()
    };
    assert_eq!(other_cache.fingerprint(), value.fingerprint());
}

#[derive(Serialize, Fingerprint)]
#[serde(rename_all(serialize = "camelCase", deserialize = "snake_case"))]
struct RenameAllSerializeOnly {
    order_id: u64,
    #[serde(rename(serialize = "ref", deserialize = "reference"))]
    reference: String,
}

#[derive(Serialize, Fingerprint)]
#[serde(transparent)]
struct Transparent {
    inner: u64,
    #[serde(skip)]
    #[fingerprint(skip)]
    seen_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, Fingerprint)]
#[serde(tag = "kind")]
struct Tagged {
    id: u64,
}

#[derive(Serialize, Fingerprint)]
#[serde(tag = "kind", rename = "order.placed")]
struct TaggedRenamed {
    id: u64,
}

#[test]
fn container_attributes_are_honoured() {
    let value = RenameAllSerializeOnly {
        order_id: 1,
        reference: "A-1".to_owned(),
    };
    assert_eq!(
        value.fingerprint(),
        plain(
            "RenameAllSerializeOnly",
            &json!({"orderId": 1, "ref": "A-1"})
        )
    );

    let value = Transparent {
        inner: 5,
        seen_at: Some(at(0)),
    };
    assert_eq!(value.fingerprint(), plain("Transparent", &5_u64));

    // A tagged struct carries its (serde) name: the view must not leak its own.
    let value = Tagged { id: 1 };
    assert_eq!(
        value.fingerprint(),
        plain("Tagged", &json!({"kind": "Tagged", "id": 1}))
    );
    let value = TaggedRenamed { id: 1 };
    assert_eq!(
        value.fingerprint(),
        plain("TaggedRenamed", &json!({"kind": "order.placed", "id": 1}))
    );
}

/// Attributes on a type that only derives `Deserialize` still describe its wire shape.
#[derive(serde::Deserialize, Fingerprint)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DeserializeOnly {
    #[serde(alias = "orderRef", default)]
    order_id: u64,
}

#[test]
fn deserialize_only_attributes_are_ignored() {
    let value: DeserializeOnly = serde_json::from_str(r#"{"orderRef": 3}"#).unwrap();
    assert_eq!(
        value.fingerprint(),
        plain("DeserializeOnly", &json!({"orderId": 3}))
    );
}

// ---------------------------------------------------------------------------------------------
// Shapes

#[derive(Serialize, Fingerprint)]
struct Pair(u64, String);

#[derive(Serialize, Fingerprint)]
struct Id(u64);

#[derive(Fingerprint)]
struct Stamped(u64, #[fingerprint(skip)] DateTime<Utc>);

#[derive(Serialize, Fingerprint)]
struct Unit;

#[derive(Serialize, Fingerprint)]
struct Empty {}

#[test]
fn tuple_and_unit_structs() {
    assert_eq!(
        Pair(1, "a".to_owned()).fingerprint(),
        plain("Pair", &(1, "a"))
    );
    // A newtype is transparent: `Id(5)` hashes as `5`.
    assert_eq!(Id(5).fingerprint(), plain("Id", &5));
    // A skipped tuple field keeps the tuple shape, as `#[serde(skip)]` would.
    assert_eq!(Stamped(5, at(0)).fingerprint(), plain("Stamped", &(5,)));
    assert_eq!(
        Stamped(5, at(0)).fingerprint(),
        Stamped(5, at(99)).fingerprint()
    );
    assert_eq!(Unit.fingerprint(), plain("Unit", &()));
    assert_eq!(Empty {}.fingerprint(), plain("Empty", &json!({})));
}

#[derive(Debug, Clone, Serialize, Fingerprint)]
#[serde(rename_all = "snake_case")]
enum Event {
    Created,
    Renamed(String),
    Moved(i32, i32),
    Paid {
        amount_cents: u64,
        #[serde(skip)]
        #[fingerprint(skip)]
        paid_at: Option<DateTime<Utc>>,
    },
    #[serde(rename = "cancelled_by_user")]
    Cancelled {
        #[fingerprint(skip)]
        #[serde(skip)]
        request_id: Uuid,
        reason: String,
    },
    #[serde(skip_serializing)]
    #[allow(dead_code)]
    Internal(u8),
}

#[test]
fn enums_of_every_kind() {
    let cases = [
        (Event::Created, json!("created")),
        (Event::Renamed("b".to_owned()), json!({"renamed": "b"})),
        (Event::Moved(-1, 2), json!({"moved": [-1, 2]})),
        (
            Event::Paid {
                amount_cents: 10,
                paid_at: Some(at(0)),
            },
            json!({"paid": {"amount_cents": 10}}),
        ),
        (
            Event::Cancelled {
                request_id: uuid(3),
                reason: "late".to_owned(),
            },
            json!({"cancelled_by_user": {"reason": "late"}}),
        ),
    ];
    for (event, shape) in &cases {
        assert_eq!(event.fingerprint(), plain("Event", event), "{event:?}");
        assert_eq!(event.fingerprint(), plain("Event", shape), "{event:?}");
    }
    // Skipped variant fields never count.
    let paid_later = Event::Paid {
        amount_cents: 10,
        paid_at: Some(at(60)),
    };
    assert_eq!(paid_later.fingerprint(), cases[3].0.fingerprint());
    let cancelled_again = Event::Cancelled {
        request_id: uuid(4),
        reason: "late".to_owned(),
    };
    assert_eq!(cancelled_again.fingerprint(), cases[4].0.fingerprint());
    // A variant serde refuses to serialize has no fingerprint either.
    assert!(Event::Internal(1).try_fingerprint().is_err());
}

/// Skip on variant fields, in a type that does not derive `Serialize` at all.
#[derive(Fingerprint)]
enum Command {
    Ship {
        order_id: u64,
        #[fingerprint(skip)]
        attempt: u32,
    },
    Refund(u64, #[fingerprint(skip)] String),
    #[fingerprint(rename = "noop")]
    Nothing,
}

#[test]
fn enum_variant_fields_can_be_skipped() {
    let ship = |attempt| Command::Ship {
        order_id: 1,
        attempt,
    };
    assert_eq!(ship(1).fingerprint(), ship(2).fingerprint());
    assert_eq!(
        ship(1).fingerprint(),
        plain("Command", &json!({"Ship": {"order_id": 1}}))
    );
    assert_eq!(
        Command::Refund(5, "a".to_owned()).fingerprint(),
        Command::Refund(5, "b".to_owned()).fingerprint()
    );
    assert_eq!(
        Command::Refund(5, "a".to_owned()).fingerprint(),
        plain("Command", &json!({"Refund": [5]}))
    );
    assert_eq!(Command::Nothing.fingerprint(), plain("Command", "noop"));
}

#[derive(Serialize, Fingerprint)]
#[serde(tag = "type", content = "data")]
enum Adjacent {
    A(u64),
    B { x: i8 },
}

#[derive(Serialize, Fingerprint)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
enum Internal {
    Placed {
        order_id: u64,
    },
    #[serde(untagged)]
    Other(BTreeMap<String, u64>),
}

#[derive(Serialize, Fingerprint)]
#[serde(untagged)]
enum Untagged {
    Number(u64),
    Text(String),
}

#[derive(Serialize, Fingerprint)]
enum Empty2 {}

#[test]
fn enum_representations_follow_serde() {
    for value in [Adjacent::A(1), Adjacent::B { x: -2 }] {
        assert_eq!(value.fingerprint(), plain("Adjacent", &value));
    }
    assert_eq!(
        Adjacent::A(1).fingerprint(),
        plain("Adjacent", &json!({"type": "A", "data": 1}))
    );
    let placed = Internal::Placed { order_id: 3 };
    assert_eq!(
        placed.fingerprint(),
        plain("Internal", &json!({"type": "Placed", "orderId": 3}))
    );
    let other = Internal::Other(BTreeMap::from([("z".to_owned(), 1)]));
    assert_eq!(other.fingerprint(), plain("Internal", &json!({"z": 1})));
    assert_eq!(Untagged::Number(4).fingerprint(), plain("Untagged", &4));
    assert_eq!(
        Untagged::Text("4".to_owned()).fingerprint(),
        plain("Untagged", "4")
    );
    // `Empty2` has no value to fingerprint; it only has to compile.
    fn assert_fingerprint<T: Fingerprint>() {}
    assert_fingerprint::<Empty2>();
}

mod variant_with {
    use serde::Serializer;
    use serde::ser::SerializeSeq as _;

    /// A tuple variant serialized as the sum of its fields.
    pub(crate) fn serialize<S: Serializer>(
        a: &u64,
        b: &u64,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(1))?;
        seq.serialize_element(&(a + b))?;
        seq.end()
    }
}

#[derive(Serialize, Fingerprint)]
enum VariantWith {
    #[serde(with = "variant_with")]
    Sum(u64, u64),
}

#[test]
fn variant_serialize_with_is_honoured() {
    let value = VariantWith::Sum(1, 2);
    assert_eq!(value.fingerprint(), plain("VariantWith", &value));
    assert_eq!(value.fingerprint(), VariantWith::Sum(2, 1).fingerprint());
}

// ---------------------------------------------------------------------------------------------
// Generics and lifetimes

/// Implements neither `Serialize` nor anything else.
struct Opaque;

#[derive(Fingerprint)]
struct Envelope<M, Meta> {
    message: M,
    #[fingerprint(skip)]
    meta: Meta,
}

#[derive(Fingerprint)]
struct Batch<T, const N: usize, D = u8>
where
    T: Clone,
{
    items: Vec<T>,
    #[fingerprint(skip)]
    window: [u8; N],
    #[fingerprint(skip)]
    marker: PhantomData<D>,
}

#[derive(Fingerprint)]
struct Borrowed<'a, 'b: 'a, T: ?Sized> {
    name: &'a str,
    tags: &'b [String],
    value: &'a T,
}

trait Schema {
    type Id;
}

struct V1;

impl Schema for V1 {
    type Id = u64;
}

#[derive(Fingerprint)]
struct Keyed<S: Schema> {
    id: S::Id,
    #[fingerprint(skip)]
    schema: PhantomData<S>,
}

/// `with` and `skip_serializing_if` on generic fields: the helper fns are generic too.
#[derive(Serialize, Fingerprint)]
struct GenericWith<T: Serialize, U> {
    #[serde(serialize_with = "as_list")]
    value: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    extra: Option<T>,
    #[serde(skip)]
    #[fingerprint(skip)]
    _other: PhantomData<U>,
}

fn as_list<T: Serialize, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    [value].serialize(serializer)
}

/// `Self` in a field type means the container, not the view.
#[derive(Serialize, Fingerprint)]
struct Node {
    value: u8,
    children: Vec<Self>,
}

/// `Self` in a serde path means the container, though the derive calls it from outside the impl.
#[derive(Serialize, Fingerprint)]
struct SelfPaths<T: Serialize> {
    #[serde(skip_serializing_if = "Self::no_value")]
    value: Option<T>,
    count: u32,
}

impl<T: Serialize> SelfPaths<T> {
    #[allow(clippy::ref_option)]
    fn no_value(value: &Option<T>) -> bool {
        value.is_none()
    }
}

#[test]
fn generics_and_lifetimes() {
    // `Opaque` implements nothing: it is only in a skipped field.
    let envelope = Envelope {
        message: 5_u64,
        meta: Opaque,
    };
    assert_eq!(
        envelope.fingerprint(),
        plain("Envelope", &json!({"message": 5}))
    );

    let batch: Batch<u8, 3, Opaque> = Batch {
        items: vec![1, 2, 3],
        window: [0; 3],
        marker: PhantomData,
    };
    assert_eq!(
        batch.fingerprint(),
        plain("Batch", &json!({"items": [1, 2, 3]}))
    );

    let tags = vec!["a".to_owned()];
    let borrowed: Borrowed<'_, '_, str> = Borrowed {
        name: "n",
        tags: &tags,
        value: "v",
    };
    assert_eq!(
        borrowed.fingerprint(),
        plain(
            "Borrowed",
            &json!({"name": "n", "tags": ["a"], "value": "v"})
        )
    );

    let keyed = Keyed::<V1> {
        id: 3,
        schema: PhantomData,
    };
    assert_eq!(keyed.fingerprint(), plain("Keyed", &json!({"id": 3})));

    let with = GenericWith::<u8, Opaque> {
        value: 1,
        extra: None,
        _other: PhantomData,
    };
    assert_eq!(with.fingerprint(), plain("GenericWith", &with));
    assert_eq!(
        with.fingerprint(),
        plain("GenericWith", &json!({"value": [1]}))
    );

    let tree = Node {
        value: 1,
        children: vec![Node {
            value: 2,
            children: Vec::new(),
        }],
    };
    assert_eq!(tree.fingerprint(), plain("Node", &tree));

    let paths = SelfPaths::<String> {
        value: None,
        count: 2,
    };
    assert_eq!(paths.fingerprint(), plain("SelfPaths", &paths));
    assert_eq!(
        paths.fingerprint(),
        plain("SelfPaths", &json!({"count": 2}))
    );
}

// ---------------------------------------------------------------------------------------------
// Field types

#[derive(Serialize, Fingerprint)]
struct Rich {
    attributes: HashMap<String, String>,
    tags: HashSet<String>,
    ordered_tags: BTreeSet<String>,
    at: DateTime<Utc>,
    id: Uuid,
    price: Decimal,
    raw: serde_json::Value,
}

/// `Rich` as plain strings and std collections: what its fields serialize to.
#[derive(Serialize)]
struct RichShape {
    attributes: BTreeMap<&'static str, &'static str>,
    tags: BTreeSet<&'static str>,
    ordered_tags: BTreeSet<&'static str>,
    at: &'static str,
    id: &'static str,
    price: &'static str,
    raw: serde_json::Value,
}

fn rich(order: &[usize]) -> Rich {
    let pairs = [("channel", "web"), ("région", "eu"), ("tier", "gold")];
    let mut attributes = HashMap::new();
    let mut tags = HashSet::new();
    for &i in order {
        attributes.insert(pairs[i].0.to_owned(), pairs[i].1.to_owned());
        tags.insert(pairs[i].1.to_owned());
    }
    Rich {
        attributes,
        tags,
        ordered_tags: BTreeSet::from(["b".to_owned(), "a".to_owned()]),
        at: at(0),
        id: uuid(0),
        price: Decimal::new(1999, 2),
        raw: json!({"b": [1, 2.5, null], "a": true}),
    }
}

#[test]
fn std_and_foreign_field_types() {
    let value = rich(&[0, 1, 2]);
    assert_eq!(value.fingerprint(), plain("Rich", &value));
    // Map and set insertion order never counts.
    assert_eq!(rich(&[2, 0, 1]).fingerprint(), value.fingerprint());
    assert_eq!(rich(&[1, 2, 0]).fingerprint(), value.fingerprint());
    assert_eq!(
        value.fingerprint(),
        plain(
            "Rich",
            &RichShape {
                attributes: BTreeMap::from([
                    ("channel", "web"),
                    ("région", "eu"),
                    ("tier", "gold")
                ]),
                tags: BTreeSet::from(["eu", "gold", "web"]),
                ordered_tags: BTreeSet::from(["a", "b"]),
                at: "2023-11-14T22:13:20Z",
                id: "67e55044-10b1-426f-9247-bb680e5fc8e0",
                price: "19.99",
                raw: json!({"a": true, "b": [1, 2.5, null]}),
            }
        )
    );
    // `rust_decimal` keeps its scale: 19.99 is not 19.990.
    let rescaled = Rich {
        price: Decimal::new(19990, 3),
        ..rich(&[0, 1, 2])
    };
    assert_ne!(rescaled.fingerprint(), value.fingerprint());
}

#[derive(Serialize, Fingerprint)]
struct Tags {
    #[fingerprint(unordered)]
    tags: Vec<String>,
    #[fingerprint(unordered)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    labels: Vec<u32>,
    #[fingerprint(unordered)]
    maybe: Option<Vec<i64>>,
    ordered: Vec<String>,
}

#[derive(Serialize)]
struct TagsAsSets {
    tags: HashSet<String>,
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    labels: BTreeSet<u32>,
    maybe: Option<BTreeSet<i64>>,
    ordered: Vec<String>,
}

#[derive(Serialize)]
struct TagsWrapped<'a> {
    tags: Unordered<'a, Vec<String>>,
    labels: Unordered<'a, Vec<u32>>,
    maybe: Unordered<'a, Option<Vec<i64>>>,
    ordered: Vec<String>,
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|&value| value.to_owned()).collect()
}

#[test]
fn unordered_sequences_hash_as_sets() {
    let tags = |order: &[&str], labels: Vec<u32>| Tags {
        tags: strings(order),
        labels,
        maybe: Some(vec![3, -1]),
        ordered: strings(&["x", "y"]),
    };
    let ab = tags(&["a", "b"], vec![2, 1]);
    let ba = tags(&["b", "a"], vec![1, 2]);
    assert_eq!(ab.fingerprint(), ba.fingerprint());
    assert_eq!(
        ab.fingerprint(),
        plain(
            "Tags",
            &TagsAsSets {
                tags: HashSet::from(["b".to_owned(), "a".to_owned()]),
                labels: BTreeSet::from([1, 2]),
                maybe: Some(BTreeSet::from([-1, 3])),
                ordered: strings(&["x", "y"]),
            }
        )
    );
    // Without the attribute, order counts.
    let reordered = Tags {
        ordered: strings(&["y", "x"]),
        ..tags(&["a", "b"], vec![2, 1])
    };
    assert_ne!(reordered.fingerprint(), ab.fingerprint());
    // Duplicates still count: a set of the elements, not of the distinct elements.
    assert_ne!(
        tags(&["a", "a", "b"], vec![1]).fingerprint(),
        tags(&["a", "b"], vec![1]).fingerprint()
    );
    // `skip_serializing_if` sees the sequence through the wrapper.
    assert_eq!(
        tags(&["a"], Vec::new()).fingerprint(),
        plain(
            "Tags",
            &TagsAsSets {
                tags: HashSet::from(["a".to_owned()]),
                labels: BTreeSet::new(),
                maybe: Some(BTreeSet::from([-1, 3])),
                ordered: strings(&["x", "y"]),
            }
        )
    );
    // The derive wraps those fields in the public `Unordered`.
    let labels = vec![2, 1];
    let maybe = Some(vec![3, -1]);
    let wrapped = TagsWrapped {
        tags: Unordered(&ab.tags),
        labels: Unordered(&labels),
        maybe: Unordered(&maybe),
        ordered: strings(&["x", "y"]),
    };
    assert_eq!(ba.fingerprint(), plain("Tags", &wrapped));
}

// ---------------------------------------------------------------------------------------------
// Errors and paths

fn refuse<S: Serializer>(_: &u64, _: S) -> Result<S::Ok, S::Error> {
    Err(serde::ser::Error::custom("not today"))
}

#[derive(Serialize, Fingerprint)]
struct Refused {
    #[serde(serialize_with = "refuse")]
    value: u64,
}

#[test]
fn a_serialize_error_is_an_error_not_a_panic() {
    let err = Refused { value: 1 }.try_fingerprint().unwrap_err();
    assert!(err.to_string().contains("not today"), "{err}");
}

mod reexport {
    pub(crate) use dedup_runtime as runtime;
}

#[derive(Fingerprint)]
#[fingerprint(crate = reexport::runtime)]
struct ThroughReexport {
    a: u64,
}

#[test]
fn crate_path_can_be_given() {
    assert_eq!(
        ThroughReexport { a: 1 }.fingerprint(),
        plain("ThroughReexport", &json!({"a": 1}))
    );
}

// ---------------------------------------------------------------------------------------------
// The presorted fast path: a struct with named fields whose field names the derive knows streams
// its fields in canonical order. The bytes must be those of the buffered, sorted path, which is
// what `fingerprint_of` gives for the same type through its own `#[derive(Serialize)]`.

macro_rules! rename_all_case {
    ($test:ident, $rule:literal) => {
        #[test]
        fn $test() {
            #[derive(Serialize, Fingerprint)]
            #[serde(rename_all = $rule)]
            #[fingerprint(namespace = "presorted.rename_all")]
            struct Renamed {
                order_id: u64,
                a: u8,
                very_long_field_name: Option<String>,
                r#type: &'static str,
                x_y_z9: i64,
                _leading: bool,
                #[serde(rename = "kept_as_is")]
                renamed_anyway: u8,
                absent: Option<u8>,
            }
            let value = Renamed {
                order_id: 1,
                a: 2,
                very_long_field_name: Some("long".to_owned()),
                r#type: "t",
                x_y_z9: -3,
                _leading: true,
                renamed_anyway: 4,
                absent: None,
            };
            assert_eq!(
                value.fingerprint(),
                plain("presorted.rename_all", &value),
                "rename_all = {}",
                $rule
            );
        }
    };
}

rename_all_case!(presorted_rename_all_lowercase, "lowercase");
rename_all_case!(presorted_rename_all_uppercase, "UPPERCASE");
rename_all_case!(presorted_rename_all_pascal_case, "PascalCase");
rename_all_case!(presorted_rename_all_camel_case, "camelCase");
rename_all_case!(presorted_rename_all_snake_case, "snake_case");
rename_all_case!(
    presorted_rename_all_screaming_snake_case,
    "SCREAMING_SNAKE_CASE"
);
rename_all_case!(presorted_rename_all_kebab_case, "kebab-case");
rename_all_case!(
    presorted_rename_all_screaming_kebab_case,
    "SCREAMING-KEBAB-CASE"
);

#[test]
fn presorted_rename_all_serialize_side_only() {
    #[derive(Serialize, Fingerprint)]
    #[serde(rename_all(serialize = "camelCase", deserialize = "kebab-case"))]
    struct Split {
        first_name: String,
        #[serde(rename(deserialize = "ignored"))]
        last_name: String,
    }
    let value = Split {
        first_name: "Ada".to_owned(),
        last_name: "Lovelace".to_owned(),
    };
    assert_eq!(value.fingerprint(), plain("Split", &value));
    assert_eq!(
        value.fingerprint(),
        plain(
            "Split",
            &json!({"firstName": "Ada", "lastName": "Lovelace"})
        )
    );
}

/// Field names whose canonical order (byte length first) differs from both declaration order
/// and alphabetical order, plus non-ASCII names (longer in bytes than in characters).
#[derive(Serialize, Fingerprint)]
#[fingerprint(namespace = "presorted.order")]
struct Canonical {
    zzz: u8,
    aaaa: u8,
    b: u8,
    #[serde(rename = "é")]
    e_acute: u8,
    #[serde(rename = "z")]
    last_letter: u8,
    #[fingerprint(rename = "日本")]
    japan: u8,
    #[serde(rename = "ab")]
    two: u8,
    #[serde(rename = "")]
    empty: u8,
    #[serde(rename = "Zé")]
    mixed: u8,
}

#[test]
fn presorted_order_is_by_byte_length_then_bytes() {
    let value = Canonical {
        zzz: 1,
        aaaa: 2,
        b: 3,
        e_acute: 4,
        last_letter: 5,
        japan: 6,
        two: 7,
        empty: 8,
        mixed: 9,
    };
    let expected = json!({
        "zzz": 1, "aaaa": 2, "b": 3, "é": 4, "z": 5, "日本": 6, "ab": 7, "": 8, "Zé": 9,
    });
    assert_eq!(value.fingerprint(), plain("presorted.order", &expected));
    // The serde-derived `Serialize` of the same type (the buffered path) agrees, except for the
    // `#[fingerprint(rename)]`, which only the derive knows.
    let mut serde_view = serde_json::to_value(&value).unwrap();
    let japan = serde_view.as_object_mut().unwrap().remove("japan").unwrap();
    serde_view["日本"] = japan;
    assert_eq!(value.fingerprint(), plain("presorted.order", &serde_view));
}

fn is_empty_str(value: &str) -> bool {
    value.is_empty()
}

#[derive(Serialize, Fingerprint)]
#[fingerprint(namespace = "presorted.attrs")]
struct Attributed {
    #[serde(skip_serializing_if = "Option::is_none")]
    maybe: Option<u32>,
    none_field: Option<String>,
    some_field: Option<String>,
    nested_none: Option<Option<u8>>,
    unit: (),
    #[serde(skip_serializing_if = "is_empty_str")]
    label: String,
    #[serde(skip_serializing_if = "is_zero")]
    count: u32,
    #[serde(with = "cents")]
    amount: f64,
    #[serde(serialize_with = "upper")]
    currency: String,
    #[serde(serialize_with = "upper", skip_serializing_if = "is_empty_str")]
    both: String,
    #[serde(skip)]
    serde_skipped: u8,
    #[serde(skip_serializing)]
    not_serialized: u8,
}

fn attributed(flip: bool) -> Attributed {
    Attributed {
        maybe: flip.then_some(5),
        none_field: None,
        some_field: Some("here".to_owned()),
        nested_none: Some(None),
        unit: (),
        label: if flip { "x".to_owned() } else { String::new() },
        count: u32::from(flip),
        amount: 12.34,
        currency: "eur".to_owned(),
        both: if flip { "b".to_owned() } else { String::new() },
        serde_skipped: 1,
        not_serialized: 2,
    }
}

#[test]
fn presorted_nulls_skips_and_with() {
    for flip in [false, true] {
        let value = attributed(flip);
        let mut expected = json!({
            "some_field": "here",
            "amount": "1234",
            "currency": "EUR",
        });
        if flip {
            expected["maybe"] = json!(5);
            expected["label"] = json!("x");
            expected["count"] = json!(1);
            expected["both"] = json!("B");
        }
        let digest = value.fingerprint();
        assert_eq!(digest, plain("presorted.attrs", &value), "flip = {flip}");
        assert_eq!(digest, plain("presorted.attrs", &expected), "flip = {flip}");
    }
    // NULL-valued fields are dropped, so adding one changes nothing.
    assert_eq!(
        attributed(false).fingerprint(),
        plain(
            "presorted.attrs",
            &json!({
                "some_field": "here", "amount": "1234", "currency": "EUR",
                "none_field": null, "nested_none": null, "unit": null,
            })
        )
    );
}

#[derive(Serialize, Fingerprint)]
#[fingerprint(namespace = "presorted.unordered")]
struct SetTagged {
    #[fingerprint(unordered)]
    tags: Vec<String>,
    #[fingerprint(unordered)]
    #[serde(skip_serializing_if = "Option::is_none")]
    maybe_tags: Option<Vec<u8>>,
    #[fingerprint(unordered)]
    none_tags: Option<Vec<u8>>,
    id: u8,
}

/// `SetTagged` as plain serde sees it, with the sets marked by hand.
#[derive(Serialize)]
struct SetTaggedPlain<'a> {
    tags: Unordered<'a, Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    maybe_tags: Option<Unordered<'a, Vec<u8>>>,
    none_tags: Option<Unordered<'a, Vec<u8>>>,
    id: u8,
}

#[test]
fn presorted_unordered() {
    for flip in [false, true] {
        let value = SetTagged {
            tags: strings(if flip { &["b", "a"] } else { &["a", "b"] }),
            maybe_tags: flip.then(|| vec![3, 1, 2]),
            none_tags: None,
            id: 7,
        };
        let reference = SetTaggedPlain {
            tags: Unordered(&value.tags),
            maybe_tags: value.maybe_tags.as_ref().map(Unordered),
            none_tags: None,
            id: 7,
        };
        assert_eq!(
            value.fingerprint(),
            plain("presorted.unordered", &reference),
            "flip = {flip}"
        );
    }
}

#[derive(Serialize, Fingerprint)]
#[fingerprint(namespace = "presorted.outer")]
struct Outer {
    zeta: Inner,
    alpha: Vec<Inner>,
    maybe: Option<Inner>,
    absent: Option<Inner>,
    empty: EmptyBraces,
}

#[derive(Serialize, Fingerprint)]
#[serde(rename_all = "camelCase")]
struct Inner {
    long_name: Option<u8>,
    id: u64,
    #[serde(serialize_with = "upper")]
    code: String,
    #[fingerprint(skip)]
    #[serde(skip)]
    cache: u8,
}

#[derive(Serialize, Fingerprint)]
struct EmptyBraces {}

#[test]
fn presorted_nested_and_empty_structs() {
    let inner = |id: u64, long_name: Option<u8>| Inner {
        long_name,
        id,
        code: format!("c{id}"),
        cache: 0,
    };
    let value = Outer {
        zeta: inner(1, Some(9)),
        alpha: vec![inner(2, None), inner(3, Some(1))],
        maybe: Some(inner(4, None)),
        absent: None,
        empty: EmptyBraces {},
    };
    assert_eq!(value.fingerprint(), plain("presorted.outer", &value));
    assert_eq!(
        value.fingerprint(),
        plain(
            "presorted.outer",
            &json!({
                "zeta": {"longName": 9, "id": 1, "code": "C1"},
                "alpha": [{"id": 2, "code": "C2"}, {"longName": 1, "id": 3, "code": "C3"}],
                "maybe": {"id": 4, "code": "C4"},
                "empty": {},
            })
        )
    );
    assert_eq!(
        EmptyBraces {}.fingerprint(),
        plain("EmptyBraces", &json!({}))
    );
    assert_eq!(
        EmptyBraces {}.fingerprint(),
        plain("EmptyBraces", &EmptyBraces {})
    );
}

/// Two fields with one serialized name keep the derived view, which fails as it always did.
#[derive(Serialize, Fingerprint)]
struct Clash {
    a: u8,
    #[serde(rename = "a")]
    b: u8,
}

#[test]
fn presorted_duplicate_names_still_fail() {
    let error = Clash { a: 1, b: 2 }.try_fingerprint().unwrap_err();
    assert!(error.to_string().contains("\"a\""), "{error}");
}

/// A generic struct with a `with` field: the wrapper carries the view's generics and bounds.
#[derive(Serialize, Fingerprint)]
#[fingerprint(namespace = "presorted.generic")]
struct Generic<'a, T: Clone>
where
    T: Serialize,
{
    #[serde(serialize_with = "as_list")]
    listed: T,
    items: Vec<T>,
    borrowed: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    extra: Option<T>,
}

#[test]
fn presorted_generics() {
    let value = Generic {
        listed: 5_u8,
        items: vec![1, 2],
        borrowed: "b",
        extra: None,
    };
    assert_eq!(value.fingerprint(), plain("presorted.generic", &value));
}

/// A struct's serde name never changes its encoding: the name the encoder once took as a promise
/// of presorted fields (before the derive wrote such structs itself) is a name like any other.
struct Named(&'static [&'static str]);

impl Serialize for Named {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut fields = serializer.serialize_struct("$dedup::fp1::presorted", self.0.len())?;
        for &name in self.0 {
            fields.serialize_field(name, &1_u8)?;
        }
        fields.end()
    }
}

#[test]
fn struct_names_are_not_special() {
    let expected = plain("hand", &json!({"ab": 1, "aa": 1, "b": 1}));
    let orders: [&[&str]; 3] = [&["b", "aa", "ab"], &["aa", "ab", "b"], &["ab", "b", "aa"]];
    for order in orders {
        assert_eq!(fingerprint_of("hand", &Named(order)).unwrap(), expected);
    }
    let error = fingerprint_of("hand", &Named(&["b", "b"])).unwrap_err();
    assert!(error.to_string().contains("\"b\""), "{error}");
}

#[derive(Serialize, Fingerprint)]
#[fingerprint(namespace = "presorted.large")]
struct Large {
    texts: Vec<String>,
    rows: Vec<Inner>,
    tail: String,
}

/// Large values stream through the hasher's staging in several batches, and the digest is still
/// SHA-256 of exactly the bytes `encode` returns.
#[test]
fn presorted_large_values_hash_their_encoding() {
    let value = Large {
        texts: [0, 1, 4_087, 4_096, 5_000, 8_183, 8_192, 9_000, 20_000]
            .iter()
            .map(|&n| "x".repeat(n))
            .collect(),
        rows: (0..2_000)
            .map(|id| Inner {
                long_name: u8::try_from(id % 3).ok().filter(|&n| n != 0),
                id,
                code: format!("c{id}"),
                cache: 0,
            })
            .collect(),
        tail: "end".to_owned(),
    };
    let bytes = dedup_runtime::fingerprint::encode("presorted.large", &value).unwrap();
    let sha: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&bytes).into();
    assert_eq!(value.fingerprint().as_bytes(), &sha);
    assert_eq!(value.fingerprint(), plain("presorted.large", &value));
}
