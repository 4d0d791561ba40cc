//! `instadash.dashcam.*`: clips are metadata on the bus; the video goes from the car to the object
//! store through the clip workers, in chunks, and never travels in an event.

use serde::{Deserialize, Serialize};

pub mod clip_captured;
pub mod clip_stored;
pub mod fetch_clip;
pub mod get_clip_bytes;
pub mod get_clip_bytes_reply;

/// What made the dashcam keep a clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClipTrigger {
    HarshBrake,
    HarshAcceleration,
    HarshCornering,
    Impact,
    PanicButton,
    /// An operator asked for it.
    Manual,
    /// The alerts service asked for it.
    Alert,
}

/// Example clip id shared by the examples.
pub(crate) const EXAMPLE_CLIP_ID: &str = "clip-car-0042-1793693730250";
