//! `instadash.dashcam.clip-stored`: a clip's video is in the object store.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;
    use crate::dashcam::{ClipTrigger, EXAMPLE_CLIP_ID};

    /// Where the video is and its checksum; never the video itself.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct ClipStored {
        pub clip_id: String,
        pub vehicle_id: String,
        pub trigger: ClipTrigger,
        pub trigger_time_ms: i64,
        pub window_before_s: u32,
        pub window_after_s: u32,
        pub object_key: String,
        pub size_bytes: u64,
        /// 64 lowercase hex digits.
        pub sha256: String,
        pub content_type: String,
        pub duration_s: f64,
        pub stored_at_ms: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub alert_id: Option<String>,
    }

    contract! {
        ClipStored {
            type: "instadash.dashcam.clip-stored",
            version: 1,
            file: "dashcam/clip-stored",
            encodings: [Json],
            subject: vehicle_id,
            example: ClipStored {
                clip_id: EXAMPLE_CLIP_ID.into(),
                vehicle_id: "car-0042".into(),
                trigger: ClipTrigger::HarshBrake,
                trigger_time_ms: crate::EXAMPLE_TIME_MS,
                window_before_s: 10,
                window_after_s: 10,
                object_key: "clips/car-0042/2026/11/03/clip-car-0042-1793693730250.mp4".into(),
                size_bytes: 7_340_032,
                sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
                content_type: "video/mp4".into(),
                duration_s: 20.0,
                stored_at_ms: crate::EXAMPLE_TIME_MS + 41_500,
                alert_id: Some("alert-5f1c".into()),
            },
        }
    }
}
