//! A consumer whose handler has a side effect that must happen exactly once per event, even when
//! the process is killed in the middle of handling and the broker redelivers what it had not
//! acknowledged: the fault tests (`tests/broker_faults.rs`) kill it with SIGKILL mid-stream and
//! start another one.
//!
//! The side effect is one file per event id in `--effects-dir`, made idempotent by the event id:
//! the content is written and synced to a temporary file first and then hard-linked to its final
//! name, which fails if that name exists. So the final file appears at most once and always
//! whole, and the message is acknowledged (the handler returns) only after it exists. A
//! redelivered event whose file exists is acknowledged without doing anything again.
//!
//! Two append-only logs in the same directory's parent say what happened, one line per event id:
//! `effects.log` (the side effect was done by this call) and `skipped.log` (it had been done
//! before: a redelivery the store deduplicated). It prints `READY` once it consumes.
//!
//! `cargo run -p broker-bridge --example side_effect_consumer -- --effects-dir /tmp/effects`
//! (`AMQP_URL` names the broker.)

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use broker_bridge::{Bridge, BridgeArgs, BridgeConfig, Incoming, Message};
use clap::Parser;
use serde::{Deserialize, Serialize};

/// The fault tests' numbered event (the same type as their `Tick`).
#[derive(Debug, Serialize, Deserialize)]
struct Tick {
    seq: u32,
}

impl Message for Tick {
    const TYPE: &'static str = "instadash.test.tick";
}

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    bridge: BridgeArgs,
    /// Where the side effects go: one file per event id.
    #[arg(long, env = "EFFECTS_DIR")]
    effects_dir: PathBuf,
    /// The subscriber group (its queue is shared by every instance).
    #[arg(long, env = "EFFECTS_GROUP", default_value = "side-effects")]
    group: String,
    /// Time each handling takes, so that a kill lands in the middle of one.
    #[arg(long, env = "EFFECTS_HANDLE_MS", default_value_t = 2)]
    handle_ms: u64,
}

/// The idempotent side effect and its logs.
struct Effects {
    dir: PathBuf,
    effects_log: File,
    skipped_log: File,
}

impl Effects {
    fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let parent = dir.parent().unwrap_or(dir);
        let log = |name: &str| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(parent.join(name))
        };
        Ok(Self {
            dir: dir.to_owned(),
            effects_log: log("effects.log")?,
            skipped_log: log("skipped.log")?,
        })
    }

    /// Does the side effect of event `id` unless it has been done; true if this call did it.
    fn apply(&self, id: &str, seq: u32) -> io::Result<bool> {
        // Event ids are UUIDs from our own publishers; anything else must not name a path.
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("event id {id:?} cannot name a file"),
            ));
        }
        let target = self.dir.join(id);
        if target.exists() {
            return self.skipped(id);
        }
        // A temporary name of this process's own: a killed process may leave one behind, never
        // a half-written final file.
        let temp = self.dir.join(format!(".{id}.{}", std::process::id()));
        {
            let mut file = File::create(&temp)?;
            writeln!(
                file,
                "{{\"id\":\"{id}\",\"seq\":{seq},\"pid\":{}}}",
                std::process::id()
            )?;
            file.sync_all()?;
        }
        let linked = fs::hard_link(&temp, &target);
        let _ = fs::remove_file(&temp);
        match linked {
            Ok(()) => {
                (&self.effects_log).write_all(format!("{id}\n").as_bytes())?;
                Ok(true)
            }
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => self.skipped(id),
            Err(err) => Err(err),
        }
    }

    fn skipped(&self, id: &str) -> io::Result<bool> {
        (&self.skipped_log).write_all(format!("{id}\n").as_bytes())?;
        Ok(false)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let effects = Arc::new(
        Effects::open(&args.effects_dir)
            .with_context(|| format!("opening {}", args.effects_dir.display()))?,
    );
    let bridge =
        Bridge::connect(BridgeConfig::resolve(&args.bridge, "side-effect-consumer")?).await?;
    let handle = Duration::from_millis(args.handle_ms);
    bridge
        .subscribe(&args.group)
        .on(move |tick: Incoming<Tick>| {
            let effects = effects.clone();
            async move {
                tokio::time::sleep(handle).await;
                let (id, seq) = (tick.envelope.id.clone(), tick.data.seq);
                // File system calls block; they are short, but keep them off the runtime's workers.
                tokio::task::spawn_blocking(move || effects.apply(&id, seq))
                    .await?
                    .context("doing the side effect")?;
                Ok(())
            }
        })
        .start()
        .await?;
    println!("READY");
    bridge.run_until_signal().await?;
    Ok(())
}
