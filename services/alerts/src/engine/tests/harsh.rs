//! Harsh braking and acceleration: the speed change between fixes, over the time between them.

use instadash_schemas::alert::cleared::v1::ClearReason;
use instadash_schemas::alert::{AlertType, Severity};

use super::*;

/// Fixes of a car on the arterial at `(seconds, km/h)`.
fn fixes(alerts: &mut Alerts, car: &mut Car, speeds: &[(f64, f64)]) -> Vec<AlertEvent> {
    all_events(
        speeds
            .iter()
            .map(|&(s, kmh)| alerts.on_position(&car.fix(at(s), kmh))),
    )
}

#[test]
fn fifteen_kmh_lost_in_one_second_is_harsh_braking() {
    let mut alerts = engine();
    let mut car = Car::on_the_arterial(CAR);
    let events = fixes(
        &mut alerts,
        &mut car,
        &[(0.0, 50.0), (1.0, 50.0), (2.0, 35.0)],
    );
    let [AlertEvent::Raised(raised)] = events.as_slice() else {
        panic!("one raise: {events:?}")
    };
    assert_eq!(raised.alert_type, AlertType::HarshBraking);
    assert_eq!(raised.alert_id, format!("{CAR}-harsh_braking-{}", at(2.0)));
    assert_eq!(raised.severity, Severity::Warning);
    assert_eq!(raised.raised_at_ms, at(2.0));
    assert_eq!(
        raised.message,
        "Harsh braking from 50 to 35 km/h in 1.0 s (0.42 g)"
    );
    assert_eq!(raised.details.acceleration_g, Some(-0.425));
    assert_eq!(raised.details.speed_kmh, Some(35.0));
    assert_eq!(raised.details.duration_s, Some(1.0));
}

#[test]
fn ordinary_braking_is_not_harsh() {
    let mut alerts = engine();
    let mut car = Car::on_the_arterial(CAR);
    // 12 km/h in one second: 0.34 g, firm but ordinary.
    let events = fixes(
        &mut alerts,
        &mut car,
        &[(0.0, 60.0), (1.0, 48.0), (2.0, 36.0), (3.0, 24.0)],
    );
    assert_eq!(seen(&events), vec![]);
}

#[test]
fn the_deceleration_is_over_the_real_time_between_fixes() {
    let mut alerts = engine();
    let mut car = Car::on_the_arterial(CAR);
    // 20 km/h lost over 1.5 s (a fix was late): 0.38 g, not harsh, though 20 km/h "per fix".
    assert_eq!(
        seen(&fixes(&mut alerts, &mut car, &[(0.0, 60.0), (1.5, 40.0)])),
        vec![]
    );
    // 20 km/h lost over 1.2 s: 0.47 g.
    assert_eq!(
        seen(&fixes(&mut alerts, &mut car, &[(2.7, 20.0)])),
        vec![Seen::Raised(AlertType::HarshBraking, at(2.7))]
    );
}

#[test]
fn across_a_gap_of_more_than_two_seconds_nothing_is_judged() {
    let mut alerts = engine();
    let mut car = Car::on_the_arterial(CAR);
    // 60 to 0 between fixes 2.5 s apart would be 0.68 g, but nobody saw how it happened.
    assert_eq!(
        seen(&fixes(&mut alerts, &mut car, &[(0.0, 60.0), (2.5, 0.0)])),
        vec![]
    );
}

#[test]
fn a_fast_gps_unit_is_judged_over_half_a_second_at_least() {
    let mut alerts = engine();
    let mut car = Car::on_the_arterial(CAR);
    // 10 Hz with a km/h of noise: between neighbours that would be up to 0.57 g.
    let noisy: Vec<(f64, f64)> = (0..50)
        .map(|i| (f64::from(i) / 10.0, if i % 2 == 0 { 50.0 } else { 48.0 }))
        .collect();
    assert_eq!(seen(&fixes(&mut alerts, &mut car, &noisy)), vec![]);
}

#[test]
fn one_hard_stop_is_one_alert() {
    let mut alerts = engine();
    let mut car = Car::on_the_arterial(CAR);
    let events = fixes(
        &mut alerts,
        &mut car,
        &[
            (0.0, 80.0),
            (1.0, 60.0),
            (2.0, 40.0),
            (3.0, 20.0),
            (4.0, 0.0),
            (5.0, 0.0),
        ],
    );
    assert_eq!(
        seen(&events),
        vec![Seen::Raised(AlertType::HarshBraking, at(1.0))]
    );
}

#[test]
fn a_new_harsh_brake_replaces_the_active_alert() {
    let mut alerts = engine();
    let mut car = Car::on_the_arterial(CAR);
    fixes(
        &mut alerts,
        &mut car,
        &[(0.0, 60.0), (1.0, 40.0), (2.0, 40.0)],
    );
    let events = fixes(&mut alerts, &mut car, &[(60.0, 50.0), (61.0, 30.0)]);
    assert_eq!(
        seen(&events),
        vec![
            Seen::Cleared(AlertType::HarshBraking, at(61.0), ClearReason::Expired),
            Seen::Raised(AlertType::HarshBraking, at(61.0)),
        ]
    );
    assert_eq!(
        events[0].alert_id(),
        format!("{CAR}-harsh_braking-{}", at(1.0))
    );
    assert_eq!(alerts.active_count(), 1);
}

#[test]
fn pulling_away_hard_is_harsh_acceleration() {
    let mut alerts = engine();
    let mut car = Car::on_the_arterial(CAR);
    // 12 km/h gained in one second: 0.34 g.
    let events = fixes(
        &mut alerts,
        &mut car,
        &[(0.0, 0.0), (1.0, 12.0), (2.0, 20.0)],
    );
    let [AlertEvent::Raised(raised)] = events.as_slice() else {
        panic!("one raise: {events:?}")
    };
    assert_eq!(raised.alert_type, AlertType::HarshAcceleration);
    assert_eq!(raised.severity, Severity::Info);
    assert_eq!(
        raised.message,
        "Harsh acceleration from 0 to 12 km/h in 1.0 s (0.34 g)"
    );
    assert_eq!(raised.details.acceleration_g, Some(0.34));
    // Ordinary acceleration (8 km/h per second, 0.23 g) is not harsh.
    let mut alerts = engine();
    let mut car = Car::on_the_arterial(CAR);
    let events = fixes(
        &mut alerts,
        &mut car,
        &[(0.0, 0.0), (1.0, 8.0), (2.0, 16.0), (3.0, 24.0)],
    );
    assert_eq!(seen(&events), vec![]);
}

#[test]
fn momentary_alerts_expire_ten_minutes_after_they_were_raised() {
    let mut alerts = engine();
    let mut car = Car::on_the_arterial(CAR);
    fixes(&mut alerts, &mut car, &[(0.0, 60.0), (1.0, 40.0)]);
    assert_eq!(alerts.next_expiry_ms(), Some(at(601.0)));
    assert_eq!(alerts.expire(at(600.999)), vec![]);
    // Noticed late, but cleared at the moment it expired.
    assert_eq!(
        seen(&alerts.expire(at(700.0))),
        vec![Seen::Cleared(
            AlertType::HarshBraking,
            at(601.0),
            ClearReason::Expired
        )]
    );
    assert_eq!(alerts.active_count(), 0);
    assert_eq!(alerts.expire(at(800.0)), vec![]);
}

#[test]
fn the_expiry_time_is_configurable() {
    let mut alerts = engine_with(|c| c.thresholds.expire_after_s = 30.0);
    let mut car = Car::on_the_arterial(CAR);
    fixes(&mut alerts, &mut car, &[(0.0, 60.0), (1.0, 40.0)]);
    assert_eq!(
        seen(&alerts.expire(at(31.0))),
        vec![Seen::Cleared(
            AlertType::HarshBraking,
            at(31.0),
            ClearReason::Expired
        )]
    );
}
