//! The dashcam pipeline on the real broker, in a vhost of its own: the simulator's clip server,
//! the dashcam service, and an observer of `clip-stored`, each with its own connection.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use broker_bridge::testing::TestVhost;
use broker_bridge::topology;
use instadash_dashcam::{
    DashcamOptions, DashcamService, DirectoryStore, ObjectKey, Role, WORK_QUEUE,
};
use instadash_roads::RoadNetwork;
use instadash_schemas::Message;
use instadash_schemas::dashcam::ClipTrigger;
use instadash_schemas::dashcam::clip_captured::v1::ClipCaptured;
use instadash_schemas::dashcam::fetch_clip::v1::FetchClip;
use instadash_simulator::service::{RunOptions, Simulator};
use instadash_simulator::{Emission, FleetModel, Scenario};
use support::*;

/// Shuts bridges down before the test's runtime goes (lapin's I/O threads panic otherwise).
async fn leave(bridges: &[broker_bridge::Bridge]) -> anyhow::Result<()> {
    for bridge in bridges {
        bridge.shutdown().await?;
    }
    Ok(())
}

fn options(store_root: &std::path::Path) -> DashcamOptions {
    DashcamOptions {
        store_root: store_root.to_path_buf(),
        ..DashcamOptions::default()
    }
}

/// Checks one announcement against the car's bytes and the object on disk.
fn check_stored(
    stored: &instadash_schemas::dashcam::clip_stored::v1::ClipStored,
    store: &DirectoryStore,
) {
    let expected = clip_bytes(
        &stored.vehicle_id,
        &stored.clip_id,
        stored.window_before_s,
        stored.window_after_s,
    );
    let key = ObjectKey::for_clip(&stored.vehicle_id, &stored.clip_id).expect("key");
    assert_eq!(stored.object_key, key.as_str());
    assert_eq!(
        stored.size_bytes,
        expected.len() as u64,
        "{}",
        stored.clip_id
    );
    assert_eq!(stored.sha256, sha256_hex(&expected), "{}", stored.clip_id);
    assert_eq!(stored.content_type, "video/mp4");
    assert_eq!(
        stored.duration_s,
        f64::from(stored.window_before_s + stored.window_after_s)
    );
    let on_disk = std::fs::read(store.path_of(&key)).expect("the object is on disk");
    assert!(on_disk == expected, "{} differs on disk", stored.clip_id);
}

/// N clips captured → exactly N stored, each once, with the car's bytes and checksum; the work
/// queue and its dead-letter queue end empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captured_clips_are_stored_once_and_announced_with_their_checksum() -> anyhow::Result<()> {
    let vhost = TestVhost::create().await?;
    let car = start_car_side(&vhost).await?;
    let (observer, announced) = Announcements::observe(&vhost).await?;
    let dir = tempfile::tempdir()?;
    let disk = Arc::new(DirectoryStore::open(dir.path().join("clips"))?);
    let counting = Arc::new(CountingStore::new(disk.clone()));
    let dashcam = DashcamService::start_with_store(
        vhost.connect("dashcam").await?,
        options(dir.path()),
        counting.clone(),
    )
    .await?;

    // Windows from nothing (the 32-byte header only) to the usual 20 s (5 MB, 20 chunks).
    let windows = [
        (0, 0),
        (0, 1),
        (1, 0),
        (1, 1),
        (2, 3),
        (10, 10),
        (0, 2),
        (3, 1),
    ];
    let started = Instant::now();
    for (n, (before, after)) in windows.iter().enumerate() {
        let job = job(n, *before, *after);
        let captured = ClipCaptured {
            clip_id: job.clip_id,
            vehicle_id: job.vehicle_id,
            trigger: ClipTrigger::Impact,
            trigger_time_ms: job.trigger_time_ms,
            window_before_s: *before,
            window_after_s: *after,
            lat: None,
            lon: None,
            size_bytes: None,
        };
        car.publish(&captured).await?.confirmed().await?;
    }
    eventually("every clip announced", Duration::from_secs(60), || {
        Ok((announced.clips() == windows.len()).then_some(()))
    })
    .await?;
    let took = started.elapsed();
    // Anything late would be a second announcement or store.
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert_eq!(
        announced.total(),
        windows.len(),
        "one announcement per clip"
    );
    for (clip_id, events) in announced.all() {
        let stored = &events[0];
        assert_eq!(stored.trigger, ClipTrigger::Impact);
        check_stored(stored, &disk);
        assert_eq!(
            counting.puts(&stored.object_key),
            1,
            "{clip_id} stored once"
        );
    }
    let stats = dashcam.stats();
    assert_eq!(stats.jobs_submitted, windows.len() as u64);
    assert_eq!(stats.clips_stored, windows.len() as u64);
    assert_eq!((stats.clips_already_stored, stats.jobs_failed), (0, 0));
    let queue = topology::work_queue(WORK_QUEUE);
    assert_eq!(car.queue_depth(&queue).await?.ready, 0);
    assert!(car.dead_letters(&queue, 10).await?.is_empty());
    assert!(temporary_files(disk.root()).is_empty());
    eprintln!(
        "{} clips ({} bytes) stored in {took:?}",
        windows.len(),
        stats.bytes_stored
    );
    dashcam.stop().await?;
    leave(&[car, observer]).await
}

/// A scripted scenario's cars capture clips; the store ends with exactly those clips, each
/// announced once with the bytes its car holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_scenario_yields_exactly_its_clips_in_the_store() -> anyhow::Result<()> {
    let scenario = Scenario::from_toml(
        r#"
        name = "dashcam clips"
        seed = 7

        [[car]]
        id = "car-a"
        start_node = 436
        ignition = false
        actions = [
          { idle_s = 4 },
          { dashcam = "panic_button", after_s = 1 },
          { dashcam = "manual", after_s = 1 },
        ]

        [[car]]
        id = "car-b"
        start_node = 102
        ignition = true
        actions = [
          { idle_s = 4 },
          { dashcam = "impact", after_s = 2 },
        ]

        [[car]]
        id = "car-c"
        start_node = 640
        ignition = false
        actions = [{ park_s = 4 }]
        "#,
    )?;
    let vhost = TestVhost::create().await?;
    let car = start_car_side(&vhost).await?;
    let (observer, announced) = Announcements::observe(&vhost).await?;
    let dir = tempfile::tempdir()?;
    let dashcam =
        DashcamService::start(vhost.connect("dashcam").await?, options(dir.path())).await?;

    let model = FleetModel::scripted(RoadNetwork::city(), &scenario, now_ms())?;
    let run = RunOptions {
        speedup: 4.0,
        record: true,
        ..RunOptions::default()
    };
    let report = Simulator::start(car.clone(), model, run).finished().await?;
    let captured: BTreeMap<String, ClipCaptured> = report
        .sent
        .into_iter()
        .filter_map(|emission| match emission {
            Emission::Clip(clip) => Some((clip.clip_id.clone(), clip)),
            _ => None,
        })
        .collect();
    let triggers: BTreeSet<(String, String)> = captured
        .values()
        .map(|c| (c.vehicle_id.clone(), format!("{:?}", c.trigger)))
        .collect();
    assert_eq!(
        triggers,
        BTreeSet::from([
            ("car-a".into(), "Manual".into()),
            ("car-a".into(), "PanicButton".into()),
            ("car-b".into(), "Impact".into()),
        ]),
        "the scenario's three clips"
    );

    eventually(
        "the scenario's clips announced",
        Duration::from_secs(60),
        || Ok((announced.clips() >= captured.len()).then_some(())),
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let store = DirectoryStore::open(dir.path())?;
    let announcements = announced.all();
    assert_eq!(
        announcements.keys().collect::<BTreeSet<_>>(),
        captured.keys().collect::<BTreeSet<_>>(),
        "exactly the captured clips"
    );
    for (clip_id, events) in &announcements {
        assert_eq!(events.len(), 1, "{clip_id} announced once");
        let (stored, clip) = (&events[0], &captured[clip_id]);
        assert_eq!(
            (&stored.vehicle_id, stored.trigger, stored.trigger_time_ms),
            (&clip.vehicle_id, clip.trigger, clip.trigger_time_ms)
        );
        assert_eq!((stored.window_before_s, stored.window_after_s), (10, 10));
        check_stored(stored, &store);
    }
    // Nothing else in the store: one file per clip.
    let mut files = 0;
    for car_dir in std::fs::read_dir(dir.path().join("clips"))? {
        files += std::fs::read_dir(car_dir?.path())?.count();
    }
    assert_eq!(files, captured.len());
    dashcam.stop().await?;
    leave(&[car, observer]).await
}

/// The same clip asked for twice (a second trigger instance, a replayed job): stored once,
/// announced twice with the same key and checksum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_job_is_announced_again_but_not_stored_again() -> anyhow::Result<()> {
    let vhost = TestVhost::create().await?;
    let car = start_car_side(&vhost).await?;
    let (observer, announced) = Announcements::observe(&vhost).await?;
    let dir = tempfile::tempdir()?;
    let counting = Arc::new(CountingStore::new(Arc::new(DirectoryStore::open(
        dir.path(),
    )?)));
    let dashcam = DashcamService::start_with_store(
        vhost.connect("dashcam").await?,
        DashcamOptions {
            role: Role::Workers,
            ..options(dir.path())
        },
        counting.clone(),
    )
    .await?;

    let job = job(1, 1, 1);
    for round in 1..=2 {
        // Two submissions are two events with their own ids: the bridge's dedup does not apply.
        car.submit(WORK_QUEUE, &job).await?.confirmed().await?;
        eventually("the announcement", Duration::from_secs(20), || {
            Ok((announced.total() == round).then_some(()))
        })
        .await?;
    }
    let events = announced.of(&job.clip_id);
    assert_eq!(events.len(), 2);
    assert_eq!(
        (
            &events[0].object_key,
            &events[0].sha256,
            events[0].size_bytes
        ),
        (
            &events[1].object_key,
            &events[1].sha256,
            events[1].size_bytes
        )
    );
    assert_eq!(
        events[0].stored_at_ms, events[1].stored_at_ms,
        "the repeat reports when the object was stored"
    );
    assert_eq!(counting.puts(&events[0].object_key), 1, "stored once");
    let stats = dashcam.stats();
    assert_eq!((stats.clips_stored, stats.clips_already_stored), (1, 1));
    dashcam.stop().await?;
    leave(&[car, observer]).await
}

/// A job whose store keeps failing is tried `retry_attempts` times, `retry_delay` apart, and then
/// lands in the work queue's dead-letter queue with the store's error as the reason; nothing is
/// announced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_store_keeps_failing_is_dead_lettered_with_the_reason() -> anyhow::Result<()> {
    let vhost = TestVhost::create().await?;
    let car = start_car_side(&vhost).await?;
    let (observer, announced) = Announcements::observe(&vhost).await?;
    let dir = tempfile::tempdir()?;
    let failing = Arc::new(support::FailingStore::default());
    let bridge = vhost.connect("dashcam").await?;
    let retry = bridge.config().retry;
    let dashcam = DashcamService::start_with_store(
        bridge.clone(),
        DashcamOptions {
            role: Role::Workers,
            ..options(dir.path())
        },
        failing.clone(),
    )
    .await?;

    let job = job(7, 0, 1);
    let started = Instant::now();
    bridge.submit(WORK_QUEUE, &job).await?.confirmed().await?;
    let queue = topology::work_queue(WORK_QUEUE);
    let letter = loop {
        let letters = bridge.dead_letters(&queue, 10).await?;
        if let Some(letter) = letters.into_iter().next() {
            break letter;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "no dead letter within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let took = started.elapsed();
    assert_eq!(letter.kind.as_deref(), Some(FetchClip::TYPE));
    assert_eq!(
        letter.reason,
        format!("handler failed {} times", retry.attempts)
    );
    assert!(letter.error.contains(STORE_FAILURE), "{}", letter.error);
    assert!(letter.error.contains(&job.clip_id), "{}", letter.error);
    assert_eq!(letter.attempts, retry.attempts);
    assert!(
        letter.rejected_by.starts_with("dashcam/"),
        "{}",
        letter.rejected_by
    );
    let body: FetchClip = serde_json::from_slice(&letter.body)?;
    assert_eq!(
        body, job,
        "the job itself, to replay once the store is fixed"
    );
    assert_eq!(
        failing.attempts.load(Ordering::SeqCst),
        u64::from(retry.attempts)
    );
    assert!(
        took >= retry.delay * (retry.attempts - 1),
        "attempts {:?} apart, all done in {took:?}",
        retry.delay
    );
    assert_eq!(bridge.queue_depth(&queue).await?.ready, 0);
    assert_eq!(announced.total(), 0);
    let stats = dashcam.stats();
    assert_eq!(
        (stats.jobs_failed, stats.clips_stored),
        (u64::from(retry.attempts), 0)
    );
    eprintln!(
        "dead-lettered after {} attempts in {took:?}: {} / {}",
        letter.attempts, letter.reason, letter.error
    );
    dashcam.stop().await?;
    leave(&[car, observer]).await
}
