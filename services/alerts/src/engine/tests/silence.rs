//! Vehicle silent: the tracker's `unknown`, cleared by `online` or `offline`.

use instadash_schemas::alert::cleared::v1::ClearReason;
use instadash_schemas::alert::{AlertType, Severity};
use instadash_schemas::vehicle::VehicleStatus::{Offline, Online, Unknown};

use super::*;

#[test]
fn unknown_raises_and_online_or_offline_clears() {
    let mut alerts = engine();
    let applied = alerts.on_status_changed(&status(CAR, at(612.0), Unknown, Some(at(0.0))));
    let [AlertEvent::Raised(raised)] = applied.events.as_slice() else {
        panic!("one raise: {:?}", applied.events)
    };
    assert_eq!(raised.alert_type, AlertType::VehicleSilent);
    assert_eq!(
        raised.alert_id,
        format!("{CAR}-vehicle_silent-{}", at(612.0))
    );
    assert_eq!(raised.severity, Severity::Warning);
    assert_eq!(raised.message, "Silent for 10 min 12 s");
    assert_eq!(raised.details.silent_for_s, Some(612.0));
    assert_eq!(
        seen(
            &alerts
                .on_status_changed(&status(CAR, at(700.0), Online, Some(at(699.0))))
                .events
        ),
        vec![Seen::Cleared(
            AlertType::VehicleSilent,
            at(700.0),
            ClearReason::ConditionEnded
        )]
    );
    // Silent again, then the tracker hears an ignition off.
    let events = all_events([
        alerts.on_status_changed(&status(CAR, at(1400.0), Unknown, None)),
        alerts.on_status_changed(&status(CAR, at(1500.0), Offline, Some(at(1490.0)))),
    ]);
    assert_eq!(
        seen(&events),
        vec![
            Seen::Raised(AlertType::VehicleSilent, at(1400.0)),
            Seen::Cleared(
                AlertType::VehicleSilent,
                at(1500.0),
                ClearReason::ConditionEnded
            ),
        ]
    );
    assert_eq!(
        events[0].as_raised().map(|r| r.message.as_str()),
        Some("Stopped reporting")
    );
}

#[test]
fn online_or_offline_without_an_alert_changes_nothing() {
    let mut alerts = engine();
    assert_eq!(
        alerts
            .on_status_changed(&status(CAR, at(0.0), Online, None))
            .events,
        vec![]
    );
    assert_eq!(
        alerts
            .on_status_changed(&status(CAR, at(5.0), Offline, None))
            .events,
        vec![]
    );
}
