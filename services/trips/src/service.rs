//! The trips service on the bus: feeds the [`Detector`] from the telemetry events in queue order,
//! writes everything to the [`History`] before acknowledging, publishes trip events, answers
//! `list-trips` and `get-route`, and lets the service clock end trips of vehicles that went quiet.
//!
//! One worker consumes the `trips` group's queue, so a vehicle's messages are applied in the
//! order the broker holds them; the detector's per-vehicle rules deal with what the network
//! reordered. Requests are served from a separate queue (the service's inbox) on the history's
//! read connection, beside the writes.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use broker_bridge::{Bridge, Incoming, PublishError};
use instadash_schemas::alert::acknowledged::v1::AlertAcknowledged;
use instadash_schemas::alert::cleared::v1::AlertCleared;
use instadash_schemas::alert::raised::v1::AlertRaised;
use instadash_schemas::trip::list_trips::v1::ListTrips;
use instadash_schemas::trip::list_trips_reply::v1::{ListTripsReply, TripSummary};
use instadash_schemas::vehicle::get_route::v1::GetRoute;
use instadash_schemas::vehicle::get_route_reply::v1::GetRouteReply;
use instadash_schemas::vehicle::ignition::v1::Ignition;
use instadash_schemas::vehicle::position::v2::Position;
use instadash_schemas::vehicle::status_changed::v1::StatusChanged;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, info, warn};

use crate::clock::ServiceClock;
use crate::detector::{Detector, Outcome, TripProgress, Update};
use crate::motion::Fix;
use crate::rules::Rules;
use crate::score::HarshCounts;
use crate::store::{History, Outgoing, StoredTrip, TripEvent};

/// `list-trips` without a limit returns this many trips.
pub const DEFAULT_TRIP_LIMIT: u32 = 100;
/// The most trips one `list-trips` answer carries.
pub const MAX_TRIP_LIMIT: u32 = 1_000;
/// `get-route` without `max_points` returns at most this many points.
pub const DEFAULT_ROUTE_POINTS: u32 = 1_000;

/// How the trips service runs.
#[derive(Debug, Clone)]
pub struct TripOptions {
    /// The subscriber group: one queue, shared by every instance of the group.
    pub group: String,
    pub rules: Rules,
    /// The history database (`<data_dir>/trips/history.db`).
    pub database: PathBuf,
    /// How much faster than the wall clock event time runs (a simulation's speedup), for the
    /// service clock.
    pub time_scale: f64,
    /// Positions older than this (event time) are pruned.
    pub retention: Duration,
    /// How often time alone is given a say (stops that lasted long enough, lost signals).
    pub tick_every: Duration,
    /// How often old positions are pruned.
    pub prune_every: Duration,
}

impl Default for TripOptions {
    fn default() -> Self {
        TripOptions {
            group: "trips".into(),
            rules: Rules::default(),
            database: PathBuf::from("data").join("trips").join("history.db"),
            time_scale: 1.0,
            retention: Duration::from_secs(7 * 24 * 3600),
            tick_every: Duration::from_secs(1),
            prune_every: Duration::from_secs(300),
        }
    }
}

struct Shared {
    bridge: Bridge,
    history: Arc<History>,
    detector: Mutex<Detector>,
    clock: ServiceClock,
    /// Confirmations of published trip events still awaited (they delete the outbox rows).
    confirms: TaskTracker,
}

/// A running trips service.
pub struct TripService {
    shared: Arc<Shared>,
    stop: CancellationToken,
    timers: Vec<JoinHandle<()>>,
}

impl TripService {
    /// Opens the history, restores every vehicle's detector state, publishes trip events a
    /// crash left unpublished, then starts consuming and answering. Returns once it consumes.
    ///
    /// `bridge` should be connected as service `trips`: requests are addressed to the service by
    /// that name (catalog routing key of `list-trips` and `get-route`).
    pub async fn start(bridge: Bridge, options: TripOptions) -> anyhow::Result<Self> {
        let database = options.database.clone();
        let history = tokio::task::spawn_blocking(move || History::open(&database))
            .await
            .context("opening the history database")?
            .with_context(|| format!("opening {}", options.database.display()))?;
        let history = Arc::new(history);
        let states = history.vehicle_states()?;
        info!(
            vehicles = states.len(),
            path = %history.path().display(),
            "trip history opened"
        );
        let shared = Arc::new(Shared {
            bridge: bridge.clone(),
            history: history.clone(),
            detector: Mutex::new(Detector::restore(options.rules.clone(), states)),
            clock: ServiceClock::new(options.time_scale),
            confirms: TaskTracker::new(),
        });
        let pending = history.pending_events()?;
        if !pending.is_empty() {
            info!(
                events = pending.len(),
                "publishing trip events left from the last run"
            );
        }
        shared.publish(pending).await;

        subscribe(&shared, &options.group).await?;
        serve(&shared).await?;

        let stop = CancellationToken::new();
        let timers = vec![
            tokio::spawn(tick(shared.clone(), options.tick_every, stop.clone())),
            tokio::spawn(prune(
                shared.clone(),
                options.retention,
                options.prune_every,
                stop.clone(),
            )),
        ];
        Ok(TripService {
            shared,
            stop,
            timers,
        })
    }

    /// The history, for reading (stops, alerts, anything the bus requests do not cover).
    pub fn history(&self) -> &History {
        &self.shared.history
    }

    /// The service clock: event time now, `None` before the first event.
    pub fn now_ms(&self) -> Option<i64> {
        self.shared.clock.now_ms()
    }

    /// The qualified trip a vehicle is on.
    pub fn trip_in_progress(&self, vehicle_id: &str) -> Option<TripProgress> {
        self.shared.detector().trip_in_progress(vehicle_id)
    }

    /// Stops the timers (no decision is taken on the clock from now on), then leaves the bus:
    /// consumers stop, in-flight messages finish and are acknowledged after their writes,
    /// outstanding confirms arrive and clear the outbox. Everything acknowledged is in the
    /// history; a trip event the broker did not confirm stays in the outbox for the next start.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        for timer in self.timers {
            let _ = timer.await;
        }
        self.shared
            .bridge
            .shutdown()
            .await
            .context("leaving the bus")?;
        self.shared.confirms.close();
        self.shared.confirms.wait().await;
        Ok(())
    }
}

async fn subscribe(shared: &Arc<Shared>, group: &str) -> anyhow::Result<()> {
    let s = shared.clone();
    let on_position = move |fix: Incoming<Position>| {
        let s = s.clone();
        async move {
            s.clock.observe(fix.data.time_ms);
            let outgoing = s.apply_position(&fix.data)?;
            s.publish(outgoing).await;
            Ok(())
        }
    };
    let s = shared.clone();
    let on_ignition = move |ignition: Incoming<Ignition>| {
        let s = s.clone();
        async move {
            s.clock.observe(ignition.data.time_ms);
            let outgoing = s.apply(None, |detector| detector.on_ignition(&ignition.data))?;
            s.publish(outgoing).await;
            Ok(())
        }
    };
    let s = shared.clone();
    let on_status = move |change: Incoming<StatusChanged>| {
        let s = s.clone();
        async move {
            let outgoing = s.apply(None, |detector| detector.on_status(&change.data))?;
            s.publish(outgoing).await;
            Ok(())
        }
    };
    let s = shared.clone();
    let on_raised = move |alert: Incoming<AlertRaised>| {
        let s = s.clone();
        async move {
            s.history
                .alert_raised(&alert.data)
                .context("storing a raised alert")
        }
    };
    let s = shared.clone();
    let on_acknowledged = move |ack: Incoming<AlertAcknowledged>| {
        let s = s.clone();
        async move {
            s.history
                .alert_acknowledged(&ack.data)
                .context("storing an acknowledgement")
        }
    };
    let s = shared.clone();
    let on_cleared = move |cleared: Incoming<AlertCleared>| {
        let s = s.clone();
        async move {
            s.history
                .alert_cleared(&cleared.data)
                .context("storing a cleared alert")
        }
    };
    shared
        .bridge
        .subscribe(group)
        .on(on_position)
        .on(on_ignition)
        .on(on_status)
        .on(on_raised)
        .on(on_acknowledged)
        .on(on_cleared)
        .start()
        .await
        .context("subscribing to telemetry and alerts")?;
    Ok(())
}

async fn serve(shared: &Arc<Shared>) -> anyhow::Result<()> {
    let s = shared.clone();
    let list_trips = move |request: Incoming<ListTrips>| {
        let s = s.clone();
        async move {
            tokio::task::spawn_blocking(move || s.list_trips(&request.data))
                .await
                .context("listing trips")?
        }
    };
    let s = shared.clone();
    let get_route = move |request: Incoming<GetRoute>| {
        let s = s.clone();
        async move {
            tokio::task::spawn_blocking(move || s.route(&request.data))
                .await
                .context("reading a route")?
        }
    };
    shared
        .bridge
        .serve()
        .answer(list_trips)
        .answer(get_route)
        .start()
        .await
        .context("serving trip requests")?;
    Ok(())
}

impl Shared {
    fn detector(&self) -> MutexGuard<'_, Detector> {
        // Updates are computed on copies and committed after the write, so a panic in between
        // leaves the detector as it was.
        self.detector
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn apply_position(&self, position: &Position) -> anyhow::Result<Vec<Outgoing>> {
        match Fix::from_message(position) {
            Some(fix) => {
                let stored = Some((position.vehicle_id.as_str(), &fix));
                self.apply(stored, |detector| {
                    detector.on_fix(&position.vehicle_id, fix)
                })
            }
            None => {
                debug!(vehicle = %position.vehicle_id, "unusable fix ignored");
                Ok(Vec::new())
            }
        }
    }

    /// Computes an update, stores it (with the fix, if any) and only then commits it to the
    /// detector, all under the detector's lock so the clock's ticks cannot interleave.
    fn apply(
        &self,
        position: Option<(&str, &Fix)>,
        decide: impl FnOnce(&Detector) -> Update,
    ) -> anyhow::Result<Vec<Outgoing>> {
        let mut detector = self.detector();
        let update = decide(&detector);
        log_outcomes(&update);
        let outgoing = self
            .history
            .apply(position, std::slice::from_ref(&update))
            .context("storing in the trip history")?;
        detector.commit(&update);
        Ok(outgoing)
    }

    /// Publishes trip events in order. Each is deleted from the outbox once the broker confirms
    /// it, or when no one subscribes (the history holds the trip; whoever subscribes later asks
    /// with `list-trips`). An event the bridge could not take now stays in the outbox for the
    /// next start.
    async fn publish(self: &Arc<Self>, outgoing: Vec<Outgoing>) {
        for Outgoing { outbox_id, event } in outgoing {
            let sent = match &event {
                TripEvent::Started(started) => self.bridge.publish(started).await,
                TripEvent::Ended(ended) => self.bridge.publish(ended).await,
            };
            let receipt = match sent {
                Ok(receipt) => receipt,
                Err(error @ (PublishError::Invalid { .. } | PublishError::TooLarge { .. })) => {
                    error!(%error, ?event, "a trip event can never be sent; dropped");
                    self.forget(outbox_id);
                    continue;
                }
                Err(error) => {
                    warn!(%error, outbox_id, "a trip event was not published; it is sent again at the next start");
                    continue;
                }
            };
            let shared = self.clone();
            self.confirms.spawn(async move {
                match receipt.confirmed().await {
                    Ok(()) | Err(PublishError::Unroutable { .. }) => shared.forget(outbox_id),
                    Err(PublishError::ShutDown) => {}
                    Err(error) => warn!(%error, outbox_id, "a trip event was not confirmed; it is sent again at the next start"),
                }
            });
        }
    }

    fn forget(&self, outbox_id: i64) {
        if let Err(error) = self.history.event_sent(outbox_id) {
            warn!(%error, outbox_id, "a sent trip event stays in the outbox");
        }
    }

    /// Trips from the history; the one in progress with its live figures and the alerts so far.
    fn list_trips(&self, request: &ListTrips) -> anyhow::Result<ListTripsReply> {
        let limit = request
            .limit
            .unwrap_or(DEFAULT_TRIP_LIMIT)
            .min(MAX_TRIP_LIMIT);
        let (stored, truncated) =
            self.history
                .trips(&request.vehicle_id, request.from_ms, request.to_ms, limit)?;
        let live = self.detector().trip_in_progress(&request.vehicle_id);
        let mut trips = Vec::with_capacity(stored.len());
        for trip in stored {
            let summary = match (&live, trip.ended_at_ms) {
                (Some(live), None) if live.trip_id == trip.trip_id => {
                    let counts = self.history.harsh_counts(
                        &live.vehicle_id,
                        live.started_at_ms,
                        live.last_event_ms,
                    )?;
                    in_progress_summary(live, &counts)
                }
                _ => summary(&trip),
            };
            trips.push(summary);
        }
        Ok(ListTripsReply {
            vehicle_id: request.vehicle_id.clone(),
            trips,
            truncated,
        })
    }

    fn route(&self, request: &GetRoute) -> anyhow::Result<GetRouteReply> {
        let route = self.history.route(
            &request.vehicle_id,
            request.from_ms,
            request.to_ms,
            request.max_points.unwrap_or(DEFAULT_ROUTE_POINTS),
        )?;
        Ok(GetRouteReply {
            vehicle_id: request.vehicle_id.clone(),
            points: route.points,
            thinned: route.thinned,
        })
    }
}

fn summary(trip: &StoredTrip) -> TripSummary {
    let f = &trip.figures;
    TripSummary {
        trip_id: trip.trip_id.clone(),
        started_at_ms: trip.started_at_ms,
        ended_at_ms: trip.ended_at_ms,
        distance_m: f.distance_m,
        duration_s: f.duration_s,
        max_speed_kmh: f.max_speed_kmh,
        avg_speed_kmh: f.avg_speed_kmh,
        idle_s: f.idle_s,
        harsh_braking_count: trip.counts.harsh_braking,
        harsh_acceleration_count: trip.counts.harsh_acceleration,
        harsh_cornering_count: trip.counts.harsh_cornering,
        overspeed_count: trip.counts.overspeed,
        driver_score: trip.driver_score,
    }
}

fn in_progress_summary(live: &TripProgress, counts: &HarshCounts) -> TripSummary {
    let f = &live.figures;
    TripSummary {
        trip_id: live.trip_id.clone(),
        started_at_ms: live.started_at_ms,
        ended_at_ms: None,
        distance_m: f.distance_m,
        duration_s: f.duration_s,
        max_speed_kmh: f.max_speed_kmh,
        avg_speed_kmh: f.avg_speed_kmh,
        idle_s: f.idle_s,
        harsh_braking_count: counts.harsh_braking,
        harsh_acceleration_count: counts.harsh_acceleration,
        harsh_cornering_count: counts.harsh_cornering,
        overspeed_count: counts.overspeed,
        driver_score: None,
    }
}

fn log_outcomes(update: &Update) {
    for outcome in &update.outcomes {
        match outcome {
            Outcome::TripStarted(start) => {
                info!(vehicle = %start.vehicle_id, trip = %start.trip_id, "trip started");
            }
            Outcome::TripEnded(trip) => info!(
                vehicle = %trip.vehicle_id,
                trip = %trip.trip_id,
                distance_m = trip.figures.distance_m,
                reason = ?trip.end_reason,
                "trip ended"
            ),
            Outcome::TripDiscarded {
                vehicle_id,
                distance_m,
                ..
            } => debug!(vehicle = %vehicle_id, distance_m, "movement too short for a trip"),
            Outcome::Stop(_) => {}
        }
    }
}

/// Lets time alone decide, on the service clock: stops that lasted long enough end trips, lost
/// signals end them, open stops get recorded.
async fn tick(shared: Arc<Shared>, every: Duration, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stop.cancelled() => return,
        }
        let Some(now_ms) = shared.clock.now_ms() else {
            continue;
        };
        let outgoing = {
            let mut detector = shared.detector();
            let updates = detector.tick(now_ms);
            if updates.is_empty() {
                continue;
            }
            updates.iter().for_each(log_outcomes);
            match shared.history.apply(None, &updates) {
                Ok(outgoing) => {
                    updates.iter().for_each(|update| detector.commit(update));
                    outgoing
                }
                Err(error) => {
                    // Nothing was committed: the next tick decides the same again.
                    warn!(%error, "the clock's decisions could not be stored");
                    continue;
                }
            }
        };
        shared.publish(outgoing).await;
    }
}

/// Deletes positions older than the retention, by the service clock.
async fn prune(shared: Arc<Shared>, retention: Duration, every: Duration, stop: CancellationToken) {
    let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stop.cancelled() => return,
        }
        let Some(now_ms) = shared.clock.now_ms() else {
            continue;
        };
        let history = shared.history.clone();
        let before_ms = now_ms.saturating_sub(retention_ms);
        match tokio::task::spawn_blocking(move || history.prune_positions(before_ms)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(deleted)) => info!(deleted, before_ms, "old positions pruned"),
            Ok(Err(error)) => warn!(%error, "old positions could not be pruned"),
            Err(error) => warn!(%error, "pruning old positions failed"),
        }
    }
}
