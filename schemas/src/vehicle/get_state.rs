//! `instadash.vehicle.get-state`: ask the tracker for one vehicle's state.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct GetState {
        pub vehicle_id: String,
    }

    contract! {
        GetState {
            type: "instadash.vehicle.get-state",
            version: 1,
            file: "vehicle/get-state",
            encodings: [Json],
            subject: vehicle_id,
            example: GetState { vehicle_id: "car-0042".into() },
        }
    }
}
