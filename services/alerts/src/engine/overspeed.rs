//! Overspeed: at least [`Rules::over_factor`] times the road's limit, fix after fix, for
//! `overspeed_min_ms`; over as soon as the car has been at or under the limit itself for
//! `overspeed_clear_ms`, or the ignition goes off.
//!
//! Two kinds of hysteresis keep a car near the threshold from flapping: the alert clears at the
//! limit, not at the 5 % tolerance (between the two nothing changes), and only after the car has
//! stayed there for a few seconds.

use instadash_schemas::alert::AlertType;
use instadash_schemas::alert::raised::v1::AlertDetails;

use super::rules::{Change, Draft, Fix, Rules};
use super::text;

/// How a fix's speed compares with the limit where it was taken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Judgement {
    /// At least the tolerance over the limit.
    Over { limit_kmh: f64 },
    /// Over the limit, but within the tolerance.
    Within,
    /// At or under the limit.
    Under,
    /// No road near enough to know the limit.
    Unknown,
}

impl Judgement {
    pub fn of(speed_kmh: f64, limit_kmh: f64, rules: &Rules) -> Judgement {
        if speed_kmh >= limit_kmh * rules.over_factor {
            Judgement::Over { limit_kmh }
        } else if speed_kmh > limit_kmh {
            Judgement::Within
        } else {
            Judgement::Under
        }
    }
}

/// A vehicle's overspeed rule.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Overspeed {
    /// The speeding going on now, fix after fix.
    run: Option<Run>,
    /// Since when the car has been at or under the limit, while an alert is active.
    under_since_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Run {
    since_ms: i64,
    last_ms: i64,
    /// The fix furthest over its limit (by ratio): what the alert reports.
    peak_speed_kmh: f64,
    peak_limit_kmh: f64,
}

impl Overspeed {
    /// Judges one fix; `active` says whether the vehicle has an overspeed alert.
    pub fn on_fix(
        &mut self,
        fix: &Fix,
        judgement: Judgement,
        active: bool,
        rules: &Rules,
    ) -> Option<Change> {
        let t = fix.time_ms;
        match judgement {
            Judgement::Over { limit_kmh } => {
                self.under_since_ms = None;
                let run = match self.run {
                    // Dropped fixes are tolerated up to a gap; beyond it, nobody saw the car
                    // speeding in between, so the count starts again.
                    Some(mut run) if t - run.last_ms <= rules.overspeed_max_gap_ms => {
                        run.last_ms = t;
                        if fix.speed_kmh / limit_kmh > run.peak_speed_kmh / run.peak_limit_kmh {
                            run.peak_speed_kmh = fix.speed_kmh;
                            run.peak_limit_kmh = limit_kmh;
                        }
                        run
                    }
                    _ => Run {
                        since_ms: t,
                        last_ms: t,
                        peak_speed_kmh: fix.speed_kmh,
                        peak_limit_kmh: limit_kmh,
                    },
                };
                self.run = Some(run);
                let lasted_ms = t - run.since_ms;
                (!active && lasted_ms >= rules.overspeed_min_ms).then(|| {
                    Change::raise(Draft {
                        alert_type: AlertType::Overspeed,
                        geofence_id: None,
                        at_ms: t,
                        message: text::overspeed(run.peak_speed_kmh, run.peak_limit_kmh, lasted_ms),
                        details: AlertDetails {
                            speed_kmh: Some(run.peak_speed_kmh),
                            limit_kmh: Some(run.peak_limit_kmh),
                            duration_s: Some(lasted_ms as f64 / 1000.0),
                            lat: Some(fix.lat),
                            lon: Some(fix.lon),
                            ..AlertDetails::default()
                        },
                    })
                })
            }
            Judgement::Within | Judgement::Unknown => {
                self.run = None;
                self.under_since_ms = None;
                None
            }
            Judgement::Under => {
                self.run = None;
                if !active {
                    self.under_since_ms = None;
                    return None;
                }
                let since = *self.under_since_ms.get_or_insert(t);
                (t - since >= rules.overspeed_clear_ms).then(|| {
                    self.under_since_ms = None;
                    Change::clear(AlertType::Overspeed, t)
                })
            }
        }
    }

    /// The ignition went off at `at_ms`: whatever was going on is over.
    pub fn on_switch_off(&mut self, at_ms: i64) -> Change {
        *self = Overspeed::default();
        Change::clear(AlertType::Overspeed, at_ms)
    }
}
