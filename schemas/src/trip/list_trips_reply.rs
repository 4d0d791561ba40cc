//! `instadash.trip.list-trips-reply`: trip summaries, oldest first.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct ListTripsReply {
        pub vehicle_id: String,
        /// Oldest first; the last may be in progress.
        pub trips: Vec<TripSummary>,
        /// More trips matched than the limit.
        pub truncated: bool,
    }

    /// A trip, finished or in progress.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct TripSummary {
        pub trip_id: String,
        pub started_at_ms: i64,
        /// `None` while in progress.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub ended_at_ms: Option<i64>,
        pub distance_m: f64,
        pub duration_s: u32,
        pub max_speed_kmh: f64,
        pub avg_speed_kmh: f64,
        pub idle_s: u32,
        pub harsh_braking_count: u32,
        pub harsh_acceleration_count: u32,
        pub harsh_cornering_count: u32,
        pub overspeed_count: u32,
        /// `None` while in progress.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub driver_score: Option<f64>,
    }

    contract! {
        ListTripsReply {
            type: "instadash.trip.list-trips-reply",
            version: 1,
            file: "trip/list-trips-reply",
            encodings: [Json],
            example: ListTripsReply {
                vehicle_id: "car-0042".into(),
                trips: vec![
                    TripSummary {
                        trip_id: "trip-car-0042-0193".into(),
                        started_at_ms: crate::EXAMPLE_TIME_MS - 1_520_000,
                        ended_at_ms: Some(crate::EXAMPLE_TIME_MS + 310_000),
                        distance_m: 9_412.5,
                        duration_s: 1_830,
                        max_speed_kmh: 92.0,
                        avg_speed_kmh: 24.6,
                        idle_s: 212,
                        harsh_braking_count: 1,
                        harsh_acceleration_count: 0,
                        harsh_cornering_count: 0,
                        overspeed_count: 1,
                        driver_score: Some(78.5),
                    },
                    TripSummary {
                        trip_id: "trip-car-0042-0194".into(),
                        started_at_ms: crate::EXAMPLE_TIME_MS + 912_000,
                        ended_at_ms: None,
                        distance_m: 1_204.0,
                        duration_s: 240,
                        max_speed_kmh: 48.0,
                        avg_speed_kmh: 21.3,
                        idle_s: 0,
                        harsh_braking_count: 0,
                        harsh_acceleration_count: 0,
                        harsh_cornering_count: 0,
                        overspeed_count: 0,
                        driver_score: None,
                    },
                ],
                truncated: false,
            },
        }
    }
}
