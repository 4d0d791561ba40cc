//! The trips service: cuts each vehicle's positions and ignition switches into **trips** and
//! **stops**, announces trips (`instadash.trip.started` / `instadash.trip.ended`) with their
//! distance, duration, speeds, idle time, harsh-event counts and a driver score, and keeps the
//! **history** (positions, trips, stops, alerts) in SQLite, answering `list-trips` and
//! `get-route` from it.
//!
//! - [`detector`]: the rules as a pure state machine per vehicle (no broker, no wall clock).
//! - [`score`]: the driver score.
//! - [`store`]: the history database.
//! - [`clock`]: the service clock that lets time alone end a trip.
//! - [`service`]: all of it on the bus; [`cli`]: its settings.
//!
//! # Trip rules (design brief §5)
//!
//! All times are **event times** (GPS / unit time), never the time a message arrives, so the
//! outcome does not depend on queue delays, and a replay gives the same trips.
//!
//! - **Order.** Each vehicle has one timeline. A fix not newer than the vehicle's newest fix (a
//!   duplicate or a late delivery), or older than its newest ignition event, is ignored by the
//!   detector; so is an ignition event not newer than the newest ignition event or fix (an "off"
//!   from before the car last reported is outdated; an "on" adds nothing the fixes did not
//!   already show). Ignored fixes are still stored as route points; they just add nothing to a
//!   trip. Unusable fixes (off the Earth, not finite, negative speed) are dropped entirely.
//! - **Moving** means a fix of at least 2 km/h with the engine running. The engine counts as off
//!   after an ignition off until a newer fix arrives (units report while running, as the tracker
//!   assumes), and as on for units that never report their ignition.
//! - **A trip starts** when the vehicle becomes active: at an ignition on, or at its first moving
//!   fix (then from the fix before it, if that is at most 10 s older: the car set off in between
//!   and that hop is counted, exactly as by the odometer).
//! - **A stop** is standing still (fixes under 2 km/h) or the ignition off. It begins at the first
//!   still fix or ignition off after moving; any moving fix ends it. A stop of **5 minutes** ends
//!   the trip, which ends **when the stop began**; shorter stops stay inside the trip. The end
//!   reason is `offline` if the ignition went off during that stop (the vehicle was switched
//!   off: what the tracker calls offline), `stopped` if it stood with the engine running.
//! - **A gap** of more than **1 hour** without any event while moving ends the trip at its last
//!   event, reason `signal_lost`. (A vehicle standing still is covered by the stop rule first.)
//! - **The tracker's status changes.** `offline` is applied as an ignition off at its
//!   `last_seen_ms`; since the tracker only goes offline on an ignition off this service also
//!   receives (and receives first: the tracker publishes after consuming it), it is a no-op in
//!   practice and a safety net otherwise. `unknown` and `online` change nothing: silence is
//!   judged by the gap rule on event time, movement by the fixes.
//! - **Too short is no trip.** A movement ending before it covered **500 m** and **5 minutes**
//!   is discarded: nothing is published or stored. `TripStarted` is published only once a trip
//!   *qualifies* (500 m covered, and its newest moving fix at least 5 minutes after its start,
//!   so it cannot end shorter), carrying the real start time. So every `TripStarted` is followed
//!   by exactly one `TripEnded`, and a consumer never sees an orphaned start.
//! - **Stops** of at least 5 minutes are recorded in the history: a trip ended by a stop opens
//!   one where it ended; the next trip closes it where that trip started. A vehicle first seen
//!   standing opens one too (recorded once it has lasted 5 minutes). A movement that turns out
//!   to be no trip does not split the stop it happened in.
//!
//! # Figures
//!
//! - **Distance**: the tracker's odometer rule, hop by hop between consecutive accepted fixes
//!   with at least one end moving: the speeds integrated when the fixes are at most 10 s apart,
//!   the straight line (great circle) across longer gaps or when the speeds cannot explain the
//!   distance. The figures agree with the tracker's odometer over the same span.
//! - **Duration**: end minus start, whole seconds.
//! - **Max speed**: the fastest fix. **Average speed**: distance over the time spent moving.
//! - **Idle time**: ignition on and not moving, inside the trip (so not the stop that ends it).
//! - **Harsh events and overspeeds**: the alerts service's `instadash.alert.raised` events of type
//!   harsh braking, harsh acceleration, harsh cornering and overspeed whose `raised_at_ms` lies
//!   within the trip (start and end included); the rules are the alerts service's, not repeated
//!   here. A trip ends only after a 5-minute stop has passed, so the alerts raised while it was
//!   driving have long arrived (the alerts service raises them within a second or so of the fix
//!   that triggered them, and they travel the same broker). An alert that still comes later
//!   (the alerts service was down) updates the stored trip's counts and score; the `TripEnded`
//!   already published is not repeated.
//!
//! # Driver score
//!
//! `score = clamp(100 − events − idling, 0, 100)`, one decimal ([`score::driver_score`]):
//! - `events = (10 × harsh braking + 8 × harsh acceleration + 8 × harsh cornering +
//!   12 × overspeed) × 10 / max(km, 10)`: points per 10 km, so long trips are not punished for
//!   their length; a trip under 10 km counts as 10 km, so one event on a short hop costs its plain
//!   weight instead of a fortune.
//! - `idling = 20 × idle_s / duration_s`: up to 20 points for a trip spent idling.
//!
//! A clean trip scores 100; a 4 km trip with one harsh brake and one overspeed and 10 % idling
//! scores 100 − 22 − 2 = 76.
//!
//! # Time
//!
//! A parked car sends nothing, so its stop must end its trip without further messages. The
//! [`clock::ServiceClock`] is the newest event time seen from any vehicle, advanced by the wall
//! time since, scaled by `time_scale` (1 for real cars; the simulator's speedup for a
//! simulation). Every second the service lets the detector decide what time alone decides, with
//! a grace of 10 s of event time (the clock is an estimate, and a vehicle's messages may lag the
//! fleet's a little). After a restart the clock starts again with the first event received.
//!
//! # Persistence
//!
//! `<data_dir>/trips/history.db` (SQLite, WAL, `synchronous = NORMAL`). Each message is written
//! in its handler, in one transaction with the detector state it produced and the trip events it
//! caused, before the handler returns, so the broker's acknowledgement follows the write:
//! - a crash loses nothing acknowledged; a message redelivered after a crash is stale for the
//!   detector (its state was saved with the message) and a duplicate for the positions table
//!   (unique per vehicle and time), so nothing is counted twice;
//! - after a restart each vehicle's detector state, trip in progress included, is loaded as it
//!   was saved;
//! - trip events go through an outbox in the same transaction and are deleted once the broker
//!   confirms them; events left by a crash are published at the next start (at least once:
//!   consumers may see a duplicate, identified by `trip_id`).
//!
//! Positions older than the retention (7 days by default, event time) are pruned every few
//! minutes; trips, stops and alerts are kept.

pub mod cli;
pub mod clock;
pub mod detector;
pub mod motion;
pub mod rules;
pub mod score;
pub mod service;
pub mod store;
#[cfg(test)]
mod test_support;

pub use detector::{Detector, FinishedTrip, Outcome, StopRecord, TripFigures, TripStart, Update};
pub use rules::Rules;
pub use score::{HarshCounts, driver_score};
pub use store::History;
