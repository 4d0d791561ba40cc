//! The two rendered forms: the bridge's `--config` file, and `KEY=value` lines.

use anyhow::bail;
use toml::{Table, Value};

use super::check::{bridge_env_names, env_value};
use super::template::ServiceSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The bridge's --config file (INSTADASH_CONFIG).
    Toml,
    /// KEY=value lines: the bridge's variables and the service's own.
    Env,
}

pub fn render(settings: &ServiceSettings, format: Format) -> anyhow::Result<String> {
    let files: Vec<String> = settings
        .files
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    let command = format!(
        "instadash config render --env {} --service {}{}",
        settings.environment,
        settings.service,
        if format == Format::Env {
            " --format env"
        } else {
            ""
        }
    );
    let mut out = format!(
        "# Rendered by `{command}`\n# from {}; change those, not this file.\n",
        files.join(" and ")
    );
    match format {
        Format::Toml => out.push_str(&bridge_file(settings)?),
        Format::Env => out.push_str(&env_lines(settings)?),
    }
    Ok(out)
}

/// The bridge file, `service` first.
fn bridge_file(settings: &ServiceSettings) -> anyhow::Result<String> {
    let mut service = Table::new();
    service.insert("service".into(), Value::String(settings.service.clone()));
    let rest: Table = settings
        .bridge
        .iter()
        .map(|s| (s.name.clone(), s.value.clone()))
        .collect();
    Ok(toml::to_string(&service)? + &toml::to_string(&rest)?)
}

/// `INSTADASH_SERVICE`, the bridge settings as their variables, then the service's own variables.
fn env_lines(settings: &ServiceSettings) -> anyhow::Result<String> {
    let names = bridge_env_names();
    let mut lines = vec![format!("{}={}", names["service"], settings.service)];
    let mut file_only = Vec::new();
    for setting in &settings.bridge {
        match names.get(&setting.name) {
            Some(env) => lines.push(format!("{env}={}", env_value(setting)?)),
            None => file_only.push(setting.origin.to_string()),
        }
    }
    if !file_only.is_empty() {
        bail!(
            "these bridge settings have no environment variable, only a file key: {}; render \
             --format toml for them (and point INSTADASH_CONFIG at the file)",
            file_only.join("; ")
        );
    }
    for setting in &settings.env {
        lines.push(format!("{}={}", setting.name, env_value(setting)?));
    }
    Ok(lines.join("\n") + "\n")
}
