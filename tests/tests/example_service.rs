//! The example service of broker-bridge, run as a process of its own: it consumes positions,
//! publishes derived events, answers requests by name, and leaves gracefully on SIGTERM.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use broker_bridge::testing::{Received, TestVhost};
use broker_bridge::{Incoming, Message, RequestError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Serialize, Deserialize)]
struct Position {
    vehicle: String,
    speed_kmh: f64,
}
impl Message for Position {
    const TYPE: &'static str = "instadash.example.position";
    fn subject(&self) -> Option<String> {
        Some(self.vehicle.clone())
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Speeding {
    vehicle: String,
    speed_kmh: f64,
    limit_kmh: f64,
}
impl Message for Speeding {
    const TYPE: &'static str = "instadash.example.speeding";
}

#[derive(Serialize, Deserialize)]
struct TopSpeedQuery {
    vehicle: String,
}
impl Message for TopSpeedQuery {
    const TYPE: &'static str = "instadash.example.top-speed.query";
}

#[derive(Debug, Serialize, Deserialize)]
struct TopSpeed {
    vehicle: String,
    top_speed_kmh: Option<f64>,
}
impl Message for TopSpeed {
    const TYPE: &'static str = "instadash.example.top-speed";
}

/// Kills the process if the test fails before it is shut down.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Builds the example (a no-op when `cargo build --all-targets` already did).
async fn build_speed_watch() -> escargot::CargoRun {
    tokio::task::spawn_blocking(|| {
        escargot::CargoBuild::new()
            .package("broker-bridge")
            .example("speed_watch")
            .run()
            .expect("example builds")
    })
    .await
    .unwrap()
}

fn start_speed_watch(build: &escargot::CargoRun, amqp_url: &str) -> Service {
    let child = build
        .command()
        .args(["--limit-kmh", "100"])
        .env("AMQP_URL", amqp_url)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("example starts");
    Service(child)
}

#[tokio::test]
async fn the_example_service_works_as_a_process_and_leaves_on_sigterm() {
    let speed_watch = build_speed_watch().await;
    let vhost = TestVhost::create().await.unwrap();
    let probe = vhost.connect("operator").await.unwrap();
    let speeding = Arc::new(Received::<Speeding>::new());
    let sink = speeding.clone();
    probe
        .subscribe("operator")
        .on(move |m: Incoming<Speeding>| {
            let sink = sink.clone();
            async move {
                sink.push(m.data);
                Ok(())
            }
        })
        .start()
        .await
        .unwrap();

    let mut service = start_speed_watch(&speed_watch, vhost.amqp_url());
    // Found by name only, as soon as it serves; until then the name is unknown, or its inbox
    // exists but nothing consumes it yet.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let query = TopSpeedQuery {
            vehicle: "car-1".into(),
        };
        match probe
            .request::<_, TopSpeed>("speed-watch", &query, Duration::from_secs(2))
            .await
        {
            Ok(answer) => {
                assert_eq!(answer.top_speed_kmh, None);
                break;
            }
            Err(RequestError::NoSuchService(_) | RequestError::NoLiveInstance(_))
                if Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("the service never answered: {error}"),
        }
    }

    for speed_kmh in [90.0, 120.0, 80.0] {
        let position = Position {
            vehicle: "car-1".into(),
            speed_kmh,
        };
        probe
            .publish(&position)
            .await
            .unwrap()
            .confirmed()
            .await
            .unwrap();
    }
    let event = speeding.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        (event.vehicle.as_str(), event.speed_kmh, event.limit_kmh),
        ("car-1", 120.0, 100.0)
    );
    speeding
        .expect_nothing(Duration::from_millis(500))
        .await
        .unwrap();

    let answer: TopSpeed = probe
        .request(
            "speed-watch",
            &TopSpeedQuery {
                vehicle: "car-1".into(),
            },
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(answer.top_speed_kmh, Some(120.0));

    let pid = service.0.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let exited = tokio::task::spawn_blocking(move || {
        let status = service.0.wait();
        let mut log = String::new();
        if let Some(mut stderr) = service.0.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut stderr, &mut log);
        }
        (status, log)
    });
    let (status, log) = tokio::time::timeout(Duration::from_secs(15), exited)
        .await
        .expect("the service exits after SIGTERM")
        .unwrap();
    assert!(status.unwrap().success(), "clean exit:\n{log}");
    assert!(
        log.contains("shutdown requested") && log.contains("left the bus"),
        "{log}"
    );
}
