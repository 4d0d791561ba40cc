//! Idling: the engine running and the car standing for more than 5 minutes.

use instadash_schemas::alert::cleared::v1::ClearReason;
use instadash_schemas::alert::{AlertType, Severity};

use super::*;

/// Standing fixes every 10 s from `from_s` to `to_s` (inclusive).
fn stand(alerts: &mut Alerts, from_s: u32, to_s: u32) -> Vec<AlertEvent> {
    all_events(
        (from_s..=to_s)
            .step_by(10)
            .map(|s| alerts.on_position(&standing(CAR, at(s.into()), 0.4))),
    )
}

#[test]
fn more_than_five_minutes_standing_with_the_engine_on_is_idling() {
    let mut alerts = engine();
    alerts.on_ignition(&ignition(CAR, at(0.0), true));
    assert_eq!(
        seen(&stand(&mut alerts, 0, 300)),
        vec![],
        "5 min is not more than 5 min"
    );
    let events = stand(&mut alerts, 310, 310);
    let [AlertEvent::Raised(raised)] = events.as_slice() else {
        panic!("one raise: {events:?}")
    };
    assert_eq!(raised.alert_type, AlertType::Idling);
    assert_eq!(raised.alert_id, format!("{CAR}-idling-{}", at(310.0)));
    assert_eq!(raised.severity, Severity::Info);
    assert_eq!(raised.message, "Idling for 5 min 10 s");
    assert_eq!(raised.details.duration_s, Some(310.0));
    assert_eq!(seen(&stand(&mut alerts, 320, 900)), vec![], "raised once");
    // Driving off ends it.
    let applied = alerts.on_position(&standing(CAR, at(901.0), 7.0));
    assert_eq!(
        seen(&applied.events),
        vec![Seen::Cleared(
            AlertType::Idling,
            at(901.0),
            ClearReason::ConditionEnded
        )]
    );
}

#[test]
fn switching_the_engine_off_ends_it() {
    let mut alerts = engine();
    alerts.on_ignition(&ignition(CAR, at(0.0), true));
    stand(&mut alerts, 0, 400);
    let applied = alerts.on_ignition(&ignition(CAR, at(405.0), false));
    assert_eq!(
        seen(&applied.events),
        vec![Seen::Cleared(
            AlertType::Idling,
            at(405.0),
            ClearReason::ConditionEnded
        )]
    );
    // A unit that goes on reporting a parked car with the ignition off: no idling.
    assert_eq!(seen(&stand(&mut alerts, 410, 1200)), vec![]);
}

#[test]
fn without_evidence_of_a_running_engine_standing_is_parking() {
    let mut alerts = engine();
    assert_eq!(seen(&stand(&mut alerts, 0, 1200)), vec![]);
}

#[test]
fn an_rpm_reading_is_evidence_too_and_an_rpm_of_zero_ends_it() {
    let mut alerts = engine();
    alerts.on_obd(&obd(CAR, at(0.0), 780.0));
    assert_eq!(
        seen(&stand(&mut alerts, 0, 310)),
        vec![Seen::Raised(AlertType::Idling, at(310.0))]
    );
    // Start-stop: the engine stops while the car stands.
    let applied = alerts.on_obd(&obd(CAR, at(315.0), 0.0));
    assert_eq!(
        seen(&applied.events),
        vec![Seen::Cleared(
            AlertType::Idling,
            at(315.0),
            ClearReason::ConditionEnded
        )]
    );
    // It starts again: 5 minutes more from the next standing fix.
    alerts.on_obd(&obd(CAR, at(318.0), 790.0));
    assert_eq!(seen(&stand(&mut alerts, 320, 620)), vec![]);
    assert_eq!(
        seen(&stand(&mut alerts, 630, 630)),
        vec![Seen::Raised(AlertType::Idling, at(630.0))]
    );
}

#[test]
fn a_long_gap_between_fixes_starts_the_count_again() {
    let mut alerts = engine();
    alerts.on_ignition(&ignition(CAR, at(0.0), true));
    assert_eq!(seen(&stand(&mut alerts, 0, 200)), vec![]);
    // 70 s without a fix: nobody knows the car stood running all that time.
    assert_eq!(seen(&stand(&mut alerts, 270, 570)), vec![]);
    assert_eq!(
        seen(&stand(&mut alerts, 580, 580)),
        vec![Seen::Raised(AlertType::Idling, at(580.0))]
    );
}

#[test]
fn the_threshold_is_configurable() {
    let mut alerts = engine_with(|c| c.thresholds.idle_min_duration_s = 60.0);
    alerts.on_ignition(&ignition(CAR, at(0.0), true));
    assert_eq!(
        seen(&stand(&mut alerts, 0, 70)),
        vec![Seen::Raised(AlertType::Idling, at(70.0))]
    );
}
