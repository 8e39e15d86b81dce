#![allow(dead_code)]

use std::sync::LazyLock;

use dedup_runtime::store::MemoryStore;
use dedup_runtime::{Error, idempotent};

static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

#[idempotent(store = STORE, ttl = "24 hours")]
fn hours(id: u64) -> Result<(), Error> {
    let _ = id;
    Ok(())
}

#[idempotent(store = STORE, lease = "1.5m")]
fn fraction(id: u64) -> Result<(), Error> {
    let _ = id;
    Ok(())
}

#[idempotent(store = STORE, ttl = "0s")]
fn zero(id: u64) -> Result<(), Error> {
    let _ = id;
    Ok(())
}

#[idempotent(store = STORE, lease = 1.5)]
fn float(id: u64) -> Result<(), Error> {
    let _ = id;
    Ok(())
}

#[idempotent(store = STORE, ttl = 30s)]
fn suffix(id: u64) -> Result<(), Error> {
    let _ = id;
    Ok(())
}

fn main() {}
