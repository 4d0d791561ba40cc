//! A movement that may become a trip: where and when it started and what it added up to so far.
//!
//! Time is accounted interval by interval: the time between two consecutive accepted events of
//! the vehicle is *moving* if the vehicle was moving before it or the event is a moving fix (the
//! car set off in between), *idle* if it stood with the engine running, and neither with the
//! engine off. Idle time during a still period is held back ("pending") until the vehicle moves
//! again: if the still period turns out to be the stop that ends the trip, it is not part of the
//! trip (the trip ends when that stop began).

use serde::{Deserialize, Serialize};

use crate::motion::{Fix, Point};
use crate::rules::Rules;

/// A period of standing still (or with the ignition off) inside a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Still {
    /// When the vehicle stopped moving: the first still fix or ignition off after moving.
    pub since_ms: i64,
    /// Where it stopped (its newest fix then).
    pub at: Option<Point>,
    /// The ignition went off during this period: if it ends the trip, the vehicle went offline.
    pub engine_went_off: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Candidate {
    pub started_at_ms: i64,
    pub start: Option<Point>,
    /// It met the minimum distance and duration and `TripStarted` was emitted.
    pub qualified: bool,
    pub distance_m: f64,
    pub moving_ms: i64,
    pub idle_ms: i64,
    pub pending_idle_ms: i64,
    pub max_speed_kmh: f64,
    /// The newest moving fix: the trip lasts at least until then whatever happens next.
    pub last_moving_ms: Option<i64>,
    /// The newest event accounted.
    pub last_event_ms: i64,
    pub still: Option<Still>,
}

/// What a trip adds up to between its start and a given end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TripFigures {
    pub distance_m: f64,
    pub duration_s: u32,
    pub max_speed_kmh: f64,
    /// Distance over the time spent moving.
    pub avg_speed_kmh: f64,
    /// Engine on and not moving, inside the trip.
    pub idle_s: u32,
}

impl Candidate {
    /// A candidate starting at `started_at_ms` while moving (`still` is `None`) or standing.
    pub fn new(started_at_ms: i64, start: Option<Point>, still: Option<Still>) -> Candidate {
        Candidate {
            started_at_ms,
            start,
            qualified: false,
            distance_m: 0.0,
            moving_ms: 0,
            idle_ms: 0,
            pending_idle_ms: 0,
            max_speed_kmh: 0.0,
            last_moving_ms: None,
            last_event_ms: started_at_ms,
            still,
        }
    }

    /// A candidate that starts with the ignition on, before the vehicle moves.
    pub fn standing(started_at_ms: i64, at: Option<Point>) -> Candidate {
        let still = Still {
            since_ms: started_at_ms,
            at,
            engine_went_off: false,
        };
        Candidate::new(started_at_ms, at, Some(still))
    }

    /// Accounts an accepted fix. `previous` is the fix the distance is measured from (`None` when
    /// the hop lies before the candidate); `moving` says whether this fix counts as moving;
    /// `engine_was_running` is the engine before this fix.
    pub fn on_fix(
        &mut self,
        previous: Option<&Fix>,
        fix: &Fix,
        moving: bool,
        engine_was_running: bool,
        rules: &Rules,
    ) {
        self.account_interval(fix.time_ms, moving, engine_was_running);
        // While parked the position wanders by a few metres: only hops with a moving end count,
        // exactly like the tracker's odometer.
        if let Some(previous) = previous
            && (previous.speed_kmh >= rules.moving_kmh || fix.speed_kmh >= rules.moving_kmh)
        {
            self.distance_m += previous.hop_m(fix);
        }
        self.max_speed_kmh = self.max_speed_kmh.max(fix.speed_kmh);
        if self.start.is_none() {
            self.start = Some(Point::of(fix));
        }
        if moving {
            // The still period was only a short stop: its idle time belongs to the trip.
            self.idle_ms = self
                .idle_ms
                .saturating_add(std::mem::take(&mut self.pending_idle_ms));
            self.still = None;
            self.last_moving_ms = Some(fix.time_ms);
        } else if self.still.is_none() {
            self.still = Some(Still {
                since_ms: fix.time_ms,
                at: Some(Point::of(fix)),
                engine_went_off: false,
            });
        }
    }

    /// Accounts an accepted ignition event; `at` is the vehicle's newest position.
    pub fn on_ignition(
        &mut self,
        time_ms: i64,
        on: bool,
        engine_was_running: bool,
        at: Option<Point>,
    ) {
        self.account_interval(time_ms, false, engine_was_running);
        if on {
            return;
        }
        match &mut self.still {
            Some(still) => still.engine_went_off = true,
            None => {
                self.still = Some(Still {
                    since_ms: time_ms,
                    at,
                    engine_went_off: true,
                });
            }
        }
    }

    fn account_interval(&mut self, time_ms: i64, moving_now: bool, engine_was_running: bool) {
        let dt_ms = time_ms.saturating_sub(self.last_event_ms).max(0);
        if self.still.is_none() || moving_now {
            self.moving_ms = self.moving_ms.saturating_add(dt_ms);
        } else if engine_was_running {
            self.pending_idle_ms = self.pending_idle_ms.saturating_add(dt_ms);
        }
        self.last_event_ms = self.last_event_ms.max(time_ms);
    }

    /// The figures of the trip if it ends at `ended_at_ms`. Idle time still pending is left out:
    /// it belongs to the stop that ends the trip (or to a stop that may still become one).
    pub fn figures(&self, ended_at_ms: i64) -> TripFigures {
        let moving_s = self.moving_ms as f64 / 1_000.0;
        let avg_speed_kmh = if moving_s > 0.0 {
            self.distance_m / moving_s * 3.6
        } else {
            0.0
        };
        TripFigures {
            distance_m: self.distance_m,
            duration_s: whole_seconds(ended_at_ms.saturating_sub(self.started_at_ms)),
            max_speed_kmh: self.max_speed_kmh,
            avg_speed_kmh,
            idle_s: whole_seconds(self.idle_ms),
        }
    }

    /// The trip would be long and far enough whatever happens next: the time until its newest
    /// moving fix counts (a trip never ends before that), so `TripStarted` is never followed by
    /// a trip that turns out too short.
    pub fn meets_minimum(&self, rules: &Rules) -> bool {
        self.distance_m >= rules.min_trip_m
            && self.last_moving_ms.is_some_and(|moving| {
                moving.saturating_sub(self.started_at_ms) >= rules.min_trip_ms
            })
    }
}

/// Milliseconds as whole seconds (rounded), never negative, saturating.
fn whole_seconds(ms: i64) -> u32 {
    u32::try_from(ms.max(0).saturating_add(500) / 1_000).unwrap_or(u32::MAX)
}
