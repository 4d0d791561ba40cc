//! `instadash.alert.acknowledge`: acknowledge an alert.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Acknowledge {
        pub alert_id: String,
        pub acknowledged_by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub note: Option<String>,
    }

    contract! {
        Acknowledge {
            type: "instadash.alert.acknowledge",
            version: 1,
            file: "alert/acknowledge",
            encodings: [Json],
            subject: alert_id,
            example: Acknowledge {
                alert_id: "alert-5f1c".into(),
                acknowledged_by: "dispatcher.anna".into(),
                note: Some("called the driver".into()),
            },
        }
    }
}
