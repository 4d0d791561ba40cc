//! What a service instance counts about its traffic, so nothing happens silently: every message is
//! handled, skipped as a duplicate, retried, or dead-lettered, and each of those is counted.
//!
//! Per message type it also keeps what the statistics report ([`crate::service_stats`]) publishes:
//! messages and payload bytes in (handed to a handler) and out (sent), each handler's outcomes and
//! run time, and the publisher's confirm latency. The hot path takes no lock but a histogram's and
//! allocates nothing once a type has been seen: the per-type cells live in a map that is read
//! lock-free (`ArcSwap`) and copied only when a new type appears.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use hdrhistogram::Histogram;

use crate::service_stats::{Direction, HandlerStats, LatencySummary, TypeCount};

#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Per type, for the statistics report: reset at each report.
    pub traffic: Traffic,
    /// From publish to broker confirm: reset at each report.
    pub confirm_latency: Arc<Latency>,
    delivered: AtomicU64,
    handled: AtomicU64,
    duplicates: AtomicU64,
    retried: AtomicU64,
    dead_lettered: AtomicU64,
    rejected: AtomicU64,
    published: AtomicU64,
    in_flight: AtomicU64,
}

/// The counters of one bridge since it connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct StatsSnapshot {
    /// Deliveries taken from the broker (redeliveries included).
    pub delivered: u64,
    /// Messages a handler finished successfully.
    pub handled: u64,
    /// Redelivered messages recognised by event id and not handed to a handler again.
    pub duplicates: u64,
    /// Failed messages parked for another attempt.
    pub retried: u64,
    /// Messages moved to a dead-letter queue, for any reason.
    pub dead_lettered: u64,
    /// Of the dead-lettered, those that broke their contract (envelope, content type, schema,
    /// size, unknown type) and never reached a handler.
    pub rejected: u64,
    /// Messages this instance sent: events, commands and jobs (not requests, replies or copies).
    pub published: u64,
    /// Handler calls running now.
    pub in_flight: u64,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Counter {
    Delivered,
    Handled,
    Duplicate,
    Retried,
    DeadLettered,
    Rejected,
    Published,
}

impl Stats {
    pub(crate) fn count(&self, counter: Counter) {
        let cell = match counter {
            Counter::Delivered => &self.delivered,
            Counter::Handled => &self.handled,
            Counter::Duplicate => &self.duplicates,
            Counter::Retried => &self.retried,
            Counter::DeadLettered => &self.dead_lettered,
            Counter::Rejected => &self.rejected,
            Counter::Published => &self.published,
        };
        cell.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a handler call as running until the returned guard is dropped.
    pub(crate) fn running(&self) -> Running<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Running(&self.in_flight)
    }

    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        let get = |cell: &AtomicU64| cell.load(Ordering::Relaxed);
        StatsSnapshot {
            delivered: get(&self.delivered),
            handled: get(&self.handled),
            duplicates: get(&self.duplicates),
            retried: get(&self.retried),
            dead_lettered: get(&self.dead_lettered),
            rejected: get(&self.rejected),
            published: get(&self.published),
            in_flight: get(&self.in_flight),
        }
    }
}

pub(crate) struct Running<'a>(&'a AtomicU64);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

// ---- per type, per interval ---------------------------------------------------------------------

/// Messages and payload bytes of one type in one direction.
#[derive(Debug, Default)]
pub(crate) struct Flow {
    count: AtomicU64,
    bytes: AtomicU64,
}

impl Flow {
    fn add(&self, bytes: usize) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn read(&self, reset: bool) -> (u64, u64) {
        if reset {
            (
                self.count.swap(0, Ordering::Relaxed),
                self.bytes.swap(0, Ordering::Relaxed),
            )
        } else {
            (
                self.count.load(Ordering::Relaxed),
                self.bytes.load(Ordering::Relaxed),
            )
        }
    }
}

/// One handled type: what came in, how the handler did, how long it took.
#[derive(Debug, Default)]
pub(crate) struct HandlerCells {
    inbound: Flow,
    handled: AtomicU64,
    errors: AtomicU64,
    latency: Latency,
}

/// How a handler call ended, as the statistics count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Handled,
    /// The handler returned an error or panicked.
    Failed,
    /// The payload broke its contract (counted as rejected elsewhere).
    Rejected,
}

impl HandlerCells {
    /// A delivery of `bytes` payload bytes is handed to the handler.
    pub(crate) fn delivered(&self, bytes: usize) {
        self.inbound.add(bytes);
    }

    /// The handler call ended after `took`.
    pub(crate) fn finished(&self, outcome: Outcome, took: Duration) {
        match outcome {
            Outcome::Handled => self.handled.fetch_add(1, Ordering::Relaxed),
            Outcome::Failed => self.errors.fetch_add(1, Ordering::Relaxed),
            Outcome::Rejected => 0,
        };
        self.latency.record(took);
    }
}

/// A map of per-type cells, read without a lock; a new type copies it once.
struct TypeMap<T> {
    map: ArcSwap<HashMap<&'static str, Arc<T>>>,
    adding: Mutex<()>,
}

impl<T> Default for TypeMap<T> {
    fn default() -> Self {
        Self {
            map: ArcSwap::default(),
            adding: Mutex::new(()),
        }
    }
}

impl<T> std::fmt::Debug for TypeMap<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.map.load().keys()).finish()
    }
}

impl<T: Default> TypeMap<T> {
    fn get(&self, kind: &'static str) -> Arc<T> {
        if let Some(cells) = self.map.load().get(kind) {
            return cells.clone();
        }
        let _one_at_a_time = self.adding.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.map.load();
        if let Some(cells) = current.get(kind) {
            return cells.clone();
        }
        let mut map = HashMap::clone(&current);
        let cells = Arc::<T>::default();
        map.insert(kind, cells.clone());
        self.map.store(Arc::new(map));
        cells
    }

    /// Every type seen so far, sorted.
    fn all(&self) -> Vec<(&'static str, Arc<T>)> {
        let mut all: Vec<_> = self
            .map
            .load()
            .iter()
            .map(|(kind, cells)| (*kind, cells.clone()))
            .collect();
        all.sort_unstable_by_key(|(kind, _)| *kind);
        all
    }
}

/// Messages in and out per type, and handler outcomes per handled type.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    out: TypeMap<Flow>,
    handlers: TypeMap<HandlerCells>,
}

/// What [`Traffic::read`] returns: the figures of the interval.
#[derive(Debug, Default)]
pub(crate) struct TrafficReport {
    pub messages: Vec<TypeCount>,
    pub handlers: Vec<HandlerStats>,
    /// Handler failures, all types.
    pub errors: u64,
}

impl Traffic {
    /// A message of type `kind` with `bytes` payload bytes was sent.
    pub(crate) fn sent(&self, kind: &'static str, bytes: usize) {
        self.out.get(kind).add(bytes);
    }

    /// The cells of the handler for `kind` (registering it if new).
    pub(crate) fn handler(&self, kind: &'static str) -> Arc<HandlerCells> {
        self.handlers.get(kind)
    }

    /// The figures since the last reset; with `reset`, starts a new interval. Types without
    /// traffic in the interval are left out.
    pub(crate) fn read(&self, reset: bool) -> TrafficReport {
        let mut report = TrafficReport::default();
        let mut outgoing = Vec::new();
        for (kind, cells) in self.handlers.all() {
            let (count, bytes) = cells.inbound.read(reset);
            let take = |cell: &AtomicU64| {
                if reset {
                    cell.swap(0, Ordering::Relaxed)
                } else {
                    cell.load(Ordering::Relaxed)
                }
            };
            let (handled, errors) = (take(&cells.handled), take(&cells.errors));
            let latency = cells.latency.summary(reset);
            if count > 0 {
                report.messages.push(TypeCount {
                    type_: kind.to_owned(),
                    direction: Direction::In,
                    count,
                    bytes,
                });
            }
            if handled + errors + latency.count > 0 {
                report.handlers.push(HandlerStats {
                    type_: kind.to_owned(),
                    handled,
                    errors,
                    latency,
                });
            }
            report.errors += errors;
        }
        for (kind, flow) in self.out.all() {
            let (count, bytes) = flow.read(reset);
            if count > 0 {
                outgoing.push(TypeCount {
                    type_: kind.to_owned(),
                    direction: Direction::Out,
                    count,
                    bytes,
                });
            }
        }
        report.messages.extend(outgoing);
        report
    }
}

/// A latency distribution in microseconds (1 µs to 1 h, two significant digits: 1 % resolution).
#[derive(Debug)]
pub(crate) struct Latency(Mutex<Histogram<u64>>);

const LATENCY_MAX_US: u64 = 3_600_000_000;

impl Default for Latency {
    fn default() -> Self {
        let histogram =
            Histogram::new_with_bounds(1, LATENCY_MAX_US, 2).expect("valid histogram bounds");
        Self(Mutex::new(histogram))
    }
}

impl Latency {
    pub(crate) fn record(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.lock().saturating_record(us.min(LATENCY_MAX_US));
    }

    /// Count, mean, p50/p90/p99 and max since the last reset; with `reset`, starts anew.
    pub(crate) fn summary(&self, reset: bool) -> LatencySummary {
        let mut histogram = self.lock();
        let summary = summarize(&histogram);
        if reset {
            histogram.reset();
        }
        summary
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Histogram<u64>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn summarize(histogram: &Histogram<u64>) -> LatencySummary {
    if histogram.is_empty() {
        return LatencySummary::default();
    }
    // Quantiles are the highest value equivalent to the bucket's, so they never undershoot.
    LatencySummary {
        count: histogram.len(),
        mean_us: histogram.mean().round() as u64,
        p50_us: histogram.value_at_quantile(0.50),
        p90_us: histogram.value_at_quantile(0.90),
        p99_us: histogram.value_at_quantile(0.99),
        max_us: histogram.max(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles_within_one_percent() {
        let latency = Latency::default();
        assert_eq!(latency.summary(false), LatencySummary::default());
        for us in 1..=1000 {
            latency.record(Duration::from_micros(us));
        }
        let s = latency.summary(true);
        assert_eq!(s.count, 1000);
        let near = |got: u64, want: u64| got.abs_diff(want) * 100 <= want;
        assert!(near(s.mean_us, 500), "{s:?}");
        assert!(near(s.p50_us, 500), "{s:?}");
        assert!(near(s.p90_us, 900), "{s:?}");
        assert!(near(s.p99_us, 990), "{s:?}");
        assert!(near(s.max_us, 1000), "{s:?}");
        assert_eq!(latency.summary(false).count, 0, "reset");
        latency.record(Duration::from_secs(10_000));
        assert!(
            near(latency.summary(false).max_us, LATENCY_MAX_US),
            "saturates"
        );
    }

    #[test]
    fn traffic_counts_per_type_and_resets_per_interval() {
        let traffic = Traffic::default();
        traffic.sent("b.out", 10);
        traffic.sent("b.out", 5);
        traffic.sent("a.out", 1);
        let handler = traffic.handler("x.in");
        for _ in 0..3 {
            handler.delivered(100);
        }
        handler.finished(Outcome::Handled, Duration::from_millis(2));
        handler.finished(Outcome::Handled, Duration::from_millis(4));
        handler.finished(Outcome::Failed, Duration::from_millis(6));
        assert!(Arc::ptr_eq(&handler, &traffic.handler("x.in")));

        let peek = traffic.read(false);
        let report = traffic.read(true);
        assert_eq!(
            peek.messages, report.messages,
            "reading without reset keeps"
        );
        let flows: Vec<_> = report
            .messages
            .iter()
            .map(|m| (m.type_.as_str(), m.direction, m.count, m.bytes))
            .collect();
        assert_eq!(
            flows,
            [
                ("x.in", Direction::In, 3, 300),
                ("a.out", Direction::Out, 1, 1),
                ("b.out", Direction::Out, 2, 15),
            ]
        );
        assert_eq!(report.errors, 1);
        let h = &report.handlers[0];
        assert_eq!((h.type_.as_str(), h.handled, h.errors), ("x.in", 2, 1));
        assert_eq!(h.latency.count, 3);
        assert!(
            h.latency.p50_us >= 4000 && h.latency.p50_us <= 4040,
            "{h:?}"
        );

        let next = traffic.read(true);
        assert!(
            next.messages.is_empty() && next.handlers.is_empty(),
            "{next:?}"
        );
        assert_eq!(next.errors, 0);
        traffic.sent("a.out", 7);
        assert_eq!(traffic.read(true).messages[0].count, 1);
    }
}
