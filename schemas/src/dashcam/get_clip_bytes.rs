//! `instadash.dashcam.get-clip-bytes`: ask the car for one chunk of a clip's video.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;
    use crate::dashcam::EXAMPLE_CLIP_ID;

    /// The window identifies the video, so the car can also cut a clip it did not keep by itself.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct GetClipBytes {
        pub vehicle_id: String,
        pub clip_id: String,
        pub trigger_time_ms: i64,
        pub window_before_s: u32,
        pub window_after_s: u32,
        /// First byte wanted.
        pub offset: u64,
        /// At most 262144 (256 KiB) per reply.
        pub max_bytes: u32,
    }

    contract! {
        GetClipBytes {
            type: "instadash.dashcam.get-clip-bytes",
            version: 1,
            file: "dashcam/get-clip-bytes",
            encodings: [Json],
            subject: vehicle_id,
            example: GetClipBytes {
                vehicle_id: "car-0042".into(),
                clip_id: EXAMPLE_CLIP_ID.into(),
                trigger_time_ms: crate::EXAMPLE_TIME_MS,
                window_before_s: 10,
                window_after_s: 10,
                offset: 0,
                max_bytes: 262_144,
            },
        }
    }
}
