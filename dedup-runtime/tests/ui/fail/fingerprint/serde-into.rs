use dedup_runtime::Fingerprint;
use serde::Serialize;

#[derive(Clone, Serialize, Fingerprint)]
#[serde(into = "Wire")]
struct OrderPlaced {
    order_id: u64,
}

#[derive(Serialize)]
struct Wire {
    id: String,
}

impl From<OrderPlaced> for Wire {
    fn from(order: OrderPlaced) -> Self {
        Wire {
            id: order.order_id.to_string(),
        }
    }
}

fn main() {}
