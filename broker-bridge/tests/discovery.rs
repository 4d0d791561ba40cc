//! Discovery through the broker: instances announce themselves, a directory started later knows
//! them within a second, versions side by side are both visible, a graceful leave is seen at once.

use std::time::{Duration, Instant};

use broker_bridge::testing::TestVhost;
use broker_bridge::{Bridge, Directory, Incoming, InstanceStatus};

mod common;

use common::Tick;

async fn instance(vhost: &TestVhost, service: &str, version: &str) -> Bridge {
    let mut config = vhost.config(service);
    config.service_version = version.into();
    Bridge::connect(config).await.unwrap()
}

/// Waits until `check` holds for the directory's instances, returning how long that took.
async fn until(
    directory: &mut Directory,
    what: &str,
    check: impl Fn(&[broker_bridge::Instance]) -> bool,
) -> Duration {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(10);
    while !check(&directory.instances()) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            tokio::time::timeout(left, directory.changed())
                .await
                .is_ok_and(|open| open),
            "{what}: not within 10 s; directory: {:#?}",
            directory.instances()
        );
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_directory_knows_every_instance_at_once_and_sees_them_leave() {
    common::init_logs();
    let vhost = TestVhost::create().await.unwrap();
    let old = instance(&vhost, "tracker", "1.4.0").await;
    let new = instance(&vhost, "tracker", "2.0.0").await;
    for tracker in [&old, &new] {
        tracker
            .subscribe("tracker")
            .on(|_: Incoming<Tick>| async { Ok(()) })
            .start()
            .await
            .unwrap();
    }
    let alerts = instance(&vhost, "alerts", "1.0.0").await;
    alerts.publish(&Tick { seq: 1 }).await.unwrap();

    let operator = instance(&vhost, "operator", "1.0.0").await;
    let started = Instant::now();
    let mut directory = operator.directory().await.unwrap();
    until(&mut directory, "all four listed", |all| all.len() == 4).await;
    let complete = started.elapsed();
    assert!(
        complete < Duration::from_secs(1),
        "directory complete after {complete:?}"
    );

    let all = directory.instances();
    let trackers: Vec<_> = all.iter().filter(|i| i.service == "tracker").collect();
    let mut versions: Vec<_> = trackers.iter().map(|i| i.version.as_str()).collect();
    versions.sort();
    assert_eq!(versions, ["1.4.0", "2.0.0"], "two versions side by side");
    for tracker in &trackers {
        assert_eq!(tracker.offers.consumes.len(), 1, "{tracker:?}");
        assert_eq!(tracker.offers.consumes[0].type_, "instadash.test.tick");
        assert_eq!(tracker.status, InstanceStatus::Live);
        assert_eq!(tracker.pid, std::process::id());
    }
    let alert = all.iter().find(|i| i.service == "alerts").unwrap();
    until(&mut directory, "alerts' produces announced", |all| {
        all.iter().any(|i| {
            i.service == "alerts"
                && i.offers
                    .produces
                    .iter()
                    .any(|t| t.type_ == "instadash.test.tick")
        })
    })
    .await;
    assert_eq!(alert.version, "1.0.0");

    // A graceful shutdown is gone from the directory within a second.
    old.shutdown().await.unwrap();
    let gone = until(&mut directory, "the old tracker gone", |all| {
        all.iter().all(|i| i.version != "1.4.0")
    })
    .await;
    assert!(gone < Duration::from_secs(1), "gone after {gone:?}");
    eprintln!("directory complete after {complete:?}; a graceful leave seen after {gone:?}");
}
