//! The templates: `base.toml` and one overlay per environment (`dev.toml`, `qa.toml`, ...), read,
//! checked for their shape and for secrets, merged, and cut down to one service's settings.
//!
//! A template has three kinds of table, all optional:
//!
//! ```toml
//! [bridge]                    # keys of the bridge's --config file, for every service
//! [env]                       # environment variables, for every service
//! [services.<name>.bridge]    # bridge keys for one service
//! [services.<name>.env]       # environment variables for one service
//! ```
//!
//! The overlay is deep-merged over the base (tables merge, values and arrays replace). A service's
//! settings are then `bridge` with `services.<name>.bridge` over it (and `env` likewise): the more
//! specific section wins, and within one section the overlay wins.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use toml::{Table, Value};

use super::placeholders;
use super::secrets;

/// The file every environment starts from.
pub const BASE: &str = "base.toml";

/// The sections a template may hold, at the top and under `services.<name>`.
const SECTIONS: [&str; 2] = ["bridge", "env"];

/// Bridge keys a template may not set, and why.
const NOT_IN_TEMPLATES: [(&str, &str); 2] = [
    (
        "service",
        "the renderer sets it from --service; leave it out of the templates",
    ),
    (
        "instance",
        "every process needs an id of its own (a fresh UUID when not given); leave it out",
    ),
];

/// Where a setting came from: the file and its full key, e.g.
/// `deploy/config/prod.toml: services.dashcam.env.INSTADASH_DASHCAM_WORKERS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: PathBuf,
    pub key: String,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.key)
    }
}

/// One rendered setting: a bridge key or an environment variable.
#[derive(Debug, Clone)]
pub struct Setting {
    pub name: String,
    pub value: Value,
    pub origin: Origin,
}

/// Everything one service gets in one environment, placeholders substituted, sorted by name.
#[derive(Debug)]
pub struct ServiceSettings {
    pub environment: String,
    pub service: String,
    /// The files read, base first.
    pub files: Vec<PathBuf>,
    pub bridge: Vec<Setting>,
    pub env: Vec<Setting>,
}

/// The environments `dir` defines: every `<name>.toml` but the base, sorted.
pub fn environments(dir: &Path) -> anyhow::Result<Vec<String>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the template directory {}", dir.display()))?;
    let mut names = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let is_toml = path.extension().is_some_and(|e| e == "toml");
        if let (true, Some(stem)) = (is_toml, path.file_stem().and_then(|s| s.to_str()))
            && path.file_name().is_some_and(|n| n != BASE)
        {
            names.push(stem.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Reads `dir/base.toml` and `dir/<environment>.toml` and returns `service`'s settings.
/// `services` are the names a template may have sections for.
pub fn load(
    dir: &Path,
    environment: &str,
    service: &str,
    services: &[String],
) -> anyhow::Result<ServiceSettings> {
    if !services.iter().any(|s| s == service) {
        bail!(
            "unknown service `{service}`; the services are: {}",
            services.join(", ")
        );
    }
    let known = environments(dir)?;
    // The name becomes a file name: only the names listed in the directory are accepted.
    if !known.iter().any(|e| e == environment) {
        bail!(
            "unknown environment `{environment}`: there is no {environment}.toml in {}; the \
             environments are: {}",
            dir.display(),
            if known.is_empty() {
                "(none)".to_owned()
            } else {
                known.join(", ")
            }
        );
    }
    let files = vec![dir.join(BASE), dir.join(format!("{environment}.toml"))];
    let mut merged = Merged::default();
    for file in &files {
        let table = read(file)?;
        check_shape(file, &table, services)?;
        secrets::check(file, &table)?;
        merged.merge(file, table)?;
    }
    let vars = placeholders::Vars {
        service,
        environment,
    };
    Ok(ServiceSettings {
        environment: environment.to_owned(),
        service: service.to_owned(),
        bridge: merged.section(service, "bridge", &vars)?,
        env: merged.section(service, "env", &vars)?,
        files,
    })
}

fn read(file: &Path) -> anyhow::Result<Table> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the template {}", file.display()))?;
    text.parse::<Table>()
        .map_err(|e| anyhow::anyhow!("{} is not valid TOML: {e}", file.display()))
}

/// Refuses tables a template does not have, so a misspelt section fails instead of being ignored.
fn check_shape(file: &Path, table: &Table, services: &[String]) -> anyhow::Result<()> {
    let file = file.display();
    let expected = "a template holds [bridge], [env], [services.<name>.bridge] and \
                    [services.<name>.env]";
    for (key, value) in table {
        match key.as_str() {
            "services" => {
                let Value::Table(by_service) = value else {
                    bail!("{file}: `services` must be a table; {expected}");
                };
                for (name, sections) in by_service {
                    if !services.contains(name) {
                        bail!(
                            "{file}: unknown service `services.{name}`; the services are: {}",
                            services.join(", ")
                        );
                    }
                    let Value::Table(sections) = sections else {
                        bail!("{file}: `services.{name}` must be a table; {expected}");
                    };
                    for (section, value) in sections {
                        check_section(&file, &format!("services.{name}.{section}"), value)?;
                    }
                }
            }
            _ => check_section(&file, key, value)?,
        }
    }
    Ok(())
}

fn check_section(file: &dyn fmt::Display, path: &str, value: &Value) -> anyhow::Result<()> {
    let section = path.rsplit('.').next().unwrap_or(path);
    if !SECTIONS.contains(&section) {
        bail!(
            "{file}: unknown section `{path}`; a template holds [bridge], [env], \
             [services.<name>.bridge] and [services.<name>.env]"
        );
    }
    let Value::Table(table) = value else {
        bail!("{file}: `{path}` must be a table");
    };
    if section == "bridge" {
        for (key, why) in NOT_IN_TEMPLATES {
            if table.contains_key(key) {
                bail!("{file}: {path}.{key}: {why}");
            }
        }
    }
    Ok(())
}

/// The templates merged so far, and which file set each key (dotted path) last.
#[derive(Debug, Default)]
pub struct Merged {
    pub table: Table,
    origins: HashMap<String, PathBuf>,
}

impl Merged {
    /// Deep-merges `table` (read from `file`) over what is there: tables merge key by key,
    /// everything else (values and arrays) replaces.
    pub fn merge(&mut self, file: &Path, table: Table) -> anyhow::Result<()> {
        merge_into(&mut self.table, table, file, "", &mut self.origins)
    }

    /// The file that set the value at the dotted `path`.
    pub fn origin(&self, path: &str) -> Option<&Path> {
        self.origins.get(path).map(PathBuf::as_path)
    }

    /// `section` ("bridge" or "env") for `service`: the shared table with the service's own
    /// over it, placeholders substituted.
    fn section(
        &self,
        service: &str,
        section: &str,
        vars: &placeholders::Vars<'_>,
    ) -> anyhow::Result<Vec<Setting>> {
        let mut settings = BTreeMap::new();
        for path in [section.to_owned(), format!("services.{service}.{section}")] {
            let Some(table) = lookup(&self.table, &path) else {
                continue;
            };
            for (name, value) in table {
                let key = format!("{path}.{name}");
                let origin = Origin {
                    file: self.origin(&key).map(Path::to_owned).unwrap_or_default(),
                    key,
                };
                let value = placeholders::substitute(value, vars)
                    .map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
                settings.insert(
                    name.clone(),
                    Setting {
                        name: name.clone(),
                        value,
                        origin,
                    },
                );
            }
        }
        Ok(settings.into_values().collect())
    }
}

fn lookup<'a>(table: &'a Table, path: &str) -> Option<&'a Table> {
    path.split('.')
        .try_fold(table, |table, key| table.get(key)?.as_table())
}

fn merge_into(
    into: &mut Table,
    from: Table,
    file: &Path,
    prefix: &str,
    origins: &mut HashMap<String, PathBuf>,
) -> anyhow::Result<()> {
    for (key, value) in from {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match (into.get_mut(&key), value) {
            (Some(Value::Table(existing)), Value::Table(table)) => {
                merge_into(existing, table, file, &path, origins)?;
            }
            // A table replaced by a value (or the reverse) is almost always a mistake in the
            // overlay, and would silently drop every key of the table.
            (Some(existing), value) if existing.is_table() != value.is_table() => bail!(
                "{}: `{path}` is a {} here but a {} in the file before; an overlay replaces a \
                 value with a value and merges a table into a table",
                file.display(),
                kind(&value),
                kind(existing),
            ),
            (_, value) => {
                record_origins(&path, &value, file, origins);
                into.insert(key, value);
            }
        }
    }
    Ok(())
}

fn kind(value: &Value) -> &'static str {
    if value.is_table() { "table" } else { "value" }
}

fn record_origins(path: &str, value: &Value, file: &Path, origins: &mut HashMap<String, PathBuf>) {
    origins.insert(path.to_owned(), file.to_owned());
    if let Value::Table(table) = value {
        for (key, value) in table {
            record_origins(&format!("{path}.{key}"), value, file, origins);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        text.parse().expect("valid TOML")
    }

    fn merged(base: &str, overlay: &str) -> anyhow::Result<Merged> {
        let mut merged = Merged::default();
        merged.merge(Path::new("base.toml"), table(base))?;
        merged.merge(Path::new("prod.toml"), table(overlay))?;
        Ok(merged)
    }

    #[test]
    fn tables_merge_and_values_and_arrays_replace() {
        let merged = merged(
            "[bridge]\nprefetch = 300\nconfirm_window = 256\nlist = [1, 2]\n\
             [services.dashcam.env]\nA = 1\nB = 2\n",
            "[bridge]\nprefetch = 500\nlist = [3]\n[services.dashcam.env]\nB = 3\n",
        )
        .unwrap();
        assert_eq!(
            merged.table,
            table(
                "[bridge]\nprefetch = 500\nconfirm_window = 256\nlist = [3]\n\
                 [services.dashcam.env]\nA = 1\nB = 3\n"
            )
        );
        assert_eq!(
            merged.origin("bridge.prefetch"),
            Some(Path::new("prod.toml"))
        );
        assert_eq!(
            merged.origin("bridge.confirm_window"),
            Some(Path::new("base.toml"))
        );
        assert_eq!(
            merged.origin("services.dashcam.env.A"),
            Some(Path::new("base.toml"))
        );
        assert_eq!(
            merged.origin("services.dashcam.env.B"),
            Some(Path::new("prod.toml"))
        );
    }

    #[test]
    fn a_table_replaced_by_a_value_is_an_error_naming_the_overlay() {
        let error = merged("[bridge]\nprefetch = 1\n", "bridge = 3\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("prod.toml") && error.contains("`bridge`"),
            "{error}"
        );
        let error = merged("[env]\nA = 1\n", "[env.A]\nB = 1\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("`env.A`"), "{error}");
    }

    #[test]
    fn the_service_section_wins_over_the_shared_one_in_either_file() {
        let merged = merged(
            "[bridge]\nprefetch = 300\nconfirm_window = 1\n\
             [services.dashcam.bridge]\nprefetch = 8\n",
            "[bridge]\nprefetch = 500\nconfirm_window = 2\n",
        )
        .unwrap();
        let vars = placeholders::Vars {
            service: "dashcam",
            environment: "prod",
        };
        let bridge = merged.section("dashcam", "bridge", &vars).unwrap();
        let get = |name: &str| bridge.iter().find(|s| s.name == name).unwrap();
        assert_eq!(get("prefetch").value, Value::Integer(8));
        assert_eq!(
            get("prefetch").origin.key,
            "services.dashcam.bridge.prefetch"
        );
        assert_eq!(get("confirm_window").value, Value::Integer(2));
        assert_eq!(get("confirm_window").origin.file, Path::new("prod.toml"));
        let tracker = merged.section("tracker", "bridge", &vars).unwrap();
        assert_eq!(tracker[1].name, "prefetch");
        assert_eq!(tracker[1].value, Value::Integer(500));
    }

    #[test]
    fn shapes_that_are_not_templates_are_refused() {
        let services = ["tracker".to_owned()];
        let check = |text: &str| check_shape(Path::new("qa.toml"), &table(text), &services);
        assert!(check("[bridge]\nprefetch = 1\n[services.tracker.env]\nA = 1\n").is_ok());
        let error = check("[brigde]\nprefetch = 1\n").unwrap_err().to_string();
        assert!(
            error.contains("qa.toml") && error.contains("brigde"),
            "{error}"
        );
        let error = check("[services.trackr.env]\nA = 1\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("trackr") && error.contains("tracker"),
            "{error}"
        );
        let error = check("[services.tracker.bridge]\nservice = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("services.tracker.bridge.service"), "{error}");
        assert!(check("[bridge]\ninstance = \"x\"\n").is_err());
    }
}
