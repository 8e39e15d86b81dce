//! Each `#[idempotent(...)]` option at work: `key`, `scope`, `ttl`, `lease`, `correlation`,
//! `payload` and `crate`, with their defaults.

mod idempotent_support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use dedup_runtime::idempotency::{DEFAULT_LEASE, DEFAULT_TTL};
use dedup_runtime::store::{BlockingStore, Key, ManualClock, MemoryStore, Record};
use dedup_runtime::{Digest, Error, Fingerprint, idempotent};
use idempotent_support::{HandlerError, manual_store};
use serde::Serialize;

const TTL: Duration = Duration::from_secs(3 * 60);
const LEASE: Duration = Duration::from_millis(2_500);
const SHARED_SCOPE: &str = "options.shared";

#[derive(Debug, Clone, Serialize, Fingerprint)]
#[fingerprint(namespace = "tests.Order.v1")]
struct Order {
    id: u64,
    amount_cents: i64,
    #[fingerprint(skip)]
    correlation_id: String,
    #[fingerprint(skip)]
    trace: Option<String>,
}

fn order(id: u64, amount_cents: i64, correlation_id: &str) -> Order {
    Order {
        id,
        amount_cents,
        correlation_id: correlation_id.into(),
        trace: None,
    }
}

struct Consumer {
    store: MemoryStore,
    clock: ManualClock,
    runs: AtomicU32,
    ttl: Duration,
}

impl Consumer {
    fn new() -> Self {
        let (store, clock) = manual_store();
        Consumer {
            store,
            clock,
            runs: AtomicU32::new(0),
            ttl: Duration::from_secs(42),
        }
    }

    fn runs(&self) -> u32 {
        self.runs.load(Ordering::SeqCst)
    }

    fn run(&self) -> u32 {
        self.runs.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn record(&self, scope: &str, key: Digest) -> Record {
        self.store
            .get_blocking(Key::new(scope, key))
            .unwrap()
            .unwrap_or_else(|| panic!("no record in {scope}"))
    }

    /// How long the claim on `key` still runs, seen from inside the body: the lease.
    fn lease_seen_by_body(&self, scope: &str, key: Digest) -> Duration {
        self.record(scope, key).expires_in.unwrap()
    }

    // key

    #[idempotent(store = self.store, scope = "options.key", key = order.id)]
    fn by_id(&self, order: &Order) -> Result<u32, HandlerError> {
        let _ = order;
        Ok(self.run())
    }

    #[idempotent(store = self.store, scope = "options.key_tuple", key = (tenant, id))]
    fn by_tenant_and_id(&self, tenant: &str, id: u64, attempt: u32) -> Result<u32, HandlerError> {
        let _ = (tenant, id, attempt);
        Ok(self.run())
    }

    #[idempotent(store = self.store, scope = "options.default_key")]
    fn by_whole_message(&self, order: Order) -> Result<u32, HandlerError> {
        drop(order);
        Ok(self.run())
    }

    // scope

    #[idempotent(store = self.store, key = id)]
    fn default_scope(&self, id: u64) -> Result<u32, HandlerError> {
        Ok(self.run())
    }

    #[idempotent(store = self.store)]
    fn r#type(&self, id: u64) -> Result<u32, HandlerError> {
        let _ = id;
        Ok(self.run())
    }

    #[idempotent(store = self.store, scope = SHARED_SCOPE, key = id)]
    fn shared_a(&self, id: u64) -> Result<u32, HandlerError> {
        Ok(self.run())
    }

    #[idempotent(store = self.store, scope = "options.shared", key = id)]
    fn shared_b(&self, id: u64) -> Result<u32, HandlerError> {
        Ok(self.run())
    }

    #[idempotent(store = self.store, scope = "options.other", key = id)]
    fn other_scope(&self, id: u64) -> Result<u32, HandlerError> {
        Ok(self.run())
    }

    // ttl and lease

    #[idempotent(store = self.store, scope = "options.defaults")]
    fn defaults(&self, id: u64) -> Result<Duration, HandlerError> {
        Ok(self.lease_seen_by_body("options.defaults", id.fingerprint()))
    }

    #[idempotent(store = self.store, scope = "options.seconds", ttl = 90, lease = 45)]
    fn seconds(&self, id: u64) -> Result<Duration, HandlerError> {
        Ok(self.lease_seen_by_body("options.seconds", id.fingerprint()))
    }

    #[idempotent(store = self.store, scope = "options.units", ttl = "7d", lease = "500ms")]
    fn units(&self, id: u64) -> Result<Duration, HandlerError> {
        Ok(self.lease_seen_by_body("options.units", id.fingerprint()))
    }

    #[idempotent(store = self.store, scope = "options.units2", ttl = "24h", lease = "2m")]
    fn units2(&self, id: u64) -> Result<Duration, HandlerError> {
        Ok(self.lease_seen_by_body("options.units2", id.fingerprint()))
    }

    #[idempotent(store = self.store, scope = "options.units3", ttl = "15m", lease = "90s")]
    fn units3(&self, id: u64) -> Result<Duration, HandlerError> {
        Ok(self.lease_seen_by_body("options.units3", id.fingerprint()))
    }

    #[idempotent(store = self.store, scope = "options.exprs", ttl = TTL, lease = LEASE)]
    fn consts(&self, id: u64) -> Result<Duration, HandlerError> {
        Ok(self.lease_seen_by_body("options.exprs", id.fingerprint()))
    }

    #[idempotent(
        store = self.store,
        scope = "options.runtime",
        ttl = self.ttl,
        lease = Duration::from_secs(self.ttl.as_secs() / 2),
    )]
    async fn runtime_values(&self, id: u64) -> Result<Duration, HandlerError> {
        Ok(self.lease_seen_by_body("options.runtime", id.fingerprint()))
    }

    // correlation

    #[idempotent(store = self.store, scope = "options.corr_display", correlation = order.correlation_id)]
    fn corr_display(&self, order: &Order) -> Result<(), HandlerError> {
        let _ = order;
        Ok(())
    }

    #[idempotent(store = self.store, scope = "options.corr_option", correlation = order.trace)]
    async fn corr_option(&self, order: &Order) -> Result<(), HandlerError> {
        let _ = order;
        Ok(())
    }

    #[idempotent(store = self.store, scope = "options.corr_number", key = order.id, correlation = order.id)]
    fn corr_number(&self, order: &Order) -> Result<(), HandlerError> {
        let _ = order;
        Ok(())
    }

    // payload

    #[idempotent(store = self.store, scope = "options.payload", key = order.id, payload = order)]
    fn pay(&self, order: &Order) -> Result<u32, HandlerError> {
        let _ = order;
        Ok(self.run())
    }

    #[idempotent(store = self.store, scope = "options.payload_async", key = order.id, payload = order)]
    async fn pay_async(&self, order: &Order) -> Result<u32, HandlerError> {
        let _ = order;
        Ok(self.run())
    }
}

// key

#[test]
fn key_selects_what_identifies_the_message() {
    let c = Consumer::new();
    assert_eq!(c.by_id(&order(1, 100, "a")).unwrap(), 1);
    assert_eq!(
        c.by_id(&order(1, 999, "b")).unwrap(),
        1,
        "same id: a duplicate"
    );
    assert_eq!(c.by_id(&order(2, 100, "a")).unwrap(), 2);
    let _ = c.record("options.key", 1_u64.fingerprint());
}

#[test]
fn key_can_combine_parameters() {
    let c = Consumer::new();
    assert_eq!(c.by_tenant_and_id("acme", 1, 1).unwrap(), 1);
    assert_eq!(
        c.by_tenant_and_id("acme", 1, 2).unwrap(),
        1,
        "attempt does not count"
    );
    assert_eq!(c.by_tenant_and_id("umbrella", 1, 1).unwrap(), 2);
    let _ = c.record("options.key_tuple", ("acme", 1_u64).fingerprint());
}

#[test]
fn the_default_key_is_the_only_parameter() {
    let c = Consumer::new();
    assert_eq!(c.by_whole_message(order(1, 100, "a")).unwrap(), 1);
    assert_eq!(
        c.by_whole_message(order(1, 100, "b")).unwrap(),
        1,
        "skipped fields do not count"
    );
    assert_eq!(
        c.by_whole_message(order(1, 101, "a")).unwrap(),
        2,
        "the amount counts"
    );
    let _ = c.record("options.default_key", order(1, 100, "").fingerprint());
}

// scope

#[test]
fn the_default_scope_is_the_module_path_and_function_name() {
    let c = Consumer::new();
    assert_eq!(c.default_scope(1).unwrap(), 1);
    let scope = concat!(module_path!(), "::", "default_scope");
    assert_eq!(scope, "idempotent_options::default_scope");
    assert!(c.record(scope, 1_u64.fingerprint()).is_completed());

    assert_eq!(c.r#type(1).unwrap(), 2);
    let scope = "idempotent_options::type";
    assert!(
        c.record(scope, 1_u64.fingerprint()).is_completed(),
        "raw identifiers unraw"
    );
}

#[test]
fn handlers_in_one_scope_process_a_message_once_between_them() {
    let c = Consumer::new();
    assert_eq!(c.shared_a(1).unwrap(), 1);
    assert_eq!(
        c.shared_b(1).unwrap(),
        1,
        "a `&'static str` const and a literal name one scope"
    );
    assert_eq!(
        c.other_scope(1).unwrap(),
        2,
        "another scope processes it again"
    );
}

// ttl and lease

/// Runs `handler` on a fresh key and returns the lease the body saw and the ttl of the record.
fn ttl_and_lease(
    c: &Consumer,
    scope: &str,
    handler: impl FnOnce(&Consumer, u64) -> Result<Duration, HandlerError>,
) -> (Duration, Duration) {
    let lease = handler(c, 1).unwrap();
    let ttl = c.record(scope, 1_u64.fingerprint()).expires_in.unwrap();
    (ttl, lease)
}

#[test]
fn ttl_and_lease_default_to_a_day_and_thirty_seconds() {
    let c = Consumer::new();
    let got = ttl_and_lease(&c, "options.defaults", Consumer::defaults);
    assert_eq!(got, (DEFAULT_TTL, DEFAULT_LEASE));
    assert_eq!(got, (Duration::from_secs(86_400), Duration::from_secs(30)));
}

#[test]
fn ttl_and_lease_take_seconds() {
    let c = Consumer::new();
    let got = ttl_and_lease(&c, "options.seconds", Consumer::seconds);
    assert_eq!(got, (Duration::from_secs(90), Duration::from_secs(45)));
}

#[test]
fn ttl_and_lease_take_a_string_with_a_unit() {
    let c = Consumer::new();
    let got = ttl_and_lease(&c, "options.units", Consumer::units);
    assert_eq!(
        got,
        (Duration::from_secs(7 * 86_400), Duration::from_millis(500))
    );
    let got = ttl_and_lease(&c, "options.units2", Consumer::units2);
    assert_eq!(got, (Duration::from_secs(86_400), Duration::from_secs(120)));
    let got = ttl_and_lease(&c, "options.units3", Consumer::units3);
    assert_eq!(got, (Duration::from_secs(900), Duration::from_secs(90)));
}

#[test]
fn ttl_and_lease_take_a_duration_expression() {
    let c = Consumer::new();
    let got = ttl_and_lease(&c, "options.exprs", Consumer::consts);
    assert_eq!(got, (TTL, LEASE));
}

#[tokio::test]
async fn ttl_and_lease_can_be_computed_at_run_time() {
    let c = Consumer::new();
    let lease = c.runtime_values(1).await.unwrap();
    let ttl = c.record("options.runtime", 1_u64.fingerprint()).expires_in;
    assert_eq!(
        (ttl, lease),
        (Some(Duration::from_secs(42)), Duration::from_secs(21))
    );
}

#[test]
fn the_lease_bounds_how_long_a_stuck_claim_blocks_redeliveries() {
    let c = Consumer::new();
    // A delivery that claimed and then died (its process was killed mid-body).
    let request = dedup_runtime::store::ClaimRequest {
        owner: dedup_runtime::store::OwnerToken::random(),
        lease: Duration::from_secs(45),
        correlation: None,
        payload: None,
    };
    c.store
        .claim_blocking(Key::new("options.seconds", 2_u64.fingerprint()), &request)
        .unwrap();
    assert!(c.seconds(2).unwrap_err().dedup().is_in_progress());
    c.clock.advance(Duration::from_secs(45));
    assert_eq!(c.seconds(2).unwrap(), Duration::from_secs(45), "taken over");
}

// correlation

#[tokio::test]
async fn correlation_takes_a_display_value_or_an_option_of_one() {
    let c = Consumer::new();
    let o = order(1, 100, "corr-7");
    c.corr_display(&o).unwrap();
    let record = c.record("options.corr_display", o.fingerprint());
    assert_eq!(record.correlation.as_deref(), Some("corr-7"));

    let mut traced = order(2, 100, "");
    traced.trace = Some("trace-9".into());
    c.corr_option(&traced).await.unwrap();
    let record = c.record("options.corr_option", traced.fingerprint());
    assert_eq!(record.correlation.as_deref(), Some("trace-9"));

    let untraced = order(3, 100, "");
    c.corr_option(&untraced).await.unwrap();
    let record = c.record("options.corr_option", untraced.fingerprint());
    assert_eq!(record.correlation, None);

    c.corr_number(&order(17, 100, "")).unwrap();
    let record = c.record("options.corr_number", 17_u64.fingerprint());
    assert_eq!(record.correlation.as_deref(), Some("17"));
}

// payload

#[test]
fn payload_tells_a_reused_key_from_a_duplicate() {
    let c = Consumer::new();
    assert_eq!(c.pay(&order(1, 100, "a")).unwrap(), 1);
    assert_eq!(
        c.pay(&order(1, 100, "b")).unwrap(),
        1,
        "a real duplicate is replayed"
    );
    let err = c.pay(&order(1, 250, "c")).unwrap_err().dedup();
    let Error::PayloadMismatch {
        scope,
        fingerprint,
        stored,
        current,
    } = err
    else {
        panic!("expected a payload mismatch, got {err:?}")
    };
    assert_eq!(scope, "options.payload");
    assert_eq!(fingerprint, 1_u64.fingerprint());
    assert_eq!(stored, order(1, 100, "").fingerprint());
    assert_eq!(current, order(1, 250, "").fingerprint());
    assert_eq!(c.runs(), 1);
}

#[tokio::test]
async fn payload_tells_a_reused_key_from_a_duplicate_async() {
    let c = Consumer::new();
    assert_eq!(c.pay_async(&order(1, 100, "a")).await.unwrap(), 1);
    assert_eq!(c.pay_async(&order(1, 100, "b")).await.unwrap(), 1);
    let err = c.pay_async(&order(1, 250, "c")).await.unwrap_err().dedup();
    assert!(matches!(err, Error::PayloadMismatch { .. }), "{err:?}");
    assert_eq!(c.runs(), 1);
}

// crate

mod renamed {
    pub(crate) use dedup_runtime as dedup;
}

#[idempotent(crate = renamed::dedup, store = STORE, scope = "options.crate")]
fn through_a_renamed_crate(id: u64) -> Result<u64, Error> {
    Ok(id * 2)
}

static STORE: std::sync::LazyLock<MemoryStore> = std::sync::LazyLock::new(MemoryStore::new);

#[test]
fn crate_names_a_renamed_or_reexported_runtime() {
    assert_eq!(through_a_renamed_crate(21).unwrap(), 42);
    assert!(
        STORE
            .contains_blocking(Key::new("options.crate", 21_u64.fingerprint()))
            .unwrap()
    );
}
