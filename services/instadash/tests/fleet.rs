//! The fleet commands as a user runs them: `instadash up`, `instadash run tracker` with
//! `instadash simulate`, and `instadash bench fleet --json`.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use broker_bridge::testing::TestVhost;
use instadash_schemas::vehicle::VehicleStatus;
use instadash_schemas::vehicle::find_nearest::v1::FindNearest;
use instadash_schemas::vehicle::find_nearest_reply::v1::FindNearestReply;
use instadash_schemas::vehicle::get_state::v1::GetState;
use instadash_schemas::vehicle::get_state_reply::v1::GetStateReply;
use instadash_schemas::vehicle::list_vehicles::v1::ListVehicles;
use instadash_schemas::vehicle::list_vehicles_reply::v1::ListVehiclesReply;

/// Kills the process if the test fails before it stops.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str], amqp_url: &str, data_dir: &std::path::Path) -> Running {
    Running(
        Command::new(env!("CARGO_BIN_EXE_instadash"))
            .args(args)
            .env("AMQP_URL", amqp_url)
            .env("INSTADASH_DATA_DIR", data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("instadash starts"),
    )
}

#[tokio::test]
async fn up_runs_the_fleet_and_the_tracker_follows_it() {
    let vhost = TestVhost::create().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let output = common::instadash(
        &[
            "up",
            "--cars",
            "30",
            "--seed",
            "5",
            "--duration-s",
            "6",
            "--data-dir",
            data_dir,
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
    assert!(stdout.contains("30 cars (seed 5)"), "{stdout}");
    let end = stdout
        .lines()
        .find_map(|line| line.split_once("stopped; at the end tracker: "))
        .map(|(_, summary)| summary.to_owned())
        .unwrap_or_else(|| panic!("a final summary in:\n{stdout}"));
    let counted: u32 = end
        .split(" · ")
        .next()
        .unwrap()
        .split(", ")
        .map(|part| {
            part.split_whitespace()
                .next()
                .unwrap()
                .parse::<u32>()
                .unwrap()
        })
        .sum();
    assert_eq!(counted, 30, "every car is known to the tracker: {end}");
    assert!(
        data.path().join("tracker/state.json").exists(),
        "the tracker saved its state"
    );
}

/// `instadash run tracker` alone, fed by `instadash simulate` in another process, answers
/// questions by name; SIGTERM stops it gracefully with its state saved.
#[tokio::test]
async fn a_tracker_process_answers_about_the_simulated_fleet() {
    let vhost = TestVhost::create().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut tracker = spawn(&["run", "tracker"], vhost.amqp_url(), data.path());
    let bus = vhost.connect("operator").await.unwrap();
    let list = ListVehicles::default();
    wait_until_answers(&bus).await;

    let simulate = common::instadash(
        &[
            "simulate",
            "--cars",
            "20",
            "--seed",
            "3",
            "--speedup",
            "5",
            "--duration-s",
            "4",
        ],
        vhost.amqp_url(),
    )
    .await;
    assert!(
        simulate.status.success(),
        "{}",
        String::from_utf8_lossy(&simulate.stderr)
    );

    let mut all = ListVehiclesReply {
        vehicles: vec![],
        total: 0,
        next_after: None,
    };
    for _ in 0..50 {
        all = bus
            .request("tracker", &list, Duration::from_secs(5))
            .await
            .unwrap();
        if all.total == 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(all.total, 20, "every simulated car is tracked");
    let ids: Vec<&str> = all.vehicles.iter().map(|v| v.vehicle_id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "listed in id order");

    let driving = all
        .vehicles
        .iter()
        .find(|v| v.position.is_some())
        .expect("a car with a position");
    let one: GetStateReply = bus
        .request(
            "tracker",
            &GetState {
                vehicle_id: driving.vehicle_id.clone(),
            },
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(
        one.vehicle.as_ref().map(|v| &v.vehicle_id),
        Some(&driving.vehicle_id)
    );
    let unknown: GetStateReply = bus
        .request(
            "tracker",
            &GetState {
                vehicle_id: "no-such-car".into(),
            },
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(unknown.vehicle, None);

    let at = driving.position.as_ref().unwrap();
    let near: FindNearestReply = bus
        .request(
            "tracker",
            &FindNearest {
                lat: at.lat,
                lon: at.lon,
                limit: Some(3),
                max_distance_m: None,
                statuses: None,
            },
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(near.vehicles.len(), 3);
    assert_eq!(
        near.vehicles[0].vehicle.vehicle_id, driving.vehicle_id,
        "nearest to its own position"
    );
    assert!(
        near.vehicles
            .windows(2)
            .all(|w| w[0].distance_m <= w[1].distance_m)
    );

    let online: ListVehiclesReply = bus
        .request(
            "tracker",
            &ListVehicles {
                statuses: Some(vec![VehicleStatus::Online]),
                ..ListVehicles::default()
            },
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert!(
        online
            .vehicles
            .iter()
            .all(|v| v.status == VehicleStatus::Online)
    );

    // SIGTERM: a graceful stop, with the state saved.
    let pid = tracker.0.id() as i32;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = tokio::task::spawn_blocking(move || tracker.0.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        status.success(),
        "the tracker exits cleanly on SIGTERM: {status}"
    );
    assert!(data.path().join("tracker/state.json").exists());
    bus.shutdown().await.unwrap();
}

async fn wait_until_answers(bus: &broker_bridge::Bridge) {
    for _ in 0..100 {
        let answer: Result<ListVehiclesReply, _> = bus
            .request("tracker", &ListVehicles::default(), Duration::from_secs(2))
            .await;
        if answer.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the tracker never answered");
}

#[tokio::test]
async fn bench_fleet_reports_a_small_run_as_one_json_object() {
    let vhost = TestVhost::create().await.unwrap();
    let output = common::instadash(
        &[
            "bench",
            "fleet",
            "--cars",
            "40",
            "--warmup",
            "2",
            "--duration",
            "4",
            "--json",
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
    let run: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(run["cars"], 40);
    assert!(run["msgs_per_s"].as_f64().unwrap() > 0.0, "{run}");
    assert!(run["p99_ms"].as_f64().unwrap() >= run["p50_ms"].as_f64().unwrap());
    assert!(run["sustained"].is_boolean());
    assert!(run["rss_mb"].as_f64().unwrap() > 0.0);
    assert!(
        run["backlog"].as_array().unwrap().len() >= 3,
        "a backlog sample a second"
    );
    for service in ["tracker", "simulator"] {
        assert!(
            run["services"][service]["cpu_pct"].as_f64().unwrap() > 0.0,
            "{service}: {run}"
        );
    }
}
