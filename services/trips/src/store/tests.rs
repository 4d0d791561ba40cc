//! The history on a real file: what goes in comes out, once, in order, and survives reopening.

use std::sync::Arc;

use instadash_schemas::alert::acknowledged::v1::AlertAcknowledged;
use instadash_schemas::alert::cleared::v1::{AlertCleared, ClearReason};
use instadash_schemas::alert::raised::v1::{AlertDetails, AlertRaised};
use instadash_schemas::alert::{AlertType, Severity};
use instadash_schemas::trip::EndReason;

use super::*;
use crate::detector::Detector;
use crate::motion::Fix;
use crate::rules::Rules;
use crate::score::{HarshCounts, driver_score};
use crate::test_support::{Car, KMH36, at};

fn open() -> (tempfile::TempDir, Arc<History>) {
    let dir = tempfile::tempdir().unwrap();
    let history = History::open(&dir.path().join("trips").join("history.db")).unwrap();
    (dir, Arc::new(history))
}

fn fix(s: i64, speed_kmh: f64) -> Fix {
    Fix {
        time_ms: at(s),
        lat: 48.1 + s as f64 * 1e-5,
        lon: 11.5,
        speed_kmh,
        heading_deg: 0.0,
    }
}

fn raised(alert_id: &str, vehicle_id: &str, alert_type: AlertType, s: i64) -> AlertRaised {
    AlertRaised {
        alert_id: alert_id.into(),
        vehicle_id: vehicle_id.into(),
        alert_type,
        severity: Severity::Warning,
        raised_at_ms: at(s),
        message: "test".into(),
        details: AlertDetails::default(),
    }
}

/// The first trip of the detector's tests: 0 → 541 s, 4200 m, 119 s idle, ends offline.
fn drive_trip(car: &mut Car) {
    car.ignition(0, true);
    car.fix(0, 0.0);
    car.fixes(1, 180, KMH36);
    car.fixes(181, 300, 0.0);
    car.fixes(301, 540, KMH36);
    car.fix(541, 0.0);
    car.ignition(542, false);
}

#[test]
fn positions_are_stored_once_and_read_back_in_time_order() {
    let (_dir, history) = open();
    for s in [3, 1, 2, 5, 4, 2, 3] {
        history.insert_position("car-1", &fix(s, 10.0)).unwrap();
    }
    history.insert_position("car-2", &fix(1, 10.0)).unwrap();
    assert_eq!(
        history.position_count("car-1").unwrap(),
        5,
        "duplicates ignored"
    );

    // From inclusive, to exclusive.
    let route = history.route("car-1", at(2), at(5), 100).unwrap();
    let times: Vec<i64> = route.points.iter().map(|p| p.time_ms).collect();
    assert_eq!(times, vec![at(2), at(3), at(4)]);
    assert!(!route.thinned);
    assert_eq!(route.points[0].lat, fix(2, 0.0).lat);
    assert_eq!(route.points[0].speed_kmh, 10.0);
}

#[test]
fn a_route_is_thinned_evenly_keeping_the_first_and_the_last_point() {
    let (_dir, history) = open();
    for s in 0..1_000 {
        history.insert_position("car-1", &fix(s, 10.0)).unwrap();
    }
    let route = history.route("car-1", at(0), at(1_000), 10).unwrap();
    assert!(route.thinned);
    let seconds: Vec<i64> = route
        .points
        .iter()
        .map(|p| (p.time_ms - at(0)) / 1_000)
        .collect();
    assert_eq!(
        seconds,
        vec![0, 111, 222, 333, 444, 555, 666, 777, 888, 999]
    );

    let all = history.route("car-1", at(0), at(1_000), 1_000).unwrap();
    assert_eq!(all.points.len(), 1_000);
    assert!(!all.thinned, "exactly as many as asked for");
    assert!(all.points.windows(2).all(|w| w[0].time_ms < w[1].time_ms));

    let capped = history.route("car-1", at(0), at(1_000), u32::MAX).unwrap();
    assert_eq!(capped.points.len(), 1_000, "the cap is above what is there");
    let none = history.route("car-1", at(0), at(1_000), 0).unwrap();
    assert!(none.points.is_empty() && none.thinned);
    let backwards = history.route("car-1", at(10), at(0), 10).unwrap();
    assert!(backwards.points.is_empty() && !backwards.thinned);
}

#[test]
fn pick_evenly_spreads_the_wanted_points() {
    let picked = |recorded, wanted| pick_evenly(recorded, wanted).collect::<Vec<_>>();
    assert_eq!(picked(5, 10), vec![0, 1, 2, 3, 4]);
    assert_eq!(picked(10, 3), vec![0, 4, 9]);
    assert_eq!(picked(10, 2), vec![0, 9]);
    assert_eq!(picked(10, 1), vec![0]);
    assert_eq!(picked(0, 5), Vec::<usize>::new());
    assert_eq!(picked(7, 0), Vec::<usize>::new());
    let many = picked(1_000_003, 4_999);
    assert_eq!(many.len(), 4_999);
    assert_eq!(many.last(), Some(&1_000_002));
    assert!(many.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn a_trip_is_stored_with_its_alerts_score_and_stops() {
    let (_dir, history) = open();
    history
        .alert_raised(&raised("a1", "car-1", AlertType::HarshBraking, 179))
        .unwrap();
    history
        .alert_raised(&raised("a2", "car-1", AlertType::Overspeed, 400))
        .unwrap();
    history
        .alert_raised(&raised("a3", "car-1", AlertType::Idling, 250))
        .unwrap();
    history
        .alert_raised(&raised("a4", "car-1", AlertType::HarshBraking, 2_000))
        .unwrap();
    history
        .alert_raised(&raised("a5", "car-2", AlertType::HarshBraking, 200))
        .unwrap();

    let mut car = Car::with_history("car-1", history.clone());
    drive_trip(&mut car);
    car.tick(1_000);

    let (trips, truncated) = history.trips("car-1", at(0), at(10_000), 100).unwrap();
    assert!(!truncated);
    assert_eq!(trips.len(), 1);
    let trip = &trips[0];
    assert_eq!(trip.started_at_ms, at(0));
    assert_eq!(trip.ended_at_ms, Some(at(541)));
    assert_eq!(trip.end_reason, Some(EndReason::Offline));
    assert!((trip.figures.distance_m - 4_200.0).abs() < 1e-6);
    assert_eq!(trip.figures.idle_s, 119);
    let counts = HarshCounts {
        harsh_braking: 1,
        overspeed: 1,
        ..HarshCounts::default()
    };
    assert_eq!(
        trip.counts, counts,
        "only this car's driving alerts within the trip"
    );
    assert_eq!(
        trip.driver_score,
        Some(driver_score(&counts, 4_200.0, 541, 119))
    );
    assert_eq!(trip.driver_score, Some(73.6));

    // The events to publish, in order, in the outbox.
    let pending = history.pending_events().unwrap();
    assert_eq!(pending.len(), 2);
    assert!(matches!(&pending[0].event, TripEvent::Started(s) if s.trip_id == trip.trip_id));
    match &pending[1].event {
        TripEvent::Ended(ended) => {
            assert_eq!(ended.harsh_braking_count, 1);
            assert_eq!(ended.overspeed_count, 1);
            assert_eq!(ended.driver_score, 73.6);
        }
        other => panic!("expected the end, got {other:?}"),
    }
    history.event_sent(pending[0].outbox_id).unwrap();
    assert_eq!(history.pending_events().unwrap().len(), 1);

    let stops = history.stops("car-1", at(0), at(10_000)).unwrap();
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0].started_at_ms, at(541));
    assert_eq!(stops[0].ended_at_ms, None);

    // Time ranges overlap: a range inside the trip finds it, one after it does not.
    assert_eq!(
        history
            .trips("car-1", at(100), at(200), 10)
            .unwrap()
            .0
            .len(),
        1
    );
    assert_eq!(
        history
            .trips("car-1", at(542), at(900), 10)
            .unwrap()
            .0
            .len(),
        0
    );
    assert_eq!(
        history.trips("car-1", at(-100), at(0), 10).unwrap().0.len(),
        0
    );
}

#[test]
fn list_trips_is_oldest_first_and_says_when_it_is_truncated() {
    let (_dir, history) = open();
    let mut car = Car::with_history("car-1", history.clone());
    for n in 0..3 {
        let base = n * 2_000;
        car.ignition(base, true);
        car.fix(base, 0.0);
        car.fixes(base + 1, base + 400, KMH36);
        car.fix(base + 401, 0.0);
        car.ignition(base + 402, false);
    }
    car.tick(10_000);
    let (all, truncated) = history.trips("car-1", at(0), at(10_000), 10).unwrap();
    assert!(!truncated);
    let starts: Vec<i64> = all.iter().map(|t| t.started_at_ms).collect();
    assert_eq!(starts, vec![at(0), at(2_000), at(4_000)]);
    let (two, truncated) = history.trips("car-1", at(0), at(10_000), 2).unwrap();
    assert!(truncated);
    assert_eq!(two, all[..2].to_vec());
}

#[test]
fn reopening_continues_the_trip_in_progress_without_loss_or_double_counting() {
    let mut steady = Car::new("car-1");
    drive_trip(&mut steady);
    steady.tick(1_000);

    let (dir, history) = open();
    let path = history.path().to_path_buf();
    let mut car = Car::with_history("car-1", history);
    car.ignition(0, true);
    car.fix(0, 0.0);
    car.fixes(1, 180, KMH36);
    car.fixes(181, 300, 0.0);
    car.fixes(301, 400, KMH36);
    assert_eq!(car.started().len(), 1, "qualified before the restart");

    // Restart: the service's memory is gone; the file is reopened and the detector rebuilt from
    // it. (The car itself drives on where it was.)
    car.history = None;
    car.detector = Detector::new(Rules::default());
    car.outcomes.clear();
    let history = Arc::new(History::open(&path).unwrap());
    car.history = Some(history.clone());
    car.detector = Detector::restore(Rules::default(), history.vehicle_states().unwrap());
    assert_eq!(
        car.detector
            .trip_in_progress("car-1")
            .map(|t| t.started_at_ms),
        Some(at(0))
    );
    let (trips, _) = history.trips("car-1", at(0), at(1_000), 10).unwrap();
    assert_eq!(trips.len(), 1);
    assert_eq!(trips[0].ended_at_ms, None, "stored as in progress");

    // The last fixes before the crash are delivered again, then the rest of the trip.
    for s in 390..=400 {
        assert!(!car.fix(s, KMH36), "a redelivered fix is stale");
    }
    car.fixes(401, 540, KMH36);
    car.fix(541, 0.0);
    car.ignition(542, false);
    car.tick(1_000);

    assert!(
        car.started().is_empty(),
        "no second start after the restart"
    );
    let expected = steady.ended();
    assert_eq!(car.ended(), expected, "the same trip as without a restart");
    let (trips, _) = history.trips("car-1", at(0), at(1_000), 10).unwrap();
    assert_eq!(trips.len(), 1);
    assert!((trips[0].figures.distance_m - 4_200.0).abs() < 1e-6);
    assert_eq!(history.position_count("car-1").unwrap(), 542);
    drop(dir);
}

#[test]
fn a_redelivered_fix_is_stored_once() {
    let (_dir, history) = open();
    let mut car = Car::with_history("car-1", history.clone());
    car.fix(0, 0.0);
    car.fix(1, KMH36);
    // The same fixes again, as after a crash before the acknowledgement.
    assert!(!car.fix(1, KMH36));
    car.fixes(0, 1, KMH36);
    assert_eq!(history.position_count("car-1").unwrap(), 2);
}

#[test]
fn alerts_keep_their_life_cycle_in_any_order() {
    let (_dir, history) = open();
    // Acknowledged before its raise arrived (a retry reordered them).
    history
        .alert_acknowledged(&AlertAcknowledged {
            alert_id: "a1".into(),
            vehicle_id: "car-1".into(),
            alert_type: AlertType::Overspeed,
            acknowledged_by: "anna".into(),
            acknowledged_at_ms: at(20),
            note: None,
        })
        .unwrap();
    history
        .alert_raised(&raised("a1", "car-1", AlertType::Overspeed, 10))
        .unwrap();
    history
        .alert_cleared(&AlertCleared {
            alert_id: "a1".into(),
            vehicle_id: "car-1".into(),
            alert_type: AlertType::Overspeed,
            cleared_at_ms: at(30),
            reason: ClearReason::ConditionEnded,
            cleared_by: None,
        })
        .unwrap();
    // A duplicate raise changes nothing.
    history
        .alert_raised(&raised("a1", "car-1", AlertType::Overspeed, 10))
        .unwrap();
    let alert = history.alert("a1").unwrap().unwrap();
    assert_eq!(alert.alert_type, Some(AlertType::Overspeed));
    assert_eq!(alert.severity, Some(Severity::Warning));
    assert_eq!(alert.raised_at_ms, Some(at(10)));
    assert_eq!(alert.acknowledged_by.as_deref(), Some("anna"));
    assert_eq!(alert.acknowledged_at_ms, Some(at(20)));
    assert_eq!(alert.cleared_at_ms, Some(at(30)));
    assert_eq!(alert.clear_reason, Some(ClearReason::ConditionEnded));
    assert_eq!(history.alert("a2").unwrap(), None);
}

#[test]
fn an_alert_arriving_after_its_trip_ended_updates_the_stored_trip() {
    let (_dir, history) = open();
    let mut car = Car::with_history("car-1", history.clone());
    drive_trip(&mut car);
    car.tick(1_000);
    let trip_id = car.ended()[0].trip_id.clone();
    assert_eq!(
        history.trip(&trip_id).unwrap().unwrap().driver_score,
        Some(95.6)
    );

    history
        .alert_raised(&raised("late", "car-1", AlertType::HarshCornering, 300))
        .unwrap();
    let trip = history.trip(&trip_id).unwrap().unwrap();
    assert_eq!(trip.counts.harsh_cornering, 1);
    assert_eq!(trip.driver_score, Some(87.6));
}

#[test]
fn old_positions_are_pruned() {
    let (_dir, history) = open();
    let mut car = Car::with_history("car-1", history.clone());
    car.fixes(0, 99, 0.0);
    assert_eq!(history.prune_positions(at(40)).unwrap(), 40);
    assert_eq!(history.position_count("car-1").unwrap(), 60);
    assert_eq!(
        history.route("car-1", at(0), at(100), 1).unwrap().points[0].time_ms,
        at(40)
    );
}

#[test]
fn a_file_from_a_newer_version_is_refused() {
    let (_dir, history) = open();
    let path = history.path().to_path_buf();
    history
        .write()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    drop(history);
    assert!(matches!(
        History::open(&path),
        Err(StoreError::NewerLayout { found: 99, .. })
    ));
}
