//! The thread's scratch space: one buffer for maps and sets, and the stack of their entries.
//!
//! A map's entries are encoded, then sorted by their encoded keys. Every map and set under
//! construction lives in one buffer, nested ones after (inside) their parent's entries, and the
//! positions of their entries on one stack of [`Span`]s, each open container owning the top part.
//! Reusing both across calls means a steady stream of messages is fingerprinted without a single
//! heap allocation (asserted by `tests/fingerprint_alloc.rs`).

use std::cell::Cell;

use crate::fingerprint::FingerprintError;

use super::MAX_DEPTH;
use super::error::Error;

/// One buffered map entry or set element: `buf[start..key_end]` is the sort key (the map key's
/// encoding, or the whole element for a set) and `buf[start..end]` the bytes to write.
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    pub(super) start: usize,
    pub(super) key_end: usize,
    pub(super) end: usize,
    /// The key's first 16 bytes as a big-endian number, zero-padded: comparing two prefixes
    /// orders keys as comparing their bytes does, except that equal prefixes need a full look.
    /// Most keys differ within 16 bytes (a STR key holds its length and first 7 characters),
    /// so sorting rarely touches the buffer.
    pub(super) prefix: u128,
}

impl Span {
    #[inline]
    pub(super) fn new(buf: &[u8], start: usize, key_end: usize, end: usize) -> Self {
        Span {
            start,
            key_end,
            end,
            prefix: prefix_of(buf.get(start..key_end).unwrap_or_default()),
        }
    }
}

/// The first 16 bytes of `key` as a big-endian number, zero-padded.
///
/// Reads only whole fixed-size chunks (overlapping when the key is shorter): a byte-by-byte
/// copy into an array that is then read as a number stalls the CPU on every map entry.
#[inline]
pub(super) fn prefix_of(key: &[u8]) -> u128 {
    let n = key.len();
    if let Some(chunk) = key.first_chunk::<16>() {
        return u128::from_be_bytes(*chunk);
    }
    if let (Some(first), Some(last)) = (key.first_chunk::<8>(), key.last_chunk::<8>()) {
        // 8..=15 bytes: bytes 8.. are the tail of `last`, shifted up behind the first eight.
        let tail = u64::from_be_bytes(*last).checked_shl(8 * (16 - n) as u32).unwrap_or(0);
        return (u128::from(u64::from_be_bytes(*first)) << 64) | u128::from(tail);
    }
    if let (Some(first), Some(last)) = (key.first_chunk::<4>(), key.last_chunk::<4>()) {
        // 4..=7 bytes, likewise with 4-byte halves.
        let tail = u32::from_be_bytes(*last).checked_shl(8 * (8 - n) as u32).unwrap_or(0);
        let head = (u64::from(u32::from_be_bytes(*first)) << 32) | u64::from(tail);
        return u128::from(head) << 64;
    }
    key.iter()
        .enumerate()
        .fold(0, |acc, (i, &b)| acc | (u128::from(b) << (120 - 8 * i)))
}

/// A buffer grown past this by one huge message is freed after use rather than kept for the
/// rest of the thread's life.
const MAX_KEPT_BUFFER: usize = 4 << 20;
/// Likewise for the span stack (64 Ki entries, 2.5 MiB).
const MAX_KEPT_SPANS: usize = 1 << 16;

#[derive(Debug, Default)]
pub(super) struct Pool {
    /// Maps and sets under construction, innermost last.
    pub(super) buf: Vec<u8>,
    /// The entries of every open map and set, innermost on top.
    pub(super) spans: Vec<Span>,
    /// The current nesting level (see [`MAX_DEPTH`]).
    depth: usize,
    /// An encoding error happened. A `Serialize` impl may swallow an error and carry on, which
    /// leaves a half-written value in the output; the call must then fail anyway.
    pub(super) failed: bool,
}

impl Pool {
    const fn new() -> Self {
        Pool {
            buf: Vec::new(),
            spans: Vec::new(),
            depth: 0,
            failed: false,
        }
    }

    /// Goes one level deeper, if the limit allows.
    ///
    /// Every nesting step counts (a container's elements, map entries, `Some`, newtypes,
    /// variant payloads): the limit bounds the serializer's recursion, and so its stack, not
    /// just the encoding's visible depth.
    #[inline]
    pub(super) fn enter(&mut self) -> Result<(), Error> {
        if self.depth >= MAX_DEPTH {
            self.failed = true;
            return Err(FingerprintError::TooDeep { limit: MAX_DEPTH }.into());
        }
        self.depth += 1;
        Ok(())
    }

    #[inline]
    pub(super) fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Rewrites the entries after `buf[start]` (a container's tag) in the order of
    /// `spans[base..]`: appends them in that order, then moves them down over the old ones.
    pub(super) fn reorder(&mut self, start: usize, base: usize) {
        let entries = start + 1;
        let end = self.buf.len();
        for span in self.spans.get(base..).unwrap_or_default() {
            self.buf.extend_from_within(span.start..span.end);
        }
        self.buf.copy_within(end.., entries);
        self.buf.truncate(end);
    }
}

thread_local! {
    static POOL: Cell<Pool> = const { Cell::new(Pool::new()) };
}

/// Runs `f` with this thread's pool, emptied.
///
/// The pool is moved out for the duration, so a `Serialize` impl that itself computes a
/// fingerprint (re-entrancy) simply gets a fresh pool instead of a `RefCell` panic, and a call
/// during thread teardown, when the thread-local is gone, still works.
pub(super) fn with_pool<R>(f: impl FnOnce(&mut Pool) -> R) -> R {
    let mut pool = POOL.try_with(Cell::take).unwrap_or_default();
    let result = f(&mut pool);
    // An error may leave anything behind: reset for the next call.
    pool.buf.clear();
    pool.spans.clear();
    pool.depth = 0;
    pool.failed = false;
    if pool.buf.capacity() > MAX_KEPT_BUFFER {
        pool.buf = Vec::new();
    }
    if pool.spans.capacity() > MAX_KEPT_SPANS {
        pool.spans = Vec::new();
    }
    // Ignoring the error is right: after teardown there is nowhere to keep the buffers.
    let _ = POOL.try_with(|cell| cell.set(pool));
    result
}

#[cfg(test)]
mod tests {
    use super::prefix_of;

    /// The definition: the first 16 bytes, zero-padded.
    fn reference(key: &[u8]) -> u128 {
        let mut chunk = [0u8; 16];
        for (to, from) in chunk.iter_mut().zip(key) {
            *to = *from;
        }
        u128::from_be_bytes(chunk)
    }

    #[test]
    fn prefixes_match_the_definition_for_every_length() {
        let bytes: Vec<u8> = (0u8..40).map(|i| i.wrapping_mul(37) ^ 0xA5).collect();
        for start in 0..4 {
            for len in 0..=30 {
                let key = &bytes[start..start + len];
                assert_eq!(prefix_of(key), reference(key), "{key:02x?}");
            }
        }
    }

    #[test]
    fn prefix_order_agrees_with_byte_order() {
        let keys: [&[u8]; 8] = [b"", b"\x00", b"\x00\x00", b"a", b"ab", b"abcdefgh", b"abcdefghi", b"b"];
        for a in keys {
            for b in keys {
                if prefix_of(a) != prefix_of(b) {
                    assert_eq!(prefix_of(a).cmp(&prefix_of(b)), a.cmp(b), "{a:?} {b:?}");
                }
            }
        }
    }
}
