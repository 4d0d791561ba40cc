//! The two scrollable tables: queues (problems first unless sorted otherwise) and services.

use std::collections::BTreeSet;

use instadash_monitor::api::{Health, Overview, QueueKind, QueueView, ServiceView};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Row, Table, Widget};

use super::format;
use super::view::{Focus, QueueSort, UiState, alert_color, dim};

// ---------------------------------------------------------------------------------------------
// Queues

/// What is wrong with a queue, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum QueueState {
    /// An active operator alert is about it.
    Alert(AlertLevel),
    /// It should be consumed and is not.
    NoConsumer,
    /// Its depth is rising.
    Growing,
    Fine,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertLevel {
    Red,
    Yellow,
}

/// Whether the depth rose over the last few polls and is not falling now.
fn growing(history: &[u64]) -> bool {
    let recent = &history[history.len().saturating_sub(5)..];
    match recent {
        [first, .., before, last] => last > first && last >= before && *last > 0,
        _ => false,
    }
}

fn queue_state(q: &QueueView, o: &Overview) -> QueueState {
    let worst_alert = o
        .operator_alerts
        .iter()
        .filter(|a| a.cleared_ms.is_none() && a.subject == q.name)
        .map(|a| match alert_color(a.kind) {
            Color::Red => AlertLevel::Red,
            _ => AlertLevel::Yellow,
        })
        .min();
    if let Some(level) = worst_alert {
        QueueState::Alert(level)
    } else if q.kind.wants_consumer() && q.consumers == 0 {
        QueueState::NoConsumer
    } else if growing(&q.depth_history) {
        QueueState::Growing
    } else {
        QueueState::Fine
    }
}

fn depth(q: &QueueView) -> u64 {
    q.ready + q.unacked
}

/// The queues in the order of `sort`, each with what is wrong with it.
pub fn sorted_queues(o: &Overview, sort: QueueSort) -> Vec<(&QueueView, QueueState)> {
    let mut queues: Vec<_> = o.queues.iter().map(|q| (q, queue_state(q, o))).collect();
    let by_name = |a: &QueueView, b: &QueueView| a.name.cmp(&b.name);
    match sort {
        QueueSort::Problems => queues.sort_by(|(a, sa), (b, sb)| {
            sa.cmp(sb).then(depth(b).cmp(&depth(a))).then(by_name(a, b))
        }),
        QueueSort::Depth => {
            queues.sort_by(|(a, _), (b, _)| depth(b).cmp(&depth(a)).then(by_name(a, b)))
        }
        QueueSort::Rate => queues.sort_by(|(a, _), (b, _)| {
            let rate = |q: &QueueView| q.publish_per_s + q.deliver_per_s;
            rate(b).total_cmp(&rate(a)).then(by_name(a, b))
        }),
        QueueSort::Name => queues.sort_by(|(a, _), (b, _)| by_name(a, b)),
    }
    queues
}

fn queue_kind(kind: QueueKind) -> &'static str {
    match kind {
        QueueKind::Subscription => "events",
        QueueKind::Inbox => "inbox",
        QueueKind::Work => "work",
        QueueKind::Retry => "retry",
        QueueKind::DeadLetter => "dead-letter",
        QueueKind::Presence => "presence",
        QueueKind::Other => "other",
    }
}

fn right(text: String) -> Cell<'static> {
    Cell::from(Line::from(text).right_aligned())
}

/// The block of a scrollable table: focus shown by its border, the rows shown in its title.
fn table_block(
    name: &str,
    extra: &str,
    len: usize,
    start: usize,
    page: usize,
    focused: bool,
) -> Block<'static> {
    let range = if len > page {
        format!(" {name} {}–{} of {len}", start + 1, (start + page).min(len))
    } else {
        format!(" {name} ({len})")
    };
    let (title_style, border) = if focused {
        (
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            Style::new().fg(Color::Cyan),
        )
    } else {
        (
            Style::new().add_modifier(Modifier::BOLD),
            Style::new().fg(Color::DarkGray),
        )
    };
    Block::bordered()
        .title(Line::from(vec![
            Span::styled(range, title_style),
            dim(format!("{extra} ")),
        ]))
        .border_style(border)
}

/// Rows that fit below the header row of a bordered table in `area`, and the first one shown.
fn window(area: Rect, len: usize, scroll: usize) -> (usize, usize) {
    let page = area.height.saturating_sub(3) as usize;
    (page, scroll.min(len.saturating_sub(page)))
}

fn header_row(names: &[&'static str], right_from: usize) -> Row<'static> {
    Row::new(names.iter().enumerate().map(|(i, name)| {
        if i >= right_from && i + 1 < names.len() {
            right((*name).to_string())
        } else {
            Cell::from(*name)
        }
    }))
    .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED))
}

/// The width of the depth sparklines: narrower on a narrow screen, so queue names keep room.
fn spark_width(area: Rect) -> u16 {
    match area.width {
        180.. => 32,
        120.. => 16,
        100.. => 8,
        _ => 0,
    }
}

/// The queue table; returns how many rows it had room for.
pub fn draw_queues(
    area: Rect,
    buf: &mut Buffer,
    queues: &[(&QueueView, QueueState)],
    ui: &UiState,
) -> usize {
    let (page, start) = window(area, queues.len(), ui.queue_scroll);
    let spark = spark_width(area);
    let rows = queues
        .iter()
        .skip(start)
        .take(page.max(1))
        .map(|(q, state)| {
            let (label, style) = match state {
                QueueState::Alert(AlertLevel::Red) => ("● alert", Style::new().fg(Color::Red)),
                QueueState::Alert(AlertLevel::Yellow) => {
                    ("● alert", Style::new().fg(Color::Yellow))
                }
                QueueState::NoConsumer => ("no consumer", Style::new().fg(Color::Yellow)),
                QueueState::Growing => ("growing", Style::new().fg(Color::Yellow)),
                QueueState::Fine if q.kind == QueueKind::Presence => {
                    ("", Style::new().fg(Color::DarkGray))
                }
                QueueState::Fine => ("", Style::new()),
            };
            let consumers_style = if q.kind.wants_consumer() && q.consumers == 0 {
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
            } else {
                Style::new()
            };
            Row::new([
                Cell::from(label),
                Cell::from(q.name.clone()),
                Cell::from(queue_kind(q.kind)),
                right(format::count(q.ready)),
                right(format::count(q.unacked)),
                right(q.consumers.to_string()).style(consumers_style),
                right(format::rate(q.publish_per_s)),
                right(format::rate(q.deliver_per_s)),
                Cell::from(format::sparkline(&q.depth_history, spark as usize)),
            ])
            .style(style)
        });
    let extra = format!(" · sort: {}", ui.sort.label());
    Table::new(
        rows,
        [
            Constraint::Length(11),
            Constraint::Fill(1),
            Constraint::Length(11),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(4),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(spark),
        ],
    )
    .header(header_row(
        &[
            "state", "queue", "kind", "ready", "unacked", "cons", "publish", "deliver", "depth",
        ],
        3,
    ))
    .block(table_block(
        "Queues",
        &extra,
        queues.len(),
        start,
        page,
        !ui.plain && ui.focus == Focus::Queues,
    ))
    .render(area, buf);
    page
}

// ---------------------------------------------------------------------------------------------
// Services

/// One row of the services table: a service's instances, summed.
pub struct ServiceLine<'a> {
    view: &'a ServiceView,
    live: usize,
    /// Instances not gone.
    total: usize,
    unresponsive: Vec<&'a str>,
    versions: BTreeSet<&'a str>,
    /// Summed (or, for p99, the worst) over live instances' last reports.
    errors: u64,
    handler_p99_us: Option<u64>,
    cpu_pct: Option<f64>,
    rss_bytes: Option<u64>,
    alert: bool,
}

impl ServiceLine<'_> {
    /// 0 for the worst.
    fn trouble(&self) -> u8 {
        if self.live == 0 || self.alert {
            0
        } else if !self.unresponsive.is_empty() {
            1
        } else if self.errors > 0 {
            2
        } else {
            3
        }
    }
}

fn add<T: std::ops::Add<Output = T>>(sum: Option<T>, value: Option<T>) -> Option<T> {
    match (sum, value) {
        (Some(s), Some(v)) => Some(s + v),
        (s, v) => s.or(v),
    }
}

/// The services, those in trouble first (no live instance or an active operator alert, then an
/// unresponsive instance, then errors), then by name.
pub fn service_lines(o: &Overview) -> Vec<ServiceLine<'_>> {
    let mut lines: Vec<ServiceLine> = o
        .services
        .iter()
        .map(|s| {
            let mut line = ServiceLine {
                view: s,
                live: 0,
                total: 0,
                unresponsive: Vec::new(),
                versions: BTreeSet::new(),
                errors: 0,
                handler_p99_us: None,
                cpu_pct: None,
                rss_bytes: None,
                alert: o
                    .operator_alerts
                    .iter()
                    .any(|a| a.cleared_ms.is_none() && a.subject == s.name),
            };
            for i in &s.instances {
                match i.health {
                    Health::Gone => continue,
                    Health::Unresponsive => line.unresponsive.push(&i.instance),
                    Health::Live => {
                        line.live += 1;
                        if let Some(v) = &i.version {
                            line.versions.insert(v);
                        }
                        if let Some(stats) = &i.stats {
                            line.errors += stats.errors;
                            line.handler_p99_us = line.handler_p99_us.max(stats.handler_p99_us);
                            line.cpu_pct = add(line.cpu_pct, stats.cpu_pct);
                            line.rss_bytes = add(line.rss_bytes, stats.rss_bytes);
                        }
                    }
                }
                line.total += 1;
            }
            line
        })
        .collect();
    lines.sort_by(|a, b| {
        a.trouble()
            .cmp(&b.trouble())
            .then(a.view.name.cmp(&b.view.name))
    });
    lines
}

/// The services table; returns how many rows it had room for.
pub fn draw_services(
    area: Rect,
    buf: &mut Buffer,
    services: &[ServiceLine],
    ui: &UiState,
) -> usize {
    let (page, start) = window(area, services.len(), ui.service_scroll);
    let rows = services.iter().skip(start).take(page.max(1)).map(|s| {
        let (style, notes) = if s.live == 0 {
            (Style::new().fg(Color::Red), "no live instance".to_string())
        } else if let [one] = s.unresponsive.as_slice() {
            (
                Style::new().fg(Color::Yellow),
                format!("1 unresponsive: {one}"),
            )
        } else if !s.unresponsive.is_empty() {
            (
                Style::new().fg(Color::Yellow),
                format!("{} unresponsive", s.unresponsive.len()),
            )
        } else {
            let versions: Vec<String> = s.versions.iter().map(|v| format!("v{v}")).collect();
            let style = if s.alert {
                Style::new().fg(Color::Red)
            } else {
                Style::new()
            };
            (style, versions.join(", "))
        };
        let errors_style = if s.errors > 0 {
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        let or_dash = |v: Option<String>| v.unwrap_or_else(|| "–".into());
        Row::new([
            Cell::from(s.view.name.clone()),
            right(format!("{}/{}", s.live, s.total)),
            right(format::rate(s.view.in_per_s)),
            right(format::rate(s.view.out_per_s)),
            right(format::count(s.errors)).style(errors_style),
            right(or_dash(s.handler_p99_us.map(format::micros))),
            right(or_dash(s.cpu_pct.map(format::percent))),
            right(or_dash(s.rss_bytes.map(format::bytes))),
            Cell::from(notes),
        ])
        .style(style)
    });
    Table::new(
        rows,
        [
            Constraint::Fill(1),
            Constraint::Length(7),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(6),
            Constraint::Length(8),
            Constraint::Length(5),
            Constraint::Length(8),
            Constraint::Fill(1),
        ],
    )
    .header(header_row(
        &[
            "service", "live", "in", "out", "errors", "p99", "CPU%", "RSS", "notes",
        ],
        1,
    ))
    .block(table_block(
        "Services",
        " · live/total instances, handler p99",
        services.len(),
        start,
        page,
        !ui.plain && ui.focus == Focus::Services,
    ))
    .render(area, buf);
    page
}
