//! The serde `Serializer` that writes one value's fp1 encoding.
//!
//! Scalars, strings, bytes, sequences and variants go straight to the sink; maps, structs and
//! sets are handed to [`compound`](super::compound), which buffers and sorts them.

use std::fmt::Display;

use serde::ser::{self, Serialize};

use super::compound::{MapSer, SeqSer, StreamSer, failed};
use super::error::Error;
use super::number::{put_f64, put_i64, put_i128, put_u64, put_u128};
use super::out::{Out, tag};
use super::unordered::SET_TOKEN;

/// serde_json's `arbitrary_precision` numbers arrive as a struct of this name holding the text.
const JSON_NUMBER_TOKEN: &str = "$serde_json::private::Number";
/// serde_json's `RawValue` arrives as a struct of this name holding unparsed JSON.
const JSON_RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";
/// What precedes the value a [`Ser`] writes: nothing, or the key of a struct field that the
/// derive's direct path (`direct.rs`) hands to serde.
///
/// A field's key is held back until the value's first byte: a value whose encoding is exactly
/// NULL (the only encoding that starts with the NULL tag) drops the whole entry, key and all,
/// as a buffered struct does. A type parameter rather than a field, so that other values pay
/// nothing for it.
pub(super) trait Pending: Copy {
    /// Whether a NULL value drops the entry (and so writes nothing).
    const DROPS_NULL: bool;

    /// Writes the key, right before the value's first byte.
    fn flush<O: Out>(self, out: &mut O);
}

/// No key: the value is written alone.
#[derive(Debug, Clone, Copy)]
pub(super) struct NoKey;

impl Pending for NoKey {
    const DROPS_NULL: bool = false;

    #[inline(always)]
    fn flush<O: Out>(self, _out: &mut O) {}
}

/// A field's name, written as a STR before the value unless the value is NULL.
#[derive(Debug, Clone, Copy)]
pub(super) struct FieldKey(pub(super) &'static str);

impl Pending for FieldKey {
    const DROPS_NULL: bool = true;

    #[inline]
    fn flush<O: Out>(self, out: &mut O) {
        out.put_blob(tag::STR, self.0.as_bytes());
    }
}

/// Serializes one value into `out`. Two words (three with a [`FieldKey`]), so it travels in
/// registers.
#[derive(Debug)]
pub(super) struct Ser<'a, O, K = NoKey> {
    out: &'a mut O,
    /// Set by [`Unordered`](super::Unordered) and by the `collect_seq` safety net: this value is
    /// a sequence to encode as a SET.
    unordered: bool,
    /// The key still to write before the value's first byte.
    key: K,
}

impl<'a, O: Out> Ser<'a, O> {
    #[inline]
    pub(super) fn new(out: &'a mut O) -> Self {
        Ser {
            out,
            unordered: false,
            key: NoKey,
        }
    }
}

impl<'a, O: Out> Ser<'a, O, FieldKey> {
    /// The value of the struct field `name` (see [`Pending`]).
    #[inline]
    pub(super) fn field(out: &'a mut O, name: &'static str) -> Self {
        Ser {
            out,
            unordered: false,
            key: FieldKey(name),
        }
    }
}

impl<'a, O: Out, K: Pending> Ser<'a, O, K> {
    /// Fails when [`Unordered`](super::Unordered) was applied to something that is not a
    /// sequence: silently ignoring it would hide a wrong `#[fingerprint(unordered)]`. Otherwise
    /// writes the pending key: a scalar's first byte follows.
    #[inline]
    fn scalar(&mut self) -> Result<(), Error> {
        if self.unordered {
            let error = Error::unsupported(
                "`Unordered` (`#[fingerprint(unordered)]`) wraps a value that is not a sequence",
            );
            Err(failed(self.out.pool(), error))
        } else {
            self.key.flush(self.out);
            Ok(())
        }
    }

    /// Serializes `value` one level deeper, keeping the unordered mark for the value it wraps.
    #[inline]
    fn transparent<T: Serialize + ?Sized>(self, value: &T, unordered: bool) -> Result<(), Error> {
        self.out.pool().enter()?;
        value.serialize(Ser {
            out: &mut *self.out,
            unordered,
            key: self.key,
        })?;
        self.out.pool().leave();
        Ok(())
    }

    fn sequence(self) -> Result<SeqSer<'a, O>, Error> {
        self.key.flush(self.out);
        if self.unordered {
            MapSer::set(self.out).map(SeqSer::Set)
        } else {
            StreamSer::seq(self.out).map(SeqSer::Seq)
        }
    }

    /// Writes `MAP STR(variant)`, which opens the single-entry map of a non-unit variant.
    fn variant(&mut self, variant: &str) -> Result<(), Error> {
        self.scalar()?;
        self.out.pool().enter()?;
        self.out.put_byte(tag::MAP);
        self.out.put_blob(tag::STR, variant.as_bytes());
        Ok(())
    }
}

impl<'a, O: Out, K: Pending> ser::Serializer for Ser<'a, O, K> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = SeqSer<'a, O>;
    type SerializeTuple = SeqSer<'a, O>;
    type SerializeTupleStruct = SeqSer<'a, O>;
    type SerializeTupleVariant = StreamSer<'a, O>;
    type SerializeMap = MapSer<'a, O>;
    type SerializeStruct = MapSer<'a, O>;
    type SerializeStructVariant = MapSer<'a, O>;

    fn serialize_bool(mut self, v: bool) -> Result<(), Error> {
        self.scalar()?;
        self.out.put_byte(if v { tag::TRUE } else { tag::FALSE });
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i64(mut self, v: i64) -> Result<(), Error> {
        self.scalar()?;
        put_i64(self.out, v);
        Ok(())
    }

    fn serialize_i128(mut self, v: i128) -> Result<(), Error> {
        self.scalar()?;
        put_i128(self.out, v);
        Ok(())
    }

    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_u64(mut self, v: u64) -> Result<(), Error> {
        self.scalar()?;
        put_u64(self.out, v);
        Ok(())
    }

    fn serialize_u128(mut self, v: u128) -> Result<(), Error> {
        self.scalar()?;
        put_u128(self.out, v);
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        // Widening is exact, so `1.5f32` and `1.5f64` agree and `0.1f32` keeps its own value.
        self.serialize_f64(f64::from(v))
    }

    fn serialize_f64(mut self, v: f64) -> Result<(), Error> {
        self.scalar()?;
        put_f64(self.out, v);
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_str(v.encode_utf8(&mut [0u8; 4]))
    }

    fn serialize_str(mut self, v: &str) -> Result<(), Error> {
        self.scalar()?;
        self.out.put_blob(tag::STR, v.as_bytes());
        Ok(())
    }

    fn serialize_bytes(mut self, v: &[u8]) -> Result<(), Error> {
        self.scalar()?;
        self.out.put_blob(tag::BYTES, v);
        Ok(())
    }

    fn serialize_none(self) -> Result<(), Error> {
        // A field that is NULL is dropped with its key (see `Pending`).
        if !K::DROPS_NULL {
            self.out.put_byte(tag::NULL);
        }
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        let unordered = self.unordered;
        self.transparent(value, unordered)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        self.serialize_none()
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_none()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        let unordered = self.unordered || name == SET_TOKEN;
        self.transparent(value, unordered)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        mut self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.variant(variant)?;
        // The entry stays even when the payload is NULL: `A(None)` must differ from `B(None)`.
        value.serialize(Ser::new(&mut *self.out))?;
        self.out.put_byte(tag::END);
        self.out.pool().leave();
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<SeqSer<'a, O>, Error> {
        self.sequence()
    }

    fn serialize_tuple(self, _len: usize) -> Result<SeqSer<'a, O>, Error> {
        self.sequence()
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<SeqSer<'a, O>, Error> {
        self.sequence()
    }

    fn serialize_tuple_variant(
        mut self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<StreamSer<'a, O>, Error> {
        self.variant(variant)?;
        StreamSer::variant_seq(self.out)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<MapSer<'a, O>, Error> {
        // A map is already unordered, so `Unordered` over one changes nothing.
        self.key.flush(self.out);
        MapSer::map(self.out)
    }

    fn serialize_struct(mut self, name: &'static str, _len: usize) -> Result<MapSer<'a, O>, Error> {
        match name {
            JSON_NUMBER_TOKEN => {
                self.scalar()?;
                MapSer::json_number(self.out)
            }
            // Unparsed JSON text has no canonical form (key order, number spelling, escapes).
            JSON_RAW_VALUE_TOKEN => {
                let error = Error::unsupported(
                    "a `serde_json::value::RawValue` is unparsed JSON text with no canonical \
                     form; parse it into a `serde_json::Value` first",
                );
                Err(failed(self.out.pool(), error))
            }
            _ => {
                self.key.flush(self.out);
                MapSer::map(self.out)
            }
        }
    }

    fn serialize_struct_variant(
        mut self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<MapSer<'a, O>, Error> {
        self.variant(variant)?;
        MapSer::variant(self.out)
    }

    fn collect_seq<I>(mut self, iter: I) -> Result<(), Error>
    where
        I: IntoIterator,
        I::Item: Serialize,
    {
        // The safety net: serde's impls for HashSet, BTreeSet and BinaryHeap call this, and their
        // iteration order is not part of their value.
        if self.out.pool().is_unordered(std::any::type_name::<I>()) {
            self.unordered = true;
        }
        let mut seq = self.sequence()?;
        for item in iter {
            ser::SerializeSeq::serialize_element(&mut seq, &item)?;
        }
        ser::SerializeSeq::end(seq)
    }

    fn collect_str<T: Display + ?Sized>(mut self, value: &T) -> Result<(), Error> {
        self.scalar()?;
        self.out.put_display(&value).map_err(|_| {
            let error = Error::misuse("a `Display` implementation returned an error");
            failed(self.out.pool(), error)
        })
    }

    fn is_human_readable(&self) -> bool {
        // Foreign types then take their JSON shape (uuid and chrono as text), which is what
        // consumers in other languages see on the wire.
        true
    }
}
