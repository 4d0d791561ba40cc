//! `instadash.alert.*`: conditions worth an operator's attention, and their life cycle
//! (raised → acknowledged → cleared).

use serde::{Deserialize, Serialize};

pub mod acknowledge;
pub mod acknowledge_reply;
pub mod acknowledged;
pub mod cleared;
pub mod list_active;
pub mod list_active_reply;
pub mod raised;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertType {
    /// Over the limit by 5 % for 10 s or more.
    Overspeed,
    /// About 0.4 g or more of deceleration.
    HarshBraking,
    /// About 0.3 g or more of acceleration.
    HarshAcceleration,
    /// 0.3–0.5 g or more sideways.
    HarshCornering,
    /// Above 1 g.
    Crash,
    /// Ignition on, not moving, for more than 5 minutes.
    Idling,
    /// A trouble code or the MIL came on.
    EngineFault,
    /// Coolant above 110 °C.
    CoolantOverTemperature,
    GeofenceEnter,
    GeofenceExit,
    /// The vehicle stopped reporting.
    VehicleSilent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// An alert that has not been cleared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveAlert {
    pub alert_id: String,
    pub vehicle_id: String,
    pub alert_type: AlertType,
    pub severity: Severity,
    pub raised_at_ms: i64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at_ms: Option<i64>,
}

pub(crate) fn example_active_alert() -> ActiveAlert {
    ActiveAlert {
        alert_id: "alert-5f1c".into(),
        vehicle_id: "car-0042".into(),
        alert_type: AlertType::Overspeed,
        severity: Severity::Warning,
        raised_at_ms: crate::EXAMPLE_TIME_MS,
        message: "92 km/h in a 50 zone for 14 s".into(),
        acknowledged_by: Some("dispatcher.anna".into()),
        acknowledged_at_ms: Some(crate::EXAMPLE_TIME_MS + 95_000),
    }
}
