//! Procedural macros for [`dedup_runtime`](https://docs.rs/dedup-runtime): `#[derive(Fingerprint)]`
//! and `#[idempotent]`.
//!
//! Use them through `dedup_runtime`, which re-exports both (its `macros` feature, on by default):
//! `use dedup_runtime::Fingerprint;` brings the trait and the derive. This crate's version is
//! pinned exactly by `dedup_runtime`, whose private `__private` module is all the generated code
//! touches.

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

mod ctxt;
mod fingerprint;
mod idempotent;
mod paths;
mod symbol;

/// Derives `dedup_runtime::Fingerprint`: a stable SHA-256 of the message's functional content,
/// the same on every process, platform, compiler and language (the `fp1` encoding).
///
/// A field hashes as serde would serialize it, so the field values need `serde::Serialize` (the
/// type itself need not implement it) and the type's serde attributes count: `rename`,
/// `rename_all`, `tag`, `flatten`, `with`, `skip_serializing_if`... Field order does not count:
/// fields hash as a map keyed by their serialized names.
///
/// ```ignore
/// use dedup_runtime::Fingerprint;
/// use serde::Serialize;
///
/// #[derive(Serialize, Fingerprint)]
/// #[serde(rename_all = "camelCase")]
/// #[fingerprint(namespace = "orders.OrderPlaced.v1")]
/// struct OrderPlaced {
///     order_id: u64,
///     customer_id: uuid::Uuid,
///     #[fingerprint(unordered)]
///     tags: Vec<String>,
///     /// Set by the producer on every retry: not part of the message's content.
///     #[fingerprint(skip)]
///     correlation_id: uuid::Uuid,
///     #[fingerprint(skip)]
///     sent_at: chrono::DateTime<chrono::Utc>,
/// }
///
/// # fn check(a: &OrderPlaced, b: &OrderPlaced) {
/// // Two deliveries of one order, re-sent with a new correlation id: one fingerprint.
/// assert_eq!(a.fingerprint(), b.fingerprint());
/// # }
/// ```
///
/// # Attributes
///
/// On the struct or enum:
///
/// - `#[fingerprint(namespace = "orders.OrderPlaced.v1")]`: the domain the digest belongs to, so
///   that two types with the same content never share a fingerprint. Defaults to the bare type
///   name (`"OrderPlaced"`), which changes if the type is renamed: pin it in production.
/// - `#[fingerprint(crate = path)]`: where `dedup_runtime` is, if it is renamed or re-exported.
///
/// On a field:
///
/// - `#[fingerprint(skip)]`: the field does not count (timestamps, correlation ids, retry
///   counters). Its type need not implement `Serialize`.
///
///   It applies where this type is fingerprinted itself, not where it is nested: a field of
///   another message hashes as serde serializes it, so a nested type's own `skip` does not reach
///   through (`tests/fingerprint_derive.rs`, `nested_types_hash_as_serde_serializes_them`). Keep
///   per-delivery values out of nested types, or out of their serde output
///   (`#[serde(skip_serializing)]`), or skip the whole field in the parent.
/// - `#[fingerprint(rename = "name")]`: the field counts under another name, e.g. its old name
///   after a Rust rename, so that fingerprints stay the same. It wins over `#[serde(rename)]`.
/// - `#[fingerprint(unordered)]`: a sequence whose order does not count (`Vec` of tags): it
///   hashes as a set. `HashSet`/`BTreeSet` fields need nothing.
///
/// On an enum variant: `#[fingerprint(rename = "name")]`.
///
/// # serde attributes
///
/// The serialize side of `#[serde(...)]` is followed: on the type `rename`, `rename_all`,
/// `rename_all_fields`, `tag`, `content`, `untagged`, `transparent` and `bound`; on variants
/// `rename`, `rename_all`, `skip`, `skip_serializing`, `serialize_with`, `with`, `untagged` and
/// `bound`; on fields `rename`, `skip`, `skip_serializing`, `skip_serializing_if`,
/// `serialize_with`, `with`, `flatten` and `bound`. Deserialize-only attributes are ignored.
/// `#[serde(into)]` and `#[serde(remote)]` are compile errors: they serialize another type, which
/// the derive cannot follow.
///
/// # Speed
///
/// A struct with named fields is written straight to the hasher in canonical order, without
/// serde's buffering and sorting of its fields. A field whose type also derives `Fingerprint`
/// (a struct with named fields, a newtype struct or an enum of unit variants; directly, or
/// inside an `Option`, a `Box`, a `Vec`, an array or a slice) is written the same way, as are
/// integers, floats, `bool`, `char` and strings; a field of any other type goes through serde. So derive `Fingerprint` on nested message
/// types too: for a message made of small nested structs the encoding work drops two- to
/// threefold (`BENCHMARKS.md`), and the digest stays the same, since a nested type is still
/// encoded with its serde shape. Inside a generic struct, a field of a type parameter always
/// goes through serde.
///
/// The derive reads the type's declaration (fields and serde attributes), never its
/// `Serialize` impl: keep a hand-written `Serialize` impl in agreement with the declaration, or
/// do not derive `Fingerprint` on that type (`docs/fingerprint-spec.md`, section 3).
///
/// # Generics
///
/// The impl requires `T: Serialize` for each type parameter used by a field that counts, as
/// serde's derive infers it (or the bounds of `#[serde(bound(serialize = "..."))]`). A type
/// parameter used only by skipped fields needs nothing.
///
/// # Errors
///
/// Misuse is a compile error at the offending tokens, every one of them in the same build:
/// unknown or duplicate keys, a key in the wrong place, `skip` together with `rename` or
/// `unordered`, an empty or non-literal namespace, unions, `#[repr(packed)]` types, and serde
/// attributes the derive cannot follow. A counted field whose type does not implement
/// `Serialize` is reported at that field's type.
///
/// At run time `try_fingerprint` fails (and `fingerprint` panics) only where the encoder refuses
/// the value: a `Serialize` impl (or `serialize_with` fn) that returns an error, a variant serde
/// will not serialize, nesting deeper than the encoder's limit, two map entries with one key.
#[proc_macro_derive(Fingerprint, attributes(fingerprint))]
pub fn derive_fingerprint(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    fingerprint::derive(&input).into()
}

/// Makes a message handler effectively-once: its body runs once per distinct message, and every
/// duplicate gets the first run's `Ok` value back.
///
/// ```ignore
/// use dedup_runtime::store::MemoryStore;
/// use dedup_runtime::idempotent;
/// use std::sync::LazyLock;
///
/// static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);
///
/// #[idempotent(store = STORE)]
/// fn handle(order: OrderPlaced) -> Result<Receipt, HandlerError> {
///     // runs once per distinct `order` (by its `Fingerprint`)
/// }
///
/// impl Billing {
///     #[idempotent(store = self.store, scope = "billing.charge", ttl = "24h", lease = 30,
///                  key = order.order_id, correlation = order.correlation_id)]
///     async fn charge(&self, order: &OrderPlaced) -> Result<(), HandlerError> {
///         // ...
///     }
/// }
/// ```
///
/// Before the body runs, the handler claims the message's key in the store:
///
/// - **first delivery**: the body runs; its `Ok` value is recorded for `ttl` and returned;
/// - **duplicate** (a record within its ttl): the body does not run; the recorded value is
///   decoded and returned, and a `tracing` event names the scope, the fingerprint and both
///   correlation ids;
/// - **in progress** (another delivery holds the claim, within its lease): the body does not run;
///   the handler returns `Err(E::from(Error::InProgress { .. }))`. Requeue the delivery, never
///   acknowledge it (`Error::is_in_progress`);
/// - **the body returns `Err` or panics**: the claim is released, so the redelivery runs again;
///   the error is returned, the panic goes on. An `async fn` dropped mid-body (a timeout,
///   `select!`) releases its claim too;
/// - **store trouble** (unreachable, a record that no longer decodes, a value that cannot be
///   stored, a lease lost to a redelivery): `Err(E::from(error))`. The body never runs without
///   a claim; do not acknowledge the delivery.
///
/// # Options
///
/// - `store = <expr>` (required): where claims and results live, shared by every instance of
///   the consumer. A store (`self.store`, `ctx.store`), an `Arc` of one, or a `LazyLock` /
///   once_cell `Lazy` static of one; a `&` or `Box` needs an explicit `*`. The handle is cloned
///   before the body runs, so the body may consume or mutably borrow what held it. A plain
///   `fn` needs a store that can block (`BlockingStore`: `MemoryStore`, `RedisStore`); the SQL
///   stores need an `async fn`.
/// - `key = <expr>`: what identifies the message, any `Fingerprint` value (`key = order.id`,
///   `key = (tenant, id)`). Defaults to the function's only parameter besides `self`; with
///   several parameters, `key` is required. It is computed from shared borrows before the body
///   runs.
/// - `scope = "..."`: the name records live under. Deliveries in different scopes are
///   independent: each scope processes a message once. Defaults to
///   `concat!(module_path!(), "::", "<fn name>")`. **That default changes when the function is
///   renamed or moved** (records written under the old name are then forgotten: duplicates run
///   again), **and two methods of the same name on different types in one module share it.**
///   Production code names its scope: `scope = "billing.charge"`. Any `&'static str` expression
///   (a `const`) works too.
/// - `ttl = ...`: how long a processed message is remembered (default one day,
///   `dedup_runtime::idempotency::DEFAULT_TTL`); a redelivery after it runs the body again.
/// - `lease = ...`: how long a claim is honoured before a redelivery may take it over (default
///   30 seconds, `DEFAULT_LEASE`). It must be longer than the slowest run of the body; a body
///   that outlives its lease gets `Error::LeaseLost` and its result is not recorded.
///
///   `ttl` and `lease` take whole seconds (`lease = 30`), a string with a unit, checked at
///   compile time (`"500ms"`, `"90s"`, `"15m"`, `"24h"`, `"7d"`), or any expression of type
///   `std::time::Duration` (`ttl = TTL`, `ttl = self.ttl`).
/// - `correlation = <expr>`: the delivery's correlation id, any `Display` value or an `Option`
///   of one. Stored with the record for audit and logged beside the first delivery's on every
///   duplicate.
/// - `payload = <expr>`: when `key` selects part of the message, the whole message (any
///   `Fingerprint` value). Its fingerprint is stored with the record, and a later delivery with
///   the same key but another payload gets `Error::PayloadMismatch` instead of another message's
///   result.
/// - `tx = <param>`: claim and complete inside the caller's PostgreSQL transaction, the
///   transactional inbox (see [below](#in-the-callers-transaction-tx)). `<param>` names a
///   parameter of type `&mut sqlx::Transaction<'_, sqlx::Postgres>` (or `&mut PgConnection`, with
///   a transaction open on it). The parameter is passed to the body as written and is never part
///   of the key. Needs an `async fn` and a `PostgresStore` (feature `postgres`).
/// - `crate = path`: where `dedup_runtime` is, if it is renamed or re-exported.
///
/// # The function
///
/// A `fn` or an `async fn`, free or a method (`&self`, `&mut self`, `self`, `self: Arc<Self>`),
/// generic or not, also in a trait impl (native `async fn` in traits; `#[async_trait]` is not
/// supported). It must return `Result<T, E>` (or an alias of one, such as `anyhow::Result<T>`)
/// with `T: Serialize + DeserializeOwned`, the value replayed to duplicates, and
/// `E: From<dedup_runtime::Error>`. The signature, attributes and body are kept as written:
/// `?` and `return` in the body mean what they meant.
///
/// Not supported, with a compile error that says so: `const fn`, `extern` functions, `impl
/// Trait` in the return type, a plain `fn` returning a future.
///
/// # In the caller's transaction (`tx`)
///
/// With `tx = tx`, the claim, the body's writes through `tx` and the record of the result are
/// all made in the transaction the caller passed, so they commit or roll back together: a
/// side effect in the same database happens exactly once, whatever crashes. **The caller
/// commits**, after `Ok`, and acknowledges the delivery after the commit:
///
/// ```ignore
/// use dedup_runtime::idempotent;
/// use dedup_runtime::store::PostgresStore;
/// use sqlx::{Postgres, Transaction};
///
/// impl Shipping {
///     #[idempotent(store = self.store, scope = "orders.ship", key = order.order_id,
///                  correlation = order.correlation_id.as_str(), tx = tx)]
///     async fn ship(
///         &self,
///         tx: &mut Transaction<'_, Postgres>,
///         order: &OrderPlaced,
///     ) -> Result<Shipment, ShipError> {
///         let id = sqlx::query_scalar("INSERT INTO shipments (order_id) VALUES ($1) RETURNING id")
///             .bind(order.order_id)
///             .fetch_one(&mut **tx)
///             .await?;
///         Ok(Shipment { id })
///     }
/// }
///
/// let mut tx = pool.begin().await?;
/// let shipment = shipping.ship(&mut tx, &order).await?; // on `Err`, `tx` is dropped: rolled back
/// tx.commit().await?;                                   // then ack
/// ```
///
/// - **first delivery**: the body runs and its `Ok` value is recorded in `tx`; nothing of it is
///   visible to others before the caller commits;
/// - **duplicate** (a committed record): the body does not run; the recorded value is returned
///   and nothing is written, so committing or rolling back is the same;
/// - **concurrent duplicate** (another transaction holds an uncommitted claim): the claim waits
///   until that transaction ends, then replays its result if it committed, or runs the body if it
///   rolled back. There is no "in progress" and no lease: the transaction is the lease. Bound
///   the wait with PostgreSQL's `lock_timeout` (a store error, then);
/// - **the body returns `Err`**: the claim is released in `tx` and the error is returned. Roll
///   `tx` back: the body's writes must go with it. A caller that commits anyway keeps those
///   writes but records nothing, so the redelivery runs the body again;
/// - **store trouble** (including a value that cannot be recorded): `Err(E::from(error))`; roll
///   back. A panic unwinds through the handler; dropping `tx` rolls it back;
/// - a claim committed without its completion (a caller that commits after the handler's future
///   was dropped mid-body) is honoured for `lease`, as with the other stores: deliveries get
///   `Error::InProgress` until it runs out.
///
/// Every other option applies. `dedup_runtime::store::Inbox` documents the protocol underneath;
/// keep the transaction in `READ COMMITTED` (PostgreSQL's default).
#[proc_macro_attribute]
pub fn idempotent(args: TokenStream, item: TokenStream) -> TokenStream {
    idempotent::expand(args.into(), item.into()).into()
}
