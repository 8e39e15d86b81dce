//! `tx = <param>`: every place the store can come from, both transaction types, a body that
//! ignores, reborrows or moves the transaction, and a module without the prelude, all warning-free.
#![deny(warnings)]

use std::sync::{Arc, LazyLock};

use dedup_runtime::store::PostgresStore;
use dedup_runtime::{Error, idempotent};
use sqlx::{PgConnection, Postgres, Transaction};

static STORE: LazyLock<PostgresStore> = LazyLock::new(|| unimplemented!("compiled, never called"));

#[derive(Debug, thiserror::Error)]
enum HandlerError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Dedup(#[from] Error),
}

/// The key is the only parameter besides the transaction; the body does not touch `tx`.
#[idempotent(store = STORE, tx = tx)]
async fn ignores_tx(tx: &mut Transaction<'_, Postgres>, id: u64) -> Result<u64, Error> {
    Ok(id)
}

/// `tx` first or last, `ttl`, `lease`, `scope`, `correlation` and `payload` all apply.
#[idempotent(store = STORE, scope = "orders.ship", ttl = "24h", lease = 30, key = id,
             correlation = correlation, payload = (id, correlation), tx = tx)]
async fn every_option(
    id: u64,
    correlation: &str,
    tx: &mut Transaction<'_, Postgres>,
) -> Result<(), HandlerError> {
    sqlx::query("SELECT 1").execute(&mut **tx).await?;
    Ok(())
}

/// A bare connection, moved into a generic `Executor` by the body.
#[idempotent(store = STORE, tx = conn)]
async fn moves_connection(conn: &mut PgConnection, id: i64) -> Result<i64, HandlerError> {
    sqlx::query("SELECT $1").bind(id).execute(conn).await?;
    Ok(id)
}

/// A transaction with a named lifetime, reborrowed twice.
#[idempotent(store = STORE, tx = r#tx)]
async fn named_lifetime<'c>(
    r#tx: &mut Transaction<'c, Postgres>,
    id: u64,
) -> Result<u64, HandlerError> {
    sqlx::query("SELECT 1").execute(&mut **tx).await?;
    sqlx::query("SELECT 2").execute(&mut **r#tx).await?;
    Ok(id)
}

struct Consumer {
    store: PostgresStore,
    shared: Arc<PostgresStore>,
}

impl Consumer {
    #[idempotent(store = self.store, tx = tx)]
    async fn by_ref(&self, tx: &mut Transaction<'_, Postgres>, id: u64) -> Result<u64, Error> {
        let _ = &self.shared;
        let _ = tx;
        Ok(id)
    }

    #[idempotent(store = self.shared, tx = tx, crate = ::dedup_runtime)]
    async fn by_arc(
        self: Arc<Self>,
        tx: &mut Transaction<'_, Postgres>,
        id: u64,
    ) -> Result<u64, Error> {
        let _ = &self.store;
        let _ = tx;
        Ok(id)
    }
}

#[no_implicit_prelude]
mod no_prelude {
    use ::dedup_runtime::idempotent;
    use ::sqlx::{Postgres, Transaction};

    #[idempotent(store = super::STORE, scope = "no.prelude", tx = tx)]
    pub(crate) async fn handler(
        tx: &mut Transaction<'_, Postgres>,
        id: u64,
    ) -> ::std::result::Result<u64, ::dedup_runtime::Error> {
        let _ = tx;
        ::std::result::Result::Ok(id)
    }
}

/// The expansion needs nothing from the user's names, and its locals are invisible to the body.
#[allow(non_camel_case_types, dead_code)]
mod shadowing {
    use ::dedup_runtime::idempotent;
    use ::sqlx::{Postgres, Transaction};

    struct Result;
    struct Ok;
    struct ControlFlow;
    struct inbox_begin;
    struct inbox_finish;
    mod core {}
    mod dedup_runtime {}

    #[idempotent(store = super::STORE, tx = tx)]
    pub(crate) async fn handler(
        tx: &mut Transaction<'_, Postgres>,
        id: u64,
    ) -> ::core::result::Result<u64, ::dedup_runtime::Error> {
        let __dedup_claim = "a user local with a generated name";
        let __dedup_connection = 1;
        let __dedup_result = 2;
        let _ = (
            tx,
            __dedup_claim,
            __dedup_connection,
            __dedup_result,
            Result,
            Ok,
        );
        ::core::result::Result::Ok(id)
    }
}

/// The handler future is `Send` when its arguments are: it can be spawned.
fn assert_send<F: Send>(_: F) {}

async fn caller(consumer: Arc<Consumer>, mut tx: Transaction<'static, Postgres>) {
    assert_send(ignores_tx(&mut tx, 1));
    assert_send(every_option(1, "corr", &mut tx));
    assert_send(moves_connection(&mut tx, 1));
    assert_send(named_lifetime(&mut tx, 1));
    assert_send(consumer.by_ref(&mut tx, 1));
    assert_send(Arc::clone(&consumer).by_arc(&mut tx, 1));
    assert_send(no_prelude::handler(&mut tx, 1));
    assert_send(shadowing::handler(&mut tx, 1));
    let _ = tx.commit().await;
}

fn main() {
    let _ = caller;
}
