//! `instadash.vehicle.status-changed`: the tracker's view of a vehicle changed.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;
    use crate::vehicle::VehicleStatus;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct StatusChanged {
        pub vehicle_id: String,
        /// When the tracker decided the change.
        pub time_ms: i64,
        pub status: VehicleStatus,
        /// `None` for a vehicle seen for the first time.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub previous: Option<VehicleStatus>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub last_seen_ms: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub reason: Option<String>,
    }

    contract! {
        StatusChanged {
            type: "instadash.vehicle.status-changed",
            version: 1,
            file: "vehicle/status-changed",
            encodings: [Json],
            subject: vehicle_id,
            example: StatusChanged {
                vehicle_id: "car-0042".into(),
                time_ms: crate::EXAMPLE_TIME_MS,
                status: VehicleStatus::Unknown,
                previous: Some(VehicleStatus::Online),
                last_seen_ms: Some(crate::EXAMPLE_TIME_MS - 612_000),
                reason: Some("silent for 612 s".into()),
            },
        }
    }
}
