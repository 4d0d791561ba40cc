//! What the on-board unit reports about its car: GPS fixes, OBD-II readings, trouble codes,
//! ignition switches and dashcam clips, encoded as the contract's messages.

use instadash_roads::RoadNetwork;
use instadash_schemas::dashcam::clip_captured::v1::ClipCaptured;
use instadash_schemas::vehicle::ignition::v1::Ignition;
use instadash_schemas::vehicle::obd_reading::v1::ObdReading;
use instadash_schemas::vehicle::position::v2::Position;
use instadash_schemas::vehicle::trouble_codes::v1::TroubleCodes;
use rand::Rng;

use super::car::Car;
use super::engine::obd_percent;
use crate::Emission;

/// A dashcam keeps this much video before and after its trigger.
pub(crate) const CLIP_BEFORE_S: u32 = 10;
pub(crate) const CLIP_AFTER_S: u32 = 10;

/// The GPS receiver's view of the sky: changes slowly from fix to fix.
#[derive(Debug, Clone)]
pub(crate) struct Receiver {
    pub satellites: i32,
    pub accuracy_m: f64,
}

impl Receiver {
    pub fn new(rng: &mut impl Rng) -> Self {
        Self {
            satellites: rng.random_range(7..=11),
            accuracy_m: rng.random_range(2.5..5.0),
        }
    }

    fn next_fix(&mut self, rng: &mut impl Rng) {
        self.accuracy_m = (self.accuracy_m + rng.random_range(-0.3..0.3)).clamp(2.0, 6.0);
        let change: f64 = rng.random();
        if change < 0.03 {
            self.satellites = (self.satellites - 1).max(6);
        } else if change < 0.06 {
            self.satellites = (self.satellites + 1).min(12);
        }
    }
}

/// Gently rolling ground, 515-530 m above sea level.
fn terrain_m(lat: f64, lon: f64) -> f64 {
    522.0 + 4.0 * (lon * 1_200.0).sin() + 3.0 * (lat * 900.0).cos()
}

fn round_to(value: f64, step: f64) -> f64 {
    (value / step).round() * step
}

/// Pushes what `car`'s unit sends at `now_ms`: ignition switches, while the ignition is on a fix
/// and an OBD reading (the slow PIDs when due), changed trouble codes and dashcam clips.
/// A silent unit sends nothing; codes and clips wait until it speaks again. A parked car's unit
/// reports its place and ignition off once, when it first speaks.
pub(crate) fn report(
    car: &mut Car,
    network: &RoadNetwork,
    now_ms: i64,
    slow_obd_interval_ms: i64,
    out: &mut Vec<Emission>,
) {
    if !car.transmitting {
        car.switches.clear();
        return;
    }
    let (lat, lon) = car.motion.position(network);
    let mut fix = None;
    // A unit reports in when it first connects: a parked car says that its engine is off and
    // where it stands, so the fleet is complete on the map before every car has driven. The
    // ignition goes first so the car is never taken for running, not even for a moment.
    if !car.reported_in {
        car.reported_in = true;
        if !car.ignition_on && car.switches.is_empty() {
            out.push(Emission::Ignition(Ignition {
                vehicle_id: car.id.clone(),
                time_ms: now_ms,
                on: false,
            }));
            out.push(Emission::Position(position(car, network, now_ms, lat, lon)));
        }
    }
    for i in 0..car.switches.len() {
        let on = car.switches[i];
        if !on {
            // The unit's last fix before it powers down.
            let p = fix
                .get_or_insert_with(|| position(car, network, now_ms, lat, lon))
                .clone();
            out.push(Emission::Position(p));
        }
        out.push(Emission::Ignition(Ignition {
            vehicle_id: car.id.clone(),
            time_ms: now_ms,
            on,
        }));
    }
    if car.ignition_on {
        let p = fix.unwrap_or_else(|| position(car, network, now_ms, lat, lon));
        out.push(Emission::Position(p));
        let slow = now_ms >= car.next_slow_obd_ms;
        if slow {
            car.next_slow_obd_ms = now_ms + slow_obd_interval_ms;
        }
        out.push(Emission::Obd(obd(car, now_ms, slow)));
    }
    if car.codes_changed {
        car.codes_changed = false;
        out.push(Emission::TroubleCodes(TroubleCodes {
            vehicle_id: car.id.clone(),
            time_ms: now_ms,
            mil_on: !car.codes.is_empty(),
            codes: car.codes.clone(),
        }));
    }
    for i in 0..car.clips.len() {
        let trigger = car.clips[i];
        let clip_id = uuid::Builder::from_random_bytes(car.rng.random()).into_uuid();
        out.push(Emission::Clip(ClipCaptured {
            clip_id: clip_id.to_string(),
            vehicle_id: car.id.clone(),
            trigger,
            trigger_time_ms: now_ms,
            window_before_s: CLIP_BEFORE_S,
            window_after_s: CLIP_AFTER_S,
            lat: Some(lat),
            lon: Some(lon),
            size_bytes: None,
        }));
    }
    car.clips.clear();
}

fn position(car: &mut Car, network: &RoadNetwork, now_ms: i64, lat: f64, lon: f64) -> Position {
    car.receiver.next_fix(&mut car.rng);
    let noise: f64 = car.rng.random_range(-0.4..0.4);
    let accuracy_m = round_to(car.receiver.accuracy_m, 0.1);
    Position {
        vehicle_id: car.id.clone(),
        time_ms: now_ms,
        lat,
        lon,
        speed_kmh: round_to(car.motion.speed_ms * 3.6, 0.01),
        heading_deg: instadash_roads::normalize_deg(round_to(car.motion.heading_deg(network), 0.1)),
        altitude_m: Some(round_to(terrain_m(lat, lon) + noise, 0.1)),
        accuracy_m,
        satellites: car.receiver.satellites,
        hdop: Some(round_to(0.5 + accuracy_m * 0.2, 0.1)),
    }
}

fn obd(car: &mut Car, now_ms: i64, slow: bool) -> ObdReading {
    let e = &car.engine;
    let rpm_noise = if car.motion.speed_ms == 0.0 {
        car.rng.random_range(-12.0..12.0)
    } else {
        0.0
    };
    ObdReading {
        vehicle_id: car.id.clone(),
        time_ms: now_ms,
        // PID 0x0D is whole km/h; 0x0C is quarters of an rpm.
        speed_kmh: (car.motion.speed_ms * 3.6).round(),
        rpm: round_to(e.rpm + rpm_noise, 0.25),
        coolant_c: slow.then(|| e.coolant_c.round().clamp(-40.0, 215.0)),
        fuel_level_pct: slow.then(|| obd_percent(e.fuel_pct)),
        engine_load_pct: slow.then(|| obd_percent(e.load_pct)),
        throttle_pct: slow.then(|| obd_percent(e.throttle_pct)),
        mil_on: slow.then_some(!car.codes.is_empty()),
        dtc_count: slow.then(|| car.codes.len().min(127) as i32),
    }
}
