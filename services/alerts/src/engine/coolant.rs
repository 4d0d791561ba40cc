//! Coolant over temperature: raised above `coolant_max_c`, cleared below `coolant_clear_c`; in
//! between nothing changes, so a reading hovering at the limit does not flap.

use instadash_schemas::alert::AlertType;
use instadash_schemas::alert::raised::v1::AlertDetails;

use super::rules::{Change, Draft, Rules};
use super::text;

/// Judges one coolant reading at `t`.
pub(crate) fn on_coolant(t: i64, coolant_c: f64, active: bool, rules: &Rules) -> Option<Change> {
    if !active && coolant_c > rules.coolant_max_c {
        Some(Change::raise(Draft {
            alert_type: AlertType::CoolantOverTemperature,
            geofence_id: None,
            at_ms: t,
            message: text::coolant(coolant_c, rules.coolant_max_c),
            details: AlertDetails {
                coolant_c: Some(coolant_c),
                ..AlertDetails::default()
            },
        }))
    } else if active && coolant_c < rules.coolant_clear_c {
        Some(Change::clear(AlertType::CoolantOverTemperature, t))
    } else {
        None
    }
}
