//! Alerts and their life cycle, as the alerts service announces them; and the counts a trip
//! takes from them.

use instadash_schemas::alert::acknowledged::v1::AlertAcknowledged;
use instadash_schemas::alert::cleared::v1::{AlertCleared, ClearReason};
use instadash_schemas::alert::raised::v1::AlertRaised;
use instadash_schemas::alert::{AlertType, Severity};
use rusqlite::{Connection, TransactionBehavior};

use super::{History, StoreError, enum_from_text, enum_text, trips};
use crate::score::{HarshCounts, driver_score};

/// One alert as stored: whatever of its life cycle has been seen.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAlert {
    pub alert_id: String,
    pub vehicle_id: String,
    /// `None` for a type this version does not know.
    pub alert_type: Option<AlertType>,
    pub severity: Option<Severity>,
    pub raised_at_ms: Option<i64>,
    pub message: Option<String>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at_ms: Option<i64>,
    pub cleared_at_ms: Option<i64>,
    pub clear_reason: Option<ClearReason>,
}

/// The counted alerts of `vehicle_id` raised within `from_ms..=to_ms`.
pub(super) fn counts(
    conn: &Connection,
    vehicle_id: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<HarshCounts, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT alert_type, COUNT(*) FROM alerts
         WHERE vehicle_id = ?1 AND raised_at_ms >= ?2 AND raised_at_ms <= ?3
         GROUP BY alert_type",
    )?;
    let mut rows = statement.query((vehicle_id, from_ms, to_ms))?;
    let mut counts = HarshCounts::default();
    while let Some(row) = rows.next()? {
        let alert_type: String = row.get(0)?;
        let count: u32 = row.get(1)?;
        if let Some(alert_type) = enum_from_text::<AlertType>(&alert_type) {
            counts.add(alert_type, count);
        }
    }
    Ok(counts)
}

impl History {
    /// Stores a raised alert. If it falls within a trip that has already ended (the alert came
    /// late), that trip's counts and score are brought up to date; the `TripEnded` already
    /// published stays as it was.
    pub fn alert_raised(&self, alert: &AlertRaised) -> Result<(), StoreError> {
        let details = serde_json::to_string(&alert.details)?;
        let mut conn = self.write();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached(
            "INSERT INTO alerts (alert_id, vehicle_id, alert_type, severity, raised_at_ms, message, details)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (alert_id) DO UPDATE SET
                 severity = excluded.severity, raised_at_ms = excluded.raised_at_ms,
                 message = excluded.message, details = excluded.details",
        )?
        .execute((
            &alert.alert_id,
            &alert.vehicle_id,
            enum_text(&alert.alert_type),
            enum_text(&alert.severity),
            alert.raised_at_ms,
            &alert.message,
            details,
        ))?;
        if HarshCounts::COUNTED.contains(&alert.alert_type)
            && let Some(trip) = trips::ended_trip_at(&tx, &alert.vehicle_id, alert.raised_at_ms)?
            && let Some(ended_at_ms) = trip.ended_at_ms
        {
            let counts = counts(&tx, &trip.vehicle_id, trip.started_at_ms, ended_at_ms)?;
            if counts != trip.counts {
                let f = &trip.figures;
                let score = driver_score(&counts, f.distance_m, f.duration_s, f.idle_s);
                trips::update_counts(&tx, &trip.trip_id, &counts, score)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Notes that an operator acknowledged an alert.
    pub fn alert_acknowledged(&self, ack: &AlertAcknowledged) -> Result<(), StoreError> {
        self.write()
            .prepare_cached(
                "INSERT INTO alerts (alert_id, vehicle_id, alert_type, acknowledged_by, acknowledged_at_ms, acknowledge_note)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (alert_id) DO UPDATE SET
                     acknowledged_by = excluded.acknowledged_by,
                     acknowledged_at_ms = excluded.acknowledged_at_ms,
                     acknowledge_note = excluded.acknowledge_note",
            )?
            .execute((
                &ack.alert_id,
                &ack.vehicle_id,
                enum_text(&ack.alert_type),
                &ack.acknowledged_by,
                ack.acknowledged_at_ms,
                &ack.note,
            ))?;
        Ok(())
    }

    /// Notes that an alert is over.
    pub fn alert_cleared(&self, cleared: &AlertCleared) -> Result<(), StoreError> {
        self.write()
            .prepare_cached(
                "INSERT INTO alerts (alert_id, vehicle_id, alert_type, cleared_at_ms, clear_reason, cleared_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (alert_id) DO UPDATE SET
                     cleared_at_ms = excluded.cleared_at_ms,
                     clear_reason = excluded.clear_reason,
                     cleared_by = excluded.cleared_by",
            )?
            .execute((
                &cleared.alert_id,
                &cleared.vehicle_id,
                enum_text(&cleared.alert_type),
                cleared.cleared_at_ms,
                enum_text(&cleared.reason),
                &cleared.cleared_by,
            ))?;
        Ok(())
    }

    /// The counted alerts of `vehicle_id` raised within `from_ms..=to_ms` (for a trip in
    /// progress).
    pub fn harsh_counts(
        &self,
        vehicle_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<HarshCounts, StoreError> {
        counts(&self.read(), vehicle_id, from_ms, to_ms)
    }

    /// One alert by id.
    pub fn alert(&self, alert_id: &str) -> Result<Option<StoredAlert>, StoreError> {
        let conn = self.read();
        let mut statement = conn.prepare_cached(
            "SELECT alert_id, vehicle_id, alert_type, severity, raised_at_ms, message,
                    acknowledged_by, acknowledged_at_ms, cleared_at_ms, clear_reason
             FROM alerts WHERE alert_id = ?1",
        )?;
        let mut rows = statement.query([alert_id])?;
        let Some(row) = rows.next()? else {
            return Ok(None);
        };
        let text = |index: usize| row.get::<_, Option<String>>(index);
        Ok(Some(StoredAlert {
            alert_id: row.get(0)?,
            vehicle_id: row.get(1)?,
            alert_type: text(2)?.and_then(|t| enum_from_text(&t)),
            severity: text(3)?.and_then(|t| enum_from_text(&t)),
            raised_at_ms: row.get(4)?,
            message: text(5)?,
            acknowledged_by: text(6)?,
            acknowledged_at_ms: row.get(7)?,
            cleared_at_ms: row.get(8)?,
            clear_reason: text(9)?.and_then(|t| enum_from_text(&t)),
        }))
    }
}
