//! The contract on a real broker: versions side by side, invalid messages refused before sending,
//! and every kind of bad input dead-lettered with a readable reason while the service carries on.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use broker_bridge::testing::{Received, TestVhost, wait_until};
use broker_bridge::{Bridge, Envelope, Incoming, PublishError, topology};
use instadash_schemas::vehicle::position::{v1, v2};
use instadash_schemas::vehicle::trouble_codes::v1::TroubleCodes;
use instadash_schemas::{AVRO_FINGERPRINT_HEADER, AvroCodec, Contract, Message, dataschema_of};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, LongString, ShortString};
use lapin::{BasicProperties, Connection, ConnectionProperties};

const WAIT: Duration = Duration::from_secs(20);

fn position_v2(vehicle: &str, hdop: Option<f64>) -> v2::Position {
    let mut fix = v2::Position::example();
    fix.vehicle_id = vehicle.into();
    fix.hdop = hdop;
    fix
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_consumer_and_a_v2_producer_work_side_by_side() {
    let vhost = TestVhost::create().await.unwrap();
    let old_reader = vhost.connect("trips").await.unwrap();
    let new_reader = vhost.connect("tracker").await.unwrap();
    let (by_v1, by_v2) = (
        Arc::new(Received::<v1::Position>::new()),
        Arc::new(Received::<v2::Position>::new()),
    );
    let sink = by_v1.clone();
    old_reader
        .subscribe("trips")
        .on(move |m: Incoming<v1::Position>| {
            sink.push(m.data);
            async { Ok(()) }
        })
        .start()
        .await
        .unwrap();
    let sink = by_v2.clone();
    new_reader
        .subscribe("tracker")
        .on(move |m: Incoming<v2::Position>| {
            sink.push(m.data);
            async { Ok(()) }
        })
        .start()
        .await
        .unwrap();

    // A v2 producer (Avro, with hdop) and a v1 producer still in service.
    let new_car = vhost.connect("simulator").await.unwrap();
    new_car
        .publish(&position_v2("car-new", Some(0.9)))
        .await
        .unwrap()
        .confirmed()
        .await
        .unwrap();
    let old_car = vhost.connect("simulator").await.unwrap();
    let mut old_fix = v1::Position::example();
    old_fix.vehicle_id = "car-old".into();
    old_car
        .publish(&old_fix)
        .await
        .unwrap()
        .confirmed()
        .await
        .unwrap();

    let mut seen_by_v1: Vec<_> = vec![
        by_v1.next(WAIT).await.unwrap(),
        by_v1.next(WAIT).await.unwrap(),
    ];
    seen_by_v1.sort_by(|a, b| a.vehicle_id.cmp(&b.vehicle_id));
    assert_eq!(
        seen_by_v1[0],
        v1::Position {
            vehicle_id: "car-new".into(),
            ..v1::Position::example()
        }
    );
    assert_eq!(seen_by_v1[1], old_fix);
    let mut seen_by_v2: Vec<_> = vec![
        by_v2.next(WAIT).await.unwrap(),
        by_v2.next(WAIT).await.unwrap(),
    ];
    seen_by_v2.sort_by(|a, b| a.vehicle_id.cmp(&b.vehicle_id));
    assert_eq!(
        seen_by_v2[0].hdop,
        Some(0.9),
        "the v2 reader sees the new field"
    );
    assert_eq!(
        (seen_by_v2[1].vehicle_id.as_str(), seen_by_v2[1].hdop),
        ("car-old", None)
    );
    // Counted once the handler has returned, just after it passed the fix on.
    for bridge in [&old_reader, &new_reader] {
        wait_until("both handled", WAIT, || bridge.stats().handled == 2)
            .await
            .unwrap();
        assert_eq!(bridge.stats().rejected, 0);
    }
}

#[tokio::test]
async fn an_invalid_message_is_refused_before_sending() {
    let vhost = TestVhost::create().await.unwrap();
    let tracker = vhost.connect("tracker").await.unwrap();
    let received = Arc::new(Received::<String>::new());
    let sink = received.clone();
    tracker
        .subscribe("tracker")
        .on(move |m: Incoming<v2::Position>| {
            sink.push(m.data.vehicle_id);
            async { Ok(()) }
        })
        .start()
        .await
        .unwrap();
    let simulator = vhost.connect("simulator").await.unwrap();
    let mut fix = position_v2("car-1", None);
    fix.lat = 123.0;
    match simulator.publish(&fix).await {
        Err(PublishError::Invalid { kind, rejection }) => {
            assert_eq!(kind, "instadash.vehicle.position");
            assert_eq!(
                (rejection.check.as_str(), rejection.pointer.as_str()),
                ("maximum", "/lat")
            );
            assert_eq!(
                rejection.schema.as_deref(),
                Some("urn:instadash:schema:instadash.vehicle.position:v2")
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    received
        .expect_nothing(Duration::from_millis(500))
        .await
        .unwrap();
    // The channel is unharmed: the next valid fix goes through.
    simulator
        .publish(&position_v2("car-2", None))
        .await
        .unwrap()
        .confirmed()
        .await
        .unwrap();
    assert_eq!(received.next(WAIT).await.unwrap(), "car-2");
}

/// Publishes raw messages, as a broken or foreign client would.
struct RawClient {
    channel: lapin::Channel,
    _connection: Connection,
}

impl RawClient {
    async fn connect(vhost: &TestVhost) -> Self {
        let connection = Connection::connect(vhost.amqp_url(), ConnectionProperties::default())
            .await
            .unwrap();
        let channel = connection.create_channel().await.unwrap();
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        Self {
            channel,
            _connection: connection,
        }
    }

    /// Publishes under the routing key of events of type `routed_as`.
    async fn publish(
        &self,
        routed_as: &str,
        subject: &str,
        properties: BasicProperties,
        body: &[u8],
    ) {
        let key = format!("{routed_as}.{subject}");
        let confirm = self
            .channel
            .basic_publish(
                topology::EVENTS.into(),
                key.into(),
                BasicPublishOptions {
                    mandatory: true,
                    immediate: false,
                },
                body,
                properties,
            )
            .await
            .unwrap()
            .await
            .unwrap();
        assert!(
            confirm.is_ack() && confirm.take_message().is_none(),
            "routed to the tracker's queue"
        );
    }
}

/// Properties of a well-formed event of `kind`, to be spoiled by the test.
fn envelope(kind: &str, subject: &str, content_type: &str, schema: Option<String>) -> Envelope {
    let mut envelope = Envelope::new(kind, "/foreign-client/1");
    envelope.subject = Some(subject.into());
    envelope.content_type = content_type.into();
    envelope.data_schema = schema;
    envelope
}

fn with_header(properties: BasicProperties, name: &str, value: &str) -> BasicProperties {
    let mut headers = properties.headers().clone().unwrap_or_default();
    headers.insert(
        ShortString::from(name),
        AMQPValue::LongString(LongString::from(value)),
    );
    properties.with_headers(headers)
}

fn without_header(properties: BasicProperties, name: &str) -> BasicProperties {
    let headers = properties.headers().clone().unwrap_or_default();
    let kept: BTreeMap<_, _> = headers
        .inner()
        .iter()
        .filter(|(key, _)| key.as_str() != name)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    properties.with_headers(kept.into())
}

async fn tracker(vhost: &TestVhost) -> (Bridge, Arc<Received<String>>) {
    let mut config = vhost.config("tracker");
    config.max_message_bytes = 4 * 1024;
    let bridge = Bridge::connect(config).await.unwrap();
    let handled = Arc::new(Received::<String>::new());
    let (positions, codes) = (handled.clone(), handled.clone());
    bridge
        .subscribe("tracker")
        .on(move |m: Incoming<v2::Position>| {
            positions.push(format!("position {}", m.data.vehicle_id));
            async { Ok(()) }
        })
        .on(move |m: Incoming<TroubleCodes>| {
            assert_ne!(m.data.vehicle_id, "panic-car", "a handler bug");
            codes.push(format!("codes {}", m.data.vehicle_id));
            async { Ok(()) }
        })
        .start()
        .await
        .unwrap();
    (bridge, handled)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_dead_lettered_with_its_reason_and_the_service_carries_on() {
    let vhost = TestVhost::create().await.unwrap();
    let (bridge, handled) = tracker(&vhost).await;
    let raw = RawClient::connect(&vhost).await;
    let position = v2::Position::TYPE;
    let codes = TroubleCodes::TYPE;
    let json = "application/json";
    let avro = "application/avro";
    let codes_schema = Some(dataschema_of::<TroubleCodes>());
    let position_schema = Some(dataschema_of::<v2::Position>());
    let avro_codec = AvroCodec::<v2::Position>::new().unwrap();
    let fix = avro_codec.encode(&position_v2("car-1", Some(1.2))).unwrap();
    let fingerprint = avro_codec.fingerprint().to_owned();
    let valid_codes = serde_json::to_vec(&TroubleCodes::example()).unwrap();
    let props = |kind: &str, content_type: &str, schema: &Option<String>| {
        envelope(kind, "car-1", content_type, schema.clone()).to_properties("foreign-client")
    };
    let avro_props = || {
        with_header(
            props(position, avro, &position_schema),
            AVRO_FINGERPRINT_HEADER,
            &fingerprint,
        )
    };

    let mut expected: BTreeMap<&str, u32> = BTreeMap::new();
    let mut sent = 0;
    // Accepted: a valid Avro fix and valid trouble codes.
    raw.publish(position, "car-1", avro_props(), &fix).await;
    raw.publish(
        codes,
        "car-1",
        props(codes, json, &codes_schema),
        &valid_codes,
    )
    .await;
    sent += 2;
    let cases: Vec<(&str, BasicProperties, Vec<u8>, &str)> = vec![
        (
            codes,
            props(codes, json, &codes_schema),
            b"{\"vehicle_id\":".to_vec(),
            "payload is not JSON",
        ),
        (
            codes,
            props(codes, json, &codes_schema),
            br#"{"vehicle_id":"car-1","time_ms":1,"mil_on":true,"codes":"P0301"}"#.to_vec(),
            "schema validation failed",
        ),
        // Routed like trouble codes, but of a type nobody here handles.
        (
            codes,
            props("instadash.vehicle.teleported", json, &None),
            b"{}".to_vec(),
            "unknown message type",
        ),
        (
            codes,
            props(codes, "text/plain", &codes_schema),
            valid_codes.clone(),
            "wrong content type",
        ),
        (
            codes,
            props(codes, json, &codes_schema).with_content_type("".into()),
            valid_codes.clone(),
            "wrong content type",
        ),
        (
            codes,
            without_header(props(codes, json, &codes_schema), "cloudEvents_source"),
            valid_codes.clone(),
            "invalid CloudEvents envelope",
        ),
        (
            position,
            with_header(
                props(position, avro, &position_schema),
                AVRO_FINGERPRINT_HEADER,
                "00000000000000ff",
            ),
            fix.clone(),
            "unknown Avro writer schema",
        ),
        (
            position,
            props(position, avro, &position_schema),
            fix.clone(),
            "Avro payload without its writer schema's fingerprint",
        ),
        (
            position,
            avro_props(),
            fix[..fix.len() / 2].to_vec(),
            "Avro payload does not decode",
        ),
        (
            codes,
            props(codes, json, &codes_schema),
            vec![b' '; 8 * 1024],
            "message larger than the configured maximum",
        ),
        (
            codes,
            props(codes, json, &codes_schema),
            serde_json::to_vec(&TroubleCodes {
                vehicle_id: "panic-car".into(),
                ..TroubleCodes::example()
            })
            .unwrap(),
            "handler failed 3 times",
        ),
    ];
    for (kind, properties, body, reason) in cases {
        raw.publish(kind, "car-1", properties, &body).await;
        *expected.entry(reason).or_default() += 1;
        sent += 1;
    }
    let dead = "instadash.events.tracker.dead-letter";
    let rejected = expected.values().sum::<u32>();
    vhost
        .wait_for_depth(dead, u64::from(rejected), WAIT)
        .await
        .unwrap();

    // Still consuming: one more valid message gets through.
    raw.publish(
        codes,
        "car-2",
        props(codes, json, &codes_schema),
        &serde_json::to_vec(&TroubleCodes {
            vehicle_id: "car-2".into(),
            ..TroubleCodes::example()
        })
        .unwrap(),
    )
    .await;
    sent += 1;
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(handled.next(WAIT).await.unwrap());
    }
    got.sort();
    assert_eq!(got, ["codes car-0042", "codes car-2", "position car-1"]);

    let letters = bridge
        .dead_letters("instadash.events.tracker", 100)
        .await
        .unwrap();
    let mut reasons: BTreeMap<&str, u32> = BTreeMap::new();
    for letter in &letters {
        assert!(!letter.error.is_empty(), "a readable error: {letter:?}");
        assert!(letter.rejected_by.starts_with("tracker/"), "{letter:?}");
        *reasons.entry(letter.reason.as_str()).or_default() += 1;
    }
    assert_eq!(reasons, expected, "each dead letter says why");
    let wrong_type = letters
        .iter()
        .find(|l| l.reason == "schema validation failed")
        .unwrap();
    assert_eq!(
        (wrong_type.check.as_str(), wrong_type.pointer.as_str()),
        ("type", "/codes")
    );
    wait_until("the last handler returned", WAIT, || {
        bridge.stats().handled == 3
    })
    .await
    .unwrap();
    let stats = bridge.stats();
    assert_eq!(
        stats.handled + stats.dead_lettered,
        sent,
        "every message accounted for: {stats:?}"
    );
    assert_eq!(
        (stats.handled, stats.rejected, stats.dead_lettered),
        (3, u64::from(rejected) - 1, u64::from(rejected))
    );
}

/// The bridge publishes its statistics reports with a type of its own (it cannot depend on this
/// crate); a subscriber using the contract's binding validates each against the schema on
/// receipt, so a report that broke it would be dead-lettered instead of arriving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridges_statistics_reports_pass_the_contract() {
    use instadash_schemas::platform::service_stats::v1::{Direction, ServiceStats};
    let vhost = TestVhost::create().await.unwrap();
    let monitor = vhost.connect("monitor").await.unwrap();
    let reports = Arc::new(Received::<ServiceStats>::new());
    let sink = reports.clone();
    monitor
        .subscribe("monitor")
        .subject("tracker")
        .on(move |m: Incoming<ServiceStats>| {
            sink.push(m.data);
            async { Ok(()) }
        })
        .start()
        .await
        .unwrap();

    let mut config = vhost.config("tracker");
    config.stats_interval = Duration::from_millis(200);
    let tracker = Bridge::connect(config).await.unwrap();
    tracker
        .subscribe("tracker")
        .on(|_: Incoming<v2::Position>| async { Ok(()) })
        .start()
        .await
        .unwrap();
    let car = vhost.connect("simulator").await.unwrap();
    for _ in 0..5 {
        car.publish(&position_v2("car-1", None))
            .await
            .unwrap()
            .confirmed()
            .await
            .unwrap();
    }
    let mut handled = 0;
    while handled < 5 {
        let report = reports.next(WAIT).await.unwrap();
        assert_eq!(report.service, "tracker");
        for m in &report.messages {
            assert_eq!(m.type_, v2::Position::TYPE);
            assert_eq!(m.direction, Direction::In);
        }
        handled += report.handlers.iter().map(|h| h.handled).sum::<u64>();
    }
    assert_eq!(handled, 5);
    for bridge in [tracker, car, monitor] {
        bridge.shutdown().await.unwrap();
    }
}

/// The bridge answers trace queries with a type of its own too: a query sent with the contract's
/// binding reaches every instance, and their answers, received with the binding (validated on
/// receipt), pass the schema, spans included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridges_trace_answers_pass_the_contract() {
    use instadash_schemas::platform::trace_query::v1::TraceQuery;
    use instadash_schemas::platform::trace_spans::v1::{SpanKind, SpanOutcome, TraceSpans};
    let vhost = TestVhost::create().await.unwrap();
    let monitor = vhost.connect("monitor").await.unwrap();
    let answers = Arc::new(Received::<TraceSpans>::new());
    let sink = answers.clone();
    monitor
        .subscribe("monitor")
        .on(move |m: Incoming<TraceSpans>| {
            sink.push(m.data);
            async { Ok(()) }
        })
        .start()
        .await
        .unwrap();
    let tracker = vhost.connect("tracker").await.unwrap();
    let fixes = Arc::new(Received::<Envelope>::new());
    let seen = fixes.clone();
    tracker
        .subscribe("tracker")
        .on(move |m: Incoming<v2::Position>| {
            seen.push(m.envelope);
            async { Ok(()) }
        })
        .start()
        .await
        .unwrap();
    let car = vhost.connect("simulator").await.unwrap();
    let directory = monitor.directory().await.unwrap();
    wait_until("every instance present", WAIT, || {
        directory.instances().len() == 3
    })
    .await
    .unwrap();
    car.publish(&position_v2("car-1", None))
        .await
        .unwrap()
        .confirmed()
        .await
        .unwrap();
    let fix = fixes.next(WAIT).await.unwrap();
    wait_until("the fix handled", WAIT, || tracker.stats().handled == 1)
        .await
        .unwrap();

    let query = TraceQuery {
        query_id: "q-1".into(),
        trace_id: None,
        event_id: Some(fix.id.clone()),
    };
    monitor
        .publish(&query)
        .await
        .unwrap()
        .confirmed()
        .await
        .unwrap();
    let mut by_service = BTreeMap::new();
    while by_service.len() < 3 {
        let answer = answers.next(WAIT).await.unwrap();
        assert_eq!(answer.query_id, "q-1");
        by_service.insert(answer.service.clone(), answer);
    }
    assert!(by_service["monitor"].spans.is_empty());
    let published = &by_service["simulator"].spans;
    assert_eq!(published.len(), 1, "{published:#?}");
    assert_eq!(published[0].kind, SpanKind::Publish);
    assert_eq!(published[0].subject.as_deref(), Some("car-1"));
    let handled = &by_service["tracker"].spans;
    assert_eq!(handled.len(), 1, "{handled:#?}");
    assert_eq!(
        (
            handled[0].kind,
            handled[0].outcome,
            handled[0].event_id.as_str()
        ),
        (
            SpanKind::Handle,
            Some(SpanOutcome::Handled),
            fix.id.as_str()
        )
    );
    assert_eq!(handled[0].span_id, published[0].span_id);
    for bridge in [car, tracker, monitor] {
        bridge.shutdown().await.unwrap();
    }
}
