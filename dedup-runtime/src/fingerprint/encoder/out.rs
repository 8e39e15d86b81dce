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
        sha2::Digest::update(self.hasher, self.pool.buf.get(start..).unwrap_or_default());
        self.pool.buf.truncate(start);
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
        if entries.len() <= GATHER_LIMIT {
            // Gather tag, entries in order and END, for one hasher update.
            alt.clear();
            alt.push(tag);
            if in_order {
                alt.extend_from_slice(entries);
            } else {
                for span in spans {
                    alt.extend_from_slice(&buf[span.start..span.end]);
                }
            }
            alt.push(tag::END);
            sha2::Digest::update(self.hasher, &alt[..]);
            alt.clear();
        } else {
            sha2::Digest::update(self.hasher, [tag]);
            if in_order {
                sha2::Digest::update(self.hasher, entries);
            } else {
                for span in spans {
                    sha2::Digest::update(self.hasher, &buf[span.start..span.end]);
                }
            }
            sha2::Digest::update(self.hasher, [tag::END]);
        }
        buf.truncate(start);
    }
}

/// Up to this size a container bound for the hasher is gathered in order into one buffer;
/// beyond it, copying would cost more than one hasher update per entry.
const GATHER_LIMIT: usize = 16 << 10;

/// `fmt::Write` into a byte buffer (formatting only ever writes UTF-8).
struct BufWriter<'a>(&'a mut Vec<u8>);

impl fmt::Write for BufWriter<'_> {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}
