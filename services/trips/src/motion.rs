//! One GPS fix as the trip detector uses it, and the distance between two fixes: the tracker's
//! odometer rule ([`instadash_tracker::fix`]), so a trip's distance agrees with the odometer's
//! growth over the same time.

use serde::{Deserialize, Serialize};

pub use instadash_tracker::Fix;
pub(crate) use instadash_tracker::fix::SPEED_INTEGRATION_MAX_GAP_MS;

/// A place on Earth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub lat: f64,
    pub lon: f64,
}

impl Point {
    /// Where `fix` was taken.
    pub fn of(fix: &Fix) -> Point {
        Point {
            lat: fix.lat,
            lon: fix.lon,
        }
    }
}
