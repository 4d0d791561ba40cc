//! `instadash.vehicle.find-nearest-reply`: vehicles with their distance, nearest first.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;
    use crate::vehicle::{VehicleState, example_state};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct FindNearestReply {
        pub vehicles: Vec<NearVehicle>,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct NearVehicle {
        /// Great-circle distance from the point, metres.
        pub distance_m: f64,
        pub vehicle: VehicleState,
    }

    contract! {
        FindNearestReply {
            type: "instadash.vehicle.find-nearest-reply",
            version: 1,
            file: "vehicle/find-nearest-reply",
            encodings: [Json],
            example: FindNearestReply {
                vehicles: vec![NearVehicle { distance_m: 96.4, vehicle: example_state("car-0042") }],
            },
        }
    }
}
