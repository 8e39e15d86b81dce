use dedup_runtime::Fingerprint;
use serde::Serialize;

mod other {
    pub struct Duration {
        pub secs: u64,
    }
}

#[derive(Serialize, Fingerprint)]
#[serde(remote = "other::Duration")]
struct DurationDef {
    secs: u64,
}

fn main() {}
