//! What each alert type is: how severe, and whether it has an end of its own.

use instadash_schemas::alert::{AlertType, Severity};

/// How urgent an alert of each type is: the table is at [`crate::engine::severity`].
pub fn severity(alert_type: AlertType) -> Severity {
    match alert_type {
        AlertType::CoolantOverTemperature | AlertType::Crash => Severity::Critical,
        AlertType::Overspeed
        | AlertType::HarshBraking
        | AlertType::HarshCornering
        | AlertType::EngineFault
        | AlertType::VehicleSilent => Severity::Warning,
        AlertType::HarshAcceleration
        | AlertType::Idling
        | AlertType::GeofenceEnter
        | AlertType::GeofenceExit => Severity::Info,
    }
}

/// Whether alerts of this type are moments rather than conditions: they have no "end" to detect,
/// so they expire a while after being raised, and a new occurrence replaces the active one.
pub fn is_momentary(alert_type: AlertType) -> bool {
    matches!(
        alert_type,
        AlertType::HarshBraking
            | AlertType::HarshAcceleration
            | AlertType::HarshCornering
            | AlertType::Crash
            | AlertType::GeofenceEnter
            | AlertType::GeofenceExit
    )
}
