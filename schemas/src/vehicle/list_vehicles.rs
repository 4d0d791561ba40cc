//! `instadash.vehicle.list-vehicles`: ask the tracker for vehicles, a page at a time.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;
    use crate::vehicle::VehicleStatus;

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct ListVehicles {
        /// Only vehicles in one of these statuses; `None` or empty for all.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub statuses: Option<Vec<VehicleStatus>>,
        /// `None` for 100.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub limit: Option<u32>,
        /// Paging: the previous reply's `next_after`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub after: Option<String>,
    }

    contract! {
        ListVehicles {
            type: "instadash.vehicle.list-vehicles",
            version: 1,
            file: "vehicle/list-vehicles",
            encodings: [Json],
            example: ListVehicles {
                statuses: Some(vec![VehicleStatus::Online, VehicleStatus::Unknown]),
                limit: Some(50),
                after: None,
            },
        }
    }
}
