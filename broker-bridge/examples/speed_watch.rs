//! A whole Instadash service: it watches vehicle positions, publishes a `Speeding` event when a car
//! goes over the limit, and answers "what is this car's top speed?". Everything else (reconnects,
//! confirms, retries, dead letters, tracing, shutdown) is the bridge's job.
//!
//! Run it with `cargo run -p broker-bridge --example speed_watch -- --limit-kmh 120`
//! (`AMQP_URL` names the broker; `--help` lists every flag).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use broker_bridge::{Bridge, BridgeArgs, BridgeConfig, Incoming, Message};
use clap::Parser;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Position {
    vehicle: String,
    speed_kmh: f64,
}
impl Message for Position {
    const TYPE: &'static str = "instadash.example.position";
    fn subject(&self) -> Option<String> {
        Some(self.vehicle.clone())
    }
}

#[derive(Serialize, Deserialize)]
struct Speeding {
    vehicle: String,
    speed_kmh: f64,
    limit_kmh: f64,
}
impl Message for Speeding {
    const TYPE: &'static str = "instadash.example.speeding";
    fn subject(&self) -> Option<String> {
        Some(self.vehicle.clone())
    }
}

#[derive(Serialize, Deserialize)]
struct TopSpeedQuery {
    vehicle: String,
}
impl Message for TopSpeedQuery {
    const TYPE: &'static str = "instadash.example.top-speed.query";
}

#[derive(Serialize, Deserialize)]
struct TopSpeed {
    vehicle: String,
    top_speed_kmh: Option<f64>,
}
impl Message for TopSpeed {
    const TYPE: &'static str = "instadash.example.top-speed";
}

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    bridge: BridgeArgs,
    /// Speed above which a car is speeding.
    #[arg(long, env = "SPEED_LIMIT_KMH", default_value_t = 130.0)]
    limit_kmh: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let bridge = Bridge::connect(BridgeConfig::resolve(&args.bridge, "speed-watch")?).await?;
    let top_speeds = Arc::new(Mutex::new(HashMap::<String, f64>::new()));

    let (events, seen) = (bridge.clone(), top_speeds.clone());
    bridge
        .subscribe("speed-watch")
        .on(move |position: Incoming<Position>| {
            let (events, seen) = (events.clone(), seen.clone());
            async move {
                let Position { vehicle, speed_kmh } = position.data;
                {
                    let mut top_speeds = seen.lock().unwrap();
                    let top = top_speeds.entry(vehicle.clone()).or_insert(speed_kmh);
                    *top = top.max(speed_kmh);
                }
                if speed_kmh > args.limit_kmh {
                    let speeding = Speeding {
                        vehicle,
                        speed_kmh,
                        limit_kmh: args.limit_kmh,
                    };
                    events.publish(&speeding).await?;
                }
                Ok(())
            }
        })
        .start()
        .await?;

    bridge
        .serve()
        .answer(move |query: Incoming<TopSpeedQuery>| {
            let top_speed_kmh = top_speeds.lock().unwrap().get(&query.data.vehicle).copied();
            let vehicle = query.data.vehicle;
            async move {
                Ok(TopSpeed {
                    vehicle,
                    top_speed_kmh,
                })
            }
        })
        .start()
        .await?;

    bridge.run_until_signal().await?;
    Ok(())
}
