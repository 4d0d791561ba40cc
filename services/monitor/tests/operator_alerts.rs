//! Against the real broker: a consumer stops, the monitor raises "no consumer" and "growing
//! backlog" for its queue; the consumer returns, both clear. Seen through the monitor's HTTP API
//! and its Prometheus metrics, as an operator would.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use broker_bridge::testing::TestVhost;
use broker_bridge::{Bridge, Incoming, Message};
use instadash_monitor::api::{OperatorAlert, OperatorAlertKind, Overview};
use instadash_monitor::operator_alerts::RuleConfig;
use instadash_monitor::service::{Monitor, MonitorOptions};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Reading {
    n: u64,
}

impl Message for Reading {
    const TYPE: &'static str = "instadash.test.reading";
}

const QUEUE: &str = "instadash.events.meter";

async fn start_consumer(vhost: &TestVhost) -> anyhow::Result<Bridge> {
    let bridge = vhost.connect("meter").await?;
    bridge
        .subscribe("meter")
        .on(|_: Incoming<Reading>| async { Ok(()) })
        .start()
        .await?;
    Ok(bridge)
}

fn get(url: &str) -> anyhow::Result<String> {
    Ok(ureq::get(url).call()?.body_mut().read_to_string()?)
}

async fn overview(base: &str) -> anyhow::Result<Overview> {
    let url = format!("{base}/api/overview");
    let body = tokio::task::spawn_blocking(move || get(&url)).await??;
    Ok(serde_json::from_str(&body)?)
}

fn active(view: &Overview, kind: OperatorAlertKind) -> Option<&OperatorAlert> {
    view.operator_alerts
        .iter()
        .find(|a| a.kind == kind && a.subject == QUEUE && a.cleared_ms.is_none())
}

/// Polls the monitor's API until `check` holds.
async fn wait_for(
    base: &str,
    what: &str,
    timeout: Duration,
    check: impl Fn(&Overview) -> bool,
) -> anyhow::Result<Overview> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let view = overview(base).await?;
        if check(&view) {
            return Ok(view);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}; operator alerts: {:?}",
            view.operator_alerts
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_consumer_raises_no_consumer_and_growing_backlog_which_clear_when_it_returns()
-> anyhow::Result<()> {
    let vhost = TestVhost::create().await?;
    let monitor = Monitor::start(
        vhost.connect("monitor").await?,
        MonitorOptions {
            listen: "127.0.0.1:0".parse()?,
            poll: Duration::from_millis(500),
            refresh: Duration::from_millis(250),
            rules: RuleConfig {
                no_consumer_after: Duration::from_secs(2),
                // The management API refreshes queue depths every 5 s: a window of two refreshes.
                backlog_window: Duration::from_secs(11),
                backlog_min_growth: 100,
                ..RuleConfig::default()
            },
            ..MonitorOptions::default()
        },
    )
    .await?;
    let base = format!("http://{}", monitor.addr());

    let consumer = start_consumer(&vhost).await?;
    let publisher = vhost.connect("meter-feed").await?;
    let publishing = Arc::new(AtomicBool::new(true));
    let feed = tokio::spawn({
        let (publisher, publishing) = (publisher.clone(), publishing.clone());
        async move {
            let mut n = 0;
            while publishing.load(Ordering::Relaxed) {
                n += 1;
                publisher.publish(&Reading { n }).await?;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            anyhow::Ok(n)
        }
    });

    let healthy = wait_for(
        &base,
        "the queue with its consumer",
        Duration::from_secs(20),
        |v| v.queues.iter().any(|q| q.name == QUEUE && q.consumers == 1),
    )
    .await?;
    assert!(active(&healthy, OperatorAlertKind::NoConsumer).is_none());

    consumer.shutdown().await?;
    let raised = wait_for(&base, "both alerts", Duration::from_secs(45), |v| {
        active(v, OperatorAlertKind::NoConsumer).is_some()
            && active(v, OperatorAlertKind::GrowingBacklog).is_some()
    })
    .await?;
    let backlog = active(&raised, OperatorAlertKind::GrowingBacklog).map(|a| a.message.clone());
    assert!(
        backlog.as_deref().is_some_and(|m| m.contains("grew by")),
        "{backlog:?}"
    );
    let metrics = tokio::task::spawn_blocking({
        let url = format!("{base}/metrics");
        move || get(&url)
    })
    .await??;
    assert!(
        metrics.contains(r#"instadash_operator_alerts_active{kind="no-consumer"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            r#"instadash_queue_consumers{{queue="{QUEUE}"}} 0"#
        )),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("consumers"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    let consumer = start_consumer(&vhost).await?;
    let cleared = wait_for(
        &base,
        "both alerts to clear",
        Duration::from_secs(45),
        |v| {
            active(v, OperatorAlertKind::NoConsumer).is_none()
                && active(v, OperatorAlertKind::GrowingBacklog).is_none()
        },
    )
    .await?;
    let listed_cleared: Vec<_> = cleared
        .operator_alerts
        .iter()
        .filter(|a| a.subject == QUEUE && a.cleared_ms.is_some())
        .map(|a| a.kind)
        .collect();
    assert!(listed_cleared.contains(&OperatorAlertKind::NoConsumer));
    assert!(listed_cleared.contains(&OperatorAlertKind::GrowingBacklog));

    publishing.store(false, Ordering::Relaxed);
    feed.await??;
    consumer.shutdown().await?;
    publisher.shutdown().await?;

    // A page still open does not hold the monitor up: its event stream ends with it.
    let page = std::thread::spawn({
        let url = format!("{base}/events");
        move || -> anyhow::Result<usize> {
            let mut response = ureq::get(&url).call()?;
            let mut body = String::new();
            response.body_mut().as_reader().read_to_string(&mut body)?;
            Ok(body.len())
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    tokio::time::timeout(Duration::from_secs(10), monitor.stop())
        .await
        .map_err(|_| anyhow::anyhow!("the monitor did not stop with a page open"))??;
    let received = page.join().map_err(|_| anyhow::anyhow!("page thread"))??;
    assert!(received > 0, "the page got events before the end");
    Ok(())
}
