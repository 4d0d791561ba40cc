//! `instadash.vehicle.*`: telemetry from the cars and the tracker's view of them.

use serde::{Deserialize, Serialize};

pub mod find_nearest;
pub mod find_nearest_reply;
pub mod get_route;
pub mod get_route_reply;
pub mod get_state;
pub mod get_state_reply;
pub mod ignition;
pub mod list_vehicles;
pub mod list_vehicles_reply;
pub mod obd_reading;
pub mod position;
pub mod status_changed;
pub mod trouble_codes;

// Shared by several v1 schemas. A later version that changes one of these gets its own copy in its
// version module, so earlier versions keep their shape.

/// The tracker's opinion of a vehicle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VehicleStatus {
    /// Reporting.
    Online,
    /// Silent for longer than the tracker's timeout.
    Unknown,
    /// Said it went away (ignition off).
    Offline,
}

/// What the tracker knows about one vehicle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VehicleState {
    pub vehicle_id: String,
    pub status: VehicleStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<LastFix>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub obd: Option<LastObd>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trouble_codes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignition_on: Option<bool>,
    /// Summed over accepted fixes while moving.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub odometer_m: Option<f64>,
}

/// The latest GPS fix the tracker holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastFix {
    pub time_ms: i64,
    pub lat: f64,
    pub lon: f64,
    pub speed_kmh: f64,
    pub heading_deg: f64,
}

/// The latest OBD-II values the tracker holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastObd {
    pub time_ms: i64,
    pub rpm: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coolant_c: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel_level_pct: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mil_on: Option<bool>,
}

/// An example vehicle for the examples of several types.
pub(crate) fn example_state(vehicle_id: &str) -> VehicleState {
    let t = crate::EXAMPLE_TIME_MS;
    VehicleState {
        vehicle_id: vehicle_id.into(),
        status: VehicleStatus::Online,
        last_seen_ms: Some(t),
        position: Some(LastFix {
            time_ms: t,
            lat: 48.137_154,
            lon: 11.576_124,
            speed_kmh: 43.2,
            heading_deg: 87.5,
        }),
        obd: Some(LastObd {
            time_ms: t - 800,
            rpm: 1_850.0,
            coolant_c: Some(91.0),
            fuel_level_pct: Some(62.5),
            mil_on: Some(false),
        }),
        trouble_codes: Some(vec![]),
        ignition_on: Some(true),
        odometer_m: Some(18_240.5),
    }
}
