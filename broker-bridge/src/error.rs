//! The errors a service can get from the bridge, each saying what went wrong in words an operator
//! can act on.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    /// A file a setting names (password file, TLS file) that cannot be used; says why, never
    /// what is in it.
    #[error("cannot use {what} {path}: {reason}")]
    File {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("invalid setting `{field}`: {reason}")]
    Invalid { field: &'static str, reason: String },
}

/// Why a publish did not (or may not have) reached a queue.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PublishError {
    #[error(
        "no queue is bound for `{routing_key}` on exchange `{exchange}` (returned by the broker: {reply})"
    )]
    Unroutable {
        exchange: String,
        routing_key: String,
        reply: String,
    },
    #[error("no service named `{0}` exists on this broker (nothing has ever served that name)")]
    NoSuchService(String),
    #[error("message of {size} bytes is over the limit of {limit} bytes; not sent")]
    TooLarge { size: usize, limit: usize },
    #[error("`{kind}` not sent: it breaks its contract: {rejection}")]
    Invalid {
        kind: &'static str,
        rejection: Box<crate::message::Rejection>,
    },
    /// The broker refused the publish (its user may not write to that exchange or routing key):
    /// a matter of configuration, so it is not tried again.
    #[error(
        "the broker refused to take `{routing_key}` on exchange `{exchange}`: {reply} \
         (check this service's broker user and permissions)"
    )]
    Refused {
        exchange: String,
        routing_key: String,
        reply: String,
    },
    #[error("the bridge is shut down; message not sent")]
    ShutDown,
    #[error("broker error: {0}")]
    Broker(String),
}

/// Why a request got no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RequestError {
    #[error("no service named `{0}` exists on this broker (nothing has ever served that name)")]
    NoSuchService(String),
    #[error(
        "service `{0}` has no live instance (its inbox exists, but no instance is taking requests)"
    )]
    NoLiveInstance(String),
    #[error("service `{service}` did not answer `{kind}` within {timeout:?}")]
    Timeout {
        service: String,
        kind: String,
        timeout: Duration,
    },
    #[error("service `{service}` failed to handle `{kind}`: {message}")]
    Remote {
        service: String,
        kind: String,
        message: String,
    },
    #[error("cannot decode the answer of `{service}`: {message}")]
    Decode { service: String, message: String },
    #[error(transparent)]
    Publish(#[from] PublishError),
}

/// Errors when setting the bridge up: connecting, declaring topology, starting consumers.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("broker: {context}: {source}")]
    Broker {
        context: String,
        source: lapin::Error,
    },
    /// TLS with the broker failed: its certificate is not trusted, or it refused ours.
    #[error("TLS with the broker at {url} failed: {reason} ({hint})")]
    Tls {
        url: String,
        reason: String,
        hint: &'static str,
    },
    #[error("{0}")]
    Setup(String),
    /// A message the bridge sends on its own behalf (e.g. a trace query) could not be sent.
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("`{0}` is not a trace id (32 lowercase hex digits, not all zero)")]
    InvalidTraceId(String),
}

impl BridgeError {
    pub(crate) fn broker(context: impl Into<String>) -> impl FnOnce(lapin::Error) -> Self {
        let context = context.into();
        move |source| BridgeError::Broker { context, source }
    }
}
