//! `instadash config render`: a service's configuration from one place, the base template plus an
//! environment's overlay (`deploy/config/`; its README is the format). Templates hold references
//! to secrets, never secrets; what is rendered is checked by the code that will read it.

mod check;
mod output;
mod placeholders;
mod secrets;
mod template;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ConfigCommand {
    /// One service's configuration in one environment: the bridge's --config file (TOML) or
    /// KEY=value lines for an env file (Compose `env_file`, a Kubernetes ConfigMap).
    Render(RenderArgs),
}

#[derive(Debug, clap::Args)]
struct RenderArgs {
    /// The environment: its overlay `<dir>/<env>.toml` is merged over `<dir>/base.toml`.
    #[arg(long, env = "INSTADASH_CONFIG_ENV")]
    env: String,
    /// The service (one of the catalog's: simulator, tracker, alerts, trips, dashcam, monitor).
    #[arg(long, env = "INSTADASH_CONFIG_SERVICE")]
    service: String,
    /// The directory of the templates.
    #[arg(long, env = "INSTADASH_CONFIG_DIR", default_value = "deploy/config")]
    dir: PathBuf,
    /// `toml`: the bridge's --config file (bridge keys only); `env`: the bridge keys as their
    /// environment variables plus the service's own.
    #[arg(long, value_enum, default_value_t = output::Format::Toml)]
    format: output::Format,
    /// Write here (replaced whole, never half-written) instead of to stdout.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(args: ConfigArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ConfigCommand::Render(args) => render(&args)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn render(args: &RenderArgs) -> anyhow::Result<()> {
    let services = &instadash_schemas::Catalog::embedded().services;
    let settings = template::load(&args.dir, &args.env, &args.service, services)?;
    // Both formats are checked in full: a template is valid or not whatever is rendered from it.
    check::bridge(&settings)?;
    check::service_env(&settings)?;
    let text = output::render(&settings, args.format)?;
    match &args.out {
        Some(path) => {
            write_replacing(path, &text).with_context(|| format!("cannot write {}", path.display()))
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
            Ok(())
        }
    }
}

/// Writes through a temporary file in the same directory and a rename, so whoever reads `path`
/// sees the old file or the new one, never part of one.
fn write_replacing(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(text.as_bytes())?;
    file.as_file().sync_all()?;
    file.persist(path)?;
    Ok(())
}
