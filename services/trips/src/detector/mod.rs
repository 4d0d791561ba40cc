//! The trip detector for the whole fleet: one [`VehicleTrips`] per vehicle, driven by event
//! times only. See the [crate documentation](crate) for the rules.
//!
//! Every call works on a copy of the vehicle's state and returns an [`Update`]: what happened
//! and the state after it. Nothing changes until [`Detector::commit`], so the service can store
//! an update first and keep the detector exactly in step with what is on disk (a failed write
//! leaves the detector as it was, and the message is retried).

mod candidate;
mod vehicle;

use std::collections::HashMap;

use instadash_schemas::trip::EndReason;
use instadash_schemas::vehicle::VehicleStatus;
use instadash_schemas::vehicle::ignition::v1::Ignition;
use instadash_schemas::vehicle::position::v2::Position;
use instadash_schemas::vehicle::status_changed::v1::StatusChanged;

pub use candidate::TripFigures;
pub use vehicle::VehicleTrips;

use crate::motion::{Fix, Point};
use crate::rules::Rules;

/// A trip that just qualified (far and long enough): announce it.
#[derive(Debug, Clone, PartialEq)]
pub struct TripStart {
    pub trip_id: String,
    pub vehicle_id: String,
    /// The real start, before the trip was known to be one.
    pub started_at_ms: i64,
    pub start: Point,
}

/// A trip that ended. The harsh-event counts and the score come from the alerts, which the
/// detector does not see.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedTrip {
    pub trip_id: String,
    pub vehicle_id: String,
    pub started_at_ms: i64,
    /// When the stop that ended it began, or the last event before the signal was lost.
    pub ended_at_ms: i64,
    pub start: Point,
    pub end: Point,
    pub figures: TripFigures,
    pub end_reason: EndReason,
}

/// A qualified trip still going on, as of its newest event.
#[derive(Debug, Clone, PartialEq)]
pub struct TripProgress {
    pub trip_id: String,
    pub vehicle_id: String,
    pub started_at_ms: i64,
    pub start: Option<Point>,
    pub figures: TripFigures,
    pub last_event_ms: i64,
}

/// A stop of at least the minimum length: open (`ended_at_ms` = `None`) or over.
#[derive(Debug, Clone, PartialEq)]
pub struct StopRecord {
    pub vehicle_id: String,
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    /// Where the vehicle stood; unknown for a vehicle first seen with its ignition off and no fix.
    pub at: Option<Point>,
}

/// Something the detector decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    TripStarted(TripStart),
    TripEnded(FinishedTrip),
    /// A movement that ended before it was far and long enough: no trip, nothing published.
    TripDiscarded {
        vehicle_id: String,
        started_at_ms: i64,
        ended_at_ms: i64,
        distance_m: f64,
    },
    /// A stop began (open) or ended; stored by (vehicle, start), so a later record replaces an
    /// earlier one.
    Stop(StopRecord),
}

/// What one message (or one clock tick) did to one vehicle, not yet committed.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub vehicle_id: String,
    /// The message was used: usable and newer than the vehicle's newest event. `false` for a
    /// tick.
    pub accepted: bool,
    pub outcomes: Vec<Outcome>,
    state: VehicleTrips,
}

impl Update {
    /// The vehicle's state changed and must be saved.
    pub fn changed(&self) -> bool {
        self.accepted || !self.outcomes.is_empty()
    }

    /// The vehicle's state after the update.
    pub fn state(&self) -> &VehicleTrips {
        &self.state
    }

    fn unchanged(vehicle_id: &str, state: VehicleTrips) -> Update {
        Update {
            vehicle_id: vehicle_id.to_owned(),
            accepted: false,
            outcomes: Vec::new(),
            state,
        }
    }
}

/// Trips and stops of every vehicle.
#[derive(Debug, Clone, Default)]
pub struct Detector {
    rules: Rules,
    vehicles: HashMap<String, VehicleTrips>,
}

impl Detector {
    pub fn new(rules: Rules) -> Detector {
        Detector {
            rules,
            vehicles: HashMap::new(),
        }
    }

    /// The detector as saved: each vehicle's last committed state.
    pub fn restore(rules: Rules, saved: impl IntoIterator<Item = (String, VehicleTrips)>) -> Self {
        Detector {
            rules,
            vehicles: saved.into_iter().collect(),
        }
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// How many vehicles the detector knows.
    pub fn len(&self) -> usize {
        self.vehicles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vehicles.is_empty()
    }

    /// What a GPS fix does. An unusable fix (off the Earth, not finite, negative speed) is not
    /// accepted.
    pub fn on_position(&self, position: &Position) -> Update {
        match Fix::from_message(position) {
            Some(fix) => self.on_fix(&position.vehicle_id, fix),
            None => Update::unchanged(&position.vehicle_id, self.state_of(&position.vehicle_id)),
        }
    }

    /// What a checked fix does.
    pub fn on_fix(&self, vehicle_id: &str, fix: Fix) -> Update {
        let mut state = self.state_of(vehicle_id);
        let mut outcomes = Vec::new();
        let accepted = state.on_fix(vehicle_id, fix, &self.rules, &mut outcomes);
        Update {
            vehicle_id: vehicle_id.to_owned(),
            accepted,
            outcomes,
            state,
        }
    }

    /// What an ignition switch does.
    pub fn on_ignition(&self, ignition: &Ignition) -> Update {
        let vehicle_id = &ignition.vehicle_id;
        let mut state = self.state_of(vehicle_id);
        let mut outcomes = Vec::new();
        let accepted = state.on_ignition(
            vehicle_id,
            ignition.time_ms,
            ignition.on,
            &self.rules,
            &mut outcomes,
        );
        Update {
            vehicle_id: vehicle_id.clone(),
            accepted,
            outcomes,
            state,
        }
    }

    /// What the tracker's status change does. `offline` is the tracker's word for an ignition
    /// off, which this service receives itself; it is applied as an ignition off at the
    /// vehicle's `last_seen_ms` (an event time; `time_ms` is the tracker's clock), so it is stale,
    /// and changes nothing, whenever the ignition event came first, and is a safety net
    /// otherwise. `online` and `unknown` change nothing: moving fixes start trips, and silence is
    /// judged by the gap rule on event time.
    pub fn on_status(&self, change: &StatusChanged) -> Update {
        let vehicle_id = &change.vehicle_id;
        match (change.status, change.last_seen_ms) {
            (VehicleStatus::Offline, Some(last_seen_ms)) => self.on_ignition(&Ignition {
                vehicle_id: vehicle_id.clone(),
                time_ms: last_seen_ms,
                on: false,
            }),
            _ => Update::unchanged(vehicle_id, self.state_of(vehicle_id)),
        }
    }

    /// The decisions time alone takes as of `now_ms` (the service clock), for every vehicle; only
    /// vehicles where something happened are returned, ordered by vehicle id. Waits
    /// [`Rules::clock_grace_ms`] longer than the rules say, since the clock is an estimate.
    pub fn tick(&self, now_ms: i64) -> Vec<Update> {
        let as_of_ms = now_ms.saturating_sub(self.rules.clock_grace_ms);
        let mut updates: Vec<Update> = self
            .vehicles
            .iter()
            .filter_map(|(vehicle_id, state)| {
                let mut state = *state;
                let mut outcomes = Vec::new();
                state.advance(vehicle_id, as_of_ms, &self.rules, &mut outcomes);
                (!outcomes.is_empty()).then(|| Update {
                    vehicle_id: vehicle_id.clone(),
                    accepted: false,
                    outcomes,
                    state,
                })
            })
            .collect();
        updates.sort_unstable_by(|a, b| a.vehicle_id.cmp(&b.vehicle_id));
        updates
    }

    /// Keeps the state an update computed (once it is stored).
    pub fn commit(&mut self, update: &Update) {
        if update.changed() {
            self.vehicles
                .insert(update.vehicle_id.clone(), update.state);
        }
    }

    /// The qualified trip `vehicle_id` is on, if any.
    pub fn trip_in_progress(&self, vehicle_id: &str) -> Option<TripProgress> {
        self.vehicles.get(vehicle_id)?.progress(vehicle_id)
    }

    /// The newest event time accepted from any vehicle.
    pub fn newest_event_ms(&self) -> Option<i64> {
        self.vehicles
            .values()
            .filter_map(VehicleTrips::newest_event_ms)
            .max()
    }

    fn state_of(&self, vehicle_id: &str) -> VehicleTrips {
        self.vehicles.get(vehicle_id).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
