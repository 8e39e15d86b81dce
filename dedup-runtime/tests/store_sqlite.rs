//! SqliteStore: the conformance suite on temporary database files, then what is particular to
//! it: state that survives a restart of the process (a real second process), WAL mode,
//! migrations, names, corrupt rows, purge, and concurrent deliveries in one process.
#![cfg(feature = "sqlite")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dedup_runtime::Error;
use dedup_runtime::idempotency::{Delivery, Idempotency, Outcome};
use dedup_runtime::store::conformance::fingerprint;
use dedup_runtime::store::{
    ClaimOutcome, ClaimRequest, Key, OwnerToken, Record, SqliteStore, SqliteStoreBuilder, Store,
};
use sqlx::AssertSqlSafe;

/// A database file under the system's temporary directory, removed (with its `-wal` and `-shm`
/// files) when dropped.
#[derive(Debug)]
struct TempDb {
    path: PathBuf,
}

impl TempDb {
    fn new() -> Self {
        let name = format!("dedup-sqlite-test-{}.db", uuid::Uuid::new_v4().simple());
        TempDb {
            path: std::env::temp_dir().join(name),
        }
    }

    fn builder(&self) -> SqliteStoreBuilder {
        SqliteStore::builder().path(&self.path).purge_every(None)
    }

    async fn open(&self) -> SqliteStore {
        self.builder()
            .open()
            .await
            .expect("cannot open the database")
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut path = self.path.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(path));
        }
    }
}

/// A store that owns its temporary file, so the file lives exactly as long as the case.
#[derive(Debug, Clone)]
struct Guarded {
    store: SqliteStore,
    _db: Arc<TempDb>,
}

impl Store for Guarded {
    fn name(&self) -> &'static str {
        self.store.name()
    }
    async fn claim(&self, key: Key<'_>, request: &ClaimRequest<'_>) -> Result<ClaimOutcome, Error> {
        self.store.claim(key, request).await
    }
    async fn complete(
        &self,
        key: Key<'_>,
        owner: OwnerToken,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), Error> {
        self.store.complete(key, owner, value, ttl).await
    }
    async fn release(&self, key: Key<'_>, owner: OwnerToken) -> Result<bool, Error> {
        self.store.release(key, owner).await
    }
    async fn store(&self, key: Key<'_>, value: &[u8], expire: Duration) -> Result<(), Error> {
        self.store.store(key, value, expire).await
    }
    async fn get(&self, key: Key<'_>) -> Result<Option<Record>, Error> {
        self.store.get(key).await
    }
    async fn contains(&self, key: Key<'_>) -> Result<bool, Error> {
        self.store.contains(key).await
    }
    async fn purge_expired(&self) -> Result<u64, Error> {
        self.store.purge_expired().await
    }
}

async fn guarded() -> Guarded {
    let db = TempDb::new();
    Guarded {
        store: db.open().await,
        _db: Arc::new(db),
    }
}

mod conformance {
    dedup_runtime::conformance_tests!(
        store = super::guarded(),
        time = dedup_runtime::store::conformance::RealTime,
    );
}

fn request(lease: Duration) -> ClaimRequest<'static> {
    ClaimRequest {
        owner: OwnerToken::random(),
        lease,
        correlation: None,
        payload: None,
    }
}

async fn count(store: &SqliteStore, filter: &str) -> i64 {
    sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM {} WHERE {filter}",
        store.table()
    )))
    .fetch_one(store.pool())
    .await
    .unwrap()
}

async fn execute(store: &SqliteStore, sql: String) {
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(store.pool())
        .await
        .expect("raw SQL failed");
}

// ---------------------------------------------------------------------------------------------
// A restart: two real processes on one file.

/// The environment variable that turns [`restart_child_process`] on, naming the database file.
const CHILD_DB: &str = "DEDUP_SQLITE_RESTART_CHILD_DB";

/// Not a test of its own: the body of the child processes of
/// [`completed_messages_survive_a_restart_of_the_process`], which re-runs this test binary with
/// `CHILD_DB` set. Without it, it does nothing.
#[tokio::test]
async fn restart_child_process() {
    let Ok(path) = std::env::var(CHILD_DB) else {
        return;
    };
    let store = SqliteStore::open(&path)
        .await
        .expect("the child cannot open the database");
    let pid = std::process::id();
    let outcome = Idempotency::new(store, "restart")
        .execute(Delivery::new(fingerprint("restart", 0)), async {
            Ok::<_, Error>(format!("processed by process {pid}"))
        })
        .await
        .expect("the child's delivery failed");
    match outcome {
        Outcome::Executed(value) => println!("DEDUP_CHILD {pid} executed: {value}"),
        Outcome::Replayed(value) => println!("DEDUP_CHILD {pid} replayed: {value}"),
        Outcome::InProgress { .. } => println!("DEDUP_CHILD {pid} in progress"),
    }
}

fn run_child(db: &Path) -> (u32, String) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let output = Command::new(exe)
        .args([
            "--exact",
            "restart_child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, db)
        .output()
        .expect("cannot start the child process");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the child failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|line| line.split_once("DEDUP_CHILD ").map(|(_, said)| said))
        .unwrap_or_else(|| panic!("the child said nothing: {stdout}"));
    let (pid, what) = line.split_once(' ').expect("pid and outcome");
    (pid.parse().expect("a pid"), what.to_owned())
}

#[test]
fn completed_messages_survive_a_restart_of_the_process() {
    let db = TempDb::new();
    let (first_pid, first) = run_child(&db.path);
    assert_eq!(first, format!("executed: processed by process {first_pid}"));
    let (second_pid, second) = run_child(&db.path);
    assert_ne!(
        first_pid, second_pid,
        "the second run must be another process"
    );
    assert_eq!(
        second,
        format!("replayed: processed by process {first_pid}")
    );
}

// ---------------------------------------------------------------------------------------------
// Opening.

#[tokio::test]
async fn the_file_is_in_wal_mode_and_opening_again_is_a_no_op() {
    let db = TempDb::new();
    let store = db.open().await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    // The writer runs at NORMAL and syncs each completion (FULL) before going back to NORMAL.
    let synchronous = async || -> i64 {
        sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(store.pool())
            .await
            .unwrap()
    };
    assert_eq!(
        synchronous().await,
        1,
        "synchronous = NORMAL between completions"
    );
    let key = Key::new("s", fingerprint("synchronous", 0));
    let request = request(Duration::from_secs(60));
    assert_eq!(
        store.claim(key, &request).await.unwrap(),
        ClaimOutcome::Acquired
    );
    store
        .complete(key, request.owner, b"1", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(synchronous().await, 1, "back to NORMAL after a completion");
    let err = store
        .complete(key, OwnerToken::random(), b"2", Duration::from_secs(60))
        .await;
    assert!(matches!(err, Err(Error::LeaseLost { .. })), "{err:?}");
    assert_eq!(
        synchronous().await,
        1,
        "back to NORMAL after a refused completion"
    );
    let migrations = async |store: &SqliteStore| -> Vec<(i64, i64)> {
        sqlx::query_as("SELECT version, applied_at FROM dedup_migrations ORDER BY version")
            .fetch_all(store.pool())
            .await
            .unwrap()
    };
    let before = migrations(&store).await;
    assert_eq!(before.len(), 1, "{before:?}");
    tokio::time::sleep(Duration::from_millis(20)).await;
    for _ in 0..3 {
        let again = db.open().await;
        assert_eq!(
            migrations(&again).await,
            before,
            "opening again must change nothing"
        );
    }
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'dedup_records' AND sql IS NOT NULL",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert!(
        indexes.iter().any(|sql| sql.contains("(expires_at)")),
        "{indexes:?}"
    );
    // Two tables in one file are independent.
    let other = db.builder().table("other_records").open().await.unwrap();
    let key = Key::new("s", fingerprint("tables", 0));
    store
        .store(key, b"one", Duration::from_secs(60))
        .await
        .unwrap();
    assert!(!other.contains(key).await.unwrap());
}

#[tokio::test]
async fn an_in_memory_database_is_one_shared_connection() {
    let store = SqliteStore::open(":memory:").await.unwrap();
    let consumer = Idempotency::new(store, "memory");
    let delivery = Delivery::new(fingerprint("memory", 0));
    let first = consumer
        .execute(delivery, async { Ok::<_, Error>(1_u8) })
        .await;
    assert_eq!(first.unwrap(), Outcome::Executed(1));
    let again = consumer
        .execute(delivery, async { Ok::<_, Error>(2_u8) })
        .await;
    assert_eq!(again.unwrap(), Outcome::Replayed(1));
}

#[tokio::test]
async fn bad_table_names_are_config_errors() {
    let db = TempDb::new();
    for name in [
        "",
        "x; DROP TABLE y",
        "a\"b",
        "Records",
        "9lives",
        "dedup.records",
        &"x".repeat(49),
    ] {
        let err = db.builder().table(name).open().await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::Config {
                    store: "sqlite",
                    ..
                }
            ),
            "{name:?}: {err:?}"
        );
    }
    assert!(
        !db.path.exists(),
        "validation must come before opening the file"
    );
    let err = SqliteStore::builder().open().await.unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
}

#[tokio::test]
async fn an_unopenable_file_is_a_store_error() {
    let missing_dir = std::env::temp_dir()
        .join(format!("dedup-missing-{}", uuid::Uuid::new_v4().simple()))
        .join("dedup.db");
    let err = SqliteStore::open(&missing_dir).await.unwrap_err();
    assert!(err.is_store_unavailable(), "{err:?}");
    assert!(err.to_string().contains("dedup.db"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Records.

#[tokio::test]
async fn corrupt_rows_are_errors_never_panics() {
    let db = TempDb::new();
    let store = db.open().await;
    let cases: [(&str, &str, &str); 5] = [
        (
            "unknown status",
            "'exploded', NULL, NULL, NULL",
            "unknown status",
        ),
        (
            "bad owner",
            "'in_progress', 'not-a-token', NULL, NULL",
            "owner",
        ),
        ("no owner", "'in_progress', NULL, NULL, NULL", "no owner"),
        ("no result", "'completed', NULL, NULL, NULL", "no result"),
        (
            "short payload",
            "'completed', NULL, x'00', x'0102'",
            "payload",
        ),
    ];
    let runs = AtomicU32::new(0);
    for (i, (case, values, reason)) in cases.iter().enumerate() {
        let fp = fingerprint("corrupt", i as u64);
        execute(
            &store,
            format!(
                "INSERT INTO dedup_records (scope, fingerprint, status, owner, result, payload, created_at, expires_at)
                 VALUES ('corrupt', x'{}', {values}, 0, CAST(unixepoch('subsec') * 1000 AS INTEGER) + 3600000)",
                fp.to_hex()
            ),
        )
        .await;
        let key = Key::new("corrupt", fp);
        for err in [
            store.get(key).await.unwrap_err(),
            store
                .claim(key, &request(Duration::from_secs(60)))
                .await
                .unwrap_err(),
        ] {
            match &err {
                Error::CorruptRecord {
                    store: "sqlite",
                    reason: r,
                    ..
                } => {
                    assert!(r.contains(reason), "{case}: {r}");
                }
                other => panic!("{case}: expected a corrupt record, got {other:?}"),
            }
        }
        let outcome = Idempotency::new(store.clone(), "corrupt")
            .execute(Delivery::new(fp), async {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Error>(())
            })
            .await;
        assert!(
            matches!(outcome, Err(Error::CorruptRecord { .. })),
            "{case}: {outcome:?}"
        );
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        0,
        "a body ran on a corrupt record"
    );
}

#[tokio::test]
async fn expiry_is_judged_by_the_database_clock() {
    let db = TempDb::new();
    let store = db.open().await;
    let key = Key::new("clock", fingerprint("clock", 0));
    assert_eq!(
        store
            .claim(key, &request(Duration::from_secs(3600)))
            .await
            .unwrap(),
        ClaimOutcome::Acquired
    );
    execute(
        &store,
        "UPDATE dedup_records SET expires_at = expires_at - 7200000".into(),
    )
    .await;
    assert!(store.get(key).await.unwrap().is_none());
    assert_eq!(
        store
            .claim(key, &request(Duration::from_secs(3600)))
            .await
            .unwrap(),
        ClaimOutcome::Acquired
    );
    let left = store.get(key).await.unwrap().unwrap().expires_in.unwrap();
    assert!(
        left > Duration::from_secs(3000) && left <= Duration::from_secs(3600),
        "{left:?}"
    );
}

/// Inserts `n` records that expired an hour ago.
async fn insert_expired(store: &SqliteStore, tag: &str, n: u32) {
    execute(
        store,
        format!(
            "WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < {n})
             INSERT INTO {} (scope, fingerprint, status, result, created_at, expires_at)
             SELECT '{tag}', CAST('{tag}' || n AS BLOB), 'completed', x'00', 0,
                    CAST(unixepoch('subsec') * 1000 AS INTEGER) - 3600000
             FROM i",
            store.table()
        ),
    )
    .await;
}

#[tokio::test]
async fn purge_expired_deletes_in_batches_and_counts() {
    let db = TempDb::new();
    let store = db.builder().purge_batch(1_000).open().await.unwrap();
    insert_expired(&store, "old", 2_500).await;
    for i in 0..10 {
        let key = Key::new("live", fingerprint("purge-live", i));
        store
            .store(key, b"v", Duration::from_secs(3600))
            .await
            .unwrap();
    }
    assert_eq!(store.purge_expired().await.unwrap(), 2_500);
    assert_eq!(count(&store, "1").await, 10);
    assert_eq!(store.purge_expired().await.unwrap(), 0);
}

#[tokio::test]
async fn background_purge_deletes_expired_rows_and_stops() {
    let db = TempDb::new();
    let store = db
        .builder()
        .purge_every(Duration::from_millis(100))
        .purge_batch(64)
        .open()
        .await
        .unwrap();
    let task = store.purge_task().expect("a purge task").clone();
    insert_expired(&store, "bg", 300).await;
    store
        .store(
            Key::new("live", fingerprint("bg", 0)),
            b"v",
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while count(&store, "1").await != 1 {
        assert!(
            Instant::now() < deadline,
            "the background purge did not run"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.stop();
    tokio::time::timeout(Duration::from_secs(10), task.finished())
        .await
        .expect("the purge task did not stop");
    insert_expired(&store, "after", 5).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(count(&store, "1").await, 6, "a stopped task must not purge");

    // A second store's task ends with its last handle.
    let other = db
        .builder()
        .purge_every(Duration::from_millis(50))
        .open()
        .await
        .unwrap();
    let task = other.purge_task().unwrap().clone();
    drop(other);
    tokio::time::timeout(Duration::from_secs(10), task.finished())
        .await
        .expect("the purge task outlived the store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deliveries_in_one_process_run_each_body_once() {
    const MESSAGES: u64 = 2_000;
    let db = TempDb::new();
    let store = db.open().await;
    let consumer = Idempotency::new(store.clone(), "concurrent");
    // Each message twice in a row (so that the copies race), 30% of them a third time.
    let deliveries: Vec<u64> = (0..MESSAGES)
        .flat_map(|id| std::iter::repeat_n(id, if id % 10 < 3 { 3 } else { 2 }))
        .collect();
    let total = deliveries.len() as u64;
    let queue = Arc::new(std::sync::Mutex::new(std::collections::VecDeque::from(
        deliveries,
    )));
    let runs: Arc<Vec<AtomicU32>> = Arc::new((0..MESSAGES).map(|_| AtomicU32::new(0)).collect());
    let done = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (consumer, queue, runs, done) = (
                consumer.clone(),
                Arc::clone(&queue),
                Arc::clone(&runs),
                Arc::clone(&done),
            );
            tokio::spawn(async move {
                loop {
                    let Some(id) = queue.lock().unwrap().pop_front() else {
                        return;
                    };
                    let outcome = consumer
                        .execute(Delivery::new(fingerprint("concurrent", id)), async {
                            runs[id as usize].fetch_add(1, Ordering::SeqCst);
                            Ok::<_, Error>(id)
                        })
                        .await
                        .expect("a delivery failed");
                    match outcome {
                        Outcome::Executed(v) | Outcome::Replayed(v) => {
                            assert_eq!(v, id);
                            done.fetch_add(1, Ordering::SeqCst);
                        }
                        Outcome::InProgress { .. } => {
                            queue.lock().unwrap().push_back(id);
                            tokio::task::yield_now().await;
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    assert_eq!(done.load(Ordering::SeqCst), total);
    assert!((0..MESSAGES as usize).all(|i| runs[i].load(Ordering::SeqCst) == 1));
    assert_eq!(count(&store, "status = 'completed'").await, MESSAGES as i64);
}

#[tokio::test]
async fn two_stores_on_one_file_share_their_records() {
    let db = TempDb::new();
    let first = Idempotency::new(db.open().await, "shared");
    let second = Idempotency::new(db.open().await, "shared");
    let delivery = Delivery::new(fingerprint("shared", 0));
    let executed = first
        .execute(delivery, async { Ok::<_, Error>(7_u8) })
        .await
        .unwrap();
    assert_eq!(executed, Outcome::Executed(7));
    let replayed = second
        .execute(delivery, async { Ok::<_, Error>(8_u8) })
        .await
        .unwrap();
    assert_eq!(replayed, Outcome::Replayed(7));
}
