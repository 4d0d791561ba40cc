//! The simulator on the bus: steps the fleet model on a real-time schedule and publishes what the
//! units emit.
//!
//! Real units do not all report at the top of the second, so each car gets a fixed phase within
//! the fix interval (from its id) and its messages are published at that phase and stamped with
//! it: a car's fixes stay exactly one interval apart, and the load on the broker is even instead
//! of one burst per interval.
//!
//! The schedule is never stretched to fit: when publishing cannot keep up, the simulator goes on
//! at full speed and reports how far behind it is (`Progress::behind_ms`, a warning in the log)
//! rather than quietly emitting less than it was asked to.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use broker_bridge::Bridge;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::{Emission, FleetModel, Noise, NoiseConfig};

/// How the fleet is driven on the bus.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Simulated time per wall-clock time: 1 for real time, 10 to run a scenario ten times faster.
    pub speedup: f64,
    pub noise: NoiseConfig,
    pub noise_seed: u64,
    /// Keep every emission that was published, in order (for tests that compare the tracker with
    /// what the cars really sent).
    pub record: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            speedup: 1.0,
            noise: NoiseConfig::default(),
            noise_seed: 0,
            record: false,
        }
    }
}

/// Live figures, cheap to read while the simulator runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    pub cars: usize,
    /// Fix intervals simulated so far.
    pub steps: u64,
    /// Messages handed to the broker so far.
    pub published: u64,
    /// Messages the broker refused or that could not be published (each also logged).
    pub failed: u64,
    /// How far the last interval ended behind its schedule, wall-clock ms (0 when on time).
    pub behind_ms: i64,
    /// The worst `behind_ms` so far.
    pub max_behind_ms: i64,
    /// Intervals that ended more than 100 ms behind their schedule.
    pub late_steps: u64,
    /// Simulated time of the latest step, ms since the Unix epoch.
    pub sim_time_ms: i64,
}

impl Progress {
    /// Whether the latest interval ended late (more than 100 ms behind its schedule).
    pub fn is_behind(&self) -> bool {
        self.behind_ms > LATE.as_millis() as i64
    }
}

/// What a finished run did.
#[derive(Debug, Default)]
pub struct Report {
    pub progress: Progress,
    /// Everything published, in publishing order, when [`RunOptions::record`] was set.
    pub sent: Vec<Emission>,
}

#[derive(Default)]
struct Counters {
    steps: AtomicU64,
    published: AtomicU64,
    failed: AtomicU64,
    behind_ms: AtomicI64,
    max_behind_ms: AtomicI64,
    late_steps: AtomicU64,
    sim_time_ms: AtomicI64,
}

/// A running simulator.
pub struct Simulator {
    cars: usize,
    counters: Arc<Counters>,
    stop: CancellationToken,
    task: JoinHandle<anyhow::Result<Vec<Emission>>>,
}

impl Simulator {
    /// Starts driving `model` on the bus. A scripted model stops by itself once every script has
    /// run; a random one runs until [`Simulator::stop`].
    pub fn start(bridge: Bridge, model: FleetModel, options: RunOptions) -> Self {
        let cars = model.car_count();
        let counters = Arc::new(Counters::default());
        let stop = CancellationToken::new();
        let task = tokio::spawn(drive(
            bridge,
            model,
            options,
            counters.clone(),
            stop.clone(),
        ));
        Self {
            cars,
            counters,
            stop,
            task,
        }
    }

    pub fn progress(&self) -> Progress {
        progress_of(self.cars, &self.counters)
    }

    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Waits for a scripted run to end by itself.
    pub async fn finished(self) -> anyhow::Result<Report> {
        let sent = self.task.await.context("the simulator task failed")??;
        Ok(Report {
            progress: progress_of(self.cars, &self.counters),
            sent,
        })
    }

    /// Stops after the interval in progress.
    pub async fn stop(self) -> anyhow::Result<Report> {
        self.stop.cancel();
        self.finished().await
    }
}

fn progress_of(cars: usize, c: &Counters) -> Progress {
    Progress {
        cars,
        steps: c.steps.load(Ordering::Relaxed),
        published: c.published.load(Ordering::Relaxed),
        failed: c.failed.load(Ordering::Relaxed),
        behind_ms: c.behind_ms.load(Ordering::Relaxed),
        max_behind_ms: c.max_behind_ms.load(Ordering::Relaxed),
        late_steps: c.late_steps.load(Ordering::Relaxed),
        sim_time_ms: c.sim_time_ms.load(Ordering::Relaxed),
    }
}

/// Messages due within this much of each other are published together, so a large fleet costs a
/// few timer wake-ups per interval rather than one per message.
const SLICE: Duration = Duration::from_millis(10);
/// An interval that ends later than this behind its schedule counts as late and is reported:
/// less is timer and scheduling jitter, which real units have too.
const LATE: Duration = Duration::from_millis(100);

async fn drive(
    bridge: Bridge,
    mut model: FleetModel,
    options: RunOptions,
    counters: Arc<Counters>,
    stop: CancellationToken,
) -> anyhow::Result<Vec<Emission>> {
    anyhow::ensure!(
        options.speedup.is_finite() && options.speedup > 0.0,
        "speedup must be a positive number, not {}",
        options.speedup
    );
    let interval_ms = model.fix_interval_ms();
    let wall_interval = Duration::from_secs_f64(f64::from(interval_ms) / 1000.0 / options.speedup);
    let mut noise = Noise::new(options.noise.clone(), options.noise_seed);
    let mut step = Vec::new();
    let mut sent = Vec::new();
    let mut last_warned: Option<Instant> = None;
    let started = Instant::now();
    for n in 0u64.. {
        if stop.is_cancelled() || model.finished() {
            break;
        }
        // A step stamps its messages one interval on from the last: they are due then, never
        // before the time they carry.
        let due = started + wall_interval.mul_f64((n + 1) as f64);
        step.clear();
        model.step(&mut step);
        noise.apply(&mut step);
        // Each car's messages at its phase within the interval, in phase order.
        let mut phased: Vec<(u32, Emission)> = step
            .drain(..)
            .map(|mut emission| {
                let phase = phase_ms(emission.vehicle_id(), interval_ms);
                shift_time(&mut emission, i64::from(phase));
                (phase, emission)
            })
            .collect();
        phased.sort_by_key(|(phase, _)| *phase);
        for (phase, emission) in phased {
            let at = due + Duration::from_secs_f64(f64::from(phase) / 1000.0 / options.speedup);
            if at > Instant::now() + SLICE {
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = stop.cancelled() => {}
                }
            }
            match publish(&bridge, &emission).await {
                Ok(()) => counters.published.fetch_add(1, Ordering::Relaxed),
                Err(error) => {
                    warn!(%error, vehicle = emission.vehicle_id(), "publish failed");
                    counters.failed.fetch_add(1, Ordering::Relaxed)
                }
            };
            if options.record {
                sent.push(emission);
            }
        }
        counters.steps.fetch_add(1, Ordering::Relaxed);
        counters
            .sim_time_ms
            .store(model.now_ms(), Ordering::Relaxed);
        let next = due + wall_interval;
        let behind = Instant::now().saturating_duration_since(next);
        let behind_ms = behind.as_millis() as i64;
        counters.behind_ms.store(behind_ms, Ordering::Relaxed);
        counters
            .max_behind_ms
            .fetch_max(behind_ms, Ordering::Relaxed);
        if behind > LATE {
            counters.late_steps.fetch_add(1, Ordering::Relaxed);
            if last_warned.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
                last_warned = Some(Instant::now());
                warn!(
                    behind_ms,
                    cars = model.car_count(),
                    "the simulator cannot keep up: it is behind its schedule and keeps going at full speed"
                );
            }
        }
    }
    Ok(sent)
}

/// Each car's fixed offset within the interval, from its id (FNV-1a, stable across runs).
fn phase_ms(vehicle_id: &str, interval_ms: u32) -> u32 {
    let hash = vehicle_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    (hash % u64::from(interval_ms.max(1))) as u32
}

fn shift_time(emission: &mut Emission, by_ms: i64) {
    match emission {
        Emission::Position(p) => p.time_ms += by_ms,
        Emission::Obd(o) => o.time_ms += by_ms,
        Emission::TroubleCodes(t) => t.time_ms += by_ms,
        Emission::Ignition(i) => i.time_ms += by_ms,
        Emission::Clip(c) => c.trigger_time_ms += by_ms,
    }
}

/// Hands one message to the broker. The receipt is not awaited: the bridge keeps every message
/// until the broker confirms it and republishes it after a reconnect, and logs what fails.
async fn publish(bridge: &Bridge, emission: &Emission) -> Result<(), broker_bridge::PublishError> {
    match emission {
        Emission::Position(p) => bridge.publish(p).await,
        Emission::Obd(o) => bridge.publish(o).await,
        Emission::TroubleCodes(t) => bridge.publish(t).await,
        Emission::Ignition(i) => bridge.publish(i).await,
        Emission::Clip(c) => bridge.publish(c).await,
    }
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_stable_and_within_the_interval() {
        assert_eq!(phase_ms("car-00001", 1000), phase_ms("car-00001", 1000));
        let phases: std::collections::HashSet<u32> = (0..1000)
            .map(|i| phase_ms(&format!("car-{i:05}"), 1000))
            .collect();
        assert!(phases.iter().all(|p| *p < 1000));
        // Spread over the interval, not bunched.
        assert!(phases.len() > 500, "only {} distinct phases", phases.len());
    }
}
