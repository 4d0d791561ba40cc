//! `instadash.trip.started`: a vehicle started a trip.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct TripStarted {
        pub trip_id: String,
        pub vehicle_id: String,
        pub started_at_ms: i64,
        pub start_lat: f64,
        pub start_lon: f64,
    }

    contract! {
        TripStarted {
            type: "instadash.trip.started",
            version: 1,
            file: "trip/started",
            encodings: [Json],
            subject: vehicle_id,
            example: TripStarted {
                trip_id: "trip-car-0042-0193".into(),
                vehicle_id: "car-0042".into(),
                started_at_ms: crate::EXAMPLE_TIME_MS - 1_520_000,
                start_lat: 48.150_912,
                start_lon: 11.544_731,
            },
        }
    }
}
