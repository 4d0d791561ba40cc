//! `instadash.vehicle.obd-reading`: engine values from the OBD-II port. High-rate telemetry, Avro
//! by default, JSON also. Speed and rpm come with every reading; the slower PIDs when polled.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct ObdReading {
        pub vehicle_id: String,
        /// ms since the Unix epoch.
        pub time_ms: i64,
        /// PID 0x0D.
        pub speed_kmh: f64,
        /// PID 0x0C: (256A + B) / 4.
        pub rpm: f64,
        /// PID 0x05: A - 40.
        #[serde(default)]
        pub coolant_c: Option<f64>,
        /// PID 0x2F.
        #[serde(default)]
        pub fuel_level_pct: Option<f64>,
        /// PID 0x04.
        #[serde(default)]
        pub engine_load_pct: Option<f64>,
        /// PID 0x11.
        #[serde(default)]
        pub throttle_pct: Option<f64>,
        /// PID 0x01, bit 7 of A.
        #[serde(default)]
        pub mil_on: Option<bool>,
        /// PID 0x01, bits 0-6 of A.
        #[serde(default)]
        pub dtc_count: Option<i32>,
    }

    contract! {
        ObdReading {
            type: "instadash.vehicle.obd-reading",
            version: 1,
            file: "vehicle/obd-reading",
            encodings: [Avro, Json],
            avro: [1],
            subject: vehicle_id,
            example: ObdReading {
                vehicle_id: "car-0042".into(),
                time_ms: crate::EXAMPLE_TIME_MS,
                speed_kmh: 43.0,
                rpm: 1_850.25,
                coolant_c: Some(91.0),
                fuel_level_pct: None,
                engine_load_pct: Some(37.6),
                throttle_pct: Some(18.4),
                mil_on: Some(false),
                dtc_count: Some(0),
            },
        }
    }
}
