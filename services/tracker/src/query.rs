//! The two questions the tracker answers about many vehicles at once: a page of the fleet
//! ([`Fleet::list`]) and the vehicles nearest a point ([`Fleet::nearest`]).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::ops::Bound;

use instadash_schemas::vehicle::VehicleStatus;
use instadash_schemas::vehicle::find_nearest::v1::FindNearest;
use instadash_schemas::vehicle::find_nearest_reply::v1::{FindNearestReply, NearVehicle};
use instadash_schemas::vehicle::list_vehicles::v1::ListVehicles;
use instadash_schemas::vehicle::list_vehicles_reply::v1::ListVehiclesReply;

use crate::state::Fleet;

/// A page of [`Fleet::list`] when the request does not say.
pub const DEFAULT_LIST_LIMIT: u32 = 100;
/// The most vehicles one [`Fleet::list`] page holds, whatever the request says.
pub const MAX_LIST_LIMIT: u32 = 1000;
/// How many vehicles [`Fleet::nearest`] returns when the request does not say.
pub const DEFAULT_NEAREST_LIMIT: u32 = 10;
/// The most vehicles [`Fleet::nearest`] returns, whatever the request says.
pub const MAX_NEAREST_LIMIT: u32 = 1000;

impl Fleet {
    /// A page of vehicles ordered by id (byte order), those after `request.after` (which need not
    /// be a known id), in one of `request.statuses` (all if `None` or empty). The limit defaults to
    /// 100 and is kept within 1..=1000, so paging always moves on. `total` counts every vehicle
    /// matching the filter; `next_after` is the page's last id if more match after it.
    pub fn list(&self, request: &ListVehicles) -> ListVehiclesReply {
        let filter = StatusFilter::new(request.statuses.as_deref());
        let limit = clamp_limit(request.limit, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT);
        let start = match request.after.as_deref() {
            Some(after) => Bound::Excluded(after),
            None => Bound::Unbounded,
        };
        let mut matching = self
            .order
            .range::<str, _>((start, Bound::Unbounded))
            .filter_map(|id| {
                let record = self.vehicles.get(id)?;
                filter.admits(record.status).then_some((id, record))
            });
        let vehicles: Vec<_> = matching
            .by_ref()
            .take(limit)
            .map(|(id, record)| record.to_state(id))
            .collect();
        let more = matching.next().is_some();
        let next_after = if more {
            vehicles.last().map(|last| last.vehicle_id.clone())
        } else {
            None
        };
        let total = filter.total(|status| self.count(status));
        ListVehiclesReply {
            vehicles,
            total: u32::try_from(total).unwrap_or(u32::MAX),
            next_after,
        }
    }

    /// The vehicles with a position nearest `(request.lat, request.lon)` by great-circle
    /// distance, nearest first, ties by id; at most `request.limit` (default 10, kept within
    /// 1..=1000), none farther than `request.max_distance_m` (inclusive), in one of
    /// `request.statuses` (all if `None` or empty). An invalid point gives an empty reply.
    ///
    /// Scans every vehicle (10,000 take well under a millisecond) but keeps only the best `limit`
    /// in a bounded heap instead of sorting them all.
    pub fn nearest(&self, request: &FindNearest) -> FindNearestReply {
        if !instadash_roads::is_valid_point(request.lat, request.lon) {
            return FindNearestReply {
                vehicles: Vec::new(),
            };
        }
        let filter = StatusFilter::new(request.statuses.as_deref());
        let limit = clamp_limit(request.limit, DEFAULT_NEAREST_LIMIT, MAX_NEAREST_LIMIT);
        let within = |distance_m: f64| request.max_distance_m.is_none_or(|max| distance_m <= max);

        // A max-heap of the best so far: its top is the worst candidate kept, the one to replace.
        let mut best: BinaryHeap<Candidate<'_>> = BinaryHeap::with_capacity(limit + 1);
        for (id, record) in &self.vehicles {
            let Some(fix) = record.fix.as_ref() else {
                continue;
            };
            if !filter.admits(record.status) {
                continue;
            }
            let distance_m =
                instadash_roads::haversine_m(request.lat, request.lon, fix.lat, fix.lon);
            if !within(distance_m) {
                continue;
            }
            let candidate = Candidate {
                distance_m,
                id: id.as_ref(),
            };
            if best.len() < limit {
                best.push(candidate);
            } else if let Some(mut worst) = best.peek_mut().filter(|worst| candidate < **worst) {
                // Replacing the top through `PeekMut` sifts the newcomer into place.
                *worst = candidate;
            }
        }
        let vehicles = best
            .into_sorted_vec()
            .into_iter()
            .filter_map(|Candidate { distance_m, id }| {
                let vehicle = self.vehicles.get(id)?.to_state(id);
                Some(NearVehicle {
                    distance_m,
                    vehicle,
                })
            })
            .collect();
        FindNearestReply { vehicles }
    }
}

/// The requested limit, or the default, within `1..=max`.
fn clamp_limit(requested: Option<u32>, default: u32, max: u32) -> usize {
    requested.unwrap_or(default).clamp(1, max) as usize
}

/// Which statuses a request admits.
#[derive(Debug, Clone, Copy)]
struct StatusFilter {
    online: bool,
    unknown: bool,
    offline: bool,
}

impl StatusFilter {
    /// `None` or an empty list admit every status.
    fn new(statuses: Option<&[VehicleStatus]>) -> StatusFilter {
        match statuses {
            None | Some([]) => StatusFilter {
                online: true,
                unknown: true,
                offline: true,
            },
            Some(statuses) => StatusFilter {
                online: statuses.contains(&VehicleStatus::Online),
                unknown: statuses.contains(&VehicleStatus::Unknown),
                offline: statuses.contains(&VehicleStatus::Offline),
            },
        }
    }

    fn admits(&self, status: VehicleStatus) -> bool {
        match status {
            VehicleStatus::Online => self.online,
            VehicleStatus::Unknown => self.unknown,
            VehicleStatus::Offline => self.offline,
        }
    }

    /// How many vehicles pass, from the per-status counts.
    fn total(&self, count: impl Fn(VehicleStatus) -> usize) -> usize {
        [
            VehicleStatus::Online,
            VehicleStatus::Unknown,
            VehicleStatus::Offline,
        ]
        .into_iter()
        .filter(|status| self.admits(*status))
        .map(count)
        .sum()
    }
}

/// A vehicle considered by [`Fleet::nearest`], ordered nearest first, then by id.
#[derive(Debug, Clone, Copy)]
struct Candidate<'a> {
    distance_m: f64,
    id: &'a str,
}

impl Ord for Candidate<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.distance_m
            .total_cmp(&other.distance_m)
            .then_with(|| self.id.cmp(other.id))
    }
}

impl PartialOrd for Candidate<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Candidate<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate<'_> {}
