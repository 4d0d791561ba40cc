//! [`DashcamService`] on the bus: the trigger side and the clip workers, either or both.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use broker_bridge::{Bridge, Incoming, QueueKind};
use instadash_schemas::dashcam::clip_captured::v1::ClipCaptured;
use instadash_schemas::dashcam::fetch_clip::v1::FetchClip;
use tracing::{info, warn};

use crate::fetch::ClipSource;
use crate::stats::{Counters, DashcamStats};
use crate::store::{DirectoryStore, ObjectStore};
use crate::worker::Worker;
use crate::{WORK_QUEUE, trigger};

/// The most a chunk request may ask for, as the contract allows.
pub const MAX_CHUNK_BYTES: u32 = 262_144;

/// What this instance does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Both the trigger side and the workers (one process, the local default).
    #[default]
    All,
    /// Only turns `clip-captured` events into jobs.
    Trigger,
    /// Only works on jobs (scaled-out worker containers).
    Workers,
}

impl Role {
    pub fn triggers(self) -> bool {
        matches!(self, Role::All | Role::Trigger)
    }

    pub fn works(self) -> bool {
        matches!(self, Role::All | Role::Workers)
    }
}

/// How the service runs.
#[derive(Debug, Clone)]
pub struct DashcamOptions {
    pub role: Role,
    /// Competing workers in this process, each with its own channel (ignored for [`Role::Trigger`]).
    pub workers: usize,
    /// The subscriber group of the trigger side: one queue shared by all its instances.
    pub group: String,
    /// Root of the directory store (`<data_dir>/clips`), when no other store is given.
    pub store_root: PathBuf,
    /// Bytes asked for per chunk request, at most [`MAX_CHUNK_BYTES`].
    pub chunk_bytes: u32,
    /// How long one chunk request may take.
    pub request_timeout: Duration,
    /// The service that answers `get-clip-bytes` for the cars.
    pub car_service: String,
    /// Larger clips are refused (the job fails) rather than held in memory. 600 s of video at the
    /// simulator's rate is 150 MB.
    pub max_clip_bytes: u64,
}

impl Default for DashcamOptions {
    fn default() -> Self {
        Self {
            role: Role::All,
            workers: 2,
            group: "dashcam".into(),
            store_root: PathBuf::from("data").join("clips"),
            chunk_bytes: MAX_CHUNK_BYTES,
            request_timeout: broker_bridge::DEFAULT_REQUEST_TIMEOUT,
            car_service: "simulator".into(),
            max_clip_bytes: 256 * 1024 * 1024,
        }
    }
}

/// What a chunk reply costs on the wire besides its base64 data: the other fields, the
/// CloudEvents headers and the trace context, generously.
const REPLY_OVERHEAD_BYTES: usize = 8 * 1024;

/// A prefetch above this lets one worker hoard jobs while others idle.
const FAIR_PREFETCH: u16 = 32;
/// The prefetch the `instadash` command gives the dashcam's connection: clip jobs take seconds
/// each, so a worker should hold only a few.
pub const CLIP_WORKER_PREFETCH: u16 = 4;

impl DashcamOptions {
    /// Refuses settings that could only fail later, on every job.
    pub fn validate(&self, max_message_bytes: usize) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=MAX_CHUNK_BYTES).contains(&self.chunk_bytes),
            "the chunk size must be 1..={MAX_CHUNK_BYTES} bytes, not {}",
            self.chunk_bytes
        );
        // The car answers in base64 (4 bytes for 3) inside a message the bus limits.
        let reply_bytes = 4 * (self.chunk_bytes as usize).div_ceil(3) + REPLY_OVERHEAD_BYTES;
        anyhow::ensure!(
            reply_bytes <= max_message_bytes,
            "a chunk of {} bytes needs replies of about {reply_bytes} bytes, over the message \
             limit of {max_message_bytes}; use a smaller chunk size",
            self.chunk_bytes
        );
        anyhow::ensure!(
            !self.role.works() || self.workers >= 1,
            "a worker role needs at least one worker (for none, use the trigger role)"
        );
        anyhow::ensure!(
            !self.request_timeout.is_zero(),
            "the request timeout must be positive"
        );
        anyhow::ensure!(!self.car_service.is_empty(), "the car service needs a name");
        Ok(())
    }
}

/// A running dashcam service.
pub struct DashcamService {
    bridge: Bridge,
    counters: Arc<Counters>,
    store: Option<Arc<dyn ObjectStore>>,
}

impl DashcamService {
    /// Starts with a [`DirectoryStore`] under `options.store_root`. Returns once it consumes.
    pub async fn start(bridge: Bridge, options: DashcamOptions) -> anyhow::Result<Self> {
        let store: Option<Arc<dyn ObjectStore>> = if options.role.works() {
            Some(Arc::new(
                DirectoryStore::open(&options.store_root).context("opening the clip store")?,
            ))
        } else {
            None
        };
        Self::start_inner(bridge, options, store).await
    }

    /// Starts with the given store (an S3-compatible one, or a test's). The trigger role does
    /// not use it.
    pub async fn start_with_store(
        bridge: Bridge,
        options: DashcamOptions,
        store: Arc<dyn ObjectStore>,
    ) -> anyhow::Result<Self> {
        Self::start_inner(bridge, options, Some(store)).await
    }

    async fn start_inner(
        bridge: Bridge,
        options: DashcamOptions,
        store: Option<Arc<dyn ObjectStore>>,
    ) -> anyhow::Result<Self> {
        let config = bridge.config();
        options.validate(config.max_message_bytes)?;
        let counters = Arc::new(Counters::default());

        // Workers first: jobs the trigger side submits find someone to take them.
        // `start` opens a store for every role that works, `start_with_store` is given one.
        if let Some(store) = store.as_ref().filter(|_| options.role.works()) {
            if config.prefetch > FAIR_PREFETCH {
                warn!(
                    prefetch = config.prefetch,
                    "each clip worker may hold this many jobs while others idle; \
                     a prefetch of 1-4 spreads clip jobs evenly"
                );
            }
            let worker = Arc::new(Worker {
                bridge: bridge.clone(),
                source: ClipSource {
                    bridge: bridge.clone(),
                    service: options.car_service.clone(),
                    chunk_bytes: options.chunk_bytes,
                    timeout: options.request_timeout,
                    max_clip_bytes: options.max_clip_bytes,
                },
                store: store.clone(),
                counters: counters.clone(),
            });
            // Declared once before the workers start: workers declaring a new quorum queue at
            // the same moment can make RabbitMQ 3.10 fail one's consume (`{badmatch,{error,
            // noproc}}` in `rabbit_quorum_queue:consume`), which closes the connection.
            bridge
                .declare_work_queue(WORK_QUEUE, QueueKind::Quorum)
                .await
                .context("declaring the clip work queue")?;
            bridge
                .work_queue(WORK_QUEUE)
                .workers(options.workers)
                .on(move |job: Incoming<FetchClip>| {
                    let worker = worker.clone();
                    async move { worker.handle(job).await }
                })
                .start()
                .await
                .context("starting the clip workers")?;
            info!(
                workers = options.workers,
                store = %store.describe(),
                car_service = %options.car_service,
                retry_attempts = config.retry.attempts,
                retry_delay_ms = config.retry.delay.as_millis() as u64,
                "clip workers running"
            );
        }

        if options.role.triggers() {
            let (b, c) = (bridge.clone(), counters.clone());
            bridge
                .subscribe(&options.group)
                .on(move |clip: Incoming<ClipCaptured>| {
                    let (bridge, counters) = (b.clone(), c.clone());
                    async move {
                        trigger::submit_job(&bridge, &clip.data).await?;
                        Counters::add(&counters.jobs_submitted, 1);
                        Ok(())
                    }
                })
                .start()
                .await
                .context("subscribing to clip-captured")?;
            info!(group = %options.group, "turning captured clips into jobs");
        }

        Ok(Self {
            bridge,
            counters,
            store,
        })
    }

    /// What it has done so far.
    pub fn stats(&self) -> DashcamStats {
        self.counters.snapshot()
    }

    /// The store the workers write to (`None` for the trigger role started without one).
    pub fn store(&self) -> Option<&Arc<dyn ObjectStore>> {
        self.store.as_ref()
    }

    /// Leaves the bus: consumers stop taking jobs, jobs in progress finish and are acknowledged,
    /// outstanding confirms are awaited.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.bridge.shutdown().await.context("leaving the bus")
    }
}
