//! The direct path of `#[derive(Fingerprint)]`: a struct whose canonical field order is known at
//! compile time is written straight into the hasher's stage, without serde.
//!
//! Through serde, every struct is a map the encoder must buffer, sort by key and copy out, since
//! serde hands over fields in declaration order, and every value goes through a `Serializer`
//! built for arbitrary shapes. The derive knows the serialized field names, so it sorts them
//! once at compile time, precomputes each key's encoding, and implements [`Encode`]: the
//! fields are written in order, each value by its own [`Encode`] impl when it has one (integers,
//! strings, options, sequences, other derived structs) and through the serde encoder otherwise
//! (maps, sets, foreign types). The bytes are exactly those of the serde path; the tests compare
//! the two on every shape.
//!
//! Nested derived types keep the documented meaning of nesting: a field hashes as serde would
//! serialize it. The derive therefore gives a type two encodings: the top-level one of its
//! fingerprint (its `#[fingerprint(...)]` attributes apply), and its [`Encode`] impl, used when
//! the type is nested inside another, which follows serde alone.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use serde::Serialize;

use super::compound::failed;
pub use super::error::Error;
use super::hash_preimage;
use super::number::{put_f64, put_i64, put_i128, put_u64, put_u128};
use super::out::{Hashing, Out, tag};
use super::ser::Ser;
use crate::fingerprint::Digest;

/// Where a direct encoding goes: the stage of one fingerprint's hasher.
#[derive(Debug)]
pub struct Writer<'a, 'p>(&'a mut Hashing<'p>);

/// A value the derive can write without serde, in exactly the bytes serde would give.
///
/// Implemented by `#[derive(Fingerprint)]` for structs with named fields, newtype structs and
/// enums of unit variants (the serde shape, see the module docs), and here for the std types
/// that fields are commonly made of.
pub trait Encode {
    /// Writes the value's fp1 encoding.
    ///
    /// # Errors
    ///
    /// Nesting deeper than [`MAX_DEPTH`](super::MAX_DEPTH), or an error of a value written
    /// through serde.
    fn fp1_encode(&self, w: &mut Writer<'_, '_>) -> Result<(), Error>;

    /// Whether the encoding is exactly NULL, which drops a struct field's entry.
    #[inline]
    fn fp1_is_null(&self) -> bool {
        false
    }
}

/// The fingerprint of `value`, written by its [`Encode`] impl, under `namespace`.
///
/// # Errors
///
/// As for [`fingerprint_of`](super::fingerprint_of).
pub fn fingerprint<T: Encode + ?Sized>(namespace: &str, value: &T) -> Result<Digest, crate::Error> {
    hash_preimage(namespace, |out| value.fp1_encode(&mut Writer(out))).map_err(crate::Error::from)
}

impl Writer<'_, '_> {
    /// Opens a struct's MAP, one level deeper.
    ///
    /// # Errors
    ///
    /// Nesting deeper than [`MAX_DEPTH`](super::MAX_DEPTH).
    #[inline]
    pub fn open_map(&mut self) -> Result<(), Error> {
        self.enter()?;
        self.0.put_byte(tag::MAP);
        Ok(())
    }

    /// Closes what [`open_map`](Self::open_map) opened.
    #[inline]
    pub fn close_map(&mut self) {
        self.0.put_byte(tag::END);
        self.leave();
    }

    /// Writes `value` one nesting level deeper: the payload of `Some` or of a newtype struct.
    ///
    /// # Errors
    ///
    /// Nesting deeper than [`MAX_DEPTH`](super::MAX_DEPTH), and those of the value's encoding.
    #[inline]
    pub fn nest<T: Encode + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.enter()?;
        value.fp1_encode(self)?;
        self.leave();
        Ok(())
    }

    /// Writes bytes that are already a complete fp1 encoding: the STR of a unit variant's name,
    /// computed by the derive.
    #[inline]
    pub fn put_encoded(&mut self, encoded: &'static [u8]) {
        self.0.put(encoded);
    }

    /// Writes the entry `key ‖ value` of a field, or nothing when the value is NULL (an absent
    /// field and a `None` one fingerprint alike). `key` is the field name's STR encoding.
    ///
    /// # Errors
    ///
    /// Those of the value's encoding.
    #[inline]
    pub fn entry<T: Encode + ?Sized>(
        &mut self,
        key: &'static [u8],
        value: &T,
    ) -> Result<(), Error> {
        if value.fp1_is_null() {
            return Ok(());
        }
        self.0.put(key);
        value.fp1_encode(self)
    }

    /// Writes the entry of a field that has no [`Encode`] impl, through serde; `name` is the
    /// field's serialized name. Dropped when the value is NULL, as [`entry`](Self::entry) does.
    ///
    /// # Errors
    ///
    /// Those of the value's encoding, including its `Serialize` impl's.
    #[inline]
    pub fn serde_entry<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value
            .serialize(Ser::field(&mut *self.0, name))
            .map_err(|e| failed(self.0.pool, e))
    }

    #[inline]
    fn enter(&mut self) -> Result<(), Error> {
        self.0.pool.enter()
    }

    #[inline]
    fn leave(&mut self) {
        self.0.pool.leave();
    }

    /// A SEQ of `items`, one level deeper (as serde's sequences count).
    #[inline]
    fn seq<'t, T: Encode + 't>(
        &mut self,
        items: impl IntoIterator<Item = &'t T>,
    ) -> Result<(), Error> {
        self.enter()?;
        self.0.put_byte(tag::SEQ);
        for item in items {
            item.fp1_encode(self)?;
        }
        self.0.put_byte(tag::END);
        self.leave();
        Ok(())
    }
}

/// Picks, for one field, the [`Encode`] impl when the field's type has one and serde otherwise:
/// `(&Field(&value)).fp1_via()` resolves to [`ViaEncode`] when it applies (no autoref needed)
/// and to [`ViaSerde`] after one autoref. Generic code, where the impl cannot be known, takes
/// serde.
#[derive(Debug)]
pub struct Field<'a, T: ?Sized>(pub &'a T);

/// The tag of a field written by its [`Encode`] impl.
#[derive(Debug, Clone, Copy)]
pub struct EncodeTag;

/// The tag of a field written through serde.
#[derive(Debug, Clone, Copy)]
pub struct SerdeTag;

/// Selects [`EncodeTag`].
pub trait ViaEncode {
    /// The tag that writes this field.
    fn fp1_via(&self) -> EncodeTag {
        EncodeTag
    }
}

impl<T: Encode + ?Sized> ViaEncode for Field<'_, T> {}

/// Selects [`SerdeTag`].
pub trait ViaSerde {
    /// The tag that writes this field.
    fn fp1_via(&self) -> SerdeTag {
        SerdeTag
    }
}

impl<T: ?Sized> ViaSerde for &Field<'_, T> {}

impl EncodeTag {
    /// See [`Writer::entry`].
    ///
    /// # Errors
    ///
    /// Those of the value's encoding.
    #[inline]
    pub fn entry<T: Encode + ?Sized>(
        self,
        w: &mut Writer<'_, '_>,
        _name: &'static str,
        key: &'static [u8],
        value: &T,
    ) -> Result<(), Error> {
        w.entry(key, value)
    }
}

impl SerdeTag {
    /// See [`Writer::serde_entry`].
    ///
    /// # Errors
    ///
    /// Those of the value's encoding.
    #[inline]
    pub fn entry<T: Serialize + ?Sized>(
        self,
        w: &mut Writer<'_, '_>,
        name: &'static str,
        _key: &'static [u8],
        value: &T,
    ) -> Result<(), Error> {
        w.serde_entry(name, value)
    }
}

macro_rules! encode_int {
    ($put:ident: $($ty:ty),*) => {$(
        impl Encode for $ty {
            #[inline]
            fn fp1_encode(&self, w: &mut Writer<'_, '_>) -> Result<(), Error> {
                $put(w.0, (*self).into());
                Ok(())
            }
        }
    )*};
}

encode_int!(put_i64: i8, i16, i32, i64, u8, u16, u32);
encode_int!(put_u64: u64);
encode_int!(put_i128: i128);
encode_int!(put_u128: u128);

impl Encode for isize {
    #[inline]
    fn fp1_encode(&self, w: &mut Writer<'_, '_>) -> Result<(), Error> {
        // serde writes an `isize` as an `i64`; no target has a wider one.
        put_i64(w.0, *self as i64);
        Ok(())
    }
}

impl Encode for usize {
    #[inline]
    fn fp1_encode(&self, w: &mut Writer<'_, '_>) -> Result<(), Error> {
        // serde writes a `usize` as a `u64`; no target has a wider one.
        put_u64(w.0, *self as u64);
        Ok(())
    }
}

impl Encode for f64 {
    #[inline]
    fn fp1_encode(&self, w: &mut Writer<'_, '_>) -> Result<(), Error> {
        put_f64(w.0, *self);
        Ok(())
    }
}

impl Encode for f32 {
    #[inline]
    fn fp1_encode(&self, w: &mut Writer<'_, '_>) -> Result<(), Error> {
        put_f64(w.0, f64::from(*self));
        Ok(())
    }
}

impl Encode for bool {
    #[inline]
    fn fp1_encode(&self, w: &mut Writer<'_, '_>) -> Result<(), Error> {
        w.0.put_byte(if *self { tag::TRUE } else { tag::FALSE });
        Ok(())
    }
}

impl Encode for str {
    #[inline]
    fn fp1_encode(&self, w: &mut Writer<'_, '_>) -> Result<(), Error> {
        w.0.put_blob(tag::STR, self.as_bytes());
        Ok(())
    }
}

impl Encode for String {
    #[inline]
    fn fp1_encode(&self, w: &mut Writer<'_, '_>) -> Result<(), Error> {
        self.as_str().fp1_encode(w)
    }
}

impl Encode for char {
    #[inline]
    fn fp1_encode(&self, w: &mut Writer<'_, '_>) -> Result<(), Error> {
        self.encode_utf8(&mut [0; 4]).fp1_encode(w)
    }
}

impl Encode for () {
    #[inline]
    fn fp1_encode(&self, w: &mut Writer<'_, '_>) -> Result<(), Error> {
        w.0.put_byte(tag::NULL);
        Ok(())
    }

    #[inline]
    fn fp1_is_null(&self) -> bool {
        true
    }
}

impl<T: Encode> Encode for Option<T> {
    #[inline]
    fn fp1_encode(&self, w: &mut Writer<'_, '_>) -> Result<(), Error> {
        match self {
            None => {
                w.0.put_byte(tag::NULL);
                Ok(())
            }
            // `Some` is one nesting level, as through serde.
            Some(value) => w.nest(value),
        }
    }

    #[inline]
    fn fp1_is_null(&self) -> bool {
        self.as_ref().is_none_or(Encode::fp1_is_null)
    }
}

/// Pointers serialize as what they point to, without a nesting level.
macro_rules! encode_deref {
    ($($ty:ty),*) => {$(
        impl<T: Encode + ?Sized> Encode for $ty {
            #[inline]
            fn fp1_encode(&self, w: &mut Writer<'_, '_>) -> Result<(), Error> {
                (**self).fp1_encode(w)
            }

            #[inline]
            fn fp1_is_null(&self) -> bool {
                (**self).fp1_is_null()
            }
        }
    )*};
}

encode_deref!(&T, &mut T, Box<T>, Rc<T>, Arc<T>);

impl<T: Encode + ToOwned + ?Sized> Encode for Cow<'_, T> {
    #[inline]
    fn fp1_encode(&self, w: &mut Writer<'_, '_>) -> Result<(), Error> {
        (**self).fp1_encode(w)
    }

    #[inline]
    fn fp1_is_null(&self) -> bool {
        (**self).fp1_is_null()
    }
}

impl<T: Encode> Encode for [T] {
    #[inline]
    fn fp1_encode(&self, w: &mut Writer<'_, '_>) -> Result<(), Error> {
        w.seq(self)
    }
}

impl<T: Encode, const N: usize> Encode for [T; N] {
    #[inline]
    fn fp1_encode(&self, w: &mut Writer<'_, '_>) -> Result<(), Error> {
        w.seq(self)
    }
}

impl<T: Encode> Encode for Vec<T> {
    #[inline]
    fn fp1_encode(&self, w: &mut Writer<'_, '_>) -> Result<(), Error> {
        w.seq(self)
    }
}

impl<T: Encode> Encode for VecDeque<T> {
    #[inline]
    fn fp1_encode(&self, w: &mut Writer<'_, '_>) -> Result<(), Error> {
        w.seq(self)
    }
}
