//! One vehicle as the rules know it: the newest event time of each kind of message (so nothing
//! stale is judged), whether its engine runs, and each rule's own state.

use super::engine_fault::EngineFault;
use super::geofences::Membership;
use super::harsh::Harsh;
use super::idling::Idling;
use super::overspeed::Overspeed;

/// The ignition, or the engine, switched at a moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Switch {
    pub time_ms: i64,
    pub on: bool,
}

/// The newest accepted event time per kind of message.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Newest {
    pub fix: Option<i64>,
    pub obd: Option<i64>,
    pub trouble_codes: Option<i64>,
    pub ignition: Option<i64>,
    pub status: Option<i64>,
}

/// Takes `t` as the newest of its kind if it is newer than the held one.
pub(crate) fn take_if_newer(held: &mut Option<i64>, t: i64) -> bool {
    if held.is_some_and(|held| t <= held) {
        return false;
    }
    *held = Some(t);
    true
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct VehicleRules {
    pub newest: Newest,
    /// The newest ignition event.
    pub ignition: Option<Switch>,
    /// The newest evidence of whether the engine runs: an ignition event, or an OBD reading's rpm.
    pub engine: Option<Switch>,
    pub harsh: Harsh,
    pub overspeed: Overspeed,
    pub idling: Idling,
    pub engine_fault: EngineFault,
    pub geofences: Membership,
}

impl VehicleRules {
    /// Whether the engine runs, by the newest evidence; `None` if there is none.
    pub fn engine_running(&self) -> Option<bool> {
        self.engine.map(|s| s.on)
    }

    /// Records evidence about the engine at `t`. At the same moment an ignition event outweighs an
    /// rpm reading.
    pub fn note_engine(&mut self, t: i64, on: bool, from_ignition: bool) {
        let newer = self
            .engine
            .is_none_or(|held| t > held.time_ms || (from_ignition && t == held.time_ms));
        if newer {
            self.engine = Some(Switch { time_ms: t, on });
        }
    }

    /// Whether the ignition was switched off at or after `t`: a fix from then is a late
    /// delivery from a drive that is over.
    pub fn switched_off_since(&self, t: i64) -> bool {
        self.ignition.is_some_and(|s| !s.on && s.time_ms >= t)
    }

    /// The newest time the car itself reported as running (a fix or an OBD reading).
    pub fn last_activity_ms(&self) -> Option<i64> {
        self.newest.fix.max(self.newest.obd)
    }
}
