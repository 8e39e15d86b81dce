use dedup_runtime::Fingerprint;

struct Money {
    cents: i64,
}

#[derive(Fingerprint)]
struct OrderPlaced {
    order_id: u64,
    total: Money,
}

fn main() {}
