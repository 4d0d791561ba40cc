//! `instadash.alert.acknowledge-reply`: the outcome of an acknowledgement.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::alert::{ActiveAlert, example_active_alert};
    use crate::contract;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct AcknowledgeReply {
        pub alert_id: String,
        pub outcome: AcknowledgeOutcome,
        /// The alert after the request; `None` if not found or cleared.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub alert: Option<ActiveAlert>,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum AcknowledgeOutcome {
        Acknowledged,
        AlreadyAcknowledged,
        AlreadyCleared,
        NotFound,
    }

    contract! {
        AcknowledgeReply {
            type: "instadash.alert.acknowledge-reply",
            version: 1,
            file: "alert/acknowledge-reply",
            encodings: [Json],
            example: AcknowledgeReply {
                alert_id: "alert-5f1c".into(),
                outcome: AcknowledgeOutcome::Acknowledged,
                alert: Some(example_active_alert()),
            },
        }
    }
}
