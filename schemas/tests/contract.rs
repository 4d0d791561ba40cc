//! The bindings against their schema files, and the evolution promise: a v1 reader accepts v2
//! payloads (JSON and Avro), a v2 reader accepts v1 payloads.

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use instadash_schemas::codec::json_validator;
use instadash_schemas::vehicle::obd_reading::v1::ObdReading;
use instadash_schemas::vehicle::position::{v1, v2};
use instadash_schemas::{
    AvroCodec, Catalog, CodecError, Contract, Encoding, JsonCodec, Message, avro_fingerprint,
    binding, bindings, dataschema, dataschema_of, parse_dataschema,
};

fn schema_of<T: Contract>(version: u32) -> Schema {
    let text = T::AVRO_SCHEMAS
        .iter()
        .find(|(v, _)| *v == version)
        .unwrap()
        .1;
    Schema::parse_str(text).unwrap()
}

#[test]
fn every_binding_round_trips_through_its_embedded_schemas() {
    for b in bindings() {
        let what = format!("{} v{}", b.type_(), b.version());
        let schema: serde_json::Value = serde_json::from_str(b.json_schema().unwrap()).unwrap();
        assert_eq!(schema["$id"], dataschema(b.type_(), b.version()), "{what}");
        let validator = json_validator(b.type_(), b.version()).unwrap();
        b.round_trip_json(validator)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        if b.encodings().contains(&Encoding::Avro) {
            let text = b
                .avro_schemas()
                .iter()
                .find(|(v, _)| *v == b.version())
                .unwrap()
                .1;
            b.round_trip_avro(&Schema::parse_str(text).unwrap())
                .unwrap_or_else(|e| panic!("{what}: {e}"));
        }
        let spec = Catalog::embedded()
            .get(b.type_())
            .unwrap_or_else(|| panic!("{what} is not in the catalog"));
        assert!(spec.versions.contains(&b.version()), "{what}");
    }
}

fn send_and_sync<T: Send + Sync>() {}

#[test]
fn codecs_can_be_shared_between_tasks() {
    send_and_sync::<AvroCodec<v1::Position>>();
    send_and_sync::<JsonCodec<v1::Position>>();
}

#[test]
fn the_codecs_round_trip_typed_values() {
    let json = JsonCodec::<v2::Position>::new().unwrap();
    let fix = v2::Position::example();
    assert_eq!(json.decode(&json.encode(&fix).unwrap()).unwrap(), fix);

    let avro = AvroCodec::<v2::Position>::new().unwrap();
    let bytes = avro.encode(&fix).unwrap();
    assert_eq!(avro.decode(&bytes, avro.fingerprint()).unwrap(), fix);
    assert!(
        bytes.len() < 80,
        "an Avro fix is compact: {} bytes",
        bytes.len()
    );

    let obd = AvroCodec::<ObdReading>::new().unwrap();
    let reading = ObdReading::example();
    assert_eq!(
        obd.decode(&obd.encode(&reading).unwrap(), obd.fingerprint())
            .unwrap(),
        reading
    );
}

#[test]
fn a_v1_reader_accepts_a_v2_json_payload() {
    let payload = serde_json::to_vec(&v2::Position::example()).unwrap();
    // Valid under both versions' schemas: v1 leaves objects open, so the extra `hdop` is fine.
    let value: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert!(
        json_validator(v2::Position::TYPE, 2)
            .unwrap()
            .is_valid(&value)
    );
    assert!(
        json_validator(v1::Position::TYPE, 1)
            .unwrap()
            .is_valid(&value)
    );

    let codec = JsonCodec::<v1::Position>::new().unwrap();
    let read = codec.decode_version(&payload, 2).unwrap();
    assert_eq!(read, v1::Position::example());
    assert_eq!(codec.decode(&payload).unwrap(), v1::Position::example());

    // And the other way round: v2 reads v1, with `hdop` absent.
    let old = serde_json::to_vec(&v1::Position::example()).unwrap();
    let read = JsonCodec::<v2::Position>::new()
        .unwrap()
        .decode_version(&old, 1)
        .unwrap();
    assert_eq!(read, v2::Position::from(v1::Position::example()));
}

#[test]
fn a_v1_reader_accepts_a_v2_avro_payload() {
    let (writer, reader) = (schema_of::<v2::Position>(2), schema_of::<v1::Position>(1));
    let codec_v2 = AvroCodec::<v2::Position>::new().unwrap();
    let bytes = codec_v2.encode(&v2::Position::example()).unwrap();

    // By hand: decode with the writer's schema, resolve to the reader's, then deserialize.
    let value = GenericDatumReader::builder(&writer)
        .reader_schema(&reader)
        .build()
        .unwrap()
        .read_value(&mut bytes.as_slice())
        .unwrap();
    let read: v1::Position = apache_avro::from_value(&value).unwrap();
    assert_eq!(read, v1::Position::example());

    // Through the codec, which picks the writer schema by the fingerprint header.
    let codec_v1 = AvroCodec::<v1::Position>::new().unwrap();
    assert_eq!(
        codec_v1.decode(&bytes, codec_v2.fingerprint()).unwrap(),
        v1::Position::example()
    );

    // The codec reads v2 into v1 by projection (serde skips `hdop`); apache-avro's generic
    // resolution gives the same value.
    assert_eq!(codec_v1.resolves_through_value(2), Some(false));
    let generic = AvroCodec::<v1::Position>::with_generic_resolution().unwrap();
    assert_eq!(generic.resolves_through_value(2), Some(true));
    assert_eq!(
        generic.decode(&bytes, codec_v2.fingerprint()).unwrap(),
        v1::Position::example()
    );

    // And v2 reads v1 data, `hdop` taking its default.
    let old = codec_v1.encode(&v1::Position::example()).unwrap();
    let read = codec_v2.decode(&old, codec_v1.fingerprint()).unwrap();
    assert_eq!(read, v2::Position::from(v1::Position::example()));
    assert_eq!(codec_v2.decode_version(&old, 1).unwrap().hdop, None);
    let generic = AvroCodec::<v2::Position>::with_generic_resolution().unwrap();
    assert_eq!(
        generic.decode(&old, codec_v1.fingerprint()).unwrap(),
        v2::Position::from(v1::Position::example())
    );
}

#[test]
fn fingerprints_name_the_writer_schema() {
    let f1 = avro_fingerprint(&schema_of::<v1::Position>(1));
    let f2 = avro_fingerprint(&schema_of::<v2::Position>(2));
    for f in [&f1, &f2] {
        assert_eq!(f.len(), 16, "{f}");
        assert!(
            f.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
            "{f}"
        );
    }
    assert_ne!(f1, f2);
    assert_eq!(AvroCodec::<v1::Position>::new().unwrap().fingerprint(), f1);
    // Pinned: a fingerprint only changes when the schema's canonical form does, i.e. a wire change.
    assert_eq!(
        f1, FINGERPRINT_POSITION_V1,
        "position v1's canonical form changed"
    );
    assert_eq!(
        f2, FINGERPRINT_POSITION_V2,
        "position v2's canonical form changed"
    );

    let codec = AvroCodec::<v1::Position>::new().unwrap();
    let err = codec.decode(&[0], "0000000000000000").unwrap_err();
    assert!(
        matches!(err, CodecError::UnknownFingerprint { .. }),
        "{err}"
    );
}

// Computed independently (a Python transcription of the specification's Parsing Canonical Form
// and CRC-64-AVRO), so they are what Java or Python clients compute for the same files.
const FINGERPRINT_POSITION_V1: &str = "99f9ae200a38d087";
const FINGERPRINT_POSITION_V2: &str = "2c5420bad6b57d72";

#[test]
fn invalid_payloads_are_rejected_with_a_pointer() {
    let codec = JsonCodec::<v1::Position>::new().unwrap();
    let mut fix = serde_json::to_value(v1::Position::example()).unwrap();
    fix["lat"] = serde_json::json!(123.0);
    let err = codec
        .decode(&serde_json::to_vec(&fix).unwrap())
        .unwrap_err();
    match &err {
        CodecError::Invalid {
            schema,
            pointer,
            check,
            ..
        } => {
            assert_eq!(pointer, "/lat");
            assert_eq!(check, "maximum");
            assert_eq!(schema, "urn:instadash:schema:instadash.vehicle.position:v1");
        }
        other => panic!("{other}"),
    }
    assert!(matches!(
        codec.decode(b"{not json").unwrap_err(),
        CodecError::NotJson(_)
    ));
    let unknown = codec.decode_version(b"{}", 9).unwrap_err();
    assert_eq!(
        unknown.to_string(),
        "instadash.vehicle.position v9 has no JSON Schema"
    );
    // Avro bytes that do not match the claimed writer schema.
    let avro = AvroCodec::<v1::Position>::new().unwrap();
    let mut bytes = avro.encode(&v1::Position::example()).unwrap();
    bytes.push(0);
    assert!(avro.decode(&bytes, avro.fingerprint()).is_err());
}

#[test]
fn dataschemas_and_routing_come_from_the_contract() {
    assert_eq!(
        dataschema_of::<v2::Position>(),
        "urn:instadash:schema:instadash.vehicle.position:v2"
    );
    assert_eq!(
        parse_dataschema(&dataschema_of::<ObdReading>()),
        Some(("instadash.vehicle.obd-reading", 1))
    );
    let b = binding("instadash.vehicle.position", 2).unwrap();
    assert_eq!(b.rust_name(), "Position");

    let spec = Catalog::embedded().get(v2::Position::TYPE).unwrap();
    let fix = v2::Position::example();
    assert_eq!(
        spec.routing_key_for(fix.subject().as_deref(), None),
        "instadash.vehicle.position.car-0042"
    );
    assert_eq!(spec.default_encoding(), v2::Position::ENCODINGS[0]);
    assert_eq!(Encoding::Avro.content_type(), "application/avro");
}

/// The bridge sends discovery messages with types of its own (it cannot depend on this crate);
/// their JSON must be exactly what the platform schemas describe.
#[test]
fn the_bridges_discovery_messages_follow_their_schemas() {
    use broker_bridge::discovery::{
        Announcement, DirectoryPing, Goodbye, GoodbyeReason, Health, Heartbeat, HeartbeatLink,
        Offers, TypeVersions,
    };
    use instadash_schemas::platform;

    let offers = Offers {
        consumes: vec![TypeVersions {
            type_: "instadash.vehicle.position".into(),
            versions: vec![1, 2],
        }],
        produces: vec![TypeVersions {
            type_: "instadash.vehicle.status-changed".into(),
            versions: vec![1],
        }],
        commands: vec![],
        requests: vec![TypeVersions {
            type_: "instadash.vehicle.get-state".into(),
            versions: vec![1],
        }],
        work_queues: vec!["dashcam-clips".into()],
    };
    let check = |kind: &str, value: serde_json::Value| {
        let validator = json_validator(kind, 1).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{kind}: {errors:?} in {value}");
        value
    };
    let announced = check(
        Announcement::TYPE,
        serde_json::to_value(Announcement {
            service: "tracker".into(),
            instance: "01a2014c-efe3-7651-8879-74c559175d3c".into(),
            version: "2.0.0".into(),
            host: "fleet-node-2".into(),
            pid: 4711,
            started_at_ms: 1_793_693_730_250,
            offers,
            heartbeat_interval_s: Some(2),
        })
        .unwrap(),
    );
    let binding: platform::service_announced::v1::ServiceAnnounced =
        serde_json::from_value(announced.clone()).unwrap();
    assert_eq!(serde_json::to_value(binding).unwrap(), announced);
    check(
        Heartbeat::TYPE,
        serde_json::to_value(Heartbeat {
            service: "tracker".into(),
            instance: "01a2014c-efe3-7651-8879-74c559175d3c".into(),
            time_ms: 1_793_693_730_250,
            interval_s: 2,
            uptime_s: 60,
            health: Health::Ok,
            link: HeartbeatLink::Connected,
            in_flight: 0,
            messages_in: 10,
            messages_out: 3,
            errors: 0,
            cpu_pct: None,
            rss_bytes: None,
        })
        .unwrap(),
    );
    check(
        Goodbye::TYPE,
        serde_json::to_value(Goodbye {
            service: "tracker".into(),
            instance: "01a2014c-efe3-7651-8879-74c559175d3c".into(),
            time_ms: 1_793_693_730_250,
            uptime_s: 60,
            reason: GoodbyeReason::Shutdown,
            message: None,
        })
        .unwrap(),
    );
    check(
        DirectoryPing::TYPE,
        serde_json::to_value(DirectoryPing {
            from_service: "monitor".into(),
            sent_at_ms: 1_793_693_730_250,
        })
        .unwrap(),
    );
}

/// The bridge's statistics report is its own type too; every field, optional ones present and
/// absent, must be what the schema and the binding describe.
#[test]
fn the_bridges_statistics_report_follows_its_schema() {
    use broker_bridge::service_stats::{
        Direction, HandlerStats, HostStats, LatencySummary, ServiceStats, TypeCount,
    };
    use instadash_schemas::platform::service_stats::v1 as binding;

    let latency = LatencySummary {
        count: 3,
        mean_us: 2_400,
        p50_us: 2_100,
        p90_us: 3_300,
        p99_us: 3_300,
        max_us: 3_300,
    };
    let mut report = ServiceStats {
        service: "tracker".into(),
        instance: "01a2014c-efe3-7651-8879-74c559175d3c".into(),
        time_ms: 1_793_693_730_250,
        interval_s: 5,
        messages: vec![
            TypeCount {
                type_: "instadash.vehicle.position".into(),
                direction: Direction::In,
                count: 5_012,
                bytes: 356_852,
            },
            TypeCount {
                type_: "instadash.vehicle.status-changed".into(),
                direction: Direction::Out,
                count: 3,
                bytes: 612,
            },
        ],
        handlers: vec![HandlerStats {
            type_: "instadash.vehicle.position".into(),
            handled: 5_011,
            errors: 1,
            latency,
        }],
        errors: 1,
        retries: 1,
        dead_lettered: 0,
        rejected_by_validation: 2,
        reconnects: 1,
        confirm_latency: latency,
        process_cpu_pct: Some(23.5),
        process_rss_bytes: Some(38_535_168),
        host: Some(HostStats {
            cpu_pct: 41.0,
            mem_used_bytes: 6_442_450_944,
            mem_total_bytes: 25_769_803_776,
            load_1m: 1.32,
            load_5m: 1.1,
            load_15m: 0.94,
        }),
    };
    assert_eq!(ServiceStats::TYPE, <binding::ServiceStats as Message>::TYPE);
    assert_eq!(report.subject().as_deref(), Some("tracker"));
    let validator = json_validator(ServiceStats::TYPE, 1).unwrap();
    for optional in [true, false] {
        if !optional {
            report.process_cpu_pct = None;
            report.process_rss_bytes = None;
            report.host = None;
            report.messages.clear();
            report.handlers.clear();
            report.confirm_latency = LatencySummary::default();
        }
        let value = serde_json::to_value(&report).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{errors:?} in {value}");
        let decoded: binding::ServiceStats = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(serde_json::to_value(&decoded).unwrap(), value);
        // And back into the bridge's type, as a monitor using the bridge's type would read it.
        let again: ServiceStats = serde_json::from_value(value).unwrap();
        assert_eq!(again, report);
    }
}

/// The trace view's messages are the bridge's own types too (every instance answers queries from
/// its span log): both kinds of span, every optional field present and absent, must be what the
/// schemas and the bindings describe; a query must name a trace or an event.
#[test]
fn the_bridges_trace_messages_follow_their_schemas() {
    use broker_bridge::span_log::{Span, SpanKind, SpanOutcome, TraceQuery, TraceSpans};
    use instadash_schemas::platform::{
        trace_query::v1 as query_binding, trace_spans::v1 as binding,
    };

    let errors_of = |kind: &str, value: &serde_json::Value| -> Vec<String> {
        json_validator(kind, 1)
            .unwrap()
            .iter_errors(value)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    };

    assert_eq!(
        TraceQuery::TYPE,
        <query_binding::TraceQuery as Message>::TYPE
    );
    let event = "01a2014c-efe3-7651-8879-74c559175d3c";
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    for (trace_id, event_id) in [
        (None, Some(event)),
        (Some(trace), None),
        (Some(trace), Some(event)),
    ] {
        let query = TraceQuery {
            query_id: "01a2014c-f1d2-7c3e-9a51-3c0d8e2b4f61".into(),
            trace_id: trace_id.map(str::to_owned),
            event_id: event_id.map(str::to_owned),
        };
        let value = serde_json::to_value(&query).unwrap();
        let errors = errors_of(TraceQuery::TYPE, &value);
        assert!(errors.is_empty(), "{errors:?} in {value}");
        let decoded: query_binding::TraceQuery = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(serde_json::to_value(&decoded).unwrap(), value);
        assert_eq!(serde_json::from_value::<TraceQuery>(value).unwrap(), query);
    }
    let neither = TraceQuery {
        query_id: "q".into(),
        trace_id: None,
        event_id: None,
    };
    let value = serde_json::to_value(&neither).unwrap();
    assert!(!errors_of(TraceQuery::TYPE, &value).is_empty(), "{value}");
    let bad_trace = serde_json::json!({"query_id": "q", "trace_id": "4BF92F35"});
    assert!(!errors_of(TraceQuery::TYPE, &bad_trace).is_empty());

    let publish = Span {
        kind: SpanKind::Publish,
        trace_id: trace.into(),
        span_id: "b7ad6b7169203331".into(),
        parent_span_id: Some("00f067aa0ba902b7".into()),
        event_id: "01a2014c-efe9-7e0f-b2a4-0c9d1f7e6a55".into(),
        type_: "instadash.alert.raised".into(),
        subject: Some("car-0042".into()),
        at_us: 1_793_693_730_252_361,
        duration_us: None,
        queue: None,
        exchange: Some(String::new()),
        routing_key: Some("amq.rabbitmq.reply-to".into()),
        outcome: None,
    };
    let handle = |outcome| Span {
        kind: SpanKind::Handle,
        trace_id: trace.into(),
        span_id: "00f067aa0ba902b7".into(),
        parent_span_id: None,
        event_id: "not-a-uuid-42".into(),
        type_: "instadash.vehicle.position".into(),
        subject: None,
        at_us: 1_793_693_730_252_310,
        duration_us: (outcome != SpanOutcome::Duplicate).then_some(84),
        queue: Some("instadash.events.alerts".into()),
        exchange: None,
        routing_key: None,
        outcome: Some(outcome),
    };
    let outcomes = [
        SpanOutcome::Handled,
        SpanOutcome::Failed,
        SpanOutcome::Retried,
        SpanOutcome::DeadLettered,
        SpanOutcome::Rejected,
        SpanOutcome::Duplicate,
    ];
    let mut spans = vec![publish];
    spans.extend(outcomes.map(handle));
    let mut answer = TraceSpans {
        query_id: "01a2014c-f1d2-7c3e-9a51-3c0d8e2b4f61".into(),
        service: "alerts".into(),
        instance: "01a2014c-e0a1-7b22-8c40-5d1e2f3a4b5c".into(),
        spans,
        buffer_spans: 20_000,
        oldest_us: Some(1_793_693_635_250_000),
        truncated: true,
    };
    assert_eq!(TraceSpans::TYPE, <binding::TraceSpans as Message>::TYPE);
    assert_eq!(answer.subject().as_deref(), Some("alerts"));
    for full in [true, false] {
        if !full {
            answer.spans.clear();
            answer.oldest_us = None;
            answer.truncated = false;
            answer.buffer_spans = 0;
        }
        let value = serde_json::to_value(&answer).unwrap();
        let errors = errors_of(TraceSpans::TYPE, &value);
        assert!(errors.is_empty(), "{errors:?} in {value}");
        let decoded: binding::TraceSpans = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(serde_json::to_value(&decoded).unwrap(), value);
        let again: TraceSpans = serde_json::from_value(value).unwrap();
        assert_eq!(again, answer);
    }
    let kebab = serde_json::to_value(SpanOutcome::DeadLettered).unwrap();
    assert_eq!(kebab, "dead-lettered");
}
