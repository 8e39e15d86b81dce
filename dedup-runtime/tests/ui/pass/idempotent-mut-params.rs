//! `mut` parameters, patterns and `impl Trait` arguments keep working (and raise no lint).
#![deny(warnings)]

use std::sync::LazyLock;

use dedup_runtime::store::MemoryStore;
use dedup_runtime::{Error, idempotent};

static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

#[idempotent(store = STORE)]
fn push(mut batch: Vec<u64>) -> Result<Vec<u64>, Error> {
    batch.push(0);
    batch.sort_unstable();
    Ok(batch)
}

#[idempotent(store = STORE, key = id)]
async fn retry(id: u64, mut attempts: u32, (a, mut b): (u8, u8)) -> Result<u32, Error> {
    attempts += 1;
    b += a;
    Ok(attempts + u32::from(b))
}

#[idempotent(store = STORE, key = id)]
fn with_closure(id: u64, mut on_done: impl FnMut(u64)) -> Result<(), Error> {
    on_done(id);
    Ok(())
}

fn main() {
    assert_eq!(push(vec![3, 1]).unwrap(), vec![0, 1, 3]);
    let _ = retry(1, 0, (1, 2));
    let mut seen = Vec::new();
    with_closure(7, |id| seen.push(id)).unwrap();
    assert_eq!(seen, vec![7]);
}
