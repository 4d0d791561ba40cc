//! The tracker's state at fleet scale: 10,000 vehicles.
//!
//! The budget: 20,000 updates per second must be a small share of one core, so an update of a
//! known vehicle should take well under a microsecond. Queries (`nearest`, `list`) and the
//! periodic silence check scan or page the fleet and are measured for context.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use instadash_schemas::vehicle::VehicleStatus;
use instadash_schemas::vehicle::find_nearest::v1::FindNearest;
use instadash_schemas::vehicle::list_vehicles::v1::ListVehicles;
use instadash_schemas::vehicle::position::v2::Position;
use instadash_tracker::{Config, Fleet, snapshot};

const VEHICLES: usize = 10_000;
const T0: i64 = 1_760_000_000_000;

/// One fix per vehicle, scattered over about 30 × 30 km.
fn first_fixes() -> Vec<Position> {
    (0..VEHICLES)
        .map(|i| Position {
            vehicle_id: format!("car-{i:05}"),
            time_ms: T0,
            lat: 48.0 + (i % 100) as f64 * 0.003,
            lon: 11.4 + (i / 100) as f64 * 0.004,
            speed_kmh: if i % 3 == 0 { 0.0 } else { 40.0 },
            heading_deg: 90.0,
            altitude_m: None,
            accuracy_m: 4.0,
            satellites: 9,
            hdop: None,
        })
        .collect()
}

fn fleet_of(fixes: &[Position]) -> Fleet {
    let mut fleet = Fleet::new(Config::default());
    for fix in fixes {
        fleet.on_position(fix, fix.time_ms);
    }
    fleet
}

fn updates(c: &mut Criterion) {
    let mut fixes = first_fixes();
    let mut fleet = fleet_of(&fixes);
    let mut group = c.benchmark_group("update");
    group.throughput(Throughput::Elements(1));

    // Round robin over the fleet, each fix a second newer and a little further east: the
    // steady state of a tracker (known vehicle, accepted, odometer grows, no status change).
    let mut next = 0;
    group.bench_function("on_position/accepted", |b| {
        b.iter(|| {
            let fix = &mut fixes[next];
            next = (next + 1) % VEHICLES;
            fix.time_ms += 1_000;
            fix.lon += 1e-5;
            black_box(fleet.on_position(black_box(fix), fix.time_ms))
        })
    });
    group.bench_function("on_position/duplicate", |b| {
        b.iter(|| {
            let fix = &fixes[next];
            next = (next + 1) % VEHICLES;
            black_box(fleet.on_position(black_box(fix), fix.time_ms))
        })
    });
    group.finish();
}

fn queries(c: &mut Criterion) {
    let fixes = first_fixes();
    let mut fleet = fleet_of(&fixes);
    // A quarter of the fleet silent, so filters have something to do.
    for fix in fixes.iter().step_by(4) {
        let mut later = fix.clone();
        later.time_ms += 1;
        fleet.on_position(&later, T0 - 700_000);
    }
    fleet.check_silence(T0);
    let mut group = c.benchmark_group("query 10k vehicles");

    let near = |limit, statuses| FindNearest {
        lat: 48.15,
        lon: 11.6,
        limit: Some(limit),
        max_distance_m: None,
        statuses,
    };
    group.bench_function("nearest/limit 10", |b| {
        b.iter(|| fleet.nearest(black_box(&near(10, None))))
    });
    group.bench_function("nearest/limit 1000 online", |b| {
        b.iter(|| fleet.nearest(black_box(&near(1_000, Some(vec![VehicleStatus::Online])))))
    });
    group.bench_function("list/page of 100 after the middle", |b| {
        let request = ListVehicles {
            statuses: Some(vec![VehicleStatus::Online]),
            limit: Some(100),
            after: Some("car-05000".into()),
        };
        b.iter(|| fleet.list(black_box(&request)))
    });
    group.bench_function("check_silence/nothing to report", |b| {
        b.iter(|| fleet.check_silence(black_box(T0 + 1)))
    });
    group.bench_function("snapshot to JSON", |b| {
        b.iter(|| serde_json::to_vec(&fleet.snapshot()).unwrap())
    });
    group.bench_function("restore from JSON", |b| {
        let json = serde_json::to_vec(&fleet.snapshot()).unwrap();
        b.iter_batched(
            || json.clone(),
            |json| {
                let snapshot: snapshot::Snapshot = serde_json::from_slice(&json).unwrap();
                Fleet::restore(Config::default(), snapshot)
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, updates, queries);
criterion_main!(benches);
