//! `catalog.toml`: which message types exist, their versions and encodings, how they are routed,
//! and who produces and consumes them.
//!
//! The shipped catalog is embedded ([`Catalog::embedded`]); [`Catalog::load`] reads one from a
//! directory, so `check` can judge a copy being edited.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;

use crate::Encoding;

/// Exchanges and queues named by the catalog (the same names `broker-bridge` declares).
pub const EVENTS_EXCHANGE: &str = "instadash.events";
pub const SERVICES_EXCHANGE: &str = "instadash.services";
pub const WORK_EXCHANGE: &str = "instadash.work";
/// Replies go through AMQP's default exchange to the request's `reply_to` (direct reply-to).
pub const DEFAULT_EXCHANGE: &str = "";
pub const REPLY_TO_KEY: &str = "{reply_to}";
/// A request any service answers is addressed to the target by name.
pub const ANY_SERVICE_KEY: &str = "{service}";
/// In `producers` / `consumers`: every service.
pub const EVERY_SERVICE: &str = "*";

const CATALOG_FILE: &str = "catalog.toml";
const EMBEDDED: &str = include_str!("../catalog.toml");

/// What a message is for, which decides how it is routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Something happened; published to every interested subscriber group.
    Event,
    /// Do something; sent to one service's inbox, no answer.
    Command,
    /// A question to one service's inbox; answered by a `reply`.
    Request,
    /// The answer to a request, through direct reply-to.
    Reply,
    /// A unit of work for competing workers on a work queue.
    Job,
}

impl Kind {
    /// The exchange every message of this kind goes to.
    pub const fn exchange(self) -> &'static str {
        match self {
            Kind::Event => EVENTS_EXCHANGE,
            Kind::Command | Kind::Request => SERVICES_EXCHANGE,
            Kind::Job => WORK_EXCHANGE,
            Kind::Reply => DEFAULT_EXCHANGE,
        }
    }
}

/// One `[[message]]` of the catalog.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageSpec {
    /// CloudEvents type, version-free: `instadash.<domain>.<name>`.
    #[serde(rename = "type")]
    pub type_: String,
    pub kind: Kind,
    pub summary: String,
    /// Schema versions, 1, 2, ... in order.
    pub versions: Vec<u32>,
    /// Encodings offered, the wire default first.
    pub encodings: Vec<Encoding>,
    /// Name of the payload property that holds the CloudEvents subject, if any.
    pub subject: Option<String>,
    pub exchange: String,
    /// `<type>.{<subject>}` / `<type>._` for events, a service name for commands and requests, the
    /// work queue name for jobs, `{reply_to}` for replies.
    pub routing_key: String,
    /// The reply type, for requests.
    pub reply: Option<String>,
    pub producers: Vec<String>,
    pub consumers: Vec<String>,
}

impl MessageSpec {
    /// `(domain, name)` of the type.
    pub fn domain_and_name(&self) -> (&str, &str) {
        split_type(&self.type_).unwrap_or(("", ""))
    }

    /// Path of a schema file relative to the schema directory: `<domain>/<name>.v<N>.<suffix>`.
    pub fn file(&self, version: u32, encoding: Encoding) -> PathBuf {
        let (domain, name) = self.domain_and_name();
        Path::new(domain).join(format!("{name}.v{version}.{}", encoding.file_suffix()))
    }

    /// The wire default encoding.
    pub fn default_encoding(&self) -> Encoding {
        self.encodings[0]
    }

    pub fn latest_version(&self) -> u32 {
        self.versions.last().copied().unwrap_or(1)
    }

    /// The routing key of one message. For events the subject (`_` without one) replaces the
    /// `{...}` placeholder; topic-word separators and wildcards in it become `_`, so one subject
    /// is always exactly one word. `target` names the service for `{service}` requests.
    pub fn routing_key_for(&self, subject: Option<&str>, target: Option<&str>) -> String {
        match self.kind {
            Kind::Event => {
                let word = match subject {
                    Some(s) if !s.is_empty() => s.replace(['.', '*', '#'], "_"),
                    _ => "_".to_owned(),
                };
                format!("{}.{word}", self.type_)
            }
            _ if self.routing_key == ANY_SERVICE_KEY => target.unwrap_or_default().to_owned(),
            _ => self.routing_key.clone(),
        }
    }
}

/// The whole catalog.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Every service name that producers, consumers and routing keys may use.
    pub services: Vec<String>,
    #[serde(rename = "message")]
    pub messages: Vec<MessageSpec>,
}

/// Why a catalog could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("catalog.toml is not a valid catalog: {0}")]
    Parse(String),
    #[error("catalog.toml has {} problem(s):\n{}", .0.len(), list(.0))]
    Invalid(Vec<CatalogIssue>),
}

/// One inconsistency inside the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogIssue {
    /// The message type concerned, if the issue is about one.
    pub type_: Option<String>,
    pub message: String,
}

impl fmt::Display for CatalogIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.type_ {
            Some(t) => write!(f, "{t}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

fn list(issues: &[CatalogIssue]) -> String {
    issues
        .iter()
        .map(|i| format!("  - {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Catalog {
    /// The catalog shipped with this crate. It is checked by the crate's tests, so an invalid
    /// embedded catalog is a build defect, not a runtime condition.
    pub fn embedded() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG
            .get_or_init(|| Catalog::parse(EMBEDDED).expect("the embedded catalog.toml is valid"))
    }

    /// Reads and validates `<dir>/catalog.toml`.
    pub fn load(dir: &Path) -> Result<Catalog, CatalogError> {
        let path = dir.join(CATALOG_FILE);
        let text =
            std::fs::read_to_string(&path).map_err(|source| CatalogError::Read { path, source })?;
        Catalog::parse(&text)
    }

    /// Copies the schema directory `from` (the catalog and its domains' folders, nothing else)
    /// into `to`: to check a change before making it, or in tests.
    pub fn copy_dir(from: &Path, to: &Path) -> Result<(), CatalogError> {
        let catalog = Catalog::load(from)?;
        let io = |path: PathBuf| move |source| CatalogError::Read { path, source };
        std::fs::copy(from.join(CATALOG_FILE), to.join(CATALOG_FILE))
            .map_err(io(from.join(CATALOG_FILE)))?;
        let domains: BTreeSet<&str> = catalog
            .messages
            .iter()
            .map(|m| m.domain_and_name().0)
            .collect();
        for domain in domains {
            std::fs::create_dir_all(to.join(domain)).map_err(io(to.join(domain)))?;
            for entry in std::fs::read_dir(from.join(domain)).map_err(io(from.join(domain)))? {
                let path = entry.map_err(io(from.join(domain)))?.path();
                if path.is_file() {
                    let target = to.join(domain).join(path.file_name().unwrap_or_default());
                    std::fs::copy(&path, target).map_err(io(path.clone()))?;
                }
            }
        }
        Ok(())
    }

    /// Parses and validates catalog text.
    pub fn parse(text: &str) -> Result<Catalog, CatalogError> {
        let catalog: Catalog =
            toml::from_str(text).map_err(|e| CatalogError::Parse(e.to_string()))?;
        let issues = catalog.validate();
        if issues.is_empty() {
            Ok(catalog)
        } else {
            Err(CatalogError::Invalid(issues))
        }
    }

    pub fn get(&self, type_: &str) -> Option<&MessageSpec> {
        self.messages.iter().find(|m| m.type_ == type_)
    }

    /// Every rule a catalog must keep; empty if it keeps them all.
    pub fn validate(&self) -> Vec<CatalogIssue> {
        let mut issues = Vec::new();
        let mut issue = |type_: Option<&str>, message: String| {
            issues.push(CatalogIssue {
                type_: type_.map(str::to_owned),
                message,
            })
        };

        let services: BTreeSet<&str> = self.services.iter().map(String::as_str).collect();
        for s in &self.services {
            if !is_word(s) {
                issue(
                    None,
                    format!("service name `{s}` is not lowercase letters, digits and `-`"),
                );
            }
        }

        let mut seen: HashMap<&str, usize> = HashMap::new();
        for m in &self.messages {
            *seen.entry(&m.type_).or_default() += 1;
        }
        for (t, n) in &seen {
            if *n > 1 {
                issue(Some(t), format!("listed {n} times"));
            }
        }

        for m in &self.messages {
            let t = Some(m.type_.as_str());
            if !is_valid_type(&m.type_) {
                issue(t, "type must be `instadash.<domain>.<name>`: lowercase words, the name's words joined by `-`".into());
            }
            if m.summary.trim().is_empty() {
                issue(t, "summary is empty".into());
            }
            if m.versions.is_empty() || m.versions.iter().zip(1..).any(|(v, want)| *v != want) {
                issue(
                    t,
                    format!("versions must be 1, 2, ... in order, got {:?}", m.versions),
                );
            }
            let unique: BTreeSet<_> = m.encodings.iter().collect();
            if m.encodings.is_empty() || unique.len() != m.encodings.len() {
                issue(
                    t,
                    format!(
                        "encodings must be a non-empty list without repeats, got {:?}",
                        m.encodings
                    ),
                );
            }
            if let Some(subject) = &m.subject
                && !subject.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            {
                issue(
                    t,
                    format!("subject `{subject}` is not a property name (lowercase and `_`)"),
                );
            }
            if m.exchange != m.kind.exchange() {
                issue(
                    t,
                    format!(
                        "a {:?} goes to exchange `{}`, not `{}`",
                        m.kind,
                        m.kind.exchange(),
                        m.exchange
                    ),
                );
            }
            validate_routing(m, &services, &mut issue);
            match (&m.reply, m.kind) {
                (None, Kind::Request) => issue(t, "a request must name its `reply` type".into()),
                (Some(r), Kind::Request) => match self.get(r) {
                    None => issue(t, format!("reply type `{r}` is not in the catalog")),
                    Some(reply) if reply.kind != Kind::Reply => issue(
                        t,
                        format!("reply type `{r}` is a {:?}, not a reply", reply.kind),
                    ),
                    Some(_) => {}
                },
                (Some(_), _) => issue(t, "only requests have a `reply`".into()),
                (None, _) => {}
            }
            if m.kind == Kind::Reply
                && !self
                    .messages
                    .iter()
                    .any(|r| r.reply.as_deref() == Some(&m.type_))
            {
                issue(t, "no request names this reply".into());
            }
            for (role, names) in [("producers", &m.producers), ("consumers", &m.consumers)] {
                if names.is_empty() {
                    issue(t, format!("{role} is empty"));
                }
                for n in names {
                    if n != EVERY_SERVICE && !services.contains(n.as_str()) {
                        issue(
                            t,
                            format!("{role}: `{n}` is not a service listed in `services`"),
                        );
                    }
                }
            }
        }
        issues
    }
}

fn validate_routing(
    m: &MessageSpec,
    services: &BTreeSet<&str>,
    issue: &mut impl FnMut(Option<&str>, String),
) {
    let t = Some(m.type_.as_str());
    let key = &m.routing_key;
    match m.kind {
        Kind::Event => {
            let want = match &m.subject {
                Some(s) => format!("{}.{{{s}}}", m.type_),
                None => format!("{}._", m.type_),
            };
            if *key != want {
                issue(
                    t,
                    format!(
                        "an event's routing key is `<type>.<subject>`: expected `{want}`, got `{key}`"
                    ),
                );
            }
        }
        Kind::Command | Kind::Request => {
            if key != ANY_SERVICE_KEY && !services.contains(key.as_str()) {
                issue(
                    t,
                    format!(
                        "routing key `{key}` must be the target service (one of `services`) or `{ANY_SERVICE_KEY}`"
                    ),
                );
            }
            if key != ANY_SERVICE_KEY && !m.consumers.iter().all(|c| c == key) {
                issue(t, format!("consumers must be the target service `{key}`"));
            }
        }
        Kind::Reply => {
            if key != REPLY_TO_KEY {
                issue(
                    t,
                    format!("a reply's routing key is `{REPLY_TO_KEY}`, got `{key}`"),
                );
            }
        }
        Kind::Job => {
            if !is_word(key) {
                issue(
                    t,
                    format!(
                        "a job's routing key is its work queue name (lowercase, digits, `-`), got `{key}`"
                    ),
                );
            }
        }
    }
}

/// Lowercase letters, digits and single inner `-`, starting with a letter.
fn is_word(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && !s.contains("--")
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `instadash.<domain>.<name>` with exactly that many dots; see [`is_valid_type`].
pub(crate) fn split_type(type_: &str) -> Option<(&str, &str)> {
    let rest = type_.strip_prefix("instadash.")?;
    let (domain, name) = rest.split_once('.')?;
    Some((domain, name))
}

/// Whether `type_` follows the naming rule: `instadash.<domain>.<name>`, the domain one lowercase
/// word, the name lowercase words joined by `-`, no further dots (the version is not part of it).
pub fn is_valid_type(type_: &str) -> bool {
    let Some((domain, name)) = split_type(type_) else {
        return false;
    };
    !domain.is_empty()
        && domain.bytes().all(|b| b.is_ascii_lowercase())
        && !name.is_empty()
        && name
            .split('-')
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_catalog_is_valid() {
        let c = Catalog::embedded();
        let position = c.get("instadash.vehicle.position").unwrap();
        assert_eq!(position.versions, [1, 2]);
        assert_eq!(position.default_encoding(), Encoding::Avro);
        assert_eq!(
            position.file(2, Encoding::Json),
            Path::new("vehicle/position.v2.schema.json")
        );
        assert_eq!(
            position.routing_key_for(Some("car.7#"), None),
            "instadash.vehicle.position.car_7_"
        );
        let get_state = c.get("instadash.vehicle.get-state").unwrap();
        assert_eq!(get_state.routing_key_for(None, Some("tracker")), "tracker");
        let ping = c.get("instadash.platform.directory-ping").unwrap();
        assert_eq!(
            ping.routing_key_for(None, None),
            "instadash.platform.directory-ping._"
        );
    }

    #[test]
    fn type_names_are_version_free() {
        assert!(is_valid_type("instadash.vehicle.status-changed"));
        for bad in [
            "instadash.vehicle.position.v1",
            "instadash.vehicle",
            "instadash.Vehicle.x",
            "other.vehicle.x",
            "instadash.vehicle.a--b",
            "instadash.vehicle.a_b",
        ] {
            assert!(!is_valid_type(bad), "{bad}");
        }
    }

    #[test]
    fn broken_catalogs_are_explained() {
        let text = EMBEDDED
            .replace(
                "routing_key = \"tracker\"\nreply = \"instadash.vehicle.get-state-reply\"",
                "routing_key = \"tracking\"",
            )
            .replace("versions = [1, 2]", "versions = [2]");
        let err = Catalog::parse(&text).unwrap_err().to_string();
        assert!(
            err.contains(
                "instadash.vehicle.get-state: routing key `tracking` must be the target service"
            ),
            "{err}"
        );
        assert!(
            err.contains("instadash.vehicle.get-state: a request must name its `reply` type"),
            "{err}"
        );
        assert!(
            err.contains("instadash.vehicle.get-state-reply: no request names this reply"),
            "{err}"
        );
        assert!(
            err.contains(
                "instadash.vehicle.position: versions must be 1, 2, ... in order, got [2]"
            ),
            "{err}"
        );
    }
}
