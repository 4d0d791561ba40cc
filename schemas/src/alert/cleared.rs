//! `instadash.alert.cleared`: an alert is over.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::alert::AlertType;
    use crate::contract;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct AlertCleared {
        pub alert_id: String,
        pub vehicle_id: String,
        pub alert_type: AlertType,
        pub cleared_at_ms: i64,
        pub reason: ClearReason,
        /// The operator, for `Manual`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub cleared_by: Option<String>,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum ClearReason {
        ConditionEnded,
        Expired,
        Manual,
    }

    contract! {
        AlertCleared {
            type: "instadash.alert.cleared",
            version: 1,
            file: "alert/cleared",
            encodings: [Json],
            subject: vehicle_id,
            example: AlertCleared {
                alert_id: "alert-5f1c".into(),
                vehicle_id: "car-0042".into(),
                alert_type: AlertType::Overspeed,
                cleared_at_ms: crate::EXAMPLE_TIME_MS + 14_000,
                reason: ClearReason::ConditionEnded,
                cleared_by: None,
            },
        }
    }
}
