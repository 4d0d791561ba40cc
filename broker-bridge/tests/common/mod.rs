//! What the fault tests share: the numbered tick they send, and their logs.

use broker_bridge::Message;
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
