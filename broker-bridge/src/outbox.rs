//! Turning typed messages into wire messages: the envelope (id, source, time, trace) and the
//! routing, in one place for everything the bridge sends.

use std::sync::Arc;

use lapin::BasicProperties;
use lapin::types::ShortString;

use crate::discovery::{Offer, Presence};
use crate::envelope::Envelope;
use crate::error::PublishError;
use crate::message::{self, Message};
use crate::publisher::{Outgoing, Properties, Publisher, Receipt};
use crate::stats::{Counter, Stats};
use crate::trace_context;

#[derive(Clone)]
pub(crate) struct Outbox {
    pub publisher: Publisher,
    /// CloudEvents `source` of everything this instance sends: `/<service>/<instance>`.
    pub source: String,
    /// AMQP `app_id`: the service name.
    pub app_id: String,
    /// What this service sends is refused above this size. Copies of received messages (retries,
    /// dead letters) are exempt: they must be able to leave however large they came.
    pub max_message_bytes: usize,
    /// What this instance announces; every type it sends is among its offers.
    pub presence: Arc<Presence>,
    pub stats: Arc<Stats>,
}

impl Outbox {
    /// A fresh envelope for `kind`, continuing the trace of the message being handled, if any.
    pub(crate) fn envelope(&self, kind: &str, subject: Option<String>) -> Envelope {
        let mut envelope = Envelope::new(kind, self.source.as_str());
        envelope.subject = subject;
        trace_context::stamp(&mut envelope);
        envelope
    }

    /// Encodes `message` (checking it against its contract) and makes its envelope.
    pub(crate) fn prepare<M: Message>(
        &self,
        message: &M,
    ) -> Result<(Envelope, Vec<u8>), PublishError> {
        let payload = message
            .encode()
            .map_err(|rejection| PublishError::Invalid {
                kind: M::TYPE,
                rejection: Box::new(rejection),
            })?;
        if payload.bytes.len() > self.max_message_bytes {
            return Err(PublishError::TooLarge {
                size: payload.bytes.len(),
                limit: self.max_message_bytes,
            });
        }
        let mut envelope = self.envelope(M::TYPE, message.subject());
        let bytes = envelope.describe(payload);
        Ok((envelope, bytes))
    }

    pub(crate) async fn send<M: Message>(
        &self,
        message: &M,
        exchange: &str,
        routing_key: String,
    ) -> Result<Receipt, PublishError> {
        let (envelope, payload) = self.prepare(message)?;
        self.presence.offer(Offer::Produces, M::TYPE, M::VERSION);
        self.stats.count(Counter::Published);
        self.stats.traffic.sent(M::TYPE, payload.len());
        self.publisher
            .publish(Outgoing {
                exchange: ShortString::from(exchange),
                routing_key: ShortString::from(routing_key),
                properties: Properties::Envelope(envelope),
                payload,
                mandatory: true,
            })
            .await
    }

    /// Publishes an event that may have no subscriber at all (discovery's own messages): not
    /// `mandatory`, so nobody listening is not an error.
    pub(crate) async fn broadcast<M: Message>(&self, message: &M) -> Result<Receipt, PublishError> {
        let (envelope, payload) = self.prepare(message)?;
        let routing_key = message::routing_key(M::TYPE, envelope.subject.as_deref());
        self.publisher
            .publish(Outgoing {
                exchange: ShortString::from(crate::topology::EVENTS),
                routing_key: ShortString::from(routing_key),
                properties: Properties::Envelope(envelope),
                payload,
                mandatory: false,
            })
            .await
    }

    /// Sends raw bytes under properties already made (replies, retries, dead letters).
    pub(crate) async fn send_raw(
        &self,
        exchange: &str,
        routing_key: &str,
        properties: BasicProperties,
        payload: Vec<u8>,
        mandatory: bool,
    ) -> Result<Receipt, PublishError> {
        self.publisher
            .publish(Outgoing {
                exchange: ShortString::from(exchange),
                routing_key: ShortString::from(routing_key),
                properties: Properties::Given(properties),
                payload,
                mandatory,
            })
            .await
    }
}
