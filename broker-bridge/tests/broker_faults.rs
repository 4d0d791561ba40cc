//! The broker process misbehaves mid-stream, on a private node of the test's own (never the shared
//! broker): the application is stopped and started (`stop_app` / `start_app`), the node is killed
//! with `kill -9` and restarted, the node is frozen with `kill -STOP` for 30 s and continued; and a
//! consumer process is killed with SIGKILL in the middle of handling.
//!
//! Each scenario publishes a steady stream of numbered events (the number is the ledger's id),
//! records every confirm and every handled event in a [`Ledger`], injects its fault mid-stream,
//! drains, and asserts nothing was lost and no handler (or side effect) saw an event twice.
//! The publishing and consuming bridges use a 2 s AMQP heartbeat and a 3 s confirm timeout, so a
//! frozen broker is noticed within seconds and unconfirmed messages are published again.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use broker_bridge::testing::{Ledger, LedgerReport, PrivateNode, wait_until};
use broker_bridge::{Bridge, Incoming, LinkState};
use tokio::task::JoinHandle;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

mod common;

use common::Tick;

/// About four seconds of stream at the publishing pace.
const MESSAGES: u32 = 4_000;
/// Events published per pacing step, one step every 10 ms: about 1,000 events a second.
const BURST: u32 = 10;
const GROUP: &str = "tracker";

use common::fault_config as config;

/// Publishes `MESSAGES` ticks at a steady pace into `ledger`; how many failed.
fn publish_stream(bridge: Bridge, ledger: Arc<Ledger>) -> JoinHandle<u64> {
    tokio::spawn(common::publish_ticks(bridge, ledger, 0..MESSAGES, BURST))
}

/// Counts the publisher's "publishing again" events (its debug log of every republish: a lost,
/// nacked or overdue confirm), the only outside view of republishing the bridge gives.
#[derive(Clone, Default)]
struct RepublishCounter(Arc<AtomicU64>);

impl<S: tracing::Subscriber> Layer<S> for RepublishCounter {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(bool);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" && format!("{value:?}").contains("publishing again") {
                    self.0 = true;
                }
            }
        }
        let mut message = Message(false);
        event.record(&mut message);
        if message.0 {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Logs to the test's output (at `RUST_LOG` or `info`) and counts republishes.
fn init_logs() -> RepublishCounter {
    let counter = RepublishCounter::default();
    let filter = tracing_subscriber::EnvFilter::new(
        std::env::var("RUST_LOG")
            .unwrap_or_else(|_| format!("info,{}", broker_bridge::QUIET_LOG_DIRECTIVES)),
    );
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_test_writer()
                .with_filter(filter),
        )
        .with(
            counter.clone().with_filter(
                tracing_subscriber::filter::Targets::new()
                    .with_target("broker_bridge::publisher", tracing::Level::DEBUG),
            ),
        )
        .try_init();
    counter
}

/// A private node, a publishing bridge streaming ticks, and a consuming bridge recording them.
struct Scenario {
    node: PrivateNode,
    producer: Bridge,
    consumer: Bridge,
    ledger: Arc<Ledger>,
    publishing: JoinHandle<u64>,
}

impl Scenario {
    /// Starts everything and returns once a good part of the stream has been handled, so the
    /// fault lands in the middle of it.
    async fn start() -> Scenario {
        let node = PrivateNode::start().await.expect("private node boots");
        let producer = Bridge::connect(config(&node.amqp_url(), "simulator"))
            .await
            .expect("producer connects");
        let consumer = Bridge::connect(config(&node.amqp_url(), GROUP))
            .await
            .expect("consumer connects");
        let ledger = Arc::new(Ledger::default());
        let record = ledger.clone();
        consumer
            .subscribe(GROUP)
            .on(move |m: Incoming<Tick>| {
                record.record(&m.data.seq.to_string());
                async { Ok(()) }
            })
            .start()
            .await
            .expect("subscribed");
        let publishing = publish_stream(producer.clone(), ledger.clone());
        wait_until("traffic flowing", Duration::from_secs(20), || {
            ledger.handled() > 1_000
        })
        .await
        .expect("traffic flows");
        Scenario {
            node,
            producer,
            consumer,
            ledger,
            publishing,
        }
    }

    /// Waits until `bridge`'s connection has been seen lost.
    async fn loss_seen(bridge: &Bridge, within: Duration) -> Duration {
        let started = Instant::now();
        let mut state = bridge.state();
        wait_until("the connection loss is seen", within, || {
            *state.borrow_and_update() != LinkState::Connected
        })
        .await
        .expect("the bridge notices");
        started.elapsed()
    }

    /// Lets the stream finish, drains the queue, and checks the ledger.
    async fn finish(self, scenario: &str) -> LedgerReport {
        let failed = tokio::time::timeout(Duration::from_secs(120), self.publishing)
            .await
            .expect("publishing finishes within 2 minutes")
            .expect("the publishing task");
        assert_eq!(failed, 0, "every publish confirmed in the end");
        let ledger = &self.ledger;
        wait_until(
            "every confirmed event handled",
            Duration::from_secs(60),
            || ledger.all_confirmed_handled(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}: {}", ledger.report(scenario)));
        // Late duplicates (redeliveries, republished copies) would arrive now.
        tokio::time::sleep(Duration::from_millis(500)).await;
        ledger.dropped_by_dedup(self.consumer.stats().duplicates);
        let report = ledger.report(scenario);
        self.producer.shutdown().await.expect("producer shuts down");
        self.consumer.shutdown().await.expect("consumer shuts down");
        drop(self.node);
        report.assert_passed();
        assert_eq!(report.sent, MESSAGES as usize);
        assert_eq!(report.confirmed, MESSAGES as usize);
        report
    }
}

/// Waits until traffic resumes after `back` and says how long it took.
async fn resumed_after(ledger: &Ledger, back: Instant, limit: Duration) -> Duration {
    wait_until("traffic resumes", limit, || {
        ledger.last_handled_at().is_some_and(|at| at > back)
    })
    .await
    .expect("traffic resumes");
    back.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_app_and_start_app_mid_stream_loses_nothing() {
    init_logs();
    let s = Scenario::start().await;
    s.ledger.fault();
    s.node.ctl(&["stop_app"]).await.expect("stop_app");
    Scenario::loss_seen(&s.consumer, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    s.node.ctl(&["start_app"]).await.expect("start_app");
    let back = Instant::now();
    let resumed = resumed_after(&s.ledger, back, Duration::from_secs(15)).await;
    eprintln!("traffic resumed {resumed:?} after start_app returned");
    assert!(
        resumed < Duration::from_secs(5),
        "resumed after {resumed:?}"
    );
    s.finish("broker stop_app/start_app").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_and_restart_mid_stream_loses_nothing() {
    init_logs();
    let mut s = Scenario::start().await;
    s.ledger.fault();
    s.node.kill().await.expect("kill -9");
    Scenario::loss_seen(&s.consumer, Duration::from_secs(10)).await;
    s.node.restart().await.expect("restart on the same data");
    let back = Instant::now();
    let resumed = resumed_after(&s.ledger, back, Duration::from_secs(15)).await;
    eprintln!("traffic resumed {resumed:?} after the killed node answered again");
    assert!(
        resumed < Duration::from_secs(5),
        "resumed after {resumed:?}"
    );
    s.finish("broker kill -9 + restart").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_broker_for_30_s_is_noticed_and_loses_nothing() {
    let republished = init_logs();
    let mut s = Scenario::start().await;
    s.ledger.fault();
    s.node.freeze().expect("kill -STOP");
    // The socket stays open: only the missing heartbeats (2 s, about two intervals) tell.
    let noticed = Scenario::loss_seen(&s.producer, Duration::from_secs(15)).await;
    eprintln!("the frozen broker was noticed after {noticed:?}");
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(noticed)).await;
    s.node.thaw().expect("kill -CONT");
    let back = Instant::now();
    let resumed = resumed_after(&s.ledger, back, Duration::from_secs(30)).await;
    eprintln!("traffic resumed {resumed:?} after the node was continued");
    let report = s.finish("broker frozen 30 s (kill -STOP)").await;
    let republished = republished.0.load(Ordering::Relaxed);
    eprintln!("messages published again: {republished}");
    assert!(
        republished > 0,
        "confirms pending at the freeze must time out and be published again"
    );
    assert!(
        report.longest_stall_ms >= 25_000,
        "the stall covers the freeze: {report}"
    );
}

// ---- a consumer process killed mid-handling -------------------------------------------------

/// The example consumer (`examples/side_effect_consumer.rs`), built once per test process.
static CONSUMER: LazyLock<anyhow::Result<escargot::CargoRun>> = LazyLock::new(|| {
    escargot::CargoBuild::new()
        .package("broker-bridge")
        .example("side_effect_consumer")
        .run()
        .context("building the side_effect_consumer example")
});

async fn consumer_program() -> &'static escargot::CargoRun {
    tokio::task::spawn_blocking(|| LazyLock::force(&CONSUMER).as_ref())
        .await
        .expect("build task")
        .unwrap_or_else(|e| panic!("{e:#}"))
}

/// Starts a consumer process and waits until it consumes.
async fn start_consumer(url: &str, effects: &Path) -> Child {
    let mut child = consumer_program()
        .await
        .command()
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AMQP_URL", url)
        .env("EFFECTS_DIR", effects)
        .env("EFFECTS_GROUP", GROUP)
        .env("EFFECTS_HANDLE_MS", "2")
        .env("INSTADASH_PREFETCH", "100")
        .env("INSTADASH_STATS_INTERVAL_MS", "0")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("consumer process starts");
    let stdout = child.stdout.take().expect("stdout");
    let ready = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line == "READY")
    });
    let ready = tokio::time::timeout(Duration::from_secs(30), ready)
        .await
        .expect("consumer ready within 30 s")
        .expect("reading its output");
    assert!(ready, "the consumer process said READY");
    child
}

/// The side-effect store: the events whose side effect is done (file name = event id, content
/// names the tick), newest first seen by polling.
struct Store {
    dir: PathBuf,
    seen: HashSet<String>,
}

impl Store {
    /// Records every side effect not seen before in `ledger` (by tick number).
    fn scan(&mut self, ledger: &Ledger) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // Temporary files of a handler at work (or killed at work) start with a dot.
            if name.starts_with('.') || self.seen.contains(&name) {
                continue;
            }
            let content = std::fs::read_to_string(entry.path()).expect("effect readable");
            let effect: serde_json::Value =
                serde_json::from_str(&content).expect("a side effect is never half-written");
            assert_eq!(effect["id"], name.as_str(), "the effect names its event");
            let seq = effect["seq"].as_u64().expect("the effect names its tick");
            ledger.record(&seq.to_string());
            self.seen.insert(name);
        }
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_killed_mid_handling_does_every_side_effect_exactly_once() {
    init_logs();
    let program = consumer_program(); // built (or found up to date) before the node boots
    program.await;
    let node = PrivateNode::start().await.expect("private node boots");
    let dir = tempfile::tempdir().expect("temp dir");
    let effects = dir.path().join("effects");
    let producer = Bridge::connect(config(&node.amqp_url(), "simulator"))
        .await
        .expect("producer connects");

    let mut first = start_consumer(&node.amqp_url(), &effects).await;
    let ledger = Arc::new(Ledger::default());
    let publishing = publish_stream(producer.clone(), ledger.clone());
    let mut store = Store {
        dir: effects.clone(),
        seen: HashSet::new(),
    };

    // Handling (2 ms an event, one at a time) is slower than publishing: a backlog builds and the
    // consumer holds a full prefetch of unacknowledged deliveries when it is killed.
    while ledger.handled() < 500 {
        store.scan(&ledger);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ledger.fault();
    first.kill().expect("SIGKILL the consumer");
    let _ = first.wait();
    store.scan(&ledger);
    let at_kill = ledger.handled();

    let mut second = start_consumer(&node.amqp_url(), &effects).await;
    let failed = loop {
        store.scan(&ledger);
        if publishing.is_finished() {
            break publishing.await.expect("publishing task");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(failed, 0, "every publish confirmed");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ledger.all_confirmed_handled() && Instant::now() < deadline {
        store.scan(&ledger);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    store.scan(&ledger);
    second.kill().expect("stop the second consumer");
    let _ = second.wait();

    // Each event's side effect was done by exactly one handler call; every other delivery of it
    // (redelivered after the kill) found it done and did nothing.
    let done = lines(&dir.path().join("effects.log"));
    let skipped = lines(&dir.path().join("skipped.log"));
    let mut times: HashMap<&str, u32> = HashMap::new();
    for id in &done {
        *times.entry(id).or_default() += 1;
    }
    let twice: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "side effects done twice: {twice:?}");
    assert!(
        done.len() <= store.seen.len(),
        "every side effect logged is in the store"
    );
    ledger.dropped_by_dedup(skipped.len() as u64);
    eprintln!(
        "{at_kill} side effects done before the kill; {} redeliveries found theirs done",
        skipped.len()
    );
    producer.shutdown().await.expect("producer shuts down");
    let report = ledger.report("consumer process killed mid-handling (SIGKILL)");
    report.assert_passed();
    assert_eq!(report.confirmed, MESSAGES as usize);
    assert_eq!(
        store.seen.len(),
        MESSAGES as usize,
        "one side effect per event"
    );
}
