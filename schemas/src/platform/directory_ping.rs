//! `instadash.platform.directory-ping`: a directory starting up asks every live instance to announce
//! itself again (broadcast on the events exchange; the answers are `service-announced` events).

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct DirectoryPing {
        pub from_service: String,
        /// To measure the round trip.
        pub sent_at_ms: i64,
    }

    contract! {
        DirectoryPing {
            type: "instadash.platform.directory-ping",
            version: 1,
            file: "platform/directory-ping",
            encodings: [Json],
            example: DirectoryPing { from_service: "monitor".into(), sent_at_ms: crate::EXAMPLE_TIME_MS },
        }
    }
}
