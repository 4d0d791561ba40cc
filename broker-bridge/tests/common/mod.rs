//! What the fault tests send: a numbered tick.

use broker_bridge::Message;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tick {
    pub seq: u32,
}

impl Message for Tick {
    const TYPE: &'static str = "instadash.test.tick";
}
