//! The dashcam service: a car's dashcam trigger becomes a clip job; competing workers fetch the
//! video from the car, store it in an object store, and announce where it is. Only metadata
//! travels on the bus, never the video (it moves car → worker → store in chunks of a request).
//!
//! # The pipeline
//!
//! ```text
//!  car ── clip-captured (event) ──▶ trigger side (group "dashcam")
//!                                       │ submit, confirmed
//!                                       ▼
//!                          fetch-clip (job, work queue "dashcam-clips")
//!                                       │ competing workers
//!                                       ▼
//!  car ◀── get-clip-bytes (request: offset, max_bytes) ── worker ── put ──▶ object store
//!  car ──▶ get-clip-bytes-reply (base64 chunk, total_size, eof)   │
//!                                                                 ▼
//!                                   clip-stored (event: object_key, size, sha256, …)
//! ```
//!
//! - **Trigger** ([`trigger`]): subscribes as group `dashcam` to `clip-captured` and submits one
//!   [`FetchClip`](instadash_schemas::dashcam::fetch_clip::v1::FetchClip) per clip, acknowledging
//!   the event only once the broker confirmed the job.
//! - **Workers** ([`service`], `worker`): `workers` consumers of the work queue, each with its own
//!   channel, handling one job at a time. A worker asks the car service (`simulator` by default)
//!   for the clip chunk by chunk (`chunk_bytes`, 256 KiB by default — the contract's maximum,
//!   about 350 KB per reply in base64, inside the default 1 MiB message limit; each chunk has its
//!   own `request_timeout`, 5 s by default), checks every reply (`fetch`), writes the clip to the
//!   [`ObjectStore`] under `clips/<vehicle_id>/<clip_id>.mp4` ([`ObjectKey::for_clip`]), and
//!   publishes `clip-stored` with the key, size, SHA-256 (computed by the store from the bytes
//!   it wrote) and media type, waiting for the broker's confirm before the job is acknowledged.
//! - **Store** ([`store`]): [`DirectoryStore`] by default (atomic writes: temporary file, fsync,
//!   rename, directory fsync); the trait is shaped after S3's `PutObject`/`HeadObject`/`GetObject`
//!   so an S3-compatible store plugs in through [`DashcamService::start_with_store`].
//!
//! # Idempotency
//!
//! Delivery is at least once and the bridge drops duplicates only per process, so a job can reach
//! a worker again: the jobs a killed worker held (even one it had finished but not yet
//! acknowledged) are redelivered to another, and a `clip-captured` redelivered to another trigger
//! instance yields a second job. The key is a pure function of the clip, so a worker first looks
//! the key up: if an object is there with the size the car reports (a one-byte request), the clip
//! is not fetched or stored again, but `clip-stored` is published again (with the stored object's
//! checksum and time); if the car cannot be asked, the attempt fails like any other.
//! **Consumers key `clip-stored` by `clip_id`** and must accept it more than once. Two workers on
//! duplicate jobs at the very same moment may both store the clip; the writes are atomic and the
//! bytes identical, so the object is whole either way.
//!
//! # Retries and dead letters
//!
//! Any failure of a job (the car does not answer in time, answers inconsistently, the store
//! fails, the announcement is not confirmed) returns an error to the bridge, which parks the job
//! in `instadash.work.dashcam-clips.retry` for the bridge's retry delay and then redelivers it.
//! After the bridge's retry attempts (the bridge config's `retry_attempts` / `retry_delay_ms`;
//! defaults 3 attempts in all, 1 s apart — set them in the `--config` file) the job goes to
//! `instadash.work.dashcam-clips.dead-letter` with the reason (`handler failed 3 times`) and the
//! last error in its headers (`instadash dlq` shows and replays them). The delay is fixed per
//! queue (the retry queue's message TTL, set when the queue is first declared), so the back-off
//! is a pause between attempts rather than a growing one, and every instance of the service must
//! use the same `retry_delay_ms` (the broker refuses to declare the queue with another TTL). The
//! defaults suit a store that hiccups, not a car that is offline for minutes: such jobs end in the
//! dead-letter queue and are replayed once the car is back. A job whose worker dies on it over and
//! over (the process crashes or is killed mid-job) never returns an error; the work queue is a
//! quorum queue, and the broker dead-letters it after its delivery limit (5 redeliveries).
//!
//! # Roles and scaling
//!
//! [`Role::All`] runs both sides (`instadash run dashcam --workers 4`). For scaled-out workers,
//! run one trigger instance (or several: they share the group queue) with `--role trigger` and any
//! number of worker containers with `--role workers --workers N`; they compete on one work queue
//! and all must see the same store. The bridge's prefetch applies to every worker: keep it small
//! for worker processes (`--prefetch 1` to `4`) so jobs spread evenly; with the default (300) one
//! worker can hold hundreds of queued jobs while others idle (a warning says so). Nothing is lost
//! either way: a dead worker's unacknowledged jobs go back to the queue at once. A worker holds
//! the clip it works on in memory (5 MB for the usual 20 s; clips over `max_clip_bytes`, 256 MiB by
//! default, are refused).
//!
//! # The car's side
//!
//! The simulator answers `get-clip-bytes` for its cars with `instadash_simulator::clips`: call
//! `serve_clips(&bridge)` on its bridge, or add `answer_clip_requests` to the one `serve()`
//! builder if it answers other requests too (all consumers of an inbox must answer every type).

pub mod cli;
pub mod fetch;
pub mod key;
pub mod service;
mod stats;
pub mod store;
pub mod trigger;
mod worker;

pub use key::{KeyError, ObjectKey};
pub use service::{DashcamOptions, DashcamService, MAX_CHUNK_BYTES, Role};
pub use stats::DashcamStats;
pub use store::{DirectoryStore, ObjectInfo, ObjectStore, StoreError};

/// The work queue of clip jobs (the contract's routing key of `fetch-clip`).
pub const WORK_QUEUE: &str = "dashcam-clips";
