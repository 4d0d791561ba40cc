//! `instadash.dashcam.clip-captured`: a car's dashcam kept a clip on board.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;
    use crate::dashcam::{ClipTrigger, EXAMPLE_CLIP_ID};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct ClipCaptured {
        pub clip_id: String,
        pub vehicle_id: String,
        pub trigger: ClipTrigger,
        pub trigger_time_ms: i64,
        pub window_before_s: u32,
        pub window_after_s: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub lat: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub lon: Option<f64>,
        /// Size on the car, if known yet.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub size_bytes: Option<u64>,
    }

    contract! {
        ClipCaptured {
            type: "instadash.dashcam.clip-captured",
            version: 1,
            file: "dashcam/clip-captured",
            encodings: [Json],
            subject: vehicle_id,
            example: ClipCaptured {
                clip_id: EXAMPLE_CLIP_ID.into(),
                vehicle_id: "car-0042".into(),
                trigger: ClipTrigger::HarshBrake,
                trigger_time_ms: crate::EXAMPLE_TIME_MS,
                window_before_s: 10,
                window_after_s: 10,
                lat: Some(48.137_154),
                lon: Some(11.576_124),
                size_bytes: None,
            },
        }
    }
}
