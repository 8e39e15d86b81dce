//! The expansion compiles in a module without the prelude.
#![deny(warnings)]

#[no_implicit_prelude]
mod handlers {
    use ::dedup_runtime::idempotent;
    use ::dedup_runtime::store::MemoryStore;
    use ::std::sync::LazyLock;

    pub(crate) static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

    #[idempotent(store = STORE, ttl = 60, correlation = "corr-1", payload = id)]
    pub(crate) fn sync_handler(id: u64) -> ::std::result::Result<u64, ::dedup_runtime::Error> {
        ::std::result::Result::Ok(id)
    }

    #[idempotent(store = STORE, scope = "handlers.async", lease = "5s")]
    pub(crate) async fn async_handler(
        id: u64,
    ) -> ::std::result::Result<(), ::dedup_runtime::Error> {
        let _ = id;
        ::std::result::Result::Ok(())
    }
}

fn main() {
    assert_eq!(handlers::sync_handler(3).unwrap(), 3);
    let _ = handlers::async_handler(3);
}
