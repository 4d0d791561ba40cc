//! The store across restarts: reopening the file gives back what was active, acknowledgements
//! included, the recently cleared ids, and the events not yet published.

use instadash_schemas::alert::AlertType;
use instadash_schemas::alert::Severity;
use instadash_schemas::alert::acknowledge::v1::Acknowledge;
use instadash_schemas::alert::acknowledge_reply::v1::AcknowledgeOutcome;
use instadash_schemas::alert::cleared::v1::{AlertCleared, ClearReason};
use instadash_schemas::alert::list_active::v1::ListActive;
use instadash_schemas::alert::raised::v1::{AlertDetails, AlertRaised};
use instadash_schemas::vehicle::VehicleStatus;
use instadash_schemas::vehicle::obd_reading::v1::ObdReading;
use instadash_schemas::vehicle::status_changed::v1::StatusChanged;
use instadash_schemas::vehicle::trouble_codes::v1::TroubleCodes;

use super::*;
use crate::config::AlertsConfig;
use crate::engine::Alerts;

const T0: i64 = 1_793_693_730_000;

fn engine() -> Alerts {
    Alerts::new(AlertsConfig::default()).unwrap()
}

fn hot(vehicle: &str, time_ms: i64, coolant_c: f64) -> ObdReading {
    ObdReading {
        vehicle_id: vehicle.into(),
        time_ms,
        speed_kmh: 0.0,
        rpm: 900.0,
        coolant_c: Some(coolant_c),
        fuel_level_pct: None,
        engine_load_pct: None,
        throttle_pct: None,
        mil_on: None,
        dtc_count: None,
    }
}

fn status(vehicle: &str, time_ms: i64, status: VehicleStatus) -> StatusChanged {
    StatusChanged {
        vehicle_id: vehicle.into(),
        time_ms,
        status,
        previous: None,
        last_seen_ms: None,
        reason: None,
    }
}

fn codes(time_ms: i64, codes: &[&str]) -> TroubleCodes {
    TroubleCodes {
        vehicle_id: "car-1".into(),
        time_ms,
        mil_on: !codes.is_empty(),
        codes: codes.iter().map(|c| (*c).to_owned()).collect(),
    }
}

fn cleared(raised: &AlertRaised, at_ms: i64) -> AlertEvent {
    AlertEvent::Cleared(AlertCleared {
        alert_id: raised.alert_id.clone(),
        vehicle_id: raised.vehicle_id.clone(),
        alert_type: raised.alert_type,
        cleared_at_ms: at_ms,
        reason: ClearReason::Expired,
        cleared_by: None,
    })
}

fn raised(vehicle: &str, at_ms: i64) -> AlertRaised {
    AlertRaised {
        alert_id: format!("{vehicle}-harsh_braking-{at_ms}"),
        vehicle_id: vehicle.into(),
        alert_type: AlertType::HarshBraking,
        severity: Severity::Warning,
        raised_at_ms: at_ms,
        message: "Harsh braking".into(),
        details: AlertDetails::default(),
    }
}

#[test]
fn active_alerts_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    // The directory does not exist yet: opening makes it.
    let path = dir.path().join("alerts").join("alerts.db");
    let mut before = engine();
    {
        let mut store = AlertStore::open(&path).unwrap();
        let journal: String = store
            .db
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_eq!(journal, "wal");
        let synchronous: i64 = store
            .db
            .pragma_query_value(None, "synchronous", |row| row.get(0))
            .unwrap();
        assert_eq!(synchronous, 1, "NORMAL");
        assert_eq!(store.load().unwrap(), SavedAlerts::default());

        // Each handler records its own events, as the service does.
        for events in [
            before.on_trouble_codes(&codes(T0, &["P0301"])).events,
            before.on_obd(&hot("car-1", T0 + 1_000, 114.0)).events,
            before
                .on_status_changed(&status("car-2", T0 + 2_000, VehicleStatus::Unknown))
                .events,
            before
                .acknowledge(
                    &Acknowledge {
                        alert_id: format!("car-1-coolant_over_temperature-{}", T0 + 1_000),
                        acknowledged_by: "dispatcher.anna".into(),
                        note: Some("pulled over".into()),
                    },
                    T0 + 60_000,
                )
                .1,
            before
                .on_status_changed(&status("car-2", T0 + 70_000, VehicleStatus::Online))
                .events,
        ] {
            assert!(!events.is_empty());
            store.record(&events).unwrap();
        }
    }

    // The restart: a new store on the same file, a new engine.
    let mut store = AlertStore::open(&path).unwrap();
    let saved = store.load().unwrap();
    assert_eq!(saved.active.len(), 2);
    let acknowledged = saved
        .active
        .iter()
        .find_map(|a| a.acknowledged.clone())
        .expect("the acknowledgement was kept");
    assert_eq!(
        acknowledged,
        Acknowledgement {
            by: "dispatcher.anna".into(),
            at_ms: T0 + 60_000,
            note: Some("pulled over".into()),
        }
    );
    assert_eq!(
        saved.recently_cleared,
        vec![format!("car-2-vehicle_silent-{}", T0 + 2_000)]
    );
    let mut after = engine();
    after.restore(saved);
    assert_eq!(
        after.list_active(&ListActive::default()),
        before.list_active(&ListActive::default())
    );
    let (reply, _) = after.acknowledge(
        &Acknowledge {
            alert_id: format!("car-2-vehicle_silent-{}", T0 + 2_000),
            acknowledged_by: "dispatcher.anna".into(),
            note: None,
        },
        T0 + 90_000,
    );
    assert_eq!(reply.outcome, AcknowledgeOutcome::AlreadyCleared);
    assert_eq!(
        store
            .clear_reason(&format!("car-2-vehicle_silent-{}", T0 + 2_000))
            .unwrap()
            .as_deref(),
        Some("condition_ended")
    );
    // The rules go on from there: the fault ends, and that is stored too.
    let events = after.on_trouble_codes(&codes(T0 + 100_000, &[])).events;
    assert_eq!(events.len(), 1);
    store.record(&events).unwrap();
    drop(store);
    let saved = AlertStore::open(&path).unwrap().load().unwrap();
    assert_eq!(saved.active.len(), 1);
    assert_eq!(
        saved.active[0].raised.alert_type,
        AlertType::CoolantOverTemperature
    );
}

#[test]
fn the_outbox_keeps_events_in_order_until_published() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.db");
    let first = raised("car-1", T0);
    let second = raised("car-2", T0 + 1);
    let events = vec![
        AlertEvent::Raised(first.clone()),
        AlertEvent::Raised(second.clone()),
        cleared(&first, T0 + 5),
    ];
    {
        let mut store = AlertStore::open(&path).unwrap();
        store.record(&events).unwrap();
        let pending = store.pending(10).unwrap();
        let got: Vec<AlertEvent> = pending.iter().map(|p| p.event.clone()).collect();
        assert_eq!(got, events);
        assert_eq!(store.pending(2).unwrap().len(), 2, "a batch at a time");
        store.published(&[pending[0].seq]).unwrap();
        assert_eq!(store.pending_count().unwrap(), 2);
    }
    let store = AlertStore::open(&path).unwrap();
    let left: Vec<AlertEvent> = store
        .pending(10)
        .unwrap()
        .into_iter()
        .map(|p| p.event)
        .collect();
    assert_eq!(
        left,
        events[1..].to_vec(),
        "what was not published is still there, in order"
    );
}

#[test]
fn only_the_newest_cleared_alerts_are_kept() {
    let mut store = AlertStore::in_memory().unwrap();
    let mut events = Vec::new();
    for i in 0..(REMEMBERED_CLEARED as i64 + 5) {
        let alert = raised("car-1", T0 + i);
        events.push(AlertEvent::Raised(alert.clone()));
        events.push(cleared(&alert, T0 + i + 1));
    }
    let active = raised("car-2", T0);
    events.push(AlertEvent::Raised(active.clone()));
    store.record(&events).unwrap();
    let saved = store.load().unwrap();
    assert_eq!(saved.active.len(), 1);
    assert_eq!(saved.active[0].raised, active);
    assert_eq!(saved.recently_cleared.len(), REMEMBERED_CLEARED);
    assert_eq!(
        saved.recently_cleared[0],
        format!("car-1-harsh_braking-{}", T0 + 5)
    );
    assert_eq!(
        saved.recently_cleared.last(),
        Some(&format!(
            "car-1-harsh_braking-{}",
            T0 + REMEMBERED_CLEARED as i64 + 4
        ))
    );
    assert_eq!(store.forget_old_cleared().unwrap(), 0, "already forgotten");
}

#[test]
fn raising_a_cleared_id_again_makes_it_active_again() {
    let mut store = AlertStore::in_memory().unwrap();
    let alert = raised("car-1", T0);
    store
        .record(&[AlertEvent::Raised(alert.clone()), cleared(&alert, T0 + 5)])
        .unwrap();
    store.record(&[AlertEvent::Raised(alert.clone())]).unwrap();
    let saved = store.load().unwrap();
    assert_eq!(saved.active.len(), 1);
    assert_eq!(saved.recently_cleared, Vec::<String>::new());
}

#[test]
fn a_database_from_a_newer_program_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.db");
    {
        let db = Connection::open(&path).unwrap();
        db.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
    let error = AlertStore::open(&path).unwrap_err();
    assert!(matches!(error, StoreError::TooNew { .. }), "{error}");
}

#[test]
fn outbox_events_keep_the_trace_of_their_cause_also_in_a_version_1_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.db");
    let left = raised("car-1", T0);
    {
        // A database of the first version, with an event waiting in its outbox.
        let db = Connection::open(&path).unwrap();
        db.execute_batch(
            "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL);",
        )
        .unwrap();
        let json = serde_json::to_string(&AlertEvent::Raised(left.clone())).unwrap();
        db.execute("INSERT INTO outbox (event) VALUES (?1)", params![json])
            .unwrap();
        db.pragma_update(None, "user_version", 1).unwrap();
    }
    let mut store = AlertStore::open(&path).unwrap();
    let cause = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let caused = raised("car-2", T0 + 1);
    store
        .record_traced([(&AlertEvent::Raised(caused.clone()), Some(cause))])
        .unwrap();
    let pending = store.pending(10).unwrap();
    let traces: Vec<_> = pending.iter().map(|p| p.traceparent.as_deref()).collect();
    assert_eq!(traces, [None, Some(cause)]);
    assert_eq!(pending[1].event, AlertEvent::Raised(caused));
}
