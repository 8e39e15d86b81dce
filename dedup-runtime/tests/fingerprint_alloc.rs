//! Fingerprinting a message allocates nothing once the thread's buffer pool is warm.
//!
//! Every delivery of every message is fingerprinted, so the encoder streams into SHA-256 and
//! borrows its sorting buffers from a per-thread pool. This test counts heap allocations with a
//! wrapping global allocator to keep it that way.
// A `GlobalAlloc` impl is unsafe by definition; it only forwards to `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeSet;

use chrono::{DateTime, TimeZone, Utc};
use dedup_runtime::Fingerprint;
use dedup_runtime::fingerprint::fingerprint_of;
use serde::Serialize;
use uuid::Uuid;

thread_local! {
    /// Allocations made by this thread. Per thread, so the test harness's own threads don't count.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

struct Counting;

fn count() {
    // `try_with`: never fail inside the allocator, even during thread teardown.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: `ptr` and `layout` come from this allocator, which is `System` underneath.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[derive(Serialize, Fingerprint)]
#[serde(rename_all = "camelCase")]
#[fingerprint(namespace = "orders.OrderPlaced")]
struct OrderPlaced {
    order_id: u64,
    customer_id: Uuid,
    placed_at: DateTime<Utc>,
    status: Status,
    items: Vec<Item>,
    tags: BTreeSet<String>,
    total: f64,
    note: Option<String>,
}

#[derive(Serialize)]
enum Status {
    Placed,
}

#[derive(Serialize, Fingerprint)]
struct Item {
    sku: String,
    qty: u32,
    price_cents: i64,
    discount: Option<Discount>,
}

#[derive(Serialize)]
enum Discount {
    Percent(u8),
}

fn message() -> OrderPlaced {
    OrderPlaced {
        order_id: 9_007_199_254_740_993,
        customer_id: Uuid::from_u128(0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8),
        placed_at: Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap(),
        status: Status::Placed,
        items: (1..=3)
            .map(|i| Item {
                sku: format!("SKU-{i}"),
                qty: i,
                price_cents: -150 * i64::from(i),
                discount: (i == 2).then_some(Discount::Percent(10)),
            })
            .collect(),
        tags: ["b", "a", "c"].into_iter().map(String::from).collect(),
        total: 19.99,
        note: None,
    }
}

#[test]
fn the_counter_counts() {
    let n = allocations_during(|| {
        std::hint::black_box(vec![1u8; 16]);
    });
    assert_eq!(n, 1);
}

#[test]
fn a_typical_message_allocates_nothing_after_warm_up() {
    let msg = message();
    let expected = fingerprint_of("orders.OrderPlaced", &msg).unwrap();
    for _ in 0..10 {
        fingerprint_of("orders.OrderPlaced", &msg).unwrap();
    }
    let n = allocations_during(|| {
        for _ in 0..100 {
            let digest = fingerprint_of("orders.OrderPlaced", &msg).unwrap();
            assert_eq!(digest, expected);
        }
    });
    assert_eq!(n, 0, "allocations in 100 fingerprints of a warm thread");
}

/// The same through `#[derive(Fingerprint)]`, whose direct path writes the message and its
/// items without serde.
#[test]
fn a_derived_message_allocates_nothing_after_warm_up() {
    let msg = message();
    let expected = fingerprint_of("orders.OrderPlaced", &msg).unwrap();
    assert_eq!(msg.fingerprint(), expected);
    let n = allocations_during(|| {
        for _ in 0..100 {
            assert_eq!(msg.fingerprint(), expected);
        }
    });
    assert_eq!(
        n, 0,
        "allocations in 100 derived fingerprints of a warm thread"
    );
}

#[test]
fn std_type_keys_allocate_nothing() {
    let key = (42u64, "order-1", Some(7i32));
    key.fingerprint();
    let n = allocations_during(|| {
        for _ in 0..100 {
            key.fingerprint();
            "order-1".fingerprint();
            [1u8, 2, 3].fingerprint();
        }
    });
    assert_eq!(n, 0);
}
