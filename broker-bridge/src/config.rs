//! How a service reaches the broker: flags, then environment, then an optional file, then defaults.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
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
    /// File holding the broker password of the user in the URL (e.g. a mounted secret); it
    /// replaces any password in the URL. Trailing whitespace is ignored.
    #[arg(long, env = "AMQP_PASSWORD_FILE")]
    pub amqp_password_file: Option<PathBuf>,
    /// PEM file of the CA certificate(s) that sign the broker's certificate (amqps:// only).
    #[arg(long, env = "INSTADASH_TLS_CA_FILE")]
    pub tls_ca_file: Option<PathBuf>,
    /// PEM file of this service's client certificate chain, for brokers that require client
    /// certificates (amqps:// only; needs --tls-key-file).
    #[arg(long, env = "INSTADASH_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM file of the private key of --tls-cert-file (PKCS#8, PKCS#1 or SEC1, unencrypted).
    #[arg(long, env = "INSTADASH_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,
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
    amqp_password_file: Option<PathBuf>,
    tls_ca_file: Option<PathBuf>,
    tls_cert_file: Option<PathBuf>,
    tls_key_file: Option<PathBuf>,
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
    /// The broker URL, with the password from [`amqp_password_file`](Self::amqp_password_file)
    /// already in it when one was given. Never log it: use [`redacted_url`](Self::redacted_url).
    pub amqp_url: String,
    /// Where the password in `amqp_url` came from, if from a file; read by
    /// [`resolve`](Self::resolve), kept only to say so.
    pub amqp_password_file: Option<PathBuf>,
    /// CA certificates (PEM) trusted for the broker's certificate, on top of the system's roots.
    pub tls_ca_file: Option<PathBuf>,
    /// The client certificate chain (PEM) presented to a broker that asks for one.
    pub tls_cert_file: Option<PathBuf>,
    /// The private key (PEM) of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
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
    /// How many recent event ids each consumer is sure to remember (up to twice as many) to drop
    /// redelivered duplicates.
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
            amqp_password_file: None,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
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
            dedup_window: 50_000,
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
        config.tls_ca_file = args.tls_ca_file.clone().or(file.tls_ca_file);
        config.tls_cert_file = args.tls_cert_file.clone().or(file.tls_cert_file);
        config.tls_key_file = args.tls_key_file.clone().or(file.tls_key_file);
        if let Some(path) = args.amqp_password_file.clone().or(file.amqp_password_file) {
            let password = read_password_file(&path)?;
            config.amqp_url = with_password(&config.amqp_url, &password)?;
            config.amqp_password_file = Some(path);
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
        let Ok(uri) = self.amqp_url.parse::<lapin::uri::AMQPUri>() else {
            return invalid("amqp_url", "not an amqp:// or amqps:// URL");
        };
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return invalid(
                "tls_cert_file",
                "a client certificate needs its key: give tls_cert_file and tls_key_file together",
            );
        }
        let tls_files = self.tls_ca_file.is_some() || self.tls_cert_file.is_some();
        if tls_files && uri.scheme != lapin::uri::AMQPScheme::AMQPS {
            return invalid("amqp_url", "TLS files need an amqps:// URL");
        }
        Ok(())
    }

    /// Reads and checks the TLS files, once per bridge; `None` without any. The files are named
    /// in errors, their contents never.
    pub(crate) fn tls_files(&self) -> Result<Option<TlsMaterial>, ConfigError> {
        let ca_pem = match &self.tls_ca_file {
            Some(path) => {
                let pem = read_tls_file(path)?;
                count_certificates(path, &pem)?;
                Some(String::from_utf8(pem).map_err(|_| tls_error(path, "not a PEM text file"))?)
            }
            None => None,
        };
        let client = match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(cert_path), Some(key_path)) => {
                let chain_pem = read_tls_file(cert_path)?;
                count_certificates(cert_path, &chain_pem)?;
                let key_pem = read_tls_file(key_path)?;
                // The error's text never carries key material, only what was missing or malformed.
                PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
                    tls_error(
                        key_path,
                        &format!("no usable private key (PKCS#8, PKCS#1 or SEC1 PEM): {e}"),
                    )
                })?;
                Some(ClientIdentity { chain_pem, key_pem })
            }
            _ => None,
        };
        Ok((ca_pem.is_some() || client.is_some()).then_some(TlsMaterial { ca_pem, client }))
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

/// What the TLS files hold, checked; the link turns it into lapin's TLS settings.
pub(crate) struct TlsMaterial {
    /// Extra CA certificates, PEM.
    pub(crate) ca_pem: Option<String>,
    pub(crate) client: Option<ClientIdentity>,
}

/// A client certificate chain and its private key, both PEM. Deliberately not `Debug`.
pub(crate) struct ClientIdentity {
    pub(crate) chain_pem: Vec<u8>,
    pub(crate) key_pem: Vec<u8>,
}

fn tls_error(path: &Path, reason: &str) -> ConfigError {
    ConfigError::File {
        what: "TLS file",
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

fn read_tls_file(path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| tls_error(path, &e.to_string()))
}

/// Fails unless `pem` holds at least one well-formed certificate.
fn count_certificates(path: &Path, pem: &[u8]) -> Result<usize, ConfigError> {
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        cert.map_err(|e| tls_error(path, &format!("malformed PEM: {e}")))?;
        count += 1;
    }
    if count == 0 {
        return Err(tls_error(path, "no CERTIFICATE block in it"));
    }
    Ok(count)
}

/// The password in a secret file: the whole file, less trailing whitespace (editors and
/// `echo` add a newline). The error names the file and never shows what is in it.
fn read_password_file(path: &Path) -> Result<String, ConfigError> {
    let error = |reason: &str| ConfigError::File {
        what: "password file",
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let bytes = std::fs::read(path).map_err(|e| error(&e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|_| error("not UTF-8 text"))?;
    let password = text.trim_end();
    if password.is_empty() {
        return Err(error("it is empty"));
    }
    Ok(password.to_owned())
}

/// `url` with its password replaced by `password` (percent-encoded, so any character is safe).
/// The URL must name the user the password belongs to.
fn with_password(url: &str, password: &str) -> Result<String, ConfigError> {
    let invalid = |reason: &str| ConfigError::Invalid {
        field: "amqp_password_file",
        reason: reason.to_owned(),
    };
    let parts =
        split_url(url).ok_or_else(|| invalid("amqp_url is not an amqp:// or amqps:// URL"))?;
    let user = parts.user();
    if user.is_empty() {
        return Err(invalid(
            "amqp_url names no user for the password (amqp://USER@host/vhost)",
        ));
    }
    Ok(format!(
        "{}://{user}:{}@{}{}",
        parts.scheme,
        percent_encode(password),
        parts.host,
        parts.rest
    ))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Service names end up in queue names and routing keys; keep them to safe characters.
pub(crate) fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

fn redact_url(url: &str) -> String {
    match split_url(url) {
        Some(parts) if parts.userinfo.is_some() => {
            let user = parts.user();
            format!("{}://{user}:***@{}{}", parts.scheme, parts.host, parts.rest)
        }
        _ => url.to_owned(),
    }
}

/// A URL cut where a password can hide: `scheme://[userinfo@]host[rest]`.
struct UrlParts<'a> {
    scheme: &'a str,
    userinfo: Option<&'a str>,
    host: &'a str,
    /// The path, query and fragment.
    rest: &'a str,
}

impl UrlParts<'_> {
    fn user(&self) -> &str {
        self.userinfo
            .and_then(|u| u.split(':').next())
            .unwrap_or_default()
    }
}

fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let (scheme, after) = url.split_once("://")?;
    let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(authority_end);
    // The userinfo ends at the last '@' of the authority: a password with a raw '@' in it must
    // not leak its tail into a log line.
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((userinfo, host)) => (Some(userinfo), host),
        None => (None, authority),
    };
    Some(UrlParts {
        scheme,
        userinfo,
        host,
        rest,
    })
}

impl std::fmt::Debug for BridgeConfig {
    // Written by hand so the broker password never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeConfig")
            .field("amqp_url", &self.redacted_url())
            .field("amqp_password_file", &self.amqp_password_file)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_cert_file", &self.tls_cert_file)
            .field("tls_key_file", &self.tls_key_file)
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

    fn write_file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn the_password_file_replaces_the_url_password_and_never_shows() {
        let dir = tempfile::tempdir().expect("temp dir");
        let secret = "p@ss:w/rd%?#é";
        let from_flag = write_file(&dir, "flag-secret", &format!("{secret}\n"));
        let from_file = write_file(&dir, "file-secret", "not-this-one");
        let config_file = write_file(
            &dir,
            "bridge.toml",
            &format!(
                "amqp_url = \"amqps://svc:old@broker:5671/prod?heartbeat=5\"\n\
                 amqp_password_file = {:?}\n",
                from_file.display().to_string()
            ),
        );
        let args = BridgeArgs {
            config: Some(config_file.clone()),
            amqp_password_file: Some(from_flag.clone()),
            ..Default::default()
        };
        let config = BridgeConfig::resolve(&args, "svc").expect("valid");
        assert_eq!(
            config.amqp_password_file.as_deref(),
            Some(from_flag.as_path())
        );
        let uri: lapin::uri::AMQPUri = config.amqp_url.parse().expect("a valid URL");
        assert_eq!(uri.authority.userinfo.username, "svc");
        assert_eq!(
            uri.authority.userinfo.password, secret,
            "flag wins, newline trimmed"
        );
        assert_eq!(uri.authority.host, "broker");
        assert_eq!(uri.vhost, "prod");
        assert_eq!(uri.query.heartbeat, Some(5));
        let shown = format!("{config:?}");
        for part in [secret, "p@ss", "w/rd", "%40ss", "old"] {
            assert!(!shown.contains(part), "{part:?} in {shown}");
        }
        assert!(
            shown.contains("amqps://svc:***@broker:5671/prod"),
            "{shown}"
        );

        // Without the flag, the file's key is used.
        let args = BridgeArgs {
            config: Some(config_file),
            ..Default::default()
        };
        let config = BridgeConfig::resolve(&args, "svc").expect("valid");
        let uri: lapin::uri::AMQPUri = config.amqp_url.parse().expect("a valid URL");
        assert_eq!(uri.authority.userinfo.password, "not-this-one");
    }

    #[test]
    fn unusable_password_files_are_clear_errors_without_the_content() {
        let dir = tempfile::tempdir().expect("temp dir");
        let resolve = |url: &str, path: PathBuf| {
            let args = BridgeArgs {
                amqp_url: Some(url.into()),
                amqp_password_file: Some(path),
                ..Default::default()
            };
            BridgeConfig::resolve(&args, "svc")
                .expect_err("must fail")
                .to_string()
        };
        let missing = dir.path().join("no-such-secret");
        let err = resolve("amqp://svc@broker/%2f", missing.clone());
        assert!(
            err.contains("password file") && err.contains(&missing.display().to_string()),
            "{err}"
        );

        let empty = write_file(&dir, "empty", " \n");
        let err = resolve("amqp://svc@broker/%2f", empty.clone());
        assert!(
            err.contains(&empty.display().to_string()) && err.contains("empty"),
            "{err}"
        );

        let secret = write_file(&dir, "secret", "hunter2\n");
        let err = resolve("amqp://broker/%2f", secret);
        assert!(
            err.contains("amqp_password_file") && err.contains("no user"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn tls_settings_layer_and_are_checked_against_the_url() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_file = write_file(
            &dir,
            "bridge.toml",
            "amqp_url = \"amqps://svc:pw@broker:5671/%2f\"\n\
             tls_ca_file = \"/file/ca.pem\"\n\
             tls_cert_file = \"/file/cert.pem\"\n\
             tls_key_file = \"/file/key.pem\"\n",
        );
        let args = BridgeArgs {
            config: Some(config_file.clone()),
            tls_ca_file: Some("/flag/ca.pem".into()),
            ..Default::default()
        };
        let config = BridgeConfig::resolve(&args, "svc").expect("valid");
        assert_eq!(config.tls_ca_file, Some("/flag/ca.pem".into()), "flag wins");
        assert_eq!(
            config.tls_cert_file,
            Some("/file/cert.pem".into()),
            "file wins"
        );
        assert_eq!(config.tls_key_file, Some("/file/key.pem".into()));
        assert_eq!(BridgeConfig::new("svc").tls_ca_file, None, "default: none");

        let args = BridgeArgs {
            amqp_url: Some("amqp://svc:pw@broker:5672/%2f".into()),
            ..args
        };
        let err = BridgeConfig::resolve(&args, "svc").unwrap_err().to_string();
        assert!(err.contains("TLS files need an amqps:// URL"), "{err}");

        let args = BridgeArgs {
            amqp_url: Some("amqps://broker".into()),
            tls_cert_file: Some("/flag/cert.pem".into()),
            ..Default::default()
        };
        let err = BridgeConfig::resolve(&args, "svc").unwrap_err().to_string();
        assert!(
            err.contains("tls_cert_file") && err.contains("tls_key_file"),
            "{err}"
        );
        let args = BridgeArgs {
            tls_cert_file: None,
            tls_key_file: Some("/flag/key.pem".into()),
            ..args
        };
        let err = BridgeConfig::resolve(&args, "svc").unwrap_err().to_string();
        assert!(
            err.contains("tls_cert_file") && err.contains("tls_key_file"),
            "{err}"
        );
    }

    #[test]
    fn tls_files_are_read_and_checked_naming_the_file_not_its_content() {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let cert_pem = write_file(&dir, "cert.pem", &cert.pem());
        let key_pem = write_file(&dir, "key.pem", &key.serialize_pem());
        let mut config = BridgeConfig::new("svc");
        config.amqp_url = "amqps://svc:pw@broker/%2f".into();
        config.tls_ca_file = Some(cert_pem.clone());
        config.tls_cert_file = Some(cert_pem.clone());
        config.tls_key_file = Some(key_pem.clone());
        let material = config
            .tls_files()
            .expect("valid files")
            .expect("TLS settings");
        assert!(
            material
                .ca_pem
                .is_some_and(|pem| pem.contains("BEGIN CERTIFICATE"))
        );
        let client = material.client.expect("a client identity");
        assert_eq!(client.key_pem, key.serialize_pem().into_bytes());

        let error = |config: &BridgeConfig| match config.tls_files() {
            Err(err) => err.to_string(),
            Ok(_) => panic!("must fail"),
        };
        // A key where the certificate should be: no certificate, and no key text in the error.
        let mut wrong = config.clone();
        wrong.tls_cert_file = Some(key_pem.clone());
        let err = error(&wrong);
        assert!(
            err.contains(&key_pem.display().to_string()) && err.contains("no CERTIFICATE"),
            "{err}"
        );
        assert!(!err.contains("PRIVATE KEY"), "{err}");

        let mut wrong = config.clone();
        wrong.tls_key_file = Some(cert_pem.clone());
        let err = error(&wrong);
        assert!(
            err.contains(&cert_pem.display().to_string()) && err.contains("private key"),
            "{err}"
        );

        let mut wrong = config.clone();
        let missing = dir.path().join("missing-ca.pem");
        wrong.tls_ca_file = Some(missing.clone());
        let err = error(&wrong);
        assert!(
            err.contains("TLS file") && err.contains(&missing.display().to_string()),
            "{err}"
        );

        assert!(
            BridgeConfig::new("svc")
                .tls_files()
                .expect("no files")
                .is_none()
        );
    }

    #[test]
    fn a_raw_at_sign_in_a_url_password_does_not_leak_into_logs() {
        let mut config = BridgeConfig::new("svc");
        config.amqp_url = "amqp://alice:se@cret@broker:5672/prod".into();
        let shown = format!("{config:?}");
        assert!(!shown.contains("cret"), "{shown}");
        assert!(shown.contains("alice:***@broker:5672/prod"), "{shown}");
    }
}
