//! Reading and replaying dead letters: the operator's side of "nothing is lost". A dead letter keeps
//! its original message and gains the reason it failed; once the cause is fixed it can go back to
//! its queue, checked again first, so a message that still fails returns to the dead-letter queue
//! with its new reason instead of looping or vanishing.

use lapin::BasicProperties;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicGetOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use time::OffsetDateTime;

use crate::bridge::Bridge;
use crate::envelope::{self, header};
use crate::error::BridgeError;
use crate::message::{RawPayload, Rejection};
use crate::topology;

/// One message in a dead-letter queue, with why it is there.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The queue it failed in (and goes back to on replay).
    pub queue: String,
    pub id: Option<String>,
    /// Its CloudEvents type, if it had one.
    pub kind: Option<String>,
    pub reason: String,
    pub check: String,
    pub pointer: String,
    pub schema: String,
    pub error: String,
    /// `service/instance` that gave up on it.
    pub rejected_by: String,
    pub dead_lettered_at: String,
    /// Handler attempts before it was dead-lettered (0 if it never reached a handler).
    pub attempts: u32,
    pub content_type: String,
    pub body: Vec<u8>,
    properties: BasicProperties,
}

impl DeadLetter {
    fn from_delivery(queue: &str, delivery: Delivery) -> Self {
        let properties = delivery.properties;
        let headers = properties.headers().as_ref();
        let text = |name: &str| {
            headers
                .and_then(|h| h.inner().get(name))
                .and_then(|v| envelope::header_text(v, "dead-letter header").ok())
                .unwrap_or_default()
        };
        let kind = headers
            .and_then(|h| envelope::ce_header(h, "type"))
            .and_then(|v| envelope::header_text(v, "type").ok());
        let mut reason = text(header::REASON);
        if reason.is_empty() {
            // Dead-lettered by the broker itself, which gives its reason in its own words.
            reason = match text("x-first-death-reason").as_str() {
                "" => "unknown (no reason header)".to_owned(),
                "delivery_limit" => {
                    "redelivered too often (its consumer kept crashing on it)".to_owned()
                }
                other => format!("dead-lettered by the broker: {other}"),
            };
        }
        Self {
            queue: queue.to_owned(),
            id: properties.message_id().as_ref().map(|m| m.to_string()),
            kind,
            reason,
            check: text(header::CHECK),
            pointer: text(header::POINTER),
            schema: text(header::SCHEMA),
            error: text(header::ERROR),
            rejected_by: text(header::REJECTED_BY),
            dead_lettered_at: text(header::DEAD_LETTERED_AT),
            attempts: envelope::header_u32(headers, header::ATTEMPT).unwrap_or(0),
            content_type: properties
                .content_type()
                .as_ref()
                .map(|c| c.to_string())
                .unwrap_or_default(),
            body: delivery.data,
            properties,
        }
    }

    /// The message as a reader sees it, to check it against its contract again.
    pub fn payload(&self) -> RawPayload<'_> {
        let headers = self.properties.headers().as_ref();
        let data_schema = headers
            .and_then(|h| envelope::ce_header(h, "dataschema"))
            .and_then(|v| envelope::header_str(v, "dataschema").ok());
        RawPayload::from_parts(&self.body, &self.content_type, data_schema, headers)
    }
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Replayed {
    /// Sent back to their queue.
    pub replayed: u64,
    /// Failed the check again and went back to the dead-letter queue with the new reason.
    pub rejected_again: u64,
}

/// The bridge's own headers on a dead letter, dropped when it goes back to its queue.
const DEAD_LETTER_HEADERS: [&str; 9] = [
    header::REASON,
    header::ERROR,
    header::CHECK,
    header::POINTER,
    header::SCHEMA,
    header::REJECTED_BY,
    header::SOURCE_QUEUE,
    header::DEAD_LETTERED_AT,
    header::ATTEMPT,
];

impl Bridge {
    /// Up to `limit` dead letters of the consumed queue `queue`, oldest first, left in place.
    pub async fn dead_letters(
        &self,
        queue: &str,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, BridgeError> {
        let dead = topology::dead_letter_queue(queue);
        let channel = self.scratch_channel().await?;
        let mut letters = Vec::new();
        while letters.len() < limit {
            let got = channel
                .basic_get(dead.as_str().into(), BasicGetOptions { no_ack: false })
                .await
                .map_err(BridgeError::broker(format!("reading {dead}")))?;
            let Some(got) = got else { break };
            letters.push(DeadLetter::from_delivery(queue, got.delivery));
        }
        // Closing without acknowledging puts every message back, in its place.
        let _ = channel.close(200, "peeked".into()).await;
        Ok(letters)
    }

    /// Sends the dead letters of `queue` back to it, at most `limit` of them, each first checked by
    /// `check` (e.g. against its schema). One that fails goes back to the dead-letter queue with
    /// the new reason. A dead letter is removed only once its copy is confirmed, so nothing is lost.
    pub async fn replay_dead_letters(
        &self,
        queue: &str,
        limit: u64,
        check: impl Fn(&DeadLetter) -> Result<(), Rejection>,
    ) -> Result<Replayed, BridgeError> {
        let dead = topology::dead_letter_queue(queue);
        let channel = self.scratch_channel().await?;
        let mut report = Replayed::default();
        // Counted at the start: letters rejected again join the end of the same queue.
        let mut left = limit;
        while left > 0 {
            let got = channel
                .basic_get(dead.as_str().into(), BasicGetOptions { no_ack: false })
                .await
                .map_err(BridgeError::broker(format!("reading {dead}")))?;
            let Some(got) = got else { break };
            left = left.min(u64::from(got.message_count) + 1) - 1;
            let acker = got.delivery.acker.clone();
            let letter = DeadLetter::from_delivery(queue, got.delivery);
            let sent = match check(&letter) {
                Ok(()) => {
                    report.replayed += 1;
                    let properties = without_dead_letter_headers(letter.properties.clone());
                    self.send_confirmed("", queue, properties, letter.body.clone())
                        .await
                }
                Err(rejection) => {
                    report.rejected_again += 1;
                    let properties = marked_dead(
                        letter.properties.clone(),
                        &rejection,
                        &self.identity(),
                        queue,
                        letter.attempts,
                    );
                    self.send_confirmed(
                        topology::DEAD_LETTER,
                        queue,
                        properties,
                        letter.body.clone(),
                    )
                    .await
                }
            };
            // Not acknowledged, the letter stays where it is when the channel closes.
            sent.map_err(|e| {
                BridgeError::Setup(format!("replaying a dead letter of {queue}: {e}"))
            })?;
            acker
                .ack(BasicAckOptions::default())
                .await
                .map_err(BridgeError::broker(format!(
                    "removing a replayed letter from {dead}"
                )))?;
        }
        let _ = channel.close(200, "replayed".into()).await;
        Ok(report)
    }
}

fn without_dead_letter_headers(properties: BasicProperties) -> BasicProperties {
    let mut headers = properties.headers().clone().unwrap_or_default();
    let kept: FieldTable = headers
        .inner()
        .iter()
        .filter(|(key, _)| !DEAD_LETTER_HEADERS.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect::<std::collections::BTreeMap<_, _>>()
        .into();
    headers = kept;
    properties.with_headers(headers)
}

/// The properties of a message with why it is dead-lettered added to its headers.
pub(crate) fn marked_dead(
    properties: BasicProperties,
    why: &Rejection,
    by: &str,
    queue: &str,
    attempts: u32,
) -> BasicProperties {
    let mut headers = properties.headers().clone().unwrap_or_default();
    let text = |value: &str| AMQPValue::LongString(LongString::from(value));
    for (name, value) in [
        (header::REASON, text(&why.reason)),
        (header::ERROR, text(&why.detail)),
        (header::CHECK, text(&why.check)),
        (header::POINTER, text(&why.pointer)),
        (
            header::SCHEMA,
            text(why.schema.as_deref().unwrap_or_default()),
        ),
        (header::REJECTED_BY, text(by)),
        (header::SOURCE_QUEUE, text(queue)),
        (header::ATTEMPT, AMQPValue::LongUInt(attempts)),
        (
            header::DEAD_LETTERED_AT,
            text(&envelope::format_time(OffsetDateTime::now_utc())),
        ),
    ] {
        headers.insert(ShortString::from(name), value);
    }
    properties.with_headers(headers)
}
