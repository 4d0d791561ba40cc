//! A client in another language talks to Instadash with nothing but the documented wire format
//! (schemas/README.md): a Python script publishes with pika and the official CloudEvents SDK's
//! AMQP binding, and a Rust service takes the event like any other, or dead-letters it when it
//! breaks its schema.
//!
//! The Python environment comes from `scripts/python-env` (a venv under `target/`). If it cannot be
//! set up, the test fails with the set-up's output: it never skips.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use broker_bridge::Incoming;
use broker_bridge::testing::{Received, TestVhost, wait_until};
use broker_bridge::trace_context::trace_id;
use instadash_schemas::vehicle::trouble_codes::v1::TroubleCodes;
use instadash_tests::{describe, set_up, workspace_root};
use serde::Deserialize;

const TYPE: &str = "instadash.vehicle.trouble-codes";
const DATASCHEMA: &str = "urn:instadash:schema:instadash.vehicle.trouble-codes:v1";
const DEAD_LETTERS: &str = "instadash.events.tracker.dead-letter";
const VEHICLE: &str = "car-py-0042";

/// What `publish_event.py` reports having sent.
#[derive(Debug, Deserialize)]
struct Published {
    id: String,
    source: String,
    #[serde(rename = "type")]
    kind: String,
    subject: String,
    dataschema: String,
    time_ms: i64,
    traceparent: String,
    routing_key: String,
}

/// Runs a process to completion off the runtime's threads.
async fn run(mut command: Command) -> Output {
    let shown = format!("{command:?}");
    tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the blocking task finishes")
        .unwrap_or_else(|error| panic!("cannot start {shown}: {error}"))
}

/// The venv's python, set up by `scripts/python-env` if needed.
async fn python() -> PathBuf {
    tokio::task::spawn_blocking(|| set_up("scripts/python-env"))
        .await
        .expect("the set-up finishes")
}

/// Publishes one trouble-codes event from Python and returns what it sent.
async fn publish_from_python(python: &Path, amqp_url: &str, invalid: bool) -> Published {
    let mut command = Command::new(python);
    command
        .arg(workspace_root().join("tests/python/publish_event.py"))
        .args([amqp_url, VEHICLE]);
    if invalid {
        command.arg("--invalid");
    }
    let output = run(command).await;
    let what = format!("publish_event.py (invalid: {invalid})");
    assert!(output.status.success(), "{}", describe(&what, &output));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("unexpected output ({error})\n{}", describe(&what, &output)))
}

#[tokio::test]
async fn a_python_client_publishes_events_the_platform_accepts_and_dead_letters_invalid_ones() {
    let python = python().await;
    let vhost = TestVhost::create().await.unwrap();
    let tracker = vhost.connect("tracker").await.unwrap();
    let received = Arc::new(Received::<Incoming<TroubleCodes>>::new());
    let sink = received.clone();
    tracker
        .subscribe("tracker")
        .on(move |m: Incoming<TroubleCodes>| {
            let sink = sink.clone();
            async move {
                sink.push(m);
                Ok(())
            }
        })
        .start()
        .await
        .unwrap();

    // A valid event: handed to the handler, typed, with its envelope intact.
    let sent = publish_from_python(&python, vhost.amqp_url(), false).await;
    assert_eq!(sent.routing_key, format!("{TYPE}.{VEHICLE}"));
    let got = received.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(got.data.vehicle_id, VEHICLE);
    assert_eq!(got.data.codes, ["P0301", "P0171"]);
    assert!(got.data.mil_on);
    let envelope = &got.envelope;
    assert_eq!(envelope.id, sent.id);
    assert_eq!(envelope.source, sent.source);
    assert!(
        envelope.source.starts_with("/python-client/"),
        "{}",
        envelope.source
    );
    assert_eq!((envelope.kind.as_str(), sent.kind.as_str()), (TYPE, TYPE));
    assert_eq!(envelope.subject.as_deref(), Some(VEHICLE));
    assert_eq!(sent.subject, VEHICLE);
    assert_eq!(envelope.data_schema.as_deref(), Some(DATASCHEMA));
    assert_eq!(sent.dataschema, DATASCHEMA);
    assert_eq!(envelope.content_type, "application/json");
    // The SDK's AMQP binding writes `time` as integer milliseconds; the bridge reads it exactly.
    assert_eq!(
        envelope.time.unix_timestamp_nanos(),
        i128::from(sent.time_ms) * 1_000_000
    );
    let traceparent = envelope
        .traceparent
        .as_deref()
        .expect("the traceparent arrives");
    let trace = trace_id(traceparent).expect("a W3C traceparent");
    assert_eq!(trace.len(), 32);
    assert_eq!(Some(trace), trace_id(&sent.traceparent));

    // An event that breaks its schema: never handed to the handler, dead-lettered with why. The
    // bridge counts a rejection once the broker has confirmed the dead letter, so the counters say
    // when to look (the management API's queue depths lag by up to 5 s).
    let bad = publish_from_python(&python, vhost.amqp_url(), true).await;
    wait_until(
        "one handled and one rejected",
        Duration::from_secs(10),
        || {
            let stats = tracker.stats();
            stats.handled == 1 && stats.rejected == 1
        },
    )
    .await
    .unwrap_or_else(|error| panic!("{error}: {:?}", tracker.stats()));
    received
        .expect_nothing(Duration::from_millis(300))
        .await
        .unwrap();
    let stats = tracker.stats();
    assert_eq!(
        (stats.handled, stats.rejected, stats.dead_lettered),
        (1, 1, 1),
        "{stats:?}"
    );

    let dead = vhost.peek(DEAD_LETTERS, 10).await.unwrap();
    let [dead] = dead.as_slice() else {
        panic!("expected exactly one dead letter, got {dead:?}");
    };
    let header = |name: &str| dead.header(name);
    assert_eq!(header("cloudEvents_id"), Some(bad.id.clone()), "{dead:?}");
    assert_eq!(
        header("x-instadash-reason").as_deref(),
        Some("schema validation failed"),
        "{dead:?}"
    );
    // The third code is the bad one.
    assert_eq!(
        header("x-instadash-pointer").as_deref(),
        Some("/codes/2"),
        "{dead:?}"
    );
    assert_eq!(
        header("x-instadash-check").as_deref(),
        Some("pattern"),
        "{dead:?}"
    );
    assert!(dead.payload.contains("X9999"), "{}", dead.payload);

    tracker.shutdown().await.unwrap();
}
