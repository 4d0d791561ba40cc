//! The monitor's own alerts, for operators: what is wrong with the platform rather than with a
//! vehicle. Pure: each evaluation takes what the monitor knows now and returns what was raised and
//! what cleared, so every rule is tested without a broker.
//!
//! | kind | raised when | cleared when |
//! |---|---|---|
//! | `no-consumer` | a subscription, inbox or work queue has had no consumer for `no_consumer_after` | a consumer is back, or the queue is gone |
//! | `growing-backlog` | such a queue's depth never fell over `backlog_window` and grew by at least `backlog_min_growth` | its depth falls (or it is gone) |
//! | `dead-letter-filling` | a dead-letter queue grew since the last poll | it has not grown for `dead_letter_quiet`, or it was emptied |
//! | `broker-alarm` | the broker reports a memory or disk alarm | the alarm is gone |
//! | `broker-unreachable` | the management API does not answer | it answers |
//! | `no-live-instance` | a service seen before has had no live instance for `no_live_after` | an instance is live, or the service was forgotten |

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use crate::api::{BrokerView, Health, OperatorAlert, OperatorAlertKind, QueueKind, ServiceView};
use crate::queues::QueueBook;

/// Thresholds of the rules.
#[derive(Debug, Clone)]
pub struct RuleConfig {
    pub no_consumer_after: Duration,
    pub backlog_window: Duration,
    pub backlog_min_growth: u64,
    pub dead_letter_quiet: Duration,
    pub no_live_after: Duration,
}

impl Default for RuleConfig {
    fn default() -> Self {
        RuleConfig {
            no_consumer_after: Duration::from_secs(10),
            backlog_window: Duration::from_secs(20),
            backlog_min_growth: 100,
            dead_letter_quiet: Duration::from_secs(60),
            no_live_after: Duration::from_secs(10),
        }
    }
}

/// What changed at one evaluation.
#[derive(Debug, Default)]
pub struct Changes {
    pub raised: Vec<OperatorAlert>,
    pub cleared: Vec<OperatorAlert>,
}

/// Cleared alerts kept for the page.
const CLEARED_KEPT: usize = 50;

/// The rules and the alerts they hold.
#[derive(Debug)]
pub struct OperatorAlerts {
    config: RuleConfig,
    active: BTreeMap<(OperatorAlertKind, String), OperatorAlert>,
    cleared: VecDeque<OperatorAlert>,
    /// When each condition was first seen true (before it lasted long enough to raise).
    pending: HashMap<(OperatorAlertKind, String), u64>,
    /// Dead-letter queue → (depth at the last poll, when it last grew).
    dead_letters: HashMap<String, (u64, u64)>,
}

/// What the rules look at.
pub struct Observation<'a> {
    pub now_ms: u64,
    /// `None` until the management API was first polled.
    pub broker: Option<&'a BrokerView>,
    pub queues: &'a QueueBook,
    pub services: &'a [ServiceView],
}

impl OperatorAlerts {
    pub fn new(config: RuleConfig) -> Self {
        OperatorAlerts {
            config,
            active: BTreeMap::new(),
            cleared: VecDeque::new(),
            pending: HashMap::new(),
            dead_letters: HashMap::new(),
        }
    }

    /// Active alerts first (oldest first), then recently cleared ones (newest first).
    pub fn all(&self) -> Vec<OperatorAlert> {
        let mut active: Vec<_> = self.active.values().cloned().collect();
        active.sort_by_key(|a| a.since_ms);
        active.extend(self.cleared.iter().cloned());
        active
    }

    pub fn active(&self) -> impl Iterator<Item = &OperatorAlert> {
        self.active.values()
    }

    pub fn evaluate(&mut self, seen: &Observation<'_>) -> Changes {
        let now = seen.now_ms;
        // Every condition that holds now: (kind, subject) → (message, how long it must last).
        let mut holding: Vec<((OperatorAlertKind, String), String, Duration)> = Vec::new();
        let immediately = Duration::ZERO;

        match seen.broker {
            None => {}
            Some(broker) if !broker.reachable => {
                let why = broker.error.clone().unwrap_or_default();
                holding.push((
                    (
                        OperatorAlertKind::BrokerUnreachable,
                        "management API".into(),
                    ),
                    format!("the broker's management API does not answer: {why}"),
                    immediately,
                ));
            }
            Some(broker) => {
                for alarm in &broker.alarms {
                    holding.push((
                        (OperatorAlertKind::BrokerAlarm, alarm.clone()),
                        format!("{alarm}: the broker blocks publishers until it clears"),
                        immediately,
                    ));
                }
                self.queue_conditions(seen, &mut holding);
            }
        }
        for service in seen.services {
            let live = service
                .instances
                .iter()
                .filter(|i| i.health == Health::Live)
                .count();
            if live == 0 {
                let known = service.instances.len();
                holding.push((
                    (OperatorAlertKind::NoLiveInstance, service.name.clone()),
                    format!(
                        "service {} has no live instance ({known} known, none heartbeating)",
                        service.name
                    ),
                    self.config.no_live_after,
                ));
            }
        }

        let mut changes = Changes::default();
        let mut still = std::collections::HashSet::new();
        for (key, message, lasting) in holding {
            still.insert(key.clone());
            if let Some(active) = self.active.get_mut(&key) {
                active.message = message;
                continue;
            }
            let since = *self.pending.entry(key.clone()).or_insert(now);
            if now.saturating_sub(since) >= lasting.as_millis() as u64 {
                let alert = OperatorAlert {
                    kind: key.0,
                    subject: key.1.clone(),
                    message,
                    since_ms: since,
                    cleared_ms: None,
                };
                changes.raised.push(alert.clone());
                self.active.insert(key, alert);
            }
        }
        self.pending.retain(|key, _| still.contains(key));
        let ended: Vec<_> = self
            .active
            .keys()
            .filter(|key| !still.contains(*key))
            .cloned()
            .collect();
        for key in ended {
            if let Some(mut alert) = self.active.remove(&key) {
                alert.cleared_ms = Some(now);
                changes.cleared.push(alert.clone());
                self.cleared.push_front(alert);
                self.cleared.truncate(CLEARED_KEPT);
            }
        }
        changes
    }

    fn queue_conditions(
        &mut self,
        seen: &Observation<'_>,
        holding: &mut Vec<((OperatorAlertKind, String), String, Duration)>,
    ) {
        let now = seen.now_ms;
        let window_start = now.saturating_sub(self.config.backlog_window.as_millis() as u64);
        let mut dead_letter_queues = Vec::new();
        for queue in seen.queues.views() {
            let kind = queue.kind;
            if kind == QueueKind::DeadLetter {
                dead_letter_queues.push((queue.name.clone(), queue.ready + queue.unacked));
            }
            if !kind.wants_consumer() {
                continue;
            }
            if queue.consumers == 0 {
                holding.push((
                    (OperatorAlertKind::NoConsumer, queue.name.clone()),
                    format!(
                        "{} has no consumer ({} messages waiting)",
                        queue.name, queue.ready
                    ),
                    self.config.no_consumer_after,
                ));
            }
            let depths = seen.queues.depths_since(&queue.name, window_start);
            let covers_window = depths.first().is_some_and(|(at, _)| {
                // The oldest sample in the window is close to its start: the window is observed.
                at.saturating_sub(window_start) * 4 <= self.config.backlog_window.as_millis() as u64
            });
            let never_fell = depths.windows(2).all(|w| w[1].1 >= w[0].1);
            let growth = match (depths.first(), depths.last()) {
                (Some(first), Some(last)) => last.1.saturating_sub(first.1),
                _ => 0,
            };
            if covers_window && never_fell && growth >= self.config.backlog_min_growth {
                holding.push((
                    (OperatorAlertKind::GrowingBacklog, queue.name.clone()),
                    format!(
                        "{} grew by {growth} messages in {} s to {} and never shrank",
                        queue.name,
                        self.config.backlog_window.as_secs(),
                        queue.ready + queue.unacked
                    ),
                    Duration::ZERO,
                ));
            } else if let Some(active) = self
                .active
                .get(&(OperatorAlertKind::GrowingBacklog, queue.name.clone()))
            {
                // Once raised, it holds until the depth actually falls, not merely slows.
                let fell =
                    depths.len() >= 2 && depths[depths.len() - 1].1 < depths[depths.len() - 2].1;
                if !fell && queue.ready + queue.unacked > 0 {
                    holding.push((
                        (OperatorAlertKind::GrowingBacklog, queue.name.clone()),
                        active.message.clone(),
                        Duration::ZERO,
                    ));
                }
            }
        }
        self.dead_letters
            .retain(|name, _| dead_letter_queues.iter().any(|(n, _)| n == name));
        for (name, depth) in dead_letter_queues {
            // A queue first seen is the baseline: what it held before the monitor came is not news.
            let (last_depth, grew_at) = self.dead_letters.get(&name).copied().unwrap_or((depth, 0));
            let grew_at = if depth > last_depth { now } else { grew_at };
            self.dead_letters.insert(name.clone(), (depth, grew_at));
            let quiet = self.config.dead_letter_quiet.as_millis() as u64;
            if depth > 0 && grew_at > 0 && now.saturating_sub(grew_at) < quiet {
                holding.push((
                    (OperatorAlertKind::DeadLetterFilling, name.clone()),
                    format!("{name} is filling: {depth} messages could not be handled"),
                    Duration::ZERO,
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests;
