//! Every mistake is reported in one compile, and the type still implements `Fingerprint`: code
//! that uses it gets no second wave of errors.
use dedup_runtime::Fingerprint;

#[derive(Fingerprint)]
#[fingerprint(namespace = "", rename = "x")]
struct OrderPlaced {
    #[fingerprint(skp)]
    order_id: u64,
    #[fingerprint(skip, rename = "sent")]
    sent_at: u64,
    #[fingerprint(unordered = true)]
    tags: Vec<String>,
}

fn main() {
    let order = OrderPlaced {
        order_id: 1,
        sent_at: 2,
        tags: Vec::new(),
    };
    let _ = order.fingerprint();
}
