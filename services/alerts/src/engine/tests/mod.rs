//! The engine's rules, one module per rule, on messages built here: exact times, exact alerts.

mod coolant;
mod engine_fault;
mod geofences;
mod harsh;
mod idling;
mod order;
mod overspeed;
mod requests;
mod restore;
mod silence;

use std::sync::Arc;

use instadash_roads::{EdgeId, RoadNetwork};
use instadash_schemas::alert::AlertType;
use instadash_schemas::alert::cleared::v1::ClearReason;
use instadash_schemas::vehicle::VehicleStatus;
use instadash_schemas::vehicle::ignition::v1::Ignition;
use instadash_schemas::vehicle::obd_reading::v1::ObdReading;
use instadash_schemas::vehicle::position::v2::Position;
use instadash_schemas::vehicle::status_changed::v1::StatusChanged;
use instadash_schemas::vehicle::trouble_codes::v1::TroubleCodes;

use super::{Alerts, Applied};
use crate::config::AlertsConfig;
use crate::event::AlertEvent;

/// A moment of a test: 2026-11-03T08:15:30Z.
pub(super) const T0: i64 = 1_793_693_730_000;
pub(super) const CAR: &str = "car-1";

/// `T0` plus `s` seconds.
pub(super) fn at(s: f64) -> i64 {
    T0 + (s * 1000.0).round() as i64
}

pub(super) fn engine() -> Alerts {
    Alerts::new(AlertsConfig::default()).expect("the defaults are valid")
}

pub(super) fn engine_with(configure: impl FnOnce(&mut AlertsConfig)) -> Alerts {
    let mut config = AlertsConfig::default();
    configure(&mut config);
    Alerts::new(config).expect("a valid test configuration")
}

/// An alert event, reduced to what most tests check: what, and when.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Seen {
    Raised(AlertType, i64),
    Cleared(AlertType, i64, ClearReason),
    Acknowledged(AlertType, i64),
}

pub(super) fn seen(events: &[AlertEvent]) -> Vec<Seen> {
    events
        .iter()
        .map(|event| match event {
            AlertEvent::Raised(e) => Seen::Raised(e.alert_type, e.raised_at_ms),
            AlertEvent::Cleared(e) => Seen::Cleared(e.alert_type, e.cleared_at_ms, e.reason),
            AlertEvent::Acknowledged(e) => Seen::Acknowledged(e.alert_type, e.acknowledged_at_ms),
        })
        .collect()
}

/// Every event of a sequence of applications, in order.
pub(super) fn all_events(applied: impl IntoIterator<Item = Applied>) -> Vec<AlertEvent> {
    applied.into_iter().flat_map(|a| a.events).collect()
}

pub(super) fn position(
    vehicle: &str,
    time_ms: i64,
    (lat, lon): (f64, f64),
    speed_kmh: f64,
    heading_deg: f64,
) -> Position {
    Position {
        vehicle_id: vehicle.into(),
        time_ms,
        lat,
        lon,
        speed_kmh,
        heading_deg,
        altitude_m: None,
        accuracy_m: 3.0,
        satellites: 9,
        hdop: None,
    }
}

/// A fix of a parked car in the middle of the city.
pub(super) fn standing(vehicle: &str, time_ms: i64, speed_kmh: f64) -> Position {
    position(vehicle, time_ms, (48.1372, 11.5756), speed_kmh, 0.0)
}

pub(super) fn ignition(vehicle: &str, time_ms: i64, on: bool) -> Ignition {
    Ignition {
        vehicle_id: vehicle.into(),
        time_ms,
        on,
    }
}

pub(super) fn obd(vehicle: &str, time_ms: i64, rpm: f64) -> ObdReading {
    ObdReading {
        vehicle_id: vehicle.into(),
        time_ms,
        speed_kmh: 0.0,
        rpm,
        coolant_c: None,
        fuel_level_pct: None,
        engine_load_pct: None,
        throttle_pct: None,
        mil_on: None,
        dtc_count: None,
    }
}

pub(super) fn trouble_codes(
    vehicle: &str,
    time_ms: i64,
    mil_on: bool,
    codes: &[&str],
) -> TroubleCodes {
    TroubleCodes {
        vehicle_id: vehicle.into(),
        time_ms,
        mil_on,
        codes: codes.iter().map(|c| (*c).to_owned()).collect(),
    }
}

pub(super) fn status(
    vehicle: &str,
    time_ms: i64,
    status: VehicleStatus,
    last_seen_ms: Option<i64>,
) -> StatusChanged {
    StatusChanged {
        vehicle_id: vehicle.into(),
        time_ms,
        status,
        previous: None,
        last_seen_ms,
        reason: None,
    }
}

/// A car driving along a route of the city, one fix at a time: it advances by the distance its
/// speeds say, and reports the road's heading.
pub(super) struct Car {
    pub id: String,
    network: Arc<RoadNetwork>,
    edges: Vec<EdgeId>,
    distance_m: f64,
    last: Option<(i64, f64)>,
}

impl Car {
    /// Eastward along the 60 km/h arterial of row 14 (Wasserburger Landstraße), from junction
    /// 437 to 449: about 2.3 km, crossing 30 km/h streets at every junction.
    pub fn on_the_arterial(id: &str) -> Car {
        let network = RoadNetwork::city();
        let edges = (437..449)
            .map(|n| {
                network
                    .edges()
                    .iter()
                    .find(|e| e.from == n && e.to == n + 1)
                    .map(|e| e.id)
                    .expect("the arterial is in the city")
            })
            .collect::<Vec<_>>();
        assert!(
            edges
                .iter()
                .all(|&e| network.edge(e).speed_limit_kmh == 60.0),
            "the arterial is 60 km/h all along"
        );
        Car {
            id: id.into(),
            network,
            edges,
            distance_m: 20.0,
            last: None,
        }
    }

    /// The fix at `time_ms` with speed `speed_kmh`.
    pub fn fix(&mut self, time_ms: i64, speed_kmh: f64) -> Position {
        if let Some((t, v)) = self.last {
            let dt_s = (time_ms - t) as f64 / 1000.0;
            self.distance_m += (v + speed_kmh) / 2.0 / 3.6 * dt_s;
        }
        self.last = Some((time_ms, speed_kmh));
        let mut left = self.distance_m;
        let mut edge = self.edges[0];
        for &e in &self.edges {
            edge = e;
            let length = self.network.edge(e).length_m;
            if left <= length {
                break;
            }
            left -= length;
        }
        let point = self.network.point_on_edge(edge, left);
        let heading = self.network.edge_bearing_deg(edge);
        position(&self.id, time_ms, point, speed_kmh, heading)
    }
}
