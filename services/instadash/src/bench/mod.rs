//! `instadash bench …`: measurements of the platform on the machine at hand, against the real
//! broker. Each target is its own module.

mod broker;
mod fleet;
mod monitor;
mod soak;

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    target: BenchTarget,
}

#[derive(Debug, Subcommand)]
enum BenchTarget {
    /// Raw lapin against broker-bridge: same queue, messages, confirms and prefetch, in one run.
    Broker(broker::BrokerArgs),
    /// The whole fleet pipeline (simulator → broker → tracker) at a given fleet size, or the
    /// largest fleet this machine sustains (`--find-max`).
    Fleet(fleet::FleetArgs),
    /// The monitor at a fleet size: its CPU and memory, and how quickly a change reaches the page.
    Monitor(monitor::MonitorArgs),
    /// The fleet for minutes or hours with every connection closed by force every minute: the
    /// ledger (nothing lost or handled twice), memory over time and the backlog.
    Soak(soak::SoakArgs),
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.target {
        BenchTarget::Broker(args) => broker::run(args).await,
        BenchTarget::Fleet(args) => fleet::run(args).await,
        BenchTarget::Monitor(args) => monitor::run(args).await,
        BenchTarget::Soak(args) => soak::run(args).await,
    }
}
