//! The alerts service: turns vehicle telemetry into alerts an operator acts on, and follows each
//! alert through its life: **raised** when a condition is detected, **acknowledged** by an
//! operator (`instadash.alert.acknowledge`), **cleared** when the condition ends (or, for
//! momentary alerts, when it expires). Each step is published as an event
//! (`instadash.alert.raised` / `acknowledged` / `cleared`); `instadash.alert.list-active` lists
//! the alerts not cleared yet.
//!
//! It consumes GPS fixes, OBD-II readings, trouble-code lists and ignition events from the cars,
//! and the tracker's status changes.
//!
//! # Rules
//!
//! Defaults are the design brief's thresholds; every number is in [`Thresholds`], loadable from
//! TOML ([`AlertsConfig`]).
//!
//! | alert | raised | cleared | severity |
//! |---|---|---|---|
//! | overspeed | at least 5 % over the limit of the road under the car, fix after fix (gaps of at most 5 s), for 10 s | at or under the limit itself for 3 s, or ignition off | warning |
//! | harsh braking | 0.4 g or more of deceleration between two fixes 0.5–2 s apart (15 km/h lost in 1 s is 0.42 g) | expires | warning |
//! | harsh acceleration | 0.3 g or more, likewise | expires | info |
//! | idling | engine running (by the newest ignition event or OBD rpm) and slower than 2 km/h, fix after fix (gaps of at most 60 s), for more than 5 min | moving, or the engine stops | info |
//! | engine fault | trouble codes stored or the malfunction lamp on | no codes and the lamp off | warning |
//! | coolant over temperature | above 110 °C | below 105 °C | critical |
//! | geofence enter / exit | crossing a configured circle or polygon (leaving needs 10 m outside) | the opposite crossing, or expires | info |
//! | vehicle silent | the tracker says `unknown` | the tracker says `online` or `offline` | warning |
//!
//! The road under a fix is the nearest edge of [`instadash_roads::RoadNetwork::city`] within
//! 30 m, or among the edges meeting it that are almost as near, the one whose direction matches
//! the fix's heading (so the cross street at a junction, or the other direction of the street, is
//! not taken for the car's road). Details of each rule are in the [`engine`] modules.
//!
//! At most one alert is active per vehicle and type (and geofence, for geofence alerts). Alert ids
//! are `<vehicle>-<type>[-<geofence>]-<event time ms>`: the same messages make the same ids.
//! Every time in an alert is an event time from the messages (for `acknowledged`, the moment the
//! operator's request was handled), so the alerts of a scenario are exact and repeatable.
//!
//! # Expiry of momentary alerts
//!
//! Harsh braking, harsh acceleration and geofence crossings are moments, with no "end" to detect.
//! They are cleared with reason `expired` [`Thresholds::expire_after_s`] (10 min) after they were
//! raised, acknowledged or not: an alert list that only grows is of no use, and the events stay on
//! the bus (and in the database) for whoever keeps history. A new occurrence while one is active
//! replaces it (the old one cleared as `expired` at the new one's time, then the new one raised),
//! so every manoeuvre gets its own alert and the list shows the latest; a geofence crossing also
//! ends the opposite crossing's alert of that fence (`condition_ended`). Expiry runs on the wall
//! clock (every second), but the clear carries the moment the alert expired, not when it was
//! noticed.
//!
//! # Per-vehicle order
//!
//! Messages of each kind are ordered per vehicle by their own event time: one not newer than the
//! newest of its kind is ignored, so duplicates and late deliveries never raise twice or clear
//! wrongly (see [`engine`]).
//!
//! # Persistence
//!
//! Alerts live in SQLite ([`store`]; `<data_dir>/alerts/alerts.db`, WAL, `synchronous =
//! NORMAL`). Every raise, acknowledgement and clear is committed, together with its event in an
//! outbox, before the handler returns, so a message is acknowledged to the broker only once its
//! effect is stored; the events are published from the outbox and removed once the broker has
//! them, so none is lost to a crash. After a restart the active alerts are back, acknowledgements
//! included, and the ids of recently cleared alerts are remembered (an acknowledgement of one is
//! answered `already_cleared`, and a redelivered message does not raise it again).
//!
//! Rule timers are not persisted: how long a car has been speeding or idling, its last fix (for
//! harsh driving), the fences it is in, its engine and fault state all start again from the
//! messages after a restart. So an alert that was about to be raised may come up to its duration
//! later, a geofence crossed while the service was down raises nothing, and an active alert is
//! cleared only by new evidence (an engine fault by a message saying the fault is gone, idling by
//! moving or an engine stop).

pub mod cli;
pub mod config;
pub mod engine;
mod event;
mod geofence;
pub mod service;
mod speed_limit;
pub mod store;

pub use config::{
    AlertsConfig, CircleFence, ConfigError, Geofences, LatLon, PolygonFence, Thresholds,
};
pub use engine::{Acknowledgement, Alerts, Applied, SavedAlert, SavedAlerts};
pub use event::{AlertEvent, alert_type_name};
pub use service::{AlertOptions, AlertService};
pub use store::{AlertStore, StoreError};
