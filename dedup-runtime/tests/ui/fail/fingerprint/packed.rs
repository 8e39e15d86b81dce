use dedup_runtime::Fingerprint;

#[derive(Fingerprint)]
#[repr(C, packed)]
struct Header {
    kind: u8,
    length: u32,
}

fn main() {}
