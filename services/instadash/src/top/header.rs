//! The top of the screen: the header (monitor, broker, messages, fleet) and the operator alerts.

use std::collections::BTreeMap;

use instadash_monitor::api::{Fleet, OperatorAlert, OperatorAlertKind, Overview};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, Widget};

use super::format;
use super::view::{SEP, UiState, alert_color, bold, colored, dim, plural};

/// The header's lines: what is wrong with the monitor, if anything, then the broker, the
/// messages and the fleet (or a word that there are no figures yet).
pub fn header_lines(o: &Overview, f: &Fleet, ui: &UiState) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let has_data = o.time_ms != 0;
    if let Some(error) = &ui.error {
        // The error last: it is the part that may not fit.
        let mut retry = format!(" (retrying every {}", format::interval(ui.refresh_ms));
        if has_data {
            retry.push_str(&format!(
                ", showing figures from {}",
                format::clock(o.time_ms)
            ));
        }
        retry.push_str("): ");
        lines.push(Line::from(vec![
            colored("monitor unreachable", Color::Red),
            dim(retry),
            Span::styled(error.clone(), Style::new().fg(Color::Red)),
        ]));
    }
    if !has_data {
        // Nothing to show yet: no broker, queue or vehicle figures rather than zeros.
        if ui.error.is_none() {
            lines.push(Line::from(dim(format!(
                "waiting for the monitor at {}…",
                ui.monitor_url
            ))));
        }
        lines.push(Line::from(dim("no figures from the monitor yet")));
        return lines;
    }
    lines.push(broker_line(o));
    lines.push(messages_line(o));
    lines.push(fleet_line(f));
    lines
}

fn broker_line(o: &Overview) -> Line<'static> {
    let b = &o.broker;
    let mut spans = vec![dim("broker ")];
    if b.reachable {
        spans.push(colored("● up", Color::Green));
    } else {
        spans.push(colored("● UNREACHABLE", Color::Red));
        if let Some(error) = &b.error {
            spans.push(Span::styled(
                format!(" {error}"),
                Style::new().fg(Color::Red),
            ));
        }
    }
    if let Some(version) = &b.version {
        spans.push(dim(format!(" RabbitMQ {version}")));
    }
    spans.push(dim(SEP));
    if b.alarms.is_empty() {
        spans.push(dim("no alarms"));
    } else {
        spans.push(colored(
            format!("ALARMS: {}", b.alarms.join(", ")),
            Color::Red,
        ));
    }
    spans.extend([
        dim(SEP),
        bold(format::count(b.connections)),
        dim(" connections "),
        bold(format::count(b.channels)),
        dim(" channels"),
    ]);
    if let (Some(used), Some(limit)) = (b.mem_used_bytes, b.mem_limit_bytes) {
        let high = limit > 0 && used as f64 > 0.8 * limit as f64;
        spans.push(dim(format!("{SEP}mem ")));
        spans.push(Span::styled(
            format!("{} / {}", format::bytes(used), format::bytes(limit)),
            if high {
                Style::new().fg(Color::Yellow)
            } else {
                Style::new()
            },
        ));
    }
    if let Some(free) = b.disk_free_bytes {
        let low = b
            .disk_free_limit_bytes
            .is_some_and(|l| free < l.saturating_mul(2));
        spans.push(dim(format!("{SEP}disk free ")));
        spans.push(Span::styled(
            format::bytes(free),
            if low {
                Style::new().fg(Color::Yellow)
            } else {
                Style::new()
            },
        ));
    }
    Line::from(spans)
}

fn messages_line(o: &Overview) -> Line<'static> {
    let b = &o.broker;
    let mut spans = vec![
        dim("messages publish "),
        bold(format::rate(b.publish_per_s)),
        dim(" deliver "),
        bold(format::rate(b.deliver_per_s)),
        dim(" ready "),
        bold(format::count(b.messages_ready)),
        dim(" unacked "),
        bold(format::count(b.messages_unacked)),
    ];
    let dead: u64 = o.dead_letters.iter().map(|d| d.messages).sum();
    if dead > 0 {
        spans.push(dim(SEP));
        spans.push(colored(
            format!(
                "{} dead-lettered in {} queue{}",
                format::count(dead),
                o.dead_letters.len(),
                plural(o.dead_letters.len())
            ),
            Color::Yellow,
        ));
    }
    Line::from(spans)
}

fn fleet_line(f: &Fleet) -> Line<'static> {
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for v in &f.vehicles {
        *by_status.entry(v.status.as_str()).or_default() += 1;
    }
    let mut spans = vec![
        dim("fleet "),
        bold(format::count(f.vehicles.len() as u64)),
        dim(" vehicles"),
    ];
    // The tracker's words in their usual order, then anything else it may say.
    let known = ["online", "unknown", "offline"];
    let statuses = known
        .iter()
        .filter_map(|s| by_status.get(s).map(|n| (*s, *n)))
        .chain(
            by_status
                .iter()
                .filter(|(s, _)| !known.contains(s))
                .map(|(s, n)| (*s, *n)),
        );
    for (i, (status, n)) in statuses.enumerate() {
        spans.push(dim(if i == 0 { ": " } else { ", " }));
        let color = match status {
            "online" => Color::Green,
            "offline" => Color::Red,
            _ => Color::Yellow,
        };
        spans.push(Span::styled(
            format!("{n} {status}"),
            Style::new().fg(color),
        ));
    }
    let active: usize = f.vehicles.iter().map(|v| v.active_alerts.len()).sum();
    let alerted = f
        .vehicles
        .iter()
        .filter(|v| !v.active_alerts.is_empty())
        .count();
    let unacknowledged = f
        .alerts
        .iter()
        .filter(|a| a.cleared_ms.is_none() && a.acknowledged_by.is_none())
        .count();
    spans.push(dim(SEP));
    if active == 0 {
        spans.push(dim("no active vehicle alerts"));
    } else {
        spans.push(colored(
            format!("{active} active vehicle alert{}", plural(active)),
            Color::Yellow,
        ));
        spans.push(dim(format!(
            " on {alerted} vehicle{} ({unacknowledged} unacknowledged)",
            plural(alerted)
        )));
    }
    Line::from(spans)
}

/// The header block, titled with the monitor's URL and the time of its figures.
pub fn draw_header(area: Rect, buf: &mut Buffer, o: &Overview, ui: &UiState, lines: Vec<Line>) {
    let mut title = vec![bold(" instadash top "), dim(format!("{} ", ui.monitor_url))];
    if o.time_ms != 0 {
        title.push(dim(format!("{} ", format::clock(o.time_ms))));
    }
    let border = if ui.error.is_some() {
        Color::Red
    } else {
        Color::DarkGray
    };
    Paragraph::new(lines)
        .block(
            Block::bordered()
                .title(Line::from(title))
                .border_style(Style::new().fg(border)),
        )
        .render(area, buf);
}

// ---------------------------------------------------------------------------------------------
// Operator alerts

fn alert_kind(kind: OperatorAlertKind) -> &'static str {
    match kind {
        OperatorAlertKind::NoConsumer => "no-consumer",
        OperatorAlertKind::GrowingBacklog => "growing-backlog",
        OperatorAlertKind::BrokerAlarm => "broker-alarm",
        OperatorAlertKind::NoLiveInstance => "no-live-instance",
        OperatorAlertKind::DeadLetterFilling => "dead-letter-filling",
        OperatorAlertKind::BrokerUnreachable => "broker-unreachable",
    }
}

/// Active alerts first (the monitor's order otherwise).
pub fn sorted_alerts(o: &Overview) -> Vec<&OperatorAlert> {
    let mut alerts: Vec<&OperatorAlert> = o.operator_alerts.iter().collect();
    alerts.sort_by_key(|a| a.cleared_ms.is_some());
    alerts
}

/// The operator alerts: active ones in red or yellow with how long they have been active, cleared
/// ones grey.
pub fn draw_alerts(area: Rect, buf: &mut Buffer, o: &Overview, alerts: &[&OperatorAlert]) {
    let active = alerts.iter().filter(|a| a.cleared_ms.is_none()).count();
    let cleared = alerts.len() - active;
    let shown = area.height.saturating_sub(2) as usize;
    let mut title = format!(" Operator alerts: {active} active, {cleared} cleared ");
    if alerts.len() > shown {
        title.push_str(&format!("({shown} of {} shown) ", alerts.len()));
    }
    let title_style = if active > 0 {
        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
    } else {
        Style::new().add_modifier(Modifier::BOLD)
    };
    let block = Block::bordered()
        .title(Span::styled(title, title_style))
        .border_style(Style::new().fg(Color::DarkGray));
    if alerts.is_empty() {
        Paragraph::new(dim("no operator alerts"))
            .block(block)
            .render(area, buf);
        return;
    }
    let subject_width = alerts
        .iter()
        .map(|a| a.subject.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(7, 44) as u16;
    let rows = alerts.iter().map(|a| {
        let (style, when) = match a.cleared_ms {
            None => (
                Style::new().fg(alert_color(a.kind)),
                format!("for {}", format::age(o.time_ms.saturating_sub(a.since_ms))),
            ),
            Some(cleared) => (
                Style::new().fg(Color::DarkGray),
                format!(
                    "cleared {} ago",
                    format::age(o.time_ms.saturating_sub(cleared))
                ),
            ),
        };
        let marker = if a.cleared_ms.is_none() { "●" } else { "○" };
        Row::new([
            Cell::from(marker),
            Cell::from(alert_kind(a.kind)),
            Cell::from(a.subject.clone()),
            Cell::from(a.message.clone()),
            Cell::from(Line::from(when).right_aligned()),
        ])
        .style(style)
    });
    Table::new(
        rows,
        [
            Constraint::Length(1),
            Constraint::Length(19),
            Constraint::Length(subject_width),
            Constraint::Fill(1),
            Constraint::Length(17),
        ],
    )
    .block(block)
    .render(area, buf);
}
