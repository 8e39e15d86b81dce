use dedup_runtime::Fingerprint;

#[derive(Fingerprint)]
#[fingerprint(skip)]
struct OrderPlaced {
    order_id: u64,
}

fn main() {}
