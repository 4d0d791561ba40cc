//! `instadash.vehicle.list-vehicles-reply`: a page of vehicles.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;
    use crate::vehicle::{VehicleState, example_state};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct ListVehiclesReply {
        /// Ordered by vehicle id.
        pub vehicles: Vec<VehicleState>,
        /// How many vehicles match the filter in all.
        pub total: u32,
        /// Pass as `after` for the next page; `None` on the last page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub next_after: Option<String>,
    }

    contract! {
        ListVehiclesReply {
            type: "instadash.vehicle.list-vehicles-reply",
            version: 1,
            file: "vehicle/list-vehicles-reply",
            encodings: [Json],
            example: ListVehiclesReply {
                vehicles: vec![example_state("car-0042"), example_state("car-0043")],
                total: 117,
                next_after: Some("car-0043".into()),
            },
        }
    }
}
