//! `instadash up`: the whole platform in one process against a local broker: every service, each
//! with its own connection as if it were its own process, plus the simulator, and a live summary
//! in the terminal.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use broker_bridge::{Bridge, BridgeArgs, BridgeConfig};
use instadash_schemas::vehicle::VehicleStatus;
use instadash_simulator::cli::SimulatorArgs;
use instadash_simulator::service::Simulator;
use instadash_tracker::cli::TrackerArgs;
use instadash_tracker::service::{FixAge, Tracker};

use crate::data_dir::DataDirArg;
use crate::simulate::ProgressLine;

#[derive(Debug, clap::Args)]
pub struct UpArgs {
    #[command(flatten)]
    bridge: BridgeArgs,
    #[command(flatten)]
    data: DataDirArg,
    #[command(flatten)]
    tracker: TrackerArgs,
    #[command(flatten)]
    simulator: SimulatorArgs,
    /// Stop after this many seconds (default: at Ctrl-C).
    #[arg(long)]
    duration_s: Option<f64>,
}

/// Run by `up` when the broker does not answer on this machine.
const SETUP_SCRIPT: &str = "deploy/setup-broker.sh";

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let base = BridgeConfig::resolve(&args.bridge, "tracker")?;
    let tracker_options = args.tracker.options(&args.data.data_dir)?;
    let prepared = args.simulator.prepare()?;
    let connect = |service: &str| {
        let mut config = base.clone();
        config.service = service.to_owned();
        Bridge::connect(config)
    };

    let tracker_bus = match connect("tracker").await {
        Ok(bridge) => bridge,
        Err(error) => {
            set_up_broker(&base, &error.to_string())?;
            connect("tracker")
                .await
                .context("connecting to the broker after setting it up")?
        }
    };
    let tracker = Tracker::start(tracker_bus, tracker_options).await?;
    let simulator_bus = connect("simulator")
        .await
        .context("connecting the simulator")?;
    let cars = prepared.model.car_count();
    let simulator = Simulator::start(simulator_bus.clone(), prepared.model, prepared.options);

    println!("instadash up: broker {}", base.redacted_url());
    println!(
        "  services: tracker (state in {})",
        args.data.data_dir.display()
    );
    println!(
        "  simulator: {cars} cars (seed {}); --seed {} repeats this run",
        prepared.seed, prepared.seed
    );
    println!(
        "  look: `instadash services` lists the instances; the RabbitMQ management UI is on http://127.0.0.1:15672"
    );
    println!(
        "  (the web dashboard comes with the monitor service; until then, the live summary below)"
    );
    println!("  Ctrl-C stops everything gracefully.");

    let deadline = args
        .duration_s
        .map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    let mut line = ProgressLine::new();
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    let signal = broker_bridge::shutdown::signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = &mut signal => break,
        }
        line.show(&simulator.progress(), &fleet_summary(&tracker));
        if simulator.is_finished() || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    let report = simulator.stop().await?;
    simulator_bus
        .shutdown()
        .await
        .context("stopping the simulator")?;
    line.finish(&report.progress);
    let summary = fleet_summary(&tracker);
    tracker.stop().await?;
    println!("instadash up: stopped; at the end {summary}");
    Ok(())
}

/// The tracker's view in a few words: vehicles by status and how fresh the fixes are.
fn fleet_summary(tracker: &Tracker) -> String {
    let counts = {
        let fleet = tracker.fleet();
        [
            VehicleStatus::Online,
            VehicleStatus::Unknown,
            VehicleStatus::Offline,
        ]
        .map(|status| {
            fleet
                .list(
                    &instadash_schemas::vehicle::list_vehicles::v1::ListVehicles {
                        statuses: Some(vec![status]),
                        limit: Some(1),
                        after: None,
                    },
                )
                .total
        })
    };
    let age = FixAge::of(&tracker.take_fix_ages());
    format!(
        "tracker: {} online, {} unknown, {} offline · fix age p50 {:.0} ms, p99 {:.0} ms",
        counts[0], counts[1], counts[2], age.p50_ms, age.p99_ms
    )
}

/// Runs the project's broker set-up when the broker on this machine does not answer.
fn set_up_broker(config: &BridgeConfig, error: &str) -> anyhow::Result<()> {
    let local = ["@127.0.0.1", "@localhost", "@[::1]"]
        .iter()
        .any(|host| config.amqp_url.contains(host));
    if !local || !Path::new(SETUP_SCRIPT).exists() {
        bail!(
            "the broker at {} does not answer ({error}); start it, or run {SETUP_SCRIPT} from the repository on this machine",
            config.redacted_url()
        );
    }
    eprintln!("instadash up: the broker does not answer ({error}); running {SETUP_SCRIPT}");
    let status = std::process::Command::new("bash")
        .arg(SETUP_SCRIPT)
        .status()
        .with_context(|| format!("running {SETUP_SCRIPT}"))?;
    if !status.success() {
        bail!("{SETUP_SCRIPT} failed ({status})");
    }
    Ok(())
}
