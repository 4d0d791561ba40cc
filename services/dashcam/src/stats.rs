//! What the service has done so far: cheap counters, read while it runs.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// A snapshot of [`crate::DashcamService::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashcamStats {
    /// Clip jobs put on the work queue (trigger side).
    pub jobs_submitted: u64,
    /// Job deliveries a worker started on (a retried job counts once per attempt).
    pub jobs_started: u64,
    /// Of those, deliveries the broker had handed out before (a worker died holding them).
    pub jobs_redelivered: u64,
    /// Clips fetched and written to the store.
    pub clips_stored: u64,
    /// Jobs whose clip was already in the store with the car's size: announced, not stored again.
    pub clips_already_stored: u64,
    /// Job attempts that failed (each is retried or dead-lettered by the bridge).
    pub jobs_failed: u64,
    /// Bytes of video written to the store.
    pub bytes_stored: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub jobs_submitted: AtomicU64,
    pub jobs_started: AtomicU64,
    pub jobs_redelivered: AtomicU64,
    pub clips_stored: AtomicU64,
    pub clips_already_stored: AtomicU64,
    pub jobs_failed: AtomicU64,
    pub bytes_stored: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> DashcamStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        DashcamStats {
            jobs_submitted: get(&self.jobs_submitted),
            jobs_started: get(&self.jobs_started),
            jobs_redelivered: get(&self.jobs_redelivered),
            clips_stored: get(&self.clips_stored),
            clips_already_stored: get(&self.clips_already_stored),
            jobs_failed: get(&self.jobs_failed),
            bytes_stored: get(&self.bytes_stored),
        }
    }
}
