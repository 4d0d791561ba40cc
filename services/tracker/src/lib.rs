//! The tracker: the live state of every vehicle (position, speed, heading, ignition, odometer,
//! last seen; online / unknown / offline) built from the telemetry on the bus, answered to
//! `get-state`, `list-vehicles` and `find-nearest`, and announced as `status-changed` events.
//!
//! - [`state`]: the [`Fleet`] and the rules it keeps: the tracker's contract. Pure, no broker.
//! - [`snapshot`]: saving and loading the state so a restart continues where it stopped.

pub mod cli;
pub mod fix;
mod query;
pub mod service;
pub mod snapshot;
pub mod state;
mod vehicle;

pub use fix::Fix;
pub use query::{DEFAULT_LIST_LIMIT, DEFAULT_NEAREST_LIMIT, MAX_LIST_LIMIT, MAX_NEAREST_LIMIT};
pub use snapshot::{Snapshot, SnapshotError};
pub use state::{Applied, Config, Fleet};
