//! The PostgreSQL the SQL tests share: `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`).
//!
//! Every test works in its own table in the schema `dedup_test`, named `t<unix secs>_<random>`;
//! tables older than an hour (left by earlier runs) are dropped, with their claim functions,
//! the first time a test binary asks for a table. Without a reachable server the tests say once on stderr that they skipped;
//! with `CI=true` that is a failure (see `services.rs`).
#![allow(dead_code, unreachable_pub)]

use std::net::{TcpStream, ToSocketAddrs};
use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dedup_runtime::store::{PostgresStore, PostgresStoreBuilder};
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use super::services;

/// The schema the tests' tables live in.
pub const SCHEMA: &str = "dedup_test";

/// Whether the server at `DATABASE_URL` accepts TCP connections, checked once per binary.
fn reachable() -> bool {
    static REACHABLE: OnceLock<bool> = OnceLock::new();
    *REACHABLE.get_or_init(|| {
        let Ok(options) = PgConnectOptions::from_str(&services::database_url()) else {
            return false;
        };
        let Ok(addrs) = (options.get_host(), options.get_port()).to_socket_addrs() else {
            return false;
        };
        addrs
            .into_iter()
            .any(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok())
    })
}

/// `true` when PostgreSQL can be used; otherwise reports the skip (or panics under CI).
pub fn available() -> bool {
    services::require("PostgreSQL", &shown_url(), reachable())
}

/// `DATABASE_URL` without its credentials, for messages.
fn shown_url() -> String {
    let url = services::database_url();
    match PgConnectOptions::from_str(&url) {
        Ok(o) => format!(
            "postgres://{}:{}/{}",
            o.get_host(),
            o.get_port(),
            o.get_database().unwrap_or("")
        ),
        Err(_) => "DATABASE_URL (unparsable)".to_owned(),
    }
}

/// A table name no other test (or run) uses.
pub fn unique_table() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("t{secs}_{}", &random[..12])
}

/// A direct connection, for raw SQL in tests.
pub async fn connection() -> PgConnection {
    PgConnection::connect(&services::database_url())
        .await
        .expect("cannot connect to PostgreSQL")
}

/// Drops the tables (and claim functions) of runs older than an hour, once per test binary.
async fn housekeeping() {
    static DONE: AtomicBool = AtomicBool::new(false);
    if DONE.swap(true, Ordering::SeqCst) {
        return;
    }
    let mut conn = connection().await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = $1 AND tablename ~ '^t[0-9]+_'",
    )
    .bind(SCHEMA)
    .fetch_all(&mut conn)
    .await
    .unwrap_or_default();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for table in tables {
        let created: u64 = table[1..]
            .split('_')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(now);
        if now.saturating_sub(created) > 3600 {
            // Names come from `pg_tables` and match `^t[0-9]+_[0-9a-f]+`: safe to splice.
            let _ = sqlx::raw_sql(AssertSqlSafe(format!(
                "DROP TABLE IF EXISTS {SCHEMA}.\"{table}\";
                 DROP FUNCTION IF EXISTS {SCHEMA}.\"{table}_claim\""
            )))
            .execute(&mut conn)
            .await;
            let _ = sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {SCHEMA}.dedup_migrations WHERE table_name = $1"
            )))
            .bind(&table)
            .execute(&mut conn)
            .await;
        }
    }
    let _ = conn.close().await;
}

/// A builder for a store in a fresh table of `dedup_test`, or `None` (after the skip notice).
pub async fn builder() -> Option<(PostgresStoreBuilder, String)> {
    if !available() {
        return None;
    }
    housekeeping().await;
    let table = unique_table();
    let builder = PostgresStore::builder()
        .url(services::database_url())
        .schema(SCHEMA)
        .table(&table)
        .max_connections(4)
        .purge_every(None);
    Some((builder, table))
}

/// A store in a fresh table, or `None` (after the skip notice).
pub async fn store() -> Option<PostgresStore> {
    let (builder, _) = builder().await?;
    Some(
        builder
            .connect()
            .await
            .expect("cannot connect to PostgreSQL"),
    )
}

/// `dedup_test."<table>"`.
pub fn qualified(table: &str) -> String {
    format!("{SCHEMA}.\"{table}\"")
}
