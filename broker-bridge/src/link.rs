//! The supervised connection: lapin 4 reconnects and replays the topology by itself; this module
//! tunes its backoff (jittered, capped, never giving up), turns its status into one observable
//! [`LinkState`], logs every change, lets publishers and consumers wait for recovery, and replaces
//! the connection when lapin's recovery is stuck. Every connection it opens (the first one, lapin's
//! reconnects, a replacement) goes through one [`Dialer`], so all of them use the same TLS settings.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::BasicPublishOptions;
use lapin::tcp::{AMQPUriTcpExt, OwnedIdentity, OwnedTLSConfig};
use lapin::types::ShortString;
use lapin::uri::{AMQPScheme, AMQPUri};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, PublisherConfirm};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::config::{BridgeConfig, TlsMaterial};
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
    dialer: Dialer,
    /// Connections re-established by lapin's recovery, plus connections replaced.
    reconnects: AtomicU64,
    /// A check of a connection that may not answer is under way ([`Link::check_alive`]).
    checking: AtomicBool,
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
        // A connection the broker holds back (flow control) answers only once it reads again.
        let channel = tokio::select! {
            channel = connection.create_channel() => channel?,
            () = self.connection_replaced(&connection) => return Err(replaced_connection()),
        };
        Ok(LinkedChannel {
            channel,
            connection,
            publishing: Arc::default(),
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
        self.connection_replaced(&channel.connection).await;
    }

    async fn connection_replaced(&self, connection: &Arc<Connection>) {
        let mut current = self.shared.current.subscribe();
        let _ = current.wait_for(|c| !Arc::ptr_eq(c, connection)).await;
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
        self.shared.dialer.open().await
    }

    fn replace(&self, fresh: Connection) {
        let fresh = Arc::new(fresh);
        self.shared.reconnects.fetch_add(1, Ordering::Relaxed);
        let old = self.shared.current.send_replace(fresh.clone());
        tokio::spawn(follow_state(self.clone(), fresh));
        tokio::spawn(close_when_possible(old));
    }

    /// Called when something on `channel` is overdue (a confirm): checks that its connection, if
    /// lapin still reports it up, answers. One that does not answer and has read nothing for a
    /// heartbeat interval is replaced if a fresh connection to the broker works: lapin can leave a
    /// connection "connected" that no longer reads or writes (seen after a heartbeat timeout
    /// right after a recovery, once the broker was thawed). A broker that answers nobody (frozen)
    /// is left to the heartbeats, a connection the broker holds back to its flow control.
    pub(crate) fn check_alive(&self, channel: &LinkedChannel) {
        let connection = channel.connection.clone();
        if !self.is_current_connection(&connection) || !connection.status().connected() {
            return; // lapin's recovery and the stall watch look after it
        }
        if self.shared.checking.swap(true, Ordering::AcqRel) {
            return;
        }
        let link = self.clone();
        tokio::spawn(async move {
            link.replace_if_silent(&connection).await;
            link.shared.checking.store(false, Ordering::Release);
        });
    }

    async fn replace_if_silent(&self, connection: &Arc<Connection>) {
        // Opening a channel takes a round trip through lapin's machinery and the broker.
        match tokio::time::timeout(PROBE_TIMEOUT, connection.create_channel()).await {
            Ok(Ok(probe)) => {
                let _ = tokio::time::timeout(PROBE_TIMEOUT, probe.close(200, "probe".into())).await;
                return;
            }
            Ok(Err(_)) if !connection.status().connected() => return, // recovering after all
            _ => {}
        }
        if !self.is_current_connection(connection) || still_reading(connection) {
            return;
        }
        let Ok(Ok(fresh)) = tokio::time::timeout(PROBE_TIMEOUT, self.open()).await else {
            return; // the broker does not answer either: the heartbeats will tell
        };
        error!(
            connection = %self.shared.name,
            "the connection is reported up but does not answer while the broker does; \
             replacing it"
        );
        self.replace(fresh);
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

/// Whether lapin still reads from `connection`'s socket: the broker sends a heartbeat at least
/// every half interval, so a connection that read within the interval is alive even though it
/// does not answer. It is the broker that does not read it: flow control, as when the leader of a
/// quorum queue its channels publish to is unreachable (the broker stops reading the whole
/// connection until the queue takes messages again). Replacing it would not help: the new one
/// publishes to the same queue.
fn still_reading(connection: &Connection) -> bool {
    match connection.configuration().heartbeat() {
        0 => false, // no heartbeats: no way to tell
        interval => connection.since_last_read() < Duration::from_secs(interval.into()),
    }
}

/// A channel and the connection it was opened on, so that waiting on it can tell when that
/// connection was replaced.
#[derive(Clone)]
pub(crate) struct LinkedChannel {
    channel: Channel,
    connection: Arc<Connection>,
    /// Held while a publish on this channel takes its number and queues its frames.
    publishing: Arc<Mutex<()>>,
}

impl LinkedChannel {
    /// `basic_publish`, numbered in the order the frames go out.
    ///
    /// lapin takes a publish's delivery tag (by which its confirm is matched) and queues its
    /// frames in two steps. Two publishes on one channel from two threads can interleave between
    /// the steps: the broker then numbers them the other way round, one publish is reported
    /// confirmed when the broker confirmed the other, and a return goes to the wrong one. Both
    /// steps happen in the future's first poll, so that poll is taken under a lock; the rest
    /// (waiting for the frames to be written) runs unlocked.
    pub(crate) async fn publish(
        &self,
        exchange: ShortString,
        routing_key: ShortString,
        options: BasicPublishOptions,
        payload: &[u8],
        properties: BasicProperties,
    ) -> Result<PublisherConfirm, lapin::Error> {
        let mut publish = std::pin::pin!(self.channel.basic_publish(
            exchange,
            routing_key,
            options,
            payload,
            properties
        ));
        {
            let _in_order = self.publishing.lock().unwrap_or_else(|e| e.into_inner());
            let mut first_poll = Context::from_waker(Waker::noop());
            if let Poll::Ready(published) = publish.as_mut().poll(&mut first_poll) {
                return published;
            }
        }
        publish.await
    }
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
/// as a recovery, so a service started before the broker simply waits for it; a TLS failure
/// (an untrusted broker certificate, a refused client certificate) ends it at once instead, since
/// waiting cannot mend a configuration.
pub(crate) async fn connect(config: &BridgeConfig) -> Result<Link, BridgeError> {
    let mut uri: AMQPUri = config
        .amqp_url
        .parse()
        .map_err(|e: String| BridgeError::Setup(format!("invalid AMQP URL: {e}")))?;
    if uri.query.heartbeat.is_none() {
        uri.query.heartbeat = Some(config.heartbeat_secs);
    }
    let tls = match config.tls_files()? {
        Some(material) if uri.scheme == AMQPScheme::AMQPS => tls_config(material),
        // validate() refuses TLS files with amqp://; a config built by hand gets the same answer.
        Some(_) => {
            return Err(BridgeError::Config(crate::error::ConfigError::Invalid {
                field: "amqp_url",
                reason: "TLS files need an amqps:// URL".to_owned(),
            }));
        }
        None => OwnedTLSConfig::default(),
    };
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
    let dialer = Dialer {
        uri,
        properties,
        tls: Arc::new(tls),
        shown_url: config.redacted_url(),
        name: name.clone(),
    };
    info!(url = %config.redacted_url(), service = %config.service, "connecting to the broker");
    let connection = Arc::new(dialer.open().await?);
    let link = Link {
        shared: Arc::new(Shared {
            state: watch::Sender::new(LinkState::Connecting),
            current: watch::Sender::new(connection.clone()),
            name,
            dialer,
            reconnects: AtomicU64::new(0),
            checking: AtomicBool::new(false),
        }),
    };
    tokio::spawn(follow_state(link.clone(), connection));
    Ok(link)
}

/// lapin's TLS settings from the checked files: the CA certificates are trusted on top of the
/// system's roots (lapin's rustls build verifies through the platform verifier, which always
/// includes them), and the client identity is handed over as PEM, which lapin reads as PKCS#8,
/// PKCS#1 or SEC1.
fn tls_config(material: TlsMaterial) -> OwnedTLSConfig {
    OwnedTLSConfig {
        cert_chain: material.ca_pem,
        identity: material.client.map(|client| OwnedIdentity::PKCS8 {
            pem: client.chain_pem,
            key: client.key_pem,
        }),
    }
}

/// Opens connections to the broker: the URI, lapin's properties and the TLS settings, the same for
/// every connection of a link. lapin keeps the dialling closure of each connection and calls it
/// again for each reconnect, so recovery uses the same TLS settings too.
struct Dialer {
    uri: AMQPUri,
    properties: ConnectionProperties,
    /// Holds the client's private key: never `Debug`-printed or logged.
    tls: Arc<OwnedTLSConfig>,
    /// The URL with its password hidden, for errors.
    shown_url: String,
    /// The connection's name, for logs.
    name: String,
}

/// One connection's dialling, shared between [`Dialer::open`] and the closure lapin calls for
/// every (re)connect attempt of that connection.
#[derive(Default)]
struct Attempt {
    /// The first TLS failure before the connection was first open; `open` waits on it.
    tls_failure: watch::Sender<Option<String>>,
    /// The caller gave up before the connection opened: lapin's loop, which would otherwise retry
    /// forever and connect later to no one's benefit, is parked instead.
    abandoned: AtomicBool,
    /// The last TLS failure logged, so that a reconnect loop logs each new reason once.
    last_logged: Mutex<Option<String>>,
    /// A dialling attempt got through its TLS handshake (or plain TCP connect).
    handshake_done: AtomicBool,
}

impl Attempt {
    /// Records a TLS failure of one dialling attempt.
    fn tls_failed(&self, name: &str, error: &io::Error) {
        let reason = error.to_string();
        self.tls_failure.send_if_modified(|failure| {
            if failure.is_some() {
                return false;
            }
            *failure = Some(reason.clone());
            true
        });
        let mut last = self.last_logged.lock().unwrap_or_else(|e| e.into_inner());
        if last.as_deref() != Some(reason.as_str()) {
            error!(connection = %name, error = %reason, "TLS handshake with the broker failed");
            *last = Some(reason);
        }
    }

    fn succeeded(&self) {
        self.handshake_done.store(true, Ordering::Relaxed);
        *self.last_logged.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Abandons an [`Attempt`] unless disarmed, so that dropping [`Dialer::open`] (a timed-out probe,
/// a failed first connect) also stops lapin's dialling behind it.
struct AbandonUnlessOpen(Option<Arc<Attempt>>);

impl Drop for AbandonUnlessOpen {
    fn drop(&mut self) {
        if let Some(attempt) = self.0.take() {
            attempt.abandoned.store(true, Ordering::Relaxed);
        }
    }
}

impl Dialer {
    /// A new connection, recovery enabled. Retries (with the link's backoff) while the broker is
    /// unreachable; fails at once on a TLS failure or when the broker refuses the login.
    async fn open(&self) -> Result<Connection, BridgeError> {
        let attempt = Arc::new(Attempt::default());
        let mut guard = AbandonUnlessOpen(Some(attempt.clone()));
        let mut tls_failed = attempt.tls_failure.subscribe();
        let runtime = lapin::runtime::default_runtime()
            .map_err(BridgeError::broker("starting the connection's runtime"))?;
        let (tls, name, dialling) = (self.tls.clone(), self.name.clone(), attempt.clone());
        let connecting = Connection::connector(
            self.uri.clone(),
            runtime,
            async move |uri, runtime| {
                if dialling.abandoned.load(Ordering::Relaxed) {
                    // Nobody waits for this connection any more; every error would be retried.
                    return std::future::pending().await;
                }
                match uri
                    .connect_with_config_async(tls.as_ref().as_ref(), &runtime)
                    .await
                {
                    Ok(stream) => {
                        dialling.succeeded();
                        Ok(stream)
                    }
                    Err(err) => {
                        if uri.scheme == AMQPScheme::AMQPS && is_tls_failure(&err) {
                            dialling.tls_failed(&name, &err);
                        }
                        Err(if runtime.is_runtime_shutdown_error(&err) {
                            lapin::ErrorKind::RuntimeShutdownError(Arc::new(err)).into()
                        } else {
                            err.into()
                        })
                    }
                }
            },
            self.properties.clone(),
        );
        let opened = tokio::select! {
            opened = connecting => opened.map_err(|err| self.error(err, &attempt)),
            Ok(failure) = tls_failed.wait_for(Option::is_some) => {
                let reason = failure.clone().unwrap_or_default();
                Err(self.tls_error(&reason))
            }
        };
        if opened.is_ok() {
            guard.0 = None; // lapin's recovery dials with this attempt from now on
        }
        opened
    }

    fn error(&self, err: lapin::Error, attempt: &Attempt) -> BridgeError {
        // A broker that refuses the client's certificate does so after the client has finished
        // its side of a TLS 1.3 handshake, so it shows as the connection failing: with the
        // broker's alert, or, when lapin's protocol header meets the already closed socket first,
        // as a reset (the alert then goes unread).
        if let lapin::ErrorKind::IOError(io) = err.kind()
            && self.uri.scheme == AMQPScheme::AMQPS
        {
            if is_tls_failure(io) {
                return self.tls_error(&io.to_string());
            }
            let hung_up = matches!(
                io.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof
            );
            if hung_up && attempt.handshake_done.load(Ordering::Relaxed) {
                return BridgeError::Tls {
                    url: self.shown_url.clone(),
                    reason: format!("the broker hung up right after the TLS handshake ({io})"),
                    hint: "as a broker does when it refuses this client's certificate: does it \
                           require one (tls_cert_file, tls_key_file), and does it trust the CA \
                           that signed it?",
                };
            }
        }
        BridgeError::broker(format!("connecting to {}", self.shown_url))(err)
    }

    fn tls_error(&self, reason: &str) -> BridgeError {
        BridgeError::Tls {
            url: self.shown_url.clone(),
            reason: reason.to_owned(),
            hint: tls_hint(reason),
        }
    }
}

/// Whether a dialling error comes from TLS (rustls reports handshake and certificate failures,
/// and alerts from the broker, as invalid data) rather than from the network.
fn is_tls_failure(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::InvalidData
}

/// What to check, in the operator's terms, for a TLS failure reported by rustls.
fn tls_hint(reason: &str) -> &'static str {
    if reason.contains("invalid peer certificate") {
        "the broker's certificate is not trusted: is it signed by a CA in tls_ca_file, and issued for \
         the host in the URL?"
    } else if reason.contains("received fatal alert") {
        "the broker refused this client's certificate: does it require one (tls_cert_file, \
         tls_key_file), and does it trust the CA that signed it?"
    } else {
        "is this port a TLS (amqps) listener, and are the TLS files right?"
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use tokio::io::AsyncWriteExt;

    /// A TLS failure ends the first connect at once, and lapin's dialling behind it stops rather
    /// than retrying forever.
    #[tokio::test]
    async fn a_tls_failure_ends_connect_and_its_dialling() {
        // Not a TLS server: answers every connection with plain text and hangs up.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::Relaxed);
                let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            }
        });
        let mut config = BridgeConfig::new("tls-check");
        config.amqp_url = format!("amqps://guest:secret@127.0.0.1:{port}/%2f");
        config.reconnect.min_delay = Duration::from_millis(20);
        config.reconnect.max_delay = Duration::from_millis(50);

        let outcome = tokio::time::timeout(Duration::from_secs(5), connect(&config)).await;
        let err = match outcome {
            Ok(Err(err)) => err.to_string(),
            Ok(Ok(_)) => panic!("connected to a server that does not speak TLS"),
            Err(_) => panic!("connect kept retrying after a TLS failure"),
        };
        assert!(
            err.contains("TLS with the broker") && err.contains("TLS (amqps) listener"),
            "{err}"
        );
        assert!(!err.contains("secret"), "{err}");
        let after_failure = accepted.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            accepted.load(Ordering::Relaxed),
            after_failure,
            "no more dialling after the failure (the backoff would have retried ten times)"
        );
    }
}
