//! The tracker on the bus: keeps [`Fleet`] up to date from the telemetry events, publishes every
//! status change, answers questions about vehicles, and persists its state so a restart loses
//! nothing.
//!
//! One worker consumes the tracker's queue, so messages are applied in the order the broker
//! holds them; the per-vehicle rules of [`Fleet`] take care of what the network reorders.
//!
//! Persistence is a snapshot written every few seconds and on shutdown, after the consumers have
//! stopped: whatever was acknowledged is in the last snapshot, and whatever was not is still in
//! the queue and is applied when the tracker is back.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use broker_bridge::{Bridge, Incoming, PublishError};
use hdrhistogram::Histogram;
use instadash_schemas::vehicle::find_nearest::v1::FindNearest;
use instadash_schemas::vehicle::find_nearest_reply::v1::FindNearestReply;
use instadash_schemas::vehicle::get_state::v1::GetState;
use instadash_schemas::vehicle::get_state_reply::v1::GetStateReply;
use instadash_schemas::vehicle::ignition::v1::Ignition;
use instadash_schemas::vehicle::list_vehicles::v1::ListVehicles;
use instadash_schemas::vehicle::list_vehicles_reply::v1::ListVehiclesReply;
use instadash_schemas::vehicle::obd_reading::v1::ObdReading;
use instadash_schemas::vehicle::position::v2::Position;
use instadash_schemas::vehicle::status_changed::v1::StatusChanged;
use instadash_schemas::vehicle::trouble_codes::v1::TroubleCodes;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::snapshot;
use crate::state::{Applied, Config, Fleet};

/// How the tracker runs.
#[derive(Debug, Clone)]
pub struct TrackerOptions {
    /// The subscriber group: one queue, shared by every instance of the group.
    pub group: String,
    pub config: Config,
    /// Where the state is kept between runs; `None` keeps it in memory only.
    pub snapshot: Option<PathBuf>,
    pub snapshot_every: Duration,
    pub silence_check_every: Duration,
}

impl Default for TrackerOptions {
    fn default() -> Self {
        Self {
            group: "tracker".into(),
            config: Config::default(),
            snapshot: None,
            snapshot_every: Duration::from_secs(2),
            silence_check_every: Duration::from_secs(1),
        }
    }
}

/// How old fixes are when the tracker applies them: the end-to-end latency from the unit to the
/// tracker's state.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FixAge {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl FixAge {
    /// Summarises [`Tracker::take_fix_ages`].
    pub fn of(ages_us: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: ages_us.len(),
            p50_ms: ms(ages_us.value_at_quantile(0.5)),
            p99_ms: ms(ages_us.value_at_quantile(0.99)),
            max_ms: ms(ages_us.max()),
        }
    }
}

struct Shared {
    bridge: Bridge,
    fleet: Mutex<Fleet>,
    /// Microseconds from a fix's time to its application.
    fix_age: Mutex<Histogram<u64>>,
}

/// A running tracker.
pub struct Tracker {
    shared: Arc<Shared>,
    options: TrackerOptions,
    stop: CancellationToken,
    timers: Vec<JoinHandle<()>>,
}

impl Tracker {
    /// Loads the last snapshot, starts consuming and answering. Returns once it consumes.
    pub async fn start(bridge: Bridge, options: TrackerOptions) -> anyhow::Result<Self> {
        let fleet = match &options.snapshot {
            Some(path) => match snapshot::load(path)? {
                Some(saved) => {
                    let fleet = Fleet::restore(options.config.clone(), saved);
                    info!(vehicles = fleet.len(), path = %path.display(), "tracker state restored");
                    fleet
                }
                None => Fleet::new(options.config.clone()),
            },
            None => Fleet::new(options.config.clone()),
        };
        let shared = Arc::new(Shared {
            bridge: bridge.clone(),
            fleet: Mutex::new(fleet),
            fix_age: Mutex::new(Histogram::new(3).expect("3 significant figures is valid")),
        });

        let s = shared.clone();
        let on_position = move |fix: Incoming<Position>| {
            let s = s.clone();
            async move {
                let received = now_ms();
                let applied = s.fleet().on_position(&fix.data, received);
                if !applied.stale {
                    // From the moment the unit published it (the CloudEvents time), so the figure
                    // holds for any clock the fix itself is stamped with (a sped-up simulation).
                    let published = std::time::SystemTime::from(fix.envelope.time);
                    let age = published.elapsed().unwrap_or_default();
                    let age_us = u64::try_from(age.as_micros()).unwrap_or(u64::MAX);
                    let _ = s.fix_age.lock().expect("not poisoned").record(age_us);
                }
                s.publish(applied).await
            }
        };
        let s = shared.clone();
        let on_obd = move |reading: Incoming<ObdReading>| {
            let s = s.clone();
            async move {
                let applied = s.fleet().on_obd(&reading.data, now_ms());
                s.publish(applied).await
            }
        };
        let s = shared.clone();
        let on_codes = move |codes: Incoming<TroubleCodes>| {
            let s = s.clone();
            async move {
                let applied = s.fleet().on_trouble_codes(&codes.data, now_ms());
                s.publish(applied).await
            }
        };
        let s = shared.clone();
        let on_ignition = move |ignition: Incoming<Ignition>| {
            let s = s.clone();
            async move {
                let applied = s.fleet().on_ignition(&ignition.data, now_ms());
                s.publish(applied).await
            }
        };
        bridge
            .subscribe(&options.group)
            .on(on_position)
            .on(on_obd)
            .on(on_codes)
            .on(on_ignition)
            .start()
            .await
            .context("subscribing to vehicle telemetry")?;

        let s = shared.clone();
        let get_state = move |request: Incoming<GetState>| {
            let vehicle = s.fleet().state(&request.data.vehicle_id);
            async move { Ok(GetStateReply { vehicle }) }
        };
        let s = shared.clone();
        let list = move |request: Incoming<ListVehicles>| {
            let reply: ListVehiclesReply = s.fleet().list(&request.data);
            async move { Ok(reply) }
        };
        let s = shared.clone();
        let nearest = move |request: Incoming<FindNearest>| {
            let reply: FindNearestReply = s.fleet().nearest(&request.data);
            async move { Ok(reply) }
        };
        bridge
            .serve()
            .answer(get_state)
            .answer(list)
            .answer(nearest)
            .start()
            .await
            .context("serving vehicle requests")?;

        let stop = CancellationToken::new();
        let mut timers = vec![tokio::spawn(check_silence(
            shared.clone(),
            options.silence_check_every,
            stop.clone(),
        ))];
        if let Some(path) = options.snapshot.clone() {
            timers.push(tokio::spawn(save_periodically(
                shared.clone(),
                path,
                options.snapshot_every,
                stop.clone(),
            )));
        }
        Ok(Self {
            shared,
            options,
            stop,
            timers,
        })
    }

    /// The fleet as the tracker sees it now.
    pub fn fleet(&self) -> MutexGuard<'_, Fleet> {
        self.shared.fleet()
    }

    /// The ages of the fixes applied since the last call, in microseconds.
    pub fn take_fix_ages(&self) -> Histogram<u64> {
        let mut histogram = self.shared.fix_age.lock().expect("not poisoned");
        let taken = histogram.clone();
        histogram.reset();
        taken
    }

    /// Leaves the bus (consumers stop, in-flight messages finish) and then writes the final
    /// snapshot, so everything acknowledged is saved.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shared
            .bridge
            .shutdown()
            .await
            .context("leaving the bus")?;
        self.stop.cancel();
        for timer in self.timers {
            let _ = timer.await;
        }
        if let Some(path) = &self.options.snapshot {
            let saved = self.shared.fleet().snapshot();
            snapshot::save(path, &saved)
                .with_context(|| format!("saving the tracker state to {}", path.display()))?;
            info!(path = %path.display(), "tracker state saved");
        }
        Ok(())
    }
}

impl Shared {
    fn fleet(&self) -> MutexGuard<'_, Fleet> {
        // A panic while holding the lock would leave a half-applied update; the handlers do not
        // panic, and if one did the state is still the best there is.
        self.fleet
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn publish(&self, applied: Applied) -> anyhow::Result<()> {
        publish_changes(&self.bridge, applied.changes).await
    }
}

/// Status changes are events: handed to the broker and confirmed in the background (the bridge
/// republishes them after a reconnect). A change nobody subscribes to is no failure: the
/// tracker's own state is what matters, and whoever subscribes later asks it for that.
async fn publish_changes(bridge: &Bridge, changes: Vec<StatusChanged>) -> anyhow::Result<()> {
    for change in changes {
        let receipt = bridge
            .publish(&change)
            .await
            .context("publishing a status change")?;
        tokio::spawn(async move {
            match receipt.confirmed().await {
                Ok(()) | Err(PublishError::Unroutable { .. } | PublishError::ShutDown) => {}
                Err(error) => warn!(%error, "a status change was not delivered"),
            }
        });
    }
    Ok(())
}

async fn check_silence(shared: Arc<Shared>, every: Duration, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stop.cancelled() => return,
        }
        let changes = shared.fleet().check_silence(now_ms());
        if let Err(error) = publish_changes(&shared.bridge, changes).await {
            warn!(
                error = format!("{error:#}"),
                "a status change could not be published"
            );
        }
    }
}

async fn save_periodically(
    shared: Arc<Shared>,
    path: PathBuf,
    every: Duration,
    stop: CancellationToken,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stop.cancelled() => return,
        }
        let saved = shared.fleet().snapshot();
        let path = path.clone();
        match tokio::task::spawn_blocking(move || snapshot::save(&path, &saved)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => warn!(%error, "the tracker state could not be saved"),
            Err(error) => warn!(%error, "saving the tracker state failed"),
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
