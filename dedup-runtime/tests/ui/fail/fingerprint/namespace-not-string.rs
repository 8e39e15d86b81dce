use dedup_runtime::Fingerprint;

#[derive(Fingerprint)]
#[fingerprint(namespace = orders::OrderPlaced)]
struct OrderPlaced {
    order_id: u64,
}

fn main() {}
