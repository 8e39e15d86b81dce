//! RedisStore over TLS (feature `redis-tls`), against a real `redis-server` that listens on a TLS
//! port only (`--port 0`). The test makes a throwaway certificate authority and a server
//! certificate for `127.0.0.1` and `localhost` with `openssl`, and starts the server on a free
//! loopback port; it dies with the test process (see `support/redis_cluster.rs`).
//!
//! - A store built from a `redis::Client` that trusts the test's CA (`Client::build_with_tls`,
//!   then `RedisStoreBuilder::from_client`) passes the conformance suite, async and blocking, and
//!   batch claims and the `Idempotency` protocol work over TLS.
//! - `RedisStore::connect("rediss://127.0.0.1:P/#insecure")`, the URL a user writes to skip
//!   verification, works on the async and the blocking API.
//! - Verification is real: `rediss://` without the CA, and plaintext `redis://` to the TLS port,
//!   fail with `Error::Store` within a time limit, never a panic or a hang.
//!
//! - A three-master Redis Cluster that speaks TLS only, clients and cluster bus alike, passes the
//!   conformance suite through `rediss://…/#insecure` node URLs, async and blocking: the nodes
//!   the client discovers from the cluster's slot map are reached over TLS too. Without
//!   `#insecure` its certificate is checked, and refused.
//!
//! Without `redis-server`, `redis-cli` or `openssl` the tests say once on stderr that they
//! skipped; with `CI=true` that is a failure.
#![cfg(feature = "redis-tls")]

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

use self::redis_cluster::{RedisCluster, RedisServer};

/// Far above a TLS handshake and a round trip on a loaded two-core machine; far below "hanging".
const LIMIT: Duration = Duration::from_secs(30);
const LONG: Duration = Duration::from_secs(600);

/// One TLS server per test binary, shared by its tests (each under its own key prefix).
fn server() -> Option<&'static RedisServer> {
    static SERVER: OnceLock<Option<RedisServer>> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            services::require(
                "redis-server and openssl (for a local TLS Redis)",
                "PATH",
                redis_cluster::tls_binaries_available(),
            )
            .then(RedisServer::start_tls)
        })
        .as_ref()
}

/// A store on the TLS server through a client that trusts its CA, under a fresh prefix, with
/// time limits generous enough for handshakes on a loaded machine.
async fn store() -> Option<RedisStore> {
    let client = server()?.tls_client();
    let store = RedisStoreBuilder::from_client(client)
        .prefix(format!("dedup-tls-{}", uuid::Uuid::new_v4().simple()))
        .connection_timeout(Duration::from_secs(10))
        .response_timeout(Duration::from_secs(10))
        .build()
        .await
        .expect("cannot connect over TLS with the test CA trusted");
    Some(store)
}

/// One TLS cluster per test binary, shared by its tests (each under its own key prefix).
fn cluster() -> Option<&'static RedisCluster> {
    static CLUSTER: OnceLock<Option<RedisCluster>> = OnceLock::new();
    CLUSTER
        .get_or_init(|| {
            services::require(
                "redis-server, redis-cli and openssl (for a local TLS Redis Cluster)",
                "PATH",
                redis_cluster::binaries_available() && redis_cluster::tls_binaries_available(),
            )
            .then(RedisCluster::start_tls)
        })
        .as_ref()
}

/// The TLS cluster's node URLs as a user writes them to skip verification. The `redis` crate
/// takes a CA for a cluster only with rustls; `redis-tls` is native-tls, whose way to trust a
/// private CA is the system's store.
fn insecure_cluster_nodes() -> Option<Vec<String>> {
    let nodes = cluster()?.nodes();
    Some(
        nodes
            .iter()
            .map(|node| format!("{node}/#insecure"))
            .collect(),
    )
}

/// A store on the TLS cluster, under a fresh prefix.
async fn cluster_store() -> Option<RedisStore> {
    let store = RedisStore::cluster_builder(insecure_cluster_nodes()?)
        .prefix(format!(
            "dedup-tls-cluster-{}",
            uuid::Uuid::new_v4().simple()
        ))
        .connection_timeout(Duration::from_secs(10))
        .response_timeout(Duration::from_secs(10))
        .build()
        .await
        .expect("cannot connect to the TLS cluster with #insecure");
    assert!(store.is_cluster());
    Some(store)
}

fn claim_request() -> ClaimRequest<'static> {
    ClaimRequest {
        owner: OwnerToken::random(),
        lease: LONG,
        correlation: None,
        payload: None,
    }
}

/// The conformance suite in `$module`, each case on a fresh `store()` wrapped in `$wrap`.
///
/// In the `setup` block, `return` leaves the generated test early: that is how the suite skips
/// when `redis-server` or `openssl` is missing (`services::require` has said so, or panicked).
macro_rules! conformance_over_tls {
    ($module:ident, $wrap:path) => {
        conformance_over_tls!($module, $wrap, store);
    };
    ($module:ident, $wrap:path, $store:ident) => {
        mod $module {
            dedup_runtime::conformance_tests!(
                setup = {
                    let Some(store) = super::$store().await else {
                        return;
                    };
                    let time = dedup_runtime::store::conformance::RealTime;
                    ::std::future::ready(($wrap(store), time))
                }
            );
        }
    };
}

conformance_over_tls!(conformance_over_tls, ::std::convert::identity);
// The blocking API opens its own synchronous TLS connections: the same suite through them.
conformance_over_tls!(
    conformance_over_tls_blocking,
    dedup_runtime::store::conformance::Blocking
);
// The same on the TLS cluster: every record's keys share a slot, wherever the slot map sends it.
conformance_over_tls!(
    conformance_over_tls_cluster,
    ::std::convert::identity,
    cluster_store
);
conformance_over_tls!(
    conformance_over_tls_cluster_blocking,
    dedup_runtime::store::conformance::Blocking,
    cluster_store
);

/// A batch is one pipeline on the TLS connection: a completed key replays, a key twice is
/// acquired once, and the acquired claims can be completed and released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_many_over_tls() {
    let Some(store) = store().await else { return };
    let key = |i| Key::new("tls.batch", fingerprint("claim_many_over_tls", i));
    store.store(key(0), b"\"stored\"", LONG).await.unwrap();
    let batch = [
        (key(0), claim_request()),
        (key(1), claim_request()),
        (key(2), claim_request()),
        (key(2), claim_request()),
    ];

    let outcomes = store.claim_many(&batch).await.unwrap();
    assert_eq!(outcomes.len(), 4);
    match &outcomes[0] {
        ClaimOutcome::Existing(record) => assert_eq!(
            record.state,
            RecordState::Completed {
                value: b"\"stored\"".to_vec()
            }
        ),
        other => panic!("a completed key must replay, got {other:?}"),
    }
    assert_eq!(outcomes[1], ClaimOutcome::Acquired);
    assert_eq!(outcomes[2], ClaimOutcome::Acquired);
    match &outcomes[3] {
        ClaimOutcome::Existing(record) => assert_eq!(
            record.state,
            RecordState::InProgress {
                owner: batch[2].1.owner
            }
        ),
        other => panic!("a key's second occurrence must see the first's claim, got {other:?}"),
    }

    store
        .complete(key(1), batch[1].1.owner, b"1", LONG)
        .await
        .unwrap();
    assert!(store.release(key(2), batch[2].1.owner).await.unwrap());
    let again = store.claim_many_blocking(&batch[1..3]).unwrap();
    assert!(
        matches!(&again[0], ClaimOutcome::Existing(record) if record.is_completed()),
        "{again:?}"
    );
    assert_eq!(again[1], ClaimOutcome::Acquired, "the released key is free");
}

/// The protocol end to end over TLS: a first delivery runs, a duplicate replays its result, on
/// the async and the blocking API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_over_tls() {
    let Some(store) = store().await else { return };
    let charges = Idempotency::new(store.clone(), "tls.charge");
    let delivery = Delivery::new(fingerprint("idempotency_over_tls", 0));
    let first = charges
        .execute(delivery, async { Ok::<_, Error>(4_200_u32) })
        .await
        .unwrap();
    assert_eq!(first, Outcome::Executed(4_200));

    let replays = tokio::task::spawn_blocking(move || {
        let async_twin = charges.execute_blocking::<u32, Error, _>(delivery, || unreachable!());
        let refunds = Idempotency::new(store, "tls.refund");
        let refund = Delivery::new(fingerprint("idempotency_over_tls", 1));
        let executed = refunds.execute_blocking(refund, || Ok::<_, Error>(7_u32));
        let replayed = refunds.execute_blocking::<u32, Error, _>(refund, || unreachable!());
        (async_twin.unwrap(), executed.unwrap(), replayed.unwrap())
    })
    .await
    .unwrap();
    assert_eq!(
        replays,
        (
            Outcome::Replayed(4_200),
            Outcome::Executed(7),
            Outcome::Replayed(7)
        )
    );
}

/// `rediss://…/#insecure`, as a user writes it: TLS without verifying the certificate (the
/// test's CA is not trusted here), on the async and the blocking API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_with_an_insecure_rediss_url() {
    let Some(server) = server() else { return };
    let url = format!("{}/#insecure", server.url());
    assert!(url.starts_with("rediss://127.0.0.1:"), "{url}");
    let store = tokio::time::timeout(LIMIT, RedisStore::connect(&url))
        .await
        .expect("connecting hung")
        .expect("cannot connect with #insecure");
    let case = uuid::Uuid::new_v4().simple().to_string();
    let key = Key::new("tls.insecure", fingerprint(&case, 0));

    let request = claim_request();
    assert_eq!(
        store.claim(key, &request).await.unwrap(),
        ClaimOutcome::Acquired
    );
    store
        .complete(key, request.owner, b"42", LONG)
        .await
        .unwrap();
    let blocking = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || {
            let request = claim_request();
            store.claim_blocking(key, &request)
        })
    };
    match blocking.await.unwrap().unwrap() {
        ClaimOutcome::Existing(record) => assert_eq!(
            record.state,
            RecordState::Completed {
                value: b"42".to_vec()
            }
        ),
        other => panic!("the duplicate must replay over the blocking TLS connection: {other:?}"),
    }
}

/// Connecting must fail with `Error::Store` (not panic, not hang), quickly.
async fn connect_fails(url: &str) -> Error {
    let result = tokio::time::timeout(LIMIT, RedisStore::connect(url))
        .await
        .unwrap_or_else(|_| panic!("connecting to {url} hung for {LIMIT:?}"));
    let err = match result {
        Ok(store) => panic!("connecting to {url} must fail, got {store:?}"),
        Err(err) => err,
    };
    assert!(err.is_store_unavailable(), "{url}: {err:?}");
    assert!(err.to_string().starts_with("redis store error"), "{err}");
    err
}

/// The server's certificate is checked: its CA is not among the system's roots, so a plain
/// `rediss://` URL is refused, and the error names the certificate (with OpenSSL: "certificate
/// verify failed: (self-signed certificate in certificate chain)").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_is_a_store_error() {
    let Some(server) = server() else { return };
    let err = connect_fails(&server.url()).await;
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "the error must say what failed: {err}"
    );
}

/// Plaintext to a TLS-only port: the server drops the connection (the client cannot know why),
/// and the store reports a dropped connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_to_the_tls_port_is_a_store_error() {
    let Some(server) = server() else { return };
    let url = server.url().replacen("rediss://", "redis://", 1);
    let err = connect_fails(&url).await;
    let dropped = std::error::Error::source(&err)
        .and_then(|source| source.downcast_ref::<redis::RedisError>())
        .is_some_and(redis::RedisError::is_connection_dropped);
    assert!(dropped, "expected a dropped connection: {err:?}");
}

/// The TLS cluster's certificate is checked too: its CA is not among the system's roots, so
/// plain `rediss://` node URLs are refused, quickly, with `Error::Store`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_cluster_certificate_is_a_store_error() {
    let Some(cluster) = cluster() else { return };
    let result = tokio::time::timeout(
        LIMIT,
        RedisStore::cluster_builder(cluster.nodes())
            .connection_timeout(Duration::from_secs(10))
            .response_timeout(Duration::from_secs(10))
            .build(),
    )
    .await
    .expect("connecting to the TLS cluster hung");
    let err = match result {
        Ok(store) => panic!("an untrusted cluster certificate must be refused, got {store:?}"),
        Err(err) => err,
    };
    assert!(err.is_store_unavailable(), "{err:?}");
}
