//! Containers: sequences stream through, maps, structs and sets are buffered and sorted.
//!
//! A map's canonical order is the bytewise order of its encoded keys (a set's: of its encoded
//! elements), which is only known once every entry has been encoded. Entries are encoded into
//! the pool's buffer, indexed by [`Span`]s on the pool's stack, sorted, then put in order by
//! [`Out::close_container`]: rearranged in place inside the parent's entry (nothing to move when
//! serde already emitted them in order), or fed to the hasher.

use serde::ser::{self, Serialize};

use super::error::Error;
use super::number::put_json_number;
use super::out::{Out, tag};
use super::pool::{Pool, Span};
use super::ser::Ser;
use super::sort::{sort, stored_str};

/// Marks the pool as failed before returning `error`: a `Serialize` impl that swallows an error
/// may have left a half-written value behind, and must not get a fingerprint of it.
#[cold]
pub(super) fn failed(pool: &mut Pool, error: Error) -> Error {
    pool.failed = true;
    error
}

/// A sequence (or a tuple variant's payload) written as it is serialized.
#[derive(Debug)]
pub(super) struct StreamSer<'a, O> {
    out: &'a mut O,
    /// How many END tags close it: 2 for a tuple variant (its SEQ and the variant's MAP).
    closers: u8,
}

impl<'a, O: Out> StreamSer<'a, O> {
    pub(super) fn seq(out: &'a mut O) -> Result<Self, Error> {
        out.pool().enter()?;
        out.put_byte(tag::SEQ);
        Ok(StreamSer { out, closers: 1 })
    }

    /// The SEQ of a tuple variant whose `MAP STR(variant)` is already written.
    pub(super) fn variant_seq(out: &'a mut O) -> Result<Self, Error> {
        out.pool().enter()?;
        out.put_byte(tag::SEQ);
        Ok(StreamSer { out, closers: 2 })
    }

    #[inline]
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value
            .serialize(Ser::new(&mut *self.out))
            .map_err(|e| failed(self.out.pool(), e))
    }

    fn finish(self) -> Result<(), Error> {
        for _ in 0..self.closers {
            self.out.put_byte(tag::END);
            self.out.pool().leave();
        }
        Ok(())
    }
}

/// What a buffered container becomes when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// MAP, from a map or a struct.
    Map,
    /// MAP closing a struct variant's `MAP STR(variant)` as well.
    VariantMap,
    /// SET: elements sorted, duplicates kept.
    Set,
    /// serde_json's `arbitrary_precision` number: one field holding the number's text.
    JsonNumber,
}

/// A map, struct, struct variant or set, built in the pool's buffer until its end.
#[derive(Debug)]
pub(super) struct MapSer<'a, O> {
    out: &'a mut O,
    /// Where the container's entries start in `pool.buf`.
    start: usize,
    /// This container's spans are `pool.spans[base..]`.
    base: usize,
    /// The current map key, `buf[start..key_end]` with its prefix (or 0), waiting for its value.
    key: Option<(usize, usize, u128)>,
    kind: Kind,
}

impl<'a, O: Out> MapSer<'a, O> {
    fn open(out: &'a mut O, kind: Kind) -> Result<Self, Error> {
        let pool = out.pool();
        pool.enter()?;
        let base = pool.spans.len();
        let start = match kind {
            Kind::Map | Kind::VariantMap => out.open_container(tag::MAP),
            Kind::Set => out.open_container(tag::SET),
            Kind::JsonNumber => pool.buf.len(),
        };
        Ok(MapSer {
            out,
            start,
            base,
            key: None,
            kind,
        })
    }

    pub(super) fn map(out: &'a mut O) -> Result<Self, Error> {
        Self::open(out, Kind::Map)
    }

    /// The fields of a struct variant whose `MAP STR(variant)` is already written.
    pub(super) fn variant(out: &'a mut O) -> Result<Self, Error> {
        Self::open(out, Kind::VariantMap)
    }

    pub(super) fn set(out: &'a mut O) -> Result<Self, Error> {
        Self::open(out, Kind::Set)
    }

    pub(super) fn json_number(out: &'a mut O) -> Result<Self, Error> {
        Self::open(out, Kind::JsonNumber)
    }

    /// Encodes `value` at the end of the buffer; returns where it starts.
    #[inline]
    fn encode<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<usize, Error> {
        let pool = self.out.pool();
        let start = pool.buf.len();
        match value.serialize(Ser::new(&mut *pool)) {
            Ok(()) => Ok(start),
            Err(e) => Err(failed(pool, e)),
        }
    }

    #[inline]
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let start = self.encode(value)?;
        let pool = self.out.pool();
        let end = pool.buf.len();
        pool.spans.push(Span::new(start, end, end));
        Ok(())
    }

    fn key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        let start = self.encode(key)?;
        let pool = self.out.pool();
        let key_end = pool.buf.len();
        // A string key (the usual case) already knows its prefix. Every STR or BYTES written
        // to the buffer updates or clears `last_blob`, so a key that is one spanning exactly
        // these bytes is the blob recorded there.
        let is_blob = matches!(pool.buf.get(start), Some(&(tag::STR | tag::BYTES)));
        let prefix = match pool.last_blob {
            (s, e, prefix) if is_blob && (s, e) == (start, key_end) => prefix,
            _ => 0,
        };
        self.key = Some((start, key_end, prefix));
        Ok(())
    }

    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let Some((start, key_end, prefix)) = self.key.take() else {
            let error = Error::misuse("`serialize_value` was called without a key");
            return Err(failed(self.out.pool(), error));
        };
        self.encode(value)?;
        self.close_entry(start, key_end, prefix);
        Ok(())
    }

    #[inline]
    fn field<T: Serialize + ?Sized>(&mut self, name: &'static str, value: &T) -> Result<(), Error> {
        if self.kind == Kind::JsonNumber {
            return self.json_number_text(value);
        }
        let pool = self.out.pool();
        let start = pool.buf.len();
        let prefix = pool.put_blob_prefixed(tag::STR, name.as_bytes());
        let key_end = pool.buf.len();
        self.encode(value)?;
        self.close_entry(start, key_end, prefix);
        Ok(())
    }

    /// Records the entry, or drops it when its value is NULL (an absent field and a `None`
    /// field must fingerprint alike, so adding an `Option` field keeps old fingerprints).
    #[inline]
    fn close_entry(&mut self, start: usize, key_end: usize, prefix: u128) {
        let pool = self.out.pool();
        let end = pool.buf.len();
        if end == key_end + 1 && pool.buf[key_end] == tag::NULL {
            pool.buf.truncate(start);
        } else {
            pool.spans
                .push(Span::with_prefix(start, key_end, end, prefix));
        }
    }

    fn finish(self) -> Result<(), Error> {
        if self.key.is_some() {
            let error = Error::misuse("a map ended with a key and no value");
            return Err(failed(self.out.pool(), error));
        }
        if self.kind == Kind::JsonNumber {
            return self.finish_json_number();
        }
        let MapSer {
            out,
            start,
            base,
            kind,
            ..
        } = self;
        let pool = out.pool();
        let Pool { buf, spans, .. } = &mut *pool;
        let spans = spans.get_mut(base..).unwrap_or_default();
        let in_order = match sort(buf, spans, kind == Kind::Set) {
            Ok(in_order) => in_order,
            Err(error) => return Err(failed(pool, error.into())),
        };
        let tag = if kind == Kind::Set {
            tag::SET
        } else {
            tag::MAP
        };
        out.close_container(tag, start, base, in_order);
        out.pool().spans.truncate(base);
        out.pool().leave();
        if kind == Kind::VariantMap {
            out.put_byte(tag::END);
            out.pool().leave();
        }
        Ok(())
    }

    /// Encodes the number's text (the only field; its key is serde_json's token) as a STR.
    fn json_number_text<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        if self.out.pool().buf.len() == self.start {
            self.encode(value).map(drop)
        } else {
            let error = Error::unsupported("a serde_json number with more than one field");
            Err(failed(self.out.pool(), error))
        }
    }

    /// Replaces the number's text, captured as a STR, with its numeric encoding.
    fn finish_json_number(self) -> Result<(), Error> {
        let start = self.start;
        let pool = self.out.pool();
        // Rare (only with serde_json's `arbitrary_precision`), so a small copy is fine.
        let Some(text) = stored_str(pool.buf.get(start..).unwrap_or_default()).map(str::to_owned)
        else {
            let error = Error::unsupported("a serde_json number that is not text");
            return Err(failed(pool, error));
        };
        pool.buf.truncate(start);
        pool.leave();
        put_json_number(self.out, &text).map_err(|e| failed(self.out.pool(), e.into()))
    }
}

/// A sequence that streams, or a set that sorts.
#[derive(Debug)]
pub(super) enum SeqSer<'a, O> {
    Seq(StreamSer<'a, O>),
    Set(MapSer<'a, O>),
}

impl<O: Out> SeqSer<'_, O> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        match self {
            SeqSer::Seq(s) => s.element(value),
            SeqSer::Set(s) => s.element(value),
        }
    }

    fn finish(self) -> Result<(), Error> {
        match self {
            SeqSer::Seq(s) => s.finish(),
            SeqSer::Set(s) => s.finish(),
        }
    }
}

impl<O: Out> ser::SerializeSeq for SeqSer<'_, O> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Self::Error> {
        self.element(v)
    }

    fn end(self) -> Result<(), Self::Error> {
        self.finish()
    }
}

impl<O: Out> ser::SerializeTuple for SeqSer<'_, O> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Self::Error> {
        self.element(v)
    }

    fn end(self) -> Result<(), Self::Error> {
        self.finish()
    }
}

impl<O: Out> ser::SerializeTupleStruct for SeqSer<'_, O> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Self::Error> {
        self.element(v)
    }

    fn end(self) -> Result<(), Self::Error> {
        self.finish()
    }
}

impl<O: Out> ser::SerializeTupleVariant for StreamSer<'_, O> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Self::Error> {
        self.element(v)
    }

    fn end(self) -> Result<(), Self::Error> {
        self.finish()
    }
}

impl<O: Out> ser::SerializeMap for MapSer<'_, O> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Self::Error> {
        self.key(key)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Self::Error> {
        self.value(v)
    }

    fn end(self) -> Result<(), Self::Error> {
        self.finish()
    }
}

impl<O: Out> ser::SerializeStruct for MapSer<'_, O> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), Self::Error> {
        self.field(key, v)
    }

    fn end(self) -> Result<(), Self::Error> {
        self.finish()
    }
}

impl<O: Out> ser::SerializeStructVariant for MapSer<'_, O> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), Self::Error> {
        self.field(key, v)
    }

    fn end(self) -> Result<(), Self::Error> {
        self.finish()
    }
}
