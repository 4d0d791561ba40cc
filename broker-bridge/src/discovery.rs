//! Discovery through the broker, with no registry to run: every instance announces itself (who it
//! is and what it offers), says it is alive at an interval, and says goodbye when it leaves. A
//! [`Directory`] collects that and asks live instances to announce themselves again when it starts,
//! so it is complete within moments.
//!
//! Liveness comes from the broker too: each instance holds an exclusive *presence* queue, which the
//! broker deletes the moment the instance's connection is gone (a killed process included). A
//! directory that misses an instance's heartbeats asks the broker about that queue: gone means the
//! instance is gone; still held means the process is alive but not answering (stopped, hung).
//!
//! Traffic per instance is a heartbeat per interval, plus one announcement per directory that
//! starts; it does not grow with the number of instances. Only directories receive it all.
//!
//! The presence queue also takes the trace view's questions (`instadash.platform.trace-query`),
//! which every instance answers from its span log ([`crate::span_log`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::FieldTable;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::envelope::Envelope;
use crate::error::BridgeError;
use crate::link::{Link, LinkState};
use crate::message::{Message, RawPayload};
use crate::outbox::Outbox;
use crate::process::Process;
use crate::span_log::{self, TraceQuery};
use crate::topology::EVENTS;

// ---- on the wire (schemas/platform/*.schema.json) ---------------------------------------------

/// What an instance offers: the message types it consumes and produces with their versions, the
/// commands and requests its inbox takes, the work queues it works on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offers {
    /// Event types it subscribes to (and jobs it takes).
    pub consumes: Vec<TypeVersions>,
    /// Types it sends.
    pub produces: Vec<TypeVersions>,
    /// Commands its inbox accepts.
    pub commands: Vec<TypeVersions>,
    /// Requests it answers.
    pub requests: Vec<TypeVersions>,
    /// Work queues it takes jobs from (names without the `instadash.work.` prefix).
    pub work_queues: Vec<String>,
}

/// A message type and the schema versions handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeVersions {
    #[serde(rename = "type")]
    pub type_: String,
    pub versions: Vec<u32>,
}

/// `instadash.platform.service-announced`: an instance is on the bus, and what it offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Announcement {
    pub service: String,
    pub instance: String,
    pub version: String,
    pub host: String,
    pub pid: u32,
    pub started_at_ms: i64,
    pub offers: Offers,
    /// How often the instance heartbeats, so a directory knows when silence means trouble.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_interval_s: Option<u32>,
}

impl Message for Announcement {
    const TYPE: &'static str = "instadash.platform.service-announced";
    fn subject(&self) -> Option<String> {
        Some(self.service.clone())
    }
}

/// How an instance is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Ok,
    /// Working with trouble (e.g. the broker link is recovering).
    Degraded,
    /// Shutting down, finishing what it holds.
    Draining,
}

/// State of the broker connection, as a heartbeat reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeartbeatLink {
    Connected,
    Recovering,
}

/// `instadash.platform.service-heartbeat`: an instance is alive, with a digest of its load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub service: String,
    pub instance: String,
    pub time_ms: i64,
    pub interval_s: u32,
    pub uptime_s: u64,
    pub health: Health,
    pub link: HeartbeatLink,
    pub in_flight: u32,
    pub messages_in: u64,
    pub messages_out: u64,
    pub errors: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_pct: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_bytes: Option<u64>,
}

impl Message for Heartbeat {
    const TYPE: &'static str = "instadash.platform.service-heartbeat";
    fn subject(&self) -> Option<String> {
        Some(self.service.clone())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GoodbyeReason {
    Shutdown,
    Restart,
    FatalError,
}

/// `instadash.platform.service-goodbye`: an instance leaves on purpose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Goodbye {
    pub service: String,
    pub instance: String,
    pub time_ms: i64,
    pub uptime_s: u64,
    pub reason: GoodbyeReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Message for Goodbye {
    const TYPE: &'static str = "instadash.platform.service-goodbye";
    fn subject(&self) -> Option<String> {
        Some(self.service.clone())
    }
}

/// `instadash.platform.directory-ping`: every live instance announces itself again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectoryPing {
    pub from_service: String,
    pub sent_at_ms: i64,
}

impl Message for DirectoryPing {
    const TYPE: &'static str = "instadash.platform.directory-ping";
}

/// The queue that exists exactly as long as the instance's connection: the broker's own word on
/// whether the instance is there.
pub fn presence_queue(service: &str, instance: &str) -> String {
    format!("instadash.presence.{service}.{instance}")
}

pub(crate) fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

// ---- this instance's side ------------------------------------------------------------------

/// What this instance announces, kept up to date as it subscribes and sends.
pub(crate) struct Presence {
    pub service: String,
    pub instance: String,
    pub version: String,
    pub interval: Duration,
    started: Instant,
    started_at_ms: i64,
    /// Read on every message sent (is its type already offered?), so reading takes no lock;
    /// the rare change copies the sets under `offers_changing`.
    offers: ArcSwap<OfferSets>,
    offers_changing: Mutex<()>,
    /// Woken when the offers change, so the instance announces them.
    changed: Notify,
    /// The process's CPU time at the previous heartbeat, for the CPU share since then.
    cpu_before: Mutex<Option<(Instant, Duration)>>,
}

#[derive(Default, Clone)]
struct OfferSets {
    consumes: BTreeSet<(&'static str, u32)>,
    produces: BTreeSet<(&'static str, u32)>,
    commands: BTreeSet<(&'static str, u32)>,
    requests: BTreeSet<(&'static str, u32)>,
    work_queues: BTreeSet<String>,
}

impl OfferSets {
    fn set(&self, offer: Offer) -> &BTreeSet<(&'static str, u32)> {
        match offer {
            Offer::Consumes => &self.consumes,
            Offer::Produces => &self.produces,
            Offer::Command => &self.commands,
            Offer::Request => &self.requests,
        }
    }

    fn set_mut(&mut self, offer: Offer) -> &mut BTreeSet<(&'static str, u32)> {
        match offer {
            Offer::Consumes => &mut self.consumes,
            Offer::Produces => &mut self.produces,
            Offer::Command => &mut self.commands,
            Offer::Request => &mut self.requests,
        }
    }
}

/// Which list of [`Offers`] a type goes to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Offer {
    Consumes,
    Produces,
    Command,
    Request,
}

impl Presence {
    pub(crate) fn new(
        service: String,
        instance: String,
        version: String,
        interval: Duration,
    ) -> Self {
        Self {
            service,
            instance,
            version,
            interval,
            started: Instant::now(),
            started_at_ms: now_ms(),
            offers: ArcSwap::default(),
            offers_changing: Mutex::default(),
            changed: Notify::new(),
            cpu_before: Mutex::default(),
        }
    }

    /// Records that this instance offers `kind` (version `version`); announces again if new.
    pub(crate) fn offer(&self, offer: Offer, kind: &'static str, version: u32) {
        let entry = (kind, version);
        if OfferSets::set(&self.offers.load(), offer).contains(&entry) {
            return;
        }
        self.change(|sets| sets.set_mut(offer).insert(entry));
    }

    pub(crate) fn offer_work_queue(&self, queue: &str) {
        if !self.offers.load().work_queues.contains(queue) {
            self.change(|sets| sets.work_queues.insert(queue.to_owned()));
        }
    }

    /// Applies `change` to a copy of the offers; if it changed anything, publishes the copy and
    /// has the instance announce it.
    fn change(&self, change: impl FnOnce(&mut OfferSets) -> bool) {
        let _one_at_a_time = self
            .offers_changing
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut sets = OfferSets::clone(&self.offers.load());
        if change(&mut sets) {
            self.offers.store(Arc::new(sets));
            self.changed.notify_one();
        }
    }

    fn announcement(&self) -> Announcement {
        let sets = self.offers.load();
        let list = |set: &BTreeSet<(&'static str, u32)>| {
            let mut by_type: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
            for (kind, version) in set {
                by_type.entry(kind).or_default().push(*version);
            }
            by_type
                .into_iter()
                .map(|(kind, versions)| TypeVersions {
                    type_: kind.to_owned(),
                    versions,
                })
                .collect()
        };
        Announcement {
            service: self.service.clone(),
            instance: self.instance.clone(),
            version: self.version.clone(),
            host: host_name(),
            pid: std::process::id(),
            started_at_ms: self.started_at_ms,
            heartbeat_interval_s: Some(self.interval_s()),
            offers: Offers {
                consumes: list(&sets.consumes),
                produces: list(&sets.produces),
                commands: list(&sets.commands),
                requests: list(&sets.requests),
                work_queues: sets.work_queues.iter().cloned().collect(),
            },
        }
    }

    fn interval_s(&self) -> u32 {
        u32::try_from(self.interval.as_secs())
            .unwrap_or(u32::MAX)
            .max(1)
    }

    pub(crate) fn goodbye(&self) -> Goodbye {
        Goodbye {
            service: self.service.clone(),
            instance: self.instance.clone(),
            time_ms: now_ms(),
            uptime_s: self.started.elapsed().as_secs(),
            reason: GoodbyeReason::Shutdown,
            message: None,
        }
    }

    fn heartbeat(&self, link: LinkState, stats: crate::StatsSnapshot) -> Heartbeat {
        Heartbeat {
            service: self.service.clone(),
            instance: self.instance.clone(),
            time_ms: now_ms(),
            interval_s: self.interval_s(),
            uptime_s: self.started.elapsed().as_secs(),
            health: Health::Ok,
            link: if link == LinkState::Connected {
                HeartbeatLink::Connected
            } else {
                HeartbeatLink::Recovering
            },
            in_flight: u32::try_from(stats.in_flight).unwrap_or(u32::MAX),
            messages_in: stats.delivered,
            messages_out: stats.published,
            errors: stats.dead_lettered,
            cpu_pct: self.cpu_pct(),
            rss_bytes: Process::Current.rss_bytes(),
        }
    }

    /// The share of one core this process used since the previous heartbeat, in percent.
    fn cpu_pct(&self) -> Option<f64> {
        let now = (Instant::now(), Process::Current.cpu_time()?);
        let before = self
            .cpu_before
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(now)?;
        let wall = now.0.duration_since(before.0).as_secs_f64();
        (wall > 0.0).then(|| 100.0 * now.1.saturating_sub(before.1).as_secs_f64() / wall)
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// What arrived on the presence queue.
enum Asked {
    /// A directory's ping (or anything else not a trace query): announce again.
    Ping,
    Trace(TraceQuery),
    /// A trace query that cannot be read: ignored.
    Unreadable,
}

impl Asked {
    fn read(delivery: &lapin::message::Delivery) -> Self {
        let Ok((envelope, body)) = Envelope::from_delivery(&delivery.properties, &delivery.data)
        else {
            return Asked::Ping;
        };
        if envelope.kind != TraceQuery::TYPE {
            return Asked::Ping;
        }
        let headers = delivery.properties.headers().as_ref();
        match TraceQuery::decode(&RawPayload::new(&envelope, &body, headers)) {
            Ok(query) => Asked::Trace(query),
            Err(rejection) => {
                debug!(%rejection, "unreadable trace query ignored");
                Asked::Unreadable
            }
        }
    }
}

/// Keeps this instance present: holds its presence queue (answering directory pings and trace
/// queries there),
/// announces itself when it starts, when its offers change and after a reconnect, and sends a
/// heartbeat every interval. Ends with `stop`.
pub(crate) async fn keep_present(
    presence: Arc<Presence>,
    link: Link,
    outbox: Outbox,
    stats: Arc<crate::stats::Stats>,
    stop: CancellationToken,
) {
    let announce = || {
        let (outbox, presence) = (outbox.clone(), presence.clone());
        async move {
            if let Err(error) = outbox.broadcast(&presence.announcement()).await {
                debug!(%error, "announcement not sent");
            }
        }
    };
    let mut heartbeat = tokio::time::interval(presence.interval);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut state = link.subscribe();
    let mut delay = Duration::from_millis(100);
    loop {
        let queue = presence_queue(&presence.service, &presence.instance);
        let held = async {
            let channel = link.create_channel().await?;
            let exclusive = QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            };
            channel
                .queue_declare(queue.as_str().into(), exclusive, FieldTable::default())
                .await?;
            // Directories' pings, and the trace view's questions (told apart by their type).
            for kind in [DirectoryPing::TYPE, TraceQuery::TYPE] {
                channel
                    .queue_bind(
                        queue.as_str().into(),
                        EVENTS.into(),
                        format!("{kind}.#").into(),
                        QueueBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await?;
            }
            let pings = channel
                .basic_consume(
                    queue.as_str().into(),
                    "presence".into(),
                    BasicConsumeOptions {
                        no_ack: true,
                        exclusive: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await?;
            Ok::<_, lapin::Error>((channel, pings))
        }
        .await;
        let (channel, mut pings) = match held {
            Ok(held) => held,
            Err(error) => {
                debug!(%error, "presence queue not held yet");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = stop.cancelled() => return,
                }
                delay = (delay * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        delay = Duration::from_millis(100);
        announce().await;
        loop {
            tokio::select! {
                asked = pings.next() => match asked {
                    Some(Ok(delivery)) => match Asked::read(&delivery) {
                        Asked::Ping => announce().await,
                        Asked::Trace(query) => {
                            span_log::answer(&outbox, &presence.service, &presence.instance, &query)
                                .await;
                        }
                        Asked::Unreadable => {}
                    },
                    Some(Err(error)) => {
                        if link.wait_for_recovery(&channel, error).await.is_err() {
                            break;
                        }
                        // Back after a reconnect: directories may have counted us gone.
                        announce().await;
                    }
                    None => break,
                },
                () = presence.changed.notified() => announce().await,
                _ = heartbeat.tick() => {
                    let beat = presence.heartbeat(*state.borrow_and_update(), stats.snapshot());
                    if let Err(error) = outbox.broadcast(&beat).await {
                        debug!(%error, "heartbeat not sent");
                    }
                }
                () = link.replaced(&channel) => break,
                () = stop.cancelled() => {
                    let _ = channel.close(200, "leaving".into()).await;
                    return;
                }
            }
        }
        let _ = channel.close(200, "presence again".into()).await;
    }
}

// ---- the directory ---------------------------------------------------------------------------

/// One instance as a directory knows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Instance {
    pub service: String,
    pub instance: String,
    pub version: String,
    pub host: String,
    pub pid: u32,
    pub started_at_ms: i64,
    pub offers: Offers,
    pub status: InstanceStatus,
    /// As of the last heartbeat.
    pub health: Option<Health>,
    /// When the last heartbeat (or announcement) arrived, ms since the epoch, by this clock.
    pub last_seen_ms: i64,
    pub heartbeat_interval_s: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceStatus {
    /// Heartbeats arrive.
    Live,
    /// Connected (its presence queue is held) but silent for three heartbeat intervals: stopped
    /// or hung.
    Unresponsive,
}

/// Every instance on the bus, kept current. Dropping it stops following.
pub struct Directory {
    instances: watch::Receiver<BTreeMap<String, Instance>>,
    stop: CancellationToken,
}

impl Drop for Directory {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Directory {
    /// The instances known now, by service then instance.
    pub fn instances(&self) -> Vec<Instance> {
        let mut all: Vec<Instance> = self.instances.borrow().values().cloned().collect();
        all.sort_by(|a, b| (&a.service, &a.instance).cmp(&(&b.service, &b.instance)));
        all
    }

    /// Waits until the directory changes. `false` once it stopped following.
    pub async fn changed(&mut self) -> bool {
        self.instances.changed().await.is_ok()
    }
}

/// How a directory hears of instances: these events, and answers to its ping.
const FOLLOWED: [&str; 3] = [Announcement::TYPE, Heartbeat::TYPE, Goodbye::TYPE];

/// Silence after which a directory asks the broker whether an instance's presence queue is still
/// held, in heartbeat intervals; after `UNRESPONSIVE_AFTER` intervals a held one is unresponsive:
/// two heartbeats missed and most of a third, so it is marked within three intervals even
/// though the directory looks only every `CHECK_EVERY`.
const SUSPECT_AFTER: f64 = 1.5;
const UNRESPONSIVE_AFTER: f64 = 2.75;
const CHECK_EVERY: Duration = Duration::from_millis(250);
/// The interval assumed for an instance that did not say (an older sender).
const DEFAULT_INTERVAL_S: u32 = 2;

pub(crate) async fn open_directory(
    link: Link,
    outbox: Outbox,
    service: String,
) -> Result<Directory, BridgeError> {
    let stop = CancellationToken::new();
    let (tx, rx) = watch::channel(BTreeMap::new());
    let (channel, deliveries) = follow(&link, &service).await?;
    ping(&outbox, &service).await;
    tokio::spawn(run_directory(
        link,
        outbox,
        service,
        channel,
        deliveries,
        tx,
        stop.clone(),
    ));
    Ok(Directory {
        instances: rx,
        stop,
    })
}

/// Asks every live instance to announce itself.
async fn ping(outbox: &Outbox, service: &str) {
    let ping = DirectoryPing {
        from_service: service.to_owned(),
        sent_at_ms: now_ms(),
    };
    if let Err(error) = outbox.broadcast(&ping).await {
        warn!(%error, "directory ping not sent; the directory fills as instances heartbeat");
    }
}

/// Follows the bus again on a fresh queue (its channel or connection is gone), and pings.
async fn refollow(
    link: &Link,
    outbox: &Outbox,
    service: &str,
) -> Option<(crate::link::LinkedChannel, lapin::Consumer)> {
    match follow(link, service).await {
        Ok(fresh) => {
            ping(outbox, service).await;
            Some(fresh)
        }
        Err(error) => {
            warn!(%error, "directory cannot follow the bus; retrying in 1 s");
            tokio::time::sleep(Duration::from_secs(1)).await;
            None
        }
    }
}

/// A queue of this directory's own, bound to the discovery events.
async fn follow(
    link: &Link,
    service: &str,
) -> Result<(crate::link::LinkedChannel, lapin::Consumer), BridgeError> {
    let channel = link
        .create_channel()
        .await
        .map_err(BridgeError::broker("opening the directory channel"))?;
    let queue = format!(
        "instadash.directory.{service}.{}",
        uuid::Uuid::now_v7().simple()
    );
    let exclusive = QueueDeclareOptions {
        exclusive: true,
        auto_delete: true,
        ..Default::default()
    };
    channel
        .queue_declare(queue.as_str().into(), exclusive, FieldTable::default())
        .await
        .map_err(BridgeError::broker("declaring the directory queue"))?;
    for kind in FOLLOWED {
        channel
            .queue_bind(
                queue.as_str().into(),
                EVENTS.into(),
                format!("{kind}.*").into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(BridgeError::broker("binding the directory queue"))?;
    }
    let deliveries = channel
        .basic_consume(
            queue.as_str().into(),
            "directory".into(),
            BasicConsumeOptions {
                no_ack: true,
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(BridgeError::broker("following discovery events"))?;
    Ok((channel, deliveries))
}

async fn run_directory(
    link: Link,
    outbox: Outbox,
    service: String,
    mut channel: crate::link::LinkedChannel,
    mut deliveries: lapin::Consumer,
    known: watch::Sender<BTreeMap<String, Instance>>,
    stop: CancellationToken,
) {
    // When each instance was last heard of, by this process's clock.
    let mut heard: BTreeMap<String, Instant> = BTreeMap::new();
    // When the broker was last asked about each silent instance, and whether it still held the
    // instance's presence queue (`None`: could not be asked).
    let mut asked: BTreeMap<String, (Instant, Option<bool>)> = BTreeMap::new();
    let mut check = tokio::time::interval(CHECK_EVERY);
    loop {
        tokio::select! {
            delivery = deliveries.next() => match delivery {
                Some(Ok(delivery)) => {
                    if let Some(event) = Event::read(&delivery) {
                        // Heartbeats refresh `last_seen_ms` without waking watchers; real changes
                        // wake them.
                        known.send_if_modified(|known| event.apply(known, &mut heard));
                    }
                }
                Some(Err(error)) => {
                    if link.wait_for_recovery(&channel, error).await.is_ok() {
                        // Back after a reconnect: catch up on what was missed meanwhile.
                        ping(&outbox, &service).await;
                    } else if let Some(fresh) = refollow(&link, &outbox, &service).await {
                        (channel, deliveries) = fresh;
                    }
                }
                None => {
                    if let Some(fresh) = refollow(&link, &outbox, &service).await {
                        (channel, deliveries) = fresh;
                    }
                }
            },
            _ = check.tick() => check_silent(&link, &known, &heard, &mut asked).await,
            () = stop.cancelled() => {
                let _ = channel.close(200, "directory closed".into()).await;
                return;
            }
        }
    }
}

/// A discovery event, read.
enum Event {
    Announced(Announcement),
    Heartbeat(Heartbeat),
    Goodbye(Goodbye),
}

impl Event {
    fn read(delivery: &lapin::message::Delivery) -> Option<Event> {
        let (envelope, body) =
            Envelope::from_delivery(&delivery.properties, &delivery.data).ok()?;
        let payload = RawPayload::new(&envelope, &body, delivery.properties.headers().as_ref());
        match envelope.kind.as_str() {
            Announcement::TYPE => Announcement::decode(&payload).ok().map(Event::Announced),
            Heartbeat::TYPE => Heartbeat::decode(&payload).ok().map(Event::Heartbeat),
            Goodbye::TYPE => Goodbye::decode(&payload).ok().map(Event::Goodbye),
            _ => None,
        }
    }

    /// Applies the event; returns whether the directory changed (beyond when it last heard).
    fn apply(
        self,
        known: &mut BTreeMap<String, Instance>,
        heard: &mut BTreeMap<String, Instant>,
    ) -> bool {
        match self {
            Event::Announced(a) => {
                heard.insert(a.instance.clone(), Instant::now());
                let previous = known.get(&a.instance);
                let instance = Instance {
                    service: a.service,
                    instance: a.instance.clone(),
                    version: a.version,
                    host: a.host,
                    pid: a.pid,
                    started_at_ms: a.started_at_ms,
                    offers: a.offers,
                    status: InstanceStatus::Live,
                    health: previous.and_then(|p| p.health),
                    last_seen_ms: now_ms(),
                    heartbeat_interval_s: a
                        .heartbeat_interval_s
                        .or(previous.map(|p| p.heartbeat_interval_s))
                        .unwrap_or(DEFAULT_INTERVAL_S),
                };
                let changed = previous.is_none_or(|p| {
                    p.status != instance.status
                        || p.offers != instance.offers
                        || p.version != instance.version
                });
                known.insert(a.instance, instance);
                changed
            }
            Event::Heartbeat(beat) => {
                heard.insert(beat.instance.clone(), Instant::now());
                // A heartbeat from an instance this directory has not seen announced: it will be
                // once it answers the ping or re-announces; until then it is not listed.
                let Some(instance) = known.get_mut(&beat.instance) else {
                    return false;
                };
                let changed =
                    instance.status != InstanceStatus::Live || instance.health != Some(beat.health);
                instance.status = InstanceStatus::Live;
                instance.health = Some(beat.health);
                instance.heartbeat_interval_s = beat.interval_s;
                instance.last_seen_ms = now_ms();
                changed
            }
            Event::Goodbye(bye) => {
                heard.remove(&bye.instance);
                known.remove(&bye.instance).is_some()
            }
        }
    }
}

/// Asks the broker about instances that went quiet: gone if their presence queue is gone,
/// unresponsive if it is still held after three intervals. Each silent instance is asked about
/// at most once per heartbeat interval.
async fn check_silent(
    link: &Link,
    known: &watch::Sender<BTreeMap<String, Instance>>,
    heard: &BTreeMap<String, Instant>,
    asked: &mut BTreeMap<String, (Instant, Option<bool>)>,
) {
    let silent: Vec<(String, String, f64, f64)> = {
        let known = known.borrow();
        asked.retain(|id, _| known.contains_key(id));
        known
            .values()
            .filter_map(|i| {
                let interval = f64::from(i.heartbeat_interval_s.max(1));
                let silence = heard.get(&i.instance)?.elapsed().as_secs_f64() / interval;
                let queue = presence_queue(&i.service, &i.instance);
                (silence >= SUSPECT_AFTER).then(|| (i.instance.clone(), queue, silence, interval))
            })
            .collect()
    };
    let mut verdicts = Vec::new();
    for (id, queue, silence, interval) in silent {
        let stale = asked
            .get(&id)
            .is_none_or(|(at, _)| at.elapsed().as_secs_f64() >= interval);
        if stale {
            asked.insert(
                id.clone(),
                (Instant::now(), presence_held(link, &queue).await),
            );
        }
        if let Some(held) = asked.get(&id).and_then(|(_, held)| *held) {
            verdicts.push((id, held, silence));
        }
    }
    known.send_if_modified(|known| {
        let mut changed = false;
        for (id, held, silence) in verdicts {
            if !held {
                changed |= known.remove(&id).is_some();
            } else if silence >= UNRESPONSIVE_AFTER
                && let Some(instance) = known.get_mut(&id)
                && instance.status == InstanceStatus::Live
            {
                instance.status = InstanceStatus::Unresponsive;
                changed = true;
            }
        }
        changed
    });
}

/// Whether another connection holds the exclusive queue `queue`: `None` if the broker could not
/// be asked. A passive declare answers "locked" for a held queue and "not found" for a gone one;
/// either answer closes the channel, so each question gets a channel of its own.
async fn presence_held(link: &Link, queue: &str) -> Option<bool> {
    let channel = link.create_channel().await.ok()?;
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let answer = channel
        .queue_declare(queue.into(), passive, FieldTable::default())
        .await;
    let soft = |error: &lapin::Error| match error.kind() {
        lapin::ErrorKind::ProtocolError(e) => match e.kind() {
            AMQPErrorKind::Soft(soft) => Some(soft.clone()),
            AMQPErrorKind::Hard(_) => None,
        },
        _ => None,
    };
    match answer {
        Ok(_) => {
            let _ = channel.close(200, "asked".into()).await;
            Some(true)
        }
        Err(error) => match soft(&error) {
            Some(AMQPSoftError::RESOURCELOCKED) => Some(true),
            Some(AMQPSoftError::NOTFOUND) => Some(false),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeats_carry_this_process_load() {
        let presence = Presence::new(
            "svc".into(),
            "i-1".into(),
            "1.0.0".into(),
            Duration::from_secs(2),
        );
        let first = presence.heartbeat(LinkState::Connected, crate::StatsSnapshot::default());
        assert_eq!(first.cpu_pct, None, "no share before a second heartbeat");
        assert!(
            first.rss_bytes.is_some_and(|rss| rss > 1024 * 1024),
            "{:?}",
            first.rss_bytes
        );
        // Burn some CPU, so the share is visible; long enough to be counted (in clock ticks of
        // 10 ms) even when a loaded machine gives this thread only part of that time.
        let until = Instant::now() + Duration::from_millis(300);
        let mut spin = 0_u64;
        while Instant::now() < until {
            spin = spin.wrapping_add(1);
        }
        std::hint::black_box(spin);
        let second = presence.heartbeat(LinkState::Recovering, crate::StatsSnapshot::default());
        assert!(
            second.cpu_pct.is_some_and(|pct| pct > 0.0),
            "{:?}",
            second.cpu_pct
        );
        assert_eq!(
            (second.link, second.interval_s),
            (HeartbeatLink::Recovering, 2)
        );
    }
}
