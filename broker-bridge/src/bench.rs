//! The broker benchmark behind `instadash bench broker`: the same workload through raw lapin and
//! through the bridge, so the bridge's cost is measured against a fair, well-written baseline.
//!
//! The workload: one durable queue (classic or quorum, uniquely named, deleted at the end),
//! `messages` persistent messages of about `size` bytes published with publisher confirms and at
//! most `confirm_window` unconfirmed at a time, consumed by one consumer with a prefetch of
//! `prefetch`, acknowledged in batches. Every message carries its send time; the consumer records
//! the end-to-end latency (receive time minus send time) in an HDR histogram with microsecond
//! resolution. Throughput is measured from the first publish to the last message consumed.
//!
//! * [`run_raw`] uses lapin directly: one connection, a confirmed publishing channel, a consuming
//!   channel with `basic_qos`, confirms kept in a `FuturesUnordered` window, multi-ack every 50.
//! * [`run_bridge`] uses the public API a service uses: [`Bridge::submit`] to a work queue and a
//!   [`Bridge::work_queue`] handler, with CloudEvents envelope, trace context, JSON payload,
//!   `mandatory`, confirm tracking and republishing, duplicate detection and batched acks.
//!
//! Both record into the same kind of histogram behind a `std::sync::Mutex`, so the measuring
//! itself costs the two paths the same.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use hdrhistogram::Histogram;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::config::BridgeConfig;
use crate::envelope::Envelope;
use crate::message::{Incoming, Message};
use crate::topology::{self, QueueKind};
use crate::trace_context;
use crate::{Bridge, config};

/// What to run. Both paths take the same options.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Broker URL, e.g. `amqp://guest:guest@127.0.0.1:5672/%2f`.
    pub amqp_url: String,
    /// Messages to publish and consume.
    pub messages: u64,
    /// Payload size in bytes (raw: exact, at least 16; bridge: the JSON payload, approximately).
    pub size: usize,
    /// Quorum or classic queue.
    pub queue_kind: QueueKind,
    /// Published messages that may await their confirm at once.
    pub confirm_window: usize,
    /// Deliveries the broker may send ahead of acknowledgement.
    pub prefetch: u16,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            amqp_url: config::DEFAULT_AMQP_URL.to_owned(),
            messages: 50_000,
            size: 200,
            queue_kind: QueueKind::Classic,
            confirm_window: 100,
            prefetch: 300,
        }
    }
}

/// The outcome of one run.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    /// Messages published and consumed.
    pub messages: u64,
    /// From the first publish to the last message consumed, in seconds.
    pub elapsed_s: f64,
    /// `messages / elapsed_s`.
    pub msgs_per_s: f64,
    /// End-to-end latency (consumer receive time minus send time), median, in milliseconds.
    pub p50_ms: f64,
    /// End-to-end latency, 99th percentile, in milliseconds.
    pub p99_ms: f64,
    /// End-to-end latency, worst message, in milliseconds.
    pub max_ms: f64,
}

/// What the raw-lapin baseline puts on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawWire {
    /// A bare persistent message: payload and delivery mode, nothing else.
    Bare,
    /// The same CloudEvents envelope the bridge sends (headers, properties, `traceparent`), made
    /// per message as any producer following the wire conventions would. Against this baseline the
    /// ratio shows what the bridge's own machinery costs; against [`RawWire::Bare`], what the
    /// conventions cost on top.
    CloudEvents,
}

/// How often `progress` is called: every this many consumed messages (and at the end).
pub const PROGRESS_EVERY: u64 = 1_000;

/// The raw-lapin baseline acknowledges with `multiple` every this many deliveries.
const RAW_ACK_EVERY: u64 = 50;
const RAW_CONSUMER_TAG: &str = "instadash-bench-raw";

/// A run fails if no message is consumed for this long (a lost message, a stuck broker).
const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Connecting fails after this long (the bridge would otherwise wait for the broker forever).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The first bytes of a raw payload: send time (ns since the UNIX epoch) and sequence number.
const RAW_HEADER: usize = 16;

// ---- shared measuring ---------------------------------------------------------------------------

/// What the consumer side of either path records: latencies, the count, and when it finished.
struct Recorder {
    histogram: Mutex<Histogram<u64>>,
    consumed: AtomicU64,
    expected: u64,
    done: Mutex<Option<oneshot::Sender<Instant>>>,
    progress: Box<dyn Fn(u64) + Send + Sync>,
}

impl Recorder {
    fn new(
        expected: u64,
        progress: impl Fn(u64) + Send + Sync + 'static,
    ) -> anyhow::Result<(Arc<Self>, oneshot::Receiver<Instant>)> {
        // 1 µs to 1 hour, 3 significant digits.
        let histogram = Histogram::new_with_bounds(1, 3_600_000_000, 3)
            .map_err(|e| anyhow!("creating the latency histogram: {e}"))?;
        let (done, finished) = oneshot::channel();
        let recorder = Self {
            histogram: Mutex::new(histogram),
            consumed: AtomicU64::new(0),
            expected,
            done: Mutex::new(Some(done)),
            progress: Box::new(progress),
        };
        Ok((Arc::new(recorder), finished))
    }

    /// Records one consumed message sent at `sent_ns`; returns how many were consumed so far.
    fn record(&self, sent_ns: u64) -> u64 {
        let latency_us = now_ns().saturating_sub(sent_ns) / 1_000;
        {
            let mut histogram = self
                .histogram
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            histogram.saturating_record(latency_us.max(1));
        }
        let consumed = self.consumed.fetch_add(1, Ordering::AcqRel) + 1;
        if consumed.is_multiple_of(PROGRESS_EVERY) || consumed == self.expected {
            (self.progress)(consumed);
        }
        if consumed == self.expected {
            let at = Instant::now();
            let done = self
                .done
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take();
            if let Some(done) = done {
                let _ = done.send(at);
            }
        }
        consumed
    }

    fn consumed(&self) -> u64 {
        self.consumed.load(Ordering::Acquire)
    }

    /// Waits until every message is consumed, failing if consumption stops making progress.
    async fn finished(
        &self,
        mut finished: oneshot::Receiver<Instant>,
        path: &str,
    ) -> anyhow::Result<Instant> {
        let mut last = self.consumed();
        loop {
            match tokio::time::timeout(STALL_TIMEOUT, &mut finished).await {
                Ok(Ok(at)) => return Ok(at),
                Ok(Err(_)) => bail!(
                    "{path}: the consumer stopped after {} of {} messages",
                    self.consumed(),
                    self.expected
                ),
                Err(_) => {
                    let now = self.consumed();
                    if now == last {
                        bail!(
                            "{path}: no message consumed for {STALL_TIMEOUT:?} \
                             ({now} of {} consumed)",
                            self.expected
                        );
                    }
                    last = now;
                }
            }
        }
    }

    fn result(&self, started: Instant, ended: Instant) -> BenchResult {
        let histogram = self
            .histogram
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let elapsed_s = ended.duration_since(started).as_secs_f64();
        let ms = |us: u64| us as f64 / 1_000.0;
        let messages = self.consumed();
        BenchResult {
            messages,
            elapsed_s,
            msgs_per_s: if elapsed_s > 0.0 {
                messages as f64 / elapsed_s
            } else {
                0.0
            },
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            max_ms: ms(histogram.max()),
        }
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn check_options(options: &BenchOptions) -> anyhow::Result<()> {
    if options.messages == 0 {
        bail!("--messages must be at least 1");
    }
    if options.confirm_window == 0 {
        bail!("--confirm-window must be at least 1");
    }
    if options.prefetch == 0 {
        bail!("--prefetch must be at least 1");
    }
    Ok(())
}

/// The broker URL without its password, for error messages.
fn redacted(url: &str) -> String {
    let mut config = BridgeConfig::new("bench");
    config.amqp_url = url.to_owned();
    config.redacted_url()
}

// ---- raw lapin -----------------------------------------------------------------------------------

/// Runs the workload with lapin alone: the baseline the bridge is measured against.
///
/// `progress(n)` is called with the number of messages consumed so far, every
/// [`PROGRESS_EVERY`] messages and at the end.
pub async fn run_raw(
    options: &BenchOptions,
    wire: RawWire,
    progress: impl Fn(u64) + Send + Sync + 'static,
) -> anyhow::Result<BenchResult> {
    check_options(options)?;
    let connection = connect_raw(&options.amqp_url, "instadash-bench-raw").await?;

    let queue = format!("instadash.bench.raw.{}", uuid::Uuid::new_v4().simple());
    let outcome = raw_workload(&connection, &queue, options, wire, progress).await;

    // Clean up whatever happened; a failed run's error matters more than the clean-up's.
    let cleanup = async {
        let channel = connection.create_channel().await?;
        channel
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await?;
        let _ = channel.close(200, "bench done".into()).await;
        connection.close(200, "bench done".into()).await
    }
    .await
    .with_context(|| format!("deleting the bench queue {queue}"));
    let result = outcome?;
    cleanup?;
    Ok(result)
}

async fn raw_workload(
    connection: &Connection,
    queue: &str,
    options: &BenchOptions,
    wire: RawWire,
    progress: impl Fn(u64) + Send + Sync + 'static,
) -> anyhow::Result<BenchResult> {
    let publisher = connection
        .create_channel()
        .await
        .context("opening the publishing channel")?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .context("enabling publisher confirms")?;
    let consumer_channel = connection
        .create_channel()
        .await
        .context("opening the consuming channel")?;
    consumer_channel
        .basic_qos(options.prefetch, BasicQosOptions::default())
        .await
        .context("setting the prefetch")?;

    let mut arguments = FieldTable::default();
    if options.queue_kind == QueueKind::Quorum {
        arguments.insert(
            "x-queue-type".into(),
            AMQPValue::LongString(LongString::from("quorum")),
        );
    }
    publisher
        .queue_declare(queue.into(), QueueDeclareOptions::durable(), arguments)
        .await
        .with_context(|| format!("declaring queue {queue}"))?;

    let (recorder, finished) = Recorder::new(options.messages, progress)?;
    let mut deliveries = consumer_channel
        .basic_consume(
            queue.into(),
            RAW_CONSUMER_TAG.into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .with_context(|| format!("consuming from {queue}"))?;

    let consuming = {
        let recorder = recorder.clone();
        tokio::spawn(async move {
            let mut unacked = 0_u64;
            let mut last = None;
            while let Some(delivery) = deliveries.next().await {
                let delivery = delivery.context("consuming")?;
                let sent_ns = delivery
                    .data
                    .get(..8)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_be_bytes)
                    .ok_or_else(|| anyhow!("a delivery shorter than its 16-byte header"))?;
                let consumed = recorder.record(sent_ns);
                unacked += 1;
                let finished = consumed >= recorder.expected;
                if unacked >= RAW_ACK_EVERY || finished {
                    delivery
                        .acker
                        .ack(BasicAckOptions { multiple: true })
                        .await
                        .context("acknowledging")?;
                    unacked = 0;
                    last = None;
                } else {
                    last = Some(delivery.acker);
                }
                if finished {
                    break;
                }
            }
            if let Some(acker) = last {
                acker.ack(BasicAckOptions { multiple: true }).await?;
            }
            // Handed back to be cancelled in order: dropping an active consumer makes lapin send
            // its cancel later, which can follow the channel's close and make the broker close
            // the whole connection (CHANNEL_ERROR "expected 'channel.open'").
            anyhow::Ok(deliveries)
        })
    };

    let bare = BasicProperties::default().with_delivery_mode(2);
    let properties = || match wire {
        RawWire::Bare => bare.clone(),
        RawWire::CloudEvents => {
            let mut envelope = Envelope::new(BenchJob::TYPE, "/bench-raw/1");
            trace_context::stamp(&mut envelope);
            envelope.to_properties("bench-raw")
        }
    };
    let mut payload = vec![b'x'; options.size.max(RAW_HEADER)];
    let mut confirms = FuturesUnordered::new();
    let started = Instant::now();
    for seq in 0..options.messages {
        if confirms.len() >= options.confirm_window {
            settle(confirms.next().await)?;
        }
        payload[..8].copy_from_slice(&now_ns().to_be_bytes());
        payload[8..16].copy_from_slice(&seq.to_be_bytes());
        let confirm = publisher
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                &payload,
                properties(),
            )
            .await
            .context("publishing")?;
        confirms.push(confirm);
    }
    while let Some(confirm) = confirms.next().await {
        settle(Some(confirm))?;
    }

    let ended = recorder.finished(finished, "raw").await;
    let consumed = consuming.await.context("the consumer task panicked")?;
    let ended = ended?;
    let deliveries = consumed?;
    consumer_channel
        .basic_cancel(RAW_CONSUMER_TAG.into(), BasicCancelOptions::default())
        .await
        .context("cancelling the consumer")?;
    drop(deliveries);
    let _ = consumer_channel.close(200, "bench done".into()).await;
    let _ = publisher.close(200, "bench done".into()).await;
    Ok(recorder.result(started, ended))
}

/// A plain lapin connection (no recovery: a benchmark that loses its broker should fail).
async fn connect_raw(amqp_url: &str, name: &str) -> anyhow::Result<Connection> {
    let url = redacted(amqp_url);
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(amqp_url, properties))
        .await
        .map_err(|_| {
            anyhow!("broker unreachable at {url}: no connection within {CONNECT_TIMEOUT:?}")
        })?
        .with_context(|| format!("cannot connect to the broker at {url}"))
}

fn settle(confirm: Option<lapin::Result<Confirmation>>) -> anyhow::Result<()> {
    match confirm {
        None => Ok(()),
        Some(Ok(Confirmation::Ack(_) | Confirmation::NotRequested)) => Ok(()),
        Some(Ok(Confirmation::Nack(_))) => bail!("the broker nacked a publish"),
        Some(Err(error)) => Err(error).context("waiting for a publisher confirm"),
    }
}

// ---- through the bridge --------------------------------------------------------------------------

/// The bench job as a typed bridge message.
#[derive(Debug, Serialize, Deserialize)]
struct BenchJob {
    /// Send time, nanoseconds since the UNIX epoch.
    sent_ns: u64,
    seq: u64,
    /// Filler so the JSON payload is about `size` bytes.
    pad: String,
}

impl Message for BenchJob {
    const TYPE: &'static str = "instadash.bench.job";
}

/// The pad that makes a job's JSON payload about `size` bytes.
fn pad_for(size: usize, messages: u64) -> anyhow::Result<String> {
    let sample = BenchJob {
        sent_ns: now_ns(),
        seq: messages / 2,
        pad: String::new(),
    };
    let overhead = serde_json::to_vec(&sample)
        .context("encoding a bench job")?
        .len();
    Ok("x".repeat(size.saturating_sub(overhead)))
}

/// Runs the workload through the bridge: [`Bridge::submit`] to a work queue, consumed by a
/// [`Bridge::work_queue`] handler.
///
/// `progress(n)` is called with the number of messages consumed so far, every
/// [`PROGRESS_EVERY`] messages and at the end.
pub async fn run_bridge(
    options: &BenchOptions,
    progress: impl Fn(u64) + Send + Sync + 'static,
) -> anyhow::Result<BenchResult> {
    check_options(options)?;
    let mut config = BridgeConfig::new("bench");
    config.amqp_url = options.amqp_url.clone();
    config.prefetch = options.prefetch;
    config.confirm_window = options.confirm_window;
    let url = config.redacted_url();
    let bridge = tokio::time::timeout(CONNECT_TIMEOUT, Bridge::connect(config))
        .await
        .map_err(|_| {
            anyhow!("broker unreachable at {url}: no connection within {CONNECT_TIMEOUT:?}")
        })?
        .with_context(|| format!("cannot connect to the broker at {url}"))?;

    let queue = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let outcome = bridge_workload(&bridge, &queue, options, progress).await;

    // Shut down first: deleting the queue under a running subscription makes its worker
    // subscribe again (and declare the queue again). The bridge cannot delete once shut down, so
    // the queue family goes on a short connection of its own.
    let shut = bridge.shutdown().await.context("shutting the bridge down");
    let work = topology::work_queue(&queue);
    let deleted = delete_queues(
        &options.amqp_url,
        &[
            topology::retry_queue(&work),
            topology::dead_letter_queue(&work),
            work.clone(),
        ],
    )
    .await
    .with_context(|| format!("deleting the bench work queue {work}"));
    let result = outcome?;
    shut?;
    deleted?;
    Ok(result)
}

/// Deletes `queues` over a connection of its own.
async fn delete_queues(amqp_url: &str, queues: &[String]) -> anyhow::Result<()> {
    let connection = connect_raw(amqp_url, "instadash-bench-cleanup").await?;
    let channel = connection.create_channel().await?;
    for queue in queues {
        channel
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await?;
    }
    let _ = channel.close(200, "bench done".into()).await;
    connection.close(200, "bench done".into()).await?;
    Ok(())
}

async fn bridge_workload(
    bridge: &Bridge,
    queue: &str,
    options: &BenchOptions,
    progress: impl Fn(u64) + Send + Sync + 'static,
) -> anyhow::Result<BenchResult> {
    // `submit` would declare a quorum queue; declare it first with the kind asked for.
    bridge
        .declare_work_queue(queue, options.queue_kind)
        .await
        .with_context(|| format!("declaring work queue {queue}"))?;
    let (recorder, finished) = Recorder::new(options.messages, progress)?;
    let handler_recorder = recorder.clone();
    bridge
        .work_queue(queue)
        .queue_kind(options.queue_kind)
        .on::<BenchJob, _, _>(move |job: Incoming<BenchJob>| {
            handler_recorder.record(job.data.sent_ns);
            async { Ok(()) }
        })
        .start()
        .await
        .with_context(|| format!("consuming work queue {queue}"))?;

    let pad = pad_for(options.size, options.messages)?;
    let mut job = BenchJob {
        sent_ns: 0,
        seq: 0,
        pad,
    };
    let started = Instant::now();
    for seq in 0..options.messages {
        job.sent_ns = now_ns();
        job.seq = seq;
        // Returns once the job is within the confirm window; the receipt is not awaited (that
        // would be one synchronous confirm per message). Failures of dropped receipts are logged
        // by the bridge, and a lost message shows as a stall below.
        let _receipt = bridge
            .submit(queue, &job)
            .await
            .context("submitting a job")?;
    }
    let ended = recorder.finished(finished, "bridge").await?;
    Ok(recorder.result(started, ended))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_payload_is_about_the_asked_size() {
        for size in [64, 200, 1_000] {
            let job = BenchJob {
                sent_ns: now_ns(),
                seq: 25_000,
                pad: pad_for(size, 50_000).expect("pad"),
            };
            let len = serde_json::to_vec(&job).expect("json").len();
            assert!(len.abs_diff(size) <= 2, "{size} -> {len}");
        }
    }

    #[test]
    fn recorder_reports_progress_and_finishes() {
        let seen = Arc::new(AtomicU64::new(0));
        let progress_seen = seen.clone();
        let (recorder, mut finished) = Recorder::new(2_000, move |n| {
            progress_seen.store(n, Ordering::Release);
        })
        .expect("recorder");
        let started = Instant::now();
        for _ in 0..2_000 {
            recorder.record(now_ns());
        }
        assert_eq!(seen.load(Ordering::Acquire), 2_000);
        let ended = finished.try_recv().expect("finished");
        let result = recorder.result(started, ended);
        assert_eq!(result.messages, 2_000);
        assert!(result.p99_ms < 1_000.0);
    }
}

/// The span log's recording on its own, for `benches/span_log.rs`: what keeping a message's span
/// costs on the hot path, beside what making its envelope already cost.
pub mod span_log {
    use std::sync::Arc;
    use std::time::Duration;

    use crate::envelope::Envelope;
    use crate::span_log::{Destination, SpanLog, SpanOutcome};
    use crate::topology;
    use crate::trace_context::{self, SpanIds};

    const KIND: &str = "instadash.vehicle.position";

    /// A ring of `capacity` spans, already full (so each record overwrites the oldest, as in a
    /// long-running service), and one stamped message to record again and again.
    pub struct Recorder {
        log: SpanLog,
        queue: Arc<str>,
        envelope: Envelope,
        ids: SpanIds,
    }

    impl Recorder {
        pub fn new(capacity: usize) -> Self {
            let log = SpanLog::new(capacity);
            let queue: Arc<str> = Arc::from("instadash.events.tracker");
            let (envelope, ids) = stamp();
            for _ in 0..capacity {
                log.published(ids, &envelope, KIND, Destination::Event);
            }
            Self {
                log,
                queue,
                envelope,
                ids,
            }
        }

        /// A publish span of an event (UUID id, short subject).
        pub fn record_publish(&self) {
            self.log
                .published(self.ids, &self.envelope, KIND, Destination::Event);
        }

        /// A publish span of a command: its routing key (a service name) is kept too.
        pub fn record_command(&self) {
            self.log.published(
                self.ids,
                &self.envelope,
                KIND,
                Destination::To(topology::SERVICES, "tracker"),
            );
        }

        /// A handle span: started before the handler, finished with its outcome (the clock read
        /// for the arrival time included).
        pub fn record_handle(&self) {
            let arrival = self.log.received(
                self.ids,
                &self.envelope,
                Some(KIND),
                &self.queue,
                Some(crate::span_log::now_us()),
            );
            self.log.handled(
                arrival,
                SpanOutcome::Handled,
                Some(Duration::from_micros(40)),
            );
        }

        pub fn len(&self) -> usize {
            self.log.len()
        }

        pub fn is_empty(&self) -> bool {
            self.log.is_empty()
        }
    }

    /// What every publish already did before the span log: a new envelope (id, time) and its
    /// trace context. For comparison.
    pub fn stamped() -> Envelope {
        stamp().0
    }

    fn stamp() -> (Envelope, SpanIds) {
        let mut envelope = Envelope::new(KIND, "/simulator/1");
        envelope.subject = Some("car-0042".to_owned());
        let ids = trace_context::stamp(&mut envelope);
        (envelope, ids)
    }
}
