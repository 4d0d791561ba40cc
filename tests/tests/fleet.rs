//! The fleet end to end on the real broker: the simulator's cars, through the broker, into the
//! tracker, and what the tracker then says about them.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use broker_bridge::testing::{Received, TestVhost};
use broker_bridge::{Bridge, Incoming, topology};
use instadash_roads::RoadNetwork;
use instadash_schemas::vehicle::list_vehicles::v1::ListVehicles;
use instadash_schemas::vehicle::status_changed::v1::StatusChanged;
use instadash_schemas::vehicle::{VehicleState, VehicleStatus};
use instadash_simulator::service::{RunOptions, Simulator};
use instadash_simulator::{FleetModel, ModelOptions, NoiseConfig};
use instadash_tracker::service::{Tracker, TrackerOptions};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Every vehicle the tracker knows, by id.
fn all_states(tracker: &Tracker) -> BTreeMap<String, VehicleState> {
    let fleet = tracker.fleet();
    let mut states = BTreeMap::new();
    let mut after = None;
    loop {
        let page = fleet.list(&ListVehicles {
            statuses: None,
            limit: Some(1000),
            after: after.take(),
        });
        for state in page.vehicles {
            states.insert(state.vehicle_id.clone(), state);
        }
        match page.next_after {
            Some(next) => after = Some(next),
            None => return states,
        }
    }
}

async fn start_tracker(
    vhost: &TestVhost,
    name: &str,
    snapshot: Option<&Path>,
) -> anyhow::Result<Tracker> {
    let bridge = vhost.connect(name).await?;
    let options = TrackerOptions {
        group: name.to_owned(),
        snapshot: snapshot.map(Path::to_path_buf),
        ..TrackerOptions::default()
    };
    Tracker::start(bridge, options).await
}

/// Status changes seen on the bus, by the tracker that published them.
type Changes = Arc<Received<(String, String, VehicleStatus, Option<VehicleStatus>)>>;

async fn observe_status_changes(vhost: &TestVhost) -> anyhow::Result<(Bridge, Changes)> {
    let observer = vhost.connect("observer").await?;
    let changes: Changes = Arc::new(Received::new());
    let sink = changes.clone();
    observer
        .subscribe("observer")
        .on(move |change: Incoming<StatusChanged>| {
            let sink = sink.clone();
            async move {
                let service = change
                    .envelope
                    .source
                    .split('/')
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                let c = change.data;
                sink.push((service, c.vehicle_id, c.status, c.previous));
                Ok(())
            }
        })
        .start()
        .await?;
    Ok((observer, changes))
}

/// Both trackers have applied everything: their queues are empty and their views agree.
async fn settle(bus: &Bridge, a: &Tracker, b: &Tracker, groups: [&str; 2]) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut drained = true;
        for group in groups {
            drained &= bus.queue_depth(&topology::group_queue(group)).await?.ready == 0;
        }
        if drained && all_states(a) == all_states(b) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(()); // the assertion below shows the difference
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A tracker restarted in the middle of a run ends with exactly the state, and has published
/// exactly the status changes, of one that never stopped: nothing acknowledged is lost, nothing
/// is applied twice. With GPS noise on, so duplicates and reordering cross the restart too.
#[tokio::test]
async fn a_restarted_tracker_ends_exactly_like_one_that_never_stopped() -> anyhow::Result<()> {
    let vhost = TestVhost::create().await?;
    let data = tempfile::tempdir()?;
    let snapshot = data.path().join("tracker").join("state.json");
    let (observer, changes) = observe_status_changes(&vhost).await?;
    let steady = start_tracker(&vhost, "tracker-steady", None).await?;
    let mut restarted = start_tracker(&vhost, "tracker-restarted", Some(&snapshot)).await?;

    let model = FleetModel::random(
        RoadNetwork::city(),
        60,
        11,
        now_ms(),
        ModelOptions::default(),
    );
    let options = RunOptions {
        speedup: 10.0,
        noise: NoiseConfig::realistic(),
        noise_seed: 11,
        record: false,
    };
    let simulator = Simulator::start(vhost.connect("simulator").await?, model, options);

    tokio::time::sleep(Duration::from_secs(4)).await;
    restarted.stop().await?;
    assert!(snapshot.exists(), "the stopped tracker saved its state");
    // Telemetry keeps flowing while it is away; the broker keeps it in its queue.
    tokio::time::sleep(Duration::from_secs(2)).await;
    restarted = start_tracker(&vhost, "tracker-restarted", Some(&snapshot)).await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let report = simulator.stop().await?;
    assert!(
        report.progress.published > 1000,
        "the fleet published: {:?}",
        report.progress
    );

    settle(
        &observer,
        &steady,
        &restarted,
        ["tracker-steady", "tracker-restarted"],
    )
    .await?;
    let (expected, got) = (all_states(&steady), all_states(&restarted));
    assert_eq!(expected.len(), 60, "every car is known");
    assert!(
        expected
            .values()
            .any(|s| s.odometer_m.unwrap_or(0.0) > 100.0),
        "cars drove"
    );
    for (id, state) in &expected {
        assert_eq!(got.get(id), Some(state), "vehicle {id} after the restart");
    }

    // The status changes each tracker published: the same, once each.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut by_tracker: BTreeMap<String, Vec<(String, String, String)>> = BTreeMap::new();
    while let Ok((service, vehicle, status, previous)) =
        changes.next(Duration::from_millis(200)).await
    {
        by_tracker.entry(service).or_default().push((
            vehicle,
            format!("{status:?}"),
            format!("{previous:?}"),
        ));
    }
    for list in by_tracker.values_mut() {
        list.sort();
    }
    let steady_changes = by_tracker.remove("tracker-steady").unwrap_or_default();
    assert!(
        steady_changes.len() >= 60,
        "every car's first sighting is announced"
    );
    assert_eq!(
        by_tracker.remove("tracker-restarted").unwrap_or_default(),
        steady_changes
    );

    steady.stop().await?;
    restarted.stop().await?;
    observer.shutdown().await?;
    Ok(())
}
