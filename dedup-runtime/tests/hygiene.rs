//! The expansions of `#[derive(Fingerprint)]` name nothing through the user's scope: every path is
//! absolute (`::dedup_runtime::__private::...`), so user items named `Result`, `Ok`, `Option`,
//! `String`, a module named `core`, or a module without the prelude change nothing (serde
//! `test_gen.rs`).

#![allow(
    dead_code,
    non_camel_case_types,
    clippy::upper_case_acronyms,
    clippy::struct_field_names
)]

use serde::Serialize;

// Everything generated code could pick up by accident.
struct Result;
struct Ok;
struct Err;
struct Option;
struct Some;
struct None;
struct String;
struct Vec;
struct Box;
struct Digest;
struct Error;
struct PhantomData;
struct Unordered;
struct Serializer;
struct __private;
struct Field;
struct Writer;
struct EncodeTag;
struct SerdeTag;
trait Encode {}
trait ViaEncode {}
trait ViaSerde {}
mod fp1 {}
trait Fingerprint {}
trait Serializer_ {}
fn fingerprint_of() {}
fn unreachable() {}
mod core {}
mod serde_json {}

#[allow(unused_macros)]
macro_rules! unreachable {
    () => {
        compile_error!("the expansion must not use the user's `unreachable!`")
    };
}

mod helpers {
    pub(crate) fn is_empty(value: &[u8]) -> bool {
        value.is_empty()
    }

    pub(crate) mod as_len {
        pub(crate) fn serialize<S: ::serde::Serializer>(
            value: &[u8],
            serializer: S,
        ) -> ::core::result::Result<S::Ok, S::Error> {
            serializer.serialize_u64(value.len() as u64)
        }
    }
}

#[derive(Serialize, dedup_runtime::Fingerprint)]
#[serde(rename_all = "camelCase")]
#[fingerprint(namespace = "hygiene.Message")]
struct Message<'a, T, M> {
    order_id: u64,
    label: &'a str,
    value: T,
    #[serde(skip)]
    #[fingerprint(skip)]
    meta: M,
    #[fingerprint(unordered)]
    tags: ::std::vec::Vec<::std::string::String>,
    #[serde(skip_serializing_if = "helpers::is_empty", with = "helpers::as_len")]
    blob: ::std::vec::Vec<u8>,
    #[fingerprint(rename = "note")]
    remark: ::std::option::Option<::std::string::String>,
}

#[derive(Serialize, dedup_runtime::Fingerprint)]
enum Event<T> {
    Unit,
    Newtype(T),
    Tuple(
        u8,
        #[serde(skip)]
        #[fingerprint(skip)]
        Result,
    ),
    Struct {
        a: u8,
        #[serde(skip)]
        #[fingerprint(skip)]
        b: Option,
    },
}

/// Nested derived structs take the derive's direct path (`fp1::Encode`), also under these names.
#[derive(Serialize, dedup_runtime::Fingerprint)]
struct Line {
    sku: ::std::string::String,
    #[fingerprint(skip)]
    at: u64,
}

#[derive(Serialize, dedup_runtime::Fingerprint)]
struct Basket {
    lines: ::std::vec::Vec<Line>,
    first: ::std::option::Option<Line>,
}

#[derive(Serialize, dedup_runtime::Fingerprint)]
struct Tuple(u8, u16);

#[derive(Serialize, dedup_runtime::Fingerprint)]
struct UnitStruct;

#[derive(Serialize, dedup_runtime::Fingerprint)]
enum Never {}

/// What `Message` above hashes as.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Expected<'a> {
    order_id: u64,
    label: &'a str,
    value: u8,
    tags: dedup_runtime::fingerprint::Unordered<'a, [&'a str; 2]>,
}

fn assert_fingerprint<T: dedup_runtime::Fingerprint>(_: &T) {}

#[test]
fn derives_ignore_user_names() {
    let message = Message {
        order_id: 1,
        label: "l",
        value: 2_u8,
        meta: Err,
        tags: ::std::vec!["b".to_owned(), "a".to_owned()],
        blob: ::std::vec::Vec::new(),
        remark: ::std::option::Option::None,
    };
    let digest = dedup_runtime::Fingerprint::fingerprint(&message);
    let expected = dedup_runtime::fingerprint::fingerprint_of(
        "hygiene.Message",
        &Expected {
            order_id: 1,
            label: "l",
            value: 2,
            tags: dedup_runtime::fingerprint::Unordered(&["a", "b"]),
        },
    );
    assert_eq!(
        ::core::result::Result::ok(expected),
        ::core::option::Option::Some(digest)
    );
    assert_fingerprint(&Event::Newtype(1_u8));
    assert_fingerprint(&Event::<u8>::Tuple(1, Result));
    assert_fingerprint(&Tuple(1, 2));
    assert_fingerprint(&UnitStruct);
    for event in [
        Event::Unit,
        Event::Newtype(1_u8),
        Event::Tuple(1, Result),
        Event::Struct { a: 1, b: Option },
    ] {
        let _ = dedup_runtime::Fingerprint::fingerprint(&event);
    }
    let _ = dedup_runtime::Fingerprint::fingerprint(&Tuple(1, 2));
    let _ = dedup_runtime::Fingerprint::fingerprint(&UnitStruct);
    let line = || Line {
        sku: "s".to_owned(),
        at: 7,
    };
    let basket = Basket {
        lines: ::std::vec![line()],
        first: ::std::option::Option::Some(line()),
    };
    assert_eq!(
        ::core::option::Option::Some(dedup_runtime::Fingerprint::fingerprint(&basket)),
        ::core::result::Result::ok(dedup_runtime::fingerprint::fingerprint_of(
            "Basket", &basket
        ))
    );
}

mod no_prelude {
    #![no_implicit_prelude]

    #[derive(::serde::Serialize, ::dedup_runtime::Fingerprint)]
    #[serde(tag = "type")]
    #[fingerprint(namespace = "hygiene.NoPrelude")]
    pub(crate) enum NoPrelude<T> {
        A {
            value: T,
            #[fingerprint(unordered)]
            items: ::std::vec::Vec<u8>,
            #[fingerprint(skip)]
            seen: ::std::string::String,
        },
        B {
            #[serde(skip_serializing_if = "::std::option::Option::is_none")]
            maybe: ::std::option::Option<u8>,
        },
    }

    #[derive(::dedup_runtime::Fingerprint)]
    pub(crate) struct Plain<'a> {
        pub(crate) id: &'a str,
        #[fingerprint(skip)]
        pub(crate) at: u64,
    }

    #[derive(::dedup_runtime::Fingerprint)]
    pub(crate) struct Newtype(pub(crate) u64);
}

#[test]
fn derives_work_without_the_prelude() {
    let value = no_prelude::NoPrelude::A {
        value: 1_u8,
        items: ::std::vec![2, 1],
        seen: "x".to_owned(),
    };
    let reordered = no_prelude::NoPrelude::A {
        value: 1_u8,
        items: ::std::vec![1, 2],
        seen: "y".to_owned(),
    };
    assert_eq!(
        dedup_runtime::Fingerprint::fingerprint(&value),
        dedup_runtime::Fingerprint::fingerprint(&reordered)
    );
    let b = no_prelude::NoPrelude::<u8>::B {
        maybe: ::std::option::Option::None,
    };
    let _ = dedup_runtime::Fingerprint::fingerprint(&b);
    let plain = no_prelude::Plain { id: "a", at: 1 };
    let _ = dedup_runtime::Fingerprint::fingerprint(&plain);
    let _ = dedup_runtime::Fingerprint::fingerprint(&no_prelude::Newtype(1));
}
