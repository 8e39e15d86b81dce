use dedup_runtime::Fingerprint;

#[derive(Fingerprint)]
struct CustomerMoved {
    customer_id: u64,
    #[fingerprint(rename = "customer_id")]
    client_id: u64,
}

fn main() {}
