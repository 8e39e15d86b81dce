use dedup_runtime::Fingerprint;

#[derive(Fingerprint)]
union Bits {
    int: u32,
    float: f32,
}

fn main() {}
