//! The trips service's command-line settings, each with an environment fallback.

use std::path::Path;
use std::time::Duration;

use crate::service::TripOptions;

#[derive(Debug, Clone, clap::Args)]
pub struct TripArgs {
    /// How many times faster than the wall clock event time runs: 1 for real vehicles, the
    /// simulator's speedup for a simulation (`instadash up` sets it to its simulator's). Lets a
    /// parked car's stop end its trip on time.
    #[arg(long, env = "INSTADASH_TIME_SCALE", default_value_t = 1.0)]
    pub time_scale: f64,
    /// Positions older than this many days (event time) are deleted from the history.
    #[arg(
        long = "trips-retention-days",
        env = "INSTADASH_TRIPS_RETENTION_DAYS",
        default_value_t = 7.0
    )]
    pub retention_days: f64,
}

impl TripArgs {
    /// The options for a trips service keeping its history under `data_dir`
    /// (`trips/history.db`).
    pub fn options(&self, data_dir: &Path) -> anyhow::Result<TripOptions> {
        anyhow::ensure!(
            self.time_scale.is_finite() && self.time_scale > 0.0,
            "--time-scale must be a positive number, not {}",
            self.time_scale
        );
        anyhow::ensure!(
            self.retention_days.is_finite() && self.retention_days > 0.0,
            "--trips-retention-days must be a positive number of days, not {}",
            self.retention_days
        );
        Ok(TripOptions {
            database: data_dir.join("trips").join("history.db"),
            time_scale: self.time_scale,
            retention: Duration::from_secs_f64(self.retention_days * 86_400.0),
            ..TripOptions::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        trips: TripArgs,
    }

    #[test]
    fn defaults_put_the_history_under_the_data_directory() {
        let args = Command::try_parse_from(["trips"]).unwrap().trips;
        let options = args.options(Path::new("data")).unwrap();
        assert_eq!(options.database, Path::new("data/trips/history.db"));
        assert_eq!(options.time_scale, 1.0);
        assert_eq!(options.retention, Duration::from_secs(7 * 86_400));
    }

    #[test]
    fn settings_are_taken_and_checked() {
        let args = Command::try_parse_from([
            "trips",
            "--time-scale",
            "8",
            "--trips-retention-days",
            "0.5",
        ])
        .unwrap()
        .trips;
        let options = args.options(Path::new("/var/lib/instadash")).unwrap();
        assert_eq!(
            options.database,
            Path::new("/var/lib/instadash/trips/history.db")
        );
        assert_eq!(options.time_scale, 8.0);
        assert_eq!(options.retention, Duration::from_secs(43_200));

        for bad in [
            "--time-scale=0",
            "--time-scale=NaN",
            "--trips-retention-days=-1",
        ] {
            let args = Command::try_parse_from(["trips", bad]).unwrap().trips;
            assert!(
                args.options(Path::new("data")).is_err(),
                "{bad:?} is refused"
            );
        }
    }
}
