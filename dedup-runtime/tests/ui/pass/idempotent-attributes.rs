//! Attributes, docs, visibility and inner attributes pass through untouched.
#![deny(warnings, missing_docs)]

//! A crate with documented handlers.

use std::sync::LazyLock;

use dedup_runtime::store::MemoryStore;
use dedup_runtime::{Error, idempotent};

static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

/// Documented, `#[must_use]`, `#[inline]` and public.
#[idempotent(store = STORE, scope = "attrs.documented")]
#[must_use = "the delivery must not be acked on error"]
#[inline]
pub fn documented(id: u64) -> Result<u64, Error> {
    #![allow(clippy::needless_return)]
    return Ok(id);
}

#[cfg(any())]
#[idempotent(store = STORE)]
fn configured_out(id: u64) -> Result<u64, Error> {
    compile_error!("configured out before the attribute runs")
}

#[idempotent(store = STORE, scope = "attrs.restricted")]
#[cfg_attr(all(), allow(unused_mut))]
pub(crate) fn restricted(mut id: u64) -> Result<u64, Error> {
    Ok(id)
}

/// Unsafe handlers keep their `unsafe`.
///
/// # Safety
///
/// None needed: this only checks that `unsafe` passes through.
#[idempotent(store = STORE, scope = "attrs.unsafe")]
pub unsafe fn unsafe_handler(id: u64) -> Result<u64, Error> {
    Ok(id)
}

fn main() {
    assert_eq!(documented(1).unwrap(), 1);
    assert_eq!(restricted(2).unwrap(), 2);
    // SAFETY: nothing to uphold.
    assert_eq!(unsafe { unsafe_handler(3) }.unwrap(), 3);
}
