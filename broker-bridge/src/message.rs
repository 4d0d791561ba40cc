//! Typed messages: what a service author declares to put a Rust type on the bus.

use lapin::types::FieldTable;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::envelope::{Envelope, JSON};

/// A Rust type that travels on the bus as a CloudEvent.
///
/// By default the payload is plain JSON without a schema. A type of the message contract overrides
/// [`Message::encode`] and [`Message::decode`] to write its schema's encoding (JSON or Avro) and to
/// check every message against its schema on both ends: the bridge refuses to send what `encode`
/// rejects, and dead-letters what `decode` rejects, with the [`Rejection`] in its headers.
///
/// ```
/// # use serde::{Deserialize, Serialize};
/// #[derive(Serialize, Deserialize)]
/// struct Ping { n: u32 }
/// impl broker_bridge::Message for Ping {
///     const TYPE: &'static str = "instadash.example.ping";
/// }
/// ```
pub trait Message: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The CloudEvents `type`: reverse-DNS-like and dot-separated, without a version (the schema
    /// version travels in `dataschema`, so readers of one version accept compatible others).
    const TYPE: &'static str;

    /// The schema version of this Rust type (1, 2, ...), as services announce what they offer.
    const VERSION: u32 = 1;

    /// The entity the event is about (e.g. a vehicle id). It becomes the CloudEvents `subject` and
    /// the last word of the routing key, so subscribers can bind to one entity.
    fn subject(&self) -> Option<String> {
        None
    }

    /// The payload as it goes on the wire. An error means the message breaks its contract and is
    /// not sent.
    fn encode(&self) -> Result<Payload, Rejection> {
        Payload::json(self)
    }

    /// Reads a received payload. An error sends the message to the dead-letter queue with the
    /// rejection as its reason; the handler never sees it.
    fn decode(payload: &RawPayload<'_>) -> Result<Self, Rejection> {
        payload.json()
    }
}

/// An encoded message body with what the envelope says about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    pub bytes: Vec<u8>,
    /// CloudEvents `datacontenttype`, the AMQP `content_type`.
    pub content_type: &'static str,
    /// CloudEvents `dataschema`: the schema (and version) the body follows.
    pub data_schema: Option<String>,
    /// Further headers the reader needs, e.g. the Avro writer schema's fingerprint.
    pub headers: Vec<(&'static str, String)>,
}

impl Payload {
    /// Plain JSON, no schema.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, Rejection> {
        let bytes = serde_json::to_vec(value).map_err(|e| Rejection {
            reason: "cannot encode as JSON".into(),
            check: "serialize".into(),
            pointer: String::new(),
            schema: None,
            detail: e.to_string(),
        })?;
        Ok(Self {
            bytes,
            content_type: JSON,
            data_schema: None,
            headers: Vec::new(),
        })
    }
}

/// A received body with the envelope attributes and headers that say how to read it.
#[derive(Debug, Clone, Copy)]
pub struct RawPayload<'a> {
    pub body: &'a [u8],
    pub content_type: &'a str,
    pub data_schema: Option<&'a str>,
    headers: Option<&'a FieldTable>,
}

impl<'a> RawPayload<'a> {
    pub(crate) fn new(
        envelope: &'a Envelope,
        body: &'a [u8],
        headers: Option<&'a FieldTable>,
    ) -> Self {
        Self::from_parts(
            body,
            &envelope.content_type,
            envelope.data_schema.as_deref(),
            headers,
        )
    }

    pub(crate) fn from_parts(
        body: &'a [u8],
        content_type: &'a str,
        data_schema: Option<&'a str>,
        headers: Option<&'a FieldTable>,
    ) -> Self {
        Self {
            body,
            content_type,
            data_schema,
            headers,
        }
    }

    /// A text header of the message.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        crate::envelope::header_str(self.headers?.inner().get(name)?, "header").ok()
    }

    /// The body as plain JSON, after checking the content type says JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Rejection> {
        self.expect_content_type(JSON)?;
        serde_json::from_slice(self.body).map_err(|e| Rejection {
            reason: "payload is not valid JSON for its type".into(),
            check: "deserialize".into(),
            pointer: String::new(),
            schema: self.data_schema.map(str::to_owned),
            detail: e.to_string(),
        })
    }

    /// Rejects a body whose content type (parameters aside) is not `expected`.
    pub fn expect_content_type(&self, expected: &str) -> Result<(), Rejection> {
        let given = self
            .content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim();
        if given.eq_ignore_ascii_case(expected) {
            return Ok(());
        }
        Err(Rejection {
            reason: "wrong content type".into(),
            check: "content-type".into(),
            pointer: String::new(),
            schema: self.data_schema.map(str::to_owned),
            detail: format!("expected `{expected}`, got `{}`", self.content_type),
        })
    }
}

/// Why a message breaks its contract: refused before sending, or dead-lettered on receipt.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{reason} ({check} at `{pointer}`): {detail}")]
pub struct Rejection {
    /// What is wrong, in words: "schema validation failed", "wrong content type", ...
    pub reason: String,
    /// The check that failed: a JSON Schema keyword (`required`, `type`, ...), `content-type`,
    /// `avro-decode`, `avro-fingerprint`, ...
    pub check: String,
    /// JSON pointer of the offending value; empty for the whole payload.
    pub pointer: String,
    /// The schema checked against (its `dataschema` URI), if any.
    pub schema: Option<String>,
    /// The validator's or decoder's own message.
    pub detail: String,
}

/// A received message with its envelope, handed to a handler.
#[derive(Debug, Clone)]
pub struct Incoming<T> {
    pub data: T,
    pub envelope: Envelope,
    /// The broker delivered this message before (to this or another consumer).
    pub redelivered: bool,
    /// How many times a handler already failed on this message (0 on the first try).
    pub attempt: u32,
}

/// Routing keys are `<type>.<subject>`, so `<type>.*` binds every subject and `<type>.<id>` one.
/// AMQP topic words are dot-separated and `*`/`#` are wildcards, so those characters are replaced
/// in the subject; an event without subject uses `_`.
pub(crate) fn routing_key(kind: &str, subject: Option<&str>) -> String {
    let mut key = String::with_capacity(kind.len() + 1 + subject.map_or(1, str::len));
    key.push_str(kind);
    key.push('.');
    match subject {
        Some(subject) if !subject.is_empty() => key.extend(
            subject
                .chars()
                .map(|c| if matches!(c, '.' | '*' | '#') { '_' } else { c }),
        ),
        _ => key.push('_'),
    }
    key
}

#[cfg(test)]
mod tests {
    use super::routing_key;

    #[test]
    fn routing_keys_keep_one_word_per_subject() {
        assert_eq!(routing_key("a.b", Some("car-1")), "a.b.car-1");
        assert_eq!(routing_key("a", Some("x.y#*")), "a.x_y__");
        assert_eq!(routing_key("a", None), "a._");
    }
}
