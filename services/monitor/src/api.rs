//! The monitor's HTTP API: what the dashboard page and `instadash top` read. JSON, one type per
//! endpoint; the page gets the same types pushed as server-sent events.
//!
//! | endpoint | answer |
//! |---|---|
//! | `GET /api/overview` | [`Overview`]: broker, queues, services, operator alerts, graph, dead letters |
//! | `GET /api/fleet` | [`Fleet`]: every vehicle and the alert feed |
//! | `GET /api/roads` | [`Roads`]: the road network the map is drawn from |
//! | `GET /api/vehicles/{id}/route?from_ms=&to_ms=` | [`Route`]: the vehicle's positions, from the trips history |
//! | `POST /api/alerts/{alert_id}/ack` body [`AckRequest`] | [`AckResponse`] |
//! | `GET /api/traces?event_id=…` or `?vehicle_id=…` | [`Journey`] of that event (or the vehicle's latest) |
//! | `GET /events` | server-sent events: `overview` ([`Overview`], every second), `vehicles` ([`VehicleBatch`], changed vehicles, at most every 500 ms), `alert` ([`AlertEntry`], as it happens) |
//! | `GET /metrics` | Prometheus text format |
//! | `GET /healthz` | `ok` |

use serde::{Deserialize, Serialize};

/// The whole platform at a glance (`GET /api/overview`, SSE `overview`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Overview {
    /// When this view was made, ms since the Unix epoch.
    pub time_ms: u64,
    pub broker: BrokerView,
    /// Every queue of the vhost, by name.
    pub queues: Vec<QueueView>,
    /// Every service seen on the bus (discovery and statistics), by name.
    pub services: Vec<ServiceView>,
    /// Operator alerts: active ones first, then recently cleared ones.
    pub operator_alerts: Vec<OperatorAlert>,
    /// The live communication graph: who sends what where, from measured rates.
    pub graph: Graph,
    /// Dead-letter queues that hold messages, with their reasons.
    pub dead_letters: Vec<DeadLetterView>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BrokerView {
    /// False when the management API did not answer at the last poll (the rest is then stale).
    pub reachable: bool,
    /// Why the last poll failed, if it did.
    pub error: Option<String>,
    pub version: Option<String>,
    /// Active resource alarms, e.g. `memory` or `disk` (with the node name).
    pub alarms: Vec<String>,
    pub connections: u64,
    pub channels: u64,
    pub channels_opened_per_s: f64,
    pub channels_closed_per_s: f64,
    pub connections_opened_per_s: f64,
    pub connections_closed_per_s: f64,
    pub publish_per_s: f64,
    pub deliver_per_s: f64,
    pub messages_ready: u64,
    pub messages_unacked: u64,
    pub mem_used_bytes: Option<u64>,
    pub mem_limit_bytes: Option<u64>,
    pub disk_free_bytes: Option<u64>,
    pub disk_free_limit_bytes: Option<u64>,
}

/// What a queue is for, from the platform's naming.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum QueueKind {
    /// `instadash.events.<group>`: a subscriber group's events.
    Subscription,
    /// `instadash.service.<name>`: a service's inbox (commands and requests).
    Inbox,
    /// `instadash.work.<name>`: competing workers.
    Work,
    /// `<queue>.retry`: failed messages waiting to flow back.
    Retry,
    /// `<queue>.dead-letter`: messages that could not be handled.
    DeadLetter,
    /// `instadash.presence.<service>.<instance>`: one instance's presence (discovery).
    Presence,
    #[default]
    Other,
}

impl QueueKind {
    /// Queues a consumer should be attached to (so "no consumer" and "growing backlog" apply).
    pub fn wants_consumer(self) -> bool {
        matches!(
            self,
            QueueKind::Subscription | QueueKind::Inbox | QueueKind::Work
        )
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct QueueView {
    pub name: String,
    pub kind: QueueKind,
    /// The service (or group) that consumes it, from its name; null for other queues.
    pub owner: Option<String>,
    /// `classic`, `quorum` or `stream`.
    pub queue_type: String,
    pub ready: u64,
    pub unacked: u64,
    pub consumers: u64,
    pub publish_per_s: f64,
    pub deliver_per_s: f64,
    pub ack_per_s: f64,
    pub redeliver_per_s: f64,
    /// Depth (ready + unacked) at each of the last polls, oldest first (for a sparkline).
    pub depth_history: Vec<u64>,
    /// Publish rate at each of the last polls, oldest first.
    pub rate_history: Vec<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServiceView {
    pub name: String,
    pub instances: Vec<InstanceView>,
    /// Sum over live instances of their last report.
    pub in_per_s: f64,
    pub out_per_s: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    /// Heartbeating.
    #[default]
    Live,
    /// Silent, but the broker still holds its presence queue (e.g. a stopped process).
    Unresponsive,
    /// Gone (said goodbye, or its presence queue is gone).
    Gone,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct InstanceView {
    pub instance: String,
    pub version: Option<String>,
    pub host: Option<String>,
    pub health: Health,
    /// What it offers (serves, subscribes to, works on), as discovery announced it.
    pub offers: Vec<String>,
    pub last_seen_ms: u64,
    /// Its last statistics report; null until the first arrives.
    pub stats: Option<InstanceStats>,
}

/// One instance's last `service-stats` report, as rates.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct InstanceStats {
    pub time_ms: u64,
    pub interval_s: u64,
    pub in_per_s: f64,
    pub out_per_s: f64,
    pub errors: u64,
    pub retries: u64,
    pub dead_lettered: u64,
    pub rejected_by_validation: u64,
    pub reconnects: u64,
    pub handler_p99_us: Option<u64>,
    pub confirm_p99_us: Option<u64>,
    pub cpu_pct: Option<f64>,
    pub rss_bytes: Option<u64>,
    pub host_cpu_pct: Option<f64>,
    pub host_mem_used_bytes: Option<u64>,
    pub host_mem_total_bytes: Option<u64>,
    pub load_1m: Option<f64>,
    /// Per message type.
    pub types: Vec<TypeStats>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TypeStats {
    /// CloudEvents type.
    pub r#type: String,
    pub in_per_s: f64,
    pub out_per_s: f64,
    pub handled: u64,
    pub errors: u64,
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OperatorAlertKind {
    /// A queue that should be consumed has no consumer.
    NoConsumer,
    /// A queue's depth has grown over the last polls.
    GrowingBacklog,
    /// The broker raised a memory or disk alarm (publishers are blocked).
    BrokerAlarm,
    /// A service that was seen has no live instance.
    NoLiveInstance,
    /// A dead-letter queue is receiving messages.
    DeadLetterFilling,
    /// The monitor cannot reach the broker's management API.
    BrokerUnreachable,
}

impl OperatorAlertKind {
    pub const ALL: [OperatorAlertKind; 6] = [
        OperatorAlertKind::NoConsumer,
        OperatorAlertKind::GrowingBacklog,
        OperatorAlertKind::BrokerAlarm,
        OperatorAlertKind::NoLiveInstance,
        OperatorAlertKind::DeadLetterFilling,
        OperatorAlertKind::BrokerUnreachable,
    ];
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OperatorAlert {
    pub kind: OperatorAlertKind,
    /// What it is about: a queue name, a service name, an alarm.
    pub subject: String,
    /// For a person: what is wrong, with figures.
    pub message: String,
    pub since_ms: u64,
    /// Null while active.
    pub cleared_ms: Option<u64>,
}

/// Nodes and edges of the communication graph. Ids are `service:<name>`, `exchange:<name>`,
/// `queue:<name>`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Graph {
    pub nodes: Vec<GraphNode>,
    pub edges: Vec<GraphEdge>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GraphNode {
    pub id: String,
    /// `service`, `exchange` or `queue`.
    pub kind: String,
    pub label: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GraphEdge {
    pub from: String,
    pub to: String,
    /// Messages per second over the last interval.
    pub per_s: f64,
    /// What flows, e.g. message types; may be empty.
    pub label: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DeadLetterView {
    pub queue: String,
    pub messages: u64,
    /// The most common reasons among the messages looked at, most frequent first.
    pub reasons: Vec<ReasonCount>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReasonCount {
    /// `x-instadash-reason`, e.g. `schema` or `handler-failed`.
    pub reason: String,
    pub count: u64,
    /// One example's error text.
    pub example: String,
}

/// Every vehicle and the alert feed (`GET /api/fleet`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Fleet {
    pub time_ms: u64,
    pub vehicles: Vec<VehicleDot>,
    /// Newest first, at most a few hundred.
    pub alerts: Vec<AlertEntry>,
}

/// Changed vehicles since the last batch (SSE `vehicles`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VehicleBatch {
    pub time_ms: u64,
    pub vehicles: Vec<VehicleDot>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VehicleDot {
    pub id: String,
    /// `online`, `unknown` or `offline` (the tracker's word).
    pub status: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub speed_kmh: Option<f64>,
    pub heading_deg: Option<f64>,
    pub ignition_on: Option<bool>,
    /// Event time of the newest message from it, ms since the Unix epoch.
    pub last_seen_ms: u64,
    /// Active alerts of this vehicle (their types).
    pub active_alerts: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AlertEntry {
    pub alert_id: String,
    pub vehicle_id: String,
    /// e.g. `harsh-braking`.
    pub alert_type: String,
    pub severity: String,
    pub message: String,
    pub raised_ms: u64,
    pub cleared_ms: Option<u64>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_ms: Option<u64>,
    /// The event id of the `alert.raised`, for the trace view.
    pub event_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AckRequest {
    /// Who acknowledges, e.g. `dispatcher.anna`.
    pub by: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AckResponse {
    /// `acknowledged`, `already-acknowledged` or `not-found` (the alerts service's word).
    pub outcome: String,
    pub alert: Option<AlertEntry>,
}

/// The road network (`GET /api/roads`): segments to draw, in degrees.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Roads {
    /// [min_lat, min_lon, max_lat, max_lon].
    pub bounds: [f64; 4],
    pub segments: Vec<RoadSegment>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoadSegment {
    /// [lat, lon] of each end.
    pub from: [f64; 2],
    pub to: [f64; 2],
    /// e.g. `arterial`, `residential`.
    pub class: String,
    pub speed_limit_kmh: f64,
}

/// A vehicle's route from history (`GET /api/vehicles/{id}/route`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Route {
    pub vehicle_id: String,
    /// Oldest first.
    pub points: Vec<RoutePoint>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoutePoint {
    pub time_ms: u64,
    pub lat: f64,
    pub lon: f64,
    pub speed_kmh: f64,
}

/// An event's journey (`GET /api/traces`): every message of its trace, and who handled each.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Journey {
    pub trace_id: String,
    /// The event asked about.
    pub event_id: String,
    /// Every message of the trace, parents before children (depth-first from the root).
    pub hops: Vec<Hop>,
    /// Instances that answered the monitor's question, and those that did not in time.
    pub answered: Vec<String>,
    pub missing: Vec<String>,
}

/// One message of a trace: who published it, and every handling of it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Hop {
    pub span_id: String,
    /// The span of the message whose handler published this one; null for the root.
    pub parent_span_id: Option<String>,
    /// Distance from the root (0 for the root).
    pub depth: u32,
    pub event_id: String,
    pub r#type: String,
    pub subject: Option<String>,
    /// `service/instance` that published it; null if that instance did not answer.
    pub published_by: Option<String>,
    pub published_us: Option<u64>,
    pub handlings: Vec<Handling>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Handling {
    /// `service/instance`.
    pub by: String,
    pub queue: String,
    pub received_us: u64,
    /// From publish to receipt (broker and queue), if the publish is known.
    pub wait_us: Option<u64>,
    /// Handler run time.
    pub handler_us: u64,
    /// `handled`, `failed`, `retried`, `dead-lettered`, `rejected` or `duplicate`.
    pub outcome: String,
}
