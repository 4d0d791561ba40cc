//! `instadash.vehicle.get-route`: ask the trips service (the history) for a vehicle's positions in a time range.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct GetRoute {
        pub vehicle_id: String,
        /// Inclusive.
        pub from_ms: i64,
        /// Exclusive.
        pub to_ms: i64,
        /// `None` for 1000; beyond it the route is thinned evenly.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub max_points: Option<u32>,
    }

    contract! {
        GetRoute {
            type: "instadash.vehicle.get-route",
            version: 1,
            file: "vehicle/get-route",
            encodings: [Json],
            subject: vehicle_id,
            example: GetRoute {
                vehicle_id: "car-0042".into(),
                from_ms: crate::EXAMPLE_TIME_MS - 3_600_000,
                to_ms: crate::EXAMPLE_TIME_MS,
                max_points: Some(500),
            },
        }
    }
}
