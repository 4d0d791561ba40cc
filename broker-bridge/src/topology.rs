//! The broker objects every Instadash service agrees on: exchange names, queue names and arguments.
//! Declaring is idempotent, so every instance declares what it uses at start-up.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};

use crate::error::BridgeError;
use crate::link::Link;

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
pub const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// Every exchange the platform uses, with its AMQP type (`topic`, `direct`), as deployments
/// write it and the bridge declares it.
pub const EXCHANGES: [(&str, &str); 5] = [
    (EVENTS, "topic"),
    (SERVICES, "direct"),
    (WORK, "direct"),
    (DEAD_LETTER, "direct"),
    (RETRY, "direct"),
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
pub struct QueueFamily {
    pub(crate) name: String,
    pub(crate) kind: QueueKind,
    /// Quorum queues dead-letter a message redelivered more often than this (a consumer that keeps
    /// crashing on it), so a poison message cannot loop forever.
    pub(crate) delivery_limit: u32,
    pub(crate) retry_delay_ms: u64,
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

/// The binding key of a subscription to every subject of event type `kind`.
pub fn every_subject(kind: &str) -> String {
    format!("{kind}.*")
}

/// Where failed messages of `queue` wait for their retry.
pub fn retry_queue(queue: &str) -> String {
    format!("{queue}.retry")
}

/// Where messages of `queue` end when they cannot be handled, with the reason in their headers.
pub fn dead_letter_queue(queue: &str) -> String {
    format!("{queue}.dead-letter")
}

/// Makes sure the platform's exchanges exist. A passive check needs no permission, so a service
/// whose broker user may not configure exchanges (a deployment made them from its definitions)
/// starts as well as one on a development broker, where a missing exchange is declared here.
pub(crate) async fn ensure_exchanges(link: &Link) -> Result<(), BridgeError> {
    let channel = |purpose: &'static str| async move {
        link.connection()
            .create_channel()
            .await
            .map_err(BridgeError::broker(purpose))
    };
    let check = channel("opening a channel to check the exchanges").await?;
    let mut all_there = true;
    for (name, kind) in EXCHANGES {
        let passive = ExchangeDeclareOptions {
            passive: true,
            ..Default::default()
        };
        // The broker closes the channel over a missing exchange, so stop at the first.
        if check
            .exchange_declare(
                name.into(),
                exchange_kind(kind),
                passive,
                FieldTable::default(),
            )
            .await
            .is_err()
        {
            all_there = false;
            break;
        }
    }
    if all_there {
        let _ = check.close(200, "exchanges checked".into()).await;
        return Ok(());
    }
    let declare = channel("opening a channel to declare the exchanges").await?;
    for (name, kind) in EXCHANGES {
        declare
            .exchange_declare(
                name.into(),
                exchange_kind(kind),
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(BridgeError::broker(format!("declaring exchange {name}")))?;
    }
    let _ = declare.close(200, "exchanges declared".into()).await;
    Ok(())
}

/// lapin's name for an exchange type: the type string goes on the wire as it is.
fn exchange_kind(kind: &str) -> ExchangeKind {
    ExchangeKind::Custom(kind.to_owned())
}

/// A queue argument's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Argument {
    Text(String),
    Integer(u64),
}

/// One durable queue as the bridge declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuePlan {
    pub name: String,
    pub arguments: Vec<(&'static str, Argument)>,
    /// `(exchange, routing key)` of the bindings the bridge makes for it.
    pub bindings: Vec<(&'static str, String)>,
}

impl QueueFamily {
    /// A consumed queue as a deployment's definitions must declare it, so that the bridge's own
    /// declaration finds the very same arguments.
    pub fn new(name: String, kind: QueueKind, retry_delay_ms: u64) -> Self {
        Self {
            name,
            kind,
            delivery_limit: crate::bridge::DELIVERY_LIMIT,
            retry_delay_ms,
        }
    }

    /// The dead-letter queue, the retry queue and the queue itself, in the order they are declared
    /// (each one's dead-letter target exists before it). The bindings of the queue itself are the
    /// consumer's, not the family's, so they are not here.
    pub fn plan(&self) -> [QueuePlan; 3] {
        let kind = |mut arguments: Vec<(&'static str, Argument)>| {
            if self.kind == QueueKind::Quorum {
                arguments.insert(0, ("x-queue-type", Argument::Text("quorum".into())));
            }
            arguments
        };
        let mut main = vec![
            ("x-dead-letter-exchange", Argument::Text(DEAD_LETTER.into())),
            (
                "x-dead-letter-routing-key",
                Argument::Text(self.name.clone()),
            ),
        ];
        if self.kind == QueueKind::Quorum {
            main.push((
                "x-delivery-limit",
                Argument::Integer(u64::from(self.delivery_limit)),
            ));
        }
        [
            QueuePlan {
                name: dead_letter_queue(&self.name),
                arguments: kind(Vec::new()),
                bindings: vec![(DEAD_LETTER, self.name.clone())],
            },
            // Expired retries go back through the default exchange, straight to the source queue.
            QueuePlan {
                name: retry_queue(&self.name),
                arguments: kind(vec![
                    ("x-message-ttl", Argument::Integer(self.retry_delay_ms)),
                    ("x-dead-letter-exchange", Argument::Text(String::new())),
                    (
                        "x-dead-letter-routing-key",
                        Argument::Text(self.name.clone()),
                    ),
                ]),
                bindings: vec![(RETRY, self.name.clone())],
            },
            QueuePlan {
                name: self.name.clone(),
                arguments: kind(main),
                bindings: Vec::new(),
            },
        ]
    }

    /// Declares the queue, its retry and dead-letter queues, and binds the companions. Declared on
    /// the consumer's own channel so lapin replays them after a reconnect.
    pub(crate) async fn declare(&self, channel: &Channel) -> Result<(), BridgeError> {
        for queue in self.plan() {
            let mut args = FieldTable::default();
            for (key, value) in &queue.arguments {
                let value = match value {
                    Argument::Text(text) => AMQPValue::LongString(LongString::from(text.as_str())),
                    Argument::Integer(n) => long_long(*n),
                };
                args.insert((*key).into(), value);
            }
            self.declare_one(channel, &queue.name, args).await?;
            for (exchange, key) in &queue.bindings {
                self.bind(channel, &queue.name, exchange, key).await?;
            }
        }
        Ok(())
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
                // PRECONDITION_FAILED means an existing queue has other arguments, typically one
                // declared by an older version with another queue type.
                let hint = if source.to_string().contains("PRECONDITION_FAILED") {
                    "; it exists with other arguments: delete it or keep its settings"
                } else {
                    ""
                };
                BridgeError::Broker {
                    context: format!("declaring queue {queue} ({:?}){hint}", self.kind),
                    source,
                }
            })
    }
}

fn long_long(value: u64) -> AMQPValue {
    AMQPValue::LongLongInt(i64::try_from(value).unwrap_or(i64::MAX))
}
