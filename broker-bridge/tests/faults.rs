//! Connection-level fault scenarios, each against the real broker and each accounted for by a
//! [`Ledger`]: a steady stream of uniquely numbered events is published through `Bridge::publish`
//! while a fault is injected, then the queues are drained and the ledger must show nothing lost,
//! nothing unexpected and no event handled twice. Every scenario prints its ledger (`LEDGER {json}`).
//!
//! Faults come from the broker (`close_connections`, a deleted queue, a length-limit policy), from
//! a [`FaultProxy`] between the bridges and the broker (reset, blackhole, latency, throttle, a frame
//! cut in half), or from the messages themselves (poison, oversized, unroutable).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use broker_bridge::management::{Management, enc};
use broker_bridge::testing::{FaultProxy, Ledger, LedgerReport, TestVhost, wait_until};
use broker_bridge::{Bridge, BridgeConfig, Incoming, Message, PublishError};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

mod common;

/// One event of a scenario's stream; `id` is unique across the whole test run.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Event {
    id: String,
    /// Makes a message as large as a test needs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    padding: String,
}

impl Message for Event {
    const TYPE: &'static str = "instadash.test.ledger-event";
}

/// A type no group subscribes to.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Orphan {
    id: String,
}

impl Message for Orphan {
    const TYPE: &'static str = "instadash.test.orphan";
}

/// Events per scenario, and the pause between two publishes: a stream of about three seconds.
const EVENTS: u32 = 1_500;
const PACE: Duration = Duration::from_millis(2);
/// How long the stream may take to publish and confirm, and the queues to drain, after the fault.
const DRAIN: Duration = Duration::from_secs(60);

/// The group every scenario's consumer subscribes as, and its queue.
const GROUP: &str = "tracker";
const QUEUE: &str = "instadash.events.tracker";

/// A test-friendly configuration: AMQP heartbeats every 2 s, so a silent connection is noticed
/// within about 4 s, and a 3 s confirm timeout. `url` routes the bridge through a proxy.
fn config(vhost: &TestVhost, service: &str, url: Option<&str>) -> BridgeConfig {
    let mut config = vhost.config(service);
    if let Some(url) = url {
        config.amqp_url = url.to_owned();
    }
    config.heartbeat_secs = 2;
    config.confirm_timeout = Duration::from_secs(3);
    config
}

async fn connect(vhost: &TestVhost, service: &str, url: Option<&str>) -> Bridge {
    Bridge::connect(config(vhost, service, url))
        .await
        .unwrap_or_else(|e| panic!("connecting {service}: {e}"))
}

/// Subscribes `bridge` as `group`, recording every event in `ledger`.
async fn record_into(bridge: &Bridge, group: &str, ledger: &Arc<Ledger>) {
    let ledger = ledger.clone();
    bridge
        .subscribe(group)
        .on(move |m: Incoming<Event>| {
            ledger.record(&m.data.id);
            async { Ok(()) }
        })
        .start()
        .await
        .unwrap();
}

/// Publishes `count` events named `<prefix>/<n>` at `PACE`, recording each as sent once
/// `publish` took it and as confirmed once the broker confirmed it. An event that comes back
/// unroutable is published again after a pause if `retry_unroutable` (a queue being declared
/// again), and fails the scenario otherwise. Resolves when every event is confirmed.
fn stream(
    producer: &Bridge,
    ledger: &Arc<Ledger>,
    prefix: &str,
    count: u32,
    retry_unroutable: bool,
) -> JoinHandle<()> {
    stream_into(
        producer,
        std::slice::from_ref(ledger),
        prefix,
        count,
        retry_unroutable,
        None,
    )
}

/// [`stream`] until `stop` is set, for a scenario whose faults take as long as they take.
fn stream_until(
    producer: &Bridge,
    ledger: &Arc<Ledger>,
    prefix: &str,
    stop: &Arc<AtomicBool>,
) -> JoinHandle<()> {
    stream_into(
        producer,
        std::slice::from_ref(ledger),
        prefix,
        u32::MAX,
        false,
        Some(stop.clone()),
    )
}

/// [`stream`] for several consuming groups, one ledger each (every group gets every event).
fn stream_into(
    producer: &Bridge,
    ledgers: &[Arc<Ledger>],
    prefix: &str,
    count: u32,
    retry_unroutable: bool,
    stop: Option<Arc<AtomicBool>>,
) -> JoinHandle<()> {
    let (producer, ledgers, prefix) = (producer.clone(), ledgers.to_vec(), prefix.to_owned());
    tokio::spawn(async move {
        let mut confirms = Vec::new();
        let mut pace = tokio::time::interval(PACE);
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for n in 0..count {
            pace.tick().await;
            if stop
                .as_ref()
                .is_some_and(|stop| stop.load(Ordering::Relaxed))
            {
                break;
            }
            let event = Event {
                id: format!("{prefix}/{n}"),
                padding: String::new(),
            };
            let receipt = producer.publish(&event).await.expect("publish");
            ledgers.iter().for_each(|ledger| ledger.sent(&event.id));
            let (producer, ledgers) = (producer.clone(), ledgers.clone());
            confirms.push(tokio::spawn(async move {
                let mut receipt = receipt;
                loop {
                    match receipt.confirmed().await {
                        Ok(()) => {
                            return ledgers.iter().for_each(|l| l.confirmed(&event.id));
                        }
                        Err(PublishError::Unroutable { .. }) if retry_unroutable => {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            receipt = producer.publish(&event).await.expect("publish again");
                        }
                        Err(error) => panic!("{} not confirmed: {error}", event.id),
                    }
                }
            }));
        }
        for confirm in confirms {
            confirm.await.expect("every event is confirmed in the end");
        }
    })
}

/// Waits for the stream to be confirmed and every confirmed event handled, counts what the
/// consumers' deduplication dropped, and asserts the ledger passed (printing it).
async fn settle(
    scenario: &str,
    ledger: &Ledger,
    publishing: JoinHandle<()>,
    consumers: &[&Bridge],
) -> LedgerReport {
    tokio::time::timeout(DRAIN, publishing)
        .await
        .unwrap_or_else(|_| panic!("{scenario}: publishing did not finish within {DRAIN:?}"))
        .unwrap_or_else(|e| panic!("{scenario}: publishing failed: {e}"));
    wait_until("every confirmed event handled", DRAIN, || {
        ledger.all_confirmed_handled()
    })
    .await
    .unwrap_or_else(|e| panic!("{scenario}: {e}: {}", ledger.report(scenario)));
    // Late redeliveries would show up as duplicates now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for consumer in consumers {
        ledger.dropped_by_dedup(consumer.stats().duplicates);
    }
    let report = ledger.report(scenario);
    report.assert_passed();
    assert_eq!(
        report.sent, report.confirmed,
        "{scenario}: every sent event confirmed"
    );
    report
}

/// A producer and a consumer connected directly, the consumer recording into a fresh ledger.
async fn direct_pair(vhost: &TestVhost) -> (Bridge, Bridge, Arc<Ledger>) {
    let producer = connect(vhost, "simulator", None).await;
    let consumer = connect(vhost, "tracker", None).await;
    let ledger = Arc::new(Ledger::default());
    record_into(&consumer, GROUP, &ledger).await;
    (producer, consumer, ledger)
}

/// A producer and a consumer both talking to the broker through one proxy.
async fn proxied_pair(vhost: &TestVhost) -> (FaultProxy, Bridge, Bridge, Arc<Ledger>) {
    let proxy = FaultProxy::for_broker(vhost.amqp_url()).await.unwrap();
    let url = proxy.amqp_url(vhost.amqp_url()).unwrap();
    let producer = connect(vhost, "simulator", Some(&url)).await;
    let consumer = connect(vhost, "tracker", Some(&url)).await;
    let ledger = Arc::new(Ledger::default());
    record_into(&consumer, GROUP, &ledger).await;
    proxy
        .wait_for_connections(2, Duration::from_secs(5))
        .await
        .unwrap();
    (proxy, producer, consumer, ledger)
}

/// Waits until `ledger` has handled at least `n` events: the stream is flowing.
async fn flowing(ledger: &Ledger, n: usize) {
    wait_until("events flowing", Duration::from_secs(20), || {
        ledger.handled() >= n
    })
    .await
    .unwrap();
}

/// Runs a management API call off the async runtime.
async fn management<T: Send + 'static>(
    call: impl FnOnce(Management) -> anyhow::Result<T> + Send + 'static,
) -> T {
    tokio::task::spawn_blocking(move || call(Management::from_env()?))
        .await
        .unwrap()
        .unwrap()
}

// ---- connections closed by the broker ----------------------------------------------------------

/// Twenty closes in a row, each once events flow again: a recovery must cost the same however
/// many came before it (lapin once recorded every binding again as it replayed it, doubling
/// them at each recovery: the twentieth would have replayed a million `queue.bind`s; see
/// third_party/lapin/PATCHED.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_close_of_every_connection_twenty_times() {
    common::init_logs();
    let vhost = TestVhost::create().await.unwrap();
    let (producer, consumer, ledger) = direct_pair(&vhost).await;
    let stop = Arc::new(AtomicBool::new(false));
    let publishing = stream_until(&producer, &ledger, "close-all", &stop);
    for _ in 0..20 {
        flowing(&ledger, ledger.handled() + 100).await;
        ledger.fault();
        assert!(vhost.close_connections(2).await.unwrap() >= 2);
    }
    flowing(&ledger, ledger.handled() + 100).await;
    stop.store(true, Ordering::Relaxed);
    settle(
        "forced close of all connections x20",
        &ledger,
        publishing,
        &[&consumer],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_one_services_connection_leaves_the_others_flowing() {
    common::init_logs();
    let vhost = TestVhost::create().await.unwrap();
    let producer = connect(&vhost, "simulator", None).await;
    let (tracker, alerts) = (
        connect(&vhost, "tracker", None).await,
        connect(&vhost, "alerts", None).await,
    );
    let (tracker_ledger, alerts_ledger) =
        (Arc::new(Ledger::default()), Arc::new(Ledger::default()));
    record_into(&tracker, "tracker", &tracker_ledger).await;
    record_into(&alerts, "alerts", &alerts_ledger).await;
    let publishing = stream_into(
        &producer,
        &[tracker_ledger.clone(), alerts_ledger.clone()],
        "close-one",
        EVENTS,
        false,
        None,
    );
    flowing(&tracker_ledger, 200).await;
    tracker_ledger.fault();
    let vhost_name = vhost.name().to_owned();
    let closed = management(move |api| {
        // The bridge names its connection `service/instance`. The management API lists a
        // connection only a moment after it opened: look until the tracker's is there.
        let is_tracker = |c: &serde_json::Value| {
            [
                &c["user_provided_name"],
                &c["client_properties"]["connection_name"],
            ]
            .iter()
            .any(|name| name.as_str().is_some_and(|n| n.starts_with("tracker/")))
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let connections = loop {
            let connections: Vec<serde_json::Value> =
                api.get(&format!("/api/vhosts/{}/connections", enc(&vhost_name)))?;
            if connections.iter().any(is_tracker) || std::time::Instant::now() >= deadline {
                break connections;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let mut closed = 0;
        for connection in connections {
            if is_tracker(&connection) {
                api.delete(&format!(
                    "/api/connections/{}",
                    enc(connection["name"].as_str().unwrap_or_default())
                ))?;
                closed += 1;
            }
        }
        Ok(closed)
    })
    .await;
    assert_eq!(closed, 1, "exactly the tracker's connection was closed");
    settle(
        "close of one service's connection: the closed one",
        &tracker_ledger,
        publishing,
        &[&tracker],
    )
    .await;
    let done = tokio::spawn(async {});
    let untouched = settle(
        "close of one service's connection: the other one",
        &alerts_ledger,
        done,
        &[&alerts],
    )
    .await;
    // Generous: its events arrive every few milliseconds, a reconnect would take far longer.
    assert!(
        untouched.longest_stall_ms < 1_500,
        "the other service kept flowing: {untouched}"
    );
}

// ---- faults of the network, through the proxy --------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_reset_of_every_connection() {
    common::init_logs();
    let vhost = TestVhost::create().await.unwrap();
    let (proxy, producer, consumer, ledger) = proxied_pair(&vhost).await;
    let publishing = stream(&producer, &ledger, "reset", EVENTS, false);
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(800)).await;
        // Both bridges connected (again), so each reset hits both.
        proxy
            .wait_for_connections(2, Duration::from_secs(20))
            .await
            .unwrap();
        ledger.fault();
        proxy.reset();
    }
    settle("proxy: reset (RST) x2", &ledger, publishing, &[&consumer]).await;
    assert!(
        proxy.accepted() >= 6,
        "both bridges reconnected twice ({} accepted)",
        proxy.accepted()
    );
}

/// A blackhole longer than two heartbeats: both ends stop hearing each other, lapin gives the
/// connection up and recovers once bytes flow again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_blackhole_longer_than_two_heartbeats() {
    common::init_logs();
    let vhost = TestVhost::create().await.unwrap();
    let (proxy, producer, consumer, ledger) = proxied_pair(&vhost).await;
    let publishing = stream(&producer, &ledger, "blackhole", EVENTS, false);
    flowing(&ledger, 200).await;
    ledger.fault();
    proxy.blackhole(true);
    // Heartbeats every 2 s: two missed intervals and then some.
    tokio::time::sleep(Duration::from_secs(5)).await;
    proxy.blackhole(false);
    let report = settle("proxy: blackhole 5 s", &ledger, publishing, &[&consumer]).await;
    assert!(
        report.longest_stall_ms >= 4_000,
        "the blackhole stalled delivery: {report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_latency_of_200_ms() {
    common::init_logs();
    let vhost = TestVhost::create().await.unwrap();
    let (proxy, producer, consumer, ledger) = proxied_pair(&vhost).await;
    let publishing = stream(&producer, &ledger, "latency", EVENTS, false);
    flowing(&ledger, 200).await;
    ledger.fault();
    proxy.latency(Duration::from_millis(200));
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.latency(Duration::ZERO);
    settle(
        "proxy: latency 200 ms for 2 s",
        &ledger,
        publishing,
        &[&consumer],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_throttled_to_20_kb_per_second() {
    common::init_logs();
    let vhost = TestVhost::create().await.unwrap();
    let (proxy, producer, consumer, ledger) = proxied_pair(&vhost).await;
    let publishing = stream(&producer, &ledger, "throttle", EVENTS, false);
    flowing(&ledger, 200).await;
    ledger.fault();
    proxy.throttle(Some(20_000));
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.throttle(None);
    settle(
        "proxy: throttle 20 kB/s for 2 s",
        &ledger,
        publishing,
        &[&consumer],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_cuts_a_frame_in_half() {
    common::init_logs();
    let vhost = TestVhost::create().await.unwrap();
    let (proxy, producer, consumer, ledger) = proxied_pair(&vhost).await;
    let publishing = stream(&producer, &ledger, "cut", EVENTS, false);
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(800)).await;
        ledger.fault();
        proxy.cut_mid_frame();
    }
    settle("proxy: cut mid-frame x2", &ledger, publishing, &[&consumer]).await;
    assert!(
        proxy.accepted() >= 4,
        "the cut connections were replaced ({} accepted)",
        proxy.accepted()
    );
}

// ---- faults of the broker's topology -----------------------------------------------------------

/// The queue is deleted once the first half is drained (a deleted queue's messages are gone with
/// it: that is the operator's doing, not a loss to account for); the second half is published at
/// once, comes back unroutable until the consumer has declared its queue again, and must arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_deleted_under_its_consumer() {
    common::init_logs();
    let vhost = TestVhost::create().await.unwrap();
    let (producer, consumer, ledger) = direct_pair(&vhost).await;
    let first = stream(&producer, &ledger, "deleted/before", EVENTS / 2, false);
    tokio::time::timeout(DRAIN, first).await.unwrap().unwrap();
    wait_until("first half handled", DRAIN, || {
        ledger.all_confirmed_handled()
    })
    .await
    .unwrap();
    ledger.fault();
    vhost.delete_queue(QUEUE).await.unwrap();
    let second = stream(&producer, &ledger, "deleted/after", EVENTS / 2, true);
    settle(
        "queue deleted under its consumer",
        &ledger,
        second,
        &[&consumer],
    )
    .await;
    // The broker's own count (the management API's lags by seconds).
    assert_eq!(
        consumer.queue_depth(QUEUE).await.unwrap().consumers,
        1,
        "subscribed again, once"
    );
}

// ---- faults of the messages themselves ---------------------------------------------------------

/// Two poison events, one whose handler fails and one whose handler panics, in the middle of the
/// stream: each is retried, then dead-lettered with its reason, and the others pass by. A
/// dead-lettered event is accounted for (handled) once its dead letter and reason are found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_events_are_dead_lettered_with_their_reason() {
    common::init_logs();
    let vhost = TestVhost::create().await.unwrap();
    let producer = connect(&vhost, "simulator", None).await;
    let consumer = connect(&vhost, "tracker", None).await;
    let ledger = Arc::new(Ledger::default());
    let attempts = Arc::new(AtomicU32::new(0));
    let (record, counted) = (ledger.clone(), attempts.clone());
    consumer
        .subscribe(GROUP)
        .on(move |m: Incoming<Event>| {
            let (record, counted) = (record.clone(), counted.clone());
            async move {
                match m.data.id.as_str() {
                    "poison/300" => {
                        counted.fetch_add(1, Ordering::SeqCst);
                        anyhow::bail!("cannot parse the reading")
                    }
                    "poison/600" => {
                        counted.fetch_add(1, Ordering::SeqCst);
                        panic!("reading out of range")
                    }
                    id => record.record(id),
                }
                Ok(())
            }
        })
        .start()
        .await
        .unwrap();
    let publishing = stream(&producer, &ledger, "poison", EVENTS, false);
    tokio::time::timeout(DRAIN, publishing)
        .await
        .unwrap()
        .unwrap();
    let dead_letters = tokio::time::timeout(DRAIN, async {
        loop {
            let letters = consumer.dead_letters(QUEUE, 10).await.unwrap();
            if letters.len() >= 2 {
                break letters;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("both poison events dead-lettered");
    assert_eq!(
        dead_letters.len(),
        2,
        "only the poison events: {dead_letters:?}"
    );
    for letter in &dead_letters {
        let event: Event = serde_json::from_slice(&letter.body).unwrap();
        let expected = if event.id == "poison/300" {
            "cannot parse the reading"
        } else {
            "handler panicked: reading out of range"
        };
        assert_eq!(letter.reason, "handler failed 3 times", "{letter:?}");
        assert!(letter.error.contains(expected), "{letter:?}");
        assert!(letter.rejected_by.starts_with("tracker/"), "{letter:?}");
        assert_eq!(letter.kind.as_deref(), Some(Event::TYPE));
        ledger.record(&event.id);
    }
    assert_eq!(attempts.load(Ordering::SeqCst), 6, "three attempts each");
    let done = tokio::spawn(async {});
    settle(
        "poison events (fail, panic) dead-lettered",
        &ledger,
        done,
        &[&consumer],
    )
    .await;
}

/// An event over the size limit mid-stream is refused before sending, and the stream on the same
/// bridge carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_event_is_refused_and_the_channel_is_unharmed() {
    common::init_logs();
    let vhost = TestVhost::create().await.unwrap();
    let mut producer_config = config(&vhost, "simulator", None);
    producer_config.max_message_bytes = 4 * 1024;
    let producer = Bridge::connect(producer_config).await.unwrap();
    let consumer = connect(&vhost, "tracker", None).await;
    let ledger = Arc::new(Ledger::default());
    record_into(&consumer, GROUP, &ledger).await;
    let publishing = stream(&producer, &ledger, "oversized", EVENTS, false);
    flowing(&ledger, 200).await;
    let big = Event {
        id: "oversized/big".into(),
        padding: "x".repeat(8 * 1024),
    };
    let refused = producer.publish(&big).await;
    assert!(
        matches!(refused, Err(PublishError::TooLarge { limit: 4096, .. })),
        "{refused:?}"
    );
    let next = Event {
        id: "oversized/next".into(),
        padding: String::new(),
    };
    ledger.sent(&next.id);
    producer
        .publish(&next)
        .await
        .unwrap()
        .confirmed()
        .await
        .unwrap();
    ledger.confirmed(&next.id);
    settle(
        "publish over the size limit",
        &ledger,
        publishing,
        &[&consumer],
    )
    .await;
}

/// Events nobody subscribes to, in bursts mid-stream, are each reported unroutable, never acked in
/// silence, and never confused with the routed events around them: the broker settles several
/// publishes with one ack, and each return is matched to its own publish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unroutable_event_is_surfaced() {
    common::init_logs();
    let vhost = TestVhost::create().await.unwrap();
    let (producer, consumer, ledger) = direct_pair(&vhost).await;
    let publishing = stream(&producer, &ledger, "unroutable", EVENTS, false);
    flowing(&ledger, 200).await;
    for burst in 0..5 {
        let mut receipts = Vec::new();
        for n in 0..20 {
            let orphan = Orphan {
                id: format!("unroutable/orphan-{burst}-{n}"),
            };
            receipts.push(producer.publish(&orphan).await.unwrap());
        }
        for receipt in receipts {
            let outcome = receipt.confirmed().await;
            assert!(
                matches!(outcome, Err(PublishError::Unroutable { .. })),
                "{outcome:?}"
            );
        }
    }
    settle("unroutable publish", &ledger, publishing, &[&consumer]).await;
}

/// The consumed queue holds at most 100 messages and refuses more (`reject-publish`) while its
/// consumer is held; the publisher is held back (nacks, republished with backoff, the confirm
/// window full) and, once the consumer goes on, everything arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_at_its_length_limit_holds_publishers_back() {
    common::init_logs();
    let vhost = TestVhost::create().await.unwrap();
    let producer = connect(&vhost, "simulator", None).await;
    let consumer = connect(&vhost, "tracker", None).await;
    let ledger = Arc::new(Ledger::default());
    let (gate, gate_rx) = tokio::sync::watch::channel(false);
    let record = ledger.clone();
    consumer
        .subscribe(GROUP)
        .on(move |m: Incoming<Event>| {
            let (record, mut gate) = (record.clone(), gate_rx.clone());
            async move {
                let _ = gate.wait_for(|open| *open).await;
                record.record(&m.data.id);
                Ok(())
            }
        })
        .start()
        .await
        .unwrap();
    let vhost_name = vhost.name().to_owned();
    management(move |api| {
        api.put(
            &format!("/api/policies/{}/length-limit", enc(&vhost_name)),
            serde_json::json!({
                "pattern": format!("^{}$", QUEUE.replace('.', "\\.")),
                "apply-to": "queues",
                "definition": {"max-length": 100, "overflow": "reject-publish"},
            }),
        )
    })
    .await;
    let path = format!("/api/queues/{}/{}", enc(vhost.name()), enc(QUEUE));
    wait_until("policy applied", Duration::from_secs(10), || {
        Management::from_env()
            .and_then(|api| api.get::<serde_json::Value>(&path))
            .is_ok_and(|q| q["policy"] == "length-limit")
    })
    .await
    .unwrap();
    let publishing = stream(&producer, &ledger, "length-limit", EVENTS, false);
    // Held: the queue (100), the consumer's prefetch and the confirm window fill, then publishing stops.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let report = ledger.report("length limit (held)");
    let window = producer.config().confirm_window;
    let prefetch = usize::from(consumer.config().prefetch);
    assert!(
        report.sent < EVENTS as usize,
        "publishing is held back: {report}"
    );
    // The queue takes its 100 ready messages, the consumer's prefetch more (unacknowledged ones
    // do not count against the limit); RabbitMQ applies `reject-publish` a little late under
    // load, hence the slack. Beyond that, only the confirm window may be in flight.
    assert!(
        report.confirmed <= 100 + prefetch + 32,
        "the broker held the queue at its limit: {report}"
    );
    assert!(
        report.sent <= 100 + prefetch + 32 + window,
        "no unbounded buffering: {report}"
    );
    assert!(report.sent - report.confirmed <= window, "{report}");
    ledger.fault();
    gate.send_replace(true);
    settle(
        "queue at its length limit (reject-publish)",
        &ledger,
        publishing,
        &[&consumer],
    )
    .await;
}
