//! `instadash bench broker --json`: the report scripts rely on (figures are for the bench itself to
//! judge; this only checks that a small run completes and reports every field).

mod common;

use broker_bridge::testing::TestVhost;

#[tokio::test]
async fn a_small_bench_run_reports_every_path_as_one_json_object() {
    let vhost = TestVhost::create().await.unwrap();
    let output = common::instadash(
        &[
            "bench",
            "broker",
            "--json",
            "--messages",
            "500",
            "--warmup",
            "0",
            "--queue-type",
            "quorum",
        ],
        vhost.amqp_url(),
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    for path in ["raw", "raw_cloudevents", "bridge"] {
        assert_eq!(
            report[path]["messages"], 500,
            "{path}: every message consumed"
        );
        assert!(report[path]["msgs_per_s"].as_f64().unwrap() > 0.0);
        assert!(
            report[path]["p99_ms"].as_f64().unwrap() >= report[path]["p50_ms"].as_f64().unwrap()
        );
    }
    for ratio in [
        "ratio",
        "p99_ratio",
        "ratio_same_wire",
        "p99_ratio_same_wire",
    ] {
        assert!(report[ratio].as_f64().unwrap() > 0.0, "{ratio}");
    }
    assert_eq!(report["queue_type"], "quorum");
    assert!(
        vhost.queues().await.unwrap().is_empty(),
        "the bench deletes its queues"
    );
}
