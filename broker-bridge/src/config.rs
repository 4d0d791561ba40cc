//! How a service reaches the broker: flags, then environment, then an optional file, then defaults.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use uuid::Uuid;

use crate::error::ConfigError;

/// Command-line flags (each with an environment fallback) that a service flattens into its own clap
/// parser. Every field is optional so that a value given in the config file is only overridden by
/// what the operator actually set.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BridgeArgs {
    /// Broker URL, e.g. amqp://user:pass@host:5672/vhost (amqps:// for TLS).
    #[arg(long, env = "AMQP_URL")]
    pub amqp_url: Option<String>,
    /// Name this service is addressed by (point-to-point, requests, subscriber groups).
    #[arg(long, env = "INSTADASH_SERVICE")]
    pub service: Option<String>,
    /// Instance id (UUID); a fresh UUID v7 when not given.
    #[arg(long, env = "INSTADASH_INSTANCE")]
    pub instance: Option<Uuid>,
    /// The version this instance announces (two versions of a service can run side by side).
    #[arg(long, env = "INSTADASH_SERVICE_VERSION")]
    pub service_version: Option<String>,
    /// Deliveries the broker may send ahead of acknowledgement, per consumer.
    #[arg(long, env = "INSTADASH_PREFETCH")]
    pub prefetch: Option<u16>,
    /// Published messages that may await a broker confirm at once; publishing waits when full.
    #[arg(long, env = "INSTADASH_CONFIRM_WINDOW")]
    pub confirm_window: Option<usize>,
    /// First reconnect delay in milliseconds (doubled after each failure, with jitter).
    #[arg(long, env = "INSTADASH_RECONNECT_MIN_MS")]
    pub reconnect_min_ms: Option<u64>,
    /// Longest reconnect delay in milliseconds; reconnecting never gives up.
    #[arg(long, env = "INSTADASH_RECONNECT_MAX_MS")]
    pub reconnect_max_ms: Option<u64>,
    /// How often this instance publishes its statistics report, in milliseconds (0: never).
    #[arg(long, env = "INSTADASH_STATS_INTERVAL_MS")]
    pub stats_interval_ms: Option<u64>,
    /// Spans this instance keeps in memory for the trace view (0: none).
    #[arg(long, env = "INSTADASH_TRACE_BUFFER")]
    pub trace_buffer: Option<usize>,
    /// Configuration file (TOML) with the same keys as these flags, in snake_case.
    #[arg(long, env = "INSTADASH_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The settings of the file named by `--config`; the same keys as [`BridgeArgs`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    amqp_url: Option<String>,
    service: Option<String>,
    instance: Option<Uuid>,
    service_version: Option<String>,
    heartbeat_interval_ms: Option<u64>,
    prefetch: Option<u16>,
    confirm_window: Option<usize>,
    reconnect_min_ms: Option<u64>,
    reconnect_max_ms: Option<u64>,
    heartbeat_secs: Option<u16>,
    confirm_timeout_ms: Option<u64>,
    retry_attempts: Option<u32>,
    retry_delay_ms: Option<u64>,
    dedup_window: Option<usize>,
    max_message_bytes: Option<usize>,
    stats_interval_ms: Option<u64>,
    trace_buffer: Option<usize>,
}

/// When the connection is lost: wait `min_delay`, double up to `max_delay`, add jitter, never give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectPolicy {
    pub min_delay: Duration,
    pub max_delay: Duration,
}

/// What happens to a message whose handler fails: redelivered after `delay`, at most `attempts`
/// times in all, then dead-lettered with the last error as its reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub delay: Duration,
}

/// Everything the bridge needs to know; build it with [`BridgeConfig::resolve`] or
/// [`BridgeConfig::new`].
#[derive(Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    pub amqp_url: String,
    pub service: String,
    pub instance: Uuid,
    /// The version this instance announces.
    pub service_version: String,
    /// How often this instance says it is alive (discovery); three missed heartbeats mark it
    /// unresponsive in every directory.
    pub heartbeat_interval: Duration,
    pub prefetch: u16,
    pub confirm_window: usize,
    pub reconnect: ReconnectPolicy,
    /// AMQP heartbeat; a frozen broker is noticed after about two intervals.
    pub heartbeat_secs: u16,
    /// A publish not confirmed within this time is published again (a frozen broker never answers).
    pub confirm_timeout: Duration,
    pub retry: RetryPolicy,
    /// How many recent event ids each consumer remembers to drop redelivered duplicates.
    pub dedup_window: usize,
    /// Larger payloads are refused before they are sent (the broker would close the channel).
    pub max_message_bytes: usize,
    /// How often the instance publishes its statistics report (`instadash.platform.service-stats`,
    /// the figures of that interval); zero turns reports off. At least 100 ms otherwise.
    pub stats_interval: Duration,
    /// How many spans (messages sent and deliveries handled) the instance keeps in memory to
    /// answer the trace view ([`crate::span_log`]); the oldest go first. Zero turns the log off
    /// (the instance still answers, with nothing). At most
    /// [`MAX_TRACE_BUFFER`](crate::span_log::MAX_TRACE_BUFFER); 176 bytes per span.
    pub trace_buffer: usize,
}

pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

impl BridgeConfig {
    /// Defaults for `service`, with a fresh instance id.
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            amqp_url: DEFAULT_AMQP_URL.to_owned(),
            service: service.into(),
            instance: Uuid::now_v7(),
            service_version: env!("CARGO_PKG_VERSION").to_owned(),
            heartbeat_interval: Duration::from_secs(2),
            prefetch: 300,
            confirm_window: 256,
            reconnect: ReconnectPolicy {
                min_delay: Duration::from_millis(100),
                max_delay: Duration::from_millis(500),
            },
            heartbeat_secs: 10,
            confirm_timeout: Duration::from_secs(10),
            retry: RetryPolicy {
                attempts: 3,
                delay: Duration::from_secs(1),
            },
            dedup_window: 100_000,
            max_message_bytes: 1024 * 1024,
            stats_interval: Duration::from_secs(5),
            trace_buffer: 20_000,
        }
    }

    /// Layers flags and environment (already merged by clap) over the optional file over the
    /// defaults. `default_service` names the service when neither flags nor file do.
    pub fn resolve(args: &BridgeArgs, default_service: &str) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                toml::from_str::<FileConfig>(&text).map_err(|source| ConfigError::Parse {
                    path: path.clone(),
                    source: Box::new(source),
                })?
            }
            None => FileConfig::default(),
        };
        let service = args
            .service
            .clone()
            .or(file.service)
            .unwrap_or_else(|| default_service.to_owned());
        let mut config = Self::new(service);
        let ms = Duration::from_millis;
        if let Some(url) = args.amqp_url.clone().or(file.amqp_url) {
            config.amqp_url = url;
        }
        if let Some(instance) = args.instance.or(file.instance) {
            config.instance = instance;
        }
        if let Some(prefetch) = args.prefetch.or(file.prefetch) {
            config.prefetch = prefetch;
        }
        if let Some(window) = args.confirm_window.or(file.confirm_window) {
            config.confirm_window = window;
        }
        if let Some(min) = args.reconnect_min_ms.or(file.reconnect_min_ms) {
            config.reconnect.min_delay = ms(min);
        }
        if let Some(max) = args.reconnect_max_ms.or(file.reconnect_max_ms) {
            config.reconnect.max_delay = ms(max);
        }
        if let Some(secs) = file.heartbeat_secs {
            config.heartbeat_secs = secs;
        }
        if let Some(timeout) = file.confirm_timeout_ms {
            config.confirm_timeout = ms(timeout);
        }
        if let Some(attempts) = file.retry_attempts {
            config.retry.attempts = attempts;
        }
        if let Some(delay) = file.retry_delay_ms {
            config.retry.delay = ms(delay);
        }
        if let Some(version) = args.service_version.clone().or(file.service_version) {
            config.service_version = version;
        }
        if let Some(ms) = file.heartbeat_interval_ms {
            config.heartbeat_interval = Duration::from_millis(ms);
        }
        if let Some(window) = file.dedup_window {
            config.dedup_window = window;
        }
        if let Some(max) = file.max_message_bytes {
            config.max_message_bytes = max;
        }
        if let Some(every) = args.stats_interval_ms.or(file.stats_interval_ms) {
            config.stats_interval = ms(every);
        }
        if let Some(spans) = args.trace_buffer.or(file.trace_buffer) {
            config.trace_buffer = spans;
        }
        config.validate()?;
        Ok(config)
    }

    /// Refuses settings that would make the bridge misbehave rather than fail loudly later.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, why: &str| {
            Err(ConfigError::Invalid {
                field,
                reason: why.to_owned(),
            })
        };
        if self.service.is_empty() || !self.service.chars().all(is_name_char) {
            return invalid("service", "use letters, digits, '-' and '_' only");
        }
        if self.heartbeat_interval < Duration::from_secs(1)
            || self.heartbeat_interval.subsec_nanos() != 0
        {
            return invalid("heartbeat_interval_ms", "whole seconds, at least 1000");
        }
        if self.prefetch == 0 {
            return invalid("prefetch", "must be at least 1");
        }
        if self.confirm_window == 0 {
            return invalid("confirm_window", "must be at least 1");
        }
        if self.reconnect.min_delay.is_zero() || self.reconnect.min_delay > self.reconnect.max_delay
        {
            return invalid("reconnect", "need 0 < min delay <= max delay");
        }
        if !self.stats_interval.is_zero() && self.stats_interval < Duration::from_millis(100) {
            return invalid("stats_interval_ms", "0 (off) or at least 100");
        }
        if self.trace_buffer > crate::span_log::MAX_TRACE_BUFFER {
            return invalid("trace_buffer", "at most 1000000 spans (0: off)");
        }
        if self.retry.attempts == 0 {
            return invalid("retry_attempts", "must be at least 1 (the first delivery)");
        }
        if self.amqp_url.parse::<lapin::uri::AMQPUri>().is_err() {
            return invalid("amqp_url", "not an amqp:// or amqps:// URL");
        }
        Ok(())
    }

    /// The broker URL with its password hidden, for logs.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.amqp_url)
    }

    /// The virtual host the URL names (`/` when it names none).
    pub fn vhost(&self) -> Result<String, ConfigError> {
        let uri: lapin::uri::AMQPUri =
            self.amqp_url
                .parse()
                .map_err(|reason| ConfigError::Invalid {
                    field: "amqp_url",
                    reason,
                })?;
        Ok(uri.vhost)
    }
}

/// Service names end up in queue names and routing keys; keep them to safe characters.
pub(crate) fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

impl std::fmt::Debug for BridgeConfig {
    // Written by hand so the broker password never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeConfig")
            .field("amqp_url", &self.redacted_url())
            .field("service", &self.service)
            .field("instance", &self.instance)
            .field("service_version", &self.service_version)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("prefetch", &self.prefetch)
            .field("confirm_window", &self.confirm_window)
            .field("reconnect", &self.reconnect)
            .field("heartbeat_secs", &self.heartbeat_secs)
            .field("confirm_timeout", &self.confirm_timeout)
            .field("retry", &self.retry)
            .field("dedup_window", &self.dedup_window)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("stats_interval", &self.stats_interval)
            .field("trace_buffer", &self.trace_buffer)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn flags_override_file_which_overrides_defaults() {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(
            file,
            "service = \"from-file\"\nprefetch = 7\nconfirm_window = 9\nretry_attempts = 5\n\
             stats_interval_ms = 2000\ntrace_buffer = 500"
        )
        .expect("write");
        let args = BridgeArgs {
            prefetch: Some(42),
            config: Some(file.path().to_owned()),
            ..Default::default()
        };
        let config = BridgeConfig::resolve(&args, "fallback").expect("valid");
        assert_eq!(config.service, "from-file");
        assert_eq!(config.prefetch, 42, "flag wins over file");
        assert_eq!(config.confirm_window, 9, "file wins over default");
        assert_eq!(config.retry.attempts, 5);
        assert_eq!(config.stats_interval, Duration::from_secs(2));
        assert_eq!(config.trace_buffer, 500);
        let args = BridgeArgs {
            stats_interval_ms: Some(0),
            trace_buffer: Some(0),
            ..args
        };
        let config = BridgeConfig::resolve(&args, "fallback").expect("valid");
        assert_eq!(config.stats_interval, Duration::ZERO, "flag wins, 0 is off");
        assert_eq!(config.trace_buffer, 0, "flag wins, 0 is off");
        assert_eq!(BridgeConfig::new("svc").trace_buffer, 20_000);
        assert_eq!(
            BridgeConfig::new("svc").stats_interval,
            Duration::from_secs(5)
        );
        assert_eq!(config.amqp_url, DEFAULT_AMQP_URL);
        assert_eq!(config.instance.get_version_num(), 7);
    }

    #[test]
    fn unknown_file_keys_and_bad_values_are_clear_errors() {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(file, "prefech = 7").expect("write");
        let args = BridgeArgs {
            config: Some(file.path().to_owned()),
            ..Default::default()
        };
        let err = BridgeConfig::resolve(&args, "svc").unwrap_err().to_string();
        assert!(err.contains("prefech"), "{err}");

        let args = BridgeArgs {
            prefetch: Some(0),
            ..Default::default()
        };
        let err = BridgeConfig::resolve(&args, "svc").unwrap_err().to_string();
        assert!(err.contains("prefetch"), "{err}");

        let args = BridgeArgs {
            stats_interval_ms: Some(10),
            ..Default::default()
        };
        let err = BridgeConfig::resolve(&args, "svc").unwrap_err().to_string();
        assert!(err.contains("stats_interval_ms"), "{err}");

        let args = BridgeArgs {
            trace_buffer: Some(crate::span_log::MAX_TRACE_BUFFER + 1),
            ..Default::default()
        };
        let err = BridgeConfig::resolve(&args, "svc").unwrap_err().to_string();
        assert!(err.contains("trace_buffer"), "{err}");

        let args = BridgeArgs {
            service: Some("has space".into()),
            ..Default::default()
        };
        assert!(BridgeConfig::resolve(&args, "svc").is_err());
    }

    #[test]
    fn password_never_shows_in_debug_output() {
        let mut config = BridgeConfig::new("svc");
        config.amqp_url = "amqp://alice:s3cret@broker:5672/prod".into();
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("alice:***@broker:5672/prod"), "{shown}");
    }
}
