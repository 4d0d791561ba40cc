//! The simulator's scripted scenarios through the tracker's rules into the alerts engine, without
//! a broker: realistic telemetry (the simulator's physics, OBD polling, ignition messages, the
//! tracker's silence detection) must give exactly the alerts the script asks for, each raised and
//! cleared at the moment the script explains. (`bus.rs` runs a scenario on the real broker.)

use std::collections::BTreeMap;
use std::path::Path;

use instadash_alerts::{AlertEvent, Alerts, AlertsConfig, alert_type_name};
use instadash_roads::RoadNetwork;
use instadash_simulator::{Emission, FleetModel, Harsh, Noise, NoiseConfig, Scenario};
use instadash_tracker::{Config as TrackerConfig, Fleet};

/// A fixed start, so that every time below is exact: 2026-11-03T08:00:00Z.
const START_MS: i64 = 1_793_692_800_000;

fn scenario(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../simulator/scenarios")
        .join(name);
    Scenario::load(&path).expect("the scenario loads")
}

/// What a run produced: the alert events, and the harsh manoeuvres the model really made.
struct Run {
    events: Vec<AlertEvent>,
    harsh: Vec<(String, Harsh, i64)>,
}

/// Runs a scenario to its end and `extra_s` beyond: every message to the tracker and the alerts
/// as it is emitted (through `noise` if given), the tracker's status changes to the alerts too,
/// silence checked (10 s) and momentary alerts expired every step.
fn run(scenario: &Scenario, config: AlertsConfig, noise: Option<Noise>, extra_s: i64) -> Run {
    let mut model = FleetModel::scripted(RoadNetwork::city(), scenario, START_MS).expect("valid");
    let mut noise = noise;
    let mut tracker = Fleet::new(TrackerConfig {
        unknown_after_ms: 10_000,
        ..TrackerConfig::default()
    });
    let mut alerts = Alerts::new(config).expect("valid");
    let (mut events, mut harsh, mut emitted) = (Vec::new(), Vec::new(), Vec::new());
    let mut end_ms = None;
    while end_ms.is_none_or(|end| model.now_ms() < end) {
        if end_ms.is_none() && model.finished() {
            end_ms = Some(model.now_ms() + extra_s * 1000);
        }
        emitted.clear();
        model.step(&mut emitted);
        if let Some(noise) = &mut noise {
            noise.apply(&mut emitted);
        }
        for emission in &emitted {
            let t = emission.time_ms();
            let (changes, applied) = match emission {
                Emission::Position(m) => (tracker.on_position(m, t), alerts.on_position(m)),
                Emission::Obd(m) => (tracker.on_obd(m, t), alerts.on_obd(m)),
                Emission::TroubleCodes(m) => {
                    (tracker.on_trouble_codes(m, t), alerts.on_trouble_codes(m))
                }
                Emission::Ignition(m) => (tracker.on_ignition(m, t), alerts.on_ignition(m)),
                Emission::Clip(_) => continue,
            };
            events.extend(applied.events);
            for change in changes.changes {
                events.extend(alerts.on_status_changed(&change).events);
            }
        }
        for change in tracker.check_silence(model.now_ms()) {
            events.extend(alerts.on_status_changed(&change).events);
        }
        events.extend(alerts.expire(model.now_ms()));
        for truth in model.truth() {
            if let Some(manoeuvre) = truth.harsh {
                harsh.push((truth.vehicle_id, manoeuvre, model.now_ms()));
            }
        }
    }
    Run { events, harsh }
}

/// `car-e +37s raised overspeed "72 km/h in a 60 zone for 10 s"`, `car-e +51s cleared overspeed
/// ConditionEnded`: seconds from the start.
fn describe(event: &AlertEvent) -> String {
    match event {
        AlertEvent::Raised(r) => format!(
            "{} +{}s raised {} {:?}",
            r.vehicle_id,
            (r.raised_at_ms - START_MS) / 1000,
            alert_type_name(r.alert_type),
            r.message
        ),
        AlertEvent::Cleared(c) => format!(
            "{} +{}s cleared {} {:?}",
            c.vehicle_id,
            (c.cleared_at_ms - START_MS) / 1000,
            alert_type_name(c.alert_type),
            c.reason
        ),
        AlertEvent::Acknowledged(a) => format!("{} acknowledged", a.alert_id),
    }
}

/// The alert settings that go with the `every-event` scenario: geofences on car-e's way (a circle
/// around junction 443 of the arterial it speeds on, a square around junction 511, where it
/// parks at the end) and a 30 s idling limit.
fn every_event_alerts() -> AlertsConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../simulator/scenarios/every-event.alerts.toml");
    AlertsConfig::load(&path).expect("the scenario's alert settings load")
}

#[test]
fn every_event_gives_every_alert_at_the_right_moment() {
    let mut config = every_event_alerts();
    // car-f idles for 60 s: an alert after 30 s. Momentary alerts expire after a minute.
    config.thresholds.expire_after_s = 60.0;
    let run = run(&scenario("every-event.toml"), config, None, 120);
    let got: Vec<String> = run.events.iter().map(describe).collect();
    let expected = [
        // car-e: ignition on at +1, idles 10 s, pulls away hard at once.
        r#"car-e +12s raised harsh_acceleration "Harsh acceleration from 0 to 15 km/h in 1.0 s (0.43 g)""#,
        // car-f stands with its engine running from the start; the first rpm reading (+1) is
        // the evidence, the next fix (+2) starts the count, more than 30 s later it is idling.
        // Its script ends with the engine running, so the alert stays.
        r#"car-f +33s raised idling "Idling for 31 s""#,
        // car-e speeds, 20 % over, from 15 s into the drive (+26) for 20 s; 10 s at 63 km/h or
        // more, then back at the limit from +48, 3 s later it is over.
        r#"car-e +37s raised overspeed "72 km/h in a 60 zone for 10 s""#,
        r#"car-e +51s cleared overspeed ConditionEnded"#,
        // It brakes hard 30 s after the speeding began, gets a misfire 5 s later (the OBD poll of
        // that second saw the lamp and the count before the code list came) ...
        r#"car-e +57s raised harsh_braking "Harsh braking from 60 to 40 km/h in 1.0 s (0.56 g)""#,
        r#"car-e +61s raised engine_fault "Engine fault: 1 stored trouble code (malfunction lamp on)""#,
        r#"car-e +72s cleared harsh_acceleration Expired"#,
        // ... passes junction 443, 1.1 km down the arterial ...
        r#"car-e +75s raised geofence_enter "Entered Junction 443""#,
        // ... overheats from 5 s after the misfire (past 110 °C about 13 s later, the next
        // coolant poll sees it) ...
        r#"car-e +81s raised coolant_over_temperature "Coolant at 114 °C (over 110 °C)""#,
        r#"car-e +85s cleared geofence_enter ConditionEnded"#,
        r#"car-e +85s raised geofence_exit "Left Junction 443""#,
        r#"car-e +117s cleared harsh_braking Expired"#,
        // ... cools down below 105 °C ...
        r#"car-e +121s cleared coolant_over_temperature ConditionEnded"#,
        r#"car-e +145s cleared geofence_exit Expired"#,
        // ... parks 20 s, clears its codes, idles 10 s, is silent 20 s (unknown after 10 s) ...
        r#"car-e +153s cleared engine_fault ConditionEnded"#,
        r#"car-e +193s raised vehicle_silent "Silent for 11 s""#,
        r#"car-e +203s cleared vehicle_silent ConditionEnded"#,
        // ... and drives a few blocks at 30 to junction 511, into the yard, and parks there.
        r#"car-e +253s raised geofence_enter "Entered Home yard""#,
        r#"car-e +313s cleared geofence_enter Expired"#,
    ];
    assert_eq!(got, expected, "\n{}", got.join("\n"));

    // The harsh alerts are the model's own harsh manoeuvres, at the fix that showed them.
    let raised_harsh: Vec<(String, Harsh, i64)> = run
        .events
        .iter()
        .filter_map(AlertEvent::as_raised)
        .filter_map(|r| {
            let kind = match r.alert_type {
                instadash_schemas::alert::AlertType::HarshBraking => Harsh::Braking,
                instadash_schemas::alert::AlertType::HarshAcceleration => Harsh::Acceleration,
                _ => return None,
            };
            Some((r.vehicle_id.clone(), kind, r.raised_at_ms))
        })
        .collect();
    let mut first_of_each = run.harsh.clone();
    // One manoeuvre may last several steps: its first step is the alert.
    first_of_each.dedup_by(|later, earlier| {
        later.0 == earlier.0 && later.1 == earlier.1 && later.2 - earlier.2 <= 1000
    });
    assert_eq!(raised_harsh, first_of_each);
}

#[test]
fn three_cars_give_one_harsh_brake_and_one_silence() {
    let run = run(
        &scenario("three-cars.toml"),
        AlertsConfig::default(),
        None,
        0,
    );
    let got: Vec<String> = run.events.iter().map(describe).collect();
    let expected = [
        // car-c idles 30 s (not 5 min), drives, brakes hard 40 s into the drive.
        r#"car-c +72s raised harsh_braking "Harsh braking from 60 to 40 km/h in 1.0 s (0.56 g)""#,
        // car-b is silent for 40 s after its first drive: unknown after 10 s.
        r#"car-b +116s raised vehicle_silent "Silent for 11 s""#,
        r#"car-b +146s cleared vehicle_silent ConditionEnded"#,
    ];
    assert_eq!(got, expected, "\n{}", got.join("\n"));
}

/// With GPS jitter, dropped, duplicated and late fixes, nothing is raised that the clean run did
/// not raise, nothing twice, and what is raised or cleared is at most 2 s off (a dropped fix may
/// delay a decision, or hide a harsh manoeuvre altogether).
#[test]
fn network_and_gps_noise_raise_nothing_false() {
    let mut config = every_event_alerts();
    config.thresholds.expire_after_s = 60.0;
    let scenario = scenario("every-event.toml");
    let key = |e: &AlertEvent| {
        let step = if e.as_raised().is_some() {
            "raised"
        } else {
            "cleared"
        };
        (
            e.vehicle_id().to_owned(),
            alert_type_name(e.alert_type()),
            step,
        )
    };
    let time = |e: &AlertEvent| match e {
        AlertEvent::Raised(r) => r.raised_at_ms,
        AlertEvent::Cleared(c) => c.cleared_at_ms,
        AlertEvent::Acknowledged(a) => a.acknowledged_at_ms,
    };
    let clean: BTreeMap<_, Vec<i64>> = run(&scenario, config.clone(), None, 120)
        .events
        .iter()
        .fold(BTreeMap::new(), |mut m, e| {
            m.entry(key(e)).or_default().push(time(e));
            m
        });
    // Noisier than real life, so every kind of noise happens many times.
    let noise = NoiseConfig {
        jitter_m: 5.0,
        drop_pct: 5.0,
        duplicate_pct: 5.0,
        reorder_pct: 5.0,
    };
    let mut found = 0;
    for seed in 1..=5 {
        let noisy = run(
            &scenario,
            config.clone(),
            Some(Noise::new(noise.clone(), seed)),
            120,
        );
        let mut seen: BTreeMap<_, Vec<i64>> = BTreeMap::new();
        for event in &noisy.events {
            seen.entry(key(event)).or_default().push(time(event));
        }
        for (what, times) in &seen {
            let expected = clean
                .get(what)
                .unwrap_or_else(|| panic!("seed {seed}: {what:?} was not in the clean run"));
            assert!(
                times.len() <= expected.len(),
                "seed {seed}: {what:?} {times:?}, clean {expected:?}"
            );
            for t in times {
                assert!(
                    expected.iter().any(|e| (t - e).abs() <= 2_000),
                    "seed {seed}: {what:?} at {t}, clean at {expected:?}"
                );
            }
            found += times.len();
        }
    }
    let all: usize = clean.values().map(Vec::len).sum();
    assert!(
        found * 10 >= all * 5 * 8,
        "most alerts survive the noise: {found} of {}",
        all * 5
    );
}
