//! Generic handlers: type and lifetime parameters, where clauses, `impl Trait` arguments, a
//! generic store.
#![deny(warnings)]

use std::fmt::Debug;
use std::marker::PhantomData;

use dedup_runtime::store::{BlockingStore, MemoryStore, Store};
use dedup_runtime::{Error, Fingerprint, idempotent};
use serde::Serialize;
use serde::de::DeserializeOwned;

#[idempotent(store = *store, key = message)]
fn generic<'a, S, M, T>(
    store: &'a S,
    message: &'a M,
    make: impl FnOnce(&M) -> T,
) -> Result<T, Error>
where
    S: BlockingStore,
    M: Fingerprint + Debug + ?Sized,
    T: Serialize + DeserializeOwned,
{
    Ok(make(message))
}

#[idempotent(store = *store, key = message)]
async fn generic_async<S: Store, M: Fingerprint + Send, const N: usize>(
    store: &S,
    message: M,
    extra: [u8; N],
) -> Result<usize, Error> {
    drop(message);
    Ok(extra.len())
}

struct Handler<M, S = MemoryStore> {
    store: S,
    _message: PhantomData<fn(M)>,
}

impl<M, S> Handler<M, S>
where
    M: Fingerprint + Serialize + DeserializeOwned,
    S: BlockingStore,
{
    #[idempotent(store = self.store)]
    fn echo(&self, message: M) -> Result<M, Error> {
        Ok(message)
    }
}

fn main() {
    let store = MemoryStore::new();
    assert_eq!(generic(&store, "m", |m| m.len()).unwrap(), 1);
    let _ = generic_async(&store, 1_u64, [0_u8; 3]);
    let handler = Handler::<u64> {
        store,
        _message: PhantomData,
    };
    assert_eq!(handler.echo(5).unwrap(), 5);
}
