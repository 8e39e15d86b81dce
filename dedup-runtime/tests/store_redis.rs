//! RedisStore: the conformance suite on the real Redis at `REDIS_URL` (async, blocking, and with
//! claims by script as for servers older than 7.0) and on a local three-master Redis Cluster,
//! then what is particular to Redis: batch claims, key layout, server-side expiry, corrupt
//! records, configuration errors and constructors.
//!
//! Every test works under its own random key prefix; nothing is flushed or listed. Without a
//! reachable Redis (or without `redis-server`/`redis-cli` for the cluster) the tests say once on
//! stderr that they skipped; with `CI=true` that is a failure.
#![cfg(feature = "redis")]

#[allow(unreachable_pub)]
#[path = "support/redis_cluster.rs"]
mod redis_cluster;
#[allow(unreachable_pub)]
#[path = "support/services.rs"]
mod services;

use std::sync::OnceLock;
use std::time::Duration;

use dedup_runtime::Error;
use dedup_runtime::idempotency::{Delivery, Idempotency, Outcome};
use dedup_runtime::store::conformance::fingerprint;
use dedup_runtime::store::{
    BlockingStore, ClaimOutcome, ClaimRequest, Key, OwnerToken, RecordState, RedisStore,
    RedisStoreBuilder, Store,
};

use self::redis_cluster::RedisCluster;

/// A prefix no other test (or earlier run) uses.
fn unique_prefix() -> String {
    format!("dedup-test-{}", uuid::Uuid::new_v4().simple())
}

/// Whether the Redis at `REDIS_URL` answers, checked once per test binary.
fn redis_reachable() -> bool {
    static REACHABLE: OnceLock<bool> = OnceLock::new();
    *REACHABLE.get_or_init(|| {
        redis::Client::open(services::redis_url())
            .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(2)))
            .and_then(|mut conn| redis::cmd("PING").query::<String>(&mut conn))
            .is_ok()
    })
}

/// The builder for a fresh store on `REDIS_URL`, or `None` (after the skip notice) without Redis.
fn builder() -> Option<RedisStoreBuilder> {
    let url = services::redis_url();
    services::require("Redis", &url, redis_reachable())
        .then(|| RedisStore::builder(url).prefix(unique_prefix()))
}

async fn store() -> Option<RedisStore> {
    Some(builder()?.build().await.expect("cannot connect to Redis"))
}

/// One cluster per test binary, shared by its tests (each under its own prefix). Its servers die
/// with the test process (see `support/redis_cluster.rs`).
fn cluster() -> Option<&'static RedisCluster> {
    static CLUSTER: OnceLock<Option<RedisCluster>> = OnceLock::new();
    CLUSTER
        .get_or_init(|| {
            let available = redis_cluster::binaries_available();
            services::require(
                "redis-server and redis-cli (for a local Redis Cluster)",
                "PATH",
                available,
            )
            .then(RedisCluster::start)
        })
        .as_ref()
}

async fn cluster_store() -> Option<RedisStore> {
    let nodes = cluster()?.nodes();
    let store = RedisStore::cluster_builder(nodes)
        .prefix(unique_prefix())
        .build()
        .await
        .expect("cannot connect to the local Redis Cluster");
    assert!(store.is_cluster());
    Some(store)
}

// In the `setup` blocks below, `return` leaves the generated test early: that is how a suite
// skips when its server is missing (`services::require` has said so, or panicked under CI).

mod conformance {
    dedup_runtime::conformance_tests!(
        setup = {
            let Some(store) = super::store().await else {
                return;
            };
            ::std::future::ready((store, dedup_runtime::store::conformance::RealTime))
        }
    );
}

mod conformance_blocking {
    dedup_runtime::conformance_tests!(
        setup = {
            let Some(store) = super::store().await else {
                return;
            };
            ::std::future::ready((
                dedup_runtime::store::conformance::Blocking(store),
                dedup_runtime::store::conformance::RealTime,
            ))
        }
    );
}

/// Claims by Lua script, as the store does on a server older than Redis 7.0.
mod conformance_scripted_claims {
    dedup_runtime::conformance_tests!(
        setup = {
            let Some(builder) = super::builder() else {
                return;
            };
            let store = builder
                .claim_by_script(true)
                .build()
                .await
                .expect("cannot connect to Redis");
            ::std::future::ready((store, dedup_runtime::store::conformance::RealTime))
        }
    );
}

mod conformance_cluster {
    dedup_runtime::conformance_tests!(
        setup = {
            let Some(store) = super::cluster_store().await else {
                return;
            };
            ::std::future::ready((store, dedup_runtime::store::conformance::RealTime))
        }
    );
}

mod conformance_cluster_blocking {
    dedup_runtime::conformance_tests!(
        setup = {
            let Some(store) = super::cluster_store().await else {
                return;
            };
            ::std::future::ready((
                dedup_runtime::store::conformance::Blocking(store),
                dedup_runtime::store::conformance::RealTime,
            ))
        }
    );
}

const LONG: Duration = Duration::from_secs(600);

fn req(lease: Duration) -> ClaimRequest<'static> {
    ClaimRequest {
        owner: OwnerToken::random(),
        lease,
        correlation: None,
        payload: None,
    }
}

/// A raw connection to `REDIS_URL`, to look at and tamper with what the store wrote.
fn raw() -> redis::Connection {
    let client = redis::Client::open(services::redis_url()).unwrap();
    let conn = client
        .get_connection_with_timeout(Duration::from_secs(2))
        .unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    conn
}

/// A batch with a new key, a completed one, one in progress elsewhere, and a key twice.
fn mixed_batch(
    case: &str,
) -> (
    Vec<(Key<'static>, ClaimRequest<'static>)>,
    [Key<'static>; 4],
) {
    let new = Key::new("batch", fingerprint(case, 0));
    let done = Key::new("batch", fingerprint(case, 1));
    let busy = Key::new("batch", fingerprint(case, 2));
    let twice = Key::new("batch", fingerprint(case, 3));
    let mut batch = vec![
        (new, req(LONG)),
        (done, req(LONG)),
        (busy, req(LONG)),
        (twice, req(LONG)),
        (twice, req(LONG)),
    ];
    // Ten distinct keys more, as a broker batch would bring.
    for i in 10..16 {
        batch.push((Key::new("batch", fingerprint(case, i)), req(LONG)));
    }
    (batch, [new, done, busy, twice])
}

fn check_mixed_batch(
    batch: &[(Key<'static>, ClaimRequest<'static>)],
    outcomes: &[ClaimOutcome],
    busy_owner: OwnerToken,
) {
    assert_eq!(outcomes.len(), batch.len());
    assert_eq!(outcomes[0], ClaimOutcome::Acquired);
    match &outcomes[1] {
        ClaimOutcome::Existing(record) => {
            assert_eq!(
                record.state,
                RecordState::Completed {
                    value: b"\"done\"".to_vec()
                }
            )
        }
        other => panic!("a completed key must replay, got {other:?}"),
    }
    match &outcomes[2] {
        ClaimOutcome::Existing(record) => {
            assert_eq!(record.state, RecordState::InProgress { owner: busy_owner })
        }
        other => panic!("a key in progress must say so, got {other:?}"),
    }
    assert_eq!(
        outcomes[3],
        ClaimOutcome::Acquired,
        "the first occurrence of a key is acquired"
    );
    match &outcomes[4] {
        ClaimOutcome::Existing(record) => {
            assert_eq!(
                record.state,
                RecordState::InProgress {
                    owner: batch[3].1.owner
                }
            )
        }
        other => panic!("the second occurrence must see the first's claim, got {other:?}"),
    }
    assert!(outcomes[5..].iter().all(|o| *o == ClaimOutcome::Acquired));
}

async fn claim_many_case(store: RedisStore, case: &str) {
    let (batch, [_, done, busy, _]) = mixed_batch(case);
    store.store(done, b"\"done\"", LONG).await.unwrap();
    let busy_req = req(LONG);
    assert_eq!(
        store.claim(busy, &busy_req).await.unwrap(),
        ClaimOutcome::Acquired
    );
    let outcomes = store.claim_many(&batch).await.unwrap();
    check_mixed_batch(&batch, &outcomes, busy_req.owner);
    // The acquired claims are real claims: completed by their owners, replayed afterwards.
    for ((key, request), outcome) in batch.iter().zip(&outcomes) {
        if *outcome == ClaimOutcome::Acquired {
            store
                .complete(*key, request.owner, b"1", LONG)
                .await
                .unwrap();
        }
    }
    let again = store.claim_many(&batch).await.unwrap();
    for (i, outcome) in again.iter().enumerate() {
        match outcome {
            // `busy` is still another delivery's claim.
            ClaimOutcome::Existing(record) if i == 2 => {
                assert_eq!(
                    record.state,
                    RecordState::InProgress {
                        owner: busy_req.owner
                    }
                )
            }
            ClaimOutcome::Existing(record) => {
                assert!(record.is_completed(), "message {i}: {record:?}")
            }
            ClaimOutcome::Acquired => panic!("message {i} was claimed again after completion"),
        }
    }
    assert!(store.claim_many(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn claim_many_answers_each_message_in_one_batch() {
    let Some(store) = store().await else { return };
    claim_many_case(store, "claim_many").await;
}

#[tokio::test]
async fn claim_many_by_script() {
    let Some(builder) = builder() else { return };
    let store = builder.claim_by_script(true).build().await.unwrap();
    claim_many_case(store, "claim_many_by_script").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_many_across_cluster_slots() {
    let Some(store) = cluster_store().await else {
        return;
    };
    claim_many_case(store, "claim_many_cluster").await;
}

fn claim_many_blocking_case(store: &RedisStore, case: &str) {
    let (batch, [_, done, busy, _]) = mixed_batch(case);
    store.store_blocking(done, b"\"done\"", LONG).unwrap();
    let busy_req = req(LONG);
    assert_eq!(
        store.claim_blocking(busy, &busy_req).unwrap(),
        ClaimOutcome::Acquired
    );
    let outcomes = store.claim_many_blocking(&batch).unwrap();
    check_mixed_batch(&batch, &outcomes, busy_req.owner);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_many_blocking_standalone_and_cluster() {
    if let Some(store) = store().await {
        claim_many_blocking_case(&store, "claim_many_blocking");
        let scripted = builder()
            .unwrap()
            .claim_by_script(true)
            .build()
            .await
            .unwrap();
        claim_many_blocking_case(&scripted, "claim_many_blocking_scripted");
    }
    if let Some(store) = cluster_store().await {
        claim_many_blocking_case(&store, "claim_many_blocking_cluster");
    }
}

/// One bad key in a batch fails the batch, and the claims the batch made are given back.
#[tokio::test]
async fn a_failed_batch_holds_nothing() {
    let Some(store) = store().await else { return };
    let (batch, _) = mixed_batch("failed_batch");
    let mut conn = raw();
    // Not a string: `SET ... GET` fails on it with WRONGTYPE.
    let poisoned = store.redis_key(batch[7].0);
    redis::cmd("RPUSH")
        .arg(&poisoned)
        .arg("x")
        .exec(&mut conn)
        .unwrap();
    redis::cmd("PEXPIRE")
        .arg(&poisoned)
        .arg(60_000)
        .exec(&mut conn)
        .unwrap();

    let err = store.claim_many(&batch).await.unwrap_err();
    assert!(err.is_store_unavailable(), "{err:?}");
    for (i, (key, _)) in batch.iter().enumerate() {
        if i != 7 {
            assert!(
                !store.contains(*key).await.unwrap(),
                "claim {i} of the failed batch is still held"
            );
        }
    }
    let err = store.claim_many_blocking(&batch).unwrap_err();
    assert!(err.is_store_unavailable(), "{err:?}");
    for (i, (key, _)) in batch.iter().enumerate() {
        if i != 7 {
            assert!(
                !store.contains_blocking(*key).unwrap(),
                "claim {i} of the failed blocking batch is still held"
            );
        }
    }
}

#[tokio::test]
async fn keys_are_prefix_scope_fingerprint_and_expire_on_the_server() {
    let Some(builder) = builder() else { return };
    let prefix = unique_prefix();
    let store = builder.prefix(prefix.clone()).build().await.unwrap();
    assert_eq!(store.prefix(), prefix);
    let fp = fingerprint("keys", 0);
    let key = Key::new("billing.charge", fp);
    assert_eq!(
        store.redis_key(key),
        format!("{prefix}:billing.charge:{fp}")
    );

    let lease = Duration::from_secs(30);
    let request = ClaimRequest {
        owner: OwnerToken::random(),
        lease,
        correlation: Some("corr-7"),
        payload: None,
    };
    assert_eq!(
        store.claim(key, &request).await.unwrap(),
        ClaimOutcome::Acquired
    );
    let mut conn = raw();
    let pttl: i64 = redis::cmd("PTTL")
        .arg(store.redis_key(key))
        .query(&mut conn)
        .unwrap();
    assert!(
        pttl > 0 && pttl <= 30_000,
        "the lease is Redis's expiry: PTTL {pttl}"
    );
    let bytes: Vec<u8> = redis::cmd("GET")
        .arg(store.redis_key(key))
        .query(&mut conn)
        .unwrap();
    assert_eq!(bytes[0], 1, "the first byte is the format version");
    let record = store.get(key).await.unwrap().unwrap();
    let left = record.expires_in.expect("get reports the time left");
    assert!(left <= lease && left > Duration::from_secs(20), "{left:?}");

    store
        .complete(key, request.owner, b"42", Duration::from_secs(3_600))
        .await
        .unwrap();
    let pttl: i64 = redis::cmd("PTTL")
        .arg(store.redis_key(key))
        .query(&mut conn)
        .unwrap();
    assert!(
        pttl > 30_000 && pttl <= 3_600_000,
        "completion sets the ttl: PTTL {pttl}"
    );

    // A zero or absurd duration is clamped, never an error from Redis.
    let zero = Key::new("billing.charge", fingerprint("keys", 1));
    store.store(zero, b"1", Duration::ZERO).await.unwrap();
    let forever = Key::new("billing.charge", fingerprint("keys", 2));
    store.store(forever, b"1", Duration::MAX).await.unwrap();
    assert!(store.contains(forever).await.unwrap());
    redis::cmd("DEL")
        .arg(store.redis_key(forever))
        .exec(&mut conn)
        .unwrap();
}

#[tokio::test]
async fn scopes_outside_the_safe_set_are_hashed() {
    let Some(store) = store().await else { return };
    let fp = fingerprint("scopes", 0);
    for scope in ["{tag}", "with space", "über", "a\nb", &"x".repeat(129)] {
        let redis_key = store.redis_key(Key::new(scope, fp));
        let middle = redis_key
            .strip_prefix(&format!("{}:", store.prefix()))
            .and_then(|rest| rest.strip_suffix(&format!(":{fp}")))
            .unwrap();
        assert!(
            middle.starts_with('#') && middle.len() == 33,
            "{scope:?} -> {middle}"
        );
        assert!(!redis_key.contains('{') && !redis_key.contains(' '));
    }
    // Distinct unsafe scopes stay distinct, and work as scopes.
    let (a, b) = (Key::new("{a}", fp), Key::new("{b}", fp));
    assert_ne!(store.redis_key(a), store.redis_key(b));
    assert_eq!(
        store.claim(a, &req(LONG)).await.unwrap(),
        ClaimOutcome::Acquired
    );
    assert_eq!(
        store.claim(b, &req(LONG)).await.unwrap(),
        ClaimOutcome::Acquired
    );
}

#[tokio::test]
async fn corrupt_records_are_errors_not_panics() {
    let Some(store) = store().await else { return };
    let mut conn = raw();
    let cases: [&[u8]; 4] = [b"", b"\x02future format", b"\x01", b"someone else's value"];
    for (i, bytes) in cases.iter().enumerate() {
        let key = Key::new("corrupt", fingerprint("corrupt", i as u64));
        let redis_key = store.redis_key(key);
        redis::cmd("SET")
            .arg(&redis_key)
            .arg(*bytes)
            .arg("PX")
            .arg(60_000)
            .exec(&mut conn)
            .unwrap();

        let err = store.claim(key, &req(LONG)).await.unwrap_err();
        assert!(
            matches!(&err, Error::CorruptRecord { store: "redis", key, .. } if *key == redis_key),
            "{err:?}"
        );
        let err = store.get(key).await.unwrap_err();
        assert!(matches!(err, Error::CorruptRecord { .. }), "{err:?}");
        let err = store.claim_blocking(key, &req(LONG)).unwrap_err();
        assert!(matches!(err, Error::CorruptRecord { .. }), "{err:?}");
        // Nobody owns a corrupt record: release changes nothing.
        assert!(!store.release(key, OwnerToken::random()).await.unwrap());
        let raw_after: Vec<u8> = redis::cmd("GET").arg(&redis_key).query(&mut conn).unwrap();
        assert_eq!(raw_after, *bytes, "the record must be left as it was");
    }
    // Complete refuses a record of another format (and does not overwrite it).
    let key = Key::new("corrupt", fingerprint("corrupt", 1));
    let err = store
        .complete(key, OwnerToken::random(), b"1", LONG)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::CorruptRecord { .. }), "{err:?}");
    // A batch with a corrupt record fails whole.
    let batch = [
        (key, req(LONG)),
        (Key::new("corrupt", fingerprint("corrupt", 99)), req(LONG)),
    ];
    let err = store.claim_many(&batch).await.unwrap_err();
    assert!(matches!(err, Error::CorruptRecord { .. }), "{err:?}");
    assert!(
        !store.contains(batch[1].0).await.unwrap(),
        "the batch's other claim was released"
    );
}

#[tokio::test]
async fn configuration_errors() {
    let config = |result: Result<RedisStore, Error>| match result {
        Err(Error::Config {
            store: "redis",
            reason,
        }) => reason,
        other => panic!("expected a configuration error, got {other:?}"),
    };
    let url = services::redis_url();
    config(RedisStore::builder(&url).prefix("").build().await);
    config(RedisStore::builder(&url).prefix("has space").build().await);
    config(
        RedisStore::builder(&url)
            .prefix("x".repeat(300))
            .build()
            .await,
    );
    config(
        RedisStore::builder(&url)
            .response_timeout(Duration::ZERO)
            .build()
            .await,
    );
    config(RedisStore::connect("not a url").await);
    config(RedisStore::connect("http://127.0.0.1:6379").await);
    config(RedisStore::connect_cluster(Vec::<String>::new()).await);
    if !cfg!(feature = "redis-tls") {
        // The redis crate's own refusal does not name the switch; ours does. (With the
        // feature, `redis_tls.rs` connects for real.)
        let reason = config(RedisStore::connect("rediss://127.0.0.1:6379").await);
        assert!(reason.contains("`redis-tls` feature"), "{reason}");
        let reason = config(RedisStore::connect_cluster(["rediss://127.0.0.1:7000"]).await);
        assert!(reason.contains("`redis-tls` feature"), "{reason}");
    }
}

#[tokio::test]
async fn an_unreachable_server_is_a_quick_store_error() {
    // A port nothing listens on.
    let port = redis_cluster::free_port();
    let started = std::time::Instant::now();
    let err = RedisStore::builder(format!("redis://127.0.0.1:{port}"))
        .connection_timeout(Duration::from_millis(500))
        .reconnect_retries(1)
        .build()
        .await
        .unwrap_err();
    assert!(err.is_store_unavailable(), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(err.to_string().starts_with("redis store error"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constructors_from_existing_clients_and_connections() {
    let Some(_) = builder() else { return };
    let url = services::redis_url();
    let client = redis::Client::open(url.as_str()).unwrap();
    let key = Key::new("ctor", fingerprint("ctor", 0));

    let from_client = RedisStoreBuilder::from_client(client.clone())
        .prefix(unique_prefix())
        .build()
        .await
        .unwrap();
    let request = req(LONG);
    assert_eq!(
        from_client.claim_blocking(key, &request).unwrap(),
        ClaimOutcome::Acquired
    );
    assert!(from_client.release(key, request.owner).await.unwrap());

    let manager = client.get_connection_manager().await.unwrap();
    let from_manager = RedisStoreBuilder::from_connection_manager(manager)
        .prefix(unique_prefix())
        .build()
        .await
        .unwrap();
    assert_eq!(from_manager.name(), "redis");
    assert_eq!(
        from_manager.claim(key, &req(LONG)).await.unwrap(),
        ClaimOutcome::Acquired
    );
    // No client behind it: the blocking API says so instead of panicking.
    let err = from_manager.get_blocking(key).unwrap_err();
    assert!(
        err.is_store_unavailable() && err.to_string().contains("from_client"),
        "{err}"
    );

    let connected = RedisStore::connect(&url).await.unwrap();
    assert_eq!(connected.prefix(), RedisStore::DEFAULT_PREFIX);
    assert!(!connected.is_cluster());
    assert!(format!("{connected:?}").contains("standalone"));

    if let Some(cluster) = cluster() {
        let client = redis::cluster::ClusterClient::new(cluster.nodes()).unwrap();
        let conn = client.get_async_connection().await.unwrap();
        for store in [
            RedisStoreBuilder::from_cluster_client(client)
                .prefix(unique_prefix())
                .build()
                .await
                .unwrap(),
            RedisStoreBuilder::from_cluster_connection(conn)
                .prefix(unique_prefix())
                .build()
                .await
                .unwrap(),
            RedisStore::connect_cluster(cluster.nodes()).await.unwrap(),
        ] {
            assert!(store.is_cluster());
            let key = Key::new("ctor", fingerprint("ctor-cluster", 0));
            let request = req(LONG);
            assert_eq!(
                store.claim(key, &request).await.unwrap(),
                ClaimOutcome::Acquired
            );
            assert!(store.release(key, request.owner).await.unwrap());
        }
    }
}

/// The protocol end to end on Redis, sync and async, with payload validation and replay of the
/// first correlation id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_on_redis() {
    let Some(store) = store().await else { return };
    let charges = Idempotency::new(store.clone(), "billing.charge");
    let order = 42_u64;
    let payload = fingerprint("order-body", 42);
    let first = Delivery::of(&order)
        .unwrap()
        .correlation(Some("c-1"))
        .payload(Some(payload));
    let outcome = charges
        .execute(first, async { Ok::<_, Error>(format!("charged {order}")) })
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Executed("charged 42".to_owned()));
    let again = charges
        .execute::<String, Error, _>(first, async { unreachable!() })
        .await
        .unwrap();
    assert_eq!(again, Outcome::Replayed("charged 42".to_owned()));
    let record = store
        .get(Key::new("billing.charge", first.key()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.correlation.as_deref(), Some("c-1"));

    let other_body = Delivery::of(&order)
        .unwrap()
        .payload(Some(fingerprint("order-body", 43)));
    let err = charges
        .execute::<String, Error, _>(other_body, async { unreachable!() })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PayloadMismatch { .. }), "{err:?}");

    let sync = tokio::task::spawn_blocking(move || {
        let refunds = Idempotency::new(store, "billing.refund");
        let delivery = Delivery::of(&7_u64).unwrap();
        let first = refunds
            .execute_blocking(delivery, || Ok::<_, Error>(7_u32))
            .unwrap();
        let second = refunds
            .execute_blocking::<u32, Error, _>(delivery, || unreachable!())
            .unwrap();
        (first, second)
    })
    .await
    .unwrap();
    assert_eq!(sync, (Outcome::Executed(7), Outcome::Replayed(7)));
}

/// A handler future dropped mid-body (a timeout) gives its claim back in the background, so the
/// redelivery runs at once instead of waiting for the lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_handler_releases_its_claim() {
    let Some(store) = store().await else { return };
    let consumer = Idempotency::new(store.clone(), "dropped").lease(LONG);
    let delivery = Delivery::new(fingerprint("dropped", 0));
    let started = std::sync::atomic::AtomicBool::new(false);
    let stuck = consumer.execute::<u32, Error, _>(delivery, async {
        started.store(true, std::sync::atomic::Ordering::SeqCst);
        std::future::pending().await
    });
    assert!(
        tokio::time::timeout(Duration::from_secs(2), stuck)
            .await
            .is_err()
    );
    assert!(
        started.load(std::sync::atomic::Ordering::SeqCst),
        "the body never started: no claim to release"
    );
    let key = Key::new("dropped", delivery.key());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store.contains(key).await.unwrap() {
        assert!(
            std::time::Instant::now() < deadline,
            "the dropped handler's claim was not released"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let outcome = consumer
        .execute(delivery, async { Ok::<_, Error>(1_u32) })
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Executed(1));
}
