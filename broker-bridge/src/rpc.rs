//! The calling side of request/reply: requests go to the service's inbox with RabbitMQ's direct
//! reply-to, answers come back on this connection and are matched by correlation id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Confirmation};
use tokio::sync::oneshot;
use tracing::debug;

use crate::error::{BridgeError, PublishError, RequestError};
use crate::link::{Link, LinkedChannel};
use crate::topology::{DIRECT_REPLY_TO, SERVICES, inbox_queue};

type Waiting = Arc<Mutex<HashMap<String, oneshot::Sender<Delivery>>>>;

/// Direct reply-to requires publishing the request on the channel that consumes the replies.
pub(crate) struct Requester {
    channel: LinkedChannel,
    link: Link,
    waiting: Waiting,
    /// For asking the broker whether a service's inbox has consumers. Asking about a queue that
    /// does not exist closes the channel, so it is kept apart and opened again when needed.
    probe: tokio::sync::Mutex<Option<LinkedChannel>>,
}

impl Requester {
    pub(crate) async fn open(link: Link) -> Result<Self, BridgeError> {
        let channel = link
            .create_channel()
            .await
            .map_err(BridgeError::broker("opening the request channel"))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(BridgeError::broker(
                "enabling confirms on the request channel",
            ))?;
        let replies = channel
            .basic_consume(
                DIRECT_REPLY_TO.into(),
                "replies".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(BridgeError::broker("consuming direct replies"))?;
        let waiting = Waiting::default();
        tokio::spawn(route_replies(replies, waiting.clone()));
        Ok(Self {
            channel,
            link,
            waiting,
            probe: tokio::sync::Mutex::default(),
        })
    }

    /// Fails at once when `service` has no inbox or nothing consumes it, rather than letting the
    /// request wait out its timeout. `Ok` when the broker cannot be asked (the publish decides).
    async fn check_live(&self, service: &str) -> Result<(), RequestError> {
        // The lock covers finding a usable channel, not the question: requests in flight at
        // once ask at once.
        let channel = {
            let mut probe = self.probe.lock().await;
            if probe
                .as_ref()
                .is_none_or(|p| !p.status().connected() || !self.link.is_current(p))
            {
                *probe = self.link.create_channel().await.ok();
            }
            match probe.as_ref() {
                Some(channel) => channel.clone(),
                None => return Ok(()),
            }
        };
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let inbox = inbox_queue(service);
        match channel
            .queue_declare(inbox.as_str().into(), passive, FieldTable::default())
            .await
        {
            Ok(queue) if queue.consumer_count() == 0 => {
                Err(RequestError::NoLiveInstance(service.to_owned()))
            }
            Ok(_) => Ok(()),
            Err(error) => {
                // The broker closed the channel over the question; the next one opens another.
                let missing = matches!(error.kind(), lapin::ErrorKind::ProtocolError(e)
                    if matches!(e.kind(), AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND)));
                if missing {
                    Err(RequestError::NoSuchService(service.to_owned()))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Whether requests can still go out on this channel, now or once lapin recovered it; if
    /// not, a new requester is needed.
    pub(crate) fn usable(&self) -> bool {
        let status = self.channel.status();
        self.link.is_current(&self.channel)
            && (status.connected() || status.reconnecting() || status.initializing())
    }

    /// Sends a request to the inbox of `service` and waits for the delivery that answers it.
    pub(crate) async fn call(
        &self,
        service: &str,
        kind: &str,
        properties: BasicProperties,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<Delivery, RequestError> {
        self.check_live(service).await?;
        let correlation = properties
            .correlation_id()
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_default();
        let (tx, answer) = oneshot::channel();
        self.lock().insert(correlation.clone(), tx);
        let _forget = Forget {
            waiting: &self.waiting,
            correlation: &correlation,
        };
        // A request nobody takes in time is worthless: let the broker drop it when we give up.
        let properties = properties
            .with_reply_to(DIRECT_REPLY_TO.into())
            .with_delivery_mode(1)
            .with_expiration(ShortString::from(timeout.as_millis().to_string()));
        let timed_out = || RequestError::Timeout {
            service: service.to_owned(),
            kind: kind.to_owned(),
            timeout,
        };
        let outcome = tokio::time::timeout(timeout, async {
            loop {
                let publish = self
                    .channel
                    .publish(
                        SERVICES.into(),
                        service.into(),
                        BasicPublishOptions {
                            mandatory: true,
                            immediate: false,
                        },
                        payload,
                        properties.clone(),
                    )
                    .await;
                let error = match publish {
                    Ok(confirm) => match confirm.await {
                        // lapin may hand a return to another request's confirm: only our own
                        // counts. (Ours handed to another request ends as a timeout.)
                        Ok(
                            Confirmation::Ack(Some(returned)) | Confirmation::Nack(Some(returned)),
                        ) if returned
                            .properties
                            .correlation_id()
                            .as_ref()
                            .map(|c| c.as_str())
                            == Some(correlation.as_str()) =>
                        {
                            return Err(RequestError::NoSuchService(service.to_owned()));
                        }
                        Ok(_) => return Ok(()),
                        Err(error) => error,
                    },
                    Err(error) => error,
                };
                if let Some(reply) = crate::publisher::refusal(&error, SERVICES, service) {
                    return Err(RequestError::Publish(PublishError::Refused {
                        exchange: SERVICES.to_owned(),
                        routing_key: service.to_owned(),
                        reply,
                    }));
                }
                debug!(%error, "request not sent; waiting for the connection");
                if let Err(error) = self.link.wait_for_recovery(&self.channel, error).await {
                    return Err(RequestError::Publish(PublishError::Broker(
                        error.to_string(),
                    )));
                }
            }
        })
        .await;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(error),
            Err(_) => return Err(timed_out()),
        }
        tokio::time::timeout(timeout, answer)
            .await
            .map_err(|_| timed_out())?
            .map_err(|_| timed_out())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Delivery>>> {
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Removes a request's slot however the call ends (answer, error, timeout, cancellation).
struct Forget<'a> {
    waiting: &'a Waiting,
    correlation: &'a str,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        waiting.remove(self.correlation);
    }
}

async fn route_replies(mut replies: lapin::Consumer, waiting: Waiting) {
    while let Some(reply) = replies.next().await {
        // Errors come from connection loss; lapin resumes the stream after recovery. Requests in
        // flight then time out, since their reply address died with the old connection.
        let Ok(reply) = reply else { continue };
        let Some(correlation) = reply.properties.correlation_id().as_ref() else {
            continue;
        };
        let slot = waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(correlation.as_str());
        match slot {
            Some(slot) => {
                let _ = slot.send(reply);
            }
            None => debug!(%correlation, "late reply dropped (the caller gave up)"),
        }
    }
}
