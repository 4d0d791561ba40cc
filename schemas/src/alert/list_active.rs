//! `instadash.alert.list-active`: ask the alerts service for alerts not cleared yet.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::alert::{AlertType, Severity};
    use crate::contract;

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct ListActive {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub vehicle_id: Option<String>,
        /// `None` or empty for every type.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub alert_types: Option<Vec<AlertType>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub min_severity: Option<Severity>,
        /// `None` for true.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub include_acknowledged: Option<bool>,
        /// `None` for 100.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub limit: Option<u32>,
    }

    contract! {
        ListActive {
            type: "instadash.alert.list-active",
            version: 1,
            file: "alert/list-active",
            encodings: [Json],
            example: ListActive {
                vehicle_id: None,
                alert_types: None,
                min_severity: Some(Severity::Warning),
                include_acknowledged: Some(true),
                limit: Some(100),
            },
        }
    }
}
