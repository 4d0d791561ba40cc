//! What the rules hand to the engine: the thresholds in the units the code compares with, and
//! the changes a message causes (raise this, clear that), before the book turns them into alerts.

use instadash_schemas::alert::AlertType;
use instadash_schemas::alert::raised::v1::AlertDetails;

use crate::config::Thresholds;

/// The thresholds, converted once: milliseconds, factors and g.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rules {
    /// Speeding is a speed of at least the limit times this.
    pub over_factor: f64,
    pub overspeed_min_ms: i64,
    pub overspeed_clear_ms: i64,
    pub overspeed_max_gap_ms: i64,
    pub harsh_braking_g: f64,
    pub harsh_acceleration_g: f64,
    pub harsh_max_gap_ms: i64,
    pub harsh_min_gap_ms: i64,
    pub idle_speed_kmh: f64,
    pub idle_min_ms: i64,
    pub idle_max_gap_ms: i64,
    pub coolant_max_c: f64,
    pub coolant_clear_c: f64,
    pub geofence_exit_margin_m: f64,
    pub expire_after_ms: i64,
}

/// Standard gravity, m/s².
pub(crate) const G: f64 = 9.806_65;

impl Rules {
    /// From thresholds already checked by [`crate::config::AlertsConfig::validate`].
    pub fn new(t: &Thresholds) -> Rules {
        // `as` saturates: an absurdly long duration becomes "never", not a wrap-around.
        let ms = |s: f64| (s * 1000.0).round() as i64;
        Rules {
            over_factor: 1.0 + t.overspeed_tolerance_pct / 100.0,
            overspeed_min_ms: ms(t.overspeed_min_duration_s),
            overspeed_clear_ms: ms(t.overspeed_clear_after_s),
            overspeed_max_gap_ms: ms(t.overspeed_max_gap_s),
            harsh_braking_g: t.harsh_braking_g,
            harsh_acceleration_g: t.harsh_acceleration_g,
            harsh_max_gap_ms: ms(t.harsh_max_gap_s),
            harsh_min_gap_ms: ms(t.harsh_min_gap_s),
            idle_speed_kmh: t.idle_speed_kmh,
            idle_min_ms: ms(t.idle_min_duration_s),
            idle_max_gap_ms: ms(t.idle_max_gap_s),
            coolant_max_c: t.coolant_max_c,
            coolant_clear_c: t.coolant_clear_c,
            geofence_exit_margin_m: t.geofence_exit_margin_m,
            expire_after_ms: ms(t.expire_after_s),
        }
    }
}

/// An alert a rule wants raised; the book gives it its id and severity.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Draft {
    pub alert_type: AlertType,
    /// For geofence alerts: which fence (one alert may be active per fence).
    pub geofence_id: Option<String>,
    /// The event time of the message that showed the condition.
    pub at_ms: i64,
    pub message: String,
    pub details: AlertDetails,
}

/// What a message means for a vehicle's alerts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    /// Boxed: drafts are rare and large, clears are small.
    Raise(Box<Draft>),
    /// The condition behind the vehicle's active alert of this type (and fence) ended at
    /// `at_ms`. Nothing happens if no such alert is active.
    Clear {
        alert_type: AlertType,
        geofence_id: Option<String>,
        at_ms: i64,
    },
}

impl Change {
    pub fn raise(draft: Draft) -> Change {
        Change::Raise(Box::new(draft))
    }

    pub fn clear(alert_type: AlertType, at_ms: i64) -> Change {
        Change::Clear {
            alert_type,
            geofence_id: None,
            at_ms,
        }
    }
}

/// A checked GPS fix: what the rules read from a position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Fix {
    pub time_ms: i64,
    pub lat: f64,
    pub lon: f64,
    pub speed_kmh: f64,
    pub heading_deg: f64,
}
