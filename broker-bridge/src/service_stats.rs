//! Statistics over the bus: every `stats_interval` (5 s by default; 0 turns it off) each instance
//! publishes one `instadash.platform.service-stats` report about itself, for a monitor to gather.
//!
//! A report holds the figures **of its interval only** (deltas, not totals since start;
//! `interval_s` is the interval's length, rounded, at least 1): messages and payload bytes per
//! type in (handed to a handler) and out (events, commands, jobs, requests and replies this
//! instance sent; not the bridge's own platform messages, retries or dead letters), each handler's
//! outcomes and run time (count, mean, p50, p90, p99, max in µs, decoding included), handler
//! errors, retries, dead letters, messages rejected by their contract, reconnects (lapin's
//! recoveries and replaced connections), the publisher's confirm latency (from the message being
//! on the wire to the broker's confirm, republishes included), the process's CPU share and
//! resident memory, and the host's CPU share, memory and load averages (Linux `/proc`; left out
//! elsewhere). Types without traffic in the interval are left out.
//!
//! Reports are published like discovery's messages: on the events exchange with routing key
//! `instadash.platform.service-stats.<service>`, not `mandatory` (nobody listening is fine). When
//! the bridge shuts down, the last, partial interval is published before the connection closes.
//! In the process, [`crate::Bridge::stats_report`] returns the last report and
//! [`crate::Bridge::stats_so_far`] the current interval so far.
//!
//! The types here mirror `schemas/platform/service-stats.v1.schema.json` (the bridge cannot
//! depend on the schemas crate; a test there checks that they agree).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::link::Link;
use crate::message::Message;
use crate::outbox::Outbox;
use crate::process::{Host, HostCpu, Process};
use crate::stats::{Stats, StatsSnapshot};

// ---- on the wire (schemas/platform/service-stats.v1.schema.json) ------------------------------

/// `instadash.platform.service-stats`: an instance's counters and latency summaries for the
/// interval ending at `time_ms` (deltas, not totals).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStats {
    pub service: String,
    pub instance: String,
    /// End of the interval, ms since the Unix epoch.
    pub time_ms: i64,
    /// Length of the interval in whole seconds (at least 1).
    pub interval_s: u32,
    /// Messages in and out, per type.
    pub messages: Vec<TypeCount>,
    /// Handler outcomes and run time, per handled type.
    pub handlers: Vec<HandlerStats>,
    /// Handler failures (errors and panics).
    pub errors: u64,
    /// Messages parked in a retry queue.
    pub retries: u64,
    pub dead_lettered: u64,
    /// Messages that broke their contract and never reached a handler.
    pub rejected_by_validation: u64,
    /// Connection recoveries and replacements.
    pub reconnects: u64,
    /// From publish to broker confirm.
    pub confirm_latency: LatencySummary,
    /// Percent of one core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_cpu_pct: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_rss_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostStats>,
}

impl Message for ServiceStats {
    const TYPE: &'static str = "instadash.platform.service-stats";
    fn subject(&self) -> Option<String> {
        Some(self.service.clone())
    }
}

/// Messages of one type in one direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeCount {
    #[serde(rename = "type")]
    pub type_: String,
    pub direction: Direction,
    pub count: u64,
    /// Payload bytes.
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Handed to a handler.
    In,
    /// Sent.
    Out,
}

/// One handler, by message type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandlerStats {
    #[serde(rename = "type")]
    pub type_: String,
    pub handled: u64,
    pub errors: u64,
    /// Handler run time.
    pub latency: LatencySummary,
}

/// A latency distribution, microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub mean_us: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

/// The host the instance runs on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostStats {
    /// Percent of all cores, over the interval.
    pub cpu_pct: f64,
    pub mem_used_bytes: u64,
    pub mem_total_bytes: u64,
    pub load_1m: f64,
    pub load_5m: f64,
    pub load_15m: f64,
}

// ---- making reports ----------------------------------------------------------------------------

/// Makes this instance's reports from the bridge's counters; keeps where the interval started.
pub(crate) struct Reporter {
    service: String,
    instance: String,
    stats: Arc<Stats>,
    link: Link,
    start: Mutex<IntervalStart>,
    last: Mutex<Option<ServiceStats>>,
}

/// The cumulative figures at the start of the interval, to subtract.
struct IntervalStart {
    at: Instant,
    counters: StatsSnapshot,
    reconnects: u64,
    process_cpu: Option<Duration>,
    host_cpu: Option<HostCpu>,
}

impl IntervalStart {
    fn now(stats: &Stats, link: &Link) -> Self {
        Self {
            at: Instant::now(),
            counters: stats.snapshot(),
            reconnects: link.reconnects(),
            process_cpu: Process::Current.cpu_time(),
            host_cpu: Host::cpu(),
        }
    }
}

impl Reporter {
    pub(crate) fn new(service: String, instance: String, stats: Arc<Stats>, link: Link) -> Self {
        let start = IntervalStart::now(&stats, &link);
        Self {
            service,
            instance,
            stats,
            link,
            start: Mutex::new(start),
            last: Mutex::new(None),
        }
    }

    /// The report of the interval so far; with `finish`, the interval ends here and the next
    /// starts (and the report is kept as the last one).
    pub(crate) fn report(&self, finish: bool) -> ServiceStats {
        let mut start = self.start.lock().unwrap_or_else(|p| p.into_inner());
        let end = IntervalStart::now(&self.stats, &self.link);
        let traffic = self.stats.traffic.read(finish);
        let confirm_latency = self.stats.confirm_latency.summary(finish);
        let wall = end.at.duration_since(start.at);
        let (now, before) = (end.counters, start.counters);
        let process_cpu_pct = end
            .process_cpu
            .zip(start.process_cpu)
            .filter(|_| !wall.is_zero())
            .map(|(now, before)| {
                100.0 * now.saturating_sub(before).as_secs_f64() / wall.as_secs_f64()
            });
        let host_cpu = end.host_cpu.zip(start.host_cpu);
        let host = host_cpu.zip(Host::memory()).zip(Host::load_average()).map(
            |(((now, before), (used, total)), load)| HostStats {
                cpu_pct: now.pct_since(before),
                mem_used_bytes: used,
                mem_total_bytes: total,
                load_1m: load[0],
                load_5m: load[1],
                load_15m: load[2],
            },
        );
        let report = ServiceStats {
            service: self.service.clone(),
            instance: self.instance.clone(),
            time_ms: crate::discovery::now_ms(),
            interval_s: u32::try_from(wall.as_secs_f64().round() as u64)
                .unwrap_or(u32::MAX)
                .max(1),
            messages: traffic.messages,
            handlers: traffic.handlers,
            errors: traffic.errors,
            retries: now.retried.saturating_sub(before.retried),
            dead_lettered: now.dead_lettered.saturating_sub(before.dead_lettered),
            rejected_by_validation: now.rejected.saturating_sub(before.rejected),
            reconnects: end.reconnects.saturating_sub(start.reconnects),
            confirm_latency,
            process_cpu_pct,
            process_rss_bytes: Process::Current.rss_bytes(),
            host,
        };
        if finish {
            *start = end;
            *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(report.clone());
        }
        report
    }

    /// The last finished report, if any.
    pub(crate) fn last(&self) -> Option<ServiceStats> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Publishes a report every `every` until `stop`; then publishes the last, partial interval and
/// waits (at most `confirm_timeout`) for the broker to confirm it.
pub(crate) async fn publish_periodically(
    reporter: Arc<Reporter>,
    outbox: Outbox,
    every: Duration,
    confirm_timeout: Duration,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(error) = outbox.broadcast(&reporter.report(true)).await {
                    debug!(%error, "statistics report not sent");
                }
            }
            () = stop.cancelled() => {
                match outbox.broadcast(&reporter.report(true)).await {
                    Ok(receipt) => {
                        let _ = tokio::time::timeout(confirm_timeout, receipt.confirmed()).await;
                    }
                    Err(error) => debug!(%error, "last statistics report not sent"),
                }
                return;
            }
        }
    }
}
