#![allow(dead_code)]

use dedup_runtime::{Error, idempotent};

#[idempotent(scope = "orders.handle")]
fn handle(id: u64) -> Result<(), Error> {
    let _ = id;
    Ok(())
}

#[idempotent]
fn bare(id: u64) -> Result<(), Error> {
    let _ = id;
    Ok(())
}

fn main() {}
