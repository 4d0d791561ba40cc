//! Turning typed messages into wire messages: the envelope (id, source, time, trace) and the
//! routing, in one place for everything the bridge sends.

use lapin::BasicProperties;
use lapin::types::ShortString;

use crate::envelope::Envelope;
use crate::error::PublishError;
use crate::message::{self, Message};
use crate::publisher::{Outgoing, Publisher, Receipt};
use crate::trace_context;

#[derive(Clone)]
pub(crate) struct Outbox {
    pub publisher: Publisher,
    /// CloudEvents `source` of everything this instance sends: `/<service>/<instance>`.
    pub source: String,
    /// AMQP `app_id`: the service name.
    pub app_id: String,
}

impl Outbox {
    /// A fresh envelope for `kind`, continuing the trace of the message being handled, if any.
    pub(crate) fn envelope(&self, kind: &str, subject: Option<String>) -> Envelope {
        let mut envelope = Envelope::new(kind, self.source.as_str());
        envelope.subject = subject;
        trace_context::stamp(&mut envelope);
        envelope
    }

    /// Encodes `message` and builds its wire form without sending it.
    pub(crate) fn outgoing<M: Message>(
        &self,
        message: &M,
        exchange: &str,
        routing_key: String,
    ) -> Result<(Envelope, Outgoing), PublishError> {
        let payload = message::encode(message).map_err(PublishError::Encode)?;
        let envelope = self.envelope(M::TYPE, message.subject());
        let properties = envelope.to_properties(&self.app_id);
        let outgoing = Outgoing {
            exchange: ShortString::from(exchange),
            routing_key: ShortString::from(routing_key),
            properties,
            payload,
            mandatory: true,
        };
        Ok((envelope, outgoing))
    }

    pub(crate) async fn send<M: Message>(
        &self,
        message: &M,
        exchange: &str,
        routing_key: String,
    ) -> Result<Receipt, PublishError> {
        let (_, outgoing) = self.outgoing(message, exchange, routing_key)?;
        self.publisher.publish(outgoing).await
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
                properties,
                payload,
                mandatory,
            })
            .await
    }
}
