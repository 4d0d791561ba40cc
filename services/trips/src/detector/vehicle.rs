//! One vehicle's trips and stops: the rules of the [crate documentation](crate) as a state
//! machine over the vehicle's events. Pure: no broker, no clock (every call says what time it
//! is), so the same events always give the same trips.

use instadash_schemas::trip::EndReason;
use serde::{Deserialize, Serialize};

use super::candidate::Candidate;
use super::{FinishedTrip, Outcome, StopRecord, TripProgress, TripStart};
use crate::motion::{Fix, Point, SPEED_INTEGRATION_MAX_GAP_MS};
use crate::rules::Rules;

/// The newest accepted ignition event.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct IgnitionAt {
    pub time_ms: i64,
    pub on: bool,
}

/// A stop that has begun and not ended yet.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct OpenStop {
    pub started_at_ms: i64,
    pub at: Option<Point>,
    /// Known to last at least the minimum stop, and so reported (as an open stop).
    pub recorded: bool,
}

impl OpenStop {
    fn record(&self, vehicle_id: &str, ended_at_ms: Option<i64>) -> StopRecord {
        StopRecord {
            vehicle_id: vehicle_id.to_owned(),
            started_at_ms: self.started_at_ms,
            ended_at_ms,
            at: self.at,
        }
    }
}

/// Everything the detector keeps about one vehicle; it is saved with every change, so a restart
/// continues exactly where the service stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct VehicleTrips {
    last_fix: Option<Fix>,
    ignition: Option<IgnitionAt>,
    candidate: Option<Candidate>,
    stop: Option<OpenStop>,
}

impl VehicleTrips {
    /// Applies a fix; `false` if it is stale (not newer than the newest fix, or older than the
    /// newest ignition event), and then nothing changed.
    pub(crate) fn on_fix(
        &mut self,
        vehicle_id: &str,
        fix: Fix,
        rules: &Rules,
        out: &mut Vec<Outcome>,
    ) -> bool {
        let stale = self.last_fix.is_some_and(|f| fix.time_ms <= f.time_ms)
            || self.ignition.is_some_and(|i| fix.time_ms < i.time_ms);
        if stale {
            return false;
        }
        self.advance(vehicle_id, fix.time_ms, rules, out);
        let engine_was_running = self.engine_running();
        let previous = self.last_fix.replace(fix);
        let moving = fix.speed_kmh >= rules.moving_kmh && self.engine_running();
        if let Some(candidate) = &mut self.candidate {
            candidate.on_fix(previous.as_ref(), &fix, moving, engine_was_running, rules);
        } else if moving {
            self.set_off(previous, fix, engine_was_running, rules);
        } else {
            self.note_standing(vehicle_id, fix.time_ms, Some(Point::of(&fix)), out);
        }
        self.qualify(vehicle_id, rules, out);
        true
    }

    /// Applies an ignition switch; `false` if it is stale (not newer than the newest ignition
    /// event or fix: an "off" from before the car last reported is outdated, an "on" adds nothing
    /// the fixes did not already say), and then nothing changed.
    pub(crate) fn on_ignition(
        &mut self,
        vehicle_id: &str,
        time_ms: i64,
        on: bool,
        rules: &Rules,
        out: &mut Vec<Outcome>,
    ) -> bool {
        let stale = self.ignition.is_some_and(|i| time_ms <= i.time_ms)
            || self.last_fix.is_some_and(|f| time_ms <= f.time_ms);
        if stale {
            return false;
        }
        self.advance(vehicle_id, time_ms, rules, out);
        let engine_was_running = self.engine_running();
        self.ignition = Some(IgnitionAt { time_ms, on });
        let at = self.last_fix.map(|fix| Point::of(&fix));
        match &mut self.candidate {
            Some(candidate) => candidate.on_ignition(time_ms, on, engine_was_running, at),
            None if on => self.candidate = Some(Candidate::standing(time_ms, at)),
            None => self.note_standing(vehicle_id, time_ms, at, out),
        }
        true
    }

    /// Takes the decisions that time alone makes, as of `now_ms`: a stop that has lasted long
    /// enough ends the trip, a silence long enough while moving ends it as signal lost, an open
    /// stop becomes long enough to record.
    pub(crate) fn advance(
        &mut self,
        vehicle_id: &str,
        now_ms: i64,
        rules: &Rules,
        out: &mut Vec<Outcome>,
    ) {
        if let Some(candidate) = &self.candidate {
            let end = match candidate.still {
                Some(still) => {
                    (now_ms.saturating_sub(still.since_ms) >= rules.stop_ms).then(|| {
                        let reason = if still.engine_went_off {
                            EndReason::Offline
                        } else {
                            EndReason::Stopped
                        };
                        (still.since_ms, still.at, reason)
                    })
                }
                None => {
                    (now_ms.saturating_sub(candidate.last_event_ms) > rules.gap_ms).then(|| {
                        let at = self.last_fix.map(|fix| Point::of(&fix));
                        (candidate.last_event_ms, at, EndReason::SignalLost)
                    })
                }
            };
            if let Some((ended_at_ms, at, reason)) = end {
                self.close_candidate(vehicle_id, ended_at_ms, at, reason, out);
            }
        } else if let Some(stop) = &mut self.stop
            && !stop.recorded
            && now_ms.saturating_sub(stop.started_at_ms) >= rules.stop_ms
        {
            stop.recorded = true;
            out.push(Outcome::Stop(stop.record(vehicle_id, None)));
        }
    }

    /// The qualified trip in progress, as of the newest event.
    pub(crate) fn progress(&self, vehicle_id: &str) -> Option<TripProgress> {
        let candidate = self.candidate.filter(|c| c.qualified)?;
        Some(TripProgress {
            trip_id: trip_id(vehicle_id, candidate.started_at_ms),
            vehicle_id: vehicle_id.to_owned(),
            started_at_ms: candidate.started_at_ms,
            start: candidate.start,
            figures: candidate.figures(candidate.last_event_ms),
            last_event_ms: candidate.last_event_ms,
        })
    }

    /// The vehicle's newest accepted event time.
    pub(crate) fn newest_event_ms(&self) -> Option<i64> {
        let fix = self.last_fix.map(|fix| fix.time_ms);
        let ignition = self.ignition.map(|ignition| ignition.time_ms);
        fix.max(ignition)
    }

    /// The engine as the newest events say: off after an ignition off until a newer fix shows the
    /// unit reporting again (units report while running, as the tracker assumes); on otherwise,
    /// including for units that never report their ignition.
    fn engine_running(&self) -> bool {
        match self.ignition {
            Some(IgnitionAt { on: false, time_ms }) => {
                self.last_fix.is_some_and(|fix| fix.time_ms > time_ms)
            }
            _ => true,
        }
    }

    /// No candidate and a moving fix: a candidate starts. If the previous fix is recent enough
    /// to integrate the hop (and nothing else happened since), the vehicle set off right after
    /// it, so the candidate starts there and counts the hop, as the odometer does.
    fn set_off(
        &mut self,
        previous: Option<Fix>,
        fix: Fix,
        engine_was_running: bool,
        rules: &Rules,
    ) {
        let origin = previous.filter(|p| {
            fix.time_ms.saturating_sub(p.time_ms) <= SPEED_INTEGRATION_MAX_GAP_MS
                && self.ignition.is_none_or(|i| i.time_ms <= p.time_ms)
                && self.stop.is_none_or(|s| s.started_at_ms <= p.time_ms)
        });
        let mut candidate = match origin {
            Some(p) => Candidate::new(p.time_ms, Some(Point::of(&p)), None),
            None => Candidate::new(fix.time_ms, Some(Point::of(&fix)), None),
        };
        candidate.on_fix(origin.as_ref(), &fix, true, engine_was_running, rules);
        self.candidate = Some(candidate);
    }

    /// No candidate and the vehicle stands (a still fix or an ignition off): a stop begins if
    /// none has, recorded once it has lasted the minimum; a stop without a place takes it from
    /// the first fix.
    fn note_standing(
        &mut self,
        vehicle_id: &str,
        time_ms: i64,
        at: Option<Point>,
        out: &mut Vec<Outcome>,
    ) {
        match &mut self.stop {
            None => {
                self.stop = Some(OpenStop {
                    started_at_ms: time_ms,
                    at,
                    recorded: false,
                });
            }
            Some(stop) if stop.at.is_none() && at.is_some() => {
                stop.at = at;
                if stop.recorded {
                    out.push(Outcome::Stop(stop.record(vehicle_id, None)));
                }
            }
            Some(_) => {}
        }
    }

    /// The candidate ends at `ended_at_ms`: a trip if it qualified, otherwise discarded. A stop
    /// that ended it begins a (recorded) stop; a movement that was no trip does not split the
    /// stop it happened in.
    fn close_candidate(
        &mut self,
        vehicle_id: &str,
        ended_at_ms: i64,
        at: Option<Point>,
        reason: EndReason,
        out: &mut Vec<Outcome>,
    ) {
        let Some(candidate) = self.candidate.take() else {
            return;
        };
        let end = at.or(self.last_fix.map(|fix| Point::of(&fix)));
        let stopped = reason != EndReason::SignalLost;
        if candidate.qualified {
            let start = candidate
                .start
                .or(end)
                .unwrap_or(Point { lat: 0.0, lon: 0.0 });
            out.push(Outcome::TripEnded(FinishedTrip {
                trip_id: trip_id(vehicle_id, candidate.started_at_ms),
                vehicle_id: vehicle_id.to_owned(),
                started_at_ms: candidate.started_at_ms,
                ended_at_ms,
                start,
                end: end.unwrap_or(start),
                figures: candidate.figures(ended_at_ms),
                end_reason: reason,
            }));
            if stopped {
                let stop = OpenStop {
                    started_at_ms: ended_at_ms,
                    at: end,
                    recorded: true,
                };
                out.push(Outcome::Stop(stop.record(vehicle_id, None)));
                self.stop = Some(stop);
            }
            return;
        }
        out.push(Outcome::TripDiscarded {
            vehicle_id: vehicle_id.to_owned(),
            started_at_ms: candidate.started_at_ms,
            ended_at_ms,
            distance_m: candidate.distance_m,
        });
        if !stopped {
            return;
        }
        match &mut self.stop {
            // The stop the movement started from lasted at least as long as this one.
            Some(stop) if !stop.recorded => {
                stop.recorded = true;
                out.push(Outcome::Stop(stop.record(vehicle_id, None)));
            }
            Some(_) => {}
            None => {
                let stop = OpenStop {
                    started_at_ms: ended_at_ms,
                    at: end,
                    recorded: true,
                };
                out.push(Outcome::Stop(stop.record(vehicle_id, None)));
                self.stop = Some(stop);
            }
        }
    }

    /// A candidate far and long enough becomes a trip: the stop before it ends where it started
    /// (recorded if it was long enough) and `TripStarted` is emitted with the real start.
    fn qualify(&mut self, vehicle_id: &str, rules: &Rules, out: &mut Vec<Outcome>) {
        let Some(candidate) = &mut self.candidate else {
            return;
        };
        if candidate.qualified || !candidate.meets_minimum(rules) {
            return;
        }
        candidate.qualified = true;
        let started_at_ms = candidate.started_at_ms;
        if let Some(stop) = self.stop.take()
            && (stop.recorded || started_at_ms.saturating_sub(stop.started_at_ms) >= rules.stop_ms)
        {
            let ended_at_ms = started_at_ms.max(stop.started_at_ms);
            out.push(Outcome::Stop(stop.record(vehicle_id, Some(ended_at_ms))));
        }
        let start = candidate
            .start
            .or(self.last_fix.map(|fix| Point::of(&fix)))
            .unwrap_or(Point { lat: 0.0, lon: 0.0 });
        out.push(Outcome::TripStarted(TripStart {
            trip_id: trip_id(vehicle_id, started_at_ms),
            vehicle_id: vehicle_id.to_owned(),
            started_at_ms,
            start,
        }));
    }
}

/// Trip ids are derived from the vehicle and the start, so rebuilding the same trip (after a
/// restart, or from a redelivered message) gives the same id.
pub(crate) fn trip_id(vehicle_id: &str, started_at_ms: i64) -> String {
    format!("trip-{vehicle_id}-{started_at_ms}")
}
