//! `Monitor` on the bus: subscribes to what the page shows (telemetry, status changes, alerts,
//! statistics reports), polls the broker's management API, evaluates the operator alerts, and
//! serves the dashboard. Everything it knows lives in memory (a rolling window); a restarted
//! monitor asks the tracker and the alerts service for the current picture.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use broker_bridge::management::Management;
use broker_bridge::{Bridge, Directory, Incoming};
use instadash_schemas::alert::acknowledged::v1::AlertAcknowledged;
use instadash_schemas::alert::cleared::v1::AlertCleared;
use instadash_schemas::alert::list_active::v1::ListActive;
use instadash_schemas::alert::list_active_reply::v1::ListActiveReply;
use instadash_schemas::alert::raised::v1::AlertRaised;
use instadash_schemas::platform::service_stats::v1::ServiceStats;
use instadash_schemas::vehicle::ignition::v1::Ignition;
use instadash_schemas::vehicle::list_vehicles::v1::ListVehicles;
use instadash_schemas::vehicle::list_vehicles_reply::v1::ListVehiclesReply;
use instadash_schemas::vehicle::position::v2::Position;
use instadash_schemas::vehicle::status_changed::v1::StatusChanged;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::api::{DeadLetterView, Overview, ReasonCount};
use crate::broker::{self, BrokerSample};
use crate::fleet::FleetView;
use crate::operator_alerts::{Observation, OperatorAlerts, RuleConfig};
use crate::queues::QueueBook;
use crate::service_book::ServiceBook;
use crate::{graph, http, metrics};

#[derive(Debug, Clone)]
pub struct MonitorOptions {
    pub listen: SocketAddr,
    pub management_url: String,
    /// The management password, from a file rather than the URL.
    pub management_password_file: Option<std::path::PathBuf>,
    /// Management API poll interval.
    pub poll: Duration,
    /// How often the overview is rebuilt and pushed to pages.
    pub refresh: Duration,
    /// How often changed vehicles are pushed to pages (batched and throttled).
    pub vehicle_batch: Duration,
    /// How often dead-letter queues are read for their reasons.
    pub dead_letter_scan: Duration,
    pub rules: RuleConfig,
    /// The subscriber group (queue `instadash.events.<group>`).
    pub group: String,
}

impl Default for MonitorOptions {
    fn default() -> Self {
        MonitorOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            management_url: broker_bridge::management::DEFAULT_MANAGEMENT_URL.to_owned(),
            management_password_file: None,
            poll: Duration::from_secs(2),
            refresh: Duration::from_secs(1),
            vehicle_batch: Duration::from_millis(500),
            dead_letter_scan: Duration::from_secs(10),
            rules: RuleConfig::default(),
            group: "monitor".to_owned(),
        }
    }
}

/// What pages are told as it happens: a server-sent event, serialized once for every page.
#[derive(Debug, Clone)]
pub struct PageEvent {
    pub name: &'static str,
    pub data: Arc<str>,
}

/// Everything but the fleet, behind one lock (changed once a second or so).
#[derive(Debug)]
pub(crate) struct Platform {
    /// The last poll of the management API; `None` before the first.
    pub sample: Option<BrokerSample>,
    pub queues: QueueBook,
    pub services: ServiceBook,
    pub rules: OperatorAlerts,
    pub dead_letters: Vec<DeadLetterView>,
}

pub(crate) struct Shared {
    pub bridge: Bridge,
    pub options: MonitorOptions,
    pub fleet: Mutex<FleetView>,
    pub platform: Mutex<Platform>,
    pub overview: Mutex<Arc<Overview>>,
    pub pages: broadcast::Sender<PageEvent>,
    /// Cancelled when the monitor stops: ends the loops and every page's event stream.
    pub stop: CancellationToken,
}

impl Shared {
    pub fn fleet(&self) -> MutexGuard<'_, FleetView> {
        self.fleet
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn platform(&self) -> MutexGuard<'_, Platform> {
        self.platform
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn overview(&self) -> Arc<Overview> {
        self.overview
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Tells every open page (none listening is fine).
    pub fn tell<T: serde::Serialize>(&self, name: &'static str, data: &T) {
        if self.pages.receiver_count() == 0 {
            return;
        }
        match serde_json::to_string(data) {
            Ok(json) => {
                let _ = self.pages.send(PageEvent {
                    name,
                    data: json.into(),
                });
            }
            Err(error) => warn!(%error, name, "page event not serialized"),
        }
    }
}

/// A running monitor.
pub struct Monitor {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Monitor {
    /// Subscribes, starts polling and serving. Returns once the page is served and events flow.
    pub async fn start(bridge: Bridge, options: MonitorOptions) -> anyhow::Result<Self> {
        let mut management = Management::new(&options.management_url)?;
        if let Some(file) = &options.management_password_file {
            management = management.with_password_file(file)?;
        }
        // Installed before anything is recorded: the `metrics` macros drop what comes earlier.
        metrics::handle();
        let vhost = bridge.config().vhost().context("the AMQP URL's vhost")?;
        let (pages, _) = broadcast::channel(256);
        let shared = Arc::new(Shared {
            bridge: bridge.clone(),
            platform: Mutex::new(Platform {
                sample: None,
                queues: QueueBook::default(),
                services: ServiceBook::default(),
                rules: OperatorAlerts::new(options.rules.clone()),
                dead_letters: Vec::new(),
            }),
            options,
            fleet: Mutex::new(FleetView::default()),
            overview: Mutex::new(Arc::new(Overview::default())),
            pages,
            stop: CancellationToken::new(),
        });
        subscribe(&shared).await?;
        let directory = bridge
            .directory()
            .await
            .context("following the directory")?;
        let listener = tokio::net::TcpListener::bind(shared.options.listen)
            .await
            .with_context(|| format!("listening on {}", shared.options.listen))?;
        let addr = listener.local_addr()?;
        let stop = shared.stop.clone();
        let tasks = vec![
            tokio::spawn(poll_broker(shared.clone(), management, vhost, stop.clone())),
            tokio::spawn(refresh(shared.clone(), directory, stop.clone())),
            tokio::spawn(push_vehicles(shared.clone(), stop.clone())),
            tokio::spawn(scan_dead_letters(shared.clone(), stop.clone())),
            tokio::spawn(learn_current_picture(shared.clone(), stop.clone())),
            tokio::spawn(http::serve(listener, shared.clone(), stop.clone())),
        ];
        info!(%addr, "monitor serving the dashboard");
        Ok(Monitor {
            shared,
            addr,
            stop,
            tasks,
        })
    }

    /// Where the dashboard is served (the bound address, also when port 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The overview as of the last refresh.
    pub fn overview(&self) -> Arc<Overview> {
        self.shared.overview()
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
        self.shared
            .bridge
            .shutdown()
            .await
            .context("leaving the bus")?;
        Ok(())
    }
}

/// The handlers of the monitor's subscription: cheap updates of in-memory views.
async fn subscribe(shared: &Arc<Shared>) -> anyhow::Result<()> {
    /// A handler that applies a message to the views; it cannot fail, so it is acknowledged.
    fn on<T, F>(
        shared: &Arc<Shared>,
        apply: F,
    ) -> impl Fn(Incoming<T>) -> std::future::Ready<anyhow::Result<()>> + Send + Sync + 'static
    where
        T: Send + 'static,
        F: Fn(&Shared, &Incoming<T>) + Send + Sync + 'static,
    {
        let shared = shared.clone();
        move |incoming: Incoming<T>| {
            apply(&shared, &incoming);
            std::future::ready(Ok(()))
        }
    }
    // Every vehicle message: one lock of the fleet view, which remembers it as the vehicle's latest.
    let seen = |fleet: &mut FleetView, vehicle: &str, envelope: &broker_bridge::Envelope| {
        let trace = envelope
            .traceparent
            .as_deref()
            .and_then(broker_bridge::trace_context::trace_id);
        fleet.saw_event(vehicle, &envelope.id, trace);
    };
    shared
        .bridge
        .subscribe(&shared.options.group)
        .on(on(shared, move |s, m: &Incoming<Position>| {
            let mut fleet = s.fleet();
            seen(&mut fleet, &m.data.vehicle_id, &m.envelope);
            fleet.position(&m.data);
        }))
        .on(on(shared, move |s, m: &Incoming<Ignition>| {
            let mut fleet = s.fleet();
            seen(&mut fleet, &m.data.vehicle_id, &m.envelope);
            fleet.ignition(&m.data);
        }))
        .on(on(shared, move |s, m: &Incoming<StatusChanged>| {
            let mut fleet = s.fleet();
            seen(&mut fleet, &m.data.vehicle_id, &m.envelope);
            fleet.status(&m.data);
        }))
        .on(on(shared, move |s, m: &Incoming<AlertRaised>| {
            let entry = {
                let mut fleet = s.fleet();
                seen(&mut fleet, &m.data.vehicle_id, &m.envelope);
                fleet.raised(&m.data, &m.envelope.id)
            };
            s.tell("alert", &entry);
        }))
        .on(on(shared, |s, m: &Incoming<AlertAcknowledged>| {
            let entry = s.fleet().acknowledged(&m.data);
            if let Some(entry) = entry {
                s.tell("alert", &entry);
            }
        }))
        .on(on(shared, |s, m: &Incoming<AlertCleared>| {
            let entry = s.fleet().cleared(&m.data);
            if let Some(entry) = entry {
                s.tell("alert", &entry);
            }
        }))
        .on(on(shared, |s, m: &Incoming<ServiceStats>| {
            metrics::report(&m.data);
            s.platform().services.stats(&m.data);
        }))
        .start()
        .await
        .context("subscribing to telemetry, alerts and statistics")
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

async fn poll_broker(shared: Arc<Shared>, api: Management, vhost: String, stop: CancellationToken) {
    let mut tick = tokio::time::interval(shared.options.poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        let (api, vhost) = (api.clone(), vhost.clone());
        let Ok(sample) = tokio::task::spawn_blocking(move || broker::poll(&api, &vhost)).await
        else {
            continue;
        };
        let mut platform = shared.platform();
        if sample.broker.reachable {
            platform.queues.record(now_ms(), &sample.queues);
        }
        platform.sample = Some(sample);
    }
}

/// Rebuilds the overview from the latest of everything, evaluates the operator alerts, sets the
/// gauges, and tells the pages.
async fn refresh(shared: Arc<Shared>, directory: Directory, stop: CancellationToken) {
    let mut tick = tokio::time::interval(shared.options.refresh);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        let now = now_ms();
        let instances = directory.instances();
        let overview = {
            let mut guard = shared.platform();
            let platform = &mut *guard;
            platform.services.directory(now, &instances);
            let services = platform.services.views();
            let changes = platform.rules.evaluate(&Observation {
                now_ms: now,
                broker: platform.sample.as_ref().map(|s| &s.broker),
                queues: &platform.queues,
                services: &services,
            });
            for alert in &changes.raised {
                warn!(kind = ?alert.kind, subject = %alert.subject, message = %alert.message, "operator alert raised");
                metrics::operator_alert_raised(alert.kind);
            }
            for alert in &changes.cleared {
                info!(kind = ?alert.kind, subject = %alert.subject, "operator alert cleared");
            }
            let queues = platform.queues.views();
            Overview {
                time_ms: now,
                broker: platform
                    .sample
                    .as_ref()
                    .map(|s| s.broker.clone())
                    .unwrap_or_default(),
                graph: graph::build(
                    &services,
                    &queues,
                    platform.sample.as_ref().map_or(&[], |s| &s.bindings),
                ),
                queues,
                services,
                operator_alerts: platform.rules.all(),
                dead_letters: platform.dead_letters.clone(),
            }
        };
        let (counts, vehicle_alerts) = {
            let fleet = shared.fleet();
            (fleet.counts(), fleet.active_alert_count())
        };
        metrics::overview(&overview, &counts, vehicle_alerts);
        shared.tell("overview", &overview);
        *shared
            .overview
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(overview);
    }
}

async fn push_vehicles(shared: Arc<Shared>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(shared.options.vehicle_batch);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        let vehicles = shared.fleet().take_changed();
        if !vehicles.is_empty() {
            shared.tell(
                "vehicles",
                &crate::api::VehicleBatch {
                    time_ms: now_ms(),
                    vehicles,
                },
            );
        }
    }
}

/// Reads (in place) the dead letters of every dead-letter queue that holds some, to show why.
async fn scan_dead_letters(shared: Arc<Shared>, stop: CancellationToken) {
    /// Dead letters looked at per queue.
    const PEEK: usize = 50;
    let mut tick = tokio::time::interval(shared.options.dead_letter_scan);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        let holding: Vec<(String, u64)> = shared
            .platform()
            .queues
            .views()
            .into_iter()
            .filter(|q| q.kind == crate::api::QueueKind::DeadLetter)
            .filter(|q| q.ready + q.unacked > 0)
            .map(|q| (q.name, q.ready + q.unacked))
            .collect();
        let mut views = Vec::new();
        for (queue, messages) in holding {
            let base = queue.trim_end_matches(".dead-letter");
            let letters = match shared.bridge.dead_letters(base, PEEK).await {
                Ok(letters) => letters,
                Err(error) => {
                    warn!(%error, %queue, "dead letters not read");
                    continue;
                }
            };
            let mut reasons: BTreeMap<String, ReasonCount> = BTreeMap::new();
            for letter in letters {
                let reason = reasons
                    .entry(letter.reason.clone())
                    .or_insert_with(|| ReasonCount {
                        reason: letter.reason.clone(),
                        count: 0,
                        example: if letter.error.is_empty() {
                            letter.check.clone()
                        } else {
                            letter.error.clone()
                        },
                    });
                reason.count += 1;
            }
            let mut reasons: Vec<_> = reasons.into_values().collect();
            reasons.sort_by_key(|r| std::cmp::Reverse(r.count));
            views.push(DeadLetterView {
                queue,
                messages,
                reasons,
            });
        }
        shared.platform().dead_letters = views;
    }
}

/// At start: what the tracker and the alerts service already know (vehicles that are parked and
/// silent, alerts raised before the monitor came). Asks each once the directory lists it live, until both answered.
async fn learn_current_picture(shared: Arc<Shared>, stop: CancellationToken) {
    const ASK_TIMEOUT: Duration = Duration::from_secs(10);
    let (mut vehicles_known, mut alerts_known) = (false, false);
    while !(vehicles_known && alerts_known) {
        // Only services the directory lists as live are asked: the others have no one to answer.
        let live = |name: &str| {
            shared.overview().services.iter().any(|s| {
                s.name == name
                    && s.instances
                        .iter()
                        .any(|i| i.health == crate::api::Health::Live)
            })
        };
        if !vehicles_known && live("tracker") {
            vehicles_known = ask_vehicles(&shared, ASK_TIMEOUT).await;
        }
        if !alerts_known && live("alerts") {
            let asked = shared
                .bridge
                .request::<_, ListActiveReply>(
                    "alerts",
                    &ListActive {
                        vehicle_id: None,
                        alert_types: None,
                        min_severity: None,
                        include_acknowledged: Some(true),
                        limit: None,
                    },
                    ASK_TIMEOUT,
                )
                .await;
            match asked {
                Ok(reply) => {
                    let mut fleet = shared.fleet();
                    for alert in &reply.alerts {
                        fleet.active(alert, "");
                    }
                    alerts_known = true;
                }
                Err(error) => info!(%error, "active alerts not known yet"),
            }
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = stop.cancelled() => return,
        }
    }
}

async fn ask_vehicles(shared: &Shared, timeout: Duration) -> bool {
    let mut after = None;
    loop {
        let page = shared
            .bridge
            .request::<_, ListVehiclesReply>(
                "tracker",
                &ListVehicles {
                    statuses: None,
                    limit: Some(1000),
                    after: after.clone(),
                },
                timeout,
            )
            .await;
        match page {
            Ok(page) => {
                let mut fleet = shared.fleet();
                for state in &page.vehicles {
                    fleet.known(state);
                }
                match page.next_after {
                    Some(next) => after = Some(next),
                    None => return true,
                }
            }
            Err(error) => {
                info!(%error, "vehicles not known yet");
                return false;
            }
        }
    }
}
