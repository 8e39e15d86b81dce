use dedup_runtime::Fingerprint;

#[derive(Fingerprint)]
struct OrderPlaced {
    order_id: u64,
    #[fingerprint(skip = 1)]
    sent_at: u64,
}

fn main() {}
