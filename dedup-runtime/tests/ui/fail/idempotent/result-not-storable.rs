#![allow(dead_code)]

use std::sync::LazyLock;

use dedup_runtime::store::MemoryStore;
use dedup_runtime::{Error, idempotent};

static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

struct Connection;

#[derive(Debug)]
struct HandlerError;

#[idempotent(store = STORE)]
fn not_serializable(id: u64) -> Result<Connection, Error> {
    let _ = id;
    Ok(Connection)
}

#[idempotent(store = STORE)]
fn error_cannot_carry_dedup_errors(id: u64) -> Result<u64, HandlerError> {
    Ok(id)
}

fn main() {}
