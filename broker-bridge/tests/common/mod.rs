//! What the fault tests share: the numbered tick they send, a steady stream of them into a
//! ledger, and their logs.

// Each test binary compiles this module and uses a part of it.
#![allow(dead_code)]

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use broker_bridge::ledger::Ledger;
use broker_bridge::{Bridge, BridgeConfig, Message, Receipt};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tick {
    pub seq: u32,
}

impl Message for Tick {
    const TYPE: &'static str = "instadash.test.tick";
}

/// Logs to the test's output (shown when it fails), at `RUST_LOG` or `info`.
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            std::env::var("RUST_LOG")
                .unwrap_or_else(|_| format!("info,{}", broker_bridge::QUIET_LOG_DIRECTIVES)),
        ))
        .with_test_writer()
        .try_init();
}

/// Publishes the ticks `seqs`, `burst` every 10 ms, recording each as sent and, once the broker
/// confirms it, as confirmed; returns how many failed (expected: none). Confirms are awaited in
/// turn by one task, so publishing never waits on them (the bridge's confirm window bounds what
/// is in flight).
pub async fn publish_ticks(
    bridge: Bridge,
    ledger: Arc<Ledger>,
    seqs: Range<u32>,
    burst: u32,
) -> u64 {
    let failed = Arc::new(AtomicU64::new(0));
    let (receipts, mut pending) = tokio::sync::mpsc::unbounded_channel::<(u32, Receipt)>();
    let confirming = {
        let (ledger, failed) = (ledger.clone(), failed.clone());
        tokio::spawn(async move {
            while let Some((seq, receipt)) = pending.recv().await {
                match receipt.confirmed().await {
                    Ok(()) => ledger.confirmed(&seq.to_string()),
                    Err(error) => {
                        tracing::error!(%error, seq, "not confirmed");
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
    };
    let mut pace = tokio::time::interval(Duration::from_millis(10));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for seq in seqs {
        if seq % burst == 0 {
            pace.tick().await;
        }
        ledger.sent(&seq.to_string());
        match bridge.publish(&Tick { seq }).await {
            Ok(receipt) => {
                let _ = receipts.send((seq, receipt));
            }
            Err(error) => {
                tracing::error!(%error, seq, "not published");
                failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    drop(receipts);
    let _ = confirming.await;
    failed.load(Ordering::Relaxed)
}

/// A bridge on `url` with the short heartbeat and confirm timeout that let a frozen or lost
/// broker be noticed in seconds, and no statistics reports (more traffic to account for).
pub fn fault_config(url: &str, service: &str) -> BridgeConfig {
    let mut config = BridgeConfig::new(service);
    config.amqp_url = url.to_owned();
    config.heartbeat_secs = 2;
    config.confirm_timeout = Duration::from_secs(3);
    config.stats_interval = Duration::ZERO;
    config
}
