//! One clip job, start to finish: fetch the clip from the car, store it, announce it.
//!
//! A job may be done more than once — the broker redelivers the jobs a dead worker held,
//! including one it had finished but not yet acknowledged, and a `clip-captured` redelivered to
//! another trigger instance makes a second job — so the worker first asks the store: an object
//! already at the clip's key with the size the car reports is that clip, stored by an earlier
//! run. It is announced again (consumers key `clip-stored` by `clip_id`), not stored again.
//!
//! Any error fails the attempt; the bridge retries the job after its retry delay and
//! dead-letters it, with the error as its reason, once the attempts are used up.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use broker_bridge::{Bridge, Incoming, PublishError};
use instadash_schemas::dashcam::clip_stored::v1::ClipStored;
use instadash_schemas::dashcam::fetch_clip::v1::FetchClip;
use tracing::{debug, warn};

use crate::fetch::ClipSource;
use crate::key::ObjectKey;
use crate::stats::Counters;
use crate::store::{ObjectInfo, ObjectStore};

pub(crate) struct Worker {
    pub bridge: Bridge,
    pub source: ClipSource,
    pub store: Arc<dyn ObjectStore>,
    pub counters: Arc<Counters>,
}

impl Worker {
    /// The work-queue handler.
    pub async fn handle(&self, job: Incoming<FetchClip>) -> anyhow::Result<()> {
        let counters = &self.counters;
        Counters::add(&counters.jobs_started, 1);
        if job.redelivered {
            Counters::add(&counters.jobs_redelivered, 1);
        }
        let done = self.run(&job.data).await;
        if let Err(error) = &done {
            Counters::add(&counters.jobs_failed, 1);
            debug!(clip_id = %job.data.clip_id, attempt = job.attempt, error = format!("{error:#}"), "clip job failed");
        }
        done
    }

    async fn run(&self, job: &FetchClip) -> anyhow::Result<()> {
        let key = ObjectKey::for_clip(&job.vehicle_id, &job.clip_id)?;
        let (stored, content_type) = match self.already_stored(job, &key).await? {
            Some(found) => {
                Counters::add(&self.counters.clips_already_stored, 1);
                debug!(clip_id = %job.clip_id, %key, "clip already stored; announcing it again");
                found
            }
            None => self.fetch_and_store(job, &key).await?,
        };
        self.announce(job, &key, &stored, content_type).await
    }

    /// The stored object and the clip's media type, if the clip is already in the store whole.
    async fn already_stored(
        &self,
        job: &FetchClip,
        key: &ObjectKey,
    ) -> anyhow::Result<Option<(ObjectInfo, String)>> {
        let Some(existing) = self.store.head(key).await? else {
            return Ok(None);
        };
        // Only the car knows how long the clip is; one byte of it tells.
        let facts = self.source.facts(job).await?;
        if existing.size == facts.total_size {
            return Ok(Some((existing, facts.content_type)));
        }
        warn!(%key, stored = existing.size, car = facts.total_size, "stored clip has another size than the car's; storing it again");
        Ok(None)
    }

    async fn fetch_and_store(
        &self,
        job: &FetchClip,
        key: &ObjectKey,
    ) -> anyhow::Result<(ObjectInfo, String)> {
        let clip = self.source.fetch(job).await?;
        let size = clip.data.len() as u64;
        let stored = self
            .store
            .put(key, clip.data, &clip.content_type)
            .await
            .with_context(|| format!("storing clip {} ({size} bytes)", job.clip_id))?;
        anyhow::ensure!(
            stored.size == size,
            "the store kept {} bytes of the {size} of clip {}",
            stored.size,
            job.clip_id
        );
        Counters::add(&self.counters.clips_stored, 1);
        Counters::add(&self.counters.bytes_stored, size);
        debug!(clip_id = %job.clip_id, %key, size, "clip stored");
        Ok((stored, clip.content_type))
    }

    /// Publishes `clip-stored` and waits for the broker, so the job is acknowledged only once the
    /// announcement cannot be lost. Nobody subscribing is no failure: the clip is stored.
    async fn announce(
        &self,
        job: &FetchClip,
        key: &ObjectKey,
        stored: &ObjectInfo,
        content_type: String,
    ) -> anyhow::Result<()> {
        let event = ClipStored {
            clip_id: job.clip_id.clone(),
            vehicle_id: job.vehicle_id.clone(),
            trigger: job.trigger,
            trigger_time_ms: job.trigger_time_ms,
            window_before_s: job.window_before_s,
            window_after_s: job.window_after_s,
            object_key: key.to_string(),
            size_bytes: stored.size,
            sha256: stored.sha256.clone(),
            content_type,
            duration_s: f64::from(job.window_before_s) + f64::from(job.window_after_s),
            stored_at_ms: stored.modified_ms.unwrap_or_else(now_ms),
            alert_id: job.alert_id.clone(),
        };
        let receipt = self
            .bridge
            .publish(&event)
            .await
            .context("publishing clip-stored")?;
        match receipt.confirmed().await {
            Ok(()) | Err(PublishError::Unroutable { .. }) => Ok(()),
            Err(error) => Err(error).context("publishing clip-stored"),
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
