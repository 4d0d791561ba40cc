//! Every queue over time: the last polls' figures per queue (for sparklines and the backlog rule),
//! and what each queue is for, read from the platform's naming (see `broker_bridge::topology`).

use std::collections::{BTreeMap, VecDeque};

use crate::api::{QueueKind, QueueView};

/// Polls kept per queue.
pub const HISTORY: usize = 60;

/// What a queue is for and who consumes it, from its name.
pub fn classify(name: &str) -> (QueueKind, Option<String>) {
    if let Some(base) = name.strip_suffix(".dead-letter") {
        return (QueueKind::DeadLetter, classify(base).1);
    }
    if let Some(base) = name.strip_suffix(".retry") {
        return (QueueKind::Retry, classify(base).1);
    }
    let owned = |rest: &str| Some(rest.to_owned());
    if let Some(group) = name.strip_prefix("instadash.events.") {
        (QueueKind::Subscription, owned(group))
    } else if let Some(service) = name.strip_prefix("instadash.service.") {
        (QueueKind::Inbox, owned(service))
    } else if let Some(work) = name.strip_prefix("instadash.work.") {
        (QueueKind::Work, owned(work))
    } else if let Some(rest) = name.strip_prefix("instadash.presence.") {
        (
            QueueKind::Presence,
            rest.split('.').next().map(str::to_owned),
        )
    } else {
        (QueueKind::Other, None)
    }
}

#[derive(Debug, Default)]
struct Tracked {
    last: QueueView,
    /// (time ms, ready + unacked, publish/s), oldest first.
    history: VecDeque<(u64, u64, f64)>,
}

/// The queues of the vhost as of the last poll, with their recent history.
#[derive(Debug, Default)]
pub struct QueueBook {
    queues: BTreeMap<String, Tracked>,
}

impl QueueBook {
    /// Takes one poll; queues no longer listed are forgotten.
    pub fn record(&mut self, now_ms: u64, samples: &[QueueView]) {
        self.queues
            .retain(|name, _| samples.iter().any(|s| &s.name == name));
        for sample in samples {
            let tracked = self.queues.entry(sample.name.clone()).or_default();
            tracked.history.push_back((
                now_ms,
                sample.ready + sample.unacked,
                sample.publish_per_s,
            ));
            while tracked.history.len() > HISTORY {
                tracked.history.pop_front();
            }
            tracked.last = sample.clone();
        }
    }

    /// Ready messages of `queue` at each poll since `since_ms`, oldest first.
    pub fn depths_since(&self, queue: &str, since_ms: u64) -> Vec<(u64, u64)> {
        self.queues.get(queue).map_or_else(Vec::new, |t| {
            t.history
                .iter()
                .filter(|(at, _, _)| *at >= since_ms)
                .map(|(at, depth, _)| (*at, *depth))
                .collect()
        })
    }

    pub fn views(&self) -> Vec<QueueView> {
        self.queues
            .values()
            .map(|t| QueueView {
                depth_history: t.history.iter().map(|h| h.1).collect(),
                rate_history: t.history.iter().map(|h| h.2).collect(),
                ..t.last.clone()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_say_what_a_queue_is_for() {
        let cases = [
            (
                "instadash.events.tracker",
                QueueKind::Subscription,
                Some("tracker"),
            ),
            ("instadash.service.alerts", QueueKind::Inbox, Some("alerts")),
            (
                "instadash.work.dashcam-clips",
                QueueKind::Work,
                Some("dashcam-clips"),
            ),
            (
                "instadash.events.trips.retry",
                QueueKind::Retry,
                Some("trips"),
            ),
            (
                "instadash.events.trips.dead-letter",
                QueueKind::DeadLetter,
                Some("trips"),
            ),
            (
                "instadash.presence.tracker.tracker-7f3a",
                QueueKind::Presence,
                Some("tracker"),
            ),
            ("amq.gen-abc", QueueKind::Other, None),
        ];
        for (name, kind, owner) in cases {
            assert_eq!(classify(name), (kind, owner.map(str::to_owned)), "{name}");
        }
    }

    #[test]
    fn history_is_bounded_and_forgets_deleted_queues() {
        let mut book = QueueBook::default();
        let sample = |name: &str, ready| QueueView {
            name: name.into(),
            ready,
            ..QueueView::default()
        };
        for i in 0..(HISTORY as u64 + 5) {
            book.record(i * 1000, &[sample("a", i), sample("b", 1)]);
        }
        let views = book.views();
        assert_eq!(views.len(), 2);
        assert_eq!(views[0].depth_history.len(), HISTORY);
        assert_eq!(views[0].depth_history.last(), Some(&(HISTORY as u64 + 4)));
        assert_eq!(book.depths_since("a", (HISTORY as u64 + 2) * 1000).len(), 3);
        book.record(100_000, &[sample("b", 2)]);
        assert_eq!(book.views().len(), 1);
    }
}
