//! The whole platform end to end on the real broker: the simulator's scripted cars, and the
//! tracker, alerts, trips and dashcam services, each on its own connection, talking only through
//! the broker. What the services announce must be exactly what the script makes happen.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use broker_bridge::Incoming;
use broker_bridge::testing::{Received, TestVhost};
use instadash_alerts::{AlertOptions, AlertService, AlertsConfig};
use instadash_dashcam::{DashcamOptions, DashcamService};
use instadash_roads::RoadNetwork;
use instadash_schemas::alert::cleared::v1::AlertCleared;
use instadash_schemas::alert::raised::v1::AlertRaised;
use instadash_schemas::dashcam::clip_stored::v1::ClipStored;
use instadash_schemas::trip::ended::v1::TripEnded;
use instadash_schemas::trip::started::v1::TripStarted;
use instadash_simulator::service::{RunOptions, Simulator};
use instadash_simulator::{Emission, FleetModel, Scenario};
use instadash_tracker::Config as TrackerConfig;
use instadash_tracker::service::{Tracker, TrackerOptions};
use instadash_trips::Rules;
use instadash_trips::service::{TripOptions, TripService};

/// Simulated seconds per wall-clock second.
const SPEEDUP: f64 = 6.0;

/// What the services announced, per vehicle, in the order they announced it.
#[derive(Debug, Clone)]
enum Seen {
    Alert(String, String),
    TripStarted(TripStarted),
    TripEnded(TripEnded),
    Clip(ClipStored),
}

impl Seen {
    fn vehicle(&self) -> &str {
        match self {
            Seen::Alert(vehicle, _) => vehicle,
            Seen::TripStarted(t) => &t.vehicle_id,
            Seen::TripEnded(t) => &t.vehicle_id,
            Seen::Clip(c) => &c.vehicle_id,
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn observe(
    vhost: &TestVhost,
) -> anyhow::Result<(broker_bridge::Bridge, Arc<Received<Seen>>)> {
    let bus = vhost.connect("observer").await?;
    let seen = Arc::new(Received::new());
    let (a, b, c, d, e) = (
        seen.clone(),
        seen.clone(),
        seen.clone(),
        seen.clone(),
        seen.clone(),
    );
    bus.subscribe("observer")
        .on(move |m: Incoming<AlertRaised>| {
            let kind = instadash_alerts::alert_type_name(m.data.alert_type);
            a.push(Seen::Alert(m.data.vehicle_id, format!("raised {kind}")));
            async { Ok(()) }
        })
        .on(move |m: Incoming<AlertCleared>| {
            let kind = instadash_alerts::alert_type_name(m.data.alert_type);
            let reason = format!("{:?}", m.data.reason);
            b.push(Seen::Alert(
                m.data.vehicle_id,
                format!("cleared {kind} {reason}"),
            ));
            async { Ok(()) }
        })
        .on(move |m: Incoming<TripStarted>| {
            c.push(Seen::TripStarted(m.data));
            async { Ok(()) }
        })
        .on(move |m: Incoming<TripEnded>| {
            d.push(Seen::TripEnded(m.data));
            async { Ok(()) }
        })
        .on(move |m: Incoming<ClipStored>| {
            e.push(Seen::Clip(m.data));
            async { Ok(()) }
        })
        .start()
        .await?;
    Ok((bus, seen))
}

/// The `every-event` scenario: car-e does everything once (a hard start, speeding, a hard brake,
/// a misfire, overheating, the panic button, a short park, silence, a slow drive into a yard),
/// car-f idles with its engine running.
#[tokio::test]
async fn every_event_of_a_scripted_drive_reaches_every_service_exactly_once() -> anyhow::Result<()>
{
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("../services/simulator/scenarios");
    let scenario = Scenario::load(scenarios.join("every-event.toml"))?;
    let network = RoadNetwork::city();
    let vhost = TestVhost::create().await?;
    let data = tempfile::tempdir()?;
    let (observer, seen) = observe(&vhost).await?;

    // car-e is silent for 20 simulated seconds (3.3 s here): unknown after 1.5 s.
    let tracker = Tracker::start(
        vhost.connect("tracker").await?,
        TrackerOptions {
            config: TrackerConfig {
                unknown_after_ms: 1_500,
                ..TrackerConfig::default()
            },
            silence_check_every: Duration::from_millis(100),
            ..TrackerOptions::default()
        },
    )
    .await?;
    // The scenario's geofences, and car-f, idling for 60 s, has an alert after 30 s.
    let mut alert_config = AlertsConfig::load(&scenarios.join("every-event.alerts.toml"))?;
    // Nothing expires while the test runs.
    alert_config.thresholds.expire_after_s = 3_600.0;
    let alerts = AlertService::start(
        vhost.connect("alerts").await?,
        AlertOptions {
            config: alert_config,
            database: Some(data.path().join("alerts.db")),
            ..AlertOptions::default()
        },
    )
    .await?;
    // The script is a few minutes long: trips and stops of a minute count here.
    let rules = Rules {
        stop_ms: 60_000,
        min_trip_ms: 60_000,
        ..Rules::default()
    };
    let trips = TripService::start(
        vhost.connect("trips").await?,
        TripOptions {
            rules,
            database: data.path().join("history.db"),
            time_scale: SPEEDUP,
            ..TripOptions::default()
        },
    )
    .await?;
    let dashcam = DashcamService::start(
        vhost.connect("dashcam").await?,
        DashcamOptions {
            store_root: data.path().join("clips"),
            ..DashcamOptions::default()
        },
    )
    .await?;

    let start_ms = now_ms();
    let model = FleetModel::scripted(network.clone(), &scenario, start_ms)?;
    let mut twin = FleetModel::scripted(network.clone(), &scenario, start_ms)?;
    let cars = vhost.connect("simulator").await?;
    instadash_simulator::clips::serve_clips(&cars).await?;
    let options = RunOptions {
        speedup: SPEEDUP,
        record: true,
        ..RunOptions::default()
    };
    let report = Simulator::start(cars.clone(), model, options)
        .finished()
        .await?;
    assert_eq!(report.progress.failed, 0, "{:?}", report.progress);
    let mut scratch = Vec::new();
    while !twin.finished() {
        twin.step(&mut scratch);
    }

    // Everything has happened once car-e's trip has ended (a minute after it parked, by the
    // trips service's clock) and car-f, whose engine still runs, was found silent.
    let mut all: Vec<Seen> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let done = |all: &[Seen]| {
        all.iter().any(|s| matches!(s, Seen::TripEnded(_)))
            && all
                .iter()
                .any(|s| matches!(s, Seen::Alert(v, what) if v == "car-f" && what == "raised vehicle_silent"))
    };
    while tokio::time::Instant::now() < deadline && !done(&all) {
        if let Ok(next) = seen.next(Duration::from_millis(500)).await {
            all.push(next);
        }
    }
    // And nothing more comes.
    while let Ok(next) = seen.next(Duration::from_secs(2)).await {
        all.push(next);
    }

    let mut alerts_seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in &all {
        if let Seen::Alert(vehicle, what) = s {
            alerts_seen
                .entry(vehicle.clone())
                .or_default()
                .push(what.clone());
        }
    }
    let expected_alerts = BTreeMap::from([
        (
            "car-e".to_owned(),
            [
                "raised harsh_acceleration",
                "raised overspeed",
                "cleared overspeed ConditionEnded",
                "raised harsh_braking",
                "raised engine_fault",
                "raised geofence_enter",
                "raised coolant_over_temperature",
                "cleared geofence_enter ConditionEnded",
                "raised geofence_exit",
                "cleared coolant_over_temperature ConditionEnded",
                "cleared engine_fault ConditionEnded",
                // From the tracker's status: silent, then driving again.
                "raised vehicle_silent",
                "cleared vehicle_silent ConditionEnded",
                "raised geofence_enter",
            ]
            .map(String::from)
            .to_vec(),
        ),
        (
            "car-f".to_owned(),
            ["raised idling", "raised vehicle_silent"]
                .map(String::from)
                .to_vec(),
        ),
    ]);
    assert_eq!(alerts_seen, expected_alerts);

    // One trip: car-e's, from the ignition to the yard, its short park inside it.
    let started: Vec<&TripStarted> = all
        .iter()
        .filter_map(|s| match s {
            Seen::TripStarted(t) => Some(t),
            _ => None,
        })
        .collect();
    let ended: Vec<&TripEnded> = all
        .iter()
        .filter_map(|s| match s {
            Seen::TripEnded(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(ended.len(), 1, "{ended:?}");
    let (trip_start, trip) = (started[0], ended[0]);
    assert_eq!(
        (trip.vehicle_id.as_str(), trip_start.trip_id.as_str()),
        ("car-e", trip.trip_id.as_str())
    );
    let truth = twin
        .truth()
        .into_iter()
        .find(|t| t.vehicle_id == "car-e")
        .unwrap();
    let error = (trip.distance_m - truth.driven_m).abs() / truth.driven_m;
    assert!(
        error < 0.01,
        "trip {:.0} m, really driven {:.0} m",
        trip.distance_m,
        truth.driven_m
    );
    assert_eq!(
        (
            trip.harsh_braking_count,
            trip.harsh_acceleration_count,
            trip.overspeed_count
        ),
        (1, 1, 1),
        "{trip:?}"
    );
    assert!(
        trip.driver_score < 100.0 && trip.driver_score > 0.0,
        "{trip:?}"
    );
    // The trip began with the ignition and ended where the car parked for good.
    let car_e_times: Vec<i64> = report
        .sent
        .iter()
        .filter(|e| e.vehicle_id() == "car-e")
        .map(Emission::time_ms)
        .collect();
    assert_eq!(
        trip.started_at_ms, car_e_times[0],
        "starts with the first message"
    );
    assert!(trip.ended_at_ms <= *car_e_times.last().unwrap());

    // Every clip the cars captured is stored once and announced.
    let captured: BTreeSet<String> = report
        .sent
        .iter()
        .filter_map(|e| match e {
            Emission::Clip(c) => Some(c.clip_id.clone()),
            _ => None,
        })
        .collect();
    assert!(!captured.is_empty(), "the scenario captures clips");
    let stored: Vec<&ClipStored> = all
        .iter()
        .filter_map(|s| match s {
            Seen::Clip(c) => Some(c),
            _ => None,
        })
        .collect();
    let stored_ids: BTreeSet<String> = stored.iter().map(|c| c.clip_id.clone()).collect();
    assert_eq!(stored_ids, captured);
    assert_eq!(stored.len(), captured.len(), "each clip announced once");
    for clip in &stored {
        let file = data.path().join("clips").join(&clip.object_key);
        assert_eq!(std::fs::metadata(&file)?.len(), clip.size_bytes, "{file:?}");
    }
    assert!(
        all.iter()
            .all(|s| ["car-e", "car-f"].contains(&s.vehicle()))
    );

    dashcam.stop().await?;
    trips.stop().await?;
    alerts.stop().await?;
    tracker.stop().await?;
    cars.shutdown().await?;
    observer.shutdown().await?;
    Ok(())
}
