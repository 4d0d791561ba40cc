//! The typed builder behind `subscribe`, `serve` and `work_queue`: which handler takes which
//! message type, and how many workers share the queue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::bridge::{Bridge, Target};
use crate::consumer::{self, Consumer, ConsumerSpec, Delivered, Failure, Handled, Route, RouteFn};
use crate::dedup::DedupWindow;
use crate::discovery::Offer;
use crate::error::BridgeError;
use crate::message::{self, Incoming, Message, RawPayload};
use crate::topology::{self, QueueKind};

/// A subscription being set up; nothing reaches the broker until [`Subscription::start`].
#[must_use = "a subscription does nothing until started"]
pub struct Subscription {
    bridge: Bridge,
    queue: String,
    target: Target,
    routes: HashMap<&'static str, Route>,
    subjects: Vec<String>,
    workers: usize,
    kind: QueueKind,
}

impl Subscription {
    pub(crate) fn new(bridge: Bridge, queue: String, target: Target) -> Self {
        Self {
            bridge,
            queue,
            target,
            routes: HashMap::new(),
            subjects: Vec::new(),
            workers: 1,
            kind: QueueKind::default(),
        }
    }

    /// Handles messages of type `M`. The message is acknowledged when the handler returns `Ok`; an
    /// `Err` (or a panic) is retried after the retry delay and dead-lettered after the last attempt.
    pub fn on<M, F, Fut>(mut self, handler: F) -> Self
    where
        M: Message,
        F: Fn(Incoming<M>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let call: RouteFn = Arc::new(move |delivered| {
            let handler = handler.clone();
            let incoming = typed::<M>(delivered);
            Box::pin(async move {
                let incoming = incoming?;
                handler(incoming)
                    .await
                    .map(|()| Handled::Done)
                    .map_err(|e| Failure::Handler(format!("{e:#}")))
            })
        });
        self.routes.insert(
            M::TYPE,
            Route {
                call,
                answers: false,
                version: M::VERSION,
            },
        );
        self
    }

    /// Answers requests of type `Q` with an `A`. A handler error is sent back to the caller as
    /// [`crate::RequestError::Remote`] rather than retried: the caller is waiting.
    pub fn answer<Q, A, F, Fut>(mut self, handler: F) -> Self
    where
        Q: Message,
        A: Message,
        F: Fn(Incoming<Q>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<A>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let call: RouteFn = Arc::new(move |delivered| {
            let handler = handler.clone();
            let incoming = typed::<Q>(delivered);
            Box::pin(async move {
                let answer = handler(incoming?)
                    .await
                    .map_err(|e| Failure::Handler(format!("{e:#}")))?;
                let payload = answer.encode().map_err(|rejection| {
                    Failure::Handler(format!("the answer breaks its contract: {rejection}"))
                })?;
                Ok(Handled::Reply {
                    kind: A::TYPE,
                    payload,
                })
            })
        });
        self.routes.insert(
            Q::TYPE,
            Route {
                call,
                answers: true,
                version: Q::VERSION,
            },
        );
        self
    }

    /// Events only: receive just the events about this subject (e.g. one vehicle) instead of all.
    /// Call several times for several subjects.
    pub fn subject(mut self, subject: &str) -> Self {
        self.subjects.push(subject.to_owned());
        self
    }

    /// How many workers (each its own channel and prefetch) take from the queue in this process.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// Quorum (default, replicated) or classic queue.
    pub fn queue_kind(mut self, kind: QueueKind) -> Self {
        self.kind = kind;
        self
    }

    /// Declares and binds the queue and starts the workers; returns once they consume. Errors here
    /// (a queue declared elsewhere with other settings, missing permissions) are final; after this,
    /// lost connections and cancelled consumers are recovered without the caller's help.
    pub async fn start(self) -> Result<(), BridgeError> {
        if self.routes.is_empty() {
            return Err(BridgeError::Setup(format!(
                "subscription to {} has no handler",
                self.queue
            )));
        }
        let bindings = self.bindings();
        let offers = self.offers();
        let config = self.bridge.config();
        let family = self.bridge.family(self.queue, self.kind);
        let bridge = self.bridge.clone();
        let (link, outbox, shutdown, tasks, stats) = bridge.consumer_parts();
        let spec = ConsumerSpec {
            family,
            bindings,
            routes: self.routes,
            workers: self.workers,
            prefetch: config.prefetch,
        };
        consumer::log_started(&spec);
        let consumer = Arc::new(Consumer {
            queue: Arc::from(spec.family.name.as_str()),
            spec,
            link,
            outbox,
            retry: config.retry,
            identity: bridge.identity(),
            shutdown,
            dedup: Mutex::new(DedupWindow::new(config.dedup_window)),
            max_message_bytes: config.max_message_bytes,
            stats,
        });
        consumer::start(consumer, tasks).await?;
        // Announced once the instance really consumes, not before.
        let presence = bridge.presence();
        for (offer, kind, version) in offers.types {
            presence.offer(offer, kind, version);
        }
        if let Some(queue) = offers.work_queue {
            presence.offer_work_queue(&queue);
        }
        Ok(())
    }

    /// What this subscription takes, as discovery announces it.
    fn offers(&self) -> Offers {
        let types = self
            .routes
            .iter()
            .map(|(kind, route)| {
                let offer = match (&self.target, route.answers) {
                    (_, true) => Offer::Request,
                    (Target::Inbox(_), false) => Offer::Command,
                    (Target::Events | Target::Work(_), false) => Offer::Consumes,
                };
                (offer, *kind, route.version)
            })
            .collect();
        let work_queue = match &self.target {
            Target::Work(queue) => Some(queue.clone()),
            _ => None,
        };
        Offers { types, work_queue }
    }

    fn bindings(&self) -> Vec<(String, String)> {
        match &self.target {
            Target::Inbox(service) => vec![(topology::SERVICES.to_owned(), service.clone())],
            Target::Work(queue) => vec![(topology::WORK.to_owned(), queue.clone())],
            Target::Events => {
                let subjects: Vec<Option<&str>> = if self.subjects.is_empty() {
                    vec![None]
                } else {
                    self.subjects.iter().map(|s| Some(s.as_str())).collect()
                };
                let mut keys = Vec::new();
                for kind in self.routes.keys() {
                    for subject in &subjects {
                        let key = match subject {
                            Some(subject) => message::routing_key(kind, Some(subject)),
                            None => topology::every_subject(kind),
                        };
                        keys.push((topology::EVENTS.to_owned(), key));
                    }
                }
                keys
            }
        }
    }
}

fn typed<M: Message>(delivered: Delivered<'_>) -> Result<Incoming<M>, Failure> {
    let Delivered {
        envelope,
        body,
        headers,
        redelivered,
        attempt,
    } = delivered;
    let data = M::decode(&RawPayload::new(&envelope, body, headers)).map_err(Failure::Rejected)?;
    Ok(Incoming {
        data,
        envelope,
        redelivered,
        attempt,
    })
}

/// A subscription's part of what its instance offers.
struct Offers {
    types: Vec<(Offer, &'static str, u32)>,
    work_queue: Option<String>,
}
