//! The communication graph, from what is flowing: services → exchanges by what each instance
//! reports it published (per type, the type's exchange from the catalog), exchanges → queues by
//! the broker's bindings and each queue's publish rate, queues → services by who consumes them and
//! the queue's deliver rate. Retry, dead-letter and presence queues are left out: they are
//! plumbing, shown in the queue table.

use std::collections::{BTreeMap, BTreeSet};

use instadash_schemas::catalog::Catalog;

use crate::api::{Graph, GraphEdge, GraphNode, QueueKind, QueueView, ServiceView};

pub fn build(
    services: &[ServiceView],
    queues: &[QueueView],
    bindings: &[(String, String)],
) -> Graph {
    let catalog = Catalog::embedded();
    let mut nodes: BTreeMap<String, GraphNode> = BTreeMap::new();
    let mut node = |kind: &str, name: &str| {
        let id = format!("{kind}:{name}");
        nodes.entry(id.clone()).or_insert_with(|| GraphNode {
            id: id.clone(),
            kind: kind.to_owned(),
            label: name.to_owned(),
        });
        id
    };
    let mut edges = Vec::new();

    for service in services {
        // Exchange → (rate, types) published by this service's instances.
        let mut out: BTreeMap<&str, (f64, BTreeSet<String>)> = BTreeMap::new();
        for stats in service.instances.iter().filter_map(|i| i.stats.as_ref()) {
            for t in stats.types.iter().filter(|t| t.out_per_s > 0.0) {
                let exchange = catalog
                    .get(&t.r#type)
                    .map_or("instadash.events", |spec| spec.exchange.as_str());
                // Replies go straight back to the asker (direct reply-to), not through an exchange
                // worth drawing; the platform's own reports are plumbing.
                if exchange.is_empty() || t.r#type.starts_with("instadash.platform.") {
                    continue;
                }
                let (rate, types) = out.entry(exchange).or_default();
                *rate += t.out_per_s;
                types.insert(short_type(&t.r#type));
            }
        }
        for (exchange, (rate, types)) in out {
            let from = node("service", &service.name);
            let to = node("exchange", exchange);
            edges.push(edge(from, to, rate, &types));
        }
    }

    let consumed: BTreeMap<&str, &QueueView> = queues
        .iter()
        .filter(|q| q.kind.wants_consumer())
        .map(|q| (q.name.as_str(), q))
        .collect();
    for (exchange, queue) in bindings {
        if let Some(q) = consumed.get(queue.as_str()) {
            let from = node("exchange", exchange);
            let to = node("queue", queue);
            edges.push(edge(from, to, q.publish_per_s, &BTreeSet::new()));
        }
    }
    for q in consumed.values() {
        let to = node("queue", &q.name);
        for consumer in consumers(q, services) {
            let from = to.clone();
            let service = node("service", &consumer);
            edges.push(edge(from, service, q.deliver_per_s, &BTreeSet::new()));
        }
    }
    Graph {
        nodes: nodes.into_values().collect(),
        edges,
    }
}

/// Who takes messages from `queue`: its group or service by name; for a work queue, the services
/// whose instances work on it.
fn consumers(queue: &QueueView, services: &[ServiceView]) -> Vec<String> {
    let Some(owner) = &queue.owner else {
        return Vec::new();
    };
    if queue.kind != QueueKind::Work {
        return vec![owner.clone()];
    }
    let offer = format!("works on {owner}");
    services
        .iter()
        .filter(|s| s.instances.iter().any(|i| i.offers.contains(&offer)))
        .map(|s| s.name.clone())
        .collect()
}

fn edge(from: String, to: String, per_s: f64, types: &BTreeSet<String>) -> GraphEdge {
    GraphEdge {
        from,
        to,
        per_s,
        label: types.iter().cloned().collect::<Vec<_>>().join(", "),
    }
}

/// `instadash.vehicle.position` → `vehicle.position`.
fn short_type(t: &str) -> String {
    t.strip_prefix("instadash.").unwrap_or(t).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{InstanceStats, InstanceView, TypeStats};

    #[test]
    fn edges_follow_reported_publishing_bindings_and_consumers() {
        let sending = |name: &str, types: &[(&str, f64)], offers: &[&str]| ServiceView {
            name: name.into(),
            instances: vec![InstanceView {
                instance: format!("{name}-1"),
                offers: offers.iter().map(|o| (*o).to_owned()).collect(),
                stats: Some(InstanceStats {
                    types: types
                        .iter()
                        .map(|(t, out)| TypeStats {
                            r#type: (*t).into(),
                            out_per_s: *out,
                            ..TypeStats::default()
                        })
                        .collect(),
                    ..InstanceStats::default()
                }),
                ..InstanceView::default()
            }],
            ..ServiceView::default()
        };
        let services = [
            sending(
                "simulator",
                &[
                    ("instadash.vehicle.position", 400.0),
                    ("instadash.platform.service-stats", 0.2),
                ],
                &[],
            ),
            sending(
                "dashcam",
                &[("instadash.dashcam.fetch-clip", 0.5)],
                &["works on dashcam-clips"],
            ),
        ];
        let queue = |name: &str, kind, owner: &str, publish, deliver| QueueView {
            name: name.into(),
            kind,
            owner: Some(owner.into()),
            publish_per_s: publish,
            deliver_per_s: deliver,
            ..QueueView::default()
        };
        let queues = [
            queue(
                "instadash.events.tracker",
                QueueKind::Subscription,
                "tracker",
                400.0,
                399.0,
            ),
            queue(
                "instadash.work.dashcam-clips",
                QueueKind::Work,
                "dashcam-clips",
                0.5,
                0.5,
            ),
            queue(
                "instadash.events.tracker.retry",
                QueueKind::Retry,
                "tracker",
                0.0,
                0.0,
            ),
        ];
        let bindings = [
            (
                "instadash.events".to_owned(),
                "instadash.events.tracker".to_owned(),
            ),
            (
                "instadash.work".to_owned(),
                "instadash.work.dashcam-clips".to_owned(),
            ),
            (
                "instadash.retry".to_owned(),
                "instadash.events.tracker.retry".to_owned(),
            ),
        ];
        let graph = build(&services, &queues, &bindings);
        let edges: Vec<_> = graph
            .edges
            .iter()
            .map(|e| (e.from.as_str(), e.to.as_str(), e.per_s))
            .collect();
        for expected in [
            ("service:simulator", "exchange:instadash.events", 400.0),
            (
                "exchange:instadash.events",
                "queue:instadash.events.tracker",
                400.0,
            ),
            ("queue:instadash.events.tracker", "service:tracker", 399.0),
            ("service:dashcam", "exchange:instadash.work", 0.5),
            ("queue:instadash.work.dashcam-clips", "service:dashcam", 0.5),
        ] {
            assert!(edges.contains(&expected), "{expected:?} in {edges:?}");
        }
        assert_eq!(
            edges.len(),
            6,
            "no stats report or retry queue edges: {edges:?}"
        );
        assert!(graph.nodes.iter().all(|n| !n.id.contains("retry")));
    }
}
