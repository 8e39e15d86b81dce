use dedup_runtime::Fingerprint;

#[derive(Fingerprint)]
struct OrderId(#[fingerprint(rename = "id")] u64);

fn main() {}
