//! Chaos test on a real RabbitMQ: consumers are SIGKILLed while they work, nothing is lost, and
//! with the PostgreSQL transactional inbox no order is shipped twice.
//!
//! For each store (`inbox`, then `redis`; the two tests take turns), the test:
//!
//! 1. starts 3 consumer processes (`examples/rabbitmq_consumer.rs consume --events`) on a queue
//!    of its own (`dedup.chaos.<mode>.<id>`, with a dead-letter exchange and queue), each
//!    handler spending 40 ms in a simulated carrier call inside its claim (and, for the inbox,
//!    inside its transaction), so that kills land in the middle of handlers;
//! 2. runs the example's producer: 5,000 messages, 30% of them resends of an earlier order with a
//!    new timestamp, correlation id and message id, at 250 messages/s (about 20 s);
//! 3. until the producer is done and every order is shipped, SIGKILLs a random consumer every
//!    2–4 s and starts a new one: RabbitMQ redelivers what the killed process had not acked;
//! 4. waits until the queue is empty, no consumer holds a delivery and nothing happened for 2 s,
//!    stops the consumers with SIGTERM, and checks: the queue and the dead-letter queue are
//!    empty; every order has a shipment row (none lost); with the inbox, exactly one; with Redis,
//!    exactly one except orders whose other rows were written by a consumer killed (or hit by a
//!    store error) between the side effect and the completion of the record: the documented
//!    window, counted and printed.
//!
//! 1 order in 50 fails its first attempt (`--fail-every 50`), so the retry path runs too; a third
//! test checks that always-failing messages are dead-lettered after `--max-attempts`.
//! Each chaos run prints one summary line on the real standard error: about 25 s with the inbox,
//! 35 s with Redis (whose killed claims wait out their 10 s lease), 1 s for the poison test.
//!
//! Needs RabbitMQ (`AMQP_URL`), PostgreSQL (`DATABASE_URL`) and, for the Redis mode, Redis
//! (`REDIS_URL`); without them it passes without running and says so, except under `CI`.
#![cfg(all(unix, feature = "rabbitmq"))]

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use lapin::options::{
    BasicGetOptions, ExchangeDeleteOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Connection, ConnectionProperties};
use sqlx::postgres::{PgPool, PgPoolOptions};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

const MESSAGES: u64 = 5_000;
const RESEND_SHARE: f64 = 0.3;
const CONSUMERS: usize = 3;
/// Messages per second: spreads the 5,000 messages over about 20 s, so that the kills land
/// while the consumers are busy.
const PUBLISH_RATE: u64 = 250;
const KILL_INTERVAL_MS: std::ops::Range<u64> = 2_000..4_000;
/// The chaos must have happened for the run to prove anything.
const MIN_KILLS: u32 = 3;
/// How long the simulated carrier call inside each handler takes: deliveries are in the
/// middle of their handler (claimed, in a transaction) when their consumer is killed.
const WORK_MS: u64 = 40;
/// One order in this many fails its first attempt (retried by the consumer).
const FAIL_EVERY: u64 = 50;
/// No event and no delivery in a consumer's hands for this long: the run has settled.
const QUIET: Duration = Duration::from_secs(2);
/// A mode that has not settled by then fails (a normal run takes 25–35 s).
const DEADLINE: Duration = Duration::from_secs(240);

/// [`PUBLISH_RATE`], or `DEDUP_CHAOS_RATE` (0: as fast as the broker confirms, a backlog builds).
fn publish_rate() -> u64 {
    std::env::var("DEDUP_CHAOS_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PUBLISH_RATE)
}

/// The two modes run one after the other: they share two cores with everything else.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_postgres_inbox_ships_every_order_exactly_once() {
    let _serial = SERIAL.lock().await;
    chaos(Mode::Inbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_redis_loses_nothing_and_duplicates_only_in_the_window() {
    let _serial = SERIAL.lock().await;
    chaos(Mode::Redis).await;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Inbox,
    Redis,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Inbox => "inbox",
            Mode::Redis => "redis",
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Services
// ------------------------------------------------------------------------------------------------

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn amqp_url() -> String {
    env_or("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")
}

fn database_url() -> String {
    env_or("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
}

fn redis_url() -> String {
    env_or("REDIS_URL", "redis://127.0.0.1:6379")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// `Ok` when every service the mode needs answers; otherwise fails under CI, or says why the
/// test is skipped on the real standard error.
async fn services(mode: Mode) -> Option<(Connection, PgPool)> {
    let timeout = Duration::from_secs(10);
    let mut missing = Vec::new();
    let amqp = match tokio::time::timeout(
        timeout,
        Connection::connect(&amqp_url(), ConnectionProperties::default()),
    )
    .await
    {
        Ok(Ok(connection)) => Some(connection),
        Ok(Err(err)) => {
            missing.push(format!(
                "RabbitMQ not reachable at {} ({err}) — set AMQP_URL",
                amqp_url()
            ));
            None
        }
        Err(_) => {
            missing.push(format!(
                "RabbitMQ not answering at {} — set AMQP_URL",
                amqp_url()
            ));
            None
        }
    };
    let pg = match tokio::time::timeout(
        timeout,
        PgPoolOptions::new()
            .max_connections(3)
            .connect(&database_url()),
    )
    .await
    {
        Ok(Ok(pool)) => Some(pool),
        _ => {
            missing.push(format!(
                "PostgreSQL not reachable at {} — set DATABASE_URL",
                database_url()
            ));
            None
        }
    };
    if mode == Mode::Redis {
        let redis = tokio::time::timeout(
            timeout,
            dedup_runtime::store::RedisStore::connect(&redis_url()),
        )
        .await;
        if !matches!(redis, Ok(Ok(_))) {
            missing.push(format!(
                "Redis not reachable at {} — set REDIS_URL",
                redis_url()
            ));
        }
    }
    if missing.is_empty() {
        return Some((amqp?, pg?));
    }
    let missing = missing.join("; ");
    assert!(
        !in_ci(),
        "chaos test ({}): {missing}; with CI set, a missing service is a failure",
        mode.name()
    );
    // One line per distinct reason, not per test.
    static REPORTED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut reported = REPORTED.lock().unwrap_or_else(|e| e.into_inner());
    if !reported.contains(&missing) {
        let _ = writeln!(
            std::io::stderr(),
            "dedup: SKIPPED rabbitmq chaos tests (chaos): {missing} (scripts/services up starts \
             them); with CI=true this is a failure"
        );
        reported.push(missing);
    }
    None
}

// ------------------------------------------------------------------------------------------------
// The consumer binary
// ------------------------------------------------------------------------------------------------

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The example's binary, built with this test's features.
///
/// `cargo test` builds the examples of the package before it runs the tests, so the binary is
/// normally there, next to this test's own (`<target>/<profile>/examples/`). When it is missing
/// or older than its source (`cargo test --test chaos` does not build examples), it is built
/// here with `cargo build --example`, with the same features, profile and target directory.
fn consumer_binary() -> Result<PathBuf, String> {
    if let Some(path) = option_env!("CARGO_BIN_EXE_rabbitmq_consumer") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    // <target>/<profile>/deps/chaos-<hash>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot find the target directory")?;
    let binary = profile_dir
        .join("examples")
        .join(format!("rabbitmq_consumer{}", std::env::consts::EXE_SUFFIX));
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = manifest_dir.join("examples").join("rabbitmq_consumer.rs");
    if let (Some(built), Some(written)) = (modified(&binary), modified(&source))
        && built >= written
    {
        return Ok(binary);
    }
    let target_dir = profile_dir
        .parent()
        .ok_or("cannot find the target directory")?;
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev",
        Some(name) => name,
    };
    let mut features = vec!["rabbitmq"];
    for (enabled, feature) in [
        (cfg!(feature = "redis"), "redis"),
        (cfg!(feature = "postgres"), "postgres"),
        (cfg!(feature = "sqlite"), "sqlite"),
    ] {
        if enabled {
            features.push(feature);
        }
    }
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--package", "dedup-examples"])
        .args(["--example", "rabbitmq_consumer", "--no-default-features"])
        .args(["--features", &features.join(",")])
        .args(["--profile", profile])
        .arg("--manifest-path")
        .arg(manifest_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir)
        .status()
        .map_err(|e| format!("cargo build --example rabbitmq_consumer: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build --example rabbitmq_consumer: {status}"));
    }
    Ok(binary)
}

// ------------------------------------------------------------------------------------------------
// What the consumers report
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Default, Clone)]
struct Counts {
    ready: bool,
    deliveries: u64,
    executed: u64,
    replayed: u64,
    in_progress: u64,
    retried: u64,
    dead_lettered: u64,
    store_errors: u64,
}

impl Counts {
    /// Deliveries this consumer received and has not yet acked, nacked or republished.
    fn in_hand(&self) -> u64 {
        self.deliveries.saturating_sub(
            self.executed
                + self.replayed
                + self.in_progress
                + self.retried
                + self.dead_lettered
                + self.store_errors,
        )
    }

    fn add(&mut self, other: &Counts) {
        self.deliveries += other.deliveries;
        self.executed += other.executed;
        self.replayed += other.replayed;
        self.in_progress += other.in_progress;
        self.retried += other.retried;
        self.dead_lettered += other.dead_lettered;
        self.store_errors += other.store_errors;
    }
}

#[derive(Debug)]
struct Reports {
    per_consumer: HashMap<String, Counts>,
    last_event: Instant,
    /// The last lines the consumers wrote on standard error, for a failure's message.
    log_tail: VecDeque<String>,
}

type Shared = Arc<Mutex<Reports>>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Reports> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug)]
struct Consumer {
    name: String,
    child: Child,
    /// Reads the consumer's events; ends when the process is gone.
    events: tokio::task::JoinHandle<()>,
}

/// The chaos runs' consumer options.
fn chaos_flags() -> Vec<String> {
    let fail_every = FAIL_EVERY.to_string();
    let work_ms = WORK_MS.to_string();
    [
        "--fail-every",
        &fail_every,
        "--max-attempts",
        "5",
        "--work-ms",
        &work_ms,
    ]
    .map(str::to_owned)
    .to_vec()
}

fn spawn_consumer(
    binary: &Path,
    mode: Mode,
    queue: &str,
    name: &str,
    flags: &[String],
    shared: &Shared,
) -> Result<Consumer, String> {
    let mut child = Command::new(binary)
        .args(["consume", "--store", mode.name(), "--queue", queue])
        .args(["--instance", name, "--prefetch", "16", "--pool", "4"])
        .args(flags)
        .args(["--queue-expires", "900", "--events"])
        .env("RUST_LOG", "warn,lapin=error")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    lock(shared)
        .per_consumer
        .insert(name.to_owned(), Counts::default());
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let (events, logs) = (Arc::clone(shared), Arc::clone(shared));
    let (name_out, name_err) = (name.to_owned(), name.to_owned());
    let events = tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut reports = lock(&events);
            reports.last_event = Instant::now();
            let counts = reports.per_consumer.entry(name_out.clone()).or_default();
            let mut words = line.split_whitespace();
            if words.next() != Some("EVENT") {
                continue;
            }
            match words.next() {
                Some("ready") => counts.ready = true,
                Some("delivery") => counts.deliveries += 1,
                Some("executed") => counts.executed += 1,
                Some("replayed") => counts.replayed += 1,
                Some("in_progress") => counts.in_progress += 1,
                Some("retried") => counts.retried += 1,
                Some("dead_lettered") => counts.dead_lettered += 1,
                Some("store_error") => counts.store_errors += 1,
                _ => {}
            }
        }
    });
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut reports = lock(&logs);
            if reports.log_tail.len() >= 60 {
                reports.log_tail.pop_front();
            }
            reports.log_tail.push_back(format!("[{name_err}] {line}"));
        }
    });
    Ok(Consumer {
        name: name.to_owned(),
        child,
        events,
    })
}

/// SIGTERM, then up to 30 s for the consumer to hand its deliveries back and exit.
async fn stop_gracefully(consumer: &mut Consumer) -> Result<(), String> {
    if let Some(pid) = consumer.child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
    match tokio::time::timeout(Duration::from_secs(30), consumer.child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("consumer {} exited with {status}", consumer.name)),
        Ok(Err(err)) => Err(format!("consumer {}: {err}", consumer.name)),
        Err(_) => {
            let _ = consumer.child.start_kill();
            Err(format!(
                "consumer {} did not stop within 30 s of SIGTERM",
                consumer.name
            ))
        }
    }
}

// ------------------------------------------------------------------------------------------------
// The run
// ------------------------------------------------------------------------------------------------

/// A small deterministic generator for the supervisor's choices (which consumer, when).
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn between(&mut self, range: std::ops::Range<u64>) -> u64 {
        range.start + self.next() % (range.end - range.start)
    }
}

#[derive(Debug)]
struct Run {
    /// The example's binary.
    binary: PathBuf,
    mode: Mode,
    id: String,
    queue: String,
    started: Instant,
}

async fn chaos(mode: Mode) {
    let Some((amqp, pg)) = services(mode).await else {
        return;
    };
    // Located (or built) before the clock starts.
    let binary = consumer_binary().unwrap_or_else(|e| panic!("chaos test: {e}"));
    let id = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let run = Run {
        binary,
        mode,
        queue: format!("dedup.chaos.{}.{id}", mode.name()),
        id: format!("chaos-{}-{id}", mode.name()),
        started: Instant::now(),
    };
    let result = tokio::time::timeout(
        DEADLINE + Duration::from_secs(60),
        execute(&run, &amqp, &pg),
    )
    .await
    .unwrap_or_else(|_| Err(format!("the run did not finish within {DEADLINE:?} + 60 s")));
    cleanup(&run, &amqp, &pg).await;
    let _ = amqp.close(200, ShortString::from("bye")).await;
    match result {
        Ok(summary) => {
            let _ = writeln!(std::io::stderr(), "{summary}");
        }
        Err(failure) => panic!(
            "chaos test ({}, queue {}): {failure}",
            mode.name(),
            run.queue
        ),
    }
}

/// Everything the test created: its queues, its exchange and its shipment rows.
async fn cleanup(run: &Run, amqp: &Connection, pg: &PgPool) {
    if let Ok(channel) = amqp.create_channel().await {
        for queue in [run.queue.clone(), format!("{}.dead", run.queue)] {
            let _ = channel
                .queue_delete(ShortString::from(queue), QueueDeleteOptions::default())
                .await;
        }
        let _ = channel
            .exchange_delete(
                ShortString::from(format!("{}.dlx", run.queue)),
                ExchangeDeleteOptions::default(),
            )
            .await;
        let _ = channel.close(200, ShortString::from("bye")).await;
    }
    let _ = sqlx::query("DELETE FROM dedup_demo_shipments WHERE starts_with(order_id, $1)")
        .bind(format!("{}-", run.id))
        .execute(pg)
        .await;
}

/// The number of ready messages in `queue` (a passive declare, on a channel of its own since a
/// failing declare closes its channel).
async fn queue_depth(amqp: &Connection, queue: &str) -> Result<u32, String> {
    let channel = amqp
        .create_channel()
        .await
        .map_err(|e| format!("channel: {e}"))?;
    let declared = channel
        .queue_declare(
            ShortString::from(queue),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await;
    let _ = channel.close(200, ShortString::from("bye")).await;
    declared
        .map(|q| q.message_count())
        .map_err(|e| format!("queue {queue}: {e}"))
}

/// Shipment rows of this run: order id → the consumers that wrote them, oldest first.
async fn shipments(pg: &PgPool, run: &Run) -> Result<BTreeMap<String, Vec<String>>, String> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT order_id, consumer FROM dedup_demo_shipments \
         WHERE starts_with(order_id, $1) ORDER BY order_id, id",
    )
    .bind(format!("{}-", run.id))
    .fetch_all(pg)
    .await
    .map_err(|e| format!("reading shipments: {e}"))?;
    let mut by_order: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (order, consumer) in rows {
        by_order.entry(order).or_default().push(consumer);
    }
    Ok(by_order)
}

async fn shipped_orders(pg: &PgPool, run: &Run) -> Result<i64, String> {
    sqlx::query_scalar(
        "SELECT count(DISTINCT order_id) FROM dedup_demo_shipments WHERE starts_with(order_id, $1)",
    )
    .bind(format!("{}-", run.id))
    .fetch_one(pg)
    .await
    .map_err(|e| format!("counting shipments: {e}"))
}

fn failure(shared: &Shared, what: String) -> String {
    let reports = lock(shared);
    let tail: Vec<&str> = reports.log_tail.iter().map(String::as_str).collect();
    format!(
        "{what}\nconsumers: {:?}\nlast consumer log lines:\n{}",
        reports.per_consumer,
        tail.join("\n")
    )
}

fn new_shared() -> Shared {
    Arc::new(Mutex::new(Reports {
        per_consumer: HashMap::new(),
        last_event: Instant::now(),
        log_tail: VecDeque::new(),
    }))
}

/// Waits until `count` consumers consume (publishing earlier would hand everything to the first).
async fn wait_ready(
    consumers: &mut [Consumer],
    shared: &Shared,
    count: usize,
) -> Result<(), String> {
    let ready_by = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = lock(shared)
            .per_consumer
            .values()
            .filter(|c| c.ready)
            .count();
        if ready >= count {
            return Ok(());
        }
        for consumer in consumers.iter_mut() {
            if let Ok(Some(status)) = consumer.child.try_wait() {
                return Err(failure(
                    shared,
                    format!("consumer {} exited at start: {status}", consumer.name),
                ));
            }
        }
        if Instant::now() > ready_by {
            return Err(failure(
                shared,
                "the consumers were not ready within 60 s".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts the example's producer; the task returns its `PRODUCED` line.
fn spawn_producer(
    binary: &Path,
    run: &Run,
    flags: &[String],
) -> Result<(Child, tokio::task::JoinHandle<Option<String>>), String> {
    let mut producer = Command::new(binary)
        .args(["produce", "--queue", &run.queue, "--run", &run.id])
        .args(flags)
        .args(["--queue-expires", "900"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start the producer: {e}"))?;
    let out = producer.stdout.take().ok_or("no producer stdout")?;
    let produced = tokio::spawn(async move {
        let mut lines = BufReader::new(out).lines();
        let mut produced = None;
        while let Ok(Some(line)) = lines.next_line().await {
            if line.starts_with("PRODUCED ") {
                produced = Some(line);
            }
        }
        produced
    });
    Ok((producer, produced))
}

async fn execute(run: &Run, amqp: &Connection, pg: &PgPool) -> Result<String, String> {
    let binary = &run.binary;
    let shared = new_shared();
    let seed = u64::from_str_radix(&run.id[run.id.len() - 10..], 16).unwrap_or(7);
    let mut rng = SplitMix64(seed);
    let mut started = 0_usize;
    let mut next_name = || {
        started += 1;
        format!("{}-c{started}", run.mode.name())
    };

    let flags = chaos_flags();
    let mut consumers = Vec::new();
    for _ in 0..CONSUMERS {
        consumers.push(spawn_consumer(
            binary,
            run.mode,
            &run.queue,
            &next_name(),
            &flags,
            &shared,
        )?);
    }
    wait_ready(&mut consumers, &shared, CONSUMERS).await?;

    // The producer's plan: `round(MESSAGES * RESEND_SHARE)` resends of earlier orders.
    let expected_orders = MESSAGES - (MESSAGES as f64 * RESEND_SHARE).round() as u64;
    let producer_flags = [
        "--count".to_owned(),
        MESSAGES.to_string(),
        "--resend-share".to_owned(),
        RESEND_SHARE.to_string(),
        "--rate".to_owned(),
        publish_rate().to_string(),
        "--seed".to_owned(),
        seed.to_string(),
    ];
    let (mut producer, produced) = spawn_producer(binary, run, &producer_flags)?;

    // Chaos: until the producer is done and every order is shipped, kill a random consumer every
    // 2–4 s and start another.
    let mut killed: BTreeSet<String> = BTreeSet::new();
    let mut interrupted = 0_u64;
    let mut next_kill = Instant::now() + Duration::from_millis(rng.between(KILL_INTERVAL_MS));
    let mut producer_status = None;
    loop {
        if producer_status.is_none() {
            producer_status = producer.try_wait().map_err(|e| format!("producer: {e}"))?;
        }
        if let Some(status) = producer_status {
            if !status.success() {
                return Err(failure(&shared, format!("the producer failed: {status}")));
            }
            if shipped_orders(pg, run).await? == expected_orders as i64 {
                break;
            }
        }
        if run.started.elapsed() > DEADLINE {
            let shipped = shipped_orders(pg, run).await.unwrap_or(-1);
            return Err(failure(
                &shared,
                format!(
                    "{shipped}/{expected_orders} orders shipped at the deadline (producer: {producer_status:?})"
                ),
            ));
        }
        if Instant::now() >= next_kill {
            let victim = (rng.next() % consumers.len() as u64) as usize;
            let mut consumer = consumers.swap_remove(victim);
            consumer
                .child
                .start_kill()
                .map_err(|e| format!("SIGKILL {}: {e}", consumer.name))?;
            let _ = consumer.child.wait().await;
            // Every event it wrote before it died, then what it held: the broker redelivers that.
            let _ = tokio::time::timeout(Duration::from_secs(5), &mut consumer.events).await;
            interrupted += lock(&shared)
                .per_consumer
                .get(&consumer.name)
                .map_or(0, Counts::in_hand);
            killed.insert(consumer.name.clone());
            consumers.push(spawn_consumer(
                binary,
                run.mode,
                &run.queue,
                &next_name(),
                &flags,
                &shared,
            )?);
            next_kill = Instant::now() + Duration::from_millis(rng.between(KILL_INTERVAL_MS));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let produced = produced
        .await
        .ok()
        .flatten()
        .ok_or("the producer printed no PRODUCED line")?;
    let field = |name: &str| -> Result<u64, String> {
        produced
            .split_whitespace()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .ok_or(format!("no {name} in `{produced}`"))
    };
    let (published, orders, resends) = (field("published")?, field("orders")?, field("resends")?);
    if orders != expected_orders {
        return Err(format!(
            "the producer made {orders} orders, the test expected {expected_orders}"
        ));
    }

    // Drain: every order shipped, the queue empty, no delivery in a live consumer's hands, quiet.
    loop {
        if run.started.elapsed() > DEADLINE {
            let shipped = shipped_orders(pg, run).await.unwrap_or(-1);
            let depth = queue_depth(amqp, &run.queue).await;
            return Err(failure(
                &shared,
                format!(
                    "not drained before the deadline: {shipped}/{orders} orders shipped, queue depth {depth:?}"
                ),
            ));
        }
        for consumer in &mut consumers {
            if let Ok(Some(status)) = consumer.child.try_wait() {
                return Err(failure(
                    &shared,
                    format!("consumer {} died: {status}", consumer.name),
                ));
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let settled = {
            let reports = lock(&shared);
            reports.last_event.elapsed() >= QUIET
                && consumers.iter().all(|c| {
                    reports
                        .per_consumer
                        .get(&c.name)
                        .is_some_and(|n| n.in_hand() == 0)
                })
        };
        if settled
            && shipped_orders(pg, run).await? == orders as i64
            && queue_depth(amqp, &run.queue).await? == 0
        {
            break;
        }
    }
    for consumer in &mut consumers {
        stop_gracefully(consumer)
            .await
            .map_err(|e| failure(&shared, e))?;
    }

    // The verdict.
    let depth = queue_depth(amqp, &run.queue).await?;
    let dead = queue_depth(amqp, &format!("{}.dead", run.queue)).await?;
    let by_order = shipments(pg, run).await?;
    let lost = orders.saturating_sub(by_order.len() as u64);
    let duplicates: u64 = by_order.values().map(|w| w.len() as u64 - 1).sum();
    let mut totals = Counts::default();
    let mut troubled: BTreeSet<String> = killed.clone();
    for (name, counts) in &lock(&shared).per_consumer {
        totals.add(counts);
        if counts.store_errors > 0 {
            troubled.insert(name.clone());
        }
    }
    // A duplicate is in the documented window when every row but one was written by a consumer
    // that was killed (or whose store failed: a lost lease is reported as a store error) before
    // it could complete the record. The one completed row may be anywhere: a consumer stalled
    // past its lease writes its row after the one that took the claim over.
    let unexplained: Vec<(&String, &Vec<String>)> = by_order
        .iter()
        .filter(|(_, writers)| {
            writers.len() > 1 && writers.iter().filter(|w| !troubled.contains(*w)).count() > 1
        })
        .collect();
    let summary = format!(
        "dedup chaos [{mode}]: published={published} (orders={orders}, resends={resends}) \
         deliveries={} executed={} replayed={} in_progress_requeues={} retried={} \
         store_errors={} kills={} interrupted_deliveries={interrupted} duplicate_side_effects={duplicates}{window} lost={lost} \
         dead_lettered={dead} queue_left={depth} elapsed={:.1}s",
        totals.deliveries,
        totals.executed,
        totals.replayed,
        totals.in_progress,
        totals.retried,
        totals.store_errors,
        killed.len(),
        run.started.elapsed().as_secs_f64(),
        mode = run.mode.name(),
        window = if run.mode == Mode::Redis {
            " (side effect done, record not completed)"
        } else {
            ""
        },
    );
    let mut problems = Vec::new();
    if (killed.len() as u32) < MIN_KILLS {
        problems.push(format!(
            "only {} kills: the chaos did not happen",
            killed.len()
        ));
    }
    if lost > 0 {
        let missing: Vec<u64> = (0..orders)
            .filter(|i| !by_order.contains_key(&format!("{}-{i:06}", run.id)))
            .take(10)
            .collect();
        problems.push(format!("{lost} orders lost (first: {missing:?})"));
    }
    if depth > 0 {
        problems.push(format!("{depth} messages left in the queue"));
    }
    if dead > 0 {
        problems.push(format!("{dead} messages dead-lettered"));
    }
    match run.mode {
        Mode::Inbox if duplicates > 0 => {
            let first: Vec<_> = by_order
                .iter()
                .filter(|(_, w)| w.len() > 1)
                .take(5)
                .collect();
            problems.push(format!(
                "{duplicates} duplicate side effects with the inbox: {first:?}"
            ));
        }
        Mode::Redis if !unexplained.is_empty() => {
            let first: Vec<_> = unexplained.iter().take(5).collect();
            problems.push(format!(
                "{} orders shipped twice outside the window (by a consumer that was neither \
                 killed nor hit by a store error): {first:?}",
                unexplained.len()
            ));
        }
        _ => {}
    }
    if problems.is_empty() {
        Ok(summary)
    } else {
        Err(failure(
            &shared,
            format!("{summary}\n{}", problems.join("\n")),
        ))
    }
}

// ------------------------------------------------------------------------------------------------
// Dead-lettering
// ------------------------------------------------------------------------------------------------

/// The example's failure injection picks orders by this hash of their id.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

const POISON_MESSAGES: u64 = 100;
const POISON_EVERY: u64 = 7;
const POISON_MAX_ATTEMPTS: u32 = 3;

/// Orders whose handler always fails are retried `--max-attempts` times, then dead-lettered
/// (with their attempt count), and never shipped; the others are shipped once. About 5 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_are_dead_lettered_after_max_attempts() {
    let _serial = SERIAL.lock().await;
    let Some((amqp, pg)) = services(Mode::Inbox).await else {
        return;
    };
    let binary = consumer_binary().unwrap_or_else(|e| panic!("poison test: {e}"));
    let id = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let run = Run {
        binary,
        mode: Mode::Inbox,
        queue: format!("dedup.chaos.poison.{id}"),
        id: format!("poison-{id}"),
        started: Instant::now(),
    };
    let result = tokio::time::timeout(Duration::from_secs(120), poison(&run, &amqp, &pg))
        .await
        .unwrap_or_else(|_| Err("the poison run did not finish within 120 s".into()));
    cleanup(&run, &amqp, &pg).await;
    let _ = amqp.close(200, ShortString::from("bye")).await;
    if let Err(failure) = result {
        panic!("poison test (queue {}): {failure}", run.queue);
    }
}

async fn poison(run: &Run, amqp: &Connection, pg: &PgPool) -> Result<(), String> {
    let binary = &run.binary;
    let shared = new_shared();
    let flags = [
        "--poison-every".to_owned(),
        POISON_EVERY.to_string(),
        "--max-attempts".to_owned(),
        POISON_MAX_ATTEMPTS.to_string(),
    ];
    let mut consumers = vec![spawn_consumer(
        binary,
        run.mode,
        &run.queue,
        "poison-c1",
        &flags,
        &shared,
    )?];
    wait_ready(&mut consumers, &shared, 1).await?;
    let poisoned: BTreeSet<String> = (0..POISON_MESSAGES)
        .map(|i| format!("{}-{i:06}", run.id))
        .filter(|order| fnv1a(order.as_bytes()).is_multiple_of(POISON_EVERY))
        .collect();
    let healthy = POISON_MESSAGES - poisoned.len() as u64;
    let producer_flags = [
        "--count".to_owned(),
        POISON_MESSAGES.to_string(),
        "--resend-share".to_owned(),
        "0".to_owned(),
    ];
    let (mut producer, _) = spawn_producer(binary, run, &producer_flags)?;
    let status = producer
        .wait()
        .await
        .map_err(|e| format!("producer: {e}"))?;
    if !status.success() {
        return Err(format!("the producer failed: {status}"));
    }
    let dead_queue = format!("{}.dead", run.queue);
    loop {
        if run.started.elapsed() > Duration::from_secs(90) {
            return Err(failure(&shared, "not settled within 90 s".into()));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        if shipped_orders(pg, run).await? == healthy as i64
            && queue_depth(amqp, &dead_queue).await? == poisoned.len() as u32
            && queue_depth(amqp, &run.queue).await? == 0
        {
            break;
        }
    }
    for consumer in &mut consumers {
        stop_gracefully(consumer)
            .await
            .map_err(|e| failure(&shared, e))?;
    }

    let by_order = shipments(pg, run).await?;
    let mut problems = Vec::new();
    let shipped_poison: Vec<&String> = poisoned
        .iter()
        .filter(|o| by_order.contains_key(*o))
        .collect();
    if !shipped_poison.is_empty() {
        problems.push(format!("poison orders were shipped: {shipped_poison:?}"));
    }
    if let Some((order, writers)) = by_order.iter().find(|(_, w)| w.len() != 1) {
        problems.push(format!("order {order} shipped {} times", writers.len()));
    }
    if by_order.len() as u64 != healthy {
        problems.push(format!(
            "{} of {healthy} healthy orders shipped",
            by_order.len()
        ));
    }
    // Each dead letter carries the attempt count of its last failure.
    let channel = amqp
        .create_channel()
        .await
        .map_err(|e| format!("channel: {e}"))?;
    let mut dead = BTreeSet::new();
    while let Some(message) = channel
        .basic_get(
            ShortString::from(dead_queue.as_str()),
            BasicGetOptions { no_ack: true },
        )
        .await
        .map_err(|e| format!("basic.get on {dead_queue}: {e}"))?
    {
        let attempt = message
            .properties
            .headers()
            .as_ref()
            .and_then(|h| h.inner().get("x-dedup-attempt").cloned());
        if attempt != Some(AMQPValue::LongUInt(POISON_MAX_ATTEMPTS - 1)) {
            problems.push(format!("a dead letter has x-dedup-attempt {attempt:?}"));
        }
        let order: serde_json::Value = serde_json::from_slice(&message.data)
            .map_err(|e| format!("a dead letter is not JSON: {e}"))?;
        dead.insert(order["order_id"].as_str().unwrap_or_default().to_owned());
    }
    let _ = channel.close(200, ShortString::from("bye")).await;
    if dead != poisoned {
        problems.push(format!("dead letters {dead:?}, expected {poisoned:?}"));
    }
    let _ = writeln!(
        std::io::stderr(),
        "dedup poison: published={POISON_MESSAGES} shipped={} dead_lettered={} \
         (after {POISON_MAX_ATTEMPTS} attempts each) elapsed={:.1}s",
        by_order.len(),
        dead.len(),
        run.started.elapsed().as_secs_f64()
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(failure(&shared, problems.join("\n")))
    }
}
