//! Safe consuming, shared by every pattern: `basic_qos` always set, one handler call at a time per
//! worker, acknowledgement only after the handler succeeded (batched), redelivered duplicates
//! skipped by event id, failures retried after a delay and finally dead-lettered with the reason.
//! A consumer the broker cancels (its queue deleted) subscribes again.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Acker, BasicProperties};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::config::RetryPolicy;
use crate::dead_letters;
use crate::dedup::{DedupWindow, EventKey};
use crate::envelope::{self, Envelope, header};
use crate::error::BridgeError;
use crate::link::{Link, LinkedChannel};
use crate::message::{Payload, Rejection};
use crate::outbox::Outbox;
use crate::span_log::{Destination, SpanOutcome};
use crate::stats::{Counter, Outcome, Stats};
use crate::topology::{self, QueueFamily};
use crate::trace_context::{self, SpanIds};

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What a handler produced.
pub(crate) enum Handled {
    Done,
    /// The answer to a request: its type and encoded payload.
    Reply {
        kind: &'static str,
        payload: Payload,
    },
}

/// Why a handler did not produce a result.
pub(crate) enum Failure {
    /// The payload breaks the route type's contract: retrying cannot help.
    Rejected(Rejection),
    /// The handler returned an error (or panicked): worth retrying.
    Handler(String),
}

/// A delivery as a route sees it.
pub(crate) struct Delivered<'a> {
    pub envelope: Envelope,
    pub body: &'a [u8],
    pub headers: Option<&'a FieldTable>,
    pub redelivered: bool,
    pub attempt: u32,
}

/// The erased form of a typed handler: decodes the payload, then runs the handler.
pub(crate) type RouteFn =
    Arc<dyn Fn(Delivered<'_>) -> BoxFuture<Result<Handled, Failure>> + Send + Sync>;

pub(crate) struct Route {
    pub call: RouteFn,
    /// A request's failure is answered to the caller at once instead of being retried.
    pub answers: bool,
    /// The schema version of the handled type, as the instance announces it.
    pub version: u32,
}

/// A queue to consume, how it is bound, and which handler takes which event type.
pub(crate) struct ConsumerSpec {
    pub family: QueueFamily,
    pub bindings: Vec<(String, String)>,
    pub routes: HashMap<&'static str, Route>,
    pub workers: usize,
    pub prefetch: u16,
}

/// Everything a worker needs, shared by the workers of one subscription.
pub(crate) struct Consumer {
    pub spec: ConsumerSpec,
    /// The queue's name, shared by the span log's records of its deliveries.
    pub queue: Arc<str>,
    pub link: Link,
    pub outbox: Outbox,
    pub retry: RetryPolicy,
    /// `service/instance`, written into dead letters.
    pub identity: String,
    pub shutdown: CancellationToken,
    pub dedup: Mutex<DedupWindow>,
    /// Larger deliveries are dead-lettered unread.
    pub max_message_bytes: usize,
    pub stats: Arc<Stats>,
}

/// How a delivery leaves the worker.
enum Settle {
    Ack,
    /// Could not be handed on safely (the dead-letter or retry publish failed): give it back.
    Requeue,
}

/// Why a consume loop stopped.
enum Ended {
    Shutdown,
    /// The broker cancelled the consumer (queue deleted, failover) or the channel died.
    Lost(String),
}

/// The type of the reply to a request whose handler failed; the payload is the error text.
const ERROR_REPLY: &str = "instadash.error";

/// Acknowledging every message costs the broker; a worker acknowledges up to this many at once,
/// and whatever it holds once no delivery has come for `ACK_IDLE`.
const ACK_BATCH: u32 = 50;
const ACK_IDLE: Duration = Duration::from_millis(5);

/// Starts the workers; returns once each has subscribed, or the first error.
pub(crate) async fn start(
    consumer: Arc<Consumer>,
    tasks: &tokio_util::task::TaskTracker,
) -> Result<(), BridgeError> {
    let spawn = |worker: usize| {
        let (tx, rx) = oneshot::channel();
        tasks.spawn(run_worker(consumer.clone(), worker, tx));
        async move {
            rx.await
                .map_err(|_| BridgeError::Setup("consumer task ended before subscribing".into()))?
        }
    };
    // The first worker declares a new queue alone: on RabbitMQ 3.10, a consume on a quorum queue
    // that another channel is declaring at that moment can fail inside the broker (`noproc`),
    // which closes the whole connection.
    spawn(0).await?;
    let rest: Vec<_> = (1..consumer.spec.workers.max(1)).map(spawn).collect();
    for ready in rest {
        ready.await?;
    }
    Ok(())
}

async fn run_worker(
    consumer: Arc<Consumer>,
    worker: usize,
    ready: oneshot::Sender<Result<(), BridgeError>>,
) {
    let queue = consumer.spec.family.name.clone();
    let mut ready = Some(ready);
    let mut delay = Duration::from_millis(100);
    loop {
        let ended = match subscribe(&consumer, worker).await {
            Ok((channel, mut stream, tag)) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Ok(()));
                }
                delay = Duration::from_millis(100);
                let ended = consume(&consumer, &channel, &mut stream).await;
                if let Ended::Shutdown = ended {
                    // Cancelled before the stream is dropped: lapin cancels a dropped active
                    // consumer later on its own, which could follow the channel's close and make
                    // the broker close the connection (CHANNEL_ERROR).
                    let _ = channel
                        .basic_cancel(tag, BasicCancelOptions::default())
                        .await;
                    drop(stream);
                    let _ = channel.close(200, "shutdown".into()).await;
                    return;
                }
                let _ = channel.close(200, "resubscribing".into()).await;
                ended
            }
            Err(error) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Err(error));
                    return;
                }
                Ended::Lost(error.to_string())
            }
        };
        if consumer.shutdown.is_cancelled() {
            return;
        }
        if let Ended::Lost(reason) = ended {
            warn!(%queue, %reason, retry_in = ?delay, "consumer stopped; subscribing again");
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = consumer.shutdown.cancelled() => return,
        }
        delay = (delay * 2).min(Duration::from_secs(1));
    }
}

/// Opens a channel, sets the prefetch, declares and binds the queue, and starts consuming.
async fn subscribe(
    consumer: &Consumer,
    worker: usize,
) -> Result<(LinkedChannel, lapin::Consumer, ShortString), BridgeError> {
    let spec = &consumer.spec;
    let queue = &spec.family.name;
    let channel = consumer
        .link
        .create_channel()
        .await
        .map_err(BridgeError::broker("opening a consumer channel"))?;
    channel
        .basic_qos(spec.prefetch, BasicQosOptions::default())
        .await
        .map_err(BridgeError::broker("setting the prefetch"))?;
    spec.family.declare(&channel).await?;
    for (exchange, key) in &spec.bindings {
        spec.family.bind(&channel, queue, exchange, key).await?;
    }
    let tag = ShortString::from(format!("{}/{queue}/{worker}", consumer.identity));
    let stream = channel
        .basic_consume(
            queue.as_str().into(),
            tag.clone(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(BridgeError::broker(format!("consuming from {queue}")))?;
    debug!(%queue, worker, "consuming");
    Ok((channel, stream, tag))
}

async fn consume(
    consumer: &Consumer,
    channel: &LinkedChannel,
    stream: &mut lapin::Consumer,
) -> Ended {
    // Anything awaited on the channel may hang for good if its connection's recovery is stuck;
    // once the link has replaced that connection, this worker subscribes again on the new one.
    // Handlers are never cut short: only waits on the channel itself race this.
    let replaced = consumer.link.replaced(channel);
    tokio::pin!(replaced);
    let lost = || Ended::Lost("the connection was replaced".into());
    let mut unacked = Unacked::default();
    loop {
        if consumer.shutdown.is_cancelled() {
            unacked.flush().await;
            return Ended::Shutdown;
        }
        let next = match stream.next().now_or_never() {
            Some(next) => next,
            // Nothing waiting: acknowledge what is done unless more comes at once, so a busy
            // stream is acknowledged in batches and a quiet one without delay.
            None if unacked.count > 0 => tokio::select! {
                next = stream.next() => next,
                _ = tokio::time::sleep(ACK_IDLE) => {
                    tokio::select! {
                        () = unacked.flush() => {}
                        () = &mut replaced => return lost(),
                    }
                    continue;
                }
                _ = consumer.shutdown.cancelled() => continue,
                () = &mut replaced => return lost(),
            },
            None => tokio::select! {
                next = stream.next() => next,
                _ = consumer.shutdown.cancelled() => continue,
                () = &mut replaced => return lost(),
            },
        };
        let delivery = match next {
            Some(Ok(delivery)) => delivery,
            Some(Err(error)) => {
                // Deliveries of the old connection can no longer be acknowledged; the broker
                // redelivers them and the dedup window recognises those already handled.
                unacked.forget();
                if let Err(error) = consumer.link.wait_for_recovery(channel, error).await {
                    return Ended::Lost(error.to_string());
                }
                continue;
            }
            None => {
                unacked.flush().await;
                let reason = if channel.status().connected() {
                    "the broker cancelled the consumer (queue deleted?)"
                } else {
                    "its channel closed"
                };
                return Ended::Lost(reason.into());
            }
        };
        let settle = handle(consumer, &delivery).await;
        let settled = async {
            match settle {
                Settle::Ack => unacked.push(delivery.acker).await,
                Settle::Requeue => {
                    unacked.flush().await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let requeue = BasicNackOptions {
                        multiple: false,
                        requeue: true,
                    };
                    if let Err(error) = delivery.acker.nack(requeue).await {
                        debug!(%error, "nack failed; the broker redelivers after recovery");
                    }
                }
            }
        };
        tokio::select! {
            () = settled => {}
            () = &mut replaced => return lost(),
        }
    }
}

/// Handled deliveries not yet acknowledged. Handling is sequential per channel, so acknowledging
/// the latest with `multiple` covers all of them.
#[derive(Default)]
struct Unacked {
    latest: Option<Acker>,
    count: u32,
}

impl Unacked {
    async fn push(&mut self, acker: Acker) {
        self.latest = Some(acker);
        self.count += 1;
        if self.count >= ACK_BATCH {
            self.flush().await;
        }
    }

    async fn flush(&mut self) {
        self.count = 0;
        if let Some(acker) = self.latest.take()
            && let Err(error) = acker.ack(BasicAckOptions { multiple: true }).await
        {
            debug!(%error, "ack failed; the broker redelivers and duplicates are skipped");
        }
    }

    fn forget(&mut self) {
        self.latest = None;
        self.count = 0;
    }
}

/// Runs one delivery through its handler and decides its fate. Never panics, never drops: every
/// delivery is acknowledged after success, moved to retry or dead letter, or given back.
async fn handle(consumer: &Consumer, delivery: &Delivery) -> Settle {
    consumer.stats.count(Counter::Delivered);
    let spans = &consumer.outbox.spans;
    // When it arrived, for the span log (the clock is not read when the log is off).
    let arrived_us = spans.enabled().then(crate::span_log::now_us);
    let size = delivery.data.len();
    if size > consumer.max_message_bytes {
        let rejection = rejection(
            "message larger than the configured maximum",
            "max-size",
            format!("{size} bytes, limit {} bytes", consumer.max_message_bytes),
        );
        return reject(consumer, delivery, &rejection).await;
    }
    let (envelope, body) = match Envelope::from_delivery(&delivery.properties, &delivery.data) {
        Ok(parsed) => parsed,
        Err(error) => {
            let rejection = rejection(
                "invalid CloudEvents envelope",
                "cloudevents",
                error.to_string(),
            );
            return reject(consumer, delivery, &rejection).await;
        }
    };
    // A delivery that never reaches a handler, as the span log keeps it.
    let unhandled = |envelope: &Envelope| {
        arrived_us?;
        let ids = SpanIds::of(&trace_context::incoming(envelope));
        spans.received(ids, envelope, None, &consumer.queue, arrived_us)
    };
    let key = EventKey::of(&envelope.id);
    if consumer.seen(&key) {
        debug!(id = %envelope.id, "duplicate delivery skipped");
        consumer.stats.count(Counter::Duplicate);
        spans.handled(unhandled(&envelope), SpanOutcome::Duplicate, None);
        return Settle::Ack;
    }
    let Some((&kind, route)) = consumer.spec.routes.get_key_value(envelope.kind.as_str()) else {
        let rejection = rejection(
            "unknown message type",
            "type",
            format!("no handler for `{}` on this queue", envelope.kind),
        );
        let arrival = unhandled(&envelope);
        let settle = reject(consumer, delivery, &rejection).await;
        spans.handled(arrival, fate(&settle, SpanOutcome::Rejected), None);
        return settle;
    };
    let attempt =
        envelope::header_u32(delivery.properties.headers().as_ref(), header::ATTEMPT).unwrap_or(0);
    let reply_to = delivery.properties.reply_to().as_ref();
    // Only requests need it; their answer carries the request's correlation id.
    let correlation = reply_to.map(|_| {
        envelope
            .correlation_id
            .clone()
            .unwrap_or_else(|| envelope.id.clone())
    });
    let span = trace_context::incoming(&envelope);
    let arrival = spans.received(
        SpanIds::of(&span),
        &envelope,
        Some(kind),
        &consumer.queue,
        arrived_us,
    );
    let _running = consumer.stats.running();
    let cells = consumer.stats.traffic.handler(kind);
    cells.delivered(body.len());
    // The handler's run time includes decoding the payload, which starts with the call.
    let started = Instant::now();
    let call = (route.call)(Delivered {
        envelope,
        body: &body,
        headers: delivery.properties.headers().as_ref(),
        redelivered: delivery.redelivered,
        attempt,
    });
    let (result, took) = trace_context::scope(span, async {
        let result = AssertUnwindSafe(call)
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| Err(Failure::Handler(panic_message(panic))));
        let outcome = match &result {
            Ok(_) => Outcome::Handled,
            Err(Failure::Handler(_)) => Outcome::Failed,
            Err(Failure::Rejected(_)) => Outcome::Rejected,
        };
        let took = started.elapsed();
        cells.finished(outcome, took);
        // Replies are made inside the trace scope so they continue the request's trace.
        let replied = match (&result, reply_to.zip(correlation.as_deref())) {
            (Ok(Handled::Reply { kind, payload }), Some((reply_to, correlation))) => {
                reply(consumer, reply_to, correlation, kind, payload.clone(), None).await
            }
            (Err(failure), Some((reply_to, correlation))) if route.answers => {
                let message = match failure {
                    Failure::Handler(message) => message.clone(),
                    Failure::Rejected(rejection) => format!("request rejected: {rejection}"),
                };
                let payload = Payload {
                    bytes: message.clone().into_bytes(),
                    content_type: "text/plain",
                    data_schema: None,
                    headers: Vec::new(),
                };
                reply(
                    consumer,
                    reply_to,
                    correlation,
                    ERROR_REPLY,
                    payload,
                    Some(&message),
                )
                .await
            }
            _ => true,
        };
        (replied.then_some(result), took)
    })
    .await;
    let Some(result) = result else {
        spans.handled(arrival, SpanOutcome::Failed, Some(took));
        return Settle::Requeue;
    };
    let (settle, outcome) = match result {
        Ok(_) => {
            consumer.remember(key);
            consumer.stats.count(Counter::Handled);
            (Settle::Ack, SpanOutcome::Handled)
        }
        // A rejected request is answered, and dead-lettered too: its sender broke the contract.
        Err(Failure::Rejected(rejection)) => (
            reject(consumer, delivery, &rejection).await,
            SpanOutcome::Rejected,
        ),
        Err(Failure::Handler(_)) if route.answers => (Settle::Ack, SpanOutcome::Failed),
        Err(Failure::Handler(error)) => {
            let attempts = consumer.retry.attempts;
            if attempt + 1 < attempts {
                debug!(attempt, %error, "handler failed; retrying later");
                consumer.stats.count(Counter::Retried);
                let settle = retry(consumer, delivery, attempt + 1, &error).await;
                (settle, SpanOutcome::Retried)
            } else {
                let failed = rejection(
                    &format!("handler failed {attempts} times"),
                    "handler",
                    error,
                );
                let settle = dead_letter(consumer, delivery, &failed, attempt + 1).await;
                (settle, SpanOutcome::DeadLettered)
            }
        }
    };
    spans.handled(arrival, fate(&settle, outcome), Some(took));
    settle
}

/// A delivery's outcome for the span log: `failed` if it was given back to the broker instead.
fn fate(settle: &Settle, outcome: SpanOutcome) -> SpanOutcome {
    match settle {
        Settle::Ack => outcome,
        Settle::Requeue => SpanOutcome::Failed,
    }
}

fn rejection(reason: &str, check: &str, detail: String) -> Rejection {
    Rejection {
        reason: reason.to_owned(),
        check: check.to_owned(),
        pointer: String::new(),
        schema: None,
        detail,
    }
}

/// Dead-letters a message that broke its contract: it never reaches a handler.
async fn reject(consumer: &Consumer, delivery: &Delivery, rejection: &Rejection) -> Settle {
    let settle = dead_letter(consumer, delivery, rejection, 0).await;
    if let Settle::Ack = settle {
        consumer.stats.count(Counter::Rejected);
    }
    settle
}

impl Consumer {
    fn seen(&self, key: &EventKey) -> bool {
        self.dedup.lock().is_ok_and(|window| window.contains(key))
    }

    fn remember(&self, key: EventKey) {
        if let Ok(mut window) = self.dedup.lock() {
            window.insert(key);
        }
    }
}

/// Answers a request on its direct reply-to address. Returns false if the reply could not be sent.
async fn reply(
    consumer: &Consumer,
    reply_to: &ShortString,
    correlation: &str,
    kind: &'static str,
    payload: Payload,
    error: Option<&String>,
) -> bool {
    let outbox = &consumer.outbox;
    let mut envelope = outbox.envelope(kind, None, Destination::Reply);
    envelope.correlation_id = Some(correlation.to_owned());
    let bytes = envelope.describe(payload);
    let size = bytes.len();
    let mut properties = envelope.to_properties(&outbox.app_id);
    if let Some(error) = error {
        properties = with_headers(properties, [(header::REPLY_ERROR, text(error))]);
    }
    // Not mandatory: a reply whose caller is gone (its reply-to address died with its channel) is
    // dropped by the broker, which is not this service's failure.
    match outbox
        .send_raw("", reply_to.as_str(), properties, bytes, false)
        .await
    {
        Ok(receipt) => match receipt.confirmed().await {
            Ok(()) => {
                outbox.stats.traffic.sent(kind, size);
                true
            }
            Err(error) => {
                warn!(%error, "reply not sent");
                false
            }
        },
        Err(error) => {
            warn!(%error, "reply not sent");
            false
        }
    }
}

/// Parks the message in `<queue>.retry`; it flows back to the queue after the retry delay.
async fn retry(consumer: &Consumer, delivery: &Delivery, attempt: u32, error: &str) -> Settle {
    let properties = with_headers(
        delivery.properties.clone(),
        [
            (header::ATTEMPT, AMQPValue::LongUInt(attempt)),
            (header::ERROR, text(error)),
        ],
    );
    forward(consumer, topology::RETRY, delivery, properties).await
}

/// Moves the message to `<queue>.dead-letter` with the reason in its headers. The broker's own
/// dead-lettering cannot carry a reason, so the bridge publishes the copy itself and acknowledges
/// the original only once the copy is confirmed.
async fn dead_letter(
    consumer: &Consumer,
    delivery: &Delivery,
    why: &Rejection,
    attempts: u32,
) -> Settle {
    let queue = &consumer.spec.family.name;
    warn!(%queue, reason = %why.reason, check = %why.check, pointer = %why.pointer, error = %why.detail, "message dead-lettered");
    let properties = dead_letters::marked_dead(
        delivery.properties.clone(),
        why,
        &consumer.identity,
        queue,
        attempts,
    );
    let settle = forward(consumer, topology::DEAD_LETTER, delivery, properties).await;
    if let Settle::Ack = settle {
        consumer.stats.count(Counter::DeadLettered);
    }
    settle
}

async fn forward(
    consumer: &Consumer,
    exchange: &str,
    delivery: &Delivery,
    properties: BasicProperties,
) -> Settle {
    let queue = &consumer.spec.family.name;
    let sent = consumer
        .outbox
        .send_raw(exchange, queue, properties, delivery.data.clone(), true)
        .await;
    match sent {
        Ok(receipt) => match receipt.confirmed().await {
            Ok(()) => Settle::Ack,
            Err(error) => {
                error!(%queue, %exchange, %error, "could not forward message; giving it back");
                Settle::Requeue
            }
        },
        Err(error) => {
            error!(%queue, %exchange, %error, "could not forward message; giving it back");
            Settle::Requeue
        }
    }
}

fn with_headers<const N: usize>(
    properties: BasicProperties,
    extra: [(&str, AMQPValue); N],
) -> BasicProperties {
    let mut headers = properties.headers().clone().unwrap_or_default();
    for (key, value) in extra {
        headers.insert(ShortString::from(key), value);
    }
    properties.with_headers(headers)
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    format!("handler panicked: {detail}")
}

/// Logged once per subscription so operators see what each instance consumes.
pub(crate) fn log_started(spec: &ConsumerSpec) {
    let mut kinds: Vec<_> = spec.routes.keys().copied().collect();
    kinds.sort_unstable();
    info!(queue = %spec.family.name, workers = spec.workers, types = ?kinds, "subscribed");
}
