//! The engine as the OBD-II port sees it: rpm from speed through a gearbox, load and throttle from
//! what the driver asks, coolant that warms up, cools down and now and then overheats, and fuel
//! that runs down with distance and idling.

/// Outside temperature the coolant cools down to when the engine is off.
const AMBIENT_C: f64 = 15.0;
/// The thermostat keeps a warm engine about here.
const WARM_C: f64 = 90.0;
/// Where an overheating engine ends up.
const OVERHEAT_C: f64 = 116.0;
const WARM_UP_C_PER_S: f64 = 0.25;
const OVERHEAT_C_PER_S: f64 = 1.5;
const RECOVER_C_PER_S: f64 = 0.5;
/// Time constant of cooling down with the engine off.
const COOL_DOWN_TAU_S: f64 = 2_400.0;
const TANK_L: f64 = 55.0;
const LITRES_PER_M: f64 = 7.0 / 100_000.0;
const IDLE_LITRES_PER_S: f64 = 0.8 / 3_600.0;

/// Upper speed of each gear, km/h, and engine rpm per km/h in it. A driver who accelerates
/// hard shifts later.
const GEARS: [(f64, f64); 6] = [
    (18.0, 125.0),
    (32.0, 68.0),
    (48.0, 44.0),
    (62.0, 33.0),
    (78.0, 26.5),
    (f64::INFINITY, 21.5),
];

#[derive(Debug, Clone)]
pub(crate) struct Engine {
    pub idle_rpm: f64,
    pub coolant_c: f64,
    pub fuel_pct: f64,
    pub rpm: f64,
    pub load_pct: f64,
    pub throttle_pct: f64,
    /// While set, the coolant climbs towards [`OVERHEAT_C`].
    pub overheat_until_ms: Option<i64>,
}

impl Engine {
    pub fn new(idle_rpm: f64, coolant_c: f64, fuel_pct: f64) -> Self {
        Self {
            idle_rpm,
            coolant_c,
            fuel_pct,
            rpm: 0.0,
            load_pct: 0.0,
            throttle_pct: 0.0,
            overheat_until_ms: None,
        }
    }

    /// Advances the engine by `dt_s` ending at `now_ms`. `running` is the ignition; the car
    /// moved `distance_m` at `speed_ms` (at the end), accelerating at `accel_ms2`.
    pub fn update(
        &mut self,
        now_ms: i64,
        dt_s: f64,
        running: bool,
        speed_ms: f64,
        accel_ms2: f64,
        distance_m: f64,
    ) {
        if self.overheat_until_ms.is_some_and(|until| now_ms >= until) {
            self.overheat_until_ms = None;
        }
        if !running {
            self.rpm = 0.0;
            self.load_pct = 0.0;
            self.throttle_pct = 0.0;
            self.coolant_c += (AMBIENT_C - self.coolant_c) * (dt_s / COOL_DOWN_TAU_S).min(1.0);
            return;
        }
        let speed_kmh = speed_ms * 3.6;
        self.rpm = rpm(speed_kmh, accel_ms2, self.idle_rpm);
        let pushing = (accel_ms2 / 3.0).clamp(0.0, 1.0);
        if accel_ms2 < -0.3 {
            // Engine braking: fuel cut, throttle closed.
            self.load_pct = 8.0;
            self.throttle_pct = 11.8;
        } else {
            self.load_pct = (18.0 + 55.0 * pushing + 0.25 * speed_kmh).min(100.0);
            self.throttle_pct = (14.1 + 60.0 * pushing + 0.15 * speed_kmh).min(100.0);
        }

        let target = if self.overheat_until_ms.is_some() {
            OVERHEAT_C
        } else {
            WARM_C + 4.0 * self.load_pct / 100.0
        };
        let rate = if self.overheat_until_ms.is_some() {
            OVERHEAT_C_PER_S
        } else if self.coolant_c < target {
            WARM_UP_C_PER_S
        } else {
            RECOVER_C_PER_S
        };
        let step = rate * dt_s;
        self.coolant_c = if self.coolant_c < target {
            (self.coolant_c + step).min(target)
        } else {
            (self.coolant_c - step).max(target)
        };

        let litres = distance_m * LITRES_PER_M * (1.0 + pushing) + IDLE_LITRES_PER_S * dt_s;
        self.fuel_pct = (self.fuel_pct - litres / TANK_L * 100.0).max(0.0);
    }

    /// The engine starts: idle values at once, before the next update.
    pub fn start(&mut self) {
        self.rpm = self.idle_rpm;
        self.load_pct = 18.0;
        self.throttle_pct = 14.1;
    }

    pub fn overheating(&self) -> bool {
        self.overheat_until_ms.is_some()
    }
}

/// Engine speed for a road speed: the gear the driver would be in, never below idle.
pub(crate) fn rpm(speed_kmh: f64, accel_ms2: f64, idle_rpm: f64) -> f64 {
    if speed_kmh < 1.0 {
        return idle_rpm;
    }
    let late_shift = if accel_ms2 > 1.5 { 1.15 } else { 1.0 };
    let ratio = GEARS
        .iter()
        .find(|(upper, _)| speed_kmh < upper * late_shift)
        .map_or(GEARS[GEARS.len() - 1].1, |(_, ratio)| *ratio);
    // Below the gear's range the clutch slips and the engine stays a little above idle.
    (speed_kmh * ratio).max(idle_rpm * 1.1)
}

/// A value as an OBD-II PID of one byte scaled to 0-100 % reports it (A * 100 / 255).
pub(crate) fn obd_percent(pct: f64) -> f64 {
    (pct.clamp(0.0, 100.0) * 255.0 / 100.0).round() * 100.0 / 255.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpm_is_idle_standing_and_plausible_moving() {
        assert_eq!(rpm(0.0, 0.0, 800.0), 800.0);
        for kmh in [5.0, 15.0, 25.0, 40.0, 50.0, 70.0, 80.0, 100.0] {
            let r = rpm(kmh, 0.5, 800.0);
            assert!((800.0..3_000.0).contains(&r), "{kmh} km/h -> {r} rpm");
        }
        assert!(
            rpm(20.0, 2.0, 800.0) > rpm(20.0, 0.0, 800.0),
            "shifts later when pushing"
        );
    }

    #[test]
    fn coolant_warms_up_overheats_and_recovers() {
        let mut engine = Engine::new(800.0, 20.0, 50.0);
        let mut t = 0;
        for _ in 0..600 {
            t += 1_000;
            engine.update(t, 1.0, true, 10.0, 0.0, 10.0);
        }
        assert!(
            (88.0..96.0).contains(&engine.coolant_c),
            "{}",
            engine.coolant_c
        );
        engine.overheat_until_ms = Some(t + 60_000);
        let mut hot_s = 0;
        for _ in 0..200 {
            t += 1_000;
            engine.update(t, 1.0, true, 10.0, 0.0, 10.0);
            if engine.coolant_c > 110.0 {
                hot_s += 1;
            }
        }
        assert!((50..75).contains(&hot_s), "{hot_s} s over 110 °C");
        assert!(engine.coolant_c < 100.0);
        assert!(engine.fuel_pct < 50.0);
        engine.update(t + 3_600_000, 3_600.0, false, 0.0, 0.0, 0.0);
        assert!(engine.coolant_c < 60.0 && engine.rpm == 0.0);
    }

    #[test]
    fn obd_percentages_are_quantised() {
        assert_eq!(obd_percent(100.0), 100.0);
        assert_eq!(obd_percent(-3.0), 0.0);
        assert!((obd_percent(50.0) - 50.196).abs() < 0.001);
    }
}
