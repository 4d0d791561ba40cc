//! The monitor's command-line settings, each with an environment fallback.

use std::net::SocketAddr;
use std::time::Duration;

use crate::operator_alerts::RuleConfig;
use crate::service::MonitorOptions;

#[derive(Debug, Clone, clap::Args)]
pub struct MonitorArgs {
    /// Where the dashboard, its API and `/metrics` are served.
    #[arg(
        long,
        env = "INSTADASH_MONITOR_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,
    /// The RabbitMQ management API, e.g. http://user:password@host:15672.
    #[arg(
        long,
        env = "RABBITMQ_MANAGEMENT_URL",
        default_value = broker_bridge::management::DEFAULT_MANAGEMENT_URL
    )]
    pub management_url: String,
    /// A file holding the password of the management URL's user (a mounted secret), instead of a
    /// password in the URL.
    #[arg(long, env = "RABBITMQ_MANAGEMENT_PASSWORD_FILE")]
    pub management_password_file: Option<std::path::PathBuf>,
    /// How often the management API is polled, seconds. It refreshes its own figures every 5 s.
    #[arg(long, env = "INSTADASH_MONITOR_POLL_S", default_value_t = 2.0)]
    pub poll_s: f64,
    /// A consumed queue without consumer for this long raises "no consumer", seconds.
    #[arg(long, env = "INSTADASH_MONITOR_NO_CONSUMER_S", default_value_t = 10.0)]
    pub no_consumer_s: f64,
    /// "Growing backlog": a queue's depth never fell over this window, seconds ...
    #[arg(
        long,
        env = "INSTADASH_MONITOR_BACKLOG_WINDOW_S",
        default_value_t = 20.0
    )]
    pub backlog_window_s: f64,
    /// ... and grew by at least this many messages.
    #[arg(
        long,
        env = "INSTADASH_MONITOR_BACKLOG_MIN_GROWTH",
        default_value_t = 100
    )]
    pub backlog_min_growth: u64,
    /// A dead-letter queue counts as filling until it has not grown for this long, seconds.
    #[arg(
        long,
        env = "INSTADASH_MONITOR_DEAD_LETTER_QUIET_S",
        default_value_t = 60.0
    )]
    pub dead_letter_quiet_s: f64,
    /// A known service without live instance for this long raises "no live instance", seconds.
    #[arg(long, env = "INSTADASH_MONITOR_NO_LIVE_S", default_value_t = 10.0)]
    pub no_live_s: f64,
}

impl MonitorArgs {
    pub fn options(&self) -> anyhow::Result<MonitorOptions> {
        let seconds = |name: &str, value: f64| {
            anyhow::ensure!(
                value.is_finite() && value >= 0.0,
                "--{name} must be a number of seconds, not {value}"
            );
            Ok(Duration::from_secs_f64(value))
        };
        let poll = seconds("poll-s", self.poll_s)?;
        anyhow::ensure!(!poll.is_zero(), "--poll-s must be more than 0");
        Ok(MonitorOptions {
            listen: self.listen,
            management_url: self.management_url.clone(),
            management_password_file: self.management_password_file.clone(),
            poll,
            rules: RuleConfig {
                no_consumer_after: seconds("no-consumer-s", self.no_consumer_s)?,
                backlog_window: seconds("backlog-window-s", self.backlog_window_s)?,
                backlog_min_growth: self.backlog_min_growth,
                dead_letter_quiet: seconds("dead-letter-quiet-s", self.dead_letter_quiet_s)?,
                no_live_after: seconds("no-live-s", self.no_live_s)?,
            },
            ..MonitorOptions::default()
        })
    }
}
