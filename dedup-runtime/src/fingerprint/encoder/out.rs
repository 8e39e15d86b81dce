//! Where encoded bytes go: straight into the hasher, or into the thread's buffer.
//!
//! The serializer is generic over its sink so that values outside any map or set (a sequence or
//! a string at the root) stream into SHA-256 without a copy. Maps and sets must be sorted before
//! they can be written, so they are built in the pool's buffer, nested ones in place inside
//! their parent, and handed to the sink when complete.

use std::fmt::{self, Display, Write as _};

use sha2::Sha256;

use super::pool::{Pool, prefix_of};

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

    /// Opens a map or set whose tag is `tag`; returns where its entries start in `pool().buf`.
    fn open_container(&mut self, tag: u8) -> usize;

    /// Completes the map or set opened with `tag` whose entries are `pool().buf[start..]`: puts
    /// them in the order of `pool().spans[base..]` (`in_order`: as they are) followed by END,
    /// in place in the buffer, or into the hasher (and out of the buffer).
    fn close_container(&mut self, tag: u8, start: usize, base: usize, in_order: bool);
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

    #[inline]
    fn put_blob(&mut self, tag: u8, bytes: &[u8]) {
        self.put_blob_prefixed(tag, bytes);
    }

    fn put_display(&mut self, value: &dyn Display) -> fmt::Result {
        // Reserve the head, format after it, then fill in the length.
        let start = self.buf.len();
        self.buf.extend_from_slice(&blob_head(tag::STR, 0));
        write!(BufWriter(&mut self.buf), "{value}")?;
        let len = self.buf.len() - start - 9;
        let head = blob_head(tag::STR, len);
        self.buf[start..start + 9].copy_from_slice(&head);
        // This blob's prefix is unknown: forget the last one (see `Pool::last_blob`).
        self.last_blob = (usize::MAX, 0, 0);
        Ok(())
    }

    #[inline]
    fn pool(&mut self) -> &mut Pool {
        self
    }

    #[inline]
    fn open_container(&mut self, tag: u8) -> usize {
        self.buf.push(tag);
        self.buf.len()
    }

    #[inline]
    fn close_container(&mut self, _tag: u8, start: usize, base: usize, in_order: bool) {
        if !in_order {
            // Append the entries in order after the unsorted ones, then move them down.
            let end = self.buf.len();
            for span in self.spans.get(base..).unwrap_or_default() {
                self.buf.extend_from_within(span.start..span.end);
            }
            self.buf.copy_within(end.., start);
            self.buf.truncate(end);
        }
        self.buf.push(tag::END);
    }
}

impl Pool {
    /// Writes a STR or BYTES and returns its [`Span`](super::pool::Span) prefix, computed from
    /// `bytes` rather than read back from the buffer just written.
    #[inline]
    pub(super) fn put_blob_prefixed(&mut self, tag: u8, bytes: &[u8]) -> u128 {
        let head = prefix_of(bytes);
        let start = self.buf.len();
        let end = start + 9 + bytes.len();
        if bytes.len() <= 16 {
            // Field names and most keys: fixed-size writes of the head and the zero-padded
            // bytes, then a cut back to the real length.
            self.buf.reserve(9 + 16);
            self.buf.extend_from_slice(&blob_head(tag, bytes.len()));
            self.buf.extend_from_slice(&head.to_be_bytes());
            self.buf.truncate(end);
        } else {
            self.buf.extend_from_slice(&blob_head(tag, bytes.len()));
            self.buf.extend_from_slice(bytes);
        }
        // The encoding's first 16 bytes: tag, `u64be(len)`, then the first 7 bytes.
        let prefix =
            (u128::from(tag) << 120) | (u128::from(bytes.len() as u64) << 56) | (head >> 72);
        self.last_blob = (start, end, prefix);
        prefix
    }
}

/// The hasher, with the pool for the containers that must be sorted first.
///
/// Writes are staged in `pool.alt` and reach the hasher in batches of about [`STAGE_LIMIT`]
/// bytes: a streamed value (a sequence, a derived struct) is many small writes, and one
/// hasher update per write would cost more than the hashing itself. [`Hashing::finish`] hands
/// over the rest.
#[derive(Debug)]
pub(super) struct Hashing<'a> {
    pub(super) hasher: &'a mut Sha256,
    pub(super) pool: &'a mut Pool,
}

impl Hashing<'_> {
    /// Feeds what is still staged to the hasher.
    pub(super) fn finish(&mut self) {
        if !self.pool.alt.is_empty() {
            sha2::Digest::update(self.hasher, &self.pool.alt[..]);
            self.pool.alt.clear();
        }
    }
}

/// Stages `bytes` for `hasher` in `stage` (see [`Hashing`]).
#[inline]
fn stage_put(hasher: &mut Sha256, stage: &mut Vec<u8>, bytes: &[u8]) {
    if stage.len() + bytes.len() > STAGE_LIMIT {
        stage_flush(hasher, stage, bytes);
    } else {
        stage.extend_from_slice(bytes);
    }
}

/// The stage is full: hands it to the hasher, and `bytes` too when they are large.
#[cold]
#[inline(never)]
fn stage_flush(hasher: &mut Sha256, stage: &mut Vec<u8>, bytes: &[u8]) {
    sha2::Digest::update(&mut *hasher, &stage[..]);
    stage.clear();
    if bytes.len() >= STAGE_LIMIT / 2 {
        sha2::Digest::update(hasher, bytes);
    } else {
        stage.reserve(STAGE_LIMIT);
        stage.extend_from_slice(bytes);
    }
}

impl Out for Hashing<'_> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        stage_put(self.hasher, &mut self.pool.alt, bytes);
    }

    #[inline]
    fn put_byte(&mut self, byte: u8) {
        let stage = &mut self.pool.alt;
        if stage.len() < STAGE_LIMIT {
            stage.push(byte);
        } else {
            stage_flush(self.hasher, stage, &[byte]);
        }
    }

    #[inline]
    fn put_prefix<const N: usize>(&mut self, bytes: &[u8; N], len: usize) {
        self.put(&bytes[..len.min(N)]);
    }

    #[inline]
    fn put_blob(&mut self, tag: u8, bytes: &[u8]) {
        let stage = &mut self.pool.alt;
        if stage.len() + 9 + bytes.len() <= STAGE_LIMIT {
            stage.extend_from_slice(&blob_head(tag, bytes.len()));
            stage.extend_from_slice(bytes);
        } else {
            self.put(&blob_head(tag, bytes.len()));
            self.put(bytes);
        }
    }

    fn put_display(&mut self, value: &dyn Display) -> fmt::Result {
        let start = self.pool.buf.len();
        self.pool.put_display(value)?;
        let Pool { buf, alt, .. } = &mut *self.pool;
        stage_put(self.hasher, alt, buf.get(start..).unwrap_or_default());
        buf.truncate(start);
        Ok(())
    }

    #[inline]
    fn pool(&mut self) -> &mut Pool {
        self.pool
    }

    #[inline]
    fn open_container(&mut self, _tag: u8) -> usize {
        // Nothing reaches the hasher before the container is complete and sorted.
        self.pool.buf.len()
    }

    fn close_container(&mut self, tag: u8, start: usize, base: usize, in_order: bool) {
        let Pool {
            buf, alt, spans, ..
        } = &mut *self.pool;
        let entries = buf.get(start..).unwrap_or_default();
        let spans = spans.get(base..).unwrap_or_default();
        // Tag, entries in order and END, through the stage: small entries are gathered for
        // few hasher updates, large ones go straight in.
        stage_put(self.hasher, alt, &[tag]);
        if in_order {
            stage_put(self.hasher, alt, entries);
        } else {
            for span in spans {
                stage_put(self.hasher, alt, &buf[span.start..span.end]);
            }
        }
        stage_put(self.hasher, alt, &[tag::END]);
        buf.truncate(start);
    }
}

/// How many bytes [`Hashing`] gathers before it updates the hasher.
const STAGE_LIMIT: usize = 8 << 10;

/// `fmt::Write` into a byte buffer (formatting only ever writes UTF-8).
struct BufWriter<'a>(&'a mut Vec<u8>);

impl fmt::Write for BufWriter<'_> {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}
