//! The broker objects every Instadash service agrees on: exchange names, queue names and arguments.
//! Declaring is idempotent, so every instance declares what it uses at start-up.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};

use crate::error::BridgeError;

/// Publish/subscribe: events, routed by `<type>.<subject>`.
pub const EVENTS: &str = "instadash.events";
/// Point-to-point and requests: routed by service name to the service's inbox queue.
pub const SERVICES: &str = "instadash.services";
/// Work queues: routed by queue name.
pub const WORK: &str = "instadash.work";
/// Failed messages, routed by the name of the queue they failed in to `<queue>.dead-letter`.
pub const DEAD_LETTER: &str = "instadash.dead-letter";
/// Messages waiting to be retried, routed by queue name to `<queue>.retry`.
pub const RETRY: &str = "instadash.retry";

/// Where the reply to a request goes: RabbitMQ's direct reply-to pseudo-queue.
pub(crate) const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// Every exchange the platform uses, with its kind.
pub(crate) const EXCHANGES: [(&str, ExchangeKind); 5] = [
    (EVENTS, ExchangeKind::Topic),
    (SERVICES, ExchangeKind::Direct),
    (WORK, ExchangeKind::Direct),
    (DEAD_LETTER, ExchangeKind::Direct),
    (RETRY, ExchangeKind::Direct),
];

/// How a queue is stored by the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueKind {
    /// Replicated (Raft), survives the loss of a node, counts deliveries; the default.
    #[default]
    Quorum,
    /// A single-node queue; cheaper, lost with its node.
    Classic,
}

impl std::str::FromStr for QueueKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "quorum" => Ok(QueueKind::Quorum),
            "classic" => Ok(QueueKind::Classic),
            other => Err(format!("unknown queue type `{other}` (quorum or classic)")),
        }
    }
}

/// A consumed queue and its two companions: `<name>.retry`, where a failed message waits before it
/// flows back, and `<name>.dead-letter`, where it ends when it cannot be handled.
#[derive(Debug, Clone)]
pub(crate) struct QueueFamily {
    pub name: String,
    pub kind: QueueKind,
    /// Quorum queues dead-letter a message redelivered more often than this (a consumer that keeps
    /// crashing on it), so a poison message cannot loop forever.
    pub delivery_limit: u32,
    pub retry_delay_ms: u64,
}

/// The queue shared by the instances of subscriber group `group`.
pub fn group_queue(group: &str) -> String {
    format!("{EVENTS}.{group}")
}

/// The inbox of service `service`: point-to-point messages and requests.
pub fn inbox_queue(service: &str) -> String {
    format!("instadash.service.{service}")
}

/// The queue behind work queue `name`.
pub fn work_queue(name: &str) -> String {
    format!("{WORK}.{name}")
}

/// Where failed messages of `queue` wait for their retry.
pub fn retry_queue(queue: &str) -> String {
    format!("{queue}.retry")
}

/// Where messages of `queue` end when they cannot be handled, with the reason in their headers.
pub fn dead_letter_queue(queue: &str) -> String {
    format!("{queue}.dead-letter")
}

pub(crate) async fn declare_exchanges(channel: &Channel) -> Result<(), BridgeError> {
    for (name, kind) in EXCHANGES {
        channel
            .exchange_declare(
                name.into(),
                kind,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(BridgeError::broker(format!("declaring exchange {name}")))?;
    }
    Ok(())
}

impl QueueFamily {
    /// Declares the queue, its retry and dead-letter queues, and binds the companions. Declared on
    /// the consumer's own channel so lapin replays them after a reconnect.
    pub(crate) async fn declare(&self, channel: &Channel) -> Result<(), BridgeError> {
        let dead = dead_letter_queue(&self.name);
        let retry = retry_queue(&self.name);

        self.declare_one(channel, &dead, self.kind_args()).await?;
        self.bind(channel, &dead, DEAD_LETTER, &self.name).await?;

        // Expired retries go back through the default exchange, straight to the source queue.
        let mut retry_args = self.kind_args();
        retry_args.insert("x-message-ttl".into(), long_long(self.retry_delay_ms));
        retry_args.insert("x-dead-letter-exchange".into(), text(""));
        retry_args.insert("x-dead-letter-routing-key".into(), text(&self.name));
        self.declare_one(channel, &retry, retry_args).await?;
        self.bind(channel, &retry, RETRY, &self.name).await?;

        let mut args = self.kind_args();
        args.insert("x-dead-letter-exchange".into(), text(DEAD_LETTER));
        args.insert("x-dead-letter-routing-key".into(), text(&self.name));
        if self.kind == QueueKind::Quorum {
            args.insert(
                "x-delivery-limit".into(),
                long_long(u64::from(self.delivery_limit)),
            );
        }
        self.declare_one(channel, &self.name, args).await
    }

    pub(crate) async fn bind(
        &self,
        channel: &Channel,
        queue: &str,
        exchange: &str,
        key: &str,
    ) -> Result<(), BridgeError> {
        channel
            .queue_bind(
                queue.into(),
                exchange.into(),
                key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(BridgeError::broker(format!(
                "binding queue {queue} to {exchange} with key {key}"
            )))
    }

    fn kind_args(&self) -> FieldTable {
        let mut args = FieldTable::default();
        if self.kind == QueueKind::Quorum {
            args.insert("x-queue-type".into(), text("quorum"));
        }
        args
    }

    async fn declare_one(
        &self,
        channel: &Channel,
        queue: &str,
        args: FieldTable,
    ) -> Result<(), BridgeError> {
        channel
            .queue_declare(queue.into(), QueueDeclareOptions::durable(), args)
            .await
            .map(|_| ())
            .map_err(|source| {
                // PRECONDITION_FAILED here means an existing queue has other arguments, typically
                // one declared by an older version with another queue type.
                BridgeError::Broker {
                    context: format!(
                        "declaring queue {queue} ({:?}); if it exists with other arguments, \
                         delete it or keep its settings",
                        self.kind
                    ),
                    source,
                }
            })
    }
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

fn long_long(value: u64) -> AMQPValue {
    AMQPValue::LongLongInt(i64::try_from(value).unwrap_or(i64::MAX))
}
