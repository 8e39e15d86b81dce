//! The expansion needs nothing from the user's names: the module shadows `Result`, `Ok`, `Some`,
//! `Option`, `Duration`, `core`..., and the bodies bring more names into scope with `use`.
#![deny(warnings)]
#![allow(non_camel_case_types, dead_code)]

use ::std::sync::LazyLock;

use ::dedup_runtime::idempotent;
use ::dedup_runtime::store::MemoryStore;

struct Result;
struct Ok;
struct Err;
struct Option;
struct Some;
struct None;
struct Duration;
struct String;
struct Box;
struct Call;
struct handle;
struct key_of;
mod core {}
mod std {}
mod dedup_runtime {}

static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
enum Outcome {
    Accepted,
    Rejected,
}

#[idempotent(store = STORE, ttl = "1h", lease = ::core::time::Duration::from_secs(5))]
fn glob_import(id: u64) -> ::core::result::Result<Outcome, ::dedup_runtime::Error> {
    use Outcome::*;
    let _ = (Result, Ok, Some, None);
    if id == 0 {
        return ::core::result::Result::Ok(Rejected);
    }
    ::core::result::Result::Ok(Accepted)
}

#[idempotent(store = STORE, key = id, correlation = corr)]
async fn shadowing_body(
    id: u64,
    corr: &str,
) -> ::core::result::Result<u64, ::dedup_runtime::Error> {
    type Result = ();
    #[allow(unused_imports)]
    use ::core::result::Result::{Err, Ok as Fine};
    let _: Result = ();
    let __dedup_store = "a user local with a generated name";
    let __dedup_call = 1;
    let _ = (__dedup_store, __dedup_call, corr);
    Fine(id)
}

fn main() {
    assert_eq!(glob_import(1).unwrap(), Outcome::Accepted);
    let _ = shadowing_body(1, "corr");
}
