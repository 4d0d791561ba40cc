//! The routine of a random car: park, start, (sometimes idle for long), drive to a random place,
//! park again; and, rarely, the things fleet managers want to hear about.
//!
//! Rates are per hour of the state they happen in and are tuned so that a fleet of 400 cars shows
//! each kind a few times an hour; [`crate::FleetModel::with_behaviour_rate`] scales them all (a
//! demo wants more action, a test wants every kind quickly).

use instadash_roads::{EdgeId, RoadNetwork, haversine_m};
use instadash_schemas::dashcam::ClipTrigger;
use rand::Rng;

use super::car::Car;

const MINUTE_MS: i64 = 60_000;

/// Codes a worn car stores now and then: misfire, lean mixture, catalyst, thermostat, EVAP leak,
/// random misfire, intake air temperature.
const TROUBLE_CODES: [&str; 7] = [
    "P0301", "P0171", "P0420", "P0128", "P0442", "P0300", "P0113",
];

/// Per hour of driving.
const SPEEDING_PER_H: f64 = 0.025;
const HARSH_BRAKE_PER_H: f64 = 0.02;
const HARSH_ACCEL_PER_H: f64 = 0.02;
/// Per hour with the ignition on.
const FAULT_PER_H: f64 = 0.02;
const OVERHEAT_PER_H: f64 = 0.015;
const PANIC_PER_H: f64 = 0.015;
/// Per trip: the driver leaves the engine running for minutes before setting off.
const LONG_IDLE_PER_TRIP: f64 = 0.003;
/// Share of stored faults that clear by themselves after a while.
const FAULT_CLEARS: f64 = 0.6;
/// Chance of waiting at a real junction (a red light, a stop sign).
const JUNCTION_STOP: f64 = 0.15;
/// Trips are at least this long as the crow flies.
const MIN_TRIP_M: f64 = 1_000.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Parked,
    WarmingUp,
    Driving,
}

#[derive(Debug, Clone)]
pub(crate) struct Routine {
    phase: Phase,
    /// Multiplies every rare-event rate (0 turns them off).
    rate: f64,
    faults_clear_at_ms: Option<i64>,
}

impl Routine {
    /// A car that starts parked for a random while, or with its engine running about to leave.
    pub fn start(car: &mut Car, now_ms: i64, rate: f64) -> Self {
        let phase = if car.ignition_on {
            let until = now_ms + car.rng.random_range(0..30_000);
            car.stand_until(until);
            Phase::WarmingUp
        } else {
            let until = now_ms + car.rng.random_range(0..12 * MINUTE_MS);
            car.stand_until(until);
            Phase::Parked
        };
        Self {
            phase,
            rate,
            faults_clear_at_ms: None,
        }
    }

    pub fn set_rate(&mut self, rate: f64) {
        self.rate = rate;
    }

    /// Decides what the car does next, at `now_ms`, after `dt_s` seconds passed.
    pub fn update(&mut self, car: &mut Car, network: &RoadNetwork, now_ms: i64, dt_s: f64) {
        if self.faults_clear_at_ms.is_some_and(|t| now_ms >= t) {
            self.faults_clear_at_ms = None;
            car.clear_faults();
        }
        if car.ignition_on && self.rate > 0.0 {
            self.rare_events(car, now_ms, dt_s);
        }
        if !car.activity_done(now_ms) {
            return;
        }
        match self.phase {
            Phase::Parked => {
                car.switch_ignition(true, now_ms);
                if car.rng.random::<f64>() < LONG_IDLE_PER_TRIP * self.rate {
                    car.stats.long_idles += 1;
                    let until = now_ms + car.rng.random_range(330_000..720_000);
                    car.stand_until(until);
                } else {
                    let until = now_ms + car.rng.random_range(5_000..40_000);
                    car.stand_until(until);
                }
                self.phase = Phase::WarmingUp;
            }
            Phase::WarmingUp => match plan_trip(car, network) {
                Some((route, stops)) => {
                    car.stats.trips += 1;
                    car.drive(route, stops, None);
                    self.phase = Phase::Driving;
                }
                // Nowhere to go from here (not on the shipped city): try again later.
                None => car.stand_until(now_ms + MINUTE_MS),
            },
            Phase::Driving => {
                car.switch_ignition(false, now_ms);
                if car.engine.fuel_pct < 12.0 {
                    car.engine.fuel_pct = car.rng.random_range(85.0..100.0);
                }
                let until = now_ms + car.rng.random_range(2 * MINUTE_MS..20 * MINUTE_MS);
                car.stand_until(until);
                self.phase = Phase::Parked;
            }
        }
    }

    /// At most one rare event per step, from a single draw: the rates are small enough that two
    /// in the same second would be a coincidence anyway.
    fn rare_events(&mut self, car: &mut Car, now_ms: i64, dt_s: f64) {
        let scale = self.rate * dt_s / 3_600.0;
        let driving = car.motion.driving() && !car.harsh_pending();
        let mut threshold = 0.0;
        let draw: f64 = car.rng.random();
        let mut hits = |per_h: f64| {
            threshold += per_h * scale;
            draw < threshold
        };
        if driving && hits(SPEEDING_PER_H) {
            if !car.speeding() {
                let until = now_ms + car.rng.random_range(10_000..40_000);
                let over_pct = car.rng.random_range(10.0..25.0);
                car.start_speeding(until, over_pct);
            }
        } else if driving && hits(HARSH_BRAKE_PER_H) {
            car.request_harsh_brake();
        } else if driving && hits(HARSH_ACCEL_PER_H) {
            car.request_harsh_acceleration();
        } else if hits(FAULT_PER_H) {
            let code = TROUBLE_CODES[car.rng.random_range(0..TROUBLE_CODES.len())];
            car.add_fault(code);
            if self.faults_clear_at_ms.is_none() && car.rng.random::<f64>() < FAULT_CLEARS {
                self.faults_clear_at_ms =
                    Some(now_ms + car.rng.random_range(10 * MINUTE_MS..60 * MINUTE_MS));
            }
        } else if hits(OVERHEAT_PER_H) {
            if !car.engine.overheating() {
                let until = now_ms + car.rng.random_range(60_000..240_000);
                car.start_overheat(until);
            }
        } else if hits(PANIC_PER_H) {
            car.trigger_dashcam(ClipTrigger::PanicButton);
        }
    }
}

/// A random destination a real trip away, the fastest route there and where the car will wait
/// at junctions on the way.
fn plan_trip(car: &mut Car, network: &RoadNetwork) -> Option<(Vec<EdgeId>, Vec<u16>)> {
    let here = car.node(network);
    let from = network.node(here);
    let count = network.nodes().len() as u32;
    let mut destination = None;
    for _ in 0..20 {
        let to = car.rng.random_range(0..count);
        let candidate = network.node(to);
        if to != here && haversine_m(from.lat, from.lon, candidate.lat, candidate.lon) >= MIN_TRIP_M
        {
            destination = Some(to);
            break;
        }
    }
    // A small network may have nothing that far: any other node will do.
    let to = destination
        .or_else(|| (count > 1).then(|| (here + 1 + car.rng.random_range(0..count - 1)) % count))?;
    let route = network.shortest_path(here, to)?;
    if route.is_empty() {
        return None;
    }
    let stops = route
        .iter()
        .map(|&edge| {
            let e = network.edge(edge);
            let junction = network.out_edges(e.to).len() >= 3;
            let on_expressway = e.class == instadash_roads::RoadClass::Expressway;
            if junction && !on_expressway && car.rng.random::<f64>() < JUNCTION_STOP {
                // Mostly traffic lights, some stop signs.
                if car.rng.random::<f64>() < 0.7 {
                    car.rng.random_range(8..40)
                } else {
                    car.rng.random_range(2..5)
                }
            } else {
                0
            }
        })
        .collect();
    Some((route, stops))
}
