//! `instadash.platform.service-heartbeat`: an instance is alive.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;
    use crate::platform::Health;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct ServiceHeartbeat {
        pub service: String,
        pub instance: String,
        pub time_ms: i64,
        /// Seconds until the next heartbeat; three missed ones mean the instance is gone.
        pub interval_s: u32,
        pub uptime_s: u64,
        pub health: Health,
        pub link: LinkState,
        /// Being handled or awaiting broker confirms now.
        pub in_flight: u32,
        /// Since start.
        pub messages_in: u64,
        /// Since start.
        pub messages_out: u64,
        /// Handler errors since start.
        pub errors: u64,
        /// Percent of one core over the last interval.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub cpu_pct: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub rss_bytes: Option<u64>,
    }

    /// State of the broker connection.
    pub use crate::platform::HeartbeatLink as LinkState;

    contract! {
        ServiceHeartbeat {
            type: "instadash.platform.service-heartbeat",
            version: 1,
            file: "platform/service-heartbeat",
            encodings: [Json],
            subject: service,
            example: ServiceHeartbeat {
                service: "tracker".into(),
                instance: "tracker-7f3a".into(),
                time_ms: crate::EXAMPLE_TIME_MS,
                interval_s: 5,
                uptime_s: 3_600,
                health: Health::Ok,
                link: LinkState::Connected,
                in_flight: 12,
                messages_in: 1_804_233,
                messages_out: 2_117,
                errors: 3,
                cpu_pct: Some(23.5),
                rss_bytes: Some(38_535_168),
            },
        }
    }
}
