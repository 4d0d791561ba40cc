//! Restoring an engine from what the store kept: the same active alerts, and no second raise of
//! an alert that already ran its course.

use std::collections::BTreeMap;

use instadash_schemas::alert::AlertType;
use instadash_schemas::alert::acknowledge::v1::Acknowledge;
use instadash_schemas::alert::cleared::v1::ClearReason;
use instadash_schemas::alert::list_active::v1::ListActive;
use instadash_schemas::vehicle::VehicleStatus;

use super::*;
use crate::engine::{Acknowledgement, SavedAlert, SavedAlerts};

/// What a store that saw `events` would give back.
fn kept(events: &[AlertEvent]) -> SavedAlerts {
    let mut active: BTreeMap<String, SavedAlert> = BTreeMap::new();
    let mut saved = SavedAlerts::default();
    for event in events {
        match event {
            AlertEvent::Raised(e) => {
                active.insert(
                    e.alert_id.clone(),
                    SavedAlert {
                        raised: e.clone(),
                        acknowledged: None,
                    },
                );
            }
            AlertEvent::Acknowledged(e) => {
                if let Some(alert) = active.get_mut(&e.alert_id) {
                    alert.acknowledged = Some(Acknowledgement {
                        by: e.acknowledged_by.clone(),
                        at_ms: e.acknowledged_at_ms,
                        note: e.note.clone(),
                    });
                }
            }
            AlertEvent::Cleared(e) => {
                active.remove(&e.alert_id);
                saved.recently_cleared.push(e.alert_id.clone());
            }
        }
    }
    saved.active = active.into_values().collect();
    saved
}

#[test]
fn a_restored_engine_lists_the_same_alerts_and_its_rules_end_them() {
    let mut before = engine();
    let mut car = Car::on_the_arterial(CAR);
    let mut events = Vec::new();
    for s in 0..=12 {
        events.extend(before.on_position(&car.fix(at(s.into()), 80.0)).events);
    }
    events.extend(
        before
            .on_trouble_codes(&trouble_codes(CAR, at(13.0), true, &["P0301"]))
            .events,
    );
    events.extend(
        before
            .on_status_changed(&status("car-2", at(14.0), VehicleStatus::Unknown, None))
            .events,
    );
    let (_, acknowledged) = before.acknowledge(
        &Acknowledge {
            alert_id: format!("{CAR}-engine_fault-{}", at(13.0)),
            acknowledged_by: "dispatcher.anna".into(),
            note: Some("workshop booked".into()),
        },
        at(20.0),
    );
    events.extend(acknowledged);

    let mut after = engine();
    after.restore(kept(&events));
    assert_eq!(
        after.list_active(&ListActive::default()),
        before.list_active(&ListActive::default())
    );
    assert_eq!(after.active_count(), 3);

    // The rules end restored alerts on new evidence.
    let mut ends = Vec::new();
    for s in 30..=33 {
        ends.extend(after.on_position(&car.fix(at(s.into()), 50.0)).events);
    }
    ends.extend(
        after
            .on_trouble_codes(&trouble_codes(CAR, at(40.0), false, &[]))
            .events,
    );
    ends.extend(
        after
            .on_status_changed(&status("car-2", at(41.0), VehicleStatus::Online, None))
            .events,
    );
    assert_eq!(
        seen(&ends),
        vec![
            Seen::Cleared(AlertType::Overspeed, at(33.0), ClearReason::ConditionEnded),
            Seen::Cleared(
                AlertType::EngineFault,
                at(40.0),
                ClearReason::ConditionEnded
            ),
            Seen::Cleared(
                AlertType::VehicleSilent,
                at(41.0),
                ClearReason::ConditionEnded
            ),
        ]
    );
}

#[test]
fn a_redelivered_message_raises_nothing_twice() {
    let codes = trouble_codes(CAR, at(10.0), true, &["P0301"]);
    let cleared = trouble_codes(CAR, at(20.0), false, &[]);
    let mut before = engine();
    let events = all_events([
        before.on_trouble_codes(&codes),
        before.on_trouble_codes(&cleared),
    ]);
    assert_eq!(events.len(), 2);

    // Both messages come again after a restart (their acks were lost with the process).
    let mut after = engine();
    after.restore(kept(&events));
    assert_eq!(
        after.on_trouble_codes(&codes).events,
        vec![],
        "it ran its course already"
    );
    assert_eq!(after.on_trouble_codes(&cleared).events, vec![]);

    // An alert still active is not raised a second time either.
    let mut before = engine();
    let events = before.on_trouble_codes(&codes).events;
    let mut after = engine();
    after.restore(kept(&events));
    assert_eq!(after.on_trouble_codes(&codes).events, vec![]);
    assert_eq!(after.active_count(), 1);
}

#[test]
fn restored_momentary_alerts_expire_on_time() {
    let mut before = engine();
    let mut car = Car::on_the_arterial(CAR);
    let events = all_events([
        before.on_position(&car.fix(at(0.0), 60.0)),
        before.on_position(&car.fix(at(1.0), 40.0)),
    ]);
    let mut after = engine();
    after.restore(kept(&events));
    assert_eq!(after.next_expiry_ms(), Some(at(601.0)));
    assert_eq!(
        seen(&after.expire(at(601.0))),
        vec![Seen::Cleared(
            AlertType::HarshBraking,
            at(601.0),
            ClearReason::Expired
        )]
    );
}
