use dedup_runtime::Fingerprint;

#[derive(Fingerprint)]
struct OrderPlaced {
    #[fingerprint]
    order_id: u64,
}

fn main() {}
