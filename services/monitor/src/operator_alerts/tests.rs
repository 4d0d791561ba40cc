use super::*;
use crate::api::{InstanceView, QueueView};

struct World {
    rules: OperatorAlerts,
    queues: QueueBook,
    broker: BrokerView,
    services: Vec<ServiceView>,
    now_ms: u64,
}

impl World {
    fn new() -> Self {
        World {
            rules: OperatorAlerts::new(RuleConfig {
                no_consumer_after: Duration::from_secs(4),
                backlog_window: Duration::from_secs(10),
                backlog_min_growth: 50,
                dead_letter_quiet: Duration::from_secs(30),
                no_live_after: Duration::from_secs(4),
            }),
            queues: QueueBook::default(),
            broker: BrokerView {
                reachable: true,
                ..BrokerView::default()
            },
            services: Vec::new(),
            now_ms: 1_000_000,
        }
    }

    /// One poll, 2 s after the previous one.
    fn poll(&mut self, queues: &[(&str, u64, u64)]) -> Changes {
        self.now_ms += 2_000;
        let samples: Vec<_> = queues
            .iter()
            .map(|(name, ready, consumers)| QueueView {
                name: (*name).into(),
                kind: crate::queues::classify(name).0,
                ready: *ready,
                consumers: *consumers,
                ..QueueView::default()
            })
            .collect();
        self.queues.record(self.now_ms, &samples);
        self.rules.evaluate(&Observation {
            now_ms: self.now_ms,
            broker: Some(&self.broker),
            queues: &self.queues,
            services: &self.services,
        })
    }

    fn active(&self) -> Vec<(OperatorAlertKind, String)> {
        self.rules
            .active()
            .map(|a| (a.kind, a.subject.clone()))
            .collect()
    }
}

const Q: &str = "instadash.events.tracker";

#[test]
fn a_stopped_consumer_raises_no_consumer_then_growing_backlog_and_both_clear_when_it_returns() {
    let mut world = World::new();
    for _ in 0..10 {
        assert!(
            world.poll(&[(Q, 3, 1)]).raised.is_empty(),
            "a healthy queue"
        );
    }
    // The consumer stops; messages pile up, 10 per poll (every 2 s).
    let mut raised = Vec::new();
    for i in 1..=8 {
        raised.extend(world.poll(&[(Q, 3 + 10 * i, 0)]).raised);
    }
    let kinds: Vec<_> = raised.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        [
            OperatorAlertKind::NoConsumer,
            OperatorAlertKind::GrowingBacklog
        ],
        "no consumer after 4 s, then the backlog once it grew by 50 without falling"
    );
    assert!(
        raised[0].message.contains("no consumer"),
        "{}",
        raised[0].message
    );
    assert!(
        raised[1].message.contains("grew by"),
        "{}",
        raised[1].message
    );

    // The consumer is back and drains the queue.
    let back = world.poll(&[(Q, 40, 1)]);
    let cleared: Vec<_> = back.cleared.iter().map(|a| a.kind).collect();
    assert_eq!(
        cleared,
        [
            OperatorAlertKind::NoConsumer,
            OperatorAlertKind::GrowingBacklog
        ]
    );
    assert!(world.active().is_empty());
    assert!(
        back.cleared
            .iter()
            .all(|a| a.cleared_ms == Some(world.now_ms))
    );
    assert_eq!(world.rules.all().len(), 2, "cleared alerts stay listed");
}

#[test]
fn a_short_gap_without_consumer_is_not_an_alert() {
    let mut world = World::new();
    world.poll(&[(Q, 0, 0)]);
    world.poll(&[(Q, 0, 1)]);
    world.poll(&[(Q, 0, 0)]);
    assert!(world.poll(&[(Q, 0, 1)]).raised.is_empty());
}

#[test]
fn a_busy_queue_that_drains_is_not_a_backlog() {
    let mut world = World::new();
    let mut raised = Vec::new();
    for i in 0..20u64 {
        // Bursty: 400 messages, then drained, repeatedly.
        let depth = if i % 3 == 2 { 10 } else { 200 * (i % 3 + 1) };
        raised.extend(world.poll(&[(Q, depth, 2)]).raised);
    }
    assert!(raised.is_empty(), "{raised:?}");
}

#[test]
fn retry_and_presence_queues_need_no_consumer() {
    let mut world = World::new();
    let mut raised = Vec::new();
    for i in 0..10 {
        raised.extend(
            world
                .poll(&[
                    ("instadash.events.tracker.retry", 100 * i, 0),
                    ("instadash.presence.tracker.t-1", 0, 0),
                    ("amq.gen-xyz", 100 * i, 0),
                ])
                .raised,
        );
    }
    assert!(raised.is_empty(), "{raised:?}");
}

#[test]
fn a_filling_dead_letter_queue_raises_until_it_has_been_quiet() {
    let dlq = "instadash.events.trips.dead-letter";
    let mut world = World::new();
    assert!(
        world.poll(&[(dlq, 7, 0)]).raised.is_empty(),
        "old dead letters are the baseline"
    );
    let raised = world.poll(&[(dlq, 9, 0)]).raised;
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].kind, OperatorAlertKind::DeadLetterFilling);
    assert!(raised[0].message.contains("9 messages"));
    let mut cleared = Vec::new();
    for _ in 0..14 {
        cleared.extend(world.poll(&[(dlq, 9, 0)]).cleared);
    }
    assert!(cleared.is_empty(), "still within 30 s of growing");
    cleared.extend(world.poll(&[(dlq, 9, 0)]).cleared);
    assert_eq!(cleared.len(), 1);
}

#[test]
fn broker_alarms_and_an_unreachable_broker() {
    let mut world = World::new();
    world.broker.alarms = vec!["memory alarm on rabbit@box".into()];
    let raised = world.poll(&[]).raised;
    assert_eq!(raised[0].kind, OperatorAlertKind::BrokerAlarm);
    world.broker.alarms.clear();
    assert_eq!(world.poll(&[]).cleared.len(), 1);

    world.broker = BrokerView {
        reachable: false,
        error: Some("connection refused".into()),
        ..BrokerView::default()
    };
    let raised = world.poll(&[]).raised;
    assert_eq!(raised[0].kind, OperatorAlertKind::BrokerUnreachable);
    assert!(raised[0].message.contains("connection refused"));
}

#[test]
fn a_service_without_live_instance() {
    let mut world = World::new();
    let instance = |health| InstanceView {
        instance: "alerts-1".into(),
        health,
        ..InstanceView::default()
    };
    world.services = vec![ServiceView {
        name: "alerts".into(),
        instances: vec![instance(Health::Live)],
        ..ServiceView::default()
    }];
    assert!(world.poll(&[]).raised.is_empty());
    world.services[0].instances = vec![instance(Health::Unresponsive)];
    assert!(world.poll(&[]).raised.is_empty(), "not yet 4 s");
    assert!(world.poll(&[]).raised.is_empty(), "not yet 4 s");
    let raised = world.poll(&[]).raised;
    assert_eq!(
        (raised[0].kind, raised[0].subject.as_str()),
        (OperatorAlertKind::NoLiveInstance, "alerts")
    );
    world.services[0].instances = vec![instance(Health::Live)];
    assert_eq!(world.poll(&[]).cleared.len(), 1);
}
