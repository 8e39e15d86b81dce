use dedup_runtime::Fingerprint;

#[derive(Fingerprint)]
enum Event {
    #[fingerprint(unordered)]
    Tagged(Vec<String>),
}

fn main() {}
