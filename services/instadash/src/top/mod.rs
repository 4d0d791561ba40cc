//! `instadash top`: a live terminal dashboard for an operator without a browser — the broker,
//! the fleet, the operator alerts, the queues and the services, as the web dashboard shows them.
//!
//! It reads the monitor's HTTP API (`GET /api/overview` and `GET /api/fleet`, see
//! [`instadash_monitor::api`]) every `--refresh-ms` on a thread of its own and redraws. When the
//! monitor cannot be reached it says so at the top, with the error, keeps the last figures on
//! screen and keeps trying. `--once` prints one plain-text frame to stdout instead (for scripts
//! and CI) and exits 1 if the monitor cannot be read.
//!
//! Keys: `q`/`Esc`/`Ctrl-C` quit, `Tab` moves the focus between the queue and service tables,
//! `j`/`k`, arrows, `PgUp`/`PgDn`, `g`/`G` scroll the focused one, `s` cycles the queue order
//! (problems, depth, rate, name).

mod format;
mod header;
mod tables;
mod view;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use instadash_monitor::api::{Fleet, Overview};
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::text::Span;

use self::view::{Focus, Pages, UiState};

#[derive(Debug, Args)]
pub struct TopArgs {
    /// Base URL of the monitor's HTTP API.
    #[arg(
        long,
        env = "INSTADASH_MONITOR_URL",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL"
    )]
    monitor_url: String,
    /// How often to poll the monitor (at least 100 ms).
    #[arg(long, default_value_t = 1000, value_name = "MS", value_parser = clap::value_parser!(u64).range(100..))]
    refresh_ms: u64,
    /// Print one plain-text frame to stdout and exit (no full screen, no keys): for scripts, CI
    /// and tests. Exits 1 if the monitor cannot be read.
    #[arg(long)]
    once: bool,
    /// The width of the `--once` frame, in columns (at least 40).
    #[arg(long, default_value_t = 120, value_name = "COLUMNS", value_parser = clap::value_parser!(u16).range(40..))]
    width: u16,
}

/// How long one request to the monitor may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for a key before looking for new figures.
const KEY_POLL: Duration = Duration::from_millis(100);

pub async fn run(args: TopArgs) -> anyhow::Result<ExitCode> {
    if args.once {
        return tokio::task::spawn_blocking(move || {
            let mut stdout = std::io::stdout().lock();
            match once(&args, &mut stdout) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("instadash top: {e:#}");
                    ExitCode::FAILURE
                }
            }
        })
        .await
        .context("the --once thread failed");
    }
    anyhow::ensure!(
        std::io::stdout().is_terminal(),
        "stdout is not a terminal: use `instadash top --once` to print one frame"
    );
    // Ctrl-C reaches the dashboard as a key in raw mode; SIGTERM (and SIGINT sent by `kill`)
    // arrive here and stop it the same way, so the terminal is restored.
    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = stop.clone();
    tokio::spawn(async move {
        broker_bridge::shutdown::signal().await;
        on_signal.store(true, Ordering::Relaxed);
    });
    tokio::task::spawn_blocking(move || interactive(&args, &stop))
        .await
        .context("the dashboard thread failed")??;
    Ok(ExitCode::SUCCESS)
}

/// The monitor's API, read with blocking requests.
struct Monitor {
    agent: ureq::Agent,
    base: String,
}

impl Monitor {
    fn new(base: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .build()
            .new_agent();
        Monitor {
            agent,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.base);
        let mut response = self
            .agent
            .get(&url)
            .call()
            .with_context(|| format!("GET {url}"))?;
        response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_json()
            .with_context(|| format!("reading the answer to GET {url}"))
    }

    fn poll(&self) -> anyhow::Result<(Overview, Fleet)> {
        Ok((self.get("/api/overview")?, self.get("/api/fleet")?))
    }
}

/// `--once`: reads the monitor once and writes the whole dashboard as plain text, every row of
/// every table, `--width` columns wide, trailing spaces trimmed.
fn once(args: &TopArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let (overview, fleet) = Monitor::new(&args.monitor_url)
        .poll()
        .with_context(|| format!("cannot read the monitor at {}", args.monitor_url))?;
    let ui = UiState {
        monitor_url: args.monitor_url.clone(),
        refresh_ms: args.refresh_ms,
        plain: true,
        ..UiState::default()
    };
    let area = Rect::new(0, 0, args.width, view::plain_height(&overview, &fleet, &ui));
    let mut buffer = Buffer::empty(area);
    view::draw(area, &mut buffer, &overview, &fleet, &ui);
    out.write_all(buffer_text(&buffer).as_bytes())?;
    out.flush()?;
    Ok(())
}

/// The buffer's text, one line per row, without styles or trailing spaces.
fn buffer_text(buffer: &Buffer) -> String {
    let width = buffer.area.width as usize;
    let mut text = String::new();
    for row in buffer.content().chunks(width) {
        let mut line = String::new();
        let mut hidden = 0;
        for cell in row {
            // The cells under a wide character's right half hold nothing to print.
            if hidden > 0 {
                hidden -= 1;
                continue;
            }
            line.push_str(cell.symbol());
            hidden = Span::raw(cell.symbol()).width().saturating_sub(1);
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// Restores the terminal when the dashboard ends, however it ends (`ratatui::try_init` also
/// installs a panic hook that does so before the panic message is printed).
struct RestoreTerminal;

impl Drop for RestoreTerminal {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

fn interactive(args: &TopArgs, stop: &AtomicBool) -> anyhow::Result<()> {
    let refresh = Duration::from_millis(args.refresh_ms);
    let (polled, figures) = mpsc::channel();
    let monitor = Monitor::new(&args.monitor_url);
    std::thread::Builder::new()
        .name("top-poll".into())
        .spawn(move || {
            loop {
                let started = Instant::now();
                let result = monitor.poll().map_err(|e| format!("{e:#}"));
                if polled.send(result).is_err() {
                    return; // The dashboard has ended.
                }
                std::thread::sleep(refresh.saturating_sub(started.elapsed()));
            }
        })
        .context("starting the polling thread")?;

    let _restore = RestoreTerminal;
    let mut terminal = ratatui::try_init().context("setting up the terminal")?;
    let mut ui = UiState {
        monitor_url: args.monitor_url.clone(),
        refresh_ms: args.refresh_ms,
        ..UiState::default()
    };
    let mut overview = Overview::default();
    let mut fleet = Fleet::default();
    let mut pages = Pages::default();
    let mut redraw = true;
    while !stop.load(Ordering::Relaxed) {
        while let Ok(result) = figures.try_recv() {
            match result {
                Ok((o, f)) => {
                    overview = o;
                    fleet = f;
                    ui.error = None;
                }
                Err(e) => ui.error = Some(e),
            }
            redraw = true;
        }
        if redraw {
            terminal.draw(|frame| pages = view::render(frame, &overview, &fleet, &ui))?;
            redraw = false;
        }
        if event::poll(KEY_POLL)? {
            match event::read()? {
                Event::Key(key) if key.kind != KeyEventKind::Release => {
                    let lens = (overview.queues.len(), overview.services.len());
                    if on_key(&mut ui, key, lens, pages) == KeyOutcome::Quit {
                        break;
                    }
                    redraw = true;
                }
                Event::Resize(..) => redraw = true,
                _ => {}
            }
        }
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum KeyOutcome {
    Continue,
    Quit,
}

/// Applies a key to the UI state; `lens` are the numbers of queues and services, `pages` how
/// many rows of each the last frame showed.
fn on_key(ui: &mut UiState, key: KeyEvent, lens: (usize, usize), pages: Pages) -> KeyOutcome {
    let (len, page, scroll) = match ui.focus {
        Focus::Queues => (lens.0, pages.queues, &mut ui.queue_scroll),
        Focus::Services => (lens.1, pages.services, &mut ui.service_scroll),
    };
    let last = len.saturating_sub(page.max(1));
    match key.code {
        KeyCode::Char('q') | KeyCode::Esc => return KeyOutcome::Quit,
        KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
            return KeyOutcome::Quit;
        }
        KeyCode::Tab | KeyCode::BackTab => {
            ui.focus = match ui.focus {
                Focus::Queues => Focus::Services,
                Focus::Services => Focus::Queues,
            }
        }
        KeyCode::Char('j') | KeyCode::Down => *scroll = (*scroll + 1).min(last),
        KeyCode::Char('k') | KeyCode::Up => *scroll = scroll.saturating_sub(1).min(last),
        KeyCode::PageDown | KeyCode::Char(' ') => *scroll = (*scroll + page.max(1)).min(last),
        KeyCode::PageUp => *scroll = scroll.saturating_sub(page.max(1)).min(last),
        KeyCode::Char('g') | KeyCode::Home => *scroll = 0,
        KeyCode::Char('G') | KeyCode::End => *scroll = last,
        KeyCode::Char('s') => {
            ui.sort = ui.sort.next();
            ui.queue_scroll = 0;
        }
        _ => {}
    }
    KeyOutcome::Continue
}

#[cfg(test)]
mod tests;
