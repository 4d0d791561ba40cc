//! What the span log costs per message (`cargo bench -p broker-bridge --features bench --bench
//! span_log`): recording a publish span and a handle span into a full ring of the default size,
//! beside what every publish already cost before (a new envelope and its trace context).

use std::hint::black_box;

use broker_bridge::bench::span_log::{Recorder, stamped};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn record(c: &mut Criterion) {
    let recorder = Recorder::new(20_000);
    assert_eq!(recorder.len(), 20_000);
    let mut group = c.benchmark_group("span_log");
    group.throughput(Throughput::Elements(1));
    group.bench_function("record publish (event)", |b| {
        b.iter(|| recorder.record_publish())
    });
    group.bench_function("record publish (command, routing key kept)", |b| {
        b.iter(|| recorder.record_command())
    });
    group.bench_function("record handle (clock read included)", |b| {
        b.iter(|| recorder.record_handle())
    });
    // The same ring, small enough to stay in cache: what the lock and the copying cost alone.
    let small = Recorder::new(64);
    group.bench_function("record publish (event, ring of 64)", |b| {
        b.iter(|| small.record_publish())
    });
    group.bench_function("baseline: envelope + trace context", |b| {
        b.iter(|| black_box(stamped()))
    });
    group.finish();
}

criterion_group!(benches, record);
criterion_main!(benches);
