//! The alerts service's command-line settings, each with an environment fallback.

use std::path::{Path, PathBuf};

use crate::config::AlertsConfig;
use crate::service::AlertOptions;

#[derive(Debug, Clone, clap::Args)]
pub struct AlertArgs {
    /// A TOML file with thresholds and geofences; without it the design brief's thresholds apply
    /// and there are no geofences.
    #[arg(long, env = "INSTADASH_ALERTS_CONFIG")]
    pub alerts_config: Option<PathBuf>,
}

impl AlertArgs {
    /// The options for the alerts service keeping its database under `data_dir`
    /// (`alerts/alerts.db`).
    pub fn options(&self, data_dir: &Path) -> anyhow::Result<AlertOptions> {
        let config = match &self.alerts_config {
            Some(path) => AlertsConfig::load(path)?,
            None => AlertsConfig::default(),
        };
        Ok(AlertOptions {
            config,
            database: Some(data_dir.join("alerts").join("alerts.db")),
            ..AlertOptions::default()
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
        alerts: AlertArgs,
    }

    #[test]
    fn options_come_from_the_flags() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alerts.toml");
        std::fs::write(&config, "[thresholds]\nharsh_braking_g = 0.5\n").unwrap();
        let command = Command::parse_from(["alerts", "--alerts-config", config.to_str().unwrap()]);
        let options = command
            .alerts
            .options(Path::new("/var/lib/instadash"))
            .unwrap();
        assert_eq!(
            options.database,
            Some(PathBuf::from("/var/lib/instadash/alerts/alerts.db"))
        );
        assert_eq!(options.config.thresholds.harsh_braking_g, 0.5);
        assert_eq!(options.group, "alerts");
    }

    #[test]
    fn a_broken_config_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alerts.toml");
        std::fs::write(&config, "[thresholds]\nharsh_braking_g = \"hard\"\n").unwrap();
        let args = AlertArgs {
            alerts_config: Some(config.clone()),
        };
        let error = args.options(dir.path()).unwrap_err().to_string();
        assert!(error.contains(&config.display().to_string()), "{error}");
    }
}
