use dedup_runtime::Fingerprint;

#[derive(Fingerprint)]
struct OrderPlaced {
    #[fingerprint(rename = "order_id")]
    #[fingerprint(rename = "id")]
    id: u64,
}

fn main() {}
