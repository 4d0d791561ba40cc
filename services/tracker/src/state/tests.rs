//! The tracker's contract, rule by rule.

use instadash_schemas::vehicle::VehicleStatus::{Offline, Online, Unknown};
use instadash_schemas::vehicle::find_nearest::v1::FindNearest;
use instadash_schemas::vehicle::list_vehicles::v1::ListVehicles;

use super::*;

const T0: i64 = 1_760_000_000_000;
/// One degree of arc, metres.
const DEGREE_M: f64 = instadash_roads::EARTH_RADIUS_M * std::f64::consts::PI / 180.0;

fn fix(id: &str, time_ms: i64, lat: f64, lon: f64, speed_kmh: f64) -> Position {
    Position {
        vehicle_id: id.into(),
        time_ms,
        lat,
        lon,
        speed_kmh,
        heading_deg: 90.0,
        altitude_m: None,
        accuracy_m: 4.0,
        satellites: 9,
        hdop: None,
    }
}

fn ignition(id: &str, time_ms: i64, on: bool) -> Ignition {
    Ignition {
        vehicle_id: id.into(),
        time_ms,
        on,
    }
}

fn obd(id: &str, time_ms: i64, rpm: f64) -> ObdReading {
    ObdReading {
        vehicle_id: id.into(),
        time_ms,
        speed_kmh: 0.0,
        rpm,
        coolant_c: None,
        fuel_level_pct: None,
        engine_load_pct: None,
        throttle_pct: None,
        mil_on: None,
        dtc_count: None,
    }
}

fn codes(id: &str, time_ms: i64, mil_on: bool, list: &[&str]) -> TroubleCodes {
    TroubleCodes {
        vehicle_id: id.into(),
        time_ms,
        mil_on,
        codes: list.iter().map(|code| code.to_string()).collect(),
    }
}

fn fleet() -> Fleet {
    Fleet::new(Config::default())
}

/// The (previous, status, reason) of the single change a message caused.
fn one_change(applied: Applied) -> (Option<VehicleStatus>, VehicleStatus, String) {
    assert!(!applied.stale, "{applied:?}");
    assert_eq!(applied.changes.len(), 1, "{applied:?}");
    let change = &applied.changes[0];
    (
        change.previous,
        change.status,
        change.reason.clone().unwrap_or_default(),
    )
}

fn no_change(applied: Applied) {
    assert_eq!(
        applied,
        Applied {
            stale: false,
            changes: vec![]
        }
    );
}

fn stale(applied: Applied) {
    assert_eq!(
        applied,
        Applied {
            stale: true,
            changes: vec![]
        }
    );
}

fn status(fleet: &Fleet, id: &str) -> VehicleStatus {
    fleet.state(id).expect("known vehicle").status
}

fn odometer(fleet: &Fleet, id: &str) -> f64 {
    fleet
        .state(id)
        .expect("known vehicle")
        .odometer_m
        .expect("odometer")
}

// --- order -----------------------------------------------------------------------------------

#[test]
fn duplicates_and_out_of_order_fixes_do_not_move_the_car_or_add_distance() {
    let mut fleet = fleet();
    fleet.on_position(&fix("car-1", T0, 48.0, 11.0, 50.0), T0);
    no_change(fleet.on_position(&fix("car-1", T0 + 1_000, 48.0, 11.001, 50.0), T0 + 1_000));
    let before = fleet.state("car-1").unwrap();

    // The same fix again, and one from before it (delivered late), far away.
    stale(fleet.on_position(&fix("car-1", T0 + 1_000, 48.0, 11.001, 50.0), T0 + 2_000));
    stale(fleet.on_position(&fix("car-1", T0 + 500, 47.0, 10.0, 50.0), T0 + 2_000));
    assert_eq!(fleet.state("car-1").unwrap(), before);

    // The next fix counts only the hop from the newest accepted one: a second at 50 km/h.
    fleet.on_position(&fix("car-1", T0 + 2_000, 48.0, 11.002, 50.0), T0 + 3_000);
    let hop = 50.0 / 3.6;
    assert!((odometer(&fleet, "car-1") - 2.0 * hop).abs() < 1e-6);
    let position = fleet.state("car-1").unwrap().position.unwrap();
    assert_eq!((position.time_ms, position.lon), (T0 + 2_000, 11.002));
}

#[test]
fn stale_messages_of_every_kind_change_nothing() {
    let mut fleet = fleet();
    fleet.on_position(&fix("car-1", T0, 48.0, 11.0, 30.0), T0);
    fleet.on_obd(&obd("car-1", T0, 1_500.0), T0);
    fleet.on_trouble_codes(&codes("car-1", T0, true, &["P0301"]), T0);
    fleet.on_ignition(&ignition("car-1", T0 - 5_000, true), T0);
    let before = fleet.state("car-1").unwrap();

    stale(fleet.on_obd(&obd("car-1", T0, 900.0), T0 + 10));
    stale(fleet.on_obd(&obd("car-1", T0 - 1, 900.0), T0 + 10));
    stale(fleet.on_trouble_codes(&codes("car-1", T0 - 1, false, &[]), T0 + 10));
    stale(fleet.on_ignition(&ignition("car-1", T0 - 5_000, false), T0 + 10));
    stale(fleet.on_ignition(&ignition("car-1", T0 - 6_000, true), T0 + 10));
    assert_eq!(fleet.state("car-1").unwrap(), before);
}

#[test]
fn stale_messages_are_no_sign_of_life() {
    let mut fleet = fleet();
    fleet.on_position(&fix("car-1", T0, 48.0, 11.0, 30.0), T0);
    // A duplicate redelivered much later does not keep the car from going silent.
    stale(fleet.on_position(&fix("car-1", T0, 48.0, 11.0, 30.0), T0 + 500_000));
    assert_eq!(fleet.check_silence(T0 + 600_001).len(), 1);
}

#[test]
fn unusable_fixes_are_ignored_without_panicking() {
    let mut fleet = fleet();
    stale(fleet.on_position(&fix("car-1", T0, f64::NAN, 11.0, 30.0), T0));
    stale(fleet.on_position(&fix("car-1", T0, 91.0, 11.0, 30.0), T0));
    stale(fleet.on_position(&fix("car-1", T0, 48.0, 181.0, 30.0), T0));
    stale(fleet.on_position(&fix("car-1", T0, 48.0, 11.0, f64::INFINITY), T0));
    assert!(fleet.is_empty());
    stale(fleet.on_obd(&obd("car-1", T0, f64::NAN), T0));
    assert!(fleet.is_empty());
    // Extreme times do not overflow anything.
    fleet.on_position(&fix("car-1", i64::MIN, 0.0, 0.0, 0.0), i64::MIN);
    fleet.on_position(&fix("car-1", i64::MAX, 0.0, 0.0, 0.0), i64::MAX);
    assert_eq!(fleet.check_silence(i64::MIN).len(), 0);
    assert_eq!(fleet.check_silence(i64::MAX).len(), 0);
}

// --- odometer --------------------------------------------------------------------------------

#[test]
fn odometer_over_a_known_path() {
    let mut fleet = fleet();
    // Ten hops of 0.001 degrees east along the equator, then ten north along a meridian: each
    // hop is exactly 0.001 of a degree of arc.
    let mut time = T0;
    let mut point = (0.0, 0.0);
    fleet.on_position(&fix("car-1", time, point.0, point.1, 40.0), time);
    for step in 0..20 {
        time += 1_000;
        if step < 10 {
            point.1 += 0.001;
        } else {
            point.0 += 0.001;
        }
        assert!(
            !fleet
                .on_position(&fix("car-1", time, point.0, point.1, 40.0), time)
                .stale
        );
    }
    let expected = 20.0 * 0.001 * DEGREE_M;
    assert!(
        (odometer(&fleet, "car-1") - expected).abs() < 0.01,
        "{}",
        odometer(&fleet, "car-1")
    );
}

#[test]
fn odometer_starts_at_zero_with_the_first_message() {
    let mut fleet = fleet();
    fleet.on_ignition(&ignition("car-1", T0, true), T0);
    assert_eq!(fleet.state("car-1").unwrap().odometer_m, Some(0.0));
    fleet.on_position(&fix("car-1", T0 + 1, 48.0, 11.0, 60.0), T0 + 1);
    assert_eq!(odometer(&fleet, "car-1"), 0.0);
}

#[test]
fn jitter_while_parked_adds_nothing() {
    let mut fleet = fleet();
    let jitter = [
        (0.0, 0.0),
        (3e-5, -2e-5),
        (-4e-5, 1e-5),
        (2e-5, 4e-5),
        (-1e-5, -3e-5),
    ];
    for (i, (dlat, dlon)) in jitter.iter().cycle().take(200).enumerate() {
        let time = T0 + i as i64 * 1_000;
        // Receivers report small speeds from jitter too.
        let speed = if i % 3 == 0 { 0.0 } else { 1.2 };
        fleet.on_position(&fix("car-1", time, 48.0 + dlat, 11.0 + dlon, speed), time);
    }
    assert_eq!(odometer(&fleet, "car-1"), 0.0);

    // Driving off: the hop out of the parking spot counts (one end is moving), later jitter not.
    // The first hop is further than its speeds explain (a straight line), the second is not.
    let start = T0 + 200_000;
    fleet.on_position(&fix("car-1", start, 48.0, 11.001, 20.0), start);
    fleet.on_position(
        &fix("car-1", start + 1_000, 48.0, 11.00101, 0.0),
        start + 1_000,
    );
    fleet.on_position(
        &fix("car-1", start + 2_000, 48.0, 11.00103, 0.5),
        start + 2_000,
    );
    let expected =
        instadash_roads::haversine_m(48.0 + jitter[4].0, 11.0 + jitter[4].1, 48.0, 11.001)
            + 10.0 / 3.6;
    assert!((odometer(&fleet, "car-1") - expected).abs() < 1e-6);
}

/// A car driving 1 km east at a steady 36 km/h, its fixes scattered by 5 m of jitter: the
/// odometer follows the speeds, not the zigzag of the positions.
#[test]
fn jitter_while_driving_does_not_lengthen_the_trip() {
    let mut fleet = fleet();
    let metre_lon = 1.0 / (DEGREE_M * 48f64.to_radians().cos());
    let metre_lat = 1.0 / DEGREE_M;
    let scatter = [
        (4.0, -3.0),
        (-5.0, 2.0),
        (1.0, 5.0),
        (-3.0, -4.0),
        (5.0, 1.0),
    ];
    for i in 0..=100 {
        let (north, east) = scatter[i % scatter.len()];
        let time = T0 + i as i64 * 1_000;
        let lat = 48.0 + north * metre_lat;
        let lon = 11.0 + (i as f64 * 10.0 + east) * metre_lon;
        fleet.on_position(&fix("car-1", time, lat, lon, 36.0), time);
    }
    assert!(
        (odometer(&fleet, "car-1") - 1_000.0).abs() < 1e-6,
        "{}",
        odometer(&fleet, "car-1")
    );
}

/// Across a long gap (a tunnel, a dead spot) the speeds at both ends say nothing about the way
/// between: the straight line counts.
#[test]
fn a_long_gap_counts_as_a_straight_line() {
    let mut fleet = fleet();
    fleet.on_position(&fix("car-1", T0, 48.0, 11.0, 50.0), T0);
    fleet.on_position(&fix("car-1", T0 + 60_000, 48.01, 11.0, 50.0), T0 + 60_000);
    let straight = instadash_roads::haversine_m(48.0, 11.0, 48.01, 11.0);
    assert!((odometer(&fleet, "car-1") - straight).abs() < 1e-6);
}

// --- status ----------------------------------------------------------------------------------

#[test]
fn every_status_transition_is_reported_exactly_once() {
    let mut fleet = fleet();
    let id = "car-1";

    // First sight.
    let applied = fleet.on_position(&fix(id, T0, 48.0, 11.0, 30.0), T0 + 7);
    assert_eq!(applied.changes[0].time_ms, T0 + 7);
    assert_eq!(applied.changes[0].last_seen_ms, Some(T0));
    assert_eq!(one_change(applied), (None, Online, "first seen".into()));
    no_change(fleet.on_position(&fix(id, T0 + 1_000, 48.0, 11.0, 30.0), T0 + 1_000));

    // Offline by ignition, once.
    assert_eq!(
        one_change(fleet.on_ignition(&ignition(id, T0 + 2_000, false), T0 + 2_000)),
        (Some(Online), Offline, "ignition off".into())
    );
    no_change(fleet.on_ignition(&ignition(id, T0 + 3_000, false), T0 + 3_000));
    // Trouble codes read out with the engine off leave it offline.
    no_change(fleet.on_trouble_codes(&codes(id, T0 + 4_000, false, &[]), T0 + 4_000));
    // A fix from the same moment as the ignition off does not undo it.
    no_change(fleet.on_position(&fix(id, T0 + 2_000, 48.0, 11.0, 0.0), T0 + 5_000));
    assert_eq!(status(&fleet, id), Offline);

    // Online again with ignition on, once.
    assert_eq!(
        one_change(fleet.on_ignition(&ignition(id, T0 + 10_000, true), T0 + 10_000)),
        (Some(Offline), Online, "ignition on".into())
    );
    no_change(fleet.on_position(&fix(id, T0 + 11_000, 48.0, 11.0, 30.0), T0 + 11_000));

    // Unknown after silence, once.
    let silence = fleet.check_silence(T0 + 11_000 + 612_000);
    assert_eq!(silence.len(), 1);
    assert_eq!(silence[0].previous, Some(Online));
    assert_eq!(silence[0].status, Unknown);
    assert_eq!(silence[0].reason.as_deref(), Some("silent for 612 s"));
    assert_eq!(silence[0].time_ms, T0 + 11_000 + 612_000);
    assert_eq!(silence[0].last_seen_ms, Some(T0 + 11_000));
    assert!(fleet.check_silence(T0 + 11_000 + 700_000).is_empty());

    // Back online, once.
    let back = T0 + 11_000 + 720_000;
    let applied = fleet.on_position(&fix(id, back, 48.0, 11.0, 30.0), back + 3);
    assert_eq!(applied.changes[0].time_ms, back + 3);
    assert_eq!(
        one_change(applied),
        (Some(Unknown), Online, "reporting again".into())
    );
    no_change(fleet.on_position(&fix(id, back + 1_000, 48.0, 11.0, 30.0), back + 1_000));
}

#[test]
fn a_fix_or_obd_reading_after_the_ignition_off_brings_a_car_online() {
    let mut fleet = fleet();
    fleet.on_ignition(&ignition("car-1", T0, false), T0);
    assert_eq!(
        one_change(fleet.on_position(&fix("car-1", T0 + 1, 48.0, 11.0, 5.0), T0 + 1)),
        (Some(Offline), Online, "reporting again".into())
    );
    fleet.on_ignition(&ignition("car-1", T0 + 2, false), T0 + 2);
    assert_eq!(
        one_change(fleet.on_obd(&obd("car-1", T0 + 3, 800.0), T0 + 3)),
        (Some(Offline), Online, "reporting again".into())
    );
}

#[test]
fn a_car_first_seen_with_its_ignition_off_is_offline() {
    let mut fleet = fleet();
    assert_eq!(
        one_change(fleet.on_ignition(&ignition("car-1", T0, false), T0)),
        (None, Offline, "first seen".into())
    );
    assert_eq!(fleet.state("car-1").unwrap().ignition_on, Some(false));
}

#[test]
fn an_ignition_off_older_than_the_newest_fix_or_reading_is_stale() {
    let mut fleet = fleet();
    fleet.on_position(&fix("car-1", T0 + 10_000, 48.0, 11.0, 30.0), T0 + 10_000);
    stale(fleet.on_ignition(&ignition("car-1", T0 + 9_000, false), T0 + 11_000));
    assert_eq!(status(&fleet, "car-1"), Online);
    assert_eq!(fleet.state("car-1").unwrap().ignition_on, Some(true));

    fleet.on_obd(&obd("car-2", T0 + 10_000, 900.0), T0 + 10_000);
    stale(fleet.on_ignition(&ignition("car-2", T0 + 9_000, false), T0 + 11_000));
    assert_eq!(status(&fleet, "car-2"), Online);
}

#[test]
fn the_order_of_delivery_does_not_decide_the_status() {
    // The same messages in every order end in the same status.
    type Delivery = dyn Fn(&mut Fleet, i64) -> Applied;
    let messages: [&Delivery; 3] = [
        &|fleet, at| fleet.on_ignition(&ignition("car-1", T0 + 50, false), at),
        &|fleet, at| fleet.on_obd(&obd("car-1", T0 + 100, 800.0), at),
        &|fleet, at| fleet.on_position(&fix("car-1", T0 + 40, 48.0, 11.0, 10.0), at),
    ];
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for order in orders {
        let mut fleet = fleet();
        for (i, message) in order.iter().enumerate() {
            messages[*message](&mut fleet, T0 + 1_000 + i as i64);
        }
        assert_eq!(status(&fleet, "car-1"), Online, "{order:?}");
    }
}

#[test]
fn silence_is_measured_by_received_time_and_spares_offline_cars() {
    let mut fleet = fleet();
    // GPS time long ago but received just now (a unit with a wrong clock): not silent.
    fleet.on_position(&fix("clock-off", T0 - 3_600_000, 48.0, 11.0, 0.0), T0);
    // Recent GPS time but received at the start: silent.
    fleet.on_position(&fix("quiet", T0, 48.0, 11.0, 0.0), T0 - 700_000);
    // Parked with the ignition off long ago: never unknown.
    fleet.on_ignition(&ignition("parked", T0 - 5_000_000, false), T0 - 5_000_000);
    // Exactly at the limit: not yet.
    fleet.on_position(&fix("limit", T0, 48.0, 11.0, 0.0), T0 - 600_000);

    let changes = fleet.check_silence(T0);
    let ids: Vec<_> = changes.iter().map(|c| c.vehicle_id.as_str()).collect();
    assert_eq!(ids, ["quiet"]);
    assert_eq!(changes[0].reason.as_deref(), Some("silent for 700 s"));
    assert_eq!(status(&fleet, "parked"), Offline);
    assert_eq!(status(&fleet, "clock-off"), Online);
    assert_eq!(status(&fleet, "limit"), Online);
    assert_eq!(fleet.check_silence(T0 + 1).len(), 1);
    assert_eq!(status(&fleet, "limit"), Unknown);
}

#[test]
fn an_unknown_car_goes_offline_with_an_ignition_off_and_online_with_anything_newer() {
    let mut fleet = fleet();
    fleet.on_position(&fix("a", T0, 48.0, 11.0, 0.0), T0);
    fleet.on_position(&fix("b", T0, 48.0, 11.0, 0.0), T0);
    assert_eq!(fleet.check_silence(T0 + 600_001).len(), 2);
    assert_eq!(
        one_change(fleet.on_ignition(&ignition("a", T0 + 1, false), T0 + 600_002)),
        (Some(Unknown), Offline, "ignition off".into())
    );
    assert_eq!(
        one_change(fleet.on_trouble_codes(&codes("b", T0 + 1, false, &[]), T0 + 600_002)),
        (Some(Unknown), Online, "reporting again".into())
    );
    assert_eq!(
        (
            fleet.count(Online),
            fleet.count(Unknown),
            fleet.count(Offline)
        ),
        (1, 0, 1)
    );
}

// --- what a vehicle shows --------------------------------------------------------------------

#[test]
fn a_state_shows_the_newest_values() {
    let mut fleet = fleet();
    let id = "car-1";
    fleet.on_position(&fix(id, T0, 48.1, 11.5, 43.2), T0);
    let mut reading = obd(id, T0 + 100, 1_850.0);
    reading.coolant_c = Some(91.0);
    reading.fuel_level_pct = Some(62.5);
    reading.mil_on = Some(false);
    fleet.on_obd(&reading, T0 + 100);
    // A fast reading without the slow PIDs keeps them.
    fleet.on_obd(&obd(id, T0 + 1_100, 1_900.0), T0 + 1_100);
    fleet.on_trouble_codes(
        &codes(id, T0 + 1_200, true, &["P0301", "P0171"]),
        T0 + 1_200,
    );

    let state = fleet.state(id).unwrap();
    assert_eq!(state.vehicle_id, id);
    assert_eq!(state.last_seen_ms, Some(T0 + 1_200));
    let position = state.position.unwrap();
    assert_eq!(
        (
            position.lat,
            position.lon,
            position.speed_kmh,
            position.heading_deg
        ),
        (48.1, 11.5, 43.2, 90.0)
    );
    let engine = state.obd.unwrap();
    assert_eq!(engine.time_ms, T0 + 1_100);
    assert_eq!(engine.rpm, 1_900.0);
    assert_eq!(engine.coolant_c, Some(91.0));
    assert_eq!(engine.fuel_level_pct, Some(62.5));
    // The trouble codes are newer than the reading that said the lamp was off.
    assert_eq!(engine.mil_on, Some(true));
    assert_eq!(
        state.trouble_codes,
        Some(vec!["P0301".to_string(), "P0171".to_string()])
    );

    // A newer reading turns it off again; cleared codes show as an empty list.
    let mut reading = obd(id, T0 + 2_000, 800.0);
    reading.mil_on = Some(false);
    fleet.on_obd(&reading, T0 + 2_000);
    fleet.on_trouble_codes(&codes(id, T0 + 2_000, false, &[]), T0 + 2_000);
    let state = fleet.state(id).unwrap();
    assert_eq!(state.obd.unwrap().mil_on, Some(false));
    assert_eq!(state.trouble_codes, Some(vec![]));
    assert!(fleet.state("car-2").is_none());
}

#[test]
fn last_seen_is_the_newest_event_time_of_any_kind() {
    let mut fleet = fleet();
    fleet.on_obd(&obd("car-1", T0 + 5_000, 800.0), T0);
    fleet.on_position(&fix("car-1", T0 + 1_000, 48.0, 11.0, 0.0), T0 + 10);
    assert_eq!(fleet.state("car-1").unwrap().last_seen_ms, Some(T0 + 5_000));
}

#[test]
fn ignition_on_comes_from_ignition_events_or_else_from_movement() {
    let mut fleet = fleet();
    fleet.on_position(&fix("car-1", T0, 48.0, 11.0, 0.0), T0);
    assert_eq!(fleet.state("car-1").unwrap().ignition_on, None);
    fleet.on_position(&fix("car-1", T0 + 1_000, 48.0, 11.0, 12.0), T0 + 1_000);
    fleet.on_position(&fix("car-1", T0 + 2_000, 48.0, 11.0, 0.0), T0 + 2_000);
    assert_eq!(fleet.state("car-1").unwrap().ignition_on, Some(true));
    fleet.on_ignition(&ignition("car-1", T0 + 3_000, false), T0 + 3_000);
    assert_eq!(fleet.state("car-1").unwrap().ignition_on, Some(false));
    fleet.on_ignition(&ignition("car-1", T0 + 4_000, true), T0 + 4_000);
    assert_eq!(fleet.state("car-1").unwrap().ignition_on, Some(true));
}

// --- list ------------------------------------------------------------------------------------

/// `n` vehicles `v-000`.. in statuses cycling online, offline, unknown, some without a position.
fn mixed_fleet(n: usize) -> Fleet {
    let mut fleet = fleet();
    for i in 0..n {
        let id = format!("v-{i:03}");
        match i % 3 {
            0 => {
                fleet.on_position(&fix(&id, T0, 48.0 + i as f64 * 1e-3, 11.0, 10.0), T0);
            }
            1 => {
                fleet.on_ignition(&ignition(&id, T0, false), T0);
            }
            _ => {
                fleet.on_obd(&obd(&id, T0, 800.0), T0 - 700_000);
            }
        }
    }
    fleet.check_silence(T0);
    fleet
}

/// Pages through the whole listing, checking each page's invariants.
fn page_through(
    fleet: &Fleet,
    statuses: Option<Vec<VehicleStatus>>,
    limit: Option<u32>,
) -> Vec<String> {
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let request = ListVehicles {
            statuses: statuses.clone(),
            limit,
            after: after.clone(),
        };
        let page = fleet.list(&request);
        assert!(page.vehicles.len() <= limit.unwrap_or(100).clamp(1, 1000) as usize);
        let expected_total = match &statuses {
            Some(list) if !list.is_empty() => list.iter().map(|s| fleet.count(*s)).sum(),
            _ => fleet.len(),
        };
        assert_eq!(page.total as usize, expected_total);
        seen.extend(page.vehicles.iter().map(|v| v.vehicle_id.clone()));
        match page.next_after {
            Some(next) => {
                assert_eq!(Some(&next), seen.last());
                after = Some(next);
            }
            None => return seen,
        }
    }
}

#[test]
fn list_paging_covers_every_vehicle_exactly_once() {
    let fleet = mixed_fleet(250);
    let all: Vec<String> = (0..250).map(|i| format!("v-{i:03}")).collect();
    for limit in [
        None,
        Some(1),
        Some(7),
        Some(100),
        Some(249),
        Some(250),
        Some(5_000),
    ] {
        assert_eq!(page_through(&fleet, None, limit), all, "{limit:?}");
        assert_eq!(page_through(&fleet, Some(vec![]), limit), all, "{limit:?}");
    }
    for statuses in [
        vec![Online],
        vec![Offline],
        vec![Unknown],
        vec![Online, Unknown],
        vec![Offline, Online, Unknown],
    ] {
        let expected: Vec<String> = all
            .iter()
            .filter(|id| statuses.contains(&fleet.state(id).unwrap().status))
            .cloned()
            .collect();
        for limit in [Some(1), Some(9), None] {
            assert_eq!(
                page_through(&fleet, Some(statuses.clone()), limit),
                expected,
                "{statuses:?} {limit:?}"
            );
        }
    }
}

#[test]
fn list_limits_and_after_an_unknown_id() {
    let fleet = mixed_fleet(1_200);
    assert_eq!(fleet.list(&ListVehicles::default()).vehicles.len(), 100);
    let huge = fleet.list(&ListVehicles {
        limit: Some(u32::MAX),
        ..Default::default()
    });
    assert_eq!(huge.vehicles.len(), 1_000);
    let zero = fleet.list(&ListVehicles {
        limit: Some(0),
        ..Default::default()
    });
    assert_eq!(zero.vehicles.len(), 1);
    // `after` need not be a known id: "v-0005" sorts between v-000 and v-001.
    let page = fleet.list(&ListVehicles {
        after: Some("v-0005".into()),
        limit: Some(2),
        ..Default::default()
    });
    let ids: Vec<_> = page
        .vehicles
        .iter()
        .map(|v| v.vehicle_id.as_str())
        .collect();
    assert_eq!(ids, ["v-001", "v-002"]);
    let end = fleet.list(&ListVehicles {
        after: Some("w".into()),
        ..Default::default()
    });
    assert_eq!((end.vehicles.len(), end.next_after), (0, None));
    assert_eq!(
        fleet.list(&ListVehicles::default()).vehicles[0],
        fleet.state("v-000").unwrap()
    );
}

#[test]
fn an_empty_fleet_lists_nothing() {
    let page = fleet().list(&ListVehicles::default());
    assert!(page.vehicles.is_empty() && page.total == 0 && page.next_after.is_none());
}

// --- nearest ---------------------------------------------------------------------------------

/// A small deterministic generator, enough to scatter cars.
struct Lcg(u64);

impl Lcg {
    fn next_unit(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Cars scattered around Munich in every status, some sharing a spot, some without a position.
fn scattered_fleet(n: usize, seed: u64) -> Fleet {
    let mut random = Lcg(seed);
    let mut fleet = fleet();
    for i in 0..n {
        let id = format!("car-{:05}", (i * 7_919) % 100_000);
        let (lat, lon) = if i % 10 == 3 {
            (48.137, 11.575) // a taxi rank: exact ties
        } else {
            (
                48.0 + random.next_unit() * 0.3,
                11.4 + random.next_unit() * 0.4,
            )
        };
        if i % 17 == 0 {
            fleet.on_obd(&obd(&id, T0, 800.0), T0);
        } else {
            fleet.on_position(
                &fix(&id, T0, lat, lon, 20.0),
                T0 - if i % 5 == 0 { 700_000 } else { 0 },
            );
        }
        if i % 4 == 0 {
            fleet.on_ignition(&ignition(&id, T0 + 1, false), T0);
        }
    }
    fleet.check_silence(T0);
    fleet
}

/// The answer by sorting everything.
fn brute_force_nearest(fleet: &Fleet, request: &FindNearest) -> Vec<(String, f64)> {
    let limit = request.limit.unwrap_or(10).clamp(1, 1000) as usize;
    let mut all: Vec<(String, f64)> = fleet
        .list(&ListVehicles {
            statuses: request.statuses.clone(),
            limit: Some(1000),
            after: None,
        })
        .vehicles
        .into_iter()
        .filter_map(|v| {
            let p = v.position?;
            Some((
                v.vehicle_id,
                instadash_roads::haversine_m(request.lat, request.lon, p.lat, p.lon),
            ))
        })
        .filter(|(_, d)| request.max_distance_m.is_none_or(|max| *d <= max))
        .collect();
    all.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    all.truncate(limit);
    all
}

#[test]
fn nearest_matches_a_brute_force_search() {
    let fleet = scattered_fleet(900, 42);
    assert!(
        fleet.len() == 900
            && fleet.count(Online) > 0
            && fleet.count(Unknown) > 0
            && fleet.count(Offline) > 0
    );
    let points = [
        (48.137, 11.575),
        (48.15, 11.6),
        (47.9, 11.3),
        (-33.9, 151.2),
    ];
    let limits = [None, Some(1), Some(5), Some(37), Some(1_000), Some(0)];
    let distances = [None, Some(0.0), Some(500.0), Some(5_000.0)];
    let filters = [
        None,
        Some(vec![]),
        Some(vec![Online]),
        Some(vec![Offline, Unknown]),
    ];
    for (lat, lon) in points {
        for limit in limits {
            for max_distance_m in distances {
                for statuses in filters.clone() {
                    let request = FindNearest {
                        lat,
                        lon,
                        limit,
                        max_distance_m,
                        statuses,
                    };
                    let got: Vec<(String, f64)> = fleet
                        .nearest(&request)
                        .vehicles
                        .into_iter()
                        .map(|near| (near.vehicle.vehicle_id, near.distance_m))
                        .collect();
                    assert_eq!(got, brute_force_nearest(&fleet, &request), "{request:?}");
                }
            }
        }
    }
}

#[test]
fn nearest_orders_ties_by_id_and_returns_full_states() {
    let mut fleet = fleet();
    for id in ["c", "a", "b"] {
        fleet.on_position(&fix(id, T0, 48.0, 11.0, 0.0), T0);
    }
    fleet.on_position(&fix("far", T0, 48.1, 11.0, 0.0), T0);
    let reply = fleet.nearest(&FindNearest {
        lat: 48.0,
        lon: 11.0,
        limit: Some(3),
        max_distance_m: None,
        statuses: None,
    });
    let ids: Vec<_> = reply
        .vehicles
        .iter()
        .map(|near| near.vehicle.vehicle_id.as_str())
        .collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(reply.vehicles[0].distance_m, 0.0);
    assert_eq!(reply.vehicles[0].vehicle, fleet.state("a").unwrap());
    // Defaults to ten; an invalid point finds nothing.
    let request = FindNearest {
        lat: f64::NAN,
        lon: 11.0,
        limit: None,
        max_distance_m: None,
        statuses: None,
    };
    assert!(fleet.nearest(&request).vehicles.is_empty());
    let request = FindNearest {
        lat: 48.0,
        lon: 11.0,
        limit: None,
        max_distance_m: Some(f64::NAN),
        statuses: None,
    };
    assert!(fleet.nearest(&request).vehicles.is_empty());
}

#[test]
fn nearest_defaults_to_ten() {
    let fleet = scattered_fleet(50, 7);
    let request = FindNearest {
        lat: 48.1,
        lon: 11.5,
        limit: None,
        max_distance_m: None,
        statuses: None,
    };
    assert_eq!(fleet.nearest(&request).vehicles.len(), 10);
}

// --- snapshot --------------------------------------------------------------------------------

#[test]
fn a_restored_snapshot_continues_exactly_where_the_fleet_stopped() {
    let mut fleet = scattered_fleet(300, 9);
    let mut reading = obd("car-00000", T0 + 10, 1_200.0);
    reading.coolant_c = Some(88.5);
    reading.mil_on = Some(true);
    fleet.on_obd(&reading, T0 + 10);
    fleet.on_trouble_codes(&codes("car-00000", T0 + 10, true, &["P0420"]), T0 + 10);
    // Moving with a fractional odometer.
    fleet.on_position(&fix("mover", T0, 48.0, 11.0, 30.0), T0);
    fleet.on_position(
        &fix("mover", T0 + 1_000, 48.000_123_4, 11.000_234_5, 30.0),
        T0 + 1_000,
    );

    // Through JSON, as it would go through the file.
    let json = serde_json::to_string(&fleet.snapshot()).unwrap();
    let snapshot: Snapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(snapshot, fleet.snapshot());
    assert_eq!(
        (snapshot.format(), snapshot.len()),
        (crate::snapshot::FORMAT, fleet.len())
    );
    let mut restored = Fleet::restore(Config::default(), snapshot);

    assert_eq!(restored.len(), fleet.len());
    assert_eq!(restored.vehicles, fleet.vehicles);
    assert_eq!(restored.counts, fleet.counts);
    let all = ListVehicles {
        limit: Some(1000),
        ..Default::default()
    };
    assert_eq!(restored.list(&all), fleet.list(&all));
    assert_eq!(
        fleet.state("mover").unwrap().odometer_m,
        restored.state("mover").unwrap().odometer_m
    );

    // Both go on identically: silence (received times kept), order, odometer.
    assert_eq!(
        restored.check_silence(T0 + 650_000),
        fleet.check_silence(T0 + 650_000)
    );
    let next = fix("mover", T0 + 700_000, 48.001, 11.001, 30.0);
    assert_eq!(
        restored.on_position(&next, T0 + 700_000),
        fleet.on_position(&next, T0 + 700_000)
    );
    let late = fix("mover", T0 + 500, 47.0, 11.0, 30.0);
    assert_eq!(
        restored.on_position(&late, T0 + 700_001),
        fleet.on_position(&late, T0 + 700_001)
    );
    assert_eq!(restored.vehicles, fleet.vehicles);
}

#[test]
fn restoring_an_odd_snapshot_does_not_panic() {
    let json = r#"{"format":1,"vehicles":[
        {"vehicle_id":"a","status":"online","last_seen_ms":1,"received_ms":1,"odometer_m":5.0},
        {"vehicle_id":"a","status":"offline","last_seen_ms":2,"received_ms":2,"odometer_m":-3.0,
         "fix":{"time_ms":2,"lat":95.0,"lon":0.0,"speed_kmh":0.0,"heading_deg":0.0}}
    ]}"#;
    let fleet = Fleet::restore(Config::default(), serde_json::from_str(json).unwrap());
    assert_eq!(fleet.len(), 1);
    let state = fleet.state("a").unwrap();
    assert_eq!(
        (state.status, state.position, state.odometer_m),
        (Offline, None, Some(0.0))
    );
    assert_eq!((fleet.count(Online), fleet.count(Offline)), (0, 1));
}
