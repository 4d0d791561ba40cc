//! `instadash demo`: a short live demonstration of the four patterns against a real broker. Each
//! "service" below is its own bridge with its own connection, exactly as separate processes would
//! be; they find each other by name only.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use broker_bridge::{Bridge, BridgeArgs, BridgeConfig, Incoming, Message, RequestError, topology};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    #[command(flatten)]
    bridge: BridgeArgs,
    /// Leave the demo's queues on the broker afterwards (to look at them in the management UI).
    #[arg(long)]
    keep_queues: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Position {
    vehicle: String,
    speed_kmh: f64,
}
impl Message for Position {
    const TYPE: &'static str = "instadash.demo.position";
    fn subject(&self) -> Option<String> {
        Some(self.vehicle.clone())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RecordClip {
    vehicle: String,
}
impl Message for RecordClip {
    const TYPE: &'static str = "instadash.demo.record-clip";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StateQuery {
    vehicle: String,
}
impl Message for StateQuery {
    const TYPE: &'static str = "instadash.demo.state.query";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct VehicleState {
    vehicle: String,
    last_speed_kmh: Option<f64>,
}
impl Message for VehicleState {
    const TYPE: &'static str = "instadash.demo.state";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ClipJob {
    clip: u32,
    poison: bool,
}
impl Message for ClipJob {
    const TYPE: &'static str = "instadash.demo.clip-job";
}

const GROUPS: [&str; 2] = ["demo-tracker", "demo-alerts"];
const SERVICES: [&str; 3] = ["demo-tracker", "demo-dashcam", "demo-operator"];
const WORK_QUEUE: &str = "demo-clips";
const WAIT: Duration = Duration::from_secs(10);

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let base = BridgeConfig::resolve(&args.bridge, "demo-operator")?;
    println!(
        "instadash demo: the four patterns on {}",
        base.redacted_url()
    );
    let connect = |service: &str| {
        let mut config = base.clone();
        config.service = service.to_owned();
        config.instance = uuid::Uuid::now_v7();
        config.retry.delay = Duration::from_millis(300);
        Bridge::connect(config)
    };
    let operator = connect("demo-operator").await?;
    let simulator = connect("demo-simulator").await?;
    let trackers = [
        connect("demo-tracker").await?,
        connect("demo-tracker").await?,
    ];
    let alerts = connect("demo-alerts").await?;
    let dashcams = [
        connect("demo-dashcam").await?,
        connect("demo-dashcam").await?,
        connect("demo-dashcam").await?,
    ];

    let outcome = async {
        // What each tracker instance has seen: its own state, as in separate processes.
        let last_speeds: [LastSpeeds; 2] = Default::default();
        publish_subscribe(&simulator, &trackers, &last_speeds, &alerts).await?;
        point_to_point(&operator, &dashcams[0]).await?;
        request_reply(&operator, &trackers, &last_speeds).await?;
        work_queue(&operator, &dashcams).await
    }
    .await;

    // Consumers first: a consumer whose queue is deleted under it would declare it again.
    for bridge in [&simulator, &alerts]
        .into_iter()
        .chain(&trackers)
        .chain(&dashcams)
    {
        bridge.shutdown().await?;
    }
    if !args.keep_queues {
        remove_demo_queues(&operator).await?;
    }
    operator.shutdown().await?;
    outcome?;
    println!("\ndemo finished: every message accounted for.");
    Ok(())
}

/// Last speed per vehicle, as one tracker instance saw it.
type LastSpeeds = Arc<Mutex<HashMap<String, f64>>>;

/// Two subscriber groups each get every position; the two tracker instances share theirs.
async fn publish_subscribe(
    simulator: &Bridge,
    trackers: &[Bridge; 2],
    last_speeds: &[LastSpeeds; 2],
    alerts: &Bridge,
) -> anyhow::Result<()> {
    println!(
        "\n[publish/subscribe] simulator -> events exchange -> groups 'demo-tracker' (2 instances) and 'demo-alerts'"
    );
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<(String, String)>();
    for (n, (tracker, last_speed)) in trackers.iter().zip(last_speeds).enumerate() {
        let (seen, last_speed) = (seen_tx.clone(), last_speed.clone());
        tracker
            .subscribe("demo-tracker")
            .on(move |p: Incoming<Position>| {
                remember(&last_speed, &p.data);
                let seen = seen.clone();
                async move {
                    let _ = seen.send((format!("tracker#{}", n + 1), p.envelope.id));
                    Ok(())
                }
            })
            .start()
            .await?;
    }
    let seen = seen_tx.clone();
    alerts
        .subscribe("demo-alerts")
        .on(move |p: Incoming<Position>| {
            let seen = seen.clone();
            async move {
                let _ = seen.send(("alerts".into(), p.envelope.id));
                Ok(())
            }
        })
        .start()
        .await?;
    let speeds = [32.0, 47.5, 51.0, 88.0, 64.5, 12.0];
    for speed_kmh in speeds {
        let position = Position {
            vehicle: "car-1".into(),
            speed_kmh,
        };
        simulator.publish(&position).await?.confirmed().await?;
    }
    let mut per_handler = BTreeMap::<String, usize>::new();
    for _ in 0..speeds.len() * 2 {
        let (handler, _) = tokio::time::timeout(WAIT, seen_rx.recv())
            .await
            .context("a subscriber did not get its events")?
            .context("subscribers gone")?;
        *per_handler.entry(handler).or_default() += 1;
    }
    println!(
        "  published {} positions of car-1; handled: {per_handler:?}",
        speeds.len()
    );
    Ok(())
}

fn remember(last_speed: &LastSpeeds, position: &Position) {
    if let Ok(mut speeds) = last_speed.lock() {
        speeds.insert(position.vehicle.clone(), position.speed_kmh);
    }
}

/// A command to a service by name; a name nobody serves is an error at once.
async fn point_to_point(operator: &Bridge, dashcam: &Bridge) -> anyhow::Result<()> {
    println!("\n[point-to-point] operator -> 'demo-dashcam' by name");
    let (got_tx, mut got_rx) = mpsc::unbounded_channel::<String>();
    dashcam
        .serve()
        .on(move |c: Incoming<RecordClip>| {
            let got = got_tx.clone();
            async move {
                let _ = got.send(c.data.vehicle);
                Ok(())
            }
        })
        .start()
        .await?;
    operator
        .send(
            "demo-dashcam",
            &RecordClip {
                vehicle: "car-1".into(),
            },
        )
        .await?;
    let vehicle = tokio::time::timeout(WAIT, got_rx.recv())
        .await
        .context("the dashcam did not get the command")?;
    println!(
        "  demo-dashcam received: record a clip of {}",
        vehicle.unwrap_or_default()
    );
    match operator
        .send(
            "demo-nobody",
            &RecordClip {
                vehicle: "car-1".into(),
            },
        )
        .await
    {
        Err(error) => println!("  send to 'demo-nobody' -> error at once: {error}"),
        Ok(()) => anyhow::bail!("a send to a missing service must fail"),
    }
    Ok(())
}

/// A typed question to a service by name, and the three ways it can go wrong.
async fn request_reply(
    operator: &Bridge,
    trackers: &[Bridge; 2],
    last_speeds: &[LastSpeeds; 2],
) -> anyhow::Result<()> {
    println!("\n[request/reply] operator asks 'demo-tracker' (any instance) over direct reply-to");
    for (tracker, last_speed) in trackers.iter().zip(last_speeds) {
        let last_speed = last_speed.clone();
        tracker
            .serve()
            .answer(move |q: Incoming<StateQuery>| {
                let last_speed_kmh = last_speed
                    .lock()
                    .ok()
                    .and_then(|speeds| speeds.get(&q.data.vehicle).copied());
                async move {
                    if q.data.vehicle == "car-slow" {
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                    Ok(VehicleState {
                        vehicle: q.data.vehicle,
                        last_speed_kmh,
                    })
                }
            })
            .start()
            .await?;
    }
    let query = |vehicle: &str| StateQuery {
        vehicle: vehicle.to_owned(),
    };
    let state: VehicleState = operator
        .request("demo-tracker", &query("car-1"), WAIT)
        .await?;
    println!("  answer (from the instance that took the request, of what it saw): {state:?}");
    let missing = operator
        .request::<_, VehicleState>("demo-nobody", &query("car-1"), WAIT)
        .await;
    report("ask 'demo-nobody'", missing)?;
    let slow = operator
        .request::<_, VehicleState>(
            "demo-tracker",
            &query("car-slow"),
            Duration::from_millis(500),
        )
        .await;
    report("ask about car-slow with a 500 ms timeout", slow)
}

fn report(what: &str, result: Result<VehicleState, RequestError>) -> anyhow::Result<()> {
    match result {
        Err(error) => {
            println!("  {what} -> error: {error}");
            Ok(())
        }
        Ok(state) => anyhow::bail!("{what} should have failed, got {state:?}"),
    }
}

/// Jobs shared by competing workers; a job that always fails ends in the dead-letter queue.
async fn work_queue(operator: &Bridge, dashcams: &[Bridge; 3]) -> anyhow::Result<()> {
    println!("\n[work queue] 12 clip jobs on '{WORK_QUEUE}', 3 competing workers, one poison job");
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<usize>();
    let poison_attempts = Arc::new(AtomicU32::new(0));
    for (n, dashcam) in dashcams.iter().enumerate() {
        let (done, poison_attempts) = (done_tx.clone(), poison_attempts.clone());
        dashcam
            .work_queue(WORK_QUEUE)
            .on(move |job: Incoming<ClipJob>| {
                let (done, poison_attempts) = (done.clone(), poison_attempts.clone());
                async move {
                    if job.data.poison {
                        poison_attempts.fetch_add(1, Ordering::SeqCst);
                        anyhow::bail!("clip {} is corrupt", job.data.clip);
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let _ = done.send(n);
                    Ok(())
                }
            })
            .start()
            .await?;
    }
    for clip in 0..12 {
        let job = ClipJob {
            clip,
            poison: clip == 7,
        };
        operator.submit(WORK_QUEUE, &job).await?;
    }
    let mut per_worker = [0usize; 3];
    for _ in 0..11 {
        let worker = tokio::time::timeout(WAIT, done_rx.recv())
            .await
            .context("a job was not done")?
            .context("workers gone")?;
        per_worker[worker] += 1;
    }
    println!("  11 good jobs done, per worker: {per_worker:?}");
    let attempts = operator.config().retry.attempts;
    let deadline = tokio::time::Instant::now() + WAIT;
    while poison_attempts.load(Ordering::SeqCst) < attempts {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the poison job was not retried"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Give the last failure time to reach the dead-letter queue before the demo cleans up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    println!(
        "  clip 7 failed {attempts} times (retried after a delay), then went to '{}' with the reason",
        topology::dead_letter_queue(&topology::work_queue(WORK_QUEUE))
    );
    Ok(())
}

async fn remove_demo_queues(bridge: &Bridge) -> anyhow::Result<()> {
    let queues = GROUPS
        .iter()
        .map(|g| topology::group_queue(g))
        .chain(SERVICES.iter().map(|s| topology::inbox_queue(s)))
        .chain([topology::work_queue(WORK_QUEUE)]);
    for queue in queues {
        bridge.delete_queue_family(&queue).await?;
    }
    Ok(())
}
