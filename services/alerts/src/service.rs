//! The alerts service on the bus: feeds the telemetry and the tracker's status changes to the
//! [`Alerts`] engine, stores what changes, publishes the alert events, answers `list-active` and
//! `acknowledge`, and expires momentary alerts.
//!
//! - One worker consumes the group's queue, so each vehicle's messages reach the engine in the
//!   order the broker holds them; the engine's per-vehicle rules take care of what the network
//!   reorders.
//! - A handler returns (and its message is acknowledged to the broker) only once the alert
//!   changes it caused are committed to the store, together with their events in the outbox. If
//!   the store fails, the handler fails and the message is retried: the changes stay pending and
//!   are written with the next attempt.
//! - One task publishes the outbox in order and removes each event once the broker confirmed it
//!   (or said no queue takes it: nobody subscribes to alerts, which is no failure). Events left
//!   when the service stops or crashes are published when it starts again.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use broker_bridge::trace_context::continue_trace;
use broker_bridge::{Bridge, Incoming, PublishError, Receipt};
use instadash_schemas::alert::acknowledge::v1::Acknowledge;
use instadash_schemas::alert::acknowledge_reply::v1::AcknowledgeReply;
use instadash_schemas::alert::list_active::v1::ListActive;
use instadash_schemas::alert::list_active_reply::v1::ListActiveReply;
use instadash_schemas::vehicle::ignition::v1::Ignition;
use instadash_schemas::vehicle::obd_reading::v1::ObdReading;
use instadash_schemas::vehicle::position::v2::Position;
use instadash_schemas::vehicle::status_changed::v1::StatusChanged;
use instadash_schemas::vehicle::trouble_codes::v1::TroubleCodes;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::AlertsConfig;
use crate::engine::Alerts;
use crate::event::AlertEvent;
use crate::store::{AlertStore, Pending};

/// How the service runs.
#[derive(Debug, Clone)]
pub struct AlertOptions {
    /// The subscriber group: one queue, shared by every instance of the group.
    pub group: String,
    pub config: AlertsConfig,
    /// The SQLite file; `None` keeps alerts in memory only (tests, demos).
    pub database: Option<PathBuf>,
    /// How often momentary alerts are checked for expiry.
    pub expiry_check_every: Duration,
}

impl Default for AlertOptions {
    fn default() -> Self {
        Self {
            group: "alerts".into(),
            config: AlertsConfig::default(),
            database: None,
            expiry_check_every: Duration::from_secs(1),
        }
    }
}

/// The most outbox events published before waiting for their confirms.
const PUBLISH_BATCH: usize = 100;
/// After a failure to publish, the outbox is tried again this much later.
const PUBLISH_RETRY: Duration = Duration::from_secs(1);
/// Cleared alerts beyond those remembered are deleted from the database this often.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// The engine, the store, and the changes the engine made that the store does not have yet.
struct State {
    alerts: Alerts,
    store: AlertStore,
    /// Events not recorded yet, each with the `traceparent` of the message that caused it.
    unsaved: Vec<(AlertEvent, Option<String>)>,
}

struct Shared {
    bridge: Bridge,
    state: Mutex<State>,
    /// Wakes the outbox publisher when something was recorded.
    recorded: Notify,
}

/// A running alerts service.
pub struct AlertService {
    shared: Arc<Shared>,
    stop_timer: CancellationToken,
    timer: JoinHandle<()>,
    stop_publisher: CancellationToken,
    publisher: JoinHandle<()>,
}

impl AlertService {
    /// Opens the store and takes back the active alerts, starts consuming and answering, then
    /// publishes the outbox (what this run records, and what a previous run left there) and
    /// expires momentary alerts. Returns once it consumes.
    pub async fn start(bridge: Bridge, options: AlertOptions) -> anyhow::Result<Self> {
        let mut alerts = Alerts::new(options.config.clone())?;
        let mut store = match &options.database {
            Some(path) => AlertStore::open(path)
                .with_context(|| format!("opening the alerts database {}", path.display()))?,
            None => AlertStore::in_memory()?,
        };
        let saved = store.load()?;
        info!(
            active = saved.active.len(),
            outbox = store.pending_count()?,
            "alerts restored"
        );
        alerts.restore(saved);
        let shared = Arc::new(Shared {
            bridge: bridge.clone(),
            state: Mutex::new(State {
                alerts,
                store,
                unsaved: Vec::new(),
            }),
            recorded: Notify::new(),
        });

        let s = shared.clone();
        let on_position = move |m: Incoming<Position>| {
            let outcome = s.apply(|alerts| alerts.on_position(&m.data).events);
            async move { outcome }
        };
        let s = shared.clone();
        let on_obd = move |m: Incoming<ObdReading>| {
            let outcome = s.apply(|alerts| alerts.on_obd(&m.data).events);
            async move { outcome }
        };
        let s = shared.clone();
        let on_codes = move |m: Incoming<TroubleCodes>| {
            let outcome = s.apply(|alerts| alerts.on_trouble_codes(&m.data).events);
            async move { outcome }
        };
        let s = shared.clone();
        let on_ignition = move |m: Incoming<Ignition>| {
            let outcome = s.apply(|alerts| alerts.on_ignition(&m.data).events);
            async move { outcome }
        };
        let s = shared.clone();
        let on_status = move |m: Incoming<StatusChanged>| {
            let outcome = s.apply(|alerts| alerts.on_status_changed(&m.data).events);
            async move { outcome }
        };
        bridge
            .subscribe(&options.group)
            .on(on_position)
            .on(on_obd)
            .on(on_codes)
            .on(on_ignition)
            .on(on_status)
            .workers(1)
            .start()
            .await
            .context("subscribing to vehicle telemetry and status changes")?;

        let s = shared.clone();
        let list = move |request: Incoming<ListActive>| {
            let reply: ListActiveReply = s.state().alerts.list_active(&request.data);
            async move { Ok(reply) }
        };
        let s = shared.clone();
        let acknowledge = move |request: Incoming<Acknowledge>| {
            let mut reply: Option<AcknowledgeReply> = None;
            let outcome = s.apply(|alerts| {
                let (answer, events) = alerts.acknowledge(&request.data, now_ms());
                reply = Some(answer);
                events
            });
            async move {
                outcome?;
                reply.context("the acknowledgement was not answered")
            }
        };
        bridge
            .serve()
            .answer(list)
            .answer(acknowledge)
            .start()
            .await
            .context("serving alert requests")?;

        // Started last, so nothing runs on if starting failed; what handlers recorded meanwhile
        // waits in the outbox, with what a previous run left there.
        let stop_publisher = CancellationToken::new();
        let publisher = tokio::spawn(publish_outbox(shared.clone(), stop_publisher.clone()));
        let stop_timer = CancellationToken::new();
        let timer = tokio::spawn(expire_periodically(
            shared.clone(),
            options.expiry_check_every,
            stop_timer.clone(),
        ));
        Ok(Self {
            shared,
            stop_timer,
            timer,
            stop_publisher,
            publisher,
        })
    }

    /// Active alerts matching the request, as `list-active` answers it.
    pub fn list_active(&self, request: &ListActive) -> ListActiveReply {
        self.shared.state().alerts.list_active(request)
    }

    /// Leaves the bus: consumers stop and the messages in flight finish (their changes stored),
    /// while the outbox keeps being published; what is still in it then is published at the next
    /// start.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop_timer.cancel();
        let _ = self.timer.await;
        let left = self
            .shared
            .bridge
            .shutdown()
            .await
            .context("leaving the bus");
        self.stop_publisher.cancel();
        let _ = self.publisher.await;
        left?;
        let state = self.shared.state();
        let waiting = state.store.pending_count().unwrap_or(0);
        if !state.unsaved.is_empty() || waiting > 0 {
            warn!(
                unsaved = state.unsaved.len(),
                outbox = waiting,
                "stopped with alert events not yet published; the outbox is published at the next start"
            );
        }
        Ok(())
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is not expected (the engine does not panic); if one
        // happened, the state is still the best there is.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `change` on the engine and commits what it changed (and anything an earlier failure
    /// left unsaved) before returning: the caller acknowledges its message only on `Ok`.
    fn apply(&self, change: impl FnOnce(&mut Alerts) -> Vec<AlertEvent>) -> anyhow::Result<()> {
        let mut state = self.state();
        let events = change(&mut state.alerts);
        if events.is_empty() && state.unsaved.is_empty() {
            return Ok(());
        }
        let State { store, unsaved, .. } = &mut *state;
        let cause = broker_bridge::trace_context::current_traceparent();
        unsaved.extend(events.into_iter().map(|e| (e, cause.clone())));
        store
            .record_traced(unsaved.iter().map(|(e, t)| (e, t.as_deref())))
            .context("recording alert changes (they will be recorded with the next message)")?;
        unsaved.clear();
        drop(state);
        self.recorded.notify_one();
        Ok(())
    }
}

/// Publishes the outbox in order: each batch is sent, its confirms awaited, then removed. Ends
/// when `stop` is cancelled while the outbox is empty, or when the bridge is shut down.
async fn publish_outbox(shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        let batch = match shared.state().store.pending(PUBLISH_BATCH) {
            Ok(batch) => batch,
            Err(error) => {
                error!(%error, "the alerts outbox cannot be read");
                Vec::new()
            }
        };
        let mut next = if batch.is_empty() {
            Next::Wait
        } else {
            let (done, next) = publish_batch(&shared.bridge, &batch).await;
            if let Err(error) = shared.state().store.published(&done) {
                error!(%error, "published alert events cannot be removed from the outbox");
                Next::Retry
            } else {
                next
            }
        };
        if next == Next::Wait && stop.is_cancelled() {
            next = Next::Stop;
        }
        match next {
            Next::Continue => {}
            Next::Wait => tokio::select! {
                () = shared.recorded.notified() => {}
                () = tokio::time::sleep(PUBLISH_RETRY) => {}
                () = stop.cancelled() => {}
            },
            Next::Retry => tokio::select! {
                () = tokio::time::sleep(PUBLISH_RETRY) => {}
                () = stop.cancelled() => return,
            },
            Next::Stop => return,
        }
    }
}

/// What the outbox publisher does after a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Everything went: look for more at once.
    Continue,
    /// The outbox is empty: wait for something to be recorded.
    Wait,
    /// Something failed for a reason that may pass (the broker): try again in a moment.
    Retry,
    /// The bridge is shut down: the rest waits for the next start.
    Stop,
}

/// Sends a batch and waits for its confirms; returns the sequence numbers that may leave the
/// outbox and what to do next. Stops at the first event that fails, so the order on the bus
/// stays the order of the outbox.
async fn publish_batch(bridge: &Bridge, batch: &[Pending]) -> (Vec<i64>, Next) {
    let mut sent = Vec::with_capacity(batch.len());
    for pending in batch {
        // In the trace of the message that caused it, though published later, from here.
        let traceparent = pending.traceparent.as_deref();
        let receipt = continue_trace(traceparent, publish(bridge, &pending.event)).await;
        let failed = receipt.is_err();
        sent.push((pending.seq, receipt));
        if failed {
            break;
        }
    }
    let mut done = Vec::with_capacity(sent.len());
    for (seq, receipt) in sent {
        let outcome = match receipt {
            Ok(receipt) => receipt.confirmed().await,
            Err(error) => Err(error),
        };
        match outcome {
            // Nobody subscribes to alert events yet: no failure, whoever subscribes later asks
            // `list-active`.
            Ok(()) | Err(PublishError::Unroutable { .. }) => done.push(seq),
            // It can never be sent: keeping it would block every event after it.
            Err(error @ (PublishError::Invalid { .. } | PublishError::TooLarge { .. })) => {
                error!(%error, seq, "an alert event breaks its contract and is dropped");
                done.push(seq);
            }
            Err(PublishError::ShutDown) => return (done, Next::Stop),
            Err(error) => {
                warn!(%error, seq, "an alert event was not published; trying again");
                return (done, Next::Retry);
            }
        }
    }
    (done, Next::Continue)
}

async fn publish(bridge: &Bridge, event: &AlertEvent) -> Result<Receipt, PublishError> {
    match event {
        AlertEvent::Raised(e) => bridge.publish(e).await,
        AlertEvent::Acknowledged(e) => bridge.publish(e).await,
        AlertEvent::Cleared(e) => bridge.publish(e).await,
    }
}

/// Expires momentary alerts by the wall clock (their times come from the messages, their expiry
/// from this clock), and now and then deletes cleared alerts nobody remembers any more.
async fn expire_periodically(shared: Arc<Shared>, every: Duration, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stop.cancelled() => return,
        }
        if let Err(error) = shared.apply(|alerts| alerts.expire(now_ms())) {
            warn!(
                error = format!("{error:#}"),
                "expired alerts could not be recorded"
            );
        }
        if last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = tokio::time::Instant::now();
            if let Err(error) = shared.state().store.forget_old_cleared() {
                warn!(%error, "old cleared alerts could not be deleted");
            }
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
