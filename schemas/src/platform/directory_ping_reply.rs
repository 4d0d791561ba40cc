//! `instadash.platform.directory-ping-reply`: the answering instance's identity, health and offers.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;
    use crate::platform::{Health, Offers, example_offers};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct DirectoryPingReply {
        pub service: String,
        pub instance: String,
        pub version: String,
        pub host: String,
        pub pid: u32,
        pub started_at_ms: i64,
        pub uptime_s: u64,
        pub health: Health,
        pub offers: Offers,
    }

    contract! {
        DirectoryPingReply {
            type: "instadash.platform.directory-ping-reply",
            version: 1,
            file: "platform/directory-ping-reply",
            encodings: [Json],
            example: DirectoryPingReply {
                service: "tracker".into(),
                instance: "tracker-7f3a".into(),
                version: "0.1.0".into(),
                host: "fleet-node-2".into(),
                pid: 4_711,
                started_at_ms: crate::EXAMPLE_TIME_MS - 3_600_000,
                uptime_s: 3_600,
                health: Health::Ok,
                offers: example_offers(),
            },
        }
    }
}
