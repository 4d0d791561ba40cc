//! `instadash.vehicle.get-state-reply`: the tracker's answer to `get-state`.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;
    use crate::vehicle::{VehicleState, example_state};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct GetStateReply {
        /// `None` if the tracker does not know the vehicle.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub vehicle: Option<VehicleState>,
    }

    contract! {
        GetStateReply {
            type: "instadash.vehicle.get-state-reply",
            version: 1,
            file: "vehicle/get-state-reply",
            encodings: [Json],
            example: GetStateReply { vehicle: Some(example_state("car-0042")) },
        }
    }
}
