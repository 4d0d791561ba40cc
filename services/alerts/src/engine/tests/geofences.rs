//! Geofence enter and exit, for circles and polygons.

use instadash_roads::offset;
use instadash_schemas::alert::cleared::v1::ClearReason;
use instadash_schemas::alert::{AlertType, Severity};

use super::*;
use crate::config::{CircleFence, LatLon, PolygonFence};

const DEPOT: (f64, f64) = (48.1372, 11.5756);

fn with_depot(config: &mut AlertsConfig) {
    config.geofences.circles.push(CircleFence {
        id: "depot".into(),
        name: "Depot".into(),
        lat: DEPOT.0,
        lon: DEPOT.1,
        radius_m: 100.0,
    });
}

/// A fix `distance_m` east of the depot's centre at minute `minute` (far apart: no harsh driving).
fn near_depot(alerts: &mut Alerts, minute: u32, distance_m: f64) -> Vec<AlertEvent> {
    let point = offset(DEPOT.0, DEPOT.1, 90.0, distance_m);
    alerts
        .on_position(&position(
            CAR,
            at(f64::from(minute) * 60.0),
            point,
            20.0,
            270.0,
        ))
        .events
}

#[test]
fn crossing_a_circle_raises_enter_and_exit() {
    let mut alerts = engine_with(with_depot);
    assert_eq!(
        near_depot(&mut alerts, 0, 200.0),
        vec![],
        "first fix: only where it is"
    );
    let events = near_depot(&mut alerts, 1, 50.0);
    let [AlertEvent::Raised(raised)] = events.as_slice() else {
        panic!("one raise: {events:?}")
    };
    assert_eq!(raised.alert_type, AlertType::GeofenceEnter);
    assert_eq!(
        raised.alert_id,
        format!("{CAR}-geofence_enter-depot-{}", at(60.0))
    );
    assert_eq!(raised.severity, Severity::Info);
    assert_eq!(raised.message, "Entered Depot");
    assert_eq!(raised.details.geofence_id.as_deref(), Some("depot"));
    assert_eq!(near_depot(&mut alerts, 2, 99.0), vec![]);
    // 5 m outside is GPS jitter at the boundary, 15 m is leaving.
    assert_eq!(near_depot(&mut alerts, 3, 105.0), vec![]);
    let events = near_depot(&mut alerts, 4, 115.0);
    assert_eq!(
        seen(&events),
        vec![
            Seen::Cleared(
                AlertType::GeofenceEnter,
                at(240.0),
                ClearReason::ConditionEnded
            ),
            Seen::Raised(AlertType::GeofenceExit, at(240.0)),
        ]
    );
    assert_eq!(
        events[1].as_raised().map(|r| r.message.as_str()),
        Some("Left Depot")
    );
    // Back in: only within the fence itself.
    assert_eq!(near_depot(&mut alerts, 5, 101.0), vec![]);
    assert_eq!(
        seen(&near_depot(&mut alerts, 6, 90.0)),
        vec![
            Seen::Cleared(
                AlertType::GeofenceExit,
                at(360.0),
                ClearReason::ConditionEnded
            ),
            Seen::Raised(AlertType::GeofenceEnter, at(360.0)),
        ]
    );
    assert_eq!(alerts.active_count(), 1);
}

#[test]
fn a_vehicle_first_seen_inside_has_not_entered() {
    let mut alerts = engine_with(with_depot);
    assert_eq!(near_depot(&mut alerts, 0, 10.0), vec![]);
    assert_eq!(near_depot(&mut alerts, 1, 20.0), vec![]);
    assert_eq!(
        seen(&near_depot(&mut alerts, 2, 300.0)),
        vec![Seen::Raised(AlertType::GeofenceExit, at(120.0))]
    );
}

#[test]
fn crossing_alerts_expire() {
    let mut alerts = engine_with(with_depot);
    near_depot(&mut alerts, 0, 200.0);
    near_depot(&mut alerts, 1, 50.0);
    assert_eq!(
        seen(&alerts.expire(at(60.0 + 600.0))),
        vec![Seen::Cleared(
            AlertType::GeofenceEnter,
            at(660.0),
            ClearReason::Expired
        )]
    );
    // Still inside: no new alert until it crosses again.
    assert_eq!(near_depot(&mut alerts, 12, 40.0), vec![]);
}

#[test]
fn polygons_and_several_fences_at_once() {
    let mut alerts = engine_with(|config| {
        with_depot(config);
        // A square of about 450 m around the depot.
        let corners = [(-1.0, -1.0), (-1.0, 1.0), (1.0, 1.0), (1.0, -1.0)];
        config.geofences.polygons.push(PolygonFence {
            id: "centre".into(),
            name: "City centre".into(),
            points: corners
                .iter()
                .map(|&(dlat, dlon)| LatLon {
                    lat: DEPOT.0 + dlat * 0.002,
                    lon: DEPOT.1 + dlon * 0.003,
                })
                .collect(),
        });
    });
    assert_eq!(near_depot(&mut alerts, 0, 1000.0), vec![]);
    let events = near_depot(&mut alerts, 1, 150.0);
    assert_eq!(
        seen(&events),
        vec![Seen::Raised(AlertType::GeofenceEnter, at(60.0))]
    );
    assert_eq!(
        events[0].as_raised().map(|r| r.message.as_str()),
        Some("Entered City centre")
    );
    // Straight from far away into both: two alerts, one per fence, distinct ids.
    let mut alerts2 = engine_with(|config| {
        with_depot(config);
        config.geofences.circles.push(CircleFence {
            id: "yard".into(),
            name: "Yard".into(),
            lat: DEPOT.0,
            lon: DEPOT.1,
            radius_m: 300.0,
        });
    });
    near_depot(&mut alerts2, 0, 1000.0);
    let events = near_depot(&mut alerts2, 1, 0.0);
    let ids: Vec<&str> = events.iter().map(AlertEvent::alert_id).collect();
    assert_eq!(
        ids,
        vec![
            format!("{CAR}-geofence_enter-depot-{}", at(60.0)),
            format!("{CAR}-geofence_enter-yard-{}", at(60.0)),
        ]
    );
    assert_eq!(alerts2.active_count(), 2);
}
