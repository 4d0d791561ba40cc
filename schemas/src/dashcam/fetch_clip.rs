//! `instadash.dashcam.fetch-clip`: job for the clip workers (work queue `dashcam-clips`).

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;
    use crate::dashcam::{ClipTrigger, EXAMPLE_CLIP_ID};

    /// Fetch the clip from the car, store it, then publish `clip-stored`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct FetchClip {
        pub clip_id: String,
        pub vehicle_id: String,
        pub trigger: ClipTrigger,
        pub trigger_time_ms: i64,
        pub window_before_s: u32,
        pub window_after_s: u32,
        /// A service name or an operator.
        pub requested_by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub alert_id: Option<String>,
    }

    contract! {
        FetchClip {
            type: "instadash.dashcam.fetch-clip",
            version: 1,
            file: "dashcam/fetch-clip",
            encodings: [Json],
            subject: vehicle_id,
            example: FetchClip {
                clip_id: EXAMPLE_CLIP_ID.into(),
                vehicle_id: "car-0042".into(),
                trigger: ClipTrigger::HarshBrake,
                trigger_time_ms: crate::EXAMPLE_TIME_MS,
                window_before_s: 10,
                window_after_s: 10,
                requested_by: "dashcam".into(),
                alert_id: Some("alert-5f1c".into()),
            },
        }
    }
}
