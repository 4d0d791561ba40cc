//! `instadash simulate`: only the simulator, against any broker, with a live progress line.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::Context;
use broker_bridge::{Bridge, BridgeArgs, BridgeConfig};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use instadash_simulator::cli::SimulatorArgs;
use instadash_simulator::service::{Progress, Simulator};

use crate::health::Health;

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub bridge: BridgeArgs,
    #[command(flatten)]
    pub simulator: SimulatorArgs,
    /// Stop after this many seconds (default: at Ctrl-C, or when the scenario ends).
    #[arg(long)]
    pub duration_s: Option<f64>,
    /// At the end, print the final figures as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let health = Health::serve(None).await?;
    let outcome = simulate(args, &health).await;
    health.close().await;
    outcome
}

/// The cars until Ctrl-C, SIGTERM, `--duration-s` or the end of the scenario; `health` says when
/// they run (`instadash run simulator` serves it).
pub async fn simulate(args: SimulateArgs, health: &Health) -> anyhow::Result<()> {
    let prepared = args.simulator.prepare()?;
    let config = BridgeConfig::resolve(&args.bridge, "simulator")?;
    eprintln!(
        "instadash simulate: {} cars on {} (seed {}, {} fix interval ms, speedup {})",
        prepared.model.car_count(),
        config.redacted_url(),
        prepared.seed,
        prepared.model.fix_interval_ms(),
        prepared.options.speedup,
    );
    let bridge = Bridge::connect(config)
        .await
        .context("connecting to the broker")?;
    // The cars answer for their dashcam clips before any clip is captured.
    instadash_simulator::clips::serve_clips(&bridge).await?;
    let simulator = Simulator::start(bridge.clone(), prepared.model, prepared.options);
    health.started(bridge.state());
    let deadline = args
        .duration_s
        .map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    let mut line = ProgressLine::new();
    let mut ticks = tokio::time::interval(Duration::from_millis(500));
    let signal = broker_bridge::shutdown::signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = &mut signal => break,
        }
        line.show(&simulator.progress(), "");
        if simulator.is_finished() || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    health.stopping();
    let report = simulator.stop().await?;
    line.finish(&report.progress);
    bridge.shutdown().await.context("leaving the bus")?;
    if args.json {
        println!("{}", serde_json::to_string(&report.progress)?);
    }
    Ok(())
}

/// The simulator's one-line status: redrawn in place on a terminal, otherwise a line on stderr
/// every 10 s (so logs of a container stay readable).
pub struct ProgressLine {
    bar: ProgressBar,
    last: Option<(Instant, u64)>,
    rate: f64,
    logged: Instant,
}

impl ProgressLine {
    pub fn new() -> Self {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                .expect("valid template"),
        );
        Self {
            bar,
            last: None,
            rate: 0.0,
            logged: Instant::now(),
        }
    }

    /// Redraws with the latest figures; `extra` is appended (e.g. the tracker's view).
    pub fn show(&mut self, progress: &Progress, extra: &str) {
        let now = Instant::now();
        if let Some((at, published)) = self.last {
            let seconds = now.duration_since(at).as_secs_f64();
            if seconds > 0.0 {
                self.rate = (progress.published - published) as f64 / seconds;
            }
        }
        self.last = Some((now, progress.published));
        let message = describe(progress, self.rate, extra);
        if self.bar.is_hidden() {
            if self.logged.elapsed() >= Duration::from_secs(10) {
                self.logged = now;
                eprintln!("{message}");
            }
        } else {
            self.bar.set_message(message);
            self.bar.tick();
        }
    }

    pub fn finish(&self, progress: &Progress) {
        self.bar.finish_and_clear();
        eprintln!("{}", describe(progress, self.rate, "stopped"));
    }
}

fn describe(p: &Progress, rate: f64, extra: &str) -> String {
    let schedule = if p.is_behind() {
        format!("BEHIND by {} ms", p.behind_ms)
    } else {
        "on schedule".to_owned()
    };
    let mut line = format!(
        "{} cars · {} fix intervals · {} published ({:.0}/s) · {schedule} (worst {} ms, {} late)",
        p.cars, p.steps, p.published, rate, p.max_behind_ms, p.late_steps
    );
    if p.failed > 0 {
        line.push_str(&format!(" · {} FAILED", p.failed));
    }
    if !extra.is_empty() {
        line.push_str(" · ");
        line.push_str(extra);
    }
    line
}
