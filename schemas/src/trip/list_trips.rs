//! `instadash.trip.list-trips`: ask for a vehicle's trips in a time range.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct ListTrips {
        pub vehicle_id: String,
        /// Inclusive.
        pub from_ms: i64,
        /// Exclusive.
        pub to_ms: i64,
        /// `None` for 100.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub limit: Option<u32>,
    }

    contract! {
        ListTrips {
            type: "instadash.trip.list-trips",
            version: 1,
            file: "trip/list-trips",
            encodings: [Json],
            subject: vehicle_id,
            example: ListTrips {
                vehicle_id: "car-0042".into(),
                from_ms: crate::EXAMPLE_TIME_MS - 86_400_000,
                to_ms: crate::EXAMPLE_TIME_MS,
                limit: None,
            },
        }
    }
}
