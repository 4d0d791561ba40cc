//! Typed messages: what a service author declares to put a Rust type on the bus.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::envelope::Envelope;

/// A Rust type that travels on the bus as a CloudEvent with a JSON payload.
///
/// ```
/// # use serde::{Deserialize, Serialize};
/// #[derive(Serialize, Deserialize)]
/// struct Ping { n: u32 }
/// impl broker_bridge::Message for Ping {
///     const TYPE: &'static str = "instadash.example.ping.v1";
/// }
/// ```
pub trait Message: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The CloudEvents `type`: reverse-DNS-like, dot-separated, ending in the schema version.
    const TYPE: &'static str;

    /// The entity the event is about (e.g. a vehicle id). It becomes the CloudEvents `subject` and
    /// the last word of the routing key, so subscribers can bind to one entity.
    fn subject(&self) -> Option<String> {
        None
    }
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

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    serde_json::to_vec(value).map_err(|e| e.to_string())
}

pub(crate) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| e.to_string())
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
        assert_eq!(routing_key("a.b.v1", Some("car-1")), "a.b.v1.car-1");
        assert_eq!(routing_key("a.v1", Some("x.y#*")), "a.v1.x_y__");
        assert_eq!(routing_key("a.v1", None), "a.v1._");
    }
}
