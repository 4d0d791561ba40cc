//! `instadash.vehicle.position`: a GPS fix. High-rate telemetry, Avro by default, JSON also.
//! Field order matches the Avro records (the Avro serializer writes fields in schema order).

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Position {
        pub vehicle_id: String,
        /// GPS time, ms since the Unix epoch.
        pub time_ms: i64,
        pub lat: f64,
        pub lon: f64,
        pub speed_kmh: f64,
        /// Degrees clockwise from true north, [0, 360).
        pub heading_deg: f64,
        /// Above mean sea level; `None` for a 2D fix.
        #[serde(default)]
        pub altitude_m: Option<f64>,
        /// Estimated horizontal accuracy (1 sigma), metres.
        pub accuracy_m: f64,
        pub satellites: i32,
    }

    contract! {
        Position {
            type: "instadash.vehicle.position",
            version: 1,
            file: "vehicle/position",
            encodings: [Avro, Json],
            avro: [1, 2],
            subject: vehicle_id,
            example: Position {
                vehicle_id: "car-0042".into(),
                time_ms: crate::EXAMPLE_TIME_MS,
                lat: 48.137_154,
                lon: 11.576_124,
                speed_kmh: 43.2,
                heading_deg: 87.5,
                altitude_m: Some(519.4),
                accuracy_m: 3.8,
                satellites: 9,
            },
        }
    }
}

/// Version 2: adds the optional `hdop`.
pub mod v2 {
    use serde::{Deserialize, Serialize};

    use crate::contract;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Position {
        pub vehicle_id: String,
        /// GPS time, ms since the Unix epoch.
        pub time_ms: i64,
        pub lat: f64,
        pub lon: f64,
        pub speed_kmh: f64,
        /// Degrees clockwise from true north, [0, 360).
        pub heading_deg: f64,
        /// Above mean sea level; `None` for a 2D fix.
        #[serde(default)]
        pub altitude_m: Option<f64>,
        /// Estimated horizontal accuracy (1 sigma), metres.
        pub accuracy_m: f64,
        pub satellites: i32,
        /// Horizontal dilution of precision, if the receiver reports it.
        #[serde(default)]
        pub hdop: Option<f64>,
    }

    contract! {
        Position {
            type: "instadash.vehicle.position",
            version: 2,
            file: "vehicle/position",
            encodings: [Avro, Json],
            avro: [1, 2],
            subject: vehicle_id,
            example: Position {
                vehicle_id: "car-0042".into(),
                time_ms: crate::EXAMPLE_TIME_MS,
                lat: 48.137_154,
                lon: 11.576_124,
                speed_kmh: 43.2,
                heading_deg: 87.5,
                altitude_m: Some(519.4),
                accuracy_m: 3.8,
                satellites: 9,
                hdop: Some(0.9),
            },
        }
    }

    impl From<super::v1::Position> for Position {
        fn from(p: super::v1::Position) -> Self {
            let super::v1::Position {
                vehicle_id,
                time_ms,
                lat,
                lon,
                speed_kmh,
                heading_deg,
                altitude_m,
                accuracy_m,
                satellites,
            } = p;
            Position {
                vehicle_id,
                time_ms,
                lat,
                lon,
                speed_kmh,
                heading_deg,
                altitude_m,
                accuracy_m,
                satellites,
                hdop: None,
            }
        }
    }
}
