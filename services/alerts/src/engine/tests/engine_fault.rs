//! Engine fault: trouble codes or the malfunction lamp, from trouble-code lists and OBD readings.

use instadash_schemas::alert::cleared::v1::ClearReason;
use instadash_schemas::alert::{AlertType, Severity};

use super::*;

fn pid_01(time_ms: i64, mil_on: bool, dtc_count: i32) -> ObdReading {
    ObdReading {
        mil_on: Some(mil_on),
        dtc_count: Some(dtc_count),
        ..obd(CAR, time_ms, 800.0)
    }
}

#[test]
fn stored_codes_raise_it_and_an_empty_list_clears_it() {
    let mut alerts = engine();
    let applied = alerts.on_trouble_codes(&trouble_codes(CAR, at(0.0), true, &["P0301", "P0171"]));
    let [AlertEvent::Raised(raised)] = applied.events.as_slice() else {
        panic!("one raise: {:?}", applied.events)
    };
    assert_eq!(raised.alert_type, AlertType::EngineFault);
    assert_eq!(raised.alert_id, format!("{CAR}-engine_fault-{}", at(0.0)));
    assert_eq!(raised.severity, Severity::Warning);
    assert_eq!(
        raised.message,
        "Engine fault: P0301, P0171 (malfunction lamp on)"
    );
    assert_eq!(
        raised.details.trouble_codes,
        Some(vec!["P0301".to_owned(), "P0171".to_owned()])
    );
    // More codes while it is active: still the one alert.
    let more = alerts.on_trouble_codes(&trouble_codes(
        CAR,
        at(5.0),
        true,
        &["P0301", "P0171", "P0420"],
    ));
    assert_eq!(more.events, vec![]);
    // One code gone, one left (the lamp off): still a fault.
    let fewer = alerts.on_trouble_codes(&trouble_codes(CAR, at(8.0), false, &["P0420"]));
    assert_eq!(fewer.events, vec![]);
    let applied = alerts.on_trouble_codes(&trouble_codes(CAR, at(10.0), false, &[]));
    assert_eq!(
        seen(&applied.events),
        vec![Seen::Cleared(
            AlertType::EngineFault,
            at(10.0),
            ClearReason::ConditionEnded
        )]
    );
}

#[test]
fn the_lamp_alone_is_a_fault() {
    let mut alerts = engine();
    let applied = alerts.on_trouble_codes(&trouble_codes(CAR, at(0.0), true, &[]));
    let raised = applied.events[0].as_raised().expect("raised");
    assert_eq!(raised.message, "Engine fault: malfunction lamp on");
    assert_eq!(raised.details.trouble_codes, None);
}

#[test]
fn obd_readings_speak_of_it_too() {
    let mut alerts = engine();
    // A reading without PID 0x01 says nothing about faults.
    assert_eq!(alerts.on_obd(&obd(CAR, at(0.0), 800.0)).events, vec![]);
    let applied = alerts.on_obd(&pid_01(at(1.0), true, 1));
    let raised = applied.events[0].as_raised().expect("raised");
    assert_eq!(raised.raised_at_ms, at(1.0));
    assert_eq!(
        raised.message,
        "Engine fault: 1 stored trouble code (malfunction lamp on)"
    );
    assert_eq!(alerts.on_obd(&obd(CAR, at(2.0), 800.0)).events, vec![]);
    let applied = alerts.on_obd(&pid_01(at(6.0), false, 0));
    assert_eq!(
        seen(&applied.events),
        vec![Seen::Cleared(
            AlertType::EngineFault,
            at(6.0),
            ClearReason::ConditionEnded
        )]
    );
}

#[test]
fn the_newest_word_decides_whichever_kind_of_message_it_is() {
    let mut alerts = engine();
    alerts.on_trouble_codes(&trouble_codes(CAR, at(10.0), true, &["P0301"]));
    // The first OBD reading of the car, but older than the code list: it does not clear.
    assert_eq!(alerts.on_obd(&pid_01(at(5.0), false, 0)).events, vec![]);
    assert_eq!(alerts.active_count(), 1);
    // A newer reading does.
    let applied = alerts.on_obd(&pid_01(at(15.0), false, 0));
    assert_eq!(
        seen(&applied.events),
        vec![Seen::Cleared(
            AlertType::EngineFault,
            at(15.0),
            ClearReason::ConditionEnded
        )]
    );
    // And a code list older than that reading does not raise again.
    assert_eq!(
        alerts
            .on_trouble_codes(&trouble_codes(CAR, at(12.0), true, &["P0301"]))
            .events,
        vec![]
    );
}
