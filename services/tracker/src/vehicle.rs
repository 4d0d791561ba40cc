//! One vehicle as the tracker knows it, and the per-vehicle rules of the contract in
//! [`crate::state`]: which messages are stale, how the odometer grows, how the status moves.
//!
//! The record serializes as-is into a [`Snapshot`](crate::snapshot::Snapshot), so every field is
//! needed to continue exactly where the tracker stopped (newest times per message kind for
//! staleness, the received time for silence detection, the last fix for the odometer).

use instadash_schemas::vehicle::obd_reading::v1::ObdReading;
use instadash_schemas::vehicle::trouble_codes::v1::TroubleCodes;
use instadash_schemas::vehicle::{LastFix, LastObd, VehicleState, VehicleStatus};
use serde::{Deserialize, Serialize};

use crate::fix::Fix;
use crate::state::Config;

/// The newest OBD-II values. Coolant and fuel are polled far less often than rpm, so a reading
/// without them keeps the last known values instead of blanking them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Obd {
    pub time_ms: i64,
    pub rpm: f64,
    #[serde(default)]
    pub coolant_c: Option<f64>,
    #[serde(default)]
    pub fuel_level_pct: Option<f64>,
}

/// What one OBD reading contributes, checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ObdUpdate {
    pub time_ms: i64,
    pub rpm: f64,
    pub coolant_c: Option<f64>,
    pub fuel_level_pct: Option<f64>,
    pub mil_on: Option<bool>,
}

impl ObdUpdate {
    /// The values a reading carries, or `None` if one of the kept numbers is not finite.
    pub fn from_message(message: &ObdReading) -> Option<ObdUpdate> {
        let finite = |value: Option<f64>| value.is_none_or(f64::is_finite);
        let usable =
            message.rpm.is_finite() && finite(message.coolant_c) && finite(message.fuel_level_pct);
        usable.then_some(ObdUpdate {
            time_ms: message.time_ms,
            rpm: message.rpm,
            coolant_c: message.coolant_c,
            fuel_level_pct: message.fuel_level_pct,
            mil_on: message.mil_on,
        })
    }
}

/// The malfunction indicator lamp, from whichever of an OBD reading or a trouble-code list is
/// newer: both carry it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Mil {
    pub time_ms: i64,
    pub on: bool,
}

/// The newest list of stored diagnostic trouble codes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Codes {
    pub time_ms: i64,
    pub codes: Vec<String>,
}

/// The newest ignition event.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct IgnitionEvent {
    pub time_ms: i64,
    pub on: bool,
}

/// A message, checked and reduced to what the record keeps.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Event<'a> {
    Fix(Fix),
    Obd(ObdUpdate),
    TroubleCodes(&'a TroubleCodes),
    Ignition(IgnitionEvent),
}

impl Event<'_> {
    /// The event (GPS / unit) time the message carries.
    fn time_ms(&self) -> i64 {
        match self {
            Event::Fix(fix) => fix.time_ms,
            Event::Obd(update) => update.time_ms,
            Event::TroubleCodes(codes) => codes.time_ms,
            Event::Ignition(event) => event.time_ms,
        }
    }

    fn is_ignition_off(&self) -> bool {
        matches!(self, Event::Ignition(IgnitionEvent { on: false, .. }))
    }
}

/// Why a status changed; becomes the `reason` of a `StatusChanged`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    FirstSeen,
    IgnitionOff,
    IgnitionOn,
    ReportingAgain,
    Silent { for_ms: i64 },
}

impl Reason {
    /// The text for the event. Only built when a status changes, never on the hot path.
    pub fn text(self) -> String {
        match self {
            Reason::FirstSeen => "first seen".into(),
            Reason::IgnitionOff => "ignition off".into(),
            Reason::IgnitionOn => "ignition on".into(),
            Reason::ReportingAgain => "reporting again".into(),
            Reason::Silent { for_ms } => format!("silent for {} s", for_ms / 1000),
        }
    }
}

/// A status change of one vehicle; `previous` is `None` for the first sighting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Transition {
    pub previous: Option<VehicleStatus>,
    pub status: VehicleStatus,
    pub reason: Reason,
}

/// The message was not newer than what the record already holds for its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stale;

/// Everything the tracker knows about one vehicle (its id is the key it is stored under).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct VehicleRecord {
    pub status: VehicleStatus,
    /// The newest event time of any accepted message.
    pub last_seen_ms: i64,
    /// The tracker-clock time the newest accepted message was received: what silence is measured
    /// against, so a unit with a wrong clock or a backlog replayed late is judged fairly.
    pub received_ms: i64,
    #[serde(default)]
    pub fix: Option<Fix>,
    #[serde(default)]
    pub obd: Option<Obd>,
    #[serde(default)]
    pub mil: Option<Mil>,
    #[serde(default)]
    pub trouble_codes: Option<Codes>,
    #[serde(default)]
    pub ignition: Option<IgnitionEvent>,
    /// Whether a fix with a speed above zero was ever accepted: the only hint of the ignition for
    /// a unit that does not report ignition events.
    #[serde(default)]
    pub seen_moving: bool,
    pub odometer_m: f64,
}

impl VehicleRecord {
    /// A vehicle seen for the first time, and its first status: offline if the message is an
    /// ignition off, online otherwise.
    pub fn first_seen(
        event: Event<'_>,
        received_ms: i64,
        config: &Config,
    ) -> (VehicleRecord, Transition) {
        let status = if event.is_ignition_off() {
            VehicleStatus::Offline
        } else {
            VehicleStatus::Online
        };
        let mut record = VehicleRecord {
            status,
            last_seen_ms: event.time_ms(),
            received_ms,
            fix: None,
            obd: None,
            mil: None,
            trouble_codes: None,
            ignition: None,
            seen_moving: false,
            odometer_m: 0.0,
        };
        // An empty record holds nothing newer, so nothing is stale and nothing to report.
        let _ = record.absorb(event, config);
        (
            record,
            Transition {
                previous: None,
                status,
                reason: Reason::FirstSeen,
            },
        )
    }

    /// Applies one message: `Err(Stale)` if it is not newer than what the record holds for its
    /// kind (then nothing changed), otherwise the status change it caused, if any.
    pub fn apply(
        &mut self,
        event: Event<'_>,
        received_ms: i64,
        config: &Config,
    ) -> Result<Option<Transition>, Stale> {
        let time_ms = event.time_ms();
        let kind = Kind::of(&event);
        self.absorb(event, config)?;
        self.last_seen_ms = self.last_seen_ms.max(time_ms);
        self.received_ms = self.received_ms.max(received_ms);
        Ok(self.next_status(kind, time_ms).map(|(status, reason)| {
            let previous = std::mem::replace(&mut self.status, status);
            Transition {
                previous: Some(previous),
                status,
                reason,
            }
        }))
    }

    /// Online → unknown if the newest accepted message was received more than
    /// `unknown_after_ms` before `now_ms`. Offline and unknown vehicles stay as they are.
    pub fn check_silence(&mut self, now_ms: i64, unknown_after_ms: i64) -> Option<Transition> {
        let silent_ms = now_ms.saturating_sub(self.received_ms);
        if self.status != VehicleStatus::Online || silent_ms <= unknown_after_ms {
            return None;
        }
        self.status = VehicleStatus::Unknown;
        Some(Transition {
            previous: Some(VehicleStatus::Online),
            status: VehicleStatus::Unknown,
            reason: Reason::Silent { for_ms: silent_ms },
        })
    }

    /// What the outside world sees of this vehicle.
    pub fn to_state(&self, vehicle_id: &str) -> VehicleState {
        VehicleState {
            vehicle_id: vehicle_id.to_owned(),
            status: self.status,
            last_seen_ms: Some(self.last_seen_ms),
            position: self.fix.map(|fix| LastFix {
                time_ms: fix.time_ms,
                lat: fix.lat,
                lon: fix.lon,
                speed_kmh: fix.speed_kmh,
                heading_deg: fix.heading_deg,
            }),
            obd: self.obd.map(|obd| LastObd {
                time_ms: obd.time_ms,
                rpm: obd.rpm,
                coolant_c: obd.coolant_c,
                fuel_level_pct: obd.fuel_level_pct,
                mil_on: self.mil.map(|mil| mil.on),
            }),
            trouble_codes: self.trouble_codes.as_ref().map(|codes| codes.codes.clone()),
            ignition_on: self.ignition_on(),
            odometer_m: Some(self.odometer_m),
        }
    }

    /// The newest ignition event; without any, "on" once the car was seen moving.
    fn ignition_on(&self) -> Option<bool> {
        match self.ignition {
            Some(event) => Some(event.on),
            None => self.seen_moving.then_some(true),
        }
    }

    /// Takes the message's values if it is newer than what the record holds for its kind.
    fn absorb(&mut self, event: Event<'_>, config: &Config) -> Result<(), Stale> {
        match event {
            Event::Fix(fix) => self.absorb_fix(fix, config.min_moving_kmh),
            Event::Obd(update) => self.absorb_obd(update),
            Event::TroubleCodes(message) => {
                if self
                    .trouble_codes
                    .as_ref()
                    .is_some_and(|held| message.time_ms <= held.time_ms)
                {
                    return Err(Stale);
                }
                self.trouble_codes = Some(Codes {
                    time_ms: message.time_ms,
                    codes: message.codes.clone(),
                });
                self.note_mil(message.time_ms, message.mil_on);
                Ok(())
            }
            Event::Ignition(event) => {
                let not_newer = self
                    .ignition
                    .is_some_and(|held| event.time_ms <= held.time_ms);
                // An "off" older than the car's newest sign of life (a fix or OBD reading) is a
                // late delivery from before that: taking it would park a car that is driving.
                let outdated_off = !event.on
                    && self
                        .newest_activity_ms()
                        .is_some_and(|active| event.time_ms < active);
                if not_newer || outdated_off {
                    return Err(Stale);
                }
                self.ignition = Some(event);
                Ok(())
            }
        }
    }

    fn absorb_fix(&mut self, fix: Fix, min_moving_kmh: f64) -> Result<(), Stale> {
        if let Some(previous) = &self.fix {
            if fix.time_ms <= previous.time_ms {
                return Err(Stale);
            }
            // While parked the position wanders by a few metres; only count distance when at
            // least one end of the hop says the car was moving.
            if previous.speed_kmh >= min_moving_kmh || fix.speed_kmh >= min_moving_kmh {
                self.odometer_m += previous.hop_m(&fix);
            }
        }
        self.seen_moving |= fix.speed_kmh > 0.0;
        self.fix = Some(fix);
        Ok(())
    }

    fn absorb_obd(&mut self, update: ObdUpdate) -> Result<(), Stale> {
        let held = self.obd;
        if held.is_some_and(|held| update.time_ms <= held.time_ms) {
            return Err(Stale);
        }
        self.obd = Some(Obd {
            time_ms: update.time_ms,
            rpm: update.rpm,
            coolant_c: update.coolant_c.or(held.and_then(|held| held.coolant_c)),
            fuel_level_pct: update
                .fuel_level_pct
                .or(held.and_then(|held| held.fuel_level_pct)),
        });
        if let Some(on) = update.mil_on {
            self.note_mil(update.time_ms, on);
        }
        Ok(())
    }

    /// Keeps the lamp state from the newer of the two sources.
    fn note_mil(&mut self, time_ms: i64, on: bool) {
        if self.mil.is_none_or(|held| time_ms >= held.time_ms) {
            self.mil = Some(Mil { time_ms, on });
        }
    }

    /// The newest time the car itself reported as running: its newest fix or OBD reading.
    fn newest_activity_ms(&self) -> Option<i64> {
        let fix = self.fix.map(|fix| fix.time_ms);
        let obd = self.obd.map(|obd| obd.time_ms);
        fix.max(obd)
    }

    /// The status after an accepted message of `kind` with event time `time_ms`, if it changes.
    fn next_status(&self, kind: Kind, time_ms: i64) -> Option<(VehicleStatus, Reason)> {
        use VehicleStatus::{Offline, Online, Unknown};
        match (kind, self.status) {
            (Kind::IgnitionOff, Offline) => None,
            (Kind::IgnitionOff, Online | Unknown) => Some((Offline, Reason::IgnitionOff)),
            (_, Online) => None,
            (Kind::IgnitionOn, Offline | Unknown) => Some((Online, Reason::IgnitionOn)),
            // Trouble codes may be read out with the engine off: they do not end an ignition off.
            (Kind::TroubleCodes, Offline) => None,
            (Kind::Activity, Offline) if !self.reported_after_ignition_off(time_ms) => None,
            (Kind::Activity | Kind::TroubleCodes, Offline | Unknown) => {
                Some((Online, Reason::ReportingAgain))
            }
        }
    }

    /// Whether `time_ms` is after the newest ignition event if that was an "off" (true if there
    /// is none).
    fn reported_after_ignition_off(&self, time_ms: i64) -> bool {
        match self.ignition {
            Some(IgnitionEvent {
                on: false,
                time_ms: off_ms,
            }) => time_ms > off_ms,
            _ => true,
        }
    }

    /// Cleans a record read from a snapshot that was not written by this tracker: a fix that is
    /// not a place on Earth or a non-finite odometer would poison distances.
    pub fn sanitized(mut self) -> VehicleRecord {
        let usable_fix = |fix: &Fix| {
            instadash_roads::is_valid_point(fix.lat, fix.lon)
                && fix.speed_kmh.is_finite()
                && fix.heading_deg.is_finite()
        };
        if !self.fix.as_ref().is_none_or(usable_fix) {
            self.fix = None;
        }
        if !self.odometer_m.is_finite() || self.odometer_m < 0.0 {
            self.odometer_m = 0.0;
        }
        self
    }
}

/// What a message means for the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A fix or an OBD reading: the car is running.
    Activity,
    TroubleCodes,
    IgnitionOn,
    IgnitionOff,
}

impl Kind {
    fn of(event: &Event<'_>) -> Kind {
        match event {
            Event::Fix(_) | Event::Obd(_) => Kind::Activity,
            Event::TroubleCodes(_) => Kind::TroubleCodes,
            Event::Ignition(IgnitionEvent { on: true, .. }) => Kind::IgnitionOn,
            Event::Ignition(IgnitionEvent { on: false, .. }) => Kind::IgnitionOff,
        }
    }
}
