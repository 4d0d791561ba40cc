//! Overspeed: 5 % over the road's limit for 10 s, cleared after 3 s at or under the limit, or by
//! the ignition going off.

use instadash_schemas::alert::cleared::v1::ClearReason;
use instadash_schemas::alert::list_active::v1::ListActive;
use instadash_schemas::alert::{AlertType, Severity};

use super::*;

/// Fixes every second from `from_s` to `to_s` (inclusive) at `speed_kmh`; the overspeed events
/// they caused (sudden speed changes here are harsh driving too, which is not this test's topic).
fn drive(alerts: &mut Alerts, car: &mut Car, from_s: u32, to_s: u32, speed_kmh: f64) -> Vec<Seen> {
    let events =
        all_events((from_s..=to_s).map(|s| alerts.on_position(&car.fix(at(s.into()), speed_kmh))));
    let overspeed: Vec<_> = events
        .into_iter()
        .filter(|e| e.alert_type() == AlertType::Overspeed)
        .collect();
    seen(&overspeed)
}

#[test]
fn ten_seconds_over_the_limit_raise_an_alert_with_the_roads_limit() {
    let mut alerts = engine();
    let mut car = Car::on_the_arterial(CAR);
    // 72 km/h in a 60 zone, across several junctions with 30 km/h side streets.
    assert_eq!(
        drive(&mut alerts, &mut car, 0, 9, 72.0),
        vec![],
        "9 s is not 10 s"
    );
    let applied = alerts.on_position(&car.fix(at(10.0), 72.0));
    let [AlertEvent::Raised(raised)] = applied.events.as_slice() else {
        panic!("one raise: {:?}", applied.events)
    };
    assert_eq!(raised.alert_id, format!("{CAR}-overspeed-{}", at(10.0)));
    assert_eq!(raised.vehicle_id, CAR);
    assert_eq!(raised.alert_type, AlertType::Overspeed);
    assert_eq!(raised.severity, Severity::Warning);
    assert_eq!(raised.raised_at_ms, at(10.0));
    assert_eq!(raised.message, "72 km/h in a 60 zone for 10 s");
    assert_eq!(raised.details.speed_kmh, Some(72.0));
    assert_eq!(raised.details.limit_kmh, Some(60.0));
    assert_eq!(raised.details.duration_s, Some(10.0));
    assert!(raised.details.lat.is_some() && raised.details.lon.is_some());
    // Going on speeding raises nothing more.
    assert_eq!(drive(&mut alerts, &mut car, 11, 30, 75.0), vec![]);
    assert_eq!(alerts.active_count(), 1);
}

#[test]
fn the_alert_reports_the_worst_moment() {
    let mut alerts = engine();
    let mut car = Car::on_the_arterial(CAR);
    drive(&mut alerts, &mut car, 0, 4, 66.0);
    drive(&mut alerts, &mut car, 5, 5, 92.0);
    let events = all_events((6..=10).map(|s| alerts.on_position(&car.fix(at(s.into()), 70.0))));
    let raised = events
        .iter()
        .filter_map(AlertEvent::as_raised)
        .find(|r| r.alert_type == AlertType::Overspeed)
        .expect("overspeed raised");
    assert_eq!(raised.message, "92 km/h in a 60 zone for 10 s");
    assert_eq!(raised.details.speed_kmh, Some(92.0));
}

#[test]
fn within_five_percent_is_not_speeding_and_interrupts_the_count() {
    let mut alerts = engine();
    let mut car = Car::on_the_arterial(CAR);
    // 62.9 km/h is less than 5 % over 60: never an alert, however long.
    assert_eq!(drive(&mut alerts, &mut car, 0, 60, 62.9), vec![]);
    // 9 s over, one fix within the tolerance, 9 s over again: never 10 s in a row.
    assert_eq!(drive(&mut alerts, &mut car, 61, 69, 63.5), vec![]);
    assert_eq!(drive(&mut alerts, &mut car, 70, 70, 62.0), vec![]);
    assert_eq!(drive(&mut alerts, &mut car, 71, 79, 63.5), vec![]);
    assert_eq!(
        drive(&mut alerts, &mut car, 80, 81, 63.5),
        vec![Seen::Raised(AlertType::Overspeed, at(81.0))],
        "10 s after the count started again at 71 s"
    );
}

#[test]
fn a_gap_in_the_fixes_starts_the_count_again() {
    let mut alerts = engine();
    let mut car = Car::on_the_arterial(CAR);
    // Dropped fixes (a 4 s gap) are tolerated ...
    assert_eq!(drive(&mut alerts, &mut car, 0, 3, 75.0), vec![]);
    assert_eq!(
        drive(&mut alerts, &mut car, 7, 10, 75.0),
        vec![Seen::Raised(AlertType::Overspeed, at(10.0))]
    );
    // ... but after 6 s without a fix nobody knows what happened in between.
    let mut alerts = engine();
    let mut car = Car::on_the_arterial(CAR);
    assert_eq!(drive(&mut alerts, &mut car, 0, 3, 75.0), vec![]);
    assert_eq!(drive(&mut alerts, &mut car, 9, 18, 75.0), vec![]);
    assert_eq!(
        drive(&mut alerts, &mut car, 19, 19, 75.0),
        vec![Seen::Raised(AlertType::Overspeed, at(19.0))]
    );
}

#[test]
fn it_clears_after_three_seconds_at_or_under_the_limit() {
    let mut alerts = engine();
    let mut car = Car::on_the_arterial(CAR);
    drive(&mut alerts, &mut car, 0, 12, 80.0);
    // Between the limit and the tolerance: still speeding a little, nothing changes.
    assert_eq!(drive(&mut alerts, &mut car, 13, 30, 62.0), vec![]);
    // Under the limit for 2 s, then over it again: the 3 s start again.
    assert_eq!(drive(&mut alerts, &mut car, 31, 33, 58.0), vec![]);
    assert_eq!(drive(&mut alerts, &mut car, 34, 34, 61.0), vec![]);
    assert_eq!(drive(&mut alerts, &mut car, 35, 37, 60.0), vec![]);
    assert_eq!(
        drive(&mut alerts, &mut car, 38, 40, 55.0),
        vec![Seen::Cleared(
            AlertType::Overspeed,
            at(38.0),
            ClearReason::ConditionEnded
        )]
    );
    let overspeed = ListActive {
        alert_types: Some(vec![AlertType::Overspeed]),
        ..ListActive::default()
    };
    assert_eq!(alerts.list_active(&overspeed).total, 0);
    // A new 10 s of speeding is a new alert.
    assert_eq!(
        drive(&mut alerts, &mut car, 41, 51, 70.0),
        vec![Seen::Raised(AlertType::Overspeed, at(51.0))]
    );
}

#[test]
fn switching_the_ignition_off_ends_it() {
    let mut alerts = engine();
    let mut car = Car::on_the_arterial(CAR);
    drive(&mut alerts, &mut car, 0, 10, 80.0);
    let applied = alerts.on_ignition(&ignition(CAR, at(11.0), false));
    assert_eq!(
        seen(&applied.events),
        vec![Seen::Cleared(
            AlertType::Overspeed,
            at(11.0),
            ClearReason::ConditionEnded
        )]
    );
    // The fix the unit sent as it powered down (same moment as the switch-off), delivered
    // late: it starts nothing again.
    let late = car.fix(at(11.0), 80.0);
    assert!(alerts.on_position(&late).events.is_empty());
}

#[test]
fn far_from_any_road_there_is_no_limit_to_break() {
    let mut alerts = engine();
    let events = all_events(
        (0..=30)
            .map(|s| alerts.on_position(&position(CAR, at(s.into()), (47.5, 10.5), 180.0, 90.0))),
    );
    assert_eq!(seen(&events), vec![]);
}
