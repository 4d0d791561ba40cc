//! The thresholds of the trip rules (design brief §5), in one place so tests can name them.

/// How trips and stops are cut from a vehicle's events. Times are event time (GPS / unit time),
/// milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// A fix at least this fast means the vehicle is moving: above what a parked GPS receiver
    /// reports from jitter, and the tracker's odometer threshold, so both count the same hops.
    pub moving_kmh: f64,
    /// Standing still (or the ignition off) for this long is a stop, and a stop ends a trip.
    pub stop_ms: i64,
    /// No event for longer than this while moving ends the trip (`SignalLost`).
    pub gap_ms: i64,
    /// A trip covers at least this distance...
    pub min_trip_m: f64,
    /// ... and lasts at least this long; shorter movements are not trips.
    pub min_trip_ms: i64,
    /// Decisions taken on the service clock alone (no message from the vehicle) wait this much
    /// longer, so a vehicle whose messages lag a little behind the fleet's is not cut short.
    pub clock_grace_ms: i64,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            moving_kmh: 2.0,
            stop_ms: 5 * 60_000,
            gap_ms: 60 * 60_000,
            min_trip_m: 500.0,
            min_trip_ms: 5 * 60_000,
            clock_grace_ms: 10_000,
        }
    }
}
