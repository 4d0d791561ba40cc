//! `instadash bench soak --json`: a short soak (the CI run) against the shared broker, with the
//! connections closed by force several times. The release check is the long run (see the
//! command's help); this proves the machinery and the guarantees on a small scale.

mod common;

use std::time::Duration;

/// 1.5 minutes: a warm-up of 18 s (20 % of the run) and forced closes at 20, 40, 60 and 80 s.
const MINUTES: &str = "1.5";

#[tokio::test]
async fn a_short_soak_loses_nothing_across_forced_closes_and_reports_its_memory() {
    // The soak makes a virtual host of its own; the URL only names the broker.
    let output = tokio::time::timeout(
        Duration::from_secs(150),
        common::instadash(
            &[
                "bench",
                "soak",
                "--minutes",
                MINUTES,
                "--close-every-s",
                "20",
                "--cars",
                "100",
                "--sample-every-s",
                "2",
                "--json",
            ],
            "amqp://guest:guest@127.0.0.1:5672/%2f",
        ),
    )
    .await
    .expect("the soak ends within 2.5 minutes");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("one JSON object ({e}):\n{stdout}\n{stderr}"));
    assert!(output.status.success(), "{report:#}\n{stderr}");

    assert!(report["sent"].as_u64().unwrap() > 1000, "{report:#}");
    assert_eq!(report["confirmed"], report["sent"], "{report:#}");
    assert_eq!(report["lost"], 0, "{report:#}");
    assert_eq!(report["unexpected"], 0, "{report:#}");
    assert_eq!(report["duplicates_after_dedup"], 0, "{report:#}");
    assert_eq!(report["fleet"]["missing"], 0, "{report:#}");
    assert_eq!(report["fleet"]["duplicates_after_dedup"], 0, "{report:#}");
    assert!(report["fleet"]["published"].as_u64().unwrap() > 1000);

    let closes = report["forced_closes"].as_u64().unwrap();
    assert!(closes >= 3, "closes at 20, 40, 60 and 80 s: {report:#}");
    assert!(report["connections_closed"].as_u64().unwrap() >= closes);
    // Every close takes down the fleet's two connections and the ledger's three; each comes back.
    assert!(
        report["reconnects_fleet"].as_u64().unwrap() >= 2 * closes - 1,
        "{report:#}"
    );
    assert!(
        report["reconnects_ledger"].as_u64().unwrap() >= closes,
        "{report:#}"
    );

    // Present and finite; not held to the 10 % bound here: 72 s after an 18 s warm-up is not long
    // enough to tell a leak from the allocator and the tracker's maps filling (every car's first
    // trips), and the release check (60 minutes) is where the bound is meaningful. The soak itself
    // still fails (and this test with it) if a short run grows by 10 % or more.
    assert!(report["rss_growth_pct"].as_f64().is_some(), "{report:#}");
    assert!(report["memory"]["series"].as_array().unwrap().len() >= 10);
    assert!(report["memory"]["baseline_mb"].as_f64().unwrap() > 0.0);
    assert!(report["backlog"].as_array().is_some_and(|b| !b.is_empty()));
}
