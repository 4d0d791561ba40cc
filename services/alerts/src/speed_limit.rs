//! The speed limit that applies to a GPS fix: the limit of the road the car is on.
//!
//! The nearest edge is not always that road. Near a junction the cross street may be a metre or
//! two closer than the car's own road (and its limit may be half), and the two directions of a
//! street are equally near. So the edges meeting at either end of the nearest edge that are
//! almost as near (within [`CLOSE_M`]) are candidates too, and the one whose direction of travel
//! best matches the fix's heading wins. Heading means nothing for a car barely moving, but then
//! the limit does not matter either.

use std::sync::Arc;

use instadash_roads::{EdgeId, RoadNetwork};

/// Edges this much farther than the nearest still count as "the road the car may be on": GPS
/// error (a few metres) plus the offset between a street's two directions.
const CLOSE_M: f64 = 12.0;
/// Below this speed the GPS heading is noise, so the nearest edge is taken as is.
const HEADING_MIN_KMH: f64 = 5.0;

/// Finds the road under a fix and its limit.
pub(crate) struct SpeedLimits {
    network: Arc<RoadNetwork>,
    /// Every edge starting or ending at each node.
    edges_at_node: Vec<Vec<EdgeId>>,
    /// No road is slower: a fix at or below this speed is within every limit.
    lowest_limit_kmh: f64,
    max_distance_m: f64,
}

/// The road a fix was matched to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RoadMatch {
    pub edge: EdgeId,
    pub limit_kmh: f64,
}

impl SpeedLimits {
    pub fn new(network: Arc<RoadNetwork>, max_distance_m: f64) -> SpeedLimits {
        let mut edges_at_node = vec![Vec::new(); network.nodes().len()];
        for edge in network.edges() {
            for node in [edge.from, edge.to] {
                if let Some(list) = edges_at_node.get_mut(node as usize) {
                    list.push(edge.id);
                }
            }
        }
        let lowest_limit_kmh = network
            .edges()
            .iter()
            .map(|e| e.speed_limit_kmh)
            .fold(f64::INFINITY, f64::min);
        SpeedLimits {
            network,
            edges_at_node,
            lowest_limit_kmh,
            max_distance_m,
        }
    }

    /// The lowest limit anywhere: a car no faster than this is within the limit wherever it is,
    /// without looking up its road.
    pub fn lowest_limit_kmh(&self) -> f64 {
        self.lowest_limit_kmh
    }

    /// The road under the fix, `None` if no road is within the configured distance.
    pub fn road_at(
        &self,
        lat: f64,
        lon: f64,
        heading_deg: f64,
        speed_kmh: f64,
    ) -> Option<RoadMatch> {
        let network = &self.network;
        let (nearest, nearest_m) = network.nearest_edge(lat, lon)?;
        if nearest_m > self.max_distance_m {
            return None;
        }
        let mut best = (
            nearest,
            angle_between(heading_deg, network.edge_bearing_deg(nearest)),
            nearest_m,
        );
        if speed_kmh >= HEADING_MIN_KMH && heading_deg.is_finite() {
            let edge = network.edge(nearest);
            let candidates = [edge.from, edge.to]
                .into_iter()
                .filter_map(|node| self.edges_at_node.get(node as usize))
                .flatten();
            for &candidate in candidates {
                let distance_m = network.distance_to_edge_m(candidate, lat, lon);
                if distance_m > nearest_m + CLOSE_M {
                    continue;
                }
                let angle = angle_between(heading_deg, network.edge_bearing_deg(candidate));
                let better = (angle, distance_m, candidate) < (best.1, best.2, best.0);
                if better {
                    best = (candidate, angle, distance_m);
                }
            }
        }
        Some(RoadMatch {
            edge: best.0,
            limit_kmh: network.edge(best.0).speed_limit_kmh,
        })
    }
}

/// The smaller angle between two bearings, degrees in [0, 180].
fn angle_between(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> SpeedLimits {
        SpeedLimits::new(RoadNetwork::city(), 30.0)
    }

    /// The edge from `from` to `to` in the city.
    fn edge(from: u32, to: u32) -> EdgeId {
        RoadNetwork::city()
            .edges()
            .iter()
            .find(|e| e.from == from && e.to == to)
            .map(|e| e.id)
            .expect("the edge exists")
    }

    #[test]
    fn angles_wrap_around_north() {
        assert_eq!(angle_between(350.0, 10.0), 20.0);
        assert_eq!(angle_between(10.0, 350.0), 20.0);
        assert_eq!(angle_between(90.0, 270.0), 180.0);
        assert_eq!(angle_between(45.0, 45.0), 0.0);
    }

    #[test]
    fn the_heading_picks_the_direction_of_travel() {
        let limits = limits();
        let network = RoadNetwork::city();
        // Halfway along the arterial from junction 437 to 438 (row 14: 60 km/h), both ways.
        let east = edge(437, 438);
        let west = edge(438, 437);
        let (lat, lon) = network.point_on_edge(east, 100.0);
        let heading = network.edge_bearing_deg(east);
        let found = limits.road_at(lat, lon, heading, 50.0).unwrap();
        assert_eq!(found.edge, east);
        assert_eq!(found.limit_kmh, 60.0);
        let found = limits
            .road_at(lat, lon, (heading + 180.0) % 360.0, 50.0)
            .unwrap();
        assert_eq!(found.edge, west);
    }

    #[test]
    fn at_a_junction_the_cross_street_does_not_steal_the_fix() {
        let limits = limits();
        let network = RoadNetwork::city();
        // Junction 438 on the 60 km/h arterial, where a 30 km/h street (Wacholderweg) leaves
        // north. A car heading east 3 m before the junction, its fix 5 m north of the
        // arterial (GPS error): the side street is nearer than the car's own road.
        let east = edge(437, 438);
        let north = edge(438, 469);
        assert_eq!(network.edge(north).speed_limit_kmh, 30.0);
        let length = network.edge(east).length_m;
        let (lat, lon) = network.point_on_edge(east, length - 3.0);
        let (lat, lon) = instadash_roads::offset(lat, lon, 0.0, 5.0);
        let (nearest, _) = network.nearest_edge(lat, lon).unwrap();
        assert_eq!(
            network.edge(nearest).name,
            network.edge(north).name,
            "the trap is set"
        );
        let found = limits
            .road_at(lat, lon, network.edge_bearing_deg(east), 55.0)
            .unwrap();
        assert_eq!(found.edge, east);
        assert_eq!(found.limit_kmh, 60.0);
        // Heading north, the same fix is on the side street.
        let found = limits
            .road_at(lat, lon, network.edge_bearing_deg(north), 25.0)
            .unwrap();
        assert_eq!(found.edge, north);
        assert_eq!(found.limit_kmh, 30.0);
        // Too slow for the heading to mean anything: the nearest edge.
        let found = limits.road_at(lat, lon, 90.0, 3.0).unwrap();
        assert_eq!(found.edge, nearest);
    }

    #[test]
    fn far_from_every_road_there_is_no_limit() {
        let limits = limits();
        assert_eq!(limits.road_at(47.0, 10.0, 0.0, 50.0), None);
        assert_eq!(limits.lowest_limit_kmh(), 30.0);
    }
}
