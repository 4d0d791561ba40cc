//! The noise stage: what GPS receivers and mobile networks do to fixes on their way from the car
//! to the platform. Only positions are touched; everything else passes as it is.
//!
//! - jitter: each fix moves a few metres in a random direction (gaussian per axis, clipped at
//!   four sigma as a receiver would discard wilder ones);
//! - drop: a fix never arrives;
//! - duplicate: a fix arrives twice, the same payload right after itself;
//! - reorder: a fix is held back and arrives one step late, right after the car's next fix
//!   (or at the end of the next step if the car sends no fix then).

use std::collections::HashMap;

use instadash_schemas::vehicle::position::v2::Position;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::Emission;

/// Percentages are of fixes (0-100). The default is no noise at all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NoiseConfig {
    /// Standard deviation of the jitter per axis, metres.
    pub jitter_m: f64,
    pub drop_pct: f64,
    pub duplicate_pct: f64,
    pub reorder_pct: f64,
}

impl NoiseConfig {
    /// What a consumer should expect from a real fleet: 4 m of jitter, 2 % of fixes lost,
    /// 1 % twice, 2 % late.
    pub fn realistic() -> Self {
        Self {
            jitter_m: 4.0,
            drop_pct: 2.0,
            duplicate_pct: 1.0,
            reorder_pct: 2.0,
        }
    }

    fn is_off(&self) -> bool {
        self.jitter_m <= 0.0
            && self.drop_pct <= 0.0
            && self.duplicate_pct <= 0.0
            && self.reorder_pct <= 0.0
    }
}

/// Jitter beyond this many standard deviations is clipped.
pub const JITTER_CLIP_SIGMA: f64 = 4.0;
const M_PER_DEG_LAT: f64 = 111_195.08;

/// Applies a [`NoiseConfig`] step after step, deterministically for a seed.
#[derive(Debug, Clone)]
pub struct Noise {
    config: NoiseConfig,
    rng: ChaCha8Rng,
    /// Fixes held back in the previous step, by vehicle.
    late: HashMap<String, Position>,
    /// Fixes held back in this step.
    holding: HashMap<String, Position>,
    scratch: Vec<Emission>,
}

impl Noise {
    pub fn new(config: NoiseConfig, seed: u64) -> Noise {
        Noise {
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
            late: HashMap::new(),
            holding: HashMap::new(),
            scratch: Vec::new(),
        }
    }

    pub fn config(&self) -> &NoiseConfig {
        &self.config
    }

    /// Applies noise to one step's emissions in place.
    pub fn apply(&mut self, emissions: &mut Vec<Emission>) {
        if self.config.is_off() && self.late.is_empty() {
            return;
        }
        std::mem::swap(&mut self.late, &mut self.holding);
        // `holding` now has last step's late fixes; `late` collects this step's.
        let mut input = std::mem::take(&mut self.scratch);
        std::mem::swap(&mut input, emissions);
        for emission in input.drain(..) {
            let Emission::Position(mut fix) = emission else {
                emissions.push(emission);
                continue;
            };
            let overdue = if self.holding.is_empty() {
                None
            } else {
                self.holding.remove(&fix.vehicle_id)
            };
            self.jitter(&mut fix);
            let roll: f64 = self.rng.random::<f64>() * 100.0;
            let (drop, duplicate) = (self.config.drop_pct, self.config.duplicate_pct);
            if roll < drop {
                // Lost.
            } else if roll < drop + duplicate {
                emissions.push(Emission::Position(fix.clone()));
                emissions.push(Emission::Position(fix));
            } else if roll < drop + duplicate + self.config.reorder_pct {
                self.late.insert(fix.vehicle_id.clone(), fix);
            } else {
                emissions.push(Emission::Position(fix));
            }
            if let Some(late_fix) = overdue {
                emissions.push(Emission::Position(late_fix));
            }
        }
        // Late fixes of cars that sent no fix this step still arrive now, one step late. In
        // vehicle order, so the result does not depend on hashing.
        if !self.holding.is_empty() {
            let mut rest: Vec<Position> = self.holding.drain().map(|(_, p)| p).collect();
            rest.sort_by(|a, b| a.vehicle_id.cmp(&b.vehicle_id));
            emissions.extend(rest.into_iter().map(Emission::Position));
        }
        self.scratch = input;
    }

    fn jitter(&mut self, fix: &mut Position) {
        let sigma = self.config.jitter_m;
        if sigma <= 0.0 {
            return;
        }
        let (north, east) = self.gaussian_pair();
        let m_per_deg_lon = M_PER_DEG_LAT * fix.lat.to_radians().cos();
        fix.lat += north * sigma / M_PER_DEG_LAT;
        fix.lon += east * sigma / m_per_deg_lon;
    }

    /// Two independent standard normal numbers (Box-Muller), each clipped.
    fn gaussian_pair(&mut self) -> (f64, f64) {
        let u1: f64 = 1.0 - self.rng.random::<f64>(); // (0, 1]: ln is finite
        let u2: f64 = self.rng.random();
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = std::f64::consts::TAU * u2;
        let clip = |v: f64| v.clamp(-JITTER_CLIP_SIGMA, JITTER_CLIP_SIGMA);
        (clip(r * theta.cos()), clip(r * theta.sin()))
    }
}

#[cfg(test)]
mod tests;
