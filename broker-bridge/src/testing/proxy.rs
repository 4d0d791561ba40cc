//! A fault-injecting TCP proxy for tests: put it between a client and the broker, then break the
//! network under the client at will. `tc netem` and toxiproxy are not available here, so faults
//! are made in the test's own process.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use broker_bridge::testing::{FaultProxy, TestVhost};
//! let vhost = TestVhost::create().await?;
//! let proxy = FaultProxy::for_broker(vhost.amqp_url()).await?;
//! let mut config = vhost.config("tracker");
//! config.amqp_url = proxy.amqp_url(vhost.amqp_url())?;   // the bridge now talks through the proxy
//! // ... traffic ...
//! proxy.reset();                                      // RST every open connection
//! # Ok(()) }
//! ```
//!
//! | fault | what the client sees |
//! |---|---|
//! | [`reset`](FaultProxy::reset) | every open connection reset (RST), as when a middlebox drops state |
//! | [`blackhole`](FaultProxy::blackhole) | nothing forwarded either way, sockets stay open: only heartbeats tell |
//! | [`latency`](FaultProxy::latency) | every chunk delivered that much later (throughput unchanged) |
//! | [`throttle`](FaultProxy::throttle) | each direction of each connection held to a byte rate |
//! | [`cut_mid_frame`](FaultProxy::cut_mid_frame) | half of the next broker→client chunk, then the connection closes: a truncated frame |
//!
//! Blackhole, latency and throttle are settings: they apply to every connection, open or new, until
//! changed. Reset and cut are events: they hit the connections open when they are called. A
//! blackholed chunk is held, not dropped, as TCP retransmission would deliver it once the path heals.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::debug;

/// The largest chunk read at once.
const CHUNK: usize = 16 * 1024;
/// Chunks read but not yet written, per direction: bounds the memory a slow (latency, throttle)
/// or blackholed direction holds.
const IN_FLIGHT_CHUNKS: usize = 64;
/// A throttled direction writes in slices of about this share of a second, so the rate is smooth.
const THROTTLE_SLICES_PER_SECOND: u64 = 20;

/// A TCP proxy on 127.0.0.1 that forwards to one upstream address and injects faults on demand.
/// Dropping it closes the listener and every connection through it.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _stop: DropGuard,
}

/// The settings that last until changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Settings {
    blackhole: bool,
    latency: Duration,
    /// Bytes per second per direction of each connection; `None` for no limit.
    throttle: Option<u64>,
}

struct Shared {
    settings: watch::Sender<Settings>,
    /// Bumped by `reset`: every connection open at that moment is reset.
    resets: watch::Sender<u64>,
    /// Bumped by `cut_mid_frame`: every connection open at that moment is cut at its next chunk.
    cuts: watch::Sender<u64>,
    open: AtomicUsize,
    accepted: AtomicUsize,
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 (a free port) forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            settings: watch::Sender::new(Settings::default()),
            resets: watch::Sender::new(0),
            cuts: watch::Sender::new(0),
            open: AtomicUsize::new(0),
            accepted: AtomicUsize::new(0),
        });
        let stop = CancellationToken::new();
        tokio::spawn(accept(listener, upstream, shared.clone(), stop.clone()));
        Ok(Self {
            addr,
            shared,
            _stop: stop.drop_guard(),
        })
    }

    /// Starts a proxy to the broker an AMQP URL names (its host and port; 5672 if none).
    pub async fn for_broker(amqp_url: &str) -> anyhow::Result<Self> {
        let (_, authority, _) = split_authority(amqp_url)?;
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host_port = if host_port
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.contains(']'))
        {
            host_port.to_owned()
        } else {
            format!("{host_port}:5672")
        };
        let upstream = tokio::net::lookup_host(&host_port)
            .await
            .with_context(|| format!("resolving the broker address {host_port}"))?
            .next()
            .with_context(|| format!("{host_port} resolves to no address"))?;
        Ok(Self::start(upstream).await?)
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `amqp_url` with its host and port replaced by the proxy's, credentials, vhost and query kept.
    /// (Plain AMQP only: a TLS client would check the certificate against 127.0.0.1.)
    pub fn amqp_url(&self, amqp_url: &str) -> anyhow::Result<String> {
        let (scheme, authority, rest) = split_authority(amqp_url)?;
        let user = authority
            .rsplit_once('@')
            .map(|(user, _)| format!("{user}@"))
            .unwrap_or_default();
        Ok(format!("{scheme}{user}{}{rest}", self.addr))
    }

    /// Resets (RST) every open connection, both sides: the client and the broker see
    /// "connection reset by peer". New connections are accepted as before.
    pub fn reset(&self) {
        debug!(
            open = self.connections(),
            "proxy: resetting every connection"
        );
        self.shared.resets.send_modify(|n| *n += 1);
    }

    /// Stops (`true`) or resumes (`false`) forwarding in both directions, keeping every socket
    /// open, for open and new connections alike. Nothing is lost: held bytes flow on resume, unless
    /// an end has given up on the connection meanwhile (missed heartbeats).
    pub fn blackhole(&self, on: bool) {
        self.shared.settings.send_modify(|s| s.blackhole = on);
    }

    /// Delays every chunk by `delay` in each direction (zero to stop).
    pub fn latency(&self, delay: Duration) {
        self.shared.settings.send_modify(|s| s.latency = delay);
    }

    /// Limits each direction of each connection to `bytes_per_second` (`None` to stop).
    pub fn throttle(&self, bytes_per_second: Option<u64>) {
        self.shared
            .settings
            .send_modify(|s| s.throttle = bytes_per_second.map(|b| b.max(1)));
    }

    /// Forwards only half of the next broker→client chunk of every open connection, then closes
    /// it: the client reads a truncated AMQP frame followed by end of stream.
    pub fn cut_mid_frame(&self) {
        self.shared.cuts.send_modify(|n| *n += 1);
    }

    /// Connections open through the proxy right now.
    pub fn connections(&self) -> usize {
        self.shared.open.load(Ordering::Relaxed)
    }

    /// Connections accepted since the proxy started.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Waits until at least `count` connections are open.
    pub async fn wait_for_connections(
        &self,
        count: usize,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while self.connections() < count {
            if Instant::now() >= deadline {
                bail!(
                    "{} connections open through the proxy after {timeout:?}, expected {count}",
                    self.connections()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}

/// `scheme://`, the authority (`user:pass@host:port`) and the rest (`/vhost?query`) of a URL.
fn split_authority(url: &str) -> anyhow::Result<(&str, &str, &str)> {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        bail!("`{url}` is not a URL (no scheme)");
    };
    let end = url[start..]
        .find(['/', '?'])
        .map_or(url.len(), |i| start + i);
    if end == start {
        bail!("`{url}` names no host");
    }
    Ok((&url[..start], &url[start..end], &url[end..]))
}

async fn accept(
    listener: TcpListener,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    loop {
        let client = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => client,
                Err(error) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    debug!(%error, "proxy: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        shared.accepted.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(connection(client, upstream, shared.clone(), stop.clone()));
    }
}

/// Counts an open connection for as long as it lives.
struct Open<'a>(&'a AtomicUsize);

impl<'a> Open<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How a connection through the proxy ended.
enum End {
    /// Both directions reached end of stream, or one failed.
    Closed,
    /// Cut mid-frame: closed normally, after the partial chunk.
    Cut,
    /// Reset by the test, or the proxy dropped.
    Reset,
}

async fn connection(
    mut client: TcpStream,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    // Subscribed before anything else, so a reset or cut from now on reaches this connection.
    let mut resets = shared.resets.subscribe();
    let cuts = shared.cuts.subscribe();
    let mut server = match TcpStream::connect(upstream).await {
        Ok(server) => server,
        Err(error) => {
            debug!(%error, "proxy: upstream refused; closing the client");
            return;
        }
    };
    let _open = Open::new(&shared.open);
    // AMQP frames are small and latency matters more than packet count.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let end = {
        let (client_read, client_write) = client.split();
        let (server_read, server_write) = server.split();
        let up = pump(client_read, server_write, shared.settings.subscribe(), None);
        let down = pump(
            server_read,
            client_write,
            shared.settings.subscribe(),
            Some(cuts),
        );
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        // One direction reaching end of stream leaves the other going (a half-close); a cut or a
        // reset ends both at once.
        loop {
            let end = tokio::select! {
                end = &mut up, if !up_done => { up_done = true; end }
                end = &mut down, if !down_done => { down_done = true; end }
                _ = resets.changed() => End::Reset,
                () = stop.cancelled() => End::Reset,
            };
            match end {
                End::Closed if !(up_done && down_done) => {}
                end => break end,
            }
        }
    };
    if let End::Reset = end {
        // SO_LINGER 0: closing sends RST instead of FIN.
        let _ = client.set_zero_linger();
        let _ = server.set_zero_linger();
    }
    // Dropping both sockets closes them (FIN, or RST after a reset).
}

/// Forwards one direction: a reader puts chunks (stamped with when they may go out) into a bounded
/// queue, a writer takes them out, so latency delays each chunk without slowing the stream.
/// `cuts` (broker→client only) cuts the next chunk in half and ends the connection.
async fn pump<R, W>(
    mut from: R,
    mut to: W,
    settings: watch::Receiver<Settings>,
    mut cuts: Option<watch::Receiver<u64>>,
) -> End
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(IN_FLIGHT_CHUNKS);
    let mut read_settings = settings.clone();
    let reader = async move {
        let mut buf = vec![0; CHUNK];
        loop {
            // Blackholed: leave the bytes in the socket (the sender's window fills, as on a real
            // partition).
            if read_settings.wait_for(|s| !s.blackhole).await.is_err() {
                return;
            }
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let due = Instant::now() + read_settings.borrow().latency;
            if tx.send((due, buf[..n].to_vec())).await.is_err() {
                return;
            }
        }
    };
    let mut write_settings = settings;
    let writer = async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            // A chunk read just before the blackhole began is held too.
            if write_settings.wait_for(|s| !s.blackhole).await.is_err() {
                return End::Closed;
            }
            if let Some(cuts) = cuts.as_mut()
                && cuts.has_changed().unwrap_or(false)
            {
                let _ = to.write_all(&chunk[..chunk.len() / 2]).await;
                let _ = to.flush().await;
                debug!(of = chunk.len(), "proxy: cut a chunk in half and closing");
                return End::Cut;
            }
            let throttle = write_settings.borrow().throttle;
            let written = match throttle {
                None => to.write_all(&chunk).await,
                Some(rate) => write_throttled(&mut to, &chunk, rate).await,
            };
            if written.is_err() {
                return End::Closed;
            }
        }
        // The other side ended its stream: pass the end on, keep the other direction going.
        let _ = to.shutdown().await;
        End::Closed
    };
    // The writer decides how the direction ended. A reader at end of stream drops the queue, so
    // the writer drains it and ends; a writer that ends first (cut, write error) ends the reader.
    tokio::pin!(reader, writer);
    let mut reader_done = false;
    loop {
        tokio::select! {
            () = &mut reader, if !reader_done => reader_done = true,
            end = &mut writer => return end,
        }
    }
}

/// Writes `chunk` at no more than `rate` bytes a second, in small slices.
async fn write_throttled<W: AsyncWrite + Unpin>(
    to: &mut W,
    chunk: &[u8],
    rate: u64,
) -> io::Result<()> {
    let slice = usize::try_from(rate / THROTTLE_SLICES_PER_SECOND)
        .unwrap_or(usize::MAX)
        .max(1);
    for part in chunk.chunks(slice) {
        to.write_all(part).await?;
        let pause = Duration::from_secs_f64(part.len() as f64 / rate as f64);
        tokio::time::sleep(pause).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on 127.0.0.1; returns its address.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = socket.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn round_trip(stream: &mut TcpStream, bytes: &[u8]) -> io::Result<Vec<u8>> {
        stream.write_all(bytes).await?;
        let mut back = vec![0; bytes.len()];
        stream.read_exact(&mut back).await?;
        Ok(back)
    }

    #[tokio::test]
    async fn forwards_and_counts_connections() {
        let proxy = FaultProxy::start(echo_server().await).await.unwrap();
        let mut a = TcpStream::connect(proxy.addr()).await.unwrap();
        let mut b = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut a, b"hello").await.unwrap(), b"hello");
        assert_eq!(round_trip(&mut b, b"world").await.unwrap(), b"world");
        assert_eq!(proxy.connections(), 2);
        drop(a);
        drop(b);
        let deadline = Instant::now() + Duration::from_secs(2);
        while proxy.connections() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            proxy.connections(),
            0,
            "closed connections are no longer counted"
        );
        assert_eq!(proxy.accepted(), 2);
    }

    #[tokio::test]
    async fn reset_sends_rst_and_new_connections_still_work() {
        let proxy = FaultProxy::start(echo_server().await).await.unwrap();
        let mut a = TcpStream::connect(proxy.addr()).await.unwrap();
        round_trip(&mut a, b"x").await.unwrap();
        proxy.reset();
        let mut buf = [0; 1];
        let read = tokio::time::timeout(Duration::from_secs(2), a.read(&mut buf))
            .await
            .expect("the reset is seen at once");
        assert_eq!(
            read.map_err(|e| e.kind()),
            Err(io::ErrorKind::ConnectionReset),
            "a reset, not an orderly close"
        );
        let mut b = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut b, b"again").await.unwrap(), b"again");
    }

    #[tokio::test]
    async fn blackhole_holds_bytes_until_it_ends() {
        let proxy = FaultProxy::start(echo_server().await).await.unwrap();
        let mut a = TcpStream::connect(proxy.addr()).await.unwrap();
        round_trip(&mut a, b"before").await.unwrap();
        proxy.blackhole(true);
        a.write_all(b"held").await.unwrap();
        let mut back = [0; 4];
        let silent =
            tokio::time::timeout(Duration::from_millis(300), a.read_exact(&mut back)).await;
        assert!(silent.is_err(), "nothing comes back through a blackhole");
        assert_eq!(proxy.connections(), 1, "the socket stays open");
        proxy.blackhole(false);
        tokio::time::timeout(Duration::from_secs(2), a.read_exact(&mut back))
            .await
            .expect("held bytes flow once the blackhole ends")
            .unwrap();
        assert_eq!(&back, b"held");
    }

    #[tokio::test]
    async fn latency_delays_each_round_trip() {
        let proxy = FaultProxy::start(echo_server().await).await.unwrap();
        let mut a = TcpStream::connect(proxy.addr()).await.unwrap();
        proxy.latency(Duration::from_millis(100));
        let started = Instant::now();
        round_trip(&mut a, b"slow").await.unwrap();
        // Each way is delayed: at least 200 ms for the round trip.
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "{:?}",
            started.elapsed()
        );
        proxy.latency(Duration::ZERO);
        let started = Instant::now();
        round_trip(&mut a, b"fast").await.unwrap();
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn throttle_limits_the_rate() {
        let proxy = FaultProxy::start(echo_server().await).await.unwrap();
        let mut a = TcpStream::connect(proxy.addr()).await.unwrap();
        proxy.throttle(Some(20_000));
        let started = Instant::now();
        // 6 kB each way at 20 kB/s, in slices of 1 kB, the first of which goes at once: at least
        // 0.25 s (the two directions overlap).
        round_trip(&mut a, &[7; 6_000]).await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(250),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn cut_mid_frame_delivers_half_a_chunk_then_closes() {
        // A server that sends 100 bytes whenever it is written to.
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let upstream = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0; 1];
            while socket.read(&mut buf).await.is_ok_and(|n| n > 0) {
                if socket.write_all(&[1; 100]).await.is_err() {
                    return;
                }
            }
        });
        let proxy = FaultProxy::start(upstream).await.unwrap();
        let mut a = TcpStream::connect(proxy.addr()).await.unwrap();
        // A whole chunk first: the connection is established through the proxy before the cut.
        a.write_all(b"?").await.unwrap();
        a.read_exact(&mut [0; 100]).await.unwrap();
        proxy.cut_mid_frame();
        a.write_all(b"?").await.unwrap();
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(2), a.read_to_end(&mut got))
            .await
            .expect("the connection is closed after the partial chunk")
            .unwrap();
        assert_eq!(got.len(), 50, "half of the 100-byte chunk arrived");
    }

    #[test]
    fn rewrites_the_url_to_the_proxy() {
        let (scheme, authority, rest) =
            split_authority("amqp://guest:guest@127.0.0.1:5672/v%2fh?heartbeat=2").unwrap();
        assert_eq!(
            (scheme, authority, rest),
            (
                "amqp://",
                "guest:guest@127.0.0.1:5672",
                "/v%2fh?heartbeat=2"
            )
        );
        assert!(split_authority("localhost").is_err());
        assert!(split_authority("amqp:///vhost").is_err());
    }
}
