use std::collections::{HashMap, HashSet};
use std::path::Path;

use instadash_roads::haversine_m;
use instadash_schemas::dashcam::ClipTrigger;

use super::*;

const START_MS: i64 = 1_800_000_000_000;

fn city() -> Arc<RoadNetwork> {
    RoadNetwork::city()
}

fn run(model: &mut FleetModel, steps: usize) -> Vec<Emission> {
    let mut out = Vec::new();
    for _ in 0..steps {
        model.step(&mut out);
    }
    out
}

fn random(cars: usize, seed: u64) -> FleetModel {
    FleetModel::random(city(), cars, seed, START_MS, ModelOptions::default())
}

fn scenario(file: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file);
    Scenario::load(path).unwrap()
}

#[test]
fn the_same_seed_gives_the_same_messages_and_another_seed_others() {
    let a = run(&mut random(200, 7), 300);
    let b = run(&mut random(200, 7), 300);
    assert!(a.len() > 20_000, "{} messages", a.len());
    assert_eq!(a, b);
    let c = run(&mut random(200, 8), 300);
    assert_ne!(a, c);
}

#[test]
fn adding_cars_does_not_change_the_cars_already_there() {
    let small = run(&mut random(30, 3), 200);
    let big: Vec<Emission> = run(&mut random(50, 3), 200)
        .into_iter()
        .filter(|e| e.vehicle_id() <= "car-00030")
        .collect();
    assert_eq!(small, big);
}

#[test]
fn ids_and_times_follow_the_fleet_and_the_clock() {
    let mut model = random(12, 1);
    assert_eq!(model.car_count(), 12);
    assert_eq!(model.fix_interval_ms(), 1_000);
    let ids: Vec<String> = model.truth().into_iter().map(|t| t.vehicle_id).collect();
    assert_eq!(ids.first().map(String::as_str), Some("car-00001"));
    assert_eq!(ids.last().map(String::as_str), Some("car-00012"));
    for n in 1..=50 {
        let mut out = Vec::new();
        model.step(&mut out);
        assert_eq!(model.now_ms(), START_MS + n * 1_000);
        assert!(out.iter().all(|e| e.time_ms() == model.now_ms()));
    }
    assert!(!model.finished(), "a random fleet never finishes");
}

/// Replays the messages of a random fleet, step by step, against the truth, checking what real
/// units would never do.
#[test]
fn a_random_fleet_drives_plausibly() {
    const CARS: usize = 1_000;
    let network = city();
    let mut model =
        FleetModel::random(network.clone(), CARS, 11, START_MS, ModelOptions::default())
            .with_behaviour_rate(30.0);
    let mut ignition: HashMap<String, bool> = model
        .truth()
        .into_iter()
        .map(|t| (t.vehicle_id, t.ignition_on))
        .collect();
    let mut not_heard_yet: HashSet<String> = ignition.keys().cloned().collect();
    let mut reporting_in = HashSet::new();
    let mut reported_in_parked = 0;
    let mut last_speed: HashMap<String, (i64, f64)> = HashMap::new();
    let mut slow_readings: HashMap<String, Vec<i64>> = HashMap::new();
    let mut clips = HashSet::new();
    let (mut positions, mut speeding_fixes, mut overheated, mut codes_on) = (0, 0, 0, 0);
    let (mut harsh_brakes_seen, mut harsh_accels_seen) = (0, 0);
    let mut out = Vec::new();
    for _ in 0..600 {
        out.clear();
        model.step(&mut out);
        let truth: HashMap<String, CarTruth> = model
            .truth()
            .into_iter()
            .map(|t| (t.vehicle_id.clone(), t))
            .collect();
        for emission in &out {
            let id = emission.vehicle_id().to_owned();
            // A parked car's unit reports in: its ignition off, then where it stands.
            let first = not_heard_yet.remove(&id);
            if first && !ignition[&id] && matches!(emission, Emission::Ignition(i) if !i.on) {
                reported_in_parked += 1;
                reporting_in.insert(id);
                continue;
            }
            match emission {
                Emission::Ignition(i) => {
                    assert_ne!(ignition[&id], i.on, "{id}: a switch to the state it was in");
                    ignition.insert(id, i.on);
                }
                Emission::Position(p) => {
                    positions += 1;
                    assert!(
                        ignition[&id] || reporting_in.remove(&id),
                        "{id}: a fix with the ignition off"
                    );
                    let (_, off_road) = network.nearest_edge(p.lat, p.lon).unwrap();
                    assert!(off_road < 1.0, "{id}: {off_road} m off the road");
                    let t = &truth[&id];
                    let limit = network.edge(t.edge).speed_limit_kmh;
                    assert!(
                        p.speed_kmh <= limit * 1.3,
                        "{id}: {} km/h on a {limit} road",
                        p.speed_kmh
                    );
                    if p.speed_kmh > limit * 1.08 {
                        speeding_fixes += 1;
                    }
                    assert!((0.0..360.0).contains(&p.heading_deg));
                    assert!(
                        (2.0..=6.0).contains(&p.accuracy_m) && (6..=12).contains(&p.satellites)
                    );
                    assert!((512.0..533.0).contains(&p.altitude_m.unwrap()));
                    if let Some((time, before)) =
                        last_speed.insert(id.clone(), (p.time_ms, p.speed_kmh))
                        && time == p.time_ms - 1_000
                    {
                        let accel = (p.speed_kmh - before) / 3.6;
                        assert!(accel.abs() < 6.0, "{id}: {accel} m/s² is beyond a car");
                        if accel < -3.05 {
                            assert_eq!(
                                t.harsh,
                                Some(Harsh::Braking),
                                "{id}: {accel} m/s² without a harsh brake"
                            );
                            assert!(
                                accel <= -0.45 * 9.81 || p.speed_kmh == 0.0,
                                "{id}: a harsh brake of {accel}"
                            );
                            harsh_brakes_seen += 1;
                        }
                        if accel > 2.55 {
                            assert_eq!(
                                t.harsh,
                                Some(Harsh::Acceleration),
                                "{id}: {accel} m/s² without a harsh start"
                            );
                            assert!(
                                accel >= 0.35 * 9.81,
                                "{id}: a harsh acceleration of {accel}"
                            );
                            harsh_accels_seen += 1;
                        }
                    }
                }
                Emission::Obd(o) => {
                    assert!(ignition[&id], "{id}: an OBD reading with the ignition off");
                    if o.speed_kmh == 0.0 {
                        assert!(
                            (730.0..=870.0).contains(&o.rpm),
                            "{id}: idling at {} rpm",
                            o.rpm
                        );
                    } else {
                        assert!(
                            (700.0..4_000.0).contains(&o.rpm),
                            "{id}: {} rpm at {} km/h",
                            o.rpm,
                            o.speed_kmh
                        );
                    }
                    if let Some(coolant) = o.coolant_c {
                        slow_readings.entry(id.clone()).or_default().push(o.time_ms);
                        assert!(o.fuel_level_pct.is_some() && o.engine_load_pct.is_some());
                        assert!(
                            o.throttle_pct.is_some() && o.mil_on.is_some() && o.dtc_count.is_some()
                        );
                        if coolant > 110.0 {
                            overheated += 1;
                        }
                    } else {
                        assert!(o.fuel_level_pct.is_none() && o.mil_on.is_none());
                    }
                }
                Emission::TroubleCodes(t) => {
                    assert_eq!(t.mil_on, !t.codes.is_empty());
                    if t.mil_on {
                        codes_on += 1;
                    }
                }
                Emission::Clip(c) => {
                    assert_eq!((c.window_before_s, c.window_after_s), (10, 10));
                    assert!(uuid::Uuid::parse_str(&c.clip_id).is_ok());
                    clips.insert((c.trigger, c.clip_id.clone()));
                }
            }
        }
    }
    assert!(positions > 100_000, "{positions} fixes");
    assert!(
        not_heard_yet.is_empty(),
        "units never heard from: {not_heard_yet:?}"
    );
    assert!(
        reported_in_parked > CARS / 10,
        "{reported_in_parked} parked cars reported in"
    );
    // Slow PIDs every 5 s while the ignition stays on.
    for times in slow_readings.values() {
        assert!(times.windows(2).all(|w| w[1] - w[0] >= 5_000));
    }
    let stats = model.stats();
    eprintln!("{stats:?}");
    assert!(stats.trips > 300 && stats.junction_stops > 300, "{stats:?}");
    for (kind, count) in [
        ("long idles", stats.long_idles),
        ("speeding", stats.speeding),
        ("harsh brakes", stats.harsh_brakes),
        ("harsh accelerations", stats.harsh_accelerations),
        ("faults", stats.faults),
        ("overheats", stats.overheats),
        ("panic buttons", stats.panic_buttons),
    ] {
        assert!(count >= 3, "only {count} {kind}: {stats:?}");
    }
    assert!(speeding_fixes > 50, "{speeding_fixes} fixes over the limit");
    assert!(overheated > 5 && codes_on > 3);
    assert!(
        harsh_brakes_seen > 3 && harsh_accels_seen > 3,
        "{harsh_brakes_seen} {harsh_accels_seen}"
    );
    let triggers: HashSet<ClipTrigger> = clips.iter().map(|(t, _)| *t).collect();
    assert!(
        triggers.contains(&ClipTrigger::HarshBrake) && triggers.contains(&ClipTrigger::PanicButton)
    );
}

#[test]
fn behaviour_rates_suit_a_fleet_of_400() {
    // One simulated hour of 400 cars at the default rates: each kind a few times.
    let mut model = random(400, 21);
    let mut out = Vec::new();
    for _ in 0..3_600 {
        out.clear();
        model.step(&mut out);
    }
    let s = model.stats();
    eprintln!("{s:?}");
    let kinds = [
        s.long_idles,
        s.speeding,
        s.harsh_brakes,
        s.harsh_accelerations,
        s.faults,
        s.overheats,
        s.panic_buttons,
    ];
    assert!(
        kinds.iter().all(|&n| (1..=25).contains(&n)),
        "each kind a few times: {s:?}"
    );
    assert!(s.trips > 400, "{s:?}");
}

#[test]
fn without_behaviour_nothing_unusual_happens() {
    let options = ModelOptions {
        behaviour: false,
        ..ModelOptions::default()
    };
    let mut quiet = FleetModel::random(city(), 300, 5, START_MS, options.clone());
    run(&mut quiet, 600);
    let s = quiet.stats();
    assert_eq!(
        (s.speeding, s.harsh_brakes, s.faults, s.clips, s.long_idles),
        (0, 0, 0, 0, 0),
        "{s:?}"
    );
    assert!(
        s.trips > 50 && s.junction_stops > 0,
        "traffic goes on: {s:?}"
    );
    // An explicit rate turns it on again.
    let mut lively =
        FleetModel::random(city(), 300, 5, START_MS, options).with_behaviour_rate(50.0);
    run(&mut lively, 600);
    assert!(lively.stats().speeding > 0);
}

fn last_fixes(emissions: &[Emission]) -> HashMap<String, Position> {
    let mut last = HashMap::new();
    for p in emissions.iter().filter_map(Emission::as_position) {
        last.insert(p.vehicle_id.clone(), p.clone());
    }
    last
}

use instadash_schemas::vehicle::position::v2::Position;

fn of<'a>(all: &'a [Emission], id: &'a str) -> impl Iterator<Item = &'a Emission> {
    all.iter().filter(move |e| e.vehicle_id() == id)
}

fn run_to_the_end(model: &mut FleetModel, limit_steps: usize) -> Vec<Emission> {
    let mut all = Vec::new();
    let mut steps = 0;
    while !model.finished() {
        model.step(&mut all);
        steps += 1;
        assert!(steps <= limit_steps, "not finished after {steps} steps");
    }
    all
}

#[test]
fn the_three_cars_scenario_plays_out() {
    let network = city();
    let mut model =
        FleetModel::scripted(network.clone(), &scenario("three-cars.toml"), START_MS).unwrap();
    assert!(!model.finished());
    let all = run_to_the_end(&mut model, 300);
    let truth: HashMap<String, CarTruth> = model
        .truth()
        .into_iter()
        .map(|t| (t.vehicle_id.clone(), t))
        .collect();
    let last = last_fixes(&all);
    for (id, t) in &truth {
        let fix = &last[id];
        assert_eq!(
            (fix.lat, fix.lon),
            (t.lat, t.lon),
            "{id}: the last fix is where the car is"
        );
        assert_eq!(t.speed_kmh, 0.0);
    }

    // car-a: parked, drives a few km, then parks with the ignition off, the last fix just before.
    let a = &truth["car-a"];
    assert!(!a.ignition_on && a.activity == CarActivity::Parked);
    assert!((2_500.0..4_500.0).contains(&a.driven_m), "{}", a.driven_m);
    let a_msgs: Vec<&Emission> = of(&all, "car-a").collect();
    assert!(
        matches!(a_msgs[..2], [Emission::Ignition(i), Emission::Position(p)] if !i.on && p.speed_kmh == 0.0),
        "car-a reports in parked"
    );
    let started = a_msgs.iter().find_map(|e| match e {
        Emission::Ignition(i) if i.on => Some(i.time_ms),
        _ => None,
    });
    let started = started.expect("car-a starts") - START_MS;
    assert!(
        (15_000..=16_000).contains(&started),
        "car-a starts after 15 s: {started}"
    );
    assert!(matches!(a_msgs.last(), Some(Emission::Ignition(i)) if !i.on));
    assert!(matches!(a_msgs[a_msgs.len() - 2], Emission::Position(p) if p.speed_kmh == 0.0));
    let top = of(&all, "car-a")
        .filter_map(Emission::as_position)
        .map(|p| p.speed_kmh)
        .fold(0.0, f64::max);
    assert!((55.0..=60.0).contains(&top), "car-a's top speed {top}");

    // car-b: a gap of 40 s in everything it sends, then it drives on.
    let times: Vec<i64> = of(&all, "car-b").map(Emission::time_ms).collect();
    let gaps: Vec<i64> = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|g| *g > 1_000)
        .collect();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert!((40_000..=42_000).contains(&gaps[0]), "{gaps:?}");
    let b = &truth["car-b"];
    assert!(b.transmitting && !b.ignition_on);
    let gap_end = times
        .windows(2)
        .find(|w| w[1] - w[0] > 1_000)
        .map(|w| w[1])
        .unwrap();
    let drives_on = of(&all, "car-b")
        .filter_map(Emission::as_position)
        .filter(|p| p.time_ms >= gap_end)
        .any(|p| p.speed_kmh > 30.0);
    assert!(drives_on, "car-b drives on after its silence");

    // car-c: idles, then a harsh brake with its clip and a panic-button clip.
    let c_fixes: Vec<&Position> = of(&all, "car-c")
        .filter_map(Emission::as_position)
        .collect();
    assert!(
        c_fixes[..30].iter().all(|p| p.speed_kmh == 0.0),
        "idles first"
    );
    let hardest = c_fixes
        .windows(2)
        .map(|w| w[1].speed_kmh - w[0].speed_kmh)
        .fold(0.0, f64::min);
    assert!(
        hardest <= -16.0,
        "hardest braking {hardest} km/h in a second"
    );
    let triggers: Vec<ClipTrigger> = of(&all, "car-c")
        .filter_map(|e| match e {
            Emission::Clip(c) => Some(c.trigger),
            _ => None,
        })
        .collect();
    assert_eq!(
        triggers,
        [ClipTrigger::HarshBrake, ClipTrigger::PanicButton]
    );
}

#[test]
fn every_event_happens() {
    let mut model = FleetModel::scripted(city(), &scenario("every-event.toml"), START_MS).unwrap();
    let all = run_to_the_end(&mut model, 300);
    let stats = model.stats();
    assert_eq!(
        (
            stats.harsh_brakes,
            stats.harsh_accelerations,
            stats.speeding,
            stats.faults,
            stats.faults_cleared,
            stats.overheats,
            stats.panic_buttons,
            stats.clips
        ),
        (1, 1, 1, 1, 1, 1, 1, 2),
        "{stats:?}"
    );
    let kinds: HashSet<&str> = all.iter().map(Emission::kind).collect();
    assert_eq!(kinds.len(), 5, "{kinds:?}");
    let e: Vec<&Emission> = all.iter().filter(|m| m.vehicle_id() == "car-e").collect();
    let codes: Vec<(bool, Vec<String>)> = e
        .iter()
        .filter_map(|m| match m {
            Emission::TroubleCodes(t) => Some((t.mil_on, t.codes.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(codes, [(true, vec!["P0301".to_string()]), (false, vec![])]);
    let hot: Vec<i64> = e
        .iter()
        .filter_map(|m| m.as_obd())
        .filter(|o| o.coolant_c.is_some_and(|c| c > 110.0))
        .map(|o| o.time_ms)
        .collect();
    assert!(
        (4..=8).contains(&hot.len()),
        "{} slow readings over 110 °C",
        hot.len()
    );
    let switches: Vec<bool> = e
        .iter()
        .filter_map(|m| match m {
            Emission::Ignition(i) => Some(i.on),
            _ => None,
        })
        .collect();
    assert_eq!(switches, [true, false, true, false]);
    let speeds: Vec<f64> = e
        .iter()
        .filter_map(|m| m.as_position())
        .map(|p| p.speed_kmh)
        .collect();
    assert!(speeds.iter().any(|s| *s > 60.0 * 1.15), "speeding");
    let t = &model.truth()[0];
    assert!(!t.ignition_on && t.trouble_codes.is_empty());
    // The last drive (after the last switch on) keeps to max_kmh = 30.
    let last_on = e
        .iter()
        .rposition(|m| matches!(m, Emission::Ignition(i) if i.on))
        .unwrap();
    let last_drive: Vec<f64> = e[last_on..]
        .iter()
        .filter_map(|m| m.as_position())
        .map(|p| p.speed_kmh)
        .collect();
    assert!(last_drive.iter().any(|s| *s > 25.0), "{last_drive:?}");
    assert!(
        last_drive.iter().all(|s| *s <= 30.0 + 1e-9),
        "{last_drive:?}"
    );
    // car-f just idles and is done after a minute.
    let f = &model.truth()[1];
    assert!(f.ignition_on && f.activity == CarActivity::Idling && f.driven_m == 0.0);
}

#[test]
fn scenarios_are_checked_against_the_network() {
    let bad = |text: &str| {
        let s = Scenario::from_toml(text).unwrap();
        FleetModel::scripted(city(), &s, START_MS)
            .unwrap_err()
            .to_string()
    };
    let e = bad("[[car]]\nid = \"x\"\nstart_node = 99999\n");
    assert!(
        e.contains("car 'x': node 99999 is not on the road network"),
        "{e}"
    );
    let e = bad(
        "[[car]]\nid = \"x\"\nstart_node = 1\nactions = [{ drive_to = 5 }, { drive_to = 123456 }]\n",
    );
    assert!(e.contains("node 123456"), "{e}");

    let one_way = Arc::new(
        RoadNetwork::from_json(
            r#"{"nodes":[{"id":0,"lat":48.0,"lon":11.0},{"id":1,"lat":48.001,"lon":11.0}],
                "edges":[{"id":0,"from":0,"to":1,"length_m":111.2,"speed_limit_kmh":30,"class":"residential","name":"A"}]}"#,
        )
        .unwrap(),
    );
    let s = Scenario::from_toml(
        "[[car]]\nid = \"x\"\nstart_node = 0\nactions = [{ drive_to = 1 }, { drive_to = 0 }]\n",
    )
    .unwrap();
    let e = FleetModel::scripted(one_way, &s, START_MS)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no route from node 1 to node 0"), "{e}");
}

#[test]
fn a_car_without_actions_is_finished_at_once_and_stays_put() {
    let s = Scenario::from_toml("[[car]]\nid = \"x\"\nstart_node = 10\nignition = true\n").unwrap();
    let mut model = FleetModel::scripted(city(), &s, START_MS).unwrap();
    assert!(model.finished());
    let out = run(&mut model, 5);
    assert_eq!(out.iter().filter(|e| e.as_position().is_some()).count(), 5);
    let t = &model.truth()[0];
    let node = city().node(10).clone();
    assert!(haversine_m(t.lat, t.lon, node.lat, node.lon) < 1e-6);
}

#[test]
fn longer_fix_intervals_move_the_same_way() {
    let options = ModelOptions {
        fix_interval_ms: 10_000,
        ..ModelOptions::default()
    };
    let network = city();
    let mut model = FleetModel::random(network.clone(), 200, 4, START_MS, options);
    let out = run(&mut model, 120);
    for p in out.iter().filter_map(Emission::as_position) {
        assert!((p.time_ms - START_MS) % 10_000 == 0);
        assert!(network.nearest_edge(p.lat, p.lon).unwrap().1 < 1.0);
    }
    assert!(model.stats().trips > 50);
}
