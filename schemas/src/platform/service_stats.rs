//! `instadash.platform.service-stats`: an instance's counters and latency summaries.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;

    /// Counts are for the interval ending at `time_ms` only (deltas, not totals).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct ServiceStats {
        pub service: String,
        pub instance: String,
        pub time_ms: i64,
        pub interval_s: u32,
        pub messages: Vec<TypeCount>,
        pub handlers: Vec<HandlerStats>,
        pub errors: u64,
        pub retries: u64,
        pub dead_lettered: u64,
        pub rejected_by_validation: u64,
        pub reconnects: u64,
        /// Publish to broker confirm.
        pub confirm_latency: LatencySummary,
        /// Percent of one core.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub process_cpu_pct: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub process_rss_bytes: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub host: Option<HostStats>,
    }

    /// Messages of one type in one direction.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct TypeCount {
        #[serde(rename = "type")]
        pub type_: String,
        pub direction: Direction,
        pub count: u64,
        /// Payload bytes.
        pub bytes: u64,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Direction {
        /// Consumed.
        In,
        /// Published.
        Out,
    }

    /// One handler, by message type.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct HandlerStats {
        #[serde(rename = "type")]
        pub type_: String,
        pub handled: u64,
        pub errors: u64,
        /// Handler run time.
        pub latency: LatencySummary,
    }

    /// A latency distribution, microseconds.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct LatencySummary {
        pub count: u64,
        pub mean_us: u64,
        pub p50_us: u64,
        pub p90_us: u64,
        pub p99_us: u64,
        pub max_us: u64,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct HostStats {
        /// Percent of all cores.
        pub cpu_pct: f64,
        pub mem_used_bytes: u64,
        pub mem_total_bytes: u64,
        pub load_1m: f64,
        pub load_5m: f64,
        pub load_15m: f64,
    }

    contract! {
        ServiceStats {
            type: "instadash.platform.service-stats",
            version: 1,
            file: "platform/service-stats",
            encodings: [Json],
            subject: service,
            example: ServiceStats {
                service: "tracker".into(),
                instance: "tracker-7f3a".into(),
                time_ms: crate::EXAMPLE_TIME_MS,
                interval_s: 10,
                messages: vec![
                    TypeCount { type_: "instadash.vehicle.position".into(), direction: Direction::In, count: 5_012, bytes: 356_852 },
                    TypeCount { type_: "instadash.vehicle.status-changed".into(), direction: Direction::Out, count: 3, bytes: 612 },
                ],
                handlers: vec![HandlerStats {
                    type_: "instadash.vehicle.position".into(),
                    handled: 5_011,
                    errors: 1,
                    latency: LatencySummary { count: 5_012, mean_us: 38, p50_us: 31, p90_us: 55, p99_us: 140, max_us: 2_210 },
                }],
                errors: 1,
                retries: 1,
                dead_lettered: 0,
                rejected_by_validation: 0,
                reconnects: 0,
                confirm_latency: LatencySummary { count: 3, mean_us: 2_400, p50_us: 2_100, p90_us: 3_300, p99_us: 3_300, max_us: 3_300 },
                process_cpu_pct: Some(23.5),
                process_rss_bytes: Some(38_535_168),
                host: Some(HostStats {
                    cpu_pct: 41.0,
                    mem_used_bytes: 6_442_450_944,
                    mem_total_bytes: 25_769_803_776,
                    load_1m: 1.32,
                    load_5m: 1.1,
                    load_15m: 0.94,
                }),
            },
        }
    }
}
