//! The example of the `#[derive(Fingerprint)]` docs, compiled.
use dedup_runtime::Fingerprint;
use serde::Serialize;

#[derive(Serialize, Fingerprint)]
#[serde(rename_all = "camelCase")]
#[fingerprint(namespace = "orders.OrderPlaced.v1")]
struct OrderPlaced {
    order_id: u64,
    customer_id: uuid::Uuid,
    #[fingerprint(unordered)]
    tags: Vec<String>,
    /// Set by the producer on every retry: not part of the message's content.
    #[fingerprint(skip)]
    correlation_id: uuid::Uuid,
    #[fingerprint(skip)]
    sent_at: chrono::DateTime<chrono::Utc>,
}

fn check(a: &OrderPlaced, b: &OrderPlaced) {
    // Two deliveries of one order, re-sent with a new correlation id: one fingerprint.
    assert_eq!(a.fingerprint(), b.fingerprint());
}

fn main() {
    let order = |correlation_id| OrderPlaced {
        order_id: 1,
        customer_id: uuid::Uuid::nil(),
        tags: vec!["a".to_owned(), "b".to_owned()],
        correlation_id,
        sent_at: chrono::DateTime::UNIX_EPOCH,
    };
    check(&order(uuid::Uuid::nil()), &order(uuid::Uuid::max()));
}
