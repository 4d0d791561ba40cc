//! `instadash run <service>`: one service alone in this process, as a container runs it. It
//! leaves the bus gracefully on Ctrl-C or SIGTERM, and with `--health-listen` answers liveness and
//! readiness probes ([`health`]) for its whole life.

// A submodule by path, so that `instadash run` owns its probes without main.rs naming them.

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
use crate::health::{Health, HealthArgs};
use crate::simulate::{self, SimulateArgs};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    health: HealthArgs,
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

impl Service {
    /// The service's name, as it is addressed on the bus and in logs.
    fn name(&self) -> &'static str {
        match self {
            Service::Tracker { .. } => "tracker",
            Service::Alerts { .. } => "alerts",
            Service::Trips { .. } => "trips",
            Service::Dashcam { .. } => "dashcam",
            Service::Monitor { .. } => "monitor",
            Service::Simulator(_) => "simulator",
        }
    }
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    // The probes answer from before the broker is reached until the service has stopped.
    let health = Health::serve(args.health.health_listen).await?;
    if let Some(addr) = health.local_addr() {
        let service = args.service.name();
        info!("{service}: health endpoints on http://{addr}/healthz and http://{addr}/readyz");
    }
    let outcome = run_service(args.service, &health).await;
    health.close().await;
    outcome
}

/// Each service's life: connect, start, [`until_signal`] (ready while running), stop.
async fn run_service(service: Service, health: &Health) -> anyhow::Result<()> {
    match service {
        Service::Tracker {
            bridge,
            data,
            tracker,
        } => {
            let options = tracker.options(&data.data_dir)?;
            let bridge = connect(&bridge, "tracker").await?;
            let link = bridge.state();
            let service = Tracker::start(bridge, options).await?;
            until_signal("tracker", health, link).await;
            service.stop().await
        }
        Service::Alerts {
            bridge,
            data,
            alerts,
        } => {
            let options = alerts.options(&data.data_dir)?;
            let bridge = connect(&bridge, "alerts").await?;
            let link = bridge.state();
            let service = AlertService::start(bridge, options).await?;
            until_signal("alerts", health, link).await;
            service.stop().await
        }
        Service::Trips {
            bridge,
            data,
            trips,
        } => {
            let options = trips.options(&data.data_dir)?;
            let bridge = connect(&bridge, "trips").await?;
            let link = bridge.state();
            let service = TripService::start(bridge, options).await?;
            until_signal("trips", health, link).await;
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
            let link = bridge.state();
            let service = DashcamService::start(bridge, options).await?;
            until_signal("dashcam", health, link).await;
            service.stop().await
        }
        Service::Monitor { bridge, monitor } => {
            let options = monitor.options()?;
            let bridge = connect(&bridge, "monitor").await?;
            let link = bridge.state();
            let service = Monitor::start(bridge, options).await?;
            info!("dashboard on http://{}/", service.addr());
            until_signal("monitor", health, link).await;
            service.stop().await
        }
        Service::Simulator(args) => simulate::simulate(args, health).await,
    }
}

async fn connect(args: &BridgeArgs, service: &str) -> anyhow::Result<Bridge> {
    let config = BridgeConfig::resolve(args, service)?;
    Bridge::connect(config)
        .await
        .context("connecting to the broker")
}

/// The service has started: ready while `link` is connected, until Ctrl-C or SIGTERM, when
/// readiness turns first so that nothing new is sent this way while the service drains.
async fn until_signal(
    service: &str,
    health: &Health,
    link: tokio::sync::watch::Receiver<broker_bridge::LinkState>,
) {
    health.started(link);
    info!("{service} running; Ctrl-C or SIGTERM to stop");
    broker_bridge::shutdown::signal().await;
    health.stopping();
}
