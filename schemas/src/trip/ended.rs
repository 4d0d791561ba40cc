//! `instadash.trip.ended`: a trip is over, with its summary.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;
    use crate::trip::EndReason;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct TripEnded {
        pub trip_id: String,
        pub vehicle_id: String,
        pub started_at_ms: i64,
        pub ended_at_ms: i64,
        pub start_lat: f64,
        pub start_lon: f64,
        pub end_lat: f64,
        pub end_lon: f64,
        pub distance_m: f64,
        pub duration_s: u32,
        pub max_speed_kmh: f64,
        /// While moving.
        pub avg_speed_kmh: f64,
        /// Engine on, not moving.
        pub idle_s: u32,
        pub harsh_braking_count: u32,
        pub harsh_acceleration_count: u32,
        pub harsh_cornering_count: u32,
        pub overspeed_count: u32,
        /// 0 (poor) to 100 (perfect).
        pub driver_score: f64,
        pub end_reason: EndReason,
    }

    contract! {
        TripEnded {
            type: "instadash.trip.ended",
            version: 1,
            file: "trip/ended",
            encodings: [Json],
            subject: vehicle_id,
            example: TripEnded {
                trip_id: "trip-car-0042-0193".into(),
                vehicle_id: "car-0042".into(),
                started_at_ms: crate::EXAMPLE_TIME_MS - 1_520_000,
                ended_at_ms: crate::EXAMPLE_TIME_MS + 310_000,
                start_lat: 48.150_912,
                start_lon: 11.544_731,
                end_lat: 48.133_020,
                end_lon: 11.591_447,
                distance_m: 9_412.5,
                duration_s: 1_830,
                max_speed_kmh: 92.0,
                avg_speed_kmh: 24.6,
                idle_s: 212,
                harsh_braking_count: 1,
                harsh_acceleration_count: 0,
                harsh_cornering_count: 0,
                overspeed_count: 1,
                driver_score: 78.5,
                end_reason: EndReason::Stopped,
            },
        }
    }
}
