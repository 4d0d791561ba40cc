//! Test support for service authors (cargo feature `testing`): every test gets a throw-away vhost on
//! the real broker, can cut its connections, look into queues, start a private broker node, and
//! wait for what its handlers receive.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use broker_bridge::testing::{Received, TestVhost};
//! let vhost = TestVhost::create().await?;            // deleted again when dropped
//! let bridge = vhost.connect("my-service").await?;   // a Bridge inside that vhost
//! let received = Received::<String>::new();
//! // ... start a subscription whose handler calls `received.push(..)`, publish ...
//! let first = received.next(std::time::Duration::from_secs(5)).await?;
//! # Ok(()) }
//! ```
//!
//! Environment: `AMQP_URL` names the broker (default `amqp://guest:guest@127.0.0.1:5672/%2f`),
//! `RABBITMQ_MANAGEMENT_URL` its management API (default `http://guest:guest@127.0.0.1:15672`,
//! enabled by `deploy/setup-broker.sh`).

pub mod cluster;
pub mod private_node;
pub use cluster::PrivateCluster;
pub mod proxy;
pub use proxy::FaultProxy;

use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use tokio::sync::{Mutex, mpsc};

use crate::config::{BridgeConfig, DEFAULT_AMQP_URL};
pub use crate::management::QueueInfo;
use crate::management::{Management, enc, with_vhost};
use crate::{Bridge, RetryPolicy};

pub use private_node::{PrivateNode, TlsFiles};

/// A vhost of its own for one test, with full permissions for the broker user; deleted with
/// everything in it when dropped.
pub struct TestVhost {
    name: String,
    amqp_url: String,
    api: Management,
}

/// A message read from a queue through the management API (left in the queue).
#[derive(Debug, Clone, Deserialize)]
pub struct PeekedMessage {
    pub payload: String,
    pub properties: serde_json::Value,
}

impl PeekedMessage {
    /// A header's value as text, e.g. `x-instadash-reason` of a dead letter.
    pub fn header(&self, name: &str) -> Option<String> {
        let value = self.properties.get("headers")?.get(name)?;
        Some(match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }
}

impl TestVhost {
    pub async fn create() -> anyhow::Result<Self> {
        let base = std::env::var("AMQP_URL").unwrap_or_else(|_| DEFAULT_AMQP_URL.to_owned());
        let api = Management::from_env()?;
        let name = format!("instadash-test-{}", uuid::Uuid::new_v4().simple());
        let amqp_url = with_vhost(&base, &name)?;
        let (vhost, client) = (name.clone(), api.clone());
        blocking(move || client.create_vhost(&vhost))
            .await
            .context(
                "creating a test vhost (is the management plugin on? run deploy/setup-broker.sh)",
            )?;
        Ok(Self {
            name,
            amqp_url,
            api,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn amqp_url(&self) -> &str {
        &self.amqp_url
    }

    /// A configuration for `service` in this vhost with test-friendly timings: quick retries and
    /// reconnects, so failure paths finish in well under a second.
    pub fn config(&self, service: &str) -> BridgeConfig {
        let mut config = BridgeConfig::new(service);
        config.amqp_url = self.amqp_url.clone();
        config.retry = RetryPolicy {
            attempts: 3,
            delay: Duration::from_millis(200),
        };
        config
    }

    /// A bridge for `service` connected to this vhost.
    pub async fn connect(&self, service: &str) -> anyhow::Result<Bridge> {
        Ok(Bridge::connect(self.config(service)).await?)
    }

    /// Has the broker close every client connection in this vhost, as an operator or a network
    /// failure would. The management API lists a new connection only after a moment, so this
    /// waits (up to 10 s) until at least `at_least` are listed. Returns how many were closed.
    pub async fn close_connections(&self, at_least: usize) -> anyhow::Result<usize> {
        let (api, vhost) = (self.api.clone(), self.name.clone());
        blocking(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            let connections = loop {
                let connections: Vec<Named> =
                    api.get(&format!("/api/vhosts/{}/connections", enc(&vhost)))?;
                if connections.len() >= at_least || std::time::Instant::now() >= deadline {
                    break connections;
                }
                std::thread::sleep(Duration::from_millis(100));
            };
            for connection in &connections {
                // A connection may be gone already; that is what we wanted.
                let _ = api.delete(&format!("/api/connections/{}", enc(&connection.name)));
            }
            Ok(connections.len())
        })
        .await
    }

    pub async fn queue(&self, queue: &str) -> anyhow::Result<QueueInfo> {
        let (api, path) = (self.api.clone(), self.queue_path(queue));
        blocking(move || api.get(&path)).await
    }

    pub async fn queues(&self) -> anyhow::Result<Vec<QueueInfo>> {
        let (api, vhost) = (self.api.clone(), self.name.clone());
        blocking(move || api.get(&format!("/api/queues/{}", enc(&vhost)))).await
    }

    /// Deletes `queue` behind its consumers' backs, as an operator (or a failover) might.
    pub async fn delete_queue(&self, queue: &str) -> anyhow::Result<()> {
        let (api, path) = (self.api.clone(), self.queue_path(queue));
        blocking(move || api.delete(&path)).await
    }

    /// Reads up to `count` messages from `queue` without removing them.
    pub async fn peek(&self, queue: &str, count: usize) -> anyhow::Result<Vec<PeekedMessage>> {
        let (api, path) = (self.api.clone(), format!("{}/get", self.queue_path(queue)));
        blocking(move || {
            api.post(
                &path,
                serde_json::json!({"count": count, "ackmode": "ack_requeue_true", "encoding": "auto"}),
            )
        })
        .await
    }

    /// Waits until `queue` holds exactly `messages` messages (as the broker's statistics see it).
    pub async fn wait_for_depth(
        &self,
        queue: &str,
        messages: u64,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let depth = self
                .queue(queue)
                .await
                .map(|q| q.messages)
                .unwrap_or(u64::MAX);
            if depth == messages {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "queue {queue} holds {depth} messages, expected {messages} within {timeout:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn queue_path(&self, queue: &str) -> String {
        format!("/api/queues/{}/{}", enc(&self.name), enc(queue))
    }
}

impl Drop for TestVhost {
    fn drop(&mut self) {
        let (api, vhost) = (self.api.clone(), self.name.clone());
        // Drop may run inside the runtime; do the blocking call on a thread of its own.
        let cleanup = std::thread::spawn(move || api.delete_vhost(&vhost));
        if let Ok(Err(error)) = cleanup.join() {
            eprintln!("could not delete test vhost {}: {error:#}", self.name);
        }
    }
}

/// Collects what handlers receive, for a test to wait on.
pub struct Received<T> {
    tx: mpsc::UnboundedSender<T>,
    rx: Mutex<mpsc::UnboundedReceiver<T>>,
}

impl<T: Send + 'static> Default for Received<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Send + 'static> Received<T> {
    pub fn new() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            tx,
            rx: Mutex::new(rx),
        }
    }

    /// Records one item (call it from a handler).
    pub fn push(&self, item: T) {
        let _ = self.tx.send(item);
    }

    /// A sender to move into a handler closure.
    pub fn sender(&self) -> mpsc::UnboundedSender<T> {
        self.tx.clone()
    }

    /// The next item, or an error saying nothing came within `timeout`.
    pub async fn next(&self, timeout: Duration) -> anyhow::Result<T> {
        let mut rx = self.rx.lock().await;
        match tokio::time::timeout(timeout, rx.recv()).await {
            Ok(Some(item)) => Ok(item),
            Ok(None) => bail!("all senders dropped"),
            Err(_) => bail!("nothing received within {timeout:?}"),
        }
    }

    /// Asserts nothing more arrives within `quiet`.
    pub async fn expect_nothing(&self, quiet: Duration) -> anyhow::Result<()> {
        let mut rx = self.rx.lock().await;
        match tokio::time::timeout(quiet, rx.recv()).await {
            Err(_) | Ok(None) => Ok(()),
            Ok(Some(_)) => bail!("received something unexpected within {quiet:?}"),
        }
    }
}

pub use crate::ledger::{Ledger, LedgerReport};

/// Polls `condition` until it holds or `timeout` passes.
pub async fn wait_until(
    what: &str,
    timeout: Duration,
    mut condition: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    while !condition() {
        if tokio::time::Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(f).await?
}
