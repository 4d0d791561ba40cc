//! `instadash bench broker`: the cost of broker-bridge against raw lapin.
//!
//! `bench broker` runs the same workload through raw lapin and through broker-bridge in one run
//! (see `broker_bridge::bench`) and compares them: throughput ratio and p99 latency ratio. Raw
//! lapin runs twice: with bare messages (`raw`), and with the CloudEvents envelope the bridge puts
//! on the wire (`raw_cloudevents`), so the cost of the wire conventions and the cost of the
//! bridge's own machinery show separately.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::bail;
use broker_bridge::QueueKind;
use broker_bridge::bench::{self, BenchOptions, BenchResult, RawWire};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

/// The targets the bridge is held to (issue: bridge cost against raw lapin).
const MIN_THROUGHPUT_RATIO: f64 = 0.9;
const MAX_P99_RATIO: f64 = 2.0;

#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// Broker URL.
    #[arg(
        long,
        env = "AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    amqp_url: String,
    /// Messages per measured run.
    #[arg(long, default_value_t = 50_000)]
    messages: u64,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 200)]
    size: usize,
    /// Queue type: classic or quorum.
    #[arg(long, default_value = "classic", value_parser = parse_queue_kind)]
    queue_type: QueueKind,
    /// Published messages that may await their broker confirm at once.
    #[arg(long, default_value_t = 100)]
    confirm_window: usize,
    /// Deliveries the broker may send the consumer ahead of acknowledgement.
    #[arg(long, default_value_t = 300)]
    prefetch: u16,
    /// Measured rounds, each raw then bridge; the median round of each path is reported.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Messages of the warm-up run of each path before measuring (0: no warm-up).
    #[arg(long, default_value_t = 2_000)]
    warmup: u64,
    /// Print one JSON object on stdout instead of progress bars and a table.
    #[arg(long)]
    json: bool,
}

fn parse_queue_kind(value: &str) -> Result<QueueKind, String> {
    value.parse()
}

fn queue_type_name(kind: QueueKind) -> &'static str {
    match kind {
        QueueKind::Classic => "classic",
        QueueKind::Quorum => "quorum",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Raw,
    RawCloudEvents,
    Bridge,
}

impl Path {
    const ALL: [Path; 3] = [Path::Raw, Path::RawCloudEvents, Path::Bridge];

    fn name(self) -> &'static str {
        match self {
            Path::Raw => "raw",
            Path::RawCloudEvents => "raw+ce",
            Path::Bridge => "bridge",
        }
    }
}

pub async fn run(args: BrokerArgs) -> anyhow::Result<()> {
    if args.rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    let options = BenchOptions {
        amqp_url: args.amqp_url.clone(),
        messages: args.messages,
        size: args.size,
        queue_kind: args.queue_type,
        confirm_window: args.confirm_window,
        prefetch: args.prefetch,
    };
    let show_bars = !args.json && std::io::stderr().is_terminal();
    let human = !args.json;

    if args.warmup > 0 {
        let warm = BenchOptions {
            messages: args.warmup,
            ..options.clone()
        };
        for path in Path::ALL {
            phase(
                path,
                &warm,
                &format!("warm-up {}", path.name()),
                show_bars,
                human,
            )
            .await?;
        }
    }

    // Rounds alternate the paths, so a slow spell of this shared machine hits them alike.
    let mut rounds: [Vec<BenchResult>; 3] = Default::default();
    for round in 1..=args.rounds {
        for (n, path) in Path::ALL.into_iter().enumerate() {
            let label = if args.rounds > 1 {
                format!("{} {round}/{}", path.name(), args.rounds)
            } else {
                path.name().to_owned()
            };
            let result = phase(path, &options, &label, show_bars, human).await?;
            rounds[n].push(result);
        }
    }
    let [raw, raw_ce, bridge] = &rounds;
    let summary = Summary {
        args: &args,
        raw: median_round(raw),
        raw_ce: median_round(raw_ce),
        bridge: median_round(bridge),
        rounds: &rounds,
    };
    if args.json {
        println!("{}", serde_json::to_string(&summary.json())?);
    } else {
        summary.print_table();
    }
    Ok(())
}

/// One run of one path, with its progress bar.
async fn phase(
    path: Path,
    options: &BenchOptions,
    label: &str,
    show_bar: bool,
    human: bool,
) -> anyhow::Result<BenchResult> {
    let bar = progress_bar(options.messages, label, show_bar);
    let progress = {
        let bar = bar.clone();
        move |consumed: u64| bar.set_position(consumed)
    };
    let result = match path {
        Path::Raw => bench::run_raw(options, RawWire::Bare, progress).await,
        Path::RawCloudEvents => bench::run_raw(options, RawWire::CloudEvents, progress).await,
        Path::Bridge => bench::run_bridge(options, progress).await,
    };
    match &result {
        Ok(result) => {
            let line = format!(
                "{:>8.0} msg/s  p50 {:.2} ms  p99 {:.2} ms",
                result.msgs_per_s, result.p50_ms, result.p99_ms
            );
            if show_bar {
                bar.finish_with_message(line);
            } else if human {
                eprintln!("{label:>16}: {line}");
            }
        }
        Err(_) => bar.abandon_with_message("failed"),
    }
    result
}

fn progress_bar(len: u64, label: &str, visible: bool) -> ProgressBar {
    let target = if visible {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(len), target).with_prefix(label.to_owned());
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix:>16} [{bar:30.cyan/blue}] {pos:>7}/{len:7} {elapsed:>3} {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    if visible {
        bar.enable_steady_tick(Duration::from_millis(200));
    }
    bar
}

/// The round with the median throughput (the lower middle one for an even count).
fn median_round(rounds: &[BenchResult]) -> &BenchResult {
    let mut sorted: Vec<&BenchResult> = rounds.iter().collect();
    sorted.sort_by(|a, b| a.msgs_per_s.total_cmp(&b.msgs_per_s));
    sorted[(sorted.len() - 1) / 2]
}

fn ratio_of(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 {
        numerator / denominator
    } else {
        f64::NAN
    }
}

/// Rounded for display and JSON: three decimals are plenty for milliseconds and ratios.
fn round3(value: f64) -> f64 {
    (value * 1_000.0).round() / 1_000.0
}

#[derive(Serialize)]
struct Shown {
    messages: u64,
    elapsed_s: f64,
    msgs_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

impl From<&BenchResult> for Shown {
    fn from(r: &BenchResult) -> Self {
        Self {
            messages: r.messages,
            elapsed_s: round3(r.elapsed_s),
            msgs_per_s: r.msgs_per_s.round(),
            p50_ms: round3(r.p50_ms),
            p99_ms: round3(r.p99_ms),
            max_ms: round3(r.max_ms),
        }
    }
}

/// The `--json` output: parameters first, then the median round of each path and the ratios.
#[derive(Serialize)]
struct Report {
    benchmark: &'static str,
    amqp_url: String,
    messages: u64,
    size: usize,
    queue_type: &'static str,
    confirm_window: usize,
    prefetch: u16,
    rounds: usize,
    warmup: u64,
    /// Raw lapin, bare messages.
    raw: Shown,
    /// Raw lapin, the bridge's CloudEvents envelope on every message.
    raw_cloudevents: Shown,
    bridge: Shown,
    /// Bridge msgs/s divided by raw msgs/s.
    ratio: f64,
    /// Bridge p99 latency divided by raw p99 latency.
    p99_ratio: f64,
    /// The same two ratios against raw lapin sending the same wire messages.
    ratio_same_wire: f64,
    p99_ratio_same_wire: f64,
    targets: Targets,
    /// Every measured round, in the order run; the paths above are the median ones.
    all_rounds: AllRounds,
}

#[derive(Serialize)]
struct Targets {
    min_ratio: f64,
    max_p99_ratio: f64,
    ratio_met: bool,
    p99_ratio_met: bool,
    ratio_same_wire_met: bool,
    p99_ratio_same_wire_met: bool,
}

#[derive(Serialize)]
struct AllRounds {
    raw: Vec<Shown>,
    raw_cloudevents: Vec<Shown>,
    bridge: Vec<Shown>,
}

struct Summary<'a> {
    args: &'a BrokerArgs,
    raw: &'a BenchResult,
    raw_ce: &'a BenchResult,
    bridge: &'a BenchResult,
    rounds: &'a [Vec<BenchResult>; 3],
}

/// Throughput and p99 ratios of the bridge against one baseline.
struct Ratios {
    throughput: f64,
    p99: f64,
}

impl Ratios {
    fn of(bridge: &BenchResult, baseline: &BenchResult) -> Self {
        Self {
            throughput: ratio_of(bridge.msgs_per_s, baseline.msgs_per_s),
            p99: ratio_of(bridge.p99_ms, baseline.p99_ms),
        }
    }

    fn met(&self) -> (bool, bool) {
        (
            self.throughput >= MIN_THROUGHPUT_RATIO,
            self.p99 <= MAX_P99_RATIO,
        )
    }
}

impl Summary<'_> {
    fn json(&self) -> Report {
        let args = self.args;
        let bare = Ratios::of(self.bridge, self.raw);
        let same_wire = Ratios::of(self.bridge, self.raw_ce);
        let (ratio_met, p99_ratio_met) = bare.met();
        let (ratio_same_wire_met, p99_ratio_same_wire_met) = same_wire.met();
        let shown = |rounds: &[BenchResult]| rounds.iter().map(Shown::from).collect();
        Report {
            benchmark: "broker",
            amqp_url: redacted(&args.amqp_url),
            messages: args.messages,
            size: args.size,
            queue_type: queue_type_name(args.queue_type),
            confirm_window: args.confirm_window,
            prefetch: args.prefetch,
            rounds: args.rounds,
            warmup: args.warmup,
            raw: Shown::from(self.raw),
            raw_cloudevents: Shown::from(self.raw_ce),
            bridge: Shown::from(self.bridge),
            ratio: round3(bare.throughput),
            p99_ratio: round3(bare.p99),
            ratio_same_wire: round3(same_wire.throughput),
            p99_ratio_same_wire: round3(same_wire.p99),
            targets: Targets {
                min_ratio: MIN_THROUGHPUT_RATIO,
                max_p99_ratio: MAX_P99_RATIO,
                ratio_met,
                p99_ratio_met,
                ratio_same_wire_met,
                p99_ratio_same_wire_met,
            },
            all_rounds: AllRounds {
                raw: shown(&self.rounds[0]),
                raw_cloudevents: shown(&self.rounds[1]),
                bridge: shown(&self.rounds[2]),
            },
        }
    }

    fn print_table(&self) {
        let args = self.args;
        let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
        println!(
            "broker bench: {} messages of {} B, {} queue, confirm window {}, prefetch {}, \
             {} round{}{}",
            args.messages,
            args.size,
            queue_type_name(args.queue_type),
            args.confirm_window,
            args.prefetch,
            args.rounds,
            if args.rounds == 1 { "" } else { "s" },
            if args.rounds > 1 {
                " (median round shown)"
            } else {
                ""
            },
        );
        println!();
        println!(
            "{:<8} {:>10} {:>9} {:>9} {:>9} {:>10}",
            "path", "msgs/s", "p50 ms", "p99 ms", "max ms", "elapsed s"
        );
        for path in Path::ALL {
            let r = match path {
                Path::Raw => self.raw,
                Path::RawCloudEvents => self.raw_ce,
                Path::Bridge => self.bridge,
            };
            println!(
                "{:<8} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>10.2}",
                path.name(),
                r.msgs_per_s,
                r.p50_ms,
                r.p99_ms,
                r.max_ms,
                r.elapsed_s
            );
        }
        println!();
        for (baseline, r) in [
            ("raw", Ratios::of(self.bridge, self.raw)),
            ("raw+ce", Ratios::of(self.bridge, self.raw_ce)),
        ] {
            let (throughput_ok, p99_ok) = r.met();
            println!(
                "bridge/{baseline:<7} msgs/s {:.3} (target >= {MIN_THROUGHPUT_RATIO}: {})   \
                 p99 {:.3} (target <= {MAX_P99_RATIO}: {})",
                r.throughput,
                verdict(throughput_ok),
                r.p99,
                verdict(p99_ok)
            );
        }
    }
}

/// The URL without its password.
fn redacted(url: &str) -> String {
    let mut config = broker_bridge::BridgeConfig::new("bench");
    config.amqp_url = url.to_owned();
    config.redacted_url()
}
