//! The canonical order of map entries and set elements: bytewise by encoding.
//!
//! Keys are compared by their [`Span`] prefixes (their first 16 bytes as a number) and only on
//! a tie by their bytes, so sorting rarely reads the buffer.

use std::cmp::Ordering;

use super::out::tag;
use super::pool::{Span, prefix_of};
use crate::fingerprint::FingerprintError;

#[inline]
fn key<'b>(buf: &'b [u8], span: &Span) -> &'b [u8] {
    &buf[span.start..span.key_end]
}

/// Sorts a container's entries by key, rejecting duplicate keys unless it is a set; returns
/// whether they were in order already (nothing to move then).
///
/// One insertion sort does all three jobs: most containers are a struct's few fields, for which
/// it beats the general-purpose sort's setup, an ordered container costs one comparison per
/// entry, and equal keys always meet in the comparison that ends an insertion.
pub(super) fn sort(buf: &[u8], spans: &mut [Span], is_set: bool) -> Result<bool, FingerprintError> {
    for span in spans.iter_mut().filter(|span| span.prefix == 0) {
        span.prefix = prefix_of(key(buf, span));
    }
    if spans.len() > 16 {
        return sort_large(buf, spans, is_set);
    }
    let mut in_order = true;
    for i in 1..spans.len() {
        let mut j = i;
        while j > 0 {
            match span_cmp(buf, &spans[j - 1], &spans[j]) {
                Ordering::Less => break,
                Ordering::Equal if is_set => break,
                Ordering::Equal => return Err(duplicate(buf, &spans[j])),
                Ordering::Greater => {
                    spans.swap(j - 1, j);
                    in_order = false;
                    j -= 1;
                }
            }
        }
    }
    Ok(in_order)
}

/// [`sort`] for containers of many entries.
fn sort_large(buf: &[u8], spans: &mut [Span], is_set: bool) -> Result<bool, FingerprintError> {
    // Strictly ascending means sorted and free of duplicate keys.
    let in_order = spans.windows(2).all(|w| {
        let order = span_cmp(buf, &w[0], &w[1]);
        order == Ordering::Less || (is_set && order == Ordering::Equal)
    });
    if in_order {
        return Ok(true);
    }
    spans.sort_unstable_by(|a, b| span_cmp(buf, a, b));
    if !is_set
        && let Some(pair) = spans
            .windows(2)
            .find(|w| span_cmp(buf, &w[0], &w[1]) == Ordering::Equal)
    {
        return Err(duplicate(buf, &pair[0]));
    }
    Ok(false)
}

#[cold]
fn duplicate(buf: &[u8], span: &Span) -> FingerprintError {
    FingerprintError::DuplicateMapKey {
        key: describe_key(key(buf, span)),
    }
}

/// Bytewise order of two entries' keys (encodings are prefix-free, so no tie-break is needed).
#[inline]
fn span_cmp(buf: &[u8], a: &Span, b: &Span) -> Ordering {
    a.prefix
        .cmp(&b.prefix)
        .then_with(|| key(buf, a).cmp(key(buf, b)))
}

/// The text of a buffer holding exactly one STR encoding.
pub(super) fn stored_str(buf: &[u8]) -> Option<&str> {
    let (&first, rest) = buf.split_first()?;
    let (len, text) = rest.split_first_chunk::<8>()?;
    let len_matches = usize::try_from(u64::from_be_bytes(*len)).ok()? == text.len();
    if first != tag::STR || !len_matches {
        return None;
    }
    std::str::from_utf8(text).ok()
}

/// A readable form of an encoded map key for error messages: a quoted string, an integer, or
/// the encoding's hex.
fn describe_key(key: &[u8]) -> String {
    if let Some(text) = stored_str(key) {
        return format!("{text:?}");
    }
    if let [tag::INT, len, payload @ ..] = key
        && usize::from(*len) == payload.len()
        && (1..=16).contains(&payload.len())
    {
        let fill = if payload[0] & 0x80 != 0 { 0xFF } else { 0 };
        let mut be = [fill; 16];
        be[16 - payload.len()..].copy_from_slice(payload);
        return i128::from_be_bytes(be).to_string();
    }
    format!("(fp1 encoding {})", hex::encode(key))
}
