//! The supervised connection: lapin 4 reconnects and replays the topology by itself; this module
//! tunes its backoff (jittered, capped, never giving up), turns its status into one observable
//! [`LinkState`], logs every change, and lets publishers and consumers wait for recovery.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::uri::AMQPUri;
use lapin::{Channel, Connection, ConnectionProperties, ConnectionStatus};
use tokio::sync::watch;
use tracing::{info, warn};

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

/// A cheap handle on the link state, shared by everything that talks over the connection.
#[derive(Clone)]
pub(crate) struct Link {
    state: Arc<watch::Sender<LinkState>>,
}

impl Link {
    pub(crate) fn subscribe(&self) -> watch::Receiver<LinkState> {
        self.state.subscribe()
    }

    /// Records a deliberate close at once, rather than when the status is next polled.
    pub(crate) fn closed(&self) {
        set(&self.state, LinkState::Closed);
    }

    /// After `error` on `channel`: waits until lapin has recovered the channel. Returns the error
    /// when waiting cannot help (the connection is closed for good, or only this channel died).
    pub(crate) async fn wait_for_recovery(
        &self,
        channel: &Channel,
        error: lapin::Error,
    ) -> Result<(), lapin::Error> {
        let Err(error) = channel.wait_for_recovery(error).await else {
            return Ok(());
        };
        // lapin has no recovery notifier for errors raised before recovery started; our own view
        // of the connection decides whether to wait.
        let mut state = self.state.subscribe();
        loop {
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
}

/// Opens the connection with recovery enabled. The first attempt retries with the same backoff
/// as a recovery, so a service started before the broker simply waits for it.
pub(crate) async fn connect(config: &BridgeConfig) -> Result<(Connection, Link), BridgeError> {
    let mut uri: AMQPUri = config
        .amqp_url
        .parse()
        .map_err(|e: String| BridgeError::Setup(format!("invalid AMQP URL: {e}")))?;
    if uri.query.heartbeat.is_none() {
        uri.query.heartbeat = Some(config.heartbeat_secs);
    }
    let policy = config.reconnect;
    let properties = ConnectionProperties::default()
        .with_connection_name(format!("{}/{}", config.service, config.instance).into())
        .configure_backoff(move |backoff| {
            backoff
                .with_min_delay(policy.min_delay)
                .with_max_delay(policy.max_delay)
                .with_jitter()
                .without_max_times()
        })
        .enable_auto_recover();
    let state = Arc::new(watch::Sender::new(LinkState::Connecting));
    info!(url = %config.redacted_url(), service = %config.service, "connecting to the broker");
    let connection = Connection::connect_uri(uri, properties)
        .await
        .map_err(BridgeError::broker(format!(
            "connecting to {}",
            config.redacted_url()
        )))?;
    tokio::spawn(follow_state(
        connection.status().clone(),
        connection.events_listener(),
        state.clone(),
    ));
    Ok((connection, Link { state }))
}

/// Keeps the [`LinkState`] in step with lapin's connection status, logging each change. Events
/// wake it at once; a slow tick catches transitions lapin reports no event for.
async fn follow_state(
    status: ConnectionStatus,
    events: impl futures_util::Stream<Item = lapin::Event>,
    state: Arc<watch::Sender<LinkState>>,
) {
    let mut events = Box::pin(events);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut stall = Stall::default();
    loop {
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
        set(&state, now);
        stall.watch(now);
        if now == LinkState::Closed {
            return;
        }
        tokio::select! {
            _ = events.next() => {}
            _ = tick.tick() => {}
        }
    }
}

/// Changes the state, logging the change.
fn set(state: &watch::Sender<LinkState>, now: LinkState) {
    let before = state.send_replace(now);
    if before == now {
        return;
    }
    match now {
        LinkState::Connected if before == LinkState::Recovering => {
            info!("broker connection recovered")
        }
        LinkState::Connected => info!("broker connection up"),
        LinkState::Recovering => warn!("broker connection lost; recovering"),
        LinkState::Closed => info!("broker connection closed"),
        LinkState::Connecting => {}
    }
}

/// Recovery that takes much longer than the backoff explains is worth an operator's attention:
/// either the broker is still down, or lapin's recovery is stuck (amqp-rs/lapin#450).
#[derive(Default)]
struct Stall {
    since: Option<std::time::Instant>,
    reported: bool,
}

const STALL_REPORT_AFTER: Duration = Duration::from_secs(30);

impl Stall {
    fn watch(&mut self, now: LinkState) {
        if now != LinkState::Recovering {
            *self = Stall::default();
            return;
        }
        let since = *self.since.get_or_insert_with(std::time::Instant::now);
        if !self.reported && since.elapsed() >= STALL_REPORT_AFTER {
            self.reported = true;
            tracing::error!(
                after = ?STALL_REPORT_AFTER,
                "broker connection still recovering; if the broker is up, the client's recovery \
                 is stuck: restart this service"
            );
        }
    }
}
