#![allow(dead_code)]

use std::sync::LazyLock;

use dedup_runtime::store::MemoryStore;
use dedup_runtime::{Error, idempotent};

static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

#[idempotent(store = STORE, scope = 42)]
fn numbered(id: u64) -> Result<u64, Error> {
    Ok(id)
}

#[idempotent(store = STORE, scope = "")]
fn empty(id: u64) -> Result<u64, Error> {
    Ok(id)
}

#[idempotent(store = STORE, scope = String::from("orders"))]
fn owned(id: u64) -> Result<u64, Error> {
    Ok(id)
}

fn main() {}
