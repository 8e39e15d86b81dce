//! [`SqliteStore`]: the embedded durable store (feature `sqlite`). The design is documented on
//! the type.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row};

use super::{
    CLAIM_ATTEMPTS, DEFAULT_PURGE_BATCH, DEFAULT_PURGE_EVERY, DEFAULT_TABLE, MIGRATIONS_TABLE,
    Migration, Purge, PurgeTask, RawRecord, SqlError, ident, millis, quote, read_error,
};
use crate::Error;
use crate::store::{ClaimOutcome, ClaimRequest, Key, OwnerToken, Record, Store};

const STORE: &str = "sqlite";

/// SQLite's clock in milliseconds since the epoch; constant within one statement.
const NOW: &str = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";

/// The embedded migrations, in order. Never edit one that shipped: add the next.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "create the records table",
    sql: include_str!("migrations/sqlite/0001_create_records.sql"),
}];

#[derive(Debug)]
struct Statements {
    probe: Arc<str>,
    claim: Arc<str>,
    complete: Arc<str>,
    release: Arc<str>,
    store: Arc<str>,
    contains: Arc<str>,
    purge: Arc<str>,
}

impl Statements {
    /// `t` is the quoted table; `durable` wraps completions in `synchronous = FULL` (on a
    /// writer whose default is `NORMAL`).
    fn new(t: &str, durable: bool) -> Self {
        let synced = |dml: String| {
            if durable {
                format!("PRAGMA synchronous = FULL; {dml}; PRAGMA synchronous = NORMAL")
            } else {
                dml
            }
        };
        let probe = format!(
            "SELECT status, owner, result, correlation, payload, max(0, expires_at - {NOW}) AS ms_left
            FROM {t}
            WHERE scope = ?1 AND fingerprint = ?2 AND expires_at > {NOW}"
        );
        // See the module docs: the only statement that acquires.
        let claim = format!(
            "INSERT INTO {t}
                (scope, fingerprint, correlation, payload, status, owner, result, created_at, expires_at)
            VALUES (?1, ?2, ?3, ?4, 'in_progress', ?5, NULL, {NOW}, {NOW} + ?6)
            ON CONFLICT (scope, fingerprint) DO UPDATE
            SET correlation = excluded.correlation, payload = excluded.payload,
                status = excluded.status, owner = excluded.owner, result = NULL,
                created_at = excluded.created_at, expires_at = excluded.expires_at
            WHERE {t}.expires_at <= {NOW}"
        );
        // Absent, ours (even past the lease) or expired: completed; otherwise nothing changes
        // and the caller reports `LeaseLost`. The right-hand sides all read the old row.
        let complete = format!(
            "INSERT INTO {t} (scope, fingerprint, status, result, created_at, expires_at)
            VALUES (?1, ?2, 'completed', ?4, {NOW}, {NOW} + ?5)
            ON CONFLICT (scope, fingerprint) DO UPDATE
            SET status = 'completed', owner = NULL, result = excluded.result,
                expires_at = excluded.expires_at,
                correlation = CASE WHEN {t}.status = 'in_progress' AND {t}.owner = ?3
                                   THEN {t}.correlation END,
                payload = CASE WHEN {t}.status = 'in_progress' AND {t}.owner = ?3
                               THEN {t}.payload END,
                created_at = CASE WHEN {t}.status = 'in_progress' AND {t}.owner = ?3
                                  THEN {t}.created_at ELSE excluded.created_at END
            WHERE ({t}.status = 'in_progress' AND {t}.owner = ?3) OR {t}.expires_at <= {NOW}
            RETURNING 1"
        );
        let release = format!(
            "DELETE FROM {t}
            WHERE scope = ?1 AND fingerprint = ?2 AND status = 'in_progress' AND owner = ?3"
        );
        let store = format!(
            "INSERT INTO {t} (scope, fingerprint, status, result, created_at, expires_at)
            VALUES (?1, ?2, 'completed', ?3, {NOW}, {NOW} + ?4)
            ON CONFLICT (scope, fingerprint) DO UPDATE
            SET correlation = NULL, payload = NULL, status = 'completed', owner = NULL,
                result = excluded.result, created_at = excluded.created_at,
                expires_at = excluded.expires_at
            RETURNING 1"
        );
        let contains = format!(
            "SELECT EXISTS (
                SELECT 1 FROM {t} WHERE scope = ?1 AND fingerprint = ?2 AND expires_at > {NOW}
            )"
        );
        // One batch of at most ?1 rows, through the expiry index: the write lock is held briefly.
        let purge = format!(
            "DELETE FROM {t} WHERE rowid IN (
                SELECT rowid FROM {t} WHERE expires_at <= {NOW} LIMIT ?1
            )"
        );
        Statements {
            probe: probe.into(),
            claim: claim.into(),
            complete: synced(complete).into(),
            release: release.into(),
            store: synced(store).into(),
            contains: contains.into(),
            purge: purge.into(),
        }
    }
}

fn db(err: sqlx::Error) -> Error {
    Error::store(STORE, err)
}

/// Brings the table up to the latest migration; a no-op (one read, no DDL) when it is.
async fn migrate(pool: &SqlitePool, table: &str) -> Result<(), Error> {
    let latest = MIGRATIONS.last().map_or(0, |m| m.version);
    let migrations = quote(MIGRATIONS_TABLE);
    let quoted = quote(table);
    let index = quote(&format!("{table}_expires_at_idx"));
    let check = format!(
        "SELECT (SELECT coalesce(max(version), 0) FROM {migrations} WHERE table_name = ?1) AS version,
                EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1) AS present"
    );
    // Fails when `dedup_migrations` does not exist yet: then the slow path creates it.
    if let Ok(row) = sqlx::query(AssertSqlSafe(check))
        .bind(table)
        .fetch_one(pool)
        .await
    {
        let version: i64 = row.try_get("version").map_err(db)?;
        let present: bool = row.try_get("present").map_err(db)?;
        if present && version >= i64::from(latest) {
            return Ok(());
        }
    }

    // `BEGIN IMMEDIATE` takes the write lock first: two processes migrating at once queue on
    // the busy timeout instead of failing on a stale read.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE TABLE IF NOT EXISTS {migrations} (
            table_name  TEXT    NOT NULL,
            version     INTEGER NOT NULL,
            description TEXT    NOT NULL,
            applied_at  INTEGER NOT NULL,
            PRIMARY KEY (table_name, version)
        ) STRICT"
    )))
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    let present: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1)",
    )
    .bind(table)
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?;
    let applied: i64 = if present {
        sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT coalesce(max(version), 0) FROM {migrations} WHERE table_name = ?1"
        )))
        .bind(table)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?
    } else {
        // The table was dropped by hand: what was recorded about it no longer holds.
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {migrations} WHERE table_name = ?1"
        )))
        .bind(table)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        0
    };
    for migration in MIGRATIONS.iter().filter(|m| i64::from(m.version) > applied) {
        let failed = |source| {
            Error::store(
                STORE,
                SqlError::Migrate {
                    version: migration.version,
                    description: migration.description,
                    table: table.to_owned(),
                    source,
                },
            )
        };
        sqlx::raw_sql(AssertSqlSafe(
            migration.render(&[("{table}", &quoted), ("{index}", &index)]),
        ))
        .execute(&mut *tx)
        .await
        .map_err(failed)?;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {migrations} (table_name, version, description, applied_at)
            VALUES (?1, ?2, ?3, {NOW})"
        )))
        .bind(table)
        .bind(migration.version)
        .bind(migration.description)
        .execute(&mut *tx)
        .await
        .map_err(failed)?;
    }
    tx.commit().await.map_err(db)
}

#[derive(Clone)]
enum Source {
    Path(PathBuf),
    Options(Box<SqliteConnectOptions>),
    Pool(SqlitePool),
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Path(path) => f.debug_tuple("Path").field(path).finish(),
            Source::Options(_) => f.write_str("Options(..)"),
            Source::Pool(pool) => f.debug_tuple("Pool").field(pool).finish(),
        }
    }
}

/// Options for a [`SqliteStore`]: its file (or pool), table and purge.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `open` is awaited"]
pub struct SqliteStoreBuilder {
    source: Option<Source>,
    readers: u32,
    table: String,
    purge_every: Option<Duration>,
    purge_batch: u32,
    migrate: bool,
}

impl SqliteStoreBuilder {
    /// The database file, created if missing, opened in WAL mode; completions are synced to
    /// disk (see the type's docs). `":memory:"` opens a private in-memory database (one
    /// connection, gone with the store: for tests).
    pub fn path(mut self, path: impl AsRef<Path>) -> Self {
        self.source = Some(Source::Path(path.as_ref().to_owned()));
        self
    }

    /// Open with these options, used as given (set the journal mode and durability yourself).
    pub fn connect_options(mut self, options: SqliteConnectOptions) -> Self {
        self.source = Some(Source::Options(Box::new(options)));
        self
    }

    /// Use an existing pool for both reads and writes (the application's own). Give it a
    /// single connection, or a busy timeout, if it writes from several.
    pub fn pool(mut self, pool: SqlitePool) -> Self {
        self.source = Some(Source::Pool(pool));
        self
    }

    /// How many connections serve reads (default 4); writes always use one.
    pub fn readers(mut self, readers: u32) -> Self {
        self.readers = readers.max(1);
        self
    }

    /// The records table (default `dedup_records`): 1 to 48 characters among `a-z`, `0-9` and
    /// `_`, not starting with a digit. Anything else fails `open` with [`Error::Config`].
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// How often the background [`PurgeTask`] deletes expired records (default every minute);
    /// `None` starts no task.
    pub fn purge_every(mut self, every: impl Into<Option<Duration>>) -> Self {
        self.purge_every = every.into().filter(|every| !every.is_zero());
        self
    }

    /// How many rows one purge statement deletes at most (default 1,000).
    pub fn purge_batch(mut self, rows: u32) -> Self {
        self.purge_batch = rows.max(1);
        self
    }

    /// Whether `open` creates or upgrades the table (default `true`).
    pub fn migrate(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }

    /// Opens the database, runs the migrations, and starts the purge task.
    ///
    /// Fails with [`Error::Config`] for a bad table name and [`Error::Store`] when the file
    /// cannot be opened.
    pub async fn open(self) -> Result<SqliteStore, Error> {
        let table = ident(STORE, "table", &self.table)?;
        // Only a writer this store configured runs at `NORMAL` and syncs its completions.
        let durable = matches!(&self.source, Some(Source::Path(path)) if !is_memory(path));
        let (write, read) = match self.source {
            None => {
                return Err(Error::config(
                    STORE,
                    "no database given: call `path`, `connect_options` or `pool`",
                ));
            }
            Some(Source::Pool(pool)) => (pool.clone(), pool),
            Some(Source::Path(path)) if is_memory(&path) => {
                // One connection that never closes: each connection to `:memory:` would be a
                // database of its own.
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(SqliteConnectOptions::new().in_memory(true))
                    .await
                    .map_err(|source| {
                        Error::store(
                            STORE,
                            SqlError::Connect {
                                target: ":memory:".to_owned(),
                                source,
                            },
                        )
                    })?;
                (pool.clone(), pool)
            }
            Some(Source::Path(path)) => {
                let options = SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5));
                open_pools(options, self.readers, &path.display().to_string()).await?
            }
            Some(Source::Options(options)) => {
                let target = options.get_filename().display().to_string();
                open_pools(*options, self.readers, &target).await?
            }
        };
        if self.migrate {
            migrate(&write, &table).await?;
        }
        let inner = Arc::new(Inner {
            write,
            read,
            sql: Statements::new(&quote(&table), durable),
            table,
            purge_batch: i64::from(self.purge_batch),
            purge_task: OnceLock::new(),
        });
        if let Some(every) = self.purge_every {
            let task = PurgeTask::spawn(Arc::downgrade(&inner), every);
            // The cell was created empty just above.
            let _ = inner.purge_task.set(task);
        }
        Ok(SqliteStore { inner })
    }
}

/// `true` for SQLite's name of an in-memory database.
fn is_memory(path: &Path) -> bool {
    path.as_os_str() == ":memory:"
}

/// The writer (one connection) and the readers.
async fn open_pools(
    options: SqliteConnectOptions,
    readers: u32,
    target: &str,
) -> Result<(SqlitePool, SqlitePool), Error> {
    let connect_error = |source| {
        Error::store(
            STORE,
            SqlError::Connect {
                target: target.to_owned(),
                source,
            },
        )
    };
    // The writer first: it creates the file and switches it to WAL before any reader opens it.
    let write = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone())
        .await
        .map_err(connect_error)?;
    let read = SqlitePoolOptions::new()
        .max_connections(readers)
        .connect_with(options)
        .await
        .map_err(connect_error)?;
    Ok((write, read))
}

struct Inner {
    write: SqlitePool,
    read: SqlitePool,
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
                .execute(&self.write)
                .await
                .map_err(db)?
                .rows_affected();
            purged += deleted;
            if deleted < self.purge_batch.unsigned_abs() {
                return Ok(purged);
            }
        }
    }

    async fn read_live(&self, key: Key<'_>) -> Result<Option<Record>, Error> {
        let row = sqlx::query(AssertSqlSafe(self.sql.probe.clone()))
            .bind(key.scope)
            .bind(key.fingerprint.as_bytes().as_slice())
            .fetch_optional(&self.read)
            .await
            .map_err(db)?;
        row.map(|row| record_from_row(&row, key)).transpose()
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

fn record_from_row(row: &SqliteRow, key: Key<'_>) -> Result<Record, Error> {
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

/// The embedded durable store on SQLite: one file, for a consumer that runs as one process and
/// must remember what it processed across restarts.
///
/// ```no_run
/// use dedup_runtime::idempotency::Idempotency;
/// use dedup_runtime::store::SqliteStore;
///
/// # async fn demo() -> Result<(), dedup_runtime::Error> {
/// let store = SqliteStore::open("/var/lib/billing/dedup.db").await?;
/// let charges = Idempotency::new(store, "billing.charge");
/// # Ok(()) }
/// ```
///
/// What was completed survives a restart of the process, and a power cut. Several processes
/// may open the same file, but the store is meant for one: for consumers on several machines
/// use `PostgresStore`. Only the asynchronous [`Store`] API is offered: a synchronous handler
/// on this store is a compile error.
///
/// The table (`dedup_records` unless [configured](SqliteStoreBuilder::table)) has the columns
/// of `PostgresStore`'s, times in milliseconds since the epoch; it is created on first open by
/// embedded, versioned migrations recorded in `dedup_migrations`, and opening again changes
/// nothing. A row this version did not write is an [`Error::CorruptRecord`] when read. Expired
/// records read as absent; a background [`PurgeTask`] deletes them every minute in batches, and
/// [`Store::purge_expired`] on demand.
///
/// # Connections
///
/// The file is opened in WAL mode with a 5 s busy timeout. Completions (and
/// [`store`](Store::store)) are synced to disk before they return (`synchronous = FULL` for
/// their commit): a completed record survives a power cut, not only a crash of the process.
/// Claims and releases are written with `synchronous = NORMAL` (WAL appended, not synced): a
/// claim lost in a power cut died with the process that held it, and only lets the redelivery
/// run the body without waiting out the lease, which it must do anyway. The next completion's
/// sync makes every earlier write durable too. This halves the disk syncs of a first delivery.
/// (With [`connect_options`](SqliteStoreBuilder::connect_options) or
/// [`pool`](SqliteStoreBuilder::pool), your settings apply as given.)
///
/// Writes go through **one** connection: SQLite admits one writer at a time anyway, and a
/// single writer connection queues them in the pool instead of making them collide and back off
/// in SQLite's busy handler. Reads use a small pool of their own (WAL readers never block the
/// writer nor each other).
///
/// # Claims
///
/// SQLite has no network round trip to save, and cannot return the row an
/// `INSERT ... ON CONFLICT DO UPDATE ... WHERE` declined to update. A claim therefore
///
/// 1. reads the live record on a reader (a duplicate is answered here, without ever taking the
///    write lock), and when there is none
/// 2. runs one `INSERT ... ON CONFLICT (scope, fingerprint) DO UPDATE ... WHERE <the existing
///    row expired>`: it inserts a fresh claim or takes over an expired row, atomically, under
///    SQLite's write lock. One row changed: acquired.
///
/// If the `INSERT` changed nothing, a concurrent delivery made a live record between 1 and 2:
/// the claim reads again. Only the `INSERT` ever acquires, so the re-read cannot let two claims
/// in. Expiry is judged by SQLite's clock (`unixepoch('subsec')`, in milliseconds).
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("table", &self.inner.table)
            .field("purge_task", &self.inner.purge_task.get())
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (or creates) the database at `path` with the default options.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        SqliteStore::builder().path(path).open().await
    }

    /// Options: file, options or pool, table, purge.
    pub fn builder() -> SqliteStoreBuilder {
        SqliteStoreBuilder {
            source: None,
            readers: 4,
            table: DEFAULT_TABLE.to_owned(),
            purge_every: Some(DEFAULT_PURGE_EVERY),
            purge_batch: DEFAULT_PURGE_BATCH,
            migrate: true,
        }
    }

    /// The pool that writes (a single connection unless the store was given a pool).
    pub fn pool(&self) -> &SqlitePool {
        &self.inner.write
    }

    /// The table.
    pub fn table(&self) -> &str {
        &self.inner.table
    }

    /// The background purge task, when one was started.
    pub fn purge_task(&self) -> Option<&PurgeTask> {
        self.inner.purge_task.get()
    }
}

impl Store for SqliteStore {
    fn name(&self) -> &'static str {
        STORE
    }

    async fn claim(&self, key: Key<'_>, request: &ClaimRequest<'_>) -> Result<ClaimOutcome, Error> {
        let owner = request.owner.to_string();
        for _ in 0..CLAIM_ATTEMPTS {
            if let Some(record) = self.inner.read_live(key).await? {
                return Ok(ClaimOutcome::Existing(record));
            }
            let changed = sqlx::query(AssertSqlSafe(self.inner.sql.claim.clone()))
                .bind(key.scope)
                .bind(key.fingerprint.as_bytes().as_slice())
                .bind(request.correlation)
                .bind(request.payload.as_ref().map(|p| p.as_bytes().as_slice()))
                .bind(&owner)
                .bind(millis(request.lease))
                .execute(&self.inner.write)
                .await
                .map_err(db)?
                .rows_affected();
            if changed > 0 {
                return Ok(ClaimOutcome::Acquired);
            }
        }
        Err(Error::store(
            STORE,
            SqlError::ClaimRace {
                key: key.to_string(),
                attempts: CLAIM_ATTEMPTS,
            },
        ))
    }

    async fn complete(
        &self,
        key: Key<'_>,
        owner: OwnerToken,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), Error> {
        // `fetch_all`, not `rows_affected`: the statement may be wrapped in `PRAGMA`s, and SQLite
        // reports a `PRAGMA`'s change count as that of the statement before it.
        let changed = sqlx::query(AssertSqlSafe(self.inner.sql.complete.clone()))
            .bind(key.scope)
            .bind(key.fingerprint.as_bytes().as_slice())
            .bind(owner.to_string())
            .bind(value)
            .bind(millis(ttl))
            .fetch_all(&self.inner.write)
            .await
            .map_err(db)?;
        if !changed.is_empty() {
            Ok(())
        } else {
            Err(Error::LeaseLost {
                scope: key.scope.to_owned(),
                fingerprint: key.fingerprint,
            })
        }
    }

    async fn release(&self, key: Key<'_>, owner: OwnerToken) -> Result<bool, Error> {
        let changed = sqlx::query(AssertSqlSafe(self.inner.sql.release.clone()))
            .bind(key.scope)
            .bind(key.fingerprint.as_bytes().as_slice())
            .bind(owner.to_string())
            .execute(&self.inner.write)
            .await
            .map_err(db)?
            .rows_affected();
        Ok(changed > 0)
    }

    async fn store(&self, key: Key<'_>, value: &[u8], expire: Duration) -> Result<(), Error> {
        sqlx::query(AssertSqlSafe(self.inner.sql.store.clone()))
            .bind(key.scope)
            .bind(key.fingerprint.as_bytes().as_slice())
            .bind(value)
            .bind(millis(expire))
            .fetch_all(&self.inner.write)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn get(&self, key: Key<'_>) -> Result<Option<Record>, Error> {
        self.inner.read_live(key).await
    }

    async fn contains(&self, key: Key<'_>) -> Result<bool, Error> {
        sqlx::query_scalar(AssertSqlSafe(self.inner.sql.contains.clone()))
            .bind(key.scope)
            .bind(key.fingerprint.as_bytes().as_slice())
            .fetch_one(&self.inner.read)
            .await
            .map_err(db)
    }

    async fn purge_expired(&self) -> Result<u64, Error> {
        self.inner.purge_expired().await
    }
}
