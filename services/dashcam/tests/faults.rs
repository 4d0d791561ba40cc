//! The work queue under faults, with clip workers as separate OS processes killed with SIGKILL:
//! a worker dies holding jobs, and a job kills every worker that takes it.
//!
//! A worker process is the `clip_worker` example (`examples/clip_worker.rs`), built once per test
//! process with its settings in the environment: a `DashcamService` in the workers role with one
//! worker, on its own connection, over a [`CountingStore`] that logs the start and end of every
//! put, with its pid, to a file all workers share. It says `READY` once it consumes, and stops
//! gracefully when its stdin closes, printing its stats.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::LazyLock;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use anyhow::Context;
use broker_bridge::testing::TestVhost;
use broker_bridge::{Bridge, topology};
use instadash_dashcam::{DashcamStats, DirectoryStore, ObjectKey, WORK_QUEUE};
use instadash_schemas::Message;
use instadash_schemas::dashcam::fetch_clip::v1::FetchClip;
use support::*;

const ENV_AMQP_URL: &str = "DASHCAM_CHILD_AMQP_URL";
const ENV_STORE: &str = "DASHCAM_CHILD_STORE";
const ENV_PUT_LOG: &str = "DASHCAM_CHILD_PUT_LOG";
const ENV_CHUNK: &str = "DASHCAM_CHILD_CHUNK_BYTES";
const ENV_PREFETCH: &str = "DASHCAM_CHILD_PREFETCH";
const ENV_RETRY_DELAY_MS: &str = "DASHCAM_CHILD_RETRY_DELAY_MS";
/// Set to make the child's puts hang for good.
const ENV_HANG: &str = "DASHCAM_CHILD_HANG";
const READY: &str = "DASHCAM-CHILD READY";
const STATS: &str = "DASHCAM-CHILD STATS ";

/// The worker program, built once per test process (a no-op when it is up to date).
static CLIP_WORKER: LazyLock<anyhow::Result<escargot::CargoRun>> = LazyLock::new(|| {
    escargot::CargoBuild::new()
        .package("instadash-dashcam")
        .example("clip_worker")
        .run()
        .context("building the clip_worker example")
});

async fn clip_worker() -> anyhow::Result<&'static escargot::CargoRun> {
    tokio::task::spawn_blocking(|| LazyLock::force(&CLIP_WORKER).as_ref())
        .await?
        .map_err(|e| anyhow::anyhow!("{e:#}"))
}

/// What a worker process needs to know.
struct WorkerSetup {
    amqp_url: String,
    retry_delay: Duration,
    store: PathBuf,
    put_log: PathBuf,
    chunk_bytes: u32,
    prefetch: u16,
    hang: bool,
}

/// A running worker process.
struct WorkerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl WorkerProcess {
    /// Starts one and waits until it consumes.
    async fn start(setup: &WorkerSetup) -> anyhow::Result<Self> {
        let mut command = clip_worker().await?.command();
        command
            .env(ENV_AMQP_URL, &setup.amqp_url)
            .env(ENV_STORE, &setup.store)
            .env(ENV_PUT_LOG, &setup.put_log)
            .env(ENV_CHUNK, setup.chunk_bytes.to_string())
            .env(ENV_PREFETCH, setup.prefetch.to_string())
            .env(
                ENV_RETRY_DELAY_MS,
                setup.retry_delay.as_millis().to_string(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if setup.hang {
            command.env(ENV_HANG, "1");
        }
        let mut child = command.spawn().context("starting a worker process")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut process = Self {
            stdin: child.stdin.take(),
            child,
            lines,
        };
        process.line_with(READY, Duration::from_secs(20)).await?;
        Ok(process)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn line_with(&mut self, prefix: &str, timeout: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.lines.try_recv() {
                Ok(line) if line.starts_with(prefix) => return Ok(line),
                Ok(_) => continue,
                Err(TryRecvError::Disconnected) => {
                    anyhow::bail!("worker {} ended without `{prefix}`", self.pid())
                }
                Err(TryRecvError::Empty) => {}
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "worker {} did not say `{prefix}` within {timeout:?}",
                self.pid()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// SIGKILL: no goodbye, no acks, no flushing; the broker sees the connection drop.
    fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// A graceful stop: closes stdin, reads the stats, waits for the exit.
    async fn stop(mut self) -> anyhow::Result<DashcamStats> {
        drop(self.stdin.take());
        let line = self.line_with(STATS, Duration::from_secs(40)).await?;
        let stats = serde_json::from_str(&line[STATS.len()..])?;
        let status = self.child.wait()?;
        anyhow::ensure!(
            status.success(),
            "worker {} exited with {status}",
            self.pid()
        );
        Ok(stats)
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        // A failing test must not leave workers behind.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Puts `jobs` on the work queue, pipelined, and waits until the broker has every one.
async fn submit_all(bridge: &Bridge, jobs: &[FetchClip]) -> anyhow::Result<()> {
    let mut receipts = Vec::with_capacity(jobs.len());
    for job in jobs {
        receipts.push(bridge.submit(WORK_QUEUE, job).await?);
    }
    for receipt in receipts {
        receipt.confirmed().await?;
    }
    Ok(())
}

/// Completed puts (`done`) and started ones (`begin`) per key, with who started them.
#[derive(Default)]
struct PutCounts {
    begun_by: HashMap<String, Vec<u32>>,
    done: HashMap<String, u32>,
}

fn count_puts(log: &Path) -> anyhow::Result<PutCounts> {
    let mut counts = PutCounts::default();
    for event in read_put_log(log)? {
        if event.done {
            *counts.done.entry(event.key).or_default() += 1;
        } else {
            counts
                .begun_by
                .entry(event.key)
                .or_default()
                .push(event.pid);
        }
    }
    Ok(counts)
}

/// 4 worker processes, 1,000 jobs; one worker is killed with SIGKILL while it holds jobs. Every
/// job is done (every clip stored, with the car's bytes, and announced), none is lost, none is
/// stored twice, and nothing is dead-lettered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_worker_mid_job_loses_no_job_and_stores_none_twice() -> anyhow::Result<()> {
    const JOBS: usize = 1000;
    let vhost = TestVhost::create().await?;
    let car = start_car_side(&vhost).await?;
    let (observer, announced) = Announcements::observe(&vhost).await?;
    let dir = tempfile::tempdir()?;
    let setup = WorkerSetup {
        amqp_url: vhost.amqp_url().to_owned(),
        retry_delay: car.config().retry.delay,
        store: dir.path().join("store"),
        put_log: dir.path().join("puts.log"),
        // Header-only clips (32 bytes, 0 s windows) in two chunks of 16 bytes: every job is a
        // whole fetch (two requests), a put and an announcement, and 1,000 of them take seconds.
        chunk_bytes: 16,
        // Small, as advised for workers, yet every worker holds several jobs at any moment.
        prefetch: 8,
        hang: false,
    };
    let mut workers = Vec::new();
    for _ in 0..4 {
        workers.push(WorkerProcess::start(&setup).await?);
    }
    let jobs: Vec<FetchClip> = (0..JOBS).map(|n| job(n, 0, 0)).collect();
    let started = Instant::now();
    submit_all(&car, &jobs).await?;

    // Kill the first worker once it has stored some clips: it is busy and holds more jobs.
    let victim = workers.remove(0);
    let victim_pid = victim.pid();
    eventually("the victim storing clips", Duration::from_secs(60), || {
        let counts = read_put_log(&setup.put_log)?;
        let by_victim = counts
            .iter()
            .filter(|e| e.done && e.pid == victim_pid)
            .count();
        Ok((by_victim >= 25).then_some(()))
    })
    .await?;
    let mut victim = victim;
    victim.kill()?;
    let done_at_kill = count_puts(&setup.put_log)?.done.len();
    assert!(done_at_kill < JOBS, "killed before the work was done");

    eventually("every clip announced", Duration::from_secs(120), || {
        Ok((announced.clips() == JOBS).then_some(()))
    })
    .await?;
    let took = started.elapsed();
    let mut survivors = Vec::new();
    for worker in workers {
        survivors.push(worker.stop().await?);
    }

    // Every clip is in the store, whole, with the car's bytes; only an interrupted put of the
    // victim may have left a temporary file.
    let store = DirectoryStore::open(&setup.store)?;
    let mut keys = BTreeSet::new();
    for job in &jobs {
        let key = ObjectKey::for_clip(&job.vehicle_id, &job.clip_id)?;
        let expected = clip_bytes(&job.vehicle_id, &job.clip_id, 0, 0);
        let on_disk = std::fs::read(store.path_of(&key))
            .with_context(|| format!("{key} is not in the store"))?;
        assert_eq!(on_disk, expected, "{key}");
        keys.insert(key.to_string());
    }
    let leftovers = temporary_files(&setup.store);
    assert!(
        leftovers.len() <= 1,
        "at most the victim's one put in progress: {leftovers:?}"
    );

    // Stored none twice: no key was put to the end more than once. A key with no completed put
    // logged can only be one whose put the victim finished in the moment between the rename and
    // the log line; it is then on disk (checked above) and nobody put it again.
    let puts = count_puts(&setup.put_log)?;
    let twice: Vec<_> = puts.done.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stored twice: {twice:?}");
    let unlogged: Vec<&String> = keys
        .iter()
        .filter(|k| !puts.done.contains_key(*k))
        .collect();
    assert!(unlogged.len() <= 1, "{unlogged:?}");
    for key in &unlogged {
        assert_eq!(puts.begun_by.get(*key), Some(&vec![victim_pid]), "{key}");
    }

    // Every clip announced with its checksum; repeats only for jobs redelivered from the victim.
    for job in &jobs {
        let expected = sha256_hex(&clip_bytes(&job.vehicle_id, &job.clip_id, 0, 0));
        for stored in announced.of(&job.clip_id) {
            assert_eq!(stored.sha256, expected, "{}", job.clip_id);
        }
    }
    let repeats = announced.total() - JOBS;

    // The victim really held jobs that the others then got again.
    let redelivered: u64 = survivors.iter().map(|s| s.jobs_redelivered).sum();
    let already: u64 = survivors.iter().map(|s| s.clips_already_stored).sum();
    let failed: u64 = survivors.iter().map(|s| s.jobs_failed).sum();
    assert!(
        redelivered > 0,
        "no job of the victim came back: {survivors:?}"
    );
    assert!(already <= redelivered);
    assert_eq!(failed, 0, "{survivors:?}");

    let queue = topology::work_queue(WORK_QUEUE);
    assert_eq!(car.queue_depth(&queue).await?.ready, 0);
    assert!(car.dead_letters(&queue, 10).await?.is_empty());
    let by_victim = puts
        .done
        .keys()
        .filter(|k| puts.begun_by[*k].contains(&victim_pid))
        .count();
    eprintln!(
        "{JOBS} jobs in {took:?}; victim killed after {done_at_kill} stored ({by_victim} by it); \
         survivors got {redelivered} redelivered jobs, {already} already stored (announced again: \
         {repeats}); unlogged puts {}; temporary files left {}",
        unlogged.len(),
        leftovers.len()
    );
    car.shutdown().await?;
    observer.shutdown().await?;
    Ok(())
}

/// A job that kills every worker taking it (the worker hangs mid-job and is killed with SIGKILL,
/// as an OOM kill or a crash would) never fails in a handler, so the bridge cannot dead-letter
/// it; the quorum queue's delivery limit does, and the dead letter says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_kills_its_workers_is_dead_lettered_at_the_delivery_limit() -> anyhow::Result<()>
{
    let vhost = TestVhost::create().await?;
    let car = start_car_side(&vhost).await?;
    let dir = tempfile::tempdir()?;
    let setup = WorkerSetup {
        amqp_url: vhost.amqp_url().to_owned(),
        retry_delay: car.config().retry.delay,
        store: dir.path().join("store"),
        put_log: dir.path().join("puts.log"),
        chunk_bytes: 16,
        prefetch: 1,
        hang: true,
    };
    let poison = job(666, 0, 0);
    submit_all(&car, std::slice::from_ref(&poison)).await?;
    let queue = topology::work_queue(WORK_QUEUE);

    let mut kills = 0;
    let letter = loop {
        anyhow::ensure!(kills <= 10, "still not dead-lettered after {kills} kills");
        let mut worker = WorkerProcess::start(&setup).await?;
        // Either the worker takes the job and hangs mid-put, or the broker dead-lettered it.
        let begun = eventually(
            "the job or its dead letter",
            Duration::from_secs(20),
            || {
                let begun = read_put_log(&setup.put_log)?.len();
                Ok((begun > kills).then_some(true))
            },
        );
        let dead = async {
            loop {
                if let Some(letter) = car.dead_letters(&queue, 1).await?.pop() {
                    return anyhow::Ok(letter);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::select! {
            begun = begun => {
                begun?;
                worker.kill()?;
                kills += 1;
            }
            letter = dead => {
                worker.stop().await?;
                break letter?;
            }
        }
    };

    let begun = read_put_log(&setup.put_log)?;
    assert!(begun.iter().all(|e| !e.done), "no put ever finished");
    let deliveries = begun.len();
    assert_eq!(deliveries, kills, "one delivery per killed worker");
    assert_eq!(letter.kind.as_deref(), Some(FetchClip::TYPE));
    assert!(
        letter.reason.contains("redelivered too often"),
        "{}",
        letter.reason
    );
    let body: FetchClip = serde_json::from_slice(&letter.body)?;
    assert_eq!(body, poison);
    assert_eq!(car.queue_depth(&queue).await?.ready, 0);
    eprintln!(
        "dead-lettered by the broker after {deliveries} deliveries, each killing its worker: {}",
        letter.reason
    );
    // The broker's delivery limit is 5 redeliveries: the first delivery and five more.
    let counts: BTreeMap<u32, usize> = begun.iter().fold(BTreeMap::new(), |mut m, e| {
        *m.entry(e.pid).or_default() += 1;
        m
    });
    assert!(counts.values().all(|n| *n == 1), "one delivery per process");
    assert_eq!(deliveries, 6);
    car.shutdown().await?;
    Ok(())
}
