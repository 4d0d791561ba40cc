//! How many positions a second the trips service takes from the broker and writes, end to end:
//! the queue is filled first (service stopped), then the service is started and timed until it
//! has handled and stored every message. Needs the local broker (deploy/setup-broker.sh).
//!
//! `cargo run --release -p instadash-trips --example bus_rate [cars] [fixes_per_car]`

use std::time::{Duration, Instant};

use broker_bridge::testing::TestVhost;
use instadash_schemas::vehicle::position::v2::Position;
use instadash_trips::service::{TripOptions, TripService};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let cars: usize = args.next().map_or(Ok(1_000), |a| a.parse())?;
    let fixes: i64 = args.next().map_or(Ok(30), |a| a.parse())?;
    let vhost = TestVhost::create().await?;
    let data = tempfile::tempdir_in(std::env::current_dir()?)?;
    let options = TripOptions {
        database: data.path().join("trips").join("history.db"),
        ..TripOptions::default()
    };
    // Declare and bind the service's queue, then leave so the queue fills up.
    TripService::start(vhost.connect("trips").await?, options.clone())
        .await?
        .stop()
        .await?;

    let publisher = vhost.connect("simulator").await?;
    let t0 = 1_750_000_000_000_i64;
    let mut receipts = Vec::new();
    for s in 0..fixes {
        for n in 0..cars {
            let position = Position {
                vehicle_id: format!("car-{n:05}"),
                time_ms: t0 + s * 1_000 + (n as i64 % 1_000),
                lat: 48.0 + n as f64 * 1e-3,
                lon: 11.0 + s as f64 * 1e-4,
                speed_kmh: 40.0,
                heading_deg: 90.0,
                altitude_m: Some(520.0),
                accuracy_m: 3.0,
                satellites: 9,
                hdop: None,
            };
            receipts.push(publisher.publish(&position).await?);
        }
    }
    for receipt in receipts {
        receipt.confirmed().await?;
    }
    let total = cars as u64 * fixes as u64;
    println!("{total} positions queued");

    let bridge = vhost.connect("trips").await?;
    let started = Instant::now();
    let service = TripService::start(bridge.clone(), options).await?;
    while bridge.stats().handled < total {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "handled and stored {total} positions in {elapsed:.2} s: {:.0} positions/s",
        total as f64 / elapsed
    );
    let stored: u64 = service.history().position_count("car-00000")? * cars as u64;
    anyhow::ensure!(stored == total, "stored {stored} of {total}");
    service.stop().await?;
    publisher.shutdown().await?;
    Ok(())
}
