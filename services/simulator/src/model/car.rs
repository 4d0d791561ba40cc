//! One car: where it is, how it moves, its engine, its stored trouble codes and what its unit has
//! still to report. A car does what its controller (a random routine or a script) tells it
//! through the methods here; [`Car::advance`] moves it on in time.

use instadash_roads::{EdgeId, NodeId, RoadNetwork};
use instadash_schemas::dashcam::ClipTrigger;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::engine::Engine;
use super::motion::{Controls, HARSH_BRAKE_MIN_MS, Motion};
use super::telemetry::Receiver;
use super::{BehaviourStats, CarActivity, Harsh};

/// How a driver drives.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Driver {
    /// Comfortable acceleration from standstill, m/s².
    pub accel_ms2: f64,
    /// Share of the speed limit this driver keeps to.
    pub cruise: f64,
    /// How much that share varies from one street to the next (+/-).
    pub cruise_spread: f64,
}

impl Driver {
    /// Exactly at the limit, for scripts.
    pub const EXACT: Driver = Driver {
        accel_ms2: 2.0,
        cruise: 1.0,
        cruise_spread: 0.0,
    };
}

#[derive(Debug, Clone)]
pub(crate) struct Car {
    pub id: String,
    pub rng: ChaCha8Rng,
    pub driver: Driver,
    pub motion: Motion,
    pub engine: Engine,
    pub receiver: Receiver,
    pub ignition_on: bool,
    pub transmitting: bool,
    /// Whether the unit has reported since the simulation began.
    pub reported_in: bool,
    silent_until_ms: i64,
    /// When not driving, the lasting activity (parking, idling, silence) ends at this time.
    standing_until_ms: i64,
    pub codes: Vec<String>,
    pub codes_changed: bool,
    speeding: Option<(i64, f64)>,
    max_ms: f64,
    harsh_brake_pending: bool,
    harsh_brake_left_s: f64,
    harsh_accel_pending: bool,
    harsh_accel_left_s: f64,
    /// A harsh manoeuvre during the latest step.
    pub harsh: Option<Harsh>,
    /// Ignition switches of the latest step, for the unit to report.
    pub switches: Vec<bool>,
    /// Dashcam triggers not reported yet.
    pub clips: Vec<ClipTrigger>,
    pub next_slow_obd_ms: i64,
    pub driven_m: f64,
    pub stats: BehaviourStats,
}

impl Car {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: String,
        rng: ChaCha8Rng,
        driver: Driver,
        motion: Motion,
        engine: Engine,
        receiver: Receiver,
        ignition_on: bool,
        now_ms: i64,
    ) -> Self {
        Self {
            id,
            rng,
            driver,
            motion,
            engine,
            receiver,
            ignition_on,
            transmitting: true,
            reported_in: false,
            silent_until_ms: now_ms,
            standing_until_ms: now_ms,
            codes: Vec::new(),
            codes_changed: false,
            speeding: None,
            max_ms: f64::INFINITY,
            harsh_brake_pending: false,
            harsh_brake_left_s: 0.0,
            harsh_accel_pending: false,
            harsh_accel_left_s: 0.0,
            harsh: None,
            switches: Vec::with_capacity(2),
            clips: Vec::new(),
            next_slow_obd_ms: now_ms,
            driven_m: 0.0,
            stats: BehaviourStats::default(),
        }
    }

    /// Whether the current lasting activity is over: arrived, or done standing.
    pub fn activity_done(&self, now_ms: i64) -> bool {
        !self.motion.driving() && now_ms >= self.standing_until_ms
    }

    pub fn activity(&self) -> CarActivity {
        if !self.transmitting {
            CarActivity::Silent
        } else if self.motion.driving() {
            CarActivity::Driving
        } else if self.ignition_on {
            CarActivity::Idling
        } else {
            CarActivity::Parked
        }
    }

    pub fn speeding(&self) -> bool {
        self.speeding.is_some()
    }

    pub fn node(&self, network: &RoadNetwork) -> NodeId {
        self.motion.node(network)
    }

    pub fn edge(&self) -> EdgeId {
        self.motion.edge
    }

    pub fn switch_ignition(&mut self, on: bool, now_ms: i64) {
        if self.ignition_on == on {
            return;
        }
        self.ignition_on = on;
        self.switches.push(on);
        if on {
            self.engine.start();
            // The adapter polls every PID when it wakes up.
            self.next_slow_obd_ms = now_ms;
        } else {
            self.motion.abandon();
        }
    }

    /// Stands still (with the ignition as it is) until `until_ms`.
    pub fn stand_until(&mut self, until_ms: i64) {
        self.motion.abandon();
        self.standing_until_ms = until_ms;
    }

    /// Stands still and sends nothing until `until_ms`.
    pub fn go_silent_until(&mut self, until_ms: i64) {
        self.stand_until(until_ms);
        self.transmitting = false;
        self.silent_until_ms = until_ms;
    }

    /// Drives `route` from where the car stands, stopping `stops[i]` s after `route[i]`.
    pub fn drive(&mut self, route: Vec<EdgeId>, stops: Vec<u16>, max_kmh: Option<f64>) {
        self.max_ms = max_kmh.map_or(f64::INFINITY, |kmh| kmh / 3.6);
        self.motion.cruise = self.next_cruise();
        self.motion.start(route, stops);
    }

    fn next_cruise(&mut self) -> f64 {
        draw_cruise(self.driver, &mut self.rng)
    }

    pub fn start_speeding(&mut self, until_ms: i64, over_pct: f64) {
        if self.motion.driving() {
            self.speeding = Some((until_ms, 1.0 + over_pct / 100.0));
            self.stats.speeding += 1;
        }
    }

    pub fn request_harsh_brake(&mut self) {
        self.harsh_brake_pending = self.motion.driving();
    }

    pub fn request_harsh_acceleration(&mut self) {
        self.harsh_accel_pending = self.motion.driving();
    }

    pub fn add_fault(&mut self, code: &str) {
        if !self.codes.iter().any(|c| c == code) {
            self.codes.push(code.to_owned());
            self.codes_changed = true;
            self.stats.faults += 1;
        }
    }

    pub fn clear_faults(&mut self) {
        if !self.codes.is_empty() {
            self.codes.clear();
            self.codes_changed = true;
            self.stats.faults_cleared += 1;
        }
    }

    pub fn start_overheat(&mut self, until_ms: i64) {
        if !self.engine.overheating() {
            self.stats.overheats += 1;
        }
        self.engine.overheat_until_ms = Some(until_ms);
    }

    pub fn trigger_dashcam(&mut self, trigger: ClipTrigger) {
        self.clips.push(trigger);
        self.stats.clips += 1;
        if trigger == ClipTrigger::PanicButton {
            self.stats.panic_buttons += 1;
        }
    }

    /// Moves the car on by `dt_s` seconds, ending at `now_ms`, in ticks of at most a second.
    /// Returns whether a drive ended by arriving.
    pub fn advance(&mut self, network: &RoadNetwork, now_ms: i64, dt_s: f64) -> bool {
        self.harsh = None;
        self.switches.clear();
        if !self.transmitting && now_ms >= self.silent_until_ms {
            self.transmitting = true;
        }
        let ticks = dt_s.ceil().max(1.0);
        let dt = dt_s / ticks;
        let (mut distance_m, mut accel_ms2, mut arrived) = (0.0, 0.0, false);
        for _ in 0..ticks as u32 {
            if !self.motion.driving() {
                break;
            }
            let controls = self.controls();
            let Self {
                motion,
                rng,
                driver,
                ..
            } = self;
            let tick = motion.tick(network, dt, &controls, || draw_cruise(*driver, rng));
            distance_m += tick.distance_m;
            accel_ms2 = tick.accel_ms2;
            self.after_harsh_tick(
                dt,
                controls.harsh_brake,
                tick.harsh_braked,
                tick.harsh_accelerated,
            );
            if tick.stopped_at_junction {
                self.stats.junction_stops += 1;
            }
            if tick.arrived {
                arrived = true;
                self.end_of_drive();
            }
        }
        if self.speeding.is_some_and(|(until, _)| now_ms >= until) {
            self.speeding = None;
        }
        self.driven_m += distance_m;
        self.engine.update(
            now_ms,
            dt_s,
            self.ignition_on,
            self.motion.speed_ms,
            accel_ms2,
            distance_m,
        );
        arrived
    }

    fn controls(&mut self) -> Controls {
        let v = self.motion.speed_ms;
        if self.harsh_brake_pending && v >= HARSH_BRAKE_MIN_MS && !self.motion.dwelling() {
            self.harsh_brake_pending = false;
            self.harsh_brake_left_s = 1.0;
            self.stats.harsh_brakes += 1;
            // The dashcam keeps every harsh brake: it may be the moment before an impact.
            self.trigger_dashcam(ClipTrigger::HarshBrake);
        }
        Controls {
            speed_factor: self.speeding.map_or(1.0, |(_, factor)| factor),
            max_ms: self.max_ms,
            accel_ms2: self.driver.accel_ms2,
            harsh_brake: self.harsh_brake_left_s > 0.0,
            harsh_accel: self.harsh_accel_pending || self.harsh_accel_left_s > 0.0,
        }
    }

    fn after_harsh_tick(&mut self, dt: f64, braking: bool, braked: bool, accelerated: bool) {
        if braking {
            self.harsh_brake_left_s -= dt;
            if braked {
                self.harsh = Some(Harsh::Braking);
            }
        }
        if accelerated {
            self.harsh = Some(Harsh::Acceleration);
            if self.harsh_accel_pending {
                self.harsh_accel_pending = false;
                self.harsh_accel_left_s = 1.0;
                self.stats.harsh_accelerations += 1;
            }
            self.harsh_accel_left_s -= dt;
        } else if self.harsh_accel_left_s > 0.0 {
            self.harsh_accel_left_s = 0.0; // no room left: the manoeuvre is over
        }
    }

    fn end_of_drive(&mut self) {
        self.speeding = None;
        self.harsh_brake_left_s = 0.0;
        self.harsh_brake_pending = false;
        self.harsh_accel_pending = false;
        self.harsh_accel_left_s = 0.0;
        self.max_ms = f64::INFINITY;
    }

    pub fn harsh_pending(&self) -> bool {
        self.harsh_brake_pending || self.harsh_accel_pending
    }
}

/// The driver's share of the limit on a new street.
fn draw_cruise(driver: Driver, rng: &mut ChaCha8Rng) -> f64 {
    if driver.cruise_spread > 0.0 {
        driver.cruise * (1.0 + rng.random_range(-driver.cruise_spread..=driver.cruise_spread))
    } else {
        driver.cruise
    }
}
