//! The SQL stores: `PostgresStore` (feature `postgres`, with the transactional inbox) and
//! `SqliteStore` (feature `sqlite`); their design is documented on the types.
//!
//! What they share lives here: identifier validation (table and schema names are the only text
//! ever spliced into SQL, and only after [`ident`] accepted them), durations as the database
//! sees them, the decoding of a row into a [`Record`] (a row this version did not write is an
//! [`Error::CorruptRecord`], never a panic), and the background [`PurgeTask`].

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::watch;

use super::{Key, OwnerToken, Record, RecordState};
use crate::{Digest, Error};

#[cfg(feature = "postgres")]
pub(super) mod inbox;
#[cfg(feature = "postgres")]
pub(super) mod postgres;
#[cfg(feature = "sqlite")]
pub(super) mod sqlite;

/// The default table name.
pub(super) const DEFAULT_TABLE: &str = "dedup_records";
/// The table that records which migrations ran, beside the records table.
pub(super) const MIGRATIONS_TABLE: &str = "dedup_migrations";
/// The `status` of a claimed record.
pub(super) const IN_PROGRESS: &str = "in_progress";
/// The `status` of a completed record.
pub(super) const COMPLETED: &str = "completed";
/// How often the background task purges expired records unless configured.
pub(super) const DEFAULT_PURGE_EVERY: Duration = Duration::from_secs(60);
/// How many rows one purge statement deletes at most: small batches keep locks short.
pub(super) const DEFAULT_PURGE_BATCH: u32 = 1_000;
/// How many times a claim re-reads a record that a concurrent delivery changed under it.
pub(super) const CLAIM_ATTEMPTS: u32 = 16;
/// The longest name accepted for a table or schema: derived names (`<table>_expires_at_idx`)
/// must stay within PostgreSQL's 63-byte identifiers.
const MAX_IDENT_LEN: usize = 48;
/// Leases and ttls are capped at 100 years, far from every database's timestamp limits.
const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// Checks a table or schema name: 1 to 48 characters among `a-z`, `0-9` and `_`, not starting
/// with a digit. Names are quoted as well when spliced into SQL; the check keeps them portable
/// and free of case-folding surprises.
pub(super) fn ident(store: &'static str, what: &str, name: &str) -> Result<String, Error> {
    let valid_start = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    let valid_rest = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if name.len() > MAX_IDENT_LEN || !valid_start || !valid_rest {
        let shown: String = name.chars().take(64).collect();
        return Err(Error::config(
            store,
            format!(
                "invalid {what} name {shown:?}: use 1 to {MAX_IDENT_LEN} characters among `a-z`, `0-9` and `_`, not starting with a digit"
            ),
        ));
    }
    Ok(name.to_owned())
}

/// `name` as a quoted SQL identifier. Only ever called on names [`ident`] accepted.
pub(super) fn quote(name: &str) -> String {
    format!("\"{name}\"")
}

/// A duration in seconds, capped (PostgreSQL's `make_interval(secs => ..)`).
#[cfg(feature = "postgres")]
pub(super) fn seconds(duration: Duration) -> f64 {
    duration.min(MAX_DURATION).as_secs_f64()
}

/// A duration in whole milliseconds, capped (SQLite's integer timestamps).
#[cfg(feature = "sqlite")]
pub(super) fn millis(duration: Duration) -> i64 {
    // The cap (about 3.2e12 ms) fits an i64 with room to spare.
    i64::try_from(duration.min(MAX_DURATION).as_millis()).unwrap_or(i64::MAX)
}

/// The store's own failures, carried in [`Error::Store`].
#[derive(Debug, thiserror::Error)]
pub(super) enum SqlError {
    /// The database could not be reached when the store was built.
    #[error("cannot connect to {target}: {source}")]
    Connect {
        /// `host:port/database`, without credentials.
        target: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// A migration failed; the transaction it ran in was rolled back.
    #[error("migration {version} ({description}) of table {table} failed: {source}")]
    Migrate {
        /// The migration's version.
        version: i32,
        /// What it does.
        description: &'static str,
        /// The records table.
        table: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// A claim kept finding a record that changed under it.
    #[error(
        "the claim on {key} raced with concurrent deliveries {attempts} times in a row; try again"
    )]
    ClaimRace {
        /// The record's key.
        key: String,
        /// How many times it tried.
        attempts: u32,
    },
}

/// One embedded migration: placeholders such as `{table}` or `{index}` in `sql` are replaced by
/// the quoted names before it runs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Migration {
    pub(super) version: i32,
    pub(super) description: &'static str,
    pub(super) sql: &'static str,
}

impl Migration {
    /// The SQL with each `{placeholder}` of `names` replaced by its (quoted) name.
    pub(super) fn render(&self, names: &[(&str, &str)]) -> String {
        names
            .iter()
            .fold(self.sql.to_owned(), |sql, (placeholder, name)| {
                sql.replace(placeholder, name)
            })
    }
}

/// The columns of a record row, as read, before validation.
#[derive(Debug, Default)]
pub(super) struct RawRecord {
    pub(super) status: Option<String>,
    pub(super) owner: Option<String>,
    pub(super) result: Option<Vec<u8>>,
    pub(super) correlation: Option<String>,
    pub(super) payload: Option<Vec<u8>>,
    pub(super) ms_left: Option<i64>,
}

impl RawRecord {
    /// The record, or [`Error::CorruptRecord`] when the row does not have the shape this version
    /// writes.
    pub(super) fn decode(self, store: &'static str, key: Key<'_>) -> Result<Record, Error> {
        let corrupt = |reason: String| Error::corrupt(store, key.to_string(), reason);
        let state = match self.status.as_deref() {
            Some(IN_PROGRESS) => {
                let owner = self
                    .owner
                    .ok_or_else(|| corrupt("an in-progress record has no owner".into()))?;
                let owner = owner.parse::<OwnerToken>().map_err(|_| {
                    corrupt(format!(
                        "owner {:?} is not a token (32 hex characters)",
                        shorten(&owner)
                    ))
                })?;
                RecordState::InProgress { owner }
            }
            Some(COMPLETED) => {
                let value = self
                    .result
                    .ok_or_else(|| corrupt("a completed record has no result".into()))?;
                RecordState::Completed { value }
            }
            Some(other) => {
                return Err(corrupt(format!(
                    "unknown status {:?} (expected `{IN_PROGRESS}` or `{COMPLETED}`)",
                    shorten(other)
                )));
            }
            None => return Err(corrupt("the record has no status".into())),
        };
        let payload = match self.payload {
            None => None,
            Some(bytes) => {
                let bytes: [u8; Digest::LEN] = bytes.as_slice().try_into().map_err(|_| {
                    corrupt(format!(
                        "the payload fingerprint has {} bytes, not {}",
                        bytes.len(),
                        Digest::LEN
                    ))
                })?;
                Some(Digest::from_bytes(bytes))
            }
        };
        Ok(Record {
            state,
            correlation: self.correlation,
            payload,
            expires_in: self
                .ms_left
                .map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
        })
    }
}

/// At most 64 characters of a stored string, for error messages.
fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(64).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// Maps a driver error met while reading a row: a value of the wrong type is a corrupt record,
/// anything else a store error.
pub(super) fn read_error(store: &'static str, key: Key<'_>, err: sqlx::Error) -> Error {
    match err {
        sqlx::Error::ColumnDecode { index, source } => Error::corrupt(
            store,
            key.to_string(),
            format!("column {index} does not decode: {source}"),
        ),
        sqlx::Error::Decode(source) => Error::corrupt(
            store,
            key.to_string(),
            format!("a column does not decode: {source}"),
        ),
        other => Error::store(store, other),
    }
}

/// What the background purge runs: implemented by each store's shared state.
pub(super) trait Purge: Send + Sync + 'static {
    /// The store's name, for traces.
    fn store_name(&self) -> &'static str;
    /// Deletes expired records, in batches; returns how many.
    fn purge(self: Arc<Self>) -> impl Future<Output = Result<u64, Error>> + Send;
}

/// The background task that deletes expired records of a SQL store every period.
///
/// It starts with the store (see `purge_every` on the builders) and stops when the last handle
/// of the store is dropped, or when [`stop`](PurgeTask::stop) is called; it never keeps the store
/// (or its pool) alive. Each run deletes in batches (1,000 rows per statement by default), so
/// the table is never locked for long. [`Store::purge_expired`](super::Store::purge_expired)
/// does the same on demand.
#[derive(Clone)]
pub struct PurgeTask {
    stop: Arc<watch::Sender<bool>>,
    done: watch::Receiver<()>,
    period: Duration,
}

impl PurgeTask {
    /// Starts the task on the current Tokio runtime.
    pub(super) fn spawn<P: Purge>(state: Weak<P>, period: Duration) -> PurgeTask {
        let (stop, mut stopped) = watch::channel(false);
        let (done_tx, done) = watch::channel(());
        tokio::spawn(async move {
            // Dropped when the task ends, however it ends: that is what `finished` waits for.
            let _done = done_tx;
            loop {
                tokio::select! {
                    () = tokio::time::sleep(period) => {}
                    _ = stopped.wait_for(|stop| *stop) => return,
                }
                let Some(state) = state.upgrade() else {
                    return;
                };
                let name = state.store_name();
                match state.purge().await {
                    Ok(0) => {}
                    Ok(purged) => {
                        tracing::debug!(target: "dedup", store = name, purged, "purged expired records");
                    }
                    Err(err) => {
                        tracing::warn!(target: "dedup", store = name, error = %err, "could not purge expired records; will try again");
                    }
                }
            }
        });
        PurgeTask {
            stop: Arc::new(stop),
            done,
            period,
        }
    }

    /// Asks the task to stop; it ends at once, or after the purge it is running.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// `true` once the task has ended.
    pub fn is_finished(&self) -> bool {
        self.done.has_changed().is_err()
    }

    /// Waits until the task has ended.
    pub async fn finished(&self) {
        let mut done = self.done.clone();
        while done.changed().await.is_ok() {}
    }

    /// How often it purges.
    pub fn period(&self) -> Duration {
        self.period
    }
}

impl fmt::Debug for PurgeTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PurgeTask")
            .field("period", &self.period)
            .field("finished", &self.is_finished())
            .finish()
    }
}
