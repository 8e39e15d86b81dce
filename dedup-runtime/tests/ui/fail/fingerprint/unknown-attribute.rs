use dedup_runtime::Fingerprint;

#[derive(Fingerprint)]
struct OrderPlaced {
    #[fingerprint(skp)]
    sent_at: u64,
}

fn main() {}
