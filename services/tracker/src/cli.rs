//! The tracker's command-line settings, each with an environment fallback.

use std::path::Path;
use std::time::Duration;

use crate::service::TrackerOptions;
use crate::state::Config;

#[derive(Debug, Clone, clap::Args)]
pub struct TrackerArgs {
    /// A vehicle silent for longer than this (seconds) becomes `unknown`.
    #[arg(
        long,
        env = "INSTADASH_TRACKER_UNKNOWN_AFTER_S",
        default_value_t = 600.0
    )]
    pub unknown_after_s: f64,
    /// How often the state is written to disk, seconds (also on every shutdown).
    #[arg(long, env = "INSTADASH_TRACKER_SNAPSHOT_S", default_value_t = 2.0)]
    pub snapshot_s: f64,
}

impl TrackerArgs {
    /// The options for a tracker keeping its state under `data_dir` (`tracker/state.json`).
    pub fn options(&self, data_dir: &Path) -> anyhow::Result<TrackerOptions> {
        let seconds = |name: &str, value: f64| {
            anyhow::ensure!(
                value.is_finite() && value > 0.0,
                "--{name} must be a positive number of seconds, not {value}"
            );
            Ok(Duration::from_secs_f64(value))
        };
        let unknown_after = seconds("unknown-after-s", self.unknown_after_s)?;
        Ok(TrackerOptions {
            config: Config {
                unknown_after_ms: unknown_after.as_millis() as i64,
                ..Config::default()
            },
            snapshot: Some(data_dir.join("tracker").join("state.json")),
            snapshot_every: seconds("snapshot-s", self.snapshot_s)?,
            // Often enough that `unknown` comes within a few percent of the timeout.
            silence_check_every: (unknown_after / 20)
                .clamp(Duration::from_millis(100), Duration::from_secs(5)),
            ..TrackerOptions::default()
        })
    }
}
