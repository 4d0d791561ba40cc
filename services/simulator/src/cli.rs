//! The simulator's command-line settings, each with an environment fallback.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use instadash_roads::RoadNetwork;

use crate::service::RunOptions;
use crate::{FleetModel, ModelOptions, NoiseConfig, Scenario};

#[derive(Debug, Clone, clap::Args)]
pub struct SimulatorArgs {
    /// How many virtual cars drive (ignored with --scenario).
    #[arg(long, env = "INSTADASH_SIM_CARS", default_value_t = 400)]
    pub cars: usize,
    /// Makes a run reproducible; a random seed is chosen (and printed) when not given.
    #[arg(long, env = "INSTADASH_SIM_SEED")]
    pub seed: Option<u64>,
    /// Milliseconds between two GPS fixes of a car (1000 = 1 Hz).
    #[arg(long, env = "INSTADASH_SIM_FIX_INTERVAL_MS", default_value_t = 1000)]
    pub fix_interval_ms: u32,
    /// Simulated seconds per real second (e.g. 10 to run a scenario ten times faster).
    #[arg(long, env = "INSTADASH_SIM_SPEEDUP", default_value_t = 1.0)]
    pub speedup: f64,
    /// Script exact cars and events from a TOML file (see services/simulator/scenarios/).
    #[arg(long, env = "INSTADASH_SIM_SCENARIO")]
    pub scenario: Option<PathBuf>,
    /// Real-world GPS noise: jitter of a few metres, dropped, duplicated and reordered fixes.
    #[arg(long, env = "INSTADASH_SIM_NOISE")]
    pub noise: bool,
    /// Cars only drive: no idling, speeding, harsh events, faults or dashcam triggers.
    #[arg(long, env = "INSTADASH_SIM_CALM")]
    pub calm: bool,
    /// How much more often than real cars the virtual ones idle, speed, brake or accelerate
    /// harshly, store faults, overheat and press the panic button (1: a 400-car fleet shows each
    /// a few times an hour; 20 or more suits a demo).
    #[arg(long, env = "INSTADASH_SIM_BEHAVIOUR_RATE", default_value_t = 1.0)]
    pub behaviour_rate: f64,
}

/// A model and how to drive it, ready for [`crate::service::Simulator::start`].
pub struct Prepared {
    pub model: FleetModel,
    pub options: RunOptions,
    pub seed: u64,
}

impl SimulatorArgs {
    pub fn prepare(&self) -> anyhow::Result<Prepared> {
        anyhow::ensure!(
            self.fix_interval_ms > 0,
            "--fix-interval-ms must be positive"
        );
        anyhow::ensure!(
            self.speedup.is_finite() && self.speedup > 0.0,
            "--speedup must be a positive number, not {}",
            self.speedup
        );
        anyhow::ensure!(
            self.behaviour_rate.is_finite() && self.behaviour_rate >= 0.0,
            "--behaviour-rate must be a number of at least 0, not {}",
            self.behaviour_rate
        );
        let seed = self.seed.unwrap_or_else(random_seed);
        let network = RoadNetwork::city();
        let start_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .context("the system clock is before 1970")?
            .as_millis() as i64;
        let model = match &self.scenario {
            Some(path) => {
                let scenario = Scenario::load(path)
                    .with_context(|| format!("reading the scenario {}", path.display()))?;
                FleetModel::scripted(network, &scenario, start_ms)?
            }
            None => {
                anyhow::ensure!(self.cars > 0, "--cars must be at least 1");
                let options = ModelOptions {
                    fix_interval_ms: self.fix_interval_ms,
                    behaviour: !self.calm,
                    ..ModelOptions::default()
                };
                FleetModel::random(network, self.cars, seed, start_ms, options)
                    .with_behaviour_rate(if self.calm { 0.0 } else { self.behaviour_rate })
            }
        };
        let options = RunOptions {
            speedup: self.speedup,
            noise: if self.noise {
                NoiseConfig::realistic()
            } else {
                NoiseConfig::default()
            },
            noise_seed: seed,
            record: false,
        };
        Ok(Prepared {
            model,
            options,
            seed,
        })
    }
}

fn random_seed() -> u64 {
    // Good enough to pick a seed; the seed is printed so the run can be repeated.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}
