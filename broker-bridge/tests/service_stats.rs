//! Statistics over the bus: a service's periodic `instadash.platform.service-stats` reports,
//! received by an observer, add up exactly to what the service did: messages in and out per type,
//! handler latency, failures (errors, retries, dead letters) and a forced reconnect.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use broker_bridge::service_stats::{Direction, ServiceStats};
use broker_bridge::testing::{Received, TestVhost, wait_until};
use broker_bridge::{Incoming, LinkState, Message};
use serde::{Deserialize, Serialize};

mod common;

/// What the worker publishes for some of its jobs.
use common::Tick as Done;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Job {
    seq: u32,
}

impl Message for Job {
    const TYPE: &'static str = "instadash.test.stats-job";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Flaky {
    seq: u32,
}

impl Message for Flaky {
    const TYPE: &'static str = "instadash.test.stats-flaky";
}

const JOBS: u32 = 40;
/// Jobs whose handler publishes a `Done`.
const DONE: u32 = 25;

/// What the received reports add up to.
#[derive(Debug, Default, Clone, PartialEq)]
struct Sums {
    reports: usize,
    jobs_in: u64,
    jobs_in_bytes: u64,
    done_out: u64,
    jobs_handled: u64,
    flaky_in: u64,
    flaky_errors: u64,
    errors: u64,
    retries: u64,
    dead_lettered: u64,
    rejected: u64,
    reconnects: u64,
    confirms: u64,
    job_latency_p50_min_us: Option<u64>,
}

impl Sums {
    fn add(&mut self, report: &ServiceStats) {
        self.reports += 1;
        for m in &report.messages {
            match (m.type_.as_str(), m.direction) {
                (Job::TYPE, Direction::In) => {
                    self.jobs_in += m.count;
                    self.jobs_in_bytes += m.bytes;
                }
                (Done::TYPE, Direction::Out) => self.done_out += m.count,
                (Flaky::TYPE, Direction::In) => self.flaky_in += m.count,
                other => panic!("unexpected traffic {other:?} in {report:?}"),
            }
        }
        for h in &report.handlers {
            match h.type_.as_str() {
                Job::TYPE => {
                    self.jobs_handled += h.handled;
                    if h.latency.count > 0 {
                        let p50 = h.latency.p50_us;
                        self.job_latency_p50_min_us =
                            Some(self.job_latency_p50_min_us.map_or(p50, |m| m.min(p50)));
                        assert!(h.latency.max_us >= h.latency.p99_us, "{h:?}");
                        assert!(h.latency.p99_us >= h.latency.p50_us, "{h:?}");
                    }
                }
                Flaky::TYPE => {
                    assert_eq!(h.handled, 0, "{h:?}");
                    self.flaky_errors += h.errors;
                }
                other => panic!("unexpected handler {other} in {report:?}"),
            }
        }
        self.errors += report.errors;
        self.retries += report.retries;
        self.dead_lettered += report.dead_lettered;
        self.rejected += report.rejected_by_validation;
        self.reconnects += report.reconnects;
        self.confirms += report.confirm_latency.count;
        assert!(report.interval_s >= 1);
        assert_eq!(report.service, "worker");
        #[cfg(target_os = "linux")]
        {
            assert!(report.process_cpu_pct.is_some(), "{report:?}");
            assert!(report.process_rss_bytes.unwrap_or(0) > 0, "{report:?}");
            let host = report.host.as_ref().expect("host figures on Linux");
            assert!((0.0..=100.0).contains(&host.cpu_pct), "{host:?}");
            assert!(host.mem_used_bytes <= host.mem_total_bytes && host.mem_total_bytes > 0);
        }
    }

    fn complete(&self) -> bool {
        self.jobs_in == u64::from(JOBS)
            && self.done_out == u64::from(DONE)
            && self.dead_lettered == 1
            && self.reconnects >= 1
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_add_up_to_what_the_service_did() {
    common::init_logs();
    let vhost = TestVhost::create().await.unwrap();

    // The observer: every report of the service "worker", and the worker's output.
    let mut config = vhost.config("monitor");
    config.stats_interval = Duration::ZERO;
    let observer = broker_bridge::Bridge::connect(config).await.unwrap();
    let reports = Arc::new(Received::<ServiceStats>::new());
    let seen = reports.clone();
    observer
        .subscribe("monitor")
        .subject("worker")
        .on(move |m: Incoming<ServiceStats>| {
            seen.push(m.data);
            async { Ok(()) }
        })
        .start()
        .await
        .unwrap();
    observer
        .subscribe("done-sink")
        .on(|_: Incoming<Done>| async { Ok(()) })
        .start()
        .await
        .unwrap();

    let mut config = vhost.config("worker");
    config.stats_interval = Duration::from_millis(300);
    let worker = broker_bridge::Bridge::connect(config).await.unwrap();
    let handled = Arc::new(AtomicU32::new(0));
    let (count, out) = (handled.clone(), worker.clone());
    worker
        .subscribe("worker")
        .on(move |m: Incoming<Job>| {
            let (count, out) = (count.clone(), out.clone());
            async move {
                tokio::time::sleep(Duration::from_millis(2)).await;
                if m.data.seq < DONE {
                    out.publish(&Done { seq: m.data.seq }).await?;
                }
                count.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        })
        .on(|_: Incoming<Flaky>| async { anyhow::bail!("always fails") })
        .start()
        .await
        .unwrap();

    let producer = vhost.connect("producer").await.unwrap();
    for seq in 0..JOBS {
        producer.publish(&Job { seq }).await.unwrap();
    }
    producer
        .publish(&Flaky { seq: 0 })
        .await
        .unwrap()
        .confirmed()
        .await
        .unwrap();

    wait_until("jobs handled", Duration::from_secs(20), || {
        handled.load(Ordering::SeqCst) == JOBS && worker.stats().dead_lettered == 1
    })
    .await
    .unwrap();
    let so_far = worker.stats_so_far();
    assert!(so_far.interval_s >= 1);

    // A forced close of every connection: the worker's link recovers and counts it.
    let closed = vhost.close_connections(3).await.unwrap();
    assert!(closed >= 3, "{closed} connections closed");
    let mut state = worker.state();
    tokio::time::sleep(Duration::from_millis(200)).await;
    tokio::time::timeout(
        Duration::from_secs(20),
        state.wait_for(|s| *s == LinkState::Connected),
    )
    .await
    .expect("the worker reconnects")
    .unwrap();

    let mut sums = Sums::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !sums.complete() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match reports.next(left.max(Duration::from_millis(1))).await {
            Ok(report) => sums.add(&report),
            Err(error) => panic!("{error}: reports so far add up to {sums:?}"),
        }
    }
    assert!(worker.stats_report().is_some(), "the last report is kept");

    // The last, partial interval is published at shutdown; nothing more may add up.
    worker.shutdown().await.unwrap();
    while let Ok(report) = reports.next(Duration::from_millis(1500)).await {
        sums.add(&report);
    }
    eprintln!("{sums:?}");
    assert_eq!(sums.jobs_in, u64::from(JOBS), "{sums:?}");
    assert_eq!(sums.jobs_handled, u64::from(JOBS), "{sums:?}");
    assert_eq!(sums.done_out, u64::from(DONE), "{sums:?}");
    assert!(sums.jobs_in_bytes >= u64::from(JOBS) * 8, "{sums:?}");
    // Three attempts (the first delivery and two retries), then the dead-letter queue.
    let attempts = 3;
    assert_eq!(sums.flaky_in, attempts, "{sums:?}");
    assert_eq!(sums.flaky_errors, attempts, "{sums:?}");
    assert_eq!(sums.errors, attempts, "{sums:?}");
    assert_eq!(sums.retries, attempts - 1, "{sums:?}");
    assert_eq!(sums.dead_lettered, 1, "{sums:?}");
    assert_eq!(sums.rejected, 0, "{sums:?}");
    assert!(sums.reconnects >= 1, "{sums:?}");
    assert!(
        sums.confirms >= u64::from(DONE),
        "every Done (and the retry and dead-letter copies) confirmed: {sums:?}"
    );
    let p50 = sums.job_latency_p50_min_us.expect("job latency reported");
    assert!(p50 >= 2_000, "the handler sleeps 2 ms: p50 {p50} µs");

    observer.shutdown().await.unwrap();
    producer.shutdown().await.unwrap();
}
