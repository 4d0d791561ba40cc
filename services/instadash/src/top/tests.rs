//! `instadash top` on hand-made figures: the frame drawn on a `TestBackend`, the keys, and
//! `--once` against a tiny HTTP server standing in for the monitor.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use instadash_monitor::api::{
    AlertEntry, BrokerView, DeadLetterView, Fleet, Health, InstanceStats, InstanceView,
    OperatorAlert, OperatorAlertKind, Overview, QueueKind, QueueView, ServiceView, VehicleDot,
};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

use super::tables;
use super::view::{self, Focus, Pages, QueueSort, UiState};
use super::*;

const NOW: u64 = 1_700_000_000_000;
const MIB: u64 = 1024 * 1024;

fn queue(name: &str, kind: QueueKind, ready: u64, consumers: u64, history: &[u64]) -> QueueView {
    QueueView {
        name: name.into(),
        kind,
        owner: None,
        queue_type: "quorum".into(),
        ready,
        unacked: 0,
        consumers,
        publish_per_s: 10.0,
        deliver_per_s: 10.0,
        depth_history: history.to_vec(),
        ..QueueView::default()
    }
}

fn instance(name: &str, health: Health, stats: Option<InstanceStats>) -> InstanceView {
    InstanceView {
        instance: name.into(),
        version: Some("1.4.0".into()),
        host: Some("node-1".into()),
        health,
        offers: vec![],
        last_seen_ms: NOW - 1000,
        stats,
    }
}

/// A platform with trouble: a work queue without a consumer (and its active operator alert), a
/// growing backlog, a tracker with one live and one unresponsive instance, and an alerts service.
fn overview() -> Overview {
    let trips = QueueView {
        publish_per_s: 1234.0,
        deliver_per_s: 900.0,
        unacked: 20,
        ..queue(
            "instadash.events.trips",
            QueueKind::Subscription,
            1500,
            1,
            &[100, 400, 800, 1200, 1520],
        )
    };
    Overview {
        time_ms: NOW,
        broker: BrokerView {
            reachable: true,
            version: Some("4.1.0".into()),
            connections: 12,
            channels: 40,
            publish_per_s: 1234.0,
            deliver_per_s: 1180.0,
            messages_ready: 1840,
            messages_unacked: 20,
            mem_used_bytes: Some(120 * MIB),
            mem_limit_bytes: Some(1638 * MIB),
            disk_free_bytes: Some(20 * 1024 * MIB),
            disk_free_limit_bytes: Some(50 * MIB),
            ..BrokerView::default()
        },
        queues: vec![
            queue(
                "instadash.events.alerts",
                QueueKind::Subscription,
                0,
                2,
                &[0, 1, 0, 0],
            ),
            queue(
                "instadash.presence.tracker.a1",
                QueueKind::Presence,
                0,
                1,
                &[0, 0],
            ),
            trips,
            queue(
                "instadash.service.tracker",
                QueueKind::Inbox,
                2,
                2,
                &[3, 1, 2],
            ),
            queue(
                "instadash.work.dashcam",
                QueueKind::Work,
                340,
                0,
                &[340, 340, 340],
            ),
        ],
        services: vec![
            ServiceView {
                name: "alerts".into(),
                instances: vec![instance(
                    "alerts-c3",
                    Health::Live,
                    Some(InstanceStats {
                        in_per_s: 120.0,
                        out_per_s: 3.0,
                        handler_p99_us: Some(12_345),
                        cpu_pct: Some(2.5),
                        rss_bytes: Some(30 * MIB),
                        ..InstanceStats::default()
                    }),
                )],
                in_per_s: 120.0,
                out_per_s: 3.0,
            },
            ServiceView {
                name: "tracker".into(),
                instances: vec![
                    instance(
                        "tracker-a1",
                        Health::Live,
                        Some(InstanceStats {
                            in_per_s: 1234.0,
                            out_per_s: 1200.0,
                            errors: 3,
                            handler_p99_us: Some(850),
                            cpu_pct: Some(12.5),
                            rss_bytes: Some(52 * MIB),
                            ..InstanceStats::default()
                        }),
                    ),
                    instance("tracker-b2", Health::Unresponsive, None),
                ],
                in_per_s: 1234.0,
                out_per_s: 1200.0,
            },
        ],
        operator_alerts: vec![
            OperatorAlert {
                kind: OperatorAlertKind::NoConsumer,
                subject: "instadash.work.dashcam".into(),
                message: "no consumer for 3m, 340 messages waiting".into(),
                since_ms: NOW - 192_000,
                cleared_ms: None,
            },
            OperatorAlert {
                kind: OperatorAlertKind::GrowingBacklog,
                subject: "instadash.events.alerts".into(),
                message: "depth grew from 0 to 800 over 5 polls".into(),
                since_ms: NOW - 600_000,
                cleared_ms: Some(NOW - 40_000),
            },
        ],
        dead_letters: vec![DeadLetterView {
            queue: "instadash.work.dashcam.dead-letter".into(),
            messages: 3,
            reasons: vec![],
        }],
        ..Overview::default()
    }
}

fn vehicle(id: &str, status: &str, alerts: &[&str]) -> VehicleDot {
    VehicleDot {
        id: id.into(),
        status: status.into(),
        last_seen_ms: NOW - 2000,
        active_alerts: alerts.iter().map(|a| a.to_string()).collect(),
        ..VehicleDot::default()
    }
}

fn fleet() -> Fleet {
    Fleet {
        time_ms: NOW,
        vehicles: vec![
            vehicle("car-1", "online", &["harsh-braking"]),
            vehicle("car-2", "online", &[]),
            vehicle("car-3", "online", &[]),
            vehicle("car-4", "offline", &[]),
            vehicle("car-5", "unknown", &[]),
        ],
        alerts: vec![AlertEntry {
            alert_id: "a-1".into(),
            vehicle_id: "car-1".into(),
            alert_type: "harsh-braking".into(),
            severity: "warning".into(),
            raised_ms: NOW - 5000,
            ..AlertEntry::default()
        }],
    }
}

fn ui() -> UiState {
    UiState {
        monitor_url: "http://monitor:8080".into(),
        refresh_ms: 1000,
        ..UiState::default()
    }
}

/// Draws one frame on a `TestBackend`; the text of the screen and the backend.
fn screen(
    o: &Overview,
    f: &Fleet,
    ui: &UiState,
    width: u16,
    height: u16,
) -> (String, Terminal<TestBackend>, Pages) {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    let mut pages = Pages::default();
    terminal
        .draw(|frame| pages = view::render(frame, o, f, ui))
        .unwrap();
    let text = buffer_text(terminal.backend().buffer());
    (text, terminal, pages)
}

/// The lines of the table titled `title`, from its header row to its bottom border.
fn table<'a>(text: &'a str, title: &str) -> Vec<&'a str> {
    text.lines()
        .skip_while(|l| !l.contains(title))
        .skip(1)
        .take_while(|l| !l.starts_with('└'))
        .collect()
}

fn row<'a>(lines: &[&'a str], needle: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no row with {needle:?} in {lines:#?}"))
}

#[test]
fn top_frame_shows_broker_fleet_alerts_queues_and_services() {
    let (text, terminal, _) = screen(&overview(), &fleet(), &ui(), 120, 40);

    // Header: the broker, the messages, the fleet.
    assert!(text.contains("instadash top"), "{text}");
    assert!(
        text.contains("broker ● up RabbitMQ 4.1.0 · no alarms · 12 connections 40 channels"),
        "{text}"
    );
    assert!(
        text.contains("mem 120 MiB / 1.6 GiB · disk free 20 GiB"),
        "{text}"
    );
    assert!(
        text.contains("publish 1.2k/s deliver 1.2k/s ready 1.8k unacked 20"),
        "{text}"
    );
    assert!(text.contains("3 dead-lettered in 1 queue"), "{text}");
    assert!(
        text.contains("fleet 5 vehicles: 3 online, 1 unknown, 1 offline · 1 active vehicle alert on 1 vehicle (1 unacknowledged)"),
        "{text}"
    );

    // Operator alerts: the active one first, with its age; the cleared one after.
    let alerts = table(&text, "Operator alerts: 1 active, 1 cleared");
    assert!(alerts[0].contains("● no-consumer"), "{alerts:#?}");
    assert!(
        alerts[0].contains("no consumer for 3m, 340 messages waiting"),
        "{alerts:#?}"
    );
    assert!(alerts[0].contains("for 3m12s"), "{alerts:#?}");
    assert!(
        alerts[1].contains("○ growing-backlog") && alerts[1].contains("cleared 40s ago"),
        "{alerts:#?}"
    );

    // Queues: the one with the alert first, then the growing one, then the rest by depth.
    let queues = table(&text, "Queues (5) · sort: problems");
    assert!(
        queues[0].contains("state") && queues[0].contains("deliver"),
        "{queues:#?}"
    );
    assert!(
        queues[1].contains("● alert") && queues[1].contains("instadash.work.dashcam"),
        "{queues:#?}"
    );
    assert!(
        queues[2].contains("growing") && queues[2].contains("instadash.events.trips"),
        "{queues:#?}"
    );
    let trips = queues[2];
    for figure in ["events", "1.5k", "20", "1.2k/s", "900/s", "▁▃▅▇█"] {
        assert!(trips.contains(figure), "{figure:?} in {trips:?}");
    }
    assert!(
        queues[3].contains("instadash.service.tracker"),
        "{queues:#?}"
    );

    // Services: the tracker (one unresponsive instance) before the healthy alerts service.
    let services = table(&text, "Services (2)");
    let tracker = services[1];
    for figure in [
        "tracker",
        "1/2",
        "1.2k/s",
        "3",
        "850µs",
        "12",
        "52 MiB",
        "1 unresponsive: tracker-b2",
    ] {
        assert!(tracker.contains(figure), "{figure:?} in {tracker:?}");
    }
    let alerts_service = row(&services, "alerts");
    for figure in ["1/1", "120/s", "3.0/s", "12.3ms", "2.5", "30 MiB", "v1.4.0"] {
        assert!(
            alerts_service.contains(figure),
            "{figure:?} in {alerts_service:?}"
        );
    }

    // Key help, and the alert drawn in red.
    assert!(text.contains("q  quit"), "{text}");
    let buffer = terminal.backend().buffer();
    let (x, y) = position(&text, "● no-consumer");
    assert_eq!(buffer[(x, y)].fg, Color::Red);
}

/// Column and row of the first occurrence of `needle` on screen.
fn position(text: &str, needle: &str) -> (u16, u16) {
    text.lines()
        .enumerate()
        .find_map(|(y, line)| {
            line.find(needle)
                .map(|byte| (line[..byte].chars().count() as u16, y as u16))
        })
        .unwrap()
}

#[test]
fn top_queue_sorts_cycle_through_problems_depth_rate_and_name() {
    let o = overview();
    let names = |sort| -> Vec<String> {
        tables::sorted_queues(&o, sort)
            .into_iter()
            .map(|(q, _)| q.name.trim_start_matches("instadash.").to_string())
            .collect()
    };
    assert_eq!(
        names(QueueSort::Problems),
        [
            "work.dashcam",
            "events.trips",
            "service.tracker",
            "events.alerts",
            "presence.tracker.a1"
        ]
    );
    assert_eq!(
        names(QueueSort::Depth)[..2],
        ["events.trips", "work.dashcam"]
    );
    assert_eq!(names(QueueSort::Rate)[0], "events.trips");
    assert_eq!(
        names(QueueSort::Name),
        [
            "events.alerts",
            "events.trips",
            "presence.tracker.a1",
            "service.tracker",
            "work.dashcam"
        ]
    );

    let mut ui = ui();
    let key = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    for expected in [
        QueueSort::Depth,
        QueueSort::Rate,
        QueueSort::Name,
        QueueSort::Problems,
    ] {
        assert_eq!(
            on_key(&mut ui, key('s'), (5, 2), Pages::default()),
            KeyOutcome::Continue
        );
        assert_eq!(ui.sort, expected);
    }
    ui.sort = QueueSort::Name;
    let (text, _, _) = screen(&o, &fleet(), &ui, 120, 40);
    assert!(
        table(&text, "sort: name")[1].contains("instadash.events.alerts"),
        "{text}"
    );
}

#[test]
fn top_keys_scroll_the_focused_table_and_quit() {
    let mut o = overview();
    o.queues = (0..30)
        .map(|i| {
            queue(
                &format!("instadash.work.q{i:02}"),
                QueueKind::Work,
                i,
                1,
                &[i],
            )
        })
        .collect();
    let mut ui = ui();
    ui.sort = QueueSort::Name;
    let (text, _, pages) = screen(&o, &fleet(), &ui, 120, 30);
    assert!(pages.queues > 0 && pages.queues < 30, "{pages:?}");
    assert!(
        text.contains(&format!("Queues 1–{} of 30", pages.queues)),
        "{text}"
    );

    let key = |code| KeyEvent::new(code, KeyModifiers::NONE);
    on_key(&mut ui, key(KeyCode::Char('j')), (30, 2), pages);
    on_key(&mut ui, key(KeyCode::Down), (30, 2), pages);
    assert_eq!(ui.queue_scroll, 2);
    let (text, _, _) = screen(&o, &fleet(), &ui, 120, 30);
    assert!(
        table(&text, "Queues 3–")[1].contains("instadash.work.q02"),
        "{text}"
    );
    // Scrolling stops at the last page; `k` and Home go back.
    on_key(&mut ui, key(KeyCode::End), (30, 2), pages);
    assert_eq!(ui.queue_scroll, 30 - pages.queues);
    on_key(&mut ui, key(KeyCode::Char('j')), (30, 2), pages);
    assert_eq!(ui.queue_scroll, 30 - pages.queues);
    on_key(&mut ui, key(KeyCode::Char('k')), (30, 2), pages);
    assert_eq!(ui.queue_scroll, 29 - pages.queues);
    on_key(&mut ui, key(KeyCode::Home), (30, 2), pages);
    assert_eq!(ui.queue_scroll, 0);

    // Tab moves the focus: the services table now scrolls (not at all: both rows fit).
    on_key(&mut ui, key(KeyCode::Tab), (30, 2), pages);
    assert_eq!(ui.focus, Focus::Services);
    on_key(&mut ui, key(KeyCode::Char('j')), (30, 2), pages);
    assert_eq!((ui.queue_scroll, ui.service_scroll), (0, 0));
    assert!(
        screen(&o, &fleet(), &ui, 120, 30)
            .0
            .contains("focus: services")
    );

    for quit in [
        key(KeyCode::Char('q')),
        key(KeyCode::Esc),
        KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
    ] {
        assert_eq!(on_key(&mut ui, quit, (30, 2), pages), KeyOutcome::Quit);
    }
}

#[test]
fn top_says_when_the_monitor_is_unreachable() {
    let mut ui = ui();
    ui.error = Some("GET http://monitor:8080/api/overview: connection refused".into());
    // Before any figures arrived.
    let (text, _, _) = screen(&Overview::default(), &Fleet::default(), &ui, 120, 30);
    assert!(
        text.contains("monitor unreachable (retrying every 1s): GET http://monitor:8080/api/overview: connection refused"),
        "{text}"
    );
    assert!(text.contains("no figures from the monitor yet"), "{text}");
    assert!(
        !text.contains("broker"),
        "no made-up broker figures: {text}"
    );
    // With the last figures still on screen.
    let (text, _, _) = screen(&overview(), &fleet(), &ui, 160, 40);
    assert!(
        text.contains(
            "monitor unreachable (retrying every 1s, showing figures from 22:13:20 UTC): GET"
        ),
        "{text}"
    );
    assert!(text.contains("broker ● up"), "{text}");
    assert!(text.contains("instadash.work.dashcam"), "{text}");
    // Before the first answer.
    let (text, _, _) = screen(
        &Overview::default(),
        &Fleet::default(),
        &self::ui(),
        120,
        30,
    );
    assert!(
        text.contains("waiting for the monitor at http://monitor:8080…"),
        "{text}"
    );

    // A broker the monitor cannot reach, with an alarm.
    let mut o = overview();
    o.broker.reachable = false;
    o.broker.error = Some("management API: timed out".into());
    o.broker.alarms = vec!["memory@rabbit@node-1".into()];
    let (text, _, _) = screen(
        &o,
        &fleet(),
        &super::view::UiState { error: None, ..ui },
        140,
        40,
    );
    assert!(
        text.contains("broker ● UNREACHABLE management API: timed out RabbitMQ 4.1.0 · ALARMS: memory@rabbit@node-1"),
        "{text}"
    );
}

/// A stand-in for the monitor: answers `/api/overview` and `/api/fleet` with the fixtures (or
/// 500 for the paths in `failing`), 404 otherwise, one connection at a time.
fn monitor(failing: &'static [&'static str]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let overview = serde_json::to_string(&overview()).unwrap();
    let fleet = serde_json::to_string(&fleet()).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            // Skip the headers: requests carry no body.
            let mut header = String::new();
            while reader.read_line(&mut header).unwrap() > 2 {
                header.clear();
            }
            let path = request_line.split(' ').nth(1).unwrap_or("");
            let (status, body) = match path {
                p if failing.contains(&p) => ("500 Internal Server Error", "boom".to_string()),
                "/api/overview" => ("200 OK", overview.clone()),
                "/api/fleet" => ("200 OK", fleet.clone()),
                _ => ("404 Not Found", "not found".to_string()),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

fn once_args(url: &str) -> TopArgs {
    TopArgs {
        monitor_url: url.into(),
        refresh_ms: 1000,
        once: true,
        width: 120,
    }
}

#[test]
fn top_once_prints_one_plain_frame_from_the_monitor() {
    let url = monitor(&[]);
    let mut out = Vec::new();
    // A trailing slash on the URL is fine.
    once(&once_args(&format!("{url}/")), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();

    assert!(text.lines().all(|l| l.chars().count() <= 120), "{text}");
    assert!(!text.contains('\u{1b}'), "no escape sequences: {text}");
    assert!(!text.contains("quit"), "no key help: {text}");
    assert!(
        text.contains(&format!("instadash top {url}/ 22:13:20 UTC")),
        "{text}"
    );
    assert!(text.contains("publish 1.2k/s"), "{text}");
    assert!(text.contains("fleet 5 vehicles: 3 online"), "{text}");
    let alerts = table(&text, "Operator alerts: 1 active, 1 cleared");
    assert!(
        alerts[0].contains("no-consumer") && alerts[0].contains("340 messages waiting"),
        "{text}"
    );
    // Every queue and service is printed, problems first, and the frame ends with the services.
    let queues = table(&text, "Queues (5)");
    assert_eq!(queues.len(), 6, "{text}");
    assert!(
        queues[1].starts_with("│● alert") && queues[1].contains("instadash.work.dashcam"),
        "{text}"
    );
    let services = table(&text, "Services (2)");
    assert_eq!(services.len(), 3, "{text}");
    assert!(
        services[1].contains("tracker") && services[1].contains("1/2"),
        "{text}"
    );
    assert!(text.trim_end().ends_with('┘'), "{text}");
}

#[test]
fn top_once_fails_clearly_without_a_monitor() {
    // Nothing listens on this port any more.
    let url = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let error = once(&once_args(&url), &mut Vec::new()).unwrap_err();
    let message = format!("{error:#}");
    assert!(
        message.starts_with(&format!(
            "cannot read the monitor at {url}: GET {url}/api/overview"
        )),
        "{message}"
    );

    // A monitor that answers one endpoint with an error.
    let url = monitor(&["/api/fleet"]);
    let mut out = Vec::new();
    let message = format!("{:#}", once(&once_args(&url), &mut out).unwrap_err());
    assert!(
        message.contains(&format!("GET {url}/api/fleet")) && message.contains("500"),
        "{message}"
    );
    assert!(out.is_empty());
}

#[tokio::test]
async fn top_once_exits_1_without_a_monitor() {
    let url = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let code = run(once_args(&url)).await.unwrap();
    assert_eq!(code, ExitCode::FAILURE);
}

#[test]
fn top_args_have_their_defaults() {
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        top: TopArgs,
    }
    use clap::Parser;
    let args = Cli::parse_from(["top", "--monitor-url", "http://m:1"]).top;
    assert_eq!(args.monitor_url, "http://m:1");
    assert_eq!((args.refresh_ms, args.once, args.width), (1000, false, 120));
    let args = Cli::parse_from(["top", "--once", "--width", "80", "--refresh-ms", "250"]).top;
    assert_eq!((args.refresh_ms, args.once, args.width), (250, true, 80));
    assert!(Cli::try_parse_from(["top", "--refresh-ms", "0"]).is_err());
}
