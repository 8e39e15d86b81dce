//! The likelier mistake: a `PostgresStore` handler in a crate that forgot the feature. rustc says
//! where the store went, the attribute says what `tx = ...` needs, and nothing else is reported.
#![allow(dead_code)]

use std::sync::LazyLock;

use dedup_runtime::store::PostgresStore;
use dedup_runtime::{Error, idempotent};

struct Transaction;

static STORE: LazyLock<PostgresStore> = LazyLock::new(|| unimplemented!());

#[idempotent(store = STORE, tx = tx)]
async fn handle(tx: &mut Transaction, id: u64) -> Result<u64, Error> {
    let _ = tx;
    Ok(id)
}

fn main() {}
