//! The history: positions, trips, stops and alerts in SQLite (`<data_dir>/trips/history.db`).
//!
//! - **Durability.** WAL with `synchronous = NORMAL`: a commit is a write to the log, not a disk
//!   sync; a power cut can lose the last commits, a crash of the process loses nothing committed.
//!   The service writes in the handler, so a message is acknowledged only after its changes are
//!   committed: whatever a crash loses is still in the broker's queue.
//! - **Idempotence.** A position is keyed by (vehicle, GPS time) and inserted with `OR IGNORE`;
//!   trips by their id (derived from vehicle and start), stops by (vehicle, start), alerts by their
//!   id; the detector's per-vehicle state is saved in the same transaction as the event that
//!   changed it, and it rejects events not newer than the vehicle's newest. So a message
//!   redelivered after a crash changes nothing.
//! - **Concurrency.** One connection writes (the service's single worker and its timers take turns
//!   on it); a second, read-only connection answers queries, which WAL lets run beside writes.

mod alerts;
mod outbox;
mod positions;
mod schema;
mod trips;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use alerts::StoredAlert;
pub use outbox::{Outgoing, TripEvent};
pub use positions::{MAX_ROUTE_POINTS, Route, pick_evenly};
pub use trips::StoredTrip;

use crate::detector::{Outcome, Update, VehicleTrips};
use crate::motion::Fix;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("history database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("history database: cannot create {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "history database has layout version {found}; this service reads up to {supported} (written by a newer version?)"
    )]
    NewerLayout { found: i64, supported: i64 },
    #[error("history database: {0}")]
    Json(#[from] serde_json::Error),
}

/// The trips service's database.
pub struct History {
    path: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History").field("path", &self.path).finish()
    }
}

impl History {
    /// Opens (creating if needed) the database at `path`, with its directory.
    pub fn open(path: &Path) -> Result<History, StoreError> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let mut writer = Connection::open(path)?;
        let mode: String = writer.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(%mode, path = %path.display(), "the history database is not in WAL mode");
        }
        writer.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;")?;
        writer.set_prepared_statement_cache_capacity(64);
        schema::migrate(&mut writer)?;
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        reader.execute_batch("PRAGMA busy_timeout = 5000;")?;
        reader.set_prepared_statement_cache_capacity(32);
        Ok(History {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stores what one message did, in one transaction: the fix (if it carried a usable one),
    /// the vehicles' new detector states, the trips and stops the updates decided, and the trip
    /// events to publish (in the outbox). Returns those events, to be published now.
    pub fn apply(
        &self,
        position: Option<(&str, &Fix)>,
        updates: &[Update],
    ) -> Result<Vec<Outgoing>, StoreError> {
        let mut conn = self.write();
        if !updates.iter().any(Update::changed) {
            // The common case of a stale fix: no state to keep, no transaction needed.
            if let Some((vehicle_id, fix)) = position {
                positions::insert(&conn, vehicle_id, fix)?;
            }
            return Ok(Vec::new());
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some((vehicle_id, fix)) = position {
            positions::insert(&tx, vehicle_id, fix)?;
        }
        let mut outgoing = Vec::new();
        for update in updates.iter().filter(|u| u.changed()) {
            save_state(&tx, &update.vehicle_id, update.state())?;
            for outcome in &update.outcomes {
                match outcome {
                    Outcome::TripStarted(start) => {
                        trips::insert_started(&tx, start)?;
                        outgoing.push(outbox::add(&tx, TripEvent::started(start))?);
                    }
                    Outcome::TripEnded(trip) => {
                        let counts = alerts::counts(
                            &tx,
                            &trip.vehicle_id,
                            trip.started_at_ms,
                            trip.ended_at_ms,
                        )?;
                        let ended = TripEvent::ended(trip, &counts);
                        trips::save_ended(&tx, trip, &counts, ended.score())?;
                        outgoing.push(outbox::add(&tx, ended)?);
                    }
                    Outcome::Stop(stop) => trips::save_stop(&tx, stop)?,
                    Outcome::TripDiscarded { .. } => {}
                }
            }
        }
        tx.commit()?;
        Ok(outgoing)
    }

    /// Every vehicle's saved detector state. A state that cannot be read (written by a different
    /// version) is skipped with a warning: that vehicle starts afresh.
    pub fn vehicle_states(&self) -> Result<Vec<(String, VehicleTrips)>, StoreError> {
        let conn = self.read();
        let mut statement = conn.prepare("SELECT vehicle_id, state FROM vehicles")?;
        let rows = statement.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?;
        let mut states = Vec::new();
        for row in rows {
            let (vehicle_id, json) = row?;
            match serde_json::from_str(&json) {
                Ok(state) => states.push((vehicle_id, state)),
                Err(error) => {
                    tracing::warn!(%vehicle_id, %error, "unreadable trip state; the vehicle starts afresh")
                }
            }
        }
        Ok(states)
    }

    fn write(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves at most an open transaction, which SQLite rolls
        // back when the next one begins; the connection itself is fine.
        self.writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read(&self) -> MutexGuard<'_, Connection> {
        self.reader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn save_state(conn: &Connection, vehicle_id: &str, state: &VehicleTrips) -> Result<(), StoreError> {
    let json = serde_json::to_string(state)?;
    conn.prepare_cached(
        "INSERT INTO vehicles (vehicle_id, state) VALUES (?1, ?2)
         ON CONFLICT (vehicle_id) DO UPDATE SET state = excluded.state",
    )?
    .execute((vehicle_id, json))?;
    Ok(())
}

/// An enum of the contract as the text it has on the wire (`harsh_braking`).
fn enum_text<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        _ => String::new(),
    }
}

/// The enum an [`enum_text`] names, `None` if it names none (a newer version's value).
fn enum_from_text<T: DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
}

#[cfg(test)]
mod tests;
