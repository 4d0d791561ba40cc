//! [`Bridge`]: one service instance's connection to the bus, and the four patterns on top of it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lapin::options::{QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::config::BridgeConfig;
use crate::discovery::{self, Directory, Presence};
use crate::envelope::{self, Envelope, header};
use crate::error::{BridgeError, PublishError, RequestError};
use crate::link::{self, Link, LinkState};
use crate::message::{self, Message, RawPayload};
use crate::outbox::Outbox;
use crate::publisher::{self, Publisher, Receipt};
use crate::rpc::Requester;
use crate::service_stats::{self, Reporter, ServiceStats};
use crate::span_log::{self, Destination, SpanLog, TraceQuery, TraceSpans, TraceTarget};
use crate::stats::{Stats, StatsSnapshot};
use crate::subscription::Subscription;
use crate::topology::{self, QueueFamily, QueueKind};

/// A service instance on the bus. Cheap to clone; all clones share one connection.
#[derive(Clone)]
pub struct Bridge {
    inner: Arc<Inner>,
}

struct Inner {
    config: BridgeConfig,
    link: Link,
    outbox: Outbox,
    /// Opened by the first request, and again when its channel is gone for good.
    requester: tokio::sync::Mutex<Option<Arc<Requester>>>,
    /// Work queues this instance has declared, so submitting declares each only once.
    declared_work: Mutex<HashSet<String>>,
    shutdown: CancellationToken,
    consumers: TaskTracker,
    stats: Arc<Stats>,
    presence: Arc<Presence>,
    /// Ends the presence task once the instance has said goodbye.
    leave: CancellationToken,
    /// Makes the statistics reports.
    reporter: Arc<Reporter>,
    /// Ends the statistics task (which publishes the last, partial interval first).
    stats_stop: CancellationToken,
    stats_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Default time a request waits for its answer.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// How long shutdown waits for the broker to answer a channel's or the connection's close.
const CLOSE_LIMIT: Duration = Duration::from_secs(5);

impl Bridge {
    /// Connects (waiting for the broker if it is not up yet), declares the platform's exchanges and
    /// opens the confirmed publishing channel.
    pub async fn connect(config: BridgeConfig) -> Result<Self, BridgeError> {
        config.validate()?;
        let link = link::connect(&config).await?;
        topology::ensure_exchanges(&link).await?;
        let channel = publisher::open_channel(&link).await?;
        let stats = Arc::<Stats>::default();
        let publisher = Publisher::new(
            channel,
            config.service.clone(),
            link.clone(),
            config.confirm_window,
            config.confirm_timeout,
            stats.confirm_latency.clone(),
        );
        let presence = Arc::new(Presence::new(
            config.service.clone(),
            config.instance.to_string(),
            config.service_version.clone(),
            config.heartbeat_interval,
        ));
        let outbox = Outbox {
            publisher,
            source: format!("/{}/{}", config.service, config.instance),
            app_id: config.service.clone(),
            max_message_bytes: config.max_message_bytes,
            presence: presence.clone(),
            stats: stats.clone(),
            spans: Arc::new(SpanLog::new(config.trace_buffer)),
        };
        let leave = CancellationToken::new();
        tokio::spawn(discovery::keep_present(
            presence.clone(),
            link.clone(),
            outbox.clone(),
            stats.clone(),
            leave.clone(),
        ));
        let reporter = Arc::new(Reporter::new(
            config.service.clone(),
            config.instance.to_string(),
            stats.clone(),
            link.clone(),
        ));
        let stats_stop = CancellationToken::new();
        let stats_task = (!config.stats_interval.is_zero()).then(|| {
            tokio::spawn(service_stats::publish_periodically(
                reporter.clone(),
                outbox.clone(),
                config.stats_interval,
                config.confirm_timeout,
                stats_stop.clone(),
            ))
        });
        info!(service = %config.service, instance = %config.instance, "on the bus");
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                link,
                outbox,
                requester: tokio::sync::Mutex::default(),
                declared_work: Mutex::default(),
                shutdown: CancellationToken::new(),
                consumers: TaskTracker::new(),
                stats,
                presence,
                leave,
                reporter,
                stats_stop,
                stats_task: Mutex::new(stats_task),
            }),
        })
    }

    pub fn config(&self) -> &BridgeConfig {
        &self.inner.config
    }

    /// Every service instance on the bus, kept current: who, which version, what it offers, whether
    /// it is live. Complete within moments (live instances answer its ping).
    pub async fn directory(&self) -> Result<Directory, BridgeError> {
        let inner = &self.inner;
        discovery::open_directory(
            inner.link.clone(),
            inner.outbox.clone(),
            inner.config.service.clone(),
        )
        .await
    }

    pub(crate) fn presence(&self) -> &Presence {
        &self.inner.presence
    }

    /// What this instance has consumed so far, and what became of it.
    pub fn stats(&self) -> StatsSnapshot {
        self.inner.stats.snapshot()
    }

    /// The last statistics report this instance published (the figures of one interval of
    /// [`BridgeConfig::stats_interval`]), or `None` before the first one or when reports are off.
    /// See [`crate::service_stats`].
    pub fn stats_report(&self) -> Option<ServiceStats> {
        self.inner.reporter.last()
    }

    /// The figures of the current statistics interval so far (since the last report, or since
    /// connecting when reports are off), without ending the interval.
    pub fn stats_so_far(&self) -> ServiceStats {
        self.inner.reporter.report(false)
    }

    // ---- trace view ----------------------------------------------------------------------------

    /// The journey of a trace through the services, from the spans every instance keeps (see
    /// [`crate::span_log`]): asks every instance on the bus (this one included) and returns one
    /// answer per instance that answered, by service then instance, each with its spans oldest
    /// first. An instance that holds nothing of the trace answers with no spans, so the answers say
    /// who was asked; `buffer_spans` and `oldest_us` say how far back each one remembers.
    ///
    /// For [`TraceTarget::Event`] the instances first answer with the trace(s) the event belongs to
    /// as their own rings know them; if any did, every instance is asked again for each trace
    /// found, so instances that never saw that event (the hops before or after it) answer too, and
    /// each instance's spans of both rounds are merged.
    ///
    /// Each round ends when `expected` instances have answered (e.g. the number of live instances
    /// in a [`Directory`]), or after `wait`; with `expected` `None` it always waits `wait`. An
    /// unknown id is not an error: it gets an empty answer from every instance.
    pub async fn ask_trace(
        &self,
        target: TraceTarget,
        expected: Option<usize>,
        wait: Duration,
    ) -> Result<Vec<TraceSpans>, BridgeError> {
        span_log::ask(&self.inner.link, &self.inner.outbox, target, expected, wait).await
    }

    /// This instance's own answer about `target` (what it would send to [`Bridge::ask_trace`]),
    /// without the bus: one round, from its span log only.
    pub fn local_trace(&self, target: &TraceTarget) -> TraceSpans {
        let (trace_id, event_id) = match target {
            TraceTarget::Trace(id) => (Some(id.to_ascii_lowercase()), None),
            TraceTarget::Event(id) => (None, Some(id.clone())),
        };
        let query = TraceQuery {
            query_id: String::new(),
            trace_id,
            event_id,
        };
        let presence = &self.inner.presence;
        self.inner
            .outbox
            .spans
            .answer(&query, &presence.service, &presence.instance)
    }

    /// The connection state, to observe (`borrow`) or to await changes of (`changed`).
    pub fn state(&self) -> watch::Receiver<LinkState> {
        self.inner.link.subscribe()
    }

    // ---- publish/subscribe ----------------------------------------------------------------

    /// Publishes an event to every subscriber group bound to its type (and subject). Returns once
    /// the event is on the wire; the receipt tells when the broker has it, or that no group
    /// subscribes to it ([`PublishError::Unroutable`]).
    pub async fn publish<E: Message>(&self, event: &E) -> Result<Receipt, PublishError> {
        let key = message::routing_key(E::TYPE, event.subject().as_deref());
        self.inner.outbox.send(event, topology::EVENTS, key).await
    }

    /// Subscribes this service as group `group`: the group has one durable queue, shared by all
    /// its instances, so each event is handled once per group.
    pub fn subscribe(&self, group: &str) -> Subscription {
        Subscription::new(self.clone(), topology::group_queue(group), Target::Events)
    }

    // ---- point-to-point and request/reply ---------------------------------------------------

    /// Sends a message to the service named `service`, whichever instance takes it. Waits for the
    /// broker's confirm, so a service that does not exist is an error at once.
    pub async fn send<M: Message>(&self, service: &str, message: &M) -> Result<(), PublishError> {
        let receipt = self
            .inner
            .outbox
            .send(message, topology::SERVICES, service.to_owned())
            .await?;
        receipt.confirmed().await.map_err(|error| match error {
            PublishError::Unroutable { .. } => PublishError::NoSuchService(service.to_owned()),
            other => other,
        })
    }

    /// Asks the service named `service` and waits for its typed answer, at most `timeout`.
    pub async fn request<Q: Message, A: Message>(
        &self,
        service: &str,
        request: &Q,
        timeout: Duration,
    ) -> Result<A, RequestError> {
        let inner = &self.inner;
        let to = Destination::To(topology::SERVICES, service);
        let (mut envelope, payload) = inner.outbox.prepare(request, to)?;
        inner.outbox.stats.traffic.sent(Q::TYPE, payload.len());
        envelope.correlation_id = Some(envelope.id.clone());
        let properties = envelope.to_properties(&inner.outbox.app_id);
        let deadline = tokio::time::Instant::now() + timeout;
        let reply = loop {
            let requester = self.requester().await?;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match requester
                .call(service, Q::TYPE, properties.clone(), &payload, left)
                .await
            {
                // Its channel is gone for good (the connection was replaced): ask again on a new one.
                Err(RequestError::Publish(PublishError::Broker(_))) if !requester.usable() => {
                    continue;
                }
                outcome => break outcome?,
            }
        };
        let remote = |message: String| RequestError::Remote {
            service: service.to_owned(),
            kind: Q::TYPE.to_owned(),
            message,
        };
        if let Some(error) = reply
            .properties
            .headers()
            .as_ref()
            .and_then(|h| h.inner().get(header::REPLY_ERROR))
        {
            let message =
                envelope::header_text(error, header::REPLY_ERROR).unwrap_or_else(|e| e.to_string());
            return Err(remote(message));
        }
        let decode_error = |message: String| RequestError::Decode {
            service: service.to_owned(),
            message,
        };
        let (answer_envelope, body) = Envelope::from_delivery(&reply.properties, &reply.data)
            .map_err(|e| decode_error(e.to_string()))?;
        if answer_envelope.kind != A::TYPE {
            return Err(decode_error(format!(
                "expected `{}`, got `{}`",
                A::TYPE,
                answer_envelope.kind
            )));
        }
        let headers = reply.properties.headers().as_ref();
        A::decode(&RawPayload::new(&answer_envelope, &body, headers))
            .map_err(|rejection| decode_error(rejection.to_string()))
    }

    /// Serves this service's inbox: point-to-point messages and requests addressed to its name.
    /// All instances of the service share the inbox.
    pub fn serve(&self) -> Subscription {
        let service = self.inner.config.service.clone();
        Subscription::new(
            self.clone(),
            topology::inbox_queue(&service),
            Target::Inbox(service),
        )
    }

    // ---- work queue --------------------------------------------------------------------------

    /// Puts a job on the work queue `queue`, declaring the queue first if this instance has not, so
    /// jobs wait for workers that have not started yet. The queue is declared as a quorum queue;
    /// for a classic one, call [`Bridge::declare_work_queue`] first (a queue's type is fixed once
    /// declared, and declaring it with another type is refused by the broker).
    pub async fn submit<J: Message>(&self, queue: &str, job: &J) -> Result<Receipt, PublishError> {
        self.declare_work_queue(queue, QueueKind::Quorum)
            .await
            .map_err(|e| PublishError::Broker(e.to_string()))?;
        self.inner
            .outbox
            .send(job, topology::WORK, queue.to_owned())
            .await
    }

    /// Takes jobs from the work queue `queue`, competing with every other worker on it.
    pub fn work_queue(&self, queue: &str) -> Subscription {
        Subscription::new(
            self.clone(),
            topology::work_queue(queue),
            Target::Work(queue.to_owned()),
        )
    }

    /// Declares the work queue `queue` (and its retry and dead-letter queues) of the given kind.
    pub async fn declare_work_queue(
        &self,
        queue: &str,
        kind: QueueKind,
    ) -> Result<(), BridgeError> {
        if self.lock_declared().contains(queue) {
            return Ok(());
        }
        let family = self.family(topology::work_queue(queue), kind);
        let channel = self.scratch_channel().await?;
        family.declare(&channel).await?;
        family
            .bind(&channel, &family.name, topology::WORK, queue)
            .await?;
        let _ = channel.close(200, "declared".into()).await;
        self.lock_declared().insert(queue.to_owned());
        Ok(())
    }

    /// Deletes the work queue `queue` with its retry and dead-letter queues, messages included.
    pub async fn delete_work_queue(&self, queue: &str) -> Result<(), BridgeError> {
        self.delete_queue_family(&topology::work_queue(queue))
            .await?;
        self.lock_declared().remove(queue);
        Ok(())
    }

    /// Deletes a consumed queue (named as in [`topology`]) with its retry and dead-letter queues,
    /// messages included: for decommissioning a group, a service or a work queue.
    pub async fn delete_queue_family(&self, queue: &str) -> Result<(), BridgeError> {
        let channel = self.scratch_channel().await?;
        for name in [
            topology::retry_queue(queue),
            topology::dead_letter_queue(queue),
            queue.to_owned(),
        ] {
            channel
                .queue_delete(name.as_str().into(), QueueDeleteOptions::default())
                .await
                .map_err(BridgeError::broker(format!("deleting queue {name}")))?;
        }
        let _ = channel.close(200, "deleted".into()).await;
        Ok(())
    }

    /// What the broker holds for a queue right now (named as in [`topology`], e.g.
    /// `topology::group_queue("tracker")`): messages ready for delivery and consumers. Unlike the
    /// management API's figures, which lag by seconds, this is the broker's current count.
    pub async fn queue_depth(&self, queue: &str) -> Result<QueueDepth, BridgeError> {
        let channel = self.scratch_channel().await?;
        let declared = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(BridgeError::broker(format!("looking up queue {queue}")));
        let _ = channel.close(200, "looked up".into()).await;
        let declared = declared?;
        Ok(QueueDepth {
            ready: u64::from(declared.message_count()),
            consumers: declared.consumer_count(),
        })
    }

    // ---- shutdown ----------------------------------------------------------------------------

    /// Waits for Ctrl-C or SIGTERM, then shuts down gracefully.
    pub async fn run_until_signal(&self) -> Result<(), BridgeError> {
        crate::shutdown::signal().await;
        info!("shutdown requested");
        self.shutdown().await
    }

    /// Stops taking deliveries, lets handlers in flight finish (and acknowledges them), waits for
    /// every outstanding confirm, then closes the connection.
    pub async fn shutdown(&self) -> Result<(), BridgeError> {
        let inner = &self.inner;
        // Directories drop this instance at once, rather than when its connection is gone. Each
        // step below that talks to the broker is bounded: a shutdown while the broker is away
        // (or the connection's recovery is stuck) must still end.
        let goodbye = async {
            if let Ok(receipt) = inner.outbox.broadcast(&inner.presence.goodbye()).await {
                let _ = receipt.confirmed().await;
            }
        };
        let _ = tokio::time::timeout(inner.config.confirm_timeout, goodbye).await;
        inner.leave.cancel();
        inner.shutdown.cancel();
        inner.consumers.close();
        if tokio::time::timeout(Duration::from_secs(30), inner.consumers.wait())
            .await
            .is_err()
        {
            warn!("handlers still running after 30 s; closing anyway");
        }
        // The last, partial statistics interval, now that the handlers are done.
        inner.stats_stop.cancel();
        let stats_task = inner
            .stats_task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(task) = stats_task {
            let _ = tokio::time::timeout(inner.config.confirm_timeout * 2, task).await;
        }
        let unconfirmed = inner
            .outbox
            .publisher
            .close(inner.config.confirm_timeout * 2)
            .await;
        if unconfirmed > 0 {
            warn!(
                unconfirmed,
                "closing with messages the broker has not confirmed"
            );
        }
        let channel = inner.outbox.publisher.channel();
        let _ = tokio::time::timeout(CLOSE_LIMIT, channel.close(200, "shutdown".into())).await;
        let connection = inner.link.connection();
        let closed = if connection.status().connected() {
            tokio::time::timeout(CLOSE_LIMIT, connection.close(200, "shutdown".into())).await
        } else {
            Ok(Ok(()))
        };
        inner.link.closed();
        match closed {
            Ok(closed) => closed.map_err(BridgeError::broker("closing the connection"))?,
            Err(_) => {
                warn!("the broker did not answer the close within {CLOSE_LIMIT:?}; left anyway")
            }
        }
        info!(service = %inner.config.service, "left the bus");
        Ok(())
    }

    // ---- for the subscription builder --------------------------------------------------------

    pub(crate) fn family(&self, name: String, kind: QueueKind) -> QueueFamily {
        QueueFamily {
            name,
            kind,
            delivery_limit: DELIVERY_LIMIT,
            retry_delay_ms: u64::try_from(self.inner.config.retry.delay.as_millis())
                .unwrap_or(u64::MAX),
        }
    }

    pub(crate) fn consumer_parts(
        &self,
    ) -> (Link, Outbox, CancellationToken, &TaskTracker, Arc<Stats>) {
        let inner = &self.inner;
        (
            inner.link.clone(),
            inner.outbox.clone(),
            inner.shutdown.clone(),
            &inner.consumers,
            inner.stats.clone(),
        )
    }

    /// The request channel, opened on first use and again once it is gone for good.
    async fn requester(&self) -> Result<Arc<Requester>, RequestError> {
        let mut slot = self.inner.requester.lock().await;
        if let Some(requester) = slot.as_ref().filter(|r| r.usable()) {
            return Ok(requester.clone());
        }
        let requester = Requester::open(self.inner.link.clone())
            .await
            .map_err(|e| RequestError::Publish(PublishError::Broker(e.to_string())))?;
        let requester = Arc::new(requester);
        *slot = Some(requester.clone());
        Ok(requester)
    }

    /// Replaces the connection with a fresh one, as the bridge does by itself when lapin's
    /// recovery is stuck: for tests of that path.
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub async fn renew_connection(&self) -> Result<(), BridgeError> {
        self.inner.link.renew().await
    }

    /// `service/instance`, as written into dead letters.
    pub(crate) fn identity(&self) -> String {
        format!(
            "{}/{}",
            self.inner.config.service, self.inner.config.instance
        )
    }

    /// Publishes prepared properties and bytes (a copy of a received message) and waits for the
    /// broker's confirm.
    pub(crate) async fn send_confirmed(
        &self,
        exchange: &str,
        routing_key: &str,
        properties: lapin::BasicProperties,
        body: Vec<u8>,
    ) -> Result<(), PublishError> {
        self.inner
            .outbox
            .send_raw(exchange, routing_key, properties, body, true)
            .await?
            .confirmed()
            .await
    }

    pub(crate) async fn scratch_channel(&self) -> Result<lapin::Channel, BridgeError> {
        self.inner
            .link
            .connection()
            .create_channel()
            .await
            .map_err(BridgeError::broker("opening a channel"))
    }

    fn lock_declared(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.inner
            .declared_work
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A queue's current contents, as [`Bridge::queue_depth`] reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueDepth {
    /// Messages ready for delivery (not counting those delivered and not yet acknowledged).
    pub ready: u64,
    pub consumers: u32,
}

/// A delivery that made the broker redeliver it this many times (its consumer kept dying) goes to
/// the dead-letter queue instead of looping.
pub(crate) const DELIVERY_LIMIT: u32 = 5;

/// What a subscription consumes, which decides how its queue is bound.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Events,
    Inbox(String),
    Work(String),
}
