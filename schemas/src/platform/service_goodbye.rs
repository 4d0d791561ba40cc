//! `instadash.platform.service-goodbye`: an instance is leaving the bus on purpose.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct ServiceGoodbye {
        pub service: String,
        pub instance: String,
        pub time_ms: i64,
        pub uptime_s: u64,
        pub reason: GoodbyeReason,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub message: Option<String>,
    }

    pub use crate::platform::GoodbyeReason;

    contract! {
        ServiceGoodbye {
            type: "instadash.platform.service-goodbye",
            version: 1,
            file: "platform/service-goodbye",
            encodings: [Json],
            subject: service,
            example: ServiceGoodbye {
                service: "tracker".into(),
                instance: "tracker-7f3a".into(),
                time_ms: crate::EXAMPLE_TIME_MS,
                uptime_s: 3_600,
                reason: GoodbyeReason::Shutdown,
                message: None,
            },
        }
    }
}
