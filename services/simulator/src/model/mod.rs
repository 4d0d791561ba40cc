//! The fleet model: every car's state, stepped one fix interval at a time.
//!
//! Deterministic: a random fleet is a function of its seed, each car drawing from its own stream
//! of one ChaCha8 generator (stream = car index), so adding cars does not change the cars that
//! were there. Cheap: a step moves each car with a few multiplications and allocates nothing but
//! the messages it emits.

mod behaviour;
mod car;
mod engine;
mod motion;
mod script;
mod telemetry;

use std::sync::Arc;

use instadash_roads::{EdgeId, RoadNetwork};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::Emission;
use crate::scenario::{Action, Scenario, ScenarioError};
use behaviour::Routine;
use car::{Car, Driver};
use engine::Engine;
use motion::Motion;
use script::ScriptRunner;
use telemetry::Receiver;

/// How a random fleet behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelOptions {
    /// Time between two GPS fixes (and steps), ms.
    pub fix_interval_ms: u32,
    /// Time between two full OBD readings (coolant, fuel, load, throttle, MIL), ms.
    pub slow_obd_interval_ms: u32,
    /// Now and then idling, speeding, harsh events, faults, overheating and dashcam triggers.
    pub behaviour: bool,
}

impl Default for ModelOptions {
    fn default() -> Self {
        Self {
            fix_interval_ms: crate::scenario::DEFAULT_FIX_INTERVAL_MS,
            slow_obd_interval_ms: crate::scenario::DEFAULT_SLOW_OBD_INTERVAL_MS,
            behaviour: true,
        }
    }
}

/// What a car is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CarActivity {
    /// Ignition off.
    Parked,
    /// Ignition on, standing still.
    Idling,
    Driving,
    /// The unit sends nothing.
    Silent,
}

/// A harsh manoeuvre.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Harsh {
    Braking,
    Acceleration,
}

/// The truth about one car at the model's current time, for tests to compare with what
/// consumers of the messages make of them.
#[derive(Debug, Clone, PartialEq)]
pub struct CarTruth {
    pub vehicle_id: String,
    pub lat: f64,
    pub lon: f64,
    pub speed_kmh: f64,
    pub heading_deg: f64,
    pub ignition_on: bool,
    /// Metres really driven since the start.
    pub driven_m: f64,
    /// False while a scripted car is silent.
    pub transmitting: bool,
    pub activity: CarActivity,
    /// The edge the car is on (or stands at the end or start of).
    pub edge: EdgeId,
    /// A harsh manoeuvre during the latest step.
    pub harsh: Option<Harsh>,
    pub speeding: bool,
    pub trouble_codes: Vec<String>,
    pub coolant_c: f64,
    pub fuel_pct: f64,
}

/// How often each kind of behaviour happened (summed over cars by [`FleetModel::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BehaviourStats {
    pub trips: u64,
    pub junction_stops: u64,
    /// Idling of more than five minutes before a trip.
    pub long_idles: u64,
    pub speeding: u64,
    pub harsh_brakes: u64,
    pub harsh_accelerations: u64,
    pub faults: u64,
    pub faults_cleared: u64,
    pub overheats: u64,
    pub panic_buttons: u64,
    /// Dashcam clips of any trigger (harsh brakes included).
    pub clips: u64,
}

impl std::ops::AddAssign for BehaviourStats {
    fn add_assign(&mut self, o: Self) {
        self.trips += o.trips;
        self.junction_stops += o.junction_stops;
        self.long_idles += o.long_idles;
        self.speeding += o.speeding;
        self.harsh_brakes += o.harsh_brakes;
        self.harsh_accelerations += o.harsh_accelerations;
        self.faults += o.faults;
        self.faults_cleared += o.faults_cleared;
        self.overheats += o.overheats;
        self.panic_buttons += o.panic_buttons;
        self.clips += o.clips;
    }
}

/// Who decides what a car does.
#[derive(Debug, Clone)]
enum Control {
    Random(Routine),
    Script(ScriptRunner),
}

#[derive(Debug, Clone)]
struct Unit {
    car: Car,
    control: Control,
}

/// Virtual cars on a road network.
#[derive(Debug, Clone)]
pub struct FleetModel {
    network: Arc<RoadNetwork>,
    units: Vec<Unit>,
    now_ms: i64,
    fix_interval_ms: u32,
    slow_obd_interval_ms: u32,
    scripted: bool,
}

/// The generator of car `index` of a fleet seeded with `seed`.
fn car_rng(seed: u64, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index as u64);
    rng
}

impl FleetModel {
    /// `cars` random cars, `car-00001` on, parked or about to leave at random junctions.
    pub fn random(
        network: Arc<RoadNetwork>,
        cars: usize,
        seed: u64,
        start_ms: i64,
        options: ModelOptions,
    ) -> FleetModel {
        let rate = if options.behaviour { 1.0 } else { 0.0 };
        let units = (0..cars)
            .map(|index| {
                let mut rng = car_rng(seed, index);
                let node = random_start_node(&network, &mut rng);
                let driver = Driver {
                    accel_ms2: rng.random_range(1.5..2.5),
                    cruise: rng.random_range(0.95..1.02),
                    cruise_spread: 0.03,
                };
                let ignition_on = rng.random_bool(0.5);
                let coolant = if ignition_on {
                    rng.random_range(85.0..92.0)
                } else {
                    rng.random_range(15.0..90.0)
                };
                let engine = Engine::new(
                    rng.random_range(750.0..850.0),
                    coolant,
                    rng.random_range(20.0..95.0),
                );
                let receiver = Receiver::new(&mut rng);
                let mut car = Car::new(
                    format!("car-{:05}", index + 1),
                    rng,
                    driver,
                    Motion::at_node(&network, node),
                    engine,
                    receiver,
                    ignition_on,
                    start_ms,
                );
                let routine = Routine::start(&mut car, start_ms, rate);
                Unit {
                    car,
                    control: Control::Random(routine),
                }
            })
            .collect();
        FleetModel {
            network,
            units,
            now_ms: start_ms,
            fix_interval_ms: options.fix_interval_ms.max(1),
            slow_obd_interval_ms: options.slow_obd_interval_ms,
            scripted: false,
        }
    }

    /// The cars of a scenario, doing exactly what it says (no random behaviour). Checks the
    /// scenario against the network: every node exists and every drive has a route.
    pub fn scripted(
        network: Arc<RoadNetwork>,
        scenario: &Scenario,
        start_ms: i64,
    ) -> Result<FleetModel, ScenarioError> {
        let last = network.nodes().len().saturating_sub(1) as u32;
        let mut units = Vec::with_capacity(scenario.cars.len());
        for (index, scripted) in scenario.cars.iter().enumerate() {
            let unknown = |node: u32| ScenarioError::UnknownNode {
                car: scripted.id.clone(),
                node,
                last,
            };
            let start = scripted.start_node;
            if !network.contains_node(start) || network.out_edges(start).is_empty() {
                return Err(unknown(start));
            }
            let mut at = start;
            for action in &scripted.actions {
                if let Action::DriveTo { node, .. } = action {
                    if !network.contains_node(*node) {
                        return Err(unknown(*node));
                    }
                    if network.shortest_path(at, *node).is_none() {
                        return Err(ScenarioError::NoRoute {
                            car: scripted.id.clone(),
                            from: at,
                            to: *node,
                        });
                    }
                    at = *node;
                }
            }
            let mut rng = car_rng(scenario.seed, index);
            let receiver = Receiver::new(&mut rng);
            let car = Car::new(
                scripted.id.clone(),
                rng,
                Driver::EXACT,
                Motion::at_node(&network, start),
                // Warm, so that what a script does to the coolant shows at once.
                Engine::new(800.0, 88.0, 75.0),
                receiver,
                scripted.ignition,
                start_ms,
            );
            units.push(Unit {
                car,
                control: Control::Script(ScriptRunner::new(scripted.actions.clone(), start_ms)),
            });
        }
        Ok(FleetModel {
            network,
            units,
            now_ms: start_ms,
            fix_interval_ms: scenario.fix_interval_ms.max(1),
            slow_obd_interval_ms: scenario.slow_obd_interval_ms,
            scripted: true,
        })
    }

    /// Scales how often random cars idle, speed, brake or accelerate harshly, get faults,
    /// overheat and press the panic button: 1 is the default, 0 turns it off, 20 suits a demo.
    pub fn with_behaviour_rate(mut self, rate: f64) -> FleetModel {
        let rate = if rate.is_finite() { rate.max(0.0) } else { 0.0 };
        for unit in &mut self.units {
            if let Control::Random(routine) = &mut unit.control {
                routine.set_rate(rate);
            }
        }
        self
    }

    /// Advances the simulated clock by one fix interval and pushes what every unit emits at
    /// the new time.
    pub fn step(&mut self, out: &mut Vec<Emission>) {
        self.now_ms += i64::from(self.fix_interval_ms);
        let now_ms = self.now_ms;
        let dt_s = f64::from(self.fix_interval_ms) / 1_000.0;
        let network = &*self.network;
        let slow_ms = i64::from(self.slow_obd_interval_ms);
        for unit in &mut self.units {
            let car = &mut unit.car;
            car.advance(network, now_ms, dt_s);
            match &mut unit.control {
                Control::Random(routine) => routine.update(car, network, now_ms, dt_s),
                Control::Script(runner) => runner.update(car, network, now_ms),
            }
            telemetry::report(car, network, now_ms, slow_ms, out);
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    pub fn fix_interval_ms(&self) -> u32 {
        self.fix_interval_ms
    }

    pub fn car_count(&self) -> usize {
        self.units.len()
    }

    pub fn network(&self) -> &Arc<RoadNetwork> {
        &self.network
    }

    /// Scripted: every car has run its script to the end. Random: never.
    pub fn finished(&self) -> bool {
        self.scripted
            && self.units.iter().all(|u| match &u.control {
                Control::Script(runner) => runner.finished(),
                Control::Random(_) => false,
            })
    }

    /// The ground truth of every car, in car order.
    pub fn truth(&self) -> Vec<CarTruth> {
        self.units
            .iter()
            .map(|Unit { car, .. }| {
                let (lat, lon) = car.motion.position(&self.network);
                CarTruth {
                    vehicle_id: car.id.clone(),
                    lat,
                    lon,
                    speed_kmh: car.motion.speed_ms * 3.6,
                    heading_deg: car.motion.heading_deg(&self.network),
                    ignition_on: car.ignition_on,
                    driven_m: car.driven_m,
                    transmitting: car.transmitting,
                    activity: car.activity(),
                    edge: car.edge(),
                    harsh: car.harsh,
                    speeding: car.speeding(),
                    trouble_codes: car.codes.clone(),
                    coolant_c: car.engine.coolant_c,
                    fuel_pct: car.engine.fuel_pct,
                }
            })
            .collect()
    }

    /// How often each kind of behaviour has happened so far, over all cars.
    pub fn stats(&self) -> BehaviourStats {
        let mut total = BehaviourStats::default();
        for unit in &self.units {
            total += unit.car.stats;
        }
        total
    }
}

/// A junction a car can leave from.
fn random_start_node(network: &RoadNetwork, rng: &mut ChaCha8Rng) -> u32 {
    let count = network.nodes().len() as u32;
    let mut node = rng.random_range(0..count);
    for _ in 0..count {
        if !network.out_edges(node).is_empty() {
            break;
        }
        node = (node + 1) % count;
    }
    node
}

#[cfg(test)]
mod tests;
