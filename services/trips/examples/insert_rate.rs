//! How many positions a second the trips service's write path sustains, without the broker: each
//! fix goes through the detector and is written (with the vehicle's new state) in its own
//! transaction, exactly as the service's handler does before acknowledging.
//!
//! `cargo run --release -p instadash-trips --example insert_rate [cars] [seconds_of_driving]`

use std::time::Instant;

use instadash_trips::detector::Detector;
use instadash_trips::motion::Fix;
use instadash_trips::{History, Rules};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let cars: usize = args.next().map_or(Ok(1_000), |a| a.parse())?;
    let seconds: i64 = args.next().map_or(Ok(100), |a| a.parse())?;
    let dir = tempfile::tempdir_in(std::env::current_dir()?)?;
    let history = History::open(&dir.path().join("trips").join("history.db"))?;
    let mut detector = Detector::new(Rules::default());
    let ids: Vec<String> = (0..cars).map(|n| format!("car-{n:05}")).collect();
    let t0 = 1_750_000_000_000_i64;

    let started = Instant::now();
    let mut written = 0u64;
    let mut trips = 0usize;
    for s in 0..seconds {
        for (n, id) in ids.iter().enumerate() {
            // Each car drives east at 30-60 km/h, one fix a second, phases spread over the second.
            let speed = 30.0 + (n % 31) as f64;
            let fix = Fix {
                time_ms: t0 + s * 1_000 + (n as i64 % 1_000),
                lat: 48.0 + n as f64 * 1e-3,
                lon: 11.0 + s as f64 * speed / 3.6 / 74_000.0,
                speed_kmh: speed,
                heading_deg: 90.0,
            };
            let update = detector.on_fix(id, fix);
            trips += update.outcomes.len();
            history.apply(Some((id, &fix)), std::slice::from_ref(&update))?;
            detector.commit(&update);
            written += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{written} positions from {cars} cars in {elapsed:.2} s: {:.0} positions/s ({:.1} µs each); {trips} trip outcomes",
        written as f64 / elapsed,
        elapsed * 1e6 / written as f64
    );

    // The same fixes again, as after a crash: duplicates cost one ignored insert each.
    let started = Instant::now();
    for (n, id) in ids.iter().enumerate() {
        let fix = Fix {
            time_ms: t0 + (seconds - 1) * 1_000 + (n as i64 % 1_000),
            lat: 48.0,
            lon: 11.0,
            speed_kmh: 40.0,
            heading_deg: 90.0,
        };
        let update = detector.on_fix(id, fix);
        assert!(!update.accepted);
        history.apply(Some((id, &fix)), std::slice::from_ref(&update))?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{cars} redelivered duplicates: {:.0}/s",
        cars as f64 / elapsed
    );
    let size = std::fs::metadata(history.path())?.len()
        + std::fs::metadata(history.path().with_extension("db-wal")).map_or(0, |m| m.len());
    println!("database + WAL: {:.1} MB", size as f64 / 1e6);
    Ok(())
}
