//! `instadash.platform.*`: discovery (announce, heartbeat, goodbye, directory ping) and
//! statistics, sent by every service about itself. The subject is the service name.

use serde::{Deserialize, Serialize};

pub mod directory_ping;
pub mod service_announced;
pub mod service_goodbye;
pub mod service_heartbeat;
pub mod service_stats;

/// What an instance takes part in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offers {
    /// Event types it subscribes to.
    pub consumes: Vec<TypeVersions>,
    /// Event types it publishes.
    pub produces: Vec<TypeVersions>,
    /// Commands its inbox accepts.
    pub commands: Vec<TypeVersions>,
    /// Requests it answers.
    pub requests: Vec<TypeVersions>,
    /// Work queues it takes jobs from (names without the `instadash.work.` prefix).
    pub work_queues: Vec<String>,
}

/// A message type and the schema versions handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeVersions {
    #[serde(rename = "type")]
    pub type_: String,
    pub versions: Vec<u32>,
}

/// How an instance is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Ok,
    /// Working with trouble (e.g. the broker link is recovering).
    Degraded,
    /// Shutting down, finishing what it holds.
    Draining,
}

pub(crate) fn example_offers() -> Offers {
    let tv = |t: &str, v: &[u32]| TypeVersions {
        type_: t.into(),
        versions: v.to_vec(),
    };
    Offers {
        consumes: vec![
            tv("instadash.vehicle.position", &[1, 2]),
            tv("instadash.vehicle.obd-reading", &[1]),
        ],
        produces: vec![tv("instadash.vehicle.status-changed", &[1])],
        commands: vec![],
        requests: vec![
            tv("instadash.vehicle.get-state", &[1]),
            tv("instadash.vehicle.find-nearest", &[1]),
        ],
        work_queues: vec![],
    }
}
