use dedup_runtime::Fingerprint;

#[derive(Fingerprint)]
struct OrderPlaced {
    order_id: u64,
    #[fingerprint(skip)]
    #[fingerprint(unordered)]
    tags: Vec<String>,
}

fn main() {}
