use instadash_roads::haversine_m;
use instadash_schemas::vehicle::ignition::v1::Ignition;

use super::*;

fn fix(car: usize, time_ms: i64) -> Position {
    Position {
        vehicle_id: format!("car-{car:05}"),
        time_ms,
        lat: 48.137 + car as f64 * 1e-4,
        lon: 11.576,
        speed_kmh: 30.0,
        heading_deg: 90.0,
        altitude_m: Some(520.0),
        accuracy_m: 3.0,
        satellites: 9,
        hdop: Some(1.1),
    }
}

/// One step of `cars` cars, each a fix and an ignition message.
fn step(cars: usize, time_ms: i64) -> Vec<Emission> {
    (0..cars)
        .flat_map(|car| {
            [
                Emission::Position(fix(car, time_ms)),
                Emission::Ignition(Ignition {
                    vehicle_id: format!("car-{car:05}"),
                    time_ms,
                    on: true,
                }),
            ]
        })
        .collect()
}

fn positions(emissions: &[Emission]) -> Vec<&Position> {
    emissions.iter().filter_map(Emission::as_position).collect()
}

#[test]
fn no_noise_changes_nothing() {
    let mut noise = Noise::new(NoiseConfig::default(), 1);
    let mut out = step(50, 1_000);
    noise.apply(&mut out);
    assert_eq!(out, step(50, 1_000));
}

#[test]
fn dropping_everything_lets_no_fix_through() {
    let config = NoiseConfig {
        drop_pct: 100.0,
        ..NoiseConfig::default()
    };
    let mut noise = Noise::new(config, 1);
    for t in 1..=5 {
        let mut out = step(100, t * 1_000);
        noise.apply(&mut out);
        assert!(positions(&out).is_empty());
        assert_eq!(out.len(), 100, "other messages pass");
    }
}

#[test]
fn duplicates_are_exact_copies_right_after_the_original() {
    let config = NoiseConfig {
        duplicate_pct: 30.0,
        ..NoiseConfig::default()
    };
    let mut noise = Noise::new(config, 2);
    let mut out = step(1_000, 1_000);
    noise.apply(&mut out);
    let fixes = positions(&out);
    let twins = fixes.windows(2).filter(|w| w[0] == w[1]).count();
    assert!((200..400).contains(&twins), "{twins} duplicates of 1000");
    assert_eq!(fixes.len(), 1_000 + twins);
    let mut unique: Vec<&Position> = fixes.clone();
    unique.dedup();
    assert_eq!(
        unique.len(),
        1_000,
        "every fix still there, once or twice in a row"
    );
}

#[test]
fn reordered_fixes_arrive_exactly_one_step_late() {
    let config = NoiseConfig {
        reorder_pct: 20.0,
        ..NoiseConfig::default()
    };
    let mut noise = Noise::new(config, 3);
    let mut late_seen = 0;
    let mut held_back = 0;
    for t in 1..=20_i64 {
        let now = t * 1_000;
        let mut out = step(200, now);
        noise.apply(&mut out);
        let fixes = positions(&out);
        held_back += 200 - fixes.iter().filter(|p| p.time_ms == now).count();
        for (i, p) in fixes.iter().enumerate() {
            if p.time_ms != now {
                late_seen += 1;
                assert_eq!(p.time_ms, now - 1_000, "late by exactly one step");
                // Right after the same car's fix of this step, unless that one is held too.
                if i > 0 && fixes[i - 1].vehicle_id == p.vehicle_id {
                    assert_eq!(fixes[i - 1].time_ms, now);
                }
            }
        }
    }
    let mut last = Vec::new();
    noise.apply(&mut last);
    late_seen += positions(&last).len();
    assert_eq!(late_seen, held_back, "every held fix arrives");
    assert!(
        (500..1_100).contains(&held_back),
        "{held_back} of 4000 held back"
    );
}

#[test]
fn a_late_fix_still_arrives_when_its_car_goes_quiet() {
    let config = NoiseConfig {
        reorder_pct: 100.0,
        ..NoiseConfig::default()
    };
    let mut noise = Noise::new(config, 4);
    let mut out = step(3, 1_000);
    noise.apply(&mut out);
    assert!(positions(&out).is_empty());
    let mut next = Vec::new();
    noise.apply(&mut next);
    let times: Vec<i64> = positions(&next).iter().map(|p| p.time_ms).collect();
    assert_eq!(times, vec![1_000; 3]);
    let ids: Vec<&str> = next.iter().map(Emission::vehicle_id).collect();
    assert_eq!(ids, ["car-00000", "car-00001", "car-00002"]);
}

#[test]
fn jitter_is_a_few_metres_and_bounded() {
    let sigma = 4.0;
    let config = NoiseConfig {
        jitter_m: sigma,
        ..NoiseConfig::default()
    };
    let mut noise = Noise::new(config, 5);
    let clean = step(5_000, 1_000);
    let mut out = clean.clone();
    noise.apply(&mut out);
    let (mut sum_sq_north, mut n) = (0.0, 0.0);
    for (a, b) in positions(&clean).iter().zip(positions(&out)) {
        let d = haversine_m(a.lat, a.lon, b.lat, b.lon);
        assert!(d <= sigma * JITTER_CLIP_SIGMA * 2f64.sqrt() + 1e-6, "{d} m");
        let north = (b.lat - a.lat) * M_PER_DEG_LAT;
        sum_sq_north += north * north;
        n += 1.0;
        assert_eq!(
            (a.speed_kmh, a.time_ms),
            (b.speed_kmh, b.time_ms),
            "only the position moves"
        );
    }
    let std_north = (sum_sq_north / n).sqrt();
    assert!((std_north - sigma).abs() < 0.3, "sigma {std_north}");
}

#[test]
fn the_same_seed_gives_the_same_noise() {
    let run = |seed| {
        let mut noise = Noise::new(NoiseConfig::realistic(), seed);
        let mut all = Vec::new();
        for t in 1..=10 {
            let mut out = step(100, t * 1_000);
            noise.apply(&mut out);
            all.extend(out);
        }
        all
    };
    assert_eq!(run(9), run(9));
    assert_ne!(run(9), run(10));
}
