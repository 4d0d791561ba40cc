//! The three events of an alert's life, as one type: what the engine returns, what the store
//! records (and keeps in its outbox until the broker has it), what the service publishes.

use instadash_schemas::alert::AlertType;
use instadash_schemas::alert::acknowledged::v1::AlertAcknowledged;
use instadash_schemas::alert::cleared::v1::AlertCleared;
use instadash_schemas::alert::raised::v1::AlertRaised;
use serde::{Deserialize, Serialize};

/// One step of an alert's life cycle: raised → (acknowledged) → cleared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum AlertEvent {
    Raised(AlertRaised),
    Acknowledged(AlertAcknowledged),
    Cleared(AlertCleared),
}

impl AlertEvent {
    pub fn alert_id(&self) -> &str {
        match self {
            AlertEvent::Raised(e) => &e.alert_id,
            AlertEvent::Acknowledged(e) => &e.alert_id,
            AlertEvent::Cleared(e) => &e.alert_id,
        }
    }

    pub fn vehicle_id(&self) -> &str {
        match self {
            AlertEvent::Raised(e) => &e.vehicle_id,
            AlertEvent::Acknowledged(e) => &e.vehicle_id,
            AlertEvent::Cleared(e) => &e.vehicle_id,
        }
    }

    pub fn alert_type(&self) -> AlertType {
        match self {
            AlertEvent::Raised(e) => e.alert_type,
            AlertEvent::Acknowledged(e) => e.alert_type,
            AlertEvent::Cleared(e) => e.alert_type,
        }
    }

    pub fn as_raised(&self) -> Option<&AlertRaised> {
        match self {
            AlertEvent::Raised(e) => Some(e),
            _ => None,
        }
    }

    pub fn as_cleared(&self) -> Option<&AlertCleared> {
        match self {
            AlertEvent::Cleared(e) => Some(e),
            _ => None,
        }
    }
}

/// The contract's name of an alert type (`overspeed`, `harsh_braking`, ...), as it appears on the
/// wire and in alert ids.
pub fn alert_type_name(alert_type: AlertType) -> &'static str {
    match alert_type {
        AlertType::Overspeed => "overspeed",
        AlertType::HarshBraking => "harsh_braking",
        AlertType::HarshAcceleration => "harsh_acceleration",
        AlertType::HarshCornering => "harsh_cornering",
        AlertType::Crash => "crash",
        AlertType::Idling => "idling",
        AlertType::EngineFault => "engine_fault",
        AlertType::CoolantOverTemperature => "coolant_over_temperature",
        AlertType::GeofenceEnter => "geofence_enter",
        AlertType::GeofenceExit => "geofence_exit",
        AlertType::VehicleSilent => "vehicle_silent",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_are_the_contracts() {
        let all = [
            AlertType::Overspeed,
            AlertType::HarshBraking,
            AlertType::HarshAcceleration,
            AlertType::HarshCornering,
            AlertType::Crash,
            AlertType::Idling,
            AlertType::EngineFault,
            AlertType::CoolantOverTemperature,
            AlertType::GeofenceEnter,
            AlertType::GeofenceExit,
            AlertType::VehicleSilent,
        ];
        for alert_type in all {
            let wire = serde_json::to_value(alert_type).unwrap();
            assert_eq!(wire, alert_type_name(alert_type), "{alert_type:?}");
        }
    }
}
