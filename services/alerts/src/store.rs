//! Where alerts survive a restart: one SQLite file (`<data_dir>/alerts/alerts.db`, WAL,
//! `synchronous = NORMAL`).
//!
//! - `alert`: every alert, one row, updated through its life (raised, acknowledged, cleared).
//!   Active ones are loaded at start; the newest [`REMEMBERED_CLEARED`] cleared ones too (their ids
//!   only), older cleared rows are deleted.
//! - `outbox`: the events recorded but not yet confirmed by the broker, in order. An event enters
//!   it in the same transaction as its alert's change, and leaves it once the broker has it, so a
//!   crash between the two only delays the event until the next start.
//!
//! `synchronous = NORMAL` in WAL mode makes every commit atomic and durable across a process crash;
//! an operating-system crash or power loss may lose the last commits (SQLite's documented
//! trade-off), in exchange for not waiting for the disk on every alert.

use std::path::Path;

use instadash_schemas::alert::cleared::v1::ClearReason;
use instadash_schemas::alert::raised::v1::AlertRaised;
use rusqlite::{Connection, OptionalExtension, params};

use crate::engine::{Acknowledgement, REMEMBERED_CLEARED, SavedAlert, SavedAlerts};
use crate::event::{AlertEvent, alert_type_name};

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("alerts database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("alerts database: cannot create {path}: {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
    #[error("alerts database: a stored {what} cannot be read: {source}")]
    Corrupt {
        what: &'static str,
        source: serde_json::Error,
    },
    #[error("alerts database: an event cannot be written: {0}")]
    Encode(serde_json::Error),
    #[error(
        "alerts database: schema version {found} is newer than this program's ({SCHEMA_VERSION})"
    )]
    TooNew { found: i64 },
}

const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS alert (
        alert_id           TEXT PRIMARY KEY,
        vehicle_id         TEXT NOT NULL,
        alert_type         TEXT NOT NULL,
        raised_at_ms       INTEGER NOT NULL,
        raised             TEXT NOT NULL,   -- the AlertRaised event, JSON
        acknowledged_by    TEXT,
        acknowledged_at_ms INTEGER,
        ack_note           TEXT,
        cleared_at_ms      INTEGER,         -- NULL while active
        clear_reason       TEXT
    );
    CREATE INDEX IF NOT EXISTS alert_cleared ON alert (cleared_at_ms);
    CREATE TABLE IF NOT EXISTS outbox (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        event       TEXT NOT NULL,          -- an AlertEvent, JSON
        traceparent TEXT                    -- the message that caused it, so its trace goes on
    );
";

/// Version 1 had no trace context in the outbox.
const FROM_VERSION_1: &str = "ALTER TABLE outbox ADD COLUMN traceparent TEXT;";

/// An event waiting in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub seq: i64,
    pub event: AlertEvent,
    /// The `traceparent` of the message whose handling caused it, if any.
    pub traceparent: Option<String>,
}

/// The alerts database.
pub struct AlertStore {
    db: Connection,
}

impl std::fmt::Debug for AlertStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertStore").finish_non_exhaustive()
    }
}

impl AlertStore {
    /// Opens (creating it and its directory if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<AlertStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Directory {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let db = Connection::open(path)?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        Self::init(db)
    }

    /// A database in memory: the same behaviour, kept only while the process runs.
    pub fn in_memory() -> Result<AlertStore, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(db: Connection) -> Result<AlertStore, StoreError> {
        db.pragma_update(None, "synchronous", "NORMAL")?;
        // Another process holding the file (a second instance by mistake) makes writes wait a
        // moment rather than fail at once.
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = db.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew { found: version });
        }
        db.execute_batch(SCHEMA)?;
        if version == 1 {
            db.execute_batch(FROM_VERSION_1)?;
        }
        db.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        Ok(AlertStore { db })
    }

    /// The active alerts and the ids of the newest cleared ones (oldest first); deletes cleared
    /// alerts older than those.
    pub fn load(&mut self) -> Result<SavedAlerts, StoreError> {
        self.forget_old_cleared()?;
        let mut saved = SavedAlerts::default();
        let mut active = self.db.prepare(
            "SELECT raised, acknowledged_by, acknowledged_at_ms, ack_note FROM alert
             WHERE cleared_at_ms IS NULL ORDER BY raised_at_ms, alert_id",
        )?;
        let rows = active.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, Option<String>>(1)?,
                row.get::<_, Option<i64>>(2)?,
                row.get::<_, Option<String>>(3)?,
            ))
        })?;
        for row in rows {
            let (raised, by, at_ms, note) = row?;
            let raised: AlertRaised =
                serde_json::from_str(&raised).map_err(|source| StoreError::Corrupt {
                    what: "alert",
                    source,
                })?;
            let acknowledged = by
                .zip(at_ms)
                .map(|(by, at_ms)| Acknowledgement { by, at_ms, note });
            saved.active.push(SavedAlert {
                raised,
                acknowledged,
            });
        }
        let mut cleared = self.db.prepare(
            "SELECT alert_id FROM alert WHERE cleared_at_ms IS NOT NULL
             ORDER BY cleared_at_ms, alert_id",
        )?;
        saved.recently_cleared = cleared
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(saved)
    }

    /// Keeps the newest [`REMEMBERED_CLEARED`] cleared alerts, the ones the engine remembers.
    pub fn forget_old_cleared(&mut self) -> Result<usize, StoreError> {
        let deleted = self.db.execute(
            "DELETE FROM alert WHERE cleared_at_ms IS NOT NULL AND alert_id NOT IN (
                SELECT alert_id FROM alert WHERE cleared_at_ms IS NOT NULL
                ORDER BY cleared_at_ms DESC, alert_id DESC LIMIT ?1)",
            params![REMEMBERED_CLEARED as i64],
        )?;
        Ok(deleted)
    }

    /// Records what the events change, and puts them in the outbox, in one transaction.
    pub fn record(&mut self, events: &[AlertEvent]) -> Result<(), StoreError> {
        self.record_traced(events.iter().map(|event| (event, None)))
    }

    /// As [`AlertStore::record`], each event with the `traceparent` of the message that caused it.
    pub fn record_traced<'a>(
        &mut self,
        events: impl IntoIterator<Item = (&'a AlertEvent, Option<&'a str>)>,
    ) -> Result<(), StoreError> {
        let tx = self.db.transaction()?;
        for (event, traceparent) in events {
            match event {
                AlertEvent::Raised(e) => {
                    let raised = serde_json::to_string(e).map_err(StoreError::Encode)?;
                    // The same id again means the engine raised it again (it had forgotten the
                    // old one): the row becomes active again, as the engine holds it.
                    tx.execute(
                        "INSERT INTO alert (alert_id, vehicle_id, alert_type, raised_at_ms, raised)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (alert_id) DO UPDATE SET
                            raised = excluded.raised, raised_at_ms = excluded.raised_at_ms,
                            acknowledged_by = NULL, acknowledged_at_ms = NULL, ack_note = NULL,
                            cleared_at_ms = NULL, clear_reason = NULL",
                        params![
                            e.alert_id,
                            e.vehicle_id,
                            alert_type_name(e.alert_type),
                            e.raised_at_ms,
                            raised
                        ],
                    )?;
                }
                AlertEvent::Acknowledged(e) => {
                    tx.execute(
                        "UPDATE alert SET acknowledged_by = ?2, acknowledged_at_ms = ?3, ack_note = ?4
                         WHERE alert_id = ?1",
                        params![e.alert_id, e.acknowledged_by, e.acknowledged_at_ms, e.note],
                    )?;
                }
                AlertEvent::Cleared(e) => {
                    tx.execute(
                        "UPDATE alert SET cleared_at_ms = ?2, clear_reason = ?3 WHERE alert_id = ?1",
                        params![e.alert_id, e.cleared_at_ms, clear_reason_name(e.reason)],
                    )?;
                }
            }
            let json = serde_json::to_string(event).map_err(StoreError::Encode)?;
            tx.execute(
                "INSERT INTO outbox (event, traceparent) VALUES (?1, ?2)",
                params![json, traceparent],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The oldest `limit` events not yet confirmed by the broker, in order.
    pub fn pending(&self, limit: usize) -> Result<Vec<Pending>, StoreError> {
        let mut query = self
            .db
            .prepare("SELECT seq, event, traceparent FROM outbox ORDER BY seq LIMIT ?1")?;
        let rows = query.query_map(params![limit as i64], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
            ))
        })?;
        let mut pending = Vec::new();
        for row in rows {
            let (seq, json, traceparent) = row?;
            let event = serde_json::from_str(&json).map_err(|source| StoreError::Corrupt {
                what: "outbox event",
                source,
            })?;
            pending.push(Pending {
                seq,
                event,
                traceparent,
            });
        }
        Ok(pending)
    }

    /// How many events wait in the outbox.
    pub fn pending_count(&self) -> Result<u64, StoreError> {
        let count: i64 = self
            .db
            .query_row("SELECT COUNT(*) FROM outbox", [], |row| row.get(0))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// The broker has these events (or they can never be sent): out of the outbox.
    pub fn published(&mut self, seqs: &[i64]) -> Result<(), StoreError> {
        let tx = self.db.transaction()?;
        {
            let mut delete = tx.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?;
            for seq in seqs {
                delete.execute(params![seq])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// How an alert ended, if it did: for tests and operators' tools.
    pub fn clear_reason(&self, alert_id: &str) -> Result<Option<String>, StoreError> {
        let reason = self
            .db
            .query_row(
                "SELECT clear_reason FROM alert WHERE alert_id = ?1",
                params![alert_id],
                |row| row.get::<_, Option<String>>(0),
            )
            .optional()?;
        Ok(reason.flatten())
    }
}

fn clear_reason_name(reason: ClearReason) -> &'static str {
    match reason {
        ClearReason::ConditionEnded => "condition_ended",
        ClearReason::Expired => "expired",
        ClearReason::Manual => "manual",
    }
}

#[cfg(test)]
mod tests;
