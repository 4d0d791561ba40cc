//! The alerts that are active, and the ids of those recently cleared: where a rule's change
//! becomes an alert with an id, a severity and a place in the life cycle.
//!
//! At most one alert is active per vehicle and type (and fence, for geofence alerts): its
//! *slot*. Raising into a taken slot does nothing, except for momentary types (harsh driving,
//! geofence crossings), where the new occurrence replaces the old one (cleared as expired at the
//! new one's time): each manoeuvre is worth its own alert, and the list shows the latest.

use std::collections::{HashMap, HashSet, VecDeque};

use instadash_schemas::alert::acknowledge::v1::Acknowledge;
use instadash_schemas::alert::acknowledge_reply::v1::{AcknowledgeOutcome, AcknowledgeReply};
use instadash_schemas::alert::acknowledged::v1::AlertAcknowledged;
use instadash_schemas::alert::cleared::v1::{AlertCleared, ClearReason};
use instadash_schemas::alert::list_active::v1::ListActive;
use instadash_schemas::alert::list_active_reply::v1::ListActiveReply;
use instadash_schemas::alert::raised::v1::AlertRaised;
use instadash_schemas::alert::{ActiveAlert, AlertType};

use super::kinds;
use super::rules::Draft;
use crate::event::{AlertEvent, alert_type_name};

/// How many cleared alert ids are remembered, to answer "already cleared" and to never raise
/// the same alert (same vehicle, type and time) twice when a message is delivered again.
pub const REMEMBERED_CLEARED: usize = 10_000;
/// `list-active` without a limit.
pub const DEFAULT_LIST_LIMIT: u32 = 100;
/// The most `list-active` returns at once (the contract's maximum).
pub const MAX_LIST_LIMIT: u32 = 1000;

/// An operator's acknowledgement of an alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Acknowledgement {
    pub by: String,
    pub at_ms: i64,
    pub note: Option<String>,
}

/// An active alert.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Alert {
    pub raised: AlertRaised,
    pub acknowledged: Option<Acknowledgement>,
    /// For momentary types: when it is cleared as expired.
    pub expires_at_ms: Option<i64>,
}

impl Alert {
    fn to_active(&self) -> ActiveAlert {
        let r = &self.raised;
        ActiveAlert {
            alert_id: r.alert_id.clone(),
            vehicle_id: r.vehicle_id.clone(),
            alert_type: r.alert_type,
            severity: r.severity,
            raised_at_ms: r.raised_at_ms,
            message: r.message.clone(),
            acknowledged_by: self.acknowledged.as_ref().map(|a| a.by.clone()),
            acknowledged_at_ms: self.acknowledged.as_ref().map(|a| a.at_ms),
        }
    }
}

/// Where a vehicle's active alert of one type (and fence) is.
#[derive(Debug, Clone, PartialEq)]
struct Slot {
    alert_type: AlertType,
    geofence_id: Option<String>,
    alert_id: String,
}

impl Slot {
    fn is(&self, alert_type: AlertType, geofence_id: Option<&str>) -> bool {
        self.alert_type == alert_type && self.geofence_id.as_deref() == geofence_id
    }
}

#[derive(Debug, Default)]
pub(crate) struct AlertBook {
    active: HashMap<String, Alert>,
    /// Per vehicle, its few active alerts: looked up on every message without allocating.
    slots: HashMap<String, Vec<Slot>>,
    cleared: RecentlyCleared,
}

impl AlertBook {
    pub fn len(&self) -> usize {
        self.active.len()
    }

    pub fn is_active(&self, vehicle_id: &str, alert_type: AlertType) -> bool {
        self.slot_of(vehicle_id, alert_type, None).is_some()
    }

    fn slot_of(
        &self,
        vehicle_id: &str,
        alert_type: AlertType,
        geofence_id: Option<&str>,
    ) -> Option<&str> {
        self.slots
            .get(vehicle_id)?
            .iter()
            .find(|slot| slot.is(alert_type, geofence_id))
            .map(|slot| slot.alert_id.as_str())
    }

    /// Raises the alert a rule drafted, unless its slot is taken (momentary types replace the
    /// occupant) or this very alert already ran its course.
    pub fn raise(
        &mut self,
        vehicle_id: &str,
        draft: Draft,
        expire_after_ms: i64,
        out: &mut Vec<AlertEvent>,
    ) {
        let alert_type = draft.alert_type;
        let alert_id = alert_id(
            vehicle_id,
            alert_type,
            draft.geofence_id.as_deref(),
            draft.at_ms,
        );
        if self.active.contains_key(&alert_id) || self.cleared.contains(&alert_id) {
            return;
        }
        if let Some(occupant) = self.slot_of(vehicle_id, alert_type, draft.geofence_id.as_deref()) {
            let occupant_raised_ms = self.active.get(occupant).map(|a| a.raised.raised_at_ms);
            let replaceable = kinds::is_momentary(alert_type)
                && occupant_raised_ms.is_some_and(|raised| raised < draft.at_ms);
            if !replaceable {
                return;
            }
            let occupant = occupant.to_owned();
            self.clear_id(&occupant, draft.at_ms, ClearReason::Expired, out);
        }
        let raised = AlertRaised {
            alert_id: alert_id.clone(),
            vehicle_id: vehicle_id.to_owned(),
            alert_type,
            severity: kinds::severity(alert_type),
            raised_at_ms: draft.at_ms,
            message: draft.message,
            details: draft.details,
        };
        let expires_at_ms =
            kinds::is_momentary(alert_type).then(|| draft.at_ms.saturating_add(expire_after_ms));
        self.slots
            .entry(vehicle_id.to_owned())
            .or_default()
            .push(Slot {
                alert_type,
                geofence_id: draft.geofence_id,
                alert_id: alert_id.clone(),
            });
        out.push(AlertEvent::Raised(raised.clone()));
        self.active.insert(
            alert_id,
            Alert {
                raised,
                acknowledged: None,
                expires_at_ms,
            },
        );
    }

    /// Clears the vehicle's active alert of this type (and fence) because its condition ended;
    /// nothing if there is none.
    pub fn clear(
        &mut self,
        vehicle_id: &str,
        alert_type: AlertType,
        geofence_id: Option<&str>,
        at_ms: i64,
        out: &mut Vec<AlertEvent>,
    ) {
        if let Some(id) = self.slot_of(vehicle_id, alert_type, geofence_id) {
            let id = id.to_owned();
            self.clear_id(&id, at_ms, ClearReason::ConditionEnded, out);
        }
    }

    fn clear_id(
        &mut self,
        alert_id: &str,
        at_ms: i64,
        reason: ClearReason,
        out: &mut Vec<AlertEvent>,
    ) {
        let Some(alert) = self.active.remove(alert_id) else {
            return;
        };
        let vehicle_id = &alert.raised.vehicle_id;
        if let Some(slots) = self.slots.get_mut(vehicle_id) {
            slots.retain(|slot| slot.alert_id != alert_id);
            if slots.is_empty() {
                self.slots.remove(vehicle_id);
            }
        }
        self.cleared.remember(alert_id.to_owned());
        out.push(AlertEvent::Cleared(AlertCleared {
            alert_id: alert.raised.alert_id,
            vehicle_id: alert.raised.vehicle_id,
            alert_type: alert.raised.alert_type,
            // A clear is never before its raise, even if a rule's evidence is a moment older.
            cleared_at_ms: at_ms.max(alert.raised.raised_at_ms),
            reason,
            cleared_by: None,
        }));
    }

    /// Clears every momentary alert whose time is up at `now_ms`, as expired at the moment it
    /// expired (not `now_ms`), oldest first.
    pub fn expire(&mut self, now_ms: i64) -> Vec<AlertEvent> {
        let mut due: Vec<(i64, String)> = self
            .active
            .values()
            .filter_map(|a| {
                a.expires_at_ms
                    .filter(|&at| at <= now_ms)
                    .map(|at| (at, a.raised.alert_id.clone()))
            })
            .collect();
        due.sort_unstable();
        let mut out = Vec::new();
        for (at_ms, id) in due {
            self.clear_id(&id, at_ms, ClearReason::Expired, &mut out);
        }
        out
    }

    /// The earliest time an active alert expires.
    pub fn next_expiry_ms(&self) -> Option<i64> {
        self.active.values().filter_map(|a| a.expires_at_ms).min()
    }

    pub fn acknowledge(
        &mut self,
        request: &Acknowledge,
        at_ms: i64,
    ) -> (AcknowledgeReply, Option<AlertEvent>) {
        let reply = |outcome, alert: Option<&Alert>| AcknowledgeReply {
            alert_id: request.alert_id.clone(),
            outcome,
            alert: alert.map(Alert::to_active),
        };
        let Some(alert) = self.active.get_mut(&request.alert_id) else {
            let outcome = if self.cleared.contains(&request.alert_id) {
                AcknowledgeOutcome::AlreadyCleared
            } else {
                AcknowledgeOutcome::NotFound
            };
            return (reply(outcome, None), None);
        };
        if alert.acknowledged.is_some() {
            return (
                reply(AcknowledgeOutcome::AlreadyAcknowledged, Some(alert)),
                None,
            );
        }
        alert.acknowledged = Some(Acknowledgement {
            by: request.acknowledged_by.clone(),
            at_ms,
            note: request.note.clone(),
        });
        let event = AlertEvent::Acknowledged(AlertAcknowledged {
            alert_id: alert.raised.alert_id.clone(),
            vehicle_id: alert.raised.vehicle_id.clone(),
            alert_type: alert.raised.alert_type,
            acknowledged_by: request.acknowledged_by.clone(),
            acknowledged_at_ms: at_ms,
            note: request.note.clone(),
        });
        (
            reply(AcknowledgeOutcome::Acknowledged, Some(alert)),
            Some(event),
        )
    }

    /// Active alerts matching the request, newest first (ties by id), at most its limit.
    pub fn list(&self, request: &ListActive) -> ListActiveReply {
        let types = request.alert_types.as_deref().filter(|t| !t.is_empty());
        let include_acknowledged = request.include_acknowledged.unwrap_or(true);
        let limit = request
            .limit
            .unwrap_or(DEFAULT_LIST_LIMIT)
            .clamp(1, MAX_LIST_LIMIT) as usize;
        let matches = |a: &&Alert| {
            let r = &a.raised;
            request
                .vehicle_id
                .as_ref()
                .is_none_or(|v| *v == r.vehicle_id)
                && types.is_none_or(|t| t.contains(&r.alert_type))
                && request.min_severity.is_none_or(|s| r.severity >= s)
                && (include_acknowledged || a.acknowledged.is_none())
        };
        let mut found: Vec<&Alert> = match &request.vehicle_id {
            // One vehicle's few alerts, without scanning the fleet's.
            Some(vehicle) => self
                .slots
                .get(vehicle)
                .into_iter()
                .flatten()
                .filter_map(|slot| self.active.get(&slot.alert_id))
                .filter(matches)
                .collect(),
            None => self.active.values().filter(matches).collect(),
        };
        let total = u32::try_from(found.len()).unwrap_or(u32::MAX);
        found.sort_unstable_by(|a, b| {
            b.raised
                .raised_at_ms
                .cmp(&a.raised.raised_at_ms)
                .then_with(|| a.raised.alert_id.cmp(&b.raised.alert_id))
        });
        found.truncate(limit);
        ListActiveReply {
            alerts: found.into_iter().map(Alert::to_active).collect(),
            total,
        }
    }

    /// Takes back an alert that was active when the service stopped. Its expiry follows the
    /// current configuration. If its slot is taken (it never should be: one writer), the newer
    /// alert keeps the slot and the older one is still listed and expires or is acknowledged,
    /// but no rule clears it.
    pub fn restore(&mut self, alert: Alert) {
        let r = &alert.raised;
        let geofence_id = matches!(
            r.alert_type,
            AlertType::GeofenceEnter | AlertType::GeofenceExit
        )
        .then(|| r.details.geofence_id.clone())
        .flatten();
        let slots = self.slots.entry(r.vehicle_id.clone()).or_default();
        let taken = slots
            .iter()
            .position(|slot| slot.is(r.alert_type, geofence_id.as_deref()));
        let slot = Slot {
            alert_type: r.alert_type,
            geofence_id,
            alert_id: r.alert_id.clone(),
        };
        match taken {
            Some(i) => {
                let newer = self
                    .active
                    .get(&slots[i].alert_id)
                    .is_none_or(|held| held.raised.raised_at_ms < r.raised_at_ms);
                if newer {
                    slots[i] = slot;
                }
            }
            None => slots.push(slot),
        }
        self.active.insert(r.alert_id.clone(), alert);
    }

    pub fn remember_cleared(&mut self, alert_id: String) {
        self.cleared.remember(alert_id);
    }
}

/// `<vehicle>-<type>[-<geofence>]-<time_ms>`: deterministic (the same message always makes the
/// same id, so a redelivery is recognised) and unique, since a vehicle has at most one alert of a
/// type (and fence) raised at one event time. At most 64 (vehicle) + 14 (`geofence_enter`) + 28
/// (fence) + 19 (time) + 3 = 128 characters, the contract's limit.
pub(crate) fn alert_id(
    vehicle_id: &str,
    alert_type: AlertType,
    geofence_id: Option<&str>,
    at_ms: i64,
) -> String {
    let kind = alert_type_name(alert_type);
    match geofence_id {
        Some(fence) => format!("{vehicle_id}-{kind}-{fence}-{at_ms}"),
        None => format!("{vehicle_id}-{kind}-{at_ms}"),
    }
}

/// A bounded memory of cleared alert ids, oldest forgotten first.
#[derive(Debug, Default)]
struct RecentlyCleared {
    order: VecDeque<String>,
    ids: HashSet<String>,
}

impl RecentlyCleared {
    fn contains(&self, alert_id: &str) -> bool {
        self.ids.contains(alert_id)
    }

    fn remember(&mut self, alert_id: String) {
        if !self.ids.insert(alert_id.clone()) {
            return;
        }
        self.order.push_back(alert_id);
        while self.order.len() > REMEMBERED_CLEARED {
            if let Some(oldest) = self.order.pop_front() {
                self.ids.remove(&oldest);
            }
        }
    }
}
