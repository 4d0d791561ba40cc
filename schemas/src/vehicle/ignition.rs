//! `instadash.vehicle.ignition`: the ignition was switched on or off.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Ignition {
        pub vehicle_id: String,
        /// ms since the Unix epoch.
        pub time_ms: i64,
        pub on: bool,
    }

    contract! {
        Ignition {
            type: "instadash.vehicle.ignition",
            version: 1,
            file: "vehicle/ignition",
            encodings: [Json],
            subject: vehicle_id,
            example: Ignition {
                vehicle_id: "car-0042".into(),
                time_ms: crate::EXAMPLE_TIME_MS,
                on: false,
            },
        }
    }
}
