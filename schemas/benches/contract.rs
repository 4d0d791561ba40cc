//! Per-message cost of decoding a vehicle position, the highest-rate message on the bus.
//!
//! (a) JSON: parse to a `Value`, validate with the compiled JSON Schema, deserialize the binding.
//! (b) Avro written with v2, read by a v1 binding: the codec's projection (v2 only adds an optional
//!     field), and for comparison apache-avro's generic resolution through its `Value`.
//! (c) Avro, same version (schema-aware deserializer, no resolution).
//! Encoding is measured too, for context. Schemas and validators are prepared once, outside the loop.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use instadash_schemas::codec::json_validator;
use instadash_schemas::vehicle::position::{v1, v2};
use instadash_schemas::{AvroCodec, Contract, JsonCodec, Message};

fn decode(c: &mut Criterion) {
    let fix = v2::Position::example();
    let json_v1 = JsonCodec::<v1::Position>::new().unwrap();
    let json_bytes = serde_json::to_vec(&fix).unwrap();
    let validator = json_validator(v2::Position::TYPE, 2).unwrap();
    let avro_v1 = AvroCodec::<v1::Position>::new().unwrap();
    let avro_v2 = AvroCodec::<v2::Position>::new().unwrap();
    let avro_bytes = avro_v2.encode(&fix).unwrap();
    let fingerprint = avro_v2.fingerprint().to_owned();
    println!(
        "payload: JSON {} bytes, Avro {} bytes",
        json_bytes.len(),
        avro_bytes.len()
    );

    let mut group = c.benchmark_group("position");
    group.throughput(Throughput::Elements(1));

    group.bench_function("json/parse+validate+deserialize (a)", |b| {
        b.iter(|| json_v1.decode_version(black_box(&json_bytes), 2).unwrap())
    });
    group.bench_function("json/parse only", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&json_bytes)).unwrap())
    });
    group.bench_function("json/parse+validate", |b| {
        b.iter(|| {
            let value: serde_json::Value = serde_json::from_slice(black_box(&json_bytes)).unwrap();
            assert!(validator.is_valid(&value));
        })
    });
    group.bench_function("avro/decode v2 -> v1, resolved (b)", |b| {
        b.iter(|| {
            avro_v1
                .decode(black_box(&avro_bytes), &fingerprint)
                .unwrap()
        })
    });
    let generic_v1 = AvroCodec::<v1::Position>::with_generic_resolution().unwrap();
    group.bench_function("avro/decode v2 -> v1, generic Value resolution", |b| {
        b.iter(|| {
            generic_v1
                .decode(black_box(&avro_bytes), &fingerprint)
                .unwrap()
        })
    });
    group.bench_function("avro/decode v2 -> v2, same version (c)", |b| {
        b.iter(|| {
            avro_v2
                .decode(black_box(&avro_bytes), &fingerprint)
                .unwrap()
        })
    });
    group.bench_function("json/encode", |b| {
        b.iter(|| serde_json::to_vec(black_box(&fix)).unwrap())
    });
    group.bench_function("avro/encode", |b| {
        b.iter(|| avro_v2.encode(black_box(&fix)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
