//! `instadash run <service>`: one service alone in this process, as a container runs it. It
//! leaves the bus gracefully on Ctrl-C or SIGTERM.

use anyhow::Context;
use broker_bridge::{Bridge, BridgeArgs, BridgeConfig};
use clap::Subcommand;
use instadash_alerts::cli::AlertArgs;
use instadash_alerts::service::AlertService;
use instadash_dashcam::cli::DashcamArgs;
use instadash_dashcam::service::{CLIP_WORKER_PREFETCH, DashcamService};
use instadash_monitor::cli::MonitorArgs;
use instadash_monitor::service::Monitor;
use instadash_tracker::cli::TrackerArgs;
use instadash_tracker::service::Tracker;
use instadash_trips::cli::TripArgs;
use instadash_trips::service::TripService;
use tracing::info;

use crate::data_dir::DataDirArg;
use crate::simulate::{self, SimulateArgs};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(subcommand)]
    service: Service,
}

#[derive(Debug, Subcommand)]
enum Service {
    /// The live state of every vehicle; answers get-state, list-vehicles and find-nearest.
    Tracker {
        #[command(flatten)]
        bridge: BridgeArgs,
        #[command(flatten)]
        data: DataDirArg,
        #[command(flatten)]
        tracker: TrackerArgs,
    },
    /// Telemetry into alerts (raised, acknowledged, cleared); answers list-active and acknowledge.
    Alerts {
        #[command(flatten)]
        bridge: BridgeArgs,
        #[command(flatten)]
        data: DataDirArg,
        #[command(flatten)]
        alerts: AlertArgs,
    },
    /// Trips and stops per vehicle, and the history; answers list-trips and get-route.
    Trips {
        #[command(flatten)]
        bridge: BridgeArgs,
        #[command(flatten)]
        data: DataDirArg,
        #[command(flatten)]
        trips: TripArgs,
    },
    /// Dashcam clips: captured clips become jobs; competing workers fetch and store them.
    Dashcam {
        #[command(flatten)]
        bridge: BridgeArgs,
        #[command(flatten)]
        data: DataDirArg,
        #[command(flatten)]
        dashcam: DashcamArgs,
    },
    /// The operators' view: the web dashboard, operator alerts, Prometheus `/metrics`.
    Monitor {
        #[command(flatten)]
        bridge: BridgeArgs,
        #[command(flatten)]
        monitor: MonitorArgs,
    },
    /// Virtual cars emitting telemetry (the same as `instadash simulate`).
    Simulator(SimulateArgs),
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    match args.service {
        Service::Tracker {
            bridge,
            data,
            tracker,
        } => {
            let options = tracker.options(&data.data_dir)?;
            let service = Tracker::start(connect(&bridge, "tracker").await?, options).await?;
            until_signal("tracker").await;
            service.stop().await
        }
        Service::Alerts {
            bridge,
            data,
            alerts,
        } => {
            let options = alerts.options(&data.data_dir)?;
            let service = AlertService::start(connect(&bridge, "alerts").await?, options).await?;
            until_signal("alerts").await;
            service.stop().await
        }
        Service::Trips {
            bridge,
            data,
            trips,
        } => {
            let options = trips.options(&data.data_dir)?;
            let service = TripService::start(connect(&bridge, "trips").await?, options).await?;
            until_signal("trips").await;
            service.stop().await
        }
        Service::Dashcam {
            bridge,
            data,
            dashcam,
        } => {
            let options = dashcam.options(&data.data_dir)?;
            let mut config = BridgeConfig::resolve(&bridge, "dashcam")?;
            config.prefetch = config.prefetch.min(CLIP_WORKER_PREFETCH);
            let bridge = Bridge::connect(config)
                .await
                .context("connecting to the broker")?;
            let service = DashcamService::start(bridge, options).await?;
            until_signal("dashcam").await;
            service.stop().await
        }
        Service::Monitor { bridge, monitor } => {
            let options = monitor.options()?;
            let service = Monitor::start(connect(&bridge, "monitor").await?, options).await?;
            info!("dashboard on http://{}/", service.addr());
            until_signal("monitor").await;
            service.stop().await
        }
        Service::Simulator(args) => simulate::run(args).await,
    }
}

async fn connect(args: &BridgeArgs, service: &str) -> anyhow::Result<Bridge> {
    let config = BridgeConfig::resolve(args, service)?;
    Bridge::connect(config)
        .await
        .context("connecting to the broker")
}

async fn until_signal(service: &str) {
    info!("{service} running; Ctrl-C or SIGTERM to stop");
    broker_bridge::shutdown::signal().await;
}
