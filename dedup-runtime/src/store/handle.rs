//! [`StoreHandle`]: how `store = <expr>` accepts a store or a pointer to one.

use std::sync::{Arc, LazyLock};

use super::Store;

/// Anything that yields a store handle: a store, an `Arc` of one, a `LazyLock` or once_cell `Lazy`
/// static.
///
/// A reference or `Box` coerces with an explicit deref: `store = *self.store`. (`&S` and `Box<S>`
/// are `#[fundamental]`, so a blanket impl for them would overlap with the one for stores.)
///
/// `#[idempotent(store = ...)]` takes `&<expr>` and calls [`handle`](StoreHandle::handle), which
/// clones the underlying store (a cheap handle), so the body may then consume or mutably borrow
/// the value the store came from.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a deduplication store",
    label = "expected a store such as `MemoryStore`, or an `Arc` or `LazyLock` of one",
    note = "`store = ...` takes any type that implements `dedup_runtime::store::Store`, an `Arc` or `LazyLock` of one; dereference a `&` or `Box` with `*`"
)]
pub trait StoreHandle {
    /// The store type behind the pointer.
    type Store: Store;

    /// A clone of the store handle.
    fn handle(&self) -> Self::Store;
}

impl<S: Store> StoreHandle for S {
    type Store = S;
    fn handle(&self) -> S {
        self.clone()
    }
}

impl<S: Store> StoreHandle for Arc<S> {
    type Store = S;
    fn handle(&self) -> S {
        (**self).clone()
    }
}

impl<S: Store, F: FnOnce() -> S> StoreHandle for LazyLock<S, F> {
    type Store = S;
    fn handle(&self) -> S {
        (**self).clone()
    }
}

impl<S: Store, F: FnOnce() -> S> StoreHandle for once_cell::sync::Lazy<S, F> {
    type Store = S;
    fn handle(&self) -> S {
        (**self).clone()
    }
}
