//! The README's main command, as a user runs it: `instadash demo` against a real broker.

mod common;

use broker_bridge::testing::TestVhost;

#[tokio::test]
async fn the_demo_shows_all_four_patterns_and_cleans_up_after_itself() {
    let vhost = TestVhost::create().await.unwrap();
    let output = common::instadash(&["demo"], vhost.amqp_url()).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "demo failed:\n{stdout}\n{stderr}");
    for section in [
        "[publish/subscribe]",
        "[point-to-point]",
        "[request/reply]",
        "[work queue]",
    ] {
        assert!(stdout.contains(section), "missing {section} in:\n{stdout}");
    }
    assert!(
        stdout.contains("\"alerts\": 6"),
        "every event reached the alerts group:\n{stdout}"
    );
    assert!(
        stdout.contains("no service named `demo-nobody`"),
        "{stdout}"
    );
    assert!(stdout.contains("did not answer"), "{stdout}");
    assert!(stdout.contains("11 good jobs done"), "{stdout}");
    assert!(
        stdout.contains("guest:***@") && !stdout.contains("guest:guest@"),
        "password hidden"
    );
    let left: Vec<String> = vhost
        .queues()
        .await
        .unwrap()
        .into_iter()
        .map(|q| q.name)
        .collect();
    assert!(
        left.is_empty(),
        "the demo removes its queues, found {left:?}"
    );
}
