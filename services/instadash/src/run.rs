//! `instadash run <service>`: one service alone in this process, as a container runs it. It
//! leaves the bus gracefully on Ctrl-C or SIGTERM.

use anyhow::Context;
use broker_bridge::{Bridge, BridgeArgs, BridgeConfig};
use clap::Subcommand;
use instadash_tracker::cli::TrackerArgs;
use instadash_tracker::service::Tracker;
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
            let config = BridgeConfig::resolve(&bridge, "tracker")?;
            let bridge = Bridge::connect(config)
                .await
                .context("connecting to the broker")?;
            let tracker = Tracker::start(bridge, options).await?;
            info!("tracker running; Ctrl-C or SIGTERM to stop");
            broker_bridge::shutdown::signal().await;
            tracker.stop().await
        }
        Service::Simulator(args) => simulate::run(args).await,
    }
}
