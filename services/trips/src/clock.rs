//! The service clock: event time, kept running between events.
//!
//! A parked car sends nothing, yet its stop must end its trip after five minutes. The only time
//! the fleet agrees on is event time (a simulation may run it faster than the wall clock), so the
//! service's "now" is the newest event time seen from any vehicle, advanced by the wall time
//! since, scaled by `time_scale` (1 for real cars; the simulator's speedup for a simulation).

use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug)]
pub struct ServiceClock {
    time_scale: f64,
    newest: Mutex<Option<(i64, Instant)>>,
}

impl ServiceClock {
    /// A clock that runs `time_scale` times as fast as the wall clock (non-positive or not finite
    /// counts as 1).
    pub fn new(time_scale: f64) -> ServiceClock {
        let time_scale = if time_scale.is_finite() && time_scale > 0.0 {
            time_scale
        } else {
            1.0
        };
        ServiceClock {
            time_scale,
            newest: Mutex::new(None),
        }
    }

    /// Notes an event time; only a newer one than any seen moves the clock.
    pub fn observe(&self, event_ms: i64) {
        let mut newest = self.lock();
        if newest.is_none_or(|(held, _)| event_ms > held) {
            *newest = Some((event_ms, Instant::now()));
        }
    }

    /// Now in event time; `None` before the first event.
    pub fn now_ms(&self) -> Option<i64> {
        let (event_ms, seen_at) = (*self.lock())?;
        let since_ms = seen_at.elapsed().as_secs_f64() * 1_000.0 * self.time_scale;
        Some(event_ms.saturating_add(since_ms as i64))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(i64, Instant)>> {
        self.newest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
