//! Where encoded bytes go: straight into the hasher, or into the thread's buffer.
//!
//! The serializer is generic over its sink so that values outside any map or set (a sequence at
//! the root, a string key) stream into SHA-256 without a copy. Maps and sets must be sorted
//! before they can be written, so they are built in the pool's one buffer, nested ones in place
//! inside their parent, and handed to the sink when complete.

use std::fmt::{self, Display, Write as _};

use sha2::Sha256;

use super::pool::Pool;

/// The one-byte tags of fp1 (`docs/fingerprint-spec.md`, "Value encoding").
pub(super) mod tag {
    pub(crate) const NULL: u8 = 0x01;
    pub(crate) const FALSE: u8 = 0x02;
    pub(crate) const TRUE: u8 = 0x03;
    pub(crate) const INT: u8 = 0x04;
    pub(crate) const FLOAT: u8 = 0x05;
    pub(crate) const STR: u8 = 0x06;
    pub(crate) const BYTES: u8 = 0x07;
    pub(crate) const SEQ: u8 = 0x08;
    pub(crate) const SET: u8 = 0x09;
    pub(crate) const MAP: u8 = 0x0A;
    pub(crate) const END: u8 = 0x0B;
}

/// The 9-byte head of a STR or BYTES: the tag and `u64be(len)`.
#[inline]
pub(super) fn blob_head(tag: u8, len: usize) -> [u8; 9] {
    // `usize` is at most 64 bits on every target Rust supports, so the cast is lossless.
    let l = (len as u64).to_be_bytes();
    [tag, l[0], l[1], l[2], l[3], l[4], l[5], l[6], l[7]]
}

/// A byte sink that also owns (or reaches) the thread's [`Pool`].
pub(super) trait Out {
    fn put(&mut self, bytes: &[u8]);

    fn put_byte(&mut self, byte: u8);

    /// Writes `bytes[..len]`. The buffer copies all `N` bytes and then shortens itself: a
    /// fixed-size copy compiles to a few moves, where a variable-length one is a `memcpy` call,
    /// the largest cost of encoding small integers.
    fn put_prefix<const N: usize>(&mut self, bytes: &[u8; N], len: usize);

    /// Writes a STR or BYTES.
    #[inline]
    fn put_blob(&mut self, tag: u8, bytes: &[u8]) {
        self.put(&blob_head(tag, bytes.len()));
        self.put(bytes);
    }

    /// Writes the STR of `value`'s `Display` output, without a `String` in between.
    fn put_display(&mut self, value: &dyn Display) -> fmt::Result;

    fn pool(&mut self) -> &mut Pool;

    /// Whether this sink is the pool's buffer (so sorted containers are already in place).
    const IS_BUFFER: bool;

    /// A map or set that was built at `pool.buf[start..]`, tag and entries in order, is done:
    /// moves it to the sink and drops it from the buffer (nothing to do for the buffer itself).
    fn flush(&mut self, start: usize);

    /// Like [`flush`](Out::flush), for a container whose entries are in the buffer unsorted but
    /// listed in order by `pool.spans[base..]`: the sink takes the tag, then each entry.
    fn flush_spans(&mut self, start: usize, base: usize);
}

impl Out for Pool {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    #[inline]
    fn put_byte(&mut self, byte: u8) {
        self.buf.push(byte);
    }

    #[inline]
    fn put_prefix<const N: usize>(&mut self, bytes: &[u8; N], len: usize) {
        let end = self.buf.len() + len.min(N);
        self.buf.extend_from_slice(bytes);
        self.buf.truncate(end);
    }

    fn put_display(&mut self, value: &dyn Display) -> fmt::Result {
        // Reserve the head, format after it, then fill in the length.
        let start = self.buf.len();
        self.buf.extend_from_slice(&blob_head(tag::STR, 0));
        write!(BufWriter(&mut self.buf), "{value}")?;
        let len = self.buf.len() - start - 9;
        let head = blob_head(tag::STR, len);
        self.buf[start..start + 9].copy_from_slice(&head);
        Ok(())
    }

    #[inline]
    fn pool(&mut self) -> &mut Pool {
        self
    }

    const IS_BUFFER: bool = true;

    #[inline]
    fn flush(&mut self, _start: usize) {}

    fn flush_spans(&mut self, start: usize, base: usize) {
        self.reorder(start, base);
    }
}

/// The hasher, with the pool for the containers that must be sorted first.
#[derive(Debug)]
pub(super) struct Hashing<'a> {
    pub(super) hasher: &'a mut Sha256,
    pub(super) pool: &'a mut Pool,
}

impl Out for Hashing<'_> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        sha2::Digest::update(self.hasher, bytes);
    }

    #[inline]
    fn put_byte(&mut self, byte: u8) {
        self.put(&[byte]);
    }

    #[inline]
    fn put_prefix<const N: usize>(&mut self, bytes: &[u8; N], len: usize) {
        self.put(&bytes[..len.min(N)]);
    }

    fn put_display(&mut self, value: &dyn Display) -> fmt::Result {
        let start = self.pool.buf.len();
        self.pool.put_display(value)?;
        self.flush(start);
        Ok(())
    }

    #[inline]
    fn pool(&mut self) -> &mut Pool {
        self.pool
    }

    const IS_BUFFER: bool = false;

    fn flush(&mut self, start: usize) {
        let buf = &mut self.pool.buf;
        sha2::Digest::update(self.hasher, buf.get(start..).unwrap_or_default());
        buf.truncate(start);
    }

    fn flush_spans(&mut self, start: usize, base: usize) {
        let Pool { buf, spans, .. } = &mut *self.pool;
        sha2::Digest::update(self.hasher, buf.get(start..start + 1).unwrap_or_default());
        for span in spans.get(base..).unwrap_or_default() {
            sha2::Digest::update(self.hasher, &buf[span.start..span.end]);
        }
        buf.truncate(start);
    }
}

/// `fmt::Write` into a byte buffer (formatting only ever writes UTF-8).
struct BufWriter<'a>(&'a mut Vec<u8>);

impl fmt::Write for BufWriter<'_> {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}
