//! `instadash`: the Instadash command. Each subcommand lives in its own module; this file only
//! parses the command line, sets up logging and dispatches.

mod bench;
mod config;
mod data_dir;
mod demo;
mod deploy;
mod dlq;
mod health;
mod probe;
mod run;
mod schema;
mod services;
mod simulate;
mod top;
mod up;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "instadash",
    version,
    about = "Instadash: fleet tracking over RabbitMQ"
)]
struct Cli {
    /// Log as JSON lines (to stderr) instead of text. The level comes from RUST_LOG.
    #[arg(long, global = true, env = "INSTADASH_LOG_JSON")]
    log_json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The fleet demo: every service in one process plus the simulator, with a live summary.
    Up(Box<up::UpArgs>),
    /// Run one service alone, as a container would (`instadash run tracker`).
    Run(run::RunArgs),
    /// Run only the simulator (virtual cars) against any broker.
    Simulate(simulate::SimulateArgs),
    /// A short live demonstration of the four messaging patterns against the broker.
    Demo(demo::DemoArgs),
    /// Measure the platform (e.g. `bench broker`: raw lapin against broker-bridge).
    Bench(bench::BenchArgs),
    /// The message contract: check the schemas, generate the AsyncAPI document.
    Schema(schema::SchemaArgs),
    /// Dead-lettered messages: list them with their reasons, show them, replay them.
    Dlq(dlq::DlqArgs),
    /// Service instances on the bus: who, which version, what they offer, whether they are live.
    Services(services::ServicesArgs),
    /// Live terminal dashboard of queues, services and operator alerts (reads the monitor's API).
    Top(top::TopArgs),
    /// Deployment files from the contract: RabbitMQ definitions, Kubernetes topology resources.
    Deploy(deploy::DeployArgs),
    /// Configuration from one place: base file plus an environment's overlay, per service.
    Config(config::ConfigArgs),
    /// Ask a service's health endpoint (for container health checks; exits non-zero if not healthy).
    Probe(probe::ProbeArgs),
}

impl Command {
    /// The log filter when RUST_LOG is not set.
    fn default_log_filter(&self) -> &'static str {
        match self {
            // Quiet, so progress bars and the summary stay readable.
            Command::Bench(_)
            | Command::Demo(_)
            | Command::Schema(_)
            | Command::Dlq(_)
            | Command::Services(_)
            | Command::Deploy(_)
            | Command::Config(_)
            | Command::Probe(_)
            | Command::Up(_)
            | Command::Simulate(_) => "warn",
            // A service alone says what it does, as services in containers do.
            Command::Run(_) => "info",
            // Nothing may draw over the full-screen dashboard (RUST_LOG still overrides).
            Command::Top(_) => "off",
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    init_logging(cli.command.default_log_filter(), cli.log_json);
    match cli.command {
        Command::Up(args) => up::run(*args).await.map(|()| ExitCode::SUCCESS),
        Command::Run(args) => run::run(args).await.map(|()| ExitCode::SUCCESS),
        Command::Simulate(args) => simulate::run(args).await.map(|()| ExitCode::SUCCESS),
        Command::Bench(args) => bench::run(args).await.map(|()| ExitCode::SUCCESS),
        Command::Demo(args) => demo::run(args).await.map(|()| ExitCode::SUCCESS),
        Command::Schema(args) => schema::run(args),
        Command::Dlq(args) => dlq::run(args).await,
        Command::Services(args) => services::run(args).await.map(|()| ExitCode::SUCCESS),
        Command::Top(args) => top::run(args).await,
        Command::Deploy(args) => deploy::run(args),
        Command::Config(args) => config::run(args),
        Command::Probe(args) => probe::run(args),
    }
}

/// Logs go to stderr, so stdout carries only results (e.g. `--json` output).
fn init_logging(default_filter: &str, json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{default_filter},{}",
            broker_bridge::QUIET_LOG_DIRECTIVES
        ))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
