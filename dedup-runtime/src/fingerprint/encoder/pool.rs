//! The thread's scratch space: a buffer for maps and sets, and the stack of their entries.
//!
//! A map's entries are encoded, then sorted by their encoded keys. Maps and sets under
//! construction live in one buffer, nested ones inside their parent's current entry, and the
//! positions of their entries on one stack of [`Span`]s, each open container owning the top part.
//! Reusing both across calls means a steady stream of messages is fingerprinted without a single
//! heap allocation (asserted by `tests/fingerprint_alloc.rs`).

use std::cell::Cell;

use crate::fingerprint::FingerprintError;

use super::MAX_DEPTH;
use super::error::Error;
use super::unordered::is_unordered_type_name;

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
    /// so sorting rarely touches the buffer. Computed from the field name for struct fields,
    /// otherwise when the container ends: read right after the key was written, the load would
    /// wait on the stores that wrote it.
    pub(super) prefix: u128,
}

impl Span {
    /// A span whose prefix is computed when its container ends.
    #[inline]
    pub(super) fn new(start: usize, key_end: usize, end: usize) -> Self {
        Self::with_prefix(start, key_end, end, 0)
    }

    /// A span whose prefix is already known (0: not yet; no encoding starts with a 0 byte).
    #[inline]
    pub(super) fn with_prefix(start: usize, key_end: usize, end: usize, prefix: u128) -> Self {
        Span {
            start,
            key_end,
            end,
            prefix,
        }
    }
}

/// The first 16 bytes of `key` as a big-endian number, zero-padded.
///
/// Reads only whole fixed-size chunks (overlapping when the key is shorter), never a byte at a
/// time: this runs for every map entry.
#[inline]
pub(super) fn prefix_of(key: &[u8]) -> u128 {
    let n = key.len();
    if let Some(chunk) = key.first_chunk::<16>() {
        return u128::from_be_bytes(*chunk);
    }
    if let (Some(first), Some(last)) = (key.first_chunk::<8>(), key.last_chunk::<8>()) {
        // 8..=15 bytes: bytes 8.. are the tail of `last`, shifted up behind the first eight.
        let tail = u64::from_be_bytes(*last)
            .checked_shl(8 * (16 - n) as u32)
            .unwrap_or(0);
        return (u128::from(u64::from_be_bytes(*first)) << 64) | u128::from(tail);
    }
    if let (Some(first), Some(last)) = (key.first_chunk::<4>(), key.last_chunk::<4>()) {
        // 4..=7 bytes, likewise with 4-byte halves.
        let tail = u32::from_be_bytes(*last)
            .checked_shl(8 * (8 - n) as u32)
            .unwrap_or(0);
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
    /// Maps and sets under construction, each inside its parent's entry, innermost last.
    pub(super) buf: Vec<u8>,
    /// Where bytes bound for the hasher are gathered for few updates (see `Hashing`).
    pub(super) alt: Vec<u8>,
    /// The entries of every open map and set, innermost on top.
    pub(super) spans: Vec<Span>,
    /// The current nesting level (see [`MAX_DEPTH`]).
    depth: usize,
    /// Recent answers of [`is_unordered_type_name`] by the name's address: `collect_seq` asks
    /// for every `Vec`, and scanning the type name each time costs more than encoding a short
    /// one.
    set_types: [(usize, usize, bool); 4],
    /// The last STR or BYTES written to `buf`: start, end and [`Span`] prefix. A map key that is
    /// exactly this blob takes the prefix from here instead of reading it back from the buffer.
    pub(super) last_blob: (usize, usize, u128),
    /// An encoding error happened. A `Serialize` impl may swallow an error and carry on, which
    /// leaves a half-written value in the output; the call must then fail anyway.
    pub(super) failed: bool,
}

impl Pool {
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

    /// Whether `collect_seq` for the type `type_name` serializes a set (see `unordered.rs`).
    #[inline]
    pub(super) fn is_unordered(&mut self, type_name: &'static str) -> bool {
        let id = (type_name.as_ptr() as usize, type_name.len());
        if let Some(&(_, _, known)) = self.set_types.iter().find(|t| (t.0, t.1) == id) {
            return known;
        }
        let answer = is_unordered_type_name(type_name);
        self.set_types.rotate_right(1);
        self.set_types[0] = (id.0, id.1, answer);
        answer
    }

    #[inline]
    pub(super) fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }
}

thread_local! {
    /// Boxed, so taking it out and putting it back moves one pointer.
    static POOL: Cell<Option<Box<Pool>>> = const { Cell::new(None) };
}

/// Runs `f` with this thread's pool, emptied.
///
/// The pool is moved out for the duration, so a `Serialize` impl that itself computes a
/// fingerprint (re-entrancy) simply gets a fresh pool instead of a `RefCell` panic, and a call
/// during thread teardown, when the thread-local is gone, still works.
pub(super) fn with_pool<R>(f: impl FnOnce(&mut Pool) -> R) -> R {
    let mut pool = POOL.try_with(Cell::take).ok().flatten().unwrap_or_default();
    let result = f(&mut pool);
    // An error may leave anything behind: reset for the next call.
    pool.buf.clear();
    pool.alt.clear();
    pool.spans.clear();
    pool.depth = 0;
    pool.failed = false;
    pool.last_blob = (usize::MAX, 0, 0);
    if pool.buf.capacity() > MAX_KEPT_BUFFER {
        pool.buf = Vec::new();
    }
    if pool.alt.capacity() > MAX_KEPT_BUFFER {
        pool.alt = Vec::new();
    }
    if pool.spans.capacity() > MAX_KEPT_SPANS {
        pool.spans = Vec::new();
    }
    // Ignoring the error is right: after teardown there is nowhere to keep the buffers.
    let _ = POOL.try_with(|cell| cell.set(Some(pool)));
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
        let keys: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x00\x00",
            b"a",
            b"ab",
            b"abcdefgh",
            b"abcdefghi",
            b"b",
        ];
        for a in keys {
            for b in keys {
                if prefix_of(a) != prefix_of(b) {
                    assert_eq!(prefix_of(a).cmp(&prefix_of(b)), a.cmp(b), "{a:?} {b:?}");
                }
            }
        }
    }
}
