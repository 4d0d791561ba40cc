//! The alerts service on the real broker: telemetry published by another bridge, the alert events
//! an observer receives, `list-active` and `acknowledge` over request/reply, expiry by the
//! service's timer, and the active alerts still there after a restart.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use broker_bridge::testing::{Received, TestVhost};
use broker_bridge::{Bridge, Incoming, Message};
use instadash_alerts::{AlertEvent, AlertOptions, AlertService, AlertStore, Alerts, AlertsConfig};
use instadash_roads::{EdgeId, RoadNetwork};
use instadash_schemas::alert::acknowledge::v1::Acknowledge;
use instadash_schemas::alert::acknowledge_reply::v1::{AcknowledgeOutcome, AcknowledgeReply};
use instadash_schemas::alert::acknowledged::v1::AlertAcknowledged;
use instadash_schemas::alert::cleared::v1::{AlertCleared, ClearReason};
use instadash_schemas::alert::list_active::v1::ListActive;
use instadash_schemas::alert::list_active_reply::v1::ListActiveReply;
use instadash_schemas::alert::raised::v1::AlertRaised;
use instadash_schemas::alert::{AlertType, Severity};
use instadash_schemas::vehicle::VehicleStatus;
use instadash_schemas::vehicle::position::v2::Position;
use instadash_schemas::vehicle::status_changed::v1::StatusChanged;
use instadash_schemas::vehicle::trouble_codes::v1::TroubleCodes;
use instadash_simulator::service::{RunOptions, Simulator};
use instadash_simulator::{Emission, FleetModel, Scenario};

const WAIT: Duration = Duration::from_secs(10);
const EXPIRE_AFTER_S: f64 = 5.0;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

/// An alert event reduced to what the scenario checks: what, about whom, when, why.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Raised(AlertType, String, i64),
    Cleared(AlertType, String, i64, ClearReason),
    Acknowledged(AlertType, String, String),
}

fn seen(event: &AlertEvent) -> Seen {
    match event {
        AlertEvent::Raised(e) => Seen::Raised(e.alert_type, e.vehicle_id.clone(), e.raised_at_ms),
        AlertEvent::Cleared(e) => Seen::Cleared(
            e.alert_type,
            e.vehicle_id.clone(),
            e.cleared_at_ms,
            e.reason,
        ),
        AlertEvent::Acknowledged(e) => Seen::Acknowledged(
            e.alert_type,
            e.vehicle_id.clone(),
            e.acknowledged_by.clone(),
        ),
    }
}

/// Subscribes to every alert event, as the monitor would.
async fn observe(vhost: &TestVhost) -> anyhow::Result<(Bridge, Arc<Received<AlertEvent>>)> {
    let observer = vhost.connect("observer").await?;
    let received = Arc::new(Received::new());
    let (raised, cleared, acknowledged) = (received.clone(), received.clone(), received.clone());
    observer
        .subscribe("observer")
        .on(move |m: Incoming<AlertRaised>| {
            raised.push(AlertEvent::Raised(m.data));
            async { Ok(()) }
        })
        .on(move |m: Incoming<AlertCleared>| {
            cleared.push(AlertEvent::Cleared(m.data));
            async { Ok(()) }
        })
        .on(move |m: Incoming<AlertAcknowledged>| {
            acknowledged.push(AlertEvent::Acknowledged(m.data));
            async { Ok(()) }
        })
        .start()
        .await?;
    Ok((observer, received))
}

async fn start_alerts(vhost: &TestVhost, database: &Path) -> anyhow::Result<AlertService> {
    let mut config = AlertsConfig::default();
    config.thresholds.expire_after_s = EXPIRE_AFTER_S;
    let options = AlertOptions {
        config,
        database: Some(database.to_path_buf()),
        expiry_check_every: Duration::from_millis(100),
        ..AlertOptions::default()
    };
    AlertService::start(vhost.connect("alerts").await?, options).await
}

/// Publishes and waits until the broker has it in the alerts service's queue.
async fn send<M: Message>(bus: &Bridge, message: &M) -> anyhow::Result<()> {
    bus.publish(message).await?.confirmed().await?;
    Ok(())
}

/// The next `n` alert events.
async fn next(received: &Received<AlertEvent>, n: usize) -> anyhow::Result<Vec<AlertEvent>> {
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        events.push(received.next(WAIT).await?);
    }
    Ok(events)
}

/// Fixes of a car driving east along the 60 km/h arterial of row 14 (junctions 437 to 449).
struct Car {
    id: String,
    network: Arc<RoadNetwork>,
    edges: Vec<EdgeId>,
    distance_m: f64,
    last: Option<(i64, f64)>,
}

impl Car {
    fn on_the_arterial(id: &str) -> Car {
        let network = RoadNetwork::city();
        let edges = (437..449)
            .filter_map(|n| {
                network
                    .edges()
                    .iter()
                    .find(|e| e.from == n && e.to == n + 1)
                    .map(|e| e.id)
            })
            .collect::<Vec<_>>();
        assert_eq!(edges.len(), 12);
        assert!(
            edges
                .iter()
                .all(|&e| network.edge(e).speed_limit_kmh == 60.0)
        );
        Car {
            id: id.into(),
            network,
            edges,
            distance_m: 20.0,
            last: None,
        }
    }

    fn fix(&mut self, time_ms: i64, speed_kmh: f64) -> Position {
        if let Some((t, v)) = self.last {
            self.distance_m += (v + speed_kmh) / 2.0 / 3.6 * ((time_ms - t) as f64 / 1000.0);
        }
        self.last = Some((time_ms, speed_kmh));
        let mut left = self.distance_m;
        let mut edge = self.edges[0];
        for &e in &self.edges {
            edge = e;
            if left <= self.network.edge(e).length_m {
                break;
            }
            left -= self.network.edge(e).length_m;
        }
        let (lat, lon) = self.network.point_on_edge(edge, left);
        Position {
            vehicle_id: self.id.clone(),
            time_ms,
            lat,
            lon,
            speed_kmh,
            heading_deg: self.network.edge_bearing_deg(edge),
            altitude_m: Some(520.0),
            accuracy_m: 3.0,
            satellites: 9,
            hdop: None,
        }
    }
}

fn status(vehicle: &str, time_ms: i64, status: VehicleStatus, last_seen_ms: i64) -> StatusChanged {
    StatusChanged {
        vehicle_id: vehicle.into(),
        time_ms,
        status,
        previous: None,
        last_seen_ms: Some(last_seen_ms),
        reason: None,
    }
}

fn codes(vehicle: &str, time_ms: i64, codes: &[&str]) -> TroubleCodes {
    TroubleCodes {
        vehicle_id: vehicle.into(),
        time_ms,
        mil_on: !codes.is_empty(),
        codes: codes.iter().map(|c| (*c).to_owned()).collect(),
    }
}

async fn acknowledge(bus: &Bridge, alert_id: &str, by: &str) -> anyhow::Result<AcknowledgeReply> {
    let request = Acknowledge {
        alert_id: alert_id.into(),
        acknowledged_by: by.into(),
        note: Some("called the driver".into()),
    };
    Ok(bus.request("alerts", &request, WAIT).await?)
}

async fn list(bus: &Bridge, request: &ListActive) -> anyhow::Result<ListActiveReply> {
    Ok(bus.request("alerts", request, WAIT).await?)
}

#[tokio::test]
async fn telemetry_on_the_bus_becomes_exactly_the_expected_alerts() -> anyhow::Result<()> {
    let vhost = TestVhost::create().await?;
    let data = tempfile::tempdir()?;
    let database = data.path().join("alerts").join("alerts.db");
    let (observer, received) = observe(&vhost).await?;
    let mut alerts = start_alerts(&vhost, &database).await?;
    let bus = vhost.connect("simulator").await?;

    // A minute ago (event times are the units' own; only expiry looks at the clock):
    // car-1 drives 80 km/h in the 60 zone for 12 s, then slows down to 55 (gently: no harsh
    // braking); its unit reports a misfire; the tracker loses and finds car-2.
    let t0 = now_ms() - 60_000;
    let at = |s: i64| t0 + s * 1000;
    let mut car = Car::on_the_arterial("car-1");
    let speeds = [80.0; 13].into_iter().chain([71.0, 60.0, 55.0, 55.0, 55.0]);
    let mut fixes = Vec::new();
    for (s, speed) in speeds.enumerate() {
        fixes.push(car.fix(at(s as i64), speed));
    }
    for (i, fix) in fixes.iter().enumerate() {
        send(&bus, fix).await?;
        if i % 4 == 1 {
            // Delivered twice (a new event id each time, so the bridge cannot drop it), and a
            // late fix from a second earlier at a very different speed: both must change nothing.
            send(&bus, fix).await?;
            let late = Position {
                speed_kmh: 20.0,
                ..fixes[i - 1].clone()
            };
            send(&bus, &late).await?;
        }
    }
    send(&bus, &codes("car-1", at(20), &["P0301"])).await?;
    send(
        &bus,
        &status("car-2", at(21), VehicleStatus::Unknown, at(-600)),
    )
    .await?;
    send(
        &bus,
        &status("car-2", at(25), VehicleStatus::Online, at(24)),
    )
    .await?;
    send(
        &bus,
        &status("car-2", at(23), VehicleStatus::Unknown, at(-600)),
    )
    .await?; // late

    let events = next(&received, 5).await?;
    assert_eq!(
        events.iter().map(seen).collect::<Vec<_>>(),
        vec![
            Seen::Raised(AlertType::Overspeed, "car-1".into(), at(10)),
            Seen::Cleared(
                AlertType::Overspeed,
                "car-1".into(),
                at(17),
                ClearReason::ConditionEnded
            ),
            Seen::Raised(AlertType::EngineFault, "car-1".into(), at(20)),
            Seen::Raised(AlertType::VehicleSilent, "car-2".into(), at(21)),
            Seen::Cleared(
                AlertType::VehicleSilent,
                "car-2".into(),
                at(25),
                ClearReason::ConditionEnded
            ),
        ]
    );
    let overspeed = events[0].as_raised().expect("raised");
    assert_eq!(overspeed.alert_id, format!("car-1-overspeed-{}", at(10)));
    assert_eq!(overspeed.message, "80 km/h in a 60 zone for 10 s");
    assert_eq!(overspeed.severity, Severity::Warning);
    assert_eq!(overspeed.details.limit_kmh, Some(60.0));
    let fault = events[2].as_raised().expect("raised").clone();
    assert_eq!(fault.message, "Engine fault: P0301 (malfunction lamp on)");
    assert_eq!(
        events[3].as_raised().map(|r| r.message.as_str()),
        Some("Silent for 10 min 21 s")
    );

    // Request/reply: what is active, and acknowledging it.
    let active = list(&bus, &ListActive::default()).await?;
    assert_eq!(active.total, 1);
    assert_eq!(active.alerts[0].alert_id, fault.alert_id);
    assert_eq!(active.alerts[0].acknowledged_by, None);
    let car_2 = ListActive {
        vehicle_id: Some("car-2".into()),
        ..ListActive::default()
    };
    assert_eq!(list(&bus, &car_2).await?.total, 0);

    let before_ack = now_ms();
    let reply = acknowledge(&bus, &fault.alert_id, "dispatcher.anna").await?;
    assert_eq!(reply.outcome, AcknowledgeOutcome::Acknowledged);
    let acked = reply.alert.expect("the alert as it is now");
    assert_eq!(acked.acknowledged_by.as_deref(), Some("dispatcher.anna"));
    let acked_at = acked.acknowledged_at_ms.expect("acknowledged at");
    assert!(
        acked_at >= before_ack && acked_at <= now_ms(),
        "stamped when handled"
    );
    let event = received.next(WAIT).await?;
    assert_eq!(
        seen(&event),
        Seen::Acknowledged(
            AlertType::EngineFault,
            "car-1".into(),
            "dispatcher.anna".into()
        )
    );
    let AlertEvent::Acknowledged(event) = event else {
        unreachable!("checked above")
    };
    assert_eq!(event.alert_id, fault.alert_id);
    assert_eq!(event.acknowledged_at_ms, acked_at);
    assert_eq!(event.note.as_deref(), Some("called the driver"));
    assert_eq!(
        acknowledge(&bus, &fault.alert_id, "dispatcher.ben")
            .await?
            .outcome,
        AcknowledgeOutcome::AlreadyAcknowledged
    );
    let silent_id = events[3].alert_id().to_owned();
    assert_eq!(
        acknowledge(&bus, &silent_id, "dispatcher.anna")
            .await?
            .outcome,
        AcknowledgeOutcome::AlreadyCleared
    );
    assert_eq!(
        acknowledge(&bus, "car-9-overspeed-1", "dispatcher.anna")
            .await?
            .outcome,
        AcknowledgeOutcome::NotFound
    );

    // A harsh brake, timed so that its alert expires a second from now: the service's timer
    // clears it, as expired at exactly raised + 5 s.
    let t3 = now_ms() - (EXPIRE_AFTER_S as i64 - 1) * 1000;
    let mut braking = Car::on_the_arterial("car-3");
    send(&bus, &braking.fix(t3, 60.0)).await?;
    send(&bus, &braking.fix(t3 + 1000, 35.0)).await?;
    let events = next(&received, 2).await?;
    let expired_at = t3 + 1000 + (EXPIRE_AFTER_S as i64) * 1000;
    assert_eq!(
        events.iter().map(seen).collect::<Vec<_>>(),
        vec![
            Seen::Raised(AlertType::HarshBraking, "car-3".into(), t3 + 1000),
            Seen::Cleared(
                AlertType::HarshBraking,
                "car-3".into(),
                expired_at,
                ClearReason::Expired
            ),
        ]
    );
    assert!(now_ms() >= expired_at, "cleared by the clock, not before");
    assert_eq!(
        events[0].as_raised().map(|r| r.message.as_str()),
        Some("Harsh braking from 60 to 35 km/h in 1.0 s (0.71 g)")
    );

    // A restart: the acknowledged fault is still active, and its end still clears it.
    alerts.stop().await?;
    alerts = start_alerts(&vhost, &database).await?;
    let active = list(&bus, &ListActive::default()).await?;
    assert_eq!(active.alerts, vec![acked]);
    send(&bus, &codes("car-1", at(40), &[])).await?;
    let event = received.next(WAIT).await?;
    assert_eq!(
        seen(&event),
        Seen::Cleared(
            AlertType::EngineFault,
            "car-1".into(),
            at(40),
            ClearReason::ConditionEnded
        )
    );
    assert_eq!(event.alert_id(), fault.alert_id);
    assert_eq!(list(&bus, &ListActive::default()).await?.total, 0);

    // Nothing else was published: no duplicate, no late delivery raised or cleared anything.
    received.expect_nothing(Duration::from_millis(500)).await?;
    alerts.stop().await?;
    bus.shutdown().await?;
    observer.shutdown().await?;
    Ok(())
}

/// A short script: speeding, a hard brake, a misfire, parking, the codes cleared.
const SCRIPT: &str = r#"
name = "on the bus"
seed = 3

[[car]]
id = "car-s"
start_node = 437      # row 14 (the 60 km/h arterial), column 1
ignition = true
actions = [
  { drive_to = 443 },                               # about 1.1 km east
  { speeding_s = 15, over_pct = 25, after_s = 5 },
  { harsh_brake = true, after_s = 25 },
  { fault = "P0301", after_s = 2 },
  { park_s = 5 },
  { clear_faults = true },
]
"#;

/// The simulator's scripted car on the bus, twenty times faster than real time, through the broker
/// into the service: exactly the alerts the engine makes of the messages the simulator sent, in
/// the order it sent them.
#[tokio::test]
async fn a_scripted_scenario_on_the_bus_gives_exactly_its_alerts() -> anyhow::Result<()> {
    let vhost = TestVhost::create().await?;
    let (observer, received) = observe(&vhost).await?;
    let alerts =
        AlertService::start(vhost.connect("alerts").await?, AlertOptions::default()).await?;

    let scenario = Scenario::from_toml(SCRIPT)?;
    let model = FleetModel::scripted(RoadNetwork::city(), &scenario, now_ms())?;
    let options = RunOptions {
        speedup: 20.0,
        record: true,
        ..RunOptions::default()
    };
    let report = Simulator::start(vhost.connect("simulator").await?, model, options)
        .finished()
        .await?;
    assert_eq!(report.progress.failed, 0, "{:?}", report.progress);

    // What the engine makes of exactly those messages, in that order.
    let mut engine = Alerts::new(AlertsConfig::default())?;
    let mut expected = Vec::new();
    for emission in &report.sent {
        let applied = match emission {
            Emission::Position(m) => engine.on_position(m),
            Emission::Obd(m) => engine.on_obd(m),
            Emission::TroubleCodes(m) => engine.on_trouble_codes(m),
            Emission::Ignition(m) => engine.on_ignition(m),
            Emission::Clip(_) => continue,
        };
        expected.extend(applied.events);
    }
    let kinds: Vec<(AlertType, bool)> = expected
        .iter()
        .map(|e| (e.alert_type(), e.as_raised().is_some()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (AlertType::Overspeed, true),
            (AlertType::Overspeed, false),
            (AlertType::HarshBraking, true),
            (AlertType::EngineFault, true),
            (AlertType::EngineFault, false),
        ],
        "the script's alerts: {expected:#?}"
    );

    let got = next(&received, expected.len()).await?;
    let ids = |events: &[AlertEvent]| -> Vec<(String, Seen)> {
        events
            .iter()
            .map(|e| (e.alert_id().to_owned(), seen(e)))
            .collect()
    };
    assert_eq!(ids(&got), ids(&expected));
    for (got, expected) in got.iter().zip(&expected) {
        if let (Some(got), Some(expected)) = (got.as_raised(), expected.as_raised()) {
            assert_eq!(got.message, expected.message);
        }
    }
    received.expect_nothing(Duration::from_millis(500)).await?;
    alerts.stop().await?;
    observer.shutdown().await?;
    Ok(())
}

/// A crash between storing an alert and the broker confirming its event: the event waits in the
/// outbox and is published when the service starts again, and the alert is active.
#[tokio::test]
async fn events_left_in_the_outbox_are_published_at_the_next_start() -> anyhow::Result<()> {
    let vhost = TestVhost::create().await?;
    let data = tempfile::tempdir()?;
    let database = data.path().join("alerts.db");
    // What the crashed run left behind: the alert stored, its event not yet published.
    let mut engine = Alerts::new(AlertsConfig::default())?;
    let left = engine
        .on_trouble_codes(&codes("car-7", now_ms() - 5_000, &["P0171"]))
        .events;
    assert_eq!(left.len(), 1);
    AlertStore::open(&database)?.record(&left)?;

    let (observer, received) = observe(&vhost).await?;
    let alerts = start_alerts(&vhost, &database).await?;
    assert_eq!(received.next(WAIT).await?, left[0]);
    let operator = vhost.connect("operator").await?;
    let active = list(&operator, &ListActive::default()).await?;
    assert_eq!(active.total, 1);
    assert_eq!(active.alerts[0].alert_id, left[0].alert_id());
    received.expect_nothing(Duration::from_millis(300)).await?;
    alerts.stop().await?;
    assert_eq!(
        AlertStore::open(&database)?.pending_count()?,
        0,
        "published, so out of the outbox"
    );
    operator.shutdown().await?;
    observer.shutdown().await?;
    Ok(())
}
