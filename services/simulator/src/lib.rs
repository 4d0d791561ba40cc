//! The simulator: virtual cars, each an on-board unit with GPS, OBD-II over CAN and a dashcam,
//! driving on the road network and emitting what real units emit.
//!
//! - [`FleetModel`] is the pure model: a random fleet (trips between random junctions, parking,
//!   and now and then idling, speeding, harsh events, faults, overheating and dashcam triggers)
//!   or a scripted one from a [`Scenario`]. It is deterministic for a given seed and has no
//!   clock of its own: each [`FleetModel::step`] advances simulated time by one fix interval.
//! - [`Noise`] degrades the messages the way networks and receivers do: GPS jitter, dropped,
//!   duplicated and late fixes.
//! - `service` (on the bus) steps the model on a real-time schedule and publishes it.

pub mod clips;
mod emission;
pub mod model;
pub mod noise;
pub mod scenario;

pub use emission::Emission;
pub use model::{BehaviourStats, CarActivity, CarTruth, FleetModel, Harsh, ModelOptions};
pub use noise::{Noise, NoiseConfig};
pub use scenario::{Action, Scenario, ScenarioError, ScriptedCar};

pub mod cli;
pub mod service;
