//! The fleet as the page shows it: every vehicle's last position and status, and the alert feed.
//! Fed by the events the monitor subscribes to (telemetry, status changes, alerts) and, at start,
//! by asking the tracker and the alerts service what they know. Remembers which vehicles changed
//! since the page was last told, so updates go out in batches.

use std::collections::{BTreeMap, HashSet, VecDeque};

use instadash_schemas::alert::ActiveAlert;
use instadash_schemas::alert::acknowledged::v1::AlertAcknowledged;
use instadash_schemas::alert::cleared::v1::AlertCleared;
use instadash_schemas::alert::raised::v1::AlertRaised;
use instadash_schemas::vehicle::VehicleState;
use instadash_schemas::vehicle::ignition::v1::Ignition;
use instadash_schemas::vehicle::position::v2::Position;
use instadash_schemas::vehicle::status_changed::v1::StatusChanged;
use serde::Serialize;

use crate::api::{AlertEntry, VehicleDot};

/// Alerts kept in the feed.
pub const FEED_LENGTH: usize = 500;

#[derive(Debug, Default)]
pub struct FleetView {
    vehicles: BTreeMap<String, VehicleDot>,
    changed: HashSet<String>,
    /// Newest first.
    feed: VecDeque<AlertEntry>,
    /// Each vehicle's newest event: (event id, trace id), for "trace its latest event".
    latest: BTreeMap<String, (String, Option<String>)>,
}

/// A contract enum as its wire word (`harsh_braking`, `online`).
pub fn word<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn ms(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

impl FleetView {
    /// The vehicle's record, marked changed. Runs for every message the monitor takes: the id is
    /// copied only the first time a vehicle is seen, or changes since the last push.
    fn vehicle(&mut self, id: &str) -> &mut VehicleDot {
        if !self.changed.contains(id) {
            self.changed.insert(id.to_owned());
        }
        if !self.vehicles.contains_key(id) {
            let dot = VehicleDot {
                id: id.to_owned(),
                status: "online".into(),
                ..VehicleDot::default()
            };
            self.vehicles.insert(id.to_owned(), dot);
        }
        self.vehicles.get_mut(id).expect("inserted above")
    }

    /// Remembers the newest event of a vehicle (for the trace view), reusing the strings held.
    pub fn saw_event(&mut self, vehicle_id: &str, event_id: &str, trace_id: Option<&str>) {
        let Some((event, trace)) = self.latest.get_mut(vehicle_id) else {
            let latest = (event_id.to_owned(), trace_id.map(str::to_owned));
            self.latest.insert(vehicle_id.to_owned(), latest);
            return;
        };
        event.clear();
        event.push_str(event_id);
        match (trace, trace_id) {
            (Some(held), Some(id)) => {
                held.clear();
                held.push_str(id);
            }
            (trace, id) => *trace = id.map(str::to_owned),
        }
    }

    pub fn latest_event(&self, vehicle_id: &str) -> Option<&(String, Option<String>)> {
        self.latest.get(vehicle_id)
    }

    pub fn position(&mut self, fix: &Position) {
        let time = ms(fix.time_ms);
        let dot = self.vehicle(&fix.vehicle_id);
        // Late fixes (out of order) do not move the car back.
        if time >= dot.last_seen_ms {
            dot.lat = Some(fix.lat);
            dot.lon = Some(fix.lon);
            dot.speed_kmh = Some(fix.speed_kmh);
            dot.heading_deg = Some(fix.heading_deg);
            dot.last_seen_ms = time;
        }
    }

    pub fn ignition(&mut self, ignition: &Ignition) {
        let time = ms(ignition.time_ms);
        let dot = self.vehicle(&ignition.vehicle_id);
        dot.ignition_on = Some(ignition.on);
        if !ignition.on {
            dot.speed_kmh = Some(0.0);
        }
        dot.last_seen_ms = dot.last_seen_ms.max(time);
    }

    pub fn status(&mut self, change: &StatusChanged) {
        self.vehicle(&change.vehicle_id).status = word(&change.status);
    }

    /// What the tracker knows (at start): fills in vehicles the events have not told of yet.
    pub fn known(&mut self, state: &VehicleState) {
        let dot = self.vehicle(&state.vehicle_id);
        if let Some(fix) = &state.position
            && ms(fix.time_ms) >= dot.last_seen_ms
        {
            dot.lat = Some(fix.lat);
            dot.lon = Some(fix.lon);
            dot.speed_kmh = Some(fix.speed_kmh);
            dot.heading_deg = Some(fix.heading_deg);
        }
        dot.status = word(&state.status);
        dot.ignition_on = dot.ignition_on.or(state.ignition_on);
        dot.last_seen_ms = dot.last_seen_ms.max(state.last_seen_ms.map_or(0, ms));
    }

    /// An alert raised (`event_id`: its `alert.raised` event); returns the feed entry for pages.
    pub fn raised(&mut self, alert: &AlertRaised, event_id: &str) -> AlertEntry {
        let active = ActiveAlert {
            alert_id: alert.alert_id.clone(),
            vehicle_id: alert.vehicle_id.clone(),
            alert_type: alert.alert_type,
            severity: alert.severity,
            raised_at_ms: alert.raised_at_ms,
            message: alert.message.clone(),
            acknowledged_by: None,
            acknowledged_at_ms: None,
        };
        self.active(&active, event_id)
    }

    /// An active alert as the alerts service tells it (at start, or answering an acknowledgement);
    /// `event_id` empty when not known.
    pub fn active(&mut self, alert: &ActiveAlert, event_id: &str) -> AlertEntry {
        let entry = AlertEntry {
            alert_id: alert.alert_id.clone(),
            vehicle_id: alert.vehicle_id.clone(),
            alert_type: word(&alert.alert_type),
            severity: word(&alert.severity),
            message: alert.message.clone(),
            raised_ms: ms(alert.raised_at_ms),
            acknowledged_by: alert.acknowledged_by.clone(),
            acknowledged_ms: alert.acknowledged_at_ms.map(ms),
            event_id: event_id.to_owned(),
            cleared_ms: None,
        };
        self.upsert(entry)
    }

    pub fn acknowledged(&mut self, ack: &AlertAcknowledged) -> Option<AlertEntry> {
        let entry = self.feed.iter_mut().find(|a| a.alert_id == ack.alert_id)?;
        entry.acknowledged_by = Some(ack.acknowledged_by.clone());
        entry.acknowledged_ms = Some(ms(ack.acknowledged_at_ms));
        Some(entry.clone())
    }

    pub fn cleared(&mut self, cleared: &AlertCleared) -> Option<AlertEntry> {
        let alert_type = word(&cleared.alert_type);
        let dot = self.vehicle(&cleared.vehicle_id);
        if let Some(at) = dot.active_alerts.iter().position(|t| *t == alert_type) {
            dot.active_alerts.remove(at);
        }
        let entry = self
            .feed
            .iter_mut()
            .find(|a| a.alert_id == cleared.alert_id)?;
        entry.cleared_ms = Some(ms(cleared.cleared_at_ms));
        Some(entry.clone())
    }

    fn upsert(&mut self, entry: AlertEntry) -> AlertEntry {
        let dot = self.vehicle(&entry.vehicle_id);
        if entry.cleared_ms.is_none() && !dot.active_alerts.contains(&entry.alert_type) {
            dot.active_alerts.push(entry.alert_type.clone());
        }
        if let Some(known) = self.feed.iter_mut().find(|a| a.alert_id == entry.alert_id) {
            // Keep the event id and acknowledgement we may already have.
            let merged = AlertEntry {
                event_id: if entry.event_id.is_empty() {
                    known.event_id.clone()
                } else {
                    entry.event_id
                },
                acknowledged_by: entry
                    .acknowledged_by
                    .or_else(|| known.acknowledged_by.clone()),
                acknowledged_ms: entry.acknowledged_ms.or(known.acknowledged_ms),
                cleared_ms: known.cleared_ms,
                ..entry
            };
            *known = merged.clone();
            return merged;
        }
        let at = self
            .feed
            .iter()
            .position(|a| a.raised_ms <= entry.raised_ms)
            .unwrap_or(self.feed.len());
        self.feed.insert(at, entry.clone());
        self.feed.truncate(FEED_LENGTH);
        entry
    }

    pub fn vehicles(&self) -> Vec<VehicleDot> {
        self.vehicles.values().cloned().collect()
    }

    pub fn feed(&self) -> Vec<AlertEntry> {
        self.feed.iter().cloned().collect()
    }

    /// Vehicles changed since the last call.
    pub fn take_changed(&mut self) -> Vec<VehicleDot> {
        let changed = std::mem::take(&mut self.changed);
        changed
            .into_iter()
            .filter_map(|id| self.vehicles.get(&id).cloned())
            .collect()
    }

    /// Vehicles per status.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for dot in self.vehicles.values() {
            *counts.entry(dot.status.clone()).or_insert(0) += 1;
        }
        counts
    }

    pub fn active_alert_count(&self) -> usize {
        self.vehicles.values().map(|v| v.active_alerts.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use instadash_schemas::alert::cleared::v1::ClearReason;
    use instadash_schemas::alert::raised::v1::AlertDetails;
    use instadash_schemas::alert::{AlertType, Severity};

    use super::*;

    fn fix(vehicle: &str, time_ms: i64, lat: f64) -> Position {
        Position {
            vehicle_id: vehicle.into(),
            time_ms,
            lat,
            lon: 4.9,
            speed_kmh: 30.0,
            heading_deg: 90.0,
            altitude_m: None,
            accuracy_m: 5.0,
            satellites: 9,
            hdop: None,
        }
    }

    #[test]
    fn positions_move_cars_forward_only_and_changes_are_batched() {
        let mut fleet = FleetView::default();
        fleet.position(&fix("car-1", 2_000, 52.0));
        fleet.position(&fix("car-1", 1_000, 51.0));
        fleet.position(&fix("car-2", 1_000, 53.0));
        let batch = fleet.take_changed();
        assert_eq!(batch.len(), 2);
        let car1 = fleet.vehicles().into_iter().find(|v| v.id == "car-1");
        assert_eq!(
            car1.and_then(|v| v.lat),
            Some(52.0),
            "a late fix does not move it back"
        );
        assert!(fleet.take_changed().is_empty(), "told once");
    }

    #[test]
    fn the_alert_feed_follows_raise_acknowledge_and_clear() {
        let mut fleet = FleetView::default();
        let raised = AlertRaised {
            alert_id: "a-1".into(),
            vehicle_id: "car-1".into(),
            alert_type: AlertType::HarshBraking,
            severity: Severity::Warning,
            raised_at_ms: 5_000,
            message: "harsh braking".into(),
            details: AlertDetails::default(),
        };
        let entry = fleet.raised(&raised, "ev-1");
        assert_eq!(
            (entry.alert_type.as_str(), entry.event_id.as_str()),
            ("harsh_braking", "ev-1")
        );
        assert_eq!(fleet.vehicles()[0].active_alerts, ["harsh_braking"]);
        let acked = fleet
            .acknowledged(&AlertAcknowledged {
                alert_id: "a-1".into(),
                vehicle_id: "car-1".into(),
                alert_type: AlertType::HarshBraking,
                acknowledged_by: "anna".into(),
                acknowledged_at_ms: 6_000,
                note: None,
            })
            .expect("known alert");
        assert_eq!(acked.acknowledged_by.as_deref(), Some("anna"));
        let cleared = fleet
            .cleared(&AlertCleared {
                alert_id: "a-1".into(),
                vehicle_id: "car-1".into(),
                alert_type: AlertType::HarshBraking,
                cleared_at_ms: 7_000,
                reason: ClearReason::Expired,
                cleared_by: None,
            })
            .expect("known alert");
        assert_eq!(cleared.cleared_ms, Some(7_000));
        assert!(fleet.vehicles()[0].active_alerts.is_empty());
        assert_eq!(fleet.feed().len(), 1);
    }
}
