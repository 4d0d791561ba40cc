//! `instadash dlq` against a test vhost: dead letters listed by reason, shown with their check and
//! pointer, and replayed once the cause is fixed, re-checked against the contract.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use broker_bridge::testing::{Received, TestVhost};
use broker_bridge::{Incoming, Message, Payload, Rejection};
use instadash_schemas::Contract;
use instadash_schemas::dashcam::fetch_clip::v1::FetchClip;
use serde::Serialize;

use common::instadash;

const WAIT: Duration = Duration::from_secs(20);
const QUEUE: &str = "instadash.work.dashcam-clips";

/// A producer with a bug: it sends fetch-clip jobs with a window of an hour, which the schema
/// forbids (at most 300 s). It skips the check on sending, as a client in another language might.
#[derive(Serialize, serde::Deserialize)]
struct BuggyFetchClip(FetchClip);

impl Message for BuggyFetchClip {
    const TYPE: &'static str = FetchClip::TYPE;
    fn encode(&self) -> Result<Payload, Rejection> {
        let mut payload = Payload::json(&self.0)?;
        payload.data_schema = Some(instadash_schemas::dataschema_of::<FetchClip>());
        Ok(payload)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_shown_and_replayed_through_the_command() {
    let vhost = TestVhost::create().await.unwrap();
    let producer = vhost.connect("alerts").await.unwrap();
    let worker = vhost.connect("dashcam").await.unwrap();
    let store_up = Arc::new(AtomicBool::new(false));
    let stored = Arc::new(Received::<String>::new());
    let (up, sink) = (store_up.clone(), stored.clone());
    worker
        .work_queue("dashcam-clips")
        .on(move |job: Incoming<FetchClip>| {
            let (up, sink) = (up.clone(), sink.clone());
            async move {
                anyhow::ensure!(up.load(Ordering::SeqCst), "clip store unreachable");
                sink.push(job.data.clip_id);
                Ok(())
            }
        })
        .start()
        .await
        .unwrap();

    let good = FetchClip::example();
    producer.submit("dashcam-clips", &good).await.unwrap();
    let mut bad = FetchClip::example();
    bad.clip_id = "clip-too-long".into();
    bad.window_after_s = 3_600;
    producer
        .submit("dashcam-clips", &BuggyFetchClip(bad))
        .await
        .unwrap();
    vhost
        .wait_for_depth(&format!("{QUEUE}.dead-letter"), 2, WAIT)
        .await
        .unwrap();

    let url = vhost.amqp_url();
    let listed = instadash(&["dlq", "list", "--json"], url).await;
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["queue"], QUEUE, "{listed}");
    assert_eq!(listed[0]["messages"], 2);
    assert_eq!(
        listed[0]["reasons"]["handler failed 3 times"], 1,
        "{listed}"
    );
    assert_eq!(
        listed[0]["reasons"]["schema validation failed"], 1,
        "{listed}"
    );

    let shown = instadash(&["dlq", "show", QUEUE, "--json"], url).await;
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    let rejected = shown
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["reason"] == "schema validation failed")
        .expect("the rejected job is shown");
    assert_eq!(rejected["check"], "maximum");
    assert_eq!(rejected["pointer"], "/window_after_s");
    assert_eq!(
        rejected["schema"],
        "urn:instadash:schema:instadash.dashcam.fetch-clip:v1"
    );
    assert!(
        rejected["rejected_by"]
            .as_str()
            .unwrap()
            .starts_with("dashcam/")
    );

    // The store is back: the failed job goes through, the invalid one is refused again.
    store_up.store(true, Ordering::SeqCst);
    let replayed = instadash(&["dlq", "replay", QUEUE], url).await;
    let out = String::from_utf8_lossy(&replayed.stdout);
    assert!(
        replayed.status.success(),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    assert!(
        out.contains("1 replayed, 1 failed their check again"),
        "{out}"
    );
    assert_eq!(stored.next(WAIT).await.unwrap(), good.clip_id);
    vhost
        .wait_for_depth(&format!("{QUEUE}.dead-letter"), 1, WAIT)
        .await
        .unwrap();
    let left = producer.dead_letters(QUEUE, 10).await.unwrap();
    assert_eq!(left.len(), 1, "nothing lost");
    assert_eq!(
        (left[0].reason.as_str(), left[0].pointer.as_str()),
        ("schema validation failed", "/window_after_s")
    );
}
