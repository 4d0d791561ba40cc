//! broker-bridge: the only code in Instadash that talks to RabbitMQ.
//!
//! A service connects once ([`Bridge::connect`]) and uses the four patterns:
//!
//! | pattern | send | receive |
//! |---|---|---|
//! | publish/subscribe | [`Bridge::publish`] | [`Bridge::subscribe`]`(group).on(..)` |
//! | point-to-point | [`Bridge::send`]`(service, ..)` | [`Bridge::serve`]`().on(..)` |
//! | request/reply | [`Bridge::request`]`(service, ..)` | [`Bridge::serve`]`().answer(..)` |
//! | work queue | [`Bridge::submit`]`(queue, ..)` | [`Bridge::work_queue`]`(queue).on(..)` |
//!
//! Underneath, every message is a CloudEvent ([`envelope`]) with a W3C trace context, published
//! persistent and confirmed, consumed with a prefetch, acknowledged after its handler succeeded,
//! retried and dead-lettered with a reason, and never lost across reconnects. Every instance
//! announces itself and heartbeats ([`discovery`]), and publishes its statistics per interval
//! ([`service_stats`]; [`Bridge::stats_report`] in the process). Each keeps the spans of what it
//! sent and handled and answers an operator's trace view from them ([`span_log`];
//! [`Bridge::ask_trace`]). See ARCHITECTURE.md.

pub mod access;
mod bridge;
pub mod config;
mod consumer;
mod dead_letters;
mod dedup;
pub mod discovery;
pub mod envelope;
pub mod error;
mod link;
mod message;
mod outbox;
pub mod process;
mod publisher;
mod returns;
mod rpc;
pub mod service_stats;
pub mod shutdown;
pub mod span_log;
mod stats;
mod subscription;
pub mod topology;
pub mod trace_context;

#[cfg(feature = "bench")]
pub mod bench;
#[cfg(any(feature = "testing", feature = "bench"))]
pub mod ledger;
#[cfg(feature = "management")]
pub mod management;
#[cfg(feature = "testing")]
pub mod testing;

pub use bridge::{Bridge, DEFAULT_REQUEST_TIMEOUT, QueueDepth};

/// Log directives a service adds to its default filter: lapin logs every returned message in full
/// at `warn`, while the bridge already reports it as [`PublishError::Unroutable`].
pub const QUIET_LOG_DIRECTIVES: &str = "lapin::returned_messages=error";
pub use config::{BridgeArgs, BridgeConfig, ReconnectPolicy, RetryPolicy};
pub use dead_letters::{DeadLetter, Replayed};
pub use discovery::{Directory, Instance, InstanceStatus};
pub use envelope::Envelope;
pub use error::{BridgeError, ConfigError, PublishError, RequestError};
pub use link::LinkState;
pub use message::{Incoming, Message, Payload, RawPayload, Rejection};
pub use publisher::Receipt;
pub use service_stats::ServiceStats;
pub use span_log::{TraceSpans, TraceTarget};
pub use stats::StatsSnapshot;
pub use subscription::Subscription;
pub use topology::QueueKind;
