//! Per-vehicle order: duplicates and late deliveries change nothing; unusable messages neither.

use instadash_schemas::alert::AlertType;
use instadash_schemas::alert::cleared::v1::ClearReason;
use instadash_schemas::vehicle::VehicleStatus::{Online, Unknown};

use super::*;

/// A drive: 75 km/h for 20 s (overspeed), a hard brake to 50 and on at 50 (cleared).
fn the_drive() -> Vec<Position> {
    let mut car = Car::on_the_arterial(CAR);
    (0..=30)
        .map(|s| car.fix(at(s.into()), if s <= 20 { 75.0 } else { 50.0 }))
        .collect()
}

#[test]
fn duplicates_and_late_fixes_change_nothing() {
    let fixes = the_drive();
    let mut clean = engine();
    let expected = all_events(fixes.iter().map(|f| clean.on_position(f)));
    assert_eq!(
        seen(&expected),
        vec![
            Seen::Raised(AlertType::Overspeed, at(10.0)),
            Seen::Raised(AlertType::HarshBraking, at(21.0)),
            Seen::Cleared(AlertType::Overspeed, at(24.0), ClearReason::ConditionEnded),
        ]
    );

    // Every fix twice, and after each one a late copy of the fix three seconds older with the
    // opposite speed (as if it had been slow before, or fast): all stale.
    let mut noisy = engine();
    let mut events = Vec::new();
    for (i, fix) in fixes.iter().enumerate() {
        events.extend(noisy.on_position(fix).events);
        let again = noisy.on_position(fix);
        assert!(again.stale && again.events.is_empty(), "duplicate of {i}");
        if let Some(older) = i.checked_sub(3).map(|j| &fixes[j]) {
            let late = Position {
                speed_kmh: if older.speed_kmh > 60.0 { 20.0 } else { 120.0 },
                ..older.clone()
            };
            let applied = noisy.on_position(&late);
            assert!(
                applied.stale && applied.events.is_empty(),
                "late fix before {i}"
            );
        }
    }
    assert_eq!(events, expected);
}

#[test]
fn a_late_ignition_off_does_not_end_a_drive() {
    let mut alerts = engine();
    let mut car = Car::on_the_arterial(CAR);
    for s in 0..=12 {
        alerts.on_position(&car.fix(at(s.into()), 80.0));
    }
    // Switched off (before the car drove on and reported at 12 s): stale.
    let applied = alerts.on_ignition(&ignition(CAR, at(11.5), false));
    assert!(applied.stale);
    assert_eq!(applied.events, vec![]);
    assert_eq!(alerts.active_count(), 1, "still speeding");
    // A duplicate ignition event is stale too.
    alerts.on_ignition(&ignition(CAR, at(13.0), true));
    assert!(alerts.on_ignition(&ignition(CAR, at(13.0), true)).stale);
}

#[test]
fn late_trouble_codes_and_status_changes_are_stale() {
    let mut alerts = engine();
    alerts.on_trouble_codes(&trouble_codes(CAR, at(20.0), false, &[]));
    let late = alerts.on_trouble_codes(&trouble_codes(CAR, at(10.0), true, &["P0301"]));
    assert!(late.stale);
    assert_eq!(alerts.active_count(), 0);

    alerts.on_status_changed(&status(CAR, at(700.0), Online, None));
    let late = alerts.on_status_changed(&status(CAR, at(650.0), Unknown, None));
    assert!(late.stale);
    assert_eq!(alerts.active_count(), 0);
    let duplicate = alerts.on_status_changed(&status(CAR, at(700.0), Unknown, None));
    assert!(duplicate.stale);
}

#[test]
fn vehicles_are_judged_apart() {
    let mut alerts = engine();
    let mut fast = Car::on_the_arterial("car-1");
    let mut slow = Car::on_the_arterial("car-2");
    let mut events = Vec::new();
    for s in 0..=12 {
        events.extend(alerts.on_position(&fast.fix(at(s.into()), 80.0)).events);
        events.extend(alerts.on_position(&slow.fix(at(s.into()), 55.0)).events);
    }
    let vehicles: Vec<&str> = events.iter().map(AlertEvent::vehicle_id).collect();
    assert_eq!(vehicles, vec!["car-1"]);
}

#[test]
fn unusable_messages_are_ignored() {
    let mut alerts = engine();
    let good = standing(CAR, at(0.0), 0.0);
    let unusable = [
        Position {
            speed_kmh: f64::NAN,
            ..good.clone()
        },
        Position {
            speed_kmh: -3.0,
            ..good.clone()
        },
        Position {
            lat: 95.0,
            ..good.clone()
        },
        Position {
            heading_deg: f64::INFINITY,
            ..good.clone()
        },
        Position {
            time_ms: -1,
            ..good.clone()
        },
        Position {
            vehicle_id: "car 1".into(),
            ..good.clone()
        },
        Position {
            vehicle_id: String::new(),
            ..good.clone()
        },
        Position {
            vehicle_id: "x".repeat(65),
            ..good.clone()
        },
    ];
    for position in &unusable {
        assert!(alerts.on_position(position).stale, "{position:?}");
    }
    let hot = ObdReading {
        coolant_c: Some(f64::NAN),
        ..obd(CAR, at(0.0), 800.0)
    };
    assert!(alerts.on_obd(&hot).stale);
    assert!(alerts.on_obd(&obd(CAR, at(0.0), -1.0)).stale);
    assert!(alerts.on_ignition(&ignition("car/1", at(0.0), true)).stale);
    assert!(
        alerts
            .on_trouble_codes(&trouble_codes(CAR, -5, true, &["P0301"]))
            .stale
    );
    assert_eq!(alerts.active_count(), 0);
    // None of that took the place of a real first message.
    assert!(!alerts.on_position(&good).stale);
}
