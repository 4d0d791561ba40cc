//! `instadash services`: the service instances on the bus, from the bridge's discovery
//! [`Directory`]: who, which version, since when, when last heard of, their health, and what each
//! consumes, produces and answers. `--watch` keeps the listing live; `--json` is for scripts.
//!
//! The command is an instance on the bus itself (service `instadash-cli`), so it leaves its own
//! instance out of the listing.
//!
//! A directory is complete within moments of opening: every live instance answers its ping. The
//! command prints once the directory has heard this very instance's own answer (the ping's round
//! trip) and then nothing new for 300 ms, or once `--wait-ms` has passed, whichever comes first.

use std::io::{IsTerminal, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use broker_bridge::discovery::{Health, TypeVersions};
use broker_bridge::{Bridge, BridgeArgs, BridgeConfig, Directory, Instance, InstanceStatus};
use clap::Args;
use serde::Serialize;
use tokio::time::Instant;

#[derive(Debug, Args)]
pub struct ServicesArgs {
    #[command(flatten)]
    bridge: BridgeArgs,
    /// Keep the listing live: redraw on every change (a terminal is cleared and redrawn, also
    /// every second so ages stay current; otherwise each snapshot is printed after a blank line,
    /// or with `--json` as one JSON array per line) until Ctrl-C or SIGTERM.
    #[arg(long)]
    watch: bool,
    /// Print the instances as a JSON array (the directory's view of each, plus `uptime_s` and
    /// `last_heartbeat_age_ms`); only results go to stdout, logs to stderr.
    #[arg(long)]
    json: bool,
    /// The longest to listen before the first listing. Live instances answer within moments, so
    /// the listing is printed as soon as the directory has been quiet for 300 ms after this
    /// command's own answer arrived; this bounds the wait when the broker or an instance is slow.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    wait_ms: u64,
}

/// How long the directory must hear nothing new before the listing is taken as complete.
const QUIET: Duration = Duration::from_millis(300);
/// Changes arriving this close together are drawn once (an announcement burst after a ping).
const COALESCE: Duration = Duration::from_millis(100);
/// How often a terminal under `--watch` is redrawn when nothing changes, so ages stay current.
const REFRESH: Duration = Duration::from_secs(1);

pub async fn run(args: ServicesArgs) -> anyhow::Result<()> {
    let config = BridgeConfig::resolve(&args.bridge, "instadash-cli")?;
    let own = config.instance.to_string();
    let bridge = Bridge::connect(config).await?;
    let outcome = list(&bridge, &own, &args).await;
    bridge.shutdown().await?;
    outcome
}

async fn list(bridge: &Bridge, own: &str, args: &ServicesArgs) -> anyhow::Result<()> {
    let mut directory = bridge
        .directory()
        .await
        .context("opening the service directory")?;
    settle(&mut directory, own, Duration::from_millis(args.wait_ms)).await;
    let terminal = std::io::stdout().is_terminal();
    let mut out = Output {
        json: args.json,
        watch: args.watch,
        terminal,
        drawn: 0,
    };
    let mut shown = others(&directory, own);
    out.draw(&shown)?;
    if !args.watch {
        return Ok(());
    }
    let stop = broker_bridge::shutdown::signal();
    tokio::pin!(stop);
    let mut refresh = tokio::time::interval_at(Instant::now() + REFRESH, REFRESH);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            open = directory.changed() => {
                anyhow::ensure!(open, "the directory stopped following the bus");
                // Let a burst of announcements land, then draw once.
                let until = Instant::now() + COALESCE;
                while let Ok(open) = tokio::time::timeout_at(until, directory.changed()).await {
                    anyhow::ensure!(open, "the directory stopped following the bus");
                }
                let now = others(&directory, own);
                // Changes to this command's own instance (its first heartbeat) show nothing new.
                if !same(&now, &shown) {
                    shown = now;
                    if !out.draw(&shown)? {
                        return Ok(());
                    }
                }
            }
            _ = refresh.tick(), if terminal && !args.json => {
                shown = others(&directory, own);
                if !out.draw(&shown)? {
                    return Ok(());
                }
            }
            () = &mut stop => return Ok(()),
        }
    }
}

/// Waits until the directory is complete: it has this instance's own answer to its ping and has
/// then been quiet for [`QUIET`], or `wait` has passed.
async fn settle(directory: &mut Directory, own: &str, wait: Duration) {
    let deadline = Instant::now() + wait;
    loop {
        let answered = directory.instances().iter().any(|i| i.instance == own);
        let until = if answered {
            (Instant::now() + QUIET).min(deadline)
        } else {
            deadline
        };
        match tokio::time::timeout_at(until, directory.changed()).await {
            Ok(true) => continue,
            Ok(false) | Err(_) => return,
        }
    }
}

fn others(directory: &Directory, own: &str) -> Vec<Instance> {
    directory
        .instances()
        .into_iter()
        .filter(|i| i.instance != own)
        .collect()
}

/// Whether two listings show the same (ignoring when each instance was last heard of).
fn same(a: &[Instance], b: &[Instance]) -> bool {
    let key = |i: &Instance| {
        (
            i.instance.clone(),
            i.version.clone(),
            i.status,
            i.health,
            i.offers.clone(),
        )
    };
    a.len() == b.len() && a.iter().zip(b).all(|(a, b)| key(a) == key(b))
}

// ---- output ----------------------------------------------------------------------------------

struct Output {
    json: bool,
    watch: bool,
    terminal: bool,
    drawn: usize,
}

impl Output {
    /// Prints one snapshot; `false` when stdout is gone (a closed pipe), so watching ends quietly.
    fn draw(&mut self, instances: &[Instance]) -> anyhow::Result<bool> {
        let now = now_ms();
        let text = if self.json {
            let views: Vec<InstanceView> = instances
                .iter()
                .map(|i| InstanceView::new(i, now))
                .collect();
            if self.watch {
                serde_json::to_string(&views)?
            } else {
                serde_json::to_string_pretty(&views)?
            }
        } else {
            table(instances, now)
        };
        let mut stdout = std::io::stdout().lock();
        let mut write = || -> std::io::Result<()> {
            if self.watch && !self.json {
                if self.terminal {
                    // Home, clear the screen and the scrollback.
                    write!(stdout, "\x1b[H\x1b[2J\x1b[3J")?;
                } else if self.drawn > 0 {
                    writeln!(stdout)?;
                }
            }
            writeln!(stdout, "{text}")?;
            stdout.flush()
        };
        match write() {
            Ok(()) => {
                self.drawn += 1;
                Ok(true)
            }
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
            Err(error) => Err(error.into()),
        }
    }
}

/// An instance as `--json` prints it: the directory's view, plus what is computed from it.
#[derive(Serialize)]
struct InstanceView<'a> {
    #[serde(flatten)]
    instance: &'a Instance,
    /// Since the instance started, by its own clock's start time and this one's now.
    uptime_s: u64,
    /// Since the directory last heard from the instance (heartbeat or announcement).
    last_heartbeat_age_ms: u64,
}

impl<'a> InstanceView<'a> {
    fn new(instance: &'a Instance, now: i64) -> Self {
        Self {
            instance,
            uptime_s: since_ms(instance.started_at_ms, now) / 1000,
            last_heartbeat_age_ms: since_ms(instance.last_seen_ms, now),
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Milliseconds from `then` to `now`; 0 if `then` is ahead (another host's clock).
fn since_ms(then: i64, now: i64) -> u64 {
    u64::try_from(now.saturating_sub(then)).unwrap_or(0)
}

/// The human listing: per service, a row per instance, and under it what the instance offers.
fn table(instances: &[Instance], now: i64) -> String {
    if instances.is_empty() {
        return "no service instances on the bus".to_owned();
    }
    let header = [
        "INSTANCE", "VERSION", "STATUS", "HEALTH", "UPTIME", "HEARD", "HOST/PID",
    ];
    let rows: Vec<[String; 7]> = instances
        .iter()
        .map(|i| {
            [
                short_id(&i.instance).to_owned(),
                i.version.clone(),
                status(i.status).to_owned(),
                health(i.health).to_owned(),
                duration(since_ms(i.started_at_ms, now) / 1000),
                age(since_ms(i.last_seen_ms, now)),
                format!("{}/{}", i.host, i.pid),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let mut line = String::from("  ");
        for (n, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if n + 1 == cells.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  "));
            }
        }
        line
    };
    let services = {
        let mut names: Vec<&str> = instances.iter().map(|i| i.service.as_str()).collect();
        names.dedup();
        names.len()
    };
    let mut out = format!(
        "{} instance{} of {services} service{}",
        instances.len(),
        plural(instances.len()),
        plural(services)
    );
    let mut previous: Option<&str> = None;
    for (instance, row) in instances.iter().zip(&rows) {
        if previous != Some(instance.service.as_str()) {
            let count = instances
                .iter()
                .filter(|i| i.service == instance.service)
                .count();
            out.push_str(&format!(
                "\n\n{} ({count} instance{})\n",
                instance.service,
                plural(count)
            ));
            out.push_str(&line(&header));
            previous = Some(&instance.service);
        }
        out.push('\n');
        out.push_str(line(&row.each_ref().map(String::as_str)).trim_end());
        let offers = &instance.offers;
        let lists = [
            ("consumes", types(&offers.consumes)),
            ("produces", types(&offers.produces)),
            ("commands", types(&offers.commands)),
            ("requests", types(&offers.requests)),
            ("work queues", offers.work_queues.join(", ")),
        ];
        for (what, list) in lists.iter().filter(|(_, list)| !list.is_empty()) {
            out.push_str(&format!("\n      {what:<11}  {list}"));
        }
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The last 12 hex digits of the instance id: the random part of a UUID v7 (its first digits are
/// a timestamp, alike for instances started together).
fn short_id(instance: &str) -> &str {
    let start = instance.len().saturating_sub(12);
    instance.get(start..).unwrap_or(instance)
}

fn status(status: InstanceStatus) -> &'static str {
    match status {
        InstanceStatus::Live => "live",
        InstanceStatus::Unresponsive => "unresponsive",
    }
}

fn health(health: Option<Health>) -> &'static str {
    match health {
        Some(Health::Ok) => "ok",
        Some(Health::Degraded) => "degraded",
        Some(Health::Draining) => "draining",
        // No heartbeat heard yet, only the announcement.
        None => "-",
    }
}

/// `instadash.vehicle.position v1,v2; instadash.vehicle.alert v1`
fn types(list: &[TypeVersions]) -> String {
    list.iter()
        .map(|t| {
            let versions: Vec<String> = t.versions.iter().map(|v| format!("v{v}")).collect();
            format!("{} {}", t.type_, versions.join(","))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// 42s, 3m12s, 2h05m, 3d04h.
fn duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3_600 => format!("{}m{:02}s", secs / 60, secs % 60),
        3_600..86_400 => format!("{}h{:02}m", secs / 3_600, secs % 3_600 / 60),
        _ => format!("{}d{:02}h", secs / 86_400, secs % 86_400 / 3_600),
    }
}

/// 0.4 s ago, 12.0 s ago, 3m12s ago.
fn age(ms: u64) -> String {
    if ms < 60_000 {
        format!("{}.{} s ago", ms / 1000, ms % 1000 / 100)
    } else {
        format!("{} ago", duration(ms / 1000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_ages_read_well() {
        assert_eq!(duration(42), "42s");
        assert_eq!(duration(192), "3m12s");
        assert_eq!(duration(2 * 3_600 + 5 * 60 + 9), "2h05m");
        assert_eq!(duration(3 * 86_400 + 4 * 3_600), "3d04h");
        assert_eq!(age(420), "0.4 s ago");
        assert_eq!(age(12_050), "12.0 s ago");
        assert_eq!(age(192_000), "3m12s ago");
    }

    #[test]
    fn short_ids_keep_the_random_end_of_a_v7_uuid() {
        assert_eq!(
            short_id("01890a5d-ac96-774b-bcce-b302099a8057"),
            "b302099a8057"
        );
        assert_eq!(short_id("abc"), "abc");
    }
}
