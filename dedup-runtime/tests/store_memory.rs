//! MemoryStore: the conformance suite (async and blocking APIs, on a manual clock) and what is
//! particular to it: purge, capacity eviction, release of dropped claims without a runtime.

use std::time::Duration;

use dedup_runtime::store::conformance::{Blocking, ManualTime, fingerprint};
use dedup_runtime::store::{
    BlockingStore, ClaimOutcome, ClaimRequest, Key, ManualClock, MemoryStore, OwnerToken, Store,
};

fn manual() -> (MemoryStore, ManualTime) {
    let clock = ManualClock::new();
    let store = MemoryStore::builder().clock(clock.clone()).build();
    (store, ManualTime(clock))
}

mod conformance {
    dedup_runtime::conformance_tests!(setup = async { super::manual() });
}

mod conformance_blocking {
    dedup_runtime::conformance_tests!(
        setup = async {
            let (store, time) = super::manual();
            (dedup_runtime::store::conformance::Blocking(store), time)
        }
    );
}

fn req(lease: Duration) -> ClaimRequest<'static> {
    ClaimRequest {
        owner: OwnerToken::random(),
        lease,
        correlation: None,
        payload: None,
    }
}

#[test]
fn expired_records_are_purged_as_the_store_is_used() {
    let clock = ManualClock::new();
    let store = MemoryStore::builder()
        .clock(clock.clone())
        .purge_every(Duration::from_secs(10))
        .build();
    for i in 0..100 {
        let key = Key::new("s", fingerprint("purge", i));
        store
            .store_blocking(key, b"v", Duration::from_secs(1))
            .unwrap();
    }
    assert_eq!(store.len(), 100);
    clock.advance(Duration::from_secs(11));
    // The next operation after the purge period sweeps the expired records.
    let key = Key::new("s", fingerprint("purge", 1000));
    assert_eq!(
        store
            .claim_blocking(key, &req(Duration::from_secs(30)))
            .unwrap(),
        ClaimOutcome::Acquired
    );
    assert_eq!(store.len(), 1);
}

#[test]
fn purge_expired_reports_how_many_it_deleted() {
    let clock = ManualClock::new();
    let store = MemoryStore::builder().clock(clock.clone()).build();
    for i in 0..10 {
        let expire = if i < 7 {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(100)
        };
        store
            .store_blocking(Key::new("s", fingerprint("count", i)), b"v", expire)
            .unwrap();
    }
    clock.advance(Duration::from_secs(2));
    assert_eq!(store.purge_expired_blocking().unwrap(), 7);
    assert_eq!(store.len(), 3);
}

#[test]
fn capacity_evicts_completed_records_closest_to_expiry_never_claims() {
    let clock = ManualClock::new();
    let store = MemoryStore::builder()
        .clock(clock.clone())
        .capacity(8)
        .build();
    let claimed: Vec<_> = (0..4)
        .map(|i| {
            let key = Key::new("s", fingerprint("claimed", i));
            let request = req(Duration::from_secs(1_000));
            assert_eq!(
                store.claim_blocking(key, &request).unwrap(),
                ClaimOutcome::Acquired
            );
            (key, request.owner)
        })
        .collect();
    // Completed records, the first ones expiring soonest.
    for i in 0..4 {
        let key = Key::new("s", fingerprint("done", i));
        store
            .store_blocking(key, b"v", Duration::from_secs(100 + i))
            .unwrap();
    }
    assert_eq!(store.len(), 8);
    // A new claim at capacity evicts the completed record closest to expiry.
    let newcomer = Key::new("s", fingerprint("new", 0));
    assert_eq!(
        store
            .claim_blocking(newcomer, &req(Duration::from_secs(30)))
            .unwrap(),
        ClaimOutcome::Acquired
    );
    assert!(store.len() <= 8);
    assert!(
        !store
            .contains_blocking(Key::new("s", fingerprint("done", 0)))
            .unwrap(),
        "the soonest-expiring record goes first"
    );
    assert!(
        store
            .contains_blocking(Key::new("s", fingerprint("done", 3)))
            .unwrap()
    );
    for (key, owner) in &claimed {
        let record = store
            .get_blocking(*key)
            .unwrap()
            .expect("an in-progress claim was evicted");
        assert_eq!(
            record.state,
            dedup_runtime::store::RecordState::InProgress { owner: *owner }
        );
    }
    // Only claims left to evict: the store admits beyond capacity rather than drop one.
    let full = MemoryStore::builder().capacity(2).build();
    for i in 0..5 {
        let key = Key::new("s", fingerprint("all-claims", i));
        assert_eq!(
            full.claim_blocking(key, &req(Duration::from_secs(30)))
                .unwrap(),
            ClaimOutcome::Acquired
        );
    }
    assert_eq!(full.len(), 5);
}

#[test]
fn an_evicted_message_is_new_again() {
    let store = MemoryStore::builder().capacity(1).build();
    let first = Key::new("s", fingerprint("evicted", 0));
    store
        .store_blocking(first, b"done", Duration::from_secs(100))
        .unwrap();
    let second = Key::new("s", fingerprint("evicted", 1));
    assert_eq!(
        store
            .claim_blocking(second, &req(Duration::from_secs(30)))
            .unwrap(),
        ClaimOutcome::Acquired
    );
    assert_eq!(
        store
            .claim_blocking(first, &req(Duration::from_secs(30)))
            .unwrap(),
        ClaimOutcome::Acquired
    );
}

#[test]
fn release_detached_needs_no_runtime() {
    let store = MemoryStore::new();
    let key = Key::new("s", fingerprint("detached", 0));
    let request = req(Duration::from_secs(30));
    assert_eq!(
        store.claim_blocking(key, &request).unwrap(),
        ClaimOutcome::Acquired
    );
    store.release_detached(key, request.owner);
    assert!(!store.contains_blocking(key).unwrap());
}

#[tokio::test]
async fn blocking_adapter_reports_the_inner_name() {
    assert_eq!(Blocking(MemoryStore::new()).name(), "memory");
}
