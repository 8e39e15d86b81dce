//! [`Fingerprint`] for std types, so a plain key expression works: `key = order.order_id`.
//!
//! # The rules
//!
//! - **Scalars and strings** (all integers, `bool`, `char`, `f32`, `f64`, `str`, `String`,
//!   [`Uuid`], [`serde_json::Value`]): `fingerprint_of(VALUE_NAMESPACE, value)`, the plain fp1
//!   encoding, so Python gets the same key with `fingerprint("dedup.value", 42)`.
//! - **[`Digest`]** is its own fingerprint: a fingerprint computed earlier can be the key.
//! - **Pointers** (`&T`, `&mut T`, `Box`, `Rc`, `Arc`, `Cow`) are transparent.
//! - **`Option<T>`**: `None` is the fingerprint of NULL under [`VALUE_NAMESPACE`]; `Some(x)` is
//!   `x`'s own fingerprint, transparent as `Some` is in fp1.
//! - **Combinations** (tuples up to 12, slices, `Vec`, arrays): each element is fingerprinted
//!   with *its own* `Fingerprint` impl, and the key is the fingerprint under
//!   [`VALUE_NAMESPACE`] of the SEQ of those digests, each a 32-byte BYTES. Going through the
//!   elements' digests rather than their serde encoding is what makes a tuple key holding a
//!   derived message respect that message's `#[fingerprint(skip)]` fields and namespace.
//!
//! A consequence: `(5u64,)` and `[5u64]` and `vec![5u64]` give the same key (all are a sequence
//! of one element), and none equals `5u64`.

use std::borrow::Cow;
use std::rc::Rc;
use std::sync::Arc;

use uuid::Uuid;

use super::encoder::fingerprint_of_digests;
use super::{Digest, Fingerprint, VALUE_NAMESPACE, fingerprint_of};
use crate::Error;

macro_rules! by_value {
    ($($ty:ty),* $(,)?) => {$(
        impl Fingerprint for $ty {
            fn try_fingerprint(&self) -> Result<Digest, Error> {
                fingerprint_of(VALUE_NAMESPACE, self).map_err(Error::from)
            }
        }
    )*};
}

by_value!(
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    bool,
    char,
    f32,
    f64,
    str,
    String,
    Uuid,
    serde_json::Value,
);

impl Fingerprint for Digest {
    fn try_fingerprint(&self) -> Result<Digest, Error> {
        Ok(*self)
    }
}

macro_rules! transparent {
    ($($ty:ty),* $(,)?) => {$(
        impl<T: Fingerprint + ?Sized> Fingerprint for $ty {
            fn try_fingerprint(&self) -> Result<Digest, Error> {
                (**self).try_fingerprint()
            }
        }
    )*};
}

transparent!(&T, &mut T, Box<T>, Rc<T>, Arc<T>);

impl<T: Fingerprint + ToOwned + ?Sized> Fingerprint for Cow<'_, T> {
    fn try_fingerprint(&self) -> Result<Digest, Error> {
        (**self).try_fingerprint()
    }
}

impl<T: Fingerprint> Fingerprint for Option<T> {
    fn try_fingerprint(&self) -> Result<Digest, Error> {
        match self {
            Some(value) => value.try_fingerprint(),
            None => fingerprint_of(VALUE_NAMESPACE, &()).map_err(Error::from),
        }
    }
}

impl<T: Fingerprint> Fingerprint for [T] {
    fn try_fingerprint(&self) -> Result<Digest, Error> {
        fingerprint_of_digests(VALUE_NAMESPACE, self.iter().map(T::try_fingerprint))
    }
}

impl<T: Fingerprint, const N: usize> Fingerprint for [T; N] {
    fn try_fingerprint(&self) -> Result<Digest, Error> {
        self.as_slice().try_fingerprint()
    }
}

impl<T: Fingerprint> Fingerprint for Vec<T> {
    fn try_fingerprint(&self) -> Result<Digest, Error> {
        self.as_slice().try_fingerprint()
    }
}

macro_rules! tuple {
    ($($name:ident . $idx:tt),+) => {
        impl<$($name: Fingerprint),+> Fingerprint for ($($name,)+) {
            fn try_fingerprint(&self) -> Result<Digest, Error> {
                fingerprint_of_digests(VALUE_NAMESPACE, [$(self.$idx.try_fingerprint()),+])
            }
        }
    };
}

tuple!(A.0);
tuple!(A.0, B.1);
tuple!(A.0, B.1, C.2);
tuple!(A.0, B.1, C.2, D.3);
tuple!(A.0, B.1, C.2, D.3, E.4);
tuple!(A.0, B.1, C.2, D.3, E.4, F.5);
tuple!(A.0, B.1, C.2, D.3, E.4, F.5, G.6);
tuple!(A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7);
tuple!(A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8);
tuple!(A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8, J.9);
tuple!(A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8, J.9, K.10);
tuple!(A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8, J.9, K.10, L.11);

#[cfg(test)]
mod tests {
    use super::*;

    fn fp<T: Fingerprint + ?Sized>(value: &T) -> Digest {
        value.fingerprint()
    }

    #[test]
    fn pointers_and_options_are_transparent() {
        let direct = fp(&42u64);
        assert_eq!(fp(&&42u64), direct);
        assert_eq!(fp(&Box::new(42u64)), direct);
        assert_eq!(fp(&Arc::new(42u64)), direct);
        assert_eq!(fp(&Some(42u64)), direct);
        assert_eq!(fp("ab"), fp(&String::from("ab")));
        assert_eq!(fp(&Cow::Borrowed("ab")), fp("ab"));
        assert_eq!(fp(&42u8), direct, "integer width does not count");
        assert_ne!(fp(&None::<u64>), fp(&0u64));
    }

    #[test]
    fn combinations_hash_the_element_digests() {
        let digests = [fp(&1u64), fp("a")];
        let expected = fingerprint_of_digests::<Error>(VALUE_NAMESPACE, digests.map(Ok)).unwrap();
        assert_eq!(fp(&(1u64, "a")), expected);
        assert_eq!(fp(&[1u64]), fp(&(1u64,)));
        assert_eq!(fp(&vec![1u64]), fp(&[1u64][..]));
        assert_ne!(fp(&(1u64,)), fp(&1u64));
        assert_ne!(fp(&(1u64, 2u64)), fp(&(2u64, 1u64)));
        let d = fp(&7u64);
        assert_eq!(fp(&d), d);
    }
}
