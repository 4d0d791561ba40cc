//! Coolant over temperature: above 110 °C, cleared below 105 °C.

use instadash_schemas::alert::cleared::v1::ClearReason;
use instadash_schemas::alert::{AlertType, Severity};

use super::*;

fn coolant(time_ms: i64, coolant_c: f64) -> ObdReading {
    ObdReading {
        coolant_c: Some(coolant_c),
        ..obd(CAR, time_ms, 900.0)
    }
}

#[test]
fn above_110_raises_below_105_clears_and_nothing_flaps_in_between() {
    let mut alerts = engine();
    assert_eq!(
        alerts.on_obd(&coolant(at(0.0), 110.0)).events,
        vec![],
        "110 is not above 110"
    );
    let applied = alerts.on_obd(&coolant(at(5.0), 111.0));
    let [AlertEvent::Raised(raised)] = applied.events.as_slice() else {
        panic!("one raise: {:?}", applied.events)
    };
    assert_eq!(raised.alert_type, AlertType::CoolantOverTemperature);
    assert_eq!(raised.severity, Severity::Critical);
    assert_eq!(raised.message, "Coolant at 111 °C (over 110 °C)");
    assert_eq!(raised.details.coolant_c, Some(111.0));
    let events = all_events([
        alerts.on_obd(&coolant(at(10.0), 116.0)),
        alerts.on_obd(&coolant(at(15.0), 109.0)),
        alerts.on_obd(&coolant(at(20.0), 111.0)),
        alerts.on_obd(&coolant(at(25.0), 105.0)),
        // Readings without the slow PIDs say nothing about the coolant.
        alerts.on_obd(&obd(CAR, at(26.0), 900.0)),
    ]);
    assert_eq!(events, vec![]);
    let applied = alerts.on_obd(&coolant(at(30.0), 104.0));
    assert_eq!(
        seen(&applied.events),
        vec![Seen::Cleared(
            AlertType::CoolantOverTemperature,
            at(30.0),
            ClearReason::ConditionEnded
        )]
    );
}

#[test]
fn the_limits_are_configurable() {
    let mut alerts = engine_with(|c| {
        c.thresholds.coolant_max_c = 100.0;
        c.thresholds.coolant_clear_c = 95.0;
    });
    let events = all_events([
        alerts.on_obd(&coolant(at(0.0), 101.0)),
        alerts.on_obd(&coolant(at(5.0), 94.0)),
    ]);
    assert_eq!(
        seen(&events),
        vec![
            Seen::Raised(AlertType::CoolantOverTemperature, at(0.0)),
            Seen::Cleared(
                AlertType::CoolantOverTemperature,
                at(5.0),
                ClearReason::ConditionEnded
            ),
        ]
    );
}
