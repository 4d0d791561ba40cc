//! The trace view: every instance keeps the spans of what it sent and handled, and answers a
//! trace query from them over the bus; `Bridge::ask_trace` gathers the answers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use broker_bridge::span_log::{Span, SpanKind, SpanOutcome, TraceSpans, TraceTarget};
use broker_bridge::testing::{Received, TestVhost, wait_until};
use broker_bridge::{Bridge, BridgeError, Envelope, Incoming, Message, trace_context};
use serde::{Deserialize, Serialize};

mod common;

/// What the worker publishes while it handles a root.
use common::Tick as Child;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Root {
    car: String,
}

impl Message for Root {
    const TYPE: &'static str = "instadash.test.trace-root";
    fn subject(&self) -> Option<String> {
        Some(self.car.clone())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Flaky {
    n: u32,
}

impl Message for Flaky {
    const TYPE: &'static str = "instadash.test.trace-flaky";
}

const WAIT: Duration = Duration::from_secs(10);

/// A bridge for `service` that sends no statistics (less traffic to wait behind).
async fn connect(vhost: &TestVhost, service: &str, trace_buffer: usize) -> Bridge {
    let mut config = vhost.config(service);
    config.stats_interval = Duration::ZERO;
    config.trace_buffer = trace_buffer;
    Bridge::connect(config).await.unwrap()
}

/// Waits until `count` instances have announced themselves, which they do once their presence
/// queue (where trace queries arrive) is bound.
async fn until_present(asker: &Bridge, count: usize) {
    let directory = asker.directory().await.unwrap();
    wait_until("every instance present", WAIT, || {
        directory.instances().len() >= count
    })
    .await
    .unwrap();
}

fn answer_of<'a>(answers: &'a [TraceSpans], service: &str) -> &'a TraceSpans {
    answers
        .iter()
        .find(|a| a.service == service)
        .unwrap_or_else(|| panic!("no answer from {service}: {answers:#?}"))
}

fn trace_id_of(envelope: &Envelope) -> String {
    let traceparent = envelope.traceparent.as_deref().expect("a traceparent");
    trace_context::trace_id(traceparent).unwrap().to_owned()
}

/// The span id a received message carries (third field of its `traceparent`).
fn span_id_of(envelope: &Envelope) -> String {
    let traceparent = envelope.traceparent.as_deref().expect("a traceparent");
    traceparent.split('-').nth(2).unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_events_journey_is_gathered_from_every_service() {
    common::init_logs();
    let vhost = TestVhost::create().await.unwrap();
    let monitor = connect(&vhost, "monitor", 20_000).await;

    // worker: handles the root (2 ms) and publishes a child; sink: handles the child.
    let worker = connect(&vhost, "worker", 20_000).await;
    let roots = Arc::new(Received::<Envelope>::new());
    let (seen, out) = (roots.clone(), worker.clone());
    worker
        .subscribe("worker")
        .on(move |m: Incoming<Root>| {
            let (seen, out) = (seen.clone(), out.clone());
            async move {
                tokio::time::sleep(Duration::from_millis(2)).await;
                out.publish(&Child { seq: 1 }).await?.confirmed().await?;
                seen.push(m.envelope);
                Ok(())
            }
        })
        .start()
        .await
        .unwrap();
    let sink = connect(&vhost, "sink", 20_000).await;
    let children = Arc::new(Received::<Envelope>::new());
    let seen = children.clone();
    sink.subscribe("sink")
        .on(move |m: Incoming<Child>| {
            seen.push(m.envelope);
            async { Ok(()) }
        })
        .start()
        .await
        .unwrap();
    let producer = connect(&vhost, "producer", 20_000).await;
    until_present(&monitor, 4).await;

    producer
        .publish(&Root {
            car: "car-7".into(),
        })
        .await
        .unwrap()
        .confirmed()
        .await
        .unwrap();
    // Unrelated traffic, which must not show up in the trace.
    producer
        .publish(&Root {
            car: "car-8".into(),
        })
        .await
        .unwrap();
    let root = roots.next(WAIT).await.unwrap();
    let child = children.next(WAIT).await.unwrap();
    children.next(WAIT).await.unwrap();
    let trace = trace_id_of(&root);
    assert_eq!(
        trace_id_of(&child),
        trace,
        "the child continues the root's trace"
    );
    // The handle span is recorded once the delivery is acknowledged, just after the handler.
    wait_until("the sink's handle span is recorded", WAIT, || {
        !sink
            .local_trace(&TraceTarget::Event(child.id.clone()))
            .spans
            .is_empty()
    })
    .await
    .unwrap();

    let answers = monitor
        .ask_trace(TraceTarget::Event(root.id.clone()), Some(4), WAIT)
        .await
        .unwrap();
    let services: Vec<&str> = answers.iter().map(|a| a.service.as_str()).collect();
    assert_eq!(services, ["monitor", "producer", "sink", "worker"]);
    for answer in &answers {
        assert!(
            answer.spans.iter().all(|s| s.trace_id == trace),
            "{answer:#?}"
        );
        assert!(!answer.truncated);
        assert!(
            answer.spans.windows(2).all(|w| w[0].at_us <= w[1].at_us),
            "oldest first: {answer:#?}"
        );
    }
    assert!(answer_of(&answers, "monitor").spans.is_empty());

    // The producer: the root's publish, the root of the trace.
    let produced = &answer_of(&answers, "producer").spans;
    assert_eq!(produced.len(), 1, "{produced:#?}");
    let published = &produced[0];
    assert_eq!(published.kind, SpanKind::Publish);
    assert_eq!(published.event_id, root.id);
    assert_eq!(published.type_, Root::TYPE);
    assert_eq!(published.subject.as_deref(), Some("car-7"));
    assert_eq!(published.parent_span_id, None);
    assert_eq!(published.span_id, span_id_of(&root));
    assert_eq!(published.exchange.as_deref(), Some("instadash.events"));
    assert_eq!(
        published.routing_key.as_deref(),
        Some("instadash.test.trace-root.car-7")
    );
    assert_eq!((published.queue.as_ref(), published.outcome), (None, None));

    // The worker: the root handled (its queue, how long), then the child published from it.
    let worked = &answer_of(&answers, "worker").spans;
    assert_eq!(worked.len(), 2, "{worked:#?}");
    let handled = worked
        .iter()
        .find(|s| s.kind == SpanKind::Handle)
        .expect("the root handled");
    assert_eq!(handled.event_id, root.id);
    assert_eq!(
        handled.span_id, published.span_id,
        "the span it arrived with"
    );
    assert_eq!(handled.queue.as_deref(), Some("instadash.events.worker"));
    assert_eq!(handled.outcome, Some(SpanOutcome::Handled));
    let took = handled.duration_us.expect("the handler's run time");
    assert!(took >= 2_000, "the handler sleeps 2 ms: {took} µs");
    assert!(
        handled.at_us >= published.at_us - 1_000_000,
        "{handled:?} {published:?}"
    );
    let forwarded = worked
        .iter()
        .find(|s| s.kind == SpanKind::Publish)
        .expect("the child published");
    assert_eq!(forwarded.event_id, child.id);
    assert_eq!(forwarded.type_, Child::TYPE);
    assert_eq!(
        forwarded.parent_span_id.as_deref(),
        Some(published.span_id.as_str())
    );
    assert_eq!(forwarded.span_id, span_id_of(&child));
    assert_eq!(
        forwarded.routing_key.as_deref(),
        Some("instadash.test.tick._")
    );
    assert!(forwarded.at_us >= handled.at_us);

    // The sink never saw the root: it answers in the second round, for the trace.
    let sunk = &answer_of(&answers, "sink").spans;
    assert_eq!(sunk.len(), 1, "{sunk:#?}");
    assert_eq!(
        (
            sunk[0].kind,
            sunk[0].event_id.as_str(),
            sunk[0].span_id.as_str()
        ),
        (
            SpanKind::Handle,
            child.id.as_str(),
            forwarded.span_id.as_str()
        )
    );
    assert_eq!(sunk[0].queue.as_deref(), Some("instadash.events.sink"));

    // Asking by trace id gives the same journey in one round.
    let by_trace = monitor
        .ask_trace(
            TraceTarget::Trace(trace.to_ascii_uppercase()),
            Some(4),
            WAIT,
        )
        .await
        .unwrap();
    let spans = |answers: &[TraceSpans]| -> Vec<Span> {
        answers.iter().flat_map(|a| a.spans.clone()).collect()
    };
    assert_eq!(spans(&by_trace), spans(&answers));
    // And the asker's own answer is what it would send.
    assert_eq!(
        worker.local_trace(&TraceTarget::Trace(trace)).spans,
        *worked
    );

    for bridge in [producer, worker, sink, monitor] {
        bridge.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_get_an_empty_answer_from_every_instance() {
    common::init_logs();
    let vhost = TestVhost::create().await.unwrap();
    let monitor = connect(&vhost, "monitor", 20_000).await;
    let tracker = connect(&vhost, "tracker", 20_000).await;
    let off = connect(&vhost, "quiet", 0).await;
    until_present(&monitor, 3).await;
    // Something in the rings, of another trace.
    tracker
        .subscribe("tracker")
        .on(|_: Incoming<Root>| async { Ok(()) })
        .start()
        .await
        .unwrap();
    monitor
        .publish(&Root {
            car: "car-1".into(),
        })
        .await
        .unwrap()
        .confirmed()
        .await
        .unwrap();
    wait_until("the root handled", WAIT, || tracker.stats().handled == 1)
        .await
        .unwrap();

    let unknown = [
        TraceTarget::Event("no-such-event".into()),
        TraceTarget::Event(uuid::Uuid::now_v7().to_string()),
        TraceTarget::Trace(format!("{:032x}", 0x4bf9_2f35_77b3_4da6_u128)),
    ];
    for target in unknown {
        let answers = monitor
            .ask_trace(target.clone(), Some(3), WAIT)
            .await
            .unwrap();
        let services: Vec<&str> = answers.iter().map(|a| a.service.as_str()).collect();
        assert_eq!(services, ["monitor", "quiet", "tracker"], "{target:?}");
        assert!(answers.iter().all(|a| a.spans.is_empty()), "{answers:#?}");
        let held = |service| answer_of(&answers, service).buffer_spans;
        assert_eq!((held("monitor"), held("tracker"), held("quiet")), (1, 1, 0));
        assert_eq!(answer_of(&answers, "quiet").oldest_us, None);
        assert!(answer_of(&answers, "tracker").oldest_us.is_some());
    }
    // Without a count to wait for, answers are gathered until the deadline.
    let started = std::time::Instant::now();
    let answers = monitor
        .ask_trace(
            TraceTarget::Event("still-nothing".into()),
            None,
            Duration::from_millis(700),
        )
        .await
        .unwrap();
    assert_eq!(answers.len(), 3, "{answers:#?}");
    assert!(started.elapsed() >= Duration::from_millis(700));

    let error = monitor
        .ask_trace(TraceTarget::Trace("not-a-trace".into()), Some(3), WAIT)
        .await
        .unwrap_err();
    assert!(matches!(error, BridgeError::InvalidTraceId(_)), "{error}");

    for bridge in [tracker, off, monitor] {
        bridge.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ring_keeps_only_the_newest_spans() {
    common::init_logs();
    let vhost = TestVhost::create().await.unwrap();
    let monitor = connect(&vhost, "monitor", 0).await;
    let sink = connect(&vhost, "sink", 0).await;
    let ids = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = ids.clone();
    sink.subscribe("sink")
        .on(move |m: Incoming<Root>| {
            seen.lock().unwrap().push(m.envelope.id);
            async { Ok(()) }
        })
        .start()
        .await
        .unwrap();
    let producer = connect(&vhost, "producer", 5).await;
    until_present(&monitor, 3).await;
    for n in 0..8 {
        producer
            .publish(&Root {
                car: format!("car-{n}"),
            })
            .await
            .unwrap()
            .confirmed()
            .await
            .unwrap();
    }
    wait_until("all handled", WAIT, || ids.lock().unwrap().len() == 8)
        .await
        .unwrap();
    let ids = ids.lock().unwrap().clone();

    let ask = |n: usize| {
        let (monitor, id) = (monitor.clone(), ids[n].clone());
        async move {
            let answers = monitor
                .ask_trace(TraceTarget::Event(id), Some(3), WAIT)
                .await
                .unwrap();
            assert_eq!(answers.len(), 3, "{answers:#?}");
            answer_of(&answers, "producer").clone()
        }
    };
    // Eight publishes, five kept: the first three are gone.
    for n in 0..3 {
        let gone = ask(n).await;
        assert!(gone.spans.is_empty(), "{n}: {gone:#?}");
        assert_eq!(gone.buffer_spans, 5);
    }
    let oldest = ask(3).await;
    assert_eq!(oldest.spans.len(), 1, "{oldest:#?}");
    assert_eq!(oldest.spans[0].subject.as_deref(), Some("car-3"));
    assert_eq!(
        oldest.oldest_us,
        Some(oldest.spans[0].at_us),
        "the ring's horizon"
    );
    let newest = ask(7).await;
    assert_eq!(newest.spans.len(), 1, "{newest:#?}");
    assert_eq!(newest.spans[0].event_id, ids[7]);
    assert!(newest.spans[0].at_us >= oldest.spans[0].at_us);
    assert_eq!(
        producer
            .local_trace(&TraceTarget::Event(ids[0].clone()))
            .buffer_spans,
        5
    );
    // With the log off, nothing is kept, and it still answers.
    let quiet = sink.local_trace(&TraceTarget::Event(ids[7].clone()));
    assert_eq!(
        (quiet.spans.len(), quiet.buffer_spans, quiet.oldest_us),
        (0, 0, None)
    );

    for bridge in [producer, sink, monitor] {
        bridge.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attempt_of_a_failing_delivery_is_a_span_with_its_outcome() {
    common::init_logs();
    let vhost = TestVhost::create().await.unwrap();
    let worker = connect(&vhost, "worker", 20_000).await;
    let attempts = Arc::new(Received::<Envelope>::new());
    let seen = attempts.clone();
    worker
        .subscribe("worker")
        .on(move |m: Incoming<Flaky>| {
            seen.push(m.envelope);
            async { anyhow::bail!("always fails") }
        })
        .start()
        .await
        .unwrap();
    until_present(&worker, 1).await;
    worker
        .publish(&Flaky { n: 1 })
        .await
        .unwrap()
        .confirmed()
        .await
        .unwrap();
    let first = attempts.next(WAIT).await.unwrap();
    wait_until("dead-lettered", WAIT, || worker.stats().dead_lettered == 1)
        .await
        .unwrap();

    // The publisher and the handler are the same instance here: one answer.
    let answers = worker
        .ask_trace(TraceTarget::Event(first.id.clone()), Some(1), WAIT)
        .await
        .unwrap();
    assert_eq!(answers.len(), 1, "{answers:#?}");
    let spans = &answers[0].spans;
    let kinds: Vec<(SpanKind, Option<SpanOutcome>)> =
        spans.iter().map(|s| (s.kind, s.outcome)).collect();
    assert_eq!(
        kinds,
        [
            (SpanKind::Publish, None),
            (SpanKind::Handle, Some(SpanOutcome::Retried)),
            (SpanKind::Handle, Some(SpanOutcome::Retried)),
            (SpanKind::Handle, Some(SpanOutcome::DeadLettered)),
        ],
        "{spans:#?}"
    );
    // Every attempt arrived with the span it was published with.
    let span_id = span_id_of(&first);
    assert!(
        spans
            .iter()
            .all(|s| s.span_id == span_id && s.event_id == first.id)
    );
    assert!(
        spans[1..]
            .iter()
            .all(|s| s.duration_us.is_some()
                && s.queue.as_deref() == Some("instadash.events.worker"))
    );
    worker.shutdown().await.unwrap();
}
