//! The trigger side: every clip a car reports becomes one job on the clip workers' queue.

use anyhow::Context;
use broker_bridge::Bridge;
use instadash_schemas::dashcam::clip_captured::v1::ClipCaptured;
use instadash_schemas::dashcam::fetch_clip::v1::FetchClip;

use crate::WORK_QUEUE;

/// The job for `clip`, requested by the service `requested_by`.
pub fn job_for(clip: &ClipCaptured, requested_by: &str) -> FetchClip {
    FetchClip {
        clip_id: clip.clip_id.clone(),
        vehicle_id: clip.vehicle_id.clone(),
        trigger: clip.trigger,
        trigger_time_ms: clip.trigger_time_ms,
        window_before_s: clip.window_before_s,
        window_after_s: clip.window_after_s,
        requested_by: requested_by.to_owned(),
        alert_id: None,
    }
}

/// Puts the job for `clip` on the work queue and waits until the broker has it, so the
/// `clip-captured` event is acknowledged only once its job cannot be lost.
pub(crate) async fn submit_job(bridge: &Bridge, clip: &ClipCaptured) -> anyhow::Result<()> {
    let job = job_for(clip, &bridge.config().service);
    bridge
        .submit(WORK_QUEUE, &job)
        .await
        .context("submitting the clip job")?
        .confirmed()
        .await
        .context("the broker did not take the clip job")
}

#[cfg(test)]
mod tests {
    use instadash_schemas::dashcam::ClipTrigger;

    use super::*;

    #[test]
    fn a_job_carries_the_clip_and_who_asked() {
        let clip = ClipCaptured {
            clip_id: "c-1".into(),
            vehicle_id: "car-7".into(),
            trigger: ClipTrigger::PanicButton,
            trigger_time_ms: 1_793_693_730_250,
            window_before_s: 10,
            window_after_s: 5,
            lat: Some(48.1),
            lon: Some(11.5),
            size_bytes: None,
        };
        let job = job_for(&clip, "dashcam");
        assert_eq!(
            (job.clip_id.as_str(), job.vehicle_id.as_str()),
            ("c-1", "car-7")
        );
        assert_eq!(job.trigger, ClipTrigger::PanicButton);
        assert_eq!(job.trigger_time_ms, clip.trigger_time_ms);
        assert_eq!((job.window_before_s, job.window_after_s), (10, 5));
        assert_eq!(job.requested_by, "dashcam");
        assert_eq!(job.alert_id, None);
    }
}
