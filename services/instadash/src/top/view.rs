//! What `instadash top` draws: a pure function from the monitor's [`Overview`] and [`Fleet`] and
//! the [`UiState`] to a frame, so the screen can be tested on a `TestBackend` and printed by
//! `--once`.
//!
//! From top to bottom: the header (monitor, broker, messages, fleet), the operator alerts, the
//! queues (problems first unless sorted otherwise), the services, and a line of key help.

use instadash_monitor::api::{Fleet, OperatorAlertKind, Overview};
use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::format;
use super::header::{draw_alerts, draw_header, header_lines, sorted_alerts};
use super::tables::{draw_queues, draw_services, service_lines, sorted_queues};

/// Which table the scroll keys move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Focus {
    #[default]
    Queues,
    Services,
}

/// The order of the queue table; `s` cycles through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueSort {
    /// Queues with an active operator alert, then without a consumer, then growing; then depth.
    #[default]
    Problems,
    /// Deepest (ready + unacked) first.
    Depth,
    /// Busiest (publish + deliver rate) first.
    Rate,
    Name,
}

impl QueueSort {
    pub fn next(self) -> Self {
        match self {
            QueueSort::Problems => QueueSort::Depth,
            QueueSort::Depth => QueueSort::Rate,
            QueueSort::Rate => QueueSort::Name,
            QueueSort::Name => QueueSort::Problems,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            QueueSort::Problems => "problems",
            QueueSort::Depth => "depth",
            QueueSort::Rate => "rate",
            QueueSort::Name => "name",
        }
    }
}

/// Everything on screen that is not the monitor's data.
#[derive(Debug, Clone, Default)]
pub struct UiState {
    pub monitor_url: String,
    pub refresh_ms: u64,
    /// Why the last poll of the monitor failed; `None` once one succeeds. The data shown is then
    /// that of the last successful poll, if any.
    pub error: Option<String>,
    pub focus: Focus,
    pub sort: QueueSort,
    /// First row shown of each table.
    pub queue_scroll: usize,
    pub service_scroll: usize,
    /// `--once`: every row of every table, no key help, no focus.
    pub plain: bool,
}

/// How many rows of each table a frame had room for, for the paging keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pages {
    pub queues: usize,
    pub services: usize,
}

/// Draws a whole frame.
pub fn render(frame: &mut Frame, overview: &Overview, fleet: &Fleet, ui: &UiState) -> Pages {
    let area = frame.area();
    draw(area, frame.buffer_mut(), overview, fleet, ui)
}

/// The height `--once` needs to show every row of every table (each block has two borders,
/// each table a header row).
pub fn plain_height(overview: &Overview, fleet: &Fleet, ui: &UiState) -> u16 {
    let rows = (header_lines(overview, fleet, ui).len() + 2)
        + (overview.operator_alerts.len().max(1) + 2)
        + (overview.queues.len() + 3)
        + (overview.services.len() + 3);
    rows.min(u16::MAX as usize) as u16
}

/// Draws the dashboard into `area` of `buf`.
pub fn draw(area: Rect, buf: &mut Buffer, o: &Overview, f: &Fleet, ui: &UiState) -> Pages {
    let header = header_lines(o, f, ui);
    let alerts = sorted_alerts(o);
    let queues = sorted_queues(o, ui.sort);
    let services = service_lines(o);

    let alert_rows = if ui.plain {
        alerts.len().max(1)
    } else {
        alerts.len().clamp(1, 6)
    };
    let services_height = if ui.plain {
        services.len() + 3
    } else {
        (services.len() + 3).min((area.height as usize / 3).max(5))
    };
    let [
        header_area,
        alerts_area,
        queues_area,
        services_area,
        help_area,
    ] = Layout::vertical([
        Constraint::Length(header.len() as u16 + 2),
        Constraint::Length(alert_rows as u16 + 2),
        if ui.plain {
            Constraint::Length(queues.len() as u16 + 3)
        } else {
            Constraint::Min(4)
        },
        Constraint::Length(services_height as u16),
        Constraint::Length(if ui.plain { 0 } else { 1 }),
    ])
    .areas(area);

    draw_header(header_area, buf, o, ui, header);
    draw_alerts(alerts_area, buf, o, &alerts);
    let pages = Pages {
        queues: draw_queues(queues_area, buf, &queues, ui),
        services: draw_services(services_area, buf, &services, ui),
    };
    if !ui.plain {
        draw_help(help_area, buf, ui);
    }
    pages
}

// ---------------------------------------------------------------------------------------------
// Shared by the parts

pub fn dim(text: impl Into<String>) -> Span<'static> {
    Span::styled(text.into(), Style::new().fg(Color::DarkGray))
}

pub fn bold(text: impl Into<String>) -> Span<'static> {
    Span::styled(text.into(), Style::new().add_modifier(Modifier::BOLD))
}

pub fn colored(text: impl Into<String>, color: Color) -> Span<'static> {
    Span::styled(
        text.into(),
        Style::new().fg(color).add_modifier(Modifier::BOLD),
    )
}

pub const SEP: &str = " · ";

pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// How serious an operator alert is: the API gives only its kind.
pub fn alert_color(kind: OperatorAlertKind) -> Color {
    match kind {
        OperatorAlertKind::GrowingBacklog | OperatorAlertKind::DeadLetterFilling => Color::Yellow,
        OperatorAlertKind::NoConsumer
        | OperatorAlertKind::BrokerAlarm
        | OperatorAlertKind::NoLiveInstance
        | OperatorAlertKind::BrokerUnreachable => Color::Red,
    }
}

// ---------------------------------------------------------------------------------------------
// Key help

fn draw_help(area: Rect, buf: &mut Buffer, ui: &UiState) {
    let focus = match ui.focus {
        Focus::Queues => "queues",
        Focus::Services => "services",
    };
    let key = |k: &str| {
        Span::styled(
            format!(" {k} "),
            Style::new().add_modifier(Modifier::REVERSED),
        )
    };
    Paragraph::new(Line::from(vec![
        key("q"),
        dim(" quit  "),
        key("Tab"),
        dim(format!(" focus: {focus}  ")),
        key("j/k ↑/↓ PgUp/PgDn"),
        dim(" scroll  "),
        key("s"),
        dim(format!(" sort: {}  ", ui.sort.label())),
        dim(format!("refresh every {}", format::interval(ui.refresh_ms))),
    ]))
    .render(area, buf);
}
