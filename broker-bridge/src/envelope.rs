//! CloudEvents 1.0 over AMQP 0-9-1, binary content mode: attributes travel as `cloudEvents_*`
//! headers and AMQP properties, the payload is the event data. This is the AMQP binding of the
//! official CloudEvents SDKs, so clients in other languages need no special code.

use std::borrow::Cow;
use std::ops::Bound;

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub const SPEC_VERSION: &str = "1.0";
pub const JSON: &str = "application/json";
/// Structured content mode: the whole event, attributes and data, is one JSON document.
pub const CLOUDEVENTS_JSON: &str = "application/cloudevents+json";

/// Persistent: the broker writes the message to disk before it confirms.
pub(crate) const PERSISTENT: u8 = 2;

/// Headers the platform adds beside the CloudEvents attributes.
pub mod header {
    pub const TRACEPARENT: &str = "traceparent";
    pub const TRACESTATE: &str = "tracestate";
    /// How many times the message has been handed to a handler before (0 on first delivery).
    pub const ATTEMPT: &str = "x-instadash-attempt";
    /// Why the message was dead-lettered, in words (e.g. "handler failed 3 times").
    pub const REASON: &str = "x-instadash-reason";
    /// The last error the handler returned, or the failing check.
    pub const ERROR: &str = "x-instadash-error";
    /// `service/instance` that gave up on the message.
    pub const REJECTED_BY: &str = "x-instadash-rejected-by";
    /// The queue the message was consumed from when it was dead-lettered.
    pub const SOURCE_QUEUE: &str = "x-instadash-source-queue";
    pub const DEAD_LETTERED_AT: &str = "x-instadash-dead-lettered-at";
    /// Set on a reply whose request handler failed; the payload is the error text.
    pub const REPLY_ERROR: &str = "x-instadash-reply-error";
    /// For a message that broke its contract: the failing check (a JSON Schema keyword,
    /// `content-type`, `avro-decode`, `max-size`, ...).
    pub const CHECK: &str = "x-instadash-check";
    /// For a message that broke its contract: the JSON pointer of the offending value.
    pub const POINTER: &str = "x-instadash-pointer";
    /// For a message that broke its contract: the schema it was checked against.
    pub const SCHEMA: &str = "x-instadash-schema";
}

/// Attributes are written as `cloudEvents_<name>`; older SDKs wrote `cloudEvents:<name>`, which is
/// accepted on input too.
const CE_STEM: &str = "cloudEvents";

/// The CloudEvents attributes of a message and the platform's own AMQP-level metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// Unique per event; also the AMQP `message_id`, and the key for duplicate detection.
    pub id: String,
    /// Who produced it: `/<service>/<instance>`.
    pub source: String,
    /// CloudEvents `type`, e.g. `instadash.vehicle.position` (versions travel in `dataschema`).
    pub kind: String,
    /// The entity the event is about (a vehicle id); part of the routing key.
    pub subject: Option<String>,
    pub time: OffsetDateTime,
    pub data_schema: Option<String>,
    pub content_type: String,
    pub correlation_id: Option<String>,
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
    /// Further headers to send, from the payload's encoding (e.g. the Avro writer fingerprint).
    /// Not filled on receipt: readers look headers up in the message itself.
    pub extensions: Vec<(&'static str, String)>,
}

/// Why a delivery could not be read as an event; it is dead-lettered with this as its reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("missing CloudEvents attribute `{0}`")]
    Missing(&'static str),
    #[error("CloudEvents attribute `{name}` is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("structured CloudEvent is not valid JSON: {0}")]
    Structured(String),
}

impl Envelope {
    /// A new event of `kind` from `source`, stamped with a fresh UUID v7 id and the current time.
    pub fn new(kind: impl Into<String>, source: impl Into<String>) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            source: source.into(),
            kind: kind.into(),
            subject: None,
            time: OffsetDateTime::now_utc(),
            data_schema: None,
            content_type: JSON.to_owned(),
            correlation_id: None,
            traceparent: None,
            tracestate: None,
            extensions: Vec::new(),
        }
    }

    /// Describes `payload` (content type, schema, extra headers) and returns its bytes.
    pub fn describe(&mut self, payload: crate::message::Payload) -> Vec<u8> {
        // Most payloads are JSON, which `new` already set: no new string per message then.
        if self.content_type != payload.content_type {
            self.content_type = payload.content_type.to_owned();
        }
        self.data_schema = payload.data_schema;
        self.extensions = payload.headers;
        payload.bytes
    }

    /// The AMQP properties that carry this envelope, in binary content mode.
    pub fn to_properties(&self, app_id: &str) -> BasicProperties {
        let mut headers = FieldTable::default();
        let mut put = |key: &str, value: &str| {
            headers.insert(
                ShortString::from(key),
                AMQPValue::LongString(LongString::from(value)),
            );
        };
        put("cloudEvents_specversion", SPEC_VERSION);
        put("cloudEvents_id", &self.id);
        put("cloudEvents_source", &self.source);
        put("cloudEvents_type", &self.kind);
        put("cloudEvents_time", &format_time(self.time));
        if let Some(subject) = &self.subject {
            put("cloudEvents_subject", subject);
        }
        if let Some(schema) = &self.data_schema {
            put("cloudEvents_dataschema", schema);
        }
        if let Some(traceparent) = &self.traceparent {
            put(header::TRACEPARENT, traceparent);
        }
        if let Some(tracestate) = &self.tracestate {
            put(header::TRACESTATE, tracestate);
        }
        for (name, value) in &self.extensions {
            put(name, value);
        }
        let mut properties = BasicProperties::default()
            .with_message_id(ShortString::from(self.id.as_str()))
            .with_content_type(ShortString::from(self.content_type.as_str()))
            .with_timestamp(self.time.unix_timestamp().max(0) as u64)
            .with_app_id(ShortString::from(app_id))
            .with_delivery_mode(PERSISTENT)
            .with_headers(headers);
        if let Some(correlation_id) = &self.correlation_id {
            properties = properties.with_correlation_id(ShortString::from(correlation_id.as_str()));
        }
        properties
    }

    /// Reads the envelope of a delivery. For a structured-mode event the returned payload is its
    /// `data` member; otherwise it is the body as it came.
    pub fn from_delivery<'a>(
        properties: &BasicProperties,
        body: &'a [u8],
    ) -> Result<(Envelope, Cow<'a, [u8]>), EnvelopeError> {
        let content_type = properties.content_type().as_ref().map(|c| c.as_str());
        if content_type.is_some_and(|c| c.starts_with(CLOUDEVENTS_JSON)) {
            return from_structured(properties, body);
        }
        let empty = FieldTable::default();
        let headers = properties.headers().as_ref().unwrap_or(&empty);
        let attr = |name: &str| ce_header(headers, name);
        let text = |name: &'static str| -> Result<Option<String>, EnvelopeError> {
            attr(name).map(|v| header_text(v, name)).transpose()
        };
        let required = |name: &'static str| text(name)?.ok_or(EnvelopeError::Missing(name));

        let spec = required("specversion")?;
        if spec != SPEC_VERSION {
            return Err(EnvelopeError::Invalid {
                name: "specversion",
                reason: format!("`{spec}` is not {SPEC_VERSION}"),
            });
        }
        let id = match text("id")? {
            Some(id) => id,
            // The message_id property is the same attribute under its AMQP name.
            None => properties
                .message_id()
                .as_ref()
                .map(|m| m.to_string())
                .ok_or(EnvelopeError::Missing("id"))?,
        };
        let time = match attr("time") {
            Some(value) => parse_time(value)?,
            None => return Err(EnvelopeError::Missing("time")),
        };
        let envelope = Envelope {
            id,
            source: required("source")?,
            kind: required("type")?,
            subject: text("subject")?,
            time,
            data_schema: text("dataschema")?,
            content_type: content_type
                .ok_or(EnvelopeError::Missing("datacontenttype"))?
                .to_owned(),
            correlation_id: properties.correlation_id().as_ref().map(|c| c.to_string()),
            traceparent: plain_header(headers, header::TRACEPARENT),
            tracestate: plain_header(headers, header::TRACESTATE),
            extensions: Vec::new(),
        };
        Ok((envelope, Cow::Borrowed(body)))
    }
}

/// Finds an attribute under either prefix, without building strings on the hot path.
pub(crate) fn ce_header<'h>(headers: &'h FieldTable, name: &str) -> Option<&'h AMQPValue> {
    headers
        .inner()
        .range::<str, _>((Bound::Included(CE_STEM), Bound::Unbounded))
        .take_while(|(key, _)| key.as_str().starts_with(CE_STEM))
        .find(|(key, _)| {
            let rest = &key.as_str()[CE_STEM.len()..];
            (rest.starts_with('_') || rest.starts_with(':')) && &rest[1..] == name
        })
        .map(|(_, value)| value)
}

fn plain_header(headers: &FieldTable, name: &str) -> Option<String> {
    headers
        .inner()
        .get(name)
        .and_then(|v| header_text(v, "header").ok())
}

/// A header's value as text, whatever string type the sender used.
pub(crate) fn header_text(value: &AMQPValue, name: &'static str) -> Result<String, EnvelopeError> {
    header_str(value, name).map(str::to_owned)
}

/// A header's value as borrowed text, whatever string type the sender used.
pub(crate) fn header_str<'v>(
    value: &'v AMQPValue,
    name: &'static str,
) -> Result<&'v str, EnvelopeError> {
    let utf8 = |bytes: &'v [u8]| {
        std::str::from_utf8(bytes).map_err(|_| EnvelopeError::Invalid {
            name,
            reason: "not UTF-8".into(),
        })
    };
    match value {
        AMQPValue::LongString(s) => utf8(s.as_bytes()),
        AMQPValue::ShortString(s) => Ok(s.as_str()),
        AMQPValue::ByteArray(b) => utf8(b.as_slice()),
        other => Err(EnvelopeError::Invalid {
            name,
            reason: format!("expected a string, got {:?}", other.get_type()),
        }),
    }
}

/// A header's value as an integer, for counters such as the attempt number.
pub(crate) fn header_u32(headers: Option<&FieldTable>, name: &str) -> Option<u32> {
    match headers?.inner().get(name)? {
        AMQPValue::LongUInt(n) => Some(*n),
        AMQPValue::LongInt(n) => u32::try_from(*n).ok(),
        AMQPValue::LongLongInt(n) => u32::try_from(*n).ok(),
        AMQPValue::ShortUInt(n) => Some(u32::from(*n)),
        AMQPValue::ShortInt(n) => u32::try_from(*n).ok(),
        AMQPValue::ShortShortUInt(n) => Some(u32::from(*n)),
        AMQPValue::ShortShortInt(n) => u32::try_from(*n).ok(),
        _ => None,
    }
}

pub(crate) fn format_time(time: OffsetDateTime) -> String {
    time.format(&Rfc3339)
        .unwrap_or_else(|_| time.unix_timestamp().to_string())
}

/// `time` arrives as an RFC 3339 string or as milliseconds since the epoch.
fn parse_time(value: &AMQPValue) -> Result<OffsetDateTime, EnvelopeError> {
    let invalid = |reason: String| EnvelopeError::Invalid {
        name: "time",
        reason,
    };
    let millis = match value {
        AMQPValue::LongLongInt(ms) => Some(i128::from(*ms)),
        AMQPValue::LongInt(ms) => Some(i128::from(*ms)),
        AMQPValue::LongUInt(ms) => Some(i128::from(*ms)),
        AMQPValue::Timestamp(secs) => Some(i128::from(*secs) * 1000),
        _ => None,
    };
    if let Some(ms) = millis {
        return OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000)
            .map_err(|e| invalid(e.to_string()));
    }
    let text = header_text(value, "time")?;
    OffsetDateTime::parse(&text, &Rfc3339).map_err(|e| invalid(format!("`{text}`: {e}")))
}

fn from_structured<'a>(
    properties: &BasicProperties,
    body: &'a [u8],
) -> Result<(Envelope, Cow<'a, [u8]>), EnvelopeError> {
    let doc: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| EnvelopeError::Structured(e.to_string()))?;
    let field = |name: &'static str| doc.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    let required = |name: &'static str| field(name).ok_or(EnvelopeError::Missing(name));
    if required("specversion")? != SPEC_VERSION {
        return Err(EnvelopeError::Invalid {
            name: "specversion",
            reason: format!("not {SPEC_VERSION}"),
        });
    }
    let time_text = required("time")?;
    let time = OffsetDateTime::parse(&time_text, &Rfc3339).map_err(|e| EnvelopeError::Invalid {
        name: "time",
        reason: format!("`{time_text}`: {e}"),
    })?;
    let data = match doc.get("data") {
        Some(data) => {
            serde_json::to_vec(data).map_err(|e| EnvelopeError::Structured(e.to_string()))?
        }
        None => Vec::new(),
    };
    let empty = FieldTable::default();
    let headers = properties.headers().as_ref().unwrap_or(&empty);
    let envelope = Envelope {
        id: required("id")?,
        source: required("source")?,
        kind: required("type")?,
        subject: field("subject"),
        time,
        data_schema: field("dataschema"),
        content_type: field("datacontenttype").unwrap_or_else(|| JSON.to_owned()),
        correlation_id: properties.correlation_id().as_ref().map(|c| c.to_string()),
        traceparent: field("traceparent").or_else(|| plain_header(headers, header::TRACEPARENT)),
        tracestate: field("tracestate").or_else(|| plain_header(headers, header::TRACESTATE)),
        extensions: Vec::new(),
    };
    Ok((envelope, Cow::Owned(data)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Envelope {
        let mut envelope = Envelope::new("instadash.test.v1", "/svc/1");
        envelope.subject = Some("car-7".into());
        envelope.correlation_id = Some("corr".into());
        envelope.traceparent =
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
        envelope
    }

    #[test]
    fn binary_mode_round_trips_through_amqp_properties() {
        let envelope = sample();
        let properties = envelope.to_properties("svc");
        assert_eq!(properties.delivery_mode(), &Some(PERSISTENT));
        assert_eq!(
            properties.message_id().as_ref().map(|m| m.as_str()),
            Some(envelope.id.as_str())
        );
        let (back, body) = Envelope::from_delivery(&properties, b"{}").expect("valid");
        assert_eq!(&*body, b"{}");
        // RFC 3339 keeps the full precision, so the round trip is exact.
        assert_eq!(back, envelope);
    }

    #[test]
    fn accepts_legacy_prefix_and_millisecond_time() {
        let mut headers = FieldTable::default();
        for (k, v) in [
            ("cloudEvents:specversion", "1.0"),
            ("cloudEvents:id", "abc"),
            ("cloudEvents:source", "/java/app"),
            ("cloudEvents:type", "t.v1"),
        ] {
            headers.insert(k.into(), AMQPValue::LongString(v.into()));
        }
        headers.insert(
            "cloudEvents:time".into(),
            AMQPValue::LongLongInt(1_700_000_000_123),
        );
        let properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_headers(headers);
        let (envelope, _) = Envelope::from_delivery(&properties, b"{}").expect("valid");
        assert_eq!(envelope.id, "abc");
        assert_eq!(
            envelope.time.unix_timestamp_nanos(),
            1_700_000_000_123_000_000
        );
    }

    #[test]
    fn structured_mode_yields_the_data_member() {
        let body = br#"{"specversion":"1.0","id":"e1","source":"/x","type":"t.v1",
            "time":"2026-11-21T10:00:00Z","subject":"car-1","data":{"speed":42}}"#;
        let properties = BasicProperties::default().with_content_type(CLOUDEVENTS_JSON.into());
        let (envelope, data) = Envelope::from_delivery(&properties, body).expect("valid");
        assert_eq!(envelope.subject.as_deref(), Some("car-1"));
        assert_eq!(&*data, br#"{"speed":42}"#);
    }

    #[test]
    fn missing_attributes_are_named() {
        let mut properties = sample().to_properties("svc");
        let mut headers = properties.headers().clone().unwrap_or_default();
        let mut inner = headers.inner().clone();
        inner.remove("cloudEvents_type");
        headers = FieldTable::from(inner);
        properties = properties.with_headers(headers);
        let err = Envelope::from_delivery(&properties, b"{}").unwrap_err();
        assert_eq!(err, EnvelopeError::Missing("type"));

        let bare = BasicProperties::default();
        let err = Envelope::from_delivery(&bare, b"{}").unwrap_err();
        assert_eq!(err, EnvelopeError::Missing("specversion"));
    }
}
