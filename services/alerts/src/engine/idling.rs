//! Idling: the engine running and the car standing (slower than `idle_speed_kmh`) for more than
//! `idle_min_ms`, judged on GPS fixes; over when the car moves or the engine stops.
//!
//! "The engine running" needs evidence: the newest of the ignition events and OBD readings says
//! so (an ignition on, or an rpm above zero). A unit that reports neither never idles; one whose
//! last word was an ignition off, or an rpm of zero (start-stop at a light), is not idling.

use instadash_schemas::alert::AlertType;
use instadash_schemas::alert::raised::v1::AlertDetails;

use super::rules::{Change, Draft, Fix, Rules};
use super::text;

/// A vehicle's idling rule.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Idling {
    /// Since when the car has been standing with the engine running.
    since_ms: Option<i64>,
    /// The latest fix that saw it so: fixes too far apart do not prove it stood running between.
    last_ms: Option<i64>,
}

impl Idling {
    /// Judges one fix. `engine_running` is `None` when nothing says whether the engine runs.
    pub fn on_fix(
        &mut self,
        fix: &Fix,
        engine_running: Option<bool>,
        active: bool,
        rules: &Rules,
    ) -> Option<Change> {
        let t = fix.time_ms;
        let standing = fix.speed_kmh < rules.idle_speed_kmh;
        match (standing, engine_running) {
            (true, Some(true)) => {
                if self
                    .last_ms
                    .is_none_or(|last| t - last > rules.idle_max_gap_ms)
                {
                    self.since_ms = Some(t);
                }
                self.last_ms = Some(t);
                let lasted_ms = t - self.since_ms.unwrap_or(t);
                (!active && lasted_ms > rules.idle_min_ms).then(|| {
                    Change::raise(Draft {
                        alert_type: AlertType::Idling,
                        geofence_id: None,
                        at_ms: t,
                        message: text::idling(lasted_ms),
                        details: AlertDetails {
                            duration_s: Some(lasted_ms as f64 / 1000.0),
                            lat: Some(fix.lat),
                            lon: Some(fix.lon),
                            ..AlertDetails::default()
                        },
                    })
                })
            }
            // Standing, but whether the engine runs is unknown (e.g. just after a restart):
            // nothing to count, and no evidence that an idling alert is over.
            (true, None) => {
                *self = Idling::default();
                None
            }
            // Moving, or the engine is off.
            _ => {
                *self = Idling::default();
                active.then(|| Change::clear(AlertType::Idling, t))
            }
        }
    }

    /// The engine stopped at `at_ms` (ignition off, or an rpm of zero).
    pub fn on_engine_stopped(&mut self, at_ms: i64) -> Change {
        *self = Idling::default();
        Change::clear(AlertType::Idling, at_ms)
    }
}
