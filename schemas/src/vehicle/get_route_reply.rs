//! `instadash.vehicle.get-route-reply`: the route as time-ordered points.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct GetRouteReply {
        pub vehicle_id: String,
        /// In time order.
        pub points: Vec<RoutePoint>,
        /// More fixes were recorded than `max_points`; every n-th was kept.
        pub thinned: bool,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct RoutePoint {
        pub time_ms: i64,
        pub lat: f64,
        pub lon: f64,
        pub speed_kmh: f64,
    }

    contract! {
        GetRouteReply {
            type: "instadash.vehicle.get-route-reply",
            version: 1,
            file: "vehicle/get-route-reply",
            encodings: [Json],
            example: GetRouteReply {
                vehicle_id: "car-0042".into(),
                points: vec![
                    RoutePoint { time_ms: crate::EXAMPLE_TIME_MS - 2_000, lat: 48.137_150, lon: 11.575_880, speed_kmh: 41.8 },
                    RoutePoint { time_ms: crate::EXAMPLE_TIME_MS - 1_000, lat: 48.137_152, lon: 11.576_003, speed_kmh: 42.6 },
                    RoutePoint { time_ms: crate::EXAMPLE_TIME_MS, lat: 48.137_154, lon: 11.576_124, speed_kmh: 43.2 },
                ],
                thinned: false,
            },
        }
    }
}
