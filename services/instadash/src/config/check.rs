//! Rendered settings are checked by the code that will read them, so a mistake fails at render time
//! naming the template that holds it, not when a container starts:
//!
//! - bridge keys go through [`BridgeConfig::resolve`], the bridge's own loading of its `--config`
//!   file (unknown keys, types, and the checks between settings);
//! - environment variables go through the service's own command line (`instadash run <service>`):
//!   the name must be one it reads, and the value must parse as its flag would.

use std::collections::BTreeMap;
use std::ffi::OsString;

use anyhow::{Context, bail};
use broker_bridge::{BridgeArgs, BridgeConfig, ConfigError};
use clap::{Arg, ArgAction, Args, Command, CommandFactory};
use toml::{Table, Value};

use super::template::{ServiceSettings, Setting};

/// Environment variables a service reads that are not clap flags.
const PLAIN_ENV: [&str; 1] = ["RUST_LOG"];

/// The bridge's settings as environment variables: file key (`amqp_url`) → variable (`AMQP_URL`).
/// Read from the bridge's own clap definition, so the two cannot drift apart.
pub fn bridge_env_names() -> BTreeMap<String, String> {
    BridgeArgs::augment_args(Command::new("bridge"))
        .get_arguments()
        .filter_map(|arg| {
            let key = arg.get_long()?.replace('-', "_");
            let env = arg.get_env()?.to_str()?.to_owned();
            Some((key, env))
        })
        .collect()
}

/// Checks the bridge settings as the bridge itself would load them.
///
/// The password file is swapped for a placeholder file while checking: the real one is mounted
/// only where the service runs, and reading it here would put a secret in this process for
/// nothing. Everything else about the key (its name, its type, that the URL names a user for
/// the password) is still checked.
pub fn bridge(settings: &ServiceSettings) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("cannot make a temporary directory")?;
    let placeholder = dir.path().join("password");
    std::fs::write(&placeholder, "placeholder\n").context("cannot write a placeholder")?;
    let file = dir.path().join("bridge.toml");
    let service = settings.service.as_str();
    let resolve = |settings: &[&Setting]| -> anyhow::Result<Result<BridgeConfig, ConfigError>> {
        let mut table = Table::new();
        table.insert("service".into(), Value::String(service.to_owned()));
        for setting in settings {
            let value = match (&*setting.name, &setting.value) {
                ("amqp_password_file", Value::String(_)) => {
                    Value::String(placeholder.display().to_string())
                }
                (_, value) => value.clone(),
            };
            table.insert(setting.name.clone(), value);
        }
        std::fs::write(&file, toml::to_string(&table)?).context("cannot write a temporary file")?;
        let args = BridgeArgs {
            config: Some(file.clone()),
            ..BridgeArgs::default()
        };
        Ok(BridgeConfig::resolve(&args, service))
    };
    // One key at a time first: an unknown key or a value of the wrong type is then pinned on the
    // file that set it. Errors between settings (TLS without amqps://) wait for the whole.
    for setting in &settings.bridge {
        if let Err(ConfigError::Parse { source, .. }) = resolve(&[setting])? {
            bail!(
                "{}: the bridge does not accept this setting: {}",
                setting.origin,
                source.message()
            );
        }
    }
    let all: Vec<&Setting> = settings.bridge.iter().collect();
    match resolve(&all)? {
        Ok(_) => Ok(()),
        Err(ConfigError::Invalid { field, reason }) => {
            let keys = checked_together(field);
            let from: Vec<String> = settings
                .bridge
                .iter()
                .filter(|s| keys.contains(&s.name.as_str()))
                .map(|s| s.origin.to_string())
                .collect();
            let from = if from.is_empty() {
                String::new()
            } else {
                format!(" (set in {})", from.join("; "))
            };
            bail!("the bridge refuses `{field}`{from}: {reason}")
        }
        Err(other) => bail!("the bridge refuses the rendered settings: {other}"),
    }
}

/// The keys behind one of the bridge's checks between settings (`BridgeConfig::validate`), so an
/// error names every template line that took part, e.g. a TLS file set in an overlay over a base
/// URL that is not amqps://.
fn checked_together(field: &str) -> Vec<&str> {
    match field {
        "reconnect" => vec!["reconnect_min_ms", "reconnect_max_ms"],
        "amqp_url" => vec!["amqp_url", "tls_ca_file", "tls_cert_file"],
        "tls_cert_file" => vec!["tls_cert_file", "tls_key_file"],
        "amqp_password_file" => vec!["amqp_password_file", "amqp_url"],
        field => vec![field],
    }
}

/// Checks every environment variable against the command line of `instadash run <service>`.
pub fn service_env(settings: &ServiceSettings) -> anyhow::Result<()> {
    let command = run_command(&settings.service)?;
    let by_env: BTreeMap<String, Arg> = command
        .get_arguments()
        .filter_map(|arg| Some((arg.get_env()?.to_str()?.to_owned(), arg.clone())))
        .collect();
    let bridge: BTreeMap<String, String> = bridge_env_names()
        .into_iter()
        .map(|(key, env)| (env, key))
        .collect();
    // The environment of this process must not decide whether a template is valid.
    let command = command.mut_args(|arg| arg.env(None::<&str>));
    for setting in &settings.env {
        let name = &setting.name;
        let origin = &setting.origin;
        if let Some(key) = bridge.get(name) {
            if key == "config" {
                bail!(
                    "{origin}: the deployment points {name} at the rendered file; not a template setting"
                );
            }
            bail!("{origin}: {name} is a bridge setting: write `{key}` in a [bridge] table");
        }
        let value = env_value(setting)?;
        if name == "RUST_LOG" {
            tracing_subscriber::EnvFilter::try_new(&value)
                .map_err(|e| anyhow::anyhow!("{origin}: not a log filter: {e}"))?;
            continue;
        }
        let Some(arg) = by_env.get(name) else {
            let mut known: Vec<&str> = by_env
                .keys()
                .map(String::as_str)
                .filter(|env| !bridge.contains_key(*env))
                .chain(PLAIN_ENV)
                .collect();
            known.sort_unstable();
            bail!(
                "{origin}: `instadash run {}` reads no {name}; it reads: {}",
                settings.service,
                known.join(", ")
            );
        };
        check_value(&command, arg, &value).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
    }
    Ok(())
}

/// The value of an environment variable as text: strings as written, numbers and booleans as TOML
/// writes them.
pub fn env_value(setting: &Setting) -> anyhow::Result<String> {
    let text = match &setting.value {
        Value::String(text) => text.clone(),
        Value::Integer(n) => n.to_string(),
        Value::Float(x) => x.to_string(),
        Value::Boolean(b) => b.to_string(),
        _ => bail!(
            "{}: an environment variable is a string, a number or a boolean",
            setting.origin
        ),
    };
    // One line per variable in an env file; a newline would start a new variable.
    if text.contains(['\n', '\r', '\0']) {
        bail!(
            "{}: an environment variable cannot hold a line break",
            setting.origin
        );
    }
    Ok(text)
}

/// Parses `value` as `arg`'s flag, as clap would parse the variable.
fn check_value(command: &Command, arg: &Arg, value: &str) -> anyhow::Result<()> {
    let Some(long) = arg.get_long() else {
        bail!("not a setting that can be given (no flag)");
    };
    let mut argv: Vec<OsString> = vec![command.get_name().into()];
    match arg.get_action() {
        // A flag's variable is parsed as a bool: exactly `true` or `false`.
        ArgAction::SetTrue | ArgAction::SetFalse => match value {
            "true" => argv.push(format!("--{long}").into()),
            "false" => {}
            other => bail!("--{long} takes true or false, not {other:?}"),
        },
        _ => argv.push(format!("--{long}={value}").into()),
    }
    command
        .clone()
        .try_get_matches_from(argv)
        .map(drop)
        .map_err(|e| {
            // clap's own words (with the possible values), less its advice to try --help.
            let text = e.render().to_string();
            let words: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with("For more information"))
                .collect();
            anyhow::anyhow!("{}", words.join(" ").trim_start_matches("error: "))
        })
}

/// `instadash run <service>` as a command of its own, with the global flags of `instadash`
/// (`--log-json`) and of `run` (`--health-listen`), which clap hands down only when it parses.
fn run_command(service: &str) -> anyhow::Result<Command> {
    let root = crate::Cli::command();
    let run = root
        .find_subcommand("run")
        .context("`instadash` has no `run` command")?;
    let mut command = run
        .find_subcommand(service)
        .with_context(|| format!("`instadash run` has no service `{service}`"))?
        .clone();
    let globals = root.get_arguments().chain(run.get_arguments());
    for global in globals.filter(|arg| arg.is_global_set()) {
        command = command.arg(global.clone());
    }
    Ok(command)
}
