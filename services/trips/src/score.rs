//! The driver score of a trip: 0 (poor) to 100 (perfect). See the crate documentation for the
//! formula and why it is shaped so.

use instadash_schemas::alert::AlertType;

/// Points one event costs per 10 km driven.
pub const HARSH_BRAKING_POINTS: f64 = 10.0;
pub const HARSH_ACCELERATION_POINTS: f64 = 8.0;
pub const HARSH_CORNERING_POINTS: f64 = 8.0;
pub const OVERSPEED_POINTS: f64 = 12.0;
/// Trips shorter than this count as this long, so one event on a short hop is not a disaster.
pub const MIN_NORMALISING_KM: f64 = 10.0;
/// Points a trip spent entirely idling would cost.
pub const IDLE_POINTS: f64 = 20.0;

/// The alerts raised during a trip that the score and the trip summary count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HarshCounts {
    pub harsh_braking: u32,
    pub harsh_acceleration: u32,
    pub harsh_cornering: u32,
    pub overspeed: u32,
}

impl HarshCounts {
    /// Counts one alert of `alert_type` (other types do not count).
    pub fn add(&mut self, alert_type: AlertType, count: u32) {
        let slot = match alert_type {
            AlertType::HarshBraking => &mut self.harsh_braking,
            AlertType::HarshAcceleration => &mut self.harsh_acceleration,
            AlertType::HarshCornering => &mut self.harsh_cornering,
            AlertType::Overspeed => &mut self.overspeed,
            _ => return,
        };
        *slot = slot.saturating_add(count);
    }

    /// The alert types a trip counts.
    pub const COUNTED: [AlertType; 4] = [
        AlertType::HarshBraking,
        AlertType::HarshAcceleration,
        AlertType::HarshCornering,
        AlertType::Overspeed,
    ];
}

/// `100 − events − idling`, clamped to 0..=100 and rounded to one decimal:
/// - events: `(10·braking + 8·acceleration + 8·cornering + 12·overspeed) × 10 / max(km, 10)`,
///   i.e. points per 10 km, with trips under 10 km counted as 10 km;
/// - idling: `20 × idle_s / duration_s` (the share of the trip spent idling).
pub fn driver_score(counts: &HarshCounts, distance_m: f64, duration_s: u32, idle_s: u32) -> f64 {
    let weighted = HARSH_BRAKING_POINTS * f64::from(counts.harsh_braking)
        + HARSH_ACCELERATION_POINTS * f64::from(counts.harsh_acceleration)
        + HARSH_CORNERING_POINTS * f64::from(counts.harsh_cornering)
        + OVERSPEED_POINTS * f64::from(counts.overspeed);
    let km = if distance_m.is_finite() {
        distance_m / 1_000.0
    } else {
        0.0
    };
    let events = weighted * 10.0 / km.max(MIN_NORMALISING_KM);
    let idle_share = if duration_s == 0 {
        0.0
    } else {
        (f64::from(idle_s) / f64::from(duration_s)).clamp(0.0, 1.0)
    };
    let score = (100.0 - events - IDLE_POINTS * idle_share).clamp(0.0, 100.0);
    (score * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(braking: u32, acceleration: u32, cornering: u32, overspeed: u32) -> HarshCounts {
        HarshCounts {
            harsh_braking: braking,
            harsh_acceleration: acceleration,
            harsh_cornering: cornering,
            overspeed,
        }
    }

    #[test]
    fn a_clean_trip_scores_100() {
        assert_eq!(
            driver_score(&HarshCounts::default(), 25_000.0, 1_800, 0),
            100.0
        );
    }

    #[test]
    fn events_cost_their_weight_per_10_km() {
        // One of each on 10 km: 10 + 8 + 8 + 12.
        assert_eq!(driver_score(&counts(1, 1, 1, 1), 10_000.0, 600, 0), 62.0);
        // The same on 40 km: a quarter of it.
        assert_eq!(driver_score(&counts(1, 1, 1, 1), 40_000.0, 2_400, 0), 90.5);
        // Short trips count as 10 km: one harsh brake on 2 km costs 10, not 50.
        assert_eq!(driver_score(&counts(1, 0, 0, 0), 2_000.0, 300, 0), 90.0);
    }

    #[test]
    fn idling_costs_up_to_20() {
        assert_eq!(
            driver_score(&HarshCounts::default(), 5_000.0, 1_000, 250),
            95.0
        );
        assert_eq!(
            driver_score(&HarshCounts::default(), 5_000.0, 1_000, 1_000),
            80.0
        );
        // The documented example: 4 km, one harsh brake, one overspeed, 10 % idling.
        assert_eq!(driver_score(&counts(1, 0, 0, 1), 4_000.0, 1_000, 100), 76.0);
    }

    #[test]
    fn the_score_stays_within_0_and_100() {
        assert_eq!(driver_score(&counts(20, 0, 0, 0), 10_000.0, 600, 0), 0.0);
        assert_eq!(
            driver_score(&HarshCounts::default(), f64::NAN, 0, 10),
            100.0
        );
        // Not a distance: counted as none (so as 10 km).
        assert_eq!(
            driver_score(&counts(0, 0, 0, 1), f64::INFINITY, 10, 99),
            68.0
        );
    }

    #[test]
    fn only_the_four_driving_alerts_count() {
        let mut counted = HarshCounts::default();
        for alert_type in [
            AlertType::HarshBraking,
            AlertType::Overspeed,
            AlertType::Overspeed,
            AlertType::Idling,
            AlertType::Crash,
            AlertType::EngineFault,
        ] {
            counted.add(alert_type, 1);
        }
        assert_eq!(counted, counts(1, 0, 0, 2));
    }
}
