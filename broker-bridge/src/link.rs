//! The supervised connection: lapin 4 reconnects and replays the topology by itself; this module
//! tunes its backoff (jittered, capped, never giving up), turns its status into one observable
//! [`LinkState`], logs every change, lets publishers and consumers wait for recovery, and replaces
//! the connection when lapin's recovery is stuck.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::uri::AMQPUri;
use lapin::{Channel, Connection, ConnectionProperties};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::config::BridgeConfig;
use crate::error::BridgeError;

/// What a service can see of its connection to the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// First connection attempt under way.
    Connecting,
    /// Publishing and consuming work.
    Connected,
    /// The connection was lost; reconnecting (publishes wait, nothing is dropped).
    Recovering,
    /// Closed for good: shut down, or the broker refused us (bad credentials, unknown vhost).
    Closed,
}

/// The connection to the broker, shared by everything that talks over it, and its observable state.
///
/// lapin recovers a lost connection by itself. Its recovery can get stuck, though, reconnecting
/// forever while the broker answers (amqp-rs/lapin#450), so the link watches it: once recovery takes
/// longer than [`RENEW_AFTER`] and a fresh connection to the broker succeeds, the fresh one replaces
/// it. Users of the link take [`Link::connection`] each time they open a channel, and treat a
/// replaced connection like a lost channel: they open a new one.
#[derive(Clone)]
pub(crate) struct Link {
    shared: Arc<Shared>,
}

struct Shared {
    state: watch::Sender<LinkState>,
    current: watch::Sender<Arc<Connection>>,
    /// The connection's name, `service/instance`, for logs.
    name: String,
    uri: AMQPUri,
    properties: ConnectionProperties,
    /// Connections re-established by lapin's recovery, plus connections replaced.
    reconnects: AtomicU64,
}

/// Recovery that has not succeeded after this long is checked with a fresh connection.
pub(crate) const RENEW_AFTER: Duration = Duration::from_secs(2);
/// How long a fresh connection may take before the broker counts as unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// A stuck recovery gets this long to finish by itself once a fresh connection proved the broker up.
const RENEW_GRACE: Duration = Duration::from_secs(1);

impl Link {
    pub(crate) fn subscribe(&self) -> watch::Receiver<LinkState> {
        self.shared.state.subscribe()
    }

    /// The connection to open channels on.
    pub(crate) fn connection(&self) -> Arc<Connection> {
        self.shared.current.borrow().clone()
    }

    /// Opens a channel on the current connection.
    pub(crate) async fn create_channel(&self) -> Result<LinkedChannel, lapin::Error> {
        let connection = self.connection();
        let channel = connection.create_channel().await?;
        Ok(LinkedChannel {
            channel,
            connection,
        })
    }

    /// Whether `channel` is on the connection in use (not one replaced after a stuck recovery).
    pub(crate) fn is_current(&self, channel: &LinkedChannel) -> bool {
        self.is_current_connection(&channel.connection)
    }

    /// How often the connection came back (lapin's recovery) or was replaced, since connecting.
    pub(crate) fn reconnects(&self) -> u64 {
        self.shared.reconnects.load(Ordering::Relaxed)
    }

    /// Changes the state, logging the change.
    fn set(&self, now: LinkState) {
        let before = self.shared.state.send_replace(now);
        if before == now {
            return;
        }
        let connection = &self.shared.name;
        match now {
            LinkState::Connected if before == LinkState::Recovering => {
                info!(%connection, "broker connection recovered")
            }
            LinkState::Connected => info!(%connection, "broker connection up"),
            LinkState::Recovering => warn!(%connection, "broker connection lost; recovering"),
            LinkState::Closed => info!(%connection, "broker connection closed"),
            LinkState::Connecting => {}
        }
    }

    fn is_current_connection(&self, connection: &Arc<Connection>) -> bool {
        Arc::ptr_eq(&self.shared.current.borrow(), connection)
    }

    pub(crate) fn is_closed(&self) -> bool {
        *self.shared.state.borrow() == LinkState::Closed
    }

    /// Records a deliberate close at once, rather than when the status is next polled.
    pub(crate) fn closed(&self) {
        self.set(LinkState::Closed);
    }

    /// After `error` on `channel`: waits until lapin has recovered the channel. Returns the error
    /// when waiting cannot help: the connection is closed for good or was replaced, or only this
    /// channel died. The caller then opens a new channel on [`Link::connection`] if it wants one.
    pub(crate) async fn wait_for_recovery(
        &self,
        channel: &LinkedChannel,
        error: lapin::Error,
    ) -> Result<(), lapin::Error> {
        let error = tokio::select! {
            outcome = channel.wait_for_recovery(error) => match outcome {
                Ok(()) => return Ok(()),
                Err(error) => error,
            },
            () = self.replaced(channel) => return Err(replaced_connection()),
        };
        // lapin has no recovery notifier for errors raised before recovery started; our own view
        // of the connection decides whether to wait.
        let mut state = self.shared.state.subscribe();
        loop {
            if !self.is_current(channel) {
                return Err(error);
            }
            let link = *state.borrow_and_update();
            let channel_status = channel.status();
            match link {
                LinkState::Closed => return Err(error),
                LinkState::Connected if channel_status.connected() => return Ok(()),
                LinkState::Connected
                    if !channel_status.reconnecting() && !channel_status.initializing() =>
                {
                    return Err(error);
                }
                _ => {}
            }
            // The channel may come back without the link state changing; look again soon.
            let _ = tokio::time::timeout(Duration::from_millis(50), state.changed()).await;
        }
    }

    /// Completes once `channel`'s connection has been replaced. Anything awaited on a channel of
    /// a stuck connection may never complete by itself: race it against this.
    pub(crate) async fn replaced(&self, channel: &LinkedChannel) {
        let mut current = self.shared.current.subscribe();
        let _ = current
            .wait_for(|c| !Arc::ptr_eq(c, &channel.connection))
            .await;
    }

    /// Replaces the connection with a fresh one, as after a stuck recovery. The old connection is
    /// closed once it can be, so nothing stays consumed on it.
    #[cfg(feature = "testing")]
    pub(crate) async fn renew(&self) -> Result<(), BridgeError> {
        let fresh = self.open().await?;
        self.replace(fresh);
        Ok(())
    }

    async fn open(&self) -> Result<Connection, BridgeError> {
        Connection::connect_uri(self.shared.uri.clone(), self.shared.properties.clone())
            .await
            .map_err(BridgeError::broker("connecting to the broker"))
    }

    fn replace(&self, fresh: Connection) {
        let fresh = Arc::new(fresh);
        self.shared.reconnects.fetch_add(1, Ordering::Relaxed);
        let old = self.shared.current.send_replace(fresh.clone());
        tokio::spawn(follow_state(self.clone(), fresh));
        tokio::spawn(close_when_possible(old));
    }

    /// Called while recovery is taking long: if a fresh connection succeeds and the old one is
    /// still not back shortly after, the fresh one takes over.
    async fn renew_if_stuck(&self, stuck: &Arc<Connection>) {
        let Ok(Ok(fresh)) = tokio::time::timeout(PROBE_TIMEOUT, self.open()).await else {
            return; // the broker is still unreachable: lapin's recovery is right to wait
        };
        let deadline = tokio::time::Instant::now() + RENEW_GRACE;
        while tokio::time::Instant::now() < deadline {
            if stuck.status().connected() {
                let _ = fresh.close(200, "not needed".into()).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        error!(
            connection = %self.shared.name,
            "the broker answers but the connection's recovery is stuck (amqp-rs/lapin#450); \
             replacing the connection"
        );
        self.replace(fresh);
    }
}

/// A channel and the connection it was opened on, so that waiting on it can tell when that
/// connection was replaced.
#[derive(Clone)]
pub(crate) struct LinkedChannel {
    channel: Channel,
    connection: Arc<Connection>,
}

impl std::ops::Deref for LinkedChannel {
    type Target = Channel;
    fn deref(&self) -> &Channel {
        &self.channel
    }
}

/// What waiting on a channel of a replaced connection ends with.
pub(crate) fn replaced_connection() -> lapin::Error {
    lapin::ErrorKind::InvalidConnectionState(lapin::ConnectionState::Closed).into()
}

/// A replaced connection may still recover later and would then consume again: close it as soon
/// as it is connected, or let it go once it is closed.
async fn close_when_possible(old: Arc<Connection>) {
    loop {
        let status = old.status();
        if status.connected() {
            let _ = old.close(200, "replaced".into()).await;
            return;
        }
        if status.closed() || status.errored() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Opens the connection with recovery enabled. The first attempt retries with the same backoff
/// as a recovery, so a service started before the broker simply waits for it.
pub(crate) async fn connect(config: &BridgeConfig) -> Result<Link, BridgeError> {
    let mut uri: AMQPUri = config
        .amqp_url
        .parse()
        .map_err(|e: String| BridgeError::Setup(format!("invalid AMQP URL: {e}")))?;
    if uri.query.heartbeat.is_none() {
        uri.query.heartbeat = Some(config.heartbeat_secs);
    }
    let policy = config.reconnect;
    let name = format!("{}/{}", config.service, config.instance);
    let properties = ConnectionProperties::default()
        .with_connection_name(name.as_str().into())
        .configure_backoff(move |backoff| {
            backoff
                .with_min_delay(policy.min_delay)
                .with_max_delay(policy.max_delay)
                .with_jitter()
                .without_max_times()
        })
        .enable_auto_recover();
    info!(url = %config.redacted_url(), service = %config.service, "connecting to the broker");
    let connection = Connection::connect_uri(uri.clone(), properties.clone())
        .await
        .map_err(BridgeError::broker(format!(
            "connecting to {}",
            config.redacted_url()
        )))?;
    let connection = Arc::new(connection);
    let link = Link {
        shared: Arc::new(Shared {
            state: watch::Sender::new(LinkState::Connecting),
            current: watch::Sender::new(connection.clone()),
            name,
            uri,
            properties,
            reconnects: AtomicU64::new(0),
        }),
    };
    tokio::spawn(follow_state(link.clone(), connection));
    Ok(link)
}

/// Keeps the [`LinkState`] in step with lapin's status of `connection`, logging each change, for as
/// long as it is the link's connection. Events wake it at once; a slow tick catches transitions
/// lapin reports no event for.
async fn follow_state(link: Link, connection: Arc<Connection>) {
    let status = connection.status().clone();
    let mut events = Box::pin(connection.events_listener());
    let state = &link.shared.state;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut stall = Stall::default();
    while link.is_current_connection(&connection) {
        let now = if status.connected() {
            LinkState::Connected
        } else if status.reconnecting() {
            LinkState::Recovering
        } else if status.closing() || status.closed() || status.errored() {
            // lapin passes through an error state on its way to reconnecting; only a status
            // that stays closed is final.
            tokio::time::sleep(Duration::from_millis(300)).await;
            if status.connected() || status.reconnecting() || status.connecting() {
                continue;
            }
            LinkState::Closed
        } else if *state.borrow() == LinkState::Connecting {
            LinkState::Connecting
        } else {
            LinkState::Recovering
        };
        if !link.is_current_connection(&connection) {
            return;
        }
        link.set(now);
        if now == LinkState::Closed {
            return;
        }
        if stall.watch(now) {
            link.renew_if_stuck(&connection).await;
            continue;
        }
        tokio::select! {
            event = events.next() => {
                // The listener exists only after the first connection was open, so every
                // `Connected` it hears is a recovery.
                if let Some(lapin::Event::Connected) = event {
                    link.shared.reconnects.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ = tick.tick() => {}
        }
    }
}

/// How long recovery has been going on, and when to check it with a fresh connection.
#[derive(Default)]
struct Stall {
    since: Option<std::time::Instant>,
    last_probe: Option<std::time::Instant>,
}

/// Between two fresh-connection checks while the broker stays unreachable.
const PROBE_EVERY: Duration = Duration::from_millis(500);

impl Stall {
    /// Whether recovery has taken long enough to check whether it is stuck.
    fn watch(&mut self, now: LinkState) -> bool {
        if now != LinkState::Recovering {
            *self = Stall::default();
            return false;
        }
        let since = *self.since.get_or_insert_with(std::time::Instant::now);
        let due = since.elapsed() >= RENEW_AFTER
            && self.last_probe.is_none_or(|at| at.elapsed() >= PROBE_EVERY);
        if due {
            self.last_probe = Some(std::time::Instant::now());
        }
        due
    }
}
