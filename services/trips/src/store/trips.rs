//! Trips and stops: written as the detector decides them, read back by vehicle and time range.

use instadash_schemas::trip::EndReason;
use rusqlite::{Connection, Row};

use super::{History, StoreError, enum_from_text, enum_text};
use crate::detector::{FinishedTrip, StopRecord, TripFigures, TripStart};
use crate::motion::Point;
use crate::score::HarshCounts;

/// A trip as stored: finished, or in progress (`ended_at_ms` = `None`; its figures are those at
/// qualification, the live ones are the detector's).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTrip {
    pub trip_id: String,
    pub vehicle_id: String,
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    pub start: Point,
    pub end: Option<Point>,
    pub figures: TripFigures,
    pub counts: HarshCounts,
    pub driver_score: Option<f64>,
    pub end_reason: Option<EndReason>,
}

const TRIP_COLUMNS: &str = "trip_id, vehicle_id, started_at_ms, ended_at_ms, start_lat, start_lon,
    end_lat, end_lon, distance_m, duration_s, max_speed_kmh, avg_speed_kmh, idle_s, harsh_braking,
    harsh_acceleration, harsh_cornering, overspeed, driver_score, end_reason";

fn trip_from_row(row: &Row<'_>) -> rusqlite::Result<StoredTrip> {
    let end = match (row.get::<_, Option<f64>>(6)?, row.get::<_, Option<f64>>(7)?) {
        (Some(lat), Some(lon)) => Some(Point { lat, lon }),
        _ => None,
    };
    Ok(StoredTrip {
        trip_id: row.get(0)?,
        vehicle_id: row.get(1)?,
        started_at_ms: row.get(2)?,
        ended_at_ms: row.get(3)?,
        start: Point {
            lat: row.get(4)?,
            lon: row.get(5)?,
        },
        end,
        figures: TripFigures {
            distance_m: row.get(8)?,
            duration_s: row.get(9)?,
            max_speed_kmh: row.get(10)?,
            avg_speed_kmh: row.get(11)?,
            idle_s: row.get(12)?,
        },
        counts: HarshCounts {
            harsh_braking: row.get(13)?,
            harsh_acceleration: row.get(14)?,
            harsh_cornering: row.get(15)?,
            overspeed: row.get(16)?,
        },
        driver_score: row.get(17)?,
        end_reason: row
            .get::<_, Option<String>>(18)?
            .and_then(|text| enum_from_text(&text)),
    })
}

pub(super) fn insert_started(conn: &Connection, start: &TripStart) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO trips (trip_id, vehicle_id, started_at_ms, start_lat, start_lon)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute((
        &start.trip_id,
        &start.vehicle_id,
        start.started_at_ms,
        start.start.lat,
        start.start.lon,
    ))?;
    Ok(())
}

pub(super) fn save_ended(
    conn: &Connection,
    trip: &FinishedTrip,
    counts: &HarshCounts,
    score: f64,
) -> Result<(), StoreError> {
    let f = &trip.figures;
    conn.prepare_cached(
        "INSERT INTO trips (trip_id, vehicle_id, started_at_ms, ended_at_ms, start_lat, start_lon,
             end_lat, end_lon, distance_m, duration_s, max_speed_kmh, avg_speed_kmh, idle_s,
             harsh_braking, harsh_acceleration, harsh_cornering, overspeed, driver_score, end_reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)
         ON CONFLICT (trip_id) DO UPDATE SET
             ended_at_ms = excluded.ended_at_ms, end_lat = excluded.end_lat,
             end_lon = excluded.end_lon, distance_m = excluded.distance_m,
             duration_s = excluded.duration_s, max_speed_kmh = excluded.max_speed_kmh,
             avg_speed_kmh = excluded.avg_speed_kmh, idle_s = excluded.idle_s,
             harsh_braking = excluded.harsh_braking,
             harsh_acceleration = excluded.harsh_acceleration,
             harsh_cornering = excluded.harsh_cornering, overspeed = excluded.overspeed,
             driver_score = excluded.driver_score, end_reason = excluded.end_reason",
    )?
    .execute(rusqlite::params![
        trip.trip_id,
        trip.vehicle_id,
        trip.started_at_ms,
        trip.ended_at_ms,
        trip.start.lat,
        trip.start.lon,
        trip.end.lat,
        trip.end.lon,
        f.distance_m,
        f.duration_s,
        f.max_speed_kmh,
        f.avg_speed_kmh,
        f.idle_s,
        counts.harsh_braking,
        counts.harsh_acceleration,
        counts.harsh_cornering,
        counts.overspeed,
        score,
        enum_text(&trip.end_reason),
    ])?;
    Ok(())
}

pub(super) fn save_stop(conn: &Connection, stop: &StopRecord) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO stops (vehicle_id, started_at_ms, ended_at_ms, lat, lon)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (vehicle_id, started_at_ms) DO UPDATE SET
             ended_at_ms = excluded.ended_at_ms,
             lat = coalesce(excluded.lat, lat), lon = coalesce(excluded.lon, lon)",
    )?
    .execute((
        &stop.vehicle_id,
        stop.started_at_ms,
        stop.ended_at_ms,
        stop.at.map(|p| p.lat),
        stop.at.map(|p| p.lon),
    ))?;
    Ok(())
}

/// The ended trip of `vehicle_id` whose time span holds `time_ms`, with what its score needs.
pub(super) fn ended_trip_at(
    conn: &Connection,
    vehicle_id: &str,
    time_ms: i64,
) -> Result<Option<StoredTrip>, StoreError> {
    let sql = format!(
        "SELECT {TRIP_COLUMNS} FROM trips
         WHERE vehicle_id = ?1 AND started_at_ms <= ?2 AND ended_at_ms >= ?2
         ORDER BY started_at_ms DESC LIMIT 1"
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let mut rows = statement.query((vehicle_id, time_ms))?;
    Ok(match rows.next()? {
        Some(row) => Some(trip_from_row(row)?),
        None => None,
    })
}

pub(super) fn update_counts(
    conn: &Connection,
    trip_id: &str,
    counts: &HarshCounts,
    score: f64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE trips SET harsh_braking = ?2, harsh_acceleration = ?3, harsh_cornering = ?4,
             overspeed = ?5, driver_score = ?6
         WHERE trip_id = ?1",
    )?
    .execute((
        trip_id,
        counts.harsh_braking,
        counts.harsh_acceleration,
        counts.harsh_cornering,
        counts.overspeed,
        score,
    ))?;
    Ok(())
}

impl History {
    /// The trips of `vehicle_id` overlapping `from_ms <= time < to_ms` (a trip in progress
    /// overlaps everything after its start), oldest first, at most `limit`; `true` if more
    /// matched.
    pub fn trips(
        &self,
        vehicle_id: &str,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<(Vec<StoredTrip>, bool), StoreError> {
        let sql = format!(
            "SELECT {TRIP_COLUMNS} FROM trips
             WHERE vehicle_id = ?1 AND started_at_ms < ?3
               AND (ended_at_ms IS NULL OR ended_at_ms >= ?2)
             ORDER BY started_at_ms LIMIT ?4"
        );
        let conn = self.read();
        let mut statement = conn.prepare_cached(&sql)?;
        let mut trips = statement
            .query_map(
                (vehicle_id, from_ms, to_ms, i64::from(limit) + 1),
                trip_from_row,
            )?
            .collect::<Result<Vec<_>, _>>()?;
        let truncated = trips.len() > limit as usize;
        trips.truncate(limit as usize);
        Ok((trips, truncated))
    }

    /// How many trips are stored: `(ended, in progress)`.
    pub fn trip_counts(&self) -> Result<(u64, u64), StoreError> {
        let conn = self.read();
        let mut statement = conn.prepare_cached(
            "SELECT COUNT(ended_at_ms), COUNT(*) - COUNT(ended_at_ms) FROM trips",
        )?;
        Ok(statement.query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?)
    }

    /// One trip by id.
    pub fn trip(&self, trip_id: &str) -> Result<Option<StoredTrip>, StoreError> {
        let sql = format!("SELECT {TRIP_COLUMNS} FROM trips WHERE trip_id = ?1");
        let conn = self.read();
        let mut statement = conn.prepare_cached(&sql)?;
        let mut rows = statement.query([trip_id])?;
        Ok(match rows.next()? {
            Some(row) => Some(trip_from_row(row)?),
            None => None,
        })
    }

    /// The stops of `vehicle_id` overlapping `from_ms <= time < to_ms`, oldest first.
    pub fn stops(
        &self,
        vehicle_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<StopRecord>, StoreError> {
        let conn = self.read();
        let mut statement = conn.prepare_cached(
            "SELECT vehicle_id, started_at_ms, ended_at_ms, lat, lon FROM stops
             WHERE vehicle_id = ?1 AND started_at_ms < ?3
               AND (ended_at_ms IS NULL OR ended_at_ms >= ?2)
             ORDER BY started_at_ms",
        )?;
        let stops = statement
            .query_map((vehicle_id, from_ms, to_ms), |row| {
                let at = match (row.get::<_, Option<f64>>(3)?, row.get::<_, Option<f64>>(4)?) {
                    (Some(lat), Some(lon)) => Some(Point { lat, lon }),
                    _ => None,
                };
                Ok(StopRecord {
                    vehicle_id: row.get(0)?,
                    started_at_ms: row.get(1)?,
                    ended_at_ms: row.get(2)?,
                    at,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(stops)
    }
}
