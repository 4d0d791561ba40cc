//! `instadash up`: the whole platform in one process against a local broker: every service, each
//! with its own connection as if it were its own process, plus the simulator, and a live summary
//! in the terminal.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use broker_bridge::{Bridge, BridgeArgs, BridgeConfig};
use instadash_alerts::cli::AlertArgs;
use instadash_alerts::service::AlertService;
use instadash_dashcam::cli::DashcamArgs;
use instadash_dashcam::service::{CLIP_WORKER_PREFETCH, DashcamService};
use instadash_monitor::cli::MonitorArgs;
use instadash_monitor::service::Monitor;
use instadash_schemas::alert::list_active::v1::ListActive;
use instadash_schemas::vehicle::VehicleStatus;
use instadash_simulator::cli::SimulatorArgs;
use instadash_simulator::service::Simulator;
use instadash_tracker::cli::TrackerArgs;
use instadash_tracker::service::{FixAge, Tracker};
use instadash_trips::cli::TripArgs;
use instadash_trips::service::TripService;

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
    alerts: AlertArgs,
    #[command(flatten)]
    trips: TripArgs,
    #[command(flatten)]
    dashcam: DashcamArgs,
    #[command(flatten)]
    monitor: MonitorArgs,
    #[command(flatten)]
    simulator: SimulatorArgs,
    /// Stop after this many seconds (default: at Ctrl-C).
    #[arg(long)]
    duration_s: Option<f64>,
}

/// Run by `up` when the broker does not answer on this machine.
const SETUP_SCRIPT: &str = "deploy/setup-broker.sh";

/// Every service of the platform, each on its own connection.
struct Services {
    tracker: Tracker,
    alerts: AlertService,
    trips: TripService,
    dashcam: DashcamService,
    monitor: Monitor,
}

impl Services {
    /// Starts them all, in an order where each one's subscriptions exist before anything it
    /// consumes is published.
    /// `speedup` is the simulator's: event time runs that much faster than the wall clock.
    async fn start(args: &UpArgs, base: &BridgeConfig, speedup: f64) -> anyhow::Result<Services> {
        let data_dir = &args.data.data_dir;
        let (tracker_options, alert_options, mut trip_options, dashcam_options, monitor_options) = (
            args.tracker.options(data_dir)?,
            args.alerts.options(data_dir)?,
            args.trips.options(data_dir)?,
            args.dashcam.options(data_dir)?,
            args.monitor.options()?,
        );
        trip_options.time_scale = speedup;
        let tracker_bus = match connect(base, "tracker").await {
            Ok(bridge) => bridge,
            Err(error) => {
                set_up_broker(base, &format!("{error:#}"))?;
                connect(base, "tracker")
                    .await
                    .context("connecting to the broker after setting it up")?
            }
        };
        Ok(Services {
            tracker: Tracker::start(tracker_bus, tracker_options).await?,
            alerts: AlertService::start(connect(base, "alerts").await?, alert_options).await?,
            trips: TripService::start(connect(base, "trips").await?, trip_options).await?,
            dashcam: {
                let mut config = base.clone();
                config.prefetch = config.prefetch.min(CLIP_WORKER_PREFETCH);
                DashcamService::start(connect(&config, "dashcam").await?, dashcam_options).await?
            },
            monitor: Monitor::start(connect(base, "monitor").await?, monitor_options).await?,
        })
    }

    /// The platform's view in a few words: vehicles by status, how fresh the fixes are, active
    /// alerts, trips, stored clips.
    fn summary(&self) -> String {
        let counts = {
            let fleet = self.tracker.fleet();
            [
                VehicleStatus::Online,
                VehicleStatus::Unknown,
                VehicleStatus::Offline,
            ]
            .map(|status| fleet.count(status))
        };
        let age = FixAge::of(&self.tracker.take_fix_ages());
        let alerts = self.alerts.list_active(&ListActive::default()).total;
        let (ended, driving) = self.trips.history().trip_counts().unwrap_or_default();
        let clips = self.dashcam.stats();
        format!(
            "tracker: {} online, {} unknown, {} offline · fix age p50 {:.0} ms, p99 {:.0} ms · {alerts} active alerts · trips: {driving} under way, {ended} ended · {} clips stored",
            counts[0],
            counts[1],
            counts[2],
            age.p50_ms,
            age.p99_ms,
            clips.clips_stored + clips.clips_already_stored,
        )
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.monitor.stop().await?;
        self.dashcam.stop().await?;
        self.trips.stop().await?;
        self.alerts.stop().await?;
        self.tracker.stop().await
    }
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let base = BridgeConfig::resolve(&args.bridge, "tracker")?;
    let prepared = args.simulator.prepare()?;
    let services = Services::start(&args, &base, prepared.options.speedup).await?;
    let simulator_bus = connect(&base, "simulator")
        .await
        .context("connecting the simulator")?;
    instadash_simulator::clips::serve_clips(&simulator_bus).await?;
    let cars = prepared.model.car_count();
    let simulator = Simulator::start(simulator_bus.clone(), prepared.model, prepared.options);

    println!("instadash up: broker {}", base.redacted_url());
    println!(
        "  services: tracker, alerts, trips, dashcam, monitor (state in {})",
        args.data.data_dir.display()
    );
    println!(
        "  simulator: {cars} cars (seed {}); --seed {} repeats this run",
        prepared.seed, prepared.seed
    );
    println!(
        "  look: the dashboard is on http://{}/ (`instadash top` in a terminal); `instadash services` lists the instances",
        services.monitor.addr()
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
        line.show(&simulator.progress(), &services.summary());
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
    let summary = services.summary();
    services.stop().await?;
    println!("instadash up: stopped; at the end {summary}");
    Ok(())
}

async fn connect(base: &BridgeConfig, service: &str) -> anyhow::Result<Bridge> {
    let mut config = base.clone();
    config.service = service.to_owned();
    // Each service is an instance of its own, as if it were its own process.
    config.instance = uuid::Uuid::now_v7();
    Bridge::connect(config)
        .await
        .with_context(|| format!("connecting {service} to the broker"))
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
