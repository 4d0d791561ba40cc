//! A scripted car for the tests: drives a straight road at known speeds and records what the
//! detector decides (and, with a history, stores it as the service does).

use instadash_schemas::vehicle::ignition::v1::Ignition;
use instadash_schemas::vehicle::position::v2::Position;

use crate::detector::{Detector, FinishedTrip, Outcome, StopRecord, TripStart, Update};
use crate::motion::Fix;
use crate::rules::Rules;
use crate::store::History;

pub const T0: i64 = 1_750_000_000_000;
pub const KMH36: f64 = 36.0; // 10 m/s: 10 m between fixes a second apart

/// Milliseconds of event time `s` seconds after T0.
pub fn at(s: i64) -> i64 {
    T0 + s * 1_000
}

/// A car on a straight road heading east. Each fix moves it by what its speeds say since the
/// previous fix, so positions and speeds agree (as on a real car), and the distance of a path is
/// known.
pub struct Car {
    pub id: String,
    pub detector: Detector,
    /// When set, every update is stored first, as the service does.
    pub history: Option<std::sync::Arc<History>>,
    pub lat: f64,
    pub lon: f64,
    last_fix: Option<(i64, f64)>,
    pub outcomes: Vec<Outcome>,
}

impl Car {
    pub fn new(id: &str) -> Car {
        Car {
            id: id.into(),
            detector: Detector::new(Rules::default()),
            history: None,
            lat: 48.137,
            lon: 11.576,
            last_fix: None,
            outcomes: Vec::new(),
        }
    }

    pub fn with_history(id: &str, history: std::sync::Arc<History>) -> Car {
        Car {
            history: Some(history),
            ..Car::new(id)
        }
    }

    pub fn commit(&mut self, update: Update) -> bool {
        self.store(None, &update);
        self.detector.commit(&update);
        self.outcomes.extend(update.outcomes);
        update.accepted
    }

    pub fn ignition(&mut self, s: i64, on: bool) -> bool {
        let update = self.detector.on_ignition(&Ignition {
            vehicle_id: self.id.clone(),
            time_ms: at(s),
            on,
        });
        self.commit(update)
    }

    pub fn position(&self, s: i64, speed_kmh: f64) -> Position {
        Position {
            vehicle_id: self.id.clone(),
            time_ms: at(s),
            lat: self.lat,
            lon: self.lon,
            speed_kmh,
            heading_deg: 90.0,
            altitude_m: None,
            accuracy_m: 3.0,
            satellites: 9,
            hdop: None,
        }
    }

    /// Moves the car to where it is at `s` and sends a fix with `speed_kmh`.
    pub fn fix(&mut self, s: i64, speed_kmh: f64) -> bool {
        if let Some((last_s, last_speed)) = self.last_fix
            && s > last_s
        {
            let metres = (last_speed + speed_kmh) / 2.0 / 3.6 * (s - last_s) as f64;
            (self.lat, self.lon) = instadash_roads::offset(self.lat, self.lon, 90.0, metres);
        }
        if self.last_fix.is_none_or(|(last_s, _)| s > last_s) {
            self.last_fix = Some((s, speed_kmh));
        }
        let position = self.position(s, speed_kmh);
        let update = self.detector.on_position(&position);
        let fix = Fix::from_message(&position);
        self.store(fix.as_ref(), &update);
        self.detector.commit(&update);
        self.outcomes.extend(update.outcomes);
        update.accepted
    }

    /// A fix every second from `from` to `to`, inclusive.
    pub fn fixes(&mut self, from: i64, to: i64, speed_kmh: f64) {
        for s in from..=to {
            self.fix(s, speed_kmh);
        }
    }

    fn store(&self, fix: Option<&Fix>, update: &Update) {
        if let Some(history) = &self.history {
            let position = fix.map(|fix| (self.id.as_str(), fix));
            history
                .apply(position, std::slice::from_ref(update))
                .expect("stored");
        }
    }

    pub fn tick(&mut self, s: i64) {
        for update in self.detector.tick(at(s)) {
            self.commit(update);
        }
    }

    pub fn started(&self) -> Vec<&TripStart> {
        self.outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::TripStarted(start) => Some(start),
                _ => None,
            })
            .collect()
    }

    pub fn ended(&self) -> Vec<&FinishedTrip> {
        self.outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::TripEnded(trip) => Some(trip),
                _ => None,
            })
            .collect()
    }

    pub fn discarded(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::TripDiscarded { .. }))
            .count()
    }

    /// The newest record of each stop, by start.
    pub fn stops(&self) -> Vec<StopRecord> {
        let mut stops: Vec<StopRecord> = Vec::new();
        for outcome in &self.outcomes {
            if let Outcome::Stop(stop) = outcome {
                match stops
                    .iter_mut()
                    .find(|s| s.started_at_ms == stop.started_at_ms)
                {
                    Some(held) => *held = stop.clone(),
                    None => stops.push(stop.clone()),
                }
            }
        }
        stops
    }

    /// Trip A of the integration test: ignition on at 0, 3 min at 36 km/h, a 2-minute stop with
    /// the engine running, 4 more minutes, a still fix at 541 and the ignition off at 542.
    pub fn trip_with_a_short_stop(&mut self) {
        self.ignition(0, true);
        self.fix(0, 0.0);
        self.fixes(1, 180, KMH36);
        self.fixes(181, 300, 0.0);
        self.fixes(301, 540, KMH36);
        self.fix(541, 0.0);
        self.ignition(542, false);
    }
}
