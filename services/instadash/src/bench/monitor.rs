//! `instadash bench monitor`: the monitor's cost and speed at a fleet size. The simulator and the
//! monitor run as processes of their own in a virtual host of their own (the other services are
//! left out, so the broker can carry large fleets to the monitor on this machine); this process
//! is the page: it follows the dashboard's server-sent events as a browser does.
//!
//! Measured: the monitor's CPU and peak memory; how quickly a change reaches the page — for every
//! vehicle in every `vehicles` batch, from the fix's time (the simulator's schedule) to the batch's
//! arrival, which includes the monitor's batching (500 ms) and any lag of the simulator behind its
//! schedule (reported apart, with the monitor queue's deepest backlog, to tell who was slow); the
//! events' volume; and what a page's first load of `/api/fleet` costs.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use broker_bridge::management::Management;
use broker_bridge::process::Process;
use clap::Args;
use hdrhistogram::Histogram;
use instadash_monitor::api::{Overview, VehicleBatch};
use serde::Serialize;

use super::fleet::{BenchBroker, RunVhost, SimulatorRun, Usage, Watched, bar, find_broker, round1};

#[derive(Debug, Args)]
pub struct MonitorArgs {
    #[command(flatten)]
    broker: BenchBroker,
    /// Fleet sizes, one run each.
    #[arg(long, value_delimiter = ',', default_value = "400")]
    cars: Vec<usize>,
    /// Measured seconds per run, after the warm-up.
    #[arg(long, default_value_t = 30.0)]
    duration: f64,
    /// Seconds before measuring: the cars' first fixes, the first polls.
    #[arg(long, default_value_t = 10.0)]
    warmup: f64,
    /// Print one JSON array on stdout instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct MonitorRun {
    cars: usize,
    duration_s: f64,
    /// Messages the simulator published per second.
    published_per_s: f64,
    /// How far behind its schedule the simulator was at worst, ms: a fix is that late before it
    /// is even sent (the broker or the machine cannot carry the fleet).
    simulator_max_behind_ms: i64,
    /// Messages the monitor consumed per second (its own statistics report).
    monitor_in_per_s: f64,
    /// The monitor's queue at its deepest (ready + unacked): the monitor falling behind.
    monitor_max_backlog: u64,
    monitor: Usage,
    broker: Option<Usage>,
    /// From a fix's time to the page receiving it, ms.
    change_to_page_p50_ms: f64,
    change_to_page_p99_ms: f64,
    change_to_page_max_ms: f64,
    /// Vehicle batches per second and vehicles per batch.
    batches_per_s: f64,
    vehicles_per_batch: f64,
    /// Server-sent events, kB per second.
    events_kb_per_s: f64,
    /// The page's first load: `/api/fleet` size and time.
    fleet_kb: f64,
    fleet_ms: f64,
}

pub async fn run(args: MonitorArgs) -> anyhow::Result<()> {
    let mut runs = Vec::new();
    for &cars in &args.cars {
        anyhow::ensure!(cars > 0, "--cars must be at least 1");
        let run = measure(&args, cars).await?;
        if !args.json {
            report(&run);
        }
        runs.push(run);
    }
    if args.json {
        println!("{}", serde_json::to_string(&runs)?);
    }
    Ok(())
}

fn report(run: &MonitorRun) {
    println!(
        "{:>6} cars: simulator {:.0} msg/s out (at worst {} ms behind) · monitor {:.0} msg/s in (queue at most {}), CPU {:.1} % of a core, peak RSS {:.1} MB · change → page p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms · {:.1} batches/s of {:.0} vehicles, {:.0} kB/s of events · first load /api/fleet {:.0} kB in {:.0} ms",
        run.cars,
        run.published_per_s,
        run.simulator_max_behind_ms,
        run.monitor_in_per_s,
        run.monitor_max_backlog,
        run.monitor.cpu_pct,
        run.monitor.rss_mb,
        run.change_to_page_p50_ms,
        run.change_to_page_p99_ms,
        run.change_to_page_max_ms,
        run.batches_per_s,
        run.vehicles_per_batch,
        run.events_kb_per_s,
        run.fleet_kb,
        run.fleet_ms,
    );
    if let Some(broker) = run.broker {
        println!(
            "        broker CPU {:.1} %, RSS {:.0} MB",
            broker.cpu_pct, broker.rss_mb
        );
    }
}

/// What the page saw, shared with the thread that reads the event stream.
#[derive(Default)]
struct PageSeen {
    measuring: bool,
    latency_us: Option<Histogram<u64>>,
    batches: u64,
    vehicles: u64,
    bytes: u64,
}

async fn measure(args: &MonitorArgs, cars: usize) -> anyhow::Result<MonitorRun> {
    let vhost = RunVhost::create(&args.broker).await?;
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let mut monitor = tokio::process::Command::new(std::env::current_exe()?)
        .args(["run", "monitor"])
        .env("AMQP_URL", &vhost.amqp_url)
        .env("RABBITMQ_MANAGEMENT_URL", &args.broker.management_url)
        .env("INSTADASH_MONITOR_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting the monitor")?;
    let monitor_pid = monitor.id().context("the monitor exited at once")?;
    wait_for_health(&base).await?;

    let seen = Arc::new(Mutex::new(PageSeen {
        latency_us: Some(Histogram::new(3).expect("3 significant figures is valid")),
        ..PageSeen::default()
    }));
    let reader = {
        let (seen, url) = (seen.clone(), format!("{base}/events"));
        std::thread::spawn(move || follow_events(&url, &seen))
    };

    let warmup = Duration::from_secs_f64(args.warmup);
    let window = Duration::from_secs_f64(args.duration);
    let total = warmup + window;
    let simulator = SimulatorRun::start(&vhost.amqp_url, cars, 1, total)?;
    let queue = broker_bridge::topology::group_queue("monitor");
    let api = Management::new(&args.broker.management_url)?;
    let mut max_backlog = 0;

    let mut watched = Watched::new(Process::Pid(monitor_pid));
    let mut broker = find_broker().map(Watched::new);
    let bar = bar(args.json, cars, total);
    let started = Instant::now();
    let mut measured_from = None;
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    while started.elapsed() < total {
        ticks.tick().await;
        bar.set_position(started.elapsed().as_secs().min(total.as_secs()));
        if measured_from.is_none() && started.elapsed() >= warmup {
            measured_from = Some(Instant::now());
            watched.start();
            broker.iter_mut().for_each(Watched::start);
            seen.lock().expect("not poisoned").measuring = true;
        }
        if measured_from.is_some() {
            watched.sample();
            broker.iter_mut().for_each(Watched::sample);
            let (api, vhost) = (api.clone(), vhost.name.clone());
            let queues = tokio::task::spawn_blocking(move || api.queues(&vhost)).await?;
            let depth = queues
                .iter()
                .flatten()
                .find(|q| q.name == queue)
                .map_or(0, |q| q.messages);
            max_backlog = max_backlog.max(depth);
        }
    }
    let measured = measured_from
        .context("the run ended before measuring")?
        .elapsed();
    seen.lock().expect("not poisoned").measuring = false;
    let usage = watched.usage(measured).unwrap_or_default();
    let broker = broker.and_then(|b| b.usage(measured));
    bar.finish_and_clear();

    let (fleet_bytes, fleet_time) = timed_get(&format!("{base}/api/fleet")).await?;
    let overview: Overview =
        serde_json::from_slice(&timed_get(&format!("{base}/api/overview")).await?.0)?;
    let monitor_in_per_s = overview
        .services
        .iter()
        .find(|s| s.name == "monitor")
        .map_or(0.0, |s| s.in_per_s);

    let progress = simulator.finish().await?;
    let _ = monitor.start_kill();
    let _ = monitor.wait().await;
    // The event stream ends with the monitor.
    let _ = reader.join();
    drop(vhost);

    let seen = seen.lock().expect("not poisoned");
    let latency = seen.latency_us.as_ref().context("latency histogram")?;
    if latency.is_empty() {
        bail!("the page received no vehicle updates while measuring");
    }
    let ms = |q: f64| round1(latency.value_at_quantile(q) as f64 / 1000.0);
    let seconds = measured.as_secs_f64();
    Ok(MonitorRun {
        cars,
        duration_s: round1(seconds),
        published_per_s: round1(progress.published as f64 / total.as_secs_f64()),
        simulator_max_behind_ms: progress.max_behind_ms,
        monitor_in_per_s: round1(monitor_in_per_s),
        monitor_max_backlog: max_backlog,
        monitor: usage,
        broker,
        change_to_page_p50_ms: ms(0.5),
        change_to_page_p99_ms: ms(0.99),
        change_to_page_max_ms: round1(latency.max() as f64 / 1000.0),
        batches_per_s: round1(seen.batches as f64 / seconds),
        vehicles_per_batch: round1(seen.vehicles as f64 / seen.batches.max(1) as f64),
        events_kb_per_s: round1(seen.bytes as f64 / 1024.0 / seconds),
        fleet_kb: round1(fleet_bytes.len() as f64 / 1024.0),
        fleet_ms: round1(fleet_time.as_secs_f64() * 1000.0),
    })
}

/// Reads the server-sent events like a page, recording each vehicle update's age on arrival.
fn follow_events(url: &str, seen: &Mutex<PageSeen>) {
    let Ok(mut response) = ureq::get(url).call() else {
        return;
    };
    let reader = BufReader::new(response.body_mut().as_reader());
    let mut event = String::new();
    for line in reader.lines() {
        let Ok(line) = line else { return };
        if let Some(name) = line.strip_prefix("event:") {
            event = name.trim().to_owned();
            continue;
        }
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        let arrived_ms = now_ms();
        let mut seen = seen.lock().expect("not poisoned");
        if !seen.measuring {
            continue;
        }
        seen.bytes += data.len() as u64;
        if event != "vehicles" {
            continue;
        }
        let Ok(batch) = serde_json::from_str::<VehicleBatch>(data.trim()) else {
            continue;
        };
        seen.batches += 1;
        seen.vehicles += batch.vehicles.len() as u64;
        if let Some(histogram) = seen.latency_us.as_mut() {
            for vehicle in &batch.vehicles {
                let age_ms = arrived_ms.saturating_sub(vehicle.last_seen_ms);
                let _ = histogram.record(age_ms * 1000);
            }
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn timed_get(url: &str) -> anyhow::Result<(Vec<u8>, Duration)> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let body = ureq::get(&url)
            .call()
            .with_context(|| format!("GET {url}"))?
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_vec()?;
        Ok((body, started.elapsed()))
    })
    .await?
}

async fn wait_for_health(base: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if timed_get(&format!("{base}/healthz")).await.is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("the monitor did not serve {base}/healthz within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
