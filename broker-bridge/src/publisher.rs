//! Confirmed publishing: every message is persistent and `mandatory`, and stays in memory until the
//! broker confirms it. A bounded window of unconfirmed messages gives back-pressure; a message whose
//! confirm is lost with the connection, nacked, or overdue is published again (same `message_id`),
//! so nothing is lost and consumers drop the duplicates. A nacked message waits before going again
//! (backing off while the broker keeps refusing it), still holding its place in the window. A
//! publishing channel that is gone for good (its connection was replaced, or the broker closed it)
//! is replaced by a new one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::ShortString;
use lapin::{BasicProperties, Confirmation, ErrorKind, PublisherConfirm};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tracing::{debug, warn};

use crate::envelope::Envelope;
use crate::error::{BridgeError, PublishError};
use crate::link::{self, Link, LinkedChannel};
use crate::returns::Returns;
use crate::stats::Latency;

/// One message as it goes on the wire.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub exchange: ShortString,
    pub routing_key: ShortString,
    pub properties: Properties,
    pub payload: Vec<u8>,
    /// Have the broker return the message if no queue takes it. Off only for replies: RabbitMQ
    /// reports a direct reply-to publish as unroutable even when it was delivered.
    pub mandatory: bool,
}

/// The AMQP properties of an outgoing message.
#[derive(Debug)]
pub(crate) enum Properties {
    /// Made from the envelope at each send: lapin takes the properties by value, and building
    /// them again for the rare republish is cheaper than keeping a copy of every message's.
    Envelope(Envelope),
    /// Given as they are (copies of received messages: retries, dead letters, replies).
    Given(BasicProperties),
}

/// The outcome of one publish, known once the broker confirmed it. Dropping the receipt is fine:
/// the message is still tracked and republished, and a failure is logged.
#[derive(Debug)]
pub struct Receipt {
    outcome: oneshot::Receiver<Result<(), PublishError>>,
}

impl Receipt {
    /// Waits until the broker has the message (written to disk for a durable queue) or it is known
    /// not to reach any queue.
    pub async fn confirmed(self) -> Result<(), PublishError> {
        self.outcome.await.unwrap_or(Err(PublishError::ShutDown))
    }
}

#[derive(Clone)]
pub(crate) struct Publisher {
    shared: Arc<Shared>,
    tracker: mpsc::UnboundedSender<Pending>,
}

struct Shared {
    channel: ArcSwap<LinkedChannel>,
    /// Held while a new channel is opened, so concurrent senders open one, not one each.
    reopening: tokio::sync::Mutex<()>,
    /// AMQP `app_id` of every message: the service name.
    app_id: String,
    link: Link,
    window: Arc<Semaphore>,
    window_size: u32,
    confirm_timeout: Duration,
    closed: AtomicBool,
    /// From a message being on the wire to its confirm, for the statistics report.
    confirm_latency: Arc<Latency>,
    /// Last time a dropped receipt's failure was logged; keeps a flood of failures to one line a second.
    last_logged: std::sync::Mutex<Option<Instant>>,
}

/// A message on the wire whose confirm has not come yet.
struct Pending {
    message: Outgoing,
    confirm: PublisherConfirm,
    /// The channel it went out on.
    channel: Arc<LinkedChannel>,
    /// When it first went on the wire.
    sent_at: Instant,
    _slot: OwnedSemaphorePermit,
    outcome: oneshot::Sender<Result<(), PublishError>>,
}

impl Publisher {
    /// `channel` must already be in confirm mode.
    pub(crate) fn new(
        channel: LinkedChannel,
        app_id: String,
        link: Link,
        window: usize,
        confirm_timeout: Duration,
        confirm_latency: Arc<Latency>,
    ) -> Self {
        let window_size = u32::try_from(window).unwrap_or(u32::MAX);
        let shared = Arc::new(Shared {
            channel: ArcSwap::from_pointee(channel),
            reopening: tokio::sync::Mutex::new(()),
            app_id,
            link,
            window: Arc::new(Semaphore::new(window_size as usize)),
            window_size,
            confirm_timeout,
            closed: AtomicBool::new(false),
            confirm_latency,
            last_logged: std::sync::Mutex::new(None),
        });
        let (tracker, pending) = mpsc::unbounded_channel();
        tokio::spawn(track_confirms(shared.clone(), pending));
        Self { shared, tracker }
    }

    /// Sends `message` and returns once it is on the wire; waits first while the window of
    /// unconfirmed messages is full or the connection is being recovered.
    pub(crate) async fn publish(&self, message: Outgoing) -> Result<Receipt, PublishError> {
        let shared = &self.shared;
        if shared.closed.load(Ordering::Acquire) {
            return Err(PublishError::ShutDown);
        }
        let slot = shared
            .window
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| PublishError::ShutDown)?;
        let (confirm, channel) = shared.send(&message).await?;
        let sent_at = Instant::now();
        let (outcome, receipt) = oneshot::channel();
        self.tracker
            .send(Pending {
                message,
                confirm,
                channel,
                sent_at,
                _slot: slot,
                outcome,
            })
            .map_err(|_| PublishError::ShutDown)?;
        Ok(Receipt { outcome: receipt })
    }

    /// Waits until every message published so far is confirmed (or `limit` passes), then refuses
    /// further publishes. Returns how many were still unconfirmed.
    pub(crate) async fn close(&self, limit: Duration) -> u32 {
        let shared = &self.shared;
        let all = shared.window.acquire_many(shared.window_size);
        let unconfirmed = match tokio::time::timeout(limit, all).await {
            Ok(_) => 0,
            Err(_) => shared.window_size - shared.window.available_permits() as u32,
        };
        shared.closed.store(true, Ordering::Release);
        unconfirmed
    }

    pub(crate) fn channel(&self) -> Arc<LinkedChannel> {
        self.shared.channel.load_full()
    }
}

/// A channel for confirmed publishing on the link's current connection.
pub(crate) async fn open_channel(link: &Link) -> Result<LinkedChannel, BridgeError> {
    let channel = link
        .create_channel()
        .await
        .map_err(BridgeError::broker("opening the publishing channel"))?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(BridgeError::broker("enabling publisher confirms"))?;
    Ok(channel)
}

/// The first pause before a nacked message is published again; it doubles with each further nack
/// of the same message, up to [`NACK_BACKOFF_MAX`]. Other retries (lost or overdue confirms) go at
/// once: the connection's recovery already paced them.
const NACK_BACKOFF_MIN: Duration = Duration::from_millis(50);
const NACK_BACKOFF_MAX: Duration = Duration::from_secs(2);

/// How often a message is published again after the broker closed the channel under it. The
/// broker closes a channel over one message (no such exchange, access refused); the others in
/// flight on it get through on the next channel, the offending one fails with the broker's reason.
const CHANNEL_FAULTS_PER_MESSAGE: u32 = 3;

/// The broker closed the channel (a soft error), as opposed to the connection failing.
fn is_channel_fault(error: &lapin::Error) -> bool {
    matches!(error.kind(), ErrorKind::ProtocolError(e) if matches!(e.kind(), AMQPErrorKind::Soft(_)))
}

/// The broker's refusal of a message to `exchange` with `routing_key` (ACCESS_REFUSED: its user may not write to that exchange or
/// routing key), which no retry can change. The refusal closes the channel under every message in
/// flight on it, so it counts only for the messages it names: the others go out again.
pub(crate) fn refusal(error: &lapin::Error, exchange: &str, routing_key: &str) -> Option<String> {
    let ErrorKind::ProtocolError(e) = error.kind() else {
        return None;
    };
    if !matches!(e.kind(), AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED)) {
        return None;
    }
    let reply = e.get_message().as_str();
    let exchange = match exchange {
        "" => "amq.default",
        name => name,
    };
    let names_exchange = reply.contains(&format!("exchange '{exchange}'"));
    // "write access to topic '<routing key>' in exchange ..." for topic permissions.
    let names_key = !reply.contains("topic '") || reply.contains(&format!("topic '{routing_key}'"));
    (names_exchange && names_key).then(|| reply.to_owned())
}

impl Shared {
    /// Puts the message on the wire, waiting for the connection to come back as long as it takes.
    /// Returns the confirm to wait for and the channel it will come on.
    async fn send(
        &self,
        message: &Outgoing,
    ) -> Result<(PublisherConfirm, Arc<LinkedChannel>), PublishError> {
        loop {
            let properties = match &message.properties {
                Properties::Envelope(envelope) => envelope.to_properties(&self.app_id),
                Properties::Given(properties) => properties.clone(),
            };
            let channel = self.channel.load_full();
            let publish = channel.publish(
                message.exchange.clone(),
                message.routing_key.clone(),
                BasicPublishOptions {
                    mandatory: message.mandatory,
                    immediate: false,
                },
                &message.payload,
                properties,
            );
            let result = tokio::select! {
                biased;
                result = publish => result,
                () = self.link.replaced(&channel) => Err(link::replaced_connection()),
            };
            match result {
                Ok(confirm) => return Ok((confirm, channel)),
                Err(error) => {
                    if self.closed.load(Ordering::Acquire) {
                        return Err(PublishError::ShutDown);
                    }
                    debug!(%error, "publish failed; waiting for the connection to recover");
                    let Err(error) = self.link.wait_for_recovery(&channel, error).await else {
                        continue;
                    };
                    if self.link.is_closed() {
                        return Err(PublishError::Broker(error.to_string()));
                    }
                    self.reopen(&channel).await;
                }
            }
        }
    }

    /// Replaces `dead`, the channel gone for good, with one on the current connection (unless a
    /// concurrent sender already did). Keeps trying while the link is up: publishes wait meanwhile.
    async fn reopen(&self, dead: &Arc<LinkedChannel>) {
        let _one_at_a_time = self.reopening.lock().await;
        while Arc::ptr_eq(&self.channel.load(), dead) && !self.link.is_closed() {
            match open_channel(&self.link).await {
                Ok(channel) => {
                    debug!("publishing on a new channel");
                    self.channel.store(Arc::new(channel));
                }
                Err(error) => {
                    debug!(%error, "no new publishing channel yet");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Follows one message until the broker settles it, republishing as often as needed.
    async fn settle(&self, mut pending: Pending) -> Settled {
        let mut stray_return = None;
        let mut channel_faults = 0;
        let mut nack_pause = NACK_BACKOFF_MIN;
        let outcome = loop {
            let confirmed = tokio::select! {
                biased;
                confirmed = tokio::time::timeout(self.confirm_timeout, &mut pending.confirm) => confirmed,
                () = self.link.replaced(&pending.channel) => Ok(Err(link::replaced_connection())),
            };
            let retry_reason = match confirmed {
                Ok(Ok(Confirmation::Ack(None) | Confirmation::NotRequested)) => {
                    self.confirm_latency.record(pending.sent_at.elapsed());
                    break Ok(());
                }
                Ok(Ok(Confirmation::Ack(Some(returned)) | Confirmation::Nack(Some(returned)))) => {
                    let reply = format!("{} {}", returned.reply_code, returned.reply_text);
                    let owner = returned
                        .properties
                        .message_id()
                        .as_ref()
                        .map(|id| id.as_str());
                    match owner {
                        // lapin hands a return to whichever confirm a multiple ack settles
                        // first: this one was routed; the return goes to its own publish.
                        Some(owner) if Some(owner) != pending.message.id() => {
                            stray_return = Some((owner.to_owned(), reply));
                            self.confirm_latency.record(pending.sent_at.elapsed());
                            break Ok(());
                        }
                        _ => break Err(pending.message.unroutable(reply)),
                    }
                }
                Ok(Ok(Confirmation::Nack(None))) => {
                    // The broker refuses it for now (a queue at its length limit with
                    // `reject-publish`): wait before trying again, longer each time, so a full
                    // queue is not hammered. The message keeps its slot in the window meanwhile,
                    // so publishers are held back rather than buffered.
                    tokio::time::sleep(nack_pause).await;
                    nack_pause = (nack_pause * 2).min(NACK_BACKOFF_MAX);
                    "nacked by the broker".to_owned()
                }
                Ok(Err(error)) if is_channel_fault(&error) => {
                    let message = &pending.message;
                    if let Some(reply) = refusal(
                        &error,
                        message.exchange.as_str(),
                        message.routing_key.as_str(),
                    ) {
                        break Err(PublishError::Refused {
                            exchange: pending.message.exchange.to_string(),
                            routing_key: pending.message.routing_key.to_string(),
                            reply,
                        });
                    }
                    channel_faults += 1;
                    if channel_faults >= CHANNEL_FAULTS_PER_MESSAGE {
                        break Err(PublishError::Broker(format!(
                            "the broker closed the channel {channel_faults} times over this message: {error}"
                        )));
                    }
                    format!("channel closed by the broker: {error}")
                }
                Ok(Err(error)) => format!("confirm lost: {error}"),
                Err(_) => {
                    self.link.check_alive(&pending.channel);
                    format!("no confirm within {:?}", self.confirm_timeout)
                }
            };
            debug!(
                reason = %retry_reason,
                routing_key = %pending.message.routing_key,
                "publishing again"
            );
            match self.send(&pending.message).await {
                Ok((confirm, channel)) => (pending.confirm, pending.channel) = (confirm, channel),
                Err(error) => break Err(error),
            }
        };
        Settled {
            message: pending.message,
            outcome,
            receipt: pending.outcome,
            stray_return,
        }
    }

    /// Tells the publisher how its message ended; a failure nobody waits for is logged.
    fn report(&self, settled: Settled) {
        if let Err(unheard) = settled.receipt.send(settled.outcome)
            && let Err(error) = unheard
        {
            self.log_unheard(&error);
        }
    }

    /// A failure nobody waits for must still be seen.
    fn log_unheard(&self, error: &PublishError) {
        let Ok(mut last) = self.last_logged.lock() else {
            return;
        };
        let now = Instant::now();
        if last.is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1)) {
            *last = Some(now);
            warn!(%error, "publish failed (receipt not awaited; further failures within 1 s are not logged)");
        }
    }
}

/// One task follows every unconfirmed message, so confirms are handled asynchronously and in any
/// order, never one synchronous round trip per message. Whatever wakes it, it takes every message
/// handed over and every confirm that is ready before reporting any, so that returns reach the
/// publish they belong to ([`crate::returns`]).
async fn track_confirms(shared: Arc<Shared>, mut incoming: mpsc::UnboundedReceiver<Pending>) {
    let mut in_flight = FuturesUnordered::new();
    let mut batch = Vec::new();
    let mut returns = Returns::default();
    let mut open = true;
    while open || !in_flight.is_empty() {
        tokio::select! {
            pending = incoming.recv(), if open => match pending {
                Some(pending) => in_flight.push(shared.settle(pending)),
                None => open = false,
            },
            Some(settled) = in_flight.next(), if !in_flight.is_empty() => batch.push(settled),
        }
        while let Ok(pending) = incoming.try_recv() {
            in_flight.push(shared.settle(pending));
        }
        while let Some(Some(settled)) = in_flight.next().now_or_never() {
            batch.push(settled);
        }
        returns.settle(&mut batch, |settled| shared.report(settled));
    }
}

/// A message the broker has settled, not yet reported to its publisher.
pub(crate) struct Settled {
    pub message: Outgoing,
    pub outcome: Result<(), PublishError>,
    receipt: oneshot::Sender<Result<(), PublishError>>,
    /// A return lapin attached to this message's confirm that belongs to another message: its
    /// message id and the broker's reply.
    pub stray_return: Option<(String, String)>,
}

#[cfg(test)]
impl Settled {
    /// A mandatory publish with message id `id`, acked, with the stray return lapin gave it.
    pub(crate) fn for_test(id: &str, stray_return: Option<(String, String)>) -> Self {
        Settled {
            message: Outgoing {
                exchange: "instadash.events".into(),
                routing_key: "test".into(),
                properties: Properties::Given(
                    BasicProperties::default().with_message_id(id.into()),
                ),
                payload: Vec::new(),
                mandatory: true,
            },
            outcome: Ok(()),
            receipt: oneshot::channel().0,
            stray_return,
        }
    }
}

impl Outgoing {
    /// The AMQP `message_id`, which the broker's return of the message carries too.
    pub(crate) fn id(&self) -> Option<&str> {
        match &self.properties {
            Properties::Envelope(envelope) => Some(envelope.id.as_str()),
            Properties::Given(properties) => properties.message_id().as_ref().map(|id| id.as_str()),
        }
    }

    pub(crate) fn unroutable(&self, reply: String) -> PublishError {
        PublishError::Unroutable {
            exchange: self.exchange.to_string(),
            routing_key: self.routing_key.to_string(),
            reply,
        }
    }
}
