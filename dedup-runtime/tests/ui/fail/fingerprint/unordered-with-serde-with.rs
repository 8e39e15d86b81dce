use dedup_runtime::Fingerprint;
use serde::{Serialize, Serializer};

fn joined<S: Serializer>(tags: &[String], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&tags.join(","))
}

#[derive(Serialize, Fingerprint)]
struct OrderPlaced {
    #[fingerprint(unordered)]
    #[serde(serialize_with = "joined")]
    tags: Vec<String>,
}

fn main() {}
