//! `instadash bench soak`: the fleet for minutes or hours, with every connection of the run's
//! virtual host closed by force every `--close-every-s`, to show that nothing is lost or handled
//! twice across reconnects and that memory does not creep.
//!
//! Who runs where, and why:
//! - this process is the fleet under test: the simulator (`Simulator`, `--cars` cars) and the
//!   tracker (`Tracker`), each on a bridge of its own, exactly as `instadash up` runs them. Its
//!   resident memory is the one judged (`rss_growth_pct`).
//! - the ledger runs as a process of its own (this command again, with a hidden flag). A ledger
//!   keeps every event id it has seen, so its memory grows with the run by design; in the fleet's
//!   process it would hide or fake a leak. It publishes probe events of its own at `--ledger-rate`
//!   and consumes them in a group of its own, recording each probe's id when it is handed to
//!   `publish`, when the broker confirms it, and when the handler gets it: the full ledger (lost,
//!   unexpected, duplicates). The bridge does not tell a publisher the CloudEvents id it stamped, so
//!   the simulator's own events cannot be followed id by id from the sending side; instead a
//!   second group of the ledger process consumes every fleet event and counts distinct CloudEvents
//!   ids and repeats, and the total is checked against what the simulator published.
//!
//! Memory is sampled every `--sample-every-s`; the growth is measured from the end of the warm-up
//! to the last sample before publishing stops. The warm-up is the first minute (or 20 % of a
//! shorter run: connections, queues, the cars' first trips and the allocator settle) and then
//! until the bounded buffers are full (the tracker's dedup window, two generations of 50,000 ids,
//! takes about 250 s at 400 cars; the span rings less), since they grow by design until then; a
//! run too short for that measures from half-way and says so. At the end the simulator and the
//! probes stop, the queues drain, and the run fails (exit code 1) when anything
//! was lost, appeared from nowhere or was handled twice, or memory grew by 10 % or more.

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use broker_bridge::ledger::{Ledger, LedgerReport};
use broker_bridge::management::{Management, enc};
use broker_bridge::process::Process;
use broker_bridge::{Bridge, BridgeConfig, Incoming, LinkState, Message, topology};
use clap::{Args, Parser};
use instadash_schemas::dashcam::clip_captured::v1::ClipCaptured;
use instadash_schemas::vehicle::ignition::v1::Ignition;
use instadash_schemas::vehicle::obd_reading::v1::ObdReading;
use instadash_schemas::vehicle::position::v2::Position;
use instadash_schemas::vehicle::trouble_codes::v1::TroubleCodes;
use instadash_simulator::cli::SimulatorArgs;
use instadash_simulator::service::Simulator;
use instadash_tracker::service::{Tracker, TrackerOptions};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::fleet::{BenchBroker, RunVhost, bar, round1};

/// The bound on memory growth over a soak.
const MAX_RSS_GROWTH_PCT: f64 = 10.0;
/// The warm-up: at least the first minute (or this share of a shorter run), and then until the
/// bounded buffers are full, or at most `FALLBACK_SHARE` of the run.
const WARMUP: Duration = Duration::from_secs(60);
const WARMUP_SHARE: f64 = 0.2;
const FALLBACK_SHARE: f64 = 0.5;
/// How long the end of a run may take to drain the queues before what is missing counts as lost.
const DRAIN_LIMIT: Duration = Duration::from_secs(90);
/// The memory and backlog series in the report keep at most this many points.
const SERIES_POINTS: usize = 60;
/// The ledger process's groups: the probes, and every fleet event.
const PROBE_GROUP: &str = "soak-ledger";
const FLEET_GROUP: &str = "soak-fleet-ledger";

#[derive(Debug, Args)]
pub struct SoakArgs {
    #[command(flatten)]
    broker: BenchBroker,
    /// Length of the run, minutes (fractions allowed: 1.5 for CI; 60 for a release check).
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Fleet size.
    #[arg(long, default_value_t = 400)]
    cars: usize,
    /// Seconds between forced closes of every connection of the run's virtual host.
    #[arg(long, default_value_t = 60.0)]
    close_every_s: f64,
    /// Seconds between samples of memory, backlog and throughput.
    #[arg(long, default_value_t = 5.0)]
    sample_every_s: f64,
    /// Ledger probe events published per second, each followed id by id.
    #[arg(long, default_value_t = 50.0)]
    ledger_rate: f64,
    /// The simulator's seed, so runs are comparable.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON object on stdout instead of a summary.
    #[arg(long)]
    json: bool,
    /// Run as the ledger process of a soak (the soak starts it; not for people).
    #[arg(long, hide = true)]
    ledger_process: bool,
}

/// A ledger probe: its own id travels in the payload, so the publisher knows it before sending.
#[derive(Debug, Serialize, Deserialize)]
struct Probe {
    id: String,
}

impl Message for Probe {
    const TYPE: &'static str = "instadash.bench.soak-probe";
}

/// The fleet's events as the ledger process's fleet group saw them.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct FleetSeen {
    /// Distinct CloudEvents ids handled.
    consumed: u64,
    /// Handler calls for an id already handled (the bridge's dedup missed them).
    duplicates_after_dedup: u64,
    /// The same plus the repeats the bridge's dedup dropped.
    duplicates_before_dedup: u64,
}

/// What the ledger process prints at the end.
#[derive(Debug, Serialize, Deserialize)]
struct LedgerProcessReport {
    ledger: LedgerReport,
    /// Probes the bridge refused to publish or never got confirmed.
    probes_failed: u64,
    fleet: FleetSeen,
    reconnects: u64,
}

#[derive(Debug, Serialize)]
struct FleetFigures {
    /// Messages the simulator handed to the broker.
    published: u64,
    /// Messages the simulator could not publish.
    publish_failed: u64,
    /// Distinct fleet events the ledger process consumed.
    consumed: u64,
    /// Published but never consumed.
    missing: u64,
    duplicates_before_dedup: u64,
    duplicates_after_dedup: u64,
    /// Messages the tracker handled, and the repeats its dedup dropped.
    tracker_handled: u64,
    tracker_duplicates_dropped: u64,
}

#[derive(Debug, Serialize)]
struct Memory {
    /// Which process is judged, and from when.
    measured: String,
    /// Seconds into the run when the growth starts to count.
    warmup_s: f64,
    /// Whether the dedup window and span rings were full by then (growth before is by design).
    buffers_filled: bool,
    baseline_mb: f64,
    end_mb: f64,
    peak_mb: f64,
    /// [seconds into the run, fleet process MB, ledger process MB], at most 60 points.
    series: Vec<(f64, f64, f64)>,
}

#[derive(Debug, Serialize)]
struct SoakReport {
    cars: usize,
    minutes: f64,
    duration_s: f64,
    close_every_s: f64,
    forced_closes: u64,
    connections_closed: u64,
    /// Connections lost and recovered, over every bridge of the run.
    reconnects: u64,
    reconnects_fleet: u64,
    reconnects_ledger: u64,
    /// The ledger of the probe events (lost, unexpected, duplicates, longest stall, recovery).
    #[serde(flatten)]
    ledger: LedgerReport,
    ledger_probes_failed: u64,
    fleet: FleetFigures,
    /// Messages the tracker handled per second, over the run.
    msgs_per_s: f64,
    published_per_s: f64,
    /// Messages waiting in the run's queues (ready + unacknowledged), at most and over time
    /// ([seconds, messages], at most 60 points).
    max_backlog: u64,
    backlog: Vec<(f64, u64)>,
    /// From the end of publishing to empty queues.
    drain_s: f64,
    memory: Memory,
    /// Growth of the fleet process's resident memory from the end of the warm-up to the end.
    rss_growth_pct: f64,
    passed: bool,
    /// What failed, in words; empty when passed.
    failures: Vec<String>,
}

pub async fn run(args: SoakArgs) -> anyhow::Result<()> {
    if args.ledger_process {
        return ledger_process(&args).await;
    }
    anyhow::ensure!(args.cars > 0, "--cars must be at least 1");
    for (name, value) in [
        ("--minutes", args.minutes),
        ("--close-every-s", args.close_every_s),
        ("--sample-every-s", args.sample_every_s),
        ("--ledger-rate", args.ledger_rate),
    ] {
        anyhow::ensure!(
            value.is_finite() && value > 0.0,
            "{name} must be a positive number, not {value}"
        );
    }
    let report = soak(&args).await?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_summary(&report);
    }
    if !report.passed {
        bail!("the soak failed: {}", report.failures.join("; "));
    }
    Ok(())
}

async fn soak(args: &SoakArgs) -> anyhow::Result<SoakReport> {
    let total = Duration::from_secs_f64(args.minutes * 60.0);
    let warmup = WARMUP.min(total.mul_f64(WARMUP_SHARE));
    let close_every = Duration::from_secs_f64(args.close_every_s);
    let sample_every = Duration::from_secs_f64(args.sample_every_s);
    let vhost = RunVhost::create(&args.broker).await?;
    let api = Management::new(&args.broker.management_url)?;

    // The ledger first: its groups must be bound before the first car or probe speaks.
    let mut ledger = LedgerProcess::start(&vhost.amqp_url, args.ledger_rate).await?;
    let tracker_bridge = connect(&vhost.amqp_url, "tracker").await?;
    let tracker = Tracker::start(tracker_bridge.clone(), TrackerOptions::default()).await?;
    let simulator_bridge = connect(&vhost.amqp_url, "simulator").await?;
    instadash_simulator::clips::serve_clips(&simulator_bridge).await?;
    let reconnects = Arc::new(AtomicU64::new(0));
    count_reconnects(&tracker_bridge, reconnects.clone());
    count_reconnects(&simulator_bridge, reconnects.clone());
    let prepared = simulator_args(args.cars, args.seed)?.prepare()?;
    let simulator = Simulator::start(simulator_bridge.clone(), prepared.model, prepared.options);

    let fleet_process = Process::Current;
    let ledger_process = Process::Pid(ledger.pid);
    let bar = bar(args.json, args.cars, total);
    let started = Instant::now();
    let (mut next_close, mut next_sample) = (close_every, Duration::ZERO);
    let (mut forced_closes, mut connections_closed) = (0u64, 0u64);
    let mut memory: Vec<(f64, f64, f64)> = Vec::new();
    let mut backlog: Vec<(f64, u64)> = Vec::new();
    // (MB, seconds into the run) when the growth starts to count.
    let mut baseline: Option<(f64, f64)> = None;
    let mut buffers_filled = false;
    // Two generations of ids (see the bridge's dedup window).
    let dedup_ids = 2 * tracker_bridge.config().dedup_window as u64;
    let trace_buffer = simulator_bridge.config().trace_buffer as u64;
    // A run too short for the buffers to fill measures from this share of it, and says so.
    let fallback = total.mul_f64(FALLBACK_SHARE);
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticks.tick().await;
        let elapsed = started.elapsed();
        if elapsed >= total {
            break;
        }
        bar.set_position(elapsed.as_secs());
        if elapsed >= next_close {
            next_close += close_every;
            ledger.fault().await?;
            let closed = close_connections(&api, &vhost.name).await?;
            forced_closes += 1;
            connections_closed += closed as u64;
            tracing::info!(closed, "forced close of every connection of the run");
        }
        if elapsed >= next_sample {
            next_sample += sample_every;
            let t = round1(elapsed.as_secs_f64());
            let fleet_mb = megabytes(fleet_process.rss_bytes());
            memory.push((t, fleet_mb, megabytes(ledger_process.rss_bytes())));
            // The baseline waits for the bounded buffers to be full (the tracker's dedup window,
            // every bridge's span ring): until then they grow by design, and that is no leak.
            let buffers_full = tracker_bridge.stats().delivered >= dedup_ids
                && simulator_bridge.stats().published >= trace_buffer;
            if baseline.is_none() && elapsed >= warmup && (buffers_full || elapsed >= fallback) {
                baseline = Some((fleet_mb, t));
                buffers_filled = buffers_full;
            }
            let depth = queued_messages(&api, &vhost.name).await;
            backlog.push((t, depth));
            bar.set_message(format!(
                "{forced_closes} closes · {fleet_mb:.0} MB · backlog {depth}"
            ));
        }
    }
    let run_time = started.elapsed();
    bar.finish_and_clear();
    // The memory judged is the fleet's while it ran: before the drain frees its buffers.
    let end_mb = megabytes(fleet_process.rss_bytes());
    memory.push((
        round1(run_time.as_secs_f64()),
        end_mb,
        megabytes(ledger_process.rss_bytes()),
    ));

    // Stop publishing, then drain: the tracker's queue, and the ledger's (it waits for every
    // confirmed probe and every fleet event the simulator published).
    let progress = simulator.stop().await?.progress;
    let drain_started = Instant::now();
    let tracker_queue = topology::group_queue("tracker");
    while drain_started.elapsed() < DRAIN_LIMIT {
        let depth = tracker_bridge.queue_depth(&tracker_queue).await;
        if depth.is_ok_and(|d| d.ready == 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ledger_report = ledger
        .finish(
            progress.published,
            DRAIN_LIMIT.saturating_sub(drain_started.elapsed()),
        )
        .await?;
    let drain = drain_started.elapsed();
    let tracker_stats = tracker_bridge.stats();
    tracker.stop().await?;
    simulator_bridge
        .shutdown()
        .await
        .context("the simulator leaving the bus")?;
    drop(vhost);

    let (baseline_mb, baseline_s) =
        baseline.unwrap_or_else(|| memory.first().map_or((end_mb, 0.0), |m| (m.1, m.0)));
    let rss_growth_pct = if baseline_mb > 0.0 {
        round1(100.0 * (end_mb - baseline_mb) / baseline_mb)
    } else {
        0.0
    };
    let fleet_reconnects = reconnects.load(Ordering::Relaxed);
    let fleet = FleetFigures {
        published: progress.published,
        publish_failed: progress.failed,
        consumed: ledger_report.fleet.consumed,
        missing: progress
            .published
            .saturating_sub(ledger_report.fleet.consumed),
        duplicates_before_dedup: ledger_report.fleet.duplicates_before_dedup,
        duplicates_after_dedup: ledger_report.fleet.duplicates_after_dedup,
        tracker_handled: tracker_stats.handled,
        tracker_duplicates_dropped: tracker_stats.duplicates,
    };
    let secs = run_time.as_secs_f64();
    let mut report = SoakReport {
        cars: args.cars,
        minutes: args.minutes,
        duration_s: round1(secs),
        close_every_s: args.close_every_s,
        forced_closes,
        connections_closed,
        reconnects: fleet_reconnects + ledger_report.reconnects,
        reconnects_fleet: fleet_reconnects,
        reconnects_ledger: ledger_report.reconnects,
        ledger: ledger_report.ledger,
        ledger_probes_failed: ledger_report.probes_failed,
        fleet,
        msgs_per_s: round1(tracker_stats.handled as f64 / secs),
        published_per_s: round1(progress.published as f64 / secs),
        max_backlog: backlog.iter().map(|(_, d)| *d).max().unwrap_or(0),
        backlog: compact(&backlog),
        drain_s: round1(drain.as_secs_f64()),
        memory: Memory {
            measured: format!(
                "resident memory of the fleet process (simulator and tracker; the ledger runs apart), from {baseline_s:.0} s into the run to its end; {}",
                if buffers_filled {
                    "the bounded buffers (dedup window, span rings) were full by then"
                } else {
                    "the run was too short for the bounded buffers (dedup window, span rings) to fill, so their filling counts as growth"
                }
            ),
            warmup_s: round1(baseline_s),
            buffers_filled,
            baseline_mb: round1(baseline_mb),
            end_mb: round1(end_mb),
            peak_mb: round1(memory.iter().map(|m| m.1).fold(0.0, f64::max)),
            series: compact(&memory),
        },
        rss_growth_pct,
        passed: false,
        failures: Vec::new(),
    };
    report.failures = failures(&report);
    report.passed = report.failures.is_empty();
    Ok(report)
}

/// What makes a run fail, in words.
fn failures(report: &SoakReport) -> Vec<String> {
    let mut failed = Vec::new();
    let ledger = &report.ledger;
    if ledger.lost > 0 {
        failed.push(format!(
            "{} confirmed probe events were never consumed (lost)",
            ledger.lost
        ));
    }
    if ledger.unexpected > 0 {
        failed.push(format!(
            "{} probe events were consumed but never sent (unexpected)",
            ledger.unexpected
        ));
    }
    if ledger.duplicates_after_dedup > 0 {
        failed.push(format!(
            "{} probe events reached a handler twice (duplicates after dedup)",
            ledger.duplicates_after_dedup
        ));
    }
    if report.fleet.missing > 0 {
        failed.push(format!(
            "{} fleet events the simulator published were never consumed",
            report.fleet.missing
        ));
    }
    if report.fleet.duplicates_after_dedup > 0 {
        failed.push(format!(
            "{} fleet events reached a handler twice",
            report.fleet.duplicates_after_dedup
        ));
    }
    if report.rss_growth_pct >= MAX_RSS_GROWTH_PCT {
        failed.push(format!(
            "memory grew {:.1} % ({:.1} → {:.1} MB), the limit is {MAX_RSS_GROWTH_PCT:.0} %",
            report.rss_growth_pct, report.memory.baseline_mb, report.memory.end_mb
        ));
    }
    failed
}

fn print_summary(report: &SoakReport) {
    let l = &report.ledger;
    let f = &report.fleet;
    eprintln!(
        "soak: {} cars for {:.1} min, {} forced closes ({} connections), {} reconnects",
        report.cars,
        report.duration_s / 60.0,
        report.forced_closes,
        report.connections_closed,
        report.reconnects
    );
    eprintln!(
        "  ledger probes: sent {}, confirmed {}, consumed {}, lost {}, unexpected {}, duplicates {} before / {} after dedup, longest stall {} ms{}",
        l.sent,
        l.confirmed,
        l.consumed,
        l.lost,
        l.unexpected,
        l.duplicates_before_dedup,
        l.duplicates_after_dedup,
        l.longest_stall_ms,
        l.recovery_ms
            .map_or(String::new(), |ms| format!(", last recovery {ms} ms")),
    );
    eprintln!(
        "  fleet events: published {} ({} failed), consumed {}, missing {}, duplicates {} before / {} after dedup; tracker handled {} ({:.0} msg/s)",
        f.published,
        f.publish_failed,
        f.consumed,
        f.missing,
        f.duplicates_before_dedup,
        f.duplicates_after_dedup,
        f.tracker_handled,
        report.msgs_per_s
    );
    let m = &report.memory;
    eprintln!(
        "  memory (fleet process): {:.1} MB after the {:.0} s warm-up → {:.1} MB at the end ({:+.1} %), peak {:.1} MB",
        m.baseline_mb, m.warmup_s, m.end_mb, report.rss_growth_pct, m.peak_mb
    );
    let series: Vec<String> = m
        .series
        .iter()
        .map(|(t, mb, _)| format!("{t:.0}s {mb:.0}"))
        .collect();
    eprintln!("  memory over time (s MB): {}", series.join(", "));
    eprintln!(
        "  backlog: at most {} messages; drained in {:.1} s",
        report.max_backlog, report.drain_s
    );
    if report.passed {
        eprintln!("  PASSED");
    }
}

/// At most [`SERIES_POINTS`] evenly spaced points of `series`, the last one always kept.
fn compact<T: Copy>(series: &[T]) -> Vec<T> {
    let step = series.len().div_ceil(SERIES_POINTS).max(1);
    let mut kept: Vec<T> = series.iter().step_by(step).copied().collect();
    if let Some(last) = series.last()
        && !(series.len() - 1).is_multiple_of(step)
    {
        kept.push(*last);
    }
    kept
}

fn megabytes(bytes: Option<u64>) -> f64 {
    round1(bytes.unwrap_or(0) as f64 / 1_048_576.0)
}

/// The simulator as `instadash simulate --cars N --seed S` makes it, so the soak drives the same
/// fleet (behaviour, fix interval, no noise) as every other run.
fn simulator_args(cars: usize, seed: u64) -> anyhow::Result<SimulatorArgs> {
    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        simulator: SimulatorArgs,
    }
    let wrapper = Wrapper::try_parse_from([
        "simulate".to_owned(),
        "--cars".to_owned(),
        cars.to_string(),
        "--seed".to_owned(),
        seed.to_string(),
    ])
    .context("the simulator's settings")?;
    Ok(wrapper.simulator)
}

async fn connect(amqp_url: &str, service: &str) -> anyhow::Result<Bridge> {
    let mut config = BridgeConfig::new(service);
    config.amqp_url = amqp_url.to_owned();
    Bridge::connect(config)
        .await
        .with_context(|| format!("connecting {service}"))
}

/// Counts each recovery of `bridge`'s connection (from `Recovering` back to `Connected`).
fn count_reconnects(bridge: &Bridge, count: Arc<AtomicU64>) {
    let mut state = bridge.state();
    tokio::spawn(async move {
        let mut recovering = false;
        while state.changed().await.is_ok() {
            match *state.borrow_and_update() {
                LinkState::Recovering => recovering = true,
                LinkState::Connected if recovering => {
                    recovering = false;
                    count.fetch_add(1, Ordering::Relaxed);
                }
                LinkState::Closed => break,
                _ => {}
            }
        }
    });
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

/// Closes every connection of `vhost` through the management API; how many there were. The API
/// lists a new connection a few seconds late, so it waits (10 s at most) for the five the run
/// holds (tracker, simulator, and the ledger's publisher and two consumers) before closing what
/// it sees.
async fn close_connections(api: &Management, vhost: &str) -> anyhow::Result<usize> {
    const RUN_CONNECTIONS: usize = 5;
    let (api, vhost) = (api.clone(), vhost.to_owned());
    tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        let connections = loop {
            let connections: Vec<Named> = api
                .get(&format!("/api/vhosts/{}/connections", enc(&vhost)))
                .context("listing the run's connections")?;
            if connections.len() >= RUN_CONNECTIONS || Instant::now() >= deadline {
                break connections;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        for connection in &connections {
            // A connection may be gone already; that is what we wanted.
            let _ = api.delete(&format!("/api/connections/{}", enc(&connection.name)));
        }
        Ok(connections.len())
    })
    .await?
}

/// Messages in the run's queues (ready and unacknowledged), as the management API last counted
/// them; 0 when it cannot say (a sample is not worth failing the run for).
async fn queued_messages(api: &Management, vhost: &str) -> u64 {
    let (api, vhost) = (api.clone(), vhost.to_owned());
    tokio::task::spawn_blocking(move || api.queues(&vhost))
        .await
        .ok()
        .and_then(Result::ok)
        .map_or(0, |queues| queues.iter().map(|q| q.messages).sum())
}

// ---- the ledger process ----------------------------------------------------------------------

/// The ledger process, seen from the soak: a line protocol on its standard input (`fault`, then
/// `stop <fleet events published>`), `ready` and then one JSON report on its standard output.
struct LedgerProcess {
    child: tokio::process::Child,
    pid: u32,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl LedgerProcess {
    async fn start(amqp_url: &str, rate: f64) -> anyhow::Result<Self> {
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .args(["bench", "soak", "--ledger-process"])
            .args(["--ledger-rate", &rate.to_string()])
            .env("AMQP_URL", amqp_url)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting the ledger process")?;
        let pid = child.id().context("the ledger process exited at once")?;
        let stdin = child.stdin.take().context("the ledger process's stdin")?;
        let stdout = child.stdout.take().context("the ledger process's stdout")?;
        let mut stdout = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(60), stdout.next_line())
            .await
            .context("waiting for the ledger process to subscribe")?
            .context("reading the ledger process")?;
        anyhow::ensure!(
            ready.as_deref() == Some("ready"),
            "the ledger process did not start (it said {ready:?})"
        );
        Ok(Self {
            child,
            pid,
            stdin,
            stdout,
        })
    }

    async fn fault(&mut self) -> anyhow::Result<()> {
        self.stdin
            .write_all(b"fault\n")
            .await
            .context("telling the ledger process about a fault")
    }

    /// Stops the probes, lets the ledger drain (expecting `fleet_published` fleet events, for at
    /// most `drain`), and returns its report.
    async fn finish(
        mut self,
        fleet_published: u64,
        drain: Duration,
    ) -> anyhow::Result<LedgerProcessReport> {
        let command = format!("stop {fleet_published} {}\n", drain.as_millis());
        self.stdin
            .write_all(command.as_bytes())
            .await
            .context("stopping the ledger process")?;
        let line = tokio::time::timeout(drain + Duration::from_secs(60), self.stdout.next_line())
            .await
            .context("waiting for the ledger's report")?
            .context("reading the ledger's report")?
            .context("the ledger process ended without a report")?;
        let report = serde_json::from_str(&line).context("reading the ledger's report")?;
        let status = self
            .child
            .wait()
            .await
            .context("waiting for the ledger process")?;
        anyhow::ensure!(status.success(), "the ledger process failed ({status})");
        Ok(report)
    }
}

/// The fleet's events by CloudEvents id.
#[derive(Default)]
struct FleetIds {
    ids: HashSet<String>,
    duplicates: u64,
}

impl FleetIds {
    fn record(ids: &Mutex<FleetIds>, id: &str) {
        let mut seen = ids.lock().unwrap_or_else(|p| p.into_inner());
        if !seen.ids.insert(id.to_owned()) {
            seen.duplicates += 1;
        }
    }
}

/// Subscribes `bridge`'s group [`FLEET_GROUP`] to every message a car sends.
async fn consume_fleet(bridge: &Bridge, ids: Arc<Mutex<FleetIds>>) -> anyhow::Result<()> {
    fn record<T: Message>(
        ids: &Arc<Mutex<FleetIds>>,
    ) -> impl Fn(Incoming<T>) -> std::future::Ready<anyhow::Result<()>> + Send + Sync + 'static
    {
        let ids = ids.clone();
        move |m: Incoming<T>| {
            FleetIds::record(&ids, &m.envelope.id);
            std::future::ready(Ok(()))
        }
    }
    bridge
        .subscribe(FLEET_GROUP)
        .on(record::<Position>(&ids))
        .on(record::<ObdReading>(&ids))
        .on(record::<TroubleCodes>(&ids))
        .on(record::<Ignition>(&ids))
        .on(record::<ClipCaptured>(&ids))
        .start()
        .await
        .context("subscribing the fleet ledger")
}

/// The ledger process's `main`: see [`LedgerProcess`].
async fn ledger_process(args: &SoakArgs) -> anyhow::Result<()> {
    let url = &args.broker.amqp_url;
    let publisher = connect(url, "soak-publisher").await?;
    let probes = connect(url, "soak-ledger").await?;
    let fleet = connect(url, "soak-fleet-ledger").await?;
    let reconnects = Arc::new(AtomicU64::new(0));
    for bridge in [&publisher, &probes, &fleet] {
        count_reconnects(bridge, reconnects.clone());
    }
    let ledger = Arc::new(Ledger::default());
    let record = ledger.clone();
    probes
        .subscribe(PROBE_GROUP)
        .on(move |m: Incoming<Probe>| {
            record.record(&m.data.id);
            std::future::ready(Ok(()))
        })
        .start()
        .await
        .context("subscribing the probe ledger")?;
    let fleet_ids = Arc::new(Mutex::new(FleetIds::default()));
    consume_fleet(&fleet, fleet_ids.clone()).await?;
    say("ready")?;

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let publishing = tokio::spawn(publish_probes(
        publisher.clone(),
        ledger.clone(),
        args.ledger_rate,
        stop_rx,
    ));
    let mut commands = BufReader::new(tokio::io::stdin()).lines();
    // Without a `stop` (the soak died), drain what was confirmed for a short while.
    let (mut fleet_expected, mut drain) = (0u64, Duration::from_secs(10));
    while let Some(line) = commands.next_line().await? {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("fault") => ledger.fault(),
            Some("stop") => {
                fleet_expected = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
                if let Some(ms) = words.next().and_then(|w| w.parse().ok()) {
                    drain = Duration::from_millis(ms);
                }
                break;
            }
            _ => bail!("the ledger process does not understand {line:?}"),
        }
    }
    let _ = stop_tx.send(());
    let probes_failed = publishing.await.context("the probe publisher failed")?;

    let fleet_consumed = || {
        fleet_ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .ids
            .len() as u64
    };
    let deadline = Instant::now() + drain;
    while Instant::now() < deadline
        && !(ledger.all_confirmed_handled() && fleet_consumed() >= fleet_expected)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ledger.dropped_by_dedup(probes.stats().duplicates);
    let (consumed, handler_duplicates) = {
        let seen = fleet_ids.lock().unwrap_or_else(|p| p.into_inner());
        (seen.ids.len() as u64, seen.duplicates)
    };
    let report = LedgerProcessReport {
        ledger: ledger.report("soak"),
        probes_failed,
        fleet: FleetSeen {
            consumed,
            duplicates_after_dedup: handler_duplicates,
            duplicates_before_dedup: handler_duplicates + fleet.stats().duplicates,
        },
        reconnects: reconnects.load(Ordering::Relaxed),
    };
    for bridge in [&publisher, &probes, &fleet] {
        bridge
            .shutdown()
            .await
            .context("the ledger leaving the bus")?;
    }
    say(&serde_json::to_string(&report)?)
}

/// Publishes probes at `rate` per second until `stop`, recording each id as sent and, once the
/// broker confirms it, as confirmed; then waits for every outstanding confirm. How many failed.
async fn publish_probes(
    bridge: Bridge,
    ledger: Arc<Ledger>,
    rate: f64,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> u64 {
    let failed = Arc::new(AtomicU64::new(0));
    // Confirms come back in about publishing order, so one task awaiting them in turn keeps up,
    // and publishing never waits for them (the bridge's confirm window bounds what is in flight).
    let (receipts, mut pending) =
        tokio::sync::mpsc::unbounded_channel::<(String, broker_bridge::Receipt)>();
    let confirming = {
        let (ledger, failed) = (ledger.clone(), failed.clone());
        tokio::spawn(async move {
            while let Some((id, receipt)) = pending.recv().await {
                match receipt.confirmed().await {
                    Ok(()) => ledger.confirmed(&id),
                    Err(error) => {
                        tracing::warn!(%error, id, "a probe was not confirmed");
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
    };
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for seq in 0u64.. {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = &mut stop => break,
        }
        let id = format!("probe-{seq}");
        ledger.sent(&id);
        match bridge.publish(&Probe { id: id.clone() }).await {
            Ok(receipt) => {
                let _ = receipts.send((id, receipt));
            }
            Err(error) => {
                tracing::warn!(%error, id, "a probe could not be published");
                failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    drop(receipts);
    let _ = confirming.await;
    failed.load(Ordering::Relaxed)
}

/// One line to the soak that started this process.
fn say(line: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush().context("writing to the soak")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compact_series_keeps_its_ends_and_at_most_sixty_points() {
        let long: Vec<u32> = (0..721).collect();
        let kept = compact(&long);
        assert!(kept.len() <= SERIES_POINTS + 1, "{} points", kept.len());
        assert_eq!(kept.first(), Some(&0));
        assert_eq!(kept.last(), Some(&720));
        let short: Vec<u32> = (0..10).collect();
        assert_eq!(compact(&short), short);
        assert!(compact::<u32>(&[]).is_empty());
    }

    #[test]
    fn the_simulator_is_made_as_instadash_simulate_makes_it() {
        let args = simulator_args(7, 3).unwrap();
        assert_eq!(args.cars, 7);
        assert_eq!(args.seed, Some(3));
        assert!(!args.noise);
    }
}
