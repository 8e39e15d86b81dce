use dedup_runtime::Fingerprint;

#[derive(Fingerprint)]
struct OrderPlaced {
    #[fingerprint(namespace = "orders.OrderPlaced")]
    order_id: u64,
}

fn main() {}
