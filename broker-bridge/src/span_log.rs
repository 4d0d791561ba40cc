//! The span log: what this instance sent and handled, per trace, kept in memory for an operator's
//! trace view, so no span travels over the bus until someone asks.
//!
//! Every bridge keeps its last [`BridgeConfig::trace_buffer`](crate::BridgeConfig::trace_buffer)
//! spans (20,000 by default; 0 turns the log off) in a ring, the oldest overwritten first:
//!
//! - a **publish** span for each message it sends (events, commands, jobs, requests, replies):
//!   the new span its `traceparent` carries, the span of the message being handled as its parent
//!   (none for a root), the event id, type, subject, exchange and routing key, and the time;
//! - a **handle** span for each delivery whose fate is known: the span of the received message
//!   (from its `traceparent`), event id, type, subject, queue, when it arrived, how long its
//!   handler ran (decoding included) and the outcome: `handled` (acknowledged after its handler
//!   succeeded), `retried` (parked in the retry queue), `dead-lettered` (its handler failed on the
//!   last attempt), `rejected` (it broke its contract: unknown type, or a payload its type cannot
//!   read), `duplicate` (already handled, skipped), or `failed` (its handler failed and it was
//!   neither retried nor dead-lettered: a request answered with the error, or a delivery given back
//!   to the broker because its reply, retry or dead-letter copy could not be sent). Deliveries too
//!   large or without a readable envelope carry no usable trace context and are not recorded.
//!
//! The platform's own messages (types under `instadash.platform.`: discovery, statistics and these
//! queries) are not recorded.
//!
//! **Asking.** `instadash.platform.trace-query` names a trace id or an event id. It reaches every
//! instance on its presence queue (see [`crate::discovery`]); each answers with one
//! `instadash.platform.trace-spans` (routing key `instadash.platform.trace-spans.<service>`, not
//! `mandatory`): its spans of that trace, or for an event id of the trace(s) that event belongs to
//! as its own ring knows them, oldest first. It answers even when it holds nothing, so the asker
//! knows who answered; `buffer_spans` and `oldest_us` say how far back its ring reaches. An answer
//! holds at most [`MAX_ANSWER_SPANS`] spans (and fewer if they would exceed the message size
//! limit); `truncated` says when spans were left out. [`crate::Bridge::ask_trace`] asks and gathers
//! the answers; [`crate::Bridge::local_trace`] is this instance's own answer, without the bus.
//!
//! **Cost.** Recording takes one short, rarely contended lock and no allocation for the usual
//! message: ids are kept as integers, types and queue names are shared, and event ids (UUIDs) and
//! subjects or routing keys up to 30 bytes are stored inline. A record is 176 bytes, so the default
//! ring holds about 3.5 MB once full; the ring's memory is reserved once, when the bridge connects.
//!
//! The wire types here mirror `schemas/platform/trace-query.v1.schema.json` and
//! `trace-spans.v1.schema.json` (the bridge cannot depend on the schemas crate; a test there checks
//! that they agree).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracing::debug;

use crate::envelope::Envelope;
use crate::error::{BridgeError, PublishError};
use crate::link::Link;
use crate::message::{self, Message, RawPayload};
use crate::outbox::Outbox;
use crate::topology;
use crate::trace_context::SpanIds;

// ---- on the wire (schemas/platform/trace-query.v1.schema.json, trace-spans.v1.schema.json) ------

/// `instadash.platform.trace-query`: every instance, answer with your spans of this trace (named by
/// its id, or by the id of an event that belongs to it; at least one of the two).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceQuery {
    /// Chosen by the asker; every answer repeats it.
    pub query_id: String,
    /// W3C trace id: 32 lowercase hex digits.
    #[serde(default)]
    pub trace_id: Option<String>,
    /// CloudEvents id of an event of the trace.
    #[serde(default)]
    pub event_id: Option<String>,
}

impl Message for TraceQuery {
    const TYPE: &'static str = "instadash.platform.trace-query";
}

/// `instadash.platform.trace-spans`: one instance's answer to a [`TraceQuery`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceSpans {
    pub query_id: String,
    pub service: String,
    pub instance: String,
    /// The instance's spans of the trace(s), oldest first (by `at_us`).
    pub spans: Vec<Span>,
    /// Spans the instance's ring holds now (of any trace).
    pub buffer_spans: u64,
    /// Time of the oldest span held, µs since the Unix epoch: how far back the ring reaches.
    /// `None` when it holds none.
    #[serde(default)]
    pub oldest_us: Option<i64>,
    /// Some spans of the trace(s) were left out, to keep the answer within its size limit.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl Message for TraceSpans {
    const TYPE: &'static str = "instadash.platform.trace-spans";
    fn subject(&self) -> Option<String> {
        Some(self.service.clone())
    }
}

/// One span: a message this instance published, or a delivery it handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub kind: SpanKind,
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits: the span the message carries (publish: the new one it was sent
    /// with; handle: the one it arrived with).
    pub span_id: String,
    /// Publish: the span of the message being handled when it was sent (`None` for a root).
    #[serde(default)]
    pub parent_span_id: Option<String>,
    /// CloudEvents id.
    pub event_id: String,
    /// CloudEvents type.
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default)]
    pub subject: Option<String>,
    /// Publish: when it was sent; handle: when it arrived. µs since the Unix epoch.
    pub at_us: i64,
    /// Handle: how long its handler ran (decoding included), µs; `None` when no handler ran.
    #[serde(default)]
    pub duration_us: Option<u64>,
    /// Handle: the queue it was consumed from.
    #[serde(default)]
    pub queue: Option<String>,
    /// Publish: the exchange it was sent to (`""` is the default exchange, of replies).
    #[serde(default)]
    pub exchange: Option<String>,
    /// Publish: its routing key.
    #[serde(default)]
    pub routing_key: Option<String>,
    /// Handle: what became of the delivery.
    #[serde(default)]
    pub outcome: Option<SpanOutcome>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpanKind {
    Publish,
    Handle,
}

/// What became of a delivery (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpanOutcome {
    Handled,
    Failed,
    Retried,
    DeadLettered,
    Rejected,
    Duplicate,
}

/// What [`crate::Bridge::ask_trace`] asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceTarget {
    /// A W3C trace id (32 hex digits).
    Trace(String),
    /// The CloudEvents id of an event; its trace is looked up first.
    Event(String),
}

// ---- the ring ----------------------------------------------------------------------------------

/// Types under this prefix are the platform's own and not recorded.
const PLATFORM: &str = "instadash.platform.";

/// The most spans one answer carries.
pub const MAX_ANSWER_SPANS: usize = 2_000;

/// The largest `trace_buffer` accepted (about 176 MB of records).
pub const MAX_TRACE_BUFFER: usize = 1_000_000;

/// The direct reply-to pseudo-queue: a reply's routing key is this plus a token naming the
/// caller's channel, which says nothing to an operator and is not kept.
const REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// This instance's recent spans. See the module documentation.
pub struct SpanLog {
    capacity: usize,
    ring: Mutex<Ring>,
}

struct Ring {
    records: Vec<Record>,
    /// Once full: where the next record goes, which is the oldest.
    next: usize,
}

impl Ring {
    /// Oldest first.
    fn iter(&self) -> impl Iterator<Item = &Record> {
        let (newer, older) = self.records.split_at(self.next);
        older.iter().chain(newer)
    }
}

/// One span as the ring keeps it.
#[derive(Clone)]
pub(crate) struct Record {
    trace_id: u128,
    span_id: u64,
    /// 0: none.
    parent_span_id: u64,
    at_us: i64,
    /// `NO_DURATION` when no handler ran.
    duration_us: u32,
    /// `None` for a publish.
    outcome: Option<SpanOutcome>,
    exchange: Option<Exchange>,
    event_id: Text,
    type_: Text,
    subject: Option<Text>,
    /// Handle: the queue. Publish: the routing key, `None` when it is `<type>.<subject>` (events).
    place: Option<Text>,
}

const NO_DURATION: u32 = u32::MAX;

/// The exchanges the bridge sends to, as one byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exchange {
    Default,
    Events,
    Services,
    Work,
}

impl Exchange {
    fn of(name: &str) -> Option<Self> {
        match name {
            "" => Some(Self::Default),
            topology::EVENTS => Some(Self::Events),
            topology::SERVICES => Some(Self::Services),
            topology::WORK => Some(Self::Work),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Default => "",
            Self::Events => topology::EVENTS,
            Self::Services => topology::SERVICES,
            Self::Work => topology::WORK,
        }
    }
}

/// Where a published message went, as the span log records it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Destination<'a> {
    /// Not recorded: the platform's own messages ([`Outbox::broadcast`]).
    Untraced,
    /// The events exchange, under `<type>.<subject>` (made again when read).
    Event,
    /// `exchange` under `key`.
    To(&'static str, &'a str),
    /// A reply, to the caller's direct reply-to address.
    Reply,
}

/// A string as a record keeps it: shared or inline when it can be, so recording does not allocate.
#[derive(Clone)]
pub(crate) enum Text {
    Static(&'static str),
    Shared(Arc<str>),
    /// A UUID in its canonical form (lowercase, hyphenated), as event ids are.
    Uuid([u8; 16]),
    Inline {
        len: u8,
        bytes: [u8; INLINE],
    },
    Heap(Box<str>),
}

const INLINE: usize = 30;

impl Text {
    /// `s`, stored inline when it is a canonical UUID or short; copied to the heap otherwise.
    pub(crate) fn new(s: &str) -> Self {
        if let Some(uuid) = canonical_uuid(s) {
            return Text::Uuid(uuid);
        }
        match u8::try_from(s.len()) {
            Ok(len) if s.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..s.len()].copy_from_slice(s.as_bytes());
                Text::Inline { len, bytes }
            }
            _ => Text::Heap(s.into()),
        }
    }

    fn with_str<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match self {
            Text::Static(s) => f(s),
            Text::Shared(s) => f(s),
            Text::Heap(s) => f(s),
            // Copied whole from a `&str` of at most INLINE bytes, so always valid UTF-8.
            Text::Inline { len, bytes } => {
                f(std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default())
            }
            Text::Uuid(uuid) => {
                let mut buf = [0; uuid::fmt::Hyphenated::LENGTH];
                f(uuid::Uuid::from_bytes(*uuid)
                    .hyphenated()
                    .encode_lower(&mut buf))
            }
        }
    }

    fn owned(&self) -> String {
        self.with_str(str::to_owned)
    }
}

/// Equal strings are equal texts: a canonical UUID is always stored as [`Text::Uuid`] (static
/// and shared texts are types and queue names, never UUIDs).
impl PartialEq for Text {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Text::Uuid(a), Text::Uuid(b)) => a == b,
            (Text::Uuid(_), _) | (_, Text::Uuid(_)) => false,
            _ => self.with_str(|a| other.with_str(|b| a == b)),
        }
    }
}

fn canonical_uuid(s: &str) -> Option<[u8; 16]> {
    // At 36 characters only the hyphenated form parses; its lowercase spelling is the canonical.
    if s.len() != uuid::fmt::Hyphenated::LENGTH || s.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    uuid::Uuid::try_parse(s).ok().map(uuid::Uuid::into_bytes)
}

/// A delivery being handled, recorded once its fate is known.
pub(crate) struct Arrival {
    record: Record,
}

impl SpanLog {
    /// A log of at most `capacity` spans; 0 records nothing.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            ring: Mutex::new(Ring {
                // Reserved once, so recording never reallocates (nor copies the ring) under the
                // lock; pages are only touched as the ring fills.
                records: Vec::with_capacity(capacity),
                next: 0,
            }),
        }
    }

    /// Spans it keeps at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Spans it holds now.
    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether deliveries are recorded at all (to skip even reading the clock when not).
    pub(crate) fn enabled(&self) -> bool {
        self.capacity > 0
    }

    fn records(&self, kind: &str) -> bool {
        self.capacity > 0 && !kind.starts_with(PLATFORM)
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, record: Record) {
        let mut ring = self.lock();
        if ring.records.len() < self.capacity {
            ring.records.push(record);
        } else {
            let at = ring.next;
            ring.next = (at + 1) % self.capacity;
            // The old record is dropped here: at most a `Box<str>` or an `Arc` to let go of.
            ring.records[at] = record;
        }
    }

    /// Records a message about to be sent: `ids` of its new span (from stamping `envelope`).
    pub(crate) fn published(
        &self,
        ids: SpanIds,
        envelope: &Envelope,
        kind: &'static str,
        to: Destination<'_>,
    ) {
        if !self.records(kind) {
            return;
        }
        let (exchange, place) = match to {
            Destination::Untraced => return,
            Destination::Event => (Some(Exchange::Events), None),
            Destination::To(exchange, key) => (Exchange::of(exchange), Some(Text::new(key))),
            Destination::Reply => (Some(Exchange::Default), Some(Text::Static(REPLY_TO))),
        };
        self.push(Record {
            trace_id: ids.trace_id,
            span_id: ids.span_id,
            parent_span_id: ids.parent_span_id,
            at_us: unix_us(envelope.time),
            duration_us: NO_DURATION,
            outcome: None,
            exchange,
            event_id: Text::new(&envelope.id),
            type_: Text::Static(kind),
            subject: envelope.subject.as_deref().map(Text::new),
            place,
        });
    }

    /// Starts the record of a delivery that arrived at `at_us` from `queue`, carrying `span`: what
    /// is read from its envelope before the handler takes it. `kind` is the type as its route
    /// names it (`None`: no route, read from the envelope). `None` when nothing is recorded.
    pub(crate) fn received(
        &self,
        ids: SpanIds,
        envelope: &Envelope,
        kind: Option<&'static str>,
        queue: &Arc<str>,
        at_us: Option<i64>,
    ) -> Option<Arrival> {
        let at_us = at_us?;
        if !self.records(&envelope.kind) {
            return None;
        }
        Some(Arrival {
            record: Record {
                trace_id: ids.trace_id,
                span_id: ids.span_id,
                parent_span_id: 0,
                at_us,
                duration_us: NO_DURATION,
                outcome: None,
                exchange: None,
                event_id: Text::new(&envelope.id),
                type_: kind.map_or_else(|| Text::new(&envelope.kind), Text::Static),
                subject: envelope.subject.as_deref().map(Text::new),
                place: Some(Text::Shared(queue.clone())),
            },
        })
    }

    /// Records a delivery's fate; `took` is how long its handler ran, if one did.
    pub(crate) fn handled(
        &self,
        arrival: Option<Arrival>,
        outcome: SpanOutcome,
        took: Option<Duration>,
    ) {
        let Some(Arrival { mut record }) = arrival else {
            return;
        };
        record.outcome = Some(outcome);
        record.duration_us = took.map_or(NO_DURATION, |took| {
            u32::try_from(took.as_micros()).unwrap_or(NO_DURATION - 1)
        });
        self.push(record);
    }

    /// This instance's answer to `query`, as `service`/`instance`: every span of the trace it
    /// names, or of the traces its event belongs to, oldest first.
    pub(crate) fn answer(&self, query: &TraceQuery, service: &str, instance: &str) -> TraceSpans {
        let wanted_trace = query.trace_id.as_deref().and_then(parse_trace_id);
        let wanted_event = query.event_id.as_deref().map(Text::new);
        // Copy out under the lock (cheap: integers and mostly inline text), format outside it.
        let (mut found, held, oldest_us) = {
            let ring = self.lock();
            let mut traces: Vec<u128> = wanted_trace.into_iter().collect();
            if let Some(event) = &wanted_event {
                for record in ring.iter() {
                    if record.event_id == *event && !traces.contains(&record.trace_id) {
                        traces.push(record.trace_id);
                    }
                }
            }
            let found: Vec<Record> = if traces.is_empty() {
                Vec::new()
            } else {
                ring.iter()
                    .filter(|r| traces.contains(&r.trace_id))
                    .cloned()
                    .collect()
            };
            let oldest_us = ring.iter().map(|r| r.at_us).min();
            (found, ring.records.len(), oldest_us)
        };
        // Stable: spans at the same microsecond stay in the order they were recorded.
        found.sort_by_key(|r| r.at_us);
        let truncated = found.len() > MAX_ANSWER_SPANS;
        found.truncate(MAX_ANSWER_SPANS);
        TraceSpans {
            query_id: query.query_id.clone(),
            service: service.to_owned(),
            instance: instance.to_owned(),
            spans: found.iter().map(Record::to_span).collect(),
            buffer_spans: u64::try_from(held).unwrap_or(u64::MAX),
            oldest_us,
            truncated,
        }
    }
}

impl Record {
    fn to_span(&self) -> Span {
        let type_ = self.type_.owned();
        let subject = self.subject.as_ref().map(Text::owned);
        let (queue, exchange, routing_key) = match self.outcome {
            Some(_) => (self.place.as_ref().map(Text::owned), None, None),
            None => {
                let key = match &self.place {
                    Some(key) => key.owned(),
                    None => message::routing_key(&type_, subject.as_deref()),
                };
                (None, self.exchange.map(|e| e.name().to_owned()), Some(key))
            }
        };
        Span {
            kind: if self.outcome.is_some() {
                SpanKind::Handle
            } else {
                SpanKind::Publish
            },
            trace_id: format!("{:032x}", self.trace_id),
            span_id: format!("{:016x}", self.span_id),
            parent_span_id: (self.parent_span_id != 0)
                .then(|| format!("{:016x}", self.parent_span_id)),
            event_id: self.event_id.owned(),
            type_,
            subject,
            at_us: self.at_us,
            duration_us: (self.duration_us != NO_DURATION).then_some(u64::from(self.duration_us)),
            queue,
            exchange,
            routing_key,
            outcome: self.outcome,
        }
    }
}

/// A W3C trace id: 32 lowercase hex digits, not all zero.
fn parse_trace_id(id: &str) -> Option<u128> {
    if id.len() != 32 || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    u128::from_str_radix(id, 16).ok().filter(|&id| id != 0)
}

/// Now, µs since the Unix epoch.
pub(crate) fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

fn unix_us(time: OffsetDateTime) -> i64 {
    i64::try_from(time.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

// ---- answering (on the presence queue) ---------------------------------------------------------

/// Answers `query` as this instance; the answer is made smaller until it fits the size limit.
pub(crate) async fn answer(outbox: &Outbox, service: &str, instance: &str, query: &TraceQuery) {
    let mut answer = outbox.spans.answer(query, service, instance);
    loop {
        match outbox.broadcast(&answer).await {
            Err(PublishError::TooLarge { .. }) if !answer.spans.is_empty() => {
                let keep = answer.spans.len() / 2;
                answer.spans.truncate(keep);
                answer.truncated = true;
            }
            Err(error) => {
                debug!(%error, "trace spans not sent");
                return;
            }
            Ok(_) => return,
        }
    }
}

// ---- asking --------------------------------------------------------------------------------------

/// Binding key of the asker's queue: every instance's answers.
const ANSWERS: &str = "instadash.platform.trace-spans.#";

/// See [`crate::Bridge::ask_trace`].
pub(crate) async fn ask(
    link: &Link,
    outbox: &Outbox,
    target: TraceTarget,
    expected: Option<usize>,
    wait: Duration,
) -> Result<Vec<TraceSpans>, BridgeError> {
    let target = match target {
        TraceTarget::Trace(id) => {
            let id = id.to_ascii_lowercase();
            if parse_trace_id(&id).is_none() {
                return Err(BridgeError::InvalidTraceId(id));
            }
            TraceTarget::Trace(id)
        }
        event => event,
    };
    let channel = link
        .create_channel()
        .await
        .map_err(BridgeError::broker("opening a channel for the trace view"))?;
    let asked = async {
        // A one-shot queue of the broker's naming: gone with its consumer (auto-delete) or the
        // connection (exclusive).
        let queue = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(BridgeError::broker("declaring the trace view's queue"))?
            .name()
            .clone();
        channel
            .queue_bind(
                queue.clone(),
                topology::EVENTS.into(),
                ANSWERS.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(BridgeError::broker("binding the trace view's queue"))?;
        let mut deliveries = channel
            .basic_consume(
                queue,
                "trace-view".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    exclusive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(BridgeError::broker("consuming trace spans"))?;
        match target {
            TraceTarget::Trace(id) => {
                round(outbox, &mut deliveries, Some(id), None, expected, wait).await
            }
            TraceTarget::Event(id) => {
                let mut answers =
                    round(outbox, &mut deliveries, None, Some(id), expected, wait).await?;
                // Instances that never saw the event itself (later hops, or earlier ones) hold
                // spans of its trace too: ask for each trace the first round found.
                let traces: BTreeSet<String> = answers
                    .iter()
                    .flat_map(|a| a.spans.iter().map(|s| s.trace_id.clone()))
                    .collect();
                for trace in traces {
                    let more =
                        round(outbox, &mut deliveries, Some(trace), None, expected, wait).await?;
                    answers = merge(answers, more);
                }
                Ok(answers)
            }
        }
    }
    .await;
    // Cancels the consumer, which deletes the queue.
    let _ = channel.close(200, "trace view done".into()).await;
    asked
}

/// One question and its answers: until `expected` instances answered, or `wait` passed.
async fn round(
    outbox: &Outbox,
    deliveries: &mut lapin::Consumer,
    trace_id: Option<String>,
    event_id: Option<String>,
    expected: Option<usize>,
    wait: Duration,
) -> Result<Vec<TraceSpans>, BridgeError> {
    let query = TraceQuery {
        query_id: uuid::Uuid::now_v7().to_string(),
        trace_id,
        event_id,
    };
    outbox.broadcast(&query).await?;
    let deadline = tokio::time::Instant::now() + wait;
    let mut answers: BTreeMap<(String, String), TraceSpans> = BTreeMap::new();
    while expected.is_none_or(|n| answers.len() < n) {
        let delivery = match tokio::time::timeout_at(deadline, deliveries.next()).await {
            Err(_) => break,
            Ok(Some(Ok(delivery))) => delivery,
            Ok(Some(Err(error))) => {
                return Err(BridgeError::Broker {
                    context: "receiving trace spans".into(),
                    source: error,
                });
            }
            Ok(None) => {
                return Err(BridgeError::Setup(
                    "the trace view's queue was cancelled by the broker".into(),
                ));
            }
        };
        let Ok((envelope, body)) = Envelope::from_delivery(&delivery.properties, &delivery.data)
        else {
            continue;
        };
        if envelope.kind != TraceSpans::TYPE {
            continue;
        }
        let headers = delivery.properties.headers().as_ref();
        match TraceSpans::decode(&RawPayload::new(&envelope, &body, headers)) {
            Ok(answer) if answer.query_id == query.query_id => {
                answers.insert((answer.service.clone(), answer.instance.clone()), answer);
            }
            Ok(_) => {}
            Err(rejection) => debug!(%rejection, "unreadable trace spans ignored"),
        }
    }
    Ok(answers.into_values().collect())
}

/// The answers of two rounds, per instance: spans of both, each once, oldest first.
fn merge(first: Vec<TraceSpans>, second: Vec<TraceSpans>) -> Vec<TraceSpans> {
    let mut merged: BTreeMap<(String, String), TraceSpans> = first
        .into_iter()
        .map(|a| ((a.service.clone(), a.instance.clone()), a))
        .collect();
    for answer in second {
        match merged.entry((answer.service.clone(), answer.instance.clone())) {
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(answer);
            }
            std::collections::btree_map::Entry::Occupied(mut slot) => {
                let known = slot.get_mut();
                for span in answer.spans {
                    if !known.spans.contains(&span) {
                        known.spans.push(span);
                    }
                }
                known.spans.sort_by_key(|s| s.at_us);
                known.buffer_spans = answer.buffer_spans;
                known.oldest_us = answer.oldest_us;
                known.truncated |= answer.truncated;
            }
        }
    }
    merged.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace_context;

    fn envelope(kind: &str, subject: Option<&str>) -> Envelope {
        let mut envelope = Envelope::new(kind, "/svc/1");
        envelope.subject = subject.map(str::to_owned);
        envelope
    }

    fn query(trace_id: Option<String>, event_id: Option<&str>) -> TraceQuery {
        TraceQuery {
            query_id: "q".into(),
            trace_id,
            event_id: event_id.map(str::to_owned),
        }
    }

    #[test]
    fn records_are_small_and_texts_compact() {
        assert!(
            size_of::<Record>() <= 176,
            "a record is {} bytes",
            size_of::<Record>()
        );
        let id = uuid::Uuid::now_v7().to_string();
        assert!(matches!(Text::new(&id), Text::Uuid(_)));
        assert_eq!(Text::new(&id).owned(), id);
        let upper = id.to_ascii_uppercase();
        assert!(matches!(Text::new(&upper), Text::Heap(_)), "not canonical");
        assert_eq!(Text::new(&upper).owned(), upper);
        assert!(Text::new(&id) != Text::new(&upper));
        assert!(matches!(Text::new("car-0042"), Text::Inline { .. }));
        let long = "x".repeat(INLINE + 1);
        assert!(matches!(Text::new(&long), Text::Heap(_)));
        assert_eq!(Text::new(&long).owned(), long);
        assert!(Text::new("tracker") == Text::Static("tracker"));
        assert!(Text::new("tracker") == Text::Shared(Arc::from("tracker")));
        assert_eq!(Text::new("").owned(), "");
        assert_eq!(parse_trace_id(&"0".repeat(32)), None, "all zero is invalid");
        assert_eq!(parse_trace_id(&"A".repeat(32)), None, "lowercase only");
        assert_eq!(parse_trace_id(&format!("{:032x}", 7_u128)), Some(7));
    }

    #[tokio::test]
    async fn the_ring_keeps_the_newest_spans_of_each_trace() {
        let log = SpanLog::new(4);
        let queue: Arc<str> = Arc::from("instadash.events.trips");
        // A root event, published outside any handler.
        let mut root = envelope("instadash.test.root", Some("car-1"));
        let root_ids = trace_context::stamp(&mut root);
        log.published(root_ids, &root, "instadash.test.root", Destination::Event);
        // Handled here: the span of the received message, then a child published by its handler.
        let span = trace_context::incoming(&root);
        let received = log.received(
            SpanIds::of(&span),
            &root,
            Some("instadash.test.root"),
            &queue,
            Some(now_us()),
        );
        let mut child = envelope("instadash.test.child", None);
        let child_ids =
            trace_context::scope(span, async { trace_context::stamp(&mut child) }).await;
        log.published(
            child_ids,
            &child,
            "instadash.test.child",
            Destination::To(topology::SERVICES, "alerts"),
        );
        log.handled(
            received,
            SpanOutcome::Handled,
            Some(Duration::from_micros(1_234)),
        );
        // Platform messages are not recorded.
        let mut ping = envelope("instadash.platform.directory-ping", None);
        let ping_ids = trace_context::stamp(&mut ping);
        log.published(
            ping_ids,
            &ping,
            "instadash.platform.directory-ping",
            Destination::Event,
        );
        assert_eq!(log.len(), 3);

        let trace = format!("{:032x}", root_ids.trace_id);
        let by_event = log.answer(&query(None, Some(&child.id)), "svc", "1");
        let by_trace = log.answer(&query(Some(trace.clone()), None), "svc", "1");
        assert_eq!(by_event.spans, by_trace.spans);
        let spans = by_trace.spans;
        assert_eq!(spans.len(), 3, "{spans:#?}");
        let publish_root = spans
            .iter()
            .find(|s| s.kind == SpanKind::Publish && s.event_id == root.id)
            .expect("root published");
        assert_eq!(publish_root.parent_span_id, None);
        assert_eq!(publish_root.subject.as_deref(), Some("car-1"));
        assert_eq!(publish_root.exchange.as_deref(), Some(topology::EVENTS));
        assert_eq!(
            publish_root.routing_key.as_deref(),
            Some("instadash.test.root.car-1")
        );
        let handle = spans
            .iter()
            .find(|s| s.kind == SpanKind::Handle)
            .expect("handled");
        assert_eq!(
            handle.span_id, publish_root.span_id,
            "the span it arrived with"
        );
        assert_eq!(
            (handle.queue.as_deref(), handle.outcome, handle.duration_us),
            (
                Some("instadash.events.trips"),
                Some(SpanOutcome::Handled),
                Some(1_234)
            )
        );
        let publish_child = spans
            .iter()
            .find(|s| s.event_id == child.id)
            .expect("child published");
        assert_eq!(
            publish_child.parent_span_id.as_deref(),
            Some(publish_root.span_id.as_str())
        );
        assert_eq!(publish_child.trace_id, trace);
        assert_eq!(publish_child.routing_key.as_deref(), Some("alerts"));
        assert_eq!(by_trace.buffer_spans, 3);
        assert_eq!(by_trace.oldest_us, Some(publish_root.at_us));

        // Three unrelated roots: the ring holds four, so the oldest three spans go (the handle
        // span was recorded last of the trace, once its outcome was known).
        let mut last = String::new();
        for n in 0..3 {
            let mut other = envelope("instadash.test.other", Some(&format!("car-{n}")));
            let ids = trace_context::stamp(&mut other);
            log.published(ids, &other, "instadash.test.other", Destination::Event);
            last = other.id.clone();
        }
        assert_eq!(log.len(), 4);
        let left = log.answer(&query(Some(trace), None), "svc", "1");
        assert_eq!(
            left.spans.len(),
            1,
            "only the handle span is left: {left:#?}"
        );
        assert_eq!(left.spans[0].kind, SpanKind::Handle);
        assert_eq!(left.buffer_spans, 4);
        assert_eq!(left.oldest_us, Some(handle.at_us), "the horizon moved on");
        assert_eq!(
            log.answer(&query(None, Some(&root.id)), "svc", "1")
                .spans
                .len(),
            1
        );
        assert!(
            log.answer(&query(None, Some(&child.id)), "svc", "1")
                .spans
                .is_empty()
        );
        assert_eq!(
            log.answer(&query(None, Some(&last)), "svc", "1")
                .spans
                .len(),
            1
        );
        let unknown = log.answer(&query(None, Some("no-such-event")), "svc", "1");
        assert!(unknown.spans.is_empty() && unknown.buffer_spans == 4);

        // Off: nothing is kept.
        let off = SpanLog::new(0);
        off.published(root_ids, &root, "instadash.test.root", Destination::Event);
        assert!(off.received(root_ids, &root, None, &queue, None).is_none());
        assert!(off.is_empty());
        assert_eq!(
            off.answer(&query(None, Some(&root.id)), "svc", "1")
                .oldest_us,
            None
        );
    }

    #[test]
    fn answers_of_two_rounds_merge_per_instance() {
        let span = |id: &str, at_us| Span {
            kind: SpanKind::Publish,
            trace_id: "1".repeat(32),
            span_id: id.into(),
            parent_span_id: None,
            event_id: id.into(),
            type_: "t".into(),
            subject: None,
            at_us,
            duration_us: None,
            queue: None,
            exchange: None,
            routing_key: None,
            outcome: None,
        };
        let answer = |instance: &str, spans: Vec<Span>| TraceSpans {
            query_id: "q".into(),
            service: "svc".into(),
            instance: instance.into(),
            spans,
            buffer_spans: 10,
            oldest_us: Some(1),
            truncated: false,
        };
        let merged = merge(
            vec![answer("a", vec![span("x", 2)]), answer("b", vec![])],
            vec![
                answer("a", vec![span("w", 1), span("x", 2)]),
                answer("b", vec![span("y", 3)]),
                answer("c", vec![]),
            ],
        );
        let ids: Vec<Vec<&str>> = merged
            .iter()
            .map(|a| a.spans.iter().map(|s| s.span_id.as_str()).collect())
            .collect();
        assert_eq!(ids, [vec!["w", "x"], vec!["y"], vec![]]);
    }
}
