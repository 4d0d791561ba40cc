//! Harsh braking and harsh acceleration: the change of GPS speed between two fixes, over the time
//! really between them. Pairs further apart than `harsh_max_gap_ms` are not judged (the change
//! is spread over time nobody saw); pairs closer than `harsh_min_gap_ms` are not judged either,
//! the earlier fix stays the reference, so a fast GPS unit is judged over at least that long and
//! its speed noise does not look like a manoeuvre.
//!
//! One manoeuvre is one alert: a hard stop from 80 km/h takes several seconds, and every pair of
//! fixes during it is harsh, but only the first raises an alert.

use instadash_schemas::alert::AlertType;
use instadash_schemas::alert::raised::v1::AlertDetails;

use super::rules::{Change, Draft, Fix, G, Rules};
use super::text;

/// A vehicle's harsh-driving rule.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Harsh {
    /// The fix the next one is compared with.
    reference: Option<Fix>,
    /// The kind of the manoeuvre the last judged pair was part of, if it was harsh.
    ongoing: Option<AlertType>,
}

impl Harsh {
    pub fn on_fix(&mut self, fix: &Fix, rules: &Rules) -> Option<Change> {
        let Some(reference) = self.reference else {
            self.reference = Some(*fix);
            return None;
        };
        let dt_ms = fix.time_ms - reference.time_ms;
        if dt_ms > rules.harsh_max_gap_ms {
            self.reference = Some(*fix);
            self.ongoing = None;
            return None;
        }
        if dt_ms < rules.harsh_min_gap_ms {
            return None;
        }
        self.reference = Some(*fix);
        let dt_s = dt_ms as f64 / 1000.0;
        let g = (fix.speed_kmh - reference.speed_kmh) / 3.6 / dt_s / G;
        let kind = if g <= -rules.harsh_braking_g {
            Some(AlertType::HarshBraking)
        } else if g >= rules.harsh_acceleration_g {
            Some(AlertType::HarshAcceleration)
        } else {
            None
        };
        let continues = kind.is_some() && kind == self.ongoing;
        self.ongoing = kind;
        let alert_type = kind.filter(|_| !continues)?;
        let what = match alert_type {
            AlertType::HarshBraking => "Harsh braking",
            _ => "Harsh acceleration",
        };
        Some(Change::raise(Draft {
            alert_type,
            geofence_id: None,
            at_ms: fix.time_ms,
            message: text::harsh(what, reference.speed_kmh, fix.speed_kmh, dt_ms, g),
            details: AlertDetails {
                speed_kmh: Some(fix.speed_kmh),
                duration_s: Some(dt_s),
                acceleration_g: Some(rounded(g, 3)),
                lat: Some(fix.lat),
                lon: Some(fix.lon),
                ..AlertDetails::default()
            },
        }))
    }
}

/// `value` rounded to `decimals` places (dividing last, so 0.34 comes out as the f64 `0.34`).
fn rounded(value: f64, decimals: i32) -> f64 {
    let scale = 10_f64.powi(decimals);
    (value * scale).round() / scale
}
