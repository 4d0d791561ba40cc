//! `instadash services` against a test vhost: two versions of a service side by side and another
//! service are listed with what they offer (the command's own instance is not), in JSON and for
//! people, and an instance that shut down is no longer listed.

mod common;

use broker_bridge::testing::TestVhost;
use broker_bridge::{Bridge, Incoming, Message};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use common::instadash;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Tick {
    seq: u32,
}

impl Message for Tick {
    const TYPE: &'static str = "instadash.test.tick";
}

async fn instance(vhost: &TestVhost, service: &str, version: &str) -> Bridge {
    let mut config = vhost.config(service);
    config.service_version = version.into();
    Bridge::connect(config).await.unwrap()
}

/// `instadash services --json`, parsed: the instances listed.
async fn listed(url: &str) -> Vec<Value> {
    let output = instadash(&["services", "--json"], url).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let listed: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is one JSON array ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    listed.as_array().expect("an array").clone()
}

fn find<'a>(listed: &'a [Value], bridge: &Bridge) -> Option<&'a Value> {
    let id = bridge.config().instance.to_string();
    listed.iter().find(|i| i["instance"] == id.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_are_listed_with_versions_and_offers_and_leave_the_listing() {
    let vhost = TestVhost::create().await.unwrap();
    let old = instance(&vhost, "tracker", "1.4.0").await;
    let new = instance(&vhost, "tracker", "2.0.0").await;
    old.subscribe("tracker")
        .on(|_: Incoming<Tick>| async { Ok(()) })
        .start()
        .await
        .unwrap();
    let alerts = instance(&vhost, "alerts", "1.0.0").await;
    let url = vhost.amqp_url();

    let all = listed(url).await;
    assert_eq!(
        all.len(),
        3,
        "the three instances, not the command itself: {all:#?}"
    );
    for (bridge, service, version) in [
        (&old, "tracker", "1.4.0"),
        (&new, "tracker", "2.0.0"),
        (&alerts, "alerts", "1.0.0"),
    ] {
        let listed =
            find(&all, bridge).unwrap_or_else(|| panic!("{service} {version} listed: {all:#?}"));
        assert_eq!(listed["service"], service);
        assert_eq!(listed["version"], version);
        assert_eq!(listed["status"], "live");
        assert_eq!(listed["pid"], std::process::id());
        assert!(listed["uptime_s"].is_u64(), "{listed}");
        assert!(listed["last_heartbeat_age_ms"].is_u64(), "{listed}");
    }
    let consumes = &find(&all, &old).unwrap()["offers"]["consumes"];
    assert_eq!(consumes[0]["type"], Tick::TYPE, "{consumes}");
    assert_eq!(
        consumes[0]["versions"],
        serde_json::json!([1]),
        "{consumes}"
    );

    let human = instadash(&["services"], url).await;
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        human.status.success(),
        "{}",
        String::from_utf8_lossy(&human.stderr)
    );
    for expected in [
        "tracker (2 instances)",
        "alerts (1 instance)",
        "1.4.0",
        "2.0.0",
        "consumes",
        "instadash.test.tick v1",
    ] {
        assert!(text.contains(expected), "`{expected}` in:\n{text}");
    }
    let short = |bridge: &Bridge| {
        let id = bridge.config().instance.to_string();
        id[id.len() - 12..].to_owned()
    };
    assert!(text.contains(&short(&new)), "{text}");
    assert!(
        !text.contains("instadash-cli"),
        "the command lists itself:\n{text}"
    );

    old.shutdown().await.unwrap();
    let after = listed(url).await;
    assert_eq!(after.len(), 2, "{after:#?}");
    assert!(
        find(&after, &old).is_none(),
        "the shut-down tracker is still listed: {after:#?}"
    );
    assert!(
        find(&after, &new).is_some() && find(&after, &alerts).is_some(),
        "{after:#?}"
    );

    new.shutdown().await.unwrap();
    alerts.shutdown().await.unwrap();
}
