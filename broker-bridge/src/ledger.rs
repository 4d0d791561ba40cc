//! The ledger of a fault scenario: every event has a unique id, and the ledger accounts for each
//! one, from the publish to the handler, so a scenario can prove that nothing was lost, nothing
//! appeared from nowhere, and no handler saw an event twice.
//!
//! Record what the publisher sent and what the broker confirmed, what each handler was handed
//! (call [`Ledger::record`] in the handler), and the bridge's own count of the duplicates it
//! dropped before any handler saw them (its deduplication); [`Ledger::report`] then says:
//!
//! | figure | meaning |
//! |---|---|
//! | `sent` | distinct ids handed to `publish` |
//! | `confirmed` | distinct ids the broker confirmed |
//! | `consumed` | distinct ids some handler was handed |
//! | `lost` | confirmed but never consumed |
//! | `unexpected` | consumed but never sent |
//! | `duplicates_before_dedup` | deliveries of an id already delivered, dropped by the bridge's dedup or seen by a handler |
//! | `duplicates_after_dedup` | deliveries of an id a handler had already been handed |
//! | `longest_stall` | the longest time without any handled event, from the first to the last |
//! | `recovery` | from the last fault ([`Ledger::fault`]) to the next handled event |
//!
//! A scenario passes when `lost`, `unexpected` and `duplicates_after_dedup` are all zero.

use std::collections::HashSet;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a scenario sent and handled; share it (`Arc`) between the publisher and the handlers.
#[derive(Default)]
pub struct Ledger {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    sent: HashSet<String>,
    confirmed: HashSet<String>,
    handled: HashSet<String>,
    handler_duplicates: u64,
    dropped_by_dedup: u64,
    first_handled: Option<Instant>,
    last_handled: Option<Instant>,
    longest_stall: Duration,
    fault_at: Option<Instant>,
    recovery: Option<Duration>,
}

/// The accounts of one scenario.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LedgerReport {
    pub scenario: String,
    pub sent: usize,
    pub confirmed: usize,
    pub consumed: usize,
    pub lost: usize,
    pub unexpected: usize,
    pub duplicates_before_dedup: u64,
    pub duplicates_after_dedup: u64,
    /// Milliseconds.
    pub longest_stall_ms: u64,
    /// Milliseconds from the last fault to the next handled event; `None` without a fault or
    /// if nothing was handled after it.
    pub recovery_ms: Option<u64>,
}

impl Ledger {
    /// The publisher handed `id` to the bridge.
    pub fn sent(&self, id: &str) {
        self.lock().sent.insert(id.to_owned());
    }

    /// The broker confirmed `id`.
    pub fn confirmed(&self, id: &str) {
        self.lock().confirmed.insert(id.to_owned());
    }

    /// A handler was handed the event `id` (call it from the handler).
    pub fn record(&self, id: &str) {
        let now = Instant::now();
        let mut inner = self.lock();
        if !inner.handled.insert(id.to_owned()) {
            inner.handler_duplicates += 1;
        }
        if let Some(last) = inner.last_handled {
            inner.longest_stall = inner.longest_stall.max(now - last);
        }
        inner.first_handled.get_or_insert(now);
        inner.last_handled = Some(now);
        if let Some(fault) = inner.fault_at
            && inner.recovery.is_none()
        {
            inner.recovery = Some(now - fault);
        }
    }

    /// A fault was injected now; the next handled event ends the recovery.
    pub fn fault(&self) {
        let mut inner = self.lock();
        inner.fault_at = Some(Instant::now());
        inner.recovery = None;
    }

    /// Adds the duplicates a bridge's deduplication dropped (`StatsSnapshot::duplicates` of the
    /// consuming bridges, read at the end).
    pub fn dropped_by_dedup(&self, duplicates: u64) {
        self.lock().dropped_by_dedup += duplicates;
    }

    /// Distinct events handled.
    pub fn handled(&self) -> usize {
        self.lock().handled.len()
    }

    /// How often a handler was handed an event it had already seen.
    pub fn duplicates(&self) -> u64 {
        self.lock().handler_duplicates
    }

    pub fn last_handled_at(&self) -> Option<Instant> {
        self.lock().last_handled
    }

    /// Whether every confirmed event has been handled (the queues are drained of them).
    pub fn all_confirmed_handled(&self) -> bool {
        let inner = self.lock();
        inner.confirmed.is_subset(&inner.handled)
    }

    pub fn report(&self, scenario: &str) -> LedgerReport {
        let inner = self.lock();
        LedgerReport {
            scenario: scenario.to_owned(),
            sent: inner.sent.len(),
            confirmed: inner.confirmed.len(),
            consumed: inner.handled.len(),
            lost: inner.confirmed.difference(&inner.handled).count(),
            unexpected: inner.handled.difference(&inner.sent).count(),
            duplicates_before_dedup: inner.dropped_by_dedup + inner.handler_duplicates,
            duplicates_after_dedup: inner.handler_duplicates,
            longest_stall_ms: millis(inner.longest_stall),
            recovery_ms: inner.recovery.map(millis),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl LedgerReport {
    /// Nothing lost, nothing unexpected, no event handled twice.
    pub fn passed(&self) -> bool {
        self.lost == 0 && self.unexpected == 0 && self.duplicates_after_dedup == 0
    }

    /// Prints the report (a line a person reads, and one JSON line prefixed `LEDGER ` for tools)
    /// and panics, naming what failed, unless it [`passed`](Self::passed).
    pub fn assert_passed(&self) {
        println!("{self}");
        println!("LEDGER {}", serde_json::to_string(self).unwrap_or_default());
        assert!(self.passed(), "scenario `{}` failed: {self}", self.scenario);
    }
}

impl fmt::Display for LedgerReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: sent {}, confirmed {}, consumed {}, lost {}, unexpected {}, duplicates {} before / {} after dedup, longest stall {} ms",
            self.scenario,
            self.sent,
            self.confirmed,
            self.consumed,
            self.lost,
            self.unexpected,
            self.duplicates_before_dedup,
            self.duplicates_after_dedup,
            self.longest_stall_ms
        )?;
        match self.recovery_ms {
            Some(ms) => write!(f, ", recovered in {ms} ms"),
            None => Ok(()),
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_for_every_event() {
        let ledger = Ledger::default();
        for id in ["a", "b", "c"] {
            ledger.sent(id);
            ledger.confirmed(id);
        }
        ledger.sent("d"); // never confirmed, never handled: not lost
        ledger.record("a");
        ledger.record("b");
        ledger.record("b");
        ledger.record("z");
        ledger.dropped_by_dedup(4);
        let report = ledger.report("example");
        assert_eq!(report.lost, 1, "c was confirmed and never handled");
        assert_eq!(report.unexpected, 1, "z was never sent");
        assert_eq!(report.duplicates_after_dedup, 1);
        assert_eq!(report.duplicates_before_dedup, 5);
        assert!(!report.passed());
    }

    #[test]
    fn recovery_is_from_the_fault_to_the_next_handled_event() {
        let ledger = Ledger::default();
        ledger.record("a");
        ledger.fault();
        std::thread::sleep(Duration::from_millis(20));
        ledger.record("b");
        let report = ledger.report("recovery");
        assert!(report.recovery_ms.is_some_and(|ms| ms >= 20));
        assert!(report.longest_stall_ms >= 20);
    }
}
