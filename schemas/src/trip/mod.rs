//! `instadash.trip.*`: trips cut from the position stream (at least 500 m and 5 minutes; a stop of
//! 5 minutes or a gap of an hour ends one).

use serde::{Deserialize, Serialize};

pub mod ended;
pub mod list_trips;
pub mod list_trips_reply;
pub mod started;

/// Why a trip ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// Still for 5 minutes or more.
    Stopped,
    /// No fix for over an hour.
    SignalLost,
    /// The vehicle went offline.
    Offline,
}
