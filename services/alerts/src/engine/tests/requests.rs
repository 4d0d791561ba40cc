//! `acknowledge` outcomes and `list-active` filters.

use instadash_schemas::alert::acknowledge::v1::Acknowledge;
use instadash_schemas::alert::acknowledge_reply::v1::AcknowledgeOutcome;
use instadash_schemas::alert::list_active::v1::ListActive;
use instadash_schemas::alert::{AlertType, Severity};
use instadash_schemas::vehicle::VehicleStatus;

use super::*;

fn hot(vehicle: &str, time_ms: i64, coolant_c: f64) -> ObdReading {
    ObdReading {
        coolant_c: Some(coolant_c),
        ..obd(vehicle, time_ms, 900.0)
    }
}

/// Four alerts: car-1 an engine fault (5 s) and overheating (20 s), car-3 silent (15 s), car-2
/// overheating (30 s).
fn four_alerts() -> Alerts {
    let mut alerts = engine();
    let events = all_events([
        alerts.on_trouble_codes(&trouble_codes("car-1", at(5.0), true, &["P0301"])),
        alerts.on_status_changed(&status("car-3", at(15.0), VehicleStatus::Unknown, None)),
        alerts.on_obd(&hot("car-1", at(20.0), 113.0)),
        alerts.on_obd(&hot("car-2", at(30.0), 117.0)),
    ]);
    assert_eq!(events.len(), 4);
    alerts
}

fn ids(alerts: &Alerts, request: &ListActive) -> (Vec<String>, u32) {
    let reply = alerts.list_active(request);
    (
        reply.alerts.into_iter().map(|a| a.alert_id).collect(),
        reply.total,
    )
}

fn id(vehicle: &str, kind: &str, s: f64) -> String {
    format!("{vehicle}-{kind}-{}", at(s))
}

#[test]
fn listing_is_newest_first_and_filters() {
    let mut alerts = four_alerts();
    let all = ListActive::default();
    assert_eq!(
        ids(&alerts, &all),
        (
            vec![
                id("car-2", "coolant_over_temperature", 30.0),
                id("car-1", "coolant_over_temperature", 20.0),
                id("car-3", "vehicle_silent", 15.0),
                id("car-1", "engine_fault", 5.0),
            ],
            4
        )
    );
    let reply = alerts.list_active(&all);
    let first = &reply.alerts[0];
    assert_eq!(first.vehicle_id, "car-2");
    assert_eq!(first.alert_type, AlertType::CoolantOverTemperature);
    assert_eq!(first.severity, Severity::Critical);
    assert_eq!(first.raised_at_ms, at(30.0));
    assert_eq!(first.message, "Coolant at 117 °C (over 110 °C)");
    assert_eq!(first.acknowledged_by, None);

    let car_1 = ListActive {
        vehicle_id: Some("car-1".into()),
        ..ListActive::default()
    };
    assert_eq!(
        ids(&alerts, &car_1),
        (
            vec![
                id("car-1", "coolant_over_temperature", 20.0),
                id("car-1", "engine_fault", 5.0)
            ],
            2
        )
    );
    let types = ListActive {
        alert_types: Some(vec![AlertType::EngineFault, AlertType::VehicleSilent]),
        ..ListActive::default()
    };
    assert_eq!(
        ids(&alerts, &types),
        (
            vec![
                id("car-3", "vehicle_silent", 15.0),
                id("car-1", "engine_fault", 5.0)
            ],
            2
        )
    );
    let no_types_is_all = ListActive {
        alert_types: Some(vec![]),
        ..ListActive::default()
    };
    assert_eq!(ids(&alerts, &no_types_is_all).1, 4);
    let critical = ListActive {
        min_severity: Some(Severity::Critical),
        ..ListActive::default()
    };
    assert_eq!(ids(&alerts, &critical).1, 2);
    let info_and_up = ListActive {
        min_severity: Some(Severity::Info),
        ..ListActive::default()
    };
    assert_eq!(ids(&alerts, &info_and_up).1, 4);
    let two = ListActive {
        limit: Some(2),
        ..ListActive::default()
    };
    assert_eq!(
        ids(&alerts, &two),
        (
            vec![
                id("car-2", "coolant_over_temperature", 30.0),
                id("car-1", "coolant_over_temperature", 20.0),
            ],
            4
        ),
        "the total counts every match"
    );
    let nobody = ListActive {
        vehicle_id: Some("car-9".into()),
        ..ListActive::default()
    };
    assert_eq!(ids(&alerts, &nobody), (vec![], 0));

    alerts.acknowledge(
        &Acknowledge {
            alert_id: id("car-2", "coolant_over_temperature", 30.0),
            acknowledged_by: "dispatcher.anna".into(),
            note: None,
        },
        at(40.0),
    );
    let unacknowledged = ListActive {
        include_acknowledged: Some(false),
        ..ListActive::default()
    };
    assert_eq!(ids(&alerts, &unacknowledged).1, 3);
    assert_eq!(
        ids(&alerts, &all).1,
        4,
        "acknowledged alerts are listed by default"
    );
}

#[test]
fn acknowledge_outcomes() {
    let mut alerts = four_alerts();
    let alert_id = id("car-1", "coolant_over_temperature", 20.0);
    let request = |by: &str| Acknowledge {
        alert_id: alert_id.clone(),
        acknowledged_by: by.into(),
        note: Some("called the driver".into()),
    };

    let (reply, events) = alerts.acknowledge(&request("dispatcher.anna"), at(95.0));
    assert_eq!(reply.alert_id, alert_id);
    assert_eq!(reply.outcome, AcknowledgeOutcome::Acknowledged);
    let shown = reply.alert.expect("the alert as it is now");
    assert_eq!(shown.acknowledged_by.as_deref(), Some("dispatcher.anna"));
    assert_eq!(shown.acknowledged_at_ms, Some(at(95.0)));
    let [AlertEvent::Acknowledged(event)] = events.as_slice() else {
        panic!("one acknowledged event: {events:?}")
    };
    assert_eq!(event.alert_id, alert_id);
    assert_eq!(event.vehicle_id, "car-1");
    assert_eq!(event.alert_type, AlertType::CoolantOverTemperature);
    assert_eq!(event.acknowledged_by, "dispatcher.anna");
    assert_eq!(event.acknowledged_at_ms, at(95.0));
    assert_eq!(event.note.as_deref(), Some("called the driver"));

    // Once is enough: the first acknowledgement stands.
    let (reply, events) = alerts.acknowledge(&request("dispatcher.ben"), at(99.0));
    assert_eq!(reply.outcome, AcknowledgeOutcome::AlreadyAcknowledged);
    let shown = reply.alert.expect("the alert as it is");
    assert_eq!(shown.acknowledged_by.as_deref(), Some("dispatcher.anna"));
    assert_eq!(shown.acknowledged_at_ms, Some(at(95.0)));
    assert_eq!(events, vec![]);

    // Cleared: the condition ended.
    alerts.on_obd(&hot("car-1", at(120.0), 100.0));
    let (reply, events) = alerts.acknowledge(&request("dispatcher.anna"), at(130.0));
    assert_eq!(reply.outcome, AcknowledgeOutcome::AlreadyCleared);
    assert_eq!(reply.alert, None);
    assert_eq!(events, vec![]);

    let (reply, events) = alerts.acknowledge(
        &Acknowledge {
            alert_id: "car-1-overspeed-1".into(),
            acknowledged_by: "dispatcher.anna".into(),
            note: None,
        },
        at(130.0),
    );
    assert_eq!(reply.outcome, AcknowledgeOutcome::NotFound);
    assert_eq!(reply.alert, None);
    assert_eq!(events, vec![]);
}

#[test]
fn an_acknowledged_alert_still_clears_when_its_condition_ends() {
    let mut alerts = four_alerts();
    let alert_id = id("car-1", "engine_fault", 5.0);
    alerts.acknowledge(
        &Acknowledge {
            alert_id: alert_id.clone(),
            acknowledged_by: "dispatcher.anna".into(),
            note: None,
        },
        at(50.0),
    );
    let applied = alerts.on_trouble_codes(&trouble_codes("car-1", at(60.0), false, &[]));
    assert_eq!(applied.events.len(), 1);
    assert_eq!(applied.events[0].alert_id(), alert_id);
    assert!(applied.events[0].as_cleared().is_some());
}
