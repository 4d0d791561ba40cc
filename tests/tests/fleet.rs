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
use instadash_simulator::{Emission, FleetModel, ModelOptions, NoiseConfig, Scenario};
use instadash_tracker::Config;
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
    let options = TrackerOptions {
        group: name.to_owned(),
        snapshot: snapshot.map(Path::to_path_buf),
        ..TrackerOptions::default()
    };
    Tracker::start(vhost.connect(name).await?, options).await
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

/// The scripted three-car scenario (services/simulator/scenarios/three-cars.toml) run on the bus
/// at `speedup`: the tracker ends with exactly the newest fix each car sent, the right status,
/// ignition and last-seen time, an odometer close to the distance really driven, and it announced
/// exactly the expected status transitions, in order.
async fn scripted_scenario_yields_the_expected_tracker(
    noise: NoiseConfig,
    odometer_tolerance: f64,
) -> anyhow::Result<()> {
    const SPEEDUP: f64 = 8.0;
    let scenario = Scenario::load(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../services/simulator/scenarios/three-cars.toml"),
    )?;
    let vhost = TestVhost::create().await?;
    let (observer, changes) = observe_status_changes(&vhost).await?;
    // car-b is silent for 40 simulated seconds: 5 s here, well over the tracker's limit, while
    // the others report every 1/8 s.
    let options = TrackerOptions {
        config: Config {
            unknown_after_ms: 2_500,
            ..Config::default()
        },
        silence_check_every: Duration::from_millis(200),
        ..TrackerOptions::default()
    };
    let tracker = Tracker::start(vhost.connect("tracker").await?, options).await?;

    let network = RoadNetwork::city();
    let start_ms = now_ms();
    let model = FleetModel::scripted(network.clone(), &scenario, start_ms)?;
    let mut twin = FleetModel::scripted(network, &scenario, start_ms)?;
    let options = RunOptions {
        speedup: SPEEDUP,
        noise: noise.clone(),
        noise_seed: 7,
        record: true,
    };
    let report = Simulator::start(vhost.connect("simulator").await?, model, options)
        .finished()
        .await?;
    assert_eq!(report.progress.failed, 0, "{:?}", report.progress);
    // The model is deterministic: its twin, stepped without a clock, knows what really happened.
    let mut scratch = Vec::new();
    while !twin.finished() {
        twin.step(&mut scratch);
    }

    // The tracker has applied everything once its queue is empty and the last message counts.
    let last_time = |id: &str| {
        report
            .sent
            .iter()
            .filter(|e| e.vehicle_id() == id)
            .map(Emission::time_ms)
            .max()
            .unwrap()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        let drained = observer
            .queue_depth(&topology::group_queue("tracker"))
            .await?
            .ready
            == 0;
        let applied = twin.truth().iter().all(|t| {
            tracker
                .fleet()
                .state(&t.vehicle_id)
                .and_then(|s| s.last_seen_ms)
                == Some(last_time(&t.vehicle_id))
        });
        if drained && applied {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    for truth in twin.truth() {
        let id = truth.vehicle_id.as_str();
        let state = tracker
            .fleet()
            .state(id)
            .unwrap_or_else(|| panic!("{id} is tracked"));
        let newest_fix = report
            .sent
            .iter()
            .filter_map(|e| match e {
                Emission::Position(p) if p.vehicle_id == id => Some(p),
                _ => None,
            })
            .max_by_key(|p| p.time_ms)
            .unwrap();
        let position = state.position.as_ref().unwrap();
        assert_eq!(
            (position.time_ms, position.lat, position.lon),
            (newest_fix.time_ms, newest_fix.lat, newest_fix.lon),
            "{id}: the newest fix it sent"
        );
        assert_eq!(
            (position.speed_kmh, position.heading_deg),
            (newest_fix.speed_kmh, newest_fix.heading_deg),
            "{id}"
        );
        assert_eq!(
            state.status,
            VehicleStatus::Offline,
            "{id} parked at the end"
        );
        assert_eq!(state.ignition_on, Some(false), "{id}");
        assert_eq!(state.last_seen_ms, Some(last_time(id)), "{id}");
        let odometer = state.odometer_m.unwrap();
        assert!(truth.driven_m > 1_000.0, "{id} drove {} m", truth.driven_m);
        let error = (odometer - truth.driven_m).abs() / truth.driven_m;
        eprintln!(
            "{id}: odometer {odometer:.0} m, driven {:.0} m",
            truth.driven_m
        );
        assert!(
            error < odometer_tolerance,
            "{id}: odometer {odometer:.0} m, really driven {:.0} m",
            truth.driven_m
        );
    }

    // Every transition, in order per car, with its reason.
    let mut seen: BTreeMap<String, Vec<(Option<VehicleStatus>, VehicleStatus)>> = BTreeMap::new();
    while let Ok((_, vehicle, status, previous)) = changes.next(Duration::from_millis(500)).await {
        seen.entry(vehicle).or_default().push((previous, status));
    }
    use VehicleStatus::{Offline, Online, Unknown};
    let expected = BTreeMap::from([
        // Parked at the start, drives, parks.
        (
            "car-a".to_owned(),
            vec![
                (None, Offline),
                (Some(Offline), Online),
                (Some(Online), Offline),
            ],
        ),
        // Silent for a while in the middle of its drive.
        (
            "car-b".to_owned(),
            vec![
                (None, Online),
                (Some(Online), Unknown),
                (Some(Unknown), Online),
                (Some(Online), Offline),
            ],
        ),
        // Idles, drives (a harsh brake, the panic button), parks.
        (
            "car-c".to_owned(),
            vec![(None, Online), (Some(Online), Offline)],
        ),
    ]);
    assert_eq!(seen, expected);

    tracker.stop().await?;
    observer.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn a_scripted_scenario_yields_exactly_the_expected_tracker_state() -> anyhow::Result<()> {
    scripted_scenario_yields_the_expected_tracker(NoiseConfig::default(), 0.005).await
}

/// The same with GPS jitter, dropped, duplicated and late fixes: the tracker still ends exactly
/// right, because it keeps the newest fix and never applies a stale one.
#[tokio::test]
async fn a_scripted_scenario_with_noise_yields_exactly_the_expected_tracker_state()
-> anyhow::Result<()> {
    let noise = NoiseConfig {
        jitter_m: 5.0,
        drop_pct: 5.0,
        duplicate_pct: 5.0,
        reorder_pct: 5.0,
    };
    scripted_scenario_yields_the_expected_tracker(noise, 0.02).await
}
