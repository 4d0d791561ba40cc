//! `instadash.alert.list-active-reply`: active alerts, newest first.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::alert::{ActiveAlert, example_active_alert};
    use crate::contract;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct ListActiveReply {
        pub alerts: Vec<ActiveAlert>,
        /// How many alerts match in all.
        pub total: u32,
    }

    contract! {
        ListActiveReply {
            type: "instadash.alert.list-active-reply",
            version: 1,
            file: "alert/list-active-reply",
            encodings: [Json],
            example: ListActiveReply { alerts: vec![example_active_alert()], total: 1 },
        }
    }
}
