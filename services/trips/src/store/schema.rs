//! The history's tables. `PRAGMA user_version` says which layout a file has, so a newer service
//! can migrate an older file and an older service refuses a newer one.

use rusqlite::Connection;

use super::StoreError;

/// The layout this code writes.
pub const VERSION: i64 = 1;

const V1: &str = "
-- Every usable fix, late ones included (they are points of the route all the same). One row per
-- vehicle and GPS time, so a redelivered fix is not stored twice. Clustered by vehicle and time:
-- a route is one range scan, and an insert touches one leaf page.
CREATE TABLE positions (
    vehicle_id  TEXT    NOT NULL,
    time_ms     INTEGER NOT NULL,
    lat         REAL    NOT NULL,
    lon         REAL    NOT NULL,
    speed_kmh   REAL    NOT NULL,
    heading_deg REAL    NOT NULL,
    PRIMARY KEY (vehicle_id, time_ms)
) WITHOUT ROWID;

-- The detector's state per vehicle (JSON), written with the event that changed it: a restart
-- continues the trip in progress exactly.
CREATE TABLE vehicles (
    vehicle_id TEXT PRIMARY KEY,
    state      TEXT NOT NULL
) WITHOUT ROWID;

-- Trips: a row from the moment a trip qualifies (ended_at_ms NULL while in progress; its live
-- figures are the detector's), completed when it ends.
CREATE TABLE trips (
    trip_id            TEXT    PRIMARY KEY,
    vehicle_id         TEXT    NOT NULL,
    started_at_ms      INTEGER NOT NULL,
    ended_at_ms        INTEGER,
    start_lat          REAL    NOT NULL,
    start_lon          REAL    NOT NULL,
    end_lat            REAL,
    end_lon            REAL,
    distance_m         REAL    NOT NULL DEFAULT 0,
    duration_s         INTEGER NOT NULL DEFAULT 0,
    max_speed_kmh      REAL    NOT NULL DEFAULT 0,
    avg_speed_kmh      REAL    NOT NULL DEFAULT 0,
    idle_s             INTEGER NOT NULL DEFAULT 0,
    harsh_braking      INTEGER NOT NULL DEFAULT 0,
    harsh_acceleration INTEGER NOT NULL DEFAULT 0,
    harsh_cornering    INTEGER NOT NULL DEFAULT 0,
    overspeed          INTEGER NOT NULL DEFAULT 0,
    driver_score       REAL,
    end_reason         TEXT
);
CREATE INDEX trips_by_vehicle ON trips (vehicle_id, started_at_ms);

-- Stops of at least the minimum length (ended_at_ms NULL while the vehicle still stands).
CREATE TABLE stops (
    vehicle_id    TEXT    NOT NULL,
    started_at_ms INTEGER NOT NULL,
    ended_at_ms   INTEGER,
    lat           REAL,
    lon           REAL,
    PRIMARY KEY (vehicle_id, started_at_ms)
) WITHOUT ROWID;

-- Alerts and their life cycle, one row per alert: raised, acknowledged, cleared. Any of the three
-- may arrive first (retries reorder), so only the identity is required.
CREATE TABLE alerts (
    alert_id           TEXT PRIMARY KEY,
    vehicle_id         TEXT NOT NULL,
    alert_type         TEXT NOT NULL,
    severity           TEXT,
    raised_at_ms       INTEGER,
    message            TEXT,
    details            TEXT,
    acknowledged_by    TEXT,
    acknowledged_at_ms INTEGER,
    acknowledge_note   TEXT,
    cleared_at_ms      INTEGER,
    clear_reason       TEXT,
    cleared_by         TEXT
);
CREATE INDEX alerts_by_vehicle ON alerts (vehicle_id, raised_at_ms);

-- Trip events written with the change that caused them and deleted once the broker has them:
-- an event whose publish a crash interrupted is published at the next start.
CREATE TABLE outbox (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    kind    TEXT NOT NULL,
    payload TEXT NOT NULL
);
";

/// Brings the file to [`VERSION`].
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    match found {
        VERSION => Ok(()),
        0 => {
            let tx = conn.transaction()?;
            tx.execute_batch(V1)?;
            tx.pragma_update(None, "user_version", VERSION)?;
            tx.commit()?;
            Ok(())
        }
        newer => Err(StoreError::NewerLayout {
            found: newer,
            supported: VERSION,
        }),
    }
}
