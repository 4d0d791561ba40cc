//! A dashcam clip worker process on its own: it connects to the broker, runs clip workers on the
//! work queue (the `workers` role, no trigger side) and keeps at it until it is killed or told to
//! stop. Scaled-out worker containers run `instadash run dashcam --role workers`; this is the same
//! service, small enough to read in one go.
//!
//! It exists for the fault tests (`tests/faults.rs`), which start several of these, kill them
//! with SIGKILL mid-job and count what every one of them stored, and as an example of running
//! workers alone. For the tests, its store can log the start and end of every put, with the
//! process id, to a file that all workers share (`--put-log`), and can be made to hang on every
//! put for good (`--hang`), so that a job kills every worker that takes it.
//!
//! It prints `DASHCAM-CHILD READY` once its workers consume, stops gracefully when its stdin
//! closes (or on Ctrl-C or SIGTERM), and then prints `DASHCAM-CHILD STATS <json>`, its
//! [`DashcamStats`](instadash_dashcam::DashcamStats). Stdin is how a parent process stops it, so
//! run it from a terminal or a pipe: with stdin at `/dev/null` it stops as soon as it started.
//!
//! ```text
//! cargo run -p instadash-dashcam --example clip_worker -- --store /tmp/clips --workers 2
//! ```
//!
//! Every setting also comes from the environment (`--help` names the variables; any value of
//! `DASHCAM_CHILD_HANG` but a false-like one, such as `0` or `false`, sets `--hang`). The retry
//! delay is the retry queue's TTL, fixed when the queue is first declared: it must be the one
//! every other instance of the service uses, or the broker refuses the declaration.

// The stores the dashcam tests share: one that logs its puts, one that hangs.
#[path = "../tests/support/mod.rs"]
mod support;

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use broker_bridge::{Bridge, BridgeConfig};
use clap::Parser;
use clap::builder::FalseyValueParser;
use instadash_dashcam::{
    DashcamOptions, DashcamService, DirectoryStore, MAX_CHUNK_BYTES, ObjectStore, Role,
};
use support::{CountingStore, HangingStore};

/// What the process says on stdout, one line each.
const READY: &str = "DASHCAM-CHILD READY";
const STATS: &str = "DASHCAM-CHILD STATS ";

#[derive(Parser)]
struct Args {
    /// Broker URL (default amqp://guest:guest@127.0.0.1:5672/%2f).
    #[arg(long, env = "DASHCAM_CHILD_AMQP_URL")]
    amqp_url: Option<String>,
    /// Directory of the clip store.
    #[arg(long, env = "DASHCAM_CHILD_STORE")]
    store: PathBuf,
    /// File to append `begin <pid> <key>` and `done <pid> <key>` to around every put.
    #[arg(long, env = "DASHCAM_CHILD_PUT_LOG")]
    put_log: Option<PathBuf>,
    /// Bytes asked of the car per chunk request.
    #[arg(long, env = "DASHCAM_CHILD_CHUNK_BYTES", default_value_t = MAX_CHUNK_BYTES)]
    chunk_bytes: u32,
    /// Jobs the broker may hand each worker ahead of acknowledgement.
    #[arg(long, env = "DASHCAM_CHILD_PREFETCH", default_value_t = 4)]
    prefetch: u16,
    /// Pause before a failed job is tried again, milliseconds (default: the bridge's).
    #[arg(long, env = "DASHCAM_CHILD_RETRY_DELAY_MS")]
    retry_delay_ms: Option<u64>,
    /// Competing clip workers in this process.
    #[arg(long, env = "DASHCAM_CHILD_WORKERS", default_value_t = 1)]
    workers: usize,
    /// Fault injection: every put hangs for good, the worker stuck mid-job until it is killed.
    #[arg(long, env = "DASHCAM_CHILD_HANG", value_parser = FalseyValueParser::new())]
    hang: bool,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();

    let mut config = BridgeConfig::new("dashcam");
    if let Some(url) = args.amqp_url {
        config.amqp_url = url;
    }
    config.prefetch = args.prefetch;
    if let Some(ms) = args.retry_delay_ms {
        config.retry.delay = Duration::from_millis(ms);
    }

    let mut store: Arc<dyn ObjectStore> = if args.hang {
        Arc::new(HangingStore)
    } else {
        Arc::new(DirectoryStore::open(&args.store).context("opening the clip store")?)
    };
    if let Some(log) = &args.put_log {
        store = Arc::new(CountingStore::logging_to(store, log)?);
    }
    let options = DashcamOptions {
        role: Role::Workers,
        workers: args.workers,
        store_root: args.store,
        chunk_bytes: args.chunk_bytes,
        ..DashcamOptions::default()
    };

    let bridge = Bridge::connect(config).await?;
    let service = DashcamService::start_with_store(bridge, options, store).await?;
    println!("{READY}");

    // Until stdin closes (the parent is done with us, or died) or the operator says stop.
    let stdin_closed =
        tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new()));
    tokio::select! {
        read = stdin_closed => { read??; }
        () = broker_bridge::shutdown::signal() => {}
    }

    let stats = service.stats();
    service.stop().await?;
    println!("{STATS}{}", serde_json::to_string(&stats)?);
    Ok(())
}
