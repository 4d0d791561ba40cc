//! What a service instance counts about its traffic, so nothing happens silently: every message is
//! handled, skipped as a duplicate, retried, or dead-lettered, and each of those is counted.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub(crate) struct Stats {
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
