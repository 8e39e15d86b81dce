//! [`PostgresStore`]: the shared store on PostgreSQL (feature `postgres`), with the
//! transactional [`Inbox`](super::inbox::Inbox). The design is documented on the type.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow, Postgres};
use sqlx::{AssertSqlSafe, Executor, Row};

use super::{
    CLAIM_ATTEMPTS, DEFAULT_PURGE_BATCH, DEFAULT_PURGE_EVERY, DEFAULT_TABLE, MIGRATIONS_TABLE,
    Migration, Purge, PurgeTask, RawRecord, SqlError, ident, quote, read_error, seconds,
};
use crate::Error;
use crate::store::{ClaimOutcome, ClaimRequest, Key, OwnerToken, Record, Store};

pub(super) const STORE: &str = "postgres";

/// The embedded migrations, in order. Never edit one that shipped: add the next.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "create the records table",
        sql: include_str!("migrations/postgres/0001_create_records.sql"),
    },
    Migration {
        version: 2,
        description: "create the claim function",
        sql: include_str!("migrations/postgres/0002_create_claim_function.sql"),
    },
];

/// The store's SQL, built once for its table.
#[derive(Debug)]
pub(super) struct Statements {
    pub(super) claim: Arc<str>,
    pub(super) complete: Arc<str>,
    pub(super) release: Arc<str>,
    store: Arc<str>,
    get: Arc<str>,
    contains: Arc<str>,
    purge: Arc<str>,
}

impl Statements {
    /// `t` is the quoted, possibly schema-qualified table, `claim` its claim function.
    fn new(t: &str, claim: &str) -> Self {
        const MS_LEFT: &str =
            "GREATEST(0, date_part('epoch', expires_at - clock_timestamp()) * 1000)::int8";
        // See `PostgresStore`'s docs: a duplicate is answered by the first branch alone (the
        // `LIMIT` stops there); only when there is no live record does the claim function run,
        // and decide.
        let claim = format!(
            "(SELECT false AS acquired, status, owner, result, correlation, payload, {MS_LEFT} AS ms_left
              FROM {t}
              WHERE scope = $1 AND fingerprint = $2 AND expires_at > clock_timestamp())
            UNION ALL
            (SELECT acquired, status, owner, result, correlation, payload, ms_left
             FROM {claim}($1, $2, $3, $4, $5, $6))
            LIMIT 1"
        );
        // Absent, or ours (even past the lease), or expired: completed. Otherwise no row is
        // touched and the caller reports `LeaseLost`. The audit fields survive only from our claim.
        let complete = format!(
            "INSERT INTO {t} AS d (scope, fingerprint, status, result, created_at, expires_at)
            VALUES ($1, $2, 'completed', $4, clock_timestamp(), clock_timestamp() + make_interval(secs => $5))
            ON CONFLICT (scope, fingerprint) DO UPDATE
            SET status = 'completed', owner = NULL, result = EXCLUDED.result,
                expires_at = EXCLUDED.expires_at,
                correlation = CASE WHEN d.status = 'in_progress' AND d.owner = $3 THEN d.correlation END,
                payload = CASE WHEN d.status = 'in_progress' AND d.owner = $3 THEN d.payload END,
                created_at = CASE WHEN d.status = 'in_progress' AND d.owner = $3
                                  THEN d.created_at ELSE EXCLUDED.created_at END
            WHERE (d.status = 'in_progress' AND d.owner = $3) OR d.expires_at <= clock_timestamp()"
        );
        let release = format!(
            "DELETE FROM {t}
            WHERE scope = $1 AND fingerprint = $2 AND status = 'in_progress' AND owner = $3"
        );
        let store = format!(
            "INSERT INTO {t} AS d (scope, fingerprint, status, result, created_at, expires_at)
            VALUES ($1, $2, 'completed', $3, clock_timestamp(), clock_timestamp() + make_interval(secs => $4))
            ON CONFLICT (scope, fingerprint) DO UPDATE
            SET correlation = NULL, payload = NULL, status = 'completed', owner = NULL,
                result = EXCLUDED.result, created_at = EXCLUDED.created_at,
                expires_at = EXCLUDED.expires_at"
        );
        let get = format!(
            "SELECT status, owner, result, correlation, payload, {MS_LEFT} AS ms_left
            FROM {t}
            WHERE scope = $1 AND fingerprint = $2 AND expires_at > clock_timestamp()"
        );
        let contains = format!(
            "SELECT EXISTS (
                SELECT 1 FROM {t}
                WHERE scope = $1 AND fingerprint = $2 AND expires_at > clock_timestamp()
            )"
        );
        // One batch: a TID scan over at most $1 expired rows, locked with SKIP LOCKED so that
        // the purge never waits for (nor blocks) a claim in flight, e.g. in an open inbox
        // transaction. The outer condition re-checks expiry on the row actually deleted.
        let purge = format!(
            "DELETE FROM {t}
            WHERE ctid = ANY(ARRAY(
                SELECT ctid FROM {t}
                WHERE expires_at <= clock_timestamp()
                LIMIT $1
                FOR UPDATE SKIP LOCKED
            ))
            AND expires_at <= clock_timestamp()"
        );
        Statements {
            claim: claim.into(),
            complete: complete.into(),
            release: release.into(),
            store: store.into(),
            get: get.into(),
            contains: contains.into(),
            purge: purge.into(),
        }
    }
}

/// The names the store uses, validated and quoted.
#[derive(Debug)]
struct Names {
    /// The schema, if one was configured (else the connection's `search_path` decides).
    schema: Option<String>,
    /// The table, unquoted: the key of its rows in `dedup_migrations`.
    table: String,
    /// `"schema"."table"` or `"table"`.
    qualified: String,
    /// `"schema"."dedup_migrations"` or `"dedup_migrations"`.
    migrations: String,
    /// `"<table>_expires_at_idx"` (an index lives in its table's schema).
    index: String,
    /// `"schema"."<table>_claim"` or `"<table>_claim"`: the claim function.
    claim: String,
}

impl Names {
    fn new(schema: Option<String>, table: String) -> Self {
        let qualify = |name: &str| match &schema {
            Some(schema) => format!("{}.{}", quote(schema), quote(name)),
            None => quote(name),
        };
        Names {
            qualified: qualify(&table),
            migrations: qualify(MIGRATIONS_TABLE),
            index: quote(&format!("{table}_expires_at_idx")),
            claim: qualify(&format!("{table}_claim")),
            schema,
            table,
        }
    }

    /// `schema.table` for messages.
    fn display(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{schema}.{}", self.table),
            None => self.table.clone(),
        }
    }
}

fn db(err: sqlx::Error) -> Error {
    Error::store(STORE, err)
}

/// Brings the table up to the latest migration; a no-op (one read, no DDL, no lock) when it is.
async fn migrate(pool: &PgPool, names: &Names) -> Result<(), Error> {
    let latest = MIGRATIONS.last().map_or(0, |m| m.version);
    let check = format!(
        "SELECT (SELECT coalesce(max(version), 0) FROM {} WHERE table_name = $1) AS version,
                to_regclass($2) IS NOT NULL AS present",
        names.migrations
    );
    // Fails when `dedup_migrations` does not exist yet: then the slow path creates it.
    if let Ok(row) = sqlx::query(AssertSqlSafe(check))
        .bind(&names.table)
        .bind(&names.qualified)
        .fetch_one(pool)
        .await
    {
        let version: i32 = row.try_get("version").map_err(db)?;
        let present: bool = row.try_get("present").map_err(db)?;
        if present && version >= latest {
            return Ok(());
        }
    }

    let mut tx = pool.begin().await.map_err(db)?;
    // One migrator at a time per schema: `CREATE SCHEMA/TABLE IF NOT EXISTS` are not safe
    // against each other when two processes start together.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!(
            "dedup.migrate:{}",
            names.schema.as_deref().unwrap_or("")
        ))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    if let Some(schema) = &names.schema {
        sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            quote(schema)
        )))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE TABLE IF NOT EXISTS {} (
            table_name  text        NOT NULL,
            version     integer     NOT NULL,
            description text        NOT NULL,
            applied_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (table_name, version)
        )",
        names.migrations
    )))
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    let present: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(&names.qualified)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
    let applied: i32 = if present {
        sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT coalesce(max(version), 0) FROM {} WHERE table_name = $1",
            names.migrations
        )))
        .bind(&names.table)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?
    } else {
        // The table was dropped by hand: what was recorded about it no longer holds.
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {} WHERE table_name = $1",
            names.migrations
        )))
        .bind(&names.table)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        0
    };
    for migration in MIGRATIONS.iter().filter(|m| m.version > applied) {
        let failed = |source| {
            Error::store(
                STORE,
                SqlError::Migrate {
                    version: migration.version,
                    description: migration.description,
                    table: names.display(),
                    source,
                },
            )
        };
        sqlx::raw_sql(AssertSqlSafe(migration.render(&[
            ("{table}", &names.qualified),
            ("{index}", &names.index),
            ("{claim}", &names.claim),
        ])))
        .execute(&mut *tx)
        .await
        .map_err(failed)?;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {} (table_name, version, description) VALUES ($1, $2, $3)",
            names.migrations
        )))
        .bind(&names.table)
        .bind(migration.version)
        .bind(migration.description)
        .execute(&mut *tx)
        .await
        .map_err(failed)?;
    }
    tx.commit().await.map_err(db)
}

/// Where the builder gets its connections.
#[derive(Clone)]
enum Source {
    Url(String),
    Options(Box<PgConnectOptions>),
    Pool(PgPool),
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print a URL or options: they may hold a password.
        match self {
            Source::Url(_) => f.write_str("Url(..)"),
            Source::Options(_) => f.write_str("Options(..)"),
            Source::Pool(pool) => f.debug_tuple("Pool").field(pool).finish(),
        }
    }
}

/// Options for a [`PostgresStore`]: where it connects, its table, its purge.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `connect` is awaited"]
pub struct PostgresStoreBuilder {
    source: Option<Source>,
    max_connections: u32,
    acquire_timeout: Duration,
    table: String,
    schema: Option<String>,
    purge_every: Option<Duration>,
    purge_batch: u32,
    migrate: bool,
}

impl PostgresStoreBuilder {
    /// Connect to `url` (`postgres://user:password@host:port/database?...`).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.source = Some(Source::Url(url.into()));
        self
    }

    /// Connect with these options.
    pub fn connect_options(mut self, options: PgConnectOptions) -> Self {
        self.source = Some(Source::Options(Box::new(options)));
        self
    }

    /// Use an existing pool (the application's own): `max_connections` and `acquire_timeout`
    /// then do not apply.
    pub fn pool(mut self, pool: PgPool) -> Self {
        self.source = Some(Source::Pool(pool));
        self
    }

    /// The most connections the store's own pool opens (default 10).
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// How long an operation waits for a connection, and `connect` for the database to answer,
    /// before failing with [`Error::Store`] (default 10 s).
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// The records table (default `dedup_records`): 1 to 48 characters among `a-z`, `0-9` and
    /// `_`, not starting with a digit. Anything else fails `connect` with [`Error::Config`].
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// The schema of the table (created if missing); by default the connection's `search_path`
    /// decides. Same rules as the table name.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// How often the background [`PurgeTask`] deletes expired records (default every minute);
    /// `None` starts no task (call [`Store::purge_expired`] yourself, or not at all: expired
    /// records are ignored either way).
    pub fn purge_every(mut self, every: impl Into<Option<Duration>>) -> Self {
        self.purge_every = every.into().filter(|every| !every.is_zero());
        self
    }

    /// How many rows one purge statement deletes at most (default 1,000).
    pub fn purge_batch(mut self, rows: u32) -> Self {
        self.purge_batch = rows.max(1);
        self
    }

    /// Whether `connect` creates or upgrades the table (default `true`). Turn it off when the
    /// schema is managed elsewhere: the store then expects the table and the claim function of
    /// the latest migration.
    pub fn migrate(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }

    /// Connects, runs the migrations, and starts the purge task.
    ///
    /// Fails with [`Error::Config`] for a bad table or schema name or URL, and with
    /// [`Error::Store`] when the database cannot be reached within the acquire timeout.
    pub async fn connect(self) -> Result<PostgresStore, Error> {
        let table = ident(STORE, "table", &self.table)?;
        let schema = self
            .schema
            .as_deref()
            .map(|schema| ident(STORE, "schema", schema))
            .transpose()?;
        let pool = match self.source {
            None => {
                return Err(Error::config(
                    STORE,
                    "no database given: call `url`, `connect_options` or `pool`",
                ));
            }
            Some(Source::Pool(pool)) => pool,
            Some(Source::Url(url)) => {
                let options = PgConnectOptions::from_str(&url).map_err(|err| {
                    Error::config(STORE, format!("invalid PostgreSQL URL: {err}"))
                })?;
                open_pool(options, self.max_connections, self.acquire_timeout).await?
            }
            Some(Source::Options(options)) => {
                open_pool(*options, self.max_connections, self.acquire_timeout).await?
            }
        };
        let names = Names::new(schema, table);
        if self.migrate {
            migrate(&pool, &names).await?;
        }
        let inner = Arc::new(Inner {
            pool,
            sql: Statements::new(&names.qualified, &names.claim),
            table: names.display(),
            purge_batch: i64::from(self.purge_batch),
            purge_task: OnceLock::new(),
        });
        if let Some(every) = self.purge_every {
            let task = PurgeTask::spawn(Arc::downgrade(&inner), every);
            // The cell was created empty just above.
            let _ = inner.purge_task.set(task);
        }
        Ok(PostgresStore { inner })
    }
}

async fn open_pool(
    options: PgConnectOptions,
    max_connections: u32,
    acquire_timeout: Duration,
) -> Result<PgPool, Error> {
    let target = format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("")
    );
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
        .connect_with(options)
        .await
        .map_err(|source| Error::store(STORE, SqlError::Connect { target, source }))
}

/// The state shared by the clones of one store.
struct Inner {
    pool: PgPool,
    sql: Statements,
    table: String,
    purge_batch: i64,
    purge_task: OnceLock<PurgeTask>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.purge_task.get() {
            task.stop();
        }
    }
}

impl Inner {
    async fn purge_expired(&self) -> Result<u64, Error> {
        let mut purged = 0;
        loop {
            let deleted = sqlx::query(AssertSqlSafe(self.sql.purge.clone()))
                .bind(self.purge_batch)
                .execute(&self.pool)
                .await
                .map_err(db)?
                .rows_affected();
            purged += deleted;
            if deleted < self.purge_batch.unsigned_abs() {
                return Ok(purged);
            }
        }
    }
}

impl Purge for Inner {
    fn store_name(&self) -> &'static str {
        STORE
    }

    async fn purge(self: Arc<Self>) -> Result<u64, Error> {
        self.purge_expired().await
    }
}

/// The deduplication store on PostgreSQL: one table shared by every instance of a consumer.
///
/// ```no_run
/// use dedup_runtime::idempotency::Idempotency;
/// use dedup_runtime::store::PostgresStore;
///
/// # async fn demo() -> Result<(), dedup_runtime::Error> {
/// let store = PostgresStore::connect("postgres://app@db/app").await?;
/// let charges = Idempotency::new(store, "billing.charge");
/// # Ok(()) }
/// ```
///
/// To record the result in the same transaction as the handler's own writes, use the
/// [inbox](PostgresStore::inbox). Only the asynchronous [`Store`] API is offered: a synchronous
/// handler on this store is a compile error.
///
/// # The table
///
/// `dedup_records` unless configured ([`table`](PostgresStoreBuilder::table),
/// [`schema`](PostgresStoreBuilder::schema)), created on first connect by embedded, versioned
/// migrations recorded in `dedup_migrations` beside it, with its claim function `<table>_claim`
/// (see below); connecting again changes nothing. The SQL is in the crate's
/// `src/store/sql/migrations/postgres/`.
///
/// | column | meaning |
/// |---|---|
/// | `scope`, `fingerprint` | the primary key: the consumer's scope, the message's 32-byte fingerprint |
/// | `correlation` | the correlation id of the delivery that made the record (audit) |
/// | `payload` | that delivery's payload fingerprint, when it gave one |
/// | `status` | `in_progress` or `completed` |
/// | `owner` | the claim's [`OwnerToken`] as 32 hex characters, while in progress |
/// | `result` | the encoded result, once completed |
/// | `created_at` | when the claim (or the `store`) was made |
/// | `expires_at` | the end of the lease while in progress, of the ttl once completed (indexed) |
///
/// A row this version did not write (an unknown status, an owner that is not a token...) is an
/// [`Error::CorruptRecord`] when read, never a panic.
///
/// # Claims: one round trip, race-free
///
/// A claim is one statement, `(<read the live record>) UNION ALL (<call the claim function>)
/// LIMIT 1`. Its first branch reads the record if it is live (before `expires_at` on the
/// database's clock: `clock_timestamp()`, never `now()`, which is the start of the caller's
/// transaction); when it finds one, the `LIMIT` ends the statement there. Only when there is
/// none does the second branch call the table's claim function (`<table>_claim`, created by the
/// migrations), which decides:
///
/// 1. `INSERT ... ON CONFLICT (scope, fingerprint) DO UPDATE ... WHERE <the existing row
///    expired>` inserts a fresh claim or takes over an expired row. PostgreSQL decides the
///    conflict on the newest committed row (waiting for a concurrent inserter to commit or roll
///    back), under a row lock, so of any number of concurrent claims exactly one gets a row:
///    `acquired`;
/// 2. when the `DO UPDATE` declines, a concurrent delivery made a live record after the
///    statement's snapshot: the function reads it again (each statement of a volatile function
///    takes a fresh snapshot in `READ COMMITTED`) and returns it, or tries again if it is gone.
///
/// So a duplicate, the hot path of a redelivery storm, costs one index read: no row lock, no
/// transaction id, no WAL flush. A first delivery costs the read and the insert, in the same
/// round trip. Only the function's `INSERT` ever acquires, and it never takes over a live
/// record, so no interleaving lets two claims in (and none depends on the order in which the
/// branches run: a function that found the record live would only return it).
///
/// [`complete`](Store::complete) and [`release`](Store::release) are one owner-fenced statement
/// each: the completion is an upsert that only touches an absent row, this claim's row (even
/// past its lease) or an expired one.
///
/// # Purge
///
/// Expired records read as absent everywhere. A background [`PurgeTask`] deletes them every
/// minute ([`purge_every`](PostgresStoreBuilder::purge_every)), in batches of 1,000 rows
/// (`DELETE ... WHERE ctid = ANY(ARRAY(SELECT ctid ... LIMIT n FOR UPDATE SKIP LOCKED))`, so the
/// table is never locked for long and an open inbox transaction is skipped, not waited for);
/// [`Store::purge_expired`] does the same on demand and returns the count.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("table", &self.inner.table)
            .field("pool_size", &self.inner.pool.size())
            .field("purge_task", &self.inner.purge_task.get())
            .finish()
    }
}

impl PostgresStore {
    /// Connects to `url` with the default options (see [`builder`](PostgresStore::builder)).
    pub async fn connect(url: &str) -> Result<Self, Error> {
        PostgresStore::builder().url(url).connect().await
    }

    /// Options: pool or URL, table, schema, purge.
    pub fn builder() -> PostgresStoreBuilder {
        PostgresStoreBuilder {
            source: None,
            max_connections: 10,
            acquire_timeout: Duration::from_secs(10),
            table: DEFAULT_TABLE.to_owned(),
            schema: None,
            purge_every: Some(DEFAULT_PURGE_EVERY),
            purge_batch: DEFAULT_PURGE_BATCH,
            migrate: true,
        }
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// The table, as `schema.table` when a schema was configured.
    pub fn table(&self) -> &str {
        &self.inner.table
    }

    /// The background purge task, when one was started.
    pub fn purge_task(&self) -> Option<&PurgeTask> {
        self.inner.purge_task.get()
    }

    pub(super) fn statements(&self) -> &Statements {
        &self.inner.sql
    }
}

/// A token as the `owner` column holds it (32 lowercase hex characters, as its `Display`), on
/// the stack: binding it costs no allocation.
struct OwnerText([u8; 32]);

impl OwnerText {
    fn new(owner: OwnerToken) -> Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let bits = owner.as_u128();
        let mut text = [0u8; 32];
        for (i, digit) in text.iter_mut().enumerate() {
            *digit = DIGITS[((bits >> (124 - 4 * i)) & 0xf) as usize];
        }
        OwnerText(text)
    }

    fn as_str(&self) -> &str {
        // Hex digits only: always UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// The claim statement (see `PostgresStore`'s docs).
pub(super) async fn claim_on<'c, E>(
    sql: &Statements,
    executor: E,
    key: Key<'_>,
    request: &ClaimRequest<'_>,
) -> Result<ClaimOutcome, Error>
where
    E: Executor<'c, Database = Postgres>,
{
    let owner = OwnerText::new(request.owner);
    let row = sqlx::query(AssertSqlSafe(sql.claim.clone()))
        .bind(key.scope)
        .bind(key.fingerprint.as_bytes().as_slice())
        .bind(request.correlation)
        .bind(request.payload.as_ref().map(|p| p.as_bytes().as_slice()))
        .bind(owner.as_str())
        .bind(seconds(request.lease))
        .fetch_optional(executor)
        .await
        .map_err(db)?;
    // One row: the live record's or the function's. Never none: the function returns a row or
    // raises.
    let Some(row) = row else {
        return Err(Error::store(
            STORE,
            SqlError::ClaimRace {
                key: key.to_string(),
                attempts: CLAIM_ATTEMPTS,
            },
        ));
    };
    let acquired: bool = row
        .try_get("acquired")
        .map_err(|e| read_error(STORE, key, e))?;
    if acquired {
        Ok(ClaimOutcome::Acquired)
    } else {
        record_from_row(&row, key).map(ClaimOutcome::Existing)
    }
}

/// The owner-fenced completion: `false` when the claim was lost.
pub(super) async fn complete_on<'c, E>(
    sql: &Statements,
    executor: E,
    key: Key<'_>,
    owner: OwnerToken,
    value: &[u8],
    ttl: Duration,
) -> Result<bool, Error>
where
    E: Executor<'c, Database = Postgres>,
{
    let owner = OwnerText::new(owner);
    let done = sqlx::query(AssertSqlSafe(sql.complete.clone()))
        .bind(key.scope)
        .bind(key.fingerprint.as_bytes().as_slice())
        .bind(owner.as_str())
        .bind(value)
        .bind(seconds(ttl))
        .execute(executor)
        .await
        .map_err(db)?;
    Ok(done.rows_affected() > 0)
}

/// The owner-fenced release.
pub(super) async fn release_on<'c, E>(
    sql: &Statements,
    executor: E,
    key: Key<'_>,
    owner: OwnerToken,
) -> Result<bool, Error>
where
    E: Executor<'c, Database = Postgres>,
{
    let owner = OwnerText::new(owner);
    let done = sqlx::query(AssertSqlSafe(sql.release.clone()))
        .bind(key.scope)
        .bind(key.fingerprint.as_bytes().as_slice())
        .bind(owner.as_str())
        .execute(executor)
        .await
        .map_err(db)?;
    Ok(done.rows_affected() > 0)
}

fn record_from_row(row: &PgRow, key: Key<'_>) -> Result<Record, Error> {
    let read = |e| read_error(STORE, key, e);
    RawRecord {
        status: row.try_get("status").map_err(read)?,
        owner: row.try_get("owner").map_err(read)?,
        result: row.try_get("result").map_err(read)?,
        correlation: row.try_get("correlation").map_err(read)?,
        payload: row.try_get("payload").map_err(read)?,
        ms_left: row.try_get("ms_left").map_err(read)?,
    }
    .decode(STORE, key)
}

pub(super) fn lease_lost(key: Key<'_>) -> Error {
    Error::LeaseLost {
        scope: key.scope.to_owned(),
        fingerprint: key.fingerprint,
    }
}

impl Store for PostgresStore {
    fn name(&self) -> &'static str {
        STORE
    }

    async fn claim(&self, key: Key<'_>, request: &ClaimRequest<'_>) -> Result<ClaimOutcome, Error> {
        claim_on(&self.inner.sql, &self.inner.pool, key, request).await
    }

    async fn complete(
        &self,
        key: Key<'_>,
        owner: OwnerToken,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), Error> {
        if complete_on(&self.inner.sql, &self.inner.pool, key, owner, value, ttl).await? {
            Ok(())
        } else {
            Err(lease_lost(key))
        }
    }

    async fn release(&self, key: Key<'_>, owner: OwnerToken) -> Result<bool, Error> {
        release_on(&self.inner.sql, &self.inner.pool, key, owner).await
    }

    async fn store(&self, key: Key<'_>, value: &[u8], expire: Duration) -> Result<(), Error> {
        sqlx::query(AssertSqlSafe(self.inner.sql.store.clone()))
            .bind(key.scope)
            .bind(key.fingerprint.as_bytes().as_slice())
            .bind(value)
            .bind(seconds(expire))
            .execute(&self.inner.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn get(&self, key: Key<'_>) -> Result<Option<Record>, Error> {
        let row = sqlx::query(AssertSqlSafe(self.inner.sql.get.clone()))
            .bind(key.scope)
            .bind(key.fingerprint.as_bytes().as_slice())
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(db)?;
        row.map(|row| record_from_row(&row, key)).transpose()
    }

    async fn contains(&self, key: Key<'_>) -> Result<bool, Error> {
        sqlx::query_scalar(AssertSqlSafe(self.inner.sql.contains.clone()))
            .bind(key.scope)
            .bind(key.fingerprint.as_bytes().as_slice())
            .fetch_one(&self.inner.pool)
            .await
            .map_err(db)
    }

    async fn purge_expired(&self) -> Result<u64, Error> {
        self.inner.purge_expired().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_text_is_the_token_display() {
        for bits in [
            0,
            1,
            0xf,
            u128::MAX,
            0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
        ] {
            let owner = OwnerToken::from_u128(bits);
            assert_eq!(OwnerText::new(owner).as_str(), owner.to_string());
        }
        let owner = OwnerToken::random();
        assert_eq!(OwnerText::new(owner).as_str(), owner.to_string());
    }
}
