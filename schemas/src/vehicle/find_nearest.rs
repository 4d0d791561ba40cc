//! `instadash.vehicle.find-nearest`: ask the tracker for the vehicles nearest to a point.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;
    use crate::vehicle::VehicleStatus;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct FindNearest {
        pub lat: f64,
        pub lon: f64,
        /// `None` for 10.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub limit: Option<u32>,
        /// `None` for any distance.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub max_distance_m: Option<f64>,
        /// `None` or empty for every status.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub statuses: Option<Vec<VehicleStatus>>,
    }

    contract! {
        FindNearest {
            type: "instadash.vehicle.find-nearest",
            version: 1,
            file: "vehicle/find-nearest",
            encodings: [Json],
            example: FindNearest {
                lat: 48.1374,
                lon: 11.5755,
                limit: Some(5),
                max_distance_m: Some(2_000.0),
                statuses: Some(vec![VehicleStatus::Online]),
            },
        }
    }
}
