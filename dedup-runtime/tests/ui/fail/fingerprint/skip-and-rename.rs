use dedup_runtime::Fingerprint;

#[derive(Fingerprint)]
struct OrderPlaced {
    order_id: u64,
    #[fingerprint(skip, rename = "sent")]
    sent_at: u64,
}

fn main() {}
