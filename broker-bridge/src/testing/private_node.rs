//! Private RabbitMQ nodes for fault tests.
//!
//! The shared broker on 127.0.0.1:5672 serves every developer and every test run, so a test must
//! never stop it. A test that needs "the broker goes away in the middle of a stream" boots a
//! [`PrivateNode`] instead: a second node from the same RabbitMQ installation that shares nothing
//! with the shared one but epmd (the Erlang port mapper, which is designed to be shared).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use broker_bridge::testing::private_node::PrivateNode;
//!
//! let mut node = PrivateNode::start().await?;
//! // ... connect the code under test to `node.amqp_url()` and start publishing ...
//! node.ctl(&["close_all_connections", "fault test"]).await?; // connections drop, broker stays
//! node.stop().await?; // the broker is gone: reconnect attempts are refused
//! node.restart().await?; // same port, same data: durable queues and persistent messages are back
//! # Ok(()) }
//! ```
//!
//! A node can also listen for `amqps://` ([`PrivateNode::start_tls`]), with certificates the test
//! makes, and then requires a client certificate signed by the test's CA.
//!
//! Harsher faults: [`PrivateNode::kill`] is `kill -9` of the whole node (restart it afterwards on
//! the same data), [`PrivateNode::freeze`] / [`PrivateNode::thaw`] stop and continue its processes
//! (`kill -STOP` / `kill -CONT`): its sockets stay open and nothing answers, as with a hung
//! machine. Three nodes joined as one cluster are a [`PrivateCluster`](super::cluster::PrivateCluster).

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::hash::{BuildHasher, RandomState};
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::ops::RangeInclusive;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, anyhow, bail};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const RABBITMQ_LIB: &str = "/usr/lib/rabbitmq/lib";
const BOOT_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
const CTL_TIMEOUT: Duration = Duration::from_secs(60);
const KILL_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);
const LOG_TAIL_LINES: usize = 40;
/// Picking free ports is racy (another process may bind one before the node does); a boot that
/// fails on `eaddrinuse` is retried with fresh ports.
const START_ATTEMPTS: u32 = 3;
/// rabbitmqctl and the other CLI tools take their own distribution port from this range, so a
/// node must not sit on one of them.
const CLI_DIST_PORTS: RangeInclusive<u16> = 35672..=35682;

static NEXT_NODE: AtomicU32 = AtomicU32::new(0);

/// Runs `rabbitmq-server` (`$1`) in the foreground as the leader of a process group of its own,
/// so the node can be killed as a unit without touching anything else. Its stdin is a pipe whose
/// only writer is the test process, which never writes to it: end-of-file means the test process
/// has died without running `Drop` (SIGKILL, abort, Ctrl-C), and the watchdog then takes the node
/// down instead of leaving an orphaned broker behind. After a normal stop the watchdog is reaped
/// here, so no zombie is left.
const SUPERVISOR: &str = r#"
exec 3<&0 </dev/null
"$1" 3<&- &
server=$!
( read -r eof <&3; kill -s KILL 0 ) &
watchdog=$!
exec 3<&-
wait "$server"
status=$?
kill "$watchdog" 2>/dev/null
wait "$watchdog"
exit "$status"
"#;

/// A throw-away RabbitMQ node of its own, for fault tests that stop, restart or otherwise disturb
/// the broker while a service is talking to it. Never do that to the shared broker.
///
/// Each node has its own node name, AMQP and Erlang distribution ports, data and log directories,
/// Erlang cookie and (empty) plugin list, listens on 127.0.0.1 only, and lets `guest`/`guest` in
/// over loopback. Nodes are independent of each other, so tests (and test binaries run in
/// parallel by nextest) can each start their own.
///
/// Booting takes several seconds, so start one node per test (or per group of tests), not one per
/// assertion. Dropping the node kills it and deletes its directories; if the test process dies
/// without running `Drop`, the node kills itself.
///
/// Needs RabbitMQ installed under `/usr/lib/rabbitmq` (Debian's `rabbitmq-server` package, as
/// `deploy/setup-broker.sh` installs it).
pub struct PrivateNode {
    name: String,
    port: u16,
    /// The TLS listener's port, when the node has one.
    tls_port: Option<u16>,
    dist_port: u16,
    sbin: PathBuf,
    /// Holds `home/` (with the Erlang cookie), `mnesia/` (the data), `log/` and the config files.
    dir: TempDir,
    /// The supervising shell while the node runs. Its pid is the node's process group id, and
    /// while it is not reaped that id cannot be reused, so signalling the group is safe.
    supervisor: Option<Child>,
    /// Announced in every AMQP handshake (`cluster_name`), so `boot` can tell this node from any
    /// other process on its port. The node's own name, or the cluster's for a cluster member.
    identity: String,
    /// Stopped with SIGSTOP by [`freeze`](Self::freeze) and not continued yet.
    frozen: bool,
}

/// What the members of one cluster share: the Erlang cookie (nodes only talk to nodes with the
/// same cookie) and the cluster name they announce.
#[derive(Debug, Clone)]
pub(crate) struct Membership {
    pub cookie: String,
    pub cluster_name: String,
}

impl Membership {
    /// A fresh cookie and a cluster name of its own.
    pub(crate) fn fresh() -> Self {
        let n = NEXT_NODE.fetch_add(1, Ordering::Relaxed);
        Self {
            cookie: random_cookie(),
            cluster_name: format!("instadash-test-cluster-{}-{n}", std::process::id()),
        }
    }
}

impl PrivateNode {
    /// Boots a fresh node and waits (up to about a minute) until it accepts AMQP connections.
    ///
    /// The node gets its own node name (`instadash-test-<pid>-<n>@localhost`), free AMQP and
    /// distribution ports on 127.0.0.1, fresh data and log directories, a `HOME` with its own
    /// Erlang cookie, and an enabled-plugins file with no plugins (so it never competes with the
    /// shared node for the management or Prometheus ports). If the node does not come up, the
    /// error carries the tail of its logs.
    pub async fn start() -> Result<PrivateNode> {
        Self::start_with(None, None).await
    }

    /// Boots a fresh node as [`start`](Self::start) does, with a TLS listener on a port of its own
    /// besides the plain one (see [`amqps_url`](Self::amqps_url)). The listener presents
    /// `tls.cert` and requires every client to present a certificate signed by `tls.ca_cert`
    /// (`verify_peer`, `fail_if_no_peer_cert`), so a client without one, or with one from
    /// another CA, is refused during the TLS handshake. The files are copied into the node's own
    /// directory.
    pub async fn start_tls(tls: &TlsFiles) -> Result<PrivateNode> {
        Self::start_with(Some(tls), None).await
    }

    /// Boots a fresh node that shares `membership`'s cookie and cluster name, ready to join the
    /// other members (see [`PrivateCluster`](super::cluster::PrivateCluster)).
    pub(crate) async fn start_member(membership: &Membership) -> Result<PrivateNode> {
        Self::start_with(None, Some(membership)).await
    }

    async fn start_with(
        tls: Option<&TlsFiles>,
        membership: Option<&Membership>,
    ) -> Result<PrivateNode> {
        let sbin = find_sbin()?;
        let mut attempt = 1;
        loop {
            let mut node = Self::prepare(sbin.clone(), tls, membership)?;
            match node.boot().await {
                Ok(()) => return Ok(node),
                Err(err) if attempt < START_ATTEMPTS && node.port_was_taken() => {
                    tracing::warn!(node = %node.name, error = %err, "port taken, retrying with fresh ports");
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// The URL to give the code under test: `amqp://guest:guest@127.0.0.1:<port>/%2f`.
    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// The URL of the TLS listener, `amqps://guest:guest@127.0.0.1:<port>/%2f`, for a node started
    /// with [`start_tls`](Self::start_tls); `None` for a node without one. The server
    /// certificate must name `127.0.0.1` for clients to accept it.
    pub fn amqps_url(&self) -> Option<String> {
        self.tls_port
            .map(|port| format!("amqps://guest:guest@127.0.0.1:{port}/%2f"))
    }

    /// The TLS listener's port on 127.0.0.1, for a node started with
    /// [`start_tls`](Self::start_tls).
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// The Erlang node name, `instadash-test-<pid>-<n>@localhost` (what `join_cluster` and
    /// `rabbitmqctl list_queues leader members` name it by).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the node's processes are running (started and not stopped or killed; a frozen
    /// node counts as running).
    pub fn is_running(&self) -> bool {
        self.supervisor.is_some()
    }

    /// Whether the node is frozen ([`freeze`](Self::freeze) without [`thaw`](Self::thaw)).
    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// The node's AMQP port on 127.0.0.1; it stays the same across [`stop`](Self::stop) and
    /// [`restart`](Self::restart), so clients can reconnect to the same URL.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the node completely: when this returns, its OS processes are gone and the port
    /// refuses connections. Clients see their connections drop, as when a real broker goes down.
    ///
    /// The node is asked to shut down cleanly (`rabbitmqctl stop`) and killed if it does not
    /// within about 20 s (e.g. because a test froze it). Its data directory is kept, so durable
    /// queues and persistent messages survive into [`restart`](Self::restart). Stopping a
    /// stopped node does nothing.
    pub async fn stop(&mut self) -> Result<()> {
        let Some(group) = self.supervisor.as_ref().map(Child::id) else {
            return Ok(());
        };
        let started = Instant::now();
        // A frozen node cannot answer rabbitmqctl: waiting for it would only add the timeout.
        let stopped_cleanly = if self.frozen {
            false
        } else {
            match self.ctl_within(&["stop"], STOP_TIMEOUT).await {
                Ok(_) => self.wait_for_exit(STOP_TIMEOUT).await?,
                Err(err) => {
                    tracing::warn!(node = %self.name, error = %err, "rabbitmqctl stop failed, killing the node");
                    false
                }
            }
        };
        if !stopped_cleanly {
            self.kill_group();
        }
        self.ensure_gone(group).await?;
        tracing::info!(node = %self.name, elapsed = ?started.elapsed(), "private RabbitMQ node stopped");
        Ok(())
    }

    /// Starts the node again on the same ports with the same data directory, and waits (up to
    /// about a minute) until it accepts AMQP connections. A node that is still running is stopped
    /// first, so this also works as "bounce the broker".
    ///
    /// Fails (with the tail of its logs) if another process has taken the port in the meantime.
    pub async fn restart(&mut self) -> Result<()> {
        self.stop().await?;
        self.boot().await
    }

    /// Kills the node as `kill -9` would: SIGKILL to every process of the node at once, no
    /// shutdown of any kind (a frozen node dies too). When this returns, its processes are gone
    /// and the port refuses connections. The data directory is kept as the crash left it, so
    /// [`restart`](Self::restart) boots the node again on the same data and ports (RabbitMQ
    /// recovers its queues from disk). Killing a stopped node does nothing.
    pub async fn kill(&mut self) -> Result<()> {
        let Some(group) = self.supervisor.as_ref().map(Child::id) else {
            return Ok(());
        };
        self.kill_group();
        self.ensure_gone(group).await?;
        tracing::info!(node = %self.name, "private RabbitMQ node killed (SIGKILL)");
        Ok(())
    }

    /// Freezes the node as `kill -STOP` would: every process of the broker stops where it is.
    /// Its listening and open sockets stay, so clients see no error: connections simply go
    /// silent (heartbeats notice), confirms do not come, new TCP connections are accepted by the
    /// kernel but never answered. [`thaw`](Self::thaw) continues it; dropping, stopping or
    /// killing a frozen node works as for a running one.
    ///
    /// The supervising shell and its watchdog are left running, so a test process that dies
    /// while the node is frozen still takes the node down with it.
    pub fn freeze(&mut self) -> Result<()> {
        let Some(group) = self.supervisor.as_ref().map(Child::id) else {
            bail!("private RabbitMQ node {} is not running", self.name);
        };
        let broker = broker_processes(group);
        if broker.is_empty() {
            bail!(
                "private RabbitMQ node {}: no broker process to freeze",
                self.name
            );
        }
        let pids: Vec<String> = broker.iter().map(u32::to_string).collect();
        signal("STOP", &pids)?;
        self.frozen = true;
        tracing::info!(node = %self.name, processes = ?broker, "private RabbitMQ node frozen (SIGSTOP)");
        Ok(())
    }

    /// Continues a frozen node (`kill -CONT` to its whole process group); the broker carries on
    /// where it stopped. Thawing a node that is not frozen does nothing.
    pub fn thaw(&mut self) -> Result<()> {
        let Some(group) = self.supervisor.as_ref().map(Child::id) else {
            self.frozen = false;
            return Ok(());
        };
        if self.frozen {
            signal("CONT", &[format!("-{group}")])?;
            self.frozen = false;
            tracing::info!(node = %self.name, "private RabbitMQ node thawed (SIGCONT)");
        }
        Ok(())
    }

    /// Runs `rabbitmqctl <args>` against this node (never the shared one) and returns its stdout,
    /// e.g. `ctl(&["close_all_connections", "fault test"])`, `ctl(&["list_queues", "name",
    /// "messages"])` or `ctl(&["stop_app"])`. Fails if the command exits non-zero (the error
    /// carries its output) or takes longer than a minute.
    pub async fn ctl(&self, args: &[&str]) -> Result<String> {
        self.ctl_within(args, CTL_TIMEOUT).await
    }

    fn prepare(
        sbin: PathBuf,
        tls: Option<&TlsFiles>,
        membership: Option<&Membership>,
    ) -> Result<Self> {
        let n = NEXT_NODE.fetch_add(1, Ordering::Relaxed);
        let name = format!("instadash-test-{}-{n}@localhost", std::process::id());
        let [port, dist_port, tls_port] = free_ports().context("picking free ports")?;
        let tls_port = tls.map(|_| tls_port);
        let dir = tempfile::Builder::new()
            .prefix("instadash-rabbitmq-")
            .tempdir()
            .context("creating the node's directory")?;
        let identity = membership.map_or_else(|| name.clone(), |m| m.cluster_name.clone());
        let cookie = membership.map_or_else(random_cookie, |m| m.cookie.clone());
        let node = PrivateNode {
            name,
            port,
            tls_port,
            dist_port,
            sbin,
            dir,
            supervisor: None,
            identity,
            frozen: false,
        };

        for sub in ["home", "mnesia", "log"] {
            fs::create_dir(node.path(sub))?;
        }
        // Written before the first boot so the node and rabbitmqctl can never race to create
        // different cookies; Erlang refuses a cookie file that others can read.
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o400)
            .open(node.path("home/.erlang.cookie"))?
            .write_all(cookie.as_bytes())?;
        fs::write(node.path("enabled_plugins"), "[].\n")?;
        // Stands in for /etc/rabbitmq/rabbitmq-env.conf, which names the shared node.
        fs::write(
            node.path("rabbitmq-env.conf"),
            "# private test node: no overrides\n",
        )?;
        // cluster_name is announced in every AMQP handshake, which lets boot() tell this node
        // from any other process that might have grabbed the port. Cluster members all set the
        // cluster's name (it is one value for the whole cluster, set again by each booting node).
        let mut config = format!(
            "listeners.tcp.default = 127.0.0.1:{port}\n\
             loopback_users.guest = true\n\
             cluster_name = {}\n\
             log.console = false\n",
            node.identity
        );
        if let (Some(tls), Some(tls_port)) = (tls, tls_port) {
            config.push_str(&node.tls_config(tls, tls_port)?);
        }
        fs::write(node.path("rabbitmq.conf"), config)?;
        Ok(node)
    }

    /// Copies the TLS files into the node's directory and returns the config lines of a TLS
    /// listener on `tls_port` that requires client certificates. The plain listener stays: it
    /// is how `boot` recognises the node.
    fn tls_config(&self, tls: &TlsFiles, tls_port: u16) -> Result<String> {
        fs::create_dir(self.path("tls"))?;
        let mut lines = format!("listeners.ssl.default = 127.0.0.1:{tls_port}\n");
        for (key, from, to) in [
            ("cacertfile", &tls.ca_cert, "tls/ca.pem"),
            ("certfile", &tls.cert, "tls/server.pem"),
            ("keyfile", &tls.key, "tls/server-key.pem"),
        ] {
            fs::copy(from, self.path(to))
                .with_context(|| format!("copying the TLS file {}", from.display()))?;
            lines.push_str(&format!(
                "ssl_options.{key} = {}\n",
                self.path(to).display()
            ));
        }
        lines.push_str(
            "ssl_options.verify = verify_peer\n\
             ssl_options.fail_if_no_peer_cert = true\n",
        );
        Ok(lines)
    }

    async fn boot(&mut self) -> Result<()> {
        let started = Instant::now();
        if let Err(err) = self.spawn_and_wait().await {
            self.kill_group();
            bail!(
                "private RabbitMQ node {} (port {}) did not start: {err:#}\n{}",
                self.name,
                self.port,
                self.log_tail()
            );
        }
        tracing::info!(
            node = %self.name,
            port = self.port,
            elapsed = ?started.elapsed(),
            "private RabbitMQ node accepting AMQP connections"
        );
        Ok(())
    }

    /// Waits (up to `limit`) until the node completes the start of an AMQP handshake as itself,
    /// e.g. after `rabbitmqctl start_app`.
    pub(crate) async fn wait_until_answering(&self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        while !answers_amqp_as(self.port, &self.identity).await {
            if Instant::now() >= deadline {
                bail!(
                    "private RabbitMQ node {} does not answer AMQP on port {} after {limit:?}\n{}",
                    self.name,
                    self.port,
                    self.log_tail()
                );
            }
            tokio::time::sleep(POLL).await;
        }
        Ok(())
    }

    async fn spawn_and_wait(&mut self) -> Result<()> {
        let console = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("log/console.log"))?;
        let mut cmd = self.command("sh");
        cmd.arg("-c")
            .arg(SUPERVISOR)
            .arg("instadash-private-rabbitmq")
            .arg(self.sbin.join("rabbitmq-server"))
            .stdin(Stdio::piped())
            .stdout(console.try_clone()?)
            .stderr(console)
            .process_group(0);
        self.supervisor = Some(cmd.spawn().context("spawning rabbitmq-server")?);
        self.frozen = false;

        let deadline = Instant::now() + BOOT_TIMEOUT;
        loop {
            // The TLS listener may open a moment after the plain one.
            if answers_amqp_as(self.port, &self.identity).await
                && match self.tls_port {
                    Some(port) => accepts(port).await,
                    None => true,
                }
            {
                return Ok(());
            }
            if let Some(status) = self
                .supervisor
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!("rabbitmq-server exited ({status})");
            }
            if Instant::now() >= deadline {
                bail!(
                    "no AMQP handshake on port {} within {BOOT_TIMEOUT:?}",
                    self.port
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub(super) async fn ctl_within(&self, args: &[&str], limit: Duration) -> Result<String> {
        let mut cmd = tokio::process::Command::from(self.command(self.sbin.join("rabbitmqctl")));
        cmd.arg("-n")
            .arg(&self.name)
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let shown = format!("rabbitmqctl {} on {}", args.join(" "), self.name);
        let output = tokio::time::timeout(limit, cmd.output())
            .await
            .map_err(|_| anyhow!("{shown} timed out after {limit:?}"))?
            .with_context(|| format!("running {shown}"))?;
        if !output.status.success() {
            bail!(
                "{shown} failed ({}):\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr),
                String::from_utf8_lossy(&output.stdout)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// A command with exactly this node's environment, so nothing from the caller's environment
    /// or from /etc/rabbitmq can point it at the shared node.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let path = std::env::var_os("PATH").unwrap_or_else(|| {
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()
        });
        let vars: [(&str, OsString); 17] = [
            ("PATH", path),
            ("HOME", self.path("home").into()),
            // Erlang and the Elixir-based CLI warn or misbehave without a UTF-8 locale.
            ("LANG", "C.UTF-8".into()),
            ("LC_ALL", "C.UTF-8".into()),
            ("RABBITMQ_NODENAME", self.name.clone().into()),
            ("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1".into()),
            ("RABBITMQ_NODE_PORT", self.port.to_string().into()),
            ("RABBITMQ_DIST_PORT", self.dist_port.to_string().into()),
            ("RABBITMQ_MNESIA_BASE", self.path("mnesia").into()),
            ("RABBITMQ_LOG_BASE", self.path("log").into()),
            ("RABBITMQ_CONFIG_FILE", self.path("rabbitmq.conf").into()),
            // Never created: keeps /etc/rabbitmq/advanced.config out.
            (
                "RABBITMQ_ADVANCED_CONFIG_FILE",
                self.path("advanced.config").into(),
            ),
            (
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                self.path("enabled_plugins").into(),
            ),
            (
                "RABBITMQ_CONF_ENV_FILE",
                self.path("rabbitmq-env.conf").into(),
            ),
            ("ERL_CRASH_DUMP", self.path("log/erl_crash.dump").into()),
            // Distribution on loopback only, like the shared node; and should this node be the
            // one that has to start epmd, that epmd listens on loopback only too.
            (
                "ERL_FLAGS",
                "-kernel inet_dist_use_interface {127,0,0,1}".into(),
            ),
            ("ERL_EPMD_ADDRESS", "127.0.0.1".into()),
        ];
        let mut cmd = Command::new(program);
        cmd.env_clear().envs(vars).current_dir(self.dir.path());
        cmd
    }

    /// Waits for the supervisor to exit, which it does once the node's VM has; false on timeout.
    async fn wait_for_exit(&mut self, limit: Duration) -> Result<bool> {
        let deadline = Instant::now() + limit;
        while let Some(child) = self.supervisor.as_mut() {
            if child.try_wait()?.is_some() {
                self.supervisor = None;
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(POLL).await;
        }
        Ok(true)
    }

    /// Kills this node's process group and waits until its processes are gone. Blocking and best
    /// effort, as it also serves `Drop`. SIGKILL ends stopped (frozen) processes too.
    fn kill_group(&mut self) {
        let Some(mut child) = self.supervisor.take() else {
            return;
        };
        self.frozen = false;
        let group = child.id();
        // The group id stays ours while the supervisor is unreaped or any member lives on.
        if matches!(child.try_wait(), Ok(None)) || !live_group_members(group).is_empty() {
            let killed = Command::new("sh")
                .args(["-c", r#"kill -s KILL -- "-$1""#, "sh", &group.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if let Err(err) = killed {
                tracing::warn!(node = %self.name, error = %err, "could not run kill; killing the supervisor alone");
                let _ = child.kill();
            }
        }
        // SIGKILL takes effect asynchronously: a large VM may still be exiting after its
        // supervisor has been reaped.
        let deadline = Instant::now() + KILL_TIMEOUT;
        loop {
            let reaped = !matches!(child.try_wait(), Ok(None));
            let alive = live_group_members(group);
            if reaped && alive.is_empty() {
                return;
            }
            if Instant::now() >= deadline {
                tracing::warn!(node = %self.name, ?alive, reaped, "node processes survived SIGKILL");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The VM exits a moment before its listening socket is fully gone from the caller's point
    /// of view; wait for both so `stop()` means "refused" when it returns.
    async fn ensure_gone(&self, group: u32) -> Result<()> {
        let deadline = Instant::now() + KILL_TIMEOUT;
        loop {
            let alive = live_group_members(group);
            let refused = port_refuses(self.port).await;
            if alive.is_empty() && refused {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "private RabbitMQ node {} is not gone after stopping: live processes {alive:?}, \
                     port {} refusing: {refused}",
                    self.name,
                    self.port
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn log_files(&self) -> [PathBuf; 2] {
        [
            self.path(&format!("log/{}.log", self.name)),
            self.path("log/console.log"),
        ]
    }

    /// Whether the logs say the AMQP or the distribution port was in use.
    fn port_was_taken(&self) -> bool {
        self.log_files().iter().any(|file| {
            fs::read_to_string(file).is_ok_and(|text| {
                text.contains("eaddrinuse") || text.contains("dist_port_already_used")
            })
        })
    }

    pub(super) fn log_tail(&self) -> String {
        let mut out = String::new();
        for file in self.log_files() {
            match fs::read_to_string(&file) {
                Ok(text) => {
                    let lines: Vec<&str> = text.lines().collect();
                    let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
                    out.push_str(&format!(
                        "--- last lines of {}:\n{}\n",
                        file.display(),
                        tail.join("\n")
                    ));
                }
                Err(err) => out.push_str(&format!("--- {}: {err}\n", file.display())),
            }
        }
        out
    }
}

impl fmt::Debug for PrivateNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateNode")
            .field("name", &self.name)
            .field("port", &self.port)
            .field("tls_port", &self.tls_port)
            .field("dist_port", &self.dist_port)
            .field("dir", &self.dir.path())
            .field("running", &self.supervisor.is_some())
            .field("frozen", &self.frozen)
            .finish()
    }
}

impl Drop for PrivateNode {
    /// Kills exactly this node (no clean shutdown: its data is about to be deleted anyway) and
    /// removes its directories.
    fn drop(&mut self) {
        self.kill_group();
    }
}

/// The `sbin` directory of the newest RabbitMQ under /usr/lib/rabbitmq/lib. The scripts there run
/// the broker as the calling user with the environment given; the /usr/sbin wrappers would switch
/// to the `rabbitmq` user and its environment, i.e. the shared node's.
fn find_sbin() -> Result<PathBuf> {
    let entries = fs::read_dir(RABBITMQ_LIB)
        .with_context(|| format!("is RabbitMQ installed? reading {RABBITMQ_LIB}"))?;
    entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let version: Vec<u32> = name
                .strip_prefix("rabbitmq_server-")?
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|part| part.parse().ok())
                .collect();
            let sbin = entry.path().join("sbin");
            sbin.join("rabbitmq-server")
                .is_file()
                .then_some((version, sbin))
        })
        .max()
        .map(|(_, sbin)| sbin)
        .ok_or_else(|| anyhow!("no {RABBITMQ_LIB}/rabbitmq_server-*/sbin/rabbitmq-server found"))
}

/// The certificate files of a node's TLS listener, all PEM: the CA whose certificates clients
/// must present (and that should have signed `cert`), the server's certificate chain, and its
/// private key.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub ca_cert: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// `N` distinct free ports on 127.0.0.1 (AMQP, distribution, TLS).
fn free_ports<const N: usize>() -> io::Result<[u16; N]> {
    // All listeners stay bound until every port is chosen, so they differ.
    let mut held = Vec::new();
    let mut ports = [0; N];
    let mut chosen = 0;
    while chosen < N {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = listener.local_addr()?.port();
        if !CLI_DIST_PORTS.contains(&port) {
            ports[chosen] = port;
            chosen += 1;
        }
        held.push(listener);
    }
    Ok(ports)
}

fn random_cookie() -> String {
    let state = RandomState::new();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    (0..32u32)
        .map(|i| char::from(b'A' + (state.hash_one((i, now, std::process::id())) % 26) as u8))
        .collect()
}

/// True once `port` completes the start of an AMQP 0-9-1 handshake as the node `cluster_name`
/// (the broker's Connection.Start frame names its cluster).
async fn answers_amqp_as(port: u16, cluster_name: &str) -> bool {
    let handshake = async {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await?;
        stream.write_all(b"AMQP\x00\x00\x09\x01").await?;
        let mut header = [0u8; 7];
        stream.read_exact(&mut header).await?;
        let size = u32::from_be_bytes([header[3], header[4], header[5], header[6]]) as usize;
        if header[0] != 1 || size > 64 * 1024 {
            return Ok(false);
        }
        let mut payload = vec![0u8; size];
        stream.read_exact(&mut payload).await?;
        Ok::<_, io::Error>(
            payload
                .windows(cluster_name.len())
                .any(|w| w == cluster_name.as_bytes()),
        )
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), handshake).await,
        Ok(Ok(true))
    )
}

/// Whether something accepts TCP connections on `port`.
async fn accepts(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    matches!(
        tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

async fn port_refuses(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    match tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr)).await {
        Ok(Err(err)) => err.kind() == io::ErrorKind::ConnectionRefused,
        _ => false,
    }
}

/// Sends `kill -s <signal> -- <targets>`: pids, or `-<pgid>` for a whole process group.
fn signal(signal: &str, targets: &[String]) -> Result<()> {
    let script = format!("kill -s {signal} -- {}", targets.join(" "));
    let status = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("running `{script}`"))?;
    if !status.success() {
        bail!("`{script}` failed ({status})");
    }
    Ok(())
}

/// The broker's own processes in the node's process group `group`: every live member except the
/// supervising shell (the group leader) and its watchdog (a forked `sh` child of the leader).
/// Those two must keep running while the broker is frozen, or a dying test would leave it behind.
fn broker_processes(group: u32) -> Vec<u32> {
    live_group_members(group)
        .into_iter()
        .filter(|&pid| {
            if pid == group {
                return false;
            }
            let Some((comm, ppid)) = comm_and_parent(pid) else {
                return false;
            };
            !(ppid == group && comm == "sh")
        })
        .collect()
}

/// A process's command name and parent pid, from /proc.
fn comm_and_parent(pid: u32) -> Option<(String, u32)> {
    let stat = fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat")).ok()?;
    let (head, rest) = stat.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_owned();
    let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
    Some((comm, ppid))
}

/// Processes still alive (zombies count as gone) in process group `group`, from /proc.
fn live_group_members(group: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) =
                fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat"))
            else {
                return false;
            };
            // "pid (comm) state ppid pgrp ..."; comm may itself contain spaces and parentheses.
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            matches!(fields.as_slice(), [state, _, pgrp, ..]
                if !matches!(*state, "Z" | "X") && pgrp.parse() == Ok(group))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream as StdTcpStream;

    fn connect(port: u16) -> io::Result<StdTcpStream> {
        StdTcpStream::connect_timeout(
            &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            Duration::from_secs(2),
        )
    }

    fn group_of(node: &PrivateNode) -> u32 {
        node.supervisor
            .as_ref()
            .map(Child::id)
            .expect("node is running")
    }

    #[tokio::test]
    async fn stop_closes_the_port_and_restart_reopens_it_with_the_same_data() {
        let mut node = PrivateNode::start().await.expect("start");
        let port = node.port();
        assert_eq!(
            node.amqp_url(),
            format!("amqp://guest:guest@127.0.0.1:{port}/%2f")
        );
        connect(port).expect("a running node accepts connections");
        node.ctl(&["add_vhost", "survives-restart"])
            .await
            .expect("add_vhost");

        let group = group_of(&node);
        node.stop().await.expect("stop");
        let refused = connect(port).expect_err("a stopped node refuses connections");
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        assert!(
            live_group_members(group).is_empty(),
            "the node's processes are gone"
        );
        node.stop()
            .await
            .expect("stopping a stopped node is a no-op");

        node.restart().await.expect("restart");
        assert_eq!(node.port(), port);
        connect(port).expect("a restarted node accepts connections");
        let vhosts = node
            .ctl(&["list_vhosts", "--silent"])
            .await
            .expect("list_vhosts");
        assert!(
            vhosts.lines().any(|l| l.trim() == "survives-restart"),
            "data kept: {vhosts}"
        );

        // Restarting a running node bounces it.
        node.restart().await.expect("restart while running");
        connect(port).expect("a bounced node accepts connections");
    }

    /// The state letter of `pid` in /proc (`T` = stopped).
    fn state_of(pid: u32) -> Option<char> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.rsplit_once(')')?
            .1
            .split_whitespace()
            .next()?
            .chars()
            .next()
    }

    #[tokio::test]
    async fn freeze_stops_the_broker_but_not_its_watchdog_and_a_frozen_node_dies_on_drop() {
        let mut node = PrivateNode::start().await.expect("start");
        let group = group_of(&node);
        node.freeze().expect("freeze");
        assert!(node.is_frozen());
        let broker = broker_processes(group);
        assert!(!broker.is_empty());
        for pid in &broker {
            assert_eq!(state_of(*pid), Some('T'), "broker process {pid} stopped");
        }
        let watchers: Vec<u32> = live_group_members(group)
            .into_iter()
            .filter(|pid| !broker.contains(pid))
            .collect();
        assert!(watchers.contains(&group), "the supervisor is not frozen");
        assert!(watchers.len() >= 2, "nor its watchdog: {watchers:?}");
        for pid in &watchers {
            assert_ne!(state_of(*pid), Some('T'), "{pid} must keep running");
        }
        // Frozen, it accepts TCP (the kernel does) but never answers the AMQP handshake.
        assert!(!answers_amqp_as(node.port(), &node.identity).await);

        node.thaw().expect("thaw");
        node.wait_until_answering(Duration::from_secs(10))
            .await
            .expect("answers again once continued");

        node.freeze().expect("freeze again");
        drop(node);
        assert!(
            live_group_members(group).is_empty(),
            "a frozen node is killed on drop"
        );
    }

    #[tokio::test]
    async fn kill_is_immediate_and_restart_recovers_the_data() {
        let mut node = PrivateNode::start().await.expect("start");
        node.ctl(&["add_vhost", "survives-kill"])
            .await
            .expect("add_vhost");
        let group = group_of(&node);
        node.kill().await.expect("kill -9");
        assert!(!node.is_running());
        assert!(live_group_members(group).is_empty(), "processes gone");
        assert_eq!(
            connect(node.port()).expect_err("refused").kind(),
            io::ErrorKind::ConnectionRefused
        );
        node.kill().await.expect("killing a dead node is a no-op");
        node.restart().await.expect("restart after kill -9");
        let vhosts = node.ctl(&["list_vhosts", "--silent"]).await.expect("list");
        assert!(
            vhosts.lines().any(|l| l.trim() == "survives-kill"),
            "{vhosts}"
        );
    }

    #[tokio::test]
    async fn a_taken_port_fails_the_boot_with_the_log_tail() {
        let mut node = PrivateNode::prepare(find_sbin().expect("RabbitMQ installed"), None, None)
            .expect("prepare");
        let _squatter =
            TcpListener::bind((Ipv4Addr::LOCALHOST, node.port)).expect("bind the node's port");
        let err = format!("{:#}", node.boot().await.expect_err("boot must fail"));
        assert!(
            err.contains("did not start") && err.contains("--- last lines of"),
            "{err}"
        );
        assert!(node.port_was_taken(), "{err}");
        assert!(node.supervisor.is_none(), "the failed node was killed");
    }

    #[tokio::test]
    async fn nodes_run_side_by_side_and_drop_removes_exactly_one() {
        let (a, b) = tokio::join!(PrivateNode::start(), PrivateNode::start());
        let (a, b) = (a.expect("start a"), b.expect("start b"));
        assert_ne!(a.name, b.name);
        assert_ne!(a.port(), b.port());
        assert!(
            a.ctl(&["status"])
                .await
                .expect("status a")
                .contains(&a.name)
        );

        let (dir, group) = (a.dir.path().to_owned(), group_of(&a));
        drop(a);
        assert!(!dir.exists(), "directories removed");
        // Its processes gone is the proof; its freed port may already serve another process on
        // this busy machine, so whether it refuses connections proves nothing.
        assert!(live_group_members(group).is_empty(), "processes gone");

        connect(b.port()).expect("the other node still runs");
        assert!(
            b.ctl(&["status"])
                .await
                .expect("status b")
                .contains(&b.name)
        );
    }
}
