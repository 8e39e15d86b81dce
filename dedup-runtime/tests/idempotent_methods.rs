//! Where `store = ...` can come from, and every kind of function the attribute goes on:
//! receivers, statics, a parameter's field the body consumes, generics, trait impls.

mod idempotent_support;

use std::fmt::Debug;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock};

use dedup_runtime::store::{BlockingStore, MemoryStore, Store};
use dedup_runtime::{Error, Fingerprint, idempotent};
use idempotent_support::HandlerError;
use serde::Serialize;
use serde::de::DeserializeOwned;

static RUNS: AtomicU32 = AtomicU32::new(0);

/// A fresh count per test: each test uses its own keys, and counts its own runs.
fn runs_since(start: u32) -> u32 {
    RUNS.load(Ordering::SeqCst) - start
}

// Statics

static LAZY_LOCK: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);
static ONCE_CELL: once_cell::sync::Lazy<MemoryStore> = once_cell::sync::Lazy::new(MemoryStore::new);

#[idempotent(store = LAZY_LOCK, scope = "methods.lazy_lock")]
fn on_lazy_lock(id: u64) -> Result<u64, Error> {
    Ok(u64::from(RUNS.fetch_add(1, Ordering::SeqCst)) + id)
}

#[idempotent(store = ONCE_CELL, scope = "methods.once_cell")]
async fn on_once_cell(id: u64) -> Result<u64, Error> {
    Ok(u64::from(RUNS.fetch_add(1, Ordering::SeqCst)) + id)
}

#[test]
fn a_lazy_lock_static_store() {
    let first = on_lazy_lock(1).unwrap();
    assert_eq!(on_lazy_lock(1).unwrap(), first);
    assert!(
        LAZY_LOCK
            .contains_blocking(dedup_runtime::store::Key::new(
                "methods.lazy_lock",
                1_u64.fingerprint()
            ))
            .unwrap()
    );
}

#[tokio::test]
async fn a_once_cell_lazy_static_store() {
    let first = on_once_cell(1).await.unwrap();
    assert_eq!(on_once_cell(1).await.unwrap(), first);
}

// Receivers

struct Shared {
    store: Arc<MemoryStore>,
    runs: AtomicU32,
}

impl Shared {
    #[idempotent(store = self.store, scope = "methods.arc_field")]
    fn arc_field(&self, id: u64) -> Result<u32, Error> {
        let _ = id;
        Ok(self.runs.fetch_add(1, Ordering::SeqCst) + 1)
    }

    #[idempotent(store = self.store, scope = "methods.arc_self")]
    async fn arc_self(self: Arc<Self>, id: u64) -> Result<u32, Error> {
        let _ = id;
        Ok(self.runs.fetch_add(1, Ordering::SeqCst) + 1)
    }
}

#[test]
fn store_from_an_arc_field() {
    let s = Shared {
        store: Arc::new(MemoryStore::new()),
        runs: AtomicU32::new(0),
    };
    assert_eq!(s.arc_field(1).unwrap(), 1);
    assert_eq!(s.arc_field(1).unwrap(), 1);
    assert_eq!(s.arc_field(2).unwrap(), 2);
}

#[tokio::test]
async fn an_arc_self_receiver() {
    let s = Arc::new(Shared {
        store: Arc::new(MemoryStore::new()),
        runs: AtomicU32::new(0),
    });
    assert_eq!(Arc::clone(&s).arc_self(1).await.unwrap(), 1);
    assert_eq!(Arc::clone(&s).arc_self(1).await.unwrap(), 1);
    assert_eq!(s.arc_self(2).await.unwrap(), 2);
}

/// Owns its store and its state: handlers that take `&mut self` or `self`.
struct Projector {
    store: MemoryStore,
    boxed: Box<MemoryStore>,
    applied: Vec<u64>,
}

impl Projector {
    #[idempotent(store = self.store, scope = "methods.mut_self")]
    fn apply(&mut self, event: u64) -> Result<usize, Error> {
        self.applied.push(event);
        Ok(self.applied.len())
    }

    #[idempotent(store = self.store, scope = "methods.mut_self_async")]
    async fn apply_async(&mut self, event: u64) -> Result<usize, Error> {
        self.applied.push(event);
        Ok(self.applied.len())
    }

    /// The body consumes `self`, the store's owner: the handle was taken before.
    #[idempotent(store = self.store, scope = "methods.by_value")]
    fn finish(self, event: u64) -> Result<Vec<u64>, Error> {
        let Projector { mut applied, .. } = self;
        applied.push(event);
        Ok(applied)
    }

    /// A `Box` of a store: dereferenced explicitly.
    #[idempotent(store = *self.boxed, scope = "methods.boxed")]
    fn boxed(&mut self, event: u64) -> Result<usize, Error> {
        self.applied.push(event);
        Ok(self.applied.len())
    }
}

fn projector(store: &MemoryStore) -> Projector {
    Projector {
        store: store.clone(),
        boxed: Box::new(store.clone()),
        applied: Vec::new(),
    }
}

#[test]
fn a_mut_self_receiver() {
    let store = MemoryStore::new();
    let mut p = projector(&store);
    assert_eq!(p.apply(10).unwrap(), 1);
    assert_eq!(p.apply(10).unwrap(), 1, "replayed: not applied twice");
    assert_eq!(p.apply(11).unwrap(), 2);
    assert_eq!(p.boxed(12).unwrap(), 3);
    assert_eq!(p.boxed(12).unwrap(), 3);
    assert_eq!(p.applied, vec![10, 11, 12]);
}

#[tokio::test]
async fn a_mut_self_receiver_async() {
    let store = MemoryStore::new();
    let mut p = projector(&store);
    assert_eq!(p.apply_async(10).await.unwrap(), 1);
    assert_eq!(p.apply_async(10).await.unwrap(), 1);
    assert_eq!(p.applied, vec![10]);
}

#[test]
fn a_self_receiver_consumed_by_the_body() {
    let store = MemoryStore::new();
    assert_eq!(projector(&store).finish(1).unwrap(), vec![1]);
    let mut p = projector(&store);
    p.applied.push(99);
    assert_eq!(p.finish(1).unwrap(), vec![1], "replayed");
}

// A parameter's field, consumed by the body

struct Context {
    store: MemoryStore,
    log: Vec<String>,
}

#[idempotent(store = ctx.store, scope = "methods.ctx", key = id)]
fn consumes_ctx(ctx: Context, id: u64) -> Result<Vec<String>, Error> {
    let Context { mut log, store } = ctx;
    drop(store);
    log.push(format!("handled {id}"));
    Ok(log)
}

#[idempotent(store = ctx.store, scope = "methods.ctx_async", key = id)]
async fn consumes_ctx_async(ctx: Context, id: u64) -> Result<Vec<String>, Error> {
    let mut log = ctx.log;
    log.push(format!("handled {id}"));
    Ok(log)
}

#[tokio::test]
async fn store_from_a_parameter_the_body_consumes() {
    let store = MemoryStore::new();
    let ctx = || Context {
        store: store.clone(),
        log: vec!["start".into()],
    };
    assert_eq!(consumes_ctx(ctx(), 1).unwrap(), ["start", "handled 1"]);
    let mut other = ctx();
    other.log.clear();
    assert_eq!(
        consumes_ctx(other, 1).unwrap(),
        ["start", "handled 1"],
        "replayed"
    );
    assert_eq!(
        consumes_ctx_async(ctx(), 1).await.unwrap(),
        ["start", "handled 1"]
    );
}

// Generics

/// Generic over the message, the result and the store, with where clauses and a lifetime.
#[idempotent(store = *store, scope = "methods.generic", key = message)]
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
    RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(make(message))
}

#[idempotent(store = *store, scope = "methods.generic_async", key = message)]
async fn generic_async<S: Store, M>(store: &S, message: M) -> Result<String, Error>
where
    M: Fingerprint + Debug + Send,
{
    Ok(format!("{message:?}"))
}

#[tokio::test]
async fn generic_handlers() {
    let store = MemoryStore::new();
    let start = RUNS.load(Ordering::SeqCst);
    assert_eq!(generic(&store, "m-1", |m| m.len()).unwrap(), 3);
    assert_eq!(generic(&store, "m-1", |_| 0).unwrap(), 3, "replayed");
    assert_eq!(generic(&store, &7_u64, |m| vec![*m]).unwrap(), vec![7]);
    assert!(runs_since(start) >= 2);
    assert_eq!(
        generic_async(&store, (1_u8, "x")).await.unwrap(),
        "(1, \"x\")"
    );
}

// Trait impls with native `async fn`

trait Handler {
    fn handle(&self, id: u64) -> impl Future<Output = Result<u32, HandlerError>> + Send;
}

trait SyncHandler {
    fn handle_now(&mut self, id: u64) -> Result<u32, HandlerError>;
}

struct Worker {
    store: MemoryStore,
    runs: AtomicU32,
}

impl Handler for Worker {
    #[idempotent(store = self.store, scope = "methods.trait_async")]
    async fn handle(&self, id: u64) -> Result<u32, HandlerError> {
        let _ = id;
        tokio::task::yield_now().await;
        Ok(self.runs.fetch_add(1, Ordering::SeqCst) + 1)
    }
}

impl SyncHandler for Worker {
    #[idempotent(store = self.store, scope = "methods.trait_sync")]
    fn handle_now(&mut self, id: u64) -> Result<u32, HandlerError> {
        let _ = id;
        *self.runs.get_mut() += 1;
        Ok(*self.runs.get_mut())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_fn_in_a_trait_impl_stays_send() {
    let worker = Arc::new(Worker {
        store: MemoryStore::new(),
        runs: AtomicU32::new(0),
    });
    let task = tokio::spawn({
        let worker = Arc::clone(&worker);
        async move { worker.handle(1).await }
    });
    assert_eq!(task.await.unwrap().unwrap(), 1);
    assert_eq!(worker.handle(1).await.unwrap(), 1);
}

#[test]
fn a_sync_trait_impl() {
    let mut worker = Worker {
        store: MemoryStore::new(),
        runs: AtomicU32::new(0),
    };
    assert_eq!(worker.handle_now(1).unwrap(), 1);
    assert_eq!(worker.handle_now(1).unwrap(), 1);
    assert_eq!(worker.handle_now(2).unwrap(), 2);
}

// Return types

#[idempotent(store = LAZY_LOCK, scope = "methods.anyhow")]
fn anyhow_result(id: u64) -> anyhow::Result<u64> {
    anyhow::ensure!(id != 0, "zero is not an order id");
    Ok(id)
}

type HandlerResult<T> = std::result::Result<T, HandlerError>;

#[idempotent(store = LAZY_LOCK, scope = "methods.alias")]
async fn alias_result(id: u64) -> HandlerResult<u64> {
    if id == 0 {
        return Err(HandlerError::Failed("zero".into()));
    }
    let doubled: u64 = Ok::<_, HandlerError>(id * 2)?;
    Ok(doubled)
}

#[tokio::test]
async fn result_aliases() {
    assert_eq!(anyhow_result(3).unwrap(), 3);
    let err = anyhow_result(0).unwrap_err();
    assert_eq!(err.to_string(), "zero is not an order id");
    assert_eq!(alias_result(4).await.unwrap(), 8);
    assert!(matches!(
        alias_result(0).await,
        Err(HandlerError::Failed(_))
    ));
}
