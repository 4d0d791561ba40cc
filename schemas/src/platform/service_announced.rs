//! `instadash.platform.service-announced`: an instance joined the bus.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;
    use crate::platform::{Offers, example_offers};

    /// Sent once connected, and again after every reconnect.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct ServiceAnnounced {
        pub service: String,
        /// Unique per process.
        pub instance: String,
        pub version: String,
        pub host: String,
        pub pid: u32,
        pub started_at_ms: i64,
        pub offers: Offers,
        /// How often the instance heartbeats, seconds (absent from older senders).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub heartbeat_interval_s: Option<u32>,
    }

    contract! {
        ServiceAnnounced {
            type: "instadash.platform.service-announced",
            version: 1,
            file: "platform/service-announced",
            encodings: [Json],
            subject: service,
            example: ServiceAnnounced {
                service: "tracker".into(),
                instance: "tracker-7f3a".into(),
                version: "0.1.0".into(),
                host: "fleet-node-2".into(),
                pid: 4_711,
                started_at_ms: crate::EXAMPLE_TIME_MS - 3_600_000,
                offers: example_offers(),
                heartbeat_interval_s: Some(2),
            },
        }
    }
}
