//! The alert rules as a pure engine: no broker, no clock of its own, no disk. Each method takes one
//! message (or the time, for expiry, or an operator's request) and returns the alert events it
//! causes; every time in an alert comes from the messages themselves, so the same messages always
//! give the same alerts, ids included.
//!
//! **Per-vehicle order.** A message whose event time is not newer than the newest accepted one of
//! its kind (fix, OBD reading, trouble-code list, ignition event, status change) for its vehicle
//! is *stale* and ignored completely ([`Applied::stale`]): duplicates and late deliveries never
//! raise twice or clear wrongly. So is an ignition off older than the vehicle's newest fix or OBD
//! reading (the car reported running after it; the tracker judges it the same way), and a message
//! that is unusable (a vehicle id the contract does not allow, a negative time, coordinates off
//! the Earth, a number that is not finite).
//!
//! The rules, one module each, whose comments give the details: `overspeed`, `harsh` (braking and
//! acceleration), `idling`, `engine_fault`, `coolant`, `geofences` (enter and exit), and the
//! vehicle going silent (here: raised when the tracker says `unknown`, cleared when it says
//! `online` or `offline`). What an alert then becomes (its id, severity, slot, replacement and
//! expiry) is the `book`'s; severities are in [`severity`].

mod book;
mod coolant;
mod engine_fault;
mod geofences;
mod harsh;
mod idling;
mod kinds;
mod overspeed;
mod rules;
mod text;
mod vehicle;

use std::collections::HashMap;
use std::sync::Arc;

use instadash_roads::RoadNetwork;
use instadash_schemas::alert::acknowledge::v1::Acknowledge;
use instadash_schemas::alert::acknowledge_reply::v1::AcknowledgeReply;
use instadash_schemas::alert::list_active::v1::ListActive;
use instadash_schemas::alert::list_active_reply::v1::ListActiveReply;
use instadash_schemas::alert::raised::v1::{AlertDetails, AlertRaised};
use instadash_schemas::alert::{AlertType, Severity};
use instadash_schemas::vehicle::VehicleStatus;
use instadash_schemas::vehicle::ignition::v1::Ignition;
use instadash_schemas::vehicle::obd_reading::v1::ObdReading;
use instadash_schemas::vehicle::position::v2::Position;
use instadash_schemas::vehicle::status_changed::v1::StatusChanged;
use instadash_schemas::vehicle::trouble_codes::v1::TroubleCodes;

pub use book::{Acknowledgement, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, REMEMBERED_CLEARED};

use self::book::{Alert, AlertBook};
use self::overspeed::Judgement;
use self::rules::{Change, Draft, Fix, Rules};
use self::vehicle::{Switch, VehicleRules, take_if_newer};
use crate::config::{AlertsConfig, ConfigError};
use crate::event::AlertEvent;
use crate::geofence::Geofence;
use crate::speed_limit::SpeedLimits;

/// How severe alerts of a type are.
///
/// | type | severity | why |
/// |---|---|---|
/// | coolant over temperature | critical | the engine is being damaged now |
/// | overspeed, harsh braking, engine fault, vehicle silent | warning | needs a look soon |
/// | harsh acceleration, idling, geofence enter / exit | info | worth knowing, not urgent |
///
/// (Harsh cornering would be a warning and a crash critical; the engine does not detect those:
/// nothing in the telemetry measures sideways or impact forces.)
pub fn severity(alert_type: AlertType) -> Severity {
    kinds::severity(alert_type)
}

/// What one message did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    /// The message was ignored: not newer than the newest of its kind for its vehicle, or
    /// unusable.
    pub stale: bool,
    /// The alert events it caused, in order (a replaced or ended alert's clear before the raise
    /// that follows it).
    pub events: Vec<AlertEvent>,
}

impl Applied {
    fn ignored() -> Applied {
        Applied {
            stale: true,
            events: Vec::new(),
        }
    }
}

/// An alert that was active when the service stopped, as the store kept it.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedAlert {
    pub raised: AlertRaised,
    pub acknowledged: Option<Acknowledgement>,
}

/// What the engine takes back after a restart: the active alerts, and the ids of recently cleared
/// ones, oldest first (so an acknowledgement of one is answered "already cleared", and a
/// redelivered message does not raise it again).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SavedAlerts {
    pub active: Vec<SavedAlert>,
    pub recently_cleared: Vec<String>,
}

/// The alerts engine. See the [module documentation](self) for the rules.
pub struct Alerts {
    config: AlertsConfig,
    rules: Rules,
    limits: SpeedLimits,
    fences: Vec<Geofence>,
    vehicles: HashMap<String, VehicleRules>,
    book: AlertBook,
}

impl std::fmt::Debug for Alerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerts")
            .field("vehicles", &self.vehicles.len())
            .field("active", &self.book.len())
            .finish_non_exhaustive()
    }
}

impl Alerts {
    /// An engine judging by `config`, on the embedded city's roads.
    pub fn new(config: AlertsConfig) -> Result<Alerts, ConfigError> {
        Alerts::with_roads(config, RoadNetwork::city())
    }

    /// An engine judging by `config`, with speed limits from `roads`.
    pub fn with_roads(
        config: AlertsConfig,
        roads: Arc<RoadNetwork>,
    ) -> Result<Alerts, ConfigError> {
        config.validate()?;
        let invalid = |field: String| move |reason| ConfigError::Invalid { field, reason };
        let mut fences = Vec::new();
        for circle in &config.geofences.circles {
            fences.push(Geofence::circle(circle).map_err(invalid(circle.id.clone()))?);
        }
        for polygon in &config.geofences.polygons {
            fences.push(Geofence::polygon(polygon).map_err(invalid(polygon.id.clone()))?);
        }
        let rules = Rules::new(&config.thresholds);
        Ok(Alerts {
            limits: SpeedLimits::new(roads, config.thresholds.road_max_distance_m),
            rules,
            fences,
            config,
            vehicles: HashMap::new(),
            book: AlertBook::default(),
        })
    }

    /// Takes back what the store kept. Rule timers (how long a car has been speeding or idling,
    /// which fences it is in) are not kept: they start again with the next messages.
    pub fn restore(&mut self, saved: SavedAlerts) {
        for id in saved.recently_cleared {
            self.book.remember_cleared(id);
        }
        for SavedAlert {
            raised,
            acknowledged,
        } in saved.active
        {
            let expires_at_ms = kinds::is_momentary(raised.alert_type).then(|| {
                raised
                    .raised_at_ms
                    .saturating_add(self.rules.expire_after_ms)
            });
            self.book.restore(Alert {
                raised,
                acknowledged,
                expires_at_ms,
            });
        }
    }

    pub fn config(&self) -> &AlertsConfig {
        &self.config
    }

    /// How many alerts are active.
    pub fn active_count(&self) -> usize {
        self.book.len()
    }

    /// When the next momentary alert expires, if any is active.
    pub fn next_expiry_ms(&self) -> Option<i64> {
        self.book.next_expiry_ms()
    }

    /// A GPS fix: overspeed, harsh braking and acceleration, idling, geofences.
    pub fn on_position(&mut self, position: &Position) -> Applied {
        let Some(fix) = checked_fix(position) else {
            return Applied::ignored();
        };
        let id = position.vehicle_id.as_str();
        let Some(vehicle) = vehicle_entry(&mut self.vehicles, id) else {
            return Applied::ignored();
        };
        if !take_if_newer(&mut vehicle.newest.fix, fix.time_ms) {
            return Applied::ignored();
        }
        let (rules, book) = (&self.rules, &self.book);
        let mut changes = Vec::new();
        changes.extend(vehicle.harsh.on_fix(&fix, rules));
        // A fix from before the latest ignition off belongs to a drive that is over: it may not
        // start counting anything again.
        if !vehicle.switched_off_since(fix.time_ms) {
            let judgement = judge(&self.limits, &fix, rules);
            let speeding = book.is_active(id, AlertType::Overspeed);
            changes.extend(vehicle.overspeed.on_fix(&fix, judgement, speeding, rules));
            let idling = book.is_active(id, AlertType::Idling);
            let running = vehicle.engine_running();
            changes.extend(vehicle.idling.on_fix(&fix, running, idling, rules));
        }
        vehicle
            .geofences
            .on_fix(&fix, &self.fences, rules, &mut changes);
        self.accepted(id, changes)
    }

    /// An OBD-II reading: whether the engine runs (rpm), the malfunction lamp and the number of
    /// stored codes, the coolant temperature.
    pub fn on_obd(&mut self, reading: &ObdReading) -> Applied {
        let usable = usable_time(reading.time_ms)
            && reading.rpm.is_finite()
            && reading.rpm >= 0.0
            && reading.coolant_c.is_none_or(f64::is_finite);
        if !usable {
            return Applied::ignored();
        }
        let id = reading.vehicle_id.as_str();
        let Some(vehicle) = vehicle_entry(&mut self.vehicles, id) else {
            return Applied::ignored();
        };
        let t = reading.time_ms;
        if !take_if_newer(&mut vehicle.newest.obd, t) {
            return Applied::ignored();
        }
        let (rules, book) = (&self.rules, &self.book);
        let mut changes = Vec::new();
        let running = reading.rpm > 0.0;
        vehicle.note_engine(t, running, false);
        if vehicle.engine
            == Some(Switch {
                time_ms: t,
                on: false,
            })
        {
            let stopped = vehicle.idling.on_engine_stopped(t);
            if book.is_active(id, AlertType::Idling) {
                changes.push(stopped);
            }
        }
        let faulty = book.is_active(id, AlertType::EngineFault);
        changes.extend(
            vehicle
                .engine_fault
                .on_obd(t, reading.mil_on, reading.dtc_count, faulty),
        );
        if let Some(coolant_c) = reading.coolant_c {
            let hot = book.is_active(id, AlertType::CoolantOverTemperature);
            changes.extend(coolant::on_coolant(t, coolant_c, hot, rules));
        }
        self.accepted(id, changes)
    }

    /// A trouble-code list (with the malfunction lamp).
    pub fn on_trouble_codes(&mut self, codes: &TroubleCodes) -> Applied {
        if !usable_time(codes.time_ms) {
            return Applied::ignored();
        }
        let id = codes.vehicle_id.as_str();
        let Some(vehicle) = vehicle_entry(&mut self.vehicles, id) else {
            return Applied::ignored();
        };
        if !take_if_newer(&mut vehicle.newest.trouble_codes, codes.time_ms) {
            return Applied::ignored();
        }
        let faulty = self.book.is_active(id, AlertType::EngineFault);
        let change = vehicle.engine_fault.on_trouble_codes(
            codes.time_ms,
            codes.mil_on,
            &codes.codes,
            faulty,
        );
        self.accepted(id, change.into_iter().collect())
    }

    /// An ignition event. Switching off ends overspeed and idling.
    pub fn on_ignition(&mut self, ignition: &Ignition) -> Applied {
        if !usable_time(ignition.time_ms) {
            return Applied::ignored();
        }
        let id = ignition.vehicle_id.as_str();
        let Some(vehicle) = vehicle_entry(&mut self.vehicles, id) else {
            return Applied::ignored();
        };
        let t = ignition.time_ms;
        let not_newer = vehicle.newest.ignition.is_some_and(|held| t <= held);
        // Switched off before the car last reported running: a late delivery, no longer true.
        let outdated_off = !ignition.on && vehicle.last_activity_ms().is_some_and(|a| t < a);
        if not_newer || outdated_off {
            return Applied::ignored();
        }
        vehicle.newest.ignition = Some(t);
        vehicle.ignition = Some(Switch {
            time_ms: t,
            on: ignition.on,
        });
        vehicle.note_engine(t, ignition.on, true);
        let mut changes = Vec::new();
        if !ignition.on {
            changes.push(vehicle.overspeed.on_switch_off(t));
            changes.push(vehicle.idling.on_engine_stopped(t));
        }
        self.accepted(id, changes)
    }

    /// The tracker's status of a vehicle: `unknown` (silent) raises vehicle-silent, `online` or
    /// `offline` clears it.
    pub fn on_status_changed(&mut self, change: &StatusChanged) -> Applied {
        if !usable_time(change.time_ms) {
            return Applied::ignored();
        }
        let id = change.vehicle_id.as_str();
        let Some(vehicle) = vehicle_entry(&mut self.vehicles, id) else {
            return Applied::ignored();
        };
        let t = change.time_ms;
        if !take_if_newer(&mut vehicle.newest.status, t) {
            return Applied::ignored();
        }
        let silent = self.book.is_active(id, AlertType::VehicleSilent);
        let change = match change.status {
            VehicleStatus::Unknown if !silent => {
                let silent_for_ms = change
                    .last_seen_ms
                    .map(|seen| t.saturating_sub(seen))
                    .filter(|ms| *ms >= 0);
                Some(Change::raise(Draft {
                    alert_type: AlertType::VehicleSilent,
                    geofence_id: None,
                    at_ms: t,
                    message: text::silent(silent_for_ms),
                    details: AlertDetails {
                        silent_for_s: silent_for_ms.map(|ms| ms as f64 / 1000.0),
                        ..AlertDetails::default()
                    },
                }))
            }
            VehicleStatus::Unknown => None,
            VehicleStatus::Online | VehicleStatus::Offline => {
                Some(Change::clear(AlertType::VehicleSilent, t))
            }
        };
        self.accepted(id, change.into_iter().collect())
    }

    /// Clears every momentary alert (harsh braking and acceleration, geofence enter and exit)
    /// raised `expire_after_s` or longer before `now_ms`, as expired at the moment it expired.
    pub fn expire(&mut self, now_ms: i64) -> Vec<AlertEvent> {
        self.book.expire(now_ms)
    }

    /// An operator acknowledges an alert at `at_ms`; the event is returned when it was
    /// acknowledged now (not for "already acknowledged", "already cleared" or "not found").
    pub fn acknowledge(
        &mut self,
        request: &Acknowledge,
        at_ms: i64,
    ) -> (AcknowledgeReply, Vec<AlertEvent>) {
        let (reply, event) = self.book.acknowledge(request, at_ms);
        (reply, event.into_iter().collect())
    }

    /// Active alerts matching the request, newest first.
    pub fn list_active(&self, request: &ListActive) -> ListActiveReply {
        self.book.list(request)
    }

    fn accepted(&mut self, vehicle_id: &str, changes: Vec<Change>) -> Applied {
        let mut events = Vec::new();
        for change in changes {
            match change {
                Change::Raise(draft) => {
                    self.book
                        .raise(vehicle_id, *draft, self.rules.expire_after_ms, &mut events)
                }
                Change::Clear {
                    alert_type,
                    geofence_id,
                    at_ms,
                } => self.book.clear(
                    vehicle_id,
                    alert_type,
                    geofence_id.as_deref(),
                    at_ms,
                    &mut events,
                ),
            }
        }
        Applied {
            stale: false,
            events,
        }
    }
}

/// The vehicle's rule state, created on first sight; `None` for an id the contract does not
/// allow (it could never appear in an alert).
fn vehicle_entry<'a>(
    vehicles: &'a mut HashMap<String, VehicleRules>,
    vehicle_id: &str,
) -> Option<&'a mut VehicleRules> {
    if !vehicles.contains_key(vehicle_id) {
        if !is_valid_vehicle_id(vehicle_id) {
            return None;
        }
        vehicles.insert(vehicle_id.to_owned(), VehicleRules::default());
    }
    vehicles.get_mut(vehicle_id)
}

/// The contract's vehicle id: 1 to 64 letters, digits, `-` or `_`.
fn is_valid_vehicle_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Alert times must not be negative (the contract says so), so neither may the messages'.
fn usable_time(time_ms: i64) -> bool {
    time_ms >= 0
}

/// The fix a position carries, or `None` if it is unusable.
fn checked_fix(p: &Position) -> Option<Fix> {
    let usable = usable_time(p.time_ms)
        && instadash_roads::is_valid_point(p.lat, p.lon)
        && p.speed_kmh.is_finite()
        && p.speed_kmh >= 0.0
        && p.heading_deg.is_finite();
    usable.then_some(Fix {
        time_ms: p.time_ms,
        lat: p.lat,
        lon: p.lon,
        speed_kmh: p.speed_kmh,
        heading_deg: p.heading_deg,
    })
}

/// How a fix's speed compares with the limit of its road. No road is slower than the slowest
/// limit, so a car no faster than that needs no road lookup.
fn judge(limits: &SpeedLimits, fix: &Fix, rules: &Rules) -> Judgement {
    if fix.speed_kmh <= limits.lowest_limit_kmh() {
        return Judgement::Under;
    }
    match limits.road_at(fix.lat, fix.lon, fix.heading_deg, fix.speed_kmh) {
        Some(road) => Judgement::of(fix.speed_kmh, road.limit_kmh, rules),
        None => Judgement::Unknown,
    }
}

#[cfg(test)]
mod tests;
