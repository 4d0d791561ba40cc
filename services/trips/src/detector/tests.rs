//! The trip rules, one at a time, on scripted vehicles driving a straight road at known speeds.

use instadash_schemas::trip::EndReason;
use instadash_schemas::vehicle::VehicleStatus;
use instadash_schemas::vehicle::status_changed::v1::StatusChanged;

use super::*;
use crate::test_support::{Car, KMH36, at};

fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() < 1e-6,
        "{what}: {actual} instead of {expected}"
    );
}

#[test]
fn a_short_stop_inside_a_trip_does_not_end_it() {
    let mut car = Car::new("car-1");
    car.trip_with_a_short_stop();
    // Parked: nothing more from the car. Not yet 5 minutes (plus grace) after the stop began.
    car.tick(541 + 300);
    assert!(
        car.ended().is_empty(),
        "the stop has not lasted long enough"
    );
    car.tick(541 + 300 + 10);

    assert_eq!(car.started().len(), 1);
    let trip = car.ended();
    assert_eq!(
        trip.len(),
        1,
        "one trip, the 2-minute stop stayed inside it"
    );
    let trip = trip[0];
    assert_eq!(trip.trip_id, format!("trip-car-1-{}", at(0)));
    assert_eq!(trip.started_at_ms, at(0), "from the ignition on");
    assert_eq!(trip.ended_at_ms, at(541), "when the stop began");
    assert_eq!(
        trip.end_reason,
        EndReason::Offline,
        "switched off in the stop"
    );
    let f = trip.figures;
    // 5 m (0→1 s, accelerating from 0) + 179 × 10 + 5 (braking) + 5 + 239 × 10 + 5.
    assert_close(f.distance_m, 4_200.0, "distance");
    assert_eq!(f.duration_s, 541);
    assert_eq!(f.max_speed_kmh, KMH36);
    // Idle: the 2-minute stop from the first still fix (181) to the last (300); the stop that
    // ended the trip is not part of it.
    assert_eq!(f.idle_s, 119);
    // Moving: 0→181 and 300→541.
    assert_close(f.avg_speed_kmh, 4_200.0 / 422.0 * 3.6, "average speed");
}

#[test]
fn a_five_minute_stop_ends_the_trip_when_it_began() {
    let mut car = Car::new("car-1");
    car.fix(0, 0.0);
    car.fixes(1, 400, KMH36);
    // Standing with the engine running, fixes still coming.
    car.fixes(401, 700, 0.0);
    assert!(car.ended().is_empty(), "299 s of standing is a short stop");
    car.fix(701, 0.0);
    let ended = car.ended();
    assert_eq!(ended.len(), 1, "300 s of standing is a stop");
    assert_eq!(
        ended[0].started_at_ms,
        at(0),
        "from the fix before setting off"
    );
    assert_eq!(ended[0].ended_at_ms, at(401));
    assert_eq!(ended[0].end_reason, EndReason::Stopped, "the engine ran");
    assert_eq!(
        ended[0].figures.idle_s, 0,
        "the ending stop is not idle time of the trip"
    );
    assert_eq!(ended[0].figures.duration_s, 401);
    let end = ended[0].end;

    // Still standing: no second trip, and the stop is open from where the trip ended.
    car.fixes(702, 900, 0.0);
    assert_eq!(car.ended().len(), 1);
    assert_eq!(
        car.stops(),
        vec![StopRecord {
            vehicle_id: "car-1".into(),
            started_at_ms: at(401),
            ended_at_ms: None,
            at: Some(end),
        }]
    );
}

#[test]
fn started_is_announced_once_the_trip_qualifies_with_its_real_start() {
    let mut car = Car::new("car-1");
    car.ignition(0, true);
    car.fix(0, 0.0);
    car.fixes(1, 299, KMH36);
    assert!(car.started().is_empty(), "2990 m but not 5 minutes yet");
    car.fix(300, KMH36);
    let started = car.started();
    assert_eq!(started.len(), 1, "5 minutes and 500 m");
    assert_eq!(started[0].started_at_ms, at(0));
    assert_eq!(
        started[0].start,
        Point {
            lat: 48.137,
            lon: 11.576
        }
    );
    assert!(
        car.detector.trip_in_progress("car-1").is_some(),
        "in progress once qualified"
    );

    // Long but slow: 5 minutes at 5 km/h is 417 m, not yet a trip.
    let mut slow = Car::new("car-2");
    slow.fix(0, 0.0);
    slow.fixes(1, 310, 5.0);
    assert!(slow.started().is_empty(), "not 500 m yet");
    slow.fixes(311, 370, 5.0);
    assert_eq!(slow.started().len(), 1, "500 m after 360 s");
}

#[test]
fn a_movement_too_short_or_too_near_is_no_trip() {
    // Far but brief: 2 km in 3 minutes, then parked.
    let mut brief = Car::new("brief");
    brief.ignition(0, true);
    brief.fixes(0, 180, 40.0);
    brief.fix(181, 0.0);
    brief.ignition(182, false);
    brief.tick(2_000);
    assert!(brief.started().is_empty() && brief.ended().is_empty());
    assert_eq!(brief.discarded(), 1);

    // Long but near: 8 minutes of creeping at 3 km/h through a car park, 400 m.
    let mut near = Car::new("near");
    near.ignition(0, true);
    near.fix(0, 0.0);
    near.fixes(1, 480, 3.0);
    near.fix(481, 0.0);
    near.ignition(482, false);
    near.tick(2_000);
    assert!(near.started().is_empty() && near.ended().is_empty());
    assert_eq!(near.discarded(), 1);
}

#[test]
fn a_gap_of_over_an_hour_while_moving_ends_the_trip_as_signal_lost() {
    let mut car = Car::new("car-1");
    car.fix(0, 0.0);
    car.fixes(1, 400, KMH36);
    // Exactly an hour later: not over an hour, the trip goes on (straight line across the gap).
    car.fix(400 + 3_600, KMH36);
    assert!(car.ended().is_empty());
    car.fixes(4_001, 4_100, KMH36);
    // Then over an hour of silence.
    car.fix(4_100 + 3_601, KMH36);
    let ended = car.ended();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].end_reason, EndReason::SignalLost);
    assert_eq!(
        ended[0].ended_at_ms,
        at(4_100),
        "at the last event before the gap"
    );
    assert!(
        car.stops().is_empty(),
        "where the car went during the gap is unknown: no stop"
    );

    // The clock alone ends it too, without a fix after the gap.
    let mut quiet = Car::new("car-2");
    quiet.fix(0, 0.0);
    quiet.fixes(1, 400, KMH36);
    quiet.tick(400 + 3_600 + 10);
    assert!(
        quiet.ended().is_empty(),
        "an hour plus the grace is not over it"
    );
    quiet.tick(400 + 3_600 + 11);
    assert_eq!(quiet.ended().len(), 1);
    assert_eq!(quiet.ended()[0].end_reason, EndReason::SignalLost);
}

#[test]
fn duplicates_and_late_fixes_change_nothing() {
    let mut clean = Car::new("car-1");
    clean.trip_with_a_short_stop();
    clean.tick(1_000);

    let mut noisy = Car::new("car-1");
    noisy.ignition(0, true);
    noisy.fix(0, 0.0);
    for s in 1..=180 {
        noisy.fix(s, KMH36);
        if s % 7 == 0 {
            // A duplicate, and a fix from two seconds ago delivered late.
            assert!(!noisy.fix(s, KMH36), "a duplicate is not accepted");
            let late = noisy.position(s - 2, KMH36);
            let update = noisy.detector.on_position(&late);
            assert!(!update.accepted && update.outcomes.is_empty());
            noisy.commit(update);
        }
    }
    // An ignition off from before the car last reported is outdated.
    assert!(!noisy.ignition(170, false));
    noisy.fixes(181, 300, 0.0);
    noisy.fixes(301, 540, KMH36);
    noisy.fix(541, 0.0);
    noisy.ignition(542, false);
    assert!(!noisy.ignition(542, false), "a duplicate ignition event");
    noisy.tick(1_000);

    assert_eq!(noisy.outcomes, clean.outcomes);
}

#[test]
fn idle_time_is_engine_on_standing_inside_the_trip() {
    let mut car = Car::new("car-1");
    car.ignition(0, true);
    car.fixes(0, 120, 0.0); // warming up: 2 minutes
    car.fixes(121, 400, KMH36);
    car.fixes(401, 460, 0.0); // a red light: 59 s between the first and last still fix
    car.fixes(461, 700, KMH36);
    car.fixes(701, 760, 0.0); // the stop that ends the trip, engine on for a while
    car.ignition(761, false);
    car.tick(761 + 400);
    let ended = car.ended();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].started_at_ms, at(0));
    assert_eq!(ended[0].ended_at_ms, at(701));
    assert_eq!(ended[0].figures.idle_s, 120 + 59);
    assert_eq!(ended[0].end_reason, EndReason::Offline);
}

#[test]
fn distance_agrees_with_the_path_and_the_tracker_odometer() {
    use instadash_tracker::{Config, Fleet};

    let mut car = Car::new("car-1");
    let mut tracker = Fleet::new(Config::default());
    let start = (car.lat, car.lon);
    let mut send = |car: &mut Car, s: i64, speed: f64| {
        car.fix(s, speed);
        tracker.on_position(&car.position(s, speed), at(s));
    };
    send(&mut car, 0, 0.0);
    // Speeding up and slowing down at 1 Hz, then plain tracking every 30 s.
    for s in 1..=300 {
        let speed = 20.0 + 30.0 * ((s as f64) / 40.0).sin().abs();
        send(&mut car, s, speed);
    }
    for s in (330..=900).step_by(30) {
        send(&mut car, s, 50.0);
    }
    send(&mut car, 901, 0.0);
    let end = (car.lat, car.lon);
    car.tick(901 + 400);

    let ended = car.ended();
    assert_eq!(ended.len(), 1);
    let distance = ended[0].figures.distance_m;
    let straight = instadash_roads::haversine_m(start.0, start.1, end.0, end.1);
    assert!(
        (distance - straight).abs() < straight * 0.001,
        "{distance} m driven along a straight road of {straight} m"
    );
    let odometer = tracker.state("car-1").unwrap().odometer_m.unwrap();
    assert_close(
        distance,
        odometer,
        "trip distance vs the tracker's odometer",
    );
}

#[test]
fn stops_are_recorded_between_trips() {
    let mut car = Car::new("car-1");
    car.trip_with_a_short_stop();
    // Parked for 20 minutes, then a second trip.
    car.ignition(1_800, true);
    car.fix(1_800, 0.0);
    car.fixes(1_801, 2_200, KMH36);
    car.fix(2_201, 0.0);
    car.ignition(2_202, false);
    car.tick(3_000);

    let trips = car.ended();
    assert_eq!(trips.len(), 2);
    assert_eq!(
        car.stops(),
        vec![
            StopRecord {
                vehicle_id: "car-1".into(),
                started_at_ms: at(541),
                ended_at_ms: Some(at(1_800)),
                at: Some(trips[0].end),
            },
            StopRecord {
                vehicle_id: "car-1".into(),
                started_at_ms: at(2_201),
                ended_at_ms: None,
                at: Some(trips[1].end),
            },
        ]
    );
}

#[test]
fn a_vehicle_first_seen_parked_opens_a_stop_once_it_lasted() {
    let mut car = Car::new("car-1");
    // A parked unit reports in: ignition off, then its place.
    car.ignition(0, false);
    car.fix(0, 0.0);
    car.tick(299 + 10);
    assert!(car.stops().is_empty(), "not 5 minutes yet");
    car.tick(300 + 10);
    let parked_at = Some(Point {
        lat: 48.137,
        lon: 11.576,
    });
    assert_eq!(
        car.stops(),
        vec![StopRecord {
            vehicle_id: "car-1".into(),
            started_at_ms: at(0),
            ended_at_ms: None,
            at: parked_at,
        }]
    );
    // A short hop that is no trip does not split the stop; a real trip ends it.
    car.ignition(1_000, true);
    car.fixes(1_000, 1_020, KMH36);
    car.fix(1_021, 0.0);
    car.ignition(1_022, false);
    car.tick(1_022 + 400);
    assert_eq!(car.discarded(), 1);
    car.ignition(2_000, true);
    car.fix(2_000, 0.0);
    car.fixes(2_001, 2_400, KMH36);
    assert_eq!(
        car.stops(),
        vec![StopRecord {
            vehicle_id: "car-1".into(),
            started_at_ms: at(0),
            ended_at_ms: Some(at(2_000)),
            at: parked_at,
        }]
    );
}

#[test]
fn a_short_first_sighting_standing_is_no_stop() {
    let mut car = Car::new("car-1");
    car.fixes(0, 60, 0.0);
    car.fixes(61, 500, KMH36);
    assert_eq!(car.started().len(), 1);
    assert!(car.stops().is_empty(), "a minute of standing is no stop");
}

#[test]
fn the_tracker_going_offline_is_a_safety_net_for_a_missed_ignition_off() {
    let offline = |last_seen_s: i64| StatusChanged {
        vehicle_id: "car-1".into(),
        time_ms: 0, // the tracker's clock: not used
        status: VehicleStatus::Offline,
        previous: Some(VehicleStatus::Online),
        last_seen_ms: Some(at(last_seen_s)),
        reason: Some("ignition off".into()),
    };
    // The ignition event came first: the status adds nothing.
    let mut car = Car::new("car-1");
    car.trip_with_a_short_stop();
    let update = car.detector.on_status(&offline(542));
    assert!(!update.accepted && update.outcomes.is_empty());

    // Without it, the status stands in for it.
    let mut missed = Car::new("car-1");
    missed.ignition(0, true);
    missed.fix(0, 0.0);
    missed.fixes(1, 400, KMH36);
    let update = missed.detector.on_status(&offline(401));
    assert!(update.accepted);
    missed.commit(update);
    missed.tick(401 + 310);
    let ended = missed.ended();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].ended_at_ms, at(401));
    assert_eq!(ended[0].end_reason, EndReason::Offline);

    // `unknown` changes nothing.
    let mut status = offline(401);
    status.status = VehicleStatus::Unknown;
    assert!(!missed.detector.on_status(&status).changed());
}

#[test]
fn a_restored_state_continues_exactly() {
    let mut steady = Car::new("car-1");
    steady.trip_with_a_short_stop();
    steady.tick(1_000);

    let mut restarted = Car::new("car-1");
    restarted.ignition(0, true);
    restarted.fix(0, 0.0);
    restarted.fixes(1, 180, KMH36);
    restarted.fixes(181, 250, 0.0);
    // Saved and loaded as the history does it, in the middle of the short stop.
    let saved: Vec<(String, String)> = restarted
        .detector
        .vehicles
        .iter()
        .map(|(id, state)| (id.clone(), serde_json::to_string(state).unwrap()))
        .collect();
    restarted.detector = Detector::restore(
        Rules::default(),
        saved
            .into_iter()
            .map(|(id, json)| (id, serde_json::from_str(&json).unwrap())),
    );
    restarted.fixes(251, 300, 0.0);
    restarted.fixes(301, 540, KMH36);
    restarted.fix(541, 0.0);
    restarted.ignition(542, false);
    restarted.tick(1_000);

    assert_eq!(restarted.outcomes, steady.outcomes);
}

#[test]
fn unusable_fixes_are_ignored() {
    let car = Car::new("car-1");
    for (lat, lon, speed) in [
        (f64::NAN, 11.5, 10.0),
        (95.0, 11.5, 10.0),
        (48.1, 11.5, f64::INFINITY),
        (48.1, 11.5, -3.0),
    ] {
        let mut position = car.position(1, speed);
        position.lat = lat;
        position.lon = lon;
        let update = car.detector.on_position(&position);
        assert!(!update.changed(), "{lat} {lon} {speed}");
    }
}

#[test]
fn absurd_times_do_not_panic() {
    let mut detector = Detector::new(Rules::default());
    for time_ms in [i64::MIN, -1, 0, i64::MAX - 1, i64::MAX] {
        for speed_kmh in [0.0, 50.0] {
            let update = detector.on_fix(
                "car-1",
                Fix {
                    time_ms,
                    lat: 48.1,
                    lon: 11.5,
                    speed_kmh,
                    heading_deg: 0.0,
                },
            );
            detector.commit(&update);
        }
        let update = detector.on_ignition(&instadash_schemas::vehicle::ignition::v1::Ignition {
            vehicle_id: "car-2".into(),
            time_ms,
            on: time_ms % 2 == 0,
        });
        detector.commit(&update);
        for now_ms in [i64::MIN, 0, i64::MAX] {
            for update in detector.tick(now_ms) {
                detector.commit(&update);
            }
        }
    }
}
