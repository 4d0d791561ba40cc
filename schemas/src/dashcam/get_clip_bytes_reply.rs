//! `instadash.dashcam.get-clip-bytes-reply`: one chunk of a clip's video.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;
    use crate::dashcam::EXAMPLE_CLIP_ID;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct GetClipBytesReply {
        pub clip_id: String,
        /// Offset of `data` in the clip.
        pub offset: u64,
        /// Size of the whole clip.
        pub total_size: u64,
        /// E.g. `video/mp4`.
        pub content_type: String,
        /// Standard base64 with padding in JSON.
        #[serde(with = "crate::serde_base64")]
        pub data: Vec<u8>,
        /// This chunk ends the clip.
        pub eof: bool,
    }

    contract! {
        GetClipBytesReply {
            type: "instadash.dashcam.get-clip-bytes-reply",
            version: 1,
            file: "dashcam/get-clip-bytes-reply",
            encodings: [Json],
            example: GetClipBytesReply {
                clip_id: EXAMPLE_CLIP_ID.into(),
                offset: 0,
                total_size: 24,
                content_type: "video/mp4".into(),
                // The start of an MP4 `ftyp` box.
                data: b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom".to_vec(),
                eof: true,
            },
        }
    }
}
