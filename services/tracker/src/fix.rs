//! A GPS fix as the tracker keeps it, and the odometer rule: how far a car drove between two
//! fixes. The trips service measures trips with the same rule, so a trip's distance is what the
//! odometer grew by over it.

use instadash_schemas::vehicle::position::v2::Position;
use serde::{Deserialize, Serialize};

/// Fixes further apart than this are joined by a straight line, not by their speeds.
pub const SPEED_INTEGRATION_MAX_GAP_MS: i64 = 10_000;
/// How much further than its speeds say a car may seem to move before the speeds are distrusted:
/// well above what GPS jitter can do.
const UNEXPLAINED_M: f64 = 50.0;

/// A checked GPS fix.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    pub time_ms: i64,
    pub lat: f64,
    pub lon: f64,
    pub speed_kmh: f64,
    pub heading_deg: f64,
}

impl Fix {
    /// The fix a message carries, or `None` if it is unusable: coordinates off the Earth, a
    /// negative speed or a number that is not finite would poison the odometer, distances and
    /// what is saved (JSON and SQLite have no NaN).
    pub fn from_message(message: &Position) -> Option<Fix> {
        let usable = instadash_roads::is_valid_point(message.lat, message.lon)
            && message.speed_kmh.is_finite()
            && message.speed_kmh >= 0.0
            && message.heading_deg.is_finite();
        usable.then_some(Fix {
            time_ms: message.time_ms,
            lat: message.lat,
            lon: message.lon,
            speed_kmh: message.speed_kmh,
            heading_deg: message.heading_deg,
        })
    }

    /// The distance driven from this fix to the next one. GPS speed (Doppler) is far steadier
    /// than GPS positions: summing straight lines between fixes adds the jitter of every fix
    /// (about 10 % at 5 m of jitter and city speeds). So between fixes close in time the speeds
    /// are integrated; the straight line is used across long gaps, and when the speeds cannot
    /// explain the distance (a unit that reports no speed, or a wrong one).
    pub fn hop_m(&self, next: &Fix) -> f64 {
        let straight_m = instadash_roads::haversine_m(self.lat, self.lon, next.lat, next.lon);
        let dt_ms = next.time_ms.saturating_sub(self.time_ms);
        if dt_ms > SPEED_INTEGRATION_MAX_GAP_MS {
            return straight_m;
        }
        let by_speed_m = (self.speed_kmh + next.speed_kmh) / 2.0 / 3.6 * (dt_ms as f64 / 1_000.0);
        if straight_m > 2.0 * by_speed_m + UNEXPLAINED_M {
            straight_m
        } else {
            by_speed_m
        }
    }
}
