//! What the fleet model costs: one step (one fix interval) of 10,000 random cars, and the noise
//! stage over its messages. Divide by 10,000 for the cost per car per step.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use instadash_roads::RoadNetwork;
use instadash_simulator::{FleetModel, ModelOptions, Noise, NoiseConfig};

const CARS: usize = 10_000;
const START_MS: i64 = 1_800_000_000_000;

fn warmed_up_fleet() -> FleetModel {
    let mut model = FleetModel::random(
        RoadNetwork::city(),
        CARS,
        42,
        START_MS,
        ModelOptions::default(),
    );
    // Ten minutes in, so cars are spread over parking, idling and driving.
    let mut out = Vec::new();
    for _ in 0..600 {
        out.clear();
        model.step(&mut out);
    }
    model
}

fn step(c: &mut Criterion) {
    let mut model = warmed_up_fleet();
    let mut out = Vec::with_capacity(4 * CARS);
    let mut group = c.benchmark_group("fleet");
    group.throughput(Throughput::Elements(CARS as u64));
    group.bench_function("step 10k cars", |b| {
        b.iter(|| {
            out.clear();
            model.step(&mut out);
            black_box(out.len())
        })
    });
    let mut noise = Noise::new(NoiseConfig::realistic(), 7);
    group.bench_function("step 10k cars + realistic noise", |b| {
        b.iter(|| {
            out.clear();
            model.step(&mut out);
            noise.apply(&mut out);
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, step);
criterion_main!(benches);
