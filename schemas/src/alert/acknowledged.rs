//! `instadash.alert.acknowledged`: an operator took note of an alert.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::alert::AlertType;
    use crate::contract;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct AlertAcknowledged {
        pub alert_id: String,
        pub vehicle_id: String,
        pub alert_type: AlertType,
        pub acknowledged_by: String,
        pub acknowledged_at_ms: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub note: Option<String>,
    }

    contract! {
        AlertAcknowledged {
            type: "instadash.alert.acknowledged",
            version: 1,
            file: "alert/acknowledged",
            encodings: [Json],
            subject: vehicle_id,
            example: AlertAcknowledged {
                alert_id: "alert-5f1c".into(),
                vehicle_id: "car-0042".into(),
                alert_type: AlertType::Overspeed,
                acknowledged_by: "dispatcher.anna".into(),
                acknowledged_at_ms: crate::EXAMPLE_TIME_MS + 95_000,
                note: Some("called the driver".into()),
            },
        }
    }
}
