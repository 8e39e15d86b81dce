#![allow(dead_code)]

use dedup_runtime::{Error, idempotent};

#[idempotent(store)]
fn handle(id: u64) -> Result<u64, Error> {
    Ok(id)
}

fn main() {}
