//! The trips service end to end on the real broker: a scripted fleet publishes positions,
//! ignition switches and alerts through the bus; the service must announce exactly the expected
//! trips, record exactly the expected stops, answer `list-trips` and `get-route` from its
//! history, and keep all of it (trip in progress included) across a restart.
//!
//! Event time runs 60 times as fast as the wall clock for the service clock, so a 5-minute stop
//! of a parked car is noticed after about 5 s without any further message.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use broker_bridge::testing::{Received, TestVhost};
use broker_bridge::{Bridge, Incoming, Receipt};
use instadash_schemas::alert::acknowledged::v1::AlertAcknowledged;
use instadash_schemas::alert::cleared::v1::{AlertCleared, ClearReason};
use instadash_schemas::alert::raised::v1::{AlertDetails, AlertRaised};
use instadash_schemas::alert::{AlertType, Severity};
use instadash_schemas::trip::EndReason;
use instadash_schemas::trip::ended::v1::TripEnded;
use instadash_schemas::trip::list_trips::v1::ListTrips;
use instadash_schemas::trip::list_trips_reply::v1::ListTripsReply;
use instadash_schemas::trip::started::v1::TripStarted;
use instadash_schemas::vehicle::get_route::v1::GetRoute;
use instadash_schemas::vehicle::get_route_reply::v1::GetRouteReply;
use instadash_schemas::vehicle::ignition::v1::Ignition;
use instadash_schemas::vehicle::position::v2::Position;
use instadash_trips::service::{TripOptions, TripService};
use instadash_trips::{HarshCounts, StopRecord, driver_score};

const T0: i64 = 1_750_000_000_000;
const KMH36: f64 = 36.0; // 10 m/s
const TIME_SCALE: f64 = 60.0;
const WAIT: Duration = Duration::from_secs(30);

/// Milliseconds of event time `s` seconds after T0.
fn at(s: i64) -> i64 {
    T0 + s * 1_000
}

/// The scripted fleet: cars on straight roads heading east, each fix where the car's speeds
/// took it, published through a bridge of their own like the simulator's.
struct Fleet {
    bridge: Bridge,
    cars: HashMap<&'static str, Car>,
    receipts: Vec<Receipt>,
}

#[derive(Clone, Copy)]
struct Car {
    lat: f64,
    lon: f64,
    last: Option<(i64, f64)>,
}

impl Fleet {
    fn new(bridge: Bridge) -> Fleet {
        Fleet {
            bridge,
            cars: HashMap::new(),
            receipts: Vec::new(),
        }
    }

    fn car(&mut self, id: &'static str) -> &mut Car {
        let lane = self.cars.len() as f64;
        self.cars.entry(id).or_insert(Car {
            lat: 48.10 + 0.01 * lane,
            lon: 11.50,
            last: None,
        })
    }

    async fn ignition(&mut self, id: &'static str, s: i64, on: bool) -> anyhow::Result<()> {
        let receipt = self
            .bridge
            .publish(&Ignition {
                vehicle_id: id.into(),
                time_ms: at(s),
                on,
            })
            .await?;
        self.receipts.push(receipt);
        Ok(())
    }

    async fn fix(&mut self, id: &'static str, s: i64, speed_kmh: f64) -> anyhow::Result<()> {
        let car = self.car(id);
        if let Some((last_s, last_speed)) = car.last
            && s > last_s
        {
            let metres = (last_speed + speed_kmh) / 2.0 / 3.6 * (s - last_s) as f64;
            (car.lat, car.lon) = instadash_roads::offset(car.lat, car.lon, 90.0, metres);
            car.last = Some((s, speed_kmh));
        } else if car.last.is_none() {
            car.last = Some((s, speed_kmh));
        }
        let position = Position {
            vehicle_id: id.into(),
            time_ms: at(s),
            lat: car.lat,
            lon: car.lon,
            speed_kmh,
            heading_deg: 90.0,
            altitude_m: Some(520.0),
            accuracy_m: 3.0,
            satellites: 9,
            hdop: None,
        };
        let receipt = self.bridge.publish(&position).await?;
        self.receipts.push(receipt);
        Ok(())
    }

    async fn fixes(
        &mut self,
        id: &'static str,
        from: i64,
        to: i64,
        speed: f64,
    ) -> anyhow::Result<()> {
        for s in from..=to {
            self.fix(id, s, speed).await?;
        }
        Ok(())
    }

    async fn alert(
        &mut self,
        alert_id: &str,
        id: &str,
        alert_type: AlertType,
        s: i64,
    ) -> anyhow::Result<()> {
        let receipt = self
            .bridge
            .publish(&AlertRaised {
                alert_id: alert_id.into(),
                vehicle_id: id.into(),
                alert_type,
                severity: Severity::Warning,
                raised_at_ms: at(s),
                message: format!("{alert_type:?}"),
                details: AlertDetails::default(),
            })
            .await?;
        self.receipts.push(receipt);
        Ok(())
    }

    /// Everything published so far is in the broker's queues.
    async fn confirmed(&mut self) -> anyhow::Result<()> {
        for receipt in self.receipts.drain(..) {
            receipt.confirmed().await?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
enum Seen {
    Started(TripStarted),
    Ended(TripEnded),
}

/// Trip events as a consumer on the bus sees them.
async fn observe(vhost: &TestVhost) -> anyhow::Result<(Bridge, Arc<Received<Seen>>)> {
    let bridge = vhost.connect("observer").await?;
    let seen = Arc::new(Received::new());
    let (started, ended) = (seen.clone(), seen.clone());
    bridge
        .subscribe("observer")
        .on(move |event: Incoming<TripStarted>| {
            started.push(Seen::Started(event.data));
            async { Ok(()) }
        })
        .on(move |event: Incoming<TripEnded>| {
            ended.push(Seen::Ended(event.data));
            async { Ok(()) }
        })
        .start()
        .await?;
    Ok((bridge, seen))
}

/// The next `n` trip events, in the order they came.
async fn next_events(seen: &Received<Seen>, n: usize) -> anyhow::Result<Vec<Seen>> {
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        events.push(seen.next(WAIT).await?);
    }
    Ok(events)
}

fn started(events: &[Seen]) -> Vec<(String, i64)> {
    let mut started: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Seen::Started(s) => Some((s.vehicle_id.clone(), s.started_at_ms)),
            Seen::Ended(_) => None,
        })
        .collect();
    started.sort();
    started
}

fn ended(events: &[Seen], vehicle_id: &str, started_at_ms: i64) -> TripEnded {
    events
        .iter()
        .find_map(|e| match e {
            Seen::Ended(t) if t.vehicle_id == vehicle_id && t.started_at_ms == started_at_ms => {
                Some(t.clone())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no TripEnded for {vehicle_id} at {started_at_ms}: {events:#?}"))
}

fn assert_trip(
    trip: &TripEnded,
    (started_s, ended_s): (i64, i64),
    distance_m: f64,
    idle_s: u32,
    end_reason: EndReason,
    counts: HarshCounts,
) {
    let what = &trip.trip_id;
    assert_eq!(
        trip.trip_id,
        format!("trip-{}-{}", trip.vehicle_id, at(started_s))
    );
    assert_eq!(trip.started_at_ms, at(started_s), "{what} start");
    assert_eq!(trip.ended_at_ms, at(ended_s), "{what} end");
    assert!(
        (trip.distance_m - distance_m).abs() < 1e-6,
        "{what}: {} m instead of {distance_m}",
        trip.distance_m
    );
    let duration_s = (ended_s - started_s) as u32;
    assert_eq!(trip.duration_s, duration_s, "{what} duration");
    assert_eq!(trip.max_speed_kmh, KMH36, "{what} max speed");
    assert_eq!(trip.idle_s, idle_s, "{what} idle");
    assert_eq!(trip.end_reason, end_reason, "{what} end reason");
    let got = HarshCounts {
        harsh_braking: trip.harsh_braking_count,
        harsh_acceleration: trip.harsh_acceleration_count,
        harsh_cornering: trip.harsh_cornering_count,
        overspeed: trip.overspeed_count,
    };
    assert_eq!(got, counts, "{what} alerts");
    assert_eq!(
        trip.driver_score,
        driver_score(&counts, distance_m, duration_s, idle_s),
        "{what} score"
    );
}

fn stop(vehicle_id: &str, from_s: i64, to_s: Option<i64>) -> (String, i64, Option<i64>) {
    (vehicle_id.to_owned(), at(from_s), to_s.map(at))
}

fn stops_of(service: &TripService, vehicle_id: &str) -> Vec<(String, i64, Option<i64>)> {
    service
        .history()
        .stops(vehicle_id, at(-10_000), at(100_000))
        .unwrap()
        .into_iter()
        .map(
            |StopRecord {
                 vehicle_id,
                 started_at_ms,
                 ended_at_ms,
                 at,
             }| {
                assert!(at.is_some(), "every stop has a place");
                (vehicle_id, started_at_ms, ended_at_ms)
            },
        )
        .collect()
}

async fn list_trips(bus: &Bridge, vehicle_id: &str) -> anyhow::Result<ListTripsReply> {
    let request = ListTrips {
        vehicle_id: vehicle_id.into(),
        from_ms: at(0),
        to_ms: at(100_000),
        limit: None,
    };
    Ok(bus
        .request("trips", &request, Duration::from_secs(10))
        .await?)
}

async fn route(
    bus: &Bridge,
    vehicle_id: &str,
    max_points: Option<u32>,
) -> anyhow::Result<GetRouteReply> {
    let request = GetRoute {
        vehicle_id: vehicle_id.into(),
        from_ms: at(0),
        to_ms: at(100_000),
        max_points,
    };
    Ok(bus
        .request("trips", &request, Duration::from_secs(10))
        .await?)
}

async fn start_service(vhost: &TestVhost, data: &std::path::Path) -> anyhow::Result<TripService> {
    let options = TripOptions {
        database: data.join("trips").join("history.db"),
        time_scale: TIME_SCALE,
        tick_every: Duration::from_millis(200),
        ..TripOptions::default()
    };
    TripService::start(vhost.connect("trips").await?, options).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_fleet_gives_exactly_the_expected_trips_and_stops_across_a_restart()
-> anyhow::Result<()> {
    let vhost = TestVhost::create().await?;
    let data = tempfile::tempdir()?;
    let (observer, seen) = observe(&vhost).await?;
    let service = start_service(&vhost, data.path()).await?;
    let mut fleet = Fleet::new(vhost.connect("simulator").await?);

    // car-1, trip A: ignition on, 3 minutes at 36 km/h, a 2-minute stop with the engine running
    // (not long enough to end the trip), 4 more minutes, parked and switched off at 541/542.
    // The alerts service's alerts arrive right after the fixes that caused them.
    fleet.ignition("car-1", 0, true).await?;
    fleet.fix("car-1", 0, 0.0).await?;
    fleet.fixes("car-1", 1, 179, KMH36).await?;
    fleet
        .alert("a-brake", "car-1", AlertType::HarshBraking, 179)
        .await?;
    fleet.fix("car-1", 180, KMH36).await?;
    fleet.fixes("car-1", 181, 300, 0.0).await?;
    fleet.fixes("car-1", 301, 400, KMH36).await?;
    fleet
        .alert("a-speed", "car-1", AlertType::Overspeed, 400)
        .await?;
    fleet.fixes("car-1", 401, 540, KMH36).await?;
    fleet.fix("car-1", 541, 0.0).await?;
    fleet.ignition("car-1", 542, false).await?;

    // car-2: parked when its unit reports in, then a 200 m hop in 20 s: no trip.
    fleet.ignition("car-2", 0, false).await?;
    fleet.fix("car-2", 0, 0.0).await?;
    fleet.ignition("car-2", 600, true).await?;
    fleet.fix("car-2", 600, 0.0).await?;
    fleet.fixes("car-2", 601, 620, KMH36).await?;
    fleet
        .alert("a-corner", "car-2", AlertType::HarshCornering, 610)
        .await?;
    fleet.fix("car-2", 621, 0.0).await?;
    fleet.ignition("car-2", 622, false).await?;

    // car-3, trip C: drives 400 s and falls silent mid-drive.
    fleet.ignition("car-3", 1_000, true).await?;
    fleet.fix("car-3", 1_000, 0.0).await?;
    fleet.fixes("car-3", 1_001, 1_400, KMH36).await?;

    // An alert of car-1 while it is parked: counts for no trip.
    fleet
        .alert("a-parked", "car-1", AlertType::HarshBraking, 2_000)
        .await?;

    // Over an hour later: car-1's trip B (ends standing with the engine running, the unit
    // silent after 30 s) and car-4's trip D, still driving when the service is stopped.
    fleet.ignition("car-1", 5_000, true).await?;
    fleet.fix("car-1", 5_000, 0.0).await?;
    fleet.ignition("car-4", 5_000, true).await?;
    fleet.fix("car-4", 5_000, 0.0).await?;
    for s in 5_001..=5_360 {
        fleet.fix("car-1", s, KMH36).await?;
        fleet.fix("car-4", s, KMH36).await?;
    }
    fleet.fixes("car-1", 5_361, 5_390, 0.0).await?;
    fleet.confirmed().await?;

    // Expected: A and C start and end, B starts and ends (by the clock alone, about 5 s after
    // its last fix), D starts. Nothing for car-2.
    let events = next_events(&seen, 7).await?;
    seen.expect_nothing(Duration::from_secs(2)).await?;
    assert_eq!(
        started(&events),
        vec![
            ("car-1".into(), at(0)),
            ("car-1".into(), at(5_000)),
            ("car-3".into(), at(1_000)),
            ("car-4".into(), at(5_000)),
        ]
    );
    let a = ended(&events, "car-1", at(0));
    let a_counts = HarshCounts {
        harsh_braking: 1,
        overspeed: 1,
        ..HarshCounts::default()
    };
    // 5 m setting off, 179 × 10, 5 braking, 5 setting off, 239 × 10, 5 braking.
    assert_trip(&a, (0, 541), 4_200.0, 119, EndReason::Offline, a_counts);
    assert_eq!(a.driver_score, 73.6);
    assert!((a.avg_speed_kmh - 4_200.0 / 422.0 * 3.6).abs() < 1e-9);
    let b = ended(&events, "car-1", at(5_000));
    assert_trip(
        &b,
        (5_000, 5_361),
        3_600.0,
        0,
        EndReason::Stopped,
        HarshCounts::default(),
    );
    assert_eq!(b.driver_score, 100.0);
    let c = ended(&events, "car-3", at(1_000));
    assert_trip(
        &c,
        (1_000, 1_400),
        3_995.0,
        0,
        EndReason::SignalLost,
        HarshCounts::default(),
    );
    for event in &events {
        if let Seen::Started(start) = event {
            let position_at_start = service.history().route(
                &start.vehicle_id,
                start.started_at_ms,
                start.started_at_ms + 1,
                1,
            )?;
            let point = &position_at_start.points[0];
            assert_eq!((start.start_lat, start.start_lon), (point.lat, point.lon));
        }
    }

    // Stops: car-1 parked between A and B, standing after B; car-2 parked since it reported in.
    assert_eq!(
        stops_of(&service, "car-1"),
        vec![stop("car-1", 541, Some(5_000)), stop("car-1", 5_361, None)]
    );
    assert_eq!(stops_of(&service, "car-2"), vec![stop("car-2", 0, None)]);
    assert!(
        stops_of(&service, "car-3").is_empty(),
        "signal lost: where it stopped is unknown"
    );
    assert!(stops_of(&service, "car-4").is_empty());

    // Requests on the bus.
    let requests = vhost.connect("monitor").await?;
    let car1 = list_trips(&requests, "car-1").await?;
    assert!(!car1.truncated);
    let ids: Vec<&str> = car1.trips.iter().map(|t| t.trip_id.as_str()).collect();
    assert_eq!(ids, vec![a.trip_id.as_str(), b.trip_id.as_str()]);
    assert_eq!(car1.trips[0].ended_at_ms, Some(a.ended_at_ms));
    assert_eq!(car1.trips[0].driver_score, Some(a.driver_score));
    assert_eq!(car1.trips[0].harsh_braking_count, 1);
    assert_eq!(car1.trips[0].distance_m, a.distance_m);
    assert!(list_trips(&requests, "car-2").await?.trips.is_empty());
    let d_live = list_trips(&requests, "car-4").await?;
    assert_eq!(d_live.trips.len(), 1);
    let d_live = &d_live.trips[0];
    assert_eq!(
        (d_live.ended_at_ms, d_live.driver_score),
        (None, None),
        "in progress"
    );
    assert!(
        (d_live.distance_m - 3_595.0).abs() < 1e-6,
        "so far: {}",
        d_live.distance_m
    );
    assert_eq!(d_live.duration_s, 360);

    let full = route(&requests, "car-1", None).await?;
    assert!(!full.thinned);
    assert_eq!(full.points.len(), 542 + 391, "every fix of car-1, once");
    assert!(
        full.points.windows(2).all(|w| w[0].time_ms < w[1].time_ms),
        "in time order"
    );
    assert_eq!(full.points[0].time_ms, at(0));
    assert_eq!(full.points.last().map(|p| p.time_ms), Some(at(5_390)));
    let thinned = route(&requests, "car-1", Some(100)).await?;
    assert!(thinned.thinned);
    assert_eq!(thinned.points.len(), 100);
    assert_eq!(thinned.points.first(), full.points.first());
    assert_eq!(thinned.points.last(), full.points.last());
    assert!(
        thinned
            .points
            .windows(2)
            .all(|w| w[0].time_ms < w[1].time_ms)
    );

    // The alert life cycle is kept.
    fleet
        .bridge
        .publish(&AlertAcknowledged {
            alert_id: "a-brake".into(),
            vehicle_id: "car-1".into(),
            alert_type: AlertType::HarshBraking,
            acknowledged_by: "anna".into(),
            acknowledged_at_ms: at(200),
            note: None,
        })
        .await?
        .confirmed()
        .await?;
    fleet
        .bridge
        .publish(&AlertCleared {
            alert_id: "a-brake".into(),
            vehicle_id: "car-1".into(),
            alert_type: AlertType::HarshBraking,
            cleared_at_ms: at(210),
            reason: ClearReason::Manual,
            cleared_by: Some("anna".into()),
        })
        .await?
        .confirmed()
        .await?;
    broker_bridge::testing::wait_until("the alert is cleared", WAIT, || {
        service
            .history()
            .alert("a-brake")
            .ok()
            .flatten()
            .is_some_and(|alert| alert.cleared_at_ms.is_some())
    })
    .await?;
    let alert = service.history().alert("a-brake")?.expect("stored");
    assert_eq!(alert.raised_at_ms, Some(at(179)));
    assert_eq!(alert.acknowledged_by.as_deref(), Some("anna"));
    assert_eq!(alert.clear_reason, Some(ClearReason::Manual));

    // ---- restart ------------------------------------------------------------------------------
    let stops_before: Vec<_> = ["car-1", "car-2"]
        .iter()
        .map(|v| stops_of(&service, v))
        .collect();
    service.stop().await?;

    // While the service is away, car-4 drives on and parks; its unit also sends the last fixes
    // before the restart again (as after a lost acknowledgement). The broker keeps all of it.
    fleet.fixes("car-4", 5_350, 5_360, KMH36).await?;
    fleet.fixes("car-4", 5_361, 5_500, KMH36).await?;
    fleet.fix("car-4", 5_501, 0.0).await?;
    fleet.ignition("car-4", 5_502, false).await?;
    fleet.confirmed().await?;

    let service = start_service(&vhost, data.path()).await?;
    // D ends once: 5 m + 499 × 10 + 5 m over the whole drive, nothing lost or counted twice,
    // and no second TripStarted.
    let events = next_events(&seen, 1).await?;
    seen.expect_nothing(Duration::from_secs(2)).await?;
    let d = ended(&events, "car-4", at(5_000));
    assert_trip(
        &d,
        (5_000, 5_501),
        5_000.0,
        0,
        EndReason::Offline,
        HarshCounts::default(),
    );

    // The history is intact.
    assert_eq!(list_trips(&requests, "car-1").await?, car1);
    assert_eq!(route(&requests, "car-1", None).await?, full);
    assert_eq!(route(&requests, "car-1", Some(100)).await?, thinned);
    let stops_after: Vec<_> = ["car-1", "car-2"]
        .iter()
        .map(|v| stops_of(&service, v))
        .collect();
    assert_eq!(stops_after, stops_before);
    assert_eq!(
        stops_of(&service, "car-4"),
        vec![stop("car-4", 5_501, None)]
    );
    let car4 = list_trips(&requests, "car-4").await?;
    assert_eq!(car4.trips.len(), 1);
    assert_eq!(car4.trips[0].ended_at_ms, Some(at(5_501)));
    assert_eq!(car4.trips[0].distance_m, d.distance_m);
    let car4_route = route(&requests, "car-4", None).await?;
    assert_eq!(
        car4_route.points.len(),
        502,
        "each fix once, redeliveries included"
    );
    assert!(
        car4_route
            .points
            .windows(2)
            .all(|w| w[0].time_ms < w[1].time_ms)
    );
    broker_bridge::testing::wait_until("every trip event confirmed", WAIT, || {
        service
            .history()
            .pending_events()
            .is_ok_and(|p| p.is_empty())
    })
    .await?;

    service.stop().await?;
    requests.shutdown().await?;
    fleet.bridge.shutdown().await?;
    observer.shutdown().await?;
    Ok(())
}
