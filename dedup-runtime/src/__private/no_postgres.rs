//! What `#[idempotent(tx = ...)]` expands to when dedup-runtime is built without its `postgres`
//! feature: the functions of `inbox.rs`, under the same names and with signatures that accept
//! what the expansion passes, so that the handler fails with one error that names the missing
//! feature rather than with rustc's "cannot find function `inbox_begin`" for every call.
//!
//! The macro cannot see this crate's features (dedup-macros is compiled without them), so the
//! check has to live here. It is a bound that nothing satisfies,
//! [`PostgresFeature`], required by [`inbox_begin`] alone: the other functions take anything, and
//! nothing else in the expansion can fail because of the missing feature. The connection that
//! `inbox_begin` is checked on is an expression the expansion places at the `tx = ...` option,
//! so that is where the error is reported.
//!
//! `InboxStore` and `InboxTransaction` have no counterpart: the expansion never names them.

use std::future::{self, Ready};
use std::ops::ControlFlow;

use super::Call;

/// Implemented by nothing: the bound that makes `tx = ...` without the `postgres` feature one
/// clear error. Without `postgres` there is no transactional inbox to claim in.
#[diagnostic::on_unimplemented(
    message = "`#[idempotent(tx = ...)]` needs dedup-runtime's `postgres` feature: the transactional inbox runs in a PostgreSQL transaction",
    label = "the transactional inbox is not compiled in: dedup-runtime's `postgres` feature is off",
    note = "add `features = [\"postgres\"]` to the `dedup-runtime` dependency in Cargo.toml, or run `cargo add dedup-runtime --features postgres`"
)]
pub trait PostgresFeature: Sized {
    /// Gives [`inbox_begin`] a body without `unreachable!()`: nothing implements the trait, so
    /// nothing can call it.
    fn begin<R>(self) -> ControlFlow<R, NoClaim>;
}

/// Stands for the `PostgresStore` that `store = ...` would be turned into.
#[derive(Debug)]
pub struct NoInbox;

/// Stands for the connection of the `tx` parameter (which may be of any type here).
#[derive(Debug)]
pub struct NoPostgres;

/// Stands for `InboxClaim`. Uninhabited: without `postgres` nothing is ever claimed.
#[derive(Debug)]
pub enum NoClaim {}

/// Accepts any `store = ...`: whether it is a store is beside the point without `postgres`, and
/// a second error about it would only hide the one about the feature.
pub fn inbox_store<H: ?Sized>(_store: &H) -> NoInbox {
    NoInbox
}

/// Accepts any `tx: &mut T`, for the same reason as [`inbox_store`].
pub fn inbox_connection<T: ?Sized>() -> fn(&mut T) -> NoPostgres {
    |_| NoPostgres
}

/// The one place the missing feature is reported: `NoPostgres` does not implement
/// [`PostgresFeature`].
///
/// Not an `async fn`: its future would carry the bound, and every use of the future (`.await`,
/// the handler's own future) would report it again. `conn` is an `impl Trait` argument, so that
/// the expansion's `inbox_begin::<Ret>` still names exactly one type argument.
pub fn inbox_begin<R>(
    _store: NoInbox,
    _call: Call,
    conn: impl PostgresFeature,
) -> Ready<ControlFlow<R, NoClaim>> {
    future::ready(conn.begin())
}

/// Never reached: `claim` cannot exist.
pub fn inbox_finish<R>(claim: NoClaim, _conn: NoPostgres, _result: R) -> Ready<R> {
    match claim {}
}
