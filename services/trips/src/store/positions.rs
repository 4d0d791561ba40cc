//! Positions: stored as they come, read back as a route, pruned after the retention period.

use instadash_schemas::vehicle::get_route_reply::v1::RoutePoint;
use rusqlite::Connection;

use super::{History, StoreError};
use crate::motion::Fix;

/// The most points a route answer carries: about 90 bytes each in JSON, so the reply stays well
/// under the bus's 1 MiB message limit.
pub const MAX_ROUTE_POINTS: u32 = 5_000;

/// A vehicle's recorded positions in a time range.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// In time order.
    pub points: Vec<RoutePoint>,
    /// More positions were recorded than asked for; an evenly spread selection is returned.
    pub thinned: bool,
}

pub(super) fn insert(conn: &Connection, vehicle_id: &str, fix: &Fix) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO positions (vehicle_id, time_ms, lat, lon, speed_kmh, heading_deg)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute((
        vehicle_id,
        fix.time_ms,
        fix.lat,
        fix.lon,
        fix.speed_kmh,
        fix.heading_deg,
    ))?;
    Ok(())
}

impl History {
    /// Stores one fix on its own (for tools and tests; the service stores fixes with
    /// [`History::apply`]). A fix already stored for that vehicle and time is ignored.
    pub fn insert_position(&self, vehicle_id: &str, fix: &Fix) -> Result<(), StoreError> {
        insert(&self.write(), vehicle_id, fix)
    }

    /// The positions of `vehicle_id` with `from_ms <= time < to_ms`, in time order, at most
    /// `max_points` (clamped to [`MAX_ROUTE_POINTS`]): beyond that, points spread evenly over the
    /// recorded ones, the first and the last included.
    pub fn route(
        &self,
        vehicle_id: &str,
        from_ms: i64,
        to_ms: i64,
        max_points: u32,
    ) -> Result<Route, StoreError> {
        let max_points = max_points.min(MAX_ROUTE_POINTS) as usize;
        let mut conn = self.read();
        // One snapshot for the count and the rows, so the selection matches what is read.
        let tx = conn.transaction()?;
        let recorded: i64 = tx
            .prepare_cached(
                "SELECT COUNT(*) FROM positions WHERE vehicle_id = ?1 AND time_ms >= ?2 AND time_ms < ?3",
            )?
            .query_row((vehicle_id, from_ms, to_ms), |row| row.get(0))?;
        let recorded = usize::try_from(recorded).unwrap_or(0);
        let mut wanted = pick_evenly(recorded, max_points).peekable();
        let mut points = Vec::with_capacity(recorded.min(max_points));
        {
            let mut statement = tx.prepare_cached(
                "SELECT time_ms, lat, lon, speed_kmh FROM positions
                 WHERE vehicle_id = ?1 AND time_ms >= ?2 AND time_ms < ?3 ORDER BY time_ms",
            )?;
            let mut rows = statement.query((vehicle_id, from_ms, to_ms))?;
            let mut index = 0usize;
            while let Some(next) = wanted.peek().copied() {
                let Some(row) = rows.next()? else { break };
                if index == next {
                    points.push(RoutePoint {
                        time_ms: row.get(0)?,
                        lat: row.get(1)?,
                        lon: row.get(2)?,
                        speed_kmh: row.get(3)?,
                    });
                    wanted.next();
                }
                index += 1;
            }
        }
        tx.commit()?;
        Ok(Route {
            points,
            thinned: recorded > max_points,
        })
    }

    /// How many positions are stored for `vehicle_id`.
    pub fn position_count(&self, vehicle_id: &str) -> Result<u64, StoreError> {
        let count: i64 = self
            .read()
            .prepare_cached("SELECT COUNT(*) FROM positions WHERE vehicle_id = ?1")?
            .query_row([vehicle_id], |row| row.get(0))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Deletes positions older than `before_ms`, one vehicle at a time so the writer is never held
    /// for long (the service keeps handling messages in between). Returns how many went.
    pub fn prune_positions(&self, before_ms: i64) -> Result<usize, StoreError> {
        let vehicles: Vec<String> = {
            let conn = self.read();
            let mut statement = conn.prepare("SELECT vehicle_id FROM vehicles")?;
            statement
                .query_map([], |row| row.get(0))?
                .collect::<Result<_, _>>()?
        };
        let mut deleted = 0;
        for vehicle_id in vehicles {
            deleted += self
                .write()
                .prepare_cached("DELETE FROM positions WHERE vehicle_id = ?1 AND time_ms < ?2")?
                .execute((vehicle_id, before_ms))?;
        }
        Ok(deleted)
    }
}

/// The indices of `wanted` points spread evenly over `recorded` ones, ascending: all of them when
/// they fit, otherwise the first, the last and evenly spaced ones between.
pub fn pick_evenly(recorded: usize, wanted: usize) -> impl Iterator<Item = usize> {
    let (count, last) = match (recorded, wanted) {
        (0, _) | (_, 0) => (0, 0),
        (recorded, wanted) if recorded <= wanted => (recorded, recorded - 1),
        (_, 1) => (1, 0),
        (recorded, wanted) => (wanted, recorded - 1),
    };
    (0..count).map(move |i| {
        if count <= 1 || recorded <= count {
            i
        } else {
            // u128: no overflow for any count of rows.
            (i as u128 * last as u128 / (count as u128 - 1)) as usize
        }
    })
}
