//! RabbitMQ's own figures, from its management API: the broker as a whole, every queue of our
//! vhost, and the bindings (who feeds which queue). Polled; the API refreshes its figures every
//! `collect_statistics_interval` (5 s by default), so polling faster only sees the same sample again.

use broker_bridge::management::Management;
use serde::Deserialize;

use crate::api::{BrokerView, QueueView};
use crate::queues::classify;

/// One poll of the management API.
#[derive(Debug, Clone, Default)]
pub struct BrokerSample {
    pub broker: BrokerView,
    /// Every queue's figures at this poll (no history: `QueueBook` keeps that).
    pub queues: Vec<QueueView>,
    /// Exchange → queues bound to it (only exchange-to-queue bindings of our vhost).
    pub bindings: Vec<(String, String)>,
}

/// Polls one vhost. Blocking (the management client is): run it on a blocking thread.
pub fn poll(api: &Management, vhost: &str) -> BrokerSample {
    match try_poll(api, vhost) {
        Ok(sample) => sample,
        Err(error) => BrokerSample {
            broker: BrokerView {
                reachable: false,
                error: Some(format!("{error:#}")),
                ..BrokerView::default()
            },
            ..BrokerSample::default()
        },
    }
}

fn try_poll(api: &Management, vhost: &str) -> anyhow::Result<BrokerSample> {
    let vhost_path = broker_bridge::management::enc(vhost);
    let overview: OverviewJson = api.get("/api/overview")?;
    let nodes: Vec<NodeJson> = api.get("/api/nodes")?;
    let queues: Vec<QueueJson> = api.get(&format!("/api/queues/{vhost_path}"))?;
    let bindings: Vec<BindingJson> = api.get(&format!("/api/bindings/{vhost_path}"))?;

    let mut alarms = Vec::new();
    for node in &nodes {
        if node.mem_alarm {
            alarms.push(format!("memory alarm on {}", node.name));
        }
        if node.disk_free_alarm {
            alarms.push(format!("disk alarm on {}", node.name));
        }
    }
    let sum = |f: fn(&NodeJson) -> Option<u64>| nodes.iter().filter_map(f).reduce(|a, b| a + b);
    let churn = overview.churn_rates.unwrap_or_default();
    let stats = overview.message_stats.unwrap_or_default();
    let totals = overview.queue_totals.unwrap_or_default();
    let objects = overview.object_totals.unwrap_or_default();
    let broker = BrokerView {
        reachable: true,
        error: None,
        version: overview.rabbitmq_version,
        alarms,
        connections: objects.connections,
        channels: objects.channels,
        channels_opened_per_s: churn.channel_created_details.rate,
        channels_closed_per_s: churn.channel_closed_details.rate,
        connections_opened_per_s: churn.connection_created_details.rate,
        connections_closed_per_s: churn.connection_closed_details.rate,
        publish_per_s: stats.publish_details.rate,
        deliver_per_s: stats.deliver_get_details.rate,
        messages_ready: totals.messages_ready,
        messages_unacked: totals.messages_unacknowledged,
        mem_used_bytes: sum(|n| n.mem_used),
        mem_limit_bytes: sum(|n| n.mem_limit),
        disk_free_bytes: sum(|n| n.disk_free),
        disk_free_limit_bytes: sum(|n| n.disk_free_limit),
    };
    let queues = queues
        .into_iter()
        .map(|q| {
            let stats = q.message_stats.unwrap_or_default();
            let (kind, owner) = classify(&q.name);
            QueueView {
                name: q.name,
                kind,
                owner,
                queue_type: q.r#type.unwrap_or_else(|| "classic".to_owned()),
                ready: q.messages_ready,
                unacked: q.messages_unacknowledged,
                consumers: q.consumers,
                publish_per_s: stats.publish_details.rate,
                deliver_per_s: stats.deliver_get_details.rate,
                ack_per_s: stats.ack_details.rate,
                redeliver_per_s: stats.redeliver_details.rate,
                ..QueueView::default()
            }
        })
        .collect();
    let bindings = bindings
        .into_iter()
        .filter(|b| b.destination_type == "queue" && !b.source.is_empty())
        .map(|b| (b.source, b.destination))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    Ok(BrokerSample {
        broker,
        queues,
        bindings,
    })
}

/// The shapes of the management API's answers, only the fields used.
#[derive(Debug, Default, Deserialize)]
struct OverviewJson {
    rabbitmq_version: Option<String>,
    object_totals: Option<ObjectTotals>,
    queue_totals: Option<QueueTotals>,
    message_stats: Option<MessageStats>,
    churn_rates: Option<ChurnRates>,
}

#[derive(Debug, Default, Deserialize)]
struct ObjectTotals {
    #[serde(default)]
    connections: u64,
    #[serde(default)]
    channels: u64,
}

#[derive(Debug, Default, Deserialize)]
struct QueueTotals {
    #[serde(default)]
    messages_ready: u64,
    #[serde(default)]
    messages_unacknowledged: u64,
}

#[derive(Debug, Default, Deserialize)]
struct Rate {
    #[serde(default)]
    rate: f64,
}

#[derive(Debug, Default, Deserialize)]
struct MessageStats {
    #[serde(default)]
    publish_details: Rate,
    #[serde(default)]
    deliver_get_details: Rate,
    #[serde(default)]
    ack_details: Rate,
    #[serde(default)]
    redeliver_details: Rate,
}

#[derive(Debug, Default, Deserialize)]
struct ChurnRates {
    #[serde(default)]
    channel_created_details: Rate,
    #[serde(default)]
    channel_closed_details: Rate,
    #[serde(default)]
    connection_created_details: Rate,
    #[serde(default)]
    connection_closed_details: Rate,
}

#[derive(Debug, Deserialize)]
struct NodeJson {
    name: String,
    #[serde(default)]
    mem_alarm: bool,
    #[serde(default)]
    disk_free_alarm: bool,
    mem_used: Option<u64>,
    mem_limit: Option<u64>,
    disk_free: Option<u64>,
    disk_free_limit: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct QueueJson {
    name: String,
    r#type: Option<String>,
    #[serde(default)]
    messages_ready: u64,
    #[serde(default)]
    messages_unacknowledged: u64,
    #[serde(default)]
    consumers: u64,
    message_stats: Option<MessageStats>,
}

#[derive(Debug, Deserialize)]
struct BindingJson {
    source: String,
    destination: String,
    destination_type: String,
}
