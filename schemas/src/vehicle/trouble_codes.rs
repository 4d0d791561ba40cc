//! `instadash.vehicle.trouble-codes`: the stored diagnostic trouble codes, sent when they change.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct TroubleCodes {
        pub vehicle_id: String,
        pub time_ms: i64,
        pub mil_on: bool,
        /// E.g. `P0301`; empty once cleared.
        pub codes: Vec<String>,
    }

    contract! {
        TroubleCodes {
            type: "instadash.vehicle.trouble-codes",
            version: 1,
            file: "vehicle/trouble-codes",
            encodings: [Json],
            subject: vehicle_id,
            example: TroubleCodes {
                vehicle_id: "car-0042".into(),
                time_ms: crate::EXAMPLE_TIME_MS,
                mil_on: true,
                codes: vec!["P0301".into(), "P0171".into()],
            },
        }
    }
}
