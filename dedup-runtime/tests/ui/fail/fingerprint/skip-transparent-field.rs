use dedup_runtime::Fingerprint;
use serde::Serialize;

#[derive(Serialize, Fingerprint)]
#[serde(transparent)]
struct OrderId {
    #[fingerprint(skip)]
    id: u64,
}

fn main() {}
