//! `instadash.platform.*`: discovery (announce, heartbeat, goodbye, directory ping), statistics
//! and the trace view (query, spans), sent by every service about itself. The subject is the
//! service name.

pub mod directory_ping;
pub mod service_announced;
pub mod service_goodbye;
pub mod service_heartbeat;
pub mod service_stats;
pub mod trace_query;
pub mod trace_spans;

// The discovery messages' parts are the bridge's own types (it sends them), so the contract and
// the bridge cannot drift apart.
pub use broker_bridge::discovery::{GoodbyeReason, Health, HeartbeatLink, Offers, TypeVersions};

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
