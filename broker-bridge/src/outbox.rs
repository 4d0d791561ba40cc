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
use crate::span_log::{Destination, SpanLog};
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
    /// The spans of what this instance sends and handles, for the trace view.
    pub spans: Arc<SpanLog>,
}

impl Outbox {
    /// A fresh envelope for `kind`, continuing the trace of the message being handled, if any.
    /// Its new span is recorded in the span log as a publish to `to`.
    pub(crate) fn envelope(
        &self,
        kind: &'static str,
        subject: Option<String>,
        to: Destination<'_>,
    ) -> Envelope {
        let mut envelope = Envelope::new(kind, self.source.as_str());
        envelope.subject = subject;
        let span = trace_context::stamp(&mut envelope);
        self.spans.published(span, &envelope, kind, to);
        envelope
    }

    /// Encodes `message` (checking it against its contract) and makes its envelope, bound for
    /// `to`.
    pub(crate) fn prepare<M: Message>(
        &self,
        message: &M,
        to: Destination<'_>,
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
        let mut envelope = self.envelope(M::TYPE, message.subject(), to);
        let bytes = envelope.describe(payload);
        Ok((envelope, bytes))
    }

    /// Sends `message` to `exchange` under `routing_key` (on the events exchange, always
    /// `<type>.<subject>`).
    pub(crate) async fn send<M: Message>(
        &self,
        message: &M,
        exchange: &'static str,
        routing_key: String,
    ) -> Result<Receipt, PublishError> {
        let to = if exchange == crate::topology::EVENTS {
            Destination::Event
        } else {
            Destination::To(exchange, &routing_key)
        };
        let (envelope, payload) = self.prepare(message, to)?;
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
    /// Not recorded in the span log.
    pub(crate) async fn broadcast<M: Message>(&self, message: &M) -> Result<Receipt, PublishError> {
        let (envelope, payload) = self.prepare(message, Destination::Untraced)?;
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
