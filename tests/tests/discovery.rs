//! Discovery with real processes against the real broker: every instance is a `speed_watch`
//! process of its own (heartbeat every second, from a config file), every observer is a
//! [`Directory`] opened in this test process, and a raw queue of the test's own counts the
//! discovery traffic. Signals are real: SIGTERM (graceful leave), SIGKILL (gone without a word),
//! SIGSTOP/SIGCONT (alive but silent, then back).
//!
//! Each test prints its figures with `eprintln!` (`cargo nextest run -p instadash-tests --test
//! discovery --no-capture` shows them).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use broker_bridge::discovery::{Announcement, DirectoryPing, Goodbye, Heartbeat};
use broker_bridge::testing::TestVhost;
use broker_bridge::{Bridge, Directory, Envelope, Instance, InstanceStatus, Message};
use futures_util::StreamExt;
use futures_util::future::join_all;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use serde::Deserialize;
use tokio::sync::watch;
use uuid::Uuid;

/// The service every instance process runs as.
const SERVICE: &str = "speed-watch";
/// The heartbeat interval the instances are configured with (`heartbeat_interval_ms`, the minimum).
const INTERVAL: Duration = Duration::from_secs(1);
/// A broker round trip and scheduling on a busy machine: how late a directory may notice what is
/// due.
const CHECK_SLACK: Duration = Duration::from_millis(150);

// ---- instance processes --------------------------------------------------------------------

/// Starts `speed_watch` processes in one vhost, each with a heartbeat every [`INTERVAL`].
struct Fleet {
    program: escargot::CargoRun,
    amqp_url: String,
    /// `INSTADASH_CONFIG` of every instance; deleted with the fleet.
    config: tempfile::NamedTempFile,
}

impl Fleet {
    /// Builds the example (a no-op when it is up to date), writes the instances' config file, and
    /// runs one instance through its start-up and out again: the service's queues exist from then
    /// on, as in any deployment but the very first. (Instances that start together in an empty
    /// vhost race to create them, and RabbitMQ 3.10 can fail a consume on a quorum queue whose
    /// leader another connection is still starting, `{badmatch,{error,noproc}}` in
    /// `rabbit_quorum_queue:consume`; the instance then exits at start-up.)
    async fn new(vhost: &TestVhost) -> Self {
        let program = tokio::task::spawn_blocking(|| {
            escargot::CargoBuild::new()
                .package("broker-bridge")
                .example("speed_watch")
                .run()
                .expect("the speed_watch example builds")
        })
        .await
        .unwrap();
        let mut config = tempfile::NamedTempFile::new().unwrap();
        writeln!(config, "heartbeat_interval_ms = {}", INTERVAL.as_millis()).unwrap();
        let fleet = Self {
            program,
            amqp_url: vhost.amqp_url().to_owned(),
            config,
        };
        let mut first = fleet.start("0.0.0");
        first.until_started(Duration::from_secs(30)).await;
        first.signal(libc::SIGTERM);
        let status = first.exit(Duration::from_secs(15)).await;
        assert!(
            status.success(),
            "the first instance leaves cleanly: {status}"
        );
        fleet
    }

    /// One more instance, with a fresh UUID v7 as its id, announcing `version`.
    fn start(&self, version: &str) -> Process {
        let id = Uuid::now_v7();
        let mut command = tokio::process::Command::from(self.program.command());
        command
            .env("AMQP_URL", &self.amqp_url)
            .env("INSTADASH_SERVICE", SERVICE)
            .env("INSTADASH_SERVICE_VERSION", version)
            .env("INSTADASH_INSTANCE", id.to_string())
            .env("INSTADASH_CONFIG", self.config.path())
            .env("RUST_LOG", "warn")
            // One runtime worker per instance keeps fifty of them small.
            .env("TOKIO_WORKER_THREADS", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let child = command.spawn().expect("speed_watch starts");
        Process {
            id: id.to_string(),
            version: version.to_owned(),
            pid: child.id().expect("a running child has a pid"),
            child,
        }
    }

    /// `count` instances at once, versions `<prefix>.0`, `<prefix>.1`, ...
    fn start_many(&self, count: usize, prefix: &str) -> Vec<Process> {
        (0..count)
            .map(|i| self.start(&format!("{prefix}.{i}")))
            .collect()
    }
}

/// One instance process; killed (SIGKILL) when dropped, so a failing test leaves none behind.
struct Process {
    id: String,
    version: String,
    pid: u32,
    child: tokio::process::Child,
}

impl Process {
    /// Sends `signal` to the process; the moment it was sent.
    fn signal(&self, signal: libc::c_int) -> Instant {
        let pid = libc::pid_t::try_from(self.pid).unwrap();
        // SAFETY: kill(2) touches no memory of ours; the pid is our child, not reaped yet, so it
        // cannot name another process.
        let result = unsafe { libc::kill(pid, signal) };
        let sent = Instant::now();
        assert_eq!(
            result,
            0,
            "kill({pid}, {signal}): {}",
            std::io::Error::last_os_error()
        );
        sent
    }

    /// Waits until the process's start-up is over: `speed_watch` listens for SIGTERM once its
    /// subscriptions consume (`run_until_signal`); before that, SIGTERM ends it at once, without a
    /// goodbye. Its announced offers say nothing here: a subscription announces them before it
    /// declares its queue. So this asks the kernel whether the process catches SIGTERM.
    async fn until_started(&mut self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        let term = 1_u64 << (libc::SIGTERM - 1);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("instance {} exited during start-up: {status}", self.id);
            }
            let status = tokio::fs::read_to_string(format!("/proc/{}/status", self.pid))
                .await
                .unwrap_or_default();
            let caught = status
                .lines()
                .find_map(|line| line.strip_prefix("SigCgt:"))
                .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
                .unwrap_or(0);
            if caught & term != 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "instance {} not started within {timeout:?}",
                self.id
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits for the process to exit.
    async fn exit(&mut self, within: Duration) -> ExitStatus {
        tokio::time::timeout(within, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("instance {} still running after {within:?}", self.id))
            .unwrap()
    }

    /// The process's memory from /proc, in bytes: resident (`Rss`, shared pages counted in full)
    /// and its proportional share (`Pss`, shared pages divided among their users).
    async fn memory(&self) -> (u64, u64) {
        let rollup = tokio::fs::read_to_string(format!("/proc/{}/smaps_rollup", self.pid))
            .await
            .unwrap_or_default();
        let field = |name: &str| {
            rollup
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map_or(0, |kb| kb * 1024)
        };
        (field("Rss:"), field("Pss:"))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // SIGKILL works on a stopped process too; tokio reaps the orphan.
        let _ = self.child.start_kill();
    }
}

// ---- observers -----------------------------------------------------------------------------

/// A bridge of its own (service `monitor-<n>`) with a directory opened on it.
struct Observer {
    _bridge: Bridge,
    directory: Directory,
}

async fn observers(vhost: &TestVhost, count: usize) -> Vec<Observer> {
    let mut all = Vec::with_capacity(count);
    for n in 1..=count {
        let bridge = vhost.connect(&format!("monitor-{n}")).await.unwrap();
        let directory = bridge.directory().await.unwrap();
        all.push(Observer {
            _bridge: bridge,
            directory,
        });
    }
    all
}

/// The instance processes a directory lists (the monitors themselves left out).
fn listed(directory: &Directory) -> Vec<Instance> {
    directory
        .instances()
        .into_iter()
        .filter(|i| i.service == SERVICE)
        .collect()
}

fn find<'a>(all: &'a [Instance], process: &Process) -> Option<&'a Instance> {
    all.iter().find(|i| i.instance == process.id)
}

/// Waits until `check` holds for the instance processes `directory` lists; the moment it was seen
/// to hold. Panics with the listing after `timeout`.
async fn until(
    directory: &mut Directory,
    what: &str,
    timeout: Duration,
    check: impl Fn(&[Instance]) -> bool,
) -> Instant {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check(&listed(directory)) {
            return Instant::now();
        }
        match tokio::time::timeout_at(deadline, directory.changed()).await {
            Ok(true) => {}
            Ok(false) => panic!("{what}: the directory stopped following"),
            Err(_) => panic!(
                "{what}: not within {timeout:?}; listed: {:#?}",
                summary(&listed(directory))
            ),
        }
    }
}

/// Waits in every directory at once; how long after `since` each saw `check` hold.
async fn until_all(
    observers: &mut [Observer],
    what: &str,
    since: Instant,
    timeout: Duration,
    check: impl Fn(&[Instance]) -> bool + Copy,
) -> Vec<Duration> {
    let seen = join_all(
        observers
            .iter_mut()
            .map(|o| until(&mut o.directory, what, timeout, check)),
    )
    .await;
    seen.into_iter()
        .map(|at| at.duration_since(since))
        .collect()
}

/// Waits until every one of `processes` is listed, live, has sent a heartbeat (so the directory
/// knows its interval) and has announced what it offers.
async fn until_ready(
    directory: &mut Directory,
    processes: &[&Process],
    timeout: Duration,
) -> Instant {
    until(
        directory,
        "every instance live, heartbeating and offering",
        timeout,
        |all| {
            processes.iter().all(|p| {
                find(all, p).is_some_and(|i| {
                    i.status == InstanceStatus::Live
                        && i.health.is_some()
                        && i.offers
                            .consumes
                            .iter()
                            .any(|t| t.type_ == "instadash.example.position")
                        && i.offers
                            .requests
                            .iter()
                            .any(|t| t.type_ == "instadash.example.top-speed.query")
                })
            })
        },
    )
    .await
}

fn summary(all: &[Instance]) -> Vec<String> {
    all.iter()
        .map(|i| {
            format!(
                "{} {} pid {} {:?} health {:?}",
                i.instance, i.version, i.pid, i.status, i.health
            )
        })
        .collect()
}

// ---- the raw view of discovery traffic ------------------------------------------------------

/// A queue of the test's own, bound to every platform event on `instadash.events` (what a
/// directory's queue receives, plus directory pings), consumed with plain lapin.
struct Tap {
    seen: watch::Receiver<Vec<Seen>>,
    task: tokio::task::JoinHandle<()>,
    _connection: Connection,
}

#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    kind: String,
    /// The routing subject: the sending service (none for directory pings).
    service: Option<String>,
    instance: Option<String>,
}

/// The field every discovery event but a directory ping carries.
#[derive(Deserialize)]
struct Sender {
    #[serde(default)]
    instance: Option<String>,
}

/// Discovery messages of the instance processes in a window.
#[derive(Debug, Default)]
struct Traffic {
    announcements: usize,
    heartbeats: usize,
    goodbyes: usize,
    /// From every directory: each goes to every instance's presence queue.
    pings: usize,
    /// Instances that sent a heartbeat in the window.
    heartbeating: usize,
}

impl Traffic {
    /// What every directory's queue receives from the instances.
    fn to_each_directory(&self) -> usize {
        self.announcements + self.heartbeats + self.goodbyes
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Tap {
    /// Starts counting. The bus's exchanges must exist (a bridge has connected to the vhost).
    async fn open(vhost: &TestVhost) -> Self {
        let properties =
            ConnectionProperties::default().with_connection_name("discovery-tap".into());
        let connection = Connection::connect(vhost.amqp_url(), properties)
            .await
            .unwrap();
        let channel = connection.create_channel().await.unwrap();
        let queue = format!("discovery-tap.{}", Uuid::now_v7().simple());
        let exclusive = QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..Default::default()
        };
        channel
            .queue_declare(queue.as_str().into(), exclusive, FieldTable::default())
            .await
            .unwrap();
        channel
            .queue_bind(
                queue.as_str().into(),
                broker_bridge::topology::EVENTS.into(),
                "instadash.platform.#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let no_ack = BasicConsumeOptions {
            no_ack: true,
            exclusive: true,
            ..Default::default()
        };
        let mut deliveries = channel
            .basic_consume(
                queue.as_str().into(),
                "tap".into(),
                no_ack,
                FieldTable::default(),
            )
            .await
            .unwrap();
        let (tx, seen) = watch::channel(Vec::new());
        let task = tokio::spawn(async move {
            let _channel = channel;
            while let Some(Ok(delivery)) = deliveries.next().await {
                let at = Instant::now();
                let Ok((envelope, body)) =
                    Envelope::from_delivery(&delivery.properties, &delivery.data)
                else {
                    continue;
                };
                let instance = serde_json::from_slice::<Sender>(&body)
                    .ok()
                    .and_then(|s| s.instance);
                let seen = Seen {
                    at,
                    kind: envelope.kind.clone(),
                    service: envelope.subject.clone(),
                    instance,
                };
                tx.send_modify(|all| all.push(seen));
            }
        });
        Self {
            seen,
            task,
            _connection: connection,
        }
    }

    /// Waits for the next heartbeat of `process` (after now); when it arrived here.
    async fn next_heartbeat(&self, process: &Process, timeout: Duration) -> Instant {
        let after = Instant::now();
        let mut seen = self.seen.clone();
        let is_next = |s: &Seen| {
            s.at >= after && s.kind == Heartbeat::TYPE && s.instance.as_deref() == Some(&process.id)
        };
        let found =
            tokio::time::timeout(timeout, seen.wait_for(|all| all.iter().rev().any(is_next)))
                .await
                .unwrap_or_else(|_| panic!("no heartbeat from {} within {timeout:?}", process.id))
                .expect("the tap stopped");
        found.iter().rev().find(|s| is_next(s)).unwrap().at
    }

    /// The instance processes' discovery messages that arrived in `[from, to)`.
    fn count(&self, from: Instant, to: Instant) -> Traffic {
        let all = self.seen.borrow();
        let window: Vec<&Seen> = all.iter().filter(|s| s.at >= from && s.at < to).collect();
        let ours = |kind: &str| {
            window
                .iter()
                .filter(|s| s.kind == kind && s.service.as_deref() == Some(SERVICE))
                .count()
        };
        let heartbeating: BTreeSet<&str> = window
            .iter()
            .filter(|s| s.kind == Heartbeat::TYPE && s.service.as_deref() == Some(SERVICE))
            .filter_map(|s| s.instance.as_deref())
            .collect();
        Traffic {
            announcements: ours(Announcement::TYPE),
            heartbeats: ours(Heartbeat::TYPE),
            goodbyes: ours(Goodbye::TYPE),
            pings: window
                .iter()
                .filter(|s| s.kind == DirectoryPing::TYPE)
                .count(),
            heartbeating: heartbeating.len(),
        }
    }

    /// Counts for `window` from now; returns the discovery messages per second per instance (of
    /// `instances` running), after checking each of them heartbeats.
    async fn rate_per_instance(&self, instances: usize, window: Duration) -> (Traffic, f64) {
        let from = Instant::now();
        tokio::time::sleep(window).await;
        let to = Instant::now();
        // What was sent before `to` may still be on its way.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let traffic = self.count(from, to);
        assert_eq!(
            traffic.heartbeating, instances,
            "every instance heartbeats: {traffic:?}"
        );
        let rate = traffic.to_each_directory() as f64
            / instances as f64
            / to.duration_since(from).as_secs_f64();
        (traffic, rate)
    }
}

/// Waits until `processes` (started at `started`) are all listed by `directory`; how long that
/// took. Then checks the listing: each instance id exactly once, with its service, version and
/// pid, live; and waits until each is ready (see [`until_ready`]).
async fn list_all(directory: &mut Directory, processes: &[Process], started: Instant) -> Duration {
    let what = format!("all {} instances listed", processes.len());
    let listed_at = until(directory, &what, Duration::from_secs(60), |all| {
        processes.iter().all(|p| find(all, p).is_some())
    })
    .await;
    let all = listed(directory);
    assert_eq!(
        all.len(),
        processes.len(),
        "nothing else listed: {:#?}",
        summary(&all)
    );
    let mut times_listed: BTreeMap<&str, usize> = BTreeMap::new();
    for instance in &all {
        *times_listed.entry(instance.instance.as_str()).or_default() += 1;
    }
    for process in processes {
        assert_eq!(
            times_listed.get(process.id.as_str()),
            Some(&1),
            "{} listed exactly once",
            process.id
        );
        let instance = find(&all, process).unwrap();
        assert_eq!(
            (
                instance.service.as_str(),
                instance.version.as_str(),
                instance.pid,
                instance.status
            ),
            (
                SERVICE,
                process.version.as_str(),
                process.pid,
                InstanceStatus::Live
            ),
            "{instance:#?}"
        );
        assert!(!instance.host.is_empty(), "{instance:#?}");
    }
    let refs: Vec<&Process> = processes.iter().collect();
    until_ready(directory, &refs, Duration::from_secs(30)).await;
    listed_at.duration_since(started)
}

// ---- the tests -----------------------------------------------------------------------------

/// Every observer lists `staying`, live, and nothing else.
fn only_left(observers: &[Observer], staying: &Process) {
    for observer in observers {
        let all = listed(&observer.directory);
        assert_eq!(
            all.len(),
            1,
            "only the other instance is left: {:#?}",
            summary(&all)
        );
        assert_eq!(
            find(&all, staying).map(|i| i.status),
            Some(InstanceStatus::Live)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_shutdown_leaves_every_directory_within_a_second() {
    let vhost = TestVhost::create().await.unwrap();
    let fleet = Fleet::new(&vhost).await;
    let mut observers = observers(&vhost, 3).await;
    let mut leaving = fleet.start("1.0.0");
    let staying = fleet.start("1.0.1");
    for observer in &mut observers {
        until_ready(
            &mut observer.directory,
            &[&leaving, &staying],
            Duration::from_secs(30),
        )
        .await;
    }
    leaving.until_started(Duration::from_secs(30)).await;

    let sent = leaving.signal(libc::SIGTERM);
    let gone = until_all(
        &mut observers,
        "gone after SIGTERM",
        sent,
        Duration::from_secs(10),
        |all| find(all, &leaving).is_none(),
    )
    .await;
    let status = leaving.exit(Duration::from_secs(15)).await;
    let exited = sent.elapsed();
    eprintln!(
        "SIGTERM: gone from the {} directories after {gone:?}; the process exited after {exited:?}",
        gone.len()
    );
    assert!(status.success(), "a clean exit on SIGTERM: {status}");
    for (n, after) in gone.iter().enumerate() {
        assert!(
            *after < Duration::from_secs(1),
            "directory {} saw the leave only after {after:?}",
            n + 1
        );
    }
    only_left(&observers, &staying);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_leaves_every_directory_within_five_seconds() {
    use std::os::unix::process::ExitStatusExt;

    let vhost = TestVhost::create().await.unwrap();
    let fleet = Fleet::new(&vhost).await;
    let mut observers = observers(&vhost, 2).await;
    let mut killed = fleet.start("2.0.0");
    let staying = fleet.start("2.0.1");
    for observer in &mut observers {
        until_ready(
            &mut observer.directory,
            &[&killed, &staying],
            Duration::from_secs(30),
        )
        .await;
    }

    let sent = killed.signal(libc::SIGKILL);
    let gone = until_all(
        &mut observers,
        "gone after SIGKILL",
        sent,
        Duration::from_secs(10),
        |all| find(all, &killed).is_none(),
    )
    .await;
    let status = killed.exit(Duration::from_secs(5)).await;
    eprintln!(
        "SIGKILL: gone from the {} directories after {gone:?}",
        gone.len()
    );
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status}");
    for (n, after) in gone.iter().enumerate() {
        assert!(
            *after < Duration::from_secs(5),
            "directory {} saw the kill only after {after:?}",
            n + 1
        );
    }
    only_left(&observers, &staying);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_instance_is_unresponsive_within_three_intervals_and_live_again_when_continued() {
    let vhost = TestVhost::create().await.unwrap();
    let fleet = Fleet::new(&vhost).await;
    let mut observers = observers(&vhost, 2).await;
    let tap = Tap::open(&vhost).await;
    let stopped = fleet.start("3.0.0");
    let bystander = fleet.start("3.0.1");
    for observer in &mut observers {
        until_ready(
            &mut observer.directory,
            &[&stopped, &bystander],
            Duration::from_secs(30),
        )
        .await;
    }

    // Stopped just after a heartbeat: the longest a directory can take to notice.
    let last_heartbeat = tap.next_heartbeat(&stopped, Duration::from_secs(5)).await;
    let sent = stopped.signal(libc::SIGSTOP);
    let unresponsive = |all: &[Instance]| {
        find(all, &stopped).is_some_and(|i| i.status == InstanceStatus::Unresponsive)
    };
    let marked = until_all(
        &mut observers,
        "unresponsive after SIGSTOP",
        sent,
        Duration::from_secs(10),
        unresponsive,
    )
    .await;
    let silent: Vec<Duration> = marked
        .iter()
        .map(|after| *after + sent.duration_since(last_heartbeat))
        .collect();
    eprintln!(
        "SIGSTOP (sent {:?} after its last heartbeat): unresponsive after {marked:?} ({silent:?} after that heartbeat)",
        sent.duration_since(last_heartbeat)
    );
    for observer in &observers {
        let all = listed(&observer.directory);
        assert_eq!(
            find(&all, &bystander).map(|i| i.status),
            Some(InstanceStatus::Live),
            "{:#?}",
            summary(&all)
        );
    }
    for (after, silent) in marked.iter().zip(&silent) {
        assert!(
            *after <= 3 * INTERVAL + CHECK_SLACK,
            "unresponsive only after {after:?}"
        );
        assert!(
            *silent >= INTERVAL * 5 / 2,
            "unresponsive too early, after {silent:?} of silence (not even two heartbeats missed)"
        );
    }
    // Its connection (and presence queue) is still there: listed as unresponsive, not removed.
    tokio::time::sleep(INTERVAL).await;
    for observer in &observers {
        assert!(
            unresponsive(&listed(&observer.directory)),
            "{:#?}",
            summary(&listed(&observer.directory))
        );
    }

    let sent = stopped.signal(libc::SIGCONT);
    let live =
        |all: &[Instance]| find(all, &stopped).is_some_and(|i| i.status == InstanceStatus::Live);
    let back = until_all(
        &mut observers,
        "live again after SIGCONT",
        sent,
        Duration::from_secs(10),
        live,
    )
    .await;
    eprintln!("SIGCONT: live again after {back:?}");
    for after in &back {
        assert!(
            *after <= INTERVAL + CHECK_SLACK,
            "live again only after {after:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_instances_are_listed_and_traffic_per_instance_does_not_grow_with_their_number() {
    const WINDOW: Duration = Duration::from_secs(10);
    let vhost = TestVhost::create().await.unwrap();
    let fleet = Fleet::new(&vhost).await;
    let mut observer = observers(&vhost, 1).await.pop().unwrap();
    let directory = &mut observer.directory;
    let tap = Tap::open(&vhost).await;

    // Ten instances: listed, their traffic counted, then they leave.
    let started = Instant::now();
    let mut ten = fleet.start_many(10, "10.0");
    let listed10 = list_all(directory, &ten, started).await;
    let (traffic10, rate10) = tap.rate_per_instance(ten.len(), WINDOW).await;
    for process in &mut ten {
        process.until_started(Duration::from_secs(30)).await;
        process.signal(libc::SIGTERM);
    }
    until(
        directory,
        "the ten gone",
        Duration::from_secs(10),
        <[Instance]>::is_empty,
    )
    .await;
    for process in &mut ten {
        assert!(process.exit(Duration::from_secs(15)).await.success());
    }

    // Fifty, all started at once.
    let started = Instant::now();
    let fifty = fleet.start_many(50, "50.0");
    let spawned = started.elapsed();
    let listed50 = list_all(directory, &fifty, started).await;
    let (mut rss, mut pss) = (0, 0);
    for process in &fifty {
        let (resident, share) = process.memory().await;
        (rss, pss) = (rss + resident, pss + share);
    }
    let (traffic50, rate50) = tap.rate_per_instance(fifty.len(), WINDOW).await;

    eprintln!(
        "10 instances: all listed after {listed10:?}; over {WINDOW:?}: {traffic10:?}: {rate10:.3} messages/s per instance"
    );
    eprintln!(
        "50 instances: spawned in {spawned:?}, all listed after {listed50:?}, memory in all {} MiB (Pss; Rss {} MiB); over {WINDOW:?}: {traffic50:?}: {rate50:.3} messages/s per instance",
        pss / (1024 * 1024),
        rss / (1024 * 1024)
    );
    let bound = 1.5 / INTERVAL.as_secs_f64();
    for (n, rate, traffic) in [(10, rate10, &traffic10), (50, rate50, &traffic50)] {
        assert!(
            rate <= bound,
            "{n} instances: {rate:.3} messages/s each, more than {bound}"
        );
        assert!(
            rate >= 0.8 / INTERVAL.as_secs_f64(),
            "{n} instances: only {rate:.3} messages/s each: {traffic:?}"
        );
        // No directory started in the window: the instances themselves received nothing.
        assert_eq!(traffic.pings, 0, "{traffic:?}");
    }
    assert!(
        rate50 <= rate10 * 1.25,
        "per-instance traffic grew from {rate10:.3}/s (10) to {rate50:.3}/s (50)"
    );
}
