//! `instadash bench fleet`: the whole fleet pipeline on this machine, broker included.
//!
//! Each run gets a virtual host of its own (deleted afterwards). The tracker runs in this process;
//! alerts, trips and dashcam (`instadash run <service>`) and the simulator (`instadash simulate`)
//! each as a child process, so the CPU and memory of each are measured apart, and the broker's
//! from its own process. The end-to-end latency is the age of each GPS fix when the tracker
//! applies it, from the moment the unit published it; the backlog is the tracker queue's depth as
//! the broker reports it each second.
//!
//! A run is sustained when p99 is at most 250 ms and the backlog does not grow. `--find-max`
//! doubles the fleet until a run is not sustained, then bisects to the largest that is.

use std::io::IsTerminal;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use broker_bridge::management::{DEFAULT_MANAGEMENT_URL, Management, with_vhost};
use broker_bridge::process::Process;
use broker_bridge::{Bridge, BridgeConfig, topology};
use clap::Args;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use instadash_simulator::service::Progress;
use instadash_tracker::service::{Tracker, TrackerOptions};
use serde::Serialize;

/// What "sustained" means (issue: the fleet at scale).
const MAX_P99_MS: f64 = 250.0;

/// The broker a benchmark runs against; each run gets a virtual host of its own there.
#[derive(Debug, Args)]
pub(super) struct BenchBroker {
    /// Broker URL; the run uses a virtual host of its own on this broker.
    #[arg(
        long,
        env = "AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    pub(super) amqp_url: String,
    /// The management API, to create and delete the run's virtual host.
    #[arg(long, env = "RABBITMQ_MANAGEMENT_URL", default_value = DEFAULT_MANAGEMENT_URL)]
    pub(super) management_url: String,
}

#[derive(Debug, Args)]
pub struct FleetArgs {
    #[command(flatten)]
    broker: BenchBroker,
    /// Fleet size (with --find-max: the first size tried).
    #[arg(long, default_value_t = 1000)]
    cars: usize,
    /// Measured seconds per run, after the warm-up.
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// Seconds before measuring: connections, queues and the cars' first trips settle.
    #[arg(long, default_value_t = 10.0)]
    warmup: f64,
    /// Search for the largest sustained fleet.
    #[arg(long)]
    find_max: bool,
    /// With --find-max: the largest fleet tried.
    #[arg(long, default_value_t = 40_000)]
    max_cars: usize,
    /// The simulator's seed, so runs are comparable.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON object on stdout instead of a table.
    #[arg(long)]
    json: bool,
}

/// One process's share of the machine over the measured window.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(super) struct Usage {
    /// Percent of one core.
    pub(super) cpu_pct: f64,
    /// Largest resident memory seen.
    pub(super) rss_mb: f64,
}

#[derive(Debug, Clone, Serialize)]
struct Services {
    tracker: Usage,
    simulator: Usage,
    alerts: Usage,
    trips: Usage,
    dashcam: Usage,
    /// `None` when the broker's process is not on this machine (or not found).
    broker: Option<Usage>,
}

/// One measured run.
#[derive(Debug, Clone, Serialize)]
struct FleetRun {
    cars: usize,
    duration_s: f64,
    /// Messages the tracker handled per second.
    msgs_per_s: f64,
    /// Messages the simulator published per second.
    published_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    sustained: bool,
    /// Why not, in words; empty when sustained.
    verdict: String,
    /// Resident memory of the Instadash processes (simulator and tracker; the broker apart).
    rss_mb: f64,
    services: Services,
    /// The tracker queue's ready messages, one sample a second: [seconds into the run, depth].
    backlog: Vec<(f64, u64)>,
    /// How far behind its schedule the simulator was at the end, and at worst.
    simulator_behind_ms: i64,
    simulator_max_behind_ms: i64,
}

#[derive(Serialize)]
struct MaxSearch<'a> {
    #[serde(flatten)]
    largest_sustained: Option<&'a FleetRun>,
    find_max: bool,
    probes: &'a [FleetRun],
}

pub async fn run(args: FleetArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.cars > 0, "--cars must be at least 1");
    anyhow::ensure!(
        args.duration > 0.0 && args.warmup >= 0.0,
        "--duration must be positive and --warmup not negative"
    );
    if !args.find_max {
        let run = measure(&args, args.cars).await?;
        report(&args, &run);
        if args.json {
            println!("{}", serde_json::to_string(&run)?);
        }
        return Ok(());
    }

    let mut probes: Vec<FleetRun> = Vec::new();
    let (mut good, mut bad): (Option<usize>, Option<usize>) = (None, None);
    let mut cars = args.cars.min(args.max_cars);
    loop {
        let run = measure(&args, cars).await?;
        report(&args, &run);
        let sustained = run.sustained;
        probes.push(run);
        if sustained {
            good = Some(cars);
        } else {
            bad = Some(cars);
        }
        cars = match (good, bad) {
            (Some(g), None) if g >= args.max_cars => break,
            (Some(g), None) => (g * 2).min(args.max_cars),
            (None, Some(b)) if b <= 1 => break,
            (None, Some(b)) => b / 2,
            (Some(g), Some(b)) if b - g <= (g / 10).max(1) => break,
            (Some(g), Some(b)) => g + (b - g) / 2,
            (None, None) => unreachable!("a probe was just recorded"),
        };
    }
    let largest = probes
        .iter()
        .filter(|run| run.sustained)
        .max_by_key(|run| run.cars);
    if !args.json {
        match largest {
            Some(run) => eprintln!(
                "largest sustained fleet: {} cars ({:.0} msg/s, p99 {:.0} ms)",
                run.cars, run.msgs_per_s, run.p99_ms
            ),
            None => eprintln!("no fleet size tried was sustained"),
        }
    }
    if args.json {
        let search = MaxSearch {
            largest_sustained: largest,
            find_max: true,
            probes: &probes,
        };
        println!("{}", serde_json::to_string(&search)?);
    }
    Ok(())
}

fn report(args: &FleetArgs, run: &FleetRun) {
    if args.json {
        return;
    }
    let usage = |u: &Usage| format!("{:.0} % CPU, {:.0} MB", u.cpu_pct, u.rss_mb);
    eprintln!(
        "{:>6} cars: {:>7.0} msg/s handled ({:.0}/s published), fix age p50 {:.1} ms p99 {:.1} ms max {:.0} ms, backlog at end {} → {}{}",
        run.cars,
        run.msgs_per_s,
        run.published_per_s,
        run.p50_ms,
        run.p99_ms,
        run.max_ms,
        run.backlog.last().map_or(0, |(_, depth)| *depth),
        if run.sustained {
            "SUSTAINED"
        } else {
            "NOT SUSTAINED: "
        },
        run.verdict,
    );
    eprintln!(
        "        tracker {} · alerts {} · trips {} · dashcam {} · simulator {} · broker {}",
        usage(&run.services.tracker),
        usage(&run.services.alerts),
        usage(&run.services.trips),
        usage(&run.services.dashcam),
        usage(&run.services.simulator),
        run.services
            .broker
            .as_ref()
            .map_or("not measured".into(), usage),
    );
}

/// The services started as processes of their own (`instadash run <service>`), in this order.
const OTHER_SERVICES: [&str; 3] = ["alerts", "trips", "dashcam"];

/// Waits until each of `services` has announced an instance that consumes: its queue is declared
/// and bound, so nothing the simulator publishes is unroutable for it.
async fn wait_until_subscribed(bridge: &Bridge, services: &[&str]) -> anyhow::Result<()> {
    let mut directory = bridge.directory().await?;
    let ready = |directory: &broker_bridge::Directory| {
        let instances = directory.instances();
        services.iter().all(|service| {
            instances
                .iter()
                .any(|i| i.service == *service && !i.offers.consumes.is_empty())
        })
    };
    tokio::time::timeout(Duration::from_secs(30), async {
        while !ready(&directory) {
            if !directory.changed().await {
                break;
            }
        }
    })
    .await
    .with_context(|| format!("waiting for {services:?} to start"))?;
    anyhow::ensure!(ready(&directory), "{services:?} did not all start");
    Ok(())
}

/// A virtual host for one run, deleted when dropped.
pub(super) struct RunVhost {
    api: Management,
    pub(super) name: String,
    pub(super) amqp_url: String,
}

impl RunVhost {
    pub(super) async fn create(broker: &BenchBroker) -> anyhow::Result<Self> {
        let api = Management::new(&broker.management_url)?;
        let name = format!("instadash-bench-{}", uuid::Uuid::new_v4().simple());
        let amqp_url = with_vhost(&broker.amqp_url, &name)?;
        let (client, vhost) = (api.clone(), name.clone());
        tokio::task::spawn_blocking(move || client.create_vhost(&vhost))
            .await?
            .context("creating the run's virtual host (is the management plugin on? run deploy/setup-broker.sh)")?;
        Ok(Self {
            api,
            name,
            amqp_url,
        })
    }
}

impl Drop for RunVhost {
    fn drop(&mut self) {
        let (api, vhost) = (self.api.clone(), self.name.clone());
        let deleted = std::thread::spawn(move || api.delete_vhost(&vhost)).join();
        if let Ok(Err(error)) = deleted {
            eprintln!("could not delete the virtual host {}: {error:#}", self.name);
        }
    }
}

/// `instadash simulate` as a process of its own for one run, `total` long.
pub(super) struct SimulatorRun {
    child: tokio::process::Child,
    pub(super) pid: u32,
}

impl SimulatorRun {
    pub(super) fn start(
        amqp_url: &str,
        cars: usize,
        seed: u64,
        total: Duration,
    ) -> anyhow::Result<Self> {
        let child = tokio::process::Command::new(std::env::current_exe()?)
            .args(["simulate", "--json", "--cars", &cars.to_string()])
            .args(["--seed", &seed.to_string()])
            .args(["--duration-s", &format!("{:.3}", total.as_secs_f64())])
            .env("AMQP_URL", amqp_url)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting the simulator")?;
        let pid = child.id().context("the simulator exited at once")?;
        Ok(Self { child, pid })
    }

    /// Waits for the end of the run; the simulator's final figures.
    pub(super) async fn finish(self) -> anyhow::Result<Progress> {
        let output = self
            .child
            .wait_with_output()
            .await
            .context("waiting for the simulator")?;
        if !output.status.success() {
            bail!("the simulator failed ({})", output.status);
        }
        serde_json::from_slice(&output.stdout).context("reading the simulator's final figures")
    }
}

/// CPU time and peak memory of one process over the measured window.
pub(super) struct Watched {
    process: Process,
    cpu_at_start: Option<Duration>,
    peak_rss: u64,
}

impl Watched {
    pub(super) fn new(process: Process) -> Self {
        Self {
            process,
            cpu_at_start: None,
            peak_rss: 0,
        }
    }

    pub(super) fn start(&mut self) {
        self.cpu_at_start = self.process.cpu_time();
        self.peak_rss = 0;
    }

    pub(super) fn sample(&mut self) {
        if let Some(rss) = self.process.rss_bytes() {
            self.peak_rss = self.peak_rss.max(rss);
        }
    }

    pub(super) fn usage(&self, window: Duration) -> Option<Usage> {
        let used = self.process.cpu_time()?.checked_sub(self.cpu_at_start?)?;
        Some(Usage {
            cpu_pct: 100.0 * used.as_secs_f64() / window.as_secs_f64(),
            rss_mb: self.peak_rss as f64 / 1_048_576.0,
        })
    }
}

async fn measure(args: &FleetArgs, cars: usize) -> anyhow::Result<FleetRun> {
    let vhost = RunVhost::create(&args.broker).await?;
    let mut config = BridgeConfig::new("tracker");
    config.amqp_url = vhost.amqp_url.clone();
    let bridge = Bridge::connect(config)
        .await
        .context("connecting the tracker")?;
    let tracker = Tracker::start(bridge.clone(), TrackerOptions::default()).await?;
    // The other services as processes of their own, ready before the first car speaks.
    let data = tempfile::tempdir().context("a data directory for the run")?;
    let mut others = Vec::new();
    for service in OTHER_SERVICES {
        let child = tokio::process::Command::new(std::env::current_exe()?)
            .args(["run", service])
            .env("AMQP_URL", &vhost.amqp_url)
            .env("INSTADASH_DATA_DIR", data.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {service}"))?;
        let pid = child
            .id()
            .with_context(|| format!("{service} exited at once"))?;
        others.push((child, pid));
    }
    wait_until_subscribed(&bridge, &OTHER_SERVICES).await?;

    let warmup = Duration::from_secs_f64(args.warmup);
    let window = Duration::from_secs_f64(args.duration);
    let total = warmup + window;
    let simulator = SimulatorRun::start(&vhost.amqp_url, cars, args.seed, total)?;
    let simulator_pid = simulator.pid;

    let mut watched = [
        Watched::new(Process::Current),
        Watched::new(Process::Pid(simulator_pid)),
        Watched::new(Process::Pid(others[0].1)),
        Watched::new(Process::Pid(others[1].1)),
        Watched::new(Process::Pid(others[2].1)),
    ];
    let mut broker = find_broker().map(Watched::new);
    let bar = bar(args.json, cars, total);
    let queue = topology::group_queue("tracker");
    let started = Instant::now();
    let mut measuring: Option<(Instant, u64)> = None;
    let mut ages = Histogram::<u64>::new(3).expect("3 significant figures is valid");
    let mut backlog = Vec::new();
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.tick().await;
    while started.elapsed() < total {
        ticks.tick().await;
        let elapsed = started.elapsed();
        bar.set_position(elapsed.as_secs().min(total.as_secs()));
        let fix_ages = tracker.take_fix_ages();
        if measuring.is_none() && elapsed >= warmup {
            measuring = Some((Instant::now(), bridge.stats().handled));
            for w in watched.iter_mut().chain(broker.as_mut()) {
                w.start();
            }
            continue;
        }
        if measuring.is_none() {
            continue;
        }
        ages.add(&fix_ages).context("merging fix ages")?;
        for w in watched.iter_mut().chain(broker.as_mut()) {
            w.sample();
        }
        let depth = bridge.queue_depth(&queue).await.map_or(0, |d| d.ready);
        backlog.push(((elapsed - warmup).as_secs_f64(), depth));
        bar.set_message(format!("backlog {depth}"));
    }
    let (measured_from, handled_at_start) = measuring.context("the run ended before measuring")?;
    let measured = measured_from.elapsed();
    let handled = bridge.stats().handled - handled_at_start;
    let usages = watched.map(|w| w.usage(measured).unwrap_or_default());
    let broker = broker.and_then(|b| b.usage(measured));
    bar.finish_and_clear();

    let progress = simulator.finish().await?;
    tracker.stop().await?;
    for (mut child, _) in others {
        // Their work is measured; a kill is enough (and quiet, before the vhost goes).
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    drop(vhost);

    let msgs_per_s = handled as f64 / measured.as_secs_f64();
    let p99_ms = ages.value_at_quantile(0.99) as f64 / 1000.0;
    let verdict = verdict(p99_ms, &backlog, msgs_per_s, progress.behind_ms);
    Ok(FleetRun {
        cars,
        duration_s: round1(measured.as_secs_f64()),
        msgs_per_s: round1(msgs_per_s),
        published_per_s: round1(progress.published as f64 / total.as_secs_f64()),
        p50_ms: round1(ages.value_at_quantile(0.5) as f64 / 1000.0),
        p99_ms: round1(p99_ms),
        max_ms: round1(ages.max() as f64 / 1000.0),
        sustained: verdict.is_empty(),
        verdict,
        rss_mb: round1(usages.iter().map(|u| u.rss_mb).sum()),
        services: Services {
            tracker: usages[0],
            simulator: usages[1],
            alerts: usages[2],
            trips: usages[3],
            dashcam: usages[4],
            broker,
        },
        backlog,
        simulator_behind_ms: progress.behind_ms,
        simulator_max_behind_ms: progress.max_behind_ms,
    })
}

/// Empty when sustained; otherwise what failed. The backlog grows when, over the measured window,
/// it rises by more than two seconds' worth of messages, or ends above one second's worth. A
/// simulator that ends behind its schedule by more than the latency budget is a backlog too, one
/// kept in front of the broker (publishing is held back when the broker cannot keep up): its
/// fixes are late before they are even sent.
fn verdict(p99_ms: f64, backlog: &[(f64, u64)], msgs_per_s: f64, behind_ms: i64) -> String {
    let mut reasons = Vec::new();
    if p99_ms > MAX_P99_MS {
        reasons.push(format!("p99 {p99_ms:.0} ms > {MAX_P99_MS:.0} ms"));
    }
    if behind_ms as f64 > MAX_P99_MS {
        reasons.push(format!(
            "the simulator ended {behind_ms} ms behind its schedule"
        ));
    }
    let slope = backlog_slope(backlog);
    let last = backlog.last().map_or(0, |(_, depth)| *depth) as f64;
    let window = backlog.last().map_or(0.0, |(t, _)| *t);
    if slope * window > 2.0 * msgs_per_s.max(1.0) || last > msgs_per_s.max(100.0) {
        reasons.push(format!(
            "backlog grows ({slope:.0} msg/s, {last:.0} waiting at the end)"
        ));
    }
    reasons.join("; ")
}

/// Least-squares slope of the backlog over time, messages per second.
fn backlog_slope(samples: &[(f64, u64)]) -> f64 {
    let n = samples.len() as f64;
    if samples.len() < 2 {
        return 0.0;
    }
    let mean_t = samples.iter().map(|(t, _)| t).sum::<f64>() / n;
    let mean_d = samples.iter().map(|(_, d)| *d as f64).sum::<f64>() / n;
    let (num, den) = samples.iter().fold((0.0, 0.0), |(num, den), (t, d)| {
        (
            num + (t - mean_t) * (*d as f64 - mean_d),
            den + (t - mean_t).powi(2),
        )
    });
    if den == 0.0 { 0.0 } else { num / den }
}

/// The local broker: the `beam.smp` process of the `rabbitmq` user (the Debian service).
pub(super) fn find_broker() -> Option<Process> {
    let rabbitmq_uid = std::fs::read_to_string("/etc/passwd")
        .ok()?
        .lines()
        .find_map(|line| {
            let mut fields = line.split(':');
            (fields.next()? == "rabbitmq").then(|| fields.nth(1)?.parse::<u32>().ok())?
        })?;
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
            let status = std::fs::read_to_string(entry.path().join("status")).ok()?;
            let uid: u32 = status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            (comm.trim() == "beam.smp" && uid == rabbitmq_uid).then_some(Process::Pid(pid))
        })
}

pub(super) fn bar(json: bool, cars: usize, total: Duration) -> ProgressBar {
    let target = if !json && std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(total.as_secs()), target);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{cars:>6} cars {{bar:30}} {{pos}}/{{len}} s {{msg}}"
        ))
        .expect("valid template"),
    );
    bar
}

pub(super) fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_backlog_is_sustained_and_a_rising_one_is_not() {
        let flat: Vec<(f64, u64)> = (0..30)
            .map(|t| (f64::from(t), 40 + (t % 3) as u64))
            .collect();
        assert_eq!(verdict(20.0, &flat, 1000.0, 0), "");
        let rising: Vec<(f64, u64)> = (0..30).map(|t| (f64::from(t), 200 * t as u64)).collect();
        assert!(verdict(20.0, &rising, 1000.0, 0).contains("backlog grows"));
        assert!(verdict(300.0, &flat, 1000.0, 0).contains("p99"));
        assert!(verdict(20.0, &flat, 1000.0, 900).contains("simulator ended 900 ms behind"));
    }

    #[test]
    fn slope_of_a_line() {
        let line: Vec<(f64, u64)> = (0..10).map(|t| (f64::from(t), 5 * t as u64 + 7)).collect();
        assert!((backlog_slope(&line) - 5.0).abs() < 1e-9);
    }
}
