//! Trip events waiting for the broker: written in the same transaction as the trip they announce,
//! deleted once the broker confirmed them (or nobody subscribes), published again at start if a
//! crash came in between. Consumers may so see an event twice after a crash; `trip_id` tells.

use broker_bridge::Message;
use instadash_schemas::trip::ended::v1::TripEnded;
use instadash_schemas::trip::started::v1::TripStarted;
use rusqlite::Connection;

use super::{History, StoreError};
use crate::detector::{FinishedTrip, TripStart};
use crate::score::{HarshCounts, driver_score};

/// An event the trips service publishes.
#[derive(Debug, Clone, PartialEq)]
pub enum TripEvent {
    Started(TripStarted),
    Ended(TripEnded),
}

impl TripEvent {
    pub fn started(start: &TripStart) -> TripEvent {
        TripEvent::Started(TripStarted {
            trip_id: start.trip_id.clone(),
            vehicle_id: start.vehicle_id.clone(),
            started_at_ms: start.started_at_ms,
            start_lat: start.start.lat,
            start_lon: start.start.lon,
        })
    }

    /// The summary of a finished trip, with the alerts raised during it and its score.
    pub fn ended(trip: &FinishedTrip, counts: &HarshCounts) -> TripEvent {
        let f = &trip.figures;
        TripEvent::Ended(TripEnded {
            trip_id: trip.trip_id.clone(),
            vehicle_id: trip.vehicle_id.clone(),
            started_at_ms: trip.started_at_ms,
            ended_at_ms: trip.ended_at_ms,
            start_lat: trip.start.lat,
            start_lon: trip.start.lon,
            end_lat: trip.end.lat,
            end_lon: trip.end.lon,
            distance_m: f.distance_m,
            duration_s: f.duration_s,
            max_speed_kmh: f.max_speed_kmh,
            avg_speed_kmh: f.avg_speed_kmh,
            idle_s: f.idle_s,
            harsh_braking_count: counts.harsh_braking,
            harsh_acceleration_count: counts.harsh_acceleration,
            harsh_cornering_count: counts.harsh_cornering,
            overspeed_count: counts.overspeed,
            driver_score: driver_score(counts, f.distance_m, f.duration_s, f.idle_s),
            end_reason: trip.end_reason,
        })
    }

    pub(super) fn score(&self) -> f64 {
        match self {
            TripEvent::Ended(ended) => ended.driver_score,
            TripEvent::Started(_) => 0.0,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            TripEvent::Started(_) => TripStarted::TYPE,
            TripEvent::Ended(_) => TripEnded::TYPE,
        }
    }

    fn to_json(&self) -> Result<String, serde_json::Error> {
        match self {
            TripEvent::Started(event) => serde_json::to_string(event),
            TripEvent::Ended(event) => serde_json::to_string(event),
        }
    }

    fn from_json(kind: &str, payload: &str) -> Result<Option<TripEvent>, serde_json::Error> {
        Ok(if kind == TripStarted::TYPE {
            Some(TripEvent::Started(serde_json::from_str(payload)?))
        } else if kind == TripEnded::TYPE {
            Some(TripEvent::Ended(serde_json::from_str(payload)?))
        } else {
            None
        })
    }
}

/// An event and its place in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub outbox_id: i64,
    pub event: TripEvent,
}

pub(super) fn add(conn: &Connection, event: TripEvent) -> Result<Outgoing, StoreError> {
    conn.prepare_cached("INSERT INTO outbox (kind, payload) VALUES (?1, ?2)")?
        .execute((event.kind(), event.to_json()?))?;
    Ok(Outgoing {
        outbox_id: conn.last_insert_rowid(),
        event,
    })
}

impl History {
    /// Events not yet confirmed by the broker, oldest first. A row that cannot be read is
    /// dropped with a warning (it could never be published).
    pub fn pending_events(&self) -> Result<Vec<Outgoing>, StoreError> {
        let rows: Vec<(i64, String, String)> = {
            let conn = self.read();
            let mut statement = conn.prepare("SELECT id, kind, payload FROM outbox ORDER BY id")?;
            statement
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                .collect::<Result<_, _>>()?
        };
        let mut pending = Vec::with_capacity(rows.len());
        for (outbox_id, kind, payload) in rows {
            match TripEvent::from_json(&kind, &payload) {
                Ok(Some(event)) => pending.push(Outgoing { outbox_id, event }),
                outcome => {
                    tracing::warn!(outbox_id, %kind, ?outcome, "dropping an unreadable outbox row");
                    self.event_sent(outbox_id)?;
                }
            }
        }
        Ok(pending)
    }

    /// The broker has the event (or it can never be sent): forget it.
    pub fn event_sent(&self, outbox_id: i64) -> Result<(), StoreError> {
        self.write()
            .prepare_cached("DELETE FROM outbox WHERE id = ?1")?
            .execute([outbox_id])?;
        Ok(())
    }
}
